//! RSA signing keys in hashedrekord entries (Rekor v1 0.0.1 and v2 0.0.2), with signatures
//! made by the OpenSSL command line; RSA keys below 2048 bits and mislabelled sizes are refused.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use serde_json::json;
use sigstack_keys::{PublicKey, sha256};

use common::*;

fn key_file(name: &str) -> String {
    format!(
        "{}/../crates/keys/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl is installed by .ci/run");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?}");
    out.stdout
}

fn rsa_public_pem(bits: u32) -> String {
    String::from_utf8(openssl(
        &[
            "pkey",
            "-in",
            &key_file(&format!("rsa-{bits}.pem")),
            "-pubout",
        ],
        b"",
    ))
    .unwrap()
}

#[tokio::test]
async fn rekor_v1_hashedrekord_accepts_rsa_keys() {
    let v1 = V1::new().await;
    let router = v1.router();
    for (bits, hash, algorithm) in [(2048, "-sha256", "sha256"), (4096, "-sha384", "sha384")] {
        let artifact = format!("artifact signed with RSA {bits}");
        let sig = openssl(
            &["dgst", hash, "-sign", &key_file(&format!("rsa-{bits}.pem"))],
            artifact.as_bytes(),
        );
        let digest = openssl(&["dgst", hash, "-binary"], artifact.as_bytes());
        let entry = json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "signature": {"content": b64(&sig), "publicKey": {"content": b64(rsa_public_pem(bits).as_bytes())}},
                "data": {"hash": {"algorithm": algorithm, "value": hex::encode(&digest)}},
            },
        });
        let reply = post_json(&router, "/api/v1/log/entries", &entry).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        // A signature over another artifact is refused.
        let mut wrong = entry.clone();
        wrong["spec"]["data"]["hash"]["value"] =
            json!(hex::encode(openssl(&["dgst", hash, "-binary"], b"other")));
        let reply = post_json(&router, "/api/v1/log/entries", &wrong).await;
        reply.assert_error(StatusCode::BAD_REQUEST);
    }
    // RSA 1024 is refused.
    let weak = std::fs::read_to_string(key_file("rsa-1024-public.pem")).unwrap();
    let entry = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "signature": {"content": b64(&[1u8; 128]), "publicKey": {"content": b64(weak.as_bytes())}},
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(sha256(b"x"))}},
        },
    });
    post_json(&router, "/api/v1/log/entries", &entry)
        .await
        .assert_error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rekor_v2_hashedrekord_accepts_rsa_keys_with_exact_key_details() {
    let v2 = V2::new().await;
    let router = v2.router();
    let artifact = b"artifact for rekor v2";
    let spki = PublicKey::from_pem(&rsa_public_pem(3072))
        .unwrap()
        .spki_der()
        .to_vec();
    let sig = openssl(
        &["dgst", "-sha256", "-sign", &key_file("rsa-3072.pem")],
        artifact,
    );
    let request = |details: &str| {
        json!({"hashedRekordRequestV002": {
            "digest": b64(&sha256(artifact)),
            "signature": {"content": b64(&sig), "verifier": {"publicKey": {"rawBytes": b64(&spki)}, "keyDetails": details}},
        }})
    };
    let reply = post_json(
        &router,
        "/api/v2/log/entries",
        &request("PKIX_RSA_PKCS1V15_3072_SHA256"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let body = unb64(reply.json()["canonicalizedBody"].as_str().unwrap());
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["spec"]["hashedRekordV002"]["signature"]["verifier"]["keyDetails"],
        "PKIX_RSA_PKCS1V15_3072_SHA256"
    );
    // The size in keyDetails must be the key's.
    post_json(
        &router,
        "/api/v2/log/entries",
        &request("PKIX_RSA_PKCS1V15_2048_SHA256"),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST);
}
