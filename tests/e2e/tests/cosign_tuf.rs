//! cosign v3 bootstraps from Sigstack's TUF repository the way operators run it:
//! `cosign initialize --mirror <tuf url> --root 1.root.json`, then `sign-blob`, `attest-blob`,
//! `verify-blob` and `verify-blob-attestation` with no `--trusted-root` or `--signing-config`
//! flag, so the trusted root and the signing config (Rekor v2 + TSA) both come from the
//! repository's `trusted_root.json` and `signing_config.v0.2.json` targets. A tampered artifact
//! and a wrong identity are refused. New targets are picked up without re-initializing (cosign
//! refreshes the repository on every command, and refuses to work while it is unreachable).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest as _, Sha256};
use sigstack_e2e::go_clients::{SLSA_PROVENANCE_V1, cosign, output_text, token_file};
use sigstack_e2e::{Stack, Workspace, sigstack_bin};

const ALICE: &str = "alice@example.test";

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn sigstack(args: &[&str]) -> String {
    let out = Command::new(sigstack_bin())
        .args(args)
        .output()
        .expect("run sigstack");
    assert!(
        out.status.success(),
        "sigstack {args:?}: {}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A root key and a targets key (1-of-1 each), the stack's trust material as targets, signed
/// offline and published into the directory `sigstack up` serves.
fn publish_trust_material(stack: &Stack, ws: &Workspace) -> PathBuf {
    let repo = stack.data_dir.join("tuf");
    let keys = ws.path("keys");
    std::fs::create_dir_all(&keys).expect("keys dir");
    for member in ["root", "targets"] {
        sigstack(&[
            "trust",
            "keygen",
            "--out",
            p(&keys.join(format!("{member}.pem"))),
        ]);
    }
    let trust = stack.trust_dir();
    sigstack(&[
        "trust",
        "tuf",
        "init",
        "--repo",
        p(&repo),
        "--root-key",
        p(&keys.join("root.pub")),
        "--root-threshold",
        "1",
        "--targets-key",
        p(&keys.join("targets.pub")),
        "--trusted-root",
        p(&trust.join("trusted_root.json")),
        "--signing-config",
        p(&trust.join("signing_config.json")),
    ]);
    let mut signatures = Vec::new();
    for role in ["root", "targets"] {
        let copy = ws.path(&format!("{role}-proposal.json"));
        std::fs::copy(repo.join(format!("staged/{role}.json")), &copy).expect("copy staged");
        let sig = ws.path(&format!("{role}.sig.json"));
        sigstack(&[
            "trust",
            "tuf",
            "sign",
            "--staged",
            p(&copy),
            "--key",
            p(&keys.join(format!("{role}.pem"))),
            "--out",
            p(&sig),
        ]);
        signatures.push(sig);
    }
    sigstack(&[
        "trust",
        "tuf",
        "publish",
        "--repo",
        p(&repo),
        "--signature",
        p(&signatures[0]),
        "--signature",
        p(&signatures[1]),
    ]);
    // The root is handed to operators out of band.
    let root = ws.path("1.root.json");
    std::fs::copy(repo.join("published/1.root.json"), &root).expect("copy root");
    root
}

/// cosign with its own home and TUF cache, so only what `initialize` fetched is trusted.
fn cosign_in(home: &Path, args: &[&str]) -> Output {
    let mut cmd = cosign();
    cmd.env("HOME", home)
        .env("TUF_ROOT", home.join("tuf"))
        .args(args);
    cmd.output().expect("run cosign")
}

/// The file named `name` somewhere under `dir`.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == name) {
                return Some(path);
            }
        }
    }
    None
}

#[test]
fn cosign_initialize_from_the_tuf_repository_then_signs_and_verifies_without_trust_flags() {
    let mut stack = Stack::start();
    let ws = Workspace::new();
    let root = publish_trust_material(&stack, &ws);
    let url = stack.tuf_url();
    let home = ws.path("cosign-home");
    std::fs::create_dir_all(&home).expect("cosign home");

    let out = cosign_in(&home, &["initialize", "--mirror", &url, "--root", p(&root)]);
    assert!(
        out.status.success(),
        "cosign initialize: {}",
        output_text(&out)
    );
    // cosign cached both targets, byte-identical to the stack's trust material.
    let trust = stack.trust_dir();
    for (target, local) in [
        ("trusted_root.json", "trusted_root.json"),
        ("signing_config.v0.2.json", "signing_config.json"),
    ] {
        let cached = find_file(&home.join("tuf"), target)
            .unwrap_or_else(|| panic!("cosign did not cache {target}"));
        assert_eq!(
            std::fs::read(&cached).expect("cached target"),
            std::fs::read(trust.join(local)).expect("trust material"),
            "{target}"
        );
    }

    let token = token_file(&stack.token(ALICE), &ws.path("token"));
    let issuer = stack.issuer();
    let artifact = ws.path("artifact.txt");
    let blob_bundle = ws.path("blob.sigstore.json");
    let dsse_bundle = ws.path("dsse.sigstore.json");
    let out = cosign_in(
        &home,
        &[
            "sign-blob",
            "--yes",
            "--identity-token",
            p(&token),
            "--bundle",
            p(&blob_bundle),
            p(&artifact),
        ],
    );
    assert!(
        out.status.success(),
        "cosign sign-blob: {}\n{}",
        output_text(&out),
        stack.log()
    );
    let out = cosign_in(
        &home,
        &[
            "attest-blob",
            "--yes",
            "--identity-token",
            p(&token),
            "--statement",
            p(&ws.path("statement.json")),
            "--bundle",
            p(&dsse_bundle),
            p(&artifact),
        ],
    );
    assert!(
        out.status.success(),
        "cosign attest-blob: {}\n{}",
        output_text(&out),
        stack.log()
    );

    // Both went where the TUF-delivered signing config says: the stack's Rekor v2 (whose log ID
    // is in the trusted root) with an RFC 3161 timestamp from the stack's TSA.
    let trusted_root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(trust.join("trusted_root.json")).expect("read"))
            .expect("trusted root JSON");
    let log_id = |service: &str| {
        trusted_root["tlogs"]
            .as_array()
            .expect("tlogs")
            .iter()
            .find(|t| t["baseUrl"].as_str() == Some(stack.url(service).as_str()))
            .unwrap_or_else(|| panic!("{service} in the trusted root"))["logId"]["keyId"]
            .clone()
    };
    let rekor_v2_log_id = log_id("rekor-v2");
    for bundle in [&blob_bundle, &dsse_bundle] {
        let b: serde_json::Value =
            serde_json::from_slice(&std::fs::read(bundle).expect("bundle")).expect("JSON");
        let material = &b["verificationMaterial"];
        let entry = &material["tlogEntries"][0];
        assert_eq!(entry["kindVersion"]["version"], "0.0.2", "{b:#}");
        assert_eq!(entry["logId"]["keyId"], rekor_v2_log_id, "{b:#}");
        assert!(
            material["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"]
                .is_string(),
            "no TSA timestamp: {b:#}"
        );
    }

    let verify = |bundle: &Path, file: &Path, identity: &str| {
        let mut args = if bundle == dsse_bundle.as_path() {
            vec!["verify-blob-attestation", "--type", SLSA_PROVENANCE_V1]
        } else {
            vec!["verify-blob"]
        };
        args.extend([
            "--bundle",
            p(bundle),
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &issuer,
            p(file),
        ]);
        cosign_in(&home, &args)
    };
    for bundle in [&blob_bundle, &dsse_bundle] {
        let out = verify(bundle, &artifact, ALICE);
        assert!(
            out.status.success() && output_text(&out).contains("Verified OK"),
            "cosign verify of {}: {}",
            bundle.display(),
            output_text(&out)
        );
    }

    // Refusals through the same TUF-fetched root: another artifact, another identity.
    let tampered = ws.path("tampered.txt");
    let mut bytes = std::fs::read(&artifact).expect("artifact");
    bytes[0] ^= 1;
    std::fs::write(&tampered, &bytes).expect("write");
    let out = verify(&blob_bundle, &tampered, ALICE);
    assert!(
        !out.status.success() && output_text(&out).contains("invalid signature"),
        "verify-blob accepted a tampered artifact: {}",
        output_text(&out)
    );
    let out = verify(&dsse_bundle, &tampered, ALICE);
    assert!(
        !out.status.success()
            && output_text(&out).contains("artifact digests do not match digests in statement"),
        "verify-blob-attestation accepted a tampered artifact: {}",
        output_text(&out)
    );
    for bundle in [&blob_bundle, &dsse_bundle] {
        let out = verify(bundle, &artifact, "mallory@example.test");
        assert!(
            !out.status.success()
                && output_text(&out).contains("expected SAN value \"mallory@example.test\""),
            "cosign accepted a wrong identity: {}",
            output_text(&out)
        );
    }

    // New trust material is picked up without re-running `initialize`: cosign refreshes the
    // repository on every command. Targets v2 carries a signing config naming Rekor v1, and
    // the next signature goes there.
    let repo = stack.data_dir.join("tuf");
    sigstack(&[
        "trust",
        "tuf",
        "stage-targets",
        "--repo",
        p(&repo),
        "--signing-config",
        p(&trust.join("signing_config.rekor-v1.json")),
    ]);
    let copy = ws.path("targets-v2-proposal.json");
    std::fs::copy(repo.join("staged/targets.json"), &copy).expect("copy staged");
    let sig = ws.path("targets-v2.sig.json");
    sigstack(&[
        "trust",
        "tuf",
        "sign",
        "--staged",
        p(&copy),
        "--key",
        p(&ws.path("keys/targets.pem")),
        "--out",
        p(&sig),
    ]);
    sigstack(&[
        "trust",
        "tuf",
        "publish",
        "--repo",
        p(&repo),
        "--signature",
        p(&sig),
    ]);
    let v1_bundle = ws.path("blob-v1.sigstore.json");
    let out = cosign_in(
        &home,
        &[
            "sign-blob",
            "--yes",
            "--identity-token",
            p(&token),
            "--bundle",
            p(&v1_bundle),
            p(&artifact),
        ],
    );
    assert!(
        out.status.success(),
        "cosign sign-blob: {}",
        output_text(&out)
    );
    let b: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&v1_bundle).expect("bundle")).expect("JSON");
    let entry = &b["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(entry["kindVersion"]["version"], "0.0.1", "{b:#}");
    assert_eq!(entry["logId"]["keyId"], log_id("rekor-v1"), "{b:#}");
    let out = verify(&v1_bundle, &artifact, ALICE);
    assert!(
        out.status.success(),
        "cosign verify-blob: {}",
        output_text(&out)
    );

    // The root can also be fetched from the repository itself, pinned by its SHA-256: a wrong
    // checksum is refused, the right one bootstraps a home that verifies the same bundles.
    let by_url = ws.path("cosign-home-by-url");
    std::fs::create_dir_all(&by_url).expect("cosign home");
    let root_url = format!("{url}/1.root.json");
    let checksum = hex::encode(Sha256::digest(std::fs::read(&root).expect("root")));
    let wrong = format!(
        "{}{}",
        if checksum.starts_with('0') { "1" } else { "0" },
        &checksum[1..]
    );
    let out = cosign_in(
        &by_url,
        &[
            "initialize",
            "--mirror",
            &url,
            "--root",
            &root_url,
            "--root-checksum",
            &wrong,
        ],
    );
    assert!(
        !out.status.success() && output_text(&out).contains("incorrect checksum"),
        "cosign initialize accepted a root with the wrong checksum: {}",
        output_text(&out)
    );
    let out = cosign_in(
        &by_url,
        &[
            "initialize",
            "--mirror",
            &url,
            "--root",
            &root_url,
            "--root-checksum",
            &checksum,
        ],
    );
    assert!(
        out.status.success(),
        "cosign initialize: {}",
        output_text(&out)
    );
    let out = cosign_in(
        &by_url,
        &[
            "verify-blob",
            "--bundle",
            p(&blob_bundle),
            "--certificate-identity",
            ALICE,
            "--certificate-oidc-issuer",
            &issuer,
            p(&artifact),
        ],
    );
    assert!(
        out.status.success(),
        "cosign verify-blob: {}",
        output_text(&out)
    );

    // That refresh is mandatory: with the repository unreachable, cosign 3.1.2 refuses to
    // verify even a bundle it verified before (no fallback to its cache, `--offline` or not).
    stack.stop();
    let out = verify(&blob_bundle, &artifact, ALICE);
    assert!(
        !out.status.success() && output_text(&out).contains("tuf refresh failed"),
        "cosign verified without reaching the TUF repository: {}",
        output_text(&out)
    );
}
