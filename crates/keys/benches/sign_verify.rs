//! Signing and verification with `sigstack-keys` for every supported key type.
//!
//! Run with `cargo bench -p sigstack-keys --bench sign_verify` (add `-- --quick` for a short
//! run). Per algorithm (ECDSA P-256/SHA-256, ECDSA P-384/SHA-384, Ed25519), over a 1 KiB
//! message: `sign` is `FileSigner::sign` (hash + sign, DER-encoded for ECDSA), `verify` is
//! `PublicKey::verify` of that signature (DER decode + hash + verify), and `parse_spki` is
//! `PublicKey::from_spki_der` of the key (DER decode and point validation), which every
//! verification of client-supplied keys pays first.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sigstack_keys::{FileSigner, PublicKey, SignatureAlgorithm, Signer};

fn sign_verify(c: &mut Criterion) {
    let message = vec![0x5a_u8; 1024];
    let mut group = c.benchmark_group("keys");
    group.throughput(Throughput::Elements(1));
    for (name, alg) in [
        ("p256", SignatureAlgorithm::EcdsaP256Sha256),
        ("p384", SignatureAlgorithm::EcdsaP384Sha384),
        ("ed25519", SignatureAlgorithm::Ed25519),
    ] {
        let signer = FileSigner::generate(alg).expect("key");
        let key = signer.public_key().expect("public key");
        let signature = signer.sign(&message).expect("sign");
        group.bench_function(format!("sign/{name}"), |b| {
            b.iter(|| signer.sign(black_box(&message)).expect("sign"));
        });
        group.bench_function(format!("verify/{name}"), |b| {
            b.iter(|| {
                key.verify(black_box(&message), black_box(&signature))
                    .expect("valid")
            });
        });
        group.bench_function(format!("parse_spki/{name}"), |b| {
            b.iter(|| PublicKey::from_spki_der(black_box(signer.public_key_der())).expect("key"));
        });
    }
    group.finish();
}

criterion_group!(benches, sign_verify);
criterion_main!(benches);
