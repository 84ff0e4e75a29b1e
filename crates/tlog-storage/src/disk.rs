//! On-disk layout, the committed-state record, recovery on open, and positional reads.
//!
//! One data directory holds:
//! ```text
//! LOCK          flock(2)-ed exclusively by the process that has the log open
//! index.redb    the commit point: state record, committed length of index.journal, the
//!               largest published checkpoint (and the rows of directories of earlier versions)
//! index.journal the dedup identities and search keys of the batches since the LSM tree's last
//!               sync, one checksummed record per batch, append-only
//! index.lsm/    every dedup identity and search key, in an LSM tree (see `index.rs`)
//! entries.dat   entry bytes, back to back, append-only
//! meta.dat      per-entry metadata bytes (often empty), back to back, append-only
//! entries.idx   per entry: u64 BE end offset into entries.dat, u64 BE end offset into
//!               meta.dat (16 bytes), append-only
//! hashes.dat    32-byte stored Merkle hashes in sumdb stored-hash order, append-only
//! ```
//! The state record in `index.redb` alone decides what is committed; the append-only files may
//! hold an uncommitted tail after a crash, which [`recover`] truncates, and the LSM tree may
//! lack the rows of the last batches, which it replays from `index.journal`. A directory written by
//! an earlier version (a `state` file and `ids.dat`) is migrated into `index.redb` on open.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use sigstack_tlog::merkle::{self, Hash, HashReader, stored_hash_count};
use sigstack_tlog::{Result as TlogResult, TlogError};

use crate::fs::{DirLock, FileSystem, StorageFile};
use crate::index::{Index, IndexRows, LSM_DIR};
use crate::journal::JOURNAL_FILE;
use crate::{LogConfig, StorageError};

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
    config: &LogConfig,
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
    let lsm_dir = fs
        .native_dir(dir)
        .map_err(io_err("locate the index directory"))?
        .join(LSM_DIR);
    let mut index = Index::open(
        open(INDEX_DB)?,
        open(JOURNAL_FILE)?,
        &lsm_dir,
        config.index_cache_bytes,
        config.index_journal_entries,
    )?;
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
            index.commit_state(&state)?;
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
        upper: None,
        recent: None,
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
    index.recover_rows(&state)?;
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
        index.add_legacy_rows(&rows)?;
        start += count;
    }
    index.commit_state(&state)?;
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

/// Stored hashes read positionally from hashes.dat, limited to the first `count`, through the
/// in-memory copies of the tree's upper levels and of its last written hashes when given.
pub(crate) struct FileHashes<'a> {
    pub file: &'a dyn StorageFile,
    pub count: u64,
    pub upper: Option<&'a UpperHashes>,
    pub recent: Option<&'a RecentHashes>,
}

/// Requests whose indexes are at most this many hashes apart share one read.
const COALESCE_GAP: u64 = 64;

/// Most hashes [`UpperHashes`] keeps (16 MiB of hash data, ~26 MiB with the map's overhead).
const UPPER_HASHES_MAX: usize = 1 << 19;
/// The lowest level [`UpperHashes`] keeps, whatever the tree's size: the hashes of lower levels
/// sit within [`COALESCE_GAP`] of each other and come with one read.
const UPPER_LEVEL_MIN: u32 = 6;

/// The stored hashes of the tree's upper levels (complete subtrees of at least 2^6 leaves), kept
/// in memory as they are read. Every inclusion or consistency proof needs one hash per level,
/// and those of the upper levels sit far apart in hashes.dat, so without this each proof costs
/// one positional read per upper level. Stored hashes never change once written, so nothing is
/// ever invalidated. Bounded: the lowest kept level rises with the tree so that every node of
/// the kept levels fits in [`UPPER_HASHES_MAX`] (levels 7 and up at 10 million leaves: about
/// 160,000 hashes, ~8 MiB); when the bound is reached anyway (levels kept earlier at a smaller
/// size), the copy is dropped and refills.
#[derive(Debug, Default)]
pub(crate) struct UpperHashes {
    hashes: parking_lot::RwLock<std::collections::HashMap<u64, Hash>>,
}

impl UpperHashes {
    /// The lowest level kept for a tree with `count` stored hashes (about 2 per leaf): the
    /// levels from it up hold at most half of [`UPPER_HASHES_MAX`] nodes.
    fn lowest_level(count: u64) -> u32 {
        let mut level = UPPER_LEVEL_MIN;
        while count >> level > (UPPER_HASHES_MAX as u64) / 2 {
            level += 1;
        }
        level
    }

    fn keep(&self, count: u64, found: &[(u64, Hash)]) {
        let lowest = Self::lowest_level(count);
        let keep: Vec<&(u64, Hash)> = found
            .iter()
            .filter(|(index, _)| merkle::split_stored_hash_index(*index).0 >= lowest)
            .collect();
        if keep.is_empty() {
            return;
        }
        let mut hashes = self.hashes.write();
        if hashes.len() + keep.len() > UPPER_HASHES_MAX {
            hashes.clear();
        }
        hashes.extend(keep.into_iter().copied());
    }
}

/// Most hashes [`RecentHashes`] keeps (2 MiB; about the last 32,000 leaves).
const RECENT_HASHES_MAX: usize = 1 << 16;

/// The stored hashes the sequencer wrote last, in memory. The answer to an append proves its
/// entry in the tree of its batch: the proof's lower levels are hashes of the last few batches
/// (its upper levels are in [`UpperHashes`]), so with these it reads nothing from hashes.dat;
/// neither does the sequencer when it hashes the tree's right edge for the next batch. Filled
/// only after a batch has committed, so it never holds a hash that is not durable. Bounded by
/// [`RECENT_HASHES_MAX`]: when full, the older half is dropped.
#[derive(Debug, Default)]
pub(crate) struct RecentHashes {
    tail: parking_lot::RwLock<Tail>,
}

/// `hashes[i]` is the stored hash at index `start + i`.
#[derive(Debug, Default)]
struct Tail {
    start: u64,
    hashes: Vec<Hash>,
}

impl Tail {
    fn get(&self, index: u64) -> Option<Hash> {
        let at = usize::try_from(index.checked_sub(self.start)?).ok()?;
        self.hashes.get(at).copied()
    }
}

impl RecentHashes {
    /// Add the committed stored hashes at indexes `start..start + hashes.len()`.
    pub(crate) fn extend(&self, start: u64, hashes: &[Hash]) {
        let skip = hashes.len().saturating_sub(RECENT_HASHES_MAX / 2);
        let (start, hashes) = (start + skip as u64, &hashes[skip..]);
        let mut tail = self.tail.write();
        if tail.start + tail.hashes.len() as u64 != start {
            // The first batch since the log was opened (or a batch too large to keep whole).
            tail.start = start;
            tail.hashes.clear();
        }
        if tail.hashes.len() + hashes.len() > RECENT_HASHES_MAX {
            let drop =
                (tail.hashes.len() + hashes.len() - RECENT_HASHES_MAX / 2).min(tail.hashes.len());
            tail.hashes.drain(..drop);
            tail.start += drop as u64;
        }
        tail.hashes.extend_from_slice(hashes);
    }
}

impl HashReader for FileHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> TlogResult<Vec<Hash>> {
        if let Some(&bad) = indexes.iter().find(|&&i| i >= self.count) {
            return Err(TlogError::InvalidStoredHashIndex(format!(
                "index {bad} not stored (have {})",
                self.count
            )));
        }
        // The answer, slot by slot: from the in-memory upper levels where they have it, the
        // rest from hashes.dat, in as few positional reads as their spacing allows.
        let mut out: Vec<Option<Hash>> = vec![None; indexes.len()];
        if let Some(upper) = self.upper {
            let cached = upper.hashes.read();
            for (slot, index) in out.iter_mut().zip(indexes) {
                *slot = cached.get(index).copied();
            }
        }
        if let Some(recent) = self.recent {
            let tail = recent.tail.read();
            for (slot, &index) in out.iter_mut().zip(indexes) {
                if slot.is_none() {
                    *slot = tail.get(index);
                }
            }
        }
        let mut missing: Vec<(u64, usize)> = indexes
            .iter()
            .zip(&out)
            .enumerate()
            .filter(|(_, (_, slot))| slot.is_none())
            .map(|(position, (&index, _))| (index, position))
            .collect();
        missing.sort_unstable();
        let mut read = Vec::with_capacity(missing.len());
        let mut i = 0;
        while i < missing.len() {
            let start = missing[i].0;
            let mut end = start;
            let mut j = i + 1;
            while j < missing.len() && missing[j].0 - end <= COALESCE_GAP {
                end = missing[j].0;
                j += 1;
            }
            let len = usize::try_from(end - start + 1)
                .map_err(|_| TlogError::HashRead("read span too large".into()))?;
            let mut buf = vec![0u8; len * 32];
            self.file
                .read_exact_at(&mut buf, start * 32)
                .map_err(|e| TlogError::HashRead(format!("hashes.dat: {e}")))?;
            for &(index, position) in &missing[i..j] {
                let at = usize::try_from(index - start).unwrap_or(0) * 32;
                let hash = Hash::from_slice(&buf[at..at + 32])?;
                out[position] = Some(hash);
                read.push((index, hash));
            }
            i = j;
        }
        if let Some(upper) = self.upper {
            upper.keep(self.count, &read);
        }
        out.into_iter()
            .map(|hash| hash.ok_or_else(|| TlogError::HashRead("missing hash".into())))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::simulated::SimulatedDisk;

    /// hashes.dat of a tree of `size` leaves, on a simulated disk.
    fn stored_hashes(size: u64) -> Arc<dyn StorageFile> {
        let mut hashes: Vec<Hash> = Vec::new();
        for n in 0..size {
            struct Mem<'a>(&'a [Hash]);
            impl HashReader for Mem<'_> {
                fn read_hashes(&self, indexes: &[u64]) -> TlogResult<Vec<Hash>> {
                    Ok(indexes.iter().map(|&i| self.0[i as usize]).collect())
                }
            }
            let new = merkle::stored_hashes_for_record(n, &n.to_be_bytes(), &Mem(&hashes)).unwrap();
            hashes.extend(new);
        }
        let disk = SimulatedDisk::new();
        disk.create_dir_all(Path::new("/d")).unwrap();
        let file = disk.open(Path::new("/d/hashes.dat")).unwrap();
        let bytes: Vec<u8> = hashes.iter().flat_map(|h| h.0).collect();
        file.write_all_at(&bytes, 0).unwrap();
        file
    }

    /// Readers of the same stored hashes without and with an in-memory copy of upper levels.
    fn readers<'a>(
        file: &'a dyn StorageFile,
        count: u64,
        upper: &'a UpperHashes,
    ) -> (FileHashes<'a>, FileHashes<'a>) {
        let reader = |upper| FileHashes {
            file,
            count,
            upper,
            recent: None,
        };
        (reader(None), reader(Some(upper)))
    }

    #[test]
    fn upper_levels_are_kept_in_memory_and_give_the_same_proofs() {
        let size = 5000;
        let file = stored_hashes(size);
        let count = stored_hash_count(size);
        let upper = UpperHashes::default();
        let (plain, cached) = readers(file.as_ref(), count, &upper);
        let root = merkle::tree_hash(size, &plain).unwrap();
        for index in [0, 1, 1023, 1024, 2047, 4096, 4999] {
            let want = merkle::inclusion_proof(size, index, &plain).unwrap();
            // Twice: the first read fills the copy, the second is answered from it.
            for _ in 0..2 {
                let got = merkle::inclusion_proof(size, index, &cached).unwrap();
                assert_eq!(got, want, "proof of {index}");
                merkle::verify_inclusion(
                    index,
                    size,
                    &merkle::leaf_hash(&index.to_be_bytes()),
                    &got,
                    &root,
                )
                .unwrap();
            }
        }
        let kept = upper.hashes.read();
        assert!(!kept.is_empty(), "upper-level hashes were kept");
        for &index in kept.keys() {
            let (level, _) = merkle::split_stored_hash_index(index);
            assert!(
                level >= UPPER_LEVEL_MIN,
                "hash {index} of level {level} kept"
            );
        }
    }

    #[test]
    fn hashes_come_back_in_request_order_with_repeats_and_far_apart_indexes() {
        let size = 3000;
        let file = stored_hashes(size);
        let count = stored_hash_count(size);
        let upper = UpperHashes::default();
        let (plain, cached) = readers(file.as_ref(), count, &upper);
        let one = |i: u64| plain.read_hashes(&[i]).unwrap()[0];
        let request = [count - 1, 5, 2046, 5, 0, 4000, count - 1, 1];
        let want: Vec<Hash> = request.iter().map(|&i| one(i)).collect();
        assert_eq!(plain.read_hashes(&request).unwrap(), want);
        for _ in 0..2 {
            assert_eq!(cached.read_hashes(&request).unwrap(), want);
        }
        assert!(matches!(
            plain.read_hashes(&[0, count]),
            Err(TlogError::InvalidStoredHashIndex(_))
        ));
    }

    #[test]
    fn recent_hashes_answer_proofs_of_the_last_batches_without_reading_the_file() {
        let size = 4000;
        let file = stored_hashes(size);
        let count = stored_hash_count(size);
        let plain = FileHashes {
            file: file.as_ref(),
            count,
            upper: None,
            recent: None,
        };
        let all = plain.read_hashes(&(0..count).collect::<Vec<_>>()).unwrap();
        // The last batches' hashes in memory; the file under them is zeros, so only what came
        // from memory can be right.
        let from = stored_hash_count(3900);
        let recent = RecentHashes::default();
        recent.extend(from, &all[usize::try_from(from).unwrap()..]);
        let zeros = SimulatedDisk::new();
        zeros.create_dir_all(Path::new("/z")).unwrap();
        let zero_file = zeros.open(Path::new("/z/hashes.dat")).unwrap();
        zero_file
            .write_all_at(&vec![0u8; all.len() * 32], 0)
            .unwrap();
        let memory = FileHashes {
            file: zero_file.as_ref(),
            count,
            upper: None,
            recent: Some(&recent),
        };
        let got = memory.read_hashes(&[count - 1, from, from - 1]).unwrap();
        assert_eq!(got[0], all[usize::try_from(count - 1).unwrap()]);
        assert_eq!(got[1], all[usize::try_from(from).unwrap()]);
        assert_eq!(
            got[2],
            Hash([0; 32]),
            "older hashes still come from the file"
        );
        // An inclusion proof of a leaf of the last batches needs, below the upper levels, only
        // recent hashes and the subtree roots to their left.
        let with_upper = UpperHashes::default();
        let real = FileHashes {
            file: file.as_ref(),
            count,
            upper: Some(&with_upper),
            recent: Some(&recent),
        };
        for index in [3900, 3950, 3999] {
            assert_eq!(
                merkle::inclusion_proof(size, index, &real).unwrap(),
                merkle::inclusion_proof(size, index, &plain).unwrap()
            );
        }
    }

    #[test]
    fn recent_hashes_stay_bounded_and_contiguous() {
        let hash = |i: u64| {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&i.to_be_bytes());
            Hash(h)
        };
        let recent = RecentHashes::default();
        let mut next = 10u64;
        for _ in 0..1000 {
            let batch: Vec<Hash> = (next..next + 300).map(hash).collect();
            recent.extend(next, &batch);
            next += 300;
            let tail = recent.tail.read();
            assert!(tail.hashes.len() <= RECENT_HASHES_MAX);
            assert_eq!(tail.start + tail.hashes.len() as u64, next);
        }
        let tail = recent.tail.read();
        assert_eq!(tail.get(next - 1), Some(hash(next - 1)));
        assert_eq!(tail.get(tail.start), Some(hash(tail.start)));
        assert_eq!(tail.get(tail.start - 1), None);
        assert_eq!(tail.get(next), None);
        drop(tail);
        // A gap (a log reopened, or a batch larger than the bound) starts the copy again.
        recent.extend(next + 5, &[hash(next + 5)]);
        let tail = recent.tail.read();
        assert_eq!((tail.start, tail.hashes.len()), (next + 5, 1));
    }

    #[test]
    fn the_kept_levels_rise_with_the_tree_so_the_copy_stays_bounded() {
        assert_eq!(UpperHashes::lowest_level(2 * 1_000_000), UPPER_LEVEL_MIN);
        // 10 million leaves: level 6 and up would be ~312,000 hashes, more than half the bound.
        assert_eq!(UpperHashes::lowest_level(2 * 10_000_000), 7);
        let huge = 2 * 10_000_000_000_u64;
        let lowest = UpperHashes::lowest_level(huge);
        assert!(huge >> lowest <= UPPER_HASHES_MAX as u64 / 2);
        assert!(lowest > UPPER_LEVEL_MIN);
    }
}
