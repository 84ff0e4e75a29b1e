//! Mapping of [`RekorError`] to HTTP responses (the `{"code", "message"}` error body).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sigstack_http::{json_error, retry_later};
use sigstack_tlog_storage::StorageError;

use crate::error::RekorError;

/// Which API answered: decides how a duplicate points at the existing entry.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Api {
    /// Rekor v1: `Location: /api/v1/log/entries/<entry ID>`.
    V1,
    /// Rekor v2: `x-log-index: <index>`.
    V2,
}

/// A [`RekorError`] on its way out as an HTTP response.
#[derive(Debug)]
pub(crate) struct ApiError {
    error: RekorError,
    api: Api,
}

impl ApiError {
    pub(crate) fn v1(error: impl Into<RekorError>) -> Self {
        Self {
            error: error.into(),
            api: Api::V1,
        }
    }

    pub(crate) fn v2(error: impl Into<RekorError>) -> Self {
        Self {
            error: error.into(),
            api: Api::V2,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.error {
            RekorError::InvalidEntry(_) | RekorError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            RekorError::NotFound(_) => StatusCode::NOT_FOUND,
            RekorError::Duplicate { .. } => StatusCode::CONFLICT,
            RekorError::TooManyQueries { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            RekorError::EntryTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RekorError::Storage(
                StorageError::Overloaded
                | StorageError::Closed
                | StorageError::Failed
                | StorageError::Unavailable(_),
            )
            | RekorError::KeyUnavailable(_)
            | RekorError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self.error, "rekor request failed");
            return json_error(status, "internal error");
        }
        let mut response = if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %self.error, "rekor log unavailable");
            retry_later(&self.error)
        } else {
            json_error(status, &self.error)
        };
        if let RekorError::Duplicate { index, entry_id } = &self.error {
            let (name, value) = match self.api {
                Api::V1 => (header::LOCATION, format!("/api/v1/log/entries/{entry_id}")),
                Api::V2 => (
                    header::HeaderName::from_static("x-log-index"),
                    index.to_string(),
                ),
            };
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::EntryError;

    fn status_and_headers(e: ApiError) -> (StatusCode, axum::http::HeaderMap) {
        let r = e.into_response();
        (r.status(), r.headers().clone())
    }

    #[test]
    fn every_error_maps_to_its_status() {
        let cases = [
            (
                RekorError::InvalidEntry(EntryError::Malformed("x".into())),
                StatusCode::BAD_REQUEST,
            ),
            (
                RekorError::InvalidRequest("x".into()),
                StatusCode::BAD_REQUEST,
            ),
            (RekorError::NotFound("x".into()), StatusCode::NOT_FOUND),
            (
                RekorError::TooManyQueries { max: 10, got: 11 },
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                RekorError::EntryTooLarge {
                    size: 70_000,
                    max: 65_535,
                },
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                RekorError::Storage(StorageError::Overloaded),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (RekorError::Busy, StatusCode::SERVICE_UNAVAILABLE),
            (
                RekorError::Storage(StorageError::Closed),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                RekorError::Storage(StorageError::Failed),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                RekorError::Storage(StorageError::Corrupt("disk".into())),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                RekorError::Signing("hsm".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                RekorError::from(sigstack_keys::KeyError::Unavailable("token removed".into())),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                RekorError::Inconsistent("x".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, want) in cases {
            let text = error.to_string();
            let (status, headers) = status_and_headers(ApiError::v1(error));
            assert_eq!(status, want, "{text}");
            assert_eq!(
                headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
                Some(&b"application/json"[..])
            );
        }
    }

    #[test]
    fn duplicates_point_at_the_existing_entry() {
        let dup = || RekorError::Duplicate {
            index: 7,
            entry_id: "ab".repeat(40),
        };
        let (status, headers) = status_and_headers(ApiError::v1(dup()));
        assert_eq!(status, StatusCode::CONFLICT);
        let want = format!("/api/v1/log/entries/{}", "ab".repeat(40));
        assert_eq!(
            headers.get(header::LOCATION).map(|v| v.as_bytes()),
            Some(want.as_bytes())
        );
        assert!(headers.get("x-log-index").is_none());

        let (status, headers) = status_and_headers(ApiError::v2(dup()));
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            headers.get("x-log-index").map(|v| v.as_bytes()),
            Some(&b"7"[..])
        );
        assert!(headers.get(header::LOCATION).is_none());
    }

    #[tokio::test]
    async fn internal_errors_hide_their_detail() {
        use http_body_util::BodyExt as _;
        let response =
            ApiError::v2(RekorError::Signing("pkcs11 slot 3 PIN locked".into())).into_response();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("internal error"), "{text}");
        assert!(!text.contains("PIN"), "{text}");
    }
}
