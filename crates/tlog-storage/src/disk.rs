//! On-disk layout, the committed-state record, recovery on open, and positional reads.
//!
//! One data directory holds:
//! ```text
//! LOCK          flock(2)-ed exclusively by the process that has the log open
//! index.redb    the commit point: state record, dedup identities, search keys, checkpoint
//! entries.dat   entry bytes, back to back, append-only
//! meta.dat      per-entry metadata bytes (often empty), back to back, append-only
//! entries.idx   per entry: u64 BE end offset into entries.dat, u64 BE end offset into
//!               meta.dat (16 bytes), append-only
//! hashes.dat    32-byte stored Merkle hashes in sumdb stored-hash order, append-only
//! ```
//! The state record in `index.redb` alone decides what is committed; the append-only files may
//! hold an uncommitted tail after a crash, which [`recover`] truncates. A directory written by
//! an earlier version (a `state` file and `ids.dat`) is migrated into `index.redb` on open.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use sigstack_tlog::merkle::{self, Hash, HashReader, stored_hash_count};
use sigstack_tlog::{Result as TlogResult, TlogError};

use crate::StorageError;
use crate::fs::{DirLock, FileSystem, StorageFile};
use crate::index::{Index, IndexRows};

pub(crate) const DATA_FILE: &str = "entries.dat";
pub(crate) const INDEX_FILE: &str = "entries.idx";
pub(crate) const META_FILE: &str = "meta.dat";
pub(crate) const HASH_FILE: &str = "hashes.dat";
pub(crate) const INDEX_DB: &str = "index.redb";
/// Files of the earlier layout, read only to migrate.
const LEGACY_STATE_FILE: &str = "state";
const LEGACY_STATE_TMP: &str = "state.tmp";
const LEGACY_ID_FILE: &str = "ids.dat";
/// Files whose presence with content means a log lives in the directory.
pub(crate) const DATA_FILES_WITH_LEGACY: [&str; 3] = [INDEX_DB, DATA_FILE, LEGACY_STATE_FILE];

const STATE_MAGIC: &[u8; 8] = b"SGTLOG01";
const STATE_BODY: usize = 8 + 8 + 8 + 8 + 32;
const STATE_LEN: usize = STATE_BODY + 32;
/// Bytes per entries.idx record.
pub(crate) const INDEX_RECORD: u64 = 16;
/// Entries migrated per index transaction.
const MIGRATION_CHUNK: u64 = 65_536;

/// The committed state record: `magic "SGTLOG01" || size u64 BE || data_len u64 BE ||
/// meta_len u64 BE || root [32] || SHA-256 of the preceding 64 bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct State {
    pub size: u64,
    pub data_len: u64,
    pub meta_len: u64,
    pub root: Hash,
}

impl State {
    pub(crate) fn empty() -> Self {
        Self {
            size: 0,
            data_len: 0,
            meta_len: 0,
            root: merkle::empty_root(),
        }
    }

    pub(crate) fn encode(&self) -> [u8; STATE_LEN] {
        let mut out = [0u8; STATE_LEN];
        out[..8].copy_from_slice(STATE_MAGIC);
        out[8..16].copy_from_slice(&self.size.to_be_bytes());
        out[16..24].copy_from_slice(&self.data_len.to_be_bytes());
        out[24..32].copy_from_slice(&self.meta_len.to_be_bytes());
        out[32..STATE_BODY].copy_from_slice(&self.root.0);
        let sum: [u8; 32] = Sha256::digest(&out[..STATE_BODY]).into();
        out[STATE_BODY..].copy_from_slice(&sum);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        let corrupt = |why: &str| StorageError::Corrupt(format!("state record: {why}"));
        if bytes.len() != STATE_LEN {
            return Err(corrupt("wrong length"));
        }
        if &bytes[..8] != STATE_MAGIC {
            return Err(corrupt("bad magic"));
        }
        let sum: [u8; 32] = Sha256::digest(&bytes[..STATE_BODY]).into();
        if bytes[STATE_BODY..] != sum {
            return Err(corrupt("checksum mismatch"));
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let mut root = [0u8; 32];
        root.copy_from_slice(&bytes[32..STATE_BODY]);
        Ok(Self {
            size: u64_at(8),
            data_len: u64_at(16),
            meta_len: u64_at(24),
            root: Hash(root),
        })
    }

    /// Committed length of each file, in [`DataFiles::as_array`] order.
    pub(crate) fn file_lengths(&self) -> [u64; 4] {
        [
            self.data_len,
            self.meta_len,
            INDEX_RECORD * self.size,
            32 * stored_hash_count(self.size),
        ]
    }
}

pub(crate) fn io_err(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> StorageError {
    let op = op.into();
    move |source| StorageError::Io { op, source }
}

/// The append-only files.
#[derive(Clone)]
pub(crate) struct DataFiles {
    pub data: Arc<dyn StorageFile>,
    pub meta: Arc<dyn StorageFile>,
    pub index: Arc<dyn StorageFile>,
    pub hashes: Arc<dyn StorageFile>,
}

impl DataFiles {
    pub(crate) fn as_array(&self) -> [(&'static str, &Arc<dyn StorageFile>); 4] {
        [
            (DATA_FILE, &self.data),
            (META_FILE, &self.meta),
            (INDEX_FILE, &self.index),
            (HASH_FILE, &self.hashes),
        ]
    }
}

/// Everything `EmbeddedLog::open` needs after recovery.
pub(crate) struct Recovered {
    pub state: State,
    pub files: DataFiles,
    pub index: Index,
    pub lock: Box<dyn DirLock>,
}

/// Lock the directory and bring it to its committed state: read (or create) the state in
/// `index.redb`, migrate an earlier layout, cut uncommitted tails off every file, and check that
/// the stored hashes reproduce the committed root.
pub(crate) fn recover(
    fs: &dyn FileSystem,
    dir: &Path,
    cache_bytes: usize,
) -> Result<Recovered, StorageError> {
    fs.create_dir_all(dir)
        .map_err(io_err("create log directory"))?;
    let lock = fs
        .lock_dir(dir)
        .map_err(io_err("lock log directory"))?
        .ok_or_else(|| StorageError::Locked(dir.to_owned()))?;
    let db_path = dir.join(INDEX_DB);
    let had_index = fs.exists(&db_path).map_err(io_err("stat index.redb"))?;
    let open = |name: &str| {
        fs.open(&dir.join(name))
            .map_err(io_err(format!("open {name}")))
    };
    let lens_before: Vec<u64> = [DATA_FILE, META_FILE, INDEX_FILE, HASH_FILE]
        .iter()
        .map(|n| -> Result<u64, StorageError> {
            if fs.exists(&dir.join(n)).map_err(io_err("stat"))? {
                open(n)?.len().map_err(io_err(format!("stat {n}")))
            } else {
                Ok(0)
            }
        })
        .collect::<Result<_, _>>()?;
    let legacy = fs
        .exists(&dir.join(LEGACY_STATE_FILE))
        .map_err(io_err("stat state"))?;
    if !had_index && !legacy && lens_before.iter().any(|&l| l > 0) {
        return Err(StorageError::Corrupt(format!(
            "{} holds log data but no {INDEX_DB}: the committed state is lost; restore the \
             directory from a backup",
            dir.display()
        )));
    }
    let index = Index::open(open(INDEX_DB)?, cache_bytes)?;
    let files = DataFiles {
        data: open(DATA_FILE)?,
        meta: open(META_FILE)?,
        index: open(INDEX_FILE)?,
        hashes: open(HASH_FILE)?,
    };
    // New names (the index, empty data files) must survive a crash before anything relies on
    // them.
    fs.sync_dir(dir).map_err(io_err("fsync log directory"))?;
    let state = match index.state()? {
        Some(state) => state,
        None if legacy => migrate_legacy(fs, dir, &index)?,
        None => {
            if had_index && !index.is_empty()? {
                return Err(StorageError::Corrupt(format!(
                    "{INDEX_DB} has entries but no state record"
                )));
            }
            let state = State::empty();
            index.commit(&state, &[])?;
            state
        }
    };
    let mut truncated = false;
    for ((name, file), want) in files.as_array().into_iter().zip(state.file_lengths()) {
        let len = file.len().map_err(io_err(format!("stat {name}")))?;
        if len < want {
            return Err(StorageError::Corrupt(format!(
                "{name} is {len} bytes but the committed state needs {want}: acknowledged data \
                 is missing; restore the directory from a backup"
            )));
        }
        if len > want {
            tracing::warn!(
                file = name,
                committed = want,
                found = len,
                "truncating uncommitted tail"
            );
            file.set_len(want)
                .map_err(io_err(format!("truncate {name}")))?;
            file.sync_data().map_err(io_err(format!("fsync {name}")))?;
            truncated = true;
        }
    }
    if truncated {
        tracing::info!(dir = %dir.display(), "recovered from an interrupted batch");
    }
    if state.size > 0 {
        let at = INDEX_RECORD * (state.size - 1);
        let end = read_u64_at(files.index.as_ref(), at).map_err(io_err("read entries.idx"))?;
        let meta_end =
            read_u64_at(files.index.as_ref(), at + 8).map_err(io_err("read entries.idx"))?;
        if end != state.data_len || meta_end != state.meta_len {
            return Err(StorageError::Corrupt(
                "entries.idx disagrees with the committed state".into(),
            ));
        }
    }
    let reader = FileHashes {
        file: files.hashes.as_ref(),
        count: stored_hash_count(state.size),
    };
    let root = merkle::tree_hash(state.size, &reader)
        .map_err(|e| StorageError::Corrupt(format!("reading stored hashes: {e}")))?;
    if root != state.root {
        return Err(StorageError::Corrupt(
            "stored hashes do not reproduce the committed root".into(),
        ));
    }
    if let Some(c) = index.checkpoint()?
        && c.size > state.size
    {
        return Err(StorageError::Corrupt(format!(
            "the log holds {} entries but a checkpoint of size {} was published: the log was \
             rolled back; restore the newest copy of the directory",
            state.size, c.size
        )));
    }
    tracing::info!(dir = %dir.display(), size = state.size, root = %state.root, "opened log");
    Ok(Recovered {
        state,
        files,
        index,
        lock,
    })
}

/// Move a directory of the earlier layout (`state` + `ids.dat`) into `index.redb`. Idempotent:
/// a crash midway repeats it on the next open; the state row is written last.
fn migrate_legacy(fs: &dyn FileSystem, dir: &Path, index: &Index) -> Result<State, StorageError> {
    let _ = fs.remove(&dir.join(LEGACY_STATE_TMP));
    let state_file = fs
        .open(&dir.join(LEGACY_STATE_FILE))
        .map_err(io_err("open state"))?;
    let mut bytes = vec![0u8; STATE_LEN];
    state_file
        .read_exact_at(&mut bytes, 0)
        .map_err(|_| StorageError::Corrupt("legacy state file: wrong length".into()))?;
    let state = State::decode(&bytes)?;
    let ids = fs
        .open(&dir.join(LEGACY_ID_FILE))
        .map_err(io_err("open ids.dat"))?;
    tracing::info!(dir = %dir.display(), size = state.size, "migrating the log's index to index.redb");
    let mut start = 0;
    while start < state.size {
        let count = MIGRATION_CHUNK.min(state.size - start);
        let mut buf = vec![0u8; usize::try_from(count * 32).unwrap_or(0)];
        ids.read_exact_at(&mut buf, start * 32)
            .map_err(io_err("read ids.dat"))?;
        let identities: Vec<[u8; 32]> = buf
            .chunks_exact(32)
            .map(|c| {
                let mut id = [0u8; 32];
                id.copy_from_slice(c);
                id
            })
            .collect();
        let rows: Vec<IndexRows<'_>> = identities
            .iter()
            .enumerate()
            .map(|(i, identity)| IndexRows {
                index: start + i as u64,
                identity,
                keys: &[],
            })
            .collect();
        let last = start + count >= state.size;
        if last {
            index.commit(&state, &rows)?;
        } else {
            index.add_rows(&rows)?;
        }
        start += count;
    }
    if state.size == 0 {
        index.commit(&state, &[])?;
    }
    for name in [LEGACY_STATE_FILE, LEGACY_ID_FILE] {
        fs.remove(&dir.join(name))
            .map_err(io_err(format!("remove {name}")))?;
    }
    fs.sync_dir(dir).map_err(io_err("fsync log directory"))?;
    Ok(state)
}

pub(crate) fn read_u64_at(file: &dyn StorageFile, offset: u64) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    file.read_exact_at(&mut b, offset)?;
    Ok(u64::from_be_bytes(b))
}

/// Stored hashes read positionally from hashes.dat, limited to the first `count`.
pub(crate) struct FileHashes<'a> {
    pub file: &'a dyn StorageFile,
    pub count: u64,
}

/// Requests whose indexes are at most this many hashes apart share one read.
const COALESCE_GAP: u64 = 64;

impl HashReader for FileHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> TlogResult<Vec<Hash>> {
        if let Some(&bad) = indexes.iter().find(|&&i| i >= self.count) {
            return Err(TlogError::InvalidStoredHashIndex(format!(
                "index {bad} not stored (have {})",
                self.count
            )));
        }
        let mut sorted: Vec<u64> = indexes.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut found: std::collections::HashMap<u64, Hash> =
            std::collections::HashMap::with_capacity(sorted.len());
        let mut i = 0;
        while i < sorted.len() {
            let start = sorted[i];
            let mut end = start;
            let mut j = i + 1;
            while j < sorted.len() && sorted[j] - end <= COALESCE_GAP {
                end = sorted[j];
                j += 1;
            }
            let len = usize::try_from(end - start + 1)
                .map_err(|_| TlogError::HashRead("read span too large".into()))?;
            let mut buf = vec![0u8; len * 32];
            self.file
                .read_exact_at(&mut buf, start * 32)
                .map_err(|e| TlogError::HashRead(format!("hashes.dat: {e}")))?;
            for &idx in &sorted[i..j] {
                let at = usize::try_from(idx - start).unwrap_or(0) * 32;
                found.insert(idx, Hash::from_slice(&buf[at..at + 32])?);
            }
            i = j;
        }
        indexes
            .iter()
            .map(|i| {
                found
                    .get(i)
                    .copied()
                    .ok_or_else(|| TlogError::HashRead("missing hash".into()))
            })
            .collect()
    }
}
