//! RFC 6962 proof generation and verification over stored hashes held in memory.
//!
//! Run with `cargo bench -p sigstack-tlog --bench merkle` (add `-- --quick` for a short run).
//! Each tree size (10^3, 10^5, 10^6 leaves) is built once, outside the measurements, as the
//! `Vec<Hash>` of stored hashes a log keeps (`2n - popcount(n)` hashes, 64 MB for 10^6 leaves);
//! every proof is then generated through the [`HashReader`] over that vector, so the numbers
//! are the hashing and index arithmetic only, without storage I/O. Indexes and old sizes cycle
//! through a fixed pseudo-random sequence so no single path is measured.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sigstack_tlog::Hash;
use sigstack_tlog::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, stored_hashes_for_leaf_hash, tree_hash,
    verify_consistency, verify_inclusion,
};

const SIZES: [u64; 3] = [1_000, 100_000, 1_000_000];

/// Stored hashes of a tree whose leaf `i` is the big-endian bytes of `i`.
fn build(n: u64) -> Vec<Hash> {
    let mut stored = Vec::with_capacity(usize::try_from(2 * n).expect("fits"));
    for i in 0..n {
        let new = stored_hashes_for_leaf_hash(i, leaf_hash(&i.to_be_bytes()), &stored)
            .expect("in-memory append");
        stored.extend(new);
    }
    stored
}

/// A cheap deterministic sequence (SplitMix64) of values in `0..bound`.
fn points(bound: u64, count: usize) -> Vec<u64> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..count)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % bound
        })
        .collect()
}

fn proofs(c: &mut Criterion) {
    let mut group = c.benchmark_group("merkle");
    group.throughput(Throughput::Elements(1));
    for &n in &SIZES {
        let stored = build(n);
        let root = tree_hash(n, &stored).expect("root");
        let indexes = points(n, 1024);
        let olds: Vec<u64> = points(n, 1024).iter().map(|i| i + 1).collect();

        group.bench_with_input(BenchmarkId::new("inclusion_proof", n), &n, |b, &n| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % indexes.len();
                inclusion_proof(n, black_box(indexes[k]), &stored).expect("proof")
            });
        });

        let inclusion: Vec<(u64, Hash, Vec<Hash>)> = indexes
            .iter()
            .map(|&i| {
                let proof = inclusion_proof(n, i, &stored).expect("proof");
                (i, leaf_hash(&i.to_be_bytes()), proof)
            })
            .collect();
        group.bench_with_input(BenchmarkId::new("verify_inclusion", n), &n, |b, &n| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % inclusion.len();
                let (index, leaf, proof) = &inclusion[k];
                verify_inclusion(*index, n, leaf, black_box(proof), &root).expect("valid");
            });
        });

        group.bench_with_input(BenchmarkId::new("consistency_proof", n), &n, |b, &n| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % olds.len();
                consistency_proof(black_box(olds[k]), n, &stored).expect("proof")
            });
        });

        let consistency: Vec<(u64, Hash, Vec<Hash>)> = olds
            .iter()
            .map(|&old| {
                let old_root = tree_hash(old, &stored).expect("old root");
                (
                    old,
                    old_root,
                    consistency_proof(old, n, &stored).expect("proof"),
                )
            })
            .collect();
        group.bench_with_input(BenchmarkId::new("verify_consistency", n), &n, |b, &n| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % consistency.len();
                let (old, old_root, proof) = &consistency[k];
                verify_consistency(*old, n, old_root, &root, black_box(proof)).expect("valid");
            });
        });

        group.bench_with_input(BenchmarkId::new("tree_hash", n), &n, |b, &n| {
            b.iter(|| tree_hash(black_box(n), &stored).expect("root"));
        });
    }
    group.finish();
}

criterion_group!(benches, proofs);
criterion_main!(benches);
