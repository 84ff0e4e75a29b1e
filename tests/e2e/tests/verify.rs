//! `sigstack verify` against real bundles from a real stack, cross-checked with the clients:
//! what our offline verifier accepts, sigstore-python accepts too (sigstore-js for intoto
//! entries, which sigstore-python 4.5.1 cannot verify), and every tampered variant is refused by
//! both. Also: a key-signed bundle (`--key`), and an air-gap kit verified with the stack stopped.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sigstack_e2e::{
    Client, Kind, Rekor, Stack, Workspace, js_cli_attest, repo_root, sign, sigstack_bin,
};

const ALICE: &str = "alice@example.test";

/// Which client cross-checks a scenario.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Oracle {
    Python,
    Js,
}

struct Case {
    name: String,
    bundle: Value,
    root: Value,
    identity: String,
    artifact: PathBuf,
    /// `None`: both must accept. `Some(check)`: ours must refuse naming `check`.
    refused_at: Option<&'static str>,
    /// Whether the client is asserted to refuse too (false where a client is known lenient).
    client_must_refuse: bool,
}

fn flip_b64(value: &mut Value, index: isize) {
    let mut bytes = STANDARD
        .decode(value.as_str().expect("base64 string"))
        .expect("base64");
    let len = isize::try_from(bytes.len()).expect("len");
    let i = usize::try_from(if index < 0 {
        len + index
    } else {
        index.min(len - 1)
    })
    .expect("i");
    bytes[i] ^= 0x01;
    *value = Value::from(STANDARD.encode(bytes));
}

fn entry(bundle: &mut Value) -> &mut Value {
    &mut bundle["verificationMaterial"]["tlogEntries"][0]
}

fn run_ours(dir: &Path, case: &Case, issuer: &str) -> (bool, String) {
    let bundle = dir.join("case.bundle.json");
    let root = dir.join("case.trusted_root.json");
    std::fs::write(&bundle, case.bundle.to_string()).expect("write");
    std::fs::write(&root, case.root.to_string()).expect("write");
    let out = Command::new(sigstack_bin())
        .args(["verify", "verify-bundle", "--bundle"])
        .arg(&bundle)
        .args(["--certificate-identity", &case.identity])
        .args(["--certificate-oidc-issuer", issuer])
        .arg("--trusted-root")
        .arg(&root)
        .arg(&case.artifact)
        .output()
        .expect("sigstack verify");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn run_client(
    oracle: Oracle,
    dir: &Path,
    stack: &Stack,
    case: &Case,
    issuer: &str,
) -> (bool, String) {
    let bundle = dir.join("case.bundle.json");
    std::fs::write(&bundle, case.bundle.to_string()).expect("write");
    let out = match oracle {
        Oracle::Python => {
            let mut config = stack.trust_config.clone();
            config["trustedRoot"] = case.root.clone();
            let config_path = dir.join("case.trust_config.json");
            std::fs::write(&config_path, config.to_string()).expect("write");
            Command::new(repo_root().join(".tools/venv/bin/sigstore"))
                .arg("--trust-config")
                .arg(&config_path)
                .args(["verify", "identity", "--bundle"])
                .arg(&bundle)
                .args([
                    "--cert-identity",
                    &case.identity,
                    "--cert-oidc-issuer",
                    issuer,
                ])
                .arg(&case.artifact)
                .output()
                .expect("sigstore-python")
        }
        Oracle::Js => {
            let root = dir.join("case.js.trusted_root.json");
            std::fs::write(&root, case.root.to_string()).expect("write");
            Command::new("node")
                .arg(repo_root().join("tests/clients/js/sjs.mjs"))
                .args(["verify-bundle", "--bundle"])
                .arg(&bundle)
                .args(["--certificate-identity", &case.identity])
                .args(["--certificate-oidc-issuer", issuer])
                .arg("--trusted-root")
                .arg(&root)
                .arg(&case.artifact)
                .output()
                .expect("sigstore-js")
        }
    };
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The variants of one signed bundle: the original, and each tampering.
fn cases(scenario: &str, original: &Value, root: &Value, ws: &Workspace, full: bool) -> Vec<Case> {
    let v1 = scenario.starts_with("rekor-v1");
    let artifact = ws.path("artifact.txt");
    let case = |name: &str, bundle: Value, root: Value, refused_at, client_must_refuse| Case {
        name: format!("{scenario}: {name}"),
        bundle,
        root,
        identity: ALICE.to_string(),
        artifact: artifact.clone(),
        refused_at,
        client_must_refuse,
    };
    let mut out = vec![case(
        "original",
        original.clone(),
        root.clone(),
        None,
        false,
    )];

    let mut other = case(
        "other artifact",
        original.clone(),
        root.clone(),
        Some("artifact"),
        true,
    );
    other.artifact = ws.path("statement.json");
    out.push(other);
    let mut b = original.clone();
    if b.get("dsseEnvelope").is_some() {
        flip_b64(&mut b["dsseEnvelope"]["signatures"][0]["sig"], 20);
    } else {
        flip_b64(&mut b["messageSignature"]["signature"], 20);
    }
    out.push(case("signature", b, root.clone(), Some("signature"), true));
    let mut b = original.clone();
    flip_b64(&mut entry(&mut b)["inclusionProof"]["hashes"][0], 0);
    out.push(case(
        "proof hash",
        b,
        root.clone(),
        Some("inclusion-proof"),
        true,
    ));
    let mut wrong = case(
        "wrong identity",
        original.clone(),
        root.clone(),
        Some("identity"),
        true,
    );
    wrong.identity = "mallory@example.test".into();
    out.push(wrong);
    if !full {
        return out;
    }

    // The same content under the older media types (leaf as a one-certificate chain). v0.1
    // requires a SET, which Rekor v2 never gives.
    for version in ["0.1", "0.2"] {
        let mut b = original.clone();
        b["mediaType"] = Value::from(format!(
            "application/vnd.dev.sigstore.bundle+json;version={version}"
        ));
        let vm = b["verificationMaterial"].as_object_mut().expect("material");
        let cert = vm.remove("certificate").expect("certificate");
        vm.insert(
            "x509CertificateChain".into(),
            json!({ "certificates": [cert] }),
        );
        let refused_at = (version == "0.1" && !v1).then_some("signed-entry-timestamp");
        out.push(case(
            &format!("as bundle v{version}"),
            b,
            root.clone(),
            refused_at,
            true,
        ));
    }
    // One flipped byte near the end of the certificate (its CA signature): the log body no
    // longer names it, and its chain no longer verifies.
    let mut b = original.clone();
    let cert = &mut b["verificationMaterial"]["certificate"]["rawBytes"];
    let len = STANDARD
        .decode(cert.as_str().expect("cert"))
        .expect("b64")
        .len();
    flip_b64(cert, isize::try_from(len).expect("len") - 3);
    out.push(case(
        "certificate bytes",
        b,
        root.clone(),
        Some("tlog-body"),
        true,
    ));
    // SCT: the CT log in the trusted root has another key.
    let mut r = root.clone();
    r["ctlogs"][0]["publicKey"]["rawBytes"] = r["tlogs"][0]["publicKey"]["rawBytes"].clone();
    out.push(case(
        "SCT under another CT key",
        original.clone(),
        r,
        Some("sct"),
        true,
    ));
    // Checkpoint signature.
    let mut b = original.clone();
    let envelope = entry(&mut b)["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .expect("checkpoint")
        .to_string();
    let (text, sigs) = envelope.rsplit_once("\n\n").expect("note");
    let (name, sig) = sigs.trim_end().rsplit_once(' ').expect("line");
    let mut sig = Value::from(sig);
    flip_b64(&mut sig, 10);
    entry(&mut b)["inclusionProof"]["checkpoint"]["envelope"] =
        Value::from(format!("{text}\n\n{name} {}\n", sig.as_str().expect("sig")));
    out.push(case(
        "checkpoint signature",
        b,
        root.clone(),
        Some("checkpoint"),
        true,
    ));
    // SET.
    if v1 {
        let mut b = original.clone();
        flip_b64(
            &mut entry(&mut b)["inclusionPromise"]["signedEntryTimestamp"],
            12,
        );
        out.push(case(
            "SET",
            b,
            root.clone(),
            Some("signed-entry-timestamp"),
            true,
        ));
    }
    // TSA token. sigstore-python 4.5.1 skips a bad timestamp when a SET gives a time, so it is
    // asserted to refuse only for Rekor v2 bundles; ours refuses every bad token.
    let mut b = original.clone();
    let ts = &mut b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"];
    flip_b64(ts, -5);
    out.push(case(
        "TSA token",
        b,
        root.clone(),
        Some("rfc3161-timestamp"),
        !v1,
    ));
    // Expired validity window: the TSA's validFor ended before the bundle was timestamped.
    let mut r = root.clone();
    r["timestampAuthorities"][0]["validFor"]["end"] = Value::from("2020-01-01T00:00:00Z");
    out.push(case(
        "TSA validity window ended",
        original.clone(),
        r,
        Some("rfc3161-timestamp"),
        !v1,
    ));
    // sigstore-python 4.5.1 does not enforce the end of CA and log windows; ours does.
    let mut r = root.clone();
    r["certificateAuthorities"][0]["validFor"]["end"] = Value::from("2020-01-01T00:00:00Z");
    out.push(case(
        "CA validity window ended",
        original.clone(),
        r,
        Some("certificate-validity"),
        false,
    ));
    out
}

#[test]
fn sigstack_verify_agrees_with_the_clients_on_real_and_tampered_bundles() {
    let stack = Stack::start();
    let ws = Workspace::new();
    let token = stack.token(ALICE);
    let issuer = stack.issuer();
    let root: Value = stack.trust_config["trustedRoot"].clone();

    let mut scenarios: Vec<(String, Oracle, PathBuf)> = Vec::new();
    for (rekor, kind, name) in [
        (Rekor::V1, Kind::Blob, "rekor-v1-hashedrekord"),
        (Rekor::V2, Kind::Blob, "rekor-v2-hashedrekord"),
        (Rekor::V1, Kind::InToto, "rekor-v1-dsse"),
        (Rekor::V2, Kind::InToto, "rekor-v2-dsse"),
    ] {
        let path = ws.path(&format!("{name}.bundle.json"));
        sign(Client::Python, &stack, &ws, rekor, kind, &token, &path).expect("sign");
        scenarios.push((name.to_string(), Oracle::Python, path));
    }
    let intoto = ws.path("rekor-v1-intoto.bundle.json");
    js_cli_attest(&stack, &ws.path("statement.json"), &token, &intoto).expect("attest");
    scenarios.push(("rekor-v1-intoto".into(), Oracle::Js, intoto));

    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let mut checked = 0;
    for (scenario, oracle, path) in &scenarios {
        let original: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("bundle")).expect("JSON");
        let full = scenario.ends_with("hashedrekord");
        for case in cases(scenario, &original, &root, &ws, full) {
            let (ours, our_output) = run_ours(dir.path(), &case, &issuer);
            let (theirs, their_output) = run_client(*oracle, dir.path(), &stack, &case, &issuer);
            checked += 1;
            match case.refused_at {
                None => {
                    if !ours || !theirs {
                        failures.push(format!(
                            "{}: must verify; ours {ours}: {our_output}\nclient {theirs}: {their_output}",
                            case.name
                        ));
                    }
                }
                Some(check) => {
                    let named = format!("check {check} failed");
                    if ours || !our_output.contains(&named) {
                        failures.push(format!(
                            "{}: ours must refuse at {check}: {our_output}",
                            case.name
                        ));
                    }
                    if case.client_must_refuse && theirs {
                        failures.push(format!(
                            "{}: the client accepted it: {their_output}",
                            case.name
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(checked >= 42, "only {checked} cases ran");
}

/// A bundle signed with a plain key (no certificate): hashedrekord 0.0.1 through Rekor v1,
/// verified with `--key`; a different key is refused.
#[test]
fn key_signed_bundles_verify_with_key() {
    use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer as _};
    let stack = Stack::start();
    let ws = Workspace::new();
    let artifact = std::fs::read(ws.path("artifact.txt")).expect("artifact");
    let digest = sigstack_keys::sha256(&artifact);
    let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key");
    let signature = signer.sign(&artifact).expect("sign");
    let pem = signer.public_key().expect("pk").to_pem();
    let request = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "signature": {"content": STANDARD.encode(&signature),
                          "publicKey": {"content": STANDARD.encode(pem.as_bytes())}},
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(digest)}}
        }
    });
    let url = format!("{}/api/v1/log/entries", stack.url("rekor-v1"));
    let reply: Value = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let response = reqwest::Client::new()
                .post(&url)
                .json(&request)
                .send()
                .await
                .expect("post");
            assert_eq!(response.status(), 201);
            response.json().await.expect("json")
        });
    let (_, logged) = reply
        .as_object()
        .and_then(|m| m.iter().next())
        .expect("entry");
    let proof = &logged["verification"]["inclusionProof"];
    let b64_of_hex =
        |v: &Value| STANDARD.encode(hex::decode(v.as_str().expect("hex")).expect("hex"));
    let bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "publicKey": {"hint": STANDARD.encode(sigstack_keys::sha256(signer.public_key_der()))},
            "tlogEntries": [{
                "logIndex": logged["logIndex"].to_string(),
                "logId": {"keyId": b64_of_hex(&logged["logID"])},
                "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                "integratedTime": logged["integratedTime"].to_string(),
                "inclusionPromise": {"signedEntryTimestamp": logged["verification"]["signedEntryTimestamp"]},
                "inclusionProof": {
                    "logIndex": proof["logIndex"].to_string(),
                    "rootHash": b64_of_hex(&proof["rootHash"]),
                    "treeSize": proof["treeSize"].to_string(),
                    "hashes": proof["hashes"].as_array().expect("hashes").iter().map(b64_of_hex).collect::<Vec<_>>(),
                    "checkpoint": {"envelope": proof["checkpoint"]}
                },
                "canonicalizedBody": logged["body"]
            }]
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest)},
            "signature": STANDARD.encode(&signature)
        }
    });
    let bundle_path = ws.path("key.bundle.json");
    std::fs::write(&bundle_path, bundle.to_string()).expect("write");
    let verify_with = |key_pem: &str| {
        let key_path = ws.path("key.pub");
        std::fs::write(&key_path, key_pem).expect("write");
        Command::new(sigstack_bin())
            .args(["verify", "bundle", "--bundle"])
            .arg(&bundle_path)
            .arg("--key")
            .arg(&key_path)
            .arg("--data-dir")
            .arg(&stack.data_dir)
            .arg(ws.path("artifact.txt"))
            .output()
            .expect("sigstack verify")
    };
    let ok = verify_with(&pem);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let other = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key");
    let refused = verify_with(&other.public_key().expect("pk").to_pem());
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("check signature failed"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// An air-gap kit exported from a stack verifies its bundles after the stack is gone; bundles
/// without an inclusion proof are refused by the export, which then writes nothing.
#[test]
fn air_gap_kit_verifies_with_the_stack_stopped() {
    let mut stack = Stack::start();
    let ws = Workspace::new();
    let token = stack.token(ALICE);
    let issuer = stack.issuer();
    let v2 = ws.path("v2.bundle.json");
    sign(
        Client::Python,
        &stack,
        &ws,
        Rekor::V2,
        Kind::Blob,
        &token,
        &v2,
    )
    .expect("sign");
    let kit = ws.path("kit");

    // A bundle stripped of its proof is refused and no kit is written.
    let mut stripped: Value =
        serde_json::from_str(&std::fs::read_to_string(&v2).expect("read")).expect("json");
    entry(&mut stripped)
        .as_object_mut()
        .expect("entry")
        .remove("inclusionProof");
    let stripped_path = ws.path("stripped.bundle.json");
    std::fs::write(&stripped_path, stripped.to_string()).expect("write");
    let out = Command::new(sigstack_bin())
        .args(["verify", "export-kit", "--data-dir"])
        .arg(&stack.data_dir)
        .arg("--out")
        .arg(&kit)
        .args(["--bundle"])
        .arg(&v2)
        .args(["--bundle"])
        .arg(&stripped_path)
        .output()
        .expect("export-kit");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("inclusion proof"));
    assert!(
        !kit.exists(),
        "nothing may be written when a bundle is refused"
    );

    let out = Command::new(sigstack_bin())
        .args(["verify", "export-kit", "--data-dir"])
        .arg(&stack.data_dir)
        .arg("--out")
        .arg(&kit)
        .args(["--bundle"])
        .arg(&v2)
        .output()
        .expect("export-kit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(kit.join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    let files: Vec<&str> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(files.contains(&"trusted_root.json") && files.contains(&"bundles/v2.bundle.json"));
    for f in manifest["files"].as_array().expect("files") {
        let bytes = std::fs::read(kit.join(f["path"].as_str().expect("path"))).expect("file");
        assert_eq!(
            f["sha256"].as_str(),
            Some(hex::encode(sigstack_keys::sha256(&bytes)).as_str())
        );
    }

    stack.stop();
    let verify = |identity: &str| {
        Command::new(sigstack_bin())
            .args(["verify", "bundle", "--bundle"])
            .arg(kit.join("bundles/v2.bundle.json"))
            .args([
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                &issuer,
            ])
            .arg("--trusted-root")
            .arg(kit.join("trusted_root.json"))
            .arg(format!(
                "sha256:{}",
                hex::encode(sigstack_keys::sha256(
                    &std::fs::read(ws.path("artifact.txt")).expect("artifact")
                ))
            ))
            .output()
            .expect("sigstack verify")
    };
    let ok = verify(ALICE);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(!verify("bob@example.test").status.success());
}
