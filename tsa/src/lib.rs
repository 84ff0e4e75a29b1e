//! Sigstack's RFC 3161 timestamp authority: a thin axum service over [`sigstack_tsp`].
//!
//! Endpoints (the sigstore/timestamp-authority API that Sigstore clients use):
//!
//! - `POST /api/v1/timestamp`: a DER `TimeStampReq` (`Content-Type:
//!   application/timestamp-query`, sigstore-python and sigstore-rust) or the sigstore JSON form
//!   (`application/json`, sigstore-js); answers a DER `TimeStampResp` as
//!   `application/timestamp-reply`. Bad input gets a 4xx JSON error `{"code","message"}`.
//! - `GET /api/v1/timestamp/certchain`: the PEM chain, leaf first, root last.
//!
//! On first run [`TsaState::load_or_create`] creates a P-384 root and a P-256 leaf with a
//! critical `id-kp-timeStamping` EKU in the configured directory; later runs reuse them. Start-up
//! refuses a chain that is not valid now, not nested, or expiring before the configured window ends.
//!
//! Token serial numbers are 128 bits from the operating system's random source (a 17-byte
//! positive INTEGER): unique across restarts and crashes without any stored counter, and a
//! failing random source fails the request instead of repeating a serial.

mod chain;

pub use chain::issue_leaf as issue_time_stamping_certificate;
mod json;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use der::asn1::ObjectIdentifier;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sigstack_clock::{Clock, SystemClock};
use sigstack_http::{Metrics, json_error};
use sigstack_tsp::{Accuracy, TimestampAuthority, TspError, ValidityWindow, VerifiedRequest};
use x509_cert::Certificate;
use x509_cert::serial_number::SerialNumber;

use crate::json::JsonTimestampRequest;

/// Largest accepted request body. A DER request is a few hundred bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Media type of a DER `TimeStampReq` (RFC 3161 §3.4).
pub const TIMESTAMP_QUERY: &str = "application/timestamp-query";
/// Media type of a DER `TimeStampResp` (RFC 3161 §3.4).
pub const TIMESTAMP_REPLY: &str = "application/timestamp-reply";
/// Media type of the PEM chain.
pub const PEM_CHAIN: &str = "application/pem-certificate-chain";

/// How to set up the TSA.
#[derive(Clone, Debug)]
pub struct TsaConfig {
    /// Holds the chain and keys; created on first run.
    pub dir: PathBuf,
    /// Organization (`O=`) of the root and leaf.
    pub organization: String,
    /// Common name of the leaf; the root is named `"<common_name> root"`.
    pub common_name: String,
    /// Default TSA policy OID (dotted); `None` for Sigstore's `1.3.6.1.4.1.57264.2`.
    pub policy: Option<String>,
    /// Accuracy stated in tokens (`None` omits it). RFC 3161 limits apply (checked at start).
    pub accuracy: Option<Accuracy>,
    /// The window in which this TSA issues tokens (its published `validFor`). At start-up the
    /// chain must be valid now, nested, and the leaf must last until the window ends.
    pub window: ValidityWindow,
    /// Where the service registers its metrics.
    pub metrics: Metrics,
    /// The time-stamping key when it is kept outside `dir` (a key file elsewhere or an HSM);
    /// its certificate must then already be in `dir` (made with `sigstack ca`).
    pub key: Option<Arc<dyn sigstack_keys::Signer>>,
}

/// Errors from setting up the TSA.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TsaError {
    /// Creating, loading or encoding a certificate failed.
    #[error(transparent)]
    Pki(#[from] sigstack_pki::PkiError),
    /// Loading or generating a key failed.
    #[error(transparent)]
    Key(#[from] sigstack_keys::KeyError),
    /// The chain is not fit for time-stamping.
    #[error(transparent)]
    Tsp(#[from] TspError),
    /// The configured policy is not a dotted OID.
    #[error("invalid TSA policy OID {0:?}")]
    Policy(String),
    /// Stored TSA files disagree with each other.
    #[error("TSA material {path}: {reason}")]
    Inconsistent {
        /// The file involved.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a TSA file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Labels of `sigstack_tsa_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The TSA service state: the authority, its chain and the clock.
#[derive(Clone)]
pub struct TsaState {
    authority: Arc<TimestampAuthority>,
    chain: Arc<[Certificate]>,
    chain_pem: Arc<str>,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    requests: Family<OutcomeLabels, Counter>,
}

impl fmt::Debug for TsaState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsaState")
            .field("policy", &self.authority.policy())
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl TsaState {
    /// Load the TSA chain and keys from `config.dir`, creating them at `now` on first run.
    /// Tokens use the system clock (see [`TsaState::with_clock`]).
    ///
    /// # Errors
    /// Fails on I/O errors, inconsistent stored files or an invalid policy OID.
    pub fn load_or_create(config: TsaConfig, now: SystemTime) -> Result<Self, TsaError> {
        let policy = config
            .policy
            .as_deref()
            .map(|p| ObjectIdentifier::new(p).map_err(|_| TsaError::Policy(p.to_string())))
            .transpose()?;
        let material = chain::load_or_create(
            &config.dir,
            &config.organization,
            &config.common_name,
            config.key.clone(),
            now,
        )?;
        if let Some(accuracy) = &config.accuracy {
            sigstack_tsp::check_accuracy(accuracy)?;
        }
        let mut authority = TimestampAuthority::new(material.signer, material.chain.clone())?
            .with_accuracy(config.accuracy);
        if let Some(policy) = policy {
            authority = authority.with_policy(policy);
        }
        authority.check_validity(now, &config.window)?;
        let chain_pem = material
            .chain
            .iter()
            .map(sigstack_pki::certificate_pem)
            .collect::<Result<String, _>>()?;
        let requests = Family::<OutcomeLabels, Counter>::default();
        config.metrics.register(
            "tsa_requests",
            "Time-stamp requests by outcome",
            requests.clone(),
        );
        Ok(Self {
            authority: Arc::new(authority),
            chain: material.chain.into(),
            chain_pem: chain_pem.into(),
            clock: Arc::new(SystemClock),
            metrics: config.metrics,
            requests,
        })
    }

    /// Use `clock` for `genTime` and signingTime.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The chain, leaf first and root last (at least two certificates).
    #[must_use]
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The chain as concatenated PEM, leaf first.
    #[must_use]
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The authority that signs tokens.
    #[must_use]
    pub fn authority(&self) -> &TimestampAuthority {
        &self.authority
    }

    /// Turn an HTTP request body into a DER `TimeStampResp`, counting the outcome.
    fn timestamp(&self, headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let result = parse_request(headers, body).and_then(|request| {
            let serial = fresh_serial()?;
            Ok(self
                .authority
                .timestamp(&request, self.clock.now(), &serial)?)
        });
        let outcome = match &result {
            Ok(_) => "granted",
            Err(ApiError::Internal(_) | ApiError::Unavailable(_)) => "error",
            Err(_) => "rejected",
        };
        self.requests
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        result
    }
}

/// A token serial number: a leading `0x01` byte (positive, fixed length) and 128 random bits.
///
/// # Errors
/// [`ApiError::Internal`] when the operating system's random source fails.
fn fresh_serial() -> Result<SerialNumber, ApiError> {
    let mut bytes = [0u8; 17];
    bytes[0] = 0x01;
    getrandom::fill(&mut bytes[1..])
        .map_err(|e| ApiError::Internal(format!("random source: {e}")))?;
    SerialNumber::new(&bytes).map_err(|e| ApiError::Internal(format!("serial: {e}")))
}

/// The TSA routes, wrapped with `/healthz`, `/readyz`, `/metrics`, tracing and panic handling.
pub fn router(state: TsaState) -> Router {
    let metrics = state.metrics.clone();
    let routes = Router::new()
        .route("/api/v1/timestamp", post(timestamp))
        .route("/api/v1/timestamp/certchain", get(certchain))
        .method_not_allowed_fallback(|| async {
            json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        })
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "not found") })
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state);
    sigstack_http::observe(routes, "tsa", metrics, sigstack_http::always_ready())
}

/// `POST /api/v1/timestamp`
async fn timestamp(
    State(state): State<TsaState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::Body)?;
    // Signing may be an HSM round trip: keep it off the async workers.
    let reply = tokio::task::spawn_blocking(move || state.timestamp(&headers, &body))
        .await
        .map_err(|e| ApiError::Internal(format!("time-stamping task: {e}")))??;
    Ok(([(header::CONTENT_TYPE, TIMESTAMP_REPLY)], reply).into_response())
}

/// `GET /api/v1/timestamp/certchain`
async fn certchain(State(state): State<TsaState>) -> Response {
    (
        [(header::CONTENT_TYPE, PEM_CHAIN)],
        state.chain_pem().to_string(),
    )
        .into_response()
}

/// Parse a DER or JSON request body according to its content type.
fn parse_request(headers: &HeaderMap, unverified_body: &[u8]) -> Result<VerifiedRequest, ApiError> {
    if is_timestamp_query(headers) {
        Ok(VerifiedRequest::from_der(unverified_body)?)
    } else if sigstack_http::is_json(headers) {
        let unverified: JsonTimestampRequest = serde_json::from_slice(unverified_body)
            .map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}")))?;
        let request = unverified.into_request().map_err(ApiError::BadRequest)?;
        Ok(VerifiedRequest::try_from(request)?)
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

fn is_timestamp_query(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case(TIMESTAMP_QUERY))
}

/// Everything the TSA endpoints answer with an error.
#[derive(Debug)]
enum ApiError {
    /// Neither `application/timestamp-query` nor JSON.
    UnsupportedMediaType,
    /// The body could not be read (413 when over [`MAX_REQUEST_BYTES`]).
    Body(BytesRejection),
    /// The request is malformed or unsupported.
    BadRequest(String),
    /// The TSA failed; details go to the log only.
    Internal(String),
    /// The signing key cannot be reached (PKCS#11 token missing or locked): 503.
    Unavailable(String),
}

impl From<TspError> for ApiError {
    fn from(e: TspError) -> Self {
        if let TspError::Signing(sigstack_keys::KeyError::Unavailable(detail)) = e {
            return Self::Unavailable(detail);
        }
        if e.is_client_error() {
            Self::BadRequest(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::UnsupportedMediaType => json_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("expected Content-Type: {TIMESTAMP_QUERY} or application/json"),
            ),
            Self::Body(rejection) => json_error(rejection.status(), rejection.body_text()),
            Self::BadRequest(message) => json_error(StatusCode::BAD_REQUEST, message),
            Self::Internal(detail) => {
                tracing::error!(%detail, "time-stamping failed");
                json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
            Self::Unavailable(detail) => {
                tracing::error!(%detail, "TSA signing key unavailable");
                json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the time-stamping key is unavailable; try again later",
                )
            }
        }
    }
}
