//! The HTTP floor: the CPU a server spends per request on HTTP alone, measured in the same run
//! as the load. A bare hyper server (this binary's hidden `bare-server` command, its own
//! process with a default multi-threaded tokio runtime, the same HTTP/1.1 and HTTP/2
//! connection builder the stack's servers use) reads each request's body in full and answers
//! `201` with a fixed body of the same size as the log's real answer. It checks, parses, signs
//! and stores nothing, so its CPU per request is what any HTTP server on this machine pays for
//! the accept, the socket reads and writes, the wake-ups and the HTTP framing of the same
//! requests over the same connections; the log's CPU above the crypto floor plus this floor is
//! what the log itself adds.
//!
//! With [`BareWork::VerifyAndSign`] the same server also does the least a Rekor v1 log must do
//! with a hashedrekord entry before it answers: find the signature, the key (or certificate) and
//! the digest in the JSON, verify the signature (`sigstack-keys`, aws-lc-rs) and sign once (the
//! body, about the size of a SET's payload). It stores, indexes, sequences and proves nothing,
//! and does the crypto inline on its async workers (no hand-off), so its CPU per request is a
//! lower bound for any log on this machine under the same load: the crypto as it runs amid the
//! HTTP traffic (caches shared with the load generator and the network path) rather than in the
//! calibration's tight loop. It also times the verify and sign calls of every
//! [`TIMED_EVERY`]th request (thread CPU time around each; reading that clock is a system call
//! of ~1 µs here, too dear for every request) and reports the sums at `GET /crypto-cpu`, so the
//! crypto's own cost under load can be set beside the calibrated one.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use der::{Decode as _, Encode as _};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Deserialize;
use sigstack_keys::{FileSigner, PublicKey, SignatureAlgorithm, Signer as _};
use sigstack_rekor::kinds::hashedrekord::HashedRekordV001Spec;

use crate::calibrate::thread_cpu;
use crate::write::{self, Mode};
use crate::{Api, Target};

/// Largest answer body the bare server will hold.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// What the bare server does with each request before it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BareWork {
    /// Read the body in full; nothing else.
    Http,
    /// Also verify the Rekor v1 hashedrekord entry's signature and sign its body once.
    VerifyAndSign,
}

impl BareWork {
    fn flag(self) -> &'static str {
        match self {
            BareWork::Http => "http",
            BareWork::VerifyAndSign => "verify-and-sign",
        }
    }
}

/// What one floor measurement came to.
#[derive(Clone, Debug)]
pub struct HttpFloor {
    pub work: BareWork,
    /// The bare server's CPU time per answered request.
    pub per_request: Duration,
    /// With [`BareWork::VerifyAndSign`]: the thread CPU time of one verify call and of one sign
    /// call, averaged over the timed ones.
    pub crypto_calls: Option<(Duration, Duration)>,
    pub requests: usize,
    pub answer_bytes: usize,
    /// Requests that did not get their `201` (should be none).
    pub errors: usize,
}

/// `sigstack-loadgen bare-server`: answers every request on `listen` (a loopback address)
/// with `201` and `answer_bytes` bytes of JSON-typed filler, after reading its body and doing
/// `work` with it (`400` if that fails). Prints `listening ADDR` once bound; runs until killed.
pub fn serve(listen: &str, answer_bytes: usize, work: BareWork) -> anyhow::Result<()> {
    if answer_bytes > MAX_ANSWER_BYTES {
        bail!("--answer-bytes must be at most {MAX_ANSWER_BYTES}");
    }
    crate::check_loopback(&format!("http://{listen}"))?;
    let answer = Bytes::from(vec![b'x'; answer_bytes]);
    let crypto = match work {
        BareWork::Http => None,
        BareWork::VerifyAndSign => Some(Arc::new(Crypto {
            signer: warm_signer()?,
            entries: AtomicU64::new(0),
            verify_nanos: AtomicU64::new(0),
            sign_nanos: AtomicU64::new(0),
            calls: AtomicU64::new(0),
        })),
    };
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
                let crypto = crypto.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let answer = answer.clone();
                        let crypto = crypto.clone();
                        async move { answer_request(request, answer, crypto.as_deref()).await }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
}

/// The bare server's key, and the thread CPU time its timed crypto calls have taken.
struct Crypto {
    signer: FileSigner,
    /// Entries verified so far (each [`TIMED_EVERY`]th is timed).
    entries: AtomicU64,
    verify_nanos: AtomicU64,
    sign_nanos: AtomicU64,
    /// Entries whose calls were timed.
    calls: AtomicU64,
}

/// One entry in this many has its crypto calls timed.
pub const TIMED_EVERY: u64 = 16;

/// A fresh P-256 key that has signed once, so that no timed call pays for lazy set-up.
fn warm_signer() -> anyhow::Result<FileSigner> {
    let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256)
        .map_err(|e| anyhow!("generating the bare server's key: {e}"))?;
    signer
        .sign(b"warm-up")
        .map_err(|e| anyhow!("signing with the bare server's key: {e}"))?;
    Ok(signer)
}

/// Path of the bare server's crypto timings: `VERIFY_NANOS SIGN_NANOS CALLS`.
const CRYPTO_CPU_PATH: &str = "/crypto-cpu";

async fn answer_request(
    request: Request<Incoming>,
    answer: Bytes,
    crypto: Option<&Crypto>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if request.method() == hyper::Method::GET && request.uri().path() == CRYPTO_CPU_PATH {
        let sums = crypto.map_or([0; 3], |c| {
            [&c.verify_nanos, &c.sign_nanos, &c.calls].map(|n| n.load(Ordering::Relaxed))
        });
        let text = format!("{} {} {}", sums[0], sums[1], sums[2]);
        return Ok(Response::new(Full::new(Bytes::from(text))));
    }
    // The body is read in full, as a log must before it can check the entry.
    let body = request.into_body().collect().await?.to_bytes();
    let status = match crypto.map(|c| verify_and_sign(&body, c)) {
        None | Some(Ok(())) => StatusCode::CREATED,
        Some(Err(_)) => StatusCode::BAD_REQUEST,
    };
    let mut response = Response::new(Full::new(answer));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// A hashedrekord 0.0.1 `ProposedEntry`: only its `spec` (the log's own typed form of it) is
/// read; `kind`, `apiVersion` and anything else are skipped.
#[derive(Deserialize)]
struct UnverifiedEntry {
    spec: HashedRekordV001Spec,
}

/// The least a log does with a hashedrekord entry: verify its signature over its digest with
/// the key it names (a certificate's or a bare public key), then sign once.
fn verify_and_sign(unverified_body: &[u8], crypto: &Crypto) -> anyhow::Result<()> {
    let entry: UnverifiedEntry = serde_json::from_slice(unverified_body)?;
    let signature = STANDARD.decode(entry.spec.signature.content.as_bytes())?;
    let pem = STANDARD.decode(entry.spec.signature.public_key.content.as_bytes())?;
    let (label, der) = der::pem::decode_vec(&pem).map_err(|e| anyhow!("PEM: {e}"))?;
    let spki = match label {
        "CERTIFICATE" => x509_cert::Certificate::from_der(&der)?
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()?,
        "PUBLIC KEY" => der,
        other => bail!("unexpected PEM label {other}"),
    };
    let key = PublicKey::from_spki_der(&spki).map_err(|e| anyhow!("key: {e}"))?;
    let digest = hex::decode(entry.spec.data.hash.value.as_bytes())?;
    let verify = || {
        key.verify_prehash(&digest, &signature)
            .map_err(|e| anyhow!("signature: {e}"))
    };
    let sign = || {
        crypto
            .signer
            .sign(unverified_body)
            .map(drop)
            .map_err(|e| anyhow!("signing: {e}"))
    };
    if !crypto
        .entries
        .fetch_add(1, Ordering::Relaxed)
        .is_multiple_of(TIMED_EVERY)
    {
        verify()?;
        return sign();
    }
    let before_verify = thread_cpu();
    verify()?;
    let before_sign = thread_cpu();
    sign()?;
    let after = thread_cpu();
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    crypto
        .verify_nanos
        .fetch_add(nanos(before_sign - before_verify), Ordering::Relaxed);
    crypto
        .sign_nanos
        .fetch_add(nanos(after - before_sign), Ordering::Relaxed);
    crypto.calls.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// The bare server as a child process, killed on drop.
struct BareServer {
    child: Child,
    url: String,
}

impl BareServer {
    fn start(answer_bytes: usize, work: BareWork) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating this binary")?;
        let mut child = Command::new(exe)
            .args([
                "bare-server",
                "--listen",
                "127.0.0.1:0",
                "--work",
                work.flag(),
            ])
            .arg("--answer-bytes")
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

/// Send `bodies` to a fresh bare server doing `work` and answering `answer_bytes`, the way the
/// real run will (same mode, same transport), for `duration`; its CPU per answered request.
/// [`BareWork::VerifyAndSign`] takes Rekor v1 bodies (any other is answered 400).
pub async fn measure(
    like: &Target,
    mode: Mode,
    bodies: Vec<Bytes>,
    answer_bytes: usize,
    work: BareWork,
    duration: Duration,
) -> anyhow::Result<HttpFloor> {
    let server = BareServer::start(answer_bytes, work)?;
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
    let crypto_calls = match work {
        BareWork::Http => None,
        BareWork::VerifyAndSign => Some(crypto_cpu(&target).await?),
    };
    Ok(HttpFloor {
        work,
        crypto_calls,
        per_request: cpu / u32::try_from(summary.accepted).unwrap_or(u32::MAX),
        requests: summary.accepted,
        answer_bytes,
        errors: summary.sent - summary.accepted,
    })
}

/// The bare server's average thread CPU time per verify call and per sign call.
async fn crypto_cpu(server: &Target) -> anyhow::Result<(Duration, Duration)> {
    let mut conn = crate::conn::Connection::new(crate::conn::Endpoint::new(server)?);
    let (status, text) = conn
        .get(CRYPTO_CPU_PATH)
        .await
        .map_err(|kind| anyhow!("asking the bare server for its crypto timings: {kind}"))?;
    let sums: Vec<u64> = std::str::from_utf8(&text)?
        .split(' ')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("crypto timings {text:?}"))?;
    let [verify, sign, calls] = sums[..] else {
        bail!("crypto timings {text:?}, status {status}");
    };
    if calls == 0 {
        bail!("the bare server verified no entry");
    }
    Ok((
        Duration::from_nanos(verify / calls),
        Duration::from_nanos(sign / calls),
    ))
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
