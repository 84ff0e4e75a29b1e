//! `TilePath::parse` and `decode_entry_bundle` on untrusted input (c2sp.org/tlog-tiles), and
//! the `to_path` / `encode_entry_bundle` encoders they must invert.
//!
//! Invariants:
//! - never panics;
//! - an accepted path is canonical: `to_path()` reproduces it, its level is at most 63, its
//!   width in 1..=256 and entry bundles are at level 0;
//! - an accepted entry bundle holds at most 256 entries and `encode_entry_bundle` reproduces
//!   the input exactly;
//! - every tile address built from the input encodes to a path that parses back to it;
//! - `entries_for_index` names the bundle that holds the index.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigstack_tlog::TilePath;
use sigstack_tlog::tiles::{
    MAX_TILE_LEVEL, TILE_WIDTH, TileKind, decode_entry_bundle, encode_entry_bundle,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(tile) = TilePath::parse(text)
    {
        assert_eq!(tile.to_path(), text, "accepted paths must be canonical");
        assert!(tile.level <= MAX_TILE_LEVEL);
        assert!((1..=TILE_WIDTH).contains(&tile.width));
        assert!(tile.kind == TileKind::Hash || tile.level == 0);
        assert_eq!(tile.is_full(), tile.width == TILE_WIDTH);
    }

    if let Ok(entries) = decode_entry_bundle(data) {
        assert!(entries.len() <= usize::from(TILE_WIDTH));
        let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
        assert_eq!(
            encode_entry_bundle(&refs).expect("decoded entries re-encode"),
            data,
            "entry bundle round trip"
        );
    }

    if let Some(bytes) = data.get(..27) {
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let level = bytes[0] % (MAX_TILE_LEVEL + 1);
        let index = u64_at(1);
        let width = 1 + u16::from_be_bytes([bytes[9], bytes[10]]) % TILE_WIDTH;
        let tile = if bytes[0] & 0x80 == 0 {
            TilePath::hash(level, index, width)
        } else {
            TilePath::entries(index, width)
        };
        assert_eq!(
            TilePath::parse(&tile.to_path()).expect("encoded path parses"),
            tile
        );

        let (entry, size) = (u64_at(11), u64_at(19));
        match TilePath::entries_for_index(entry, size) {
            Ok(bundle) => {
                assert!(entry < size);
                assert_eq!(bundle.kind, TileKind::Entries);
                assert_eq!(bundle.index, entry / u64::from(TILE_WIDTH));
                assert!(entry % u64::from(TILE_WIDTH) < u64::from(bundle.width));
                assert_eq!(
                    TilePath::parse(&bundle.to_path()).expect("bundle path"),
                    bundle
                );
            }
            Err(_) => assert!(entry >= size),
        }
    }
});
