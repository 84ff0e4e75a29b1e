//! Rekor v2 `CreateEntryRequest` canonicalization (`sigstack_rekor::kinds::v2::canonicalize_request`)
//! on untrusted JSON, plus correctly signed requests built from the input.
//!
//! Input: if the first byte is 0 or 1 the rest drives a correctly signed
//! `hashedRekordRequestV002` or `dsseRequestV002` (key type, artifact / payload, public key or
//! certificate, base64 alphabet and padding, camelCase or snake_case field names, a decoy
//! verifier); otherwise the input is the request body.
//!
//! Invariants:
//! - never panics;
//! - an accepted body is canonical JSON (RFC 8785) of a hashedrekord 0.0.2 entry whose digest
//!   length matches its hash algorithm;
//! - correctly signed ECDSA requests are accepted whatever the base64 flavour or field-name
//!   style, give the same body as the standard-base64 camelCase request, and store standard
//!   base64; Ed25519 is refused as unsupported; a keyDetails naming the other curve is refused;
//! - a DSSE request is logged exactly as the hashedrekord request over the digest of its PAE
//!   with the same signature and verifier (the module's documented equivalence).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use sigstack_fuzz::{
    Unstructured, any_base64, b64, certificate_der, check_canonical_body, pick_algorithm, signer,
    unb64,
};
use sigstack_keys::SignatureAlgorithm;
use sigstack_rekor::kinds::EntryError;
use sigstack_rekor::kinds::dsse::pae;
use sigstack_rekor::kinds::v2::canonicalize_request;

/// Field names in protobuf-JSON camelCase or in the proto's snake_case (both are accepted).
struct Names {
    snake: bool,
}

impl Names {
    fn get(&self, camel: &'static str, snake: &'static str) -> String {
        if self.snake { snake } else { camel }.to_string()
    }
}

/// A verifier for the fixed key of `alg`, with bytes encoded by `enc`.
fn verifier(
    alg: SignatureAlgorithm,
    cert: bool,
    names: &Names,
    enc: &mut dyn FnMut(&[u8]) -> String,
) -> Value {
    let mut v = Map::new();
    let raw = |bytes: &[u8], enc: &mut dyn FnMut(&[u8]) -> String| {
        let mut m = Map::new();
        m.insert(
            names.get("rawBytes", "raw_bytes"),
            Value::String(enc(bytes)),
        );
        Value::Object(m)
    };
    if cert {
        v.insert(
            names.get("x509Certificate", "x509_certificate"),
            raw(certificate_der(alg), enc),
        );
    } else {
        v.insert(
            names.get("publicKey", "public_key"),
            raw(signer(alg).public_key_der(), enc),
        );
    }
    v.insert(
        names.get("keyDetails", "key_details"),
        json!(alg.key_details()),
    );
    Value::Object(v)
}

fn hashed_request(
    digest: &[u8],
    sig: &[u8],
    verifier: Value,
    names: &Names,
    enc: &mut dyn FnMut(&[u8]) -> String,
) -> Value {
    let mut inner = Map::new();
    inner.insert("digest".into(), Value::String(enc(digest)));
    inner.insert(
        "signature".into(),
        json!({"content": enc(sig), "verifier": verifier}),
    );
    let mut outer = Map::new();
    outer.insert(
        names.get("hashedRekordRequestV002", "hashed_rekord_request_v0_0_2"),
        Value::Object(inner),
    );
    Value::Object(outer)
}

fn other_ecdsa(alg: SignatureAlgorithm) -> SignatureAlgorithm {
    if alg == SignatureAlgorithm::EcdsaP256Sha256 {
        SignatureAlgorithm::EcdsaP384Sha384
    } else {
        SignatureAlgorithm::EcdsaP256Sha256
    }
}

fn signed_hashed_rekord(u: &mut Unstructured<'_>) {
    let alg = pick_algorithm(u);
    let artifact: Vec<u8> = u.arbitrary().unwrap_or_default();
    let cert = u.arbitrary::<bool>().unwrap_or(false);
    let names = Names {
        snake: u.arbitrary().unwrap_or(false),
    };
    let digest = alg.digest(&artifact);
    let sig = signer(alg).sign(&artifact).expect("sign");
    let mut fuzzed = |b: &[u8]| any_base64(u, b);
    let v = verifier(alg, cert, &names, &mut fuzzed);
    let request = hashed_request(&digest, &sig, v, &names, &mut fuzzed);
    let result = canonicalize_request(&request);
    if alg == SignatureAlgorithm::Ed25519 {
        assert!(
            matches!(result, Err(EntryError::UnsupportedKey(_))),
            "Ed25519: {result:?}"
        );
        return;
    }
    let entry = result.unwrap_or_else(|e| panic!("signed request refused: {e}\n{request}"));
    let body = check_canonical_body(&entry);

    let camel = Names { snake: false };
    let mut std_b64 = |b: &[u8]| b64(b);
    let v = verifier(alg, cert, &camel, &mut std_b64);
    let reference = canonicalize_request(&hashed_request(&digest, &sig, v, &camel, &mut std_b64))
        .expect("reference request");
    assert_eq!(entry, reference, "encoding of the request changed the body");
    let spec = &body["spec"]["hashedRekordV002"];
    assert_eq!(spec["data"]["digest"], b64(&digest));
    assert_eq!(spec["signature"]["content"], b64(&sig));

    // keyDetails of the other curve: refused as a mismatch.
    let mut v = verifier(alg, cert, &camel, &mut std_b64);
    v["keyDetails"] = json!(other_ecdsa(alg).key_details());
    assert!(matches!(
        canonicalize_request(&hashed_request(&digest, &sig, v, &camel, &mut std_b64)),
        Err(EntryError::Mismatch(_))
    ));
}

fn signed_dsse(u: &mut Unstructured<'_>) {
    let alg = pick_algorithm(u);
    let payload: Vec<u8> = u.arbitrary().unwrap_or_default();
    let payload_type: String = u.arbitrary().unwrap_or_default();
    let cert = u.arbitrary::<bool>().unwrap_or(false);
    let decoy = u.arbitrary::<bool>().unwrap_or(false);
    let names = Names {
        snake: u.arbitrary().unwrap_or(false),
    };
    let message = pae(&payload_type, &payload);
    let sig = signer(alg).sign(&message).expect("sign");
    let mut fuzzed = |b: &[u8]| any_base64(u, b);
    let mut verifiers = Vec::new();
    if decoy {
        verifiers.push(verifier(other_ecdsa(alg), !cert, &names, &mut fuzzed));
    }
    verifiers.push(verifier(alg, cert, &names, &mut fuzzed));
    let mut envelope = Map::new();
    envelope.insert("payload".into(), Value::String(fuzzed(&payload)));
    envelope.insert(
        names.get("payloadType", "payload_type"),
        Value::String(payload_type),
    );
    envelope.insert(
        "signatures".into(),
        json!([{"sig": fuzzed(&sig), "keyid": ""}]),
    );
    let mut inner = Map::new();
    inner.insert("envelope".into(), Value::Object(envelope));
    inner.insert("verifiers".into(), Value::Array(verifiers));
    let mut request = Map::new();
    request.insert(
        names.get("dsseRequestV002", "dsse_request_v0_0_2"),
        Value::Object(inner),
    );
    let request = Value::Object(request);

    let result = canonicalize_request(&request);
    if alg == SignatureAlgorithm::Ed25519 {
        assert!(
            matches!(result, Err(EntryError::UnsupportedKey(_))),
            "Ed25519: {result:?}"
        );
        return;
    }
    let entry = result.unwrap_or_else(|e| panic!("signed DSSE request refused: {e}\n{request}"));
    let _ = check_canonical_body(&entry);
    let camel = Names { snake: false };
    let mut std_b64 = |b: &[u8]| b64(b);
    let v = verifier(alg, cert, &camel, &mut std_b64);
    let equivalent = canonicalize_request(&hashed_request(
        &alg.digest(&message),
        &sig,
        v,
        &camel,
        &mut std_b64,
    ))
    .expect("equivalent hashedrekord request");
    assert_eq!(
        entry, equivalent,
        "DSSE request is not logged as its hashedrekord equivalent"
    );
}

fuzz_target!(|data: &[u8]| {
    match data.first() {
        Some(0) => signed_hashed_rekord(&mut Unstructured::new(&data[1..])),
        Some(1) => signed_dsse(&mut Unstructured::new(&data[1..])),
        _ => {
            let Ok(value) = serde_json::from_slice::<Value>(data) else {
                return;
            };
            if let Ok(entry) = canonicalize_request(&value) {
                let body = check_canonical_body(&entry);
                assert_eq!(entry.kind, "hashedrekord");
                assert_eq!(entry.api_version, "0.0.2");
                let data = &body["spec"]["hashedRekordV002"]["data"];
                let digest = unb64(data["digest"].as_str().expect("digest"));
                let want = match data["algorithm"].as_str() {
                    Some("SHA2_256") => 32,
                    Some("SHA2_384") => 48,
                    other => panic!("unexpected hash algorithm {other:?}"),
                };
                assert_eq!(
                    digest.len(),
                    want,
                    "digest length does not match its algorithm"
                );
            }
        }
    }
});
