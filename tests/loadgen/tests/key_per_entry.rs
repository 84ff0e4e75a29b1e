//! `sigstack-loadgen write --key-per-entry`: every entry is signed by a key of its own with its
//! own certificate, as keyless signing does, and the log accepts them all. Needs
//! `target/debug/sigstack` (`cargo build -p sigstack`), like the e2e tests.

mod common;

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{body_json, loadgen, succeeded, v1_entry_at};
use sigstack_e2e::Stack;

const ENTRIES: u64 = 40;

#[test]
fn each_entry_brings_its_own_certificate() {
    let stack = Stack::start();
    let rekor = stack.url("rekor-v1");
    let stdout = succeeded(
        &loadgen()
            .args(["write", "--url", &rekor, "--api", "v1", "--key-per-entry"])
            .args(["--connections", "4", "--count", &ENTRIES.to_string()])
            .args(["--duration", "10", "--no-calibrate"])
            .output()
            .expect("run sigstack-loadgen"),
    );
    assert!(stdout.contains("a fresh P-256 key per entry"), "{stdout}");
    assert!(
        stdout.contains(&format!("accepted {ENTRIES} in")),
        "{stdout}"
    );
    let mut certificates = BTreeSet::new();
    // Index 0 is the log's opening entry.
    for index in 1..=ENTRIES {
        let body = body_json(&v1_entry_at(&rekor, index));
        let pem = body["spec"]["signature"]["publicKey"]["content"]
            .as_str()
            .expect("publicKey");
        let pem = String::from_utf8(STANDARD.decode(pem).expect("base64")).expect("PEM");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        certificates.insert(pem);
    }
    assert_eq!(certificates.len() as u64, ENTRIES, "one certificate each");
}
