//! Shared fixtures for the in-process API tests: logs in temp dirs, client keys, Fulcio-like
//! certificates, request helpers.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http_body_util::BodyExt as _;
use serde_json::Value;
use sigstack_clock::FixedClock;
use sigstack_http::Metrics;
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer};
use sigstack_pki::{CaSpec, CertificateAuthority, CertificateTemplate};
use sigstack_rekor::{RekorV1Config, RekorV1State, RekorV2Config, RekorV2State};
use sigstack_tlog_storage::LogConfig;
use tempfile::TempDir;
use tower::ServiceExt as _;
use x509_cert::Certificate;

/// The fixed integratedTime of every v1 test entry.
pub const NOW: u64 = 1_700_000_000;
pub const HOSTNAME: &str = "127.0.0.1";
pub const V2_ORIGIN: &str = "127.0.0.1:18083";

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    STANDARD.decode(s).unwrap()
}

/// Fast group commit so tests do not wait for batch timers.
pub fn log_config() -> LogConfig {
    LogConfig {
        batch_max_age: Duration::ZERO,
        ..LogConfig::default()
    }
}

pub struct V1 {
    pub dir: TempDir,
    pub signer: Arc<dyn Signer>,
    pub state: RekorV1State,
}

impl V1 {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let signer: Arc<dyn Signer> =
            Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap());
        let state = open_v1(&dir, &signer).await;
        Self { dir, signer, state }
    }

    pub fn router(&self) -> Router {
        sigstack_rekor::v1_router(self.state.clone())
    }
}

pub async fn open_v1(dir: &TempDir, signer: &Arc<dyn Signer>) -> RekorV1State {
    RekorV1State::open(RekorV1Config {
        dir: dir.path().to_owned(),
        signer: Arc::clone(signer),
        hostname: HOSTNAME.into(),
        metrics: Metrics::new(),
        log: log_config(),
        clock: Arc::new(FixedClock(UNIX_EPOCH + Duration::from_secs(NOW))),
    })
    .await
    .unwrap()
}

pub struct V2 {
    pub dir: TempDir,
    pub signer: Arc<dyn Signer>,
    pub state: RekorV2State,
}

impl V2 {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let signer: Arc<dyn Signer> =
            Arc::new(FileSigner::generate(SignatureAlgorithm::Ed25519).unwrap());
        let state = RekorV2State::open(RekorV2Config {
            dir: dir.path().to_owned(),
            signer: Arc::clone(&signer),
            origin: V2_ORIGIN.into(),
            metrics: Metrics::new(),
            log: log_config(),
        })
        .await
        .unwrap();
        Self { dir, signer, state }
    }

    pub fn router(&self) -> Router {
        sigstack_rekor::v2_router(self.state.clone())
    }
}

/// A client signing key with a Fulcio-like leaf certificate from a throwaway CA.
pub struct Client {
    pub key: FileSigner,
    pub cert: Certificate,
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
    _ca_dir: TempDir,
}

impl Client {
    pub fn new(alg: SignatureAlgorithm) -> Self {
        Self::with_extensions(alg, Vec::new())
    }

    /// A client whose certificate names `email` in its subject alternative name.
    pub fn with_email(alg: SignatureAlgorithm, email: &str) -> Self {
        use x509_cert::ext::pkix::SubjectAltName;
        use x509_cert::ext::pkix::name::GeneralName;
        let san = SubjectAltName(vec![GeneralName::Rfc822Name(
            der::asn1::Ia5String::new(email).unwrap(),
        )]);
        let ext =
            sigstack_pki::raw_extension(&san, const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME, true)
                .unwrap();
        Self::with_extensions(alg, vec![ext])
    }

    fn with_extensions(
        alg: SignatureAlgorithm,
        extensions: Vec<x509_cert::ext::Extension>,
    ) -> Self {
        let ca_dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let ca = CertificateAuthority::load_or_create(
            ca_dir.path(),
            &CaSpec {
                organization: "sigstack-test".into(),
                root_common_name: "test-root".into(),
                intermediate_common_name: Some("test-intermediate".into()),
                algorithm: SignatureAlgorithm::EcdsaP384Sha384,
                intermediate_extended_key_usage: Vec::new(),
                validity: Duration::from_secs(3600),
            },
            now,
        )
        .unwrap();
        let key = FileSigner::generate(alg).unwrap();
        let cert = CertificateTemplate {
            serial: sigstack_pki::random_serial(),
            subject: sigstack_pki::name("O=sigstack-test").unwrap(),
            issuer: ca.issuer().tbs_certificate().subject().clone(),
            not_before: now,
            not_after: now + Duration::from_secs(600),
            subject_public_key_der: key.public_key_der().to_vec(),
            extensions,
        }
        .issue(ca.signer.as_ref())
        .unwrap();
        let cert_der = sigstack_keys::to_der(&cert).unwrap();
        let cert_pem = sigstack_pki::certificate_pem(&cert).unwrap();
        Self {
            key,
            cert,
            cert_der,
            cert_pem,
            _ca_dir: ca_dir,
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// Assert a JSON error body with this status.
    pub fn assert_error(&self, status: StatusCode) {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let v = self.json();
        assert_eq!(v["code"], status.as_u16(), "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
}

pub async fn send(router: &Router, req: Request<Body>) -> Reply {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn get(router: &Router, uri: &str) -> Reply {
    send(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

pub async fn post_json(router: &Router, uri: &str, body: &Value) -> Reply {
    post_raw(
        router,
        uri,
        "application/json",
        body.to_string().into_bytes(),
    )
    .await
}

pub async fn post_raw(router: &Router, uri: &str, content_type: &str, body: Vec<u8>) -> Reply {
    send(
        router,
        Request::post(uri)
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}
