//! `sigstack-loadgen fill-direct` builds a Rekor v1 log that the real `sigstack up` then serves:
//! same key, tree ID and entries, with SETs that verify against the published trust material.
//! Needs `target/debug/sigstack` (`cargo build -p sigstack`), like the e2e tests.

mod common;

use std::path::Path;
use std::process::Output;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{body_json, get_json, loadgen, succeeded, v1_entry_at};
use sigstack_e2e::Stack;
use sigstack_keys::{PublicKey, sha256};

const FILLED: u64 = 3_000;

fn fill_direct(data_dir: &Path, entries: u64) -> Output {
    loadgen()
        .args(["fill-direct", "--data-dir"])
        .arg(data_dir)
        .args(["--entries", &entries.to_string(), "--concurrency", "32"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run sigstack-loadgen")
}

#[test]
fn a_directly_filled_log_is_served_by_sigstack_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let stdout = succeeded(&fill_direct(&data_dir, FILLED));
    assert!(
        stdout.contains(&format!("appended {FILLED} entries")),
        "{stdout}"
    );
    // The log's own threads are reported by name, with their CPU time.
    let by_thread = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CPU by thread: "))
        .unwrap_or_else(|| panic!("no CPU by thread: {stdout}"));
    assert!(by_thread.contains("tlog-sequencer "), "{by_thread}");
    let tree_id = std::fs::read_to_string(data_dir.join("rekor-v1/tree-id")).expect("tree-id");

    let stack = Stack::start_on(&data_dir);
    let rekor = stack.url("rekor-v1");

    // The opening entry plus the fill, under the tree ID the fill created.
    let info = get_json(&format!("{rekor}/api/v1/log"));
    assert_eq!(info["treeSize"], FILLED + 1, "{info}");
    assert_eq!(info["treeID"].as_str(), Some(tree_id.trim()), "{info}");
    // Checkpoints name the same host as the served ones (the default 127.0.0.1).
    let origin = format!("127.0.0.1 - {}\n{}\n", tree_id.trim(), FILLED + 1);
    assert!(
        info["signedTreeHead"]
            .as_str()
            .is_some_and(|note| note.starts_with(&origin)),
        "{info}"
    );

    // The log key clients trust is the key the fill signed with.
    let tlog = &stack.trust_config["trustedRoot"]["tlogs"][0];
    let spki = STANDARD
        .decode(tlog["publicKey"]["rawBytes"].as_str().expect("tlog key"))
        .expect("base64 key");
    let key = PublicKey::from_spki_der(&spki).expect("tlog key");
    let log_id = hex::encode(sha256(&spki));

    for index in [1, FILLED / 2, FILLED] {
        let entry = v1_entry_at(&rekor, index);
        assert_eq!(entry["logIndex"], index);
        assert_eq!(entry["logID"].as_str(), Some(log_id.as_str()));
        assert_eq!(body_json(&entry)["kind"], "hashedrekord");
        let body = entry["body"].as_str().expect("body");
        let set = STANDARD
            .decode(
                entry["verification"]["signedEntryTimestamp"]
                    .as_str()
                    .expect("SET"),
            )
            .expect("base64 SET");
        sigstack_rekor::set::verify_set(
            &key,
            body,
            entry["integratedTime"].as_i64().expect("integratedTime"),
            &log_id,
            index,
            &set,
        )
        .unwrap_or_else(|e| panic!("SET of entry {index} does not verify: {e}"));
        assert_eq!(
            entry["verification"]["inclusionProof"]["treeSize"],
            FILLED + 1
        );
    }

    // While the stack holds the log, a fill refuses to start and changes nothing.
    let refused = fill_direct(&data_dir, 10);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("in use by another process"), "{stderr}");
    let info = get_json(&format!("{rekor}/api/v1/log"));
    assert_eq!(info["treeSize"], FILLED + 1, "{info}");
}

#[test]
fn a_second_fill_extends_the_log_and_a_lost_key_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let stdout = |o: &Output| String::from_utf8_lossy(&o.stdout).into_owned();
    let first = fill_direct(&data_dir, 20);
    assert!(first.status.success(), "{}", stdout(&first));
    assert!(stdout(&first).contains("opening entry at index 0"));
    assert!(
        stdout(&first).contains("tree size 21;"),
        "{}",
        stdout(&first)
    );
    let key = std::fs::read(data_dir.join("rekor-v1/key.pem")).expect("key");

    // Same key and log; no second opening entry.
    let second = fill_direct(&data_dir, 30);
    assert!(second.status.success(), "{}", stdout(&second));
    assert!(!stdout(&second).contains("opening entry"));
    assert!(
        stdout(&second).contains("tree size 51;"),
        "{}",
        stdout(&second)
    );
    assert_eq!(
        std::fs::read(data_dir.join("rekor-v1/key.pem")).expect("key"),
        key
    );

    // Without its key the log is not given a new identity.
    std::fs::remove_file(data_dir.join("rekor-v1/key.pem")).expect("remove key");
    let refused = fill_direct(&data_dir, 1);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("key.pem is missing"), "{stderr}");
    assert!(!data_dir.join("rekor-v1/key.pem").exists());
}
