//! Every request runs in a `request` span, 500s are logged at `error` (503s only at `debug`)
//! and panics are counted. Its own test binary: the subscriber is the process-wide default, so no other test
//! thread can make tracing cache a callsite as disabled.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use sigstack_http::{Metrics, always_ready, observe};
use tower::ServiceExt as _;

/// The process's log output.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn boom() -> &'static str {
    panic!("boom")
}

#[tokio::test]
async fn requests_run_in_a_span_and_failures_are_logged() {
    let sink = Captured::default();
    let writer = sink.clone();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .init();
    let metrics = Metrics::new();
    let app = observe(
        Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route("/boom", get(|| async { boom() }))
            .route(
                "/busy",
                get(|| async { axum::http::StatusCode::SERVICE_UNAVAILABLE }),
            ),
        "svc",
        metrics.clone(),
        always_ready(),
    );
    for (path, status) in [("/ok", 200), ("/boom", 500), ("/busy", 503)] {
        let res = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{path}");
    }
    let log = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    let line = |needle: &str| -> &str {
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}: {log}"))
    };
    let failed = line("request failed");
    for part in [
        "ERROR",
        "request{service=\"svc\" method=GET path=/boom}",
        "status=500",
    ] {
        assert!(failed.contains(part), "{part} in {failed}");
    }
    let answered = line("path=/ok");
    assert!(
        answered.contains("DEBUG") && answered.contains("answered status=200"),
        "{answered}"
    );
    let busy = line("path=/busy");
    assert!(
        busy.contains("DEBUG") && busy.contains("answered status=503"),
        "{busy}"
    );
    assert_eq!(log.matches("ERROR").count(), 1, "{log}");
    // The panic is counted like any other answer.
    let text = metrics.render();
    assert!(
        text.contains(
            "sigstack_http_requests_total{service=\"svc\",method=\"GET\",route=\"/boom\",status=\"500\"} 1"
        ),
        "{text}"
    );
}
