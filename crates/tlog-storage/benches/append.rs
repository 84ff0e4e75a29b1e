//! Batched append throughput of `sigstack-tlog-storage`.
//!
//! Run with `cargo bench -p sigstack-tlog-storage --bench append` (each sample appends 1024
//! entries from concurrent tasks into a fresh temporary directory, so it measures batching
//! plus fsync cost of the disk behind `$TMPDIR`). Add `-- --quick` for a short run.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sigstack_tlog::merkle::leaf_hash;
use sigstack_tlog_storage::{EmbeddedLog, LogConfig};

const ENTRIES: u64 = 1024;

fn append_batched(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(ENTRIES));
    group.sample_size(10);
    for age_ms in [0u64, 5] {
        group.bench_function(format!("{ENTRIES}_entries_500B_age_{age_ms}ms"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let config = LogConfig {
                        batch_max_age: Duration::from_millis(age_ms),
                        ..LogConfig::default()
                    };
                    let log = EmbeddedLog::open(dir.path(), config).await.expect("open");
                    let tasks: Vec<_> = (0..ENTRIES)
                        .map(|i| {
                            let log = log.clone();
                            tokio::spawn(async move {
                                let mut entry = vec![0u8; 500];
                                entry[..8].copy_from_slice(&i.to_be_bytes());
                                let id = leaf_hash(&entry).0;
                                log.append(entry, id).await.expect("append")
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("join");
                    }
                    log.close().await;
                });
            });
        });
    }
    group.finish();
}

criterion_group!(benches, append_batched);
criterion_main!(benches);
