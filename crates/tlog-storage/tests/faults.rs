//! Crashes and disk faults beyond `kill -9`: a simulated disk that loses every unsynced write
//! on a power cut, fails `fsync` with EIO, or runs out of space. In every case, every appended
//! entry that was acknowledged is found at its index after the next boot, the tree it is in is
//! consistent with every checkpoint published before, and no append that failed was reported as
//! logged.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sigstack_tlog::merkle::verify_consistency;
use sigstack_tlog_storage::simulated::SimulatedDisk;
use sigstack_tlog_storage::{
    EmbeddedLog, IndexKey, Leaf, LogConfig, LogStore, NewEntry, StorageError, StoredCheckpoint,
};

const DIR: &str = "/data/log";

fn config() -> LogConfig {
    LogConfig {
        batch_max_age: Duration::from_millis(1),
        batch_max_size: 32,
        // Restart the index journal often, so cuts and faults also land around its restarts.
        index_journal_entries: 50,
        ..LogConfig::default()
    }
}

fn new_entry(i: u64) -> NewEntry {
    let entry = Leaf::new(
        format!("fault test entry {i:06} {}", "x".repeat((i % 40) as usize)).into_bytes(),
    );
    NewEntry {
        identity: entry.hash().0,
        index_keys: vec![IndexKey::new("n", &i.to_be_bytes())],
        metadata: i.to_be_bytes().to_vec(),
        entry,
        sealed_metadata: None,
    }
}

async fn open(disk: &SimulatedDisk) -> Result<EmbeddedLog, StorageError> {
    EmbeddedLog::open_on(Arc::new(disk.clone()), Path::new(DIR), config()).await
}

/// What the writers were told: (entry number, acknowledged index).
type Acks = Arc<Mutex<Vec<(u64, u64)>>>;

/// Start `writers` tasks appending entries `first..` until an append fails.
fn start_writers(
    log: &EmbeddedLog,
    first: u64,
    writers: u64,
    acks: &Acks,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..writers)
        .map(|w| {
            let log = log.clone();
            let acks = Arc::clone(acks);
            tokio::spawn(async move {
                let mut i = first + w;
                loop {
                    match log.append_entry(new_entry(i)).await {
                        Ok(a) => acks.lock().push((i, a.index)),
                        Err(StorageError::Duplicate { .. }) => unreachable!("entries are distinct"),
                        Err(_) => return,
                    }
                    i += writers;
                    if i > first + 100_000 {
                        return;
                    }
                }
            })
        })
        .collect()
}

/// After a new boot: every acknowledged entry is at its index with its metadata and search key,
/// the published checkpoint is consistent with the tree, and the tree is at least as large.
async fn check_after_boot(
    log: &EmbeddedLog,
    acks: &[(u64, u64)],
    published: &Option<StoredCheckpoint>,
) {
    let head = log.tree_head();
    for &(i, index) in acks {
        let want = new_entry(i);
        assert!(
            index < head.size,
            "acknowledged index {index} lost (tree size {})",
            head.size
        );
        assert_eq!(
            log.entry(index).unwrap(),
            want.entry.data(),
            "entry {i} moved"
        );
        assert_eq!(log.metadata(index).unwrap(), want.metadata);
        assert_eq!(log.lookup(&want.identity).unwrap(), Some(index));
        assert_eq!(log.search(&want.index_keys[0], 4).unwrap(), vec![index]);
    }
    if let Some(c) = published {
        assert!(
            c.size <= head.size,
            "the tree went below a published checkpoint"
        );
        if c.size > 0 && c.size < head.size {
            let proof = log.consistency_proof(c.size, head.size).unwrap();
            verify_consistency(c.size, head.size, &c.root, &head.root, &proof).unwrap();
        } else if c.size == head.size {
            assert_eq!(c.root, head.root);
        }
        assert_eq!(
            log.latest_checkpoint().as_ref(),
            Some(c),
            "published checkpoint kept"
        );
    }
}

/// Publish a checkpoint of the current head and make the record durable: it reaches the disk
/// with the next committed batch, and an append sent after the publish returned (`marker`) is
/// in a batch committed after it.
async fn publish(log: &EmbeddedLog, acks: &Acks, marker: u64) -> StoredCheckpoint {
    let head = log.tree_head();
    let c = StoredCheckpoint {
        size: head.size,
        root: head.root,
        signed: b"cp".to_vec(),
    };
    LogStore::publish_checkpoint(log, &c).await.unwrap();
    let a = log.append_entry(new_entry(marker)).await.unwrap();
    acks.lock().push((marker, a.index));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cuts_lose_no_acknowledged_entry() {
    let disk = SimulatedDisk::new();
    let mut all_acks: Vec<(u64, u64)> = Vec::new();
    let mut published = None;
    // Several boots, each cut at a different moment under concurrent load.
    for boot in 0..6u64 {
        let log = open(&disk).await.unwrap();
        check_after_boot(&log, &all_acks, &published).await;
        let acks: Acks = Arc::default();
        let writers = start_writers(&log, boot * 1_000_000, 8, &acks);
        // Let some batches commit, publish a checkpoint mid-stream, then cut the power.
        while acks.lock().len() < 40 + 30 * boot as usize {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        published = Some(publish(&log, &acks, boot * 1_000_000 + 500_000).await);
        tokio::time::sleep(Duration::from_millis(boot * 3)).await;
        disk.power_loss();
        for w in writers {
            w.await.unwrap();
        }
        all_acks.extend(acks.lock().iter().copied());
        drop(log);
    }
    let log = open(&disk).await.unwrap();
    check_after_boot(&log, &all_acks, &published).await;
    assert!(
        all_acks.len() > 300,
        "the test appended under load ({})",
        all_acks.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_fsync_stops_the_log_and_loses_nothing_acknowledged() {
    for fail_after in [0u64, 1, 2, 3, 5, 8, 13, 21] {
        let disk = SimulatedDisk::new();
        let log = open(&disk).await.unwrap();
        let acks: Acks = Arc::default();
        // A first batch that surely commits, then the fault.
        for i in 0..5 {
            let a = log.append_entry(new_entry(i)).await.unwrap();
            acks.lock().push((i, a.index));
        }
        disk.fail_syncs_after(fail_after);
        let writers = start_writers(&log, 100, 4, &acks);
        for w in writers {
            w.await.unwrap();
        }
        assert!(
            disk.failed_syncs() > 0,
            "the fault fired (after {fail_after})"
        );
        assert!(
            log.check_writable().is_err(),
            "a failed fsync stops the log"
        );
        assert!(matches!(
            log.append_entry(new_entry(99_999)).await,
            Err(StorageError::Failed)
        ));
        // The kernel may have dropped the unsynced pages: only what was synced survives.
        disk.power_loss();
        disk.heal();
        drop(log);
        let acked: Vec<(u64, u64)> = acks.lock().clone();
        let log = open(&disk).await.unwrap();
        check_after_boot(&log, &acked, &None).await;
        // The log goes on after the disk is replaced.
        let size = log.tree_head().size;
        let a = log.append_entry(new_entry(200_000)).await.unwrap();
        assert_eq!(a.index, size);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_appends_and_loses_nothing_acknowledged() {
    let disk = SimulatedDisk::new();
    let log = open(&disk).await.unwrap();
    let acks: Acks = Arc::default();
    for i in 0..20 {
        let a = log.append_entry(new_entry(i)).await.unwrap();
        acks.lock().push((i, a.index));
    }
    let published = Some(publish(&log, &acks, 400_000).await);
    disk.set_capacity(Some(disk.used() + 20_000));
    let writers = start_writers(&log, 1000, 4, &acks);
    for w in writers {
        w.await.unwrap();
    }
    assert!(log.check_writable().is_err(), "ENOSPC stops the log");
    let acked: Vec<(u64, u64)> = acks.lock().clone();
    // Still full on the next boot: opening works (recovery only truncates), appends fail cleanly.
    disk.power_loss();
    drop(log);
    let log = open(&disk).await.unwrap();
    check_after_boot(&log, &acked, &published).await;
    // Space freed: appends continue after the acknowledged ones.
    disk.heal();
    drop(log);
    disk.power_loss();
    let log = open(&disk).await.unwrap();
    let size = log.tree_head().size;
    assert_eq!(
        log.append_entry(new_entry(500_000)).await.unwrap().index,
        size
    );
    check_after_boot(&log, &acked, &published).await;
}

#[tokio::test]
async fn a_second_boot_cannot_open_while_the_first_holds_the_lock() {
    let disk = SimulatedDisk::new();
    let log = open(&disk).await.unwrap();
    assert!(matches!(open(&disk).await, Err(StorageError::Locked(_))));
    drop(log);
    disk.power_loss();
    open(&disk).await.unwrap();
}
