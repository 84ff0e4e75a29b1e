//! The embedded driver passes the driver conformance suite.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sigstack_tlog_storage::conformance::{Harness, run_all};
use sigstack_tlog_storage::{EmbeddedLog, LogConfig, LogStore};

struct Embedded {
    root: tempfile::TempDir,
    next: AtomicU64,
    /// The directory of every log handed out, by the address of its allocation.
    dirs: Mutex<HashMap<usize, PathBuf>>,
}

fn address(log: &Arc<dyn LogStore>) -> usize {
    Arc::as_ptr(log).cast::<()>() as usize
}

impl Embedded {
    fn config() -> LogConfig {
        LogConfig {
            batch_max_age: Duration::from_millis(2),
            max_entry_size: 4096,
            // The suite then also crosses restarts of the index journal.
            index_journal_entries: 16,
            ..LogConfig::default()
        }
    }
}

impl Embedded {
    async fn open(&self, dir: PathBuf) -> Arc<dyn LogStore> {
        let log: Arc<dyn LogStore> =
            Arc::new(EmbeddedLog::open(&dir, Self::config()).await.unwrap());
        self.dirs.lock().unwrap().insert(address(&log), dir);
        log
    }
}

#[async_trait]
impl Harness for Embedded {
    async fn fresh(&self) -> Arc<dyn LogStore> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let dir: PathBuf = self.root.path().join(format!("log-{n}"));
        self.open(dir).await
    }

    async fn reopen(&self, log: Arc<dyn LogStore>) -> Arc<dyn LogStore> {
        let dir = self.dirs.lock().unwrap().remove(&address(&log)).unwrap();
        log.close().await;
        drop(log);
        self.open(dir).await
    }

    fn max_entry_size(&self) -> usize {
        4096
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_driver_passes_the_conformance_suite() {
    let h = Embedded {
        root: tempfile::tempdir().unwrap(),
        next: AtomicU64::new(0),
        dirs: Mutex::default(),
    };
    run_all(&h).await;
}
