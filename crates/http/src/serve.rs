//! Serving a router with the limits every Sigstack server needs: a deadline for reading request
//! headers (slow-loris), a deadline per request, a bound on requests in flight (503 with
//! `Retry-After` beyond it instead of queueing without end), and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service, ServiceExt as _};

use crate::retry_later;

/// Limits of one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Longest a client may take to send a request's headers (default 10 s).
    pub header_read_timeout: Duration,
    /// Longest one request may take from its headers to its response (default 30 s); beyond it
    /// the client gets 503 with `Retry-After`.
    pub request_timeout: Duration,
    /// Requests handled at once; more are refused at once with 503 and `Retry-After`
    /// (default 1024).
    pub max_concurrent_requests: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 1024,
        }
    }
}

/// The per-request limits, one tower layer around every route (a hand-written service with its
/// own future, so requests pay no boxing for it).
#[derive(Clone)]
struct Guard {
    permits: Arc<Semaphore>,
    request_timeout: Duration,
}

impl<S> Layer<S> for Guard {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Limited<S> {
        Limited {
            inner,
            guard: self.clone(),
        }
    }
}

/// Wrap `router` with the per-request limits of `limits` (the deadline and the in-flight bound).
/// [`serve`] does this itself; tests use it to exercise the limits in process.
pub fn limit(router: Router, limits: &ServerLimits) -> Router {
    router.layer(Guard {
        permits: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
        request_timeout: limits.request_timeout,
    })
}

/// A route under [`Guard`]: a request beyond the in-flight bound is refused at once with 503
/// and `Retry-After`; one that outlives the deadline is dropped and answered the same way.
#[derive(Clone)]
struct Limited<S> {
    inner: S,
    guard: Guard,
}

impl<S> Service<Request> for Limited<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = LimitedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match Arc::clone(&self.guard.permits).try_acquire_owned() {
            Ok(permit) => LimitedFuture::Running {
                inner: tokio::time::timeout(self.guard.request_timeout, self.inner.call(req)),
                permit,
            },
            Err(_) => LimitedFuture::Refused {
                response: Some(retry_later(
                    "server busy: too many requests in flight; retry later",
                )),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of one request under [`Limited`]; the permit is held until it completes or
    /// is dropped.
    #[project = LimitedProjection]
    enum LimitedFuture<F> {
        Running {
            #[pin]
            inner: tokio::time::Timeout<F>,
            permit: OwnedSemaphorePermit,
        },
        Refused {
            response: Option<Response>,
        },
    }
}

impl<F> Future for LimitedFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            LimitedProjection::Running { inner, .. } => match inner.poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(answered)) => Poll::Ready(answered),
                Poll::Ready(Err(_)) => {
                    Poll::Ready(Ok(retry_later("request timed out; retry later")))
                }
            },
            LimitedProjection::Refused { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| retry_later("request already answered")))),
        }
    }
}

/// Serve `router` on `listener` until `shutdown` resolves, then finish the requests in flight.
/// Handlers can extract `ConnectInfo<SocketAddr>` for the peer address.
///
/// # Errors
/// Only when accepting fails persistently; per-connection errors are logged.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let router = limit(router, &limits);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = router
            .clone()
            .map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                req.map(Body::new)
            });
        let conn = builder.serve_connection_with_upgrades(
            TokioIo::new(stream),
            TowerToHyperService::new(service),
        );
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    // Let requests in flight finish, but not forever.
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.request_timeout) => {
            tracing::warn!("connections still open after the shutdown grace period");
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn slow_router() -> Router {
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "done"
                }),
            )
            .route(
                "/peer",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
            )
    }

    async fn start(limits: ServerLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, slow_router(), limits, async move {
            let _ = rx.await;
        }));
        (addr, tx)
    }

    async fn raw(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn slow_requests_time_out_with_503_and_retry_after() {
        let (addr, _stop) = start(ServerLimits {
            request_timeout: Duration::from_millis(100),
            ..ServerLimits::default()
        })
        .await;
        let reply = raw(
            addr,
            b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
        assert!(
            reply.to_ascii_lowercase().contains("retry-after: 1"),
            "{reply}"
        );
        assert!(reply.contains("timed out"), "{reply}");
    }

    #[tokio::test]
    async fn requests_beyond_the_bound_are_refused_at_once() {
        let (addr, _stop) = start(ServerLimits {
            max_concurrent_requests: 1,
            ..ServerLimits::default()
        })
        .await;
        let first = tokio::spawn(raw(
            addr,
            b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let second = raw(
            addr,
            b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(second.starts_with("HTTP/1.1 503"), "{second}");
        assert!(second.contains("too many requests"), "{second}");
        first.abort();
    }

    #[tokio::test]
    async fn clients_that_never_finish_their_headers_are_cut_off() {
        let (addr, _stop) = start(ServerLimits {
            header_read_timeout: Duration::from_millis(200),
            ..ServerLimits::default()
        })
        .await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "the server closed the connection");
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn handlers_see_the_peer_address() {
        let (addr, stop) = start(ServerLimits::default()).await;
        let reply = raw(
            addr,
            b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.contains("127.0.0.1:"), "{reply}");
        stop.send(()).unwrap();
    }
}
