//! RFC 6962 / RFC 9162 proof generation and verification (`sigstack_tlog::merkle`).
//!
//! Proofs reach verifiers from untrusted logs, so `verify_inclusion`, `verify_consistency`
//! and `root_from_inclusion_proof` are fed arbitrary sizes, indexes and hash lists. Proofs are
//! also generated from a fixed in-memory tree of up to 1024 leaves (stored hashes are
//! append-only, so its prefix is every smaller tree).
//!
//! Invariants:
//! - never panics, for any u64 sizes and any proof length;
//! - a generated inclusion / consistency proof verifies against `tree_hash`;
//! - the same proof with one bit flipped, one hash dropped or one hash appended is rejected;
//! - an inclusion proof does not verify for a different leaf.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigstack_fuzz::Unstructured;
use sigstack_tlog::Hash;
use sigstack_tlog::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, root_from_inclusion_proof,
    stored_hashes_for_record, tree_hash, verify_consistency, verify_inclusion,
};

const MAX_LEAVES: u64 = 1024;

static STORED: LazyLock<Vec<Hash>> = LazyLock::new(|| {
    let mut stored = Vec::new();
    for i in 0..MAX_LEAVES {
        let new = stored_hashes_for_record(i, &i.to_be_bytes(), &stored).expect("append");
        stored.extend(new);
    }
    stored
});

fn hashes(u: &mut Unstructured<'_>) -> Vec<Hash> {
    let n = u.arbitrary::<u8>().unwrap_or(0) % 70;
    (0..n)
        .map(|_| Hash(u.arbitrary::<[u8; 32]>().unwrap_or([0; 32])))
        .collect()
}

/// Every single-step corruption of `proof`: a flipped bit, a dropped or an appended hash.
fn corruptions(proof: &[Hash], pick: u32) -> Vec<Vec<Hash>> {
    let mut out = Vec::new();
    if !proof.is_empty() {
        let mut flipped = proof.to_vec();
        let i = pick as usize % proof.len();
        flipped[i].0[(pick as usize / 8) % 32] ^= 1 << (pick % 8);
        out.push(flipped);
        let mut dropped = proof.to_vec();
        dropped.remove(i);
        out.push(dropped);
    }
    let mut longer = proof.to_vec();
    longer.push(Hash([pick as u8; 32]));
    out.push(longer);
    out
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);

    // Arbitrary (untrusted) proofs: any outcome but a panic is fine.
    let (index, size, old, new): (u64, u64, u64, u64) = u.arbitrary().unwrap_or_default();
    let leaf = Hash(u.arbitrary().unwrap_or_default());
    let root = Hash(u.arbitrary().unwrap_or_default());
    let proof = hashes(&mut u);
    let _ = verify_inclusion(index, size, &leaf, &proof, &root);
    let _ = root_from_inclusion_proof(index, size, &leaf, &proof);
    let _ = verify_consistency(old, new, &leaf, &root, &proof);

    // Generated proofs over the fixed tree.
    let stored = &*STORED;
    let size = 1 + u.arbitrary::<u64>().unwrap_or(0) % MAX_LEAVES;
    let index = u.arbitrary::<u64>().unwrap_or(0) % size;
    let old = 1 + u.arbitrary::<u64>().unwrap_or(0) % size;
    let pick = u.arbitrary::<u32>().unwrap_or(0);

    let root = tree_hash(size, stored).expect("root");
    let leaf = leaf_hash(&index.to_be_bytes());
    let proof = inclusion_proof(size, index, stored).expect("inclusion proof");
    verify_inclusion(index, size, &leaf, &proof, &root).expect("generated inclusion proof");
    assert_eq!(
        root_from_inclusion_proof(index, size, &leaf, &proof).expect("root from proof"),
        root
    );
    for bad in corruptions(&proof, pick) {
        assert!(
            verify_inclusion(index, size, &leaf, &bad, &root).is_err(),
            "corrupted inclusion proof accepted: size {size} index {index}"
        );
    }
    let other_leaf = leaf_hash(&(index + 1).to_be_bytes());
    assert!(verify_inclusion(index, size, &other_leaf, &proof, &root).is_err());

    let old_root = tree_hash(old, stored).expect("old root");
    let proof = consistency_proof(old, size, stored).expect("consistency proof");
    verify_consistency(old, size, &old_root, &root, &proof).expect("generated consistency proof");
    for bad in corruptions(&proof, pick) {
        assert!(
            verify_consistency(old, size, &old_root, &root, &bad).is_err(),
            "corrupted consistency proof accepted: {old} -> {size}"
        );
    }
});
