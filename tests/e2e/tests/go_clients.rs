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

/// PEM text of DER items under `label`.
fn pem(label: &str, ders: &[Vec<u8>]) -> String {
    use base64::Engine as _;
    let mut out = String::new();
    for der in ders {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        out.push_str(&format!("-----BEGIN {label}-----\n"));
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).expect("ascii"));
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
    }
    out
}

fn b64_field(v: &serde_json::Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .expect("base64")
}

/// An operator who only has the services' URLs, keys and chains builds a trusted root with
/// `cosign trusted-root create`: cosign derives the same log IDs as the stack (including the
/// Rekor v2 C2SP note key ID from the origin), and that root verifies bundles from the stack.
#[test]
fn cosign_trusted_root_create_from_service_keys_matches_the_stacks_root() {
    let stack = Stack::start();
    let ws = Workspace::new();
    let ours: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stack.trust_dir().join("trusted_root.json")).expect("root"),
    )
    .expect("json");
    let write = |name: &str, text: String| {
        let path = ws.path(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let chain = |authority: &serde_json::Value| -> Vec<Vec<u8>> {
        authority["certChain"]["certificates"]
            .as_array()
            .expect("chain")
            .iter()
            .map(|c| b64_field(&c["rawBytes"]))
            .collect()
    };
    let log_spec = |log: &serde_json::Value, name: &str, extra: &str| {
        let key = write(
            name,
            pem("PUBLIC KEY", &[b64_field(&log["publicKey"]["rawBytes"])]),
        );
        format!(
            "url={},public-key={key},start-time={}{extra}",
            log["baseUrl"].as_str().expect("url"),
            log["publicKey"]["validFor"]["start"]
                .as_str()
                .expect("start")
        )
    };
    let ca = &ours["certificateAuthorities"][0];
    let tsa = &ours["timestampAuthorities"][0];
    let v2_url = ours["tlogs"][1]["baseUrl"].as_str().expect("url");
    let v2_host = v2_url
        .trim_start_matches("http://")
        .rsplit_once(':')
        .map_or(v2_url, |(host, _)| host);
    let created = ws.path("cosign-trusted-root.json");
    let out = cosign()
        .args(["trusted-root", "create"])
        .arg(format!(
            "--fulcio=url={},certificate-chain={},start-time={}",
            ca["uri"].as_str().expect("uri"),
            write("fulcio.pem", pem("CERTIFICATE", &chain(ca))),
            ca["validFor"]["start"].as_str().expect("start")
        ))
        .arg(format!(
            "--rekor={}",
            log_spec(&ours["tlogs"][0], "rekor-v1.pem", "")
        ))
        .arg(format!(
            "--rekor={}",
            log_spec(
                &ours["tlogs"][1],
                "rekor-v2.pem",
                &format!(",origin={v2_host}")
            )
        ))
        .arg(format!(
            "--ctfe={}",
            log_spec(&ours["ctlogs"][0], "ctfe.pem", "")
        ))
        .arg(format!(
            "--tsa=url={},certificate-chain={},start-time={}",
            tsa["uri"].as_str().expect("uri"),
            write("tsa.pem", pem("CERTIFICATE", &chain(tsa))),
            tsa["validFor"]["start"].as_str().expect("start")
        ))
        .arg("--out")
        .arg(&created)
        .output()
        .expect("run cosign");
    assert!(out.status.success(), "{}", output_text(&out));
    let theirs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&created).expect("created")).expect("json");

    let ids = |root: &serde_json::Value, list: &str| -> Vec<(String, String)> {
        let mut ids: Vec<(String, String)> = root[list]
            .as_array()
            .expect(list)
            .iter()
            .map(|l| {
                (
                    l["baseUrl"].as_str().unwrap_or_default().to_string(),
                    l["logId"]["keyId"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&theirs, "tlogs"), ids(&ours, "tlogs"), "{theirs:#}");
    assert_eq!(ids(&theirs, "ctlogs"), ids(&ours, "ctlogs"), "{theirs:#}");

    // cosign's own root verifies a bundle signed through each Rekor API.
    let token = stack.token(ALICE);
    for rekor in [Rekor::V1, Rekor::V2] {
        let bundle = ws.path(&format!("py-{rekor:?}.sigstore.json"));
        sign(
            Client::Python,
            &stack,
            &ws,
            rekor,
            Kind::Blob,
            &token,
            &bundle,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", stack.log()));
        let out = cosign()
            .arg("verify-blob")
            .arg("--bundle")
            .arg(&bundle)
            .args(["--certificate-identity", ALICE])
            .args(["--certificate-oidc-issuer", &stack.issuer()])
            .arg("--trusted-root")
            .arg(&created)
            .arg(ws.path("artifact.txt"))
            .output()
            .expect("run cosign");
        assert!(out.status.success(), "{rekor:?}: {}", output_text(&out));
    }
}
