//! Client key types through Fulcio's HTTP API: RSA (2048–4096, PKCS#1 v1.5 and PSS CSRs,
//! PKCS#1 v1.5 proofs of possession) and ECDSA P-384, each with the hash upstream pairs with
//! it; weak keys and mismatched proofs are refused with 400 and nothing is issued.
//! RSA signatures are made by the OpenSSL command line, an independent implementation.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{CtMode, Stack, public_key_request, sign};
use der::{Decode, Encode};
use serde_json::json;
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer};
use x509_cert::Certificate;
use x509_parser::prelude::*;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../crates/fulcio-core/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn openssl_sign(key_file: &str, message: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let path = format!(
        "{}/../crates/fulcio-core/tests/data/{key_file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-sign", &path])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl is installed by .ci/run");
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

fn csr_spki(csr_pem: &str) -> Vec<u8> {
    let (_, der) = der::pem::decode_vec(csr_pem.as_bytes()).unwrap();
    x509_cert::request::CertReq::from_der(&der)
        .unwrap()
        .info
        .public_key
        .to_der()
        .unwrap()
}

/// Issue through the API and check the leaf with an independent parser: it certifies `spki`
/// and verifies under the intermediate.
async fn issue_and_check(stack: &Stack, body: serde_json::Value, spki: &[u8]) {
    let (status, answer) = sign(stack.app(), &body, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let pem = answer["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .unwrap();
    let leaf = Certificate::load_pem_chain(pem.as_bytes())
        .unwrap()
        .remove(0);
    let der = leaf.to_der().unwrap();
    let (_, parsed) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(parsed.public_key().raw, spki);
    let issuer_key = sigstack_keys::PublicKey::from_spki_der(
        &stack
            .ca
            .issuer()
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap(),
    )
    .unwrap();
    issuer_key
        .verify(
            parsed.tbs_certificate.as_ref(),
            parsed.signature_value.data.as_ref(),
        )
        .unwrap();
    let san = parsed.subject_alternative_name().unwrap().unwrap();
    assert!(matches!(
        san.value.general_names.as_slice(),
        [GeneralName::RFC822Name("alice@example.com")]
    ));
}

#[tokio::test]
async fn rsa_and_p384_client_keys_get_certificates() {
    let stack = Stack::start(CtMode::Log).await;
    let claims = stack.email_claims("alice@example.com");
    let mut issued = 0;

    // CSRs: RSA 2048 and 3072 with PKCS#1 v1.5 / SHA-256, RSA 4096 with PSS / SHA-256.
    for file in [
        "rsa2048-sha256-csr.pem",
        "rsa3072-sha256-csr.pem",
        "rsa4096-pss-sha256-csr.pem",
        "p384-sha384-openssl-csr.pem",
    ] {
        let csr = fixture(file);
        let body = json!({
            "credentials": {"oidcIdentityToken": stack.idp_key.sign(&claims)},
            "certificateSigningRequest": STANDARD.encode(&csr),
        });
        issue_and_check(&stack, body, &csr_spki(&csr)).await;
        issued += 1;
    }

    // publicKeyRequest with an RSA key: PKCS#1 v1.5 / SHA-256 over the email.
    let spki = csr_spki(&fixture("rsa3072-sha256-csr.pem"));
    let body = json!({
        "credentials": {"oidcIdentityToken": stack.idp_key.sign(&claims)},
        "publicKeyRequest": {
            "publicKey": {
                "algorithm": "RSA_PSS",
                "content": sigstack_keys::pem_encode("PUBLIC KEY", &spki),
            },
            "proofOfPossession": STANDARD.encode(openssl_sign("rsa3072-key.pem", b"alice@example.com")),
        },
    });
    issue_and_check(&stack, body, &spki).await;
    issued += 1;

    // publicKeyRequest with a P-384 key: ECDSA / SHA-384.
    let p384 = FileSigner::generate(SignatureAlgorithm::EcdsaP384Sha384).unwrap();
    let body = json!({
        "credentials": {"oidcIdentityToken": stack.idp_key.sign(&claims)},
        "publicKeyRequest": public_key_request(&p384, "alice@example.com"),
    });
    issue_and_check(&stack, body, p384.public_key_der()).await;
    issued += 1;
    assert_eq!(stack.issued(), issued);
    assert_eq!(stack.ct_size().await, issued);
}

#[tokio::test]
async fn weak_keys_and_wrong_proofs_are_refused_with_400() {
    let stack = Stack::start(CtMode::Log).await;
    let claims = stack.email_claims("alice@example.com");
    let token = stack.idp_key.sign(&claims);
    let refused = |body: serde_json::Value, needle: &'static str| {
        let app = stack.app();
        async move {
            let (status, answer) = sign(app, &body, None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
            assert_eq!(answer["code"], 400);
            let message = answer["message"].as_str().unwrap();
            assert!(
                message.contains(needle),
                "{message:?} should mention {needle:?}"
            );
        }
    };
    for (file, needle) in [
        ("rsa1024-sha256-csr.pem", "2048 to 4096"),
        ("p224-sha256-csr.pem", "curve"),
        ("rsa3072-sha384-csr.pem", "does not match"),
        ("p256-with-sha384-csr.pem", "does not match"),
    ] {
        let body = json!({
            "credentials": {"oidcIdentityToken": token},
            "certificateSigningRequest": STANDARD.encode(fixture(file)),
        });
        refused(body, needle).await;
    }
    // Malformed CSR.
    let body = json!({
        "credentials": {"oidcIdentityToken": token},
        "certificateSigningRequest": STANDARD.encode("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"),
    });
    refused(body, "CSR").await;

    // RSA PoP over the wrong value, and an RSA PoP made with PSS (upstream verifies PKCS#1 v1.5).
    let spki = csr_spki(&fixture("rsa3072-sha256-csr.pem"));
    let content = sigstack_keys::pem_encode("PUBLIC KEY", &spki);
    for proof in [
        openssl_sign("rsa3072-key.pem", b"mallory@example.com"),
        FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256)
            .unwrap()
            .sign(b"alice@example.com")
            .unwrap(),
    ] {
        let body = json!({
            "credentials": {"oidcIdentityToken": token},
            "publicKeyRequest": {
                "publicKey": {"algorithm": "RSA_PSS", "content": content},
                "proofOfPossession": STANDARD.encode(proof),
            },
        });
        refused(body, "could not be verified").await;
    }
    assert_eq!(stack.issued(), 0, "nothing may be issued");
    assert_eq!(stack.ct_size().await, 0, "nothing may reach the CT log");
}
