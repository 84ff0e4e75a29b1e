//! Rekor v1 API, in process: every entry kind is accepted, verifiable (SET, inclusion proof,
//! checkpoint), canonical and retrievable; bad input is refused with a JSON error and writes
//! nothing.
#![allow(clippy::unwrap_used)]

mod common;

use axum::Router;
use axum::http::StatusCode;
use serde_json::{Value, json};
use sigstack_keys::{FileSigner, PublicKey, SignatureAlgorithm, Signer, pem_encode, sha256};
use sigstack_rekor::kinds::dsse::pae;
use sigstack_rekor::set::verify_set;
use sigstack_rekor::v1::wire::{LogEntry, LogInfo};
use sigstack_tlog::merkle::{Hash, leaf_hash, verify_consistency, verify_inclusion};
use sigstack_tlog::{KeyIdRule, Note, NoteVerifier, open_checkpoint};

use common::*;

const ENTRIES: &str = "/api/v1/log/entries";

fn hashedrekord(client: &Client, artifact: &[u8], pem: &str) -> Value {
    let sig = client.key.sign(artifact).unwrap();
    json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "signature": {"content": b64(&sig), "publicKey": {"content": b64(pem.as_bytes())}},
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(sha256(artifact))}},
        },
    })
}

const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

fn statement() -> Vec<u8> {
    br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"00"}}],"predicateType":"https://example.com/p","predicate":{}}"#.to_vec()
}

fn dsse_envelope(client: &Client, payload: &[u8]) -> (String, Vec<u8>) {
    let sig = client.key.sign(&pae(PAYLOAD_TYPE, payload)).unwrap();
    let envelope = json!({"payload": b64(payload), "payloadType": PAYLOAD_TYPE, "signatures": [{"keyid": "", "sig": b64(&sig)}]});
    (envelope.to_string(), sig)
}

fn dsse_entry(envelope: &str, verifier_pem: &str) -> Value {
    json!({"apiVersion": "0.0.1", "kind": "dsse",
           "spec": {"proposedContent": {"envelope": envelope, "verifiers": [b64(verifier_pem.as_bytes())]}}})
}

fn intoto_entry(client: &Client, payload: &[u8], pem: &str) -> (Value, Vec<u8>, String) {
    let sig = client.key.sign(&pae(PAYLOAD_TYPE, payload)).unwrap();
    let envelope_hash = hex::encode(sha256(b"the client's canonical envelope"));
    let entry = json!({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
        "envelope": {
            "payload": b64(b64(payload).as_bytes()),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"keyid": "key-1", "sig": b64(b64(&sig).as_bytes()), "publicKey": b64(pem.as_bytes())}],
        },
        "hash": {"algorithm": "sha256", "value": envelope_hash},
    }}});
    (entry, sig, envelope_hash)
}

/// Check everything a client checks about a returned entry; returns the decoded body.
fn verify_entry(v1: &V1, entry: &LogEntry) -> Vec<u8> {
    let e = &entry.entry;
    let log_key = PublicKey::from_spki_der(v1.signer.public_key_der()).unwrap();
    assert_eq!(e.log_id, hex::encode(sha256(v1.signer.public_key_der())));
    assert_eq!(e.log_id, hex::encode(v1.state.log_id()));
    assert_eq!(e.integrated_time, NOW as i64);
    verify_set(
        &log_key,
        &e.body,
        e.integrated_time,
        &e.log_id,
        e.log_index,
        &unb64(&e.verification.signed_entry_timestamp),
    )
    .unwrap();
    assert!(
        verify_set(
            &log_key,
            &e.body,
            e.integrated_time,
            &e.log_id,
            e.log_index + 1,
            &unb64(&e.verification.signed_entry_timestamp)
        )
        .is_err()
    );

    let body = unb64(&e.body);
    let leaf = leaf_hash(&body);
    assert_eq!(
        entry.entry_id,
        format!("{:016x}{}", v1.state.tree_id(), leaf.to_hex())
    );
    let proof = &e.verification.inclusion_proof;
    assert_eq!(proof.log_index, e.log_index);
    let root = proof.root_hash.0;
    let hashes: Vec<Hash> = proof.hashes.iter().map(|h| h.0).collect();
    verify_inclusion(proof.log_index, proof.tree_size, &leaf, &hashes, &root).unwrap();

    let verifier = NoteVerifier::for_key(HOSTNAME, log_key, KeyIdRule::RekorV1).unwrap();
    let checkpoint = open_checkpoint(&proof.checkpoint, &[verifier]).unwrap();
    assert_eq!(
        checkpoint.origin,
        format!("{HOSTNAME} - {}", v1.state.tree_id())
    );
    assert_eq!(checkpoint.size, proof.tree_size);
    assert_eq!(checkpoint.root_hash, root);
    let note = Note::parse(&proof.checkpoint).unwrap();
    assert_eq!(hex::encode(note.signatures[0].key_id), e.log_id[..8]);
    assert_eq!(note.signatures[0].name, HOSTNAME);
    body
}

async fn tree_size(router: &Router) -> u64 {
    let info: LogInfo = serde_json::from_value(get(router, "/api/v1/log").await.json()).unwrap();
    info.tree_size
}

async fn create(router: &Router, entry: &Value) -> (Reply, LogEntry) {
    let reply = post_json(router, ENTRIES, entry).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let parsed: LogEntry = serde_json::from_slice(&reply.body).unwrap();
    (reply, parsed)
}

#[tokio::test]
async fn hashedrekord_with_crlf_certificate_is_logged_canonically() {
    let v1 = V1::new().await;
    let router = v1.router();
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let artifact = b"artifact bytes";
    let crlf_pem = client.cert_pem.replace('\n', "\r\n");
    let request = hashedrekord(&client, artifact, &crlf_pem);
    let (reply, entry) = create(&router, &request).await;

    assert_eq!(reply.header("etag").unwrap(), entry.entry_id);
    assert_eq!(
        reply.header("location").unwrap(),
        format!("{ENTRIES}/{}", entry.entry_id)
    );
    assert_eq!(entry.entry_id.len(), 80);
    assert_eq!(entry.entry.log_index, 0);
    let body = verify_entry(&v1, &entry);

    // Byte-exact canonical body: LF PEM, only signature.content, publicKey.content, data.hash.
    let sig = request["spec"]["signature"]["content"].as_str().unwrap();
    let expected = format!(
        "{{\"apiVersion\":\"0.0.1\",\"kind\":\"hashedrekord\",\"spec\":{{\"data\":{{\"hash\":{{\"algorithm\":\"sha256\",\"value\":\"{}\"}}}},\"signature\":{{\"content\":\"{sig}\",\"publicKey\":{{\"content\":\"{}\"}}}}}}}}",
        hex::encode(sha256(artifact)),
        b64(client.cert_pem.as_bytes())
    );
    assert_eq!(String::from_utf8(body).unwrap(), expected);

    // The LF submission is the same leaf: a duplicate, pointing at the existing entry.
    let mut lf = request.clone();
    lf["spec"]["signature"]["publicKey"]["content"] = b64(client.cert_pem.as_bytes()).into();
    let dup = post_json(&router, ENTRIES, &lf).await;
    dup.assert_error(StatusCode::CONFLICT);
    assert_eq!(
        dup.header("location").unwrap(),
        format!("{ENTRIES}/{}", entry.entry_id)
    );
    assert_eq!(tree_size(&router).await, 1);
}

#[tokio::test]
async fn hashedrekord_with_public_key_and_p384() {
    let v1 = V1::new().await;
    let router = v1.router();
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let key_pem = pem_encode("PUBLIC KEY", client.key.public_key_der());
    let (_, entry) = create(&router, &hashedrekord(&client, b"one", &key_pem)).await;
    let body: Value = serde_json::from_slice(&verify_entry(&v1, &entry)).unwrap();
    assert_eq!(
        unb64(
            body["spec"]["signature"]["publicKey"]["content"]
                .as_str()
                .unwrap()
        ),
        key_pem.as_bytes()
    );

    let p384 = Client::new(SignatureAlgorithm::EcdsaP384Sha384);
    let artifact = b"p384 artifact";
    let sig = p384.key.sign(artifact).unwrap();
    let digest = sigstack_keys::SignatureAlgorithm::EcdsaP384Sha384.digest(artifact);
    let req = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "signature": {"content": b64(&sig), "publicKey": {"content": b64(p384.cert_pem.as_bytes())}},
        "data": {"hash": {"algorithm": "sha384", "value": hex::encode(digest)}}}});
    let (_, entry) = create(&router, &req).await;
    assert_eq!(entry.entry.log_index, 1);
    verify_entry(&v1, &entry);
}

#[tokio::test]
async fn dsse_entry_is_logged_with_hashes_and_sorted_signatures() {
    let v1 = V1::new().await;
    let router = v1.router();
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let payload = statement();
    let (envelope, sig) = dsse_envelope(&client, &payload);
    let crlf = client.cert_pem.replace('\n', "\r\n");
    let (_, entry) = create(&router, &dsse_entry(&envelope, &crlf)).await;
    let body = verify_entry(&v1, &entry);
    let expected = format!(
        "{{\"apiVersion\":\"0.0.1\",\"kind\":\"dsse\",\"spec\":{{\"envelopeHash\":{{\"algorithm\":\"sha256\",\"value\":\"{}\"}},\"payloadHash\":{{\"algorithm\":\"sha256\",\"value\":\"{}\"}},\"signatures\":[{{\"signature\":\"{}\",\"verifier\":\"{}\"}}]}}}}",
        hex::encode(sha256(envelope.as_bytes())),
        hex::encode(sha256(&payload)),
        b64(&sig),
        b64(client.cert_pem.as_bytes()),
    );
    assert_eq!(String::from_utf8(body).unwrap(), expected);

    // Two signers: records sorted by signature string, each with its own verifier.
    let other = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let sig2 = other.key.sign(&pae(PAYLOAD_TYPE, &payload)).unwrap();
    let env2 = json!({"payload": b64(&payload), "payloadType": PAYLOAD_TYPE,
        "signatures": [{"sig": b64(&sig)}, {"sig": b64(&sig2)}]})
    .to_string();
    let req = json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {"envelope": env2,
        "verifiers": [b64(client.cert_pem.as_bytes()), b64(other.cert_pem.as_bytes())]}}});
    let (_, entry) = create(&router, &req).await;
    let body: Value = serde_json::from_slice(&verify_entry(&v1, &entry)).unwrap();
    let sigs = body["spec"]["signatures"].as_array().unwrap();
    let mut want = vec![
        (b64(&sig), b64(client.cert_pem.as_bytes())),
        (b64(&sig2), b64(other.cert_pem.as_bytes())),
    ];
    want.sort();
    let got: Vec<(String, String)> = sigs
        .iter()
        .map(|s| {
            (
                s["signature"].as_str().unwrap().to_owned(),
                s["verifier"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, want);

    // A signature nobody supplied a key for is refused.
    let req = json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {"envelope":
        json!({"payload": b64(&payload), "payloadType": PAYLOAD_TYPE, "signatures": [{"sig": b64(&sig)}, {"sig": b64(&sig2)}]}).to_string(),
        "verifiers": [b64(client.cert_pem.as_bytes())]}}});
    post_json(&router, ENTRIES, &req)
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    assert_eq!(tree_size(&router).await, 2);
}

#[tokio::test]
async fn intoto_entry_drops_payload_and_adds_payload_hash() {
    let v1 = V1::new().await;
    let router = v1.router();
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let payload = statement();
    let crlf = client.cert_pem.replace('\n', "\r\n");
    let (req, sig, envelope_hash) = intoto_entry(&client, &payload, &crlf);
    let (_, entry) = create(&router, &req).await;
    let body = verify_entry(&v1, &entry);
    let expected = format!(
        "{{\"apiVersion\":\"0.0.2\",\"kind\":\"intoto\",\"spec\":{{\"content\":{{\"envelope\":{{\"payloadType\":\"{PAYLOAD_TYPE}\",\"signatures\":[{{\"keyid\":\"key-1\",\"publicKey\":\"{}\",\"sig\":\"{}\"}}]}},\"hash\":{{\"algorithm\":\"sha256\",\"value\":\"{envelope_hash}\"}},\"payloadHash\":{{\"algorithm\":\"sha256\",\"value\":\"{}\"}}}}}}}}",
        b64(client.cert_pem.as_bytes()),
        b64(b64(&sig).as_bytes()),
        hex::encode(sha256(&payload)),
    );
    assert_eq!(String::from_utf8(body).unwrap(), expected);

    // A signature by another key than the one attached is refused.
    let other = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let (bad, _, _) = intoto_entry(&client, b"other payload", &other.cert_pem);
    post_json(&router, ENTRIES, &bad)
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    assert_eq!(tree_size(&router).await, 1);
}

#[tokio::test]
async fn reads_return_identical_entries() {
    let v1 = V1::new().await;
    let router = v1.router();
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let first = hashedrekord(&client, b"first", &client.cert_pem);
    let (_, e0) = create(&router, &first).await;
    let (_, e1) = create(&router, &hashedrekord(&client, b"second", &client.cert_pem)).await;
    assert_eq!(e1.entry.log_index, 1);

    let by_index = get(&router, &format!("{ENTRIES}?logIndex=0")).await;
    assert_eq!(by_index.status, StatusCode::OK);
    let by_index_json = by_index.json();
    let parsed: LogEntry = serde_json::from_value(by_index_json.clone()).unwrap();
    verify_entry(&v1, &parsed);
    // Same entry as created (now proved against the larger tree).
    assert_eq!(parsed.entry_id, e0.entry_id);
    assert_eq!(parsed.entry.body, e0.entry.body);
    assert_eq!(
        parsed.entry.verification.signed_entry_timestamp,
        e0.entry.verification.signed_entry_timestamp
    );
    assert_eq!(parsed.entry.verification.inclusion_proof.tree_size, 2);

    let uuid = &e0.entry_id[16..];
    for path in [
        format!("{ENTRIES}/{}", e0.entry_id),
        format!("{ENTRIES}/{uuid}"),
        format!("{ENTRIES}/{}", e0.entry_id.to_uppercase()),
    ] {
        let reply = get(&router, &path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.json(), by_index_json, "{path}");
    }

    for query in [
        json!({"entryUUIDs": [e0.entry_id]}),
        json!({"entryUUIDs": [uuid]}),
        json!({"logIndexes": [0]}),
        json!({"entries": [first]}),
    ] {
        for path in [
            "/api/v1/log/entries/retrieve",
            "/api/v1/log/entries/retrieve/",
        ] {
            let reply = post_json(&router, path, &query).await;
            assert_eq!(reply.status, StatusCode::OK, "{query}");
            assert_eq!(reply.json(), json!([by_index_json]), "{query}");
        }
    }
    // Several at once; unknown ones are skipped.
    let reply = post_json(
        &router,
        "/api/v1/log/entries/retrieve",
        &json!({"logIndexes": [1, 0, 7], "entryUUIDs": ["00".repeat(32)]}),
    )
    .await;
    let arr = reply.json();
    assert_eq!(arr.as_array().unwrap().len(), 2);
    assert_eq!(arr[1], by_index_json);

    // More than 10 queries: 422.
    let reply = post_json(
        &router,
        "/api/v1/log/entries/retrieve",
        &json!({"logIndexes": (0..11).collect::<Vec<u64>>()}),
    )
    .await;
    reply.assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    // Malformed UUID: 400. Other tree: 404. Missing index: 404.
    get(&router, &format!("{ENTRIES}/xyz"))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    get(&router, &format!("{ENTRIES}/{}{uuid}", "0".repeat(16)))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    get(&router, &format!("{ENTRIES}/{}", "ab".repeat(32)))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    get(&router, &format!("{ENTRIES}?logIndex=2"))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    get(&router, &format!("{ENTRIES}?logIndex=-1"))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    get(&router, ENTRIES)
        .await
        .assert_error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn log_info_public_key_and_consistency_proofs() {
    let v1 = V1::new().await;
    let router = v1.router();
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let mut roots = Vec::new();
    for i in 0..5u8 {
        let (_, e) = create(&router, &hashedrekord(&client, &[i], &client.cert_pem)).await;
        roots.push(e.entry.verification.inclusion_proof.root_hash.0);
    }
    let info = get(&router, "/api/v1/log").await;
    assert_eq!(info.status, StatusCode::OK);
    let info_json = info.json();
    assert!(info_json["treeID"].is_string(), "{info_json}");
    let info: LogInfo = serde_json::from_value(info_json).unwrap();
    assert_eq!(info.tree_size, 5);
    assert_eq!(info.tree_id, v1.state.tree_id().to_string());
    assert_eq!(info.root_hash.0, roots[4]);
    let log_key = PublicKey::from_spki_der(v1.signer.public_key_der()).unwrap();
    let cp = open_checkpoint(
        &info.signed_tree_head,
        &[NoteVerifier::for_key(HOSTNAME, log_key.clone(), KeyIdRule::RekorV1).unwrap()],
    )
    .unwrap();
    assert_eq!((cp.size, cp.root_hash), (5, roots[4]));

    let pk = get(&router, "/api/v1/log/publicKey").await;
    assert_eq!(pk.header("content-type").unwrap(), "application/x-pem-file");
    assert_eq!(PublicKey::from_pem(&pk.text()).unwrap(), log_key);

    for (first, last) in [(1u64, 5u64), (2, 5), (3, 4), (4, 4)] {
        let reply = get(
            &router,
            &format!("/api/v1/log/proof?firstSize={first}&lastSize={last}"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        let v = reply.json();
        assert_eq!(v["rootHash"], roots[last as usize - 1].to_hex());
        let hashes: Vec<Hash> = v["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash::from_hex(h.as_str().unwrap()).unwrap())
            .collect();
        verify_consistency(
            first,
            last,
            &roots[first as usize - 1],
            &roots[last as usize - 1],
            &hashes,
        )
        .unwrap();
    }
    let default_first = get(&router, "/api/v1/log/proof?lastSize=3").await.json();
    assert_eq!(default_first["rootHash"], roots[2].to_hex());
    for bad in [
        "firstSize=4&lastSize=2",
        "firstSize=1&lastSize=6",
        "firstSize=0&lastSize=2",
        "lastSize=x",
        "firstSize=1",
    ] {
        get(&router, &format!("/api/v1/log/proof?{bad}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn bad_requests_are_refused_and_write_nothing() {
    let v1 = V1::new().await;
    let router = v1.router();
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let good = hashedrekord(&client, b"artifact", &client.cert_pem);

    let mut tampered_sig = good.clone();
    let mut sig = unb64(
        tampered_sig["spec"]["signature"]["content"]
            .as_str()
            .unwrap(),
    );
    let last = sig.len() - 1;
    sig[last] ^= 1;
    tampered_sig["spec"]["signature"]["content"] = json!(b64(&sig));
    let mut tampered_digest = good.clone();
    tampered_digest["spec"]["data"]["hash"]["value"] = json!(hex::encode(sha256(b"other")));
    let ed = Client::new(SignatureAlgorithm::Ed25519);
    let wrong_key_type = hashedrekord(&ed, b"artifact", &ed.cert_pem);
    let mut wrong_key = good.clone();
    let other = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    wrong_key["spec"]["signature"]["publicKey"]["content"] = json!(b64(other.cert_pem.as_bytes()));
    let mut chain = good.clone();
    chain["spec"]["signature"]["publicKey"]["content"] =
        json!(b64(
            format!("{}{}", client.cert_pem, other.cert_pem).as_bytes()
        ));
    let mut bad_alg = good.clone();
    bad_alg["spec"]["data"]["hash"]["algorithm"] = json!("md5");
    let mut upper_hex = good.clone();
    upper_hex["spec"]["data"]["hash"]["value"] =
        json!(hex::encode(sha256(b"artifact")).to_uppercase());
    let mut not_b64 = good.clone();
    not_b64["spec"]["signature"]["content"] = json!("%%%");
    let mut missing = good.clone();
    missing["spec"].as_object_mut().unwrap().remove("data");
    let unknown_kind = json!({"apiVersion": "0.0.1", "kind": "rekord", "spec": {}});
    let (envelope, _) = dsse_envelope(&client, &statement());
    let dsse_wrong_verifier = dsse_entry(&envelope, &other.cert_pem);
    let (mut intoto_missing_hash, _, _) = intoto_entry(&client, &statement(), &client.cert_pem);
    intoto_missing_hash["spec"]["content"]
        .as_object_mut()
        .unwrap()
        .remove("hash");

    for (name, entry) in [
        ("tampered signature", &tampered_sig),
        ("tampered digest", &tampered_digest),
        ("Ed25519 key", &wrong_key_type),
        ("another key", &wrong_key),
        ("certificate chain", &chain),
        ("bad hash algorithm", &bad_alg),
        ("uppercase hex", &upper_hex),
        ("signature not base64", &not_b64),
        ("missing data", &missing),
        ("unknown kind", &unknown_kind),
        ("dsse with the wrong verifier", &dsse_wrong_verifier),
        ("intoto without hash", &intoto_missing_hash),
    ] {
        let reply = post_json(&router, ENTRIES, entry).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            reply.text()
        );
        reply.assert_error(StatusCode::BAD_REQUEST);
    }
    let reply = post_json(&router, ENTRIES, &unknown_kind).await;
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("unsupported kind")
    );

    post_raw(&router, ENTRIES, "application/json", b"{not json".to_vec())
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    post_raw(
        &router,
        ENTRIES,
        "text/plain",
        good.to_string().into_bytes(),
    )
    .await
    .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = vec![b' '; sigstack_rekor::MAX_REQUEST_BODY + 1];
    post_raw(&router, ENTRIES, "application/json", huge)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE);
    // Verifies, but its canonical body exceeds the 64 KiB entry limit.
    let big_type = "t".repeat(70_000);
    let sig = client.key.sign(&pae(&big_type, b"x")).unwrap();
    let big = json!({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
        "envelope": {"payload": b64(b64(b"x").as_bytes()), "payloadType": big_type,
                     "signatures": [{"sig": b64(b64(&sig).as_bytes()), "publicKey": b64(client.cert_pem.as_bytes())}]},
        "hash": {"algorithm": "sha256", "value": "00".repeat(32)}}}});
    post_json(&router, ENTRIES, &big)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(tree_size(&router).await, 0);
    let (_, entry) = create(&router, &good).await;
    assert_eq!(entry.entry.log_index, 0);
}

#[tokio::test]
async fn tree_id_and_integrated_time_survive_a_restart() {
    let v1 = V1::new().await;
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let (_, created) = create(
        &v1.router(),
        &hashedrekord(&client, b"persist", &client.cert_pem),
    )
    .await;
    let tree_id = v1.state.tree_id();
    v1.state.clone().close().await;
    let V1 { dir, signer, state } = v1;
    drop(state);

    let reopened = open_v1(&dir, &signer).await;
    assert_eq!(reopened.tree_id(), tree_id);
    let v1 = V1 {
        dir,
        signer,
        state: reopened,
    };
    let reply = get(&v1.router(), &format!("{ENTRIES}/{}", created.entry_id)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let entry: LogEntry = serde_json::from_slice(&reply.body).unwrap();
    verify_entry(&v1, &entry);
    assert_eq!(entry, created);
}

/// The SET is signed once, when the entry's index is fixed, and stored after the entry's
/// integratedTime; a log written before SETs were stored (time alone) gets them signed on read.
#[tokio::test]
async fn sets_are_stored_with_entries_and_older_entries_are_signed_on_read() {
    let v1 = V1::new().await;
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let (_, created) = create(
        &v1.router(),
        &hashedrekord(&client, b"stored set", &client.cert_pem),
    )
    .await;
    let set = unb64(&created.entry.verification.signed_entry_timestamp);
    v1.state.clone().close().await;
    let V1 { dir, signer, state } = v1;
    drop(state);

    let log = sigstack_tlog_storage::EmbeddedLog::open(&dir.path().join("log"), log_config())
        .await
        .unwrap();
    let stored = log.entry(created.entry.log_index).unwrap();
    let mut want = (NOW as i64).to_be_bytes().to_vec();
    want.extend_from_slice(&set);
    assert_eq!(log.metadata(created.entry.log_index).unwrap(), want);

    // The same entries in a log that kept only the time: the SET is signed on each read.
    let old_dir = tempfile::tempdir().unwrap();
    let old_log =
        sigstack_tlog_storage::EmbeddedLog::open(&old_dir.path().join("log"), log_config())
            .await
            .unwrap();
    for index in 0..=created.entry.log_index {
        let body = log.entry(index).unwrap();
        let appended = old_log
            .append_with_metadata(
                body.clone(),
                leaf_hash(&body).0,
                (NOW as i64).to_be_bytes().to_vec(),
            )
            .await
            .unwrap();
        assert_eq!(appended.index, index);
    }
    assert_eq!(stored, old_log.entry(created.entry.log_index).unwrap());
    old_log.close().await;
    log.close().await;
    std::fs::copy(dir.path().join("tree-id"), old_dir.path().join("tree-id")).unwrap();
    let old = V1 {
        state: open_v1(&old_dir, &signer).await,
        dir: old_dir,
        signer,
    };
    let reply = get(&old.router(), &format!("{ENTRIES}/{}", created.entry_id)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let entry: LogEntry = serde_json::from_slice(&reply.body).unwrap();
    verify_entry(&old, &entry);
    assert_eq!(entry.entry.body, created.entry.body);
    drop(dir);
}

#[tokio::test]
async fn log_key_must_be_a_valid_note_key_name() {
    let dir = tempfile::tempdir().unwrap();
    let signer: std::sync::Arc<dyn Signer> =
        std::sync::Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap());
    let err = sigstack_rekor::RekorV1State::open(sigstack_rekor::RekorV1Config {
        dir: dir.path().to_owned(),
        signer,
        hostname: "has space".into(),
        metrics: sigstack_http::Metrics::new(),
        log: log_config(),
        clock: std::sync::Arc::new(sigstack_clock::SystemClock),
    })
    .await
    .expect_err("refused");
    assert!(
        matches!(err, sigstack_rekor::RekorError::Config(_)),
        "{err}"
    );
}

#[tokio::test]
async fn opening_entry_is_a_verifiable_statement_signed_by_the_log_key() {
    let v1 = V1::new().await;
    assert_eq!(v1.state.append_opening_entry().await.unwrap(), Some(0));
    // Only once: a log that has entries gets none.
    assert_eq!(v1.state.append_opening_entry().await.unwrap(), None);
    let router = v1.router();
    assert_eq!(tree_size(&router).await, 1);

    let entry = v1.state.entry_by_index(0).await.unwrap();
    let body: Value = serde_json::from_slice(&verify_entry(&v1, &entry)).unwrap();
    assert_eq!(body["kind"], "hashedrekord");
    let statement = format!(
        "sigstack transparency log\norigin: {HOSTNAME} - {}\n",
        v1.state.tree_id()
    );
    assert_eq!(
        body["spec"]["data"]["hash"]["value"],
        hex::encode(sha256(statement.as_bytes()))
    );
    let key_pem = String::from_utf8(unb64(
        body["spec"]["signature"]["publicKey"]["content"]
            .as_str()
            .unwrap(),
    ))
    .unwrap();
    let key = PublicKey::from_pem(&key_pem).unwrap();
    assert_eq!(key.spki_der(), v1.signer.public_key_der());
    key.verify(
        statement.as_bytes(),
        &unb64(body["spec"]["signature"]["content"].as_str().unwrap()),
    )
    .unwrap();
}

/// `POST /api/v1/index/retrieve` finds entries by artifact hash, key fingerprint and email,
/// combining criteria with `and`/`or`; malformed queries are 400s.
#[tokio::test]
async fn index_retrieve_finds_entries_by_hash_key_and_email() {
    let v1 = V1::new().await;
    let app = v1.router();
    let alice = Client::with_email(SignatureAlgorithm::EcdsaP256Sha256, "Alice@Example.Test");
    let bob = Client::with_email(SignatureAlgorithm::EcdsaP256Sha256, "bob@example.test");
    let mut ids = Vec::new();
    for (client, artifact) in [
        (&alice, b"artifact one".as_slice()),
        (&alice, b"artifact two".as_slice()),
        (&bob, b"artifact one".as_slice()),
    ] {
        let reply = post_json(
            &app,
            ENTRIES,
            &hashedrekord(client, artifact, &client.cert_pem),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let entry: LogEntry = serde_json::from_slice(&reply.body).unwrap();
        ids.push(entry.entry_id);
    }
    let search = |q: Value| {
        let app = app.clone();
        async move {
            let reply = post_json(&app, "/api/v1/index/retrieve", &q).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            serde_json::from_slice::<Vec<String>>(&reply.body).unwrap()
        }
    };
    let one = hex::encode(sha256(b"artifact one"));
    assert_eq!(
        search(json!({"hash": format!("sha256:{one}")})).await,
        vec![ids[0].clone(), ids[2].clone()]
    );
    assert_eq!(
        search(json!({"hash": one.to_uppercase()})).await,
        vec![ids[0].clone(), ids[2].clone()],
        "bare, any case"
    );
    assert_eq!(
        search(json!({"email": "alice@example.test"})).await,
        ids[..2].to_vec()
    );
    assert_eq!(
        search(json!({"email": "ALICE@example.test", "hash": one, "operator": "and"})).await,
        vec![ids[0].clone()]
    );
    assert_eq!(
        search(json!({"email": "bob@example.test", "hash": hex::encode(sha256(b"artifact two")), "operator": "or"})).await,
        vec![ids[1].clone(), ids[2].clone()]
    );
    let key = json!({"publicKey": {"format": "x509", "content": b64(bob.cert_pem.replace('\n', "\r\n").as_bytes())}});
    assert_eq!(
        search(key).await,
        vec![ids[2].clone()],
        "fingerprint of the canonical PEM"
    );
    assert!(
        search(json!({"email": "nobody@example.test"}))
            .await
            .is_empty()
    );

    for bad in [
        json!({}),
        json!({"email": "alice@example.test", "operator": "xor"}),
        json!({"hash": "sha256:1234"}),
        json!({"email": "not-an-email"}),
        json!({"publicKey": {"format": "ssh", "content": "AAAA"}}),
        json!({"publicKey": {"format": "x509", "url": "https://example.test/key"}}),
        json!({"unknown": 1}),
    ] {
        let reply = post_json(&app, "/api/v1/index/retrieve", &bad).await;
        reply.assert_error(StatusCode::BAD_REQUEST);
    }
}

/// dsse and intoto entries carrying an in-toto statement are found by each subject digest of
/// the statement (what an attestation is about), although the body keeps only the payload's
/// hash; digests of unknown algorithms or payloads of other types are not filed.
#[tokio::test]
async fn index_retrieve_finds_attestations_by_statement_subject_digest() {
    let v1 = V1::new().await;
    let app = v1.router();
    let client = Client::with_email(SignatureAlgorithm::EcdsaP256Sha256, "carol@example.test");
    let image = hex::encode(sha256(b"an image manifest"));
    let file = "ab".repeat(64);
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": "registry.test/app", "digest": {"sha256": image.to_uppercase()}},
            {"name": "file", "digest": {"sha512": file, "md5": "0123456789abcdef0123456789abcdef"}},
        ],
        "predicateType": "https://example.com/p",
        "predicate": {},
    })
    .to_string();
    let (envelope, _) = dsse_envelope(&client, statement.as_bytes());
    let (_, dsse) = create(&app, &dsse_entry(&envelope, &client.cert_pem)).await;
    // The same statement as an intoto 0.0.2 entry (a different envelope text, so not a duplicate).
    let (intoto, _, _) = intoto_entry(&client, statement.as_bytes(), &client.cert_pem);
    let (_, intoto) = create(&app, &intoto).await;
    // A DSSE payload of another type names no subjects.
    let other = b"{\"subject\":[{\"digest\":{\"sha256\":\"ab\"}}]}";
    let sig = client.key.sign(&pae("text/plain", other)).unwrap();
    let plain = json!({"payload": b64(other), "payloadType": "text/plain", "signatures": [{"keyid": "", "sig": b64(&sig)}]});
    create(&app, &dsse_entry(&plain.to_string(), &client.cert_pem)).await;

    let search = |q: Value| {
        let app = app.clone();
        async move {
            let reply = post_json(&app, "/api/v1/index/retrieve", &q).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            serde_json::from_slice::<Vec<String>>(&reply.body).unwrap()
        }
    };
    let both = vec![dsse.entry_id.clone(), intoto.entry_id.clone()];
    assert_eq!(
        search(json!({"hash": format!("sha256:{image}")})).await,
        both
    );
    assert_eq!(
        search(json!({"hash": format!("sha512:{file}")})).await,
        both
    );
    assert_eq!(
        search(json!({"hash": image, "email": "carol@example.test", "operator": "and"})).await,
        both
    );
    assert!(
        search(json!({"hash": hex::encode(sha256(b"another image"))}))
            .await
            .is_empty()
    );
    // The body's own keys are still there: the payload hash finds both.
    assert_eq!(
        search(json!({"hash": hex::encode(sha256(statement.as_bytes()))})).await,
        both
    );
}

/// A DSSE entry with more signatures or verifiers than the limit is refused before any key is
/// parsed or any signature checked, and writes nothing.
#[tokio::test]
async fn dsse_signature_and_verifier_counts_are_capped() {
    let v1 = V1::new().await;
    let app = v1.router();
    let client = Client::new(SignatureAlgorithm::EcdsaP256Sha256);
    let before: LogInfo = serde_json::from_value(get(&app, "/api/v1/log").await.json()).unwrap();
    let payload = statement();
    let sig = client.key.sign(&pae(PAYLOAD_TYPE, &payload)).unwrap();
    let many_sigs: Vec<Value> = (0..9)
        .map(|_| json!({"keyid": "", "sig": b64(&sig)}))
        .collect();
    let envelope =
        json!({"payload": b64(&payload), "payloadType": PAYLOAD_TYPE, "signatures": many_sigs})
            .to_string();
    let reply = post_json(&app, ENTRIES, &dsse_entry(&envelope, &client.cert_pem)).await;
    reply.assert_error(StatusCode::BAD_REQUEST);
    assert!(reply.text().contains("limit"), "{}", reply.text());

    let (one_sig, _) = dsse_envelope(&client, &payload);
    let verifiers: Vec<String> = (0..300).map(|_| b64(client.cert_pem.as_bytes())).collect();
    let entry = json!({"apiVersion": "0.0.1", "kind": "dsse",
        "spec": {"proposedContent": {"envelope": one_sig, "verifiers": verifiers}}});
    let reply = post_json(&app, ENTRIES, &entry).await;
    reply.assert_error(StatusCode::BAD_REQUEST);
    assert!(
        reply.text().contains("verifiers exceed"),
        "{}",
        reply.text()
    );
    let after: LogInfo = serde_json::from_value(get(&app, "/api/v1/log").await.json()).unwrap();
    assert_eq!(after.tree_size, before.tree_size, "nothing written");
}
