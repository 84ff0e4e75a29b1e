//! What the layers every request passes through cost, in process (no socket): a `POST` with a
//! 1.7 KB body answered with 3.6 KB (the sizes of a Rekor v1 append), through the bare router,
//! through `observe` (span, metrics, panic containment) and through `limit(observe(..))` as
//! `serve` runs it, with the stack's subscriber (`info`, plain text to a sink) installed.
//!
//! `cargo bench -p sigstack-http --bench layers`

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use axum::routing::post;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt as _;
use sigstack_http::{Metrics, ServerLimits, always_ready, limit, observe};
use tower::ServiceExt as _;

fn routes() -> Router {
    let answer = Bytes::from(vec![b'x'; 3656]);
    Router::new().route(
        "/api/v1/log/entries",
        post(move |body: Bytes| {
            let answer = answer.clone();
            async move {
                // Like the log's handler, the answer is sent only after the body is read.
                std::hint::black_box(body.len());
                // Each append waits twice (verification, then the sequencer): yield twice so
                // every layer's future is polled as often as in the real service.
                tokio::task::yield_now().await;
                tokio::task::yield_now().await;
                (StatusCode::CREATED, answer)
            }
        }),
    )
}

fn request(body: &Bytes) -> Request<Body> {
    Request::post("/api/v1/log/entries")
        .header("content-type", "application/json")
        .body(Body::from(body.clone()))
        .unwrap_or_else(|_| unreachable!("a static request"))
}

fn layers(c: &mut Criterion) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_ansi(false)
        .with_writer(std::io::sink)
        .try_init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let body = Bytes::from(vec![b'{'; 1748]);
    let stacks = [
        ("bare router", routes()),
        (
            "observe",
            observe(routes(), "bench", Metrics::new(), always_ready()),
        ),
        (
            "limit + observe",
            limit(
                observe(routes(), "bench", Metrics::new(), always_ready()),
                &ServerLimits::default(),
            ),
        ),
    ];
    let mut group = c.benchmark_group("request through the layers");
    for (name, router) in stacks {
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let response = router
                        .clone()
                        .oneshot(request(&body))
                        .await
                        .unwrap_or_else(|e| match e {});
                    assert_eq!(response.status(), StatusCode::CREATED);
                    let answer = response.into_body().collect().await;
                    std::hint::black_box(answer.map(|a| a.to_bytes().len()).ok())
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
