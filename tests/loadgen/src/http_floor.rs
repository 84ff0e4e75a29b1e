//! The HTTP floor: the CPU a server spends per request on HTTP alone, measured in the same run
//! as the load. A bare hyper server (this binary's hidden `bare-server` command, its own
//! process with a default multi-threaded tokio runtime, the same HTTP/1.1 and HTTP/2
//! connection builder the stack's servers use) reads each request's body in full and answers
//! `201` with a fixed body of the same size as the log's real answer. It checks, parses, signs
//! and stores nothing, so its CPU per request is what any HTTP server on this machine pays for
//! the accept, the socket reads and writes, the wake-ups and the HTTP framing of the same
//! requests over the same connections; the log's CPU above the crypto floor plus this floor is
//! what the log itself adds.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use crate::write::{self, Mode};
use crate::{Api, Target};

/// Largest answer body the bare server will hold.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// What one floor measurement came to.
#[derive(Clone, Debug)]
pub struct HttpFloor {
    /// The bare server's CPU time per answered request.
    pub per_request: Duration,
    pub requests: usize,
    pub answer_bytes: usize,
    /// Requests that did not get their `201` (should be none).
    pub errors: usize,
}

/// `sigstack-loadgen bare-server`: answers every request on `listen` (a loopback address)
/// with `201` and `answer_bytes` bytes of JSON-typed filler, after reading its body. Prints
/// `listening ADDR` once bound; runs until killed.
pub fn serve(listen: &str, answer_bytes: usize) -> anyhow::Result<()> {
    if answer_bytes > MAX_ANSWER_BYTES {
        bail!("--answer-bytes must be at most {MAX_ANSWER_BYTES}");
    }
    crate::check_loopback(&format!("http://{listen}"))?;
    let answer = Bytes::from(vec![b'x'; answer_bytes]);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            println!("listening {}", listener.local_addr()?);
            loop {
                let (stream, _) = listener.accept().await?;
                // As the stack's servers do: answers are not held back to fill a segment.
                stream.set_nodelay(true)?;
                let answer = answer.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let answer = answer.clone();
                        async move { answer_request(request, answer).await }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
}

async fn answer_request(
    request: Request<Incoming>,
    answer: Bytes,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    // The body is read in full, as a log must before it can check the entry.
    request.into_body().collect().await?;
    let mut response = Response::new(Full::new(answer));
    *response.status_mut() = StatusCode::CREATED;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// The bare server as a child process, killed on drop.
struct BareServer {
    child: Child,
    url: String,
}

impl BareServer {
    fn start(answer_bytes: usize) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating this binary")?;
        let mut child = Command::new(exe)
            .args(["bare-server", "--listen", "127.0.0.1:0", "--answer-bytes"])
            .arg(answer_bytes.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the bare HTTP server")?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("the bare server has no stdout"))?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let Some(addr) = line.trim().strip_prefix("listening ") else {
            let _ = child.kill();
            bail!("the bare server did not start: {line:?}");
        };
        let url = format!("http://{addr}");
        Ok(Self { child, url })
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send `bodies` to a fresh bare server answering `answer_bytes`, the way the real run will
/// (same mode, same transport), for `duration`; its CPU per answered request.
pub async fn measure(
    like: &Target,
    mode: Mode,
    bodies: Vec<Bytes>,
    answer_bytes: usize,
    duration: Duration,
) -> anyhow::Result<HttpFloor> {
    let server = BareServer::start(answer_bytes)?;
    let target = Target {
        url: server.url.clone(),
        api: Api::V1,
        server_pid: Some(server.child.id()),
        http2: like.http2,
    };
    let summary = write::run(&target, mode, bodies, duration).await?;
    let cpu = summary
        .cpu
        .server
        .ok_or_else(|| anyhow!("no CPU figure for the bare server"))?;
    if summary.accepted == 0 {
        bail!("the bare server answered no request: {:?}", summary.errors);
    }
    Ok(HttpFloor {
        per_request: cpu / u32::try_from(summary.accepted).unwrap_or(u32::MAX),
        requests: summary.accepted,
        answer_bytes,
        errors: summary.sent - summary.accepted,
    })
}

/// Submit one entry to the real log and return the size of its answer's body, which the bare
/// server then answers with.
pub async fn answer_size(target: &Target, body: Bytes) -> anyhow::Result<usize> {
    let mut conn = crate::conn::Connection::new(crate::conn::Endpoint::new(target)?);
    let (status, answer) = conn
        .post_json(write::path(target.api), body)
        .await
        .map_err(|kind| anyhow!("submitting the probe entry: {kind}"))?;
    if status != StatusCode::CREATED {
        bail!("the probe entry was answered {status}");
    }
    Ok(answer.len())
}
