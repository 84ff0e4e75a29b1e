//! RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification.
//!
//! Definitions (RFC 9162 §2.1.1):
//! ```text
//! MTH({})       = SHA-256()
//! MTH({d(0)})   = SHA-256(0x00 || d(0))
//! MTH(D[n])     = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))   k = largest power of two < n
//! ```
//!
//! # Stored hashes
//!
//! A log stores, for each appended record, the record's leaf hash followed by the hash of every
//! complete subtree that record finishes, in append order. This is the layout of Go's
//! `golang.org/x/mod/sumdb/tlog`: after `n` records there are exactly
//! [`stored_hash_count`]`(n) = 2n - popcount(n)` stored hashes, and the hash of the complete
//! subtree at height `level` and position `n` (covering leaves `n*2^level .. (n+1)*2^level`) has
//! index [`stored_hash_index`]`(level, n)`. Every tree head, proof and tile is computed from those
//! stored hashes through a [`HashReader`], so storage never has to hold the tree in memory.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::{Result, TlogError};

/// A SHA-256 Merkle tree hash (leaf, interior node or root).
///
/// `Debug` and `Display` both print lowercase hex (the form Rekor v1 JSON uses); use
/// [`Hash::to_base64`] for checkpoints and Rekor v2 JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Length of a hash in bytes.
    pub const LEN: usize = 32;

    /// Parse untrusted bytes, which must be exactly 32 long.
    ///
    /// # Errors
    /// [`TlogError::MalformedHash`] for any other length.
    pub fn from_slice(unverified: &[u8]) -> Result<Self> {
        let bytes: [u8; 32] = unverified.try_into().map_err(|_| {
            TlogError::MalformedHash(format!("expected 32 bytes, got {}", unverified.len()))
        })?;
        Ok(Self(bytes))
    }

    /// Parse 64 hex digits (either case).
    ///
    /// # Errors
    /// [`TlogError::MalformedHash`] if not hex or not 32 bytes.
    pub fn from_hex(unverified: &str) -> Result<Self> {
        if unverified.len() != 64 {
            return Err(TlogError::MalformedHash(format!(
                "expected 64 hex digits, got {}",
                unverified.len()
            )));
        }
        let mut out = [0u8; 32];
        for (i, pair) in unverified.as_bytes().chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0]);
            let lo = hex_val(pair[1]);
            match (hi, lo) {
                (Some(h), Some(l)) => out[i] = (h << 4) | l,
                _ => return Err(TlogError::MalformedHash("not hex".into())),
            }
        }
        Ok(Self(out))
    }

    /// Parse standard padded base64 of exactly 32 bytes.
    ///
    /// # Errors
    /// [`TlogError::MalformedHash`] if not canonical base64 or not 32 bytes.
    pub fn from_base64(unverified: &str) -> Result<Self> {
        let bytes = STANDARD
            .decode(unverified)
            .map_err(|e| TlogError::MalformedHash(e.to_string()))?;
        Self::from_slice(&bytes)
    }

    /// Lowercase hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        // `hex::encode` builds the string a char at a time; a proof answer formats dozens.
        let mut out = vec![0u8; 64];
        // Neither fails: the buffer is twice the hash's length, and hex digits are ASCII.
        if hex::encode_to_slice(self.0, &mut out).is_err() {
            return hex::encode(self.0);
        }
        String::from_utf8(out).unwrap_or_else(|_| hex::encode(self.0))
    }

    /// Standard padded base64.
    #[must_use]
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl From<[u8; 32]> for Hash {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// RFC 6962 leaf hash: `SHA-256(0x00 || data)`.
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    Hash(h.finalize().into())
}

/// RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// Root of the empty tree: `SHA-256()` (`e3b0c442…b855`).
#[must_use]
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// Reads stored hashes by [`stored_hash_index`].
///
/// Implementations return exactly one hash per requested index, in the requested order, or an
/// error. Callers always request indexes that exist for the tree size they work with.
pub trait HashReader {
    /// Read the stored hashes at `indexes`.
    ///
    /// # Errors
    /// Storage failures, or an index the store does not hold, as [`TlogError::HashRead`] or
    /// [`TlogError::InvalidStoredHashIndex`].
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>>;
}

impl<T: HashReader + ?Sized> HashReader for &T {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
        (**self).read_hashes(indexes)
    }
}

/// An in-memory store: element `i` is the stored hash with index `i`.
impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.get(i))
                    .copied()
                    .ok_or_else(|| {
                        TlogError::InvalidStoredHashIndex(format!(
                            "index {i} not stored (have {})",
                            self.len()
                        ))
                    })
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
        self.as_slice().read_hashes(indexes)
    }
}

/// The stored hashes of a committed tree followed by hashes not yet stored: indexes below
/// `base` are read from `committed` (in one call per read), the rest from `pending`, whose
/// element `i` is the stored hash with index `base + i`. What a writer reads while it
/// computes the hashes, root and proofs of a batch before storing them.
pub struct PendingOverlay<'a, R: HashReader + ?Sized> {
    /// The committed tree's store: holds the indexes below `base`.
    pub committed: &'a R,
    /// Number of hashes the committed tree stores.
    pub base: u64,
    /// Hashes computed since, from index `base` on.
    pub pending: &'a [Hash],
}

impl<R: HashReader + ?Sized> HashReader for PendingOverlay<'_, R> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
        let committed: Vec<u64> = indexes.iter().copied().filter(|&i| i < self.base).collect();
        let mut committed = if committed.is_empty() {
            Vec::new()
        } else {
            self.committed.read_hashes(&committed)?
        }
        .into_iter();
        indexes
            .iter()
            .map(|&i| {
                if i < self.base {
                    committed
                        .next()
                        .ok_or_else(|| TlogError::HashRead("short read".into()))
                } else {
                    usize::try_from(i - self.base)
                        .ok()
                        .and_then(|at| self.pending.get(at))
                        .copied()
                        .ok_or_else(|| {
                            TlogError::InvalidStoredHashIndex(format!("index {i} not yet computed"))
                        })
                }
            })
            .collect()
    }
}

/// Number of hashes stored for a tree of `n` records: `2n - popcount(n)`.
#[must_use]
pub fn stored_hash_count(n: u64) -> u64 {
    // Each record contributes its leaf hash plus one hash per subtree it completes; summed over
    // records 0..n this is n + (n - popcount(n)). Computed in u128 so it cannot overflow.
    let n = u128::from(n);
    u64::try_from(2 * n - u128::from(n.count_ones())).unwrap_or(u64::MAX)
}

/// Index of the stored hash of the complete subtree at height `level` and position `n`
/// (leaves `n*2^level .. (n+1)*2^level`).
///
/// That hash is written when its last leaf, `(n+1)*2^level - 1`, is appended: right after the
/// leaf hash, at offset `level`. Values that overflow `u64` saturate; such subtrees cannot
/// exist in a tree of at most `u64::MAX` leaves.
#[must_use]
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    if level >= 64 {
        return u64::MAX;
    }
    let last_leaf = (u128::from(n) + 1) << level;
    let last_leaf = last_leaf - 1;
    if last_leaf > u128::from(u64::MAX) {
        return u64::MAX;
    }
    let before = 2 * last_leaf - u128::from(last_leaf.count_ones());
    u64::try_from(before + u128::from(level)).unwrap_or(u64::MAX)
}

/// Inverse of [`stored_hash_index`]: the `(level, n)` of the subtree stored at `index`.
#[must_use]
pub fn split_stored_hash_index(index: u64) -> (u32, u64) {
    // stored_hash_count(m) <= 2m, so the record that wrote `index` is at least index/2; walk
    // forward while the next record's hashes still start at or before `index`. In u128, so
    // nothing overflows near u64::MAX.
    let target = u128::from(index);
    let mut record = u128::from(index / 2);
    let mut start = 2 * record - u128::from(record.count_ones());
    loop {
        // Record `record` writes 1 + trailing_ones(record) hashes.
        let next = start + 1 + u128::from(record.trailing_ones());
        if next > target {
            break;
        }
        record += 1;
        start = next;
    }
    let level = (target - start) as u32;
    (level, u64::try_from(record >> level).unwrap_or(u64::MAX))
}

/// The stored hashes to append when record `n` with leaf hash `leaf` is added to a tree of
/// size `n`: the leaf hash, then the hash of each subtree the record completes, smallest first.
///
/// `r` must already hold the stored hashes of the first `n` records.
///
/// # Errors
/// Propagates [`HashReader`] failures.
pub fn stored_hashes_for_leaf_hash(
    n: u64,
    leaf: Hash,
    r: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>> {
    // Every trailing 1 bit of n marks a left sibling subtree that record n completes.
    let completed = n.trailing_ones();
    let indexes: Vec<u64> = (0..completed)
        .map(|level| stored_hash_index(level, (n >> level) - 1))
        .collect();
    let siblings = r.read_hashes(&indexes)?;
    check_len(&siblings, indexes.len())?;
    let mut out = Vec::with_capacity(1 + siblings.len());
    let mut h = leaf;
    out.push(h);
    for left in &siblings {
        h = node_hash(left, &h);
        out.push(h);
    }
    Ok(out)
}

/// [`stored_hashes_for_leaf_hash`] for a record's data (hashing it with [`leaf_hash`]).
///
/// # Errors
/// Propagates [`HashReader`] failures.
pub fn stored_hashes_for_record(
    n: u64,
    data: &[u8],
    r: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>> {
    stored_hashes_for_leaf_hash(n, leaf_hash(data), r)
}

fn check_len(hashes: &[Hash], want: usize) -> Result<()> {
    if hashes.len() == want {
        Ok(())
    } else {
        Err(TlogError::HashRead(format!(
            "reader returned {} hashes, wanted {want}",
            hashes.len()
        )))
    }
}

/// Appends the stored-hash indexes of the maximal complete subtrees covering leaves
/// `lo..hi`, left to right.
fn cover(mut lo: u64, hi: u64, out: &mut Vec<u64>) {
    while lo < hi {
        // Largest aligned power of two starting at lo that fits in the range.
        let mut level = if lo == 0 { 63 } else { lo.trailing_zeros() };
        while level > 0 && (1u64 << level) > hi - lo {
            level -= 1;
        }
        out.push(stored_hash_index(level, lo >> level));
        lo += 1u64 << level;
    }
}

/// Folds the hashes of consecutive complete subtrees (left to right) into the hash of their
/// union: the rightmost two are combined first, as RFC 6962 does for a ragged right edge.
fn fold(hashes: &[Hash]) -> Result<Hash> {
    let (last, rest) = hashes
        .split_last()
        .ok_or_else(|| TlogError::HashRead("empty subtree".into()))?;
    Ok(rest
        .iter()
        .rev()
        .fold(*last, |acc, left| node_hash(left, &acc)))
}

/// A request for the hash of leaves `lo..hi`, resolved in one batched read.
struct RangePlan {
    /// Per range: how many stored hashes it needs.
    counts: Vec<usize>,
    indexes: Vec<u64>,
}

impl RangePlan {
    fn new() -> Self {
        Self {
            counts: Vec::new(),
            indexes: Vec::new(),
        }
    }

    fn add(&mut self, lo: u64, hi: u64) {
        let before = self.indexes.len();
        cover(lo, hi, &mut self.indexes);
        self.counts.push(self.indexes.len() - before);
    }

    fn resolve(self, r: &(impl HashReader + ?Sized)) -> Result<Vec<Hash>> {
        let hashes = r.read_hashes(&self.indexes)?;
        check_len(&hashes, self.indexes.len())?;
        let mut out = Vec::with_capacity(self.counts.len());
        let mut at = 0;
        for count in self.counts {
            out.push(fold(&hashes[at..at + count])?);
            at += count;
        }
        Ok(out)
    }
}

/// Largest power of two strictly less than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The Merkle tree hash (root) of the first `size` records.
///
/// # Errors
/// Propagates [`HashReader`] failures.
pub fn tree_hash(size: u64, r: &(impl HashReader + ?Sized)) -> Result<Hash> {
    if size == 0 {
        return Ok(empty_root());
    }
    let mut plan = RangePlan::new();
    plan.add(0, size);
    Ok(plan.resolve(r)?[0])
}

/// The hash of leaves `lo..hi` (a subtree of the tree of any size `>= hi`), `lo < hi`.
///
/// # Errors
/// [`TlogError::InvalidTreeSizes`] if `lo >= hi`; propagates [`HashReader`] failures.
pub fn range_hash(lo: u64, hi: u64, r: &(impl HashReader + ?Sized)) -> Result<Hash> {
    if lo >= hi {
        return Err(TlogError::InvalidTreeSizes { old: lo, new: hi });
    }
    let mut plan = RangePlan::new();
    plan.add(lo, hi);
    Ok(plan.resolve(r)?[0])
}

/// RFC 9162 §2.1.3.1 inclusion proof (audit path) for leaf `index` in the tree of `size`
/// leaves, ordered from the leaf towards the root.
///
/// # Errors
/// [`TlogError::IndexOutOfRange`] if `index >= size`; propagates [`HashReader`] failures.
pub fn inclusion_proof(size: u64, index: u64, r: &(impl HashReader + ?Sized)) -> Result<Vec<Hash>> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    // Walk down from the root, recording the sibling range at each split; the proof lists
    // them bottom-up.
    let mut siblings = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            siblings.push((lo + k, hi));
            hi = lo + k;
        } else {
            siblings.push((lo, lo + k));
            lo += k;
        }
    }
    let mut plan = RangePlan::new();
    for &(a, b) in siblings.iter().rev() {
        plan.add(a, b);
    }
    plan.resolve(r)
}

/// RFC 9162 §2.1.4.1 consistency proof between the trees of `old` and `new` leaves.
///
/// # Errors
/// [`TlogError::InvalidTreeSizes`] unless `0 < old <= new`; propagates [`HashReader`] failures.
pub fn consistency_proof(old: u64, new: u64, r: &(impl HashReader + ?Sized)) -> Result<Vec<Hash>> {
    if old == 0 || old > new {
        return Err(TlogError::InvalidTreeSizes { old, new });
    }
    // SUBPROOF(m, D[lo:hi], b) unrolled: each step either descends left (recording the right
    // sibling) or right (recording the left sibling); the recorded ranges are emitted in
    // reverse, after the range where the old tree's edge is found.
    let mut tail = Vec::new();
    let (mut m, mut lo, mut hi, mut whole) = (old, 0u64, new, true);
    let first = loop {
        let n = hi - lo;
        if m == n {
            break if whole { None } else { Some((lo, hi)) };
        }
        let k = split_point(n);
        if m <= k {
            tail.push((lo + k, hi));
            hi = lo + k;
        } else {
            tail.push((lo, lo + k));
            m -= k;
            lo += k;
            whole = false;
        }
    };
    let mut plan = RangePlan::new();
    if let Some((a, b)) = first {
        plan.add(a, b);
    }
    for &(a, b) in tail.iter().rev() {
        plan.add(a, b);
    }
    plan.resolve(r)
}

/// Verify an inclusion proof (RFC 9162 §2.1.3.2): `leaf` is leaf `index` of the tree of `size`
/// leaves with root `root`.
///
/// # Errors
/// [`TlogError::IndexOutOfRange`] or [`TlogError::InvalidProof`].
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<()> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let computed = root_from_inclusion_proof(index, size, leaf, proof)?;
    if computed != *root {
        return Err(TlogError::InvalidProof("computed root does not match"));
    }
    Ok(())
}

/// The root implied by an inclusion proof, or an error if the proof has the wrong shape.
///
/// # Errors
/// [`TlogError::IndexOutOfRange`] or [`TlogError::InvalidProof`].
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(TlogError::InvalidProof("inclusion proof is too long"));
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(TlogError::InvalidProof("inclusion proof is too short"));
    }
    Ok(r)
}

/// Verify a consistency proof (RFC 9162 §2.1.4.2) between the tree of `old` leaves with root
/// `old_root` and the tree of `new` leaves with root `new_root`.
///
/// Like transparency-dev/merkle, a proof from the empty tree (`old == 0`) is rejected: it
/// proves nothing, and accepting it would let a caller skip verification by claiming size 0.
///
/// # Errors
/// [`TlogError::InvalidTreeSizes`] or [`TlogError::InvalidProof`].
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<()> {
    if old == 0 || old > new {
        return Err(TlogError::InvalidTreeSizes { old, new });
    }
    if old == new {
        if !proof.is_empty() {
            return Err(TlogError::InvalidProof(
                "proof between equal sizes must be empty",
            ));
        }
        if old_root != new_root {
            return Err(TlogError::InvalidProof("equal sizes but different roots"));
        }
        return Ok(());
    }
    let Some((first_elem, rest)) = proof.split_first() else {
        return Err(TlogError::InvalidProof("empty consistency proof"));
    };
    // When `old` is a power of two the old root itself is the implicit first element.
    let (start, rest) = if old.is_power_of_two() {
        (*old_root, proof)
    } else {
        (*first_elem, rest)
    };
    let (mut f_n, mut s_n) = (old - 1, new - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (start, start);
    for c in rest {
        if s_n == 0 {
            return Err(TlogError::InvalidProof("consistency proof is too long"));
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(TlogError::InvalidProof("consistency proof is too short"));
    }
    if f_r != *old_root {
        return Err(TlogError::InvalidProof("old root does not match"));
    }
    if s_r != *new_root {
        return Err(TlogError::InvalidProof("new root does not match"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn build(n: u64) -> Vec<Hash> {
        let mut stored = Vec::new();
        for i in 0..n {
            let new = stored_hashes_for_record(i, &i.to_be_bytes(), &stored).unwrap();
            stored.extend(new);
        }
        stored
    }

    #[test]
    fn stored_hash_index_round_trips() {
        for index in 0..5000u64 {
            let (level, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(level, n), index, "index {index}");
        }
        for index in [u64::MAX, u64::MAX - 1, u64::MAX / 2, 1 << 63] {
            let (level, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(level, n), index, "index {index}");
        }
        assert_eq!(stored_hash_count(0), 0);
        assert_eq!(stored_hash_count(1), 1);
        assert_eq!(stored_hash_count(2), 3);
        assert_eq!(stored_hash_count(4), 7);
        assert_eq!(stored_hash_index(0, 4), 7);
        assert_eq!(stored_hash_index(2, 0), 6);
    }

    #[test]
    fn stored_counts_match_built_trees() {
        for n in 0..300 {
            assert_eq!(build(n).len() as u64, stored_hash_count(n));
        }
    }

    #[test]
    fn hash_parsing_is_strict() {
        let h = leaf_hash(b"x");
        let mut bytes = [0u8; 32];
        bytes[0] = 0x0f;
        bytes[31] = 0xa0;
        assert_eq!(
            Hash(bytes).to_hex(),
            format!("0f{}a0", "0".repeat(60)),
            "lower-case hex, first byte first"
        );
        assert_eq!(Hash::from_hex(&h.to_hex()).unwrap(), h);
        assert_eq!(Hash::from_hex(&h.to_hex().to_uppercase()).unwrap(), h);
        assert_eq!(Hash::from_base64(&h.to_base64()).unwrap(), h);
        assert!(Hash::from_hex(&h.to_hex()[2..]).is_err());
        assert!(Hash::from_hex(&"g".repeat(64)).is_err());
        assert!(Hash::from_slice(&[0; 31]).is_err());
        assert!(Hash::from_base64("AAAA").is_err());
        assert_eq!(format!("{h}"), h.to_hex());
        assert_eq!(format!("{h:?}"), format!("Hash({})", h.to_hex()));
    }

    #[test]
    fn proofs_with_wrong_sizes_are_refused() {
        let stored = build(5);
        assert!(matches!(
            inclusion_proof(5, 5, &stored),
            Err(TlogError::IndexOutOfRange { index: 5, size: 5 })
        ));
        assert!(consistency_proof(0, 5, &stored).is_err());
        assert!(consistency_proof(6, 5, &stored).is_err());
        assert!(
            tree_hash(6, &stored).is_err(),
            "size beyond stored hashes must fail"
        );
        assert_eq!(
            consistency_proof(5, 5, &stored).unwrap(),
            Vec::<Hash>::new()
        );
    }

    #[test]
    fn pending_overlay_reads_committed_then_pending_in_request_order() {
        let all: Vec<Hash> = (0u8..10).map(|b| Hash([b; 32])).collect();
        let (committed, pending) = all.split_at(6);
        let overlay = PendingOverlay {
            committed,
            base: 6,
            pending,
        };
        let order = [9, 0, 6, 5, 7, 1];
        let got = overlay.read_hashes(&order).expect("read");
        let want: Vec<Hash> = order.iter().map(|&i| all[i as usize]).collect();
        assert_eq!(got, want);
        // Computed hashes end at index 9; the committed store's own errors pass through.
        assert!(matches!(
            overlay.read_hashes(&[10]),
            Err(TlogError::InvalidStoredHashIndex(_))
        ));
        let short = PendingOverlay {
            committed: &all[..3],
            base: 6,
            pending,
        };
        assert!(short.read_hashes(&[4]).is_err());
        assert_eq!(short.read_hashes(&[6]).expect("pending only"), vec![all[6]]);
    }
}
