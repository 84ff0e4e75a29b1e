//! `sigstack-loadgen write --http-floor` / `--verify-and-sign-floor`: before the run, the same
//! requests go to a bare HTTP server in a child process whose answers are as large as the
//! log's (and which, for the second, verifies each entry and signs once); its CPU per request
//! is reported and set beside the log's. Needs `target/debug/sigstack` (`cargo build -p
//! sigstack`), like the e2e tests.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::Stdio;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{get_json, loadgen, succeeded};
use sigstack_e2e::Stack;
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer as _, pem_encode, sha256};

/// The number after `prefix` in `text`.
fn number_after(text: &str, prefix: &str) -> f64 {
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in {text}"));
    text[at + prefix.len()..]
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {prefix:?} in {text}"))
}

#[test]
fn the_http_floor_is_measured_with_answers_as_large_as_the_logs() {
    let stack = Stack::start();
    let pid = stack.pid().expect("stack PID").to_string();
    let stdout = succeeded(
        &loadgen()
            .args(["write", "--url", &stack.url("rekor-v1"), "--api", "v1"])
            .args(["--server-pid", &pid, "--connections", "4", "--count", "300"])
            .args(["--duration", "2", "--no-calibrate", "--http-floor", "1"])
            .args(["--verify-and-sign-floor", "1"])
            .output()
            .expect("run sigstack-loadgen"),
    );
    let floor_line = stdout
        .lines()
        .find(|l| l.starts_with("HTTP floor"))
        .unwrap_or_else(|| panic!("no HTTP floor line: {stdout}"));
    // A v1 answer carries the entry's body, SET and proof: well over the request's size.
    assert!(
        number_after(floor_line, "connections, ") > 1000.0,
        "{floor_line}"
    );
    assert!(number_after(floor_line, "answers): ") > 0.0, "{floor_line}");
    assert!(floor_line.ends_with(" 0 errors)"), "{floor_line}");
    // Every entry verified (none answered 400), and the crypto calls were timed.
    let crypto_floor = stdout
        .lines()
        .find(|l| l.starts_with("verify-and-sign floor"))
        .unwrap_or_else(|| panic!("no verify-and-sign floor line: {stdout}"));
    assert!(crypto_floor.ends_with(" 0 errors)"), "{crypto_floor}");
    assert!(
        number_after(crypto_floor, "answers): ") > number_after(floor_line, "answers): "),
        "verifying and signing costs more than HTTP alone: {stdout}"
    );
    assert!(number_after(&stdout, ": verify ") > 0.0, "{stdout}");
    assert!(number_after(&stdout, ", sign ") > 0.0, "{stdout}");
    // The bare server answered without logging: the log holds its opening entry, the probe
    // and the timed run's entries only.
    assert!(stdout.contains("errors: {}"), "{stdout}");
    let accepted = number_after(&stdout, "accepted ") as u64;
    let info = get_json(&format!("{}/api/v1/log", stack.url("rekor-v1")));
    assert_eq!(info["treeSize"], accepted + 2, "{info}");
}

#[test]
fn the_bare_server_answers_201_with_the_given_size_and_only_on_loopback() {
    let (addr, mut child) = bare_server(&["--answer-bytes", "1234"]);
    let answer = exchange(&addr, "POST", "/x", b"{}\n");
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert!(answer.starts_with("HTTP/1.1 201 Created\r\n"), "{answer}");
    assert!(answer.contains("content-length: 1234\r\n"), "{answer}");
    assert_eq!(answer.split("\r\n\r\n").nth(1).map(str::len), Some(1234));

    let refused = loadgen()
        .args([
            "bare-server",
            "--listen",
            "0.0.0.0:0",
            "--answer-bytes",
            "10",
        ])
        .output()
        .expect("run");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("only http:// loopback"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// Start `bare-server` with `args`; its address and the child.
fn bare_server(args: &[&str]) -> (String, std::process::Child) {
    let mut child = loadgen()
        .args(["bare-server", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the bare server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the address");
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .expect("address line")
        .to_owned();
    (addr, child)
}

/// One HTTP/1.1 request on a fresh connection; the whole answer.
fn exchange(addr: &str, method: &str, path: &str, body: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: a\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    answer
}

#[test]
fn the_verify_and_sign_server_checks_each_entry_and_times_its_crypto() {
    let key = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key");
    let artifact = b"an artifact";
    let signature = key.sign(artifact).expect("sign");
    let entry = |digest: [u8; 32]| {
        serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "signature": {
                    "content": STANDARD.encode(&signature),
                    "publicKey": {"content": STANDARD.encode(pem_encode("PUBLIC KEY", key.public_key_der()))},
                },
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(digest)}},
            },
        })
        .to_string()
    };
    let (addr, mut child) = bare_server(&["--answer-bytes", "10", "--work", "verify-and-sign"]);
    let created = "HTTP/1.1 201 Created\r\n";
    let refused = "HTTP/1.1 400 Bad Request\r\n";
    // The first entry is timed (one in 16, counting from the first).
    let good = exchange(&addr, "POST", "/x", entry(sha256(artifact)).as_bytes());
    let wrong_digest = exchange(&addr, "POST", "/x", entry(sha256(b"another")).as_bytes());
    let not_an_entry = exchange(&addr, "POST", "/x", b"{}");
    let timings = exchange(&addr, "GET", "/crypto-cpu", b"");
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert!(good.starts_with(created), "{good}");
    assert!(wrong_digest.starts_with(refused), "{wrong_digest}");
    assert!(not_an_entry.starts_with(refused), "{not_an_entry}");
    let sums: Vec<u64> = timings
        .split("\r\n\r\n")
        .nth(1)
        .expect("a body")
        .split(' ')
        .map(|n| n.parse().expect("a number"))
        .collect();
    assert_eq!(sums.len(), 3, "{timings}");
    assert!(
        sums[0] > 0 && sums[1] > 0,
        "verify and sign took time: {timings}"
    );
    assert_eq!(sums[2], 1, "one timed entry: {timings}");

    // The plain HTTP server checks nothing.
    let (addr, mut child) = bare_server(&["--answer-bytes", "10"]);
    let answer = exchange(&addr, "POST", "/x", entry(sha256(b"another")).as_bytes());
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert!(answer.starts_with(created), "{answer}");
}

#[test]
fn the_verify_and_sign_floor_refuses_rekor_v2_before_any_work() {
    let out = loadgen()
        .args(["write", "--url", "http://127.0.0.1:1", "--api", "v2"])
        .args(["--connections", "1", "--verify-and-sign-floor", "1"])
        .output()
        .expect("run sigstack-loadgen");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("takes Rekor v1 entries only"), "{stderr}");
}
