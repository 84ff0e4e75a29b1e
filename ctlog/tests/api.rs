//! The CT log over HTTP, in process: a Fulcio-style precertificate chain built with
//! sigstack-pki gets an SCT that verifies, its entry is provable against the signed tree head,
//! resubmissions keep their timestamp, and bad submissions change nothing.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use der::Encode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sigstack_clock::ManualClock;
use sigstack_ct::{
    AddChainResponse, DigitallySigned, LogEntryType, MerkleTreeLeaf, POISON_OID,
    SignedCertificateTimestamp, poison_extension, sct_list_extension, verify_tree_head,
};
use sigstack_ctlog::{CtLogConfig, CtLogError, CtLogState, router};
use sigstack_keys::{FileSigner, PublicKey, SignatureAlgorithm, Signer};
use sigstack_pki::{
    CaSpec, CertificateAuthority, CertificateTemplate, authority_key_identifier, key_usage_set,
    random_serial, subject_key_identifier,
};
use sigstack_tlog::merkle::{Hash, verify_consistency, verify_inclusion};
use sigstack_tlog_storage::LogConfig;
use tower::ServiceExt;
use x509_cert::Certificate;
use x509_cert::ext::pkix::KeyUsages;

const START_MS: u64 = 1_800_000_000_000;

/// `ms` milliseconds after the Unix epoch.
fn at_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

struct Harness {
    _tmp: tempfile::TempDir,
    ct_dir: PathBuf,
    ca: CertificateAuthority,
    log_signer: Arc<FileSigner>,
    clock: Arc<ManualClock>,
    state: CtLogState,
    app: Router,
}

fn ca_in(dir: &Path, name: &str) -> CertificateAuthority {
    let spec = CaSpec {
        organization: "sigstack-test".into(),
        root_common_name: format!("{name}-root"),
        intermediate_common_name: Some(format!("{name}-intermediate")),
        algorithm: SignatureAlgorithm::EcdsaP384Sha384,
        intermediate_extended_key_usage: vec![],
        validity: Duration::from_secs(3600 * 24 * 365),
    };
    let now = at_ms(START_MS);
    CertificateAuthority::load_or_create(&dir.join(name), &spec, now).unwrap()
}

fn config(ct_dir: &Path, signer: Arc<FileSigner>, roots: Vec<Certificate>) -> CtLogConfig {
    CtLogConfig {
        dir: ct_dir.to_path_buf(),
        signer,
        roots,
        metrics: sigstack_http::Metrics::new(),
        log: LogConfig {
            batch_max_age: Duration::ZERO,
            ..LogConfig::default()
        },
    }
}

async fn open(
    ct_dir: &Path,
    signer: Arc<FileSigner>,
    roots: Vec<Certificate>,
    clock: Arc<ManualClock>,
) -> CtLogState {
    CtLogState::open_with_clock(config(ct_dir, signer, roots), clock)
        .await
        .unwrap()
}

async fn harness() -> Harness {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca_in(tmp.path(), "fulcio");
    let log_signer = Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap());
    let clock = Arc::new(ManualClock::new(at_ms(START_MS)));
    let ct_dir = tmp.path().join("ct");
    let state = open(
        &ct_dir,
        log_signer.clone(),
        vec![ca.root().clone()],
        clock.clone(),
    )
    .await;
    let app = router(state.clone());
    Harness {
        _tmp: tmp,
        ct_dir,
        ca,
        log_signer,
        clock,
        state,
        app,
    }
}

/// A Fulcio-like leaf template: empty subject, digitalSignature, SKI, AKI.
fn leaf_template(ca: &CertificateAuthority) -> CertificateTemplate {
    let key = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let now = at_ms(START_MS);
    CertificateTemplate {
        serial: random_serial(),
        subject: x509_cert::name::Name::default(),
        issuer: ca.issuer().tbs_certificate().subject().clone(),
        not_before: now,
        not_after: now + Duration::from_secs(600),
        subject_public_key_der: key.public_key_der().to_vec(),
        extensions: vec![
            key_usage_set(KeyUsages::DigitalSignature.into()).unwrap(),
            subject_key_identifier(key.public_key_der()).unwrap(),
            authority_key_identifier(ca.signer.public_key_der()).unwrap(),
        ],
    }
}

fn precert_template(ca: &CertificateAuthority) -> CertificateTemplate {
    let mut t = leaf_template(ca);
    t.extensions.push(poison_extension());
    t
}

fn der(cert: &Certificate) -> Vec<u8> {
    cert.to_der().unwrap()
}

fn b64(cert: &Certificate) -> String {
    B64.encode(der(cert))
}

fn issuer_spki(ca: &CertificateAuthority) -> Vec<u8> {
    ca.issuer()
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap()
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body)
}

async fn post_raw(
    app: &Router,
    path: &str,
    content_type: &str,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let req = Request::post(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap();
    call(app, req).await
}

async fn post(app: &Router, path: &str, body: &Value) -> (StatusCode, Value) {
    post_raw(app, path, "application/json", body.to_string()).await
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    call(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

fn sct_of(body: Value) -> SignedCertificateTimestamp {
    let response: AddChainResponse = serde_json::from_value(body).unwrap();
    SignedCertificateTimestamp::from_json(&response).unwrap()
}

fn hash_b64(s: &Value) -> Hash {
    Hash::from_base64(s.as_str().unwrap()).unwrap()
}

fn path_of(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash_b64).collect()
}

fn log_key(h: &Harness) -> PublicKey {
    h.log_signer.public_key().unwrap()
}

/// Fetch and verify the STH; returns (size, root).
async fn verified_sth(h: &Harness) -> (u64, Hash) {
    let (status, sth) = get(&h.app, "/ct/v1/get-sth").await;
    assert_eq!(status, StatusCode::OK, "{sth}");
    let size = sth["tree_size"].as_u64().unwrap();
    let root = hash_b64(&sth["sha256_root_hash"]);
    let sig = DigitallySigned::from_tls(
        &B64.decode(sth["tree_head_signature"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    verify_tree_head(
        &log_key(h),
        sth["timestamp"].as_u64().unwrap(),
        size,
        &root.0,
        &sig,
    )
    .unwrap();
    (size, root)
}

#[tokio::test]
async fn precert_sct_verifies_embeds_and_is_provable() {
    let h = harness().await;
    let template = precert_template(&h.ca);
    let precert = template.issue(h.ca.signer.as_ref()).unwrap();
    let (status, body) = post(
        &h.app,
        "/ct/v1/add-pre-chain",
        &json!({"chain": [b64(&precert), b64(h.ca.issuer())]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sct_version"], 0);
    assert_eq!(body["extensions"], "");
    assert_eq!(body["id"], B64.encode(h.state.log_id()));
    assert_eq!(body["timestamp"], START_MS);
    let sct = sct_of(body);
    assert_eq!(
        sct.log_id,
        sigstack_ct::log_id(h.log_signer.public_key_der())
    );

    // Fulcio issues the final certificate from the same template, minus poison, plus the SCT.
    let mut final_template = template.clone();
    final_template
        .extensions
        .retain(|e| e.extn_id != POISON_OID);
    let final_tbs = final_template.tbs_der(h.ca.signer.as_ref()).unwrap();
    sct.verify_precert(&log_key(&h), &issuer_spki(&h.ca), &final_tbs)
        .unwrap();
    final_template
        .extensions
        .push(sct_list_extension(std::slice::from_ref(&sct)).unwrap());
    let final_cert = final_template.issue(h.ca.signer.as_ref()).unwrap();
    let embedded = sigstack_ct::embedded_scts(&final_cert).unwrap();
    let stripped = sigstack_ct::tbs_without_extension(
        &final_cert.tbs_certificate().to_der().unwrap(),
        sigstack_ct::SCT_LIST_OID,
    )
    .unwrap();
    embedded[0]
        .verify_precert(&log_key(&h), &issuer_spki(&h.ca), &stripped)
        .unwrap();

    // Log the final certificate too, so the tree has two leaves.
    h.clock.set(at_ms(START_MS + 1_000));
    let chain = json!({"chain": [b64(&final_cert), b64(h.ca.issuer()), b64(h.ca.root())]});
    let (status, body) = post(&h.app, "/ct/v1/add-chain", &chain).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let x509_sct = sct_of(body);
    x509_sct
        .verify_x509(&log_key(&h), &der(&final_cert))
        .unwrap();
    assert_eq!(x509_sct.timestamp, START_MS + 1_000);

    let (size, root) = verified_sth(&h).await;
    assert_eq!(size, 2);

    // Inclusion of the precert entry, by its RFC 6962 leaf hash.
    let leaf = MerkleTreeLeaf {
        timestamp: sct.timestamp,
        entry: LogEntryType::Precert {
            issuer_key_hash: sigstack_keys::sha256(&issuer_spki(&h.ca)),
            tbs_der: final_tbs,
        },
        extensions: vec![],
    };
    let leaf_hash = Hash(leaf.leaf_hash().unwrap());
    assert_eq!(
        leaf_hash,
        sigstack_tlog::merkle::leaf_hash(&leaf.to_tls().unwrap())
    );
    let escaped = B64
        .encode(leaf_hash.0)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let (status, proof) = get(
        &h.app,
        &format!("/ct/v1/get-proof-by-hash?hash={escaped}&tree_size=2"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{proof}");
    assert_eq!(proof["leaf_index"], 0);
    let audit_path = path_of(&proof["audit_path"]);
    assert_eq!(audit_path.len(), 1);
    verify_inclusion(0, 2, &leaf_hash, &audit_path, &root).unwrap();
    assert!(verify_inclusion(1, 2, &leaf_hash, &audit_path, &root).is_err());

    // The tree of size 1 is consistent with the tree of size 2.
    let (status, consistency) = get(&h.app, "/ct/v1/get-sth-consistency?first=1&second=2").await;
    assert_eq!(status, StatusCode::OK);
    verify_consistency(
        1,
        2,
        &leaf_hash,
        &root,
        &path_of(&consistency["consistency"]),
    )
    .unwrap();

    // get-entries: the leaf bytes and the RFC 6962 extra_data, root appended to the chain.
    let (status, entries) = get(&h.app, "/ct/v1/get-entries?start=0&end=5").await;
    assert_eq!(status, StatusCode::OK);
    let entries = entries["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        B64.decode(entries[0]["leaf_input"].as_str().unwrap())
            .unwrap(),
        leaf.to_tls().unwrap()
    );
    let expected_extra = sigstack_ct::precert_chain_extra_data(
        &der(&precert),
        &[der(h.ca.issuer()), der(h.ca.root())],
    )
    .unwrap();
    assert_eq!(
        B64.decode(entries[0]["extra_data"].as_str().unwrap())
            .unwrap(),
        expected_extra
    );
    let second = MerkleTreeLeaf::from_tls(
        &B64.decode(entries[1]["leaf_input"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(second.entry, LogEntryType::X509(der(&final_cert)));
    let expected_extra =
        sigstack_ct::x509_chain_extra_data(&[der(h.ca.issuer()), der(h.ca.root())]).unwrap();
    assert_eq!(
        B64.decode(entries[1]["extra_data"].as_str().unwrap())
            .unwrap(),
        expected_extra
    );
}

#[tokio::test]
async fn resubmission_returns_the_original_timestamp() {
    let h = harness().await;
    let precert = precert_template(&h.ca).issue(h.ca.signer.as_ref()).unwrap();
    let chain = json!({"chain": [b64(&precert), b64(h.ca.issuer())]});
    let (status, first) = post(&h.app, "/ct/v1/add-pre-chain", &chain).await;
    assert_eq!(status, StatusCode::OK);
    let first = sct_of(first);

    h.clock.set(at_ms(START_MS + 60_000));
    // Same entry, chain now including the root: still the same entry.
    let with_root = json!({"chain": [b64(&precert), b64(h.ca.issuer()), b64(h.ca.root())]});
    let (status, again) = post(&h.app, "/ct/v1/add-pre-chain", &with_root).await;
    assert_eq!(status, StatusCode::OK);
    let again = sct_of(again);
    assert_eq!(again.timestamp, first.timestamp);
    assert_eq!(again.timestamp, START_MS);
    let tbs = sigstack_ct::tbs_without_extension(
        &precert.tbs_certificate().to_der().unwrap(),
        POISON_OID,
    )
    .unwrap();
    again
        .verify_precert(&log_key(&h), &issuer_spki(&h.ca), &tbs)
        .unwrap();
    let (size, _) = verified_sth(&h).await;
    assert_eq!(size, 1);
}

#[tokio::test]
async fn concurrent_identical_submissions_create_one_entry() {
    let h = harness().await;
    let precert = precert_template(&h.ca).issue(h.ca.signer.as_ref()).unwrap();
    let chain = json!({"chain": [b64(&precert), b64(h.ca.issuer())]});
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        h.clock.set(at_ms(START_MS + i));
        let (app, chain) = (h.app.clone(), chain.clone());
        tasks.push(tokio::spawn(async move {
            post(&app, "/ct/v1/add-pre-chain", &chain).await
        }));
    }
    let mut timestamps = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        timestamps.push(sct_of(body).timestamp);
    }
    timestamps.dedup();
    assert_eq!(
        timestamps.len(),
        1,
        "every submitter sees the sequenced timestamp"
    );
    assert_eq!(verified_sth(&h).await.0, 1);
}

#[tokio::test]
async fn bad_submissions_are_4xx_json_and_write_nothing() {
    let h = harness().await;
    let precert = precert_template(&h.ca).issue(h.ca.signer.as_ref()).unwrap();
    let final_cert = leaf_template(&h.ca).issue(h.ca.signer.as_ref()).unwrap();
    let other_ca = ca_in(h._tmp.path(), "stranger");
    let foreign = precert_template(&other_ca)
        .issue(other_ca.signer.as_ref())
        .unwrap();
    let mut broken = der(&precert);
    let last = broken.len() - 1;
    broken[last] ^= 0x01;
    let issuer = b64(h.ca.issuer());

    let cases: Vec<(&str, Value, &str)> = vec![
        ("/ct/v1/add-pre-chain", json!({"chain": []}), "empty chain"),
        (
            "/ct/v1/add-pre-chain",
            json!({"chain": ["%%%not base64"]}),
            "garbage base64",
        ),
        (
            "/ct/v1/add-pre-chain",
            json!({"chain": [B64.encode(b"not a certificate")]}),
            "not DER",
        ),
        (
            "/ct/v1/add-pre-chain",
            json!({"chain": [b64(&foreign), b64(other_ca.issuer())]}),
            "unknown root",
        ),
        (
            "/ct/v1/add-pre-chain",
            json!({"chain": [b64(&foreign), issuer.clone()]}),
            "wrong issuer",
        ),
        (
            "/ct/v1/add-pre-chain",
            json!({"chain": [b64(&final_cert), issuer.clone()]}),
            "missing poison",
        ),
        (
            "/ct/v1/add-chain",
            json!({"chain": [b64(&precert), issuer.clone()]}),
            "poison on add-chain",
        ),
        (
            "/ct/v1/add-pre-chain",
            json!({"chain": [B64.encode(&broken), issuer.clone()]}),
            "broken signature",
        ),
        (
            "/ct/v1/add-pre-chain",
            json!({"chain": [b64(h.ca.root())]}),
            "root as leaf",
        ),
        (
            "/ct/v1/add-pre-chain",
            json!({"chain": [b64(&precert), b64(&precert)]}),
            "leaf as issuer",
        ),
        (
            "/ct/v1/add-pre-chain",
            json!({"certs": [b64(&precert)]}),
            "wrong field",
        ),
    ];
    for (path, body, what) in cases {
        let (status, answer) = post(&h.app, path, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
        assert_eq!(answer["code"], 400, "{what}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    let (status, answer) = post_raw(
        &h.app,
        "/ct/v1/add-pre-chain",
        "application/json",
        "not json",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["code"], 400);
    let (status, answer) = post_raw(&h.app, "/ct/v1/add-chain", "text/plain", "{}").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(answer["code"], 415);
    let huge = json!({"chain": ["A".repeat(600 * 1024)]});
    let (status, _) = post(&h.app, "/ct/v1/add-pre-chain", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(verified_sth(&h).await.0, 0);
    for file in ["entries.dat", "meta.dat", "ids.dat"] {
        let len = std::fs::metadata(h.ct_dir.join(file)).map_or(0, |m| m.len());
        assert_eq!(len, 0, "{file} was written");
    }
}

#[tokio::test]
async fn read_endpoints_validate_their_parameters() {
    let h = harness().await;
    let precert = precert_template(&h.ca).issue(h.ca.signer.as_ref()).unwrap();
    let (status, _) = post(
        &h.app,
        "/ct/v1/add-pre-chain",
        &json!({"chain": [b64(&precert), b64(h.ca.issuer())]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, roots) = get(&h.app, "/ct/v1/get-roots").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(roots["certificates"], json!([b64(h.ca.root())]));

    let unknown = B64.encode([7u8; 32]);
    for (uri, want) in [
        (
            "/ct/v1/get-proof-by-hash?tree_size=1".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/ct/v1/get-proof-by-hash?hash={unknown}&tree_size=1"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/ct/v1/get-proof-by-hash?hash={unknown}&tree_size=5"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ct/v1/get-proof-by-hash?hash=AAAA&tree_size=1".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ct/v1/get-sth-consistency?first=2&second=1".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ct/v1/get-sth-consistency?first=1&second=9".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ct/v1/get-sth-consistency?first=x&second=1".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ct/v1/get-entries?start=1&end=0".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ct/v1/get-entries?start=1&end=3".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ct/v1/get-entries?start=0".to_string(),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, body) = get(&h.app, &uri).await;
        assert_eq!(status, want, "{uri}: {body}");
        assert_eq!(body["code"], want.as_u16(), "{uri}");
    }
    let (status, same) = get(&h.app, "/ct/v1/get-sth-consistency?first=1&second=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["consistency"], json!([]));
    let (status, _) = get(&h.app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&h.app, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    let (_, metrics) = get(&h.app, "/metrics").await;
    assert!(metrics.as_str().unwrap().contains("ct_submissions"));
}

#[tokio::test]
async fn the_log_survives_a_restart() {
    let h = harness().await;
    let precert = precert_template(&h.ca).issue(h.ca.signer.as_ref()).unwrap();
    let chain = json!({"chain": [b64(&precert), b64(h.ca.issuer())]});
    let (status, first) = post(&h.app, "/ct/v1/add-pre-chain", &chain).await;
    assert_eq!(status, StatusCode::OK);
    let first = sct_of(first);
    let (_, root_before) = verified_sth(&h).await;

    let Harness {
        _tmp,
        ct_dir,
        ca,
        log_signer,
        clock,
        state,
        app,
    } = h;
    drop(app);
    state.close().await;
    // A clock that went backwards across the restart: tree heads still cover the newest SCT.
    clock.set(at_ms(START_MS - 5_000));
    let state = open(
        &ct_dir,
        log_signer.clone(),
        vec![ca.root().clone()],
        clock.clone(),
    )
    .await;
    let h = Harness {
        _tmp,
        ct_dir,
        ca,
        log_signer,
        clock,
        app: router(state.clone()),
        state,
    };

    let (size, root_after) = verified_sth(&h).await;
    assert_eq!((size, root_after), (1, root_before));
    let (_, sth) = get(&h.app, "/ct/v1/get-sth").await;
    assert_eq!(sth["timestamp"], first.timestamp);
    let (status, again) = post(&h.app, "/ct/v1/add-pre-chain", &chain).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sct_of(again).timestamp, first.timestamp);
    let (status, entries) = get(&h.app, "/ct/v1/get-entries?start=0&end=0").await;
    assert_eq!(status, StatusCode::OK);
    let leaf = B64
        .decode(entries["entries"][0]["leaf_input"].as_str().unwrap())
        .unwrap();
    let leaf_hash = sigstack_tlog::merkle::leaf_hash(&leaf);
    let (status, _) = get(
        &h.app,
        &format!(
            "/ct/v1/get-proof-by-hash?hash={}&tree_size=1",
            B64.encode(leaf_hash.0)
                .replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn open_refuses_unusable_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca_in(tmp.path(), "fulcio");
    let p384 = Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP384Sha384).unwrap());
    let err = CtLogState::open(config(&tmp.path().join("a"), p384, vec![ca.root().clone()]))
        .await
        .unwrap_err();
    assert!(matches!(err, CtLogError::Config(_)), "{err}");
    let p256 = Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap());
    let err = CtLogState::open(config(&tmp.path().join("b"), p256, vec![]))
        .await
        .unwrap_err();
    assert!(matches!(err, CtLogError::Config(_)), "{err}");
}

/// The intermediate-to-root signature is checked once and remembered by the exact bytes of both
/// certificates: an intermediate whose signature was altered is still refused afterwards.
#[tokio::test]
async fn remembered_ca_links_do_not_excuse_an_altered_intermediate() {
    let h = harness().await;
    let precert = precert_template(&h.ca).issue(h.ca.signer.as_ref()).unwrap();
    let chain = json!({"chain": [b64(&precert), b64(h.ca.issuer()), b64(h.ca.root())]});
    let (status, body) = post(&h.app, "/ct/v1/add-pre-chain", &chain).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut altered = der(h.ca.issuer());
    let last = altered.len() - 1;
    altered[last] ^= 0x01;
    let second = precert_template(&h.ca).issue(h.ca.signer.as_ref()).unwrap();
    let (before, _) = verified_sth(&h).await;
    let chain = json!({"chain": [b64(&second), B64.encode(&altered), b64(h.ca.root())]});
    let (status, body) = post(&h.app, "/ct/v1/add-pre-chain", &chain).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("signature"),
        "{body}"
    );
    assert_eq!(verified_sth(&h).await.0, before, "nothing written");
}
