//! Signing and opening checkpoints (C2SP signed notes) with Ed25519 and ECDSA P-256 keys.
//!
//! Run with `cargo bench -p sigstack-tlog --bench checkpoint` (add `-- --quick` for a short
//! run). `sign` is `sign_checkpoint` (body validation, note text, one signature line);
//! `open` is `open_checkpoint` (strict note parse, signature verification with one known
//! verifier, checkpoint parse). Ed25519 uses the C2SP key ID, P-256 the Rekor v1 key ID, as
//! Rekor v2 and Rekor v1 do.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use sigstack_keys::{FileSigner, SignatureAlgorithm};
use sigstack_tlog::merkle::leaf_hash;
use sigstack_tlog::note::{KeyIdRule, NoteSigner};
use sigstack_tlog::{Checkpoint, open_checkpoint, sign_checkpoint};

fn checkpoints(c: &mut Criterion) {
    let checkpoint = Checkpoint::new(
        "rekor.example.test - 1234567890",
        75_441_653,
        leaf_hash(b"root"),
    );
    let mut group = c.benchmark_group("checkpoint");
    for (name, alg, rule) in [
        ("ed25519", SignatureAlgorithm::Ed25519, KeyIdRule::C2sp),
        (
            "ecdsa_p256",
            SignatureAlgorithm::EcdsaP256Sha256,
            KeyIdRule::RekorV1,
        ),
    ] {
        let key = Arc::new(FileSigner::generate(alg).expect("key"));
        let signer = NoteSigner::new("rekor.example.test", key, rule).expect("note signer");
        let verifiers = [signer.verifier().expect("verifier")];
        group.bench_function(format!("sign/{name}"), |b| {
            b.iter(|| sign_checkpoint(black_box(&checkpoint), &[&signer]).expect("sign"));
        });
        let note = sign_checkpoint(&checkpoint, &[&signer]).expect("sign");
        group.bench_function(format!("open/{name}"), |b| {
            b.iter(|| open_checkpoint(black_box(&note), &verifiers).expect("open"));
        });
    }
    group.finish();
}

criterion_group!(benches, checkpoints);
criterion_main!(benches);
