//! A data directory damaged the way a power cut or an operator mistake damages it makes
//! `sigstack up` refuse with a message that says what to do, and never silently re-creates an
//! identity (a key, a certificate, the epoch) that clients already trust.

use std::path::Path;

use sigstack_e2e::Stack;

fn fresh_data_dir(tmp: &Path) -> std::path::PathBuf {
    let data = tmp.join("data");
    let mut stack = Stack::start_on(&data);
    stack.stop();
    data
}

#[test]
fn damaged_data_directories_refuse_to_start_with_instructions() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = fresh_data_dir(tmp.path());
    let trusted_before =
        std::fs::read_to_string(data.join("trust/trusted_root.json")).expect("trusted root");

    // A log key vanished while its log holds entries (the opening entry at least).
    for key in ["rekor-v1/key.pem", "rekor-v2/key.pem", "ctlog/key.pem"] {
        let path = data.join(key);
        let saved = std::fs::read(&path).expect("key");
        std::fs::remove_file(&path).expect("remove");
        let stderr = Stack::refused_start(&data);
        assert!(
            stderr.contains("is missing but its log") && stderr.contains("Restore the key file"),
            "{key}: {stderr}"
        );
        assert!(!path.exists(), "{key}: no new key was made");
        std::fs::write(&path, saved).expect("restore");
    }

    // Files left empty by an interrupted write (as measured after a power cut with an earlier
    // version): refused, never replaced.
    for file in ["epoch", "rekor-v1/key.pem", "fulcio/ca/intermediate.pem"] {
        let path = data.join(file);
        if !path.exists() {
            continue;
        }
        let saved = std::fs::read(&path).expect("read");
        std::fs::write(&path, b"").expect("truncate");
        let stderr = Stack::refused_start(&data);
        assert!(stderr.contains("is empty"), "{file}: {stderr}");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            b"",
            "{file} left for the operator"
        );
        std::fs::write(&path, saved).expect("restore");
    }

    // Restored, the stack starts with the same identity.
    let mut stack = Stack::start_on(&data);
    let trusted_after =
        std::fs::read_to_string(data.join("trust/trusted_root.json")).expect("trusted root");
    let strip = |s: &str| {
        let v: serde_json::Value = serde_json::from_str(s).expect("json");
        let mut keys: Vec<String> = v["tlogs"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(v["ctlogs"].as_array().into_iter().flatten())
            .map(|t| t["logId"]["keyId"].to_string())
            .collect();
        keys.push(v["certificateAuthorities"][0]["certChain"].to_string());
        keys
    };
    assert_eq!(
        strip(&trusted_after),
        strip(&trusted_before),
        "same keys and CA after repair"
    );
    stack.stop();
}
