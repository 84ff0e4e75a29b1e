//! Rekor v1 HTTP routes. Handlers extract, call one [`RekorV1State`] method, and respond.

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sigstack_http::{JsonBody, JsonBytes, observe, sized_json};

use super::RekorV1State;
use super::search::SearchIndex;
use super::wire::SearchLogQuery;
use crate::MAX_REQUEST_BODY;
use crate::api_error::ApiError;
use crate::error::RekorError;

/// The Rekor v1 API with `/healthz`, `/readyz` and `/metrics`, ready to serve.
pub fn v1_router(state: RekorV1State) -> Router {
    let metrics = state.metrics().clone();
    let probe = state.clone();
    let ready: sigstack_http::ReadinessFn = std::sync::Arc::new(move || probe.check_ready());
    let api = Router::new()
        .route("/api/v1/log", get(get_log_info))
        .route("/api/v1/log/publicKey", get(get_public_key))
        .route("/api/v1/log/proof", get(get_log_proof))
        .route(
            "/api/v1/log/entries",
            post(create_log_entry).get(get_log_entry_by_index),
        )
        .route("/api/v1/log/entries/retrieve", post(search_log_query))
        .route("/api/v1/log/entries/retrieve/", post(search_log_query))
        .route("/api/v1/index/retrieve", post(search_index))
        .route(
            "/api/v1/log/entries/{entry_uuid}",
            get(get_log_entry_by_uuid),
        )
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .with_state(state);
    observe(api, "rekor-v1", metrics, ready)
}

/// `POST /api/v1/log/entries`: verify and log a `ProposedEntry`; 201 with `ETag` and `Location`.
async fn create_log_entry(
    State(state): State<RekorV1State>,
    JsonBytes(unverified): JsonBytes,
) -> Result<Response, ApiError> {
    let entry = state.create_entry(unverified).await.map_err(ApiError::v1)?;
    let location = format!("/api/v1/log/entries/{}", entry.entry_id);
    let mut response = sized_json(StatusCode::CREATED, &entry, entry.json_size_hint());
    for (name, value) in [
        (header::ETAG, entry.entry_id.as_str()),
        (header::LOCATION, location.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// Query of `GET /api/v1/log/entries`.
#[derive(Debug, Deserialize)]
struct LogIndexQuery {
    #[serde(rename = "logIndex")]
    log_index: u64,
}

/// `GET /api/v1/log/entries?logIndex=N`
async fn get_log_entry_by_index(
    State(state): State<RekorV1State>,
    query: Result<Query<LogIndexQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(bad_query)?;
    let entry = state
        .entry_by_index(query.log_index)
        .await
        .map_err(ApiError::v1)?;
    Ok(sized_json(StatusCode::OK, &entry, entry.json_size_hint()))
}

/// `GET /api/v1/log/entries/{entryUUID}` (64-hex UUID or 80-hex entry ID)
async fn get_log_entry_by_uuid(
    State(state): State<RekorV1State>,
    Path(entry_uuid): Path<String>,
) -> Result<Response, ApiError> {
    let entry = state
        .entry_by_uuid(&entry_uuid)
        .await
        .map_err(ApiError::v1)?;
    Ok(sized_json(StatusCode::OK, &entry, entry.json_size_hint()))
}

/// `POST /api/v1/log/entries/retrieve`: `SearchLogQuery` -> array of `LogEntry`.
async fn search_log_query(
    State(state): State<RekorV1State>,
    JsonBody(query): JsonBody<SearchLogQuery>,
) -> Result<Response, ApiError> {
    let entries = state.search(&query).await.map_err(ApiError::v1)?;
    Ok(Json(&entries).into_response())
}

/// `POST /api/v1/index/retrieve`: `SearchIndex` -> array of entry IDs.
async fn search_index(
    State(state): State<RekorV1State>,
    JsonBody(query): JsonBody<SearchIndex>,
) -> Result<Response, ApiError> {
    let ids = state.search_index(&query).await.map_err(ApiError::v1)?;
    Ok(Json(&ids).into_response())
}

/// `GET /api/v1/log`: `LogInfo`.
async fn get_log_info(State(state): State<RekorV1State>) -> Result<Response, ApiError> {
    Ok(Json(state.log_info().await.map_err(ApiError::v1)?).into_response())
}

/// `GET /api/v1/log/publicKey`: the log key as PEM.
async fn get_public_key(State(state): State<RekorV1State>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        state.public_key_pem(),
    )
        .into_response()
}

/// Query of `GET /api/v1/log/proof`.
#[derive(Debug, Deserialize)]
struct ProofQuery {
    #[serde(rename = "firstSize", default = "one")]
    first_size: u64,
    #[serde(rename = "lastSize")]
    last_size: u64,
}

fn one() -> u64 {
    1
}

/// `GET /api/v1/log/proof?firstSize=&lastSize=`: `ConsistencyProof`.
async fn get_log_proof(
    State(state): State<RekorV1State>,
    query: Result<Query<ProofQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(bad_query)?;
    let proof = state
        .consistency_proof(query.first_size, query.last_size)
        .await
        .map_err(ApiError::v1)?;
    Ok(Json(proof).into_response())
}

fn bad_query(rejection: QueryRejection) -> ApiError {
    ApiError::v1(RekorError::InvalidRequest(rejection.body_text()))
}
