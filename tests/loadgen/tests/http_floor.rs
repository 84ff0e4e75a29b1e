//! `sigstack-loadgen write --http-floor`: before the run, the same requests go to a bare HTTP
//! server in a child process whose answers are as large as the log's; its CPU per request is
//! reported and set beside the log's. Needs `target/debug/sigstack` (`cargo build -p
//! sigstack`), like the e2e tests.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::Stdio;

use common::{get_json, loadgen, succeeded};
use sigstack_e2e::Stack;

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
    // The bare server answered without logging: the log holds its opening entry, the probe
    // and the timed run's entries only.
    assert!(stdout.contains("errors: {}"), "{stdout}");
    let accepted = number_after(&stdout, "accepted ") as u64;
    let info = get_json(&format!("{}/api/v1/log", stack.url("rekor-v1")));
    assert_eq!(info["treeSize"], accepted + 2, "{info}");
}

#[test]
fn the_bare_server_answers_201_with_the_given_size_and_only_on_loopback() {
    let mut child = loadgen()
        .args([
            "bare-server",
            "--listen",
            "127.0.0.1:0",
            "--answer-bytes",
            "1234",
        ])
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
        .expect("address line");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(
            b"POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\nconnection: close\r\n\r\n{}\n",
        )
        .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
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
