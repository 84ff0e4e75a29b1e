//! HTTP layer: RFC 6962 §4 endpoints under `/ct/v1/`.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sigstack_ct::{AddChainRequest, AddChainResponse};
use sigstack_http::{JsonBody, json_error, observe, retry_later};
use sigstack_tlog_storage::StorageError;

use crate::{CtLogError, CtLogState};

/// Largest request body accepted (a 10-certificate chain in base64 is far smaller).
const MAX_BODY: usize = 512 * 1024;

/// The CT log's HTTP service, wrapped with health, readiness, metrics and tracing.
pub fn router(state: CtLogState) -> Router {
    let metrics = state.metrics().clone();
    let probe = state.clone();
    let ready: sigstack_http::ReadinessFn = std::sync::Arc::new(move || probe.check_ready());
    let api = Router::new()
        .route("/ct/v1/add-chain", post(add_chain))
        .route("/ct/v1/add-pre-chain", post(add_pre_chain))
        .route("/ct/v1/get-sth", get(get_sth))
        .route("/ct/v1/get-sth-consistency", get(get_sth_consistency))
        .route("/ct/v1/get-proof-by-hash", get(get_proof_by_hash))
        .route("/ct/v1/get-entries", get(get_entries))
        .route("/ct/v1/get-roots", get(get_roots))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);
    observe(api, "ctlog", metrics, ready)
}

/// `get-sth` answer (RFC 6962 §4.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SthResponse {
    /// Number of entries.
    pub tree_size: u64,
    /// Milliseconds since the epoch.
    pub timestamp: u64,
    /// Base64 Merkle root.
    pub sha256_root_hash: String,
    /// Base64 TLS `DigitallySigned` over the `TreeHeadSignature`.
    pub tree_head_signature: String,
}

/// `get-sth-consistency` answer (RFC 6962 §4.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyResponse {
    /// Base64 node hashes.
    pub consistency: Vec<String>,
}

/// `get-proof-by-hash` answer (RFC 6962 §4.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofByHashResponse {
    /// 0-based index of the leaf.
    pub leaf_index: u64,
    /// Base64 node hashes, leaf to root.
    pub audit_path: Vec<String>,
}

/// One `get-entries` item (RFC 6962 §4.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Base64 TLS `MerkleTreeLeaf`.
    pub leaf_input: String,
    /// Base64 TLS certificate chain (`x509_entry`) or `PrecertChainEntry`.
    pub extra_data: String,
}

/// `get-entries` answer (RFC 6962 §4.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntriesResponse {
    /// The entries, in order.
    pub entries: Vec<Entry>,
}

/// `get-roots` answer (RFC 6962 §4.7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootsResponse {
    /// Base64 DER root certificates.
    pub certificates: Vec<String>,
}

/// `POST /ct/v1/add-chain`
async fn add_chain(
    State(state): State<CtLogState>,
    JsonBody(request): JsonBody<AddChainRequest>,
) -> Result<Json<AddChainResponse>, ApiError> {
    let sct = state.add_chain(&request).await?;
    Ok(Json(sct.to_json().map_err(CtLogError::from)?))
}

/// `POST /ct/v1/add-pre-chain`
async fn add_pre_chain(
    State(state): State<CtLogState>,
    JsonBody(request): JsonBody<AddChainRequest>,
) -> Result<Json<AddChainResponse>, ApiError> {
    let sct = state.add_pre_chain(&request).await?;
    Ok(Json(sct.to_json().map_err(CtLogError::from)?))
}

/// `GET /ct/v1/get-sth`
async fn get_sth(State(state): State<CtLogState>) -> Result<Json<SthResponse>, ApiError> {
    let sth = state.signed_tree_head().await?;
    Ok(Json(sth_response(&sth)?))
}

fn sth_response(sth: &crate::SignedTreeHead) -> Result<SthResponse, CtLogError> {
    Ok(SthResponse {
        tree_size: sth.tree_size,
        timestamp: sth.timestamp,
        sha256_root_hash: B64.encode(sth.root),
        tree_head_signature: B64.encode(sth.signature.to_tls()?),
    })
}

/// The `get-sth` JSON of a signed tree head (what the log records as its published checkpoint).
pub(crate) fn sth_json(sth: &crate::SignedTreeHead) -> Result<Vec<u8>, CtLogError> {
    serde_json::to_vec(&sth_response(sth)?).map_err(|e| CtLogError::Internal(e.to_string()))
}

/// `GET /ct/v1/get-sth-consistency?first=&second=`
async fn get_sth_consistency(
    State(state): State<CtLogState>,
    params: Params,
) -> Result<Json<ConsistencyResponse>, ApiError> {
    let proof = state
        .consistency_proof(params.u64("first")?, params.u64("second")?)
        .await?;
    Ok(Json(ConsistencyResponse {
        consistency: proof.iter().map(|h| B64.encode(h)).collect(),
    }))
}

/// `GET /ct/v1/get-proof-by-hash?hash=&tree_size=`
async fn get_proof_by_hash(
    State(state): State<CtLogState>,
    params: Params,
) -> Result<Json<ProofByHashResponse>, ApiError> {
    let (leaf_index, path) = state
        .proof_by_hash(&params.hash("hash")?, params.u64("tree_size")?)
        .await?;
    Ok(Json(ProofByHashResponse {
        leaf_index,
        audit_path: path.iter().map(|h| B64.encode(h)).collect(),
    }))
}

/// `GET /ct/v1/get-entries?start=&end=`
async fn get_entries(
    State(state): State<CtLogState>,
    params: Params,
) -> Result<Json<EntriesResponse>, ApiError> {
    let entries = state
        .entries(params.u64("start")?, params.u64("end")?)
        .await?;
    Ok(Json(EntriesResponse {
        entries: entries
            .iter()
            .map(|e| Entry {
                leaf_input: B64.encode(&e.leaf_input),
                extra_data: B64.encode(&e.extra_data),
            })
            .collect(),
    }))
}

/// `GET /ct/v1/get-roots`
async fn get_roots(State(state): State<CtLogState>) -> Json<RootsResponse> {
    Json(RootsResponse {
        certificates: state.roots_der().iter().map(|d| B64.encode(d)).collect(),
    })
}

/// Query parameters, with rejections as JSON errors.
struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(map)| Self(map))
            .map_err(|e| json_error(StatusCode::BAD_REQUEST, e.body_text()))
    }
}

impl Params {
    fn get(&self, name: &str) -> Result<&str, ApiError> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError(CtLogError::BadRequest(format!("missing parameter {name}"))))
    }

    fn u64(&self, name: &str) -> Result<u64, ApiError> {
        let unverified = self.get(name)?;
        unverified.parse().map_err(|_| {
            ApiError(CtLogError::BadRequest(format!(
                "parameter {name} is not a non-negative integer"
            )))
        })
    }

    /// A base64 SHA-256 hash. A `+` sent unescaped arrives as a space; it is put back.
    fn hash(&self, name: &str) -> Result<[u8; 32], ApiError> {
        let unverified = self.get(name)?.replace(' ', "+");
        B64.decode(unverified)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
            .ok_or_else(|| {
                ApiError(CtLogError::BadRequest(format!(
                    "parameter {name} is not a base64 SHA-256 hash"
                )))
            })
    }
}

/// A [`CtLogError`] on its way to becoming an HTTP answer.
struct ApiError(CtLogError);

impl From<CtLogError> for ApiError {
    fn from(e: CtLogError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            CtLogError::BadChain(_) | CtLogError::BadRequest(_) => StatusCode::BAD_REQUEST,
            CtLogError::NotFound(_) => StatusCode::NOT_FOUND,
            CtLogError::Storage(e) => match e {
                StorageError::EntryTooLarge { .. } | StorageError::InvalidRequest(_) => {
                    StatusCode::BAD_REQUEST
                }
                StorageError::NotFound(_) => StatusCode::NOT_FOUND,
                StorageError::Overloaded
                | StorageError::Closed
                | StorageError::Failed
                | StorageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            CtLogError::Ct(sigstack_ct::CtError::Signing(
                sigstack_keys::KeyError::Unavailable(_),
            ))
            | CtLogError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %self.0, "CT log request failed");
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                return json_error(status, "internal error");
            }
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return retry_later(&self.0);
        }
        json_error(status, &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_verification_queue_is_503_with_retry_after() {
        let response = ApiError(CtLogError::Busy).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(axum::http::header::RETRY_AFTER),
            Some(&axum::http::HeaderValue::from_static("1"))
        );
    }

    #[test]
    fn a_bad_chain_is_400_and_an_internal_error_hides_its_detail() {
        let response = ApiError(CtLogError::BadChain("no root".into())).into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let response = ApiError(CtLogError::Internal("secret detail".into())).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            response
                .headers()
                .get(axum::http::header::RETRY_AFTER)
                .is_none()
        );
    }
}
