//! Durable, embedded, append-only transparency-log storage with a batching sequencer.
//!
//! This crate does file I/O and uses tokio only for its async API (oneshot replies and
//! `spawn_blocking`); it has no HTTP and no database. Rekor (v1 and v2) and the RFC 6962 CT log
//! keep their entries in a [`EmbeddedLog`]; Merkle math, notes and tiles come from `sigstack-tlog`.
//!
//! # Model
//!
//! One [`EmbeddedLog`] owns one data directory for the lifetime of the process (an exclusive
//! lock on `LOCK`; a second open fails with [`StorageError::Locked`]). [`EmbeddedLog::append`]
//! queues an entry for the single sequencer thread, which gathers a batch (up to
//! [`LogConfig::batch_max_size`] entries or [`LogConfig::batch_max_age`]), appends the entries
//! and their stored Merkle hashes to their files and the batch's dedup identities and search keys
//! to `index.journal`, fsyncs each file once, then commits the new state in one `index.redb`
//! transaction, puts the rows into the LSM tree that serves lookups, and only then answers every
//! waiter. Entry `i`'s Merkle leaf hash is `SHA-256(0x00 || entry)`,
//! i.e. the entry bytes are the RFC 6962 leaf data.
//!
//! Reads ([`EmbeddedLog::entry`], proofs, [`EmbeddedLog::tile`]) are positional reads that only
//! ever see committed data: anything at or beyond [`EmbeddedLog::tree_head`]'s size is refused.
//!
//! # Memory
//!
//! Nothing grows with the log: dedup identities and search keys live in an LSM tree on disk
//! with a bounded block cache ([`LogConfig::index_cache_bytes`]), hashes and entries are read on
//! demand, and opening reads the state row and at most [`LogConfig::index_journal_entries`]
//! entries' rows from `index.journal`, never the whole log.
//!
//! # Crash safety
//!
//! The `index.redb` commit is the commit point. On open, every append-only file longer than the
//! committed state is truncated back, so a crash mid-batch loses only entries that were never
//! acknowledged; a file *shorter* than the committed state, a damaged state record or stored
//! hashes that do not reproduce the committed root make open fail with [`StorageError::Corrupt`]
//! and a message saying what to do, instead of silently serving a different tree. A published
//! checkpoint larger than the committed tree (a rolled-back directory) is refused the same way.
//! After any write or fsync failure the log stops ([`StorageError::Failed`]) and the waiters get
//! an error even though the batch may have reached the disk; a retry after reopening then gets
//! [`StorageError::Duplicate`] with the entry's index.
//!
//! All I/O goes through a [`FileSystem`]; [`simulated::SimulatedDisk`] stands in for the disk in
//! tests of power loss, failing fsync and full disks. The one exception is the LSM tree of index
//! rows, which does its own I/O in [`FileSystem::native_dir`]: everything recovery relies on is
//! in `index.journal` until the LSM tree has synced it, and losing the LSM tree's unsynced tail
//! only means replaying the journal.

#[cfg(feature = "conformance")]
pub mod conformance;
mod disk;
mod embedded;
pub mod fs;
mod index;
mod journal;
mod sequencer;
pub mod simulated;
mod store;

pub use crate::fs::{FileSystem, OsFileSystem};

pub use crate::store::{
    BATCH_SIZE_BOUNDS, IndexKey, Leaf, LogStore, MAX_CHECKPOINT_SIZE, MAX_ENTRIES_PER_READ,
    MAX_INDEX_KEYS_PER_ENTRY, MAX_SEARCH_RESULTS, MetadataSeal, NewEntry, SealMetadata,
    SequencerStats, StoredCheckpoint, StoredEntry, check_publishable, check_range,
    check_tile_covered,
};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

use parking_lot::RwLock;
use sigstack_tlog::merkle::{self, Hash, stored_hash_count};
use sigstack_tlog::tiles::{self, TILE_WIDTH};
use sigstack_tlog::{TileKind, TilePath, TlogError};
use tokio::sync::oneshot;

use crate::disk::{DataFiles, FileHashes, INDEX_RECORD, io_err};
use crate::index::Index;
use crate::sequencer::{Msg, Permit, Request, Writer};

/// Largest metadata [`EmbeddedLog::append_with_metadata`] accepts, in bytes.
pub const MAX_METADATA_SIZE: usize = 65535;

/// Tuning for the sequencer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// Most entries committed in one batch (default 256).
    pub batch_max_size: usize,
    /// Longest a batch waits for more entries after its first one arrives. Zero (the default)
    /// commits whatever is queued at once: group commit, where a batch takes what arrived while
    /// the previous one was being made durable.
    pub batch_max_age: Duration,
    /// Largest entry accepted, in bytes (default and maximum 65535, the entry-bundle limit).
    pub max_entry_size: usize,
    /// Most appends outstanding (queued, batching or being committed) before further appends
    /// fail with [`StorageError::Overloaded`] (default 4096).
    pub max_pending: usize,
    /// Block cache of the on-disk index (the LSM tree of dedup and search rows), in bytes
    /// (default 16 MiB): the log's memory does not grow with its size.
    pub index_cache_bytes: usize,
    /// Entries whose index rows `index.journal` gathers before the LSM tree of rows is synced
    /// and the journal starts again (default 65,536): a start-up replays at most this many.
    pub index_journal_entries: usize,
}

impl LogConfig {
    /// Check the settings every driver relies on.
    ///
    /// # Errors
    /// [`StorageError::InvalidConfig`] for a zero batch size or pending bound, or an entry-size
    /// limit outside 1..=65535.
    pub fn validate(&self) -> Result<(), StorageError> {
        if self.batch_max_size == 0 || self.max_pending == 0 {
            return Err(StorageError::InvalidConfig(
                "batch_max_size and max_pending must be at least 1".into(),
            ));
        }
        if self.max_entry_size == 0 || self.max_entry_size > tiles::MAX_ENTRY_SIZE {
            return Err(StorageError::InvalidConfig(format!(
                "max_entry_size must be 1..={}",
                tiles::MAX_ENTRY_SIZE
            )));
        }
        Ok(())
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            batch_max_size: 256,
            batch_max_age: Duration::ZERO,
            max_entry_size: tiles::MAX_ENTRY_SIZE,
            max_pending: 4096,
            index_cache_bytes: 16 << 20,
            index_journal_entries: 65_536,
        }
    }
}

/// A committed tree head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of entries.
    pub size: u64,
    /// RFC 6962 root hash of those entries.
    pub root: Hash,
}

/// The result of a successful [`EmbeddedLog::append`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The entry's index.
    pub index: u64,
    /// A committed tree head that includes the entry (the head of its batch).
    pub tree: TreeHead,
    /// The entry's inclusion proof in `tree`, when the driver computed it with the batch (the
    /// PostgreSQL driver does, saving a round trip per answer; the embedded one reads proofs
    /// from local files and leaves this `None`).
    pub proof: Option<Vec<Hash>>,
}

/// Storage errors. Services map them to HTTP statuses as noted per variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An entry with the same identity is already in the log at `index` (409).
    #[error("duplicate entry, already at index {index}")]
    Duplicate {
        /// Index of the existing entry.
        index: u64,
    },
    /// The entry is larger than [`LogConfig::max_entry_size`] (413 or 400).
    #[error("entry of {size} bytes exceeds the {max}-byte limit")]
    EntryTooLarge {
        /// Size of the rejected entry.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// Too many appends are queued; retry later (503).
    #[error("too many pending appends; retry later")]
    Overloaded,
    /// The log has been closed (503).
    #[error("log is closed")]
    Closed,
    /// A remote store (database) cannot be reached or lost this log's sequencer role mid-way;
    /// retry later (503).
    #[error("log storage unavailable: {0}")]
    Unavailable(String),
    /// An earlier write failed; the log accepts no more entries until reopened (503).
    #[error("log stopped after a write failure; reopen required")]
    Failed,
    /// The requested entry, tile or tree size does not exist (yet) (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// Arguments that can never be valid, such as `old > new` for a proof (400).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Another [`EmbeddedLog`] (in this or another process) has the directory open (startup error).
    #[error("log directory {0} is locked by another process")]
    Locked(PathBuf),
    /// The configuration is unusable (startup error).
    #[error("invalid log configuration: {0}")]
    InvalidConfig(String),
    /// The files on disk contradict the committed state (startup error; needs an operator).
    #[error("log storage is corrupt: {0}")]
    Corrupt(String),
    /// An I/O operation failed (500).
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Merkle computation over committed data failed (500).
    #[error(transparent)]
    Tlog(#[from] TlogError),
}

/// State shared by the writer thread and readers.
pub(crate) struct Shared {
    pub head: RwLock<TreeHead>,
    /// Committed state, dedup identities, search keys and the published checkpoint.
    pub index: Index,
    /// The largest published checkpoint; its lock also serialises publishing.
    pub checkpoint: parking_lot::Mutex<Option<StoredCheckpoint>>,
    pub failed: AtomicBool,
    /// Appends accepted but not yet answered (queued, batching or committing).
    pub outstanding: AtomicUsize,
    /// The upper levels of the committed tree's stored hashes, in memory.
    pub upper_hashes: disk::UpperHashes,
    /// The last committed stored hashes, in memory.
    pub recent_hashes: disk::RecentHashes,
    /// What the sequencer has committed since the log was opened.
    pub stats: parking_lot::Mutex<SequencerStats>,
}

/// Which per-entry byte string to read.
#[derive(Clone, Copy)]
enum Column {
    Entry,
    Metadata,
}

struct Inner {
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
    readers: DataFiles,
    config: LogConfig,
    dir: PathBuf,
}

/// An open transparency log. Cheap to clone; all clones share one sequencer.
#[derive(Clone)]
pub struct EmbeddedLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedLog")
            .field("dir", &self.inner.dir)
            .field("head", &self.tree_head())
            .finish_non_exhaustive()
    }
}

impl EmbeddedLog {
    /// Open (or create) the log in `dir`, recovering from any crash, and start its sequencer.
    ///
    /// # Errors
    /// [`StorageError::Locked`], [`StorageError::InvalidConfig`], [`StorageError::Corrupt`] or
    /// [`StorageError::Io`].
    pub async fn open(dir: &Path, config: LogConfig) -> Result<EmbeddedLog, StorageError> {
        Self::open_on(Arc::new(OsFileSystem), dir, config).await
    }

    /// Whether `dir` holds (or held) an embedded log's entries, in this layout or the earlier
    /// one, without opening or locking it. Callers use it to refuse replacing the identity
    /// (the key) of a log that clients already trust.
    #[must_use]
    pub fn holds_data(dir: &Path) -> bool {
        disk::DATA_FILES_WITH_LEGACY
            .iter()
            .any(|name| std::fs::metadata(dir.join(name)).is_ok_and(|m| m.len() > 0))
    }

    /// [`EmbeddedLog::open`] on any [`FileSystem`] (tests use a simulated disk).
    ///
    /// # Errors
    /// As [`EmbeddedLog::open`].
    pub async fn open_on(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        config: LogConfig,
    ) -> Result<EmbeddedLog, StorageError> {
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(fs.as_ref(), dir, config))
            .await
            .map_err(|e| StorageError::Io {
                op: "open log".into(),
                source: std::io::Error::other(e),
            })?
    }

    fn open_blocking(
        fs: &dyn FileSystem,
        dir: PathBuf,
        config: LogConfig,
    ) -> Result<EmbeddedLog, StorageError> {
        config.validate()?;
        let recovered = disk::recover(fs, &dir, &config)?;
        let readers = recovered.files.clone();
        let state = recovered.state;
        let checkpoint = recovered.index.checkpoint()?;
        let shared = Arc::new(Shared {
            head: RwLock::new(TreeHead {
                size: state.size,
                root: state.root,
            }),
            index: recovered.index,
            checkpoint: parking_lot::Mutex::new(checkpoint),
            failed: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
            upper_hashes: disk::UpperHashes::default(),
            recent_hashes: disk::RecentHashes::default(),
            stats: parking_lot::Mutex::default(),
        });
        let (tx, rx) = std::sync::mpsc::sync_channel(config.max_pending);
        let writer = Writer {
            dir: dir.clone(),
            files: recovered.files,
            _lock: recovered.lock,
            state,
            shared: Arc::clone(&shared),
            batch_max_size: config.batch_max_size,
            batch_max_age: config.batch_max_age,
            failed: false,
        };
        std::thread::Builder::new()
            .name("tlog-sequencer".into())
            .spawn(move || writer.run(rx))
            .map_err(io_err("start sequencer thread"))?;
        Ok(EmbeddedLog {
            inner: Arc::new(Inner {
                tx,
                shared,
                readers,
                config,
                dir,
            }),
        })
    }

    /// Sequence `entry` durably and return its index. `identity` is the dedup key (for
    /// example the leaf hash); if an entry with that identity exists, returns
    /// [`StorageError::Duplicate`] with its index. Returns only after the entry, its Merkle
    /// hashes and the new tree size are fsynced.
    ///
    /// Dropping the returned future does not withdraw the entry once it has been queued.
    ///
    /// # Errors
    /// [`StorageError::Duplicate`], [`StorageError::EntryTooLarge`],
    /// [`StorageError::Overloaded`], [`StorageError::Closed`], [`StorageError::Failed`] or
    /// [`StorageError::Io`].
    pub async fn append(
        &self,
        entry: Vec<u8>,
        identity: [u8; 32],
    ) -> Result<Appended, StorageError> {
        self.append_with_metadata(entry, identity, Vec::new()).await
    }

    /// [`EmbeddedLog::append`], also storing `metadata` with the entry in the same durable batch.
    /// Metadata is not part of the Merkle leaf and never appears in tiles; read it back with
    /// [`EmbeddedLog::metadata`] (Rekor v1 keeps each entry's `integratedTime` here). A duplicate keeps
    /// the metadata of the original entry.
    ///
    /// # Errors
    /// As [`EmbeddedLog::append`], plus [`StorageError::InvalidRequest`] for metadata over
    /// [`MAX_METADATA_SIZE`] bytes.
    pub async fn append_with_metadata(
        &self,
        entry: Vec<u8>,
        identity: [u8; 32],
        metadata: Vec<u8>,
    ) -> Result<Appended, StorageError> {
        self.append_entry(NewEntry {
            entry: Leaf::new(entry),
            identity,
            metadata,
            ..NewEntry::default()
        })
        .await
    }

    /// Sequence a [`NewEntry`] (entry, identity, metadata and search keys) durably.
    ///
    /// # Errors
    /// As [`EmbeddedLog::append_with_metadata`], plus [`StorageError::InvalidRequest`] for more than
    /// [`MAX_INDEX_KEYS_PER_ENTRY`] search keys.
    pub async fn append_entry(&self, new: NewEntry) -> Result<Appended, StorageError> {
        new.check_limits(self.inner.config.max_entry_size)?;
        let NewEntry {
            entry,
            identity,
            metadata,
            mut index_keys,
            sealed_metadata,
        } = new;
        index_keys.sort_unstable();
        index_keys.dedup();
        if self.inner.shared.failed.load(Ordering::SeqCst) {
            return Err(StorageError::Failed);
        }
        // Duplicates are found by the sequencer, which looks up a whole batch at once.
        let permit = Permit::try_acquire(&self.inner.shared, self.inner.config.max_pending)
            .ok_or(StorageError::Overloaded)?;
        let (reply, rx) = oneshot::channel();
        let request = Request {
            entry,
            identity,
            metadata,
            index_keys,
            sealed_metadata,
            reply,
            _permit: permit,
        };
        self.inner
            .tx
            .try_send(Msg::Append(request))
            .map_err(|e| match e {
                TrySendError::Full(_) => StorageError::Overloaded,
                TrySendError::Disconnected(_) => StorageError::Closed,
            })?;
        rx.await.map_err(|_| StorageError::Closed)?
    }

    /// Indices of committed entries carrying `key`, ascending, at most `limit`.
    ///
    /// # Errors
    /// Index read failures.
    pub fn search(&self, key: &IndexKey, limit: usize) -> Result<Vec<u64>, StorageError> {
        let size = self.tree_head().size;
        self.inner.shared.index.search(key, size, limit)
    }

    /// Record a published checkpoint (see [`LogStore::publish_checkpoint`]). The record reaches
    /// the disk with the next committed batch, or when the log closes; the tree it covers is
    /// durable already, so a crash before then can lose the record but never lets the tree fall
    /// below the checkpoint.
    ///
    /// # Errors
    /// As [`LogStore::publish_checkpoint`], and write failures.
    pub fn publish_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StorageError> {
        let head = self.tree_head();
        let root = self.root_at(checkpoint.size.min(head.size))?;
        let mut published = self.inner.shared.checkpoint.lock();
        check_publishable(checkpoint, head.size, Some(root), published.as_ref())?;
        if published.as_ref() == Some(checkpoint) {
            return Ok(());
        }
        self.inner.shared.index.put_checkpoint(checkpoint, false)?;
        *published = Some(checkpoint.clone());
        Ok(())
    }

    /// The largest checkpoint published so far.
    #[must_use]
    pub fn latest_checkpoint(&self) -> Option<StoredCheckpoint> {
        self.inner.shared.checkpoint.lock().clone()
    }

    /// The batches committed since the log was opened.
    #[must_use]
    pub fn sequencer_stats(&self) -> SequencerStats {
        self.inner.shared.stats.lock().clone()
    }

    /// Whether the log takes appends: `Err(StorageError::Failed)` after a failed write (until
    /// reopened). Services report it from `/readyz`.
    ///
    /// # Errors
    /// [`StorageError::Failed`].
    pub fn check_writable(&self) -> Result<(), StorageError> {
        if self.inner.shared.failed.load(Ordering::SeqCst) {
            return Err(StorageError::Failed);
        }
        Ok(())
    }

    /// The latest committed tree head.
    #[must_use]
    pub fn tree_head(&self) -> TreeHead {
        *self.inner.shared.head.read()
    }

    /// `count` committed entries with their metadata, starting at `start`.
    ///
    /// # Errors
    /// As [`LogStore::entries`].
    pub fn entries(&self, start: u64, count: u64) -> Result<Vec<StoredEntry>, StorageError> {
        check_range(start, count, self.tree_head().size)?;
        let idx = self.read_index_records(start, count)?;
        let entries = self.read_records(&idx, Column::Entry, start, count)?;
        let metadata = self.read_records(&idx, Column::Metadata, start, count)?;
        Ok(entries
            .into_iter()
            .zip(metadata)
            .map(|(entry, metadata)| StoredEntry { entry, metadata })
            .collect())
    }

    /// The committed entry at `index`.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if `index` is not below the tree size; [`StorageError::Io`].
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, StorageError> {
        let size = self.tree_head().size;
        if index >= size {
            return Err(StorageError::NotFound(format!(
                "entry {index} (tree size {size})"
            )));
        }
        let mut entries = self.read_entries(index, 1)?;
        entries
            .pop()
            .ok_or_else(|| StorageError::Corrupt("entry read came back empty".into()))
    }

    /// The metadata stored with the committed entry at `index` (empty if none was given).
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if `index` is not below the tree size; [`StorageError::Io`].
    pub fn metadata(&self, index: u64) -> Result<Vec<u8>, StorageError> {
        let size = self.tree_head().size;
        if index >= size {
            return Err(StorageError::NotFound(format!(
                "metadata of entry {index} (tree size {size})"
            )));
        }
        let idx = self.read_index_records(index, 1)?;
        let mut records = self.read_records(&idx, Column::Metadata, index, 1)?;
        records
            .pop()
            .ok_or_else(|| StorageError::Corrupt("metadata read came back empty".into()))
    }

    fn read_entries(&self, start: u64, count: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let idx = self.read_index_records(start, count)?;
        self.read_records(&idx, Column::Entry, start, count)
    }

    /// The entries.idx records that bound `count` committed records starting at `start`:
    /// records start-1 (the first start offset; none at the beginning) ..= start+count-1.
    fn read_index_records(&self, start: u64, count: u64) -> Result<Vec<u8>, StorageError> {
        let first_record = start.saturating_sub(1);
        let records = count + u64::from(start > 0);
        let mut idx = vec![0u8; usize::try_from(records * INDEX_RECORD).unwrap_or(0)];
        self.inner
            .readers
            .index
            .read_exact_at(&mut idx, first_record * INDEX_RECORD)
            .map_err(io_err("read entries.idx"))?;
        Ok(idx)
    }

    /// Read `count` committed records of one column starting at `start` (the caller checked
    /// the range), bounded by `idx` from [`Self::read_index_records`].
    fn read_records(
        &self,
        idx: &[u8],
        column: Column,
        start: u64,
        count: u64,
    ) -> Result<Vec<Vec<u8>>, StorageError> {
        let r = &self.inner.readers;
        let (file, name, field) = match column {
            Column::Entry => (&r.data, "entries.dat", 0),
            Column::Metadata => (&r.meta, "meta.dat", 8),
        };
        let n = usize::try_from(count)
            .map_err(|_| StorageError::InvalidRequest("range too large".into()))?;
        let mut offsets: Vec<u64> = idx
            .chunks_exact(INDEX_RECORD as usize)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&c[field..field + 8]);
                u64::from_be_bytes(b)
            })
            .collect();
        if start == 0 {
            offsets.insert(0, 0);
        }
        let corrupt = || StorageError::Corrupt(format!("entries.idx offsets invalid near {start}"));
        if offsets.windows(2).any(|w| w[1] < w[0]) {
            return Err(corrupt());
        }
        let (first_off, last_off) = (offsets[0], offsets[offsets.len() - 1]);
        if last_off - first_off > (MAX_METADATA_SIZE.max(tiles::MAX_ENTRY_SIZE) as u64) * count {
            return Err(corrupt());
        }
        let mut data = vec![0u8; usize::try_from(last_off - first_off).map_err(|_| corrupt())?];
        file.read_exact_at(&mut data, first_off)
            .map_err(io_err(format!("read {name}")))?;
        let mut out = Vec::with_capacity(n);
        for w in offsets.windows(2) {
            out.push(data[(w[0] - first_off) as usize..(w[1] - first_off) as usize].to_vec());
        }
        Ok(out)
    }

    /// The committed index of the entry with this identity.
    ///
    /// # Errors
    /// Index read failures.
    pub fn lookup(&self, identity: &[u8; 32]) -> Result<Option<u64>, StorageError> {
        let size = self.tree_head().size;
        Ok(self
            .inner
            .shared
            .index
            .lookup(identity)?
            .filter(|&index| index < size))
    }

    fn hashes(&self, size: u64) -> FileHashes<'_> {
        FileHashes {
            file: self.inner.readers.hashes.as_ref(),
            count: stored_hash_count(size),
            upper: Some(&self.inner.shared.upper_hashes),
            recent: Some(&self.inner.shared.recent_hashes),
        }
    }

    fn check_size(&self, size: u64) -> Result<TreeHead, StorageError> {
        let head = self.tree_head();
        if size > head.size {
            return Err(StorageError::NotFound(format!(
                "tree size {size} (current {})",
                head.size
            )));
        }
        Ok(head)
    }

    /// Inclusion proof of entry `index` in the committed tree of `size` entries
    /// (RFC 9162 audit path, leaf to root).
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if `size` exceeds the tree, [`StorageError::InvalidRequest`]
    /// if `index >= size`; I/O failures.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StorageError> {
        let head = self.check_size(size)?;
        if index >= size {
            return Err(StorageError::InvalidRequest(format!(
                "index {index} not below size {size}"
            )));
        }
        Ok(merkle::inclusion_proof(
            size,
            index,
            &self.hashes(head.size),
        )?)
    }

    /// Consistency proof between committed tree sizes `old` and `new` (`0 < old <= new`).
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if `new` exceeds the tree, [`StorageError::InvalidRequest`]
    /// for `old == 0` or `old > new`; I/O failures.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StorageError> {
        if old == 0 || old > new {
            return Err(StorageError::InvalidRequest(format!(
                "no consistency proof from {old} to {new}"
            )));
        }
        let head = self.check_size(new)?;
        Ok(merkle::consistency_proof(
            old,
            new,
            &self.hashes(head.size),
        )?)
    }

    /// Root hash of the committed tree of `size` entries.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if `size` exceeds the tree; I/O failures.
    pub fn root_at(&self, size: u64) -> Result<Hash, StorageError> {
        let head = self.check_size(size)?;
        if size == head.size {
            return Ok(head.root);
        }
        Ok(merkle::tree_hash(size, &self.hashes(head.size))?)
    }

    /// The bytes of a hash tile or entry bundle of the committed tree. Any width the tree
    /// covers is served, so partial tiles for older tree sizes stay available.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if the tree does not cover the tile; I/O failures.
    pub fn tile(&self, path: &TilePath) -> Result<Vec<u8>, StorageError> {
        let size = self.tree_head().size;
        check_tile_covered(path, size)?;
        match path.kind {
            TileKind::Hash => {
                let hashes = tiles::read_tile_hashes(
                    path.level,
                    path.index,
                    path.width,
                    &self.hashes(size),
                )?;
                Ok(tiles::tile_bytes(&hashes))
            }
            TileKind::Entries => {
                let entries =
                    self.read_entries(path.index * u64::from(TILE_WIDTH), u64::from(path.width))?;
                let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
                Ok(tiles::encode_entry_bundle(&refs)?)
            }
        }
    }

    /// The data directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Commit everything queued so far, stop the sequencer and release the directory lock.
    /// Other clones can still read; their appends fail with [`StorageError::Closed`].
    pub async fn close(self) {
        let (ack, done) = oneshot::channel();
        let tx = self.inner.tx.clone();
        // `send` blocks while the queue is full, so do it off the async executor.
        let sent = tokio::task::spawn_blocking(move || tx.send(Msg::Close(ack)).is_ok()).await;
        if matches!(sent, Ok(true)) {
            let _ = done.await;
        }
    }
}
