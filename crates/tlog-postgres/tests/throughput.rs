//! Append throughput of the PostgreSQL driver, on demand (ignored by default):
//!
//! ```text
//! SIGSTACK_TEST_DATABASE_URL=postgres://... \
//!   cargo test --release -p sigstack-tlog-postgres --test throughput -- --ignored --nocapture
//! ```
//!
//! `SIGSTACK_BENCH_ENTRIES` (default 50000), `SIGSTACK_BENCH_CONCURRENCY` (default 512) and
//! `SIGSTACK_BENCH_REPLICAS` (default 1) tune it. Storage only: no HTTP, no signatures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sigstack_tlog_postgres::{PgDatabase, fresh_test_database};
use sigstack_tlog_storage::{IndexKey, Leaf, LogConfig, LogStore, NewEntry};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark; run on demand"]
async fn append_throughput() {
    let url = fresh_test_database("bench_append")
        .await
        .expect("test database")
        .expect("SIGSTACK_TEST_DATABASE_URL");
    let total = env_u64("SIGSTACK_BENCH_ENTRIES", 50_000);
    let concurrency = env_u64("SIGSTACK_BENCH_CONCURRENCY", 512);
    let replicas = env_u64("SIGSTACK_BENCH_REPLICAS", 1);
    let config = LogConfig {
        batch_max_size: 1024,
        batch_max_age: Duration::from_millis(5),
        max_pending: 8192,
        ..LogConfig::default()
    };
    let mut logs: Vec<Arc<dyn LogStore>> = Vec::new();
    for _ in 0..replicas {
        let db = PgDatabase::connect(&url, 8).await.unwrap();
        logs.push(Arc::new(
            db.open_log("bench", config.clone()).await.unwrap(),
        ));
    }
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|w| {
            let log = Arc::clone(&logs[(w % replicas) as usize]);
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return latencies;
                    }
                    // About the size of a hashedrekord entry with a Fulcio certificate.
                    let mut entry = format!("bench entry {i} ").into_bytes();
                    entry.resize(1200, b'x');
                    let t = Instant::now();
                    let entry = Leaf::new(entry);
                    log.append(NewEntry {
                        identity: entry.hash().0,
                        metadata: i.to_be_bytes().to_vec(),
                        index_keys: vec![
                            IndexKey::new("sha256", &i.to_be_bytes()),
                            IndexKey::new("email", b"bench@example.test"),
                        ],
                        entry,
                        sealed_metadata: None,
                    })
                    .await
                    .expect("append");
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{total} appends through {replicas} replica(s), {concurrency} concurrent: {:.0} entries/s, \
         p50 {:?}, p99 {:?}",
        total as f64 / elapsed.as_secs_f64(),
        p(0.5),
        p(0.99)
    );
    assert_eq!(logs[0].tree_head().await.unwrap().size, total);
    for log in logs {
        log.close().await;
    }
}
