//! HTTP plumbing shared by every Sigstack service: the JSON error body, a JSON extractor whose
//! rejections use that body, `/healthz`, `/readyz`, Prometheus `/metrics`, a tracing span per
//! request and panic containment.
//!
//! Services stay thin: each builds its own `Router` and wraps it with [`observe`]; binaries
//! run it with [`serve`], which adds header and request deadlines and a bound on requests in
//! flight.

mod record;
mod serve;

pub use serve::{ServerLimits, limit, serve};

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::de::DeserializeOwned;

/// The error body every Sigstack endpoint returns: `{"code": <HTTP status>, "message": "..."}`
/// (the shape of Rekor's and Fulcio's error model).
#[must_use]
pub fn json_error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    let body = serde_json::json!({ "code": status.as_u16(), "message": message.to_string() });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `value` as a JSON answer, written into one buffer of `size_hint` bytes reserved up front: for
/// answers of a few KiB, which `axum::Json` would grow from 128 bytes by repeated copies. A
/// value that cannot be serialised (a map with non-string keys) is a 500 [`json_error`].
#[must_use]
pub fn sized_json(status: StatusCode, value: &impl serde::Serialize, size_hint: usize) -> Response {
    let mut body = Vec::with_capacity(size_hint);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the answer: {e}"),
        ),
    }
}

/// 503 with `Retry-After: 1` and the [`json_error`] body: the answer to a request refused for
/// load (a full queue, too many requests in flight) or a dependency that is briefly away, which
/// a client should simply send again.
#[must_use]
pub fn retry_later(message: impl std::fmt::Display) -> Response {
    let mut response = json_error(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    response
}

/// A JSON request body. Unlike `axum::Json`, a rejection answers with [`json_error`]:
/// 415 for a wrong content type, 413 for an oversized body, 400 for malformed JSON.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| json_error(StatusCode::BAD_REQUEST, format!("malformed JSON body: {e}")))
    }
}

/// The bytes of a request body declared as JSON, not yet parsed: for handlers that parse it off
/// the async workers. Rejections as for [`JsonBody`] (415, 413).
#[derive(Debug, Clone)]
pub struct JsonBytes(pub axum::body::Bytes);

impl<S> FromRequest<S> for JsonBytes
where
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(json_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected Content-Type: application/json",
            ));
        }
        axum::body::Bytes::from_request(req, state)
            .await
            .map(JsonBytes)
            .map_err(|rejection| {
                let status = rejection.status();
                json_error(status, rejection.body_text())
            })
    }
}

/// Whether the request declares a JSON body (`application/json`, any parameters).
#[must_use]
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
        })
}

/// Readiness probe: returns `Ok` when the service can take traffic, or a reason.
pub type ReadinessFn = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Labels of the per-request metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: &'static str,
    method: Cow<'static, str>,
    route: record::RouteLabel,
    status: u16,
}

/// Prometheus metrics shared by the services of one process.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<std::sync::Mutex<Registry>>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    /// The logs whose batches the registry's one [`LogBatchesCollector`] reports.
    log_batches: Arc<std::sync::Mutex<Vec<LogBatchesSource>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry holding `http_requests_total` and `http_request_duration_seconds`.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sigstack");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            latency.clone(),
        );
        let log_batches = Arc::default();
        registry.register_collector(Box::new(LogBatchesCollector(Arc::clone(&log_batches))));
        Self {
            registry: Arc::new(std::sync::Mutex::new(registry)),
            requests,
            latency,
            log_batches,
        }
    }

    /// Register a service-specific metric.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        if let Ok(mut registry) = self.registry.lock() {
            registry.register(name, help, metric);
        }
    }

    /// Report a log's commit batches at every scrape, labelled `log="<log>"`:
    /// `sigstack_log_batch_entries` (a histogram of batch sizes: its count is the batches, its
    /// sum the entries committed) and `sigstack_log_commit_seconds_total` (time spent making
    /// batches durable). `read` runs at scrape time; `None` reports nothing.
    pub fn register_log_batches(
        &self,
        log: &'static str,
        read: impl Fn() -> Option<LogBatches> + Send + Sync + 'static,
    ) {
        if let Ok(mut sources) = self.log_batches.lock() {
            sources.push(LogBatchesSource {
                log,
                read: Box::new(read),
            });
        }
    }

    /// The OpenMetrics text exposition of every registered metric.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}

/// A log sequencer's commit batches at scrape time (see [`Metrics::register_log_batches`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogBatches {
    /// Batches committed.
    pub batches: u64,
    /// Entries committed in them.
    pub entries: u64,
    /// `(upper bound, batches larger than the previous bound and at most this one)`, in
    /// ascending order, the last bound `+Inf` (the exposition adds them up).
    pub size_buckets: Vec<(f64, u64)>,
    /// Time spent making batches durable, in seconds.
    pub commit_seconds: f64,
}

/// One log registered with [`Metrics::register_log_batches`].
struct LogBatchesSource {
    log: &'static str,
    read: Box<dyn Fn() -> Option<LogBatches> + Send + Sync>,
}

/// Reports every registered log under one metric family each (a family may appear only once
/// in an exposition), one labelled series per log.
struct LogBatchesCollector(Arc<std::sync::Mutex<Vec<LogBatchesSource>>>);

impl std::fmt::Debug for LogBatchesCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBatchesCollector")
            .finish_non_exhaustive()
    }
}

impl prometheus_client::collector::Collector for LogBatchesCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::MetricType;
        type Labels = [(&'static str, &'static str); 1];
        let logs: Vec<(Labels, LogBatches)> = match self.0.lock() {
            Ok(sources) => sources
                .iter()
                .filter_map(|s| Some(([("log", s.log)], (s.read)()?)))
                .collect(),
            Err(_) => return Ok(()),
        };
        if logs.is_empty() {
            return Ok(());
        }
        let mut sizes = encoder.encode_descriptor(
            "log_batch_entries",
            "Entries per committed batch",
            None,
            MetricType::Histogram,
        )?;
        for (labels, stats) in &logs {
            sizes.encode_family(labels)?.encode_histogram::<Labels>(
                stats.entries as f64,
                stats.batches,
                &stats.size_buckets,
                None,
            )?;
        }
        let mut seconds = encoder.encode_descriptor(
            "log_commit_seconds",
            "Time spent making committed batches durable",
            None,
            MetricType::Counter,
        )?;
        for (labels, stats) in &logs {
            seconds
                .encode_family(labels)?
                .encode_counter::<Labels, _, f64>(&stats.commit_seconds, None)?;
        }
        Ok(())
    }
}

#[derive(Clone)]
struct ObserveState {
    service: &'static str,
    metrics: Metrics,
    ready: ReadinessFn,
}

/// Wrap a service router with `/healthz`, `/readyz`, `/metrics`, request metrics, a tracing span
/// per request and panic containment (a panic answers 500 with the JSON error body).
pub fn observe(
    router: Router,
    service: &'static str,
    metrics: Metrics,
    ready: ReadinessFn,
) -> Router {
    let state = ObserveState {
        service,
        metrics,
        ready,
    };
    router
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz).with_state(state.clone()))
        .route("/metrics", get(metrics_handler).with_state(state.clone()))
        .layer(record::RecordLayer(state))
}

/// `GET /readyz`
async fn readyz(State(state): State<ObserveState>) -> Response {
    match (state.ready)() {
        Ok(()) => "ready".into_response(),
        Err(reason) => json_error(StatusCode::SERVICE_UNAVAILABLE, reason),
    }
}

/// `GET /metrics`
async fn metrics_handler(State(state): State<ObserveState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// The method as a label, without an allocation for the standard ones.
fn method_label(method: &Method) -> Cow<'static, str> {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
        Method::CONNECT,
        Method::TRACE,
    ];
    const NAMES: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    STANDARD.iter().position(|m| m == method).map_or_else(
        || Cow::Owned(method.as_str().to_owned()),
        |i| Cow::Borrowed(NAMES[i]),
    )
}

/// Always-ready probe for services without dependencies.
#[must_use]
pub fn always_ready() -> ReadinessFn {
    Arc::new(|| Ok(()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::post;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[test]
    fn log_batches_are_read_at_each_scrape() {
        let metrics = Metrics::new();
        let batches = Arc::new(std::sync::Mutex::new(None));
        let read = Arc::clone(&batches);
        metrics.register_log_batches("rekor_v1", move || read.lock().unwrap().clone());
        metrics.register_log_batches("ctlog", || {
            Some(LogBatches {
                batches: 1,
                entries: 1,
                size_buckets: vec![(1.0, 1), (f64::INFINITY, 0)],
                commit_seconds: 0.5,
            })
        });
        assert!(
            !metrics.render().contains("rekor_v1"),
            "nothing for a log that has nothing to report"
        );
        *batches.lock().unwrap() = Some(LogBatches {
            batches: 3,
            entries: 70,
            size_buckets: vec![(1.0, 1), (64.0, 1), (f64::INFINITY, 1)],
            commit_seconds: 0.25,
        });
        let text = metrics.render();
        for line in [
            "# TYPE sigstack_log_batch_entries histogram",
            r#"sigstack_log_batch_entries_sum{log="rekor_v1"} 70.0"#,
            r#"sigstack_log_batch_entries_count{log="rekor_v1"} 3"#,
            r#"sigstack_log_batch_entries_bucket{le="64.0",log="rekor_v1"} 2"#,
            r#"sigstack_log_batch_entries_bucket{le="+Inf",log="rekor_v1"} 3"#,
            r#"sigstack_log_commit_seconds_total{log="rekor_v1"} 0.25"#,
            r#"sigstack_log_batch_entries_count{log="ctlog"} 1"#,
            r#"sigstack_log_commit_seconds_total{log="ctlog"} 0.5"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
        // Each family is declared once, whatever the number of logs.
        for family in ["log_batch_entries histogram", "log_commit_seconds counter"] {
            let declared = format!("# TYPE sigstack_{family}");
            assert_eq!(text.matches(&declared).count(), 1, "{text}");
        }
    }

    #[derive(serde::Deserialize)]
    struct Echo {
        value: u32,
    }

    fn boom() -> &'static str {
        panic!("boom")
    }

    fn app() -> Router {
        let router = Router::new()
            .route(
                "/echo",
                post(|JsonBody(e): JsonBody<Echo>| async move { e.value.to_string() }),
            )
            .route("/boom", get(|| async { boom() }));
        observe(router, "test", Metrics::new(), always_ready())
    }

    async fn call(req: Request<Body>) -> (StatusCode, String) {
        let res = app().oneshot(req).await.unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn json_rejections_use_the_error_body() {
        let (status, body) = call(
            Request::post("/echo")
                .header("content-type", "text/plain")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["code"], 415);

        let (status, body) = call(
            Request::post("/echo")
                .header("content-type", "application/json")
                .body(Body::from("{\"value\": \"x\"}"))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("malformed JSON"), "{body}");

        let (status, body) = call(
            Request::post("/echo")
                .header("content-type", "application/json; charset=utf-8")
                .body(Body::from("{\"value\": 7}"))
                .unwrap(),
        )
        .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "7"));
    }

    #[test]
    fn method_labels() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert!(matches!(method_label(&Method::GET), Cow::Borrowed("GET")));
        let odd = Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(method_label(&odd), "PROPFIND");
    }

    #[tokio::test]
    async fn health_metrics_and_panics() {
        let (status, _) = call(Request::get("/healthz").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = call(Request::get("/boom").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("\"code\":500"));

        let metrics = Metrics::new();
        let app = observe(
            Router::new().route("/x", get(|| async { "x" })),
            "svc",
            metrics.clone(),
            Arc::new(|| Err("not yet".into())),
        );
        let res = app
            .clone()
            .oneshot(Request::get("/x").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = app
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let text = metrics.render();
        assert!(text.contains("sigstack_http_requests_total{service=\"svc\",method=\"GET\",route=\"/x\",status=\"200\"} 1"), "{text}");
    }
}
