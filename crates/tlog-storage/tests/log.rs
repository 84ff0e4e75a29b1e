//! Behaviour of the durable log: append and read back, dedup, proofs and tiles checked with
//! `sigstack-tlog`'s verifiers and recomputation, reopen, crash recovery (garbage tails, a
//! killed writer process), concurrency, limits and the directory lock.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::HashSet;
use std::io::{BufRead as _, Write as _};
use std::path::Path;
use std::time::Duration;

use sigstack_tlog::TilePath;
use sigstack_tlog::merkle::{
    self, Hash, leaf_hash, stored_hashes_for_record, verify_consistency, verify_inclusion,
};
use sigstack_tlog::tiles::{self, decode_entry_bundle, read_tile_hashes, tiles_for_size};
use sigstack_tlog_storage::{EmbeddedLog, LogConfig, StorageError};

const FILES: [&str; 4] = ["entries.dat", "meta.dat", "entries.idx", "hashes.dat"];

fn fast() -> LogConfig {
    LogConfig {
        batch_max_age: Duration::from_millis(2),
        ..LogConfig::default()
    }
}

fn entry(i: u64) -> Vec<u8> {
    // Entries of varying length, including empty ones.
    let mut e = format!("entry {i} ").into_bytes();
    e.resize((i % 97) as usize, b'.');
    e
}

fn id(e: &[u8], i: u64) -> [u8; 32] {
    // Distinct identity even for equal entry bytes.
    let mut d = e.to_vec();
    d.extend_from_slice(&i.to_be_bytes());
    leaf_hash(&d).0
}

/// Stored hashes of `entries`, computed in memory.
fn reference(entries: &[Vec<u8>]) -> Vec<Hash> {
    let mut stored = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let new = stored_hashes_for_record(i as u64, e, &stored).unwrap();
        stored.extend(new);
    }
    stored
}

async fn append_all(log: &EmbeddedLog, from: u64, to: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in from..to {
        let e = entry(i);
        let a = log
            .append_with_metadata(e.clone(), id(&e, i), meta(i))
            .await
            .unwrap();
        assert_eq!(a.index, i);
        assert!(a.tree.size > i);
        out.push(e);
    }
    out
}

/// Metadata for entry `i`: its index for even entries, nothing for odd ones.
fn meta(i: u64) -> Vec<u8> {
    if i.is_multiple_of(2) {
        i.to_be_bytes().to_vec()
    } else {
        Vec::new()
    }
}

fn check_entries(log: &EmbeddedLog, entries: &[Vec<u8>]) {
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(&log.entry(i as u64).unwrap(), e, "entry {i}");
        assert_eq!(
            log.metadata(i as u64).unwrap(),
            meta(i as u64),
            "metadata {i}"
        );
    }
}

#[tokio::test]
async fn append_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), fast()).await.unwrap();
    assert_eq!(log.tree_head().size, 0);
    assert_eq!(log.tree_head().root, merkle::empty_root());
    let entries = append_all(&log, 0, 40).await;
    let head = log.tree_head();
    assert_eq!(head.size, 40);
    let stored = reference(&entries);
    assert_eq!(head.root, merkle::tree_hash(40, &stored).unwrap());
    check_entries(&log, &entries);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(log.lookup(&id(e, i as u64)).unwrap(), Some(i as u64));
    }
    assert!(matches!(log.entry(40), Err(StorageError::NotFound(_))));
    assert!(matches!(log.metadata(40), Err(StorageError::NotFound(_))));
    assert_eq!(log.lookup(&[9; 32]).unwrap(), None);
    for size in 0..=40 {
        assert_eq!(
            log.root_at(size).unwrap(),
            merkle::tree_hash(size, &stored).unwrap()
        );
    }
    assert!(matches!(log.root_at(41), Err(StorageError::NotFound(_))));
    log.close().await;
}

#[tokio::test]
async fn appended_tree_head_includes_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), fast()).await.unwrap();
    let entries = append_all(&log, 0, 5).await;
    let e = entry(5);
    let a = log.append(e.clone(), id(&e, 5)).await.unwrap();
    assert_eq!(a.tree, log.tree_head());
    let proof = log.inclusion_proof(a.index, a.tree.size).unwrap();
    verify_inclusion(a.index, a.tree.size, &leaf_hash(&e), &proof, &a.tree.root).unwrap();
    let mut all = entries;
    all.push(e);
    assert_eq!(a.tree.root, merkle::tree_hash(6, &reference(&all)).unwrap());
}

#[tokio::test]
async fn duplicates_are_reported_with_the_first_index() {
    let dir = tempfile::tempdir().unwrap();
    let slow = LogConfig {
        batch_max_age: Duration::from_millis(200),
        ..LogConfig::default()
    };
    let log = EmbeddedLog::open(dir.path(), slow.clone()).await.unwrap();
    // Two appends with one identity in the same batch: one wins, the other learns its index.
    let (a, b) = tokio::join!(
        log.append(b"one".to_vec(), [1; 32]),
        log.append(b"two".to_vec(), [1; 32])
    );
    let (ok, dup) = match (a, b) {
        (Ok(ok), Err(StorageError::Duplicate { index }))
        | (Err(StorageError::Duplicate { index }), Ok(ok)) => (ok, index),
        other => panic!("expected one success and one duplicate, got {other:?}"),
    };
    assert_eq!(ok.index, dup);
    assert_eq!(log.tree_head().size, 1);
    // Against a committed entry.
    assert!(matches!(
        log.append(b"three".to_vec(), [1; 32]).await,
        Err(StorageError::Duplicate { index: 0 })
    ));
    log.append(b"four".to_vec(), [2; 32]).await.unwrap();
    log.close().await;
    // The dedup index survives a reopen.
    let log = EmbeddedLog::open(dir.path(), slow).await.unwrap();
    assert_eq!(log.lookup(&[1; 32]).unwrap(), Some(0));
    assert_eq!(log.lookup(&[2; 32]).unwrap(), Some(1));
    assert!(matches!(
        log.append(b"x".to_vec(), [2; 32]).await,
        Err(StorageError::Duplicate { index: 1 })
    ));
    assert_eq!(log.tree_head().size, 2);
}

#[tokio::test]
async fn proofs_verify_against_tlog_verifiers() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), fast()).await.unwrap();
    let entries = append_all(&log, 0, 70).await;
    for size in 1..=70u64 {
        let root = log.root_at(size).unwrap();
        for index in 0..size {
            let proof = log.inclusion_proof(index, size).unwrap();
            verify_inclusion(
                index,
                size,
                &leaf_hash(&entries[index as usize]),
                &proof,
                &root,
            )
            .unwrap();
        }
        for old in 1..=size {
            let proof = log.consistency_proof(old, size).unwrap();
            verify_consistency(old, size, &log.root_at(old).unwrap(), &root, &proof).unwrap();
        }
    }
    assert!(matches!(
        log.inclusion_proof(70, 70),
        Err(StorageError::InvalidRequest(_))
    ));
    assert!(matches!(
        log.inclusion_proof(0, 71),
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        log.consistency_proof(0, 5),
        Err(StorageError::InvalidRequest(_))
    ));
    assert!(matches!(
        log.consistency_proof(6, 5),
        Err(StorageError::InvalidRequest(_))
    ));
    assert!(matches!(
        log.consistency_proof(5, 71),
        Err(StorageError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_equal_recomputation() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(
        dir.path(),
        LogConfig {
            batch_max_age: Duration::ZERO,
            ..LogConfig::default()
        },
    )
    .await
    .unwrap();
    let n = 1000u64;
    let mut tasks = Vec::new();
    for i in 0..n {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let e = entry(i);
            let a = log.append(e.clone(), id(&e, i)).await.unwrap();
            (a.index, e)
        }));
    }
    let mut entries = vec![Vec::new(); n as usize];
    for t in tasks {
        let (index, e) = t.await.unwrap();
        entries[index as usize] = e;
    }
    let stored = reference(&entries);
    assert_eq!(log.tree_head().root, merkle::tree_hash(n, &stored).unwrap());
    let all = tiles_for_size(n);
    assert_eq!(
        all.len(),
        3 + 1 + 1,
        "3 full + 1 partial at level 0, 1 partial at level 1"
    );
    for t in all {
        let bytes = log.tile(&t).unwrap();
        let want = read_tile_hashes(t.level, t.index, t.width, &stored).unwrap();
        assert_eq!(bytes, tiles::tile_bytes(&want), "{}", t.to_path());
        if t.level == 0 {
            let bundle = log.tile(&TilePath::entries(t.index, t.width)).unwrap();
            let got = decode_entry_bundle(&bundle).unwrap();
            let start = (t.index * 256) as usize;
            assert_eq!(got, entries[start..start + usize::from(t.width)]);
        }
    }
    // Partial tiles of older sizes are still served; tiles beyond the tree are not.
    let old = log
        .tile(&TilePath::parse("tile/0/000.p/5").unwrap())
        .unwrap();
    assert_eq!(
        old,
        tiles::tile_bytes(&read_tile_hashes(0, 0, 5, &stored).unwrap())
    );
    for beyond in [
        "tile/0/003",
        "tile/0/003.p/233",
        "tile/1/000",
        "tile/1/000.p/4",
        "tile/2/000.p/1",
        "tile/entries/004.p/1",
    ] {
        assert!(
            matches!(
                log.tile(&TilePath::parse(beyond).unwrap()),
                Err(StorageError::NotFound(_))
            ),
            "{beyond}"
        );
    }
}

#[tokio::test]
async fn reopen_after_close_continues_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), fast()).await.unwrap();
    let mut entries = append_all(&log, 0, 20).await;
    let head = log.tree_head();
    log.close().await;
    let log = EmbeddedLog::open(dir.path(), fast()).await.unwrap();
    assert_eq!(log.tree_head(), head);
    entries.extend(append_all(&log, 20, 30).await);
    check_entries(&log, &entries);
    assert_eq!(
        log.tree_head().root,
        merkle::tree_hash(30, &reference(&entries)).unwrap()
    );
    let clone = log.clone();
    log.close().await;
    // Other clones can read but not append after close.
    assert_eq!(clone.entry(29).unwrap(), entries[29]);
    assert!(matches!(
        clone.append(b"late".to_vec(), [7; 32]).await,
        Err(StorageError::Closed)
    ));
}

fn append_garbage(dir: &Path, name: &str, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(name))
        .unwrap();
    f.write_all(bytes).unwrap();
}

#[tokio::test]
async fn garbage_tails_from_a_crash_are_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), fast()).await.unwrap();
    let mut entries = append_all(&log, 0, 300).await;
    let head = log.tree_head();
    log.close().await;
    let lens: Vec<u64> = FILES
        .iter()
        .map(|f| std::fs::metadata(dir.path().join(f)).unwrap().len())
        .collect();

    // A crash mid-batch leaves partial writes of the next batch in any subset of the files.
    for (i, name) in FILES.iter().enumerate() {
        append_garbage(dir.path(), name, &vec![0xA5; 1 + 37 * i]);
    }

    let log = EmbeddedLog::open(dir.path(), fast()).await.unwrap();
    assert_eq!(log.tree_head(), head);
    for (name, len) in FILES.iter().zip(&lens) {
        assert_eq!(
            std::fs::metadata(dir.path().join(name)).unwrap().len(),
            *len,
            "{name} truncated back"
        );
    }
    check_entries(&log, &entries);
    entries.extend(append_all(&log, 300, 310).await);
    check_entries(&log, &entries);
    let stored = reference(&entries);
    assert_eq!(
        log.tree_head().root,
        merkle::tree_hash(310, &stored).unwrap()
    );
    let proof = log.consistency_proof(300, 310).unwrap();
    verify_consistency(300, 310, &head.root, &log.tree_head().root, &proof).unwrap();
}

#[tokio::test]
async fn contradictions_with_the_committed_state_refuse_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), fast()).await.unwrap();
    append_all(&log, 0, 10).await;
    log.close().await;
    let backup = tempfile::tempdir().unwrap();
    let copy = |from: &Path, to: &Path| {
        for name in FILES.iter().chain(&["index.redb"]) {
            std::fs::copy(from.join(name), to.join(name)).unwrap();
        }
    };
    copy(dir.path(), backup.path());

    // A committed file is shorter than the state says: acknowledged data is gone.
    for name in FILES {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join(name))
            .unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len - 1).unwrap();
        let err = EmbeddedLog::open(dir.path(), fast()).await.unwrap_err();
        assert!(matches!(err, StorageError::Corrupt(_)), "{name}: {err}");
        copy(backup.path(), dir.path());
    }
    // A damaged index.
    let mut index = std::fs::read(dir.path().join("index.redb")).unwrap();
    for b in index.iter_mut().skip(64) {
        *b ^= 0x5A;
    }
    std::fs::write(dir.path().join("index.redb"), &index).unwrap();
    assert!(
        EmbeddedLog::open(dir.path(), fast()).await.is_err(),
        "a damaged index refuses"
    );
    copy(backup.path(), dir.path());
    // A stored hash on the right edge of the tree no longer reproduces the root.
    let mut hashes = std::fs::read(dir.path().join("hashes.dat")).unwrap();
    let last = hashes.len() - 1;
    hashes[last] ^= 1;
    std::fs::write(dir.path().join("hashes.dat"), &hashes).unwrap();
    assert!(matches!(
        EmbeddedLog::open(dir.path(), fast()).await,
        Err(StorageError::Corrupt(_))
    ));
    copy(backup.path(), dir.path());
    // The index vanished but data is present: never silently restart from zero.
    std::fs::remove_file(dir.path().join("index.redb")).unwrap();
    assert!(matches!(
        EmbeddedLog::open(dir.path(), fast()).await,
        Err(StorageError::Corrupt(_))
    ));
    copy(backup.path(), dir.path());
    assert_eq!(
        EmbeddedLog::open(dir.path(), fast())
            .await
            .unwrap()
            .tree_head()
            .size,
        10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_get_distinct_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(
        dir.path(),
        LogConfig {
            batch_max_size: 64,
            ..fast()
        },
    )
    .await
    .unwrap();
    let n = 2000u64;
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move {
                let e = format!("concurrent {i}").into_bytes();
                let a = log.append(e.clone(), leaf_hash(&e).0).await.unwrap();
                assert!(a.tree.size > a.index);
                (a.index, e)
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in tasks {
        let (index, e) = t.await.unwrap();
        assert!(seen.insert(index), "index {index} handed out twice");
        assert_eq!(log.entry(index).unwrap(), e);
    }
    assert_eq!(seen, (0..n).collect::<HashSet<_>>());
    assert_eq!(log.tree_head().size, n);
}

#[tokio::test]
async fn entry_size_and_config_limits() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), fast()).await.unwrap();
    assert!(matches!(
        log.append(vec![0; 65536], [1; 32]).await,
        Err(StorageError::EntryTooLarge {
            size: 65536,
            max: 65535
        })
    ));
    let a = log.append(vec![3; 65535], [2; 32]).await.unwrap();
    assert_eq!(log.entry(a.index).unwrap().len(), 65535);
    let bundle = log.tile(&TilePath::entries(0, 1)).unwrap();
    assert_eq!(bundle.len(), 2 + 65535);
    assert_eq!(log.tree_head().size, 1, "the rejected entry wrote nothing");
    log.close().await;

    let small = LogConfig {
        max_entry_size: 10,
        ..fast()
    };
    let log = EmbeddedLog::open(dir.path(), small).await.unwrap();
    assert!(matches!(
        log.append(vec![0; 11], [4; 32]).await,
        Err(StorageError::EntryTooLarge { max: 10, .. })
    ));
    log.close().await;
    for bad in [
        LogConfig {
            max_entry_size: 65536,
            ..fast()
        },
        LogConfig {
            max_entry_size: 0,
            ..fast()
        },
        LogConfig {
            batch_max_size: 0,
            ..fast()
        },
        LogConfig {
            max_pending: 0,
            ..fast()
        },
    ] {
        assert!(matches!(
            EmbeddedLog::open(dir.path(), bad).await,
            Err(StorageError::InvalidConfig(_))
        ));
    }
}

#[tokio::test]
async fn full_queue_pushes_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_pending: 2,
        batch_max_age: Duration::from_millis(300),
        ..LogConfig::default()
    };
    let log = EmbeddedLog::open(dir.path(), config).await.unwrap();
    let (a, b, c) = tokio::join!(
        log.append(b"a".to_vec(), [1; 32]),
        log.append(b"b".to_vec(), [2; 32]),
        log.append(b"c".to_vec(), [3; 32]),
    );
    assert!(a.is_ok() && b.is_ok());
    assert!(matches!(c, Err(StorageError::Overloaded)));
    // Capacity comes back once the batch is answered.
    log.append(b"c".to_vec(), [3; 32]).await.unwrap();
    assert_eq!(log.tree_head().size, 3);
}

#[tokio::test]
async fn second_open_of_the_same_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), fast()).await.unwrap();
    let err = EmbeddedLog::open(dir.path(), fast()).await.unwrap_err();
    assert!(matches!(err, StorageError::Locked(_)), "{err}");
    assert!(err.to_string().contains("locked"));
    log.close().await;
    EmbeddedLog::open(dir.path(), fast())
        .await
        .unwrap()
        .close()
        .await;
}

/// Child half of `killed_writer_loses_no_acknowledged_entry`: appends forever, printing each
/// acknowledged index. Does nothing unless started by that test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child_appender() {
    let Ok(dir) = std::env::var("SIGSTACK_TLOG_CRASH_DIR") else {
        return;
    };
    let log = EmbeddedLog::open(Path::new(&dir), fast()).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for w in 0..8u64 {
        let (log, tx) = (log.clone(), tx.clone());
        tokio::spawn(async move {
            for i in 0u64.. {
                let e = format!("crash {w} {i}").into_bytes();
                let a = log
                    .append_with_metadata(e.clone(), leaf_hash(&e).0, i.to_be_bytes().to_vec())
                    .await
                    .unwrap();
                tx.send((a.index, e)).unwrap();
            }
        });
    }
    let mut out = std::io::stdout();
    while let Some((index, e)) = rx.recv().await {
        writeln!(out, "ACK {index} {}", String::from_utf8(e).unwrap()).unwrap();
        out.flush().unwrap();
    }
}

#[tokio::test]
async fn killed_writer_loses_no_acknowledged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SIGSTACK_TLOG_CRASH_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (index, e) = rest.split_once(' ').unwrap();
            acked.push((index.parse::<u64>().unwrap(), e.to_owned()));
            if acked.len() == 1500 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructors, no close.
    child.wait().unwrap();
    assert_eq!(acked.len(), 1500, "child stopped early");

    let log = EmbeddedLog::open(dir.path(), fast()).await.unwrap();
    let head = log.tree_head();
    for (index, e) in &acked {
        assert!(*index < head.size);
        assert_eq!(
            log.entry(*index).unwrap(),
            e.as_bytes(),
            "acknowledged entry {index}"
        );
        let i: u64 = e.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(
            log.metadata(*index).unwrap(),
            i.to_be_bytes(),
            "metadata of {index}"
        );
    }
    let entries: Vec<Vec<u8>> = (0..head.size).map(|i| log.entry(i).unwrap()).collect();
    assert_eq!(
        head.root,
        merkle::tree_hash(head.size, &reference(&entries)).unwrap()
    );
    // And the log keeps working.
    let a = log
        .append(b"after crash".to_vec(), [0xEE; 32])
        .await
        .unwrap();
    assert_eq!(a.index, head.size);
}

#[tokio::test]
async fn metadata_is_stored_with_the_entry_outside_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), fast()).await.unwrap();
    let a = log
        .append_with_metadata(b"e0".to_vec(), [1; 32], b"time=1".to_vec())
        .await
        .unwrap();
    let b = log.append(b"e1".to_vec(), [2; 32]).await.unwrap();
    assert_eq!(log.metadata(a.index).unwrap(), b"time=1");
    assert_eq!(log.metadata(b.index).unwrap(), b"");
    // Metadata does not change the Merkle leaf or the entry bundle.
    assert_eq!(
        log.tree_head().root,
        merkle::tree_hash(2, &reference(&[b"e0".to_vec(), b"e1".to_vec()])).unwrap()
    );
    assert_eq!(
        decode_entry_bundle(&log.tile(&TilePath::entries(0, 2)).unwrap()).unwrap(),
        [b"e0".to_vec(), b"e1".to_vec()]
    );
    // A duplicate keeps the original metadata.
    assert!(matches!(
        log.append_with_metadata(b"e0".to_vec(), [1; 32], b"time=2".to_vec())
            .await,
        Err(StorageError::Duplicate { index: 0 })
    ));
    assert!(matches!(
        log.append_with_metadata(b"e2".to_vec(), [3; 32], vec![0; 65536])
            .await,
        Err(StorageError::InvalidRequest(_))
    ));
    log.close().await;
    let log = EmbeddedLog::open(dir.path(), fast()).await.unwrap();
    assert_eq!(log.metadata(0).unwrap(), b"time=1");
    assert_eq!(log.tree_head().size, 2);
}

#[test]
fn log_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<EmbeddedLog>();
}
