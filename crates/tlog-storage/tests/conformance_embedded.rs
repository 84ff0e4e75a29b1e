//! The embedded driver passes the driver conformance suite.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sigstack_tlog_storage::conformance::{Harness, run_all};
use sigstack_tlog_storage::{EmbeddedLog, LogConfig, LogStore};

struct Embedded {
    root: tempfile::TempDir,
    next: AtomicU64,
}

impl Embedded {
    fn config() -> LogConfig {
        LogConfig {
            batch_max_age: Duration::from_millis(2),
            max_entry_size: 4096,
            ..LogConfig::default()
        }
    }
}

#[async_trait]
impl Harness for Embedded {
    async fn fresh(&self) -> Arc<dyn LogStore> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let dir: PathBuf = self.root.path().join(format!("log-{n}"));
        Arc::new(EmbeddedLog::open(&dir, Self::config()).await.unwrap())
    }

    async fn reopen(&self, log: Arc<dyn LogStore>) -> Arc<dyn LogStore> {
        let dir = format!("{log:?}");
        log.close().await;
        // The Debug form names the directory; find it among ours.
        let n = self.next.load(Ordering::SeqCst);
        let path = (0..n)
            .map(|i| self.root.path().join(format!("log-{i}")))
            .find(|p| dir.contains(&p.display().to_string()))
            .unwrap();
        Arc::new(EmbeddedLog::open(&path, Self::config()).await.unwrap())
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
    };
    run_all(&h).await;
}
