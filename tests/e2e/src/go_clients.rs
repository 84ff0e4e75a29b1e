//! The Go clients under test: cosign v3 (blobs, attestations and container images), the
//! sigstore-go test client (`tests/clients/go`), and a loopback OCI registry served by `crane`.
//!
//! All three are installed into `.tools/go/bin` by `scripts/install-clients.sh`. cosign takes its
//! trust material only from the files the stack writes (`--trusted-root`, `--signing-config`),
//! the way an operator of a private instance bootstraps it without TUF.

use std::io::{BufRead as _, BufReader};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{Kind, Workspace, repo_root, run};

/// The predicate type every attestation in the tests carries (SLSA provenance v1).
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// A binary installed in `.tools/go/bin`.
///
/// # Panics
/// When it is not installed.
#[must_use]
pub fn go_bin(name: &str) -> PathBuf {
    let path = repo_root().join(".tools/go/bin").join(name);
    assert!(
        path.exists(),
        "{} does not exist: run scripts/install-clients.sh first",
        path.display()
    );
    path
}

/// A `cosign` command that keeps its caches out of the user's home directory.
#[must_use]
pub fn cosign() -> Command {
    let mut cmd = Command::new(go_bin("cosign"));
    let home = std::env::temp_dir().join("sigstack-e2e-cosign-home");
    cmd.env("HOME", &home).env("TUF_ROOT", home.join("tuf"));
    cmd
}

/// Write `token` to a file for cosign: `--identity-token` takes a raw token only when it parses
/// as an RS256 JWT (cosign 3.1.2, `internal/auth`); any other value, such as the stack's ES256
/// tokens, is read as a path, and the file's content is used verbatim (no trailing newline).
///
/// # Panics
/// On I/O errors.
#[must_use]
pub fn token_file(token: &str, path: &Path) -> PathBuf {
    std::fs::write(path, token.trim()).expect("write token");
    path.to_path_buf()
}

/// `cosign sign-blob` (blob) or `cosign attest-blob --statement` (the workspace's in-toto v1
/// statement, as the other clients sign it) with the services of `signing_config`, writing a
/// protobuf bundle to `bundle`.
#[must_use]
pub fn cosign_sign(
    trusted_root: &Path,
    signing_config: &Path,
    ws: &Workspace,
    kind: Kind,
    token: &str,
    bundle: &Path,
) -> Command {
    let token = token_file(token, &bundle.with_extension("token"));
    let mut cmd = cosign();
    match kind {
        Kind::Blob => {
            cmd.arg("sign-blob");
        }
        Kind::InToto => {
            cmd.arg("attest-blob")
                .arg("--statement")
                .arg(ws.path("statement.json"));
        }
    }
    cmd.args(["--yes", "--identity-token"])
        .arg(&token)
        .arg("--trusted-root")
        .arg(trusted_root)
        .arg("--signing-config")
        .arg(signing_config)
        .arg("--bundle")
        .arg(bundle)
        .arg(ws.path("artifact.txt"));
    cmd
}

/// `cosign verify-blob` for a message-signature bundle, `cosign verify-blob-attestation` for a
/// DSSE bundle (which also checks the in-toto subject against `artifact`).
#[must_use]
pub fn cosign_verify(
    trusted_root: &Path,
    bundle: &Path,
    artifact: &Path,
    identity: &str,
    issuer: &str,
) -> Command {
    let is_dsse = std::fs::read_to_string(bundle)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|v| v.get("dsseEnvelope").is_some());
    let mut cmd = cosign();
    if is_dsse {
        cmd.arg("verify-blob-attestation")
            .args(["--type", SLSA_PROVENANCE_V1]);
    } else {
        cmd.arg("verify-blob");
    }
    cmd.arg("--bundle")
        .arg(bundle)
        .args(["--certificate-identity", identity])
        .args(["--certificate-oidc-issuer", issuer])
        .arg("--trusted-root")
        .arg(trusted_root)
        .arg(artifact);
    cmd
}

/// An OCI registry on loopback (`crane registry serve`, in memory); killed when dropped.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
}

impl Registry {
    /// Start the registry on a free loopback port.
    ///
    /// # Panics
    /// When it does not report its port within 30 s.
    #[must_use]
    pub fn start() -> Self {
        let mut child = Command::new(go_bin("crane"))
            .args(["registry", "serve", "--address", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn crane registry serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(port) = line.split("serving on port ").nth(1) {
                    let _ = tx.send(port.trim().to_string());
                    sent = true;
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("crane registry did not report its port");
        let host = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&host).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry at {host} not reachable"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, host }
    }

    /// Push a one-layer image whose only file holds `content` to `REGISTRY/repo:tag`; returns
    /// the pushed image's digest (`sha256:...`).
    ///
    /// # Panics
    /// When `tar` or `crane` fail.
    #[must_use]
    pub fn push_image(&self, dir: &Path, repo_tag: &str, content: &str) -> String {
        let layer_dir = dir.join(format!("layer-{}", hex::encode(repo_tag)));
        std::fs::create_dir_all(&layer_dir).expect("mkdir");
        std::fs::write(layer_dir.join("hello.txt"), content).expect("write");
        let tarball = layer_dir.with_extension("tar");
        let out = run({
            let mut c = Command::new("tar");
            c.arg("-cf")
                .arg(&tarball)
                .arg("-C")
                .arg(&layer_dir)
                .arg("hello.txt");
            c
        });
        assert!(out.status.success(), "tar: {out:?}");
        let reference = self.reference(repo_tag);
        let out = run({
            let mut c = Command::new(go_bin("crane"));
            c.args(["append", "--oci-empty-base", "-f"])
                .arg(&tarball)
                .args(["-t", &reference]);
            c
        });
        assert!(out.status.success(), "crane append: {}", output_text(&out));
        self.digest(repo_tag)
    }

    /// The digest `REGISTRY/repo:tag` currently points at.
    ///
    /// # Panics
    /// When `crane digest` fails.
    #[must_use]
    pub fn digest(&self, repo_tag: &str) -> String {
        let out = run({
            let mut c = Command::new(go_bin("crane"));
            c.args(["digest", &self.reference(repo_tag)]);
            c
        });
        assert!(out.status.success(), "crane digest: {}", output_text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `REGISTRY/name`.
    #[must_use]
    pub fn reference(&self, name: &str) -> String {
        format!("{}/{name}", self.host)
    }

    /// The Sigstore bundles attached to `repo@digest` through the OCI referrers API, parsed.
    ///
    /// # Panics
    /// When `crane` fails or a manifest is not JSON.
    #[must_use]
    pub fn referrer_bundles(&self, repo: &str, digest: &str) -> Vec<serde_json::Value> {
        // The loopback registry has no referrers API, so cosign keeps the referrers index under
        // the fallback tag `sha256-<hex>` (OCI distribution spec 1.1, "referrers tag schema").
        let index = crane_json(&[
            "manifest",
            &format!("{}/{repo}:{}", self.host, digest.replace(':', "-")),
        ]);
        let mut bundles = Vec::new();
        for m in index["manifests"].as_array().cloned().unwrap_or_default() {
            let artifact_type = m["artifactType"].as_str().unwrap_or_default();
            if !artifact_type.starts_with("application/vnd.dev.sigstore.bundle") {
                continue;
            }
            let manifest_digest = m["digest"].as_str().unwrap_or_default();
            let manifest = crane_json(&[
                "manifest",
                &format!("{}/{repo}@{manifest_digest}", self.host),
            ]);
            for layer in manifest["layers"].as_array().cloned().unwrap_or_default() {
                let blob = layer["digest"].as_str().unwrap_or_default();
                bundles.push(crane_json(&[
                    "blob",
                    &format!("{}/{repo}@{blob}", self.host),
                ]));
            }
        }
        bundles
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn crane_json(args: &[&str]) -> serde_json::Value {
    let out = run({
        let mut c = Command::new(go_bin("crane"));
        c.args(args);
        c
    });
    assert!(
        out.status.success(),
        "crane {args:?}: {}",
        output_text(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("crane {args:?} output: {e}"))
}

/// A process's status, stdout and stderr as one text.
#[must_use]
pub fn output_text(out: &Output) -> String {
    format!(
        "{}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
