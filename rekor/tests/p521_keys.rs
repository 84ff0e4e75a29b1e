//! ECDSA P-521 client keys in hashedrekord entries (Rekor v1 0.0.1 and v2 0.0.2), paired with
//! SHA-512, with keys and signatures made by the OpenSSL command line.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use serde_json::json;
use sigstack_keys::{PublicKey, SignatureAlgorithm, sha256};

use common::*;

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

/// A fresh P-521 key: its file and its public key.
struct P521 {
    _dir: tempfile::TempDir,
    path: String,
    public: PublicKey,
}

impl P521 {
    fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p521.pem");
        let private = openssl(
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-521",
            ],
            b"",
        );
        std::fs::write(&path, private).unwrap();
        let path = path.to_str().unwrap().to_string();
        let pem = String::from_utf8(openssl(&["pkey", "-in", &path, "-pubout"], b"")).unwrap();
        let public = PublicKey::from_pem(&pem).unwrap();
        assert_eq!(public.algorithm(), SignatureAlgorithm::EcdsaP521Sha512);
        Self {
            _dir: dir,
            path,
            public,
        }
    }

    fn sign(&self, hash: &str, message: &[u8]) -> Vec<u8> {
        openssl(&["dgst", hash, "-sign", &self.path], message)
    }
}

#[tokio::test]
async fn rekor_v1_hashedrekord_accepts_p521_with_sha512() {
    let v1 = V1::new().await;
    let router = v1.router();
    let key = P521::generate();
    let artifact = b"artifact signed with P-521";
    let sig = key.sign("-sha512", artifact);
    let digest = SignatureAlgorithm::EcdsaP521Sha512.digest(artifact);
    let entry = |algorithm: &str, digest: &[u8], sig: &[u8]| {
        json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "signature": {"content": b64(sig), "publicKey": {"content": b64(key.public.to_pem().as_bytes())}},
                "data": {"hash": {"algorithm": algorithm, "value": hex::encode(digest)}},
            },
        })
    };
    let reply = post_json(
        &router,
        "/api/v1/log/entries",
        &entry("sha512", &digest, &sig),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());

    // A signature over another artifact, and a SHA-256 digest for this key, are refused.
    let other = SignatureAlgorithm::EcdsaP521Sha512.digest(b"other");
    post_json(
        &router,
        "/api/v1/log/entries",
        &entry("sha512", &other, &sig),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST);
    let sig256 = key.sign("-sha256", artifact);
    post_json(
        &router,
        "/api/v1/log/entries",
        &entry("sha256", &sha256(artifact), &sig256),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rekor_v2_hashedrekord_accepts_p521_with_sha512() {
    let v2 = V2::new().await;
    let router = v2.router();
    let key = P521::generate();
    let artifact = b"artifact for rekor v2";
    let sig = key.sign("-sha512", artifact);
    let request = |digest: &[u8], details: &str| {
        json!({"hashedRekordRequestV002": {
            "digest": b64(digest),
            "signature": {"content": b64(&sig), "verifier": {"publicKey": {"rawBytes": b64(key.public.spki_der())}, "keyDetails": details}},
        }})
    };
    let digest = SignatureAlgorithm::EcdsaP521Sha512.digest(artifact);
    let reply = post_json(
        &router,
        "/api/v2/log/entries",
        &request(&digest, "PKIX_ECDSA_P521_SHA_512"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let body = unb64(reply.json()["canonicalizedBody"].as_str().unwrap());
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let spec = &body["spec"]["hashedRekordV002"];
    assert_eq!(spec["data"]["algorithm"], "SHA2_512");
    assert_eq!(
        spec["signature"]["verifier"]["keyDetails"],
        "PKIX_ECDSA_P521_SHA_512"
    );

    // keyDetails must name the key's curve, and the digest must be SHA-512.
    for (digest, details) in [
        (digest.clone(), "PKIX_ECDSA_P384_SHA_384"),
        (sha256(artifact).to_vec(), "PKIX_ECDSA_P521_SHA_512"),
    ] {
        post_json(&router, "/api/v2/log/entries", &request(&digest, details))
            .await
            .assert_error(StatusCode::BAD_REQUEST);
    }
}
