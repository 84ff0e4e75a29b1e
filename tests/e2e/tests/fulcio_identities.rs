//! The real binary with an operator identity configuration in Fulcio's own format: air-gapped
//! issuers (static JWKS file), a GitHub Actions issuer, an email issuer and a `kubernetes`
//! meta-issuer (which used to make `sigstack up` refuse to start). Tokens are signed by the
//! test's own key. sigstore-python signs with each identity and verifies the bundles with its
//! identity policies (`verify github`, `verify identity`); `sigstack issued` then lists what was
//! issued to each identity from the CT log.

use std::process::Command;

use serde_json::{Value, json};
use sigstack_e2e::{
    Client, Kind, Rekor, Stack, TestIdp, Workspace, sign, sigstack_bin, tools, verify,
};

const EKS: &str = "https://oidc.eks.eu-west-1.amazonaws.com/id/B02C93B6A2D30341AD01E1B6D48164CB";

fn github_claims() -> Value {
    json!({
        "sub": "repo:acme/app:ref:refs/tags/v1.0.0",
        "repository": "acme/app", "repository_owner": "acme", "repository_owner_id": "1234",
        "repository_id": "5678", "repository_visibility": "public",
        "ref": "refs/tags/v1.0.0", "ref_type": "tag", "sha": "0123456789abcdef0123456789abcdef01234567",
        "workflow": "Release", "event_name": "push", "run_id": "4242", "run_attempt": "1",
        "runner_environment": "github-hosted",
        "workflow_ref": "acme/app/.github/workflows/release.yml@refs/tags/v1.0.0",
        "workflow_sha": "0123456789abcdef0123456789abcdef01234567",
        "job_workflow_ref": "acme/app/.github/workflows/release.yml@refs/tags/v1.0.0",
        "job_workflow_sha": "0123456789abcdef0123456789abcdef01234567",
    })
}

fn python(
    args: &[&str],
    bundle: &std::path::Path,
    trust: &std::path::Path,
    artifact: &std::path::Path,
) -> Result<(), String> {
    let out = Command::new(tools().join("venv/bin/sigstore"))
        .arg("--trust-config")
        .arg(trust)
        .args(args)
        .arg("--bundle")
        .arg(bundle)
        .arg(artifact)
        .output()
        .expect("sigstore-python");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn issued(stack: &Stack, identity: &str) -> Vec<String> {
    let out = Command::new(sigstack_bin())
        .args(["issued", "--data-dir"])
        .arg(&stack.data_dir)
        .args(["--identity", identity])
        .output()
        .expect("sigstack issued");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn operator_config_identities_sign_verify_and_are_listed() {
    let ws = Workspace::new();
    let idp = TestIdp::new();
    let jwks = ws.path("jwks.json");
    std::fs::write(&jwks, idp.jwks()).expect("jwks");
    let config = ws.path("fulcio.yaml");
    std::fs::write(
        &config,
        format!(
            "define:\n  - &gh \"github-workflow\"\n\
             oidc-issuers:\n\
             \x20 https://token.actions.githubusercontent.com:\n\
             \x20   issuer-url: https://token.actions.githubusercontent.com\n\
             \x20   client-id: sigstore\n    type: ci-provider\n    ci-provider: *gh\n    jwks-file: {j}\n\
             \x20 https://mail.example.test:\n    client-id: sigstore\n    type: email\n    jwks-file: {j}\n\
             \x20 https://spire.example.test:\n    client-id: sigstore\n    type: spiffe\n    spiffe-trust-domain: prod.example.test\n    jwks-file: {j}\n\
             \x20 https://idp.example.test:\n    client-id: sigstore\n    type: uri\n    subject-domain: https://example.test\n    jwks-file: {j}\n\
             \x20 https://users.example.test:\n    client-id: sigstore\n    type: username\n    subject-domain: example.test\n    jwks-file: {j}\n\
             \x20 https://issuer.enforce.dev:\n    client-id: sigstore\n    type: chainguard-identity\n    jwks-file: {j}\n\
             meta-issuers:\n\
             \x20 https://oidc.eks.*.amazonaws.com/id/*:\n    client-id: sigstore\n    type: kubernetes\n    jwks-file: {j}\n",
            j = jwks.display()
        ),
    )
    .expect("config");
    let stack = Stack::start_fresh_with(&["--fulcio-config".as_ref(), config.as_os_str()]);
    let trust = stack.trust_dir().join("trust_config.json");
    let artifact = ws.path("artifact.txt");

    // GitHub Actions: `sigstore verify github` checks the workflow extensions.
    let gh_bundle = ws.path("gh.sigstore.json");
    let token = idp.token(
        "https://token.actions.githubusercontent.com",
        github_claims(),
    );
    sign(
        Client::Python,
        &stack,
        &ws,
        Rekor::V2,
        Kind::Blob,
        &token,
        &gh_bundle,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", stack.log()));
    let san = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0";
    python(
        &[
            "verify",
            "github",
            "--cert-identity",
            san,
            "--repository",
            "acme/app",
            "--ref",
            "refs/tags/v1.0.0",
            "--sha",
            "0123456789abcdef0123456789abcdef01234567",
            "--trigger",
            "push",
            "--name",
            "Release",
        ],
        &gh_bundle,
        &trust,
        &artifact,
    )
    .unwrap_or_else(|e| panic!("verify github: {e}"));
    assert!(
        python(
            &[
                "verify",
                "github",
                "--cert-identity",
                san,
                "--repository",
                "acme/other"
            ],
            &gh_bundle,
            &trust,
            &artifact,
        )
        .is_err(),
        "another repository must not verify"
    );

    // Kubernetes through an EKS meta-issuer.
    let k8s_bundle = ws.path("k8s.sigstore.json");
    let token = idp.token(
        EKS,
        json!({"sub": "system:serviceaccount:build:signer",
               "kubernetes.io": {"namespace": "build", "serviceaccount": {"name": "signer"}}}),
    );
    sign(
        Client::Python,
        &stack,
        &ws,
        Rekor::V2,
        Kind::Blob,
        &token,
        &k8s_bundle,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", stack.log()));
    let k8s_san = "https://kubernetes.io/namespaces/build/serviceaccounts/signer";
    python(
        &[
            "verify",
            "identity",
            "--cert-identity",
            k8s_san,
            "--cert-oidc-issuer",
            EKS,
        ],
        &k8s_bundle,
        &trust,
        &artifact,
    )
    .unwrap_or_else(|e| panic!("verify kubernetes identity: {e}"));

    // Email, air-gapped issuer.
    let mail_bundle = ws.path("mail.sigstore.json");
    let token = idp.token(
        "https://mail.example.test",
        json!({"sub": "u1", "email": "alice@example.test", "email_verified": true}),
    );
    sign(
        Client::Python,
        &stack,
        &ws,
        Rekor::V2,
        Kind::Blob,
        &token,
        &mail_bundle,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", stack.log()));
    python(
        &[
            "verify",
            "identity",
            "--cert-identity",
            "alice@example.test",
            "--cert-oidc-issuer",
            "https://mail.example.test",
        ],
        &mail_bundle,
        &trust,
        &artifact,
    )
    .unwrap_or_else(|e| panic!("verify email identity: {e}"));

    // sigstore-js verifies the same bundles with its identity policy.
    for (bundle, identity, issuer) in [
        (
            &gh_bundle,
            san,
            "https://token.actions.githubusercontent.com",
        ),
        (&k8s_bundle, k8s_san, EKS),
        (
            &mail_bundle,
            "alice@example.test",
            "https://mail.example.test",
        ),
    ] {
        verify(Client::Js, &stack, bundle, &artifact, identity, issuer)
            .unwrap_or_else(|e| panic!("sigstore-js {identity}: {e}"));
        assert!(
            verify(
                Client::Js,
                &stack,
                bundle,
                &artifact,
                identity,
                "https://other.test"
            )
            .is_err()
        );
    }

    // The URI-SAN types: spiffe, uri, chainguard-identity, signed and verified by
    // sigstore-python and sigstore-js.
    for (iss, claims, identity) in [
        (
            "https://spire.example.test",
            json!({"sub": "spiffe://prod.example.test/ns/build/sa/signer"}),
            "spiffe://prod.example.test/ns/build/sa/signer",
        ),
        (
            "https://idp.example.test",
            json!({"sub": "https://example.test/services/release"}),
            "https://example.test/services/release",
        ),
        (
            "https://issuer.enforce.dev",
            json!({"sub": "b4ef1b1e/4e0a9b4c"}),
            "https://issuer.enforce.dev/b4ef1b1e/4e0a9b4c",
        ),
    ] {
        let bundle = ws.path("uri.sigstore.json");
        let _ = std::fs::remove_file(&bundle);
        sign(
            Client::Python,
            &stack,
            &ws,
            Rekor::V2,
            Kind::Blob,
            &idp.token(iss, claims),
            &bundle,
        )
        .unwrap_or_else(|e| panic!("{iss}: {e}\n{}", stack.log()));
        python(
            &[
                "verify",
                "identity",
                "--cert-identity",
                identity,
                "--cert-oidc-issuer",
                iss,
            ],
            &bundle,
            &trust,
            &artifact,
        )
        .unwrap_or_else(|e| panic!("sigstore-python {iss}: {e}"));
        verify(Client::Js, &stack, &bundle, &artifact, identity, iss)
            .unwrap_or_else(|e| panic!("sigstore-js {iss}: {e}"));
        assert_eq!(issued(&stack, identity).len(), 1, "{identity}");
    }

    // username: the OtherName SAN `dana!example.test`. Clients sign with it; `sigstack issued`
    // finds it by that value.
    let bundle = ws.path("user.sigstore.json");
    sign(
        Client::Python,
        &stack,
        &ws,
        Rekor::V2,
        Kind::Blob,
        &idp.token("https://users.example.test", json!({"sub": "dana"})),
        &bundle,
    )
    .unwrap_or_else(|e| panic!("username: {e}\n{}", stack.log()));
    assert_eq!(issued(&stack, "dana!example.test").len(), 1);

    // The audit listing, from the CT log.
    let listed = issued(&stack, san);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].ends_with(&format!(
        "\thttps://token.actions.githubusercontent.com\t{san}"
    )));
    let listed = issued(&stack, k8s_san);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].contains(EKS));
    assert_eq!(issued(&stack, "alice@example.test").len(), 1);
    assert!(issued(&stack, "nobody@example.test").is_empty());
}
