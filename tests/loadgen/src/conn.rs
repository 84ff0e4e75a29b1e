//! One keep-alive HTTP/1.1 connection per load-generator worker, on hyper's client connection
//! directly: no pool, no URL parsing or header building per request, so the load generator's
//! own CPU per request stays small next to the server's (both share the machine's cores).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Longest a single request may take before it counts as a `timeout` error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where requests go: the socket address and the `Host` header of a loopback base URL.
#[derive(Clone, Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    host: HeaderValue,
}

impl Endpoint {
    /// The endpoint of an `http://` loopback base URL (checked by `check_loopback` first).
    pub fn from_base_url(raw: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(raw).with_context(|| format!("parsing URL {raw}"))?;
        let addr = url
            .socket_addrs(|| Some(80))
            .with_context(|| format!("resolving {raw}"))?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("{raw} resolves to no address"))?;
        let host = HeaderValue::from_str(&addr.to_string())?;
        Ok(Self { addr, host })
    }
}

/// What a request came to: the status and the whole body, or a transport error kind.
pub type Reply = Result<(StatusCode, Bytes), &'static str>;

/// A worker's connection, opened on first use and again after any transport error.
pub struct Connection {
    endpoint: Endpoint,
    sender: Option<SendRequest<Full<Bytes>>>,
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
        let sender = match &mut self.sender {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.sender.insert(open(&self.endpoint).await?),
        };
        sender.ready().await.map_err(|_| "transport")?;
        let mut request = Request::builder().method(method).uri(path);
        if let Some(headers) = request.headers_mut() {
            headers.insert(HOST, self.endpoint.host.clone());
            if body.is_some() {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|_| "request")?;
        let response = sender
            .send_request(request)
            .await
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

async fn open(endpoint: &Endpoint) -> Result<SendRequest<Full<Bytes>>, &'static str> {
    let stream = TcpStream::connect(endpoint.addr)
        .await
        .map_err(|_| "connect")?;
    stream.set_nodelay(true).map_err(|_| "connect")?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| "connect")?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes the connection.
        let _ = connection.await;
    });
    Ok(sender)
}
