//! C2SP tlog-tiles (c2sp.org/tlog-tiles): tile paths, hash tiles and entry bundles.
//!
//! Paths:
//! ```text
//! tile/<L>/<N>[.p/<W>]          hash tile: level L in 0..=63, W in 1..=255 for partial tiles
//! tile/entries/<N>[.p/<W>]      entry bundle
//! ```
//! `<N>` is written in zero-padded groups of three digits, every group but the last prefixed
//! with `x`: 1234067 is `x001/x234/067`. A full tile has width 256 and no `.p/` suffix.
//!
//! A level-L hash tile N holds, for `i` in `0..W`, the root of the complete subtree covering
//! leaves `(N*256 + i) * 256^L .. (N*256 + i + 1) * 256^L`, as 32-byte hashes back to back.
//! For a tree of size `s`, level L has `floor(s / 256^(L+1))` full tiles and a partial tile of
//! width `floor(s / 256^L) mod 256` when that is not zero.
//!
//! An entry bundle is the concatenation, for each entry, of a big-endian `uint16` length and the
//! entry bytes (`opaque entry<0..2^16-1>` in TLS presentation language), so entries are at most
//! 65535 bytes.

use std::fmt::Write as _;

use crate::merkle::{Hash, HashReader, stored_hash_index};
use crate::{Result, TlogError};

/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u16 = 256;
/// Tree levels spanned by one tile level (`256 = 2^8`).
pub const TILE_HEIGHT: u32 = 8;
/// Highest tile level the path syntax allows.
pub const MAX_TILE_LEVEL: u8 = 63;
/// Largest entry an entry bundle can hold.
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

/// What a tile holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TileKind {
    /// Merkle tree hashes (`tile/<L>/<N>`).
    Hash,
    /// An entry bundle (`tile/entries/<N>`); its level is always 0.
    Entries,
}

/// A tile or entry bundle address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TilePath {
    /// Tile level (0 for entry bundles).
    pub level: u8,
    /// Tile index `N` within its level.
    pub index: u64,
    /// Number of hashes or entries, `1..=256`; 256 is a full tile.
    pub width: u16,
    /// Hash tile or entry bundle.
    pub kind: TileKind,
}

impl TilePath {
    /// A hash tile address.
    #[must_use]
    pub fn hash(level: u8, index: u64, width: u16) -> Self {
        Self {
            level,
            index,
            width,
            kind: TileKind::Hash,
        }
    }

    /// An entry bundle address.
    #[must_use]
    pub fn entries(index: u64, width: u16) -> Self {
        Self {
            level: 0,
            index,
            width,
            kind: TileKind::Entries,
        }
    }

    /// The entry bundle holding entry `index` in a tree of `size` entries.
    ///
    /// # Errors
    /// [`TlogError::IndexOutOfRange`] if `index >= size`.
    pub fn entries_for_index(index: u64, size: u64) -> Result<Self> {
        if index >= size {
            return Err(TlogError::IndexOutOfRange { index, size });
        }
        let n = index / u64::from(TILE_WIDTH);
        let width = (size - n * u64::from(TILE_WIDTH)).min(u64::from(TILE_WIDTH)) as u16;
        Ok(Self::entries(n, width))
    }

    /// Whether this is a full (256-wide) tile.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// The path, e.g. `tile/0/x001/x234/067.p/5` or `tile/entries/000`.
    #[must_use]
    pub fn to_path(&self) -> String {
        let mut out = String::from("tile/");
        match self.kind {
            TileKind::Hash => {
                let _ = write!(out, "{}/", self.level);
            }
            TileKind::Entries => out.push_str("entries/"),
        }
        out.push_str(&encode_index(self.index));
        if self.width != TILE_WIDTH {
            let _ = write!(out, ".p/{}", self.width);
        }
        out
    }

    /// Parse an untrusted path strictly: canonical index groups, no leading zeros, level at most
    /// 63, partial width 1..=255.
    ///
    /// # Errors
    /// [`TlogError::MalformedTilePath`].
    pub fn parse(unverified: &str) -> Result<Self> {
        let bad = |reason| TlogError::MalformedTilePath {
            path: unverified.to_owned(),
            reason,
        };
        let rest = unverified
            .strip_prefix("tile/")
            .ok_or_else(|| bad("must start with tile/"))?;
        let (first, rest) = rest
            .split_once('/')
            .ok_or_else(|| bad("missing tile index"))?;
        let (kind, level) = if first == "entries" {
            (TileKind::Entries, 0)
        } else {
            let level =
                parse_decimal(first).ok_or_else(|| bad("level is not a canonical number"))?;
            if level > u64::from(MAX_TILE_LEVEL) {
                return Err(bad("level above 63"));
            }
            (TileKind::Hash, level as u8)
        };
        let (n_str, width) = match rest.split_once(".p/") {
            Some((n, w)) => {
                let w = parse_decimal(w).ok_or_else(|| bad("width is not a canonical number"))?;
                if w == 0 || w >= u64::from(TILE_WIDTH) {
                    return Err(bad("partial width must be 1..=255"));
                }
                (n, w as u16)
            }
            None => (rest, TILE_WIDTH),
        };
        let index = parse_index(n_str).ok_or_else(|| bad("malformed tile index"))?;
        Ok(Self {
            level,
            index,
            width,
            kind,
        })
    }
}

/// Canonical decimal without sign or leading zeros.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// `x`-prefixed three-digit groups, canonical (no all-zero leading group).
fn parse_index(s: &str) -> Option<u64> {
    let groups: Vec<&str> = s.split('/').collect();
    let (last, init) = groups.split_last()?;
    let mut n: u64 = 0;
    for (i, g) in init
        .iter()
        .map(|g| g.strip_prefix('x'))
        .chain([Some(*last)])
        .enumerate()
    {
        let g = g?;
        if g.len() != 3 || !g.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if i == 0 && g == "000" && groups.len() > 1 {
            return None;
        }
        let v: u64 = g.parse().ok()?;
        n = n.checked_mul(1000)?.checked_add(v)?;
    }
    Some(n)
}

fn encode_index(mut n: u64) -> String {
    let mut groups = Vec::new();
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let mut out = String::new();
    for (i, g) in groups.iter().rev().enumerate() {
        if i + 1 < groups.len() {
            let _ = write!(out, "x{g:03}/");
        } else {
            let _ = write!(out, "{g:03}");
        }
    }
    out
}

/// Number of complete subtrees at tile level `level` in a tree of `size` leaves
/// (`floor(size / 256^level)`).
fn level_count(size: u64, level: u32) -> u64 {
    let shift = level * TILE_HEIGHT;
    if shift >= 64 { 0 } else { size >> shift }
}

/// Every hash tile of a tree of `size` leaves: all full tiles and the partial tile (if any) of
/// each level, level by level, in index order.
#[must_use]
pub fn tiles_for_size(size: u64) -> Vec<TilePath> {
    new_tiles(0, size)
}

/// The hash tiles that appear or grow when a tree goes from `old` to `new` leaves: what a log
/// has to (re)write after integrating `old..new`. Empty if `new <= old`.
#[must_use]
pub fn new_tiles(old: u64, new: u64) -> Vec<TilePath> {
    let mut out = Vec::new();
    if new <= old {
        return out;
    }
    let w = u64::from(TILE_WIDTH);
    for level in 0..=u32::from(MAX_TILE_LEVEL) {
        let (old_n, new_n) = (level_count(old, level), level_count(new, level));
        if new_n == 0 {
            break;
        }
        for t in old_n / w..=(new_n - 1) / w {
            let new_width = (new_n - t * w).min(w);
            let old_width = old_n.saturating_sub(t * w).min(w);
            if new_width > old_width {
                out.push(TilePath::hash(level as u8, t, new_width as u16));
            }
        }
    }
    out
}

/// The entry bundles that appear or grow when a tree goes from `old` to `new` entries.
#[must_use]
pub fn new_entry_bundles(old: u64, new: u64) -> Vec<TilePath> {
    new_tiles(old, new)
        .into_iter()
        .filter(|t| t.level == 0)
        .map(|t| TilePath::entries(t.index, t.width))
        .collect()
}

/// Where the tree node at (`tree_level`, `tree_index`) lives in the tile structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeTileAddress {
    /// Tile level (`tree_level / 8`).
    pub tile_level: u32,
    /// Tile index within that level.
    pub tile_index: u64,
    /// Level of the node inside the tile (0 = the tile's stored hashes).
    pub node_level: u32,
    /// Index of the node within that level of the tile.
    pub node_index: u64,
}

/// Map a tree node (height, index) to its tile and position within the tile.
#[must_use]
pub fn node_tile_address(tree_level: u32, tree_index: u64) -> NodeTileAddress {
    let tile_level = tree_level / TILE_HEIGHT;
    let node_level = tree_level % TILE_HEIGHT;
    // A tile spans 256 / 2^node_level nodes at this level.
    let per_tile_shift = TILE_HEIGHT - node_level;
    NodeTileAddress {
        tile_level,
        tile_index: tree_index >> per_tile_shift,
        node_level,
        node_index: tree_index & ((1u64 << per_tile_shift) - 1),
    }
}

/// The hashes in hash tile (`level`, `index`, `width`), read from stored hashes.
///
/// The caller must make sure the tree covers the tile (`(index*256 + width) * 256^level`
/// leaves at least); otherwise the reader reports a missing index.
///
/// # Errors
/// [`TlogError::InvalidTile`] for a width outside `1..=256` or a tile beyond any `u64` tree;
/// propagates [`HashReader`] failures.
pub fn read_tile_hashes(
    level: u8,
    index: u64,
    width: u16,
    r: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>> {
    if width == 0 || width > TILE_WIDTH {
        return Err(TlogError::InvalidTile(format!("width {width}")));
    }
    let tree_level = u32::from(level) * TILE_HEIGHT;
    let first = index.checked_mul(u64::from(TILE_WIDTH));
    let last = first.and_then(|f| f.checked_add(u64::from(width) - 1));
    // The last subtree's final leaf must fit in u64.
    let fits = last
        .filter(|_| tree_level < 64)
        .and_then(|l| l.checked_add(1))
        .and_then(|l| l.checked_mul(1u64 << tree_level))
        .is_some();
    let (Some(first), true) = (first, fits) else {
        return Err(TlogError::InvalidTile(format!(
            "tile {level}/{index} is beyond any tree"
        )));
    };
    let indexes: Vec<u64> = (0..u64::from(width))
        .map(|i| stored_hash_index(tree_level, first + i))
        .collect();
    let hashes = r.read_hashes(&indexes)?;
    if hashes.len() != indexes.len() {
        return Err(TlogError::HashRead("short read of tile hashes".into()));
    }
    Ok(hashes)
}

/// Hash tile bytes: the hashes back to back.
#[must_use]
pub fn tile_bytes(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

/// Encode an entry bundle: each entry as a big-endian `uint16` length followed by its bytes.
///
/// # Errors
/// [`TlogError::EntryTooLarge`] for an entry above 65535 bytes;
/// [`TlogError::InvalidTile`] for more than 256 entries.
pub fn encode_entry_bundle(entries: &[&[u8]]) -> Result<Vec<u8>> {
    if entries.len() > usize::from(TILE_WIDTH) {
        return Err(TlogError::InvalidTile(format!(
            "{} entries in one bundle",
            entries.len()
        )));
    }
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
    for e in entries {
        let len = u16::try_from(e.len()).map_err(|_| TlogError::EntryTooLarge(e.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decode an untrusted entry bundle.
///
/// # Errors
/// [`TlogError::MalformedEntryBundle`] if it is truncated or holds more than 256 entries.
pub fn decode_entry_bundle(unverified: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut rest = unverified;
    while !rest.is_empty() {
        if out.len() == usize::from(TILE_WIDTH) {
            return Err(TlogError::MalformedEntryBundle("more than 256 entries"));
        }
        let [hi, lo, tail @ ..] = rest else {
            return Err(TlogError::MalformedEntryBundle("truncated length prefix"));
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if tail.len() < len {
            return Err(TlogError::MalformedEntryBundle("truncated entry"));
        }
        let (entry, next) = tail.split_at(len);
        out.push(entry.to_vec());
        rest = next;
    }
    Ok(out)
}
