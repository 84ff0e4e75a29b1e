//! Serving the published TUF repository read-only over HTTP, and re-signing its online roles
//! on a schedule.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sigstack_keys::{FileSigner, Signer};
use tokio::sync::watch;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::trust_tuf::{MAX_METADATA_SIZE, MAX_TARGET_SIZE, Published, Repository};

/// Labels of the expiry gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct RoleLabels {
    role: String,
}

/// `sigstack_tuf_metadata_expires_timestamp_seconds{role}`: when each published role expires,
/// for alerts on root and targets (which only the offline quorum can renew) and on a stalled
/// online re-signer.
#[derive(Clone, Debug, Default)]
pub struct TufMetrics {
    expires: Family<RoleLabels, Gauge>,
}

impl TufMetrics {
    /// Register the gauge with the process metrics.
    pub fn register(metrics: &sigstack_http::Metrics) -> Self {
        let this = Self::default();
        metrics.register(
            "tuf_metadata_expires_timestamp_seconds",
            "Expiry of each published TUF role (Unix seconds)",
            this.expires.clone(),
        );
        this
    }

    fn observe(&self, published: &Published) {
        let roles = [
            ("root", published.root.signed.expires),
            ("targets", published.targets.signed.expires),
            ("snapshot", published.snapshot.signed.expires),
            ("timestamp", published.timestamp.signed.expires),
        ];
        for (role, expires) in roles {
            self.expires
                .get_or_create(&RoleLabels { role: role.into() })
                .set(expires.as_second());
        }
    }
}

/// The read-only file server over `REPO/published/`, with `/healthz`, `/readyz` and `/metrics`.
pub fn router(published: PathBuf, metrics: sigstack_http::Metrics) -> Router {
    let files = Router::new()
        .route("/{name}", get(metadata_file))
        .route("/targets/{name}", get(target_file))
        .with_state(Arc::new(published));
    sigstack_http::observe(files, "tuf", metrics, sigstack_http::always_ready())
}

/// `GET /{name}`: a metadata file (`timestamp.json`, `N.root.json`, `N.snapshot.json`, ...).
async fn metadata_file(State(dir): State<Arc<PathBuf>>, Path(name): Path<String>) -> Response {
    serve(dir.join(&name), &name, MAX_METADATA_SIZE).await
}

/// `GET /targets/{name}`: a target file (`<sha256>.trusted_root.json`, ...).
async fn target_file(State(dir): State<Arc<PathBuf>>, Path(name): Path<String>) -> Response {
    serve(dir.join("targets").join(&name), &name, MAX_TARGET_SIZE).await
}

fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

async fn serve(path: PathBuf, name: &str, limit: u64) -> Response {
    if !safe_name(name) {
        return sigstack_http::json_error(StatusCode::NOT_FOUND, format!("no file {name:?}"));
    }
    match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_file() && m.len() <= limit => {}
        Ok(m) if m.is_file() => {
            return sigstack_http::json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{name} is over the size limit"),
            );
        }
        _ => return sigstack_http::json_error(StatusCode::NOT_FOUND, format!("no file {name:?}")),
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => sigstack_http::json_error(StatusCode::NOT_FOUND, format!("{name}: {e}")),
    }
}

/// Re-sign snapshot and timestamp before they expire, checking every `every`. The online key is
/// read from `online_key` at each check, so replacing the file rotates it.
pub async fn refresh_loop(
    repo: Repository,
    online_key: PathBuf,
    every: Duration,
    metrics: TufMetrics,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if repo.published_dir().join("timestamp.json").exists() {
            // File reads and signing block: run the whole check on the blocking pool.
            let handle = tokio::runtime::Handle::current();
            let (repo, online_key, metrics) = (repo.clone(), online_key.clone(), metrics.clone());
            let outcome = tokio::task::spawn_blocking(move || {
                resign_if_due(&handle, &repo, &online_key);
                if let Ok(Some(published)) = repo.published() {
                    metrics.observe(&published);
                }
            })
            .await;
            if let Err(e) = outcome {
                tracing::error!(error = %e, "TUF re-signing task failed");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One check of the schedule: load the online key, re-sign what is due, log the outcome.
fn resign_if_due(handle: &tokio::runtime::Handle, repo: &Repository, online_key: &std::path::Path) {
    let pem = match std::fs::read_to_string(online_key) {
        Ok(pem) => pem,
        Err(e) => {
            tracing::warn!(error = %e, key = %online_key.display(), "no TUF online key; not re-signing");
            return;
        }
    };
    let signer: Arc<dyn Signer> = match FileSigner::from_pkcs8_pem(&pem) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(error = %e, key = %online_key.display(), "TUF online key unusable");
            return;
        }
    };
    match handle.block_on(repo.refresh(signer, jiff::Timestamp::now(), false, None)) {
        Ok(Some(v)) => tracing::info!(timestamp_version = v, "TUF snapshot/timestamp re-signed"),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "TUF re-signing failed"),
    }
}
