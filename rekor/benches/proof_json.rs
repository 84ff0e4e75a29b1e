//! An inclusion proof of a tree of ~16M entries (24 hashes) made into its JSON answer: as hex
//! strings built first (how the answer was made before `wire::HexHash`) and as `HexHash`
//! values written straight from the hashes. Both give the same bytes (checked before timing).
//!
//! `cargo bench -p sigstack-rekor --bench proof_json`

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde::Serialize;
use sigstack_rekor::v1::wire::{HexHash, InclusionProof};
use sigstack_tlog::merkle::Hash;

/// The former shape of the proof: every hash a `String`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StringProof {
    checkpoint: String,
    hashes: Vec<String>,
    log_index: u64,
    root_hash: String,
    tree_size: u64,
}

fn bench(c: &mut Criterion) {
    let path: Vec<Hash> = (0u8..24).map(|i| Hash([i.wrapping_mul(37); 32])).collect();
    let root = Hash([0x5a; 32]);
    let checkpoint = "127.0.0.1 - 1234567890\n16000000\nWlpa\n\n— 127.0.0.1 AAAA\n".to_owned();
    let strings = |path: &[Hash]| StringProof {
        checkpoint: checkpoint.clone(),
        hashes: path.iter().map(Hash::to_hex).collect(),
        log_index: 12_345_678,
        root_hash: root.to_hex(),
        tree_size: 16_000_000,
    };
    let typed = |path: &[Hash]| InclusionProof {
        checkpoint: checkpoint.clone(),
        hashes: path.iter().copied().map(HexHash).collect(),
        log_index: 12_345_678,
        root_hash: HexHash(root),
        tree_size: 16_000_000,
    };
    assert_eq!(
        serde_json::to_vec(&strings(&path)).unwrap(),
        serde_json::to_vec(&typed(&path)).unwrap()
    );
    let mut group = c.benchmark_group("inclusion_proof_24_hashes");
    group.bench_function("hex_strings", |b| {
        b.iter(|| serde_json::to_vec(&strings(&path)).unwrap());
    });
    group.bench_function("hex_hash", |b| {
        b.iter(|| serde_json::to_vec(&typed(&path)).unwrap());
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
