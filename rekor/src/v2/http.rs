//! Rekor v2 HTTP routes. Handlers extract, call one [`RekorV2State`] method, and respond.

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use sigstack_http::{JsonBody, observe};

use super::RekorV2State;
use crate::MAX_REQUEST_BODY;
use crate::api_error::ApiError;

/// `Cache-Control` of full tiles and entry bundles, which never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The Rekor v2 API (write endpoint and tlog-tiles read endpoints) with `/healthz`, `/readyz`
/// and `/metrics`, ready to serve.
pub fn v2_router(state: RekorV2State) -> Router {
    let metrics = state.metrics().clone();
    let probe = state.clone();
    let ready: sigstack_http::ReadinessFn = std::sync::Arc::new(move || probe.check_ready());
    let api = Router::new()
        .route("/api/v2/log/entries", post(create_entry))
        .route("/api/v2/checkpoint", get(get_checkpoint))
        .route("/api/v2/tile/{*path}", get(get_tile))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .with_state(state);
    observe(api, "rekor-v2", metrics, ready)
}

/// `POST /api/v2/log/entries`: `CreateEntryRequest` -> 201 `TransparencyLogEntry`.
async fn create_entry(
    State(state): State<RekorV2State>,
    JsonBody(unverified): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let entry = state
        .create_entry(&unverified)
        .await
        .map_err(ApiError::v2)?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

/// `GET /api/v2/checkpoint`: the signed checkpoint note.
async fn get_checkpoint(State(state): State<RekorV2State>) -> Result<Response, ApiError> {
    let note = crate::error::blocking(move || state.checkpoint())
        .await
        .map_err(ApiError::v2)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        note,
    )
        .into_response())
}

/// `GET /api/v2/tile/{L}/{N...}[.p/{W}]` and `GET /api/v2/tile/entries/{N...}[.p/{W}]`
async fn get_tile(
    State(state): State<RekorV2State>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let tile = state.tile(&path).map_err(ApiError::v2)?;
    let cache = if tile.full { IMMUTABLE } else { "no-cache" };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        tile.bytes,
    )
        .into_response())
}
