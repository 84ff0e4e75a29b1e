//! RFC 6962 TLS structures from untrusted bytes (sigstack-ct):
//! `SignedCertificateTimestamp::from_tls`, `MerkleTreeLeaf::from_tls` and
//! `DigitallySigned::from_tls`.
//!
//! Invariants:
//! - never panics;
//! - every accepted structure re-encodes with `to_tls()` to exactly the input;
//! - an accepted SCT survives the RFC 6962 §4.1 JSON form (`to_json` / `from_json`, also
//!   through JSON text) unchanged; verifying it with the fixed log key does not panic;
//! - an accepted leaf's `leaf_hash()` is SHA-256(0x00 || input); an SCT the fixed log key signs
//!   for the leaf's entry, timestamp and extensions verifies for that entry, not for the entry
//!   with another timestamp, and its signature also verifies over the leaf bytes themselves
//!   (RFC 6962 signs the same bytes as the `MerkleTreeLeaf`, with signature_type 0 in place of
//!   leaf_type 0).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sha2::{Digest as _, Sha256};
use sigstack_ct::{
    AddChainResponse, CtSigner, DigitallySigned, MerkleTreeLeaf, SignedCertificateTimestamp,
};
use sigstack_keys::{PublicKey, SignatureAlgorithm};

static LOG: LazyLock<(CtSigner, PublicKey)> = LazyLock::new(|| {
    let signer = sigstack_fuzz::signer(SignatureAlgorithm::EcdsaP256Sha256);
    let key = signer.public_key().expect("key");
    (CtSigner::new(signer).expect("CT signer"), key)
});

fuzz_target!(|data: &[u8]| {
    let (log, key) = &*LOG;

    if let Ok(sct) = SignedCertificateTimestamp::from_tls(data) {
        assert_eq!(sct.to_tls().expect("re-encode"), data, "SCT round trip");
        let json = sct.to_json().expect("to_json");
        assert_eq!(
            SignedCertificateTimestamp::from_json(&json).expect("from_json"),
            sct
        );
        let text = serde_json::to_string(&json).expect("JSON text");
        let back: AddChainResponse = serde_json::from_str(&text).expect("JSON text parses");
        assert_eq!(
            SignedCertificateTimestamp::from_json(&back).expect("from_json"),
            sct
        );
        let _ = sct.verify_x509(key, data);
        let _ = sct.verify_precert(key, data, data);
    }

    if let Ok(ds) = DigitallySigned::from_tls(data) {
        assert_eq!(
            ds.to_tls().expect("re-encode"),
            data,
            "DigitallySigned round trip"
        );
        let _ = ds.verify(key, data);
    }

    if let Ok(leaf) = MerkleTreeLeaf::from_tls(data) {
        assert_eq!(
            leaf.to_tls().expect("re-encode"),
            data,
            "MerkleTreeLeaf round trip"
        );
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(data);
        let want: [u8; 32] = h.finalize().into();
        assert_eq!(leaf.leaf_hash().expect("leaf hash"), want);

        let sct = log
            .sign_entry(leaf.timestamp, &leaf.entry, &leaf.extensions)
            .expect("an accepted leaf can be signed");
        sct.verify_entry(key, &leaf.entry)
            .expect("SCT verifies for its entry");
        let mut moved = sct.clone();
        moved.timestamp = moved.timestamp.wrapping_add(1);
        assert!(
            moved.verify_entry(key, &leaf.entry).is_err(),
            "timestamp not covered"
        );
        key.verify(data, &sct.signature.signature)
            .expect("SCT signature input equals the leaf bytes");
    }
});
