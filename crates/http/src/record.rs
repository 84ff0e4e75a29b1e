//! The layer every request of every service passes through: a tracing span, the request
//! metrics, the log line of the answer, and panic containment. A hand-written tower layer with
//! its own future type rather than an `axum::middleware::from_fn` closure and a separate
//! panic layer: those box the inner service and the future of every request and add a level
//! of futures that each of the request's polls goes through.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::response::Response;
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use tower::{Layer, Service};

use crate::{ObserveState, RequestLabels, json_error, method_label};

/// The `route` label: the matched route pattern (`/api/v1/log/entries/{uuid}`), shared with the
/// request's `MatchedPath` instead of copied; `unmatched` when no route matched.
#[derive(Clone, Debug)]
pub(crate) struct RouteLabel(Option<MatchedPath>);

impl RouteLabel {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for RouteLabel {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteLabel {}

impl std::hash::Hash for RouteLabel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

/// Wraps every route of a service router with [`Record`].
#[derive(Clone)]
pub(crate) struct RecordLayer(pub(crate) ObserveState);

impl<S> Layer<S> for RecordLayer {
    type Service = Record<S>;

    fn layer(&self, inner: S) -> Record<S> {
        Record {
            inner,
            state: self.0.clone(),
        }
    }
}

/// Every request runs in an `info` span `request` (service, method, path), is counted and
/// timed by route and status, and a 500 answer (a bug or a failed dependency) is logged at
/// `error`. Other answers, 503s included, are logged at `debug`: under overload every refused
/// request is a 503, and one error line each would flood the log when it matters most (the
/// metrics count them by status). A panic in the route becomes a 500 with the JSON error body,
/// logged and counted like any other.
#[derive(Clone)]
pub(crate) struct Record<S> {
    inner: S,
    state: ObserveState,
}

impl<S> Service<Request> for Record<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = RecordFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let start = Instant::now();
        let method = method_label(req.method());
        let route = RouteLabel(req.extensions().get::<MatchedPath>().cloned());
        let span = tracing::info_span!(
            "request",
            service = self.state.service,
            method = %method,
            path = %req.uri().path(),
        );
        let inner = {
            let _entered = span.enter();
            catch_unwind(AssertUnwindSafe(|| self.inner.call(req))).ok()
        };
        RecordFuture {
            inner,
            span,
            start,
            method,
            route,
            state: self.state.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of one request under [`Record`]; `inner` is `None` when the route's `call`
    /// panicked.
    pub(crate) struct RecordFuture<F> {
        #[pin]
        inner: Option<F>,
        span: tracing::Span,
        start: Instant,
        method: Cow<'static, str>,
        route: RouteLabel,
        state: ObserveState,
    }
}

fn panicked() -> Response {
    json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

impl<F> Future for RecordFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.inner.as_pin_mut() {
            Some(inner) => {
                let _entered = this.span.enter();
                match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(Ok(response))) => response,
                    Ok(Poll::Ready(Err(never))) => match never {},
                    // Not polled again: the answer is ready.
                    Err(_) => panicked(),
                }
            }
            None => panicked(),
        };
        let elapsed = this.start.elapsed();
        let status = response.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            this.span
                .in_scope(|| tracing::error!(status = status.as_u16(), ?elapsed, "request failed"));
        } else {
            this.span
                .in_scope(|| tracing::debug!(status = status.as_u16(), ?elapsed, "answered"));
        }
        let labels = RequestLabels {
            service: this.state.service,
            method: std::mem::take(this.method),
            route: this.route.clone(),
            status: status.as_u16(),
        };
        this.state.metrics.requests.get_or_create(&labels).inc();
        this.state
            .metrics
            .latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Metrics, always_ready};
    use axum::body::Body;
    use tower::ServiceExt as _;

    fn state(metrics: &Metrics) -> ObserveState {
        ObserveState {
            service: "svc",
            metrics: metrics.clone(),
            ready: always_ready(),
        }
    }

    /// A panic while the route's future is created (`call`) or run (`poll`) is a 500 with
    /// the JSON error body, counted like any answer; a route that returns normally is untouched.
    #[tokio::test]
    async fn panics_in_call_and_in_poll_become_counted_500s() {
        let metrics = Metrics::new();
        let layer = RecordLayer(state(&metrics));
        let in_call = layer.layer(tower::service_fn(
            |_: Request| -> std::future::Ready<Result<Response, Infallible>> { panic!("in call") },
        ));
        let in_poll = layer.layer(tower::service_fn(|_: Request| async {
            if true {
                panic!("in poll");
            }
            Ok::<Response, Infallible>(Response::new(Body::empty()))
        }));
        let fine = layer.layer(tower::service_fn(|_: Request| async {
            Ok::<_, Infallible>(Response::new(Body::from("fine")))
        }));
        for response in [
            in_call.oneshot(Request::new(Body::empty())).await.unwrap(),
            in_poll.oneshot(Request::new(Body::empty())).await.unwrap(),
        ] {
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            assert_eq!(&body[..], br#"{"code":500,"message":"internal error"}"#);
        }
        let response = fine.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let text = metrics.render();
        for line in [
            r#"sigstack_http_requests_total{service="svc",method="GET",route="unmatched",status="500"} 2"#,
            r#"sigstack_http_requests_total{service="svc",method="GET",route="unmatched",status="200"} 1"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
    }
}
