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
//! keys.dat      per entry with search keys: u64 BE index, u8 count, count × 32-byte key
//! checkpoint    the largest published checkpoint: u64 BE size, root, signed bytes, SHA-256
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
use crate::store::{IndexKey, StoredCheckpoint};

pub(crate) const LOCK_FILE: &str = "LOCK";
pub(crate) const STATE_FILE: &str = "state";
pub(crate) const STATE_TMP: &str = "state.tmp";
pub(crate) const DATA_FILE: &str = "entries.dat";
pub(crate) const INDEX_FILE: &str = "entries.idx";
pub(crate) const META_FILE: &str = "meta.dat";
pub(crate) const HASH_FILE: &str = "hashes.dat";
pub(crate) const ID_FILE: &str = "ids.dat";
pub(crate) const KEYS_FILE: &str = "keys.dat";
pub(crate) const CHECKPOINT_FILE: &str = "checkpoint";

/// Version 1 of the state record (no keys.dat); still read, never written.
const STATE_MAGIC_V1: &[u8; 8] = b"SGTLOG01";
const STATE_MAGIC: &[u8; 8] = b"SGTLOG02";
const STATE_BODY_V1: usize = 8 + 8 + 8 + 8 + 32;
const STATE_LEN_V1: usize = STATE_BODY_V1 + 32;
const STATE_BODY: usize = STATE_BODY_V1 + 8;
const STATE_LEN: usize = STATE_BODY + 32;
/// Bytes per entries.idx record.
pub(crate) const INDEX_RECORD: u64 = 16;

/// The committed state record: `magic "SGTLOG02" || size u64 BE || data_len u64 BE ||
/// meta_len u64 BE || root [32] || keys_len u64 BE || SHA-256 of the preceding 72 bytes`.
/// Version 1 (`"SGTLOG01"`, no `keys_len`) is read as `keys_len = 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct State {
    pub size: u64,
    pub data_len: u64,
    pub meta_len: u64,
    pub root: Hash,
    pub keys_len: u64,
}

impl State {
    pub(crate) fn empty() -> Self {
        Self {
            size: 0,
            data_len: 0,
            meta_len: 0,
            root: merkle::empty_root(),
            keys_len: 0,
        }
    }

    fn encode(&self) -> [u8; STATE_LEN] {
        let mut out = [0u8; STATE_LEN];
        out[..8].copy_from_slice(STATE_MAGIC);
        out[8..16].copy_from_slice(&self.size.to_be_bytes());
        out[16..24].copy_from_slice(&self.data_len.to_be_bytes());
        out[24..32].copy_from_slice(&self.meta_len.to_be_bytes());
        out[32..STATE_BODY_V1].copy_from_slice(&self.root.0);
        out[STATE_BODY_V1..STATE_BODY].copy_from_slice(&self.keys_len.to_be_bytes());
        let sum: [u8; 32] = Sha256::digest(&out[..STATE_BODY]).into();
        out[STATE_BODY..].copy_from_slice(&sum);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        let corrupt = |why: &str| StorageError::Corrupt(format!("state file: {why}"));
        let body = match (bytes.get(..8), bytes.len()) {
            (Some(m), STATE_LEN) if m == STATE_MAGIC => STATE_BODY,
            (Some(m), STATE_LEN_V1) if m == STATE_MAGIC_V1 => STATE_BODY_V1,
            (Some(m), _) if m == STATE_MAGIC || m == STATE_MAGIC_V1 => {
                return Err(corrupt("wrong length"));
            }
            _ => return Err(corrupt("bad magic")),
        };
        let sum: [u8; 32] = Sha256::digest(&bytes[..body]).into();
        if bytes[body..] != sum {
            return Err(corrupt("checksum mismatch"));
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let mut root = [0u8; 32];
        root.copy_from_slice(&bytes[32..STATE_BODY_V1]);
        Ok(Self {
            size: u64_at(8),
            data_len: u64_at(16),
            meta_len: u64_at(24),
            root: Hash(root),
            keys_len: if body == STATE_BODY {
                u64_at(STATE_BODY_V1)
            } else {
                0
            },
        })
    }

    /// Committed length of each file, in [`DataFiles::as_array`] order.
    pub(crate) fn file_lengths(&self) -> [u64; 6] {
        [
            self.data_len,
            self.meta_len,
            INDEX_RECORD * self.size,
            32 * stored_hash_count(self.size),
            32 * self.size,
            self.keys_len,
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
    pub keys: File,
}

impl DataFiles {
    pub(crate) fn as_array(&self) -> [(&'static str, &File); 6] {
        [
            (DATA_FILE, &self.data),
            (META_FILE, &self.meta),
            (INDEX_FILE, &self.index),
            (HASH_FILE, &self.hashes),
            (ID_FILE, &self.ids),
            (KEYS_FILE, &self.keys),
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
    pub search: HashMap<IndexKey, Vec<u64>>,
    pub checkpoint: Option<StoredCheckpoint>,
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
            for name in [
                DATA_FILE, META_FILE, INDEX_FILE, HASH_FILE, ID_FILE, KEYS_FILE,
            ] {
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
        keys: open_rw(dir, KEYS_FILE)?,
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
    let checkpoint = read_checkpoint(dir)?;
    if let Some(c) = &checkpoint
        && c.size > state.size
    {
        return Err(StorageError::Corrupt(format!(
            "the log holds {} entries but a checkpoint of size {} was published: the data \
             directory was rolled back (restored from an older backup?); restore the newest \
             copy instead",
            state.size, c.size
        )));
    }
    let dedup = load_ids(&files.ids, state.size)?;
    let search = load_keys(&files.keys, state.keys_len, state.size)?;
    tracing::info!(dir = %dir.display(), size = state.size, root = %state.root, "opened log");
    Ok(Recovered {
        state,
        files,
        dedup,
        search,
        checkpoint,
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

/// Encodes one entry's record in keys.dat.
pub(crate) fn encode_keys(index: u64, keys: &[IndexKey], out: &mut Vec<u8>) {
    out.extend_from_slice(&index.to_be_bytes());
    // At most MAX_INDEX_KEYS_PER_ENTRY keys, checked before queueing.
    out.push(u8::try_from(keys.len()).unwrap_or(u8::MAX));
    for k in keys.iter().take(usize::from(u8::MAX)) {
        out.extend_from_slice(&k.0);
    }
}

fn load_keys(
    file: &File,
    len: u64,
    size: u64,
) -> Result<HashMap<IndexKey, Vec<u64>>, StorageError> {
    let mut map: HashMap<IndexKey, Vec<u64>> = HashMap::new();
    let mut reader =
        io::BufReader::with_capacity(1 << 20, file.try_clone().map_err(io_err("clone keys.dat"))?);
    let corrupt = |why: &str| StorageError::Corrupt(format!("keys.dat: {why}"));
    let mut at = 0u64;
    let mut last: Option<u64> = None;
    while at < len {
        let mut head = [0u8; 9];
        reader
            .read_exact(&mut head)
            .map_err(io_err("read keys.dat"))?;
        let mut ib = [0u8; 8];
        ib.copy_from_slice(&head[..8]);
        let index = u64::from_be_bytes(ib);
        if index >= size || last.is_some_and(|l| index <= l) {
            return Err(corrupt("record index out of order"));
        }
        last = Some(index);
        for _ in 0..head[8] {
            let mut k = [0u8; 32];
            reader.read_exact(&mut k).map_err(io_err("read keys.dat"))?;
            let list = map.entry(IndexKey(k)).or_default();
            if list.last() != Some(&index) {
                list.push(index);
            }
        }
        at += 9 + 32 * u64::from(head[8]);
    }
    if at != len {
        return Err(corrupt("records overrun the committed length"));
    }
    Ok(map)
}

/// checkpoint file: `u64 BE size || root [32] || signed bytes || SHA-256 of the preceding`.
pub(crate) fn write_checkpoint(dir: &Path, c: &StoredCheckpoint) -> Result<(), StorageError> {
    let mut bytes = Vec::with_capacity(8 + 32 + c.signed.len() + 32);
    bytes.extend_from_slice(&c.size.to_be_bytes());
    bytes.extend_from_slice(&c.root.0);
    bytes.extend_from_slice(&c.signed);
    let sum: [u8; 32] = Sha256::digest(&bytes).into();
    bytes.extend_from_slice(&sum);
    sigstack_durable::write(&dir.join(CHECKPOINT_FILE), &bytes).map_err(io_err("write checkpoint"))
}

fn read_checkpoint(dir: &Path) -> Result<Option<StoredCheckpoint>, StorageError> {
    let bytes = match std::fs::read(dir.join(CHECKPOINT_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read checkpoint")(e)),
    };
    let corrupt = || {
        StorageError::Corrupt(
            "the checkpoint file is damaged (checksum mismatch); restore it from a backup or \
             remove it to accept the log's current tree as published"
                .into(),
        )
    };
    if bytes.len() < 8 + 32 + 32 {
        return Err(corrupt());
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != sum {
        return Err(corrupt());
    }
    let mut sb = [0u8; 8];
    sb.copy_from_slice(&body[..8]);
    let mut root = [0u8; 32];
    root.copy_from_slice(&body[8..40]);
    Ok(Some(StoredCheckpoint {
        size: u64::from_be_bytes(sb),
        root: Hash(root),
        signed: body[40..].to_vec(),
    }))
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
