//! c2sp.org/tlog-tiles vectors (spec text and transparency-dev/tessera tests,
//! tests/data/c2sp-tlog-tiles-paths.json), the spec's size-70000 worked example, tile contents
//! against direct Merkle computation, and entry bundles.

#![allow(clippy::unwrap_used)] // tests may unwrap

use serde_json::Value;
use sigstack_tlog::merkle::{Hash, leaf_hash, range_hash, stored_hashes_for_record, tree_hash};
use sigstack_tlog::tiles::{
    self, decode_entry_bundle, encode_entry_bundle, new_entry_bundles, new_tiles,
    node_tile_address, read_tile_hashes, tiles_for_size,
};
use sigstack_tlog::{TileKind, TilePath, TlogError};

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/c2sp-tlog-tiles-paths.json")).unwrap()
}

fn width(partial: &Value) -> u16 {
    match partial.as_u64().unwrap() {
        0 => 256,
        w => w as u16,
    }
}

#[test]
fn hash_tile_paths() {
    let v = vectors();
    for c in v["c2sp_tlog_tiles"]["tile_path"].as_array().unwrap() {
        let t = TilePath::hash(
            c["level"].as_u64().unwrap() as u8,
            c["index"].as_u64().unwrap(),
            width(&c["partial_width"]),
        );
        assert_eq!(t.to_path(), c["path"].as_str().unwrap());
        assert_eq!(TilePath::parse(c["path"].as_str().unwrap()).unwrap(), t);
    }
}

#[test]
fn entry_bundle_paths() {
    let v = vectors();
    for c in v["c2sp_tlog_tiles"]["entries_path"].as_array().unwrap() {
        let t = TilePath::entries(c["index"].as_u64().unwrap(), width(&c["partial_width"]));
        assert_eq!(t.to_path(), c["path"].as_str().unwrap());
        assert_eq!(TilePath::parse(c["path"].as_str().unwrap()).unwrap(), t);
        assert_eq!(t.kind, TileKind::Entries);
    }
    for c in v["c2sp_tlog_tiles"]["entries_path_for_log_index"]
        .as_array()
        .unwrap()
    {
        let t = TilePath::entries_for_index(
            c["entry_seq"].as_u64().unwrap(),
            c["log_size"].as_u64().unwrap(),
        )
        .unwrap();
        assert_eq!(t.to_path(), c["path"].as_str().unwrap(), "{c}");
    }
    assert!(matches!(
        TilePath::entries_for_index(10, 10),
        Err(TlogError::IndexOutOfRange { .. })
    ));
}

#[test]
fn index_encoding() {
    let v = vectors();
    for c in v["c2sp_tlog_tiles"]["n_with_suffix"].as_array().unwrap() {
        let t = TilePath::hash(0, c["index"].as_u64().unwrap(), width(&c["partial_width"]));
        assert_eq!(
            t.to_path().strip_prefix("tile/0/").unwrap(),
            c["out"].as_str().unwrap()
        );
    }
    let ex = &v["c2sp_tlog_tiles"]["spec_examples"][0];
    let t = TilePath::hash(0, ex["index"].as_u64().unwrap(), 256);
    assert_eq!(
        t.to_path(),
        format!("tile/0/{}", ex["encoded_N"].as_str().unwrap())
    );
    assert_eq!(TilePath::hash(0, 1000, 256).to_path(), "tile/0/x001/000");
    assert_eq!(
        TilePath::hash(0, u64::MAX, 256).to_path(),
        "tile/0/x018/x446/x744/x073/x709/x551/615"
    );
    assert_eq!(
        TilePath::parse("tile/0/x018/x446/x744/x073/x709/x551/615")
            .unwrap()
            .index,
        u64::MAX
    );
}

#[test]
fn parse_ok_and_must_fail() {
    let v = vectors();
    for c in v["c2sp_tlog_tiles"]["parse_level_and_index_ok"]
        .as_array()
        .unwrap()
    {
        let path = format!(
            "tile/{}/{}",
            c["level_str"].as_str().unwrap(),
            c["index_str"].as_str().unwrap()
        );
        let t = TilePath::parse(&path).unwrap();
        assert_eq!(u64::from(t.level), c["level"].as_u64().unwrap());
        assert_eq!(t.index, c["index"].as_u64().unwrap());
        assert_eq!(t.width, width(&c["partial_width"]));
    }
    let must_fail = v["c2sp_tlog_tiles"]["parse_level_and_index_must_fail"]
        .as_array()
        .unwrap();
    assert_eq!(must_fail.len(), 15);
    for c in must_fail {
        let path = format!(
            "tile/{}/{}",
            c["level_str"].as_str().unwrap(),
            c["index_str"].as_str().unwrap()
        );
        assert!(
            matches!(
                TilePath::parse(&path),
                Err(TlogError::MalformedTilePath { .. })
            ),
            "{path} must fail"
        );
    }
    // Non-canonical spellings the vectors do not cover.
    for bad in [
        "tile/00/000",
        "tile/0/x000/001",
        "tile/0/000.p/0",
        "tile/0/000.p/05",
        "tile/0/000.p/256",
        "tile/0/000/",
        "tile/entries/000.p/",
        "tile/entries/x000/000",
        "tiles/0/000",
        "tile/0",
        "/tile/0/000",
        "tile/data/000",
    ] {
        assert!(TilePath::parse(bad).is_err(), "{bad} must fail");
    }
    // Go sumdb tile paths (with a height component) are a different scheme.
    for c in v["go_sumdb_tlog_tiles"]["roundtrip"].as_array().unwrap() {
        let path = c["path"].as_str().unwrap();
        assert!(TilePath::parse(path).is_err(), "{path} is sumdb, not c2sp");
    }
}

#[test]
fn node_coordinates_map_to_tiles() {
    let v = vectors();
    for c in v["c2sp_tlog_tiles"]["node_coords_to_tile_address"]
        .as_array()
        .unwrap()
    {
        let a = node_tile_address(
            c["tree_level"].as_u64().unwrap() as u32,
            c["tree_index"].as_u64().unwrap(),
        );
        assert_eq!(
            u64::from(a.tile_level),
            c["tile_level"].as_u64().unwrap(),
            "{c}"
        );
        assert_eq!(a.tile_index, c["tile_index"].as_u64().unwrap(), "{c}");
        assert_eq!(
            u64::from(a.node_level),
            c["node_level_in_tile"].as_u64().unwrap(),
            "{c}"
        );
        assert_eq!(
            a.node_index,
            c["node_index_in_tile"].as_u64().unwrap(),
            "{c}"
        );
    }
}

#[test]
fn spec_worked_examples() {
    let v = vectors();
    let ex = &v["c2sp_tlog_tiles"]["spec_examples"][1];
    assert_eq!(ex["tree_size"], 70000);
    let tiles = tiles_for_size(70000);
    let count = |level: u8, full: bool| {
        tiles
            .iter()
            .filter(|t| t.level == level && t.is_full() == full)
            .count()
    };
    // "273 full level 0 tiles, one partial level 0 tile of width 112, one full level 1 tile,
    // one partial level 1 tile of width 17, and one partial level 2 tile of width 1"
    assert_eq!((count(0, true), count(0, false)), (273, 1));
    assert_eq!((count(1, true), count(1, false)), (1, 1));
    assert_eq!((count(2, true), count(2, false)), (0, 1));
    assert_eq!(tiles.len(), 277);
    let paths: Vec<String> = tiles.iter().map(TilePath::to_path).collect();
    for (_, p) in ex["derived_paths_not_upstream"].as_object().unwrap() {
        assert!(paths.contains(&p.as_str().unwrap().to_owned()), "{p}");
    }
    assert_eq!(
        tiles
            .iter()
            .filter(|t| !t.is_full())
            .map(|t| t.width)
            .collect::<Vec<_>>(),
        [112, 17, 1]
    );

    let ex = &v["c2sp_tlog_tiles"]["spec_examples"][2];
    let paths: Vec<String> = tiles_for_size(256).iter().map(TilePath::to_path).collect();
    let want: Vec<String> = ex["derived_paths_not_upstream"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, want);
    assert!(tiles_for_size(0).is_empty());
}

#[test]
fn new_tiles_cover_growth() {
    // Growing 70000 -> 70100 rewrites the level-0 partial (112 -> 212), and nothing else grows
    // at level 1 or 2 (273 -> 273 subtrees at level 1).
    let t = new_tiles(70000, 70100);
    assert_eq!(t, vec![TilePath::hash(0, 273, 212)]);
    // Crossing a tile boundary completes one tile and starts the next.
    let t = new_tiles(250, 260);
    assert_eq!(
        t,
        vec![
            TilePath::hash(0, 0, 256),
            TilePath::hash(0, 1, 4),
            TilePath::hash(1, 0, 1)
        ]
    );
    assert_eq!(
        new_entry_bundles(250, 260),
        vec![TilePath::entries(0, 256), TilePath::entries(1, 4)]
    );
    assert!(new_tiles(10, 10).is_empty());
    // Growing step by step yields the same final set of tiles as computing it at once.
    let mut last: std::collections::HashMap<(u8, u64), u16> = Default::default();
    let mut size = 0;
    for step in [1u64, 255, 1, 700, 65000, 4043] {
        for t in new_tiles(size, size + step) {
            let prev = last.insert((t.level, t.index), t.width);
            assert!(prev.is_none_or(|w| w < t.width));
        }
        size += step;
    }
    let all: std::collections::HashMap<(u8, u64), u16> = tiles_for_size(size)
        .into_iter()
        .map(|t| ((t.level, t.index), t.width))
        .collect();
    assert_eq!(last, all);
}

#[test]
fn tile_hashes_equal_subtree_roots() {
    const SIZE: u64 = 70000;
    let mut stored = Vec::new();
    let mut leaves = Vec::new();
    for i in 0..SIZE {
        let data = i.to_be_bytes();
        leaves.push(leaf_hash(&data));
        let new = stored_hashes_for_record(i, &data, &stored).unwrap();
        stored.extend(new);
    }
    for t in tiles_for_size(SIZE) {
        let hashes = read_tile_hashes(t.level, t.index, t.width, &stored).unwrap();
        assert_eq!(hashes.len(), usize::from(t.width));
        let span = 1u64 << (8 * u32::from(t.level));
        // Spot-check the first and last hash of every tile against a direct computation.
        for i in [0, u64::from(t.width) - 1] {
            let start = (t.index * 256 + i) * span;
            let want = if t.level == 0 {
                leaves[start as usize]
            } else {
                range_hash(start, start + span, &stored).unwrap()
            };
            assert_eq!(hashes[i as usize], want, "{} hash {i}", t.to_path());
        }
    }
    // The level-2 partial tile's only hash is the root of the first 65536 leaves.
    let top = read_tile_hashes(2, 0, 1, &stored).unwrap();
    assert_eq!(top[0], tree_hash(65536, &stored).unwrap());
    // The tree does not cover a second level-2 hash.
    assert!(read_tile_hashes(2, 0, 2, &stored).is_err());
    assert!(matches!(
        read_tile_hashes(0, 0, 0, &stored),
        Err(TlogError::InvalidTile(_))
    ));
    assert!(matches!(
        read_tile_hashes(8, 1, 1, &stored),
        Err(TlogError::InvalidTile(_))
    ));
    assert_eq!(tiles::tile_bytes(&top), top[0].0.to_vec());
    let _: Hash = top[0];
}

#[test]
fn entry_bundles_round_trip_and_reject_garbage() {
    let big = vec![7u8; 65535];
    let entries: Vec<&[u8]> = vec![b"", b"a", b"hello", &big];
    let bundle = encode_entry_bundle(&entries).unwrap();
    assert_eq!(&bundle[..2], [0, 0]);
    assert_eq!(&bundle[2..5], [0, 1, b'a']);
    assert_eq!(bundle.len(), 2 + 3 + 7 + 2 + 65535);
    assert_eq!(
        decode_entry_bundle(&bundle).unwrap(),
        entries.iter().map(|e| e.to_vec()).collect::<Vec<_>>()
    );

    let too_big = vec![0u8; 65536];
    assert!(matches!(
        encode_entry_bundle(&[&too_big]),
        Err(TlogError::EntryTooLarge(65536))
    ));
    let too_many: Vec<&[u8]> = vec![b"x"; 257];
    assert!(encode_entry_bundle(&too_many).is_err());
    assert!(matches!(
        decode_entry_bundle(&bundle[..bundle.len() - 1]),
        Err(TlogError::MalformedEntryBundle(_))
    ));
    assert!(matches!(
        decode_entry_bundle(&[0]),
        Err(TlogError::MalformedEntryBundle(_))
    ));
    assert!(matches!(
        decode_entry_bundle(&[0, 5, 1]),
        Err(TlogError::MalformedEntryBundle(_))
    ));
    assert_eq!(decode_entry_bundle(&[]).unwrap(), Vec::<Vec<u8>>::new());
    let many = vec![0u8; 2 * 257];
    assert!(decode_entry_bundle(&many).is_err(), "257 empty entries");
}
