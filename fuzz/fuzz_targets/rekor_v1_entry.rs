//! Rekor v1 `ProposedEntry` canonicalization on untrusted JSON, from a parsed value
//! (`sigstack_rekor::kinds::canonicalize_proposed_entry`) and from the request's bytes as the
//! server takes them (`canonicalize_proposed_entry_json`), plus correctly signed entries built
//! from the input.
//!
//! Input: if the first byte is 0, 1 or 2 the rest drives a correctly signed hashedrekord 0.0.1,
//! dsse 0.0.1 or intoto 0.0.2 entry (key type, artifact / payload, PEM line width and line
//! endings, certificate or bare key, base64 alphabets); otherwise the input is the request
//! body (no valid JSON text starts with those bytes).
//!
//! Invariants:
//! - never panics;
//! - what the bytes path accepts, the value path accepts with the same body (the bytes path may
//!   refuse more: duplicate keys in the envelope or the hashedrekord spec);
//! - an accepted body is canonical JSON (RFC 8785) naming its kind and apiVersion, and a
//!   hashedrekord body re-submitted as a proposed entry canonicalizes to itself;
//! - correctly signed hashedrekord entries with ECDSA keys are accepted whatever the PEM
//!   formatting, store the canonical LF PEM, and give the same body as the canonical-PEM
//!   submission; Ed25519 is refused as unsupported; a digest with one changed nibble is
//!   refused;
//! - correctly signed dsse / intoto entries are accepted and record the SHA-256 of the payload
//!   (and, for dsse, of the envelope text as submitted) and canonical PEM keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use sigstack_fuzz::{
    Unstructured, any_base64, b64, canonical_pem, certificate_der, check_canonical_body, hex_lower,
    messy_pem, pick_algorithm, signer, unb64,
};
use sigstack_keys::{SignatureAlgorithm, sha256};
use sigstack_rekor::kinds::dsse::pae;
use sigstack_rekor::kinds::{
    EntryError, canonicalize_proposed_entry, canonicalize_proposed_entry_json,
};

/// A key of `alg` as PEM: (label, DER) of either its self-signed certificate or its SPKI.
fn material(u: &mut Unstructured<'_>, alg: SignatureAlgorithm) -> (&'static str, Vec<u8>) {
    if u.arbitrary::<bool>().unwrap_or(false) {
        ("CERTIFICATE", certificate_der(alg).to_vec())
    } else {
        ("PUBLIC KEY", signer(alg).public_key_der().to_vec())
    }
}

fn hashedrekord(sig: &[u8], pem: &str, algorithm: &str, digest_hex: &str) -> Value {
    json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "signature": {"content": b64(sig), "publicKey": {"content": b64(pem.as_bytes())}},
        "data": {"hash": {"algorithm": algorithm, "value": digest_hex}},
    }})
}

fn signed_hashedrekord(u: &mut Unstructured<'_>) {
    let alg = pick_algorithm(u);
    let artifact: Vec<u8> = u.arbitrary().unwrap_or_default();
    let (label, der) = material(u, alg);
    let pem = messy_pem(u, label, &der);
    let sig = signer(alg).sign(&artifact).expect("sign");
    let hash_name = match alg {
        SignatureAlgorithm::EcdsaP384Sha384 => "sha384",
        SignatureAlgorithm::Ed25519 => "sha512",
        _ => "sha256",
    };
    let digest_hex = hex_lower(&alg.digest(&artifact));
    let result = canonicalize_proposed_entry(&hashedrekord(&sig, &pem, hash_name, &digest_hex));
    if alg == SignatureAlgorithm::Ed25519 {
        assert!(
            matches!(result, Err(EntryError::UnsupportedKey(_))),
            "Ed25519 hashedrekord: {result:?}"
        );
        return;
    }
    let entry = result.unwrap_or_else(|e| panic!("signed hashedrekord refused: {e}\n{pem:?}"));
    let body = check_canonical_body(&entry);
    let canonical = canonical_pem(label, &der);
    assert_eq!(
        unb64(
            body["spec"]["signature"]["publicKey"]["content"]
                .as_str()
                .expect("key")
        ),
        canonical.as_bytes(),
        "stored key is not the canonical PEM"
    );
    let reference =
        canonicalize_proposed_entry(&hashedrekord(&sig, &canonical, hash_name, &digest_hex))
            .expect("canonical submission");
    assert_eq!(
        entry, reference,
        "PEM formatting changed the canonical body"
    );
    assert_eq!(
        canonicalize_proposed_entry(&body)
            .expect("canonical body re-submits")
            .body,
        entry.body
    );

    let mut tampered = digest_hex.into_bytes();
    let at = usize::from(u.arbitrary::<u8>().unwrap_or(0)) % tampered.len();
    tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).expect("hex");
    assert!(matches!(
        canonicalize_proposed_entry(&hashedrekord(&sig, &pem, hash_name, &tampered)),
        Err(EntryError::InvalidSignature(_))
    ));
}

fn signed_dsse(u: &mut Unstructured<'_>) {
    let payload: Vec<u8> = u.arbitrary().unwrap_or_default();
    let payload_type: String = u.arbitrary().unwrap_or_default();
    let message = pae(&payload_type, &payload);
    let count = 1 + usize::from(u.arbitrary::<u8>().unwrap_or(0) % 2);
    let mut signatures = Vec::new();
    let mut verifiers = Vec::new();
    let mut keys = Vec::new();
    for _ in 0..count {
        let alg = pick_algorithm(u);
        let sig = signer(alg).sign(&message).expect("sign");
        signatures.push(json!({"keyid": "", "sig": any_base64(u, &sig)}));
        let (label, der) = material(u, alg);
        verifiers.push(b64(messy_pem(u, label, &der).as_bytes()));
        keys.push(canonical_pem(label, &der));
    }
    let envelope = json!({
        "payload": any_base64(u, &payload),
        "payloadType": payload_type,
        "signatures": signatures,
    })
    .to_string();
    let entry = json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "proposedContent": {"envelope": envelope, "verifiers": verifiers},
    }});
    let entry =
        canonicalize_proposed_entry(&entry).unwrap_or_else(|e| panic!("signed dsse refused: {e}"));
    let body = check_canonical_body(&entry);
    let spec = &body["spec"];
    assert_eq!(spec["payloadHash"]["value"], hex_lower(&sha256(&payload)));
    assert_eq!(
        spec["envelopeHash"]["value"],
        hex_lower(&sha256(envelope.as_bytes()))
    );
    let stored = spec["signatures"].as_array().expect("signatures");
    assert!(!stored.is_empty() && stored.len() <= count);
    for s in stored {
        let pem = unb64(s["verifier"].as_str().expect("verifier"));
        assert!(
            keys.iter().any(|k| k.as_bytes() == pem),
            "stored verifier is not canonical"
        );
    }
}

fn signed_intoto(u: &mut Unstructured<'_>) {
    let payload: Vec<u8> = u.arbitrary().unwrap_or_default();
    let payload_type = format!(
        "application/vnd.in-toto+json{}",
        u.arbitrary::<u8>().unwrap_or(0)
    );
    let message = pae(&payload_type, &payload);
    let alg = pick_algorithm(u);
    let sig = signer(alg).sign(&message).expect("sign");
    let sig_field = b64(any_base64(u, &sig).as_bytes());
    let (label, der) = material(u, alg);
    let pem = messy_pem(u, label, &der);
    let entry = json!({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
        "envelope": {
            "payload": b64(b64(&payload).as_bytes()),
            "payloadType": payload_type,
            "signatures": [{"keyid": "", "sig": sig_field, "publicKey": b64(pem.as_bytes())}],
        },
        "hash": {"algorithm": "sha256", "value": hex_lower(&sha256(&payload))},
    }}});
    let result = canonicalize_proposed_entry(&entry);
    if payload.is_empty() {
        assert!(
            matches!(result, Err(EntryError::Malformed(_))),
            "empty payload: {result:?}"
        );
        return;
    }
    let entry = result.unwrap_or_else(|e| panic!("signed intoto refused: {e}"));
    let body = check_canonical_body(&entry);
    let content = &body["spec"]["content"];
    assert_eq!(
        content["payloadHash"]["value"],
        hex_lower(&sha256(&payload))
    );
    let stored = &content["envelope"]["signatures"][0];
    assert_eq!(stored["sig"], sig_field);
    assert_eq!(
        unb64(stored["publicKey"].as_str().expect("key")),
        canonical_pem(label, &der).as_bytes()
    );
}

fuzz_target!(|data: &[u8]| {
    match data.first() {
        Some(0) => signed_hashedrekord(&mut Unstructured::new(&data[1..])),
        Some(1) => signed_dsse(&mut Unstructured::new(&data[1..])),
        Some(2) => signed_intoto(&mut Unstructured::new(&data[1..])),
        _ => {
            let from_bytes = canonicalize_proposed_entry_json(data);
            let Ok(value) = serde_json::from_slice::<Value>(data) else {
                assert!(from_bytes.is_err(), "bytes that are not JSON were accepted");
                return;
            };
            if let Ok(entry) = &from_bytes {
                let from_value = canonicalize_proposed_entry(&value)
                    .expect("accepted from bytes but refused from the parsed value");
                assert_eq!(from_value.body, entry.body, "the two paths disagree on the body");
            }
            if let Ok(entry) = canonicalize_proposed_entry(&value) {
                let body = check_canonical_body(&entry);
                if entry.kind == "hashedrekord" {
                    assert_eq!(
                        canonicalize_proposed_entry(&body)
                            .expect("canonical hashedrekord body re-submits")
                            .body,
                        entry.body,
                        "canonicalization is not idempotent"
                    );
                }
            }
        }
    }
});
