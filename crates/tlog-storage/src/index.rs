//! `index.redb`: the committed state of the embedded log and its lookup indexes, in one
//! crash-safe B-tree file (redb, copy-on-write with checksummed commits).
//!
//! One redb transaction per sequenced batch holds the new state record (tree size, file
//! lengths, root), every new dedup identity and every new search key, so the three can never
//! disagree after a crash. The redb commit is the log's commit point: entry bytes and hashes are
//! written and synced to their append-only files *before* it, and anything in those files beyond
//! the committed lengths is an unacknowledged tail that recovery cuts off.
//!
//! Memory is bounded by redb's page cache (configured per log), not by the number of entries;
//! opening reads the state row, not the log.

use std::io;
use std::sync::Arc;

use redb::{
    Database, MultimapTableDefinition, ReadableDatabase as _, ReadableTable as _,
    ReadableTableMetadata as _, TableDefinition,
};
use sigstack_tlog::merkle::Hash;

use crate::StorageError;
use crate::disk::State;
use crate::fs::StorageFile;
use crate::store::{IndexKey, MAX_SEARCH_RESULTS, StoredCheckpoint};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const DEDUP: TableDefinition<[u8; 32], u64> = TableDefinition::new("dedup");
const SEARCH: MultimapTableDefinition<[u8; 32], u64> = MultimapTableDefinition::new("search");

const STATE_KEY: &str = "state";
const CHECKPOINT_KEY: &str = "checkpoint";

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

/// One new entry's rows.
pub(crate) struct IndexRows<'a> {
    pub index: u64,
    pub identity: &'a [u8; 32],
    pub keys: &'a [IndexKey],
}

/// The open index.
pub(crate) struct Index {
    db: Database,
}

impl Index {
    /// Open (or create) the index on `file` with a page cache of `cache_bytes`.
    pub(crate) fn open(
        file: Arc<dyn StorageFile>,
        cache_bytes: usize,
    ) -> Result<Self, StorageError> {
        let db = Database::builder()
            .set_cache_size(cache_bytes)
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
        Ok(Self { db })
    }

    /// The committed state, `None` for a new index.
    pub(crate) fn state(&self) -> Result<Option<State>, StorageError> {
        let txn = self.db.begin_read().map_err(err("begin read"))?;
        let meta = txn.open_table(META).map_err(err("open meta"))?;
        let row = meta.get(STATE_KEY).map_err(err("read state"))?;
        row.map(|v| State::decode(v.value())).transpose()
    }

    /// Whether the index holds no dedup rows (for migration checks).
    pub(crate) fn is_empty(&self) -> Result<bool, StorageError> {
        let txn = self.db.begin_read().map_err(err("begin read"))?;
        let dedup = txn.open_table(DEDUP).map_err(err("open dedup"))?;
        Ok(dedup.len().map_err(err("count"))? == 0)
    }

    /// Commit `state` with the rows of the entries it adds, atomically and durably. A duplicate
    /// identity keeps its first index.
    pub(crate) fn commit(&self, state: &State, rows: &[IndexRows<'_>]) -> Result<(), StorageError> {
        let txn = self.db.begin_write().map_err(err("begin"))?;
        {
            let mut dedup = txn.open_table(DEDUP).map_err(err("open dedup"))?;
            let mut search = txn
                .open_multimap_table(SEARCH)
                .map_err(err("open search"))?;
            // In key order: consecutive inserts then mostly land in leaves this transaction has
            // already copied, and the B-tree's upper pages stay hot.
            let mut identities: Vec<(&[u8; 32], u64)> =
                rows.iter().map(|r| (r.identity, r.index)).collect();
            identities.sort_unstable();
            for (identity, index) in identities {
                // The sequencer only commits identities it found in neither the index nor the
                // batch; should one exist anyway, the first index stays.
                let previous = dedup
                    .insert(identity, index)
                    .map_err(err("write dedup"))?
                    .map(|v| v.value());
                if let Some(first) = previous {
                    dedup.insert(identity, first).map_err(err("write dedup"))?;
                }
            }
            let mut keys: Vec<(&[u8; 32], u64)> = rows
                .iter()
                .flat_map(|r| r.keys.iter().map(move |k| (&k.0, r.index)))
                .collect();
            keys.sort_unstable();
            for (key, index) in keys {
                search.insert(key, index).map_err(err("write search"))?;
            }
            let mut meta = txn.open_table(META).map_err(err("open meta"))?;
            meta.insert(STATE_KEY, state.encode().as_slice())
                .map_err(err("write state"))?;
        }
        txn.commit().map_err(err("commit"))
    }

    /// Add rows without changing the state (migration of an earlier layout, in chunks).
    pub(crate) fn add_rows(&self, rows: &[IndexRows<'_>]) -> Result<(), StorageError> {
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

    /// The index of the entry with this identity.
    pub(crate) fn lookup(&self, identity: &[u8; 32]) -> Result<Option<u64>, StorageError> {
        let txn = self.db.begin_read().map_err(err("begin read"))?;
        let dedup = txn.open_table(DEDUP).map_err(err("open dedup"))?;
        Ok(dedup
            .get(identity)
            .map_err(err("read dedup"))?
            .map(|v| v.value()))
    }

    /// The index of the entry with each of `identities`, in one read transaction.
    pub(crate) fn lookup_many<'a>(
        &self,
        identities: impl Iterator<Item = &'a [u8; 32]>,
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

    /// Indices filed under `key` below `size`, ascending, at most `limit`.
    pub(crate) fn search(
        &self,
        key: &IndexKey,
        size: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StorageError> {
        let txn = self.db.begin_read().map_err(err("begin read"))?;
        let search = txn
            .open_multimap_table(SEARCH)
            .map_err(err("open search"))?;
        let mut out = Vec::new();
        for v in search.get(key.0).map_err(err("read search"))? {
            let index = v.map_err(err("read search"))?.value();
            if index >= size || out.len() >= limit.min(MAX_SEARCH_RESULTS) {
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
