//! Bundles whose leaf certificate holds an RSA (2048, 3072, 4096 bits), ECDSA P-384 or ECDSA
//! P-521 key, verified by every real client with an identity policy.
//!
//! cosign 3.1.2 signs each blob with an ephemeral key of the type (`sign-blob
//! --signing-algorithm`): it proves possession to our Fulcio with the key's own scheme (RSA
//! PKCS#1 v1.5 with SHA-256, ECDSA P-384 with SHA-384, P-521 with SHA-512, over the email in a
//! `publicKeyRequest`), gets a certificate for the email identity of `sigstack token`, and logs
//! a hashedrekord entry in our Rekor v1 (0.0.1) and, separately, Rekor v2 (0.0.2, with an RFC
//! 3161 timestamp). The test checks that each leaf really holds the requested key, then every
//! client verifies every bundle with the signer's identity and issuer, and must refuse the same
//! bundle over a tampered artifact. A GitHub Actions identity (a second stack, whose Fulcio
//! configuration trusts the test's own issuer) is signed with RSA 3072 and P-384 and verified
//! with the same clients and with the workflow policies of cosign and sigstore-python
//! (`verify github`).
//!
//! cosign is the signer because it is the only client here that signs with a key other than
//! P-256 (sigstore-python, sigstore-js, sigstore-rust and the sigstore-go test client make
//! ephemeral P-256 keys), and only message signatures are covered: cosign 3.1.2's
//! `attest-blob` has no `--signing-algorithm`.
//!
//! What each client does with these bundles (Rekor v1 / Rekor v2), as run here:
//!
//! | verifier (version)      | RSA 2048/3072/4096 | ECDSA P-384       | ECDSA P-521       |
//! |-------------------------|--------------------|-------------------|-------------------|
//! | sigstore-python 4.5.1   | refuses / refuses  | refuses / refuses | refuses / refuses |
//! | sigstore-js 5.0.1       | accepts / accepts  | accepts / accepts | accepts / accepts |
//! | sigstore-rust 0.15.1    | accepts / refuses  | refuses / refuses | refuses / refuses |
//! | sigstore-go 1.2.1       | accepts / accepts  | accepts / accepts | accepts / accepts |
//! | cosign 3.1.2            | accepts / accepts  | accepts / accepts | accepts / accepts |
//!
//! The refusals are client limits (README.md, client limits), asserted with the client's own
//! error: sigstore-python verifies message signatures only as ECDSA over SHA-256 (an RSA key
//! crashes with a `TypeError`, a SHA-384 or SHA-512 digest is a "Bundle message digest
//! mismatch"); sigstore-rust reads only SHA-256 hashedrekord 0.0.1 digests and only the P-256
//! `keyDetails` in hashedrekord 0.0.2 entries, and does not parse P-521 certificates at all.
//!
//! P-521 is in upstream Fulcio's default set of client signing algorithms; Sigstack's Fulcio
//! used to refuse it ("EC curve 1.3.132.0.35"), which this test also guards.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::{Decode as _, Encode as _};
use serde_json::{Value, json};
use sigstack_e2e::go_clients::{cosign, cosign_sign, output_text};
use sigstack_e2e::{Client, Kind, Rekor, Stack, TestIdp, Workspace, tools, verify};
use sigstack_keys::PublicKey;

const EMAIL: &str = "keys@example.test";
const GITHUB: &str = "https://token.actions.githubusercontent.com";
const GITHUB_SAN: &str =
    "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0";

/// A client key type: cosign's `--signing-algorithm` name, the leaf key's `PublicKeyDetails`
/// and the hash of the artifact digest in the bundle.
#[derive(Clone, Copy, Debug)]
struct KeyType {
    cosign: &'static str,
    details: &'static str,
    digest: &'static str,
}

const RSA_2048: KeyType = KeyType {
    cosign: "rsa-sign-pkcs1-2048-sha256",
    details: "PKIX_RSA_PKCS1V15_2048_SHA256",
    digest: "SHA2_256",
};
const RSA_3072: KeyType = KeyType {
    cosign: "rsa-sign-pkcs1-3072-sha256",
    details: "PKIX_RSA_PKCS1V15_3072_SHA256",
    digest: "SHA2_256",
};
const RSA_4096: KeyType = KeyType {
    cosign: "rsa-sign-pkcs1-4096-sha256",
    details: "PKIX_RSA_PKCS1V15_4096_SHA256",
    digest: "SHA2_256",
};
const P384: KeyType = KeyType {
    cosign: "ecdsa-sha2-384-nistp384",
    details: "PKIX_ECDSA_P384_SHA_384",
    digest: "SHA2_384",
};
const P521: KeyType = KeyType {
    cosign: "ecdsa-sha2-512-nistp521",
    details: "PKIX_ECDSA_P521_SHA_512",
    digest: "SHA2_512",
};

impl KeyType {
    fn is_rsa(self) -> bool {
        self.details.starts_with("PKIX_RSA")
    }
}

/// One signed bundle.
struct Signed {
    key: KeyType,
    rekor: Rekor,
    bundle: PathBuf,
}

/// `None` when `client` must accept a bundle of `key` logged in `rekor`; otherwise the text its
/// refusal must contain (see the table at the top).
fn refusal(client: Client, key: KeyType, rekor: Rekor) -> Option<String> {
    let text = match (client, key.is_rsa(), rekor) {
        (Client::Python, true, _) => {
            "RSAPublicKey.verify() missing 1 required positional argument: 'algorithm'".into()
        }
        (Client::Python, false, _) => "Bundle message digest mismatch".into(),
        (Client::Rust, false, _) if key.details == P521.details => {
            "failed to parse certificate: Invalid key: unsupported or invalid EC curve parameters"
                .into()
        }
        (Client::Rust, false, Rekor::V1) => "SHA-256 hash must be 32 bytes, got 48".into(),
        (Client::Rust, _, Rekor::V2) => format!(
            "failed to parse hashedrekord v0.0.2 body: unknown variant `{}`",
            key.details
        ),
        _ => return None,
    };
    Some(text)
}

/// `cosign sign-blob` with an ephemeral key of `key`'s type.
fn cosign_sign_blob(
    stack: &Stack,
    ws: &Workspace,
    key: KeyType,
    rekor: Rekor,
    token: &str,
    bundle: &Path,
) {
    let signing_config = match rekor {
        Rekor::V1 => "signing_config.rekor-v1.json",
        Rekor::V2 => "signing_config.json",
    };
    let mut cmd = cosign_sign(
        &stack.trust_dir().join("trusted_root.json"),
        &stack.trust_dir().join(signing_config),
        ws,
        Kind::Blob,
        token,
        bundle,
    );
    cmd.args(["--signing-algorithm", key.cosign]);
    let out = cmd.output().expect("cosign sign-blob");
    assert!(
        out.status.success() && bundle.exists(),
        "cosign sign-blob {key:?} {rekor:?}: {}\n{}",
        output_text(&out),
        stack.log()
    );
}

/// The bundle's leaf key is of `key`'s type, and its log entry is the hashedrekord version of
/// `rekor`.
fn check_bundle(signed: &Signed) {
    let text = std::fs::read_to_string(&signed.bundle).expect("bundle");
    let bundle: Value = serde_json::from_str(&text).expect("bundle JSON");
    let material = &bundle["verificationMaterial"];
    let raw = material["certificate"]["rawBytes"]
        .as_str()
        .unwrap_or_else(|| panic!("no leaf certificate in {text}"));
    let der = STANDARD.decode(raw).expect("certificate base64");
    let certificate = x509_cert::Certificate::from_der(&der).expect("leaf certificate");
    let spki = certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .expect("SPKI");
    let key = PublicKey::from_spki_der(&spki).expect("leaf key");
    assert_eq!(
        key.key_details(),
        signed.key.details,
        "{}",
        signed.bundle.display()
    );
    let entry = &material["tlogEntries"][0]["kindVersion"];
    let version = match signed.rekor {
        Rekor::V1 => "0.0.1",
        Rekor::V2 => "0.0.2",
    };
    assert_eq!(entry, &json!({"kind": "hashedrekord", "version": version}));
    assert_eq!(
        bundle["messageSignature"]["messageDigest"]["algorithm"],
        signed.key.digest
    );
}

/// Check `client`'s verdicts on `bundle` over the artifact and over a tampered one against the
/// expected outcome; returns what went wrong.
fn check_client(
    client: Client,
    stack: &Stack,
    signed: &Signed,
    artifact: &Path,
    tampered: &Path,
    identity: (&str, &str),
) -> Vec<String> {
    let mut problems = Vec::new();
    let what = format!(
        "{} on {} {:?} ({})",
        client.name(),
        signed.key.cosign,
        signed.rekor,
        identity.0
    );
    let result = verify(
        client,
        stack,
        &signed.bundle,
        artifact,
        identity.0,
        identity.1,
    );
    match (refusal(client, signed.key, signed.rekor), result) {
        (None, Ok(())) => {}
        (None, Err(e)) => problems.push(format!("{what} must accept: {e}")),
        (Some(expected), Ok(())) => problems.push(format!(
            "{what} accepted; expected the client limit \"{expected}\" (update the table and README)"
        )),
        (Some(expected), Err(e)) if e.contains(&expected) => {}
        (Some(expected), Err(e)) => {
            problems.push(format!("{what} refused, but not with \"{expected}\": {e}"));
        }
    }
    if verify(
        client,
        stack,
        &signed.bundle,
        tampered,
        identity.0,
        identity.1,
    )
    .is_ok()
    {
        problems.push(format!("{what} accepted a tampered artifact"));
    }
    problems
}

/// Every client checks every bundle, each client in its own thread.
fn check_all(
    stack: &Stack,
    signed: &[Signed],
    artifact: &Path,
    tampered: &Path,
    identity: (&str, &str),
) -> Vec<String> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = Client::ALL
            .into_iter()
            .map(|client| {
                scope.spawn(move || {
                    signed
                        .iter()
                        .flat_map(|s| check_client(client, stack, s, artifact, tampered, identity))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("verifier thread"))
            .collect()
    })
}

/// A GitHub Actions token for `acme/app`'s release workflow, from the test's issuer.
fn github_token(idp: &TestIdp) -> String {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let workflow = "acme/app/.github/workflows/release.yml@refs/tags/v1.0.0";
    idp.token(
        GITHUB,
        json!({
            "sub": "repo:acme/app:ref:refs/tags/v1.0.0",
            "repository": "acme/app", "repository_owner": "acme", "repository_owner_id": "1234",
            "repository_id": "5678", "repository_visibility": "public",
            "ref": "refs/tags/v1.0.0", "ref_type": "tag", "sha": sha,
            "workflow": "Release", "event_name": "push", "run_id": "4242", "run_attempt": "1",
            "runner_environment": "github-hosted",
            "workflow_ref": workflow, "workflow_sha": sha,
            "job_workflow_ref": workflow, "job_workflow_sha": sha,
        }),
    )
}

/// `cosign verify-blob` with the GitHub workflow policy flags.
fn cosign_verify_github(stack: &Stack, bundle: &Path, artifact: &Path, repository: &str) -> bool {
    let mut cmd = cosign();
    cmd.arg("verify-blob")
        .arg("--bundle")
        .arg(bundle)
        .args(["--certificate-identity", GITHUB_SAN])
        .args(["--certificate-oidc-issuer", GITHUB])
        .args(["--certificate-github-workflow-repository", repository])
        .args(["--certificate-github-workflow-ref", "refs/tags/v1.0.0"])
        .args(["--certificate-github-workflow-trigger", "push"])
        .arg("--trusted-root")
        .arg(stack.trust_dir().join("trusted_root.json"))
        .arg(artifact);
    cmd.output().expect("cosign verify-blob").status.success()
}

/// `sigstore verify github` (sigstore-python's GitHub policy); the client's output on failure.
fn python_verify_github(stack: &Stack, bundle: &Path, artifact: &Path) -> Result<(), String> {
    let out = Command::new(tools().join("venv/bin/sigstore"))
        .arg("--trust-config")
        .arg(stack.trust_dir().join("trust_config.json"))
        .args(["verify", "github", "--cert-identity", GITHUB_SAN])
        .args(["--repository", "acme/app", "--ref", "refs/tags/v1.0.0"])
        .arg("--bundle")
        .arg(bundle)
        .arg(artifact)
        .output()
        .expect("sigstore-python");
    if out.status.success() {
        Ok(())
    } else {
        Err(output_text(&out))
    }
}

#[test]
fn clients_verify_rsa_p384_and_p521_leaf_keys() {
    let ws = Workspace::new();
    let artifact = ws.path("artifact.txt");
    let tampered = ws.path("tampered.txt");
    let mut bytes = std::fs::read(&artifact).expect("artifact");
    bytes[0] ^= 0x01;
    std::fs::write(&tampered, bytes).expect("tampered artifact");

    // The email identity of the stack's own issuer, every key type, both logs.
    let stack = Stack::start();
    let token = stack.token(EMAIL);
    let mut signed = Vec::new();
    for key in [RSA_2048, RSA_3072, RSA_4096, P384, P521] {
        for rekor in [Rekor::V1, Rekor::V2] {
            let bundle = ws.path(&format!("{}-{rekor:?}.sigstore.json", key.cosign));
            cosign_sign_blob(&stack, &ws, key, rekor, &token, &bundle);
            signed.push(Signed { key, rekor, bundle });
        }
    }
    signed.iter().for_each(check_bundle);
    let mut problems = check_all(
        &stack,
        &signed,
        &artifact,
        &tampered,
        (EMAIL, &stack.issuer()),
    );
    drop(stack);

    // A GitHub Actions workflow identity, RSA 3072 and P-384, Rekor v1, from a stack whose
    // Fulcio trusts the test's issuer (an operator configuration replaces the local issuer).
    let idp = TestIdp::new();
    let jwks = ws.path("jwks.json");
    std::fs::write(&jwks, idp.jwks()).expect("jwks");
    let config = ws.path("fulcio.yaml");
    std::fs::write(
        &config,
        format!(
            "oidc-issuers:\n  {GITHUB}:\n    issuer-url: {GITHUB}\n    client-id: sigstore\n    \
             type: ci-provider\n    ci-provider: github-workflow\n    jwks-file: {}\n",
            jwks.display()
        ),
    )
    .expect("fulcio config");
    let stack = Stack::start_fresh_with(&["--fulcio-config".as_ref(), config.as_os_str()]);
    let token = github_token(&idp);
    let mut github = Vec::new();
    for key in [RSA_3072, P384] {
        let bundle = ws.path(&format!("github-{}.sigstore.json", key.cosign));
        cosign_sign_blob(&stack, &ws, key, Rekor::V1, &token, &bundle);
        github.push(Signed {
            key,
            rekor: Rekor::V1,
            bundle,
        });
    }
    github.iter().for_each(check_bundle);
    problems.extend(check_all(
        &stack,
        &github,
        &artifact,
        &tampered,
        (GITHUB_SAN, GITHUB),
    ));
    for s in &github {
        let name = s.key.cosign;
        if !cosign_verify_github(&stack, &s.bundle, &artifact, "acme/app") {
            problems.push(format!("cosign GitHub policy refused {name}"));
        }
        if cosign_verify_github(&stack, &s.bundle, &artifact, "acme/other") {
            problems.push(format!(
                "cosign GitHub policy accepted {name} for another repository"
            ));
        }
        if cosign_verify_github(&stack, &s.bundle, &tampered, "acme/app") {
            problems.push(format!(
                "cosign GitHub policy accepted {name} over a tampered artifact"
            ));
        }
        // sigstore-python's `verify github` shares its signature check with `verify identity`.
        match (
            python_verify_github(&stack, &s.bundle, &artifact),
            refusal(Client::Python, s.key, s.rekor),
        ) {
            (Err(e), Some(expected)) if e.contains(&expected) => {}
            (result, expected) => problems.push(format!(
                "sigstore-python verify github on {name}: {result:?}, expected {expected:?}"
            )),
        }
    }

    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
