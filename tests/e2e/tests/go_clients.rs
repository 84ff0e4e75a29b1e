//! cosign and sigstore-go beyond the shared matrix: their own bundles (a sigstore-go blob through
//! Rekor v2, a cosign attestation through Rekor v1) refused by both for a wrong identity, wrong
//! issuer, tampered artifact or tampered bundle; and the one cell a client cannot do, a cosign
//! `attest-blob --predicate` attestation (in-toto Statement v0.1) in sigstore-python.

use sigstack_e2e::go_clients::{SLSA_PROVENANCE_V1, cosign, output_text, token_file};
use sigstack_e2e::{Client, Kind, Rekor, Stack, Workspace, sign, verify};

const ALICE: &str = "alice@example.test";

/// Flip one base64 character of the string at `pointer` in the bundle at `path`; returns the
/// tampered copy's path.
fn tamper(path: &std::path::Path, pointer: &str) -> std::path::PathBuf {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    let field = v.pointer_mut(pointer).expect("field to tamper with");
    let mut chars: Vec<char> = field.as_str().expect("string").chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    *field = serde_json::Value::String(chars.into_iter().collect());
    let out = path.with_extension("tampered.json");
    std::fs::write(&out, v.to_string()).expect("write");
    out
}

#[test]
fn cosign_and_sigstore_go_refuse_wrong_identity_issuer_artifact_or_bundle() {
    let stack = Stack::start();
    let ws = Workspace::new();
    let token = stack.token(ALICE);
    let issuer = stack.issuer();
    let artifact = ws.path("artifact.txt");
    let tampered_artifact = ws.path("tampered.txt");
    std::fs::write(
        &tampered_artifact,
        b"hello from sigstack end-to-end tests!\n",
    )
    .expect("write");

    let cases = [
        (
            Client::Go,
            Rekor::V2,
            Kind::Blob,
            "/messageSignature/signature",
        ),
        (
            Client::Cosign,
            Rekor::V1,
            Kind::InToto,
            "/dsseEnvelope/signatures/0/sig",
        ),
    ];
    for (signer, rekor, kind, signature) in cases {
        let bundle = ws.path(&format!("{}-{rekor:?}-{kind:?}.json", signer.name()));
        sign(signer, &stack, &ws, rekor, kind, &token, &bundle)
            .unwrap_or_else(|e| panic!("{e}\n{}", stack.log()));
        let tampered_bundle = tamper(&bundle, signature);
        for verifier in [Client::Cosign, Client::Go] {
            verify(verifier, &stack, &bundle, &artifact, ALICE, &issuer)
                .unwrap_or_else(|e| panic!("baseline must verify: {e}"));
            let refusals = [
                (
                    "wrong identity",
                    &bundle,
                    &artifact,
                    "mallory@example.test",
                    issuer.as_str(),
                ),
                (
                    "wrong issuer",
                    &bundle,
                    &artifact,
                    ALICE,
                    "https://issuer.invalid",
                ),
                (
                    "tampered artifact",
                    &bundle,
                    &tampered_artifact,
                    ALICE,
                    issuer.as_str(),
                ),
                (
                    "tampered bundle",
                    &tampered_bundle,
                    &artifact,
                    ALICE,
                    issuer.as_str(),
                ),
            ];
            for (what, b, a, id, iss) in refusals {
                assert!(
                    verify(verifier, &stack, b, a, id, iss).is_err(),
                    "{} accepted a {rekor:?} {kind:?} bundle from {} with a {what}",
                    verifier.name(),
                    signer.name()
                );
            }
        }
    }
}

#[test]
fn cosign_predicate_attestations_are_statement_v0_1_which_sigstore_python_refuses() {
    let stack = Stack::start();
    let ws = Workspace::new();
    let trust = stack.trust_dir();
    let token = token_file(&stack.token(ALICE), &ws.path("token"));
    let bundle = ws.path("cosign-predicate.sigstore.json");
    let out = cosign()
        .args(["attest-blob", "--yes", "--type", SLSA_PROVENANCE_V1])
        .arg("--predicate")
        .arg(ws.path("predicate.json"))
        .arg("--identity-token")
        .arg(&token)
        .arg("--trusted-root")
        .arg(trust.join("trusted_root.json"))
        .arg("--signing-config")
        .arg(trust.join("signing_config.json"))
        .arg("--bundle")
        .arg(&bundle)
        .arg(ws.path("artifact.txt"))
        .output()
        .expect("run cosign");
    assert!(out.status.success(), "{}", output_text(&out));

    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).expect("bundle")).expect("json");
    let payload = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(v["dsseEnvelope"]["payload"].as_str().expect("payload"))
            .expect("base64")
    };
    let statement: serde_json::Value = serde_json::from_slice(&payload).expect("statement");
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v0.1");

    let artifact = ws.path("artifact.txt");
    let issuer = stack.issuer();
    // sigstore-python 4.5.1 accepts only in-toto Statement v1.
    let refused = verify(Client::Python, &stack, &bundle, &artifact, ALICE, &issuer)
        .expect_err("sigstore-python accepted a Statement v0.1");
    assert!(
        refused.contains("malformed in-toto statement"),
        "unexpected sigstore-python error: {refused}"
    );
    for verifier in [Client::Js, Client::Rust, Client::Cosign, Client::Go] {
        verify(verifier, &stack, &bundle, &artifact, ALICE, &issuer)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
