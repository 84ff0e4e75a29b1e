//! The conformance suite every [`LogStore`] driver passes (feature `conformance`).
//!
//! A driver's test calls [`run_all`] with a [`Harness`] that opens fresh logs and reopens them.
//! Each check uses a fresh log and panics with a message naming the broken rule. Expected values
//! come from `sigstack-tlog`'s Merkle math and from the entries the suite wrote, never from the
//! driver under test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use async_trait::async_trait;
use sigstack_tlog::merkle::{self, Hash, leaf_hash};
use sigstack_tlog::tiles::{self, TILE_WIDTH};
use sigstack_tlog::{TileKind, TilePath};

use crate::StorageError;
use crate::store::{
    IndexKey, LogStore, MAX_ENTRIES_PER_READ, MAX_INDEX_KEYS_PER_ENTRY, MetadataSeal, NewEntry,
    SealMetadata, StoredCheckpoint,
};

/// What a driver provides to the suite.
#[async_trait]
pub trait Harness: Send + Sync {
    /// A new, empty log (each call a different one).
    async fn fresh(&self) -> Arc<dyn LogStore>;
    /// Close `log` and open the same log again, as after a restart.
    async fn reopen(&self, log: Arc<dyn LogStore>) -> Arc<dyn LogStore>;
    /// The largest entry the driver was configured to take.
    fn max_entry_size(&self) -> usize;
}

/// Runs every check.
pub async fn run_all(h: &dyn Harness) {
    empty_log(h).await;
    appends_are_dense_and_verifiable(h).await;
    duplicates_answer_the_first_index(h).await;
    metadata_and_search_keys(h).await;
    sealed_metadata_commits_to_the_index(h).await;
    proofs_given_with_appends_verify(h).await;
    limits_write_nothing(h).await;
    proofs_and_bad_sizes(h).await;
    tiles_match_entries_and_hashes(h).await;
    checkpoints_never_go_back(h).await;
    everything_survives_reopen(h).await;
}

/// A distinct entry for `i` (the leaf data), `len` bytes long.
#[must_use]
pub fn entry(i: u64, len: usize) -> Vec<u8> {
    let mut e = format!("conformance entry {i} ").into_bytes();
    e.resize(len.max(e.len()), b'.');
    e
}

fn new_entry(i: u64) -> NewEntry {
    let e = entry(i, 100 + (i as usize % 50));
    NewEntry::new(e.clone(), leaf_hash(&e).0)
}

/// Appends entries `from..to` concurrently, returns them by index (as the log ordered them).
pub async fn append_range(log: &Arc<dyn LogStore>, from: u64, to: u64) -> Vec<(u64, Vec<u8>)> {
    let tasks: Vec<_> = (from..to)
        .map(|i| {
            let log = Arc::clone(log);
            tokio::spawn(async move {
                let e = new_entry(i);
                let data = e.entry.data().to_vec();
                let appended = log.append(e).await.expect("append");
                (appended.index, data)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

fn in_memory_root(leaves: &[Hash]) -> Hash {
    let mut stored: Vec<Hash> = Vec::new();
    for (i, l) in leaves.iter().enumerate() {
        let new =
            merkle::stored_hashes_for_leaf_hash(i as u64, *l, &stored).expect("stored hashes");
        stored.extend(new);
    }
    merkle::tree_hash(leaves.len() as u64, &stored).expect("tree hash")
}

/// Seals metadata as `index ‖ metadata ‖ SHA-256(entry)`, or fails for entries starting with
/// `fail`.
struct IndexSeal;

impl SealMetadata for IndexSeal {
    fn seal(&self, index: u64, entry: &[u8], metadata: &[u8]) -> Result<Vec<u8>, String> {
        if entry.starts_with(b"fail") {
            return Err("refused by the test seal".into());
        }
        let mut out = index.to_be_bytes().to_vec();
        out.extend_from_slice(metadata);
        out.extend_from_slice(&leaf_hash(entry).0);
        Ok(out)
    }
}

fn sealed_entry(i: u64, seal: &MetadataSeal) -> NewEntry {
    let mut e = new_entry(i);
    e.metadata = format!("time {i}").into_bytes();
    e.sealed_metadata = Some(seal.clone());
    e
}

async fn sealed_metadata_commits_to_the_index(h: &dyn Harness) {
    let log = h.fresh().await;
    let seal = MetadataSeal(Arc::new(IndexSeal));
    append_range(&log, 0, 3).await;
    // Concurrent sealed appends: each stored metadata names the index the entry got.
    let tasks: Vec<_> = (10..40)
        .map(|i| {
            let log = Arc::clone(&log);
            let e = sealed_entry(i, &seal);
            tokio::spawn(async move { (i, log.append(e).await.expect("sealed append").index) })
        })
        .collect();
    for t in tasks {
        let (i, index) = t.await.unwrap();
        let stored = log.entry(index).await.unwrap();
        let mut want = index.to_be_bytes().to_vec();
        want.extend_from_slice(format!("time {i}").as_bytes());
        want.extend_from_slice(&leaf_hash(&stored.entry).0);
        assert_eq!(stored.metadata, want, "sealed metadata of entry {index}");
        assert_eq!(stored.entry, new_entry(i).entry.data());
    }
    // A duplicate is not sealed again and keeps the first metadata.
    let first = log.entry(log.lookup(&new_entry(10).identity).await.unwrap().unwrap());
    let first = first.await.unwrap();
    assert!(matches!(
        log.append(sealed_entry(10, &seal)).await,
        Err(StorageError::Duplicate { .. })
    ));
    let head = log.tree_head().await.unwrap();
    // A seal that fails commits nothing, and the log goes on.
    let mut bad = NewEntry::new(b"fail: sealed".to_vec(), [0xfa; 32]);
    bad.sealed_metadata = Some(seal.clone());
    assert!(
        matches!(log.append(bad).await, Err(StorageError::Unavailable(_))),
        "a failed seal is Unavailable"
    );
    assert_eq!(log.tree_head().await.unwrap(), head, "nothing written");
    assert!(log.lookup(&[0xfa; 32]).await.unwrap().is_none());
    assert!(
        log.check_writable().is_ok(),
        "a failed seal does not stop the log"
    );
    let next = log.append(sealed_entry(50, &seal)).await.unwrap();
    assert_eq!(next.index, head.size);
    let log = h.reopen(log).await;
    assert_eq!(
        log.entry(first_index(&log, 10).await).await.unwrap(),
        first,
        "sealed metadata survives reopen"
    );
    log.close().await;
}

/// A driver may hand back each entry's inclusion proof in its batch's tree; when it does, the
/// proof verifies against that tree head and the leaf.
async fn proofs_given_with_appends_verify(h: &dyn Harness) {
    let log = h.fresh().await;
    append_range(&log, 0, 5).await;
    let tasks: Vec<_> = (100..160)
        .map(|i| {
            let log = Arc::clone(&log);
            tokio::spawn(async move { (i, log.append(new_entry(i)).await.expect("append")) })
        })
        .collect();
    for t in tasks {
        let (i, appended) = t.await.unwrap();
        assert!(
            appended.index < appended.tree.size,
            "the batch's tree holds the entry"
        );
        if let Some(proof) = &appended.proof {
            let leaf = leaf_hash(&new_entry(i).entry);
            merkle::verify_inclusion(
                appended.index,
                appended.tree.size,
                &leaf,
                proof,
                &appended.tree.root,
            )
            .unwrap_or_else(|e| panic!("proof given with entry {}: {e}", appended.index));
            assert_eq!(
                proof,
                &log.inclusion_proof(appended.index, appended.tree.size)
                    .await
                    .unwrap(),
                "the same proof as a read"
            );
        }
    }
    log.close().await;
}

async fn first_index(log: &Arc<dyn LogStore>, i: u64) -> u64 {
    log.lookup(&new_entry(i).identity).await.unwrap().unwrap()
}

async fn empty_log(h: &dyn Harness) {
    let log = h.fresh().await;
    let head = log.tree_head().await.unwrap();
    assert_eq!(head.size, 0, "a fresh log is empty");
    assert_eq!(
        head.root,
        merkle::empty_root(),
        "empty root is SHA-256 of nothing"
    );
    assert!(matches!(
        log.entries(0, 1).await,
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        log.root_at(1).await,
        Err(StorageError::NotFound(_))
    ));
    assert!(log.latest_checkpoint().await.unwrap().is_none());
    assert!(log.lookup(&[7u8; 32]).await.unwrap().is_none());
    assert!(log.check_writable().is_ok());
    log.close().await;
}

async fn appends_are_dense_and_verifiable(h: &dyn Harness) {
    let log = h.fresh().await;
    let n = u64::from(TILE_WIDTH) + 44;
    let written = append_range(&log, 0, n).await;
    let indices: Vec<u64> = written.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        indices,
        (0..n).collect::<Vec<_>>(),
        "indices are dense from 0"
    );
    let head = log.tree_head().await.unwrap();
    assert_eq!(head.size, n);
    let leaves: Vec<Hash> = written.iter().map(|(_, e)| leaf_hash(e)).collect();
    assert_eq!(
        head.root,
        in_memory_root(&leaves),
        "root matches RFC 6962 over the entries"
    );
    for (i, e) in &written {
        assert_eq!(
            &log.entry(*i).await.unwrap().entry,
            e,
            "entry {i} reads back"
        );
        assert_eq!(log.lookup(&leaf_hash(e).0).await.unwrap(), Some(*i));
    }
    let batch = log.entries(250, 10).await.unwrap();
    assert_eq!(batch.len(), 10);
    for (k, s) in batch.iter().enumerate() {
        assert_eq!(s.entry, written[250 + k].1, "range read keeps order");
    }
    log.close().await;
}

async fn duplicates_answer_the_first_index(h: &dyn Harness) {
    let log = h.fresh().await;
    let written = append_range(&log, 0, 3).await;
    let one = new_entry(1);
    let index_of_one = written
        .iter()
        .find(|(_, e)| e == one.entry.data())
        .map(|(i, _)| *i)
        .unwrap();
    match log.append(one).await {
        Err(StorageError::Duplicate { index }) => assert_eq!(index, index_of_one),
        other => panic!("a committed duplicate must be refused with its index: {other:?}"),
    }
    // The same new entry from many tasks at once: exactly one index, the rest duplicates of it.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let log = Arc::clone(&log);
            tokio::spawn(async move { log.append(new_entry(99)).await })
        })
        .collect();
    let mut won = Vec::new();
    let mut dup = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(a) => won.push(a.index),
            Err(StorageError::Duplicate { index }) => dup.push(index),
            Err(e) => panic!("unexpected error for a concurrent duplicate: {e}"),
        }
    }
    assert_eq!(
        won.len(),
        1,
        "exactly one concurrent duplicate is sequenced"
    );
    assert!(
        dup.iter().all(|&i| i == won[0]),
        "duplicates name the sequenced index"
    );
    assert_eq!(log.tree_head().await.unwrap().size, 4);
    // A driver that counts its batches counts the sequenced entries, not the duplicates.
    if let Some(stats) = log.sequencer_stats() {
        assert_eq!(stats.entries, 4, "{stats:?}");
        assert!((1..=4).contains(&stats.batches), "{stats:?}");
        assert_eq!(stats.batch_sizes.iter().sum::<u64>(), stats.batches);
    }
    log.close().await;
}

async fn metadata_and_search_keys(h: &dyn Harness) {
    let log = h.fresh().await;
    let shared = IndexKey::new("email", b"alice@example.test");
    let mut want_shared = Vec::new();
    for i in 0..5u64 {
        let mut e = new_entry(i);
        e.metadata = format!("meta {i}").into_bytes();
        e.index_keys = vec![IndexKey::new("sha256", &i.to_be_bytes())];
        if i % 2 == 0 {
            e.index_keys.push(shared);
            e.index_keys.push(shared); // duplicates in one entry count once
        }
        let index = log.append(e).await.unwrap().index;
        if i % 2 == 0 {
            want_shared.push(index);
        }
    }
    for i in 0..5u64 {
        let s = log.entry(i).await.unwrap();
        assert_eq!(
            s.metadata,
            format!("meta {i}").into_bytes(),
            "metadata of {i}"
        );
        let found = log
            .search(&IndexKey::new("sha256", &i.to_be_bytes()), 10)
            .await
            .unwrap();
        assert_eq!(found, vec![i], "search by a unique key finds entry {i}");
    }
    assert_eq!(
        log.search(&shared, 10).await.unwrap(),
        want_shared,
        "ascending, once each"
    );
    assert_eq!(
        log.search(&shared, 2).await.unwrap(),
        want_shared[..2].to_vec(),
        "limit"
    );
    assert!(
        log.search(&IndexKey::new("email", b"nobody"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A duplicate keeps the original's metadata and keys.
    let mut again = new_entry(0);
    again.metadata = b"other".to_vec();
    again.index_keys = vec![IndexKey::new("email", b"mallory@example.test")];
    assert!(matches!(
        log.append(again).await,
        Err(StorageError::Duplicate { index: 0 })
    ));
    assert_eq!(log.entry(0).await.unwrap().metadata, b"meta 0");
    assert!(
        log.search(&IndexKey::new("email", b"mallory@example.test"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    log.close().await;
}

async fn limits_write_nothing(h: &dyn Harness) {
    let log = h.fresh().await;
    append_range(&log, 0, 2).await;
    let before = log.tree_head().await.unwrap();
    let big = entry(1000, h.max_entry_size() + 1);
    let r = log
        .append(NewEntry::new(big.clone(), leaf_hash(&big).0))
        .await;
    assert!(
        matches!(r, Err(StorageError::EntryTooLarge { .. })),
        "{r:?}"
    );
    let mut many = new_entry(1001);
    many.index_keys = (0..=MAX_INDEX_KEYS_PER_ENTRY as u64)
        .map(|k| IndexKey::new("k", &k.to_be_bytes()))
        .collect();
    assert!(matches!(
        log.append(many).await,
        Err(StorageError::InvalidRequest(_))
    ));
    let mut meta = new_entry(1002);
    meta.metadata = vec![0; crate::MAX_METADATA_SIZE + 1];
    assert!(matches!(
        log.append(meta).await,
        Err(StorageError::InvalidRequest(_))
    ));
    assert_eq!(
        log.tree_head().await.unwrap(),
        before,
        "refused appends write nothing"
    );
    assert!(log.lookup(&leaf_hash(&big).0).await.unwrap().is_none());
    assert!(matches!(
        log.entries(0, 0).await,
        Err(StorageError::InvalidRequest(_))
    ));
    assert!(matches!(
        log.entries(0, MAX_ENTRIES_PER_READ + 1).await,
        Err(StorageError::InvalidRequest(_))
    ));
    assert!(matches!(
        log.entries(1, 2).await,
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        log.entries(u64::MAX, 2).await,
        Err(StorageError::NotFound(_))
    ));
    log.close().await;
}

async fn proofs_and_bad_sizes(h: &dyn Harness) {
    let log = h.fresh().await;
    let written = append_range(&log, 0, 70).await;
    for size in [1u64, 2, 7, 64, 70] {
        let root = log.root_at(size).await.unwrap();
        let leaves: Vec<Hash> = written[..size as usize]
            .iter()
            .map(|(_, e)| leaf_hash(e))
            .collect();
        assert_eq!(root, in_memory_root(&leaves), "root_at({size})");
        for index in [0, size / 2, size - 1] {
            let proof = log.inclusion_proof(index, size).await.unwrap();
            merkle::verify_inclusion(index, size, &leaves[index as usize], &proof, &root)
                .unwrap_or_else(|e| panic!("inclusion {index} in {size}: {e}"));
        }
        for old in [1u64, size / 3 + 1, size] {
            if old > size {
                continue;
            }
            let proof = log.consistency_proof(old, size).await.unwrap();
            let old_root = log.root_at(old).await.unwrap();
            if old < size {
                merkle::verify_consistency(old, size, &old_root, &root, &proof)
                    .unwrap_or_else(|e| panic!("consistency {old}->{size}: {e}"));
            }
        }
    }
    assert!(matches!(
        log.inclusion_proof(70, 70).await,
        Err(StorageError::InvalidRequest(_))
    ));
    assert!(matches!(
        log.inclusion_proof(0, 71).await,
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        log.consistency_proof(0, 5).await,
        Err(StorageError::InvalidRequest(_))
    ));
    assert!(matches!(
        log.consistency_proof(6, 5).await,
        Err(StorageError::InvalidRequest(_))
    ));
    assert!(matches!(
        log.consistency_proof(5, 71).await,
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        log.root_at(71).await,
        Err(StorageError::NotFound(_))
    ));
    log.close().await;
}

async fn tiles_match_entries_and_hashes(h: &dyn Harness) {
    let log = h.fresh().await;
    let n = u64::from(TILE_WIDTH) + 3;
    let written = append_range(&log, 0, n).await;
    let leaves: Vec<Hash> = written.iter().map(|(_, e)| leaf_hash(e)).collect();
    let full = log.tile(&TilePath::hash(0, 0, TILE_WIDTH)).await.unwrap();
    let want: Vec<u8> = leaves[..256].iter().flat_map(|h| h.0).collect();
    assert_eq!(full, want, "level-0 tile is the leaf hashes");
    let partial = log.tile(&TilePath::hash(0, 1, 3)).await.unwrap();
    assert_eq!(
        partial,
        leaves[256..].iter().flat_map(|h| h.0).collect::<Vec<u8>>()
    );
    let older = log.tile(&TilePath::hash(0, 0, 10)).await.unwrap();
    assert_eq!(
        older,
        want[..320],
        "partial tiles of older sizes stay available"
    );
    let bundle = log.tile(&TilePath::entries(1, 3)).await.unwrap();
    let decoded = tiles::decode_entry_bundle(&bundle).unwrap();
    assert_eq!(
        decoded,
        written[256..]
            .iter()
            .map(|(_, e)| e.clone())
            .collect::<Vec<_>>(),
        "entry bundle holds the entries"
    );
    for beyond in [
        TilePath::hash(0, 1, 4),
        TilePath::hash(1, 0, 2),
        TilePath::entries(2, 1),
        TilePath::hash(0, 0, 0),
        TilePath {
            kind: TileKind::Entries,
            level: 1,
            index: 0,
            width: 1,
        },
    ] {
        assert!(
            matches!(log.tile(&beyond).await, Err(StorageError::NotFound(_))),
            "{} is not served",
            beyond.to_path()
        );
    }
    log.close().await;
}

async fn checkpoints_never_go_back(h: &dyn Harness) {
    let log = h.fresh().await;
    append_range(&log, 0, 10).await;
    let at = |size: u64, root: Hash| StoredCheckpoint {
        size,
        root,
        signed: format!("checkpoint {size}\n").into_bytes(),
    };
    let r5 = log.root_at(5).await.unwrap();
    let r10 = log.root_at(10).await.unwrap();
    assert!(matches!(
        log.publish_checkpoint(&at(11, r10)).await,
        Err(StorageError::InvalidRequest(_))
    ));
    assert!(
        matches!(
            log.publish_checkpoint(&at(10, r5)).await,
            Err(StorageError::InvalidRequest(_))
        ),
        "a root that is not the tree's is refused"
    );
    log.publish_checkpoint(&at(5, r5)).await.unwrap();
    log.publish_checkpoint(&at(10, r10)).await.unwrap();
    assert!(
        matches!(
            log.publish_checkpoint(&at(5, r5)).await,
            Err(StorageError::InvalidRequest(_))
        ),
        "a smaller checkpoint than the published one is refused"
    );
    assert_eq!(log.latest_checkpoint().await.unwrap(), Some(at(10, r10)));
    log.close().await;
}

async fn everything_survives_reopen(h: &dyn Harness) {
    let log = h.fresh().await;
    let written = append_range(&log, 0, 20).await;
    let mut keyed = new_entry(500);
    keyed.metadata = b"kept".to_vec();
    keyed.index_keys = vec![IndexKey::new("email", b"bob@example.test")];
    let keyed_index = log.append(keyed.clone()).await.unwrap().index;
    let head = log.tree_head().await.unwrap();
    let checkpoint = StoredCheckpoint {
        size: head.size,
        root: head.root,
        signed: b"signed".to_vec(),
    };
    log.publish_checkpoint(&checkpoint).await.unwrap();
    let log = h.reopen(log).await;
    assert_eq!(log.tree_head().await.unwrap(), head, "tree head survives");
    assert_eq!(log.latest_checkpoint().await.unwrap(), Some(checkpoint));
    for (i, e) in &written {
        assert_eq!(&log.entry(*i).await.unwrap().entry, e);
    }
    assert_eq!(
        log.lookup(&keyed.identity).await.unwrap(),
        Some(keyed_index)
    );
    assert_eq!(log.entry(keyed_index).await.unwrap().metadata, b"kept");
    assert_eq!(
        log.search(&IndexKey::new("email", b"bob@example.test"), 10)
            .await
            .unwrap(),
        vec![keyed_index]
    );
    assert!(matches!(
        log.append(keyed).await,
        Err(StorageError::Duplicate { .. })
    ));
    let more = append_range(&log, 1000, 1003).await;
    assert_eq!(
        more[0].0, head.size,
        "appends continue after the last index"
    );
    log.close().await;
}
