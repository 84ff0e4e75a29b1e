//! Golden tests per issuer type: an operator configuration in Fulcio's own file format
//! (`tests/data/operator-config.yaml`, every construct of Fulcio's public config), a token with
//! every claim the type reads, and the exact DER of the SAN and of every extension out.
//!
//! Expected bytes are built here with a minimal TLV writer of the test's own, independent of the
//! `der` crate the implementation uses.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use sigstack_fulcio_core::{FulcioCoreError, IssuerConfig, Principal, VerifiedClaims};

const CONFIG: &str = include_str!("data/operator-config.yaml");

/// DER tag-length-value with definite length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn utf8(s: &str) -> Vec<u8> {
    tlv(0x0c, s.as_bytes())
}

/// `GeneralNames` with one `uniformResourceIdentifier` ([6] IMPLICIT IA5String).
fn san_uri(uri: &str) -> Vec<u8> {
    tlv(0x30, &tlv(0x86, uri.as_bytes()))
}

/// `GeneralNames` with one `rfc822Name` ([1] IMPLICIT IA5String).
fn san_email(email: &str) -> Vec<u8> {
    tlv(0x30, &tlv(0x81, email.as_bytes()))
}

/// `GeneralNames` with one `otherName` ([0] { type-id 1.3.6.1.4.1.57264.1.7, [0] EXPLICIT
/// UTF8String }).
fn san_username(value: &str) -> Vec<u8> {
    let type_id = [
        0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, 0x07,
    ];
    let inner = [type_id.as_slice(), &tlv(0xa0, &utf8(value))].concat();
    tlv(0x30, &tlv(0xa0, &inner))
}

enum Want<'a> {
    Raw(u32, &'a str),
    Utf8(u32, &'a str),
}

fn principal(iss: &str, mut claims: Value) -> Result<Principal, FulcioCoreError> {
    let config = IssuerConfig::from_text(CONFIG).unwrap();
    let issuer = config.issuer_for(iss).expect("issuer configured");
    claims["iss"] = iss.into();
    claims["aud"] = "sigstore".into();
    let map = claims.as_object().unwrap().clone();
    Principal::from_claims(&issuer, &VerifiedClaims::from_verified_token(map))
}

fn golden(iss: &str, claims: Value, name: &str, san_der: &[u8], want: &[Want<'_>]) {
    let p = principal(iss, claims).unwrap();
    assert_eq!(p.name(), name, "proof-of-possession name");
    let san = p.subject_alt_name().to_extension().unwrap();
    assert!(san.critical, "SAN is critical (empty subject)");
    assert_eq!(san.extn_value.as_bytes(), san_der, "SAN DER");
    let got: Vec<(String, Vec<u8>)> = p
        .extensions()
        .iter()
        .map(|e| {
            let ext = e.to_extension().unwrap();
            assert!(!ext.critical, "{} is non-critical", e.oid);
            (ext.extn_id.to_string(), ext.extn_value.as_bytes().to_vec())
        })
        .collect();
    let want: Vec<(String, Vec<u8>)> = want
        .iter()
        .map(|w| match w {
            Want::Raw(arc, v) => (format!("1.3.6.1.4.1.57264.1.{arc}"), v.as_bytes().to_vec()),
            Want::Utf8(arc, v) => (format!("1.3.6.1.4.1.57264.1.{arc}"), utf8(v)),
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn the_operator_config_loads_with_every_issuer() {
    let config = IssuerConfig::from_text(CONFIG).unwrap();
    assert_eq!(config.issuers().count(), 15);
    assert_eq!(config.meta_issuers().count(), 5);
    let types: std::collections::BTreeSet<&str> = config
        .issuers()
        .map(|i| i.kind.type_name())
        .chain(config.meta_issuers().map(|(_, i)| i.kind.type_name()))
        .collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        [
            "chainguard-identity",
            "ci-provider",
            "email",
            "kubernetes",
            "spiffe",
            "uri",
            "username"
        ]
    );
    for (iss, ty) in [
        (
            "https://oidc.eks.eu-west-1.amazonaws.com/id/B02C93B6A2D30341AD01E1B6D48164CB",
            "kubernetes",
        ),
        (
            "https://container.googleapis.com/v1/projects/p-1/locations/europe-west1/clusters/c1",
            "kubernetes",
        ),
        (
            "https://westeurope.oic.prod-aks.azure.com/tenant-id",
            "kubernetes",
        ),
        ("https://oidc.circleci.com/org/0f4c9a1e", "ci-provider"),
        (
            "https://token.actions.githubusercontent.com/acme",
            "ci-provider",
        ),
    ] {
        assert_eq!(
            config.issuer_for(iss).unwrap().kind.type_name(),
            ty,
            "{iss}"
        );
    }
    // Only whole matches count: an unanchored prefix or suffix does not.
    for iss in [
        "https://oidc.eks.eu-west-1.amazonaws.com/id/X/../../evil",
        "https://oidc.eks.eu-west-1.amazonaws.com/id/X.evil.com",
        "https://evil.com/https://oidc.eks.eu-west-1.amazonaws.com/id/X",
        "https://oidc.eks.eu-west-1.amazonaws.com.evil.com/id/X",
        "https://token.actions.githubusercontent.com/acme/more",
    ] {
        assert!(config.issuer_for(iss).is_none(), "{iss}");
    }
}

#[test]
fn email_with_every_claim() {
    golden(
        "https://accounts.example.com",
        json!({"sub": "10987", "email": "alice@example.com", "email_verified": true}),
        "alice@example.com",
        &san_email("alice@example.com"),
        &[
            Want::Raw(1, "https://accounts.example.com"),
            Want::Utf8(8, "https://accounts.example.com"),
            Want::Utf8(24, "10987"),
        ],
    );
}

#[test]
fn federated_email_records_the_issuer_claim() {
    golden(
        "https://dex.example.com/auth",
        json!({
            "sub": "CgQxMjM0EgZnaXRodWI", "email": "bob@example.com", "email_verified": true,
            "federated_claims": {"connector_id": "https://github.com/login/oauth", "user_id": "1234"},
        }),
        "bob@example.com",
        &san_email("bob@example.com"),
        &[
            Want::Raw(1, "https://github.com/login/oauth"),
            Want::Utf8(8, "https://github.com/login/oauth"),
            Want::Utf8(24, "CgQxMjM0EgZnaXRodWI"),
        ],
    );
    // The issuer claim is required when configured.
    let missing = principal(
        "https://dex.example.com/auth",
        json!({"sub": "x", "email": "bob@example.com", "email_verified": true}),
    );
    assert!(matches!(missing, Err(FulcioCoreError::MissingClaim(c)) if c.contains("connector_id")));
}

#[test]
fn email_verification_and_its_per_issuer_skip() {
    let unverified = json!({"sub": "1", "email": "carol@example.com", "email_verified": false});
    assert!(matches!(
        principal("https://accounts.example.com", unverified.clone()),
        Err(FulcioCoreError::EmailNotVerified)
    ));
    let p = principal("https://entra.example.com/tenant", unverified).unwrap();
    assert_eq!(p.name(), "carol@example.com");
}

#[test]
fn uri_with_every_claim() {
    golden(
        "https://idp.example.com",
        json!({"sub": "https://example.com/services/build"}),
        "https://example.com/services/build",
        &san_uri("https://example.com/services/build"),
        &[
            Want::Raw(1, "https://idp.example.com"),
            Want::Utf8(8, "https://idp.example.com"),
            Want::Utf8(24, "https://example.com/services/build"),
        ],
    );
}

#[test]
fn username_with_every_claim() {
    golden(
        "https://users.example.org",
        json!({"sub": "dana"}),
        "dana",
        &san_username("dana!example.org"),
        &[
            Want::Raw(1, "https://users.example.org"),
            Want::Utf8(8, "https://users.example.org"),
            Want::Utf8(24, "dana"),
        ],
    );
}

#[test]
fn spiffe_with_every_claim_and_its_trust_domain_check() {
    golden(
        "https://spire.example.com",
        json!({"sub": "spiffe://prod.example.com/ns/build/sa/signer"}),
        "spiffe://prod.example.com/ns/build/sa/signer",
        &san_uri("spiffe://prod.example.com/ns/build/sa/signer"),
        &[
            Want::Raw(1, "https://spire.example.com"),
            Want::Utf8(8, "https://spire.example.com"),
            Want::Utf8(24, "spiffe://prod.example.com/ns/build/sa/signer"),
        ],
    );
    for sub in [
        "spiffe://staging.example.com/ns/build",
        "spiffe://prod.example.com.evil/x",
        "https://prod.example.com/x",
        "spiffe://prod.example.com/a//b",
        "spiffe://prod.example.com/../x",
    ] {
        let refused = principal("https://spire.example.com", json!({ "sub": sub }));
        assert!(
            matches!(refused, Err(FulcioCoreError::InvalidClaim { .. })),
            "{sub}: {refused:?}"
        );
    }
}

#[test]
fn kubernetes_with_every_claim() {
    let claims = json!({
        "sub": "system:serviceaccount:build:signer",
        "kubernetes.io": {
            "namespace": "build",
            "pod": {"name": "signer-7d9f", "uid": "49ad3572-b3dd-43a6-8d77-5858d3660275"},
            "serviceaccount": {"name": "signer", "uid": "f5720c1d-e152-4356-a897-11b07aff165d"},
        },
    });
    golden(
        "https://kubernetes.default.svc",
        claims.clone(),
        "system:serviceaccount:build:signer",
        &san_uri("https://kubernetes.io/namespaces/build/serviceaccounts/signer"),
        &[
            Want::Raw(1, "https://kubernetes.default.svc"),
            Want::Utf8(8, "https://kubernetes.default.svc"),
            Want::Utf8(24, "system:serviceaccount:build:signer"),
        ],
    );
    // The same through an EKS meta-issuer: the recorded issuer is the token's own.
    let eks = "https://oidc.eks.eu-west-1.amazonaws.com/id/B02C93B6A2D30341AD01E1B6D48164CB";
    golden(
        eks,
        claims,
        "system:serviceaccount:build:signer",
        &san_uri("https://kubernetes.io/namespaces/build/serviceaccounts/signer"),
        &[
            Want::Raw(1, eks),
            Want::Utf8(8, eks),
            Want::Utf8(24, "system:serviceaccount:build:signer"),
        ],
    );
    let missing = principal(
        "https://kubernetes.default.svc",
        json!({"sub": "x", "kubernetes.io": {"namespace": "build"}}),
    );
    assert!(
        matches!(&missing, Err(FulcioCoreError::MissingClaim(_))),
        "{missing:?}"
    );
    let injected = principal(
        "https://kubernetes.default.svc",
        json!({"sub": "x", "kubernetes.io": {"namespace": "a/../b", "serviceaccount": {"name": "s"}}}),
    );
    assert!(matches!(
        injected,
        Err(FulcioCoreError::InvalidClaim { .. })
    ));
}

#[test]
fn chainguard_identity_with_every_claim() {
    golden(
        "https://issuer.enforce.dev",
        json!({"sub": "b4ef1b1e8ba3f43a8e2e7e7c1ffbe1dd0ed95a5a/4e0a9b4c7d9b3e2a", "act": {"iss": "https://token.actions.githubusercontent.com", "sub": "repo:acme/app:ref:refs/heads/main"}}),
        "b4ef1b1e8ba3f43a8e2e7e7c1ffbe1dd0ed95a5a/4e0a9b4c7d9b3e2a",
        &san_uri(
            "https://issuer.enforce.dev/b4ef1b1e8ba3f43a8e2e7e7c1ffbe1dd0ed95a5a/4e0a9b4c7d9b3e2a",
        ),
        &[
            Want::Raw(1, "https://issuer.enforce.dev"),
            Want::Utf8(8, "https://issuer.enforce.dev"),
            Want::Utf8(
                24,
                "b4ef1b1e8ba3f43a8e2e7e7c1ffbe1dd0ed95a5a/4e0a9b4c7d9b3e2a",
            ),
        ],
    );
    // With a verified email the proof of possession signs the email.
    let p = principal(
        "https://issuer.enforce.dev",
        json!({"sub": "abc", "email": "erin@example.com", "email_verified": true}),
    )
    .unwrap();
    assert_eq!(p.name(), "erin@example.com");
    let traversal = principal("https://issuer.enforce.dev", json!({"sub": "a/../b"}));
    assert!(matches!(
        traversal,
        Err(FulcioCoreError::InvalidClaim { .. })
    ));
}

#[test]
fn gitlab_with_every_claim() {
    let claims = json!({
        "sub": "project_path:acme/app:ref_type:tag:ref:v1.2.0",
        "namespace_id": "72", "namespace_path": "acme", "project_id": "4711", "project_path": "acme/app",
        "user_id": "9", "user_login": "dev", "pipeline_id": "100", "pipeline_source": "push",
        "job_id": "3141", "ref": "v1.2.0", "ref_type": "tag", "ref_protected": "true",
        "environment": "production", "runner_id": 5, "runner_environment": "gitlab-hosted",
        "sha": "aa11bb22cc33dd44ee55ff6677889900aabbccdd",
        "project_visibility": "public",
        "ci_config_ref_uri": "gitlab.com/acme/app//.gitlab-ci.yml@refs/tags/v1.2.0",
        "ci_config_sha": "aa11bb22cc33dd44ee55ff6677889900aabbccdd",
    });
    golden(
        "https://gitlab.com",
        claims,
        "project_path:acme/app:ref_type:tag:ref:v1.2.0",
        &san_uri("https://gitlab.com/acme/app//.gitlab-ci.yml@refs/tags/v1.2.0"),
        &[
            Want::Raw(1, "https://gitlab.com"),
            Want::Utf8(8, "https://gitlab.com"),
            Want::Utf8(
                9,
                "https://gitlab.com/acme/app//.gitlab-ci.yml@refs/tags/v1.2.0",
            ),
            Want::Utf8(10, "aa11bb22cc33dd44ee55ff6677889900aabbccdd"),
            Want::Utf8(11, "gitlab-hosted"),
            Want::Utf8(12, "https://gitlab.com/acme/app"),
            Want::Utf8(13, "aa11bb22cc33dd44ee55ff6677889900aabbccdd"),
            Want::Utf8(14, "refs/tags/v1.2.0"),
            Want::Utf8(15, "4711"),
            Want::Utf8(16, "https://gitlab.com/acme"),
            Want::Utf8(17, "72"),
            Want::Utf8(
                18,
                "https://gitlab.com/acme/app//.gitlab-ci.yml@refs/tags/v1.2.0",
            ),
            Want::Utf8(19, "aa11bb22cc33dd44ee55ff6677889900aabbccdd"),
            Want::Utf8(20, "push"),
            Want::Utf8(21, "https://gitlab.com/acme/app/-/jobs/3141"),
            Want::Utf8(22, "public"),
            Want::Utf8(23, "production"),
            Want::Utf8(24, "project_path:acme/app:ref_type:tag:ref:v1.2.0"),
        ],
    );
}

#[test]
fn codefresh_with_every_claim() {
    golden(
        "https://oidc.codefresh.io",
        json!({
            "sub": "account:628a80b693a15c0f9c13ab75:pipeline:65e6d5551e7c5ca1f6b5b5f5",
            "account_id": "628a80b693a15c0f9c13ab75", "account_name": "acme",
            "pipeline_id": "65e6d5551e7c5ca1f6b5b5f5", "pipeline_name": "app/build",
            "workflow_id": "65e6d6cd1e7c5ca1f6b5b600", "initiator": "dev",
            "scm_user_name": "dev", "scm_repo_url": "https://github.com/acme/app",
            "scm_ref": "main", "scm_pull_request_target_branch": "main",
            "runner_environment": "hybrid",
        }),
        "account:628a80b693a15c0f9c13ab75:pipeline:65e6d5551e7c5ca1f6b5b5f5",
        &san_uri(
            "https://g.codefresh.io/acme/app/build:628a80b693a15c0f9c13ab75/65e6d5551e7c5ca1f6b5b5f5",
        ),
        &[
            Want::Raw(1, "https://oidc.codefresh.io"),
            Want::Utf8(8, "https://oidc.codefresh.io"),
            Want::Utf8(9, "https://g.codefresh.io/build/65e6d6cd1e7c5ca1f6b5b600"),
            Want::Utf8(11, "hybrid"),
            Want::Utf8(12, "https://github.com/acme/app"),
            Want::Utf8(14, "main"),
            Want::Utf8(
                18,
                "https://g.codefresh.io/api/pipelines/65e6d5551e7c5ca1f6b5b5f5",
            ),
            Want::Utf8(21, "https://g.codefresh.io/build/65e6d6cd1e7c5ca1f6b5b600"),
            Want::Utf8(
                24,
                "account:628a80b693a15c0f9c13ab75:pipeline:65e6d5551e7c5ca1f6b5b5f5",
            ),
        ],
    );
}

#[test]
fn buildkite_with_every_claim() {
    golden(
        "https://agent.buildkite.com",
        json!({
            "sub": "organization:acme:pipeline:app:ref:refs/heads/main:commit:9f3182061f1e2cca4702c368cbc039b7dc9d4485:step:build",
            "organization_slug": "acme", "pipeline_slug": "app", "build_number": 1337,
            "build_branch": "main", "build_tag": null, "build_commit": "9f3182061f1e2cca4702c368cbc039b7dc9d4485",
            "build_source": "webhook", "step_key": "build", "job_id": "0184990a-477b-4fa8-9968-496074483cee",
            "agent_id": "0184990a-4782-42b5-afc1-16715b10b8ff", "runner_environment": "buildkite-hosted",
        }),
        "organization:acme:pipeline:app:ref:refs/heads/main:commit:9f3182061f1e2cca4702c368cbc039b7dc9d4485:step:build",
        &san_uri("https://buildkite.com/acme/app"),
        &[
            Want::Raw(1, "https://agent.buildkite.com"),
            Want::Utf8(8, "https://agent.buildkite.com"),
            Want::Utf8(11, "buildkite-hosted"),
            Want::Utf8(13, "9f3182061f1e2cca4702c368cbc039b7dc9d4485"),
            Want::Utf8(20, "webhook"),
            Want::Utf8(
                21,
                "https://buildkite.com/acme/app/builds/1337#0184990a-477b-4fa8-9968-496074483cee",
            ),
            Want::Utf8(
                24,
                "organization:acme:pipeline:app:ref:refs/heads/main:commit:9f3182061f1e2cca4702c368cbc039b7dc9d4485:step:build",
            ),
        ],
    );
}

fn circleci_claims(ssh_rerun: &str) -> Value {
    json!({
        "sub": "org/0f4c9a1e/project/5b6c7d8e/user/1a2b3c4d",
        "oidc.circleci.com/project-id": "5b6c7d8e",
        "oidc.circleci.com/pipeline-definition-id": "d1e2f3a4",
        "oidc.circleci.com/pipeline-id": "p9q8r7s6",
        "oidc.circleci.com/workflow-id": "w1w2w3w4",
        "oidc.circleci.com/job-id": "j5j6j7j8",
        "oidc.circleci.com/vcs-origin": "github.com/acme/app",
        "oidc.circleci.com/vcs-ref": "refs/heads/main",
        "oidc.circleci.com/ssh-rerun": ssh_rerun,
        "oidc.circleci.com/context-ids": ["c1"],
    })
}

#[test]
fn circleci_with_every_claim() {
    let signer = "https://circleci.com/api/v2/projects/5b6c7d8e/pipeline-definitions/d1e2f3a4";
    let want = |runner: &'static str| {
        vec![
            Want::Raw(1, "https://oidc.circleci.com"),
            Want::Utf8(8, "https://oidc.circleci.com"),
            Want::Utf8(9, signer),
            Want::Utf8(11, runner),
            Want::Utf8(12, "github.com/acme/app"),
            Want::Utf8(14, "refs/heads/main"),
            Want::Utf8(18, "https://circleci.com/api/v2/pipeline/p9q8r7s6/config"),
            Want::Utf8(
                21,
                "https://app.circleci.com//workflow/w1w2w3w4/job/j5j6j7j8",
            ),
            Want::Utf8(24, "org/0f4c9a1e/project/5b6c7d8e/user/1a2b3c4d"),
        ]
    };
    golden(
        "https://oidc.circleci.com",
        circleci_claims("true"),
        "org/0f4c9a1e/project/5b6c7d8e/user/1a2b3c4d",
        &san_uri(signer),
        &want("ssh-rerun"),
    );
    // Upstream's template writes the two characters `""` outside SSH re-runs.
    golden(
        "https://oidc.circleci.com",
        circleci_claims("false"),
        "org/0f4c9a1e/project/5b6c7d8e/user/1a2b3c4d",
        &san_uri(signer),
        &want("\"\""),
    );
}

#[test]
fn buddy_with_every_claim() {
    golden(
        "https://oidc.buddyusercontent.com",
        json!({
            "sub": "acme/4f1c", "workspace_domain": "acme", "workspace_display_name": "Acme",
            "project_name": "app", "project_display_name": "App", "pipeline_id": "123456",
            "pipeline_name": "Build", "action_id": "789", "action_name": "Sign",
            "execution_id": "4567", "revision": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
            "ref": "refs/heads/main",
        }),
        "acme/4f1c",
        &san_uri("https://app.buddy.works/acme/app/pipelines/pipeline/123456"),
        &[
            Want::Raw(1, "https://oidc.buddyusercontent.com"),
            Want::Utf8(8, "https://oidc.buddyusercontent.com"),
            Want::Utf8(
                9,
                "https://app.buddy.works/acme/app/pipelines/pipeline/123456",
            ),
            Want::Utf8(13, "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"),
            Want::Utf8(14, "refs/heads/main"),
            Want::Utf8(
                21,
                "https://app.buddy.works/acme/app/pipelines/pipeline/123456/execution/4567",
            ),
            Want::Utf8(24, "acme/4f1c"),
        ],
    );
}

#[test]
fn github_through_the_operator_config_matches_the_builtin_bytes() {
    // The operator's copy of the GitHub template and the built-in one give identical bytes.
    let claims: Value =
        serde_json::from_str(include_str!("data/github-actions-release-claims.json")).unwrap();
    let from_operator = principal(
        "https://token.actions.githubusercontent.com",
        claims.clone(),
    )
    .unwrap();
    let builtin = IssuerConfig::from_text(
        "oidc-issuers:\n  https://token.actions.githubusercontent.com:\n    client-id: sigstore\n    type: ci-provider\n    ci-provider: github-workflow\n",
    )
    .unwrap();
    let mut map = claims.as_object().unwrap().clone();
    map.insert(
        "iss".into(),
        "https://token.actions.githubusercontent.com".into(),
    );
    let from_builtin = Principal::from_claims(
        &builtin
            .issuer_for("https://token.actions.githubusercontent.com")
            .unwrap(),
        &VerifiedClaims::from_verified_token(map),
    )
    .unwrap();
    assert_eq!(from_operator.extensions(), from_builtin.extensions());
    // .1, .2-.6, .8, .9-.22 and .24; the release job has no deployment environment (.23).
    assert_eq!(from_operator.extensions().len(), 22);
}

#[test]
fn a_missing_template_claim_is_an_error() {
    let mut claims = circleci_claims("false");
    claims.as_object_mut().unwrap().remove("sub");
    assert!(principal("https://oidc.circleci.com", claims).is_err());
    // `.workflow_id` is read with a field action: absent means the request fails.
    let missing = principal(
        "https://oidc.codefresh.io",
        json!({"sub": "s", "account_id": "a", "account_name": "n", "pipeline_id": "p", "pipeline_name": "q"}),
    );
    assert!(
        matches!(&missing, Err(FulcioCoreError::TemplateMissingKey(k)) if k == "workflow_id"),
        "{missing:?}"
    );
}
