//! Key custody on a real SoftHSM2 token: `sigstack ca` makes a root and the Fulcio and TSA
//! certificates with keys generated on the token, the log keys are generated there too, and
//! `sigstack up` serves with every service key on the token (none in the data directory).
//! sigstore-python signs and verifies through Rekor v1 and v2 (the v2 path uses the TSA).
//! When the token goes away, signing answers 503 and nothing is issued.
//!
//! Skipped, with a printed reason, only when softhsm2 is not installed; `.ci/run` installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sigstack_e2e::{Client, Kind, Rekor, Stack, Workspace, sign, sigstack_bin, verify};
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer as _};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "sigstack-e2e";
const ALICE: &str = "alice@example.test";

struct Token {
    dir: tempfile::TempDir,
}

impl Token {
    fn create() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("tokens")).expect("mkdir");
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.path().join("tokens").display()
            ),
        )
        .expect("conf");
        std::fs::write(dir.path().join("pin"), "e2e-user-pin\n").expect("pin");
        let token = Self { dir };
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", token.conf())
            .args(["--init-token", "--free", "--label", TOKEN])
            .args(["--so-pin", "e2e-so-pin", "--pin", "e2e-user-pin"])
            .output()
            .expect("softhsm2-util");
        assert!(out.status.success(), "{out:?}");
        token
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    fn key(&self, label: &str) -> String {
        format!(
            "pkcs11:token={TOKEN};object={label}?module-path={MODULE}&pin-source={}",
            self.dir.path().join("pin").display()
        )
    }

    fn sigstack(&self, args: &[&str]) -> String {
        let out = Command::new(sigstack_bin())
            .env("SOFTHSM2_CONF", self.conf())
            .args(args)
            .output()
            .expect("sigstack");
        assert!(
            out.status.success(),
            "sigstack {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Whether SoftHSM2 is missing (then the test is skipped, saying so).
fn softhsm_missing() -> bool {
    let missing = !Path::new(MODULE).exists()
        || Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_err();
    if missing {
        eprintln!("SKIPPED: softhsm2 is not installed (apt-get install softhsm2)");
    }
    missing
}

#[test]
fn every_service_signs_with_keys_on_a_softhsm_token() {
    if softhsm_missing() {
        return;
    }
    let token = Token::create();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let data_arg = data.to_str().expect("utf-8");
    let root_cert = tmp.path().join("offline-root.pem");
    let root_arg = root_cert.to_str().expect("utf-8");

    // The ceremony: a root on the token, then the Fulcio intermediate and the TSA certificate.
    token.sigstack(&[
        "ca",
        "create-root",
        "--key",
        &token.key("root"),
        "--generate",
        "--cert",
        root_arg,
    ]);
    for (purpose, label) in [("fulcio", "fulcio-ca"), ("tsa", "tsa")] {
        token.sigstack(&[
            "ca",
            "create-intermediate",
            "--data-dir",
            data_arg,
            "--for",
            purpose,
            "--root-cert",
            root_arg,
            "--root-key",
            &token.key("root"),
            "--key",
            &token.key(label),
            "--generate",
        ]);
    }
    for (label, algorithm) in [
        ("rekor-v1", "p256"),
        ("rekor-v2", "ed25519"),
        ("ctlog", "p256"),
    ] {
        let pem = token.sigstack(&[
            "ca",
            "generate-key",
            "--key",
            &token.key(label),
            "--algorithm",
            algorithm,
        ]);
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    }

    let flags: Vec<String> = [
        ("--fulcio-ca-key", "fulcio-ca"),
        ("--tsa-key", "tsa"),
        ("--rekor-v1-key", "rekor-v1"),
        ("--rekor-v2-key", "rekor-v2"),
        ("--ctlog-key", "ctlog"),
    ]
    .into_iter()
    .flat_map(|(flag, label)| [flag.to_string(), token.key(label)])
    .collect();
    let conf = token.conf();
    let mut stack = Stack::start_with(&data, &flags, &[("SOFTHSM2_CONF", &conf)]);

    // No service's private key is in the data directory (the local OIDC issuer's is, and
    // is not a CA or log key).
    for file in files(&data) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if text.contains("PRIVATE KEY") {
            assert!(
                file.starts_with(data.join("oidc")),
                "private key in {}",
                file.display()
            );
        }
    }
    // The trusted root names the offline root as Fulcio's root.
    let root_b64 = std::fs::read_to_string(&root_cert)
        .expect("root")
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    let trusted_root = stack.trust_config["trustedRoot"].to_string();
    assert!(
        trusted_root.contains(&root_b64),
        "offline root not in the trusted root"
    );

    // sigstore-python signs (Fulcio, CT log, Rekor, TSA all on the token) and verifies.
    let ws = Workspace::new();
    let token_jwt = stack.token(ALICE);
    let issuer = stack.issuer();
    for rekor in [Rekor::V2, Rekor::V1] {
        let bundle = ws.path(&format!("hsm-{rekor:?}.sigstore.json"));
        sign(
            Client::Python,
            &stack,
            &ws,
            rekor,
            Kind::Blob,
            &token_jwt,
            &bundle,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", stack.log()));
        verify(
            Client::Python,
            &stack,
            &bundle,
            &ws.path("artifact.txt"),
            ALICE,
            &issuer,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let bundle_json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&bundle).expect("bundle")).expect("json");
        if rekor == Rekor::V2 {
            assert!(
                bundle_json["verificationMaterial"]["timestampVerificationData"]
                    ["rfc3161Timestamps"][0]["signedTimestamp"]
                    .is_string(),
                "no TSA timestamp: {bundle_json}"
            );
        }
    }

    // The token disappears: Fulcio and the TSA answer 503 with a JSON error and issue nothing.
    std::fs::remove_dir_all(token.dir.path().join("tokens")).expect("remove token");
    std::fs::write(token.dir.path().join("pin"), "wrong\n").expect("pin");
    let client_key = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key");
    let request = serde_json::json!({
        "credentials": {"oidcIdentityToken": stack.token(ALICE)},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": client_key.public_key().expect("pk").to_pem()},
            "proofOfPossession": STANDARD.encode(client_key.sign(ALICE.as_bytes()).expect("sign")),
        },
    });
    let fulcio = format!("{}/api/v2/signingCert", stack.url("fulcio"));
    let tsa = stack.url("tsa");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (fulcio_status, fulcio_body, tsa_status) = runtime.block_on(async {
        let http = reqwest::Client::new();
        let res = http.post(&fulcio).json(&request).send().await.expect("fulcio");
        let status = res.status().as_u16();
        let body: serde_json::Value = res.json().await.expect("JSON error body");
        let tsa_status = http
            .post(&tsa)
            .header("content-type", "application/json")
            .body(r#"{"artifactHash":"LCa0a2j/xo/5m0U8HTBBNBNCLXBkg7+g+YpeiGJm564=","hashAlgorithm":"sha256"}"#)
            .send()
            .await
            .expect("tsa")
            .status()
            .as_u16();
        (status, body, tsa_status)
    });
    assert_eq!(fulcio_status, 503, "{fulcio_body}");
    assert_eq!(fulcio_body["code"], 503, "{fulcio_body}");
    assert!(
        fulcio_body["message"]
            .as_str()
            .is_some_and(|m| m.contains("unavailable")),
        "{fulcio_body}"
    );
    assert_eq!(tsa_status, 503);
    let bundle = ws.path("after-removal.sigstore.json");
    let failure = sign(
        Client::Python,
        &stack,
        &ws,
        Rekor::V2,
        Kind::Blob,
        &token_jwt,
        &bundle,
    )
    .expect_err("signing must fail without the token");
    assert!(
        failure.contains("503") || failure.contains("unavailable"),
        "{failure}\n{}",
        stack.log()
    );
    assert!(
        stack.log().contains("signing key unavailable")
            || stack.log().contains("CA signing key unavailable"),
        "{}",
        stack.log()
    );
    stack.stop();

    // Starting without the token (the module works, the token is gone) is refused with a
    // message naming what is missing.
    std::fs::create_dir(token.dir.path().join("tokens")).expect("empty token directory");
    let mut up = sigstack_e2e::up_command(&data);
    up.env("SOFTHSM2_CONF", token.conf()).args(&flags);
    let stderr = Stack::expect_refusal(up, &data);
    assert!(
        stderr.contains("no PKCS#11 token labelled") && stderr.contains(TOKEN),
        "{stderr}"
    );
}

/// A TUF quorum member whose key lives on their own HSM signs the staged root and targets
/// through PKCS#11; the repository publishes with that signature.
#[test]
fn a_quorum_member_signs_tuf_metadata_with_a_key_on_the_token() {
    if softhsm_missing() {
        return;
    }
    let token = Token::create();
    let tmp = tempfile::tempdir().expect("tempdir");
    let stack = Stack::start();
    let member_key = token.key("tuf-member");
    let public = token.sigstack(&[
        "ca",
        "generate-key",
        "--key",
        &member_key,
        "--algorithm",
        "p256",
    ]);
    let begin = public
        .find("-----BEGIN PUBLIC KEY-----")
        .expect("public key printed");
    let end = public
        .find("-----END PUBLIC KEY-----")
        .expect("public key printed")
        + "-----END PUBLIC KEY-----".len();
    let member_pub = tmp.path().join("member.pub");
    std::fs::write(&member_pub, format!("{}\n", &public[begin..end])).expect("write");
    let repo = tmp.path().join("repo");
    let path = |p: &Path| p.to_str().expect("utf-8").to_string();
    token.sigstack(&[
        "trust",
        "tuf",
        "init",
        "--repo",
        &path(&repo),
        "--root-key",
        &path(&member_pub),
        "--root-threshold",
        "1",
        "--targets-key",
        &path(&member_pub),
        "--trusted-root",
        &path(&stack.trust_dir().join("trusted_root.json")),
        "--signing-config",
        &path(&stack.trust_dir().join("signing_config.json")),
    ]);
    let mut sigs = Vec::new();
    for role in ["root", "targets"] {
        let sig = tmp.path().join(format!("{role}.sig.json"));
        token.sigstack(&[
            "trust",
            "tuf",
            "sign",
            "--staged",
            &path(&repo.join(format!("staged/{role}.json"))),
            "--key",
            &member_key,
            "--out",
            &path(&sig),
        ]);
        sigs.push(sig);
    }
    token.sigstack(&[
        "trust",
        "tuf",
        "publish",
        "--repo",
        &path(&repo),
        "--signature",
        &path(&sigs[0]),
        "--signature",
        &path(&sigs[1]),
    ]);
    assert!(repo.join("published/1.root.json").exists());
    assert!(repo.join("published/timestamp.json").exists());
    // The published root carries exactly the signature made on the token.
    let root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.join("published/1.root.json")).expect("root"))
            .expect("JSON");
    assert_eq!(root["signatures"].as_array().map(Vec::len), Some(1));
}

/// An operator's upstream Fulcio HSM settings, unchanged: Fulcio's crypto11 JSON file (with
/// its inline `Pin`), `--ca pkcs11ca` and `--hsm-caroot-id`. The root is made the way Fulcio's
/// `createca` makes it (key pair `PKCS11CA` on the token, the certificate stored there under
/// the caroot ID) and issues directly; sigstore-python signs and verifies. A malformed crypto11
/// file and a missing certificate ID are refused at startup with the reason.
#[test]
fn fulcio_runs_from_upstream_pkcs11ca_settings() {
    if softhsm_missing() {
        return;
    }
    let token = Token::create();
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = |p: &Path| p.to_str().expect("utf-8").to_string();
    let crypto11 = tmp.path().join("crypto11.conf");
    std::fs::write(
        &crypto11,
        format!("{{\n\"Path\" : \"{MODULE}\",\n\"TokenLabel\": \"{TOKEN}\",\n\"Pin\" : \"e2e-user-pin\"\n}}\n"),
    )
    .expect("crypto11.conf");
    let root_cert = tmp.path().join("root.pem");
    let out = token.sigstack(&[
        "ca",
        "create-root",
        "--pkcs11-config-path",
        &path(&crypto11),
        "--generate",
        "--hsm-caroot-id",
        "99",
        "--cert",
        &path(&root_cert),
    ]);
    assert!(out.contains("with ID \"99\""), "{out}");

    let data = tmp.path().join("data");
    let upstream_flags = |config: &Path, id: &str| -> Vec<String> {
        [
            "--ca",
            "pkcs11ca",
            "--pkcs11-config-path",
            &path(config),
            "--hsm-caroot-id",
            id,
        ]
        .map(String::from)
        .to_vec()
    };
    let refusal = |flags: &[String]| {
        let mut up = sigstack_e2e::up_command(&data);
        up.env("SOFTHSM2_CONF", token.conf()).args(flags);
        Stack::expect_refusal(up, &data)
    };
    // A file crypto11 would read but that names a field it does not have: refused, named.
    let bad = tmp.path().join("crypto11-bad.conf");
    std::fs::write(
        &bad,
        format!(r#"{{"Path": "{MODULE}", "TokenLabel": "{TOKEN}", "Pin": "e2e-user-pin", "KeyLabel": "PKCS11CA"}}"#),
    )
    .expect("bad conf");
    let stderr = refusal(&upstream_flags(&bad, "99"));
    assert!(
        stderr.contains("crypto11-bad.conf") && stderr.contains("unknown field \"KeyLabel\""),
        "{stderr}"
    );
    // A token without a certificate under the given ID.
    let stderr = refusal(&upstream_flags(&crypto11, "42"));
    assert!(stderr.contains("no certificate with ID \"42\""), "{stderr}");

    let conf = token.conf();
    let mut stack = Stack::start_with(
        &data,
        &upstream_flags(&crypto11, "99"),
        &[("SOFTHSM2_CONF", &conf)],
    );
    // No Fulcio CA key or certificate was created in the data directory.
    let ca_dir = data.join("fulcio/ca");
    assert!(
        !ca_dir.exists() || files(&ca_dir).is_empty(),
        "{:?}",
        files(&ca_dir)
    );
    // Fulcio's root in the trusted root is the one stored on the token.
    let root_b64 = std::fs::read_to_string(&root_cert)
        .expect("root")
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    let fulcio_cas = &stack.trust_config["trustedRoot"]["certificateAuthorities"];
    assert!(
        fulcio_cas.to_string().contains(&root_b64),
        "HSM root not in the trusted root: {fulcio_cas}"
    );

    let ws = Workspace::new();
    let bundle = ws.path("pkcs11ca.sigstore.json");
    let jwt = stack.token(ALICE);
    sign(
        Client::Python,
        &stack,
        &ws,
        Rekor::V2,
        Kind::Blob,
        &jwt,
        &bundle,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", stack.log()));
    verify(
        Client::Python,
        &stack,
        &bundle,
        &ws.path("artifact.txt"),
        ALICE,
        &stack.issuer(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The leaf is issued by the root itself, as under Fulcio's pkcs11ca.
    let bundle_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).expect("bundle")).expect("json");
    let leaf = bundle_json["verificationMaterial"]["certificate"]["rawBytes"]
        .as_str()
        .expect("leaf certificate in the bundle");
    let leaf =
        <x509_cert::Certificate as der::Decode>::from_der(&STANDARD.decode(leaf).expect("base64"))
            .expect("leaf");
    let root = <x509_cert::Certificate as der::Decode>::from_der(
        &STANDARD.decode(&root_b64).expect("base64"),
    )
    .expect("root");
    assert_eq!(
        leaf.tbs_certificate().issuer(),
        root.tbs_certificate().subject()
    );
    stack.stop();

    // The certificate from a file instead (`--aws-hsm-root-ca-path`): the caroot ID is then
    // not looked up on the token.
    let mut flags = upstream_flags(&crypto11, "not-on-the-token");
    flags.extend(["--aws-hsm-root-ca-path".to_string(), path(&root_cert)]);
    let mut stack = Stack::start_with(&data, &flags, &[("SOFTHSM2_CONF", &conf)]);
    assert!(
        stack.trust_config["trustedRoot"]["certificateAuthorities"]
            .to_string()
            .contains(&root_b64)
    );
    stack.stop();
}
