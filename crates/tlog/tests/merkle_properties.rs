//! Proof generation and verification agree, for every (index, size) and (old, new) up to 300
//! leaves and random samples up to 5000, and match a direct recursive transcription of
//! RFC 6962 §2.1 (MTH, PATH, SUBPROOF) over the leaf hashes.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::OnceLock;

use proptest::prelude::*;
use sigstack_tlog::merkle::{
    Hash, consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash,
    root_from_inclusion_proof, stored_hash_count, stored_hashes_for_record, tree_hash,
    verify_consistency, verify_inclusion,
};

const BIG: u64 = 5000;

struct Tree {
    leaves: Vec<Hash>,
    stored: Vec<Hash>,
    roots: Vec<Hash>,
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut stored = Vec::new();
        let mut leaves = Vec::new();
        let mut roots = vec![empty_root()];
        for i in 0..BIG {
            let data = format!("leaf {i}");
            leaves.push(leaf_hash(data.as_bytes()));
            let new = stored_hashes_for_record(i, data.as_bytes(), &stored).unwrap();
            stored.extend(new);
            assert_eq!(stored.len() as u64, stored_hash_count(i + 1));
            roots.push(tree_hash(i + 1, &stored).unwrap());
        }
        Tree {
            leaves,
            stored,
            roots,
        }
    })
}

fn k(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// RFC 6962 MTH.
fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => empty_root(),
        1 => d[0],
        n => node_hash(&mth(&d[..k(n)]), &mth(&d[k(n)..])),
    }
}

/// RFC 6962 PATH(m, D[n]).
fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = k(n);
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// RFC 6962 SUBPROOF(m, D[n], b).
fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(d)] };
    }
    let k = k(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

#[test]
fn roots_match_recursive_definition() {
    let t = tree();
    for size in (0..=300).chain([511, 512, 513, 1000, 4095, 4096, 4097, 5000]) {
        assert_eq!(t.roots[size], mth(&t.leaves[..size]), "size {size}");
    }
}

#[test]
fn exhaustive_inclusion_up_to_300() {
    let t = tree();
    for size in 1..=300u64 {
        let root = t.roots[size as usize];
        for index in 0..size {
            let proof = inclusion_proof(size, index, &t.stored).unwrap();
            let leaf = t.leaves[index as usize];
            verify_inclusion(index, size, &leaf, &proof, &root).unwrap();
            if size <= 64 {
                assert_eq!(proof, path(index as usize, &t.leaves[..size as usize]));
            }
            // The same proof must not verify a different leaf position.
            if size > 1 {
                let other = (index + 1) % size;
                let ok = verify_inclusion(other, size, &leaf, &proof, &root).is_ok();
                assert!(
                    !ok || t.leaves[other as usize] == leaf,
                    "({index}, {size}) at {other}"
                );
            }
        }
    }
}

#[test]
fn exhaustive_consistency_up_to_300() {
    let t = tree();
    for new in 1..=300u64 {
        for old in 1..=new {
            let proof = consistency_proof(old, new, &t.stored).unwrap();
            let (r1, r2) = (t.roots[old as usize], t.roots[new as usize]);
            verify_consistency(old, new, &r1, &r2, &proof).unwrap();
            if new <= 64 {
                assert_eq!(
                    proof,
                    subproof(old as usize, &t.leaves[..new as usize], true)
                );
            }
            if old < new {
                // Swapping the roots must fail.
                assert!(verify_consistency(old, new, &r2, &r1, &proof).is_err());
            }
        }
    }
}

fn flip(proof: &mut [Hash], at: usize, bit: u8) {
    let i = at % proof.len();
    proof[i].0[usize::from(bit) % 32] ^= 1 << (bit % 8);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_inclusion_up_to_5000((size, index) in (1..=BIG).prop_flat_map(|s| (Just(s), 0..s)),
                                   at in any::<usize>(), bit in any::<u8>()) {
        let t = tree();
        let mut proof = inclusion_proof(size, index, &t.stored).unwrap();
        let root = t.roots[size as usize];
        let leaf = t.leaves[index as usize];
        prop_assert_eq!(root_from_inclusion_proof(index, size, &leaf, &proof).unwrap(), root);
        verify_inclusion(index, size, &leaf, &proof, &root).unwrap();
        prop_assert!(verify_inclusion(index, size, &leaf, &proof, &t.roots[size as usize - 1]).is_err()
            || size == 1);
        if !proof.is_empty() {
            flip(&mut proof, at, bit);
            prop_assert!(verify_inclusion(index, size, &leaf, &proof, &root).is_err());
            proof.pop();
            prop_assert!(verify_inclusion(index, size, &leaf, &proof, &root).is_err());
        }
    }

    #[test]
    fn random_consistency_up_to_5000((new, old) in (1..=BIG).prop_flat_map(|n| (Just(n), 1..=n)),
                                     at in any::<usize>(), bit in any::<u8>()) {
        let t = tree();
        let mut proof = consistency_proof(old, new, &t.stored).unwrap();
        let (r1, r2) = (t.roots[old as usize], t.roots[new as usize]);
        verify_consistency(old, new, &r1, &r2, &proof).unwrap();
        if !proof.is_empty() {
            flip(&mut proof, at, bit);
            prop_assert!(verify_consistency(old, new, &r1, &r2, &proof).is_err());
        }
        if old < new {
            // The honest proof must not vouch for another old root.
            let honest = consistency_proof(old, new, &t.stored).unwrap();
            let wrong_old = t.roots[old as usize + 1];
            prop_assert!(verify_consistency(old, new, &wrong_old, &r2, &honest).is_err());
        }
    }
}
