//! The TSA service in-process: chain setup, DER and JSON requests checked with OpenSSL against
//! the chain served by `/api/v1/timestamp/certchain`, and every bad-input case.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use der::{Decode, Encode};
use http_body_util::BodyExt;
use sigstack_clock::FixedClock;
use sigstack_keys::SignatureAlgorithm;
use sigstack_tsa::{TsaConfig, TsaError, TsaState, router};
use sigstack_tsp::{HashAlgorithm, SIGSTORE_TSA_POLICY, TimeStampResp, TspError, TstInfo};
use tower::ServiceExt;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};

const VECTOR_REQUEST: &[u8] = include_bytes!("data/local-tsa-request-sha512-nonce-certreq.tsq");

/// 2026-03-04T05:06:07.890Z
fn fixed_now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_772_600_767_890)
}

fn config(dir: &std::path::Path, policy: Option<&str>) -> TsaConfig {
    TsaConfig {
        dir: dir.to_path_buf(),
        organization: "sigstack-test".into(),
        common_name: "sigstack-tsa".into(),
        policy: policy.map(str::to_string),
        accuracy: Some(sigstack_tsp::Accuracy {
            seconds: Some(1),
            millis: None,
            micros: None,
        }),
        window: sigstack_tsp::ValidityWindow::default(),
        metrics: sigstack_http::Metrics::new(),
        key: None,
    }
}

fn state(dir: &std::path::Path, policy: Option<&str>) -> TsaState {
    TsaState::load_or_create(config(dir, policy), SystemTime::now())
        .unwrap()
        .with_clock(Arc::new(FixedClock(fixed_now())))
}

async fn call(state: &TsaState, request: Request<Body>) -> (StatusCode, String, Vec<u8>) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, content_type, body)
}

fn post(content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::post("/api/v1/timestamp");
    if let Some(ct) = content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    builder.body(body.into()).unwrap()
}

fn json(value: &serde_json::Value) -> Request<Body> {
    post(Some("application/json"), value.to_string())
}

async fn granted(state: &TsaState, request: Request<Body>) -> (Vec<u8>, TstInfo) {
    let (status, content_type, body) = call(state, request).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, "application/timestamp-reply");
    let response = TimeStampResp::from_der(&body).unwrap();
    let tst = response.verify_signature(&state.chain()[0]).unwrap();
    (body, tst)
}

/// The chain as served over HTTP.
async fn served_chain(state: &TsaState) -> Vec<Certificate> {
    let (status, content_type, body) = call(
        state,
        Request::get("/api/v1/timestamp/certchain")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/pem-certificate-chain");
    Certificate::load_pem_chain(&body).unwrap()
}

fn pem(certs: &[Certificate]) -> String {
    certs
        .iter()
        .map(|c| sigstack_keys::pem_encode("CERTIFICATE", &c.to_der().unwrap()))
        .collect()
}

/// `openssl ts -verify -in reply (-queryfile req | -data data) -CAfile root -untrusted leaf`.
fn openssl_verify(
    reply: &[u8],
    chain: &[Certificate],
    query: Option<&[u8]>,
    data: &[u8],
) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("resp.tsr"), reply).unwrap();
    std::fs::write(path("root.pem"), pem(&chain[chain.len() - 1..])).unwrap();
    std::fs::write(path("leaf.pem"), pem(&chain[..chain.len() - 1])).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.args(["ts", "-verify", "-in"]).arg(path("resp.tsr"));
    if let Some(query) = query {
        std::fs::write(path("req.tsq"), query).unwrap();
        cmd.arg("-queryfile").arg(path("req.tsq"));
    } else {
        std::fs::write(path("data"), data).unwrap();
        cmd.arg("-data").arg(path("data"));
    }
    cmd.arg("-CAfile")
        .arg(path("root.pem"))
        .arg("-untrusted")
        .arg(path("leaf.pem"));
    let out = cmd.output().expect("openssl must be installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.contains("Verification: OK"),
        text,
    )
}

#[test]
fn chain_is_created_with_the_tsa_profile_then_reused() {
    let dir = tempfile::tempdir().unwrap();
    let first = state(dir.path(), None);
    let chain = first.chain();
    assert_eq!(chain.len(), 2);
    let (leaf, root) = (chain[0].tbs_certificate(), chain[1].tbs_certificate());
    assert_eq!(leaf.issuer(), root.subject());
    assert_eq!(root.issuer(), root.subject());
    let leaf_key =
        sigstack_keys::PublicKey::from_spki_der(&leaf.subject_public_key_info().to_der().unwrap())
            .unwrap();
    assert_eq!(leaf_key.algorithm(), SignatureAlgorithm::EcdsaP256Sha256);
    let root_key =
        sigstack_keys::PublicKey::from_spki_der(&root.subject_public_key_info().to_der().unwrap())
            .unwrap();
    assert_eq!(root_key.algorithm(), SignatureAlgorithm::EcdsaP384Sha384);
    root_key
        .verify(
            &leaf.to_der().unwrap(),
            chain[0].signature().as_bytes().unwrap(),
        )
        .unwrap();

    let (critical, eku) = leaf.get_extension::<ExtendedKeyUsage>().unwrap().unwrap();
    assert!(critical);
    assert_eq!(eku.0, [sigstack_tsp::ID_KP_TIME_STAMPING]);
    let (critical, ku) = leaf.get_extension::<KeyUsage>().unwrap().unwrap();
    assert!(critical);
    assert_eq!(
        ku.0,
        der::flagset::FlagSet::from(KeyUsages::DigitalSignature)
    );
    let (_, bc) = leaf.get_extension::<BasicConstraints>().unwrap().unwrap();
    assert!(!bc.ca);
    let (_, aki) = leaf
        .get_extension::<AuthorityKeyIdentifier>()
        .unwrap()
        .unwrap();
    let (_, root_ski) = root
        .get_extension::<SubjectKeyIdentifier>()
        .unwrap()
        .unwrap();
    assert_eq!(aki.key_identifier.unwrap(), root_ski.0);
    assert!(
        leaf.get_extension::<SubjectKeyIdentifier>()
            .unwrap()
            .is_some()
    );
    assert!(
        root.get_extension::<BasicConstraints>()
            .unwrap()
            .unwrap()
            .1
            .ca
    );

    for file in ["root.pem", "tsa-leaf.pem", "tsa-leaf-key.pem"] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    // The root's private key is not kept: the root signed the leaf and was dropped.
    assert!(!dir.path().join("root-key.pem").exists());
    let second = state(dir.path(), None);
    let der = |s: &TsaState| {
        s.chain()
            .iter()
            .map(|c| c.to_der().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(der(&first), der(&second));
}

#[test]
fn inconsistent_files_and_bad_policy_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    state(dir.path(), None);
    // A leaf from another TSA directory.
    let other = tempfile::tempdir().unwrap();
    state(other.path(), None);
    std::fs::copy(
        other.path().join("tsa-leaf.pem"),
        dir.path().join("tsa-leaf.pem"),
    )
    .unwrap();
    let err = TsaState::load_or_create(config(dir.path(), None), SystemTime::now()).unwrap_err();
    assert!(matches!(err, TsaError::Inconsistent { .. }), "{err}");
    // A leaf with both its key and certificate from elsewhere: not issued by this root.
    std::fs::copy(
        other.path().join("tsa-leaf-key.pem"),
        dir.path().join("tsa-leaf-key.pem"),
    )
    .unwrap();
    let err = TsaState::load_or_create(config(dir.path(), None), SystemTime::now()).unwrap_err();
    assert!(matches!(err, TsaError::Inconsistent { .. }), "{err}");

    let fresh = tempfile::tempdir().unwrap();
    let err = TsaState::load_or_create(config(fresh.path(), Some("not.an.oid")), SystemTime::now())
        .unwrap_err();
    assert!(matches!(err, TsaError::Policy(_)), "{err}");
}

#[tokio::test]
async fn der_request_is_granted_and_verifies_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), None);
    let (reply, tst) = granted(
        &state,
        post(Some("application/timestamp-query"), VECTOR_REQUEST),
    )
    .await;
    assert_eq!(
        tst.gen_time.to_unix_duration(),
        Duration::from_secs(1_772_600_767)
    );
    assert_eq!(
        tst.nonce.unwrap().as_bytes(),
        hex::decode("36a44f9f4a391fd3").unwrap()
    );
    assert_eq!(tst.policy, SIGSTORE_TSA_POLICY);
    let response = TimeStampResp::from_der(&reply).unwrap();
    assert_eq!(
        response
            .signed_data()
            .unwrap()
            .certificates
            .unwrap()
            .0
            .len(),
        1
    );

    let chain = served_chain(&state).await;
    assert_eq!(chain, state.chain());
    let (ok, out) = openssl_verify(&reply, &chain, Some(VECTOR_REQUEST), b"");
    assert!(ok, "{out}");
    // And a tampered reply does not.
    let mut tampered = reply.clone();
    let at = tampered
        .windows(15)
        .position(|w| w == b"20260304050607Z")
        .unwrap();
    tampered[at + 5] = b'9';
    let (ok, out) = openssl_verify(&tampered, &chain, Some(VECTOR_REQUEST), b"");
    assert!(!ok, "{out}");
}

#[tokio::test]
async fn json_request_as_sigstore_js_sends_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), None);
    let digest = HashAlgorithm::Sha256.digest(b"signature bytes");
    let body = serde_json::json!({
        "artifactHash": base64::engine::general_purpose::STANDARD.encode(&digest),
        "hashAlgorithm": "sha256",
    });
    let (reply, tst) = granted(&state, json(&body)).await;
    assert_eq!(
        tst.message_imprint.hashed_message.as_bytes(),
        digest.as_slice()
    );
    assert_eq!(
        tst.message_imprint.hash_algorithm.oid,
        sigstack_tsp::ID_SHA256
    );
    assert_eq!(tst.nonce, None);
    let response = TimeStampResp::from_der(&reply).unwrap();
    // certificates default to true for JSON.
    assert_eq!(
        response
            .signed_data()
            .unwrap()
            .certificates
            .unwrap()
            .0
            .len(),
        1
    );
    let chain = served_chain(&state).await;
    let (ok, out) = openssl_verify(&reply, &chain, None, b"signature bytes");
    assert!(ok, "{out}");
}

#[tokio::test]
async fn json_options_nonce_certificates_and_policy() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), Some("1.2.3.4"));
    let b64 = base64::engine::general_purpose::STANDARD.encode(HashAlgorithm::Sha384.digest(b"x"));

    let (_, tst) = granted(
        &state,
        json(&serde_json::json!({
            "artifactHash": b64, "hashAlgorithm": "sha384", "nonce": 1234567890u64
        })),
    )
    .await;
    assert_eq!(
        tst.nonce.unwrap().as_bytes(),
        1_234_567_890u32.to_be_bytes()
    );
    assert_eq!(tst.policy.to_string(), "1.2.3.4");

    let (reply, tst) = granted(
        &state,
        json(&serde_json::json!({
            "artifactHash": b64, "hashAlgorithm": "sha384",
            "nonce": "340282366920938463463374607431768211457",
            "certificates": false,
            "tsaPolicyOID": "1.3.6.1.4.1.57264.2",
            "someFutureField": 1
        })),
    )
    .await;
    // 2^128 + 1, with a sign byte since the top bit is clear.
    let mut want = vec![1u8];
    want.extend([0u8; 15]);
    want.push(1);
    assert_eq!(tst.nonce.unwrap().as_bytes(), want);
    assert_eq!(tst.policy, SIGSTORE_TSA_POLICY);
    let response = TimeStampResp::from_der(&reply).unwrap();
    assert!(response.signed_data().unwrap().certificates.is_none());

    let (_, tst) = granted(
        &state,
        json(&serde_json::json!({
            "artifactHash": b64, "hashAlgorithm": "sha384", "tsaPolicyOID": "1.2.9", "nonce": null
        })),
    )
    .await;
    assert_eq!(tst.policy.to_string(), "1.2.3.4");
    assert_eq!(tst.nonce, None);
}

#[tokio::test]
async fn bad_input_gets_json_errors_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), None);
    let sha256 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let mut sha1_request =
        sigstack_tsp::TimeStampReq::for_digest(HashAlgorithm::Sha256, &[0u8; 20]).unwrap();
    sha1_request.message_imprint.hash_algorithm.oid =
        der::asn1::ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
    let big = vec![b'0'; sigstack_tsa::MAX_REQUEST_BYTES + 1];
    let files_before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();

    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        (
            "text/plain",
            post(Some("text/plain"), VECTOR_REQUEST),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
        ),
        (
            "no content type",
            post(None, VECTOR_REQUEST),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
        ),
        (
            "garbage DER",
            post(
                Some("application/timestamp-query"),
                &b"\x30\x03\x02\x01"[..],
            ),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "trailing DER",
            post(
                Some("application/timestamp-query"),
                [VECTOR_REQUEST, b"\x00"].concat(),
            ),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "SHA-1 DER",
            post(
                Some("application/timestamp-query"),
                sha1_request.to_der().unwrap(),
            ),
            StatusCode::BAD_REQUEST,
            "unsupported hash algorithm",
        ),
        (
            "malformed JSON",
            post(Some("application/json"), "{\"artifactHash\":"),
            StatusCode::BAD_REQUEST,
            "malformed JSON",
        ),
        (
            "missing artifactHash",
            json(&serde_json::json!({"hashAlgorithm": "sha256"})),
            StatusCode::BAD_REQUEST,
            "artifactHash",
        ),
        (
            "md5",
            json(&serde_json::json!({"artifactHash": sha256, "hashAlgorithm": "md5"})),
            StatusCode::BAD_REQUEST,
            "hashAlgorithm",
        ),
        (
            "bad base64",
            json(&serde_json::json!({"artifactHash": "%%%", "hashAlgorithm": "sha256"})),
            StatusCode::BAD_REQUEST,
            "base64",
        ),
        (
            "wrong length",
            json(&serde_json::json!({"artifactHash": sha256, "hashAlgorithm": "sha512"})),
            StatusCode::BAD_REQUEST,
            "64 bytes",
        ),
        (
            "negative nonce",
            json(
                &serde_json::json!({"artifactHash": sha256, "hashAlgorithm": "sha256", "nonce": -1}),
            ),
            StatusCode::BAD_REQUEST,
            "malformed JSON",
        ),
        (
            "text nonce",
            json(
                &serde_json::json!({"artifactHash": sha256, "hashAlgorithm": "sha256", "nonce": "12ab"}),
            ),
            StatusCode::BAD_REQUEST,
            "nonce",
        ),
        (
            "bad policy",
            json(
                &serde_json::json!({"artifactHash": sha256, "hashAlgorithm": "sha256", "tsaPolicyOID": "x"}),
            ),
            StatusCode::BAD_REQUEST,
            "tsaPolicyOID",
        ),
        (
            "oversized DER",
            post(Some("application/timestamp-query"), big.clone()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
        (
            "oversized JSON",
            post(Some("application/json"), big),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
        (
            "GET",
            Request::get("/api/v1/timestamp")
                .body(Body::empty())
                .unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
        ),
        (
            "unknown path",
            Request::get("/api/v1/nope").body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "not found",
        ),
    ];
    for (name, request, want_status, want_message) in cases {
        let (status, content_type, body) = call(&state, request).await;
        assert_eq!(
            status,
            want_status,
            "{name}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(content_type, "application/json", "{name}");
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["code"], want_status.as_u16(), "{name}");
        let message = error["message"].as_str().unwrap();
        assert!(
            !message.is_empty() && message.contains(want_message),
            "{name}: {message}"
        );
    }

    let files_after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files_before, files_after);
}

#[tokio::test]
async fn outcomes_are_counted_in_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), None);
    granted(
        &state,
        post(Some("application/timestamp-query"), VECTOR_REQUEST),
    )
    .await;
    granted(
        &state,
        post(
            Some("application/timestamp-query; charset=binary"),
            VECTOR_REQUEST,
        ),
    )
    .await;
    let (status, _, _) = call(
        &state,
        post(Some("application/timestamp-query"), &b"junk"[..]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, _, body) = call(
        &state,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("sigstack_tsa_requests_total{outcome=\"granted\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("sigstack_tsa_requests_total{outcome=\"rejected\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn serials_are_unique_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut serials = std::collections::HashSet::new();
    for _run in 0..2 {
        // A fresh state on the same directory is what a restart (or a crash) leaves.
        let state = state(dir.path(), None);
        for _ in 0..50 {
            let (_, tst) = granted(
                &state,
                post(Some("application/timestamp-query"), VECTOR_REQUEST),
            )
            .await;
            let bytes = tst.serial_number.as_bytes().to_vec();
            assert_eq!(bytes.len(), 17, "0x01 then 128 random bits");
            assert_eq!(bytes[0], 0x01);
            assert!(serials.insert(bytes), "serial repeated");
        }
    }
    assert_eq!(serials.len(), 100);
}

#[tokio::test]
async fn configured_policy_and_accuracy_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let accuracy = sigstack_tsp::Accuracy {
        seconds: None,
        millis: Some(500),
        micros: None,
    };
    let state = TsaState::load_or_create(
        TsaConfig {
            accuracy: Some(accuracy),
            ..config(dir.path(), Some("1.3.6.1.4.1.99999.1"))
        },
        SystemTime::now(),
    )
    .unwrap();
    let (_, tst) = granted(
        &state,
        post(Some("application/timestamp-query"), VECTOR_REQUEST),
    )
    .await;
    assert_eq!(tst.accuracy, Some(accuracy));
    assert_eq!(tst.policy.to_string(), "1.3.6.1.4.1.99999.1");
    // Accuracy omitted on request of the configuration.
    let state = TsaState::load_or_create(
        TsaConfig {
            accuracy: None,
            ..config(dir.path(), None)
        },
        SystemTime::now(),
    )
    .unwrap();
    let (_, tst) = granted(
        &state,
        post(Some("application/timestamp-query"), VECTOR_REQUEST),
    )
    .await;
    assert_eq!(tst.accuracy, None);
    // RFC 3161 bounds are enforced at start-up.
    let err = TsaState::load_or_create(
        TsaConfig {
            accuracy: Some(sigstack_tsp::Accuracy {
                seconds: None,
                millis: Some(1000),
                micros: None,
            }),
            ..config(dir.path(), None)
        },
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(
        matches!(err, TsaError::Tsp(TspError::InvalidAccuracy(_))),
        "{err}"
    );
}

#[test]
fn startup_checks_the_chain_against_the_clock_and_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let created = SystemTime::now();
    TsaState::load_or_create(config(dir.path(), None), created).unwrap();
    let year = Duration::from_secs(365 * 86_400);
    let start = |now: SystemTime, window: sigstack_tsp::ValidityWindow| {
        TsaState::load_or_create(
            TsaConfig {
                window,
                ..config(dir.path(), None)
            },
            now,
        )
    };
    let open = sigstack_tsp::ValidityWindow::default();
    // Ten-year chain: fine in a year, expired in eleven.
    start(created + year, open).unwrap();
    let err = start(created + 11 * year, open).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    // A window that outlives the leaf, or has not started, is refused.
    let err = start(
        created,
        sigstack_tsp::ValidityWindow {
            not_before: Some(created),
            not_after: Some(created + 20 * year),
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("window ends"), "{err}");
    let err = start(
        created,
        sigstack_tsp::ValidityWindow {
            not_before: Some(created + year),
            not_after: None,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("window starts"), "{err}");
    start(
        created + Duration::from_secs(10),
        sigstack_tsp::ValidityWindow {
            not_before: Some(created),
            not_after: Some(created + year),
        },
    )
    .unwrap();
}
