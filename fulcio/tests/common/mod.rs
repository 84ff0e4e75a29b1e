//! Test fixtures: a real OIDC provider and a real CT log on 127.0.0.1, a file CA, and a Fulcio
//! router driven in-process.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use der::Decode;
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;
use serde_json::{Value, json};
use sigstack_clock::{Clock, SystemClock};
use sigstack_ctlog::{CtLogConfig, CtLogState};
use sigstack_fulcio::{CtConfig, FulcioConfig, FulcioState, IssuerConfig};
use sigstack_keys::{FileSigner, PublicKey, SignatureAlgorithm, Signer};
use sigstack_pki::{CaSpec, CertificateAuthority};
use tower::ServiceExt;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

/// A signing key of the test OIDC provider.
pub struct IdpKey {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    pub jwk: Value,
}

impl IdpKey {
    pub fn es256(kid: &str) -> Self {
        let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
        let pem = signer.to_pkcs8_pem().unwrap();
        let spki = SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).unwrap();
        let point = spki.subject_public_key.raw_bytes();
        assert_eq!(point.len(), 65, "uncompressed P-256 point");
        Self {
            kid: kid.into(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            }),
        }
    }

    pub fn eddsa(kid: &str) -> Self {
        let signer = FileSigner::generate(SignatureAlgorithm::Ed25519).unwrap();
        let pem = signer.to_pkcs8_pem().unwrap();
        let spki = SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).unwrap();
        Self {
            kid: kid.into(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
            jwk: json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(spki.subject_public_key.raw_bytes()),
            }),
        }
    }

    /// A token with this key's `kid` and algorithm.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    /// A token that claims this key's `kid` but is signed by `other`.
    pub fn sign_as(&self, other: &IdpKey, claims: &Value) -> String {
        let mut header = Header::new(other.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &other.encoding).unwrap()
    }
}

/// An OIDC provider serving `/{tenant}/.well-known/openid-configuration` and `/{tenant}/jwks`
/// for every tenant. The tenant `liar` announces another issuer in its discovery document.
#[derive(Clone)]
pub struct Provider {
    pub base: String,
    pub jwks: Arc<Mutex<Vec<Value>>>,
    pub jwks_fetches: Arc<AtomicUsize>,
}

impl Provider {
    pub async fn start(keys: &[&IdpKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let provider = Self {
            base: base.clone(),
            jwks: Arc::new(Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect())),
            jwks_fetches: Arc::new(AtomicUsize::new(0)),
        };
        let app = Router::new()
            .route("/{tenant}/.well-known/openid-configuration", get(discovery))
            .route("/{tenant}/jwks", get(jwks))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        provider
    }

    pub fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.base)
    }

    pub fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}

async fn discovery(
    State(p): State<Provider>,
    Path(tenant): Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if tenant == "hop" {
        // Same server, other host name: a cross-origin redirect the verifier must not follow.
        let elsewhere = p.base.replace("127.0.0.1", "localhost");
        return axum::response::Redirect::temporary(&format!(
            "{elsewhere}/email/.well-known/openid-configuration"
        ))
        .into_response();
    }
    if tenant == "elsewhere" {
        // Keys on another origin (same server under another host name): must be refused.
        let other = p.base.replace("127.0.0.1", "localhost");
        return axum::Json(json!({
            "issuer": p.issuer(&tenant),
            "jwks_uri": format!("{other}/{tenant}/jwks"),
        }))
        .into_response();
    }
    let issuer = if tenant == "liar" {
        "https://accounts.example.com".to_string()
    } else {
        p.issuer(&tenant)
    };
    axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/jwks", p.issuer(&tenant)),
        "id_token_signing_alg_values_supported": ["ES256", "EdDSA"],
    }))
    .into_response()
}

async fn jwks(State(p): State<Provider>) -> axum::Json<Value> {
    p.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({ "keys": p.jwks.lock().clone() }))
}

/// The whole stack for one test.
pub struct Stack {
    pub provider: Provider,
    pub idp_key: IdpKey,
    pub ca: CertificateAuthority,
    pub ct: Option<(CtLogState, PublicKey)>,
    pub state: FulcioState,
    pub metrics: sigstack_http::Metrics,
    _dirs: Vec<tempfile::TempDir>,
}

pub const CONFIG_TEMPLATE: &str = "
oidc-issuers:
  BASE/email:
    client-id: sigstore
    type: email
  BASE/github:
    client-id: sigstore
    type: ci-provider
    ci-provider: github-workflow
  BASE/liar:
    client-id: sigstore
    type: email
  BASE/hop:
    client-id: sigstore
    type: email
meta-issuers:
  BASE/tenant-*:
    client-id: sigstore
    type: email
";

pub enum CtMode {
    /// A real CT log whose key Fulcio knows.
    Log,
    /// No CT log (detached mode).
    Detached,
    /// A real CT log, but Fulcio is configured with another key for it.
    WrongKey,
    /// A CT URL nothing listens on.
    Unreachable,
}

impl Stack {
    pub async fn start(ct: CtMode) -> Self {
        Self::start_with(ct, Duration::from_secs(30)).await
    }

    pub async fn start_with(ct: CtMode, jwks_refresh: Duration) -> Self {
        Self::start_full(ct, jwks_refresh, Arc::new(SystemClock)).await
    }

    pub async fn start_full(ct: CtMode, jwks_refresh: Duration, clock: Arc<dyn Clock>) -> Self {
        Self::start_custom(
            ct,
            CONFIG_TEMPLATE,
            jwks_refresh,
            clock,
            false,
            sigstack_fulcio::RateLimits::default(),
        )
        .await
    }

    /// A stack with an issuer configuration of the test's own (`BASE` is replaced by the test
    /// provider's base URL), detached-SCT mode and rate limits as given.
    pub async fn start_custom(
        ct: CtMode,
        config_template: &str,
        jwks_refresh: Duration,
        clock: Arc<dyn Clock>,
        detached_sct: bool,
        rate_limits: sigstack_fulcio::RateLimits,
    ) -> Self {
        let idp_key = IdpKey::es256("key-1");
        let provider = Provider::start(&[&idp_key]).await;
        let ca_dir = tempfile::tempdir().unwrap();
        let spec = CaSpec {
            organization: "sigstack-test".into(),
            root_common_name: "sigstack-test-root".into(),
            intermediate_common_name: Some("sigstack-test-intermediate".into()),
            algorithm: SignatureAlgorithm::EcdsaP384Sha384,
            intermediate_extended_key_usage: vec![sigstack_fulcio_core::oids::KP_CODE_SIGNING],
            validity: Duration::from_secs(86400 * 365),
        };
        let ca =
            CertificateAuthority::load_or_create(ca_dir.path(), &spec, SystemTime::now()).unwrap();
        let metrics = sigstack_http::Metrics::new();
        let mut dirs = vec![ca_dir];

        let (ct_log, ct_config) = match ct {
            CtMode::Detached => (None, None),
            CtMode::Unreachable => {
                let key = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
                let url = url::Url::parse("http://127.0.0.1:9/").unwrap();
                (
                    None,
                    Some(CtConfig {
                        url,
                        public_key: key.public_key().unwrap(),
                    }),
                )
            }
            mode @ (CtMode::Log | CtMode::WrongKey) => {
                let dir = tempfile::tempdir().unwrap();
                let signer: Arc<dyn Signer> =
                    Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap());
                let public_key = signer.public_key().unwrap();
                let state = CtLogState::open(CtLogConfig {
                    dir: dir.path().to_path_buf(),
                    signer,
                    roots: vec![ca.root().clone()],
                    metrics: metrics.clone(),
                    log: sigstack_tlog_storage::LogConfig {
                        batch_max_age: Duration::ZERO,
                        ..Default::default()
                    },
                })
                .await
                .unwrap();
                dirs.push(dir);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let url = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap()))
                    .unwrap();
                let app = sigstack_ctlog::router(state.clone());
                tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
                let configured_key = match mode {
                    CtMode::WrongKey => FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256)
                        .unwrap()
                        .public_key()
                        .unwrap(),
                    _ => public_key.clone(),
                };
                (
                    Some((state, public_key)),
                    Some(CtConfig {
                        url,
                        public_key: configured_key,
                    }),
                )
            }
        };

        let issuers =
            IssuerConfig::from_bytes(config_template.replace("BASE", &provider.base).as_bytes())
                .unwrap();
        let state = FulcioState::new_with_clock(
            FulcioConfig {
                ca: ca.clone(),
                issuers,
                ct: ct_config,
                metrics: metrics.clone(),
                http: reqwest::Client::new(),
                detached_sct,
                rate_limits,
            },
            clock,
        )
        .unwrap();
        state.set_jwks_refresh_interval(jwks_refresh);
        Self {
            provider,
            idp_key,
            ca,
            ct: ct_log,
            state,
            metrics,
            _dirs: dirs,
        }
    }

    pub fn app(&self) -> Router {
        sigstack_fulcio::router(self.state.clone())
    }

    /// Entries in the CT log.
    pub async fn ct_size(&self) -> u64 {
        match self.ct.as_ref() {
            Some((log, _)) => log.signed_tree_head().await.unwrap().tree_size,
            None => 0,
        }
    }

    /// Certificates Fulcio reports as issued.
    pub fn issued(&self) -> u64 {
        let text = self.metrics.render();
        text.lines()
            .find(|l| l.starts_with("sigstack_fulcio_new_certs_total"))
            .and_then(|l| l.split_whitespace().nth(1))
            .map_or(0, |n| n.parse().unwrap())
    }

    /// Email-issuer claims valid for ten minutes.
    pub fn email_claims(&self, email: &str) -> Value {
        let now = now_secs();
        json!({
            "iss": self.provider.issuer("email"),
            "aud": "sigstore",
            "sub": "user-1234",
            "email": email,
            "email_verified": true,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        })
    }

    /// GitHub Actions claims (from the real certificate) for the `github` issuer.
    pub fn github_claims(&self) -> Value {
        let mut claims: Value = serde_json::from_str(
            &std::fs::read_to_string("tests/data/github-actions-release-claims.json").unwrap(),
        )
        .unwrap();
        let now = now_secs();
        claims["iss"] = self.provider.issuer("github").into();
        claims["iat"] = now.into();
        claims["nbf"] = now.into();
        claims["exp"] = (now + 600).into();
        claims
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A client key and the `publicKeyRequest` proving possession over `challenge`.
pub fn public_key_request(client: &FileSigner, challenge: &str) -> Value {
    json!({
        "publicKey": {
            "algorithm": "ECDSA",
            "content": sigstack_keys::pem_encode("PUBLIC KEY", client.public_key_der()),
        },
        "proofOfPossession": STANDARD.encode(client.sign(challenge.as_bytes()).unwrap()),
    })
}

/// POST a JSON body to `/api/v2/signingCert`.
pub async fn sign(app: Router, body: &Value, bearer: Option<&str>) -> (StatusCode, Value) {
    let mut request =
        Request::post("/api/v2/signingCert").header("content-type", "application/json");
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    call(app, request.body(Body::from(body.to_string())).unwrap()).await
}

pub async fn call(app: Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}
