//! What the load generator's integration tests share: running the binary and reading the
//! stack's answers.

#![allow(dead_code)] // each test file uses its own part

use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// The `sigstack-loadgen` binary under test.
pub fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sigstack-loadgen"))
}

/// The stdout of a run that must have succeeded; panics with both outputs otherwise.
pub fn succeeded(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `GET url` as JSON; panics unless it answers 2xx with JSON.
pub fn get_json(url: &str) -> Value {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let response = reqwest::get(url).await.expect("GET");
            assert!(
                response.status().is_success(),
                "GET {url}: {}",
                response.status()
            );
            response.json().await.expect("JSON answer")
        })
}

/// The Rekor v1 entry at `index` of the log at `rekor`: the value of the answer's one member.
pub fn v1_entry_at(rekor: &str, index: u64) -> Value {
    let answer = get_json(&format!("{rekor}/api/v1/log/entries?logIndex={index}"));
    let (_, entry) = answer
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("one entry");
    entry.clone()
}

/// The decoded canonical body of a Rekor v1 entry.
pub fn body_json(entry: &Value) -> Value {
    let body = STANDARD
        .decode(entry["body"].as_str().expect("body"))
        .expect("base64 body");
    serde_json::from_slice(&body).expect("JSON body")
}
