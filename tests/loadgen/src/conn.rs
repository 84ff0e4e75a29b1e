//! One keep-alive HTTP/1.1 connection per load-generator worker, on hyper's client connection
//! directly: no pool, no URL parsing or header building per request, so the load generator's
//! own CPU per request stays small next to the server's (both share the machine's cores).
//! With `--http2 N` the workers instead share N HTTP/2 connections (cleartext, prior
//! knowledge), each request one stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::{http1, http2};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::Target;

/// Longest a single request may take before it counts as a `timeout` error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where requests go: the socket address and the `Host` header of a loopback base URL, and
/// the shared HTTP/2 connections when the target asks for them.
#[derive(Clone)]
pub struct Endpoint {
    addr: SocketAddr,
    host: HeaderValue,
    http2: Option<Arc<SharedConnections>>,
}

impl Endpoint {
    /// The endpoint of the target's `http://` loopback base URL (checked by `check_loopback`
    /// first).
    pub fn new(target: &Target) -> anyhow::Result<Self> {
        let raw = &target.url;
        let url = url::Url::parse(raw).with_context(|| format!("parsing URL {raw}"))?;
        let addr = url
            .socket_addrs(|| Some(80))
            .with_context(|| format!("resolving {raw}"))?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("{raw} resolves to no address"))?;
        let host = HeaderValue::from_str(&addr.to_string())?;
        let http2 = target.http2.map(|n| {
            Arc::new(SharedConnections {
                slots: (0..n).map(|_| tokio::sync::Mutex::new(None)).collect(),
                next: AtomicUsize::new(0),
            })
        });
        Ok(Self { addr, host, http2 })
    }

    /// The absolute URI of `path` (HTTP/2 requests carry scheme and authority).
    fn absolute(&self, path: &str) -> Result<Uri, &'static str> {
        format!("http://{}{path}", self.addr)
            .parse()
            .map_err(|_| "request")
    }
}

/// HTTP/2 connections shared by all workers; a worker takes the next one round-robin when it
/// first needs one (or after its connection failed).
struct SharedConnections {
    slots: Vec<tokio::sync::Mutex<Option<http2::SendRequest<Full<Bytes>>>>>,
    next: AtomicUsize,
}

impl SharedConnections {
    async fn take(
        &self,
        addr: SocketAddr,
    ) -> Result<http2::SendRequest<Full<Bytes>>, &'static str> {
        let at = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[at].lock().await;
        if let Some(sender) = slot.as_ref().filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        let (sender, connection) =
            http2::handshake(TokioExecutor::new(), TokioIo::new(connect(addr).await?))
                .await
                .map_err(|_| "connect")?;
        tokio::spawn(async move {
            // Ends when every sender is dropped or the server closes the connection.
            let _ = connection.await;
        });
        *slot = Some(sender.clone());
        Ok(sender)
    }
}

/// A worker's way to the server.
enum Sender {
    Http1(http1::SendRequest<Full<Bytes>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Self::Http1(s) => s.is_closed(),
            Self::Http2(s) => s.is_closed(),
        }
    }
}

/// What a request came to: the status and the whole body, or a transport error kind.
pub type Reply = Result<(StatusCode, Bytes), &'static str>;

/// A worker's connection, opened on first use and again after any transport error.
pub struct Connection {
    endpoint: Endpoint,
    sender: Option<Sender>,
}

impl Connection {
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            sender: None,
        }
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&mut self, path: &str, body: Bytes) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn send(&mut self, method: Method, path: &str, body: Option<Bytes>) -> Reply {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(method, path, body)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(kind)) => {
                self.sender = None;
                Err(kind)
            }
            Err(_) => {
                self.sender = None;
                Err("timeout")
            }
        }
    }

    async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), &'static str> {
        if self.sender.as_ref().is_none_or(Sender::is_closed) {
            self.sender = Some(match &self.endpoint.http2 {
                None => Sender::Http1(open(self.endpoint.addr).await?),
                Some(shared) => Sender::Http2(shared.take(self.endpoint.addr).await?),
            });
        }
        let sender = self.sender.as_mut().ok_or("connect")?;
        let mut request = Request::builder().method(method);
        request = match sender {
            Sender::Http1(_) => request.uri(path),
            Sender::Http2(_) => request
                .uri(self.endpoint.absolute(path)?)
                .version(Version::HTTP_2),
        };
        if let Some(headers) = request.headers_mut() {
            if matches!(sender, Sender::Http1(_)) {
                headers.insert(HOST, self.endpoint.host.clone());
            }
            if body.is_some() {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|_| "request")?;
        let response = match sender {
            Sender::Http1(s) => {
                s.ready().await.map_err(|_| "transport")?;
                s.send_request(request).await
            }
            Sender::Http2(s) => {
                s.ready().await.map_err(|_| "transport")?;
                s.send_request(request).await
            }
        }
        .map_err(|_| "transport")?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|_| "transport")?
            .to_bytes();
        Ok((status, bytes))
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, &'static str> {
    let stream = TcpStream::connect(addr).await.map_err(|_| "connect")?;
    stream.set_nodelay(true).map_err(|_| "connect")?;
    Ok(stream)
}

async fn open(addr: SocketAddr) -> Result<http1::SendRequest<Full<Bytes>>, &'static str> {
    let (sender, connection) = http1::handshake(TokioIo::new(connect(addr).await?))
        .await
        .map_err(|_| "connect")?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes the connection.
        let _ = connection.await;
    });
    Ok(sender)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Api;

    /// The stack's own server (`sigstack_http::serve`) answers both transports: one HTTP/1.1
    /// connection per worker, or streams of the shared HTTP/2 connections (each opened once).
    #[tokio::test]
    async fn workers_reach_the_server_over_http1_and_shared_http2() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new().route(
            "/version",
            axum::routing::post(|req: axum::extract::Request| async move {
                format!("{:?}", req.version())
            }),
        );
        tokio::spawn(sigstack_http::serve(
            listener,
            router,
            sigstack_http::ServerLimits::default(),
            std::future::pending(),
        ));
        for (http2, version) in [(None, "HTTP/1.1"), (Some(2), "HTTP/2.0")] {
            let target = Target {
                url: format!("http://{addr}"),
                api: Api::V1,
                server_pid: None,
                http2,
            };
            let endpoint = Endpoint::new(&target).unwrap();
            let mut workers: Vec<Connection> =
                (0..5).map(|_| Connection::new(endpoint.clone())).collect();
            for _ in 0..2 {
                for worker in &mut workers {
                    let (status, body) = worker
                        .post_json("/version", Bytes::from_static(b"{}"))
                        .await
                        .unwrap();
                    assert_eq!(status, StatusCode::OK);
                    assert_eq!(body, version);
                }
            }
            if let Some(shared) = &endpoint.http2 {
                // Five workers took turns over two connections; both are open, none twice.
                assert_eq!(shared.next.load(Ordering::Relaxed), 5);
                for slot in &shared.slots {
                    assert!(slot.lock().await.as_ref().is_some_and(|s| !s.is_closed()));
                }
            }
        }
    }
}
