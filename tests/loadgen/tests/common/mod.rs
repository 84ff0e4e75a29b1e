//! What the load generator's integration tests share: running the binary and reading the
//! stack's answers.

#![allow(dead_code)] // each test file uses its own part

use std::process::{Command, Output};

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
