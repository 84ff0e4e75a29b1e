//! Rekor v1 append throughput over HTTP with every log in PostgreSQL, on demand (ignored):
//!
//! ```text
//! cargo build --release -p sigstack
//! SIGSTACK_BIN=target/release/sigstack \
//! SIGSTACK_TEST_DATABASE_URL=postgres://sigstack:sigstack@127.0.0.1:5432/postgres \
//!   cargo test --release -p sigstack-e2e --test postgres_load -- --ignored --nocapture
//! ```
//!
//! Pre-signs `SIGSTACK_LOAD_ENTRIES` (default 20000) hashedrekord entries, then submits them
//! from `SIGSTACK_LOAD_CONCURRENCY` (default 64) connections as fast as the server answers.
//! The dedicated load generator (tests/loadgen) measures more carefully; this only checks the
//! database path end to end.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sigstack_e2e::Stack;
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer as _};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark; run on demand"]
async fn rekor_v1_appends_per_second_on_postgres() {
    let db = sigstack_tlog_postgres::fresh_test_database("load_v1")
        .await
        .expect("test database")
        .expect("SIGSTACK_TEST_DATABASE_URL");
    // Artifacts differ from run to run, so no run's entries are duplicates of another's.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_nanos();
    let tmp = tempfile::tempdir().expect("tempdir");
    let stack = Stack::start_with(&tmp.path().join("data"), &["--database-url", &db], &[]);
    let rekor = stack.url("rekor-v1");
    let total = env_usize("SIGSTACK_LOAD_ENTRIES", 20_000);
    let concurrency = env_usize("SIGSTACK_LOAD_CONCURRENCY", 64);

    let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key");
    let pem = STANDARD.encode(signer.public_key().expect("public key").to_pem());
    let bodies: Vec<String> = (0..total)
        .map(|i| {
            let artifact = format!("load artifact {i} {nanos}");
            let signature = signer.sign(artifact.as_bytes()).expect("sign");
            serde_json::json!({
                "apiVersion": "0.0.1",
                "kind": "hashedrekord",
                "spec": {
                    "signature": {
                        "content": STANDARD.encode(signature),
                        "publicKey": { "content": pem }
                    },
                    "data": { "hash": {
                        "algorithm": "sha256",
                        "value": hex::encode(sigstack_keys::sha256(artifact.as_bytes()))
                    } }
                }
            })
            .to_string()
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, rekor, bodies, next) =
                (client.clone(), rekor.clone(), bodies.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else {
                        return latencies;
                    };
                    let t = Instant::now();
                    let res = client
                        .post(format!("{rekor}/api/v1/log/entries"))
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("send");
                    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
                    let _ = res.bytes().await;
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("task"));
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{total} Rekor v1 appends over HTTP into PostgreSQL, {concurrency} connections: \
         {:.0} entries/s, p50 {:?}, p99 {:?}",
        total as f64 / elapsed.as_secs_f64(),
        p(0.5),
        p(0.99)
    );
}
