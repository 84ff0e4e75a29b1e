//! Rekor v2 API, in process: hashedrekord and DSSE requests become verifiable hashedrekord
//! 0.0.2 entries (strict protobuf-JSON reply, Ed25519 C2SP checkpoint); bad input is refused;
//! tiles and entry bundles match a recomputation.
#![allow(clippy::unwrap_used)]

mod common;

use axum::Router;
use axum::http::StatusCode;
use serde_json::{Value, json};
use sigstack_keys::{PublicKey, SignatureAlgorithm, Signer, sha256};
use sigstack_rekor::kinds::dsse::pae;
use sigstack_rekor::v2::wire::TransparencyLogEntry;
use sigstack_tlog::merkle::{Hash, leaf_hash, node_hash, verify_inclusion};
use sigstack_tlog::note::c2sp_key_hash;
use sigstack_tlog::tiles::{decode_entry_bundle, encode_entry_bundle};
use sigstack_tlog::{KeyIdRule, Note, NoteVerifier, open_checkpoint};

use common::*;

const ENTRIES: &str = "/api/v2/log/entries";

fn cert_verifier(client: &Client, key_details: &str) -> Value {
    json!({"x509Certificate": {"rawBytes": b64(&client.cert_der)}, "keyDetails": key_details})
}

fn hashed_request(client: &Client, artifact: &[u8], verifier: Value) -> Value {
    let sig = client.key.sign(artifact).unwrap();
    json!({"hashedRekordRequestV002": {"digest": b64(&sha256(artifact)), "signature": {"content": b64(&sig), "verifier": verifier}}})
}

fn verifier_for(v2: &V2) -> NoteVerifier {
    let key = PublicKey::from_spki_der(v2.signer.public_key_der()).unwrap();
    NoteVerifier::for_key(V2_ORIGIN, key, KeyIdRule::C2sp).unwrap()
}

/// Strict parse plus every check a client makes; returns the canonical body.
fn verify_reply(v2: &V2, reply: &Reply) -> (TransparencyLogEntry, Vec<u8>) {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let raw = reply.json();
    let keys: Vec<&str> = raw
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 5, "no other fields: {raw}");
    assert!(
        raw["logIndex"].is_string() && raw["inclusionProof"]["treeSize"].is_string(),
        "{raw}"
    );
    assert!(raw.get("integratedTime").is_none() && raw.get("inclusionPromise").is_none());
    let entry: TransparencyLogEntry = serde_json::from_value(raw).unwrap();

    let raw_key = PublicKey::from_spki_der(v2.signer.public_key_der())
        .unwrap()
        .ed25519_bytes()
        .unwrap();
    assert_eq!(
        unb64(&entry.log_id.key_id),
        c2sp_key_hash(V2_ORIGIN, &raw_key)
    );
    assert_eq!(unb64(&entry.log_id.key_id), v2.state.log_id());
    assert_eq!(
        (
            entry.kind_version.kind.as_str(),
            entry.kind_version.version.as_str()
        ),
        ("hashedrekord", "0.0.2")
    );
    assert_eq!(entry.inclusion_proof.log_index, entry.log_index);

    let body = unb64(&entry.canonicalized_body);
    let proof = &entry.inclusion_proof;
    let (index, size): (u64, u64) = (
        proof.log_index.parse().unwrap(),
        proof.tree_size.parse().unwrap(),
    );
    let root = Hash::from_base64(&proof.root_hash).unwrap();
    let hashes: Vec<Hash> = proof
        .hashes
        .iter()
        .map(|h| Hash::from_base64(h).unwrap())
        .collect();
    verify_inclusion(index, size, &leaf_hash(&body), &hashes, &root).unwrap();

    let checkpoint = open_checkpoint(&proof.checkpoint.envelope, &[verifier_for(v2)]).unwrap();
    assert_eq!(
        (
            checkpoint.origin.as_str(),
            checkpoint.size,
            checkpoint.root_hash
        ),
        (V2_ORIGIN, size, root)
    );
    let note = Note::parse(&proof.checkpoint.envelope).unwrap();
    assert_eq!(
        note.signatures[0].key_id.to_vec(),
        unb64(&entry.log_id.key_id)[..4].to_vec()
    );
    (entry, body)
}

async fn checkpoint_size(v2: &V2, router: &Router) -> u64 {
    let reply = get(router, "/api/v2/checkpoint").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-type").unwrap(),
        "text/plain; charset=utf-8"
    );
    open_checkpoint(&reply.text(), &[verifier_for(v2)])
        .unwrap()
        .size
}

#[tokio::test]
async fn hashedrekord_request_is_logged_as_canonical_v002_entry() {
    let v2 = V2::new().await;
    let router = v2.router();
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let artifact = b"hello v2";
    let req = hashed_request(
        &client,
        artifact,
        cert_verifier(&client, "PKIX_ECDSA_P256_SHA_256"),
    );
    let reply = post_json(&router, ENTRIES, &req).await;
    let (entry, body) = verify_reply(&v2, &reply);
    assert_eq!(entry.log_index, "0");
    let sig = req["hashedRekordRequestV002"]["signature"]["content"]
        .as_str()
        .unwrap();
    let expected = format!(
        "{{\"apiVersion\":\"0.0.2\",\"kind\":\"hashedrekord\",\"spec\":{{\"hashedRekordV002\":{{\"data\":{{\"algorithm\":\"SHA2_256\",\"digest\":\"{}\"}},\"signature\":{{\"content\":\"{sig}\",\"verifier\":{{\"keyDetails\":\"PKIX_ECDSA_P256_SHA_256\",\"x509Certificate\":{{\"rawBytes\":\"{}\"}}}}}}}}}}}}",
        b64(&sha256(artifact)),
        b64(&client.cert_der)
    );
    assert_eq!(String::from_utf8(body).unwrap(), expected);

    // Duplicate: 409 with the existing index.
    let dup = post_json(&router, ENTRIES, &req).await;
    dup.assert_error(StatusCode::CONFLICT);
    assert_eq!(dup.header("x-log-index").unwrap(), "0");

    // Public-key verifier and P-384.
    let p384 = Client::new(SignatureAlgorithm::EcdsaP384Sha384);
    let data = b"p384";
    let sig = p384.key.sign(data).unwrap();
    let req = json!({"hashedRekordRequestV002": {"digest": b64(&SignatureAlgorithm::EcdsaP384Sha384.digest(data)),
        "signature": {"content": b64(&sig), "verifier": {"publicKey": {"rawBytes": b64(p384.key.public_key_der())}, "keyDetails": "PKIX_ECDSA_P384_SHA_384"}}}});
    let (entry, body) = verify_reply(&v2, &post_json(&router, ENTRIES, &req).await);
    assert_eq!(entry.log_index, "1");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["spec"]["hashedRekordV002"]["data"]["algorithm"],
        "SHA2_384"
    );
    assert_eq!(
        body["spec"]["hashedRekordV002"]["signature"]["verifier"]["publicKey"]["rawBytes"],
        b64(p384.key.public_key_der())
    );
    assert_eq!(checkpoint_size(&v2, &router).await, 2);
}

#[tokio::test]
async fn dsse_request_is_logged_as_hashedrekord_over_pae() {
    let v2 = V2::new().await;
    let router = v2.router();
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let other = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let payload = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
    let payload_type = "application/vnd.in-toto+json";
    let pae_bytes = pae(payload_type, payload);
    let sig = client.key.sign(&pae_bytes).unwrap();
    let req = json!({"dsseRequestV002": {
        "envelope": {"payload": b64(payload), "payloadType": payload_type, "signatures": [{"sig": b64(&sig), "keyid": ""}]},
        "verifiers": [cert_verifier(&other, "PKIX_ECDSA_P256_SHA_256"), cert_verifier(&client, "PKIX_ECDSA_P256_SHA_256")]}});
    let (_, body) = verify_reply(&v2, &post_json(&router, ENTRIES, &req).await);

    // Exactly the entry a hashedRekordRequestV002 over SHA-256(PAE) produces (what
    // sigstore-python and sigstore-rust send for DSSE): the two requests are duplicates.
    let equivalent = json!({"hashedRekordRequestV002": {"digest": b64(&sha256(&pae_bytes)),
        "signature": {"content": b64(&sig), "verifier": cert_verifier(&client, "PKIX_ECDSA_P256_SHA_256")}}});
    let dup = post_json(&router, ENTRIES, &equivalent).await;
    dup.assert_error(StatusCode::CONFLICT);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["spec"]["hashedRekordV002"]["data"]["digest"],
        b64(&sha256(&pae_bytes))
    );
    assert_eq!(
        body["spec"]["hashedRekordV002"]["signature"]["verifier"]["x509Certificate"]["rawBytes"],
        b64(&client.cert_der)
    );

    // Two signatures, or no verifier that verifies: refused.
    let two = json!({"dsseRequestV002": {
        "envelope": {"payload": b64(payload), "payloadType": payload_type, "signatures": [{"sig": b64(&sig)}, {"sig": b64(&sig)}]},
        "verifiers": [cert_verifier(&client, "PKIX_ECDSA_P256_SHA_256")]}});
    post_json(&router, ENTRIES, &two)
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    let unverified = json!({"dsseRequestV002": {
        "envelope": {"payload": b64(b"changed"), "payloadType": payload_type, "signatures": [{"sig": b64(&sig)}]},
        "verifiers": [cert_verifier(&client, "PKIX_ECDSA_P256_SHA_256")]}});
    post_json(&router, ENTRIES, &unverified)
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    assert_eq!(checkpoint_size(&v2, &router).await, 1);
}

#[tokio::test]
async fn bad_requests_are_refused_and_write_nothing() {
    let v2 = V2::new().await;
    let router = v2.router();
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let good = hashed_request(
        &client,
        b"artifact",
        cert_verifier(&client, "PKIX_ECDSA_P256_SHA_256"),
    );
    let hr = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v["hashedRekordRequestV002"]);
        v
    };
    let ed = Client::new(SignatureAlgorithm::Ed25519);
    let cases = [
        (
            "tampered digest",
            hr(&|v| v["digest"] = json!(b64(&sha256(b"other")))),
        ),
        (
            "short digest",
            hr(&|v| v["digest"] = json!(b64(&[1u8; 20]))),
        ),
        (
            "tampered signature",
            hr(&|v| {
                let mut s = unb64(v["signature"]["content"].as_str().unwrap());
                let n = s.len() - 1;
                s[n] ^= 1;
                v["signature"]["content"] = json!(b64(&s));
            }),
        ),
        (
            "key does not match keyDetails",
            hr(&|v| v["signature"]["verifier"]["keyDetails"] = json!("PKIX_ECDSA_P384_SHA_384")),
        ),
        (
            "Ed25519 key details",
            hr(&|v| v["signature"]["verifier"]["keyDetails"] = json!("PKIX_ED25519")),
        ),
        (
            "RSA key details",
            hr(&|v| {
                v["signature"]["verifier"]["keyDetails"] = json!("PKIX_RSA_PKCS1V15_2048_SHA256")
            }),
        ),
        (
            "Ed25519 certificate",
            hr(&|v| v["signature"]["verifier"] = cert_verifier(&ed, "PKIX_ED25519_PH")),
        ),
        (
            "both key forms",
            hr(&|v| {
                v["signature"]["verifier"]["publicKey"] =
                    json!({"rawBytes": b64(client.key.public_key_der())})
            }),
        ),
        (
            "garbage certificate",
            hr(&|v| {
                v["signature"]["verifier"]["x509Certificate"]["rawBytes"] = json!(b64(b"not DER"))
            }),
        ),
        ("unknown field", hr(&|v| v["extra"] = json!(1))),
        ("unknown top-level field", {
            let mut v = good.clone();
            v["integratedTime"] = json!("0");
            v
        }),
        ("both kinds", {
            let mut v = good.clone();
            v["dsseRequestV002"] = json!({"envelope": {"payload": "", "payloadType": "", "signatures": []}, "verifiers": []});
            v
        }),
        ("neither kind", json!({})),
        ("not an object", json!([1, 2])),
    ];
    for (name, req) in &cases {
        let reply = post_json(&router, ENTRIES, req).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            reply.text()
        );
        reply.assert_error(StatusCode::BAD_REQUEST);
    }
    post_raw(&router, ENTRIES, "application/json", b"{".to_vec())
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    post_raw(
        &router,
        ENTRIES,
        "application/x-www-form-urlencoded",
        good.to_string().into_bytes(),
    )
    .await
    .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    post_raw(
        &router,
        ENTRIES,
        "application/json",
        vec![b' '; sigstack_rekor::MAX_REQUEST_BODY + 1],
    )
    .await
    .assert_error(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(checkpoint_size(&v2, &router).await, 0);

    verify_reply(&v2, &post_json(&router, ENTRIES, &good).await);
    assert_eq!(checkpoint_size(&v2, &router).await, 1);
}

/// Recompute the RFC 6962 root of `leaves`.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        1 => leaves[0],
        n => {
            // k = the largest power of two smaller than n.
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

async fn tile(router: &Router, path: &str) -> Reply {
    get(router, &format!("/api/v2/tile/{path}")).await
}

#[tokio::test]
async fn tiles_and_entry_bundles_match_recomputation() {
    let v2 = V2::new().await;
    let router = v2.router();
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let verifier = cert_verifier(&client, "PKIX_ECDSA_P256_SHA_256");
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let add = async |i: u32| {
        let reply = post_json(
            &router,
            ENTRIES,
            &hashed_request(&client, &i.to_be_bytes(), verifier.clone()),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let entry: TransparencyLogEntry = serde_json::from_slice(&reply.body).unwrap();
        unb64(&entry.canonicalized_body)
    };

    // Size 1.
    bodies.push(add(0).await);
    let leaves = |bodies: &[Vec<u8>]| bodies.iter().map(|b| leaf_hash(b)).collect::<Vec<Hash>>();
    let t = tile(&router, "0/000.p/1").await;
    assert_eq!(t.status, StatusCode::OK);
    assert_eq!(
        t.header("content-type").unwrap(),
        "application/octet-stream"
    );
    assert_eq!(t.header("cache-control").unwrap(), "no-cache");
    assert_eq!(t.body, leaf_hash(&bodies[0]).0.to_vec());
    let b = tile(&router, "entries/000.p/1").await;
    assert_eq!(
        b.body,
        encode_entry_bundle(&[bodies[0].as_slice()]).unwrap()
    );
    tile(&router, "0/000")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    tile(&router, "0/000.p/2")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    tile(&router, "entries/000.p/2")
        .await
        .assert_error(StatusCode::NOT_FOUND);

    // Size 256: one full level-0 tile, a width-1 level-1 tile holding the root.
    for i in 1..256 {
        bodies.push(add(i).await);
    }
    let all = leaves(&bodies);
    let root = mth(&all);
    let reply = get(&router, "/api/v2/checkpoint").await;
    let cp = open_checkpoint(&reply.text(), &[verifier_for(&v2)]).unwrap();
    assert_eq!((cp.size, cp.root_hash), (256, root));
    let t = tile(&router, "0/000").await;
    assert_eq!(t.status, StatusCode::OK);
    assert_eq!(
        t.header("cache-control").unwrap(),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(t.body.len(), 8192);
    assert_eq!(t.body, all.iter().flat_map(|h| h.0).collect::<Vec<u8>>());
    assert_eq!(tile(&router, "1/000.p/1").await.body, root.0.to_vec());
    let bundle = tile(&router, "entries/000").await;
    assert_eq!(
        bundle.header("cache-control").unwrap(),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(decode_entry_bundle(&bundle.body).unwrap(), bodies);
    // Older partial widths stay available and match.
    assert_eq!(
        tile(&router, "0/000.p/3").await.body,
        all[..3].iter().flat_map(|h| h.0).collect::<Vec<u8>>()
    );

    // Size 257: a new partial level-0 tile and bundle; the full ones are unchanged.
    bodies.push(add(256).await);
    let all = leaves(&bodies);
    let cp = open_checkpoint(
        &get(&router, "/api/v2/checkpoint").await.text(),
        &[verifier_for(&v2)],
    )
    .unwrap();
    assert_eq!((cp.size, cp.root_hash), (257, mth(&all)));
    assert_eq!(tile(&router, "0/001.p/1").await.body, all[256].0.to_vec());
    assert_eq!(tile(&router, "0/000").await.body.len(), 8192);
    assert_eq!(tile(&router, "1/000.p/1").await.body, root.0.to_vec());
    assert_eq!(
        decode_entry_bundle(&tile(&router, "entries/001.p/1").await.body).unwrap(),
        vec![bodies[256].clone()]
    );
    tile(&router, "0/001.p/2")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    tile(&router, "0/002")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    tile(&router, "1/000")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    for bad in [
        "0/1",
        "0/0000",
        "x/000",
        "0/000.p/0",
        "0/000.p/256",
        "64/000",
        "entries/x000",
        "0/x000/001",
        "0/000.p/",
    ] {
        tile(&router, bad)
            .await
            .assert_error(StatusCode::BAD_REQUEST);
    }
}

#[test]
fn mth_matches_known_shapes() {
    let l: Vec<Hash> = (0u8..3).map(|i| leaf_hash(&[i])).collect();
    assert_eq!(mth(&l[..1]), l[0]);
    assert_eq!(mth(&l[..2]), node_hash(&l[0], &l[1]));
    assert_eq!(mth(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
    let l: Vec<Hash> = (0u8..5).map(|i| leaf_hash(&[i])).collect();
    let four = node_hash(&node_hash(&l[0], &l[1]), &node_hash(&l[2], &l[3]));
    assert_eq!(mth(&l), node_hash(&four, &l[4]));
}

#[tokio::test]
async fn opening_entry_is_a_verifiable_hashedrekord_naming_the_log() {
    let v2 = V2::new().await;
    assert_eq!(v2.state.append_opening_entry().await.unwrap(), Some(0));
    assert_eq!(v2.state.append_opening_entry().await.unwrap(), None);
    let bundle =
        decode_entry_bundle(&v2.state.tile("entries/000.p/1").await.unwrap().bytes).unwrap();
    let body: Value = serde_json::from_slice(&bundle[0]).unwrap();
    let spec = &body["spec"]["hashedRekordV002"];
    let statement = format!("sigstack transparency log\norigin: {V2_ORIGIN}\n");
    assert_eq!(
        unb64(spec["data"]["digest"].as_str().unwrap()),
        sha256(statement.as_bytes())
    );
    let key = PublicKey::from_spki_der(&unb64(
        spec["signature"]["verifier"]["publicKey"]["rawBytes"]
            .as_str()
            .unwrap(),
    ))
    .unwrap();
    key.verify(
        statement.as_bytes(),
        &unb64(spec["signature"]["content"].as_str().unwrap()),
    )
    .unwrap();
    // The checkpoint covers it.
    let verifier =
        NoteVerifier::for_key(V2_ORIGIN, v2.signer.public_key().unwrap(), KeyIdRule::C2sp).unwrap();
    let checkpoint = open_checkpoint(&v2.state.checkpoint().await.unwrap(), &[verifier]).unwrap();
    assert_eq!(
        (checkpoint.size, checkpoint.root_hash),
        (1, leaf_hash(&bundle[0]))
    );
}
