//! The storage interface every log driver implements, and the types it speaks.
//!
//! Rekor v1, Rekor v2 and the CT log hold an `Arc<dyn LogStore>` and never name a driver: the
//! embedded driver ([`crate::EmbeddedLog`], one data directory) and the PostgreSQL driver both
//! implement [`LogStore`], and both pass the same conformance suite ([`crate::conformance`],
//! behind the `conformance` feature).
//!
//! # Contract
//!
//! - [`LogStore::append`] returns only once the entry, its Merkle hashes, its dedup identity and
//!   its search keys are durable and the entry is visible to every reader of the log, on every
//!   replica. Nothing that failed is ever reported as logged; a retry of an entry whose append
//!   failed after all reaching storage gets [`StorageError::Duplicate`] with its index.
//! - Indices are dense and permanent: entry `i` never changes once acknowledged.
//! - Reads only ever see committed data; sizes beyond the current tree are
//!   [`StorageError::NotFound`], impossible arguments [`StorageError::InvalidRequest`].
//! - [`LogStore::publish_checkpoint`] records the signed checkpoint the service hands out; the
//!   store never accepts a checkpoint smaller than the largest one published, and a driver
//!   refuses to open a log whose tree is smaller than that checkpoint (rollback protection).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};
use sigstack_tlog::TilePath;
use sigstack_tlog::merkle::{self, Hash};

use crate::{Appended, StorageError, TreeHead};

/// Most search keys one entry may carry.
pub const MAX_INDEX_KEYS_PER_ENTRY: usize = 16;
/// Most entries one [`LogStore::entries`] call returns (one full tile).
pub const MAX_ENTRIES_PER_READ: u64 = 256;
/// Most indices one [`LogStore::search`] call returns.
pub const MAX_SEARCH_RESULTS: usize = 1024;
/// Largest signed checkpoint a store keeps, in bytes.
pub const MAX_CHECKPOINT_SIZE: usize = 16 * 1024;

/// A secondary-index key: SHA-256 over a namespace and a value, so that keys of different kinds
/// (artifact hashes, key fingerprints, email addresses, leaf hashes) never collide and every key
/// has the same fixed size in every driver.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexKey(pub [u8; 32]);

impl IndexKey {
    /// `SHA-256(namespace ‖ 0x00 ‖ value)`. Namespaces are short ASCII words chosen by the
    /// service (`"sha256"`, `"email"`, ...); the value is already normalised by the service.
    #[must_use]
    pub fn new(namespace: &str, value: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(namespace.as_bytes());
        h.update([0u8]);
        h.update(value);
        Self(h.finalize().into())
    }
}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndexKey({})", hex_prefix(&self.0))
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// An entry's RFC 6962 leaf data with its leaf hash, `SHA-256(0x00 ‖ data)`, computed once when
/// the entry is made (on the caller's thread, not on the sequencer's) and never apart from the
/// data. Reads as the data (`Deref<Target = [u8]>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    data: Vec<u8>,
    hash: Hash,
}

impl Leaf {
    /// Hash `data` as a Merkle leaf.
    #[must_use]
    pub fn new(data: Vec<u8>) -> Self {
        let hash = merkle::leaf_hash(&data);
        Self { data, hash }
    }

    /// The leaf hash of [`Leaf::data`].
    #[must_use]
    pub fn hash(&self) -> &Hash {
        &self.hash
    }

    /// The leaf data.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The leaf data, owned.
    #[must_use]
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}

impl Default for Leaf {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl From<Vec<u8>> for Leaf {
    fn from(data: Vec<u8>) -> Self {
        Self::new(data)
    }
}

impl std::ops::Deref for Leaf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data
    }
}

/// An entry to sequence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewEntry {
    /// The RFC 6962 leaf data and its leaf hash.
    pub entry: Leaf,
    /// The dedup identity: a second entry with the same identity is a
    /// [`StorageError::Duplicate`] of the first.
    pub identity: [u8; 32],
    /// Stored with the entry, outside the Merkle tree (at most [`crate::MAX_METADATA_SIZE`]).
    pub metadata: Vec<u8>,
    /// Secondary-index keys under which [`LogStore::search`] finds the entry (at most
    /// [`MAX_INDEX_KEYS_PER_ENTRY`]; duplicates are ignored).
    pub index_keys: Vec<IndexKey>,
    /// Metadata that depends on the entry's index: when set, the driver stores what it returns
    /// instead of [`Self::metadata`] (see [`SealMetadata`]).
    pub sealed_metadata: Option<MetadataSeal>,
}

/// Completes an entry's metadata once its index is fixed, for metadata that commits to the index
/// (Rekor v1's signed entry timestamp signs `logIndex`).
///
/// The driver calls [`SealMetadata::seal`] for each new entry after it has assigned the index and
/// before the batch commits, and stores the result with the entry in the same commit, so the
/// sealed metadata is exactly as durable as the entry. It runs on a thread that may block (an
/// HSM round trip is fine), once per new entry and never for a duplicate.
pub trait SealMetadata: Send + Sync {
    /// The metadata to store for `entry` at `index`, given the entry's unsealed `metadata`.
    ///
    /// # Errors
    /// A reason; the driver then commits nothing of the batch and answers each of its appends
    /// with [`StorageError::Unavailable`].
    fn seal(&self, index: u64, entry: &[u8], metadata: &[u8]) -> Result<Vec<u8>, String>;
}

/// A shared [`SealMetadata`], comparable by identity so that [`NewEntry`] stays `Eq`.
#[derive(Clone)]
pub struct MetadataSeal(pub Arc<dyn SealMetadata>);

impl MetadataSeal {
    /// Seal the metadata of `entry` (unsealed: `metadata`) at `index`, checking the result against
    /// [`crate::MAX_METADATA_SIZE`].
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when sealing fails or its result is too large.
    pub fn seal(&self, index: u64, entry: &[u8], metadata: &[u8]) -> Result<Vec<u8>, StorageError> {
        let sealed = self
            .0
            .seal(index, entry, metadata)
            .map_err(|e| StorageError::Unavailable(format!("sealing entry {index}: {e}")))?;
        if sealed.len() > crate::MAX_METADATA_SIZE {
            return Err(StorageError::Unavailable(format!(
                "sealed metadata of entry {index} has {} bytes, more than {}",
                sealed.len(),
                crate::MAX_METADATA_SIZE
            )));
        }
        Ok(sealed)
    }
}

impl PartialEq for MetadataSeal {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for MetadataSeal {}

impl fmt::Debug for MetadataSeal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetadataSeal(..)")
    }
}

impl NewEntry {
    /// An entry with no metadata and no search keys.
    #[must_use]
    pub fn new(entry: impl Into<Leaf>, identity: [u8; 32]) -> Self {
        Self {
            entry: entry.into(),
            identity,
            ..Self::default()
        }
    }

    /// Checks the limits every driver enforces before any work.
    ///
    /// # Errors
    /// [`StorageError::EntryTooLarge`] or [`StorageError::InvalidRequest`].
    pub fn check_limits(&self, max_entry_size: usize) -> Result<(), StorageError> {
        if self.entry.len() > max_entry_size {
            return Err(StorageError::EntryTooLarge {
                size: self.entry.len(),
                max: max_entry_size,
            });
        }
        if self.metadata.len() > crate::MAX_METADATA_SIZE {
            return Err(StorageError::InvalidRequest(format!(
                "metadata of {} bytes exceeds {}",
                self.metadata.len(),
                crate::MAX_METADATA_SIZE
            )));
        }
        if self.index_keys.len() > MAX_INDEX_KEYS_PER_ENTRY {
            return Err(StorageError::InvalidRequest(format!(
                "{} search keys exceed the limit of {MAX_INDEX_KEYS_PER_ENTRY}",
                self.index_keys.len()
            )));
        }
        Ok(())
    }
}

/// A committed entry with its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// The leaf data.
    pub entry: Vec<u8>,
    /// The metadata given at append time (empty if none).
    pub metadata: Vec<u8>,
}

/// A signed checkpoint as the service published it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The tree size it commits to.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
    /// The signed note (or any signed tree head encoding the service uses).
    pub signed: Vec<u8>,
}

/// Upper bounds of the batch-size buckets of [`SequencerStats::batch_sizes`] (the last bucket,
/// one past these, holds larger batches).
pub const BATCH_SIZE_BOUNDS: [u64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/// What one log handle's sequencer has committed since it was opened: how operators see the
/// group commit at work (batch sizes grow with the load) and what the commits cost.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SequencerStats {
    /// Batches committed.
    pub batches: u64,
    /// Entries committed in them (duplicates are answered without being committed).
    pub entries: u64,
    /// Batches by size: `batch_sizes[i]` counts those of more than `BATCH_SIZE_BOUNDS[i - 1]`
    /// and at most `BATCH_SIZE_BOUNDS[i]` entries; the last slot those beyond every bound.
    pub batch_sizes: [u64; BATCH_SIZE_BOUNDS.len() + 1],
    /// Time spent making batches durable (writes, syncs, the commit), in seconds.
    pub commit_seconds: f64,
}

impl SequencerStats {
    /// Count one committed batch.
    pub fn record(&mut self, entries: usize, took: std::time::Duration) {
        let entries = entries as u64;
        self.batches += 1;
        self.entries += entries;
        let bucket = BATCH_SIZE_BOUNDS.partition_point(|&bound| bound < entries);
        self.batch_sizes[bucket] += 1;
        self.commit_seconds += took.as_secs_f64();
    }

    /// The batch sizes with their buckets' upper bounds, the last one `+Inf`.
    #[must_use]
    pub fn batch_size_buckets(&self) -> Vec<(f64, u64)> {
        BATCH_SIZE_BOUNDS
            .iter()
            .map(|&b| b as f64)
            .chain([f64::INFINITY])
            .zip(self.batch_sizes)
            .collect()
    }
}

/// Transparency-log storage: the one interface every driver implements.
#[async_trait]
pub trait LogStore: Send + Sync + fmt::Debug {
    /// Sequence `entry` durably; see the module's contract.
    ///
    /// # Errors
    /// [`StorageError::Duplicate`], [`StorageError::EntryTooLarge`],
    /// [`StorageError::InvalidRequest`], [`StorageError::Overloaded`], [`StorageError::Closed`],
    /// [`StorageError::Failed`], [`StorageError::Unavailable`] or [`StorageError::Io`].
    async fn append(&self, entry: NewEntry) -> Result<Appended, StorageError>;

    /// The latest committed tree head.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when a remote store cannot be reached.
    async fn tree_head(&self) -> Result<TreeHead, StorageError>;

    /// The index of the committed entry with this dedup identity.
    ///
    /// # Errors
    /// Read failures.
    async fn lookup(&self, identity: &[u8; 32]) -> Result<Option<u64>, StorageError>;

    /// Indices of committed entries carrying `key`, ascending, at most `limit` (capped at
    /// [`MAX_SEARCH_RESULTS`]).
    ///
    /// # Errors
    /// Read failures.
    async fn search(&self, key: &IndexKey, limit: usize) -> Result<Vec<u64>, StorageError>;

    /// `count` committed entries starting at `start` (`1..=`[`MAX_ENTRIES_PER_READ`]).
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if the range reaches beyond the tree,
    /// [`StorageError::InvalidRequest`] for an empty or oversized range.
    async fn entries(&self, start: u64, count: u64) -> Result<Vec<StoredEntry>, StorageError>;

    /// The committed entry at `index`.
    ///
    /// # Errors
    /// As [`LogStore::entries`].
    async fn entry(&self, index: u64) -> Result<StoredEntry, StorageError> {
        self.entries(index, 1)
            .await?
            .pop()
            .ok_or_else(|| StorageError::Corrupt(format!("entry {index} read came back empty")))
    }

    /// Inclusion proof of entry `index` in the committed tree of `size` entries (RFC 9162
    /// audit path, leaf to root).
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if `size` exceeds the tree, [`StorageError::InvalidRequest`]
    /// if `index >= size`.
    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StorageError>;

    /// Consistency proof between committed tree sizes `old` and `new` (`0 < old <= new`).
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if `new` exceeds the tree, [`StorageError::InvalidRequest`]
    /// for `old == 0` or `old > new`.
    async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StorageError>;

    /// Root hash of the committed tree of `size` entries.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if `size` exceeds the tree.
    async fn root_at(&self, size: u64) -> Result<Hash, StorageError>;

    /// The bytes of a hash tile or entry bundle of the committed tree (any width the tree
    /// covers, so partial tiles of older sizes stay available).
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if the tree does not cover the tile.
    async fn tile(&self, path: &TilePath) -> Result<Vec<u8>, StorageError>;

    /// Record a signed checkpoint the service is about to hand out. A checkpoint of the same
    /// size as the stored one replaces it only if its root matches; a smaller one is refused.
    ///
    /// The record is visible to every reader at once and survives a clean close; a driver may
    /// make it durable lazily (the embedded one does, with its next committed batch), since the
    /// tree it covers is durable before it is published: a crash can lose the record, never
    /// the entries under it.
    ///
    /// # Errors
    /// [`StorageError::InvalidRequest`] for a size beyond the tree, a root that differs from the
    /// tree's, a checkpoint smaller than the published one, or one over
    /// [`MAX_CHECKPOINT_SIZE`] bytes.
    async fn publish_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StorageError>;

    /// The largest checkpoint published so far.
    ///
    /// # Errors
    /// Read failures.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StorageError>;

    /// Whether the log takes appends, as last observed (for `/readyz`; never blocks).
    ///
    /// # Errors
    /// The reason it does not.
    fn check_writable(&self) -> Result<(), StorageError>;

    /// The batches this handle has sequenced since it was opened, for metrics; `None` for a
    /// driver that does not count them.
    fn sequencer_stats(&self) -> Option<SequencerStats> {
        None
    }

    /// Commit what is queued, stop taking appends and release the storage. Reads through other
    /// handles may continue where the driver allows it.
    async fn close(&self);
}

/// Checks the arguments of [`LogStore::publish_checkpoint`] against the current head and the
/// previously published checkpoint; shared by every driver.
///
/// # Errors
/// As [`LogStore::publish_checkpoint`].
pub fn check_publishable(
    checkpoint: &StoredCheckpoint,
    head_size: u64,
    root_at_size: Option<Hash>,
    published: Option<&StoredCheckpoint>,
) -> Result<(), StorageError> {
    if checkpoint.signed.len() > MAX_CHECKPOINT_SIZE {
        return Err(StorageError::InvalidRequest(format!(
            "checkpoint of {} bytes exceeds {MAX_CHECKPOINT_SIZE}",
            checkpoint.signed.len()
        )));
    }
    if checkpoint.size > head_size {
        return Err(StorageError::InvalidRequest(format!(
            "checkpoint size {} is beyond the tree ({head_size})",
            checkpoint.size
        )));
    }
    if let Some(root) = root_at_size
        && root != checkpoint.root
    {
        return Err(StorageError::InvalidRequest(format!(
            "checkpoint root does not match the tree of size {}",
            checkpoint.size
        )));
    }
    if let Some(p) = published
        && checkpoint.size < p.size
    {
        return Err(StorageError::InvalidRequest(format!(
            "checkpoint size {} is smaller than the published {}",
            checkpoint.size, p.size
        )));
    }
    Ok(())
}

/// Checks an entry range request; shared by every driver.
///
/// # Errors
/// As [`LogStore::entries`].
pub fn check_range(start: u64, count: u64, size: u64) -> Result<(), StorageError> {
    if count == 0 || count > MAX_ENTRIES_PER_READ {
        return Err(StorageError::InvalidRequest(format!(
            "entry count must be 1..={MAX_ENTRIES_PER_READ}, got {count}"
        )));
    }
    match start.checked_add(count) {
        Some(end) if end <= size => Ok(()),
        _ => Err(StorageError::NotFound(format!(
            "entries {start}..{} (tree size {size})",
            start.saturating_add(count)
        ))),
    }
}

/// Checks that the tree of `size` entries covers the tile `path` (at the width asked for), so
/// partial tiles of older sizes stay available; shared by every driver.
///
/// # Errors
/// [`StorageError::NotFound`] for a malformed width, an entry bundle above level 0, or a tile
/// beyond the tree.
pub fn check_tile_covered(path: &TilePath, size: u64) -> Result<(), StorageError> {
    use sigstack_tlog::TileKind;
    use sigstack_tlog::tiles::{TILE_HEIGHT, TILE_WIDTH};
    let not_found = || StorageError::NotFound(format!("{} (tree size {size})", path.to_path()));
    if path.width == 0
        || path.width > TILE_WIDTH
        || (path.kind == TileKind::Entries && path.level != 0)
    {
        return Err(not_found());
    }
    // Leaves covered by the tile: (index*256 + width) * 256^level.
    let shift = u32::from(path.level) * TILE_HEIGHT;
    let covered = path
        .index
        .checked_mul(u64::from(TILE_WIDTH))
        .and_then(|n| n.checked_add(u64::from(path.width)))
        .filter(|_| shift < 64)
        .and_then(|n| n.checked_mul(1u64 << shift));
    match covered {
        Some(c) if c <= size => Ok(()),
        _ => Err(not_found()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The hash a leaf carries is the RFC 6962 leaf hash of its data, however it was made.
    #[test]
    fn a_leaf_carries_the_hash_of_its_data() {
        // RFC 6962 leaf hash of the empty entry: SHA-256(0x00).
        let empty = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d";
        assert_eq!(Leaf::default().hash().to_hex(), empty);
        assert_eq!(NewEntry::default().entry.hash().to_hex(), empty);
        let data = b"an entry".to_vec();
        let leaf = Leaf::from(data.clone());
        assert_eq!(*leaf.hash(), merkle::leaf_hash(&data));
        assert_eq!(&*leaf, data.as_slice());
        assert_eq!(NewEntry::new(data.clone(), [0; 32]).entry, leaf);
        assert_eq!(leaf.into_data(), data);
    }

    #[test]
    fn batches_are_counted_by_size() {
        let mut stats = SequencerStats::default();
        for (entries, ms) in [(1, 2), (2, 1), (3, 1), (256, 10), (257, 10), (600, 20)] {
            stats.record(entries, std::time::Duration::from_millis(ms));
        }
        assert_eq!(stats.batches, 6);
        assert_eq!(stats.entries, 1 + 2 + 3 + 256 + 257 + 600);
        assert_eq!(stats.batch_sizes, [1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1]);
        assert!((stats.commit_seconds - 0.044).abs() < 1e-9);
        let buckets = stats.batch_size_buckets();
        assert_eq!(buckets.first(), Some(&(1.0, 1)));
        assert_eq!(buckets[8], (256.0, 1));
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, 1)));
    }
}
