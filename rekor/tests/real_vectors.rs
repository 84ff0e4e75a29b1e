//! Real Rekor v1 entries (rekor.sigstage.dev and rekor.sigstore.dev, see
//! `tests/data/rekor-v1-hashedrekord-staging-and-production.json` and its `source` field):
//! our SET payload, SET verification, checkpoint verification, inclusion-proof check, wire types
//! and hashedrekord canonicalization must all agree with what real Rekor produced.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sigstack_keys::{PublicKey, sha256};
use sigstack_rekor::kinds::canonicalize_proposed_entry;
use sigstack_rekor::set::verify_set;
use sigstack_rekor::v1::wire::{LogEntry, LogEntryAnon};
use sigstack_tlog::merkle::{Hash, leaf_hash, verify_inclusion};
use sigstack_tlog::set::set_payload;
use sigstack_tlog::{KeyIdRule, Note, NoteVerifier, open_checkpoint};

fn vectors() -> Value {
    serde_json::from_str(include_str!(
        "data/rekor-v1-hashedrekord-staging-and-production.json"
    ))
    .unwrap()
}

/// Every check on one real entry; `case` is the vector's top-level section.
fn check_entry(case: &Value, entry: &LogEntryAnon) {
    let key = PublicKey::from_pem(case["rekor_public_key_pem"].as_str().unwrap()).unwrap();
    let expected = &case["expected"];
    let host = case["rekor_url"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://");

    // logID = SHA-256(SPKI DER).
    assert_eq!(entry.log_id, hex::encode(sha256(key.spki_der())));

    // SET payload byte-exact, and the real SET verifies over it.
    let payload = set_payload(
        &entry.body,
        entry.integrated_time,
        &entry.log_id,
        entry.log_index,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(payload).unwrap(),
        expected["set_canonical_payload"].as_str().unwrap()
    );
    let set = STANDARD
        .decode(&entry.verification.signed_entry_timestamp)
        .unwrap();
    verify_set(
        &key,
        &entry.body,
        entry.integrated_time,
        &entry.log_id,
        entry.log_index,
        &set,
    )
    .unwrap();
    // Mutations break it.
    assert!(
        verify_set(
            &key,
            &entry.body,
            entry.integrated_time,
            &entry.log_id,
            entry.log_index + 12,
            &set
        )
        .is_err()
    );
    assert!(
        verify_set(
            &key,
            &entry.body,
            entry.integrated_time + 1,
            &entry.log_id,
            entry.log_index,
            &set
        )
        .is_err()
    );

    // Leaf hash and inclusion proof.
    let body = STANDARD.decode(&entry.body).unwrap();
    let leaf = leaf_hash(&body);
    assert_eq!(leaf.to_hex(), expected["leaf_hash_hex"].as_str().unwrap());
    let proof = &entry.verification.inclusion_proof;
    let hashes: Vec<Hash> = proof.hashes.iter().map(|h| h.0).collect();
    let root = proof.root_hash.0;
    verify_inclusion(proof.log_index, proof.tree_size, &leaf, &hashes, &root).unwrap();
    assert!(verify_inclusion(proof.log_index + 1, proof.tree_size, &leaf, &hashes, &root).is_err());

    // Checkpoint: Rekor v1 key ID rule (SHA-256(SPKI)[:4] = logID[:4]), ECDSA over the note text.
    let verifier = NoteVerifier::for_key(host, key.clone(), KeyIdRule::RekorV1).unwrap();
    assert_eq!(
        hex::encode(verifier.key_id()),
        expected["checkpoint_sig_key_hint_hex"].as_str().unwrap()
    );
    assert_eq!(&entry.log_id[..8], hex::encode(verifier.key_id()));
    let checkpoint = open_checkpoint(&proof.checkpoint, std::slice::from_ref(&verifier)).unwrap();
    assert_eq!(checkpoint.size, proof.tree_size);
    assert_eq!(checkpoint.root_hash, root);
    assert!(
        checkpoint.origin.starts_with(&format!("{host} - ")),
        "{}",
        checkpoint.origin
    );
    let tampered = proof.checkpoint.replacen(
        &proof.tree_size.to_string(),
        &(proof.tree_size + 1).to_string(),
        1,
    );
    assert!(open_checkpoint(&tampered, &[verifier]).is_err());
    assert_eq!(Note::parse(&proof.checkpoint).unwrap().signatures.len(), 1);

    // Our hashedrekord canonicalization reproduces real Rekor's body byte for byte (and the
    // real signature verifies over the digest with the real certificate).
    let decoded: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(decoded, case["decoded_body"]);
    let rebuilt = canonicalize_proposed_entry(&decoded).unwrap();
    assert_eq!(
        String::from_utf8(rebuilt.body).unwrap(),
        String::from_utf8(body).unwrap()
    );
}

#[test]
fn staging_raw_response_verifies() {
    let v = vectors();
    let case = &v["staging_response"];
    let entry: LogEntry = serde_json::from_value(case["response"].clone()).unwrap();
    assert_eq!(
        entry.entry_id,
        case["expected"]["leaf_hash_hex"].as_str().unwrap()
    );
    check_entry(case, &entry.entry);
    // Our wire type round-trips the real response exactly.
    assert_eq!(serde_json::to_value(&entry).unwrap(), case["response"]);
}

#[test]
fn production_entry_verifies() {
    let v = vectors();
    let case = &v["production_entry"];
    let entry: LogEntryAnon = serde_json::from_value(case["log_entry_v1_shape"].clone()).unwrap();
    check_entry(case, &entry);
}
