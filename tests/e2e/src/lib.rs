//! Harness for Sigstack's end-to-end tests: start the real `sigstack` binary on a fresh data
//! directory with free ports, and run the real Sigstore clients against it.
//!
//! The binary is expected at `target/debug/sigstack` (or `$SIGSTACK_BIN`): `scripts/test.sh`
//! builds it before running the tests. The clients are installed by `scripts/install-clients.sh`:
//! sigstore-python in `.tools/venv`, sigstore-js in `tests/clients/js/node_modules`, the
//! sigstore-rust test client in `tests/rust-client/target/release`, and cosign, crane and the
//! sigstore-go test client in `.tools/go/bin` (see [`go_clients`]).

pub mod go_clients;
mod idp;
pub mod rekor_v1;

pub use idp::TestIdp;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest as _;

/// The repository root.
#[must_use]
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// Path of the `sigstack` binary under test.
///
/// # Panics
/// When the binary has not been built.
#[must_use]
pub fn sigstack_bin() -> PathBuf {
    let path = std::env::var_os("SIGSTACK_BIN").map_or_else(
        || {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| repo_root().join("target"), PathBuf::from);
            target.join("debug").join("sigstack")
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "{} does not exist: run `cargo build -p sigstack` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// `sigstack up --data-dir DATA_DIR` with every service on a port the OS chooses; add flags and
/// environment variables before spawning it.
#[must_use]
pub fn up_command(data_dir: &Path) -> Command {
    let mut up = Command::new(sigstack_bin());
    up.args(["up", "--data-dir"]).arg(data_dir);
    for service in [
        "fulcio", "ctlog", "rekor-v1", "rekor-v2", "tsa", "oidc", "tuf",
    ] {
        up.arg(format!("--{service}-port")).arg("0");
    }
    up
}

/// A running stack on its own data directory; killed when dropped.
pub struct Stack {
    child: Option<Child>,
    /// The data directory (kept across restarts).
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// `trust/trust_config.json` parsed.
    pub trust_config: serde_json::Value,
}

impl Stack {
    /// Start a stack on a fresh temporary data directory.
    ///
    /// # Panics
    /// When the stack does not come up within a minute.
    #[must_use]
    pub fn start() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().join("data");
        let mut stack = Self::start_on(&data_dir);
        stack._tmp = Some(tmp);
        stack
    }

    /// Start a stack on `data_dir` (ports chosen by the OS).
    ///
    /// # Panics
    /// When the stack does not come up within a minute.
    #[must_use]
    pub fn start_on(data_dir: &Path) -> Self {
        Self::start_with::<&str>(data_dir, &[], &[])
    }

    /// Start a stack on a fresh temporary data directory with extra `sigstack up` arguments.
    ///
    /// # Panics
    /// When the stack does not come up within a minute.
    #[must_use]
    pub fn start_fresh_with(extra_args: &[&std::ffi::OsStr]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().join("data");
        let mut stack = Self::start_with(&data_dir, extra_args, &[]);
        stack._tmp = Some(tmp);
        stack
    }

    /// Start a stack on `data_dir` with extra `sigstack up` flags and environment variables.
    ///
    /// # Panics
    /// When the stack does not come up within a minute.
    #[must_use]
    pub fn start_with<S: AsRef<std::ffi::OsStr>>(
        data_dir: &Path,
        extra_args: &[S],
        envs: &[(&str, &Path)],
    ) -> Self {
        let ready = data_dir.join("trust").join("ready");
        let _ = std::fs::remove_file(&ready);
        let log = std::fs::File::create(data_dir.with_extension("log")).expect("log file");
        let child = up_command(data_dir)
            .envs(envs.iter().map(|(k, v)| (*k, *v)))
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn sigstack");
        let mut stack = Self {
            child: Some(child),
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
            trust_config: serde_json::Value::Null,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready.exists() {
            if let Some(Ok(Some(status))) = stack.child.as_mut().map(Child::try_wait) {
                panic!("sigstack exited with {status}: {}", stack.log());
            }
            assert!(
                Instant::now() < deadline,
                "sigstack did not become ready: {}",
                stack.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let text = std::fs::read_to_string(stack.trust_dir().join("trust_config.json"))
            .expect("trust config");
        stack.trust_config = serde_json::from_str(&text).expect("trust config JSON");
        stack
    }

    /// Run `sigstack up` on `data_dir` and expect it to refuse to start; returns what it wrote
    /// to stderr.
    ///
    /// # Panics
    /// When the stack starts (becomes ready) or hangs for a minute instead.
    #[must_use]
    pub fn refused_start(data_dir: &Path) -> String {
        Self::expect_refusal(up_command(data_dir), data_dir)
    }

    /// Run a prepared `sigstack up` command (see [`up_command`]) for `data_dir` and expect it to
    /// refuse to start; returns what it wrote to stderr.
    ///
    /// # Panics
    /// When the stack starts (becomes ready) or hangs for a minute instead.
    #[must_use]
    pub fn expect_refusal(mut up: Command, data_dir: &Path) -> String {
        let ready = data_dir.join("trust").join("ready");
        let _ = std::fs::remove_file(&ready);
        let mut child = up
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sigstack");
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if ready.exists() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("sigstack up started on {}", data_dir.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        assert!(!status.success(), "refusing to start exits non-zero");
        stderr
    }

    /// The process ID of the running `sigstack` process.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What the stack wrote to stderr so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_extension("log")).unwrap_or_default()
    }

    /// `DIR/trust`.
    #[must_use]
    pub fn trust_dir(&self) -> PathBuf {
        self.data_dir.join("trust")
    }

    /// The TUF repository URL `sigstack up` serves (`trust/tuf.json`).
    ///
    /// # Panics
    /// When the file is missing.
    #[must_use]
    pub fn tuf_url(&self) -> String {
        let text =
            std::fs::read_to_string(self.trust_dir().join("tuf.json")).expect("trust/tuf.json");
        let v: serde_json::Value = serde_json::from_str(&text).expect("tuf.json");
        v["url"].as_str().unwrap_or_default().to_string()
    }

    /// The local OIDC issuer URL.
    #[must_use]
    pub fn issuer(&self) -> String {
        self.trust_config["signingConfig"]["oidcUrls"][0]["url"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Base URL of a service from the trust material: `fulcio`, `rekor-v1`, `rekor-v2`, `ctlog`, `tsa`.
    #[must_use]
    pub fn url(&self, service: &str) -> String {
        let tr = &self.trust_config["trustedRoot"];
        let v = match service {
            "fulcio" => &tr["certificateAuthorities"][0]["uri"],
            "rekor-v1" => &tr["tlogs"][0]["baseUrl"],
            "rekor-v2" => &tr["tlogs"][1]["baseUrl"],
            "ctlog" => &tr["ctlogs"][0]["baseUrl"],
            "tsa" => &tr["timestampAuthorities"][0]["uri"],
            other => panic!("unknown service {other}"),
        };
        v.as_str().unwrap_or_default().to_string()
    }

    /// A token for `email` from `sigstack token`.
    ///
    /// # Panics
    /// When the command fails.
    #[must_use]
    pub fn token(&self, email: &str) -> String {
        self.token_with(&["--email", email])
    }

    /// A workload token (URI subject, no email) from `sigstack token --subject`.
    ///
    /// # Panics
    /// When the command fails.
    #[must_use]
    pub fn workload_token(&self, subject: &str) -> String {
        self.token_with(&["--subject", subject])
    }

    fn token_with(&self, identity: &[&str]) -> String {
        let out = Command::new(sigstack_bin())
            .args(["token", "--data-dir"])
            .arg(&self.data_dir)
            .args(identity)
            .output()
            .expect("sigstack token");
        assert!(
            out.status.success(),
            "sigstack token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Send SIGKILL (no shutdown path runs).
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stop with SIGTERM and wait for a clean exit.
    ///
    /// # Panics
    /// When the process does not exit cleanly within 30 s.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(
                        status.success(),
                        "sigstack exited with {status}: {}",
                        self.log()
                    );
                    return;
                }
                assert!(Instant::now() < deadline, "sigstack did not stop");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// A client family under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// sigstore-python (PyPI `sigstore`).
    Python,
    /// sigstore-js (npm `sigstore` / `@sigstore/sign` / `@sigstore/verify`).
    Js,
    /// sigstore-rust (crates `sigstore-sign` / `sigstore-verify`).
    Rust,
    /// cosign v3 (`sign-blob`, `attest-blob`, `verify-blob`, `verify-blob-attestation`).
    Cosign,
    /// sigstore-go (Go module `github.com/sigstore/sigstore-go`, through `tests/clients/go`).
    Go,
}

impl Client {
    /// Every client.
    pub const ALL: [Client; 5] = [
        Client::Python,
        Client::Js,
        Client::Rust,
        Client::Cosign,
        Client::Go,
    ];

    /// Short name for file names and messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Client::Python => "py",
            Client::Js => "js",
            Client::Rust => "rs",
            Client::Cosign => "cosign",
            Client::Go => "go",
        }
    }
}

/// Which Rekor API a signature goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rekor {
    /// `/api/v1/log/entries`.
    V1,
    /// `/api/v2/log/entries`.
    V2,
}

/// What gets signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A blob (message signature).
    Blob,
    /// An in-toto statement about the blob (DSSE).
    InToto,
}

/// `.tools` (sigstore-python lives in `.tools/venv`).
#[must_use]
pub fn tools() -> PathBuf {
    repo_root().join(".tools")
}

pub(crate) fn run(mut cmd: Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.output()
        .unwrap_or_else(|e| panic!("running {shown}: {e}"))
}

/// Paths of one signing scenario's inputs.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    /// A scratch directory with `artifact.txt` and an in-toto statement about it.
    ///
    /// # Panics
    /// On I/O errors.
    #[must_use]
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let artifact = b"hello from sigstack end-to-end tests\n";
        std::fs::write(dir.path().join("artifact.txt"), artifact).expect("write");
        let digest = hex::encode(sha2::Sha256::digest(artifact));
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{ "name": "artifact.txt", "digest": { "sha256": digest } }],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {
                "buildDefinition": {
                    "buildType": "https://sigstack.test/e2e",
                    "externalParameters": {}
                },
                "runDetails": { "builder": { "id": "https://sigstack.test/builder" } }
            }
        });
        std::fs::write(dir.path().join("statement.json"), statement.to_string()).expect("write");
        std::fs::write(
            dir.path().join("predicate.json"),
            statement["predicate"].to_string(),
        )
        .expect("write");
        Self { dir }
    }

    /// A file in the workspace.
    #[must_use]
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Sign with `client`, writing a bundle to `bundle`. Returns the client's output on failure.
///
/// # Errors
/// The client's combined output when it fails.
pub fn sign(
    client: Client,
    stack: &Stack,
    ws: &Workspace,
    rekor: Rekor,
    kind: Kind,
    token: &str,
    bundle: &Path,
) -> Result<(), String> {
    let trust = stack.trust_dir();
    let (trust_config, signing_config) = match rekor {
        Rekor::V1 => (
            trust.join("trust_config.rekor-v1.json"),
            trust.join("signing_config.rekor-v1.json"),
        ),
        Rekor::V2 => (
            trust.join("trust_config.json"),
            trust.join("signing_config.json"),
        ),
    };
    let out = match client {
        Client::Python => {
            let mut cmd = Command::new(tools().join("venv/bin/sigstore"));
            cmd.arg("--trust-config").arg(&trust_config);
            match kind {
                Kind::Blob => {
                    cmd.args(["sign", "--identity-token", token, "--bundle"])
                        .arg(bundle);
                }
                Kind::InToto => {
                    cmd.args([
                        "attest",
                        "--identity-token",
                        token,
                        "--predicate-type",
                        "https://slsa.dev/provenance/v1",
                        "--predicate",
                    ])
                    .arg(ws.path("predicate.json"))
                    .arg("--bundle")
                    .arg(bundle);
                }
            }
            cmd.arg(ws.path("artifact.txt"));
            run(cmd)
        }
        Client::Cosign => run(go_clients::cosign_sign(
            &trust.join("trusted_root.json"),
            &signing_config,
            ws,
            kind,
            token,
            bundle,
        )),
        Client::Js | Client::Rust | Client::Go => {
            let mut cmd = conformance_client(client);
            cmd.args(["sign-bundle", "--identity-token", token, "--bundle"])
                .arg(bundle)
                .arg("--trusted-root")
                .arg(trust.join("trusted_root.json"))
                .arg("--signing-config")
                .arg(&signing_config);
            match kind {
                Kind::Blob => cmd.arg(ws.path("artifact.txt")),
                Kind::InToto => cmd.arg("--in-toto").arg(ws.path("statement.json")),
            };
            run(cmd)
        }
    };
    if out.status.success() && bundle.exists() {
        Ok(())
    } else {
        Err(format!(
            "{} sign {rekor:?} {kind:?} failed ({}):\n{}\n{}",
            client.name(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Verify `bundle` over `artifact` with `client`, requiring `identity` and `issuer`.
///
/// # Errors
/// The client's combined output when verification fails.
pub fn verify(
    client: Client,
    stack: &Stack,
    bundle: &Path,
    artifact: &Path,
    identity: &str,
    issuer: &str,
) -> Result<(), String> {
    let trust = stack.trust_dir();
    let out = match client {
        Client::Python => {
            let mut cmd = Command::new(tools().join("venv/bin/sigstore"));
            cmd.arg("--trust-config")
                .arg(trust.join("trust_config.json"))
                .args(["verify", "identity", "--bundle"])
                .arg(bundle)
                .args(["--cert-identity", identity, "--cert-oidc-issuer", issuer])
                .arg(artifact);
            run(cmd)
        }
        Client::Cosign => run(go_clients::cosign_verify(
            &trust.join("trusted_root.json"),
            bundle,
            artifact,
            identity,
            issuer,
        )),
        Client::Js | Client::Rust | Client::Go => {
            let mut cmd = conformance_client(client);
            cmd.args(["verify-bundle", "--bundle"])
                .arg(bundle)
                .args([
                    "--certificate-identity",
                    identity,
                    "--certificate-oidc-issuer",
                    issuer,
                ])
                .arg("--trusted-root")
                .arg(trust.join("trusted_root.json"))
                .arg(artifact);
            run(cmd)
        }
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} verify failed ({}):\n{}\n{}",
            client.name(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Sign `statement` with the `@sigstore/cli` `attest` command (Rekor v1, in-toto 0.0.2 entry),
/// writing a bundle to `bundle`.
///
/// # Errors
/// The CLI's output when it fails.
pub fn js_cli_attest(
    stack: &Stack,
    statement: &Path,
    token: &str,
    bundle: &Path,
) -> Result<(), String> {
    let js = repo_root().join("tests/clients/js");
    let mut cmd = Command::new(js.join("node_modules/.bin/sigstore"));
    cmd.current_dir(&js)
        .env("CI", "true")
        .env("SIGSTORE_ID_TOKEN", token)
        .arg("attest")
        .arg(statement)
        .args(["--fulcio-url", &stack.url("fulcio")])
        .args(["--rekor-url", &stack.url("rekor-v1")])
        .args(["--tsa-server-url", &stack.url("tsa")])
        .arg("-o")
        .arg(bundle);
    let out = run(cmd);
    if out.status.success() && bundle.exists() {
        Ok(())
    } else {
        Err(format!(
            "@sigstore/cli attest failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn rust_client() -> PathBuf {
    repo_root().join("tests/rust-client/target/release/sigstack-rust-client")
}

/// The test client of `client` that speaks the sigstore-conformance argument protocol.
fn conformance_client(client: Client) -> Command {
    match client {
        Client::Js => {
            let mut c = Command::new("node");
            c.arg(repo_root().join("tests/clients/js/sjs.mjs"));
            c
        }
        Client::Rust => Command::new(rust_client()),
        Client::Go => Command::new(go_clients::go_bin("sigstack-go-client")),
        other => panic!("{} has no conformance-style test client", other.name()),
    }
}

/// A key-signed hashedrekord `ProposedEntry` (Rekor v1) over `artifact`, for load and durability
/// tests that submit entries directly.
///
/// # Panics
/// If the key cannot sign.
#[must_use]
pub fn signed_hashedrekord(
    signer: &dyn sigstack_keys::Signer,
    artifact: &str,
) -> serde_json::Value {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let digest = sigstack_keys::sha256(artifact.as_bytes());
    let signature = signer.sign(artifact.as_bytes()).expect("sign");
    let pem = signer.public_key().expect("public key").to_pem();
    serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "signature": {
                "content": STANDARD.encode(signature),
                "publicKey": { "content": STANDARD.encode(pem) }
            },
            "data": { "hash": { "algorithm": "sha256", "value": hex::encode(digest) } }
        }
    })
}
