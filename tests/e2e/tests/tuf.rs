//! Real clients learn the trusted root from Sigstack's TUF repository: python-tuf's ngclient,
//! sigstore-python (`trust-instance` + `--instance`) and sigstore-js (TUF mirror + root path)
//! bootstrap from `1.root.json`, verify a bundle signed by the stack, follow a root rotation
//! made by a 2-of-3 quorum, and refuse a tampered target, a rolled-back snapshot and an expired
//! timestamp.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sigstack_e2e::{Client, Kind, Rekor, Stack, Workspace, repo_root, sign, sigstack_bin};

const ALICE: &str = "alice@example.test";

fn venv(bin: &str) -> PathBuf {
    repo_root().join(".tools/venv/bin").join(bin)
}

fn show(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(mut cmd: Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.env("RUST_BACKTRACE", "0")
        .output()
        .unwrap_or_else(|e| panic!("{shown}: {e}"))
}

fn sigstack(args: &[&str]) -> Output {
    let mut cmd = Command::new(sigstack_bin());
    cmd.args(args);
    run(cmd)
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", show(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The client failed, saying `needle` (so it failed for the reason under test).
fn refused(out: &Output, what: &str, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains(needle),
        "{what}: expected a refusal mentioning {needle:?}\n{}",
        show(out)
    );
}

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// One quorum member's (or the online role's) key pair, created with `sigstack trust keygen`.
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.pem"));
    ok(sigstack(&["trust", "keygen", "--out", p(&key)]));
    (key.clone(), key.with_extension("pub"))
}

/// Each member signs the staged file on "their own machine": a copy of the staged file, their
/// key, a detached signature file back.
fn member_sign(repo: &Path, role: &str, key: &Path, out_dir: &Path, member: &str) -> PathBuf {
    let copy = out_dir.join(format!("{member}-{role}-proposal.json"));
    std::fs::copy(repo.join(format!("staged/{role}.json")), &copy).expect("copy proposal");
    let sig = out_dir.join(format!("{member}.{role}.sig.json"));
    ok(sigstack(&[
        "trust",
        "tuf",
        "sign",
        "--staged",
        p(&copy),
        "--key",
        p(key),
        "--out",
        p(&sig),
    ]));
    sig
}

fn python_tuf(url: &str, root: &Path, cache: &Path, out: &Path) -> Output {
    let mut cmd = Command::new(venv("python"));
    cmd.arg(repo_root().join("tests/clients/python/tuf_fetch.py"))
        .args([
            "--metadata-url",
            url,
            "--root",
            p(root),
            "--cache",
            p(cache),
            "--out",
            p(out),
        ]);
    run(cmd)
}

/// sigstore-python with its own home (its TUF state lives under ~/.local/share and ~/.cache).
fn sigstore_python(home: &Path, url: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(venv("sigstore"));
    cmd.env("HOME", home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .args(["--instance", url])
        .args(args);
    run(cmd)
}

fn python_bootstrap_and_verify(
    home: &Path,
    url: &str,
    root: &Path,
    bundle: &Path,
    artifact: &Path,
    issuer: &str,
) -> Output {
    if !home.join(".local").exists() {
        let out = sigstore_python(home, url, &["trust-instance", p(root)]);
        if !out.status.success() {
            return out;
        }
    }
    sigstore_python(
        home,
        url,
        &[
            "verify",
            "identity",
            "--bundle",
            p(bundle),
            "--cert-identity",
            ALICE,
            "--cert-oidc-issuer",
            issuer,
            p(artifact),
        ],
    )
}

fn sigstore_js(
    url: &str,
    root: &Path,
    cache: &Path,
    bundle: &Path,
    artifact: &Path,
    issuer: &str,
) -> Output {
    let mut cmd = Command::new("node");
    cmd.arg(repo_root().join("tests/clients/js/sjs-tuf.mjs"))
        .args([
            "--tuf-mirror-url",
            url,
            "--tuf-root",
            p(root),
            "--tuf-cache",
            p(cache),
            "--bundle",
            p(bundle),
            "--certificate-identity",
            ALICE,
            "--certificate-oidc-issuer",
            issuer,
            p(artifact),
        ]);
    run(cmd)
}

/// Highest `signed.version` among the `root.json` files a client cached under `dir`.
fn cached_root_version(dir: &Path) -> u64 {
    let mut best = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "root.json") {
                let v: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&path).expect("read root"))
                        .expect("root JSON");
                best = best.max(v["signed"]["version"].as_u64().unwrap_or(0));
            }
        }
    }
    best
}

struct Ceremony {
    keys: PathBuf,
    online_key: PathBuf,
}

/// A 2-of-3 root quorum and a 1-of-1 targets key publish version 1 of the stack's trust material.
fn first_publication(
    stack: &Stack,
    ws: &Workspace,
    repo: &Path,
    online_outside: bool,
    extra_init: &[&str],
) -> Ceremony {
    let keys = ws.path("keys");
    std::fs::create_dir_all(&keys).expect("keys dir");
    for member in ["alice", "bob", "carol", "tom"] {
        keygen(&keys, member);
    }
    let online_key = if online_outside {
        keys.join("online.pem")
    } else {
        repo.join("online-key.pem")
    };
    let trust = stack.trust_dir();
    let trusted_root = trust.join("trusted_root.json");
    let signing_config = trust.join("signing_config.json");
    let pubs: Vec<PathBuf> = ["alice", "bob", "carol", "tom"]
        .iter()
        .map(|m| keys.join(format!("{m}.pub")))
        .collect();
    let mut init = vec![
        "trust",
        "tuf",
        "init",
        "--repo",
        p(repo),
        "--root-key",
        p(&pubs[0]),
        "--root-key",
        p(&pubs[1]),
        "--root-key",
        p(&pubs[2]),
        "--root-threshold",
        "2",
        "--targets-key",
        p(&pubs[3]),
        "--online-key",
        p(&online_key),
        "--trusted-root",
        p(&trusted_root),
        "--signing-config",
        p(&signing_config),
    ];
    init.extend_from_slice(extra_init);
    ok(sigstack(&init));
    let sigs = ws.path("sigs-v1");
    std::fs::create_dir_all(&sigs).expect("sigs dir");
    let alice = member_sign(repo, "root", &keys.join("alice.pem"), &sigs, "alice");
    let tom = member_sign(repo, "targets", &keys.join("tom.pem"), &sigs, "tom");
    // One root signature is below the 2-of-3 threshold: refused, nothing published.
    let refused = publish(repo, &online_key, &[&alice, &tom]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("root v1: threshold not met"), "{stderr}");
    assert!(!repo.join("published/timestamp.json").exists());
    // The same member twice still counts once.
    let alice_again = ws.path("sigs-v1/alice-again.sig.json");
    std::fs::copy(&alice, &alice_again).expect("copy");
    let refused = publish(repo, &online_key, &[&alice, &alice_again, &tom]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("signed more than once"),
        "{}",
        show(&refused)
    );
    let bob = member_sign(repo, "root", &keys.join("bob.pem"), &sigs, "bob");
    ok(publish(repo, &online_key, &[&alice, &bob, &tom]));
    Ceremony { keys, online_key }
}

/// `sigstack trust tuf publish` of `repo` with the online key and the members' signatures.
fn publish(repo: &Path, online_key: &Path, signatures: &[&Path]) -> Output {
    let mut args = vec![
        "trust",
        "tuf",
        "publish",
        "--repo",
        p(repo),
        "--online-key",
        p(online_key),
    ];
    for signature in signatures {
        args.extend(["--signature", p(signature)]);
    }
    sigstack(&args)
}

/// A fresh stack and a blob (`artifact.txt` in the workspace) signed by sigstore-python
/// through its Rekor v2 into `py-v2.sigstore.json`: the bundle the clients verify through the
/// repository.
fn stack_with_a_signed_blob() -> (Stack, Workspace, PathBuf, PathBuf) {
    let stack = Stack::start();
    let ws = Workspace::new();
    let artifact = ws.path("artifact.txt");
    let bundle = ws.path("py-v2.sigstore.json");
    sign(
        Client::Python,
        &stack,
        &ws,
        Rekor::V2,
        Kind::Blob,
        &stack.token(ALICE),
        &bundle,
    )
    .expect("sign");
    (stack, ws, artifact, bundle)
}

#[test]
fn clients_bootstrap_from_the_tuf_repository_and_follow_a_root_rotation() {
    let (stack, ws, artifact, bundle) = stack_with_a_signed_blob();
    let issuer = stack.issuer();

    let repo = stack.data_dir.join("tuf");
    let ceremony = first_publication(&stack, &ws, &repo, false, &[]);
    let url = stack.tuf_url();
    let root_v1 = ws.path("1.root.json");
    std::fs::copy(repo.join("published/1.root.json"), &root_v1).expect("copy root");

    // python-tuf: the served targets are byte-identical to the stack's trust material.
    let ngclient_cache = ws.path("ngclient");
    let fetched = ws.path("fetched");
    let out = ok(python_tuf(&url, &root_v1, &ngclient_cache, &fetched));
    assert!(out.contains("root version 1"), "{out}");
    assert_eq!(
        std::fs::read(fetched.join("trusted_root.json")).expect("fetched"),
        std::fs::read(stack.trust_dir().join("trusted_root.json")).expect("local")
    );
    // sigstore-python and sigstore-js bootstrap and verify the stack's bundle.
    let py_home = ws.path("py-home");
    let js_cache = ws.path("js-cache");
    ok(python_bootstrap_and_verify(
        &py_home, &url, &root_v1, &bundle, &artifact, &issuer,
    ));
    ok(sigstore_js(
        &url, &root_v1, &js_cache, &bundle, &artifact, &issuer,
    ));
    // sigstore-python also signs with the signing config it got from the repository (Rekor v2
    // and the TSA), and sigstore-js verifies that bundle through the repository too.
    let via_tuf = ws.path("signed-via-tuf.sigstore.json");
    ok(sigstore_python(
        &py_home,
        &url,
        &[
            "sign",
            "--identity-token",
            &stack.token(ALICE),
            "--bundle",
            p(&via_tuf),
            p(&artifact),
        ],
    ));
    let entry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&via_tuf).expect("bundle")).expect("JSON");
    assert_eq!(
        entry["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["version"], "0.0.2",
        "signed through Rekor v2 as the published signing config says"
    );
    ok(sigstore_js(
        &url, &root_v1, &js_cache, &via_tuf, &artifact, &issuer,
    ));
    // A wrong identity is still refused through the TUF-fetched root.
    let wrong = sigstore_python(
        &py_home,
        &url,
        &[
            "verify",
            "identity",
            "--bundle",
            p(&bundle),
            "--cert-identity",
            "mallory@example.test",
            "--cert-oidc-issuer",
            &issuer,
            p(&artifact),
        ],
    );
    assert!(!wrong.status.success(), "{}", show(&wrong));

    // Root rotation: carol leaves, dave joins (root keys bob + dave, 2 of 2), and the online
    // key is replaced. The old quorum (alice, bob) and the new one (bob, dave) both sign.
    let keys = &ceremony.keys;
    keygen(keys, "dave");
    let (new_online, new_online_pub) = keygen(keys, "online2");
    ok(sigstack(&[
        "trust",
        "tuf",
        "stage-root",
        "--repo",
        p(&repo),
        "--remove-root-key",
        p(&keys.join("alice.pub")),
        "--remove-root-key",
        p(&keys.join("carol.pub")),
        "--add-root-key",
        p(&keys.join("dave.pub")),
        "--online-public-key",
        p(&new_online_pub),
    ]));
    let sigs = ws.path("sigs-v2");
    std::fs::create_dir_all(&sigs).expect("sigs");
    let by = |m: &str| member_sign(&repo, "root", &keys.join(format!("{m}.pem")), &sigs, m);
    let (alice, bob, dave) = (by("alice"), by("bob"), by("dave"));
    // Only the new quorum: the current root's threshold is not met.
    let refused = publish(&repo, &new_online, &[&bob, &dave]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(
            "root v2: threshold not met: 1 valid signature(s) from the current root's root keys"
        ),
        "{}",
        show(&refused)
    );
    ok(publish(&repo, &new_online, &[&alice, &bob, &dave]));
    std::fs::copy(&new_online, &ceremony.online_key).expect("install the new online key");

    // Second run of each client, from its cached state: each walks to root v2 (whose snapshot
    // and timestamp only the new online key signs) and still verifies.
    let out = ok(python_tuf(&url, &root_v1, &ngclient_cache, &fetched));
    assert!(out.contains("root version 2"), "{out}");
    ok(python_bootstrap_and_verify(
        &py_home, &url, &root_v1, &bundle, &artifact, &issuer,
    ));
    assert_eq!(cached_root_version(&py_home), 2);
    ok(sigstore_js(
        &url, &root_v1, &js_cache, &bundle, &artifact, &issuer,
    ));
    assert_eq!(cached_root_version(&js_cache), 2);
}

/// Sign a timestamp that points back at an older snapshot with the online key, as an attacker
/// holding that key would (python-tuf's metadata API, independent of Sigstack's code).
const ROLLBACK_SCRIPT: &str = r#"
import hashlib, sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner, Signature
from tuf.api.metadata import Metadata, MetaFile
published, key_path, old = sys.argv[1], sys.argv[2], int(sys.argv[3])
ts = Metadata.from_file(f"{published}/timestamp.json")
data = open(f"{published}/{old}.snapshot.json", "rb").read()
ts.signed.version += 1
ts.signed.snapshot_meta = MetaFile(version=old, length=len(data), hashes={"sha256": hashlib.sha256(data).hexdigest()})
keyid = next(iter(ts.signatures))
signer = CryptoSigner(load_pem_private_key(open(key_path, "rb").read(), None))
sig = signer.sign(ts.signed_bytes)
ts.signatures.clear()
ts.signatures[keyid] = Signature(keyid, sig.signature)
ts.to_file(f"{published}/timestamp.json")
"#;

#[test]
fn clients_refuse_a_tampered_target_a_rolled_back_snapshot_and_an_expired_timestamp() {
    let (stack, ws, artifact, bundle) = stack_with_a_signed_blob();
    let issuer = stack.issuer();
    // The online key stays outside the served repository so the stack does not re-sign it
    // behind the test's back.
    let repo = stack.data_dir.join("tuf");
    let ceremony = first_publication(&stack, &ws, &repo, true, &[]);
    let online = p(&ceremony.online_key).to_string();
    let url = stack.tuf_url();
    let published = repo.join("published");
    let root_v1 = published.join("1.root.json");
    let fresh = |name: &str| ws.path(&format!("{name}-{}", std::process::id()));

    // Bootstrapped clients with state.
    let ngclient_cache = ws.path("ngclient");
    ok(python_tuf(&url, &root_v1, &ngclient_cache, &ws.path("out")));
    let py_home = ws.path("py-home");
    ok(python_bootstrap_and_verify(
        &py_home, &url, &root_v1, &bundle, &artifact, &issuer,
    ));

    // 1. A tampered target: same length, one byte changed.
    let target = std::fs::read_dir(published.join("targets"))
        .expect("targets")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".trusted_root.json"))
        .expect("trusted_root target");
    let original = std::fs::read(&target).expect("read");
    let mut tampered = original.clone();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b' ' { b'\t' } else { b' ' };
    std::fs::write(&target, &tampered).expect("tamper");
    let out = python_tuf(&url, &root_v1, &fresh("ng-tamper"), &ws.path("out-tamper"));
    refused(
        &out,
        "python-tuf given a tampered target",
        "LengthOrHashMismatchError",
    );
    let out = python_bootstrap_and_verify(
        &fresh("py-tamper"),
        &url,
        &root_v1,
        &bundle,
        &artifact,
        &issuer,
    );
    refused(
        &out,
        "sigstore-python given a tampered target",
        "Failed to download trusted key bundle",
    );
    let out = sigstore_js(
        &url,
        &root_v1,
        &fresh("js-tamper"),
        &bundle,
        &artifact,
        &issuer,
    );
    refused(
        &out,
        "sigstore-js given a tampered target",
        "error downloading target",
    );
    std::fs::write(&target, &original).expect("restore");

    // 2. A rolled-back snapshot: clients have seen snapshot v3; a timestamp signed with the
    //    online key then points at snapshot v2.
    for _ in 0..2 {
        ok(sigstack(&[
            "trust",
            "tuf",
            "refresh",
            "--repo",
            p(&repo),
            "--online-key",
            &online,
            "--force",
        ]));
    }
    let out = ok(python_tuf(&url, &root_v1, &ngclient_cache, &ws.path("out")));
    assert!(out.contains("root version 1"), "{out}");
    ok(python_bootstrap_and_verify(
        &py_home, &url, &root_v1, &bundle, &artifact, &issuer,
    ));
    let js_state = ws.path("js-state");
    ok(sigstore_js(
        &url, &root_v1, &js_state, &bundle, &artifact, &issuer,
    ));
    let good_timestamp = std::fs::read(published.join("timestamp.json")).expect("timestamp");
    let script = ws.path("rollback.py");
    std::fs::write(&script, ROLLBACK_SCRIPT).expect("script");
    let mut cmd = Command::new(venv("python"));
    cmd.arg(&script).args([p(&published), &online, "2"]);
    ok(run(cmd));
    let out = python_tuf(&url, &root_v1, &ngclient_cache, &ws.path("out"));
    refused(
        &out,
        "python-tuf given a rolled-back snapshot",
        "BadVersionNumberError",
    );
    let out = python_bootstrap_and_verify(&py_home, &url, &root_v1, &bundle, &artifact, &issuer);
    refused(
        &out,
        "sigstore-python given a rolled-back snapshot",
        "Failed to refresh TUF metadata",
    );
    let out = sigstore_js(&url, &root_v1, &js_state, &bundle, &artifact, &issuer);
    refused(
        &out,
        "sigstore-js given a rolled-back snapshot",
        "error refreshing TUF metadata",
    );
    std::fs::write(published.join("timestamp.json"), &good_timestamp).expect("restore");

    // 3. An expired timestamp.
    ok(sigstack(&[
        "trust",
        "tuf",
        "refresh",
        "--repo",
        p(&repo),
        "--online-key",
        &online,
        "--force",
        "--timestamp-lifetime",
        "1s",
    ]));
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = python_tuf(
        &url,
        &root_v1,
        &fresh("ng-expired"),
        &ws.path("out-expired"),
    );
    refused(
        &out,
        "python-tuf given an expired timestamp",
        "ExpiredMetadataError",
    );
    let out = python_bootstrap_and_verify(
        &fresh("py-expired"),
        &url,
        &root_v1,
        &bundle,
        &artifact,
        &issuer,
    );
    refused(
        &out,
        "sigstore-python given an expired timestamp",
        "Failed to refresh TUF metadata",
    );
    let out = sigstore_js(
        &url,
        &root_v1,
        &fresh("js-expired"),
        &bundle,
        &artifact,
        &issuer,
    );
    refused(
        &out,
        "sigstore-js given an expired timestamp",
        "error refreshing TUF metadata",
    );
    // Re-signing with the online key heals the repository for everyone.
    ok(sigstack(&[
        "trust",
        "tuf",
        "refresh",
        "--repo",
        p(&repo),
        "--online-key",
        &online,
    ]));
    ok(python_tuf(
        &url,
        &root_v1,
        &fresh("ng-healed"),
        &ws.path("out-healed"),
    ));
    ok(sigstore_js(
        &url,
        &root_v1,
        &fresh("js-healed"),
        &bundle,
        &artifact,
        &issuer,
    ));
}

#[test]
fn the_service_re_signs_the_timestamp_before_it_expires() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let stack = Stack::start_with(
        &tmp.path().join("data"),
        &["--tuf-refresh-seconds", "1"],
        &[],
    );
    let ws = Workspace::new();
    let repo = stack.data_dir.join("tuf");
    first_publication(
        &stack,
        &ws,
        &repo,
        false,
        &["--timestamp-lifetime", "4s", "--snapshot-lifetime", "6s"],
    );
    let url = stack.tuf_url();
    let root_v1 = repo.join("published/1.root.json");
    let timestamp_version = || {
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(repo.join("published/timestamp.json")).expect("timestamp"),
        )
        .expect("JSON");
        v["signed"]["version"].as_u64().unwrap_or(0)
    };
    assert_eq!(timestamp_version(), 1);
    // Past the first timestamp's 4 s lifetime, clients still get fresh metadata.
    std::thread::sleep(std::time::Duration::from_millis(5500));
    assert!(timestamp_version() >= 2, "the service did not re-sign");
    let out = ok(python_tuf(
        &url,
        &root_v1,
        &ws.path("ngclient"),
        &ws.path("out"),
    ));
    assert!(out.contains("root version 1"), "{out}");
    // Expiry of every role is exported for alerting.
    let mut cmd = Command::new(venv("python"));
    cmd.args([
        "-c",
        "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())",
        &format!("{url}/metrics"),
    ]);
    let metrics = ok(run(cmd));
    for role in ["root", "targets", "snapshot", "timestamp"] {
        let line = format!("sigstack_tuf_metadata_expires_timestamp_seconds{{role=\"{role}\"}} ");
        assert!(metrics.contains(&line), "{line:?} missing from\n{metrics}");
    }
}
