//! On-disk layout, the committed-state record, recovery on open, and positional reads.
//!
//! One data directory holds:
//! ```text
//! LOCK          flock(2)-ed exclusively by the process that has the log open
//! state         the committed state record (see `State`), replaced atomically
//! entries.dat   entry bytes, back to back, append-only
//! meta.dat      per-entry metadata bytes (often empty), back to back, append-only
//! entries.idx   per entry: u64 BE end offset into entries.dat, u64 BE end offset into
//!               meta.dat (16 bytes), append-only
//! hashes.dat    32-byte stored Merkle hashes in sumdb stored-hash order, append-only
//! ids.dat       per entry: its 32-byte dedup identity, append-only
//! ```
//! `state` alone decides what is committed; every other file may hold an uncommitted tail
//! after a crash, which `recover` truncates.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use sha2::{Digest as _, Sha256};
use sigstack_tlog::merkle::{self, Hash, HashReader, stored_hash_count};
use sigstack_tlog::{Result as TlogResult, TlogError};

use crate::StorageError;

pub(crate) const LOCK_FILE: &str = "LOCK";
pub(crate) const STATE_FILE: &str = "state";
pub(crate) const STATE_TMP: &str = "state.tmp";
pub(crate) const DATA_FILE: &str = "entries.dat";
pub(crate) const INDEX_FILE: &str = "entries.idx";
pub(crate) const META_FILE: &str = "meta.dat";
pub(crate) const HASH_FILE: &str = "hashes.dat";
pub(crate) const ID_FILE: &str = "ids.dat";

const STATE_MAGIC: &[u8; 8] = b"SGTLOG01";
const STATE_BODY: usize = 8 + 8 + 8 + 8 + 32;
const STATE_LEN: usize = STATE_BODY + 32;
/// Bytes per entries.idx record.
pub(crate) const INDEX_RECORD: u64 = 16;

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

    fn encode(&self) -> [u8; STATE_LEN] {
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

    fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        let corrupt = |why: &str| StorageError::Corrupt(format!("state file: {why}"));
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
    pub(crate) fn file_lengths(&self) -> [u64; 5] {
        [
            self.data_len,
            self.meta_len,
            INDEX_RECORD * self.size,
            32 * stored_hash_count(self.size),
            32 * self.size,
        ]
    }
}

pub(crate) fn io_err(op: impl Into<String>) -> impl FnOnce(io::Error) -> StorageError {
    let op = op.into();
    move |source| StorageError::Io { op, source }
}

/// Replace the state record atomically: write a temporary file, fsync it, rename it over
/// `state`, fsync the directory.
pub(crate) fn write_state(dir: &Path, state: &State) -> Result<(), StorageError> {
    let tmp = dir.join(STATE_TMP);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io_err("create state.tmp"))?;
    f.write_all(&state.encode())
        .map_err(io_err("write state.tmp"))?;
    f.sync_all().map_err(io_err("fsync state.tmp"))?;
    drop(f);
    std::fs::rename(&tmp, dir.join(STATE_FILE)).map_err(io_err("rename state"))?;
    sync_dir(dir)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync data directory"))
}

/// Take the directory lock, failing at once if another `Log` holds it.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, StorageError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err("open LOCK"))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(StorageError::Locked(dir.to_owned())),
        Err(e) => Err(StorageError::Io {
            op: "lock LOCK".into(),
            source: e.into(),
        }),
    }
}

/// The four append-only files, opened for reading and writing.
pub(crate) struct DataFiles {
    pub data: File,
    pub meta: File,
    pub index: File,
    pub hashes: File,
    pub ids: File,
}

impl DataFiles {
    pub(crate) fn as_array(&self) -> [(&'static str, &File); 5] {
        [
            (DATA_FILE, &self.data),
            (META_FILE, &self.meta),
            (INDEX_FILE, &self.index),
            (HASH_FILE, &self.hashes),
            (ID_FILE, &self.ids),
        ]
    }
}

fn open_rw(dir: &Path, name: &str) -> Result<File, StorageError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(name))
        .map_err(io_err(format!("open {name}")))
}

pub(crate) fn open_ro(dir: &Path, name: &str) -> Result<File, StorageError> {
    File::open(dir.join(name)).map_err(io_err(format!("open {name}")))
}

/// Everything `Log::open` needs after recovery.
pub(crate) struct Recovered {
    pub state: State,
    pub files: DataFiles,
    pub dedup: HashMap<[u8; 32], u64>,
}

/// Bring the directory to its committed state: read (or create) `state`, cut uncommitted
/// tails off every file, check that the hashes reproduce the committed root, and load the
/// dedup index.
pub(crate) fn recover(dir: &Path) -> Result<Recovered, StorageError> {
    match std::fs::remove_file(dir.join(STATE_TMP)) {
        Ok(()) => tracing::info!(dir = %dir.display(), "removed leftover state.tmp"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("remove state.tmp")(e)),
    }
    let state = match std::fs::read(dir.join(STATE_FILE)) {
        Ok(bytes) => State::decode(&bytes)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A new log. Refuse to guess if data files already hold something.
            for name in [DATA_FILE, META_FILE, INDEX_FILE, HASH_FILE, ID_FILE] {
                match std::fs::metadata(dir.join(name)) {
                    Ok(m) if m.len() > 0 => {
                        return Err(StorageError::Corrupt(format!(
                            "{name} has data but the state file is missing"
                        )));
                    }
                    _ => {}
                }
            }
            let state = State::empty();
            write_state(dir, &state)?;
            state
        }
        Err(e) => return Err(io_err("read state")(e)),
    };
    let files = DataFiles {
        data: open_rw(dir, DATA_FILE)?,
        meta: open_rw(dir, META_FILE)?,
        index: open_rw(dir, INDEX_FILE)?,
        hashes: open_rw(dir, HASH_FILE)?,
        ids: open_rw(dir, ID_FILE)?,
    };
    let mut truncated = false;
    for ((name, file), want) in files.as_array().into_iter().zip(state.file_lengths()) {
        let len = file
            .metadata()
            .map_err(io_err(format!("stat {name}")))?
            .len();
        if len < want {
            return Err(StorageError::Corrupt(format!(
                "{name} is {len} bytes but the committed state needs {want}"
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
            file.sync_all().map_err(io_err(format!("fsync {name}")))?;
            truncated = true;
        }
    }
    if truncated {
        sync_dir(dir)?;
    }
    if state.size > 0 {
        let at = INDEX_RECORD * (state.size - 1);
        let end = read_u64_at(&files.index, at).map_err(io_err("read entries.idx"))?;
        let meta_end = read_u64_at(&files.index, at + 8).map_err(io_err("read entries.idx"))?;
        if end != state.data_len || meta_end != state.meta_len {
            return Err(StorageError::Corrupt(
                "entries.idx disagrees with the state file".into(),
            ));
        }
    }
    let reader = FileHashes {
        file: &files.hashes,
        count: stored_hash_count(state.size),
    };
    let root = merkle::tree_hash(state.size, &reader)
        .map_err(|e| StorageError::Corrupt(format!("reading stored hashes: {e}")))?;
    if root != state.root {
        return Err(StorageError::Corrupt(
            "stored hashes do not reproduce the committed root".into(),
        ));
    }
    let dedup = load_ids(&files.ids, state.size)?;
    tracing::info!(dir = %dir.display(), size = state.size, root = %state.root, "opened log");
    Ok(Recovered {
        state,
        files,
        dedup,
    })
}

fn load_ids(file: &File, size: u64) -> Result<HashMap<[u8; 32], u64>, StorageError> {
    let mut map = HashMap::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut reader =
        io::BufReader::with_capacity(1 << 20, file.try_clone().map_err(io_err("clone ids.dat"))?);
    let mut id = [0u8; 32];
    for index in 0..size {
        reader.read_exact(&mut id).map_err(io_err("read ids.dat"))?;
        // The first entry with an identity wins, as it did when appending.
        map.entry(id).or_insert(index);
    }
    Ok(map)
}

pub(crate) fn read_u64_at(file: &File, offset: u64) -> io::Result<u64> {
    let mut b = [0u8; 8];
    file.read_exact_at(&mut b, offset)?;
    Ok(u64::from_be_bytes(b))
}

/// Stored hashes read with `pread` from hashes.dat, limited to the first `count`.
pub(crate) struct FileHashes<'a> {
    pub file: &'a File,
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
        let mut found: HashMap<u64, Hash> = HashMap::with_capacity(sorted.len());
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
