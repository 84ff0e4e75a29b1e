//! The TSA settings of `sigstack up --config`: the configured policy OID and accuracy appear in
//! tokens, sigstore-python still signs and verifies with them (and `sigstack verify` agrees),
//! and a validity window the certificate chain does not cover stops the stack at start-up.

use std::process::Command;

use der::{Decode, Encode};
use sigstack_e2e::{Client, Kind, Rekor, Stack, Workspace, sign, sigstack_bin, verify};
use sigstack_tsp::{HashAlgorithm, TimeStampReq, TimeStampResp};

const POLICY: &str = "1.3.6.1.4.1.99999.7";

#[test]
fn configured_policy_and_accuracy_reach_tokens_and_clients() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("sigstack.toml");
    std::fs::write(
        &config,
        format!("[tsa]\npolicy = \"{POLICY}\"\naccuracy-seconds = 2\naccuracy-millis = 500\n"),
    )
    .expect("write");
    let stack = Stack::start_with(
        &tmp.path().join("data"),
        &["--config", config.to_str().expect("utf-8 path")],
        &[],
    );

    let request = TimeStampReq::for_digest(HashAlgorithm::Sha256, &[7u8; 32])
        .expect("request")
        .to_der()
        .expect("der");
    let reply = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            reqwest::Client::new()
                .post(stack.url("tsa"))
                .header("content-type", "application/timestamp-query")
                .body(request)
                .send()
                .await
                .expect("post")
                .bytes()
                .await
                .expect("body")
        });
    let tst = TimeStampResp::from_der(&reply)
        .expect("TimeStampResp")
        .tst_info()
        .expect("TSTInfo");
    assert_eq!(tst.policy.to_string(), POLICY);
    let accuracy = tst.accuracy.expect("accuracy");
    assert_eq!((accuracy.seconds, accuracy.millis), (Some(2), Some(500)));

    // Real clients accept such tokens: sigstore-python signs through Rekor v2 (TSA required)
    // and verifies; our offline verifier agrees.
    let ws = Workspace::new();
    let token = stack.token("alice@example.test");
    let bundle = ws.path("v2.bundle.json");
    sign(
        Client::Python,
        &stack,
        &ws,
        Rekor::V2,
        Kind::Blob,
        &token,
        &bundle,
    )
    .expect("sign");
    verify(
        Client::Python,
        &stack,
        &bundle,
        &ws.path("artifact.txt"),
        "alice@example.test",
        &stack.issuer(),
    )
    .expect("sigstore-python verifies");
    let out = Command::new(sigstack_bin())
        .args(["verify", "bundle", "--bundle"])
        .arg(&bundle)
        .args(["--certificate-identity", "alice@example.test"])
        .args(["--certificate-oidc-issuer", &stack.issuer()])
        .arg("--data-dir")
        .arg(&stack.data_dir)
        .arg(ws.path("artifact.txt"))
        .output()
        .expect("sigstack verify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_window_beyond_the_tsa_chain_stops_start_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("sigstack.toml");
    // The generated TSA leaf is valid ten years; a window to 2100 is not covered.
    std::fs::write(
        &config,
        "[tsa]\nvalid-from = \"2026-01-01T00:00:00Z\"\nvalid-until = \"2100-01-01T00:00:00Z\"\n",
    )
    .expect("write");
    let mut cmd = Command::new(sigstack_bin());
    cmd.args(["up", "--data-dir"]).arg(tmp.path().join("data"));
    for service in ["fulcio", "ctlog", "rekor-v1", "rekor-v2", "tsa", "oidc"] {
        cmd.args([format!("--{service}-port"), "0".to_string()]);
    }
    let out = cmd
        .arg("--config")
        .arg(&config)
        .output()
        .expect("sigstack up");
    assert!(
        !out.status.success(),
        "the stack started with an uncovered TSA window"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("before the configured window ends"),
        "{stderr}"
    );
    assert!(
        !tmp.path().join("data/trust/ready").exists(),
        "no trust material may be published"
    );
}
