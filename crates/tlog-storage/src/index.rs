//! The committed state of the embedded log and its lookup indexes.
//!
//! Three stores, each doing what it is good at:
//!
//! - `index.redb` (redb, copy-on-write B-tree with checksummed commits, through our file layer)
//!   holds the small records: the state (tree size, file lengths, root), the committed length of
//!   `index.journal`, and the largest published checkpoint. One small redb transaction per
//!   sequenced batch is the log's commit point: entry bytes, hashes and the batch's journal
//!   record are written and synced *before* it, and anything in those files beyond the committed
//!   lengths is an unacknowledged tail that recovery cuts off.
//! - `index.journal` (see `journal.rs`, through our file layer) holds each batch's dedup
//!   identities and search keys: one sequential append per batch, synced with the batch.
//! - `index.lsm/` (fjall, an LSM tree) holds every row for lookups. A batch's rows go in right
//!   after its commit and before anyone is told of it, without an fsync of their own: the
//!   journal has them. Once the journal holds [`crate::LogConfig::index_journal_entries`]
//!   entries the LSM tree is synced and the journal starts again from empty, so a start-up
//!   replays at most that many entries and never reads the log.
//!
//! Why not all rows in the B-tree: dedup identities and search keys are hashes, so every row
//! lands at a random place, and once the tree outgrows its page cache each row costs a leaf
//! copy and a read (measured in BENCHMARKS.md: 47 µs per entry at 100k entries, 91 µs at 1M).
//! An LSM tree writes rows sequentially and merges sorted runs in the background (10-20 µs per
//! entry, lookups included), and its bloom filters answer the dedup check for a new entry
//! without a disk read.
//!
//! Directories written by earlier versions keep their rows in `index.redb`'s `dedup` and
//! `search` tables, which are then read (never written) after the LSM tree; `lsm_base` in the
//! state table says which entries are in which.
//!
//! Memory is bounded by the page cache of `index.redb` and the block cache and memtables of the
//! LSM tree (configured per log), not by the number of entries.

use std::io;
use std::path::Path;
use std::sync::Arc;

use fjall::config::{FilterPolicy, PartitioningPolicy};
use fjall::{KeyspaceCreateOptions, PersistMode};
use parking_lot::Mutex;
use redb::{
    Database, MultimapTableDefinition, ReadableDatabase as _, ReadableTable as _,
    ReadableTableMetadata as _, TableDefinition,
};
use sigstack_tlog::merkle::Hash;

use crate::StorageError;
use crate::disk::{State, io_err};
use crate::fs::StorageFile;
use crate::journal::{self, JOURNAL_FILE};
use crate::store::{IndexKey, MAX_SEARCH_RESULTS, StoredCheckpoint};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Rows of entries below `lsm_base` (directories of earlier versions); read only.
const DEDUP: TableDefinition<[u8; 32], u64> = TableDefinition::new("dedup");
/// Rows of entries below `lsm_base` (directories of earlier versions); read only.
const SEARCH: MultimapTableDefinition<[u8; 32], u64> = MultimapTableDefinition::new("search");

const STATE_KEY: &str = "state";
const CHECKPOINT_KEY: &str = "checkpoint";
/// Committed length of `index.journal` (u64, big-endian).
const JOURNAL_KEY: &str = "journal";
/// Entries below this index have their rows in the B-tree tables, the rest in the LSM tree
/// (u64, big-endian; written once, when the LSM tree is created).
const LSM_BASE_KEY: &str = "lsm_base";

/// Directory of the LSM tree, in the log's directory.
pub(crate) const LSM_DIR: &str = "index.lsm";
/// Key in the LSM tree's `dedup` keyspace (never an identity: those are 32 bytes): the tree
/// size whose rows it holds (u64, big-endian), written in the same atomic batch as the rows. In
/// the keyspace every batch writes, so no rarely written keyspace keeps old LSM journals alive.
const APPLIED_KEY: &[u8] = b"applied";
/// Largest committed journal read back at open; a larger recorded length is damage.
const MAX_JOURNAL_LEN: u64 = 1 << 30;
/// Page cache of `index.redb`.
const REDB_CACHE_BYTES: usize = 2 << 20;
/// Memtable of each LSM keyspace, in bytes. Rows have random keys, so every merge of the first
/// level rewrites all of the next one: larger memtables mean fewer of those merges (measured:
/// merge work at ~350-390k entries 3.8-4.0 % of the stack's CPU with 4 MiB, 2.3-2.5 % with 8 MiB).
const MEMTABLE_BYTES: u64 = 8 << 20;
/// Flushed memtables gathered in the first level before they are merged into the next. Rows
/// have random keys, so each of those merges rewrites the whole next level: gathering eight
/// instead of fjall's default four halves how often that happens (measured with `fill-direct`,
/// 1M entries: merge threads 14.9-15.5 s → 9.5-10.0 s, ~5 µs less per entry; the dedup lookups,
/// which now probe up to four more bloom filters, did not measurably slow down).
const LSM_L0_TABLES: u8 = 8;
/// Most bytes of LSM journal kept before the oldest memtables are flushed.
const LSM_JOURNAL_BYTES: u64 = 64 << 20;
/// Threads that flush memtables and merge sorted runs. With one, a long merge delays flushes
/// and sealed memtables pile up in memory (measured: several hundred MiB at 2M entries). With
/// two, fjall's first worker keeps handing a pending merge request back to the queue while the
/// second merges, and takes it again at once: a busy loop as long as every merge (measured: as
/// much CPU as the merges themselves). A third worker takes that request, finds nothing left to
/// merge, and the loop ends.
const LSM_WORKERS: usize = 3;

/// redb's storage, through our file layer (so simulated disks cover it too).
#[derive(Debug)]
struct Backend(Arc<dyn StorageFile>);

impl redb::StorageBackend for Backend {
    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.0.read_exact_at(out, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.write_all_at(data, offset)
    }
}

fn index_err(op: &str) -> impl Fn(redb::Error) -> StorageError + '_ {
    move |e| StorageError::Io {
        op: format!("index.redb: {op}"),
        source: io::Error::other(e.to_string()),
    }
}

fn err<E: Into<redb::Error>>(op: &str) -> impl Fn(E) -> StorageError + '_ {
    move |e| index_err(op)(e.into())
}

fn lsm_err(op: &str) -> impl Fn(fjall::Error) -> StorageError + '_ {
    move |e| StorageError::Io {
        op: format!("{LSM_DIR}: {op}"),
        source: io::Error::other(e.to_string()),
    }
}

fn be_u64(bytes: &[u8], what: &str) -> Result<u64, StorageError> {
    let b: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt(format!("{what} is malformed")))?;
    Ok(u64::from_be_bytes(b))
}

/// One new entry's rows.
pub(crate) struct IndexRows<'a> {
    pub index: u64,
    pub identity: &'a [u8; 32],
    pub keys: &'a [IndexKey],
}

/// Where the next batch's journal record goes, from [`Index::journal_record`].
pub(crate) struct JournalRecord {
    /// Offset in `index.journal`.
    pub at: u64,
    pub bytes: Vec<u8>,
}

/// What the journal holds now.
#[derive(Clone, Copy, Default)]
struct Journaled {
    /// Committed length of `index.journal`.
    len: u64,
    /// Entries whose rows it holds.
    entries: usize,
}

/// The LSM tree of rows.
struct Lsm {
    db: fjall::Database,
    /// Identity → index (u64 BE).
    dedup: fjall::Keyspace,
    /// Key ‖ index (u64 BE) → nothing: a key's entries in index order under one prefix.
    search: fjall::Keyspace,
}

impl Lsm {
    fn open(dir: &Path, cache_bytes: usize) -> Result<Self, StorageError> {
        let db = fjall::Database::builder(dir)
            .cache_size(cache_bytes as u64)
            .worker_threads(LSM_WORKERS)
            .max_journaling_size(LSM_JOURNAL_BYTES)
            .open()
            .map_err(lsm_err("open"))?;
        let keyspace = |name: &'static str, point_reads: bool| {
            db.keyspace(name, || {
                // Filter and index blocks in small partitions at every level, read through the
                // block cache: a lookup that misses the cache reads one small block, not a
                // table's whole filter (measured: unpartitioned, the dedup lookups of a log
                // with a few million entries slow down 4-5x with a 16 MiB cache, and a larger
                // cache makes the memory grow with the log).
                let options = KeyspaceCreateOptions::default()
                    .compaction_strategy(Arc::new(
                        fjall::compaction::Leveled::default().with_l0_threshold(LSM_L0_TABLES),
                    ))
                    .max_memtable_size(MEMTABLE_BYTES)
                    .filter_block_partitioning_policy(PartitioningPolicy::all(true))
                    .index_block_partitioning_policy(PartitioningPolicy::all(true));
                // Search rows are only ever scanned by prefix: bloom filters would cost memory
                // and disk without answering anything.
                if point_reads {
                    options
                } else {
                    options.filter_policy(FilterPolicy::disabled())
                }
            })
            .map_err(lsm_err("open keyspace"))
        };
        Ok(Self {
            dedup: keyspace("dedup", true)?,
            search: keyspace("search", false)?,
            db,
        })
    }

    fn applied(&self) -> Result<Option<u64>, StorageError> {
        self.dedup
            .get(APPLIED_KEY)
            .map_err(lsm_err("read applied size"))?
            .map(|v| be_u64(&v, "the LSM tree's applied size"))
            .transpose()
    }

    /// Insert `rows` and record `size` as applied, in one atomic batch, without an fsync.
    fn apply<'a>(
        &self,
        rows: impl Iterator<Item = (u64, &'a [u8; 32], &'a [IndexKey])>,
        size: u64,
    ) -> Result<(), StorageError> {
        let mut batch = self.db.batch();
        for (index, identity, keys) in rows {
            let value = index.to_be_bytes();
            batch.insert(&self.dedup, identity.as_slice(), value.as_slice());
            for key in keys {
                let mut row = [0u8; 40];
                row[..32].copy_from_slice(&key.0);
                row[32..].copy_from_slice(&value);
                batch.insert(&self.search, row.as_slice(), [0u8; 0].as_slice());
            }
        }
        batch.insert(&self.dedup, APPLIED_KEY, size.to_be_bytes().as_slice());
        batch.commit().map_err(lsm_err("write rows"))
    }

    fn lookup(&self, identity: &[u8; 32]) -> Result<Option<u64>, StorageError> {
        self.dedup
            .get(identity)
            .map_err(lsm_err("read dedup"))?
            .map(|v| be_u64(&v, "a dedup row"))
            .transpose()
    }
}

/// The open index.
pub(crate) struct Index {
    db: Database,
    lsm: Lsm,
    /// Entries below this have their rows in the B-tree tables (earlier versions).
    lsm_base: u64,
    journal: Arc<dyn StorageFile>,
    journaled: Mutex<Journaled>,
    /// Entries the journal gathers before the LSM tree is synced and it starts again.
    journal_entries: usize,
}

impl Index {
    /// Open (or create) the index: `index.redb` on `file` with a page cache of `cache_bytes`,
    /// the LSM tree in `lsm_dir` with a block cache of `cache_bytes`, and `journal`. The state
    /// is read by [`Self::state`]; [`Self::recover_rows`] then brings the LSM tree up to it.
    pub(crate) fn open(
        file: Arc<dyn StorageFile>,
        journal: Arc<dyn StorageFile>,
        lsm_dir: &Path,
        cache_bytes: usize,
        journal_entries: usize,
    ) -> Result<Self, StorageError> {
        // The B-tree holds a few small records (and, in directories of earlier versions, rows
        // that are only read); the cache belongs to the LSM tree.
        let db = Database::builder()
            .set_cache_size(REDB_CACHE_BYTES.min(cache_bytes))
            .create_with_backend(Backend(file))
            .map_err(err("open"))?;
        let txn = db.begin_write().map_err(err("begin"))?;
        {
            txn.open_table(META).map_err(err("create meta"))?;
            txn.open_table(DEDUP).map_err(err("create dedup"))?;
            txn.open_multimap_table(SEARCH)
                .map_err(err("create search"))?;
        }
        txn.commit().map_err(err("commit tables"))?;
        let lsm = Lsm::open(lsm_dir, cache_bytes)?;
        Ok(Self {
            db,
            lsm,
            lsm_base: 0,
            journal,
            journaled: Mutex::new(Journaled::default()),
            journal_entries: journal_entries.max(1),
        })
    }

    fn meta_u64(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let txn = self.db.begin_read().map_err(err("begin read"))?;
        let meta = txn.open_table(META).map_err(err("open meta"))?;
        let row = meta.get(key).map_err(err("read meta"))?;
        row.map(|v| be_u64(v.value(), key)).transpose()
    }

    /// The committed state, `None` for a new index.
    pub(crate) fn state(&self) -> Result<Option<State>, StorageError> {
        let txn = self.db.begin_read().map_err(err("begin read"))?;
        let meta = txn.open_table(META).map_err(err("open meta"))?;
        let row = meta.get(STATE_KEY).map_err(err("read state"))?;
        row.map(|v| State::decode(v.value())).transpose()
    }

    /// Whether the B-tree tables hold no dedup rows (for migration checks).
    pub(crate) fn is_empty(&self) -> Result<bool, StorageError> {
        let txn = self.db.begin_read().map_err(err("begin read"))?;
        let dedup = txn.open_table(DEDUP).map_err(err("open dedup"))?;
        Ok(dedup.len().map_err(err("count"))? == 0)
    }

    /// Bring the LSM tree up to the committed `state`: replay the journal's rows it lacks, or
    /// refuse if it lacks rows the journal no longer holds. Creates the LSM tree's record of
    /// where it starts for a directory of an earlier version. Reads at most the journal.
    pub(crate) fn recover_rows(&mut self, state: &State) -> Result<(), StorageError> {
        let committed = self.meta_u64(JOURNAL_KEY)?.unwrap_or(0);
        let base = match self.meta_u64(LSM_BASE_KEY)? {
            Some(base) => base,
            None => {
                // A new log, or one whose rows so far are in the B-tree tables.
                if committed != 0 {
                    return Err(StorageError::Corrupt(format!(
                        "{JOURNAL_FILE} has rows but {} has no record of where the LSM tree \
                         starts; restore the directory from a backup",
                        crate::disk::INDEX_DB
                    )));
                }
                self.lsm.apply(std::iter::empty(), state.size)?;
                self.lsm
                    .db
                    .persist(PersistMode::SyncAll)
                    .map_err(lsm_err("sync"))?;
                self.put_meta(LSM_BASE_KEY, state.size)?;
                state.size
            }
        };
        self.lsm_base = base;
        let found = self
            .journal
            .len()
            .map_err(io_err(format!("stat {JOURNAL_FILE}")))?;
        if committed > found || committed > MAX_JOURNAL_LEN {
            return Err(StorageError::Corrupt(format!(
                "{JOURNAL_FILE} is {found} bytes but the committed state needs {committed}: the \
                 search and dedup rows of the last batches are missing; restore the directory \
                 from a backup"
            )));
        }
        if found > committed {
            tracing::warn!(
                committed,
                found,
                "truncating the uncommitted tail of {JOURNAL_FILE}"
            );
            self.journal
                .set_len(committed)
                .map_err(io_err(format!("truncate {JOURNAL_FILE}")))?;
            self.journal
                .sync_data()
                .map_err(io_err(format!("fsync {JOURNAL_FILE}")))?;
        }
        let mut bytes = vec![0u8; usize::try_from(committed).unwrap_or(0)];
        self.journal
            .read_exact_at(&mut bytes, 0)
            .map_err(io_err(format!("read {JOURNAL_FILE}")))?;
        let rows = journal::decode(&bytes)?;
        // The journal covers the entries from its first row to the tree size; the LSM tree must
        // hold every row before that.
        let covered_from = rows.first().map_or(state.size, |r| r.index);
        let applied = match self.lsm.applied()? {
            Some(applied) => applied,
            // Never created or lost: harmless only if it never held a row.
            None if state.size == base => base,
            None => {
                return Err(StorageError::Corrupt(format!(
                    "{LSM_DIR} is missing or empty but the log has {} entries indexed there; \
                     restore the directory from a backup",
                    state.size - base
                )));
            }
        };
        if applied > state.size {
            return Err(StorageError::Corrupt(format!(
                "{LSM_DIR} holds rows of {applied} entries but the log has {}: the log was \
                 rolled back; restore the newest copy of the directory",
                state.size
            )));
        }
        if applied < covered_from.max(base) {
            return Err(StorageError::Corrupt(format!(
                "{LSM_DIR} lost the rows of entries {applied}..{covered_from}, which \
                 {JOURNAL_FILE} no longer holds; restore the directory from a backup"
            )));
        }
        let missing: Vec<&journal::JournalRow> =
            rows.iter().filter(|r| r.index >= applied).collect();
        if applied < state.size || !missing.is_empty() {
            tracing::info!(
                replayed = missing.len(),
                "replaying {JOURNAL_FILE} into {LSM_DIR}"
            );
            self.lsm.apply(
                missing
                    .iter()
                    .map(|r| (r.index, &r.identity, r.keys.as_slice())),
                state.size,
            )?;
        }
        *self.journaled.lock() = Journaled {
            len: committed,
            entries: rows.len(),
        };
        Ok(())
    }

    fn put_meta(&self, key: &str, value: u64) -> Result<(), StorageError> {
        let txn = self.db.begin_write().map_err(err("begin"))?;
        {
            let mut meta = txn.open_table(META).map_err(err("open meta"))?;
            meta.insert(key, value.to_be_bytes().as_slice())
                .map_err(err("write meta"))?;
        }
        txn.commit().map_err(err("commit"))
    }

    /// The journal file, which the sequencer writes and syncs with the batch's other files.
    pub(crate) fn journal_file(&self) -> &dyn StorageFile {
        self.journal.as_ref()
    }

    /// The journal record of a batch's rows and where it goes. When the journal is full, first
    /// syncs the LSM tree (which then holds every journaled row durably) and commits an empty
    /// journal, so the record goes at offset zero.
    ///
    /// # Errors
    /// Sync and commit failures; the log must stop (nothing of the batch is written yet).
    pub(crate) fn journal_record(
        &self,
        rows: &[IndexRows<'_>],
    ) -> Result<JournalRecord, StorageError> {
        let mut journaled = self.journaled.lock();
        if journaled.entries >= self.journal_entries {
            self.lsm
                .db
                .persist(PersistMode::SyncAll)
                .map_err(lsm_err("sync"))?;
            self.put_meta(JOURNAL_KEY, 0)?;
            *journaled = Journaled::default();
            // The old records are no longer committed; dropping them keeps the file small.
            self.journal
                .set_len(0)
                .map_err(io_err(format!("truncate {JOURNAL_FILE}")))?;
        }
        Ok(JournalRecord {
            at: journaled.len,
            bytes: journal::encode(rows.iter().map(|r| (r.index, r.identity, r.keys))),
        })
    }

    /// Commit `state` and the journal `record` (written and synced by the caller) as one
    /// durable redb transaction, then put the batch's rows into the LSM tree so that lookups
    /// find them before anyone learns of the batch.
    ///
    /// # Errors
    /// Commit failures (the batch may or may not be committed: the log must stop), and LSM
    /// write failures (the batch is committed; the next open replays its rows).
    pub(crate) fn commit(
        &self,
        state: &State,
        rows: &[IndexRows<'_>],
        record: &JournalRecord,
    ) -> Result<(), StorageError> {
        let journal_len = record.at + record.bytes.len() as u64;
        let txn = self.db.begin_write().map_err(err("begin"))?;
        {
            let mut meta = txn.open_table(META).map_err(err("open meta"))?;
            meta.insert(STATE_KEY, state.encode().as_slice())
                .map_err(err("write state"))?;
            meta.insert(JOURNAL_KEY, journal_len.to_be_bytes().as_slice())
                .map_err(err("write journal length"))?;
        }
        txn.commit().map_err(err("commit"))?;
        {
            let mut journaled = self.journaled.lock();
            journaled.len = journal_len;
            journaled.entries += rows.len();
        }
        self.lsm.apply(
            rows.iter().map(|r| (r.index, r.identity, r.keys)),
            state.size,
        )
    }

    /// Commit `state` alone (a new log, or the end of a migration).
    pub(crate) fn commit_state(&self, state: &State) -> Result<(), StorageError> {
        let txn = self.db.begin_write().map_err(err("begin"))?;
        {
            let mut meta = txn.open_table(META).map_err(err("open meta"))?;
            meta.insert(STATE_KEY, state.encode().as_slice())
                .map_err(err("write state"))?;
        }
        txn.commit().map_err(err("commit"))
    }

    /// Add dedup rows to the B-tree tables without changing the state (migration of the
    /// earliest layout, in chunks, before the LSM tree exists).
    pub(crate) fn add_legacy_rows(&self, rows: &[IndexRows<'_>]) -> Result<(), StorageError> {
        let txn = self.db.begin_write().map_err(err("begin"))?;
        {
            let mut dedup = txn.open_table(DEDUP).map_err(err("open dedup"))?;
            for row in rows {
                if dedup
                    .get(row.identity)
                    .map_err(err("read dedup"))?
                    .is_none()
                {
                    dedup
                        .insert(row.identity, row.index)
                        .map_err(err("write dedup"))?;
                }
            }
        }
        txn.commit().map_err(err("commit"))
    }

    fn lookup_legacy(
        &self,
        identities: &mut dyn Iterator<Item = &[u8; 32]>,
    ) -> Result<Vec<Option<u64>>, StorageError> {
        let txn = self.db.begin_read().map_err(err("begin read"))?;
        let dedup = txn.open_table(DEDUP).map_err(err("open dedup"))?;
        identities
            .map(|identity| {
                Ok(dedup
                    .get(identity)
                    .map_err(err("read dedup"))?
                    .map(|v| v.value()))
            })
            .collect()
    }

    /// The index of the entry with this identity.
    pub(crate) fn lookup(&self, identity: &[u8; 32]) -> Result<Option<u64>, StorageError> {
        Ok(self.lookup_many(std::iter::once(identity))?.pop().flatten())
    }

    /// The index of the entry with each of `identities`.
    pub(crate) fn lookup_many<'a>(
        &self,
        identities: impl Iterator<Item = &'a [u8; 32]>,
    ) -> Result<Vec<Option<u64>>, StorageError> {
        let identities: Vec<&[u8; 32]> = identities.collect();
        let mut found: Vec<Option<u64>> = identities
            .iter()
            .map(|identity| self.lsm.lookup(identity))
            .collect::<Result<_, _>>()?;
        if self.lsm_base > 0 && found.iter().any(Option::is_none) {
            let mut missing = identities
                .iter()
                .zip(&found)
                .filter(|(_, f)| f.is_none())
                .map(|(identity, _)| *identity);
            let legacy = self.lookup_legacy(&mut missing)?;
            for (slot, old) in found.iter_mut().filter(|f| f.is_none()).zip(legacy) {
                *slot = old;
            }
        }
        Ok(found)
    }

    /// Indices filed under `key` below `size`, ascending, at most `limit`.
    pub(crate) fn search(
        &self,
        key: &IndexKey,
        size: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StorageError> {
        let limit = limit.min(MAX_SEARCH_RESULTS);
        let mut out = Vec::new();
        if self.lsm_base > 0 {
            let txn = self.db.begin_read().map_err(err("begin read"))?;
            let search = txn
                .open_multimap_table(SEARCH)
                .map_err(err("open search"))?;
            for v in search.get(key.0).map_err(err("read search"))? {
                let index = v.map_err(err("read search"))?.value();
                if index >= size || out.len() >= limit {
                    break;
                }
                out.push(index);
            }
        }
        for row in self.lsm.search.prefix(key.0) {
            if out.len() >= limit {
                break;
            }
            let row = row.key().map_err(lsm_err("read search"))?;
            let index = be_u64(row.get(32..).unwrap_or_default(), "a search row")?;
            if index >= size {
                break;
            }
            out.push(index);
        }
        Ok(out)
    }

    /// The largest published checkpoint.
    pub(crate) fn checkpoint(&self) -> Result<Option<StoredCheckpoint>, StorageError> {
        let txn = self.db.begin_read().map_err(err("begin read"))?;
        let meta = txn.open_table(META).map_err(err("open meta"))?;
        let row = meta.get(CHECKPOINT_KEY).map_err(err("read checkpoint"))?;
        row.map(|v| decode_checkpoint(v.value())).transpose()
    }

    /// Record a published checkpoint. With `durable` false it reaches the disk with the next
    /// durable commit (the next batch, or [`Self::put_checkpoint`] at close): the tree it
    /// covers is committed already, so a crash before then loses only the record, never lets
    /// the tree fall below a checkpoint that was handed out.
    pub(crate) fn put_checkpoint(
        &self,
        c: &StoredCheckpoint,
        durable: bool,
    ) -> Result<(), StorageError> {
        let mut txn = self.db.begin_write().map_err(err("begin"))?;
        if !durable {
            txn.set_durability(redb::Durability::None)
                .map_err(|e| StorageError::Corrupt(format!("index durability: {e}")))?;
        }
        {
            let mut meta = txn.open_table(META).map_err(err("open meta"))?;
            meta.insert(CHECKPOINT_KEY, encode_checkpoint(c).as_slice())
                .map_err(err("write checkpoint"))?;
        }
        txn.commit().map_err(err("commit checkpoint"))
    }
}

fn encode_checkpoint(c: &StoredCheckpoint) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + c.signed.len());
    out.extend_from_slice(&c.size.to_be_bytes());
    out.extend_from_slice(&c.root.0);
    out.extend_from_slice(&c.signed);
    out
}

fn decode_checkpoint(bytes: &[u8]) -> Result<StoredCheckpoint, StorageError> {
    if bytes.len() < 40 {
        return Err(StorageError::Corrupt(
            "published checkpoint row is truncated".into(),
        ));
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&bytes[..8]);
    let mut root = [0u8; 32];
    root.copy_from_slice(&bytes[8..40]);
    Ok(StoredCheckpoint {
        size: u64::from_be_bytes(size),
        root: Hash(root),
        signed: bytes[40..].to_vec(),
    })
}
