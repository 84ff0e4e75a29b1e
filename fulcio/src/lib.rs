//! Sigstack's Fulcio-compatible certificate authority: a thin axum app over
//! `sigstack-fulcio-core`.
//!
//! Endpoints, served at the host root (sigstore-python drops any path prefix of the CA URL):
//!
//! - `POST /api/v2/signingCert`: verify the OIDC token, derive the principal (the issuer's claim
//!   policy may refuse it: 403), check proof of possession, issue a precertificate, log it in the
//!   CT log, verify the SCT, and return the final certificate with the SCT embedded. In detached
//!   mode ([`FulcioConfig::detached_sct`]) the final certificate itself is logged (`add-chain`)
//!   and its verified SCT is returned beside it, as upstream's `signedCertificateDetachedSct`.
//!   With CT explicitly disabled, a certificate without SCT.
//!
//! Every certificate issued with a CT log configured is in that log before it is returned.
//! Optional token-bucket rate limits per client IP and per identity answer 429 with
//! `Retry-After` ([`RateLimits`]).
//! - `GET /api/v2/trustBundle`, `GET /api/v2/configuration`.
//! - Legacy v1: `POST /api/v1/signingCert` (201, PEM chain), `GET /api/v1/rootCert`.
//! - `/healthz`, `/readyz`, `/metrics` (from `sigstack-http`).

pub mod api;
mod ct;
pub mod oidc;
pub mod rate_limit;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use der::Encode;
use prometheus_client::metrics::counter::Counter;
use sigstack_clock::{Clock, SystemClock};
use sigstack_fulcio_core::{CertificateProfile, FulcioCoreError, Principal, ProvenKey};
use sigstack_http::{JsonBody, Metrics, json_error, retry_later};
use sigstack_pki::CertificateAuthority;
use x509_cert::Certificate;

pub use crate::ct::{CT_TIMEOUT, CtConfig};
pub use crate::oidc::{OidcError, OidcSetupError, OidcVerifier};
pub use crate::rate_limit::{RateLimit, RateLimits};
pub use sigstack_fulcio_core::IssuerConfig;

use crate::api::{
    CertificateChain, Configuration, CreateSigningCertificateRequest, OidcIssuer,
    SigningCertificate, SigningCertificateDetachedSct, SigningCertificateEmbeddedSct, TrustBundle,
};

/// Largest request body (Fulcio's `maxMsgSize`, 4 MiB).
pub const MAX_BODY_SIZE: usize = 4 << 20;

/// Everything the service needs.
#[derive(Clone, Debug)]
pub struct FulcioConfig {
    /// The issuing CA (key and chain, issuer first, root last).
    pub ca: CertificateAuthority,
    /// The OIDC issuers.
    pub issuers: IssuerConfig,
    /// The CT log. `None` is detached mode: certificates carry no SCT, which sigstore-python
    /// rejects; it must be chosen explicitly.
    pub ct: Option<CtConfig>,
    /// Process-wide metrics registry.
    pub metrics: Metrics,
    /// HTTP client for the CT log. (OIDC discovery uses its own client with a 10 s timeout and no
    /// cross-origin redirects.)
    pub http: reqwest::Client,
    /// Detached-SCT mode: log the final certificate (`add-chain`) and return its SCT beside the
    /// chain instead of embedding it (upstream's `signedCertificateDetachedSct`). Only
    /// meaningful with a CT log.
    pub detached_sct: bool,
    /// Rate limits (off by default).
    pub rate_limits: RateLimits,
}

/// Startup errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FulcioError {
    /// The CA key and chain do not fit together.
    #[error("CA: {0}")]
    Ca(String),
    /// The CT configuration is unusable.
    #[error("CT log: {0}")]
    Ct(String),
    /// The OIDC verifier could not be set up (HTTP client, an issuer's `ca-cert`).
    #[error("OIDC: {0}")]
    Oidc(#[from] OidcSetupError),
    /// Detached-SCT mode without a CT log.
    #[error("detached-SCT mode needs a CT log")]
    DetachedWithoutCt,
}

/// The running service. Cheap to clone.
#[derive(Clone)]
pub struct FulcioState {
    inner: Arc<Inner>,
}

struct Inner {
    ca: CertificateAuthority,
    chain_pem: Vec<String>,
    issuer_spki_der: Vec<u8>,
    oidc: OidcVerifier,
    ct: Option<CtConfig>,
    http: reqwest::Client,
    metrics: Metrics,
    issued: Counter,
    clock: Arc<dyn Clock>,
    detached_sct: bool,
    per_ip: Option<rate_limit::Buckets<IpAddr>>,
    per_identity: Option<rate_limit::Buckets<(String, String)>>,
}

impl std::fmt::Debug for FulcioState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FulcioState")
            .field("ct", &self.inner.ct.as_ref().map(|c| c.url.as_str()))
            .finish_non_exhaustive()
    }
}

impl FulcioState {
    /// Check the configuration and build the service state, with the system clock.
    ///
    /// # Errors
    /// [`FulcioError::Ca`] when the CA key does not certify the chain's first certificate,
    /// [`FulcioError::Ct`] for an unusable CT URL, [`FulcioError::Http`].
    pub fn new(config: FulcioConfig) -> Result<Self, FulcioError> {
        Self::new_with_clock(config, Arc::new(SystemClock))
    }

    /// [`Self::new`] with an injected clock (token times and certificate validity use it).
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn new_with_clock(
        config: FulcioConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, FulcioError> {
        let issuer = config
            .ca
            .chain
            .first()
            .ok_or_else(|| FulcioError::Ca("empty chain".into()))?;
        let issuer_spki_der = issuer
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| FulcioError::Ca(e.to_string()))?;
        if issuer_spki_der != config.ca.signer.public_key_der() {
            return Err(FulcioError::Ca(
                "the CA key does not match the first certificate of the chain".into(),
            ));
        }
        let chain_pem = config
            .ca
            .chain_pem()
            .map_err(|e| FulcioError::Ca(e.to_string()))?;
        if let Some(ct) = &config.ct {
            if !matches!(ct.url.scheme(), "http" | "https") {
                return Err(FulcioError::Ct(format!("{} is not an http(s) URL", ct.url)));
            }
            if ct.url.query().is_some() || ct.url.fragment().is_some() {
                return Err(FulcioError::Ct(format!(
                    "{} must not have a query or fragment",
                    ct.url
                )));
            }
        }
        if config.detached_sct && config.ct.is_none() {
            return Err(FulcioError::DetachedWithoutCt);
        }
        let issued = Counter::default();
        config.metrics.register(
            "fulcio_new_certs",
            "Certificates issued by Fulcio",
            issued.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                oidc: OidcVerifier::new(config.issuers)?,
                ca: config.ca,
                chain_pem,
                issuer_spki_der,
                ct: config.ct,
                http: config.http,
                metrics: config.metrics,
                issued,
                clock,
                detached_sct: config.detached_sct,
                per_ip: config.rate_limits.per_ip.map(rate_limit::Buckets::new),
                per_identity: config
                    .rate_limits
                    .per_identity
                    .map(rate_limit::Buckets::new),
            }),
        })
    }

    /// Change the shortest interval between JWKS refetches for unknown key ids (default 30 s).
    pub fn set_jwks_refresh_interval(&self, interval: Duration) {
        self.inner.oidc.set_refresh_interval(interval);
    }

    /// Issue a certificate for the key in `key_request`, authenticated by `unverified_token`:
    /// token -> principal -> proof of possession -> precertificate -> CT -> final certificate.
    async fn issue_certificate(
        &self,
        client_ip: Option<IpAddr>,
        unverified_token: &str,
        key_request: KeyRequest<'_>,
    ) -> Result<Issued, ApiError> {
        let inner = &self.inner;
        if let (Some(buckets), Some(ip)) = (&inner.per_ip, client_ip) {
            buckets
                .take(&ip, Instant::now())
                .map_err(|wait| ApiError::TooManyRequests {
                    what: "client address",
                    wait,
                })?;
        }
        let now = inner.clock.now();
        let (issuer, claims) =
            inner
                .oidc
                .verify(unverified_token, now)
                .await
                .map_err(|e| match e {
                    OidcError::Busy => ApiError::Busy,
                    e => ApiError::Unauthenticated(e),
                })?;
        let principal = Principal::from_claims(&issuer, &claims).map_err(ApiError::from_core)?;
        if let Some(buckets) = &inner.per_identity {
            let identity = (principal.issuer().to_string(), principal.name().to_string());
            buckets
                .take(&identity, Instant::now())
                .map_err(|wait| ApiError::TooManyRequests {
                    what: "identity",
                    wait,
                })?;
        }
        let key = key_request.prove(&principal).await?;
        let profile = CertificateProfile::new(&principal, &key, inner.ca.issuer(), now)
            .map_err(ApiError::from_core)?;
        let signer = &inner.ca.signer;

        let mut detached_sct = None;
        let (leaf, embedded_sct) = match &inner.ct {
            None => (issue(signer, profile.without_ct_extension()).await?, false),
            Some(ct) if inner.detached_sct => {
                let leaf = issue(signer, profile.without_ct_extension()).await?;
                let mut chain_der = vec![leaf.to_der().map_err(|e| ca_error(e.into()))?];
                for cert in &inner.ca.chain {
                    chain_der.push(cert.to_der().map_err(|e| ca_error(e.into()))?);
                }
                let sct = ct::submit_certificate(&inner.http, ct, &chain_der)
                    .await
                    .map_err(|detail| ApiError::Internal {
                        public: CT_FAILURE,
                        detail,
                    })?;
                let json = sct.to_json().map_err(|e| ApiError::Internal {
                    public: CT_FAILURE,
                    detail: e.to_string(),
                })?;
                let json = serde_json::to_vec(&json).map_err(|e| ApiError::Internal {
                    public: CT_FAILURE,
                    detail: e.to_string(),
                })?;
                use base64::Engine as _;
                detached_sct = Some(base64::engine::general_purpose::STANDARD.encode(json));
                (leaf, false)
            }
            Some(ct) => {
                let precert_template = profile.precertificate().map_err(ApiError::from_core)?;
                let precert = issue(signer, &precert_template).await?;
                let tbs_der = profile
                    .without_ct_extension()
                    .tbs_der(signer.as_ref())
                    .map_err(ca_error)?;
                let mut chain_der = vec![precert.to_der().map_err(|e| ca_error(e.into()))?];
                for cert in &inner.ca.chain {
                    chain_der.push(cert.to_der().map_err(|e| ca_error(e.into()))?);
                }
                let sct = ct::submit_precertificate(
                    &inner.http,
                    ct,
                    &chain_der,
                    &inner.issuer_spki_der,
                    &tbs_der,
                )
                .await
                .map_err(|detail| ApiError::Internal {
                    public: CT_FAILURE,
                    detail,
                })?;
                let sct_list =
                    sigstack_ct::sct_list_extension(&[sct]).map_err(|e| ApiError::Internal {
                        public: CT_FAILURE,
                        detail: e.to_string(),
                    })?;
                let final_template = profile
                    .final_certificate(sct_list)
                    .map_err(ApiError::from_core)?;
                (issue(signer, &final_template).await?, true)
            }
        };
        inner.issued.inc();
        tracing::info!(
            issuer = principal.issuer(),
            subject = principal.subject_alt_name().value(),
            serial = %hex_serial(&leaf),
            embedded_sct,
            "issued certificate"
        );
        Ok(Issued {
            chain: self.chain_with(&leaf)?,
            embedded_sct,
            detached_sct,
        })
    }

    fn chain_with(&self, leaf: &Certificate) -> Result<CertificateChain, ApiError> {
        let mut certificates = vec![sigstack_pki::certificate_pem(leaf).map_err(ca_error)?];
        certificates.extend(self.inner.chain_pem.iter().cloned());
        Ok(CertificateChain { certificates })
    }

    fn trust_bundle(&self) -> TrustBundle {
        TrustBundle {
            chains: vec![CertificateChain {
                certificates: self.inner.chain_pem.clone(),
            }],
        }
    }

    fn configuration(&self) -> Configuration {
        let describe = |issuer: &sigstack_fulcio_core::Issuer| OidcIssuer {
            audience: issuer.client_id.clone(),
            challenge_claim: issuer.kind.challenge_claim().to_string(),
            issuer_type: issuer.kind.type_name().to_string(),
            subject_domain: match &issuer.kind {
                sigstack_fulcio_core::IssuerKind::Uri { subject_domain } => {
                    Some(subject_domain.to_string())
                }
                sigstack_fulcio_core::IssuerKind::Username { subject_domain } => {
                    Some(subject_domain.clone())
                }
                _ => None,
            },
            skip_email_verification: issuer.skip_email_verification,
            spiffe_trust_domain: match &issuer.kind {
                sigstack_fulcio_core::IssuerKind::Spiffe { trust_domain } => {
                    Some(trust_domain.clone())
                }
                _ => None,
            },
            ..Default::default()
        };
        let issuers = self.inner.oidc.issuers();
        let mut out: Vec<OidcIssuer> = issuers
            .issuers()
            .map(|i| OidcIssuer {
                issuer_url: Some(i.issuer_url.clone()),
                ..describe(i)
            })
            .collect();
        out.extend(issuers.meta_issuers().map(|(pattern, i)| OidcIssuer {
            wildcard_issuer_url: Some(pattern.as_str().to_string()),
            ..describe(i)
        }));
        Configuration { issuers: out }
    }
}

/// The application: the v2 API wrapped with health, readiness, metrics, tracing and panic
/// containment.
pub fn router(state: FulcioState) -> Router {
    let metrics = state.inner.metrics.clone();
    let api = Router::new()
        .route("/api/v2/signingCert", post(signing_cert))
        .route("/api/v2/trustBundle", get(trust_bundle))
        .route("/api/v2/configuration", get(configuration))
        .route("/api/v1/signingCert", post(signing_cert_v1))
        .route("/api/v1/rootCert", get(root_cert_v1))
        .layer(DefaultBodyLimit::max(MAX_BODY_SIZE))
        .with_state(state);
    sigstack_http::observe(api, "fulcio", metrics, sigstack_http::always_ready())
}

/// `POST /api/v2/signingCert`
async fn signing_cert(
    State(state): State<FulcioState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<CreateSigningCertificateRequest>,
) -> Result<Response, ApiError> {
    let body_token = request
        .credentials
        .as_ref()
        .and_then(|c| c.oidc_identity_token.as_deref());
    let unverified_token = token(&headers, body_token)?;
    let key_request = KeyRequest::from_v2(&request)?;
    let issued = state
        .issue_certificate(peer_ip(peer), &unverified_token, key_request)
        .await?;
    let answer = if issued.embedded_sct {
        SigningCertificate {
            signed_certificate_embedded_sct: Some(SigningCertificateEmbeddedSct {
                chain: issued.chain,
            }),
            ..Default::default()
        }
    } else {
        SigningCertificate {
            signed_certificate_detached_sct: Some(SigningCertificateDetachedSct {
                chain: issued.chain,
                signed_certificate_timestamp: issued.detached_sct,
            }),
            ..Default::default()
        }
    };
    Ok((StatusCode::OK, Json(answer)).into_response())
}

/// `POST /api/v1/signingCert` (legacy): token in `Authorization: Bearer`, answer 201 with the
/// PEM chain (leaf first) as `application/pem-certificate-chain`.
async fn signing_cert_v1(
    State(state): State<FulcioState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<api::LegacyCertificateRequest>,
) -> Result<Response, ApiError> {
    let unverified_token = token(&headers, None)?;
    let key_request = OwnedKeyRequest::from_v1(&request)?;
    let issued = state
        .issue_certificate(peer_ip(peer), &unverified_token, key_request.as_ref())
        .await?;
    let mut response = (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        issued.chain.certificates.concat(),
    )
        .into_response();
    // Detached mode: the SCT travels in the `SCT` header (base64 of the JSON AddChainResponse).
    if let Some(sct) = issued.detached_sct
        && let Ok(value) = header::HeaderValue::from_str(&sct)
    {
        response.headers_mut().insert("SCT", value);
    }
    Ok(response)
}

/// The client's address, when the server records it (`into_make_service_with_connect_info`).
fn peer_ip(peer: Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<IpAddr> {
    peer.map(|Extension(ConnectInfo(addr))| addr.ip())
}

/// `GET /api/v1/rootCert` (legacy): the CA chain as PEM, issuer first.
async fn root_cert_v1(State(state): State<FulcioState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        state.inner.chain_pem.concat(),
    )
        .into_response()
}

/// `GET /api/v2/trustBundle`
async fn trust_bundle(State(state): State<FulcioState>) -> Json<TrustBundle> {
    Json(state.trust_bundle())
}

/// `GET /api/v2/configuration`
async fn configuration(State(state): State<FulcioState>) -> Json<Configuration> {
    Json(state.configuration())
}

/// The token from the body (`credentials.oidcIdentityToken`) or `Authorization: Bearer`;
/// both may be given only if they are the same token.
fn token(headers: &HeaderMap, body_token: Option<&str>) -> Result<String, ApiError> {
    let from_body = body_token.filter(|t| !t.is_empty());
    let from_header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value.to_str().map_err(|_| {
                ApiError::Unauthenticated(OidcError::Malformed(
                    "Authorization header is not ASCII".into(),
                ))
            })?;
            let (scheme, token) = value.split_once(' ').ok_or_else(|| {
                ApiError::Unauthenticated(OidcError::Malformed(
                    "Authorization header is not `Bearer <token>`".into(),
                ))
            })?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(ApiError::Unauthenticated(OidcError::Malformed(
                    "Authorization header is not `Bearer <token>`".into(),
                )));
            }
            Some(token.trim())
        }
    };
    match (from_body, from_header) {
        (Some(body), Some(header)) if body != header => Err(ApiError::BadRequest(
            "the request carries two different identity tokens (body and Authorization header)"
                .into(),
        )),
        (Some(token), _) | (None, Some(token)) => Ok(token.to_string()),
        (None, None) => Err(ApiError::Unauthenticated(OidcError::Malformed(
            "no identity token: set credentials.oidcIdentityToken or Authorization: Bearer".into(),
        ))),
    }
}

/// The key to certify, in one of the forms clients send, not yet proven.
enum KeyRequest<'a> {
    /// A public key (PEM, or base64 DER) and a base64 signature over the principal's name.
    PublicKey {
        unverified_key: &'a str,
        unverified_proof: &'a str,
    },
    /// Base64 of a PEM (or DER) CSR.
    Csr(&'a str),
}

/// A [`KeyRequest`] whose strings had to be re-encoded (legacy API).
enum OwnedKeyRequest {
    PublicKey {
        unverified_key: String,
        unverified_proof: String,
    },
    Csr(String),
}

impl<'a> KeyRequest<'a> {
    fn from_v2(request: &'a CreateSigningCertificateRequest) -> Result<Self, ApiError> {
        match (
            &request.public_key_request,
            &request.certificate_signing_request,
        ) {
            (Some(_), Some(_)) => Err(ApiError::BadRequest(
                "send either publicKeyRequest or certificateSigningRequest, not both".into(),
            )),
            (Some(pk), None) => Ok(Self::PublicKey {
                unverified_key: pk
                    .public_key
                    .as_ref()
                    .map(|k| k.content.as_str())
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| {
                        ApiError::BadRequest(
                            "publicKeyRequest.publicKey.content is required".into(),
                        )
                    })?,
                unverified_proof: pk.proof_of_possession.as_deref().unwrap_or_default(),
            }),
            (None, Some(csr)) => Ok(Self::Csr(csr)),
            (None, None) => Err(ApiError::BadRequest(
                "publicKeyRequest or certificateSigningRequest is required".into(),
            )),
        }
    }

    /// Check the proof of possession against `principal`, on a blocking thread (an RSA
    /// signature check is too much work for an async worker).
    async fn prove(self, principal: &Principal) -> Result<ProvenKey, ApiError> {
        let challenge = principal.name().to_string();
        let request = match self {
            Self::PublicKey {
                unverified_key,
                unverified_proof,
            } => OwnedKeyRequest::PublicKey {
                unverified_key: unverified_key.to_string(),
                unverified_proof: unverified_proof.to_string(),
            },
            Self::Csr(unverified_csr) => OwnedKeyRequest::Csr(unverified_csr.to_string()),
        };
        sigstack_workpool::run(move || match request {
            OwnedKeyRequest::PublicKey {
                unverified_key,
                unverified_proof,
            } => ProvenKey::from_public_key_request(&unverified_key, &unverified_proof, &challenge),
            OwnedKeyRequest::Csr(unverified_csr) => ProvenKey::from_csr(&unverified_csr),
        })
        .await
        .map_err(|e| match e {
            sigstack_workpool::PoolError::Busy => ApiError::Busy,
            e => ApiError::Internal {
                public: CA_FAILURE,
                detail: format!("proof-of-possession task: {e}"),
            },
        })?
        .map_err(ApiError::from_core)
    }
}

impl OwnedKeyRequest {
    /// The legacy request: `publicKey.content` is base64 of PEM or DER bytes.
    fn from_v1(request: &api::LegacyCertificateRequest) -> Result<OwnedKeyRequest, ApiError> {
        use base64::Engine as _;
        match (&request.public_key, &request.certificate_signing_request) {
            (Some(_), Some(_)) => Err(ApiError::BadRequest(
                "send either publicKey or certificateSigningRequest, not both".into(),
            )),
            (Some(key), None) => {
                let unverified_bytes = base64::engine::general_purpose::STANDARD
                    .decode(key.content.trim())
                    .map_err(|_| ApiError::BadRequest("publicKey.content is not base64".into()))?;
                // PEM text is passed on as text; DER stays in its base64 form.
                let unverified_key = match std::str::from_utf8(&unverified_bytes) {
                    Ok(text) if text.contains("-----BEGIN") => text.to_string(),
                    _ => key.content.trim().to_string(),
                };
                Ok(OwnedKeyRequest::PublicKey {
                    unverified_key,
                    unverified_proof: request.signed_email_address.clone().unwrap_or_default(),
                })
            }
            (None, Some(csr)) => Ok(OwnedKeyRequest::Csr(csr.clone())),
            (None, None) => Err(ApiError::BadRequest(
                "publicKey or certificateSigningRequest is required".into(),
            )),
        }
    }

    fn as_ref(&self) -> KeyRequest<'_> {
        match self {
            Self::PublicKey {
                unverified_key,
                unverified_proof,
            } => KeyRequest::PublicKey {
                unverified_key,
                unverified_proof,
            },
            Self::Csr(csr) => KeyRequest::Csr(csr),
        }
    }
}

/// A freshly issued certificate with its chain.
struct Issued {
    /// Leaf first, root last, PEM.
    chain: CertificateChain,
    /// Whether the leaf carries an embedded SCT.
    embedded_sct: bool,
    /// Detached mode: base64 of the JSON `AddChainResponse` of the logged leaf.
    detached_sct: Option<String>,
}

/// Sign `template` with the CA key on a blocking thread: the key may be on an HSM.
async fn issue(
    signer: &Arc<dyn sigstack_keys::Signer>,
    template: &sigstack_pki::CertificateTemplate,
) -> Result<Certificate, ApiError> {
    let signer = Arc::clone(signer);
    let template = template.clone();
    tokio::task::spawn_blocking(move || template.issue(signer.as_ref()))
        .await
        .map_err(|e| ApiError::Internal {
            public: CA_FAILURE,
            detail: format!("signing task: {e}"),
        })?
        .map_err(ca_error)
}

fn ca_error(e: sigstack_pki::PkiError) -> ApiError {
    match e {
        sigstack_pki::PkiError::Key(sigstack_keys::KeyError::Unavailable(detail)) => {
            ApiError::Unavailable(detail)
        }
        e => ApiError::Internal {
            public: CA_FAILURE,
            detail: e.to_string(),
        },
    }
}

fn hex_serial(cert: &Certificate) -> String {
    cert.tbs_certificate()
        .serial_number()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Message of CA failures (Fulcio's wording).
const CA_FAILURE: &str = "error communicating with CA backend";
/// Message of CT failures (Fulcio's wording).
const CT_FAILURE: &str = "Error entering certificate in CTL";

/// Every error a request can end with.
#[derive(Debug)]
enum ApiError {
    /// 400 with this message.
    BadRequest(String),
    /// 401: the token is missing or refused.
    Unauthenticated(OidcError),
    /// 403: the issuer's claim policy refuses the identity.
    Forbidden(String),
    /// 429: a rate limit is exhausted for this long.
    TooManyRequests { what: &'static str, wait: Duration },
    /// 500 with a fixed public message; the detail is logged.
    Internal {
        public: &'static str,
        detail: String,
    },
    /// 503: the CA key cannot be reached (HSM token missing or locked); the detail is logged.
    Unavailable(String),
    /// 503 with `Retry-After`: too many requests are waiting for their signature checks.
    Busy,
}

impl ApiError {
    fn from_core(e: FulcioCoreError) -> Self {
        if matches!(e, FulcioCoreError::PolicyDenied { .. }) {
            Self::Forbidden(e.to_string())
        } else if e.is_client_error() {
            Self::BadRequest(e.to_string())
        } else {
            Self::Internal {
                public: CA_FAILURE,
                detail: e.to_string(),
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::BadRequest(message) => json_error(StatusCode::BAD_REQUEST, message),
            Self::Unauthenticated(e) => {
                if let OidcError::Discovery { issuer, detail } = &e {
                    tracing::warn!(%issuer, %detail, "fetching issuer keys failed");
                }
                json_error(StatusCode::UNAUTHORIZED, e)
            }
            Self::Forbidden(message) => json_error(StatusCode::FORBIDDEN, message),
            Self::TooManyRequests { what, wait } => {
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let seconds = seconds.max(1);
                let mut response = json_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("too many certificate requests for this {what}; retry in {seconds} s"),
                );
                if let Ok(value) = header::HeaderValue::from_str(&seconds.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
            Self::Internal { public, detail } => {
                tracing::error!(%detail, "{public}");
                json_error(StatusCode::INTERNAL_SERVER_ERROR, public)
            }
            Self::Busy => {
                retry_later("too many requests are waiting for verification; retry later")
            }
            Self::Unavailable(detail) => {
                tracing::error!(%detail, "CA signing key unavailable");
                json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the CA signing key is unavailable; try again later",
                )
            }
        }
    }
}

#[cfg(test)]
mod api_error_tests {
    use super::*;

    #[test]
    fn a_full_verification_queue_is_503_with_retry_after() {
        let response = ApiError::Busy.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&header::HeaderValue::from_static("1"))
        );
    }

    #[test]
    fn token_errors_are_401_and_a_missing_ca_key_is_503() {
        let response = ApiError::Unauthenticated(OidcError::Expired).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let response = ApiError::Unavailable("token locked".into()).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
