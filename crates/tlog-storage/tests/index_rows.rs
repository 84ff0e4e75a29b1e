//! Dedup identities and search keys across the index's three stores: the journal restarting
//! after the LSM tree syncs, reopening, and an LSM tree that lost rows (its unsynced tail, or
//! all of it) on real files.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::path::Path;
use std::time::Duration;

use sigstack_tlog::merkle::leaf_hash;
use sigstack_tlog_storage::{EmbeddedLog, IndexKey, LogConfig, NewEntry, StorageError};

/// A journal that restarts every few entries, so tests cross many restarts.
const JOURNAL_ENTRIES: usize = 4;

fn config() -> LogConfig {
    LogConfig {
        batch_max_age: Duration::ZERO,
        index_journal_entries: JOURNAL_ENTRIES,
        ..LogConfig::default()
    }
}

fn identity(i: u64) -> [u8; 32] {
    leaf_hash(format!("identity {i}").as_bytes()).0
}

/// Entry `i` is filed under its own key, under its parity, and (every third) under a key that
/// only the earliest entries use.
fn keys(i: u64) -> Vec<IndexKey> {
    let mut keys = vec![own_key(i), IndexKey([(i % 2) as u8; 32])];
    if i.is_multiple_of(3) {
        keys.push(IndexKey([0xEE; 32]));
    }
    keys
}

fn own_key(i: u64) -> IndexKey {
    IndexKey(leaf_hash(format!("key {i}").as_bytes()).0)
}

async fn append(log: &EmbeddedLog, from: u64, to: u64) {
    for i in from..to {
        let appended = log
            .append_entry(NewEntry {
                entry: format!("entry {i}").into_bytes().into(),
                identity: identity(i),
                index_keys: keys(i),
                ..NewEntry::default()
            })
            .await
            .unwrap();
        assert_eq!(appended.index, i);
    }
}

/// Every row of entries `0..size` answers, and nothing else does.
fn check_rows(log: &EmbeddedLog, size: u64) {
    assert_eq!(log.tree_head().size, size);
    for i in 0..size {
        assert_eq!(log.lookup(&identity(i)).unwrap(), Some(i), "identity {i}");
        assert_eq!(log.search(&own_key(i), 10).unwrap(), [i], "key of {i}");
    }
    assert_eq!(log.lookup(&identity(size)).unwrap(), None);
    assert!(log.search(&own_key(size), 10).unwrap().is_empty());
    let even: Vec<u64> = (0..size).filter(|i| i.is_multiple_of(2)).collect();
    assert_eq!(log.search(&IndexKey([0; 32]), 1000).unwrap(), even);
    let thirds: Vec<u64> = (0..size).filter(|i| i.is_multiple_of(3)).collect();
    assert_eq!(log.search(&IndexKey([0xEE; 32]), 1000).unwrap(), thirds);
    // The limit keeps the earliest.
    assert_eq!(
        log.search(&IndexKey([0xEE; 32]), 2).unwrap(),
        thirds[..2.min(thirds.len())]
    );
}

async fn open(dir: &Path) -> Result<EmbeddedLog, StorageError> {
    EmbeddedLog::open(dir, config()).await
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn replace_tree(from: &Path, to: &Path) {
    std::fs::remove_dir_all(to).unwrap();
    copy_tree(from, to);
}

#[tokio::test]
async fn rows_are_found_across_journal_restarts_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut size = 0;
    for round in 1..=4u64 {
        let log = open(dir.path()).await.unwrap();
        check_rows(&log, size);
        append(&log, size, size + 5 * round).await;
        size += 5 * round;
        check_rows(&log, size);
        // A duplicate names the first entry, journaled or long since synced.
        for i in [0, size / 2, size - 1] {
            let err = log
                .append(b"again".to_vec(), identity(i))
                .await
                .unwrap_err();
            assert!(
                matches!(err, StorageError::Duplicate { index } if index == i),
                "{err}"
            );
        }
        log.close().await;
    }
    let log = open(dir.path()).await.unwrap();
    check_rows(&log, size);
    // The journal holds only the entries since the LSM tree last synced.
    let journal = std::fs::metadata(dir.path().join("index.journal"))
        .unwrap()
        .len();
    assert!(journal > 0);
    assert!(
        journal < (JOURNAL_ENTRIES as u64 + 1) * 200,
        "journal of {journal} bytes"
    );
}

#[tokio::test]
async fn an_lsm_tree_that_lost_its_unsynced_rows_is_replayed_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let lsm = dir.path().join("index.lsm");
    let saved = tempfile::tempdir().unwrap();
    let log = open(dir.path()).await.unwrap();
    append(&log, 0, JOURNAL_ENTRIES as u64).await;
    // The LSM tree as the operating system has it now: rows of the first entries, unsynced.
    copy_tree(&lsm, saved.path());
    // The next batch restarts the journal after syncing the LSM tree, then more rows follow.
    append(&log, JOURNAL_ENTRIES as u64, JOURNAL_ENTRIES as u64 + 3).await;
    log.close().await;
    // A power cut that takes back every LSM write since the copy.
    replace_tree(saved.path(), &lsm);
    let log = open(dir.path()).await.unwrap();
    check_rows(&log, JOURNAL_ENTRIES as u64 + 3);
    append(&log, JOURNAL_ENTRIES as u64 + 3, 20).await;
    check_rows(&log, 20);
}

#[tokio::test]
async fn an_lsm_tree_missing_rows_the_journal_no_longer_holds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lsm = dir.path().join("index.lsm");
    let early = tempfile::tempdir().unwrap();
    let log = open(dir.path()).await.unwrap();
    append(&log, 0, 2).await;
    copy_tree(&lsm, early.path());
    append(&log, 2, 3 * JOURNAL_ENTRIES as u64).await;
    log.close().await;
    let whole = tempfile::tempdir().unwrap();
    copy_tree(&lsm, whole.path());

    // A copy from before the journal's last restart: rows of entries 2.. are nowhere.
    replace_tree(early.path(), &lsm);
    let err = open(dir.path()).await.unwrap_err();
    assert!(
        matches!(&err, StorageError::Corrupt(m) if m.contains("lost the rows of entries 2..")),
        "{err}"
    );
    // No LSM tree at all.
    std::fs::remove_dir_all(&lsm).unwrap();
    let err = open(dir.path()).await.unwrap_err();
    assert!(
        matches!(&err, StorageError::Corrupt(m) if m.contains("index.lsm is missing")),
        "{err}"
    );
    // Refusing changed nothing: the right LSM tree opens and answers.
    replace_tree(whole.path(), &lsm);
    let log = open(dir.path()).await.unwrap();
    check_rows(&log, 3 * JOURNAL_ENTRIES as u64);
}

#[tokio::test]
async fn an_lsm_tree_ahead_of_the_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let log = open(dir.path()).await.unwrap();
    append(&log, 0, 3).await;
    log.close().await;
    for name in ["index.redb", "index.journal"] {
        std::fs::copy(dir.path().join(name), backup.path().join(name)).unwrap();
    }
    let log = open(dir.path()).await.unwrap();
    append(&log, 3, 6).await;
    log.close().await;
    // The commit point rolled back to 3 entries while the LSM tree holds rows of 6.
    for name in ["index.redb", "index.journal"] {
        std::fs::copy(backup.path().join(name), dir.path().join(name)).unwrap();
    }
    let err = open(dir.path()).await.unwrap_err();
    assert!(
        matches!(&err, StorageError::Corrupt(m) if m.contains("rolled back")),
        "{err}"
    );
}

/// `tests/data/rows-in-index-redb/`: ten entries ([`append`]'s, with [`keys`]) written by the
/// version that kept every row in `index.redb`.
#[tokio::test]
async fn a_directory_with_rows_in_the_b_tree_keeps_them_and_adds_new_ones_to_the_lsm_tree() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rows-in-index-redb"),
        dir.path(),
    );
    let log = open(dir.path()).await.unwrap();
    check_rows(&log, 10);
    let err = log
        .append(b"again".to_vec(), identity(4))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Duplicate { index: 4 }), "{err}");
    append(&log, 10, 25).await;
    // Rows from both stores, the older ones first.
    check_rows(&log, 25);
    log.close().await;
    let log = open(dir.path()).await.unwrap();
    check_rows(&log, 25);
    assert!(dir.path().join("index.lsm").is_dir());
}
