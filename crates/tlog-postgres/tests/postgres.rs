//! The PostgreSQL driver against a real server (`SIGSTACK_TEST_DATABASE_URL`, a URL of a role
//! that may create databases). Each test creates its own database.
//!
//! Without the variable the tests fail under CI (`CI=true`) and skip locally with a message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sigstack_tlog::merkle::{self, Hash, leaf_hash};
use sigstack_tlog_postgres::{PgDatabase, TEST_DATABASE_URL_VAR, fresh_test_database};
use sigstack_tlog_storage::conformance::{Harness, entry, run_all};
use sigstack_tlog_storage::{LogConfig, LogStore, NewEntry, StorageError, StoredCheckpoint};

/// A fresh database for this test, or `None` (after saying why) when no server is configured.
async fn fresh_database(test: &str) -> Option<String> {
    fresh_test_database(test).await.expect("test database")
}

fn config() -> LogConfig {
    LogConfig {
        batch_max_age: Duration::from_millis(2),
        max_entry_size: 4096,
        ..LogConfig::default()
    }
}

struct Postgres {
    url: String,
    db: PgDatabase,
    next: AtomicU64,
    /// The name of every log handed out, by the address of its allocation.
    names: std::sync::Mutex<std::collections::HashMap<usize, String>>,
}

fn address(log: &Arc<dyn LogStore>) -> usize {
    Arc::as_ptr(log).cast::<()>() as usize
}

#[async_trait]
impl Harness for Postgres {
    async fn fresh(&self) -> Arc<dyn LogStore> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let name = format!("log-{n}");
        let log: Arc<dyn LogStore> = Arc::new(self.db.open_log(&name, config()).await.unwrap());
        self.names.lock().unwrap().insert(address(&log), name);
        log
    }

    async fn reopen(&self, log: Arc<dyn LogStore>) -> Arc<dyn LogStore> {
        let name = self.names.lock().unwrap().remove(&address(&log)).unwrap();
        log.close().await;
        drop(log);
        // A new connection pool, as a restarted process would have.
        let db = PgDatabase::connect(&self.url, 4).await.unwrap();
        let log: Arc<dyn LogStore> = Arc::new(db.open_log(&name, config()).await.unwrap());
        self.names.lock().unwrap().insert(address(&log), name);
        log
    }

    fn max_entry_size(&self) -> usize {
        4096
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_driver_passes_the_conformance_suite() {
    let Some(url) = fresh_database("conformance").await else {
        return;
    };
    let h = Postgres {
        db: PgDatabase::connect(&url, 8).await.unwrap(),
        url,
        next: AtomicU64::new(0),
        names: std::sync::Mutex::default(),
    };
    run_all(&h).await;
    for bad in [
        LogConfig {
            max_entry_size: 0,
            ..config()
        },
        LogConfig {
            max_pending: 0,
            ..config()
        },
    ] {
        assert!(matches!(
            h.db.open_log("misconfigured", bad).await,
            Err(StorageError::InvalidConfig(_))
        ));
    }
}

fn numbered(i: u64) -> NewEntry {
    let e = entry(i, 80);
    NewEntry::new(e.clone(), leaf_hash(&e).0)
}

/// Two replicas (separate pools, separate batchers) append concurrently to one log: every
/// acknowledged entry is at its index, indices are dense, and both see the same tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_append_concurrently_to_one_log() {
    let Some(url) = fresh_database("replicas").await else {
        return;
    };
    let a: Arc<dyn LogStore> = Arc::new(
        PgDatabase::connect(&url, 4)
            .await
            .unwrap()
            .open_log("shared", config())
            .await
            .unwrap(),
    );
    let b: Arc<dyn LogStore> = Arc::new(
        PgDatabase::connect(&url, 4)
            .await
            .unwrap()
            .open_log("shared", config())
            .await
            .unwrap(),
    );
    let n = 600u64;
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let log = if i % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            tokio::spawn(async move {
                let e = numbered(i);
                (
                    log.append(e.clone()).await.unwrap().index,
                    e.entry.into_data(),
                )
            })
        })
        .collect();
    // The same new entry through both replicas at once: one index, the other a duplicate.
    let (ra, rb) = tokio::join!(a.append(numbered(10_000)), b.append(numbered(10_000)));
    let dup = match (ra, rb) {
        (Ok(x), Err(StorageError::Duplicate { index }))
        | (Err(StorageError::Duplicate { index }), Ok(x)) => {
            assert_eq!(x.index, index, "the duplicate names the sequenced index");
            index
        }
        other => panic!("one replica must sequence, the other answer duplicate: {other:?}"),
    };
    let mut by_index = BTreeMap::new();
    for t in tasks {
        let (index, data) = t.await.unwrap();
        assert!(
            by_index.insert(index, data).is_none(),
            "index {index} given twice"
        );
    }
    by_index.insert(dup, numbered(10_000).entry.into_data());
    let head_a = a.tree_head().await.unwrap();
    let head_b = b.tree_head().await.unwrap();
    assert_eq!(head_a, head_b, "both replicas read the same head");
    assert_eq!(head_a.size, n + 1);
    assert_eq!(
        by_index.keys().copied().collect::<Vec<_>>(),
        (0..=n).collect::<Vec<_>>(),
        "dense indices"
    );
    let mut stored: Vec<Hash> = Vec::new();
    for (i, data) in &by_index {
        assert_eq!(&b.entry(*i).await.unwrap().entry, data, "entry {i} via b");
        stored.extend(merkle::stored_hashes_for_record(*i, data, &stored).unwrap());
    }
    assert_eq!(
        merkle::tree_hash(n + 1, &stored).unwrap(),
        head_a.root,
        "root over the acknowledged entries"
    );
    // A checkpoint published through one replica binds the other.
    let cp = StoredCheckpoint {
        size: head_a.size,
        root: head_a.root,
        signed: b"cp".to_vec(),
    };
    a.publish_checkpoint(&cp).await.unwrap();
    let small = StoredCheckpoint {
        size: 3,
        root: b.root_at(3).await.unwrap(),
        signed: b"old".to_vec(),
    };
    assert!(matches!(
        b.publish_checkpoint(&small).await,
        Err(StorageError::InvalidRequest(_))
    ));
    assert_eq!(b.latest_checkpoint().await.unwrap(), Some(cp));
    a.close().await;
    b.close().await;
}

/// The database drops every connection of the log while appends are in flight: each append
/// either is acknowledged (and then readable at its index) or fails with `Unavailable`, the
/// failure shows in `check_writable`, and the log recovers once the database answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_lost_mid_append_acknowledge_nothing_false() {
    let Some(url) = fresh_database("dropped").await else {
        return;
    };
    let log: Arc<dyn LogStore> = Arc::new(
        PgDatabase::connect(&url, 4)
            .await
            .unwrap()
            .open_log("dropped", config())
            .await
            .unwrap(),
    );
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let tasks: Vec<_> = (0..400u64)
        .map(|i| {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i / 4)).await;
                let e = numbered(i);
                (e.entry.data().to_vec(), log.append(e).await)
            })
        })
        .collect();
    let mut terminated = 0i64;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(15)).await;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
        )
        .fetch_one(&admin)
        .await
        .unwrap();
        terminated += n;
    }
    assert!(terminated > 0, "no connection was dropped");
    let (mut acked, mut refused) = (Vec::new(), 0);
    for t in tasks {
        match t.await.unwrap() {
            (data, Ok(a)) => acked.push((a.index, data)),
            (_, Err(StorageError::Unavailable(_))) => refused += 1,
            (_, Err(e)) => panic!("unexpected error when the database drops connections: {e}"),
        }
    }
    eprintln!(
        "{} acknowledged, {refused} refused, {terminated} connections dropped",
        acked.len()
    );
    // Reads may need a retry while the pool reconnects.
    let mut head = None;
    for _ in 0..50 {
        if let Ok(h) = log.tree_head().await {
            head = Some(h);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let head = head.expect("the log answers again");
    assert!(
        log.check_writable().is_ok(),
        "writable again after a good round trip"
    );
    for (index, data) in &acked {
        assert!(
            *index < head.size,
            "acknowledged index {index} beyond the tree"
        );
        assert_eq!(
            &log.entry(*index).await.unwrap().entry,
            data,
            "entry {index}"
        );
    }
    // A retry of a refused entry is sequenced or named as a duplicate: never lost twice.
    let retry = log.append(numbered(399)).await;
    assert!(
        matches!(retry, Ok(_) | Err(StorageError::Duplicate { .. })),
        "{retry:?}"
    );
    log.close().await;
}

/// The database goes away while the log is idle: `check_writable` turns to `Unavailable`
/// within seconds without any request, appends fail with `Unavailable` and write nothing, and
/// once the database is back everything works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_is_reported_and_refuses_appends() {
    let Some(url) = fresh_database("away").await else {
        return;
    };
    let log: Arc<dyn LogStore> = Arc::new(
        PgDatabase::connect(&url, 4)
            .await
            .unwrap()
            .open_log("away", config())
            .await
            .unwrap(),
    );
    log.append(numbered(0)).await.unwrap();
    assert!(log.check_writable().is_ok());
    let name: String = url.rsplit('/').next().unwrap().to_string();
    let admin_url = std::env::var(TEST_DATABASE_URL_VAR).unwrap();
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(&admin)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while log.check_writable().is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "check_writable still reports a database that refuses connections"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = log.append(numbered(1)).await;
    assert!(matches!(r, Err(StorageError::Unavailable(_))), "{r:?}");
    assert!(matches!(
        log.tree_head().await,
        Err(StorageError::Unavailable(_))
    ));
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while log.check_writable().is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "check_writable does not see the database come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        log.tree_head().await.unwrap().size,
        1,
        "the refused append wrote nothing"
    );
    assert_eq!(log.append(numbered(1)).await.unwrap().index, 1);
    log.close().await;
}

/// A database restored from an older backup (tree smaller than the published checkpoint), or
/// whose hashes were altered, is refused at open instead of served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_or_altered_log_is_refused_at_open() {
    let Some(url) = fresh_database("rollback").await else {
        return;
    };
    let db = PgDatabase::connect(&url, 4).await.unwrap();
    for name in ["rolled-back", "altered"] {
        let log = db.open_log(name, config()).await.unwrap();
        for i in 0..10 {
            log.append(numbered(i)).await.unwrap();
        }
        let head = log.tree_head().await.unwrap();
        log.publish_checkpoint(&StoredCheckpoint {
            size: head.size,
            root: head.root,
            signed: b"cp".to_vec(),
        })
        .await
        .unwrap();
        log.close().await;
    }
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    // "Restore" an older state: drop the last three entries and rewind the head to size 7.
    let root7 = {
        let log = db.open_log("rolled-back", config()).await.unwrap();
        let r = log.root_at(7).await.unwrap();
        log.close().await;
        r
    };
    sqlx::query(
        "DELETE FROM tlog_entries WHERE idx >= 7
           AND log_id = (SELECT log_id FROM tlog_logs WHERE name = 'rolled-back')",
    )
    .execute(&admin)
    .await
    .unwrap();
    sqlx::query("UPDATE tlog_logs SET size = 7, root = $1 WHERE name = 'rolled-back'")
        .bind(root7.0.as_slice())
        .execute(&admin)
        .await
        .unwrap();
    let err = db.open_log("rolled-back", config()).await.unwrap_err();
    assert!(
        matches!(&err, StorageError::Corrupt(m) if m.contains("smaller than its published checkpoint")),
        "{err}"
    );
    // Flip a byte of a stored hash the root depends on (entry 7 completes the subtree of
    // leaves 0..8: its hash at level 3). Open checks the root from the stored frontier
    // hashes, not every hash of the log.
    sqlx::query(
        "UPDATE tlog_entries SET hashes = set_byte(hashes, 96, get_byte(hashes, 96) # 255)
         WHERE idx = 7 AND log_id = (SELECT log_id FROM tlog_logs WHERE name = 'altered')",
    )
    .execute(&admin)
    .await
    .unwrap();
    let err = db.open_log("altered", config()).await.unwrap_err();
    assert!(matches!(err, StorageError::Corrupt(_)), "{err}");
}

/// A database that refuses connections gives 503-class errors, never an acknowledgement.
#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    // Port 1 on localhost: nothing listens there.
    let err = PgDatabase::connect("postgres://nobody@127.0.0.1:1/none", 2)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Unavailable(_)), "{err}");
    let err = PgDatabase::connect("not a url", 2).await.unwrap_err();
    assert!(matches!(err, StorageError::InvalidConfig(_)), "{err}");
}
