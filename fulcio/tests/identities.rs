//! Every issuer type through the service, with air-gapped issuers (static JWKS file and
//! inline), claim policies, detached SCTs, rate limits and `/api/v2/configuration`. Each issued
//! certificate is parsed back with x509-parser, held against the Fulcio profile and found in
//! the CT log.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{CtMode, IdpKey, Stack, call, now_secs, public_key_request};
use der::Encode;
use serde_json::{Value, json};
use sigstack_clock::SystemClock;
use sigstack_fulcio::{RateLimit, RateLimits};
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer};
use x509_cert::Certificate;
use x509_parser::prelude::*;

/// Every type, all air-gapped: keys from JWKS_FILE (the test key), no network.
const CONFIG: &str = r#"
oidc-issuers:
  https://mail.example.test:
    client-id: sigstore
    type: email
    jwks-file: JWKS_FILE
  https://dex.example.test/auth:
    client-id: sigstore
    type: email
    issuer-claim: $.federated_claims.connector_id
    jwks-file: JWKS_FILE
  https://idp.example.test:
    client-id: sigstore
    type: uri
    subject-domain: https://example.test
    jwks-file: JWKS_FILE
  https://users.example.test:
    client-id: sigstore
    type: username
    subject-domain: example.test
    jwks-file: JWKS_FILE
  https://spire.example.test:
    client-id: sigstore
    type: spiffe
    spiffe-trust-domain: prod.example.test
    jwks-file: JWKS_FILE
  https://issuer.enforce.dev:
    client-id: sigstore
    type: chainguard-identity
    jwks-file: JWKS_FILE
  https://token.actions.githubusercontent.com:
    client-id: sigstore
    type: ci-provider
    ci-provider: github-workflow
    jwks-file: JWKS_FILE
    claim-policy:
      rules:
        - name: owner-1234-only
          claim: repository_owner_id
          exact: ["1234"]
    custom-extensions:
      - oid: 1.3.6.1.4.1.99999.7.1
        template: "{{ .repository }}@{{ .sha }}"
  https://gitlab.com:
    client-id: sigstore
    type: ci-provider
    ci-provider: gitlab-pipeline
    jwks-file: JWKS_FILE
  https://agent.buildkite.com:
    client-id: sigstore
    type: ci-provider
    ci-provider: buildkite-job
    jwks-file: JWKS_FILE
  https://oidc.circleci.com:
    client-id: sigstore
    type: ci-provider
    ci-provider: circleci-job
    jwks-file: JWKS_FILE
  https://oidc.codefresh.io:
    client-id: sigstore
    type: ci-provider
    ci-provider: codefresh-workflow
    jwks-file: JWKS_FILE
  https://oidc.buddyusercontent.com:
    client-id: sigstore
    type: ci-provider
    ci-provider: buddy-pipeline
    jwks-file: JWKS_FILE
  BASE/elsewhere:
    client-id: sigstore
    type: email
meta-issuers:
  https://oidc.eks.*.amazonaws.com/id/*:
    client-id: sigstore
    type: kubernetes
    jwks: INLINE_JWKS
"#;

struct Fixture {
    stack: Stack,
    key: IdpKey,
    jwks_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn fixture(ct: CtMode, detached: bool, limits: RateLimits) -> Fixture {
    let key = IdpKey::es256("static-1");
    let dir = tempfile::tempdir().unwrap();
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, json!({"keys": [key.jwk]}).to_string()).unwrap();
    let config = CONFIG
        .replace("JWKS_FILE", jwks_path.to_str().unwrap())
        .replace("INLINE_JWKS", &json!({"keys": [key.jwk]}).to_string());
    let stack = Stack::start_custom(
        ct,
        &config,
        Duration::ZERO,
        Arc::new(SystemClock),
        detached,
        limits,
    )
    .await;
    Fixture {
        stack,
        key,
        jwks_path,
        _dir: dir,
    }
}

fn token(key: &IdpKey, iss: &str, extra: Value) -> String {
    let now = now_secs();
    let mut claims =
        json!({"iss": iss, "aud": "sigstore", "iat": now, "nbf": now, "exp": now + 600});
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    key.sign(&claims)
}

fn request(token: &str, client: &FileSigner, challenge: &str) -> Request<Body> {
    let body = json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": public_key_request(client, challenge),
    });
    Request::post("/api/v2/signingCert")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn github_claims(owner_id: &str) -> Value {
    let mut claims: Value = serde_json::from_str(
        &std::fs::read_to_string("tests/data/github-actions-release-claims.json").unwrap(),
    )
    .unwrap();
    claims["repository_owner_id"] = owner_id.into();
    // Times, issuer and audience come from `token`.
    for stale in ["exp", "iat", "nbf", "iss", "aud"] {
        claims.as_object_mut().unwrap().remove(stale);
    }
    claims
}

/// The expected SAN of each case.
enum San {
    Email(&'static str),
    Uri(String),
    Username(&'static str),
}

struct Case {
    iss: String,
    claims: Value,
    challenge: String,
    san: San,
    recorded_issuer: String,
}

fn cases() -> Vec<Case> {
    let case = |iss: &str, claims: Value, challenge: &str, san: San| Case {
        iss: iss.into(),
        claims,
        challenge: challenge.into(),
        san,
        recorded_issuer: iss.into(),
    };
    let eks = "https://oidc.eks.eu-west-1.amazonaws.com/id/B02C93B6A2D30341AD01E1B6D48164CB";
    let gh = github_claims("1234");
    let gh_sub = gh["sub"].as_str().unwrap().to_string();
    let gh_san = format!(
        "https://github.com/{}",
        gh["job_workflow_ref"].as_str().unwrap()
    );
    vec![
        case(
            "https://mail.example.test",
            json!({"sub": "u1", "email": "alice@example.test", "email_verified": true}),
            "alice@example.test",
            San::Email("alice@example.test"),
        ),
        Case {
            recorded_issuer: "https://github.com/login/oauth".into(),
            ..case(
                "https://dex.example.test/auth",
                json!({"sub": "u2", "email": "bob@example.test", "email_verified": true,
                       "federated_claims": {"connector_id": "https://github.com/login/oauth"}}),
                "bob@example.test",
                San::Email("bob@example.test"),
            )
        },
        case(
            "https://idp.example.test",
            json!({"sub": "https://example.test/services/release"}),
            "https://example.test/services/release",
            San::Uri("https://example.test/services/release".into()),
        ),
        case(
            "https://users.example.test",
            json!({"sub": "dana"}),
            "dana",
            San::Username("dana!example.test"),
        ),
        case(
            "https://spire.example.test",
            json!({"sub": "spiffe://prod.example.test/ns/build/sa/signer"}),
            "spiffe://prod.example.test/ns/build/sa/signer",
            San::Uri("spiffe://prod.example.test/ns/build/sa/signer".into()),
        ),
        case(
            eks,
            json!({"sub": "system:serviceaccount:build:signer",
                   "kubernetes.io": {"namespace": "build", "serviceaccount": {"name": "signer"}}}),
            "system:serviceaccount:build:signer",
            San::Uri("https://kubernetes.io/namespaces/build/serviceaccounts/signer".into()),
        ),
        case(
            "https://issuer.enforce.dev",
            json!({"sub": "b4ef1b1e/4e0a9b4c"}),
            "b4ef1b1e/4e0a9b4c",
            San::Uri("https://issuer.enforce.dev/b4ef1b1e/4e0a9b4c".into()),
        ),
        case(
            "https://token.actions.githubusercontent.com",
            gh,
            &gh_sub,
            San::Uri(gh_san),
        ),
        case(
            "https://gitlab.com",
            json!({"sub": "project_path:acme/app:ref_type:branch:ref:main", "ref": "main",
                   "ref_type": "branch", "project_path": "acme/app", "namespace_path": "acme",
                   "namespace_id": "7", "project_id": "8", "pipeline_source": "push", "job_id": "9",
                   "sha": "abc", "runner_environment": "gitlab-hosted", "project_visibility": "public",
                   "ci_config_ref_uri": "gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main",
                   "ci_config_sha": "abc"}),
            "project_path:acme/app:ref_type:branch:ref:main",
            San::Uri("https://gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main".into()),
        ),
        case(
            "https://agent.buildkite.com",
            json!({"sub": "organization:acme:pipeline:app", "organization_slug": "acme",
                   "pipeline_slug": "app", "build_number": 4, "job_id": "j", "build_commit": "c",
                   "build_source": "ui", "runner_environment": "self-hosted"}),
            "organization:acme:pipeline:app",
            San::Uri("https://buildkite.com/acme/app".into()),
        ),
        case(
            "https://oidc.circleci.com",
            json!({"sub": "org/o/project/p/user/u", "oidc.circleci.com/project-id": "p",
                   "oidc.circleci.com/pipeline-definition-id": "d", "oidc.circleci.com/pipeline-id": "q",
                   "oidc.circleci.com/workflow-id": "w", "oidc.circleci.com/job-id": "j",
                   "oidc.circleci.com/vcs-origin": "github.com/acme/app",
                   "oidc.circleci.com/vcs-ref": "refs/heads/main"}),
            "org/o/project/p/user/u",
            San::Uri("https://circleci.com/api/v2/projects/p/pipeline-definitions/d".into()),
        ),
        case(
            "https://oidc.codefresh.io",
            json!({"sub": "account:a:pipeline:p", "account_id": "a", "account_name": "acme",
                   "pipeline_id": "p", "pipeline_name": "app/build", "workflow_id": "w"}),
            "account:a:pipeline:p",
            San::Uri("https://g.codefresh.io/acme/app/build:a/p".into()),
        ),
        case(
            "https://oidc.buddyusercontent.com",
            json!({"sub": "acme/x", "workspace_domain": "acme", "project_name": "app",
                   "pipeline_id": "12", "execution_id": "34"}),
            "acme/x",
            San::Uri("https://app.buddy.works/acme/app/pipelines/pipeline/12".into()),
        ),
    ]
}

fn leaf_of(answer: &Value) -> Certificate {
    let pem = answer["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no embedded chain in {answer}"));
    sigstack_pki::parse_pem_chain(pem).unwrap().remove(0)
}

/// The profile, checked with x509-parser (independent of the issuing code).
fn check_profile(der: &[u8], case: &Case) {
    let (rest, cert) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty());
    assert_eq!(cert.version(), X509Version::V3);
    assert!(cert.subject().iter().next().is_none(), "empty subject");
    let validity = cert.validity();
    assert_eq!(
        validity.not_after.timestamp() - validity.not_before.timestamp(),
        600
    );
    let serial = cert.raw_serial();
    assert!(
        serial.len() <= 21 && serial.len() >= 17 && serial[0] & 0x80 == 0,
        "positive random serial"
    );
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.digital_signature() && !ku.value.key_cert_sign());
    let eku = cert.extended_key_usage().unwrap().unwrap();
    assert!(!eku.critical && eku.value.code_signing && !eku.value.any);
    assert!(
        cert.extensions()
            .iter()
            .any(|e| e.oid.to_id_string() == "2.5.29.14"),
        "SKID"
    );
    assert!(
        cert.extensions()
            .iter()
            .any(|e| e.oid.to_id_string() == "2.5.29.35"),
        "AKID"
    );
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert!(san.critical, "SAN critical");
    assert_eq!(san.value.general_names.len(), 1, "exactly one SAN");
    match (&case.san, &san.value.general_names[0]) {
        (San::Email(want), GeneralName::RFC822Name(got)) => assert_eq!(got, want),
        (San::Uri(want), GeneralName::URI(got)) => assert_eq!(got, want),
        (San::Username(want), GeneralName::OtherName(oid, value)) => {
            assert_eq!(oid.to_id_string(), "1.3.6.1.4.1.57264.1.7");
            // [0] EXPLICIT UTF8String
            let inner = &value[value.len() - want.len()..];
            assert_eq!(inner, want.as_bytes());
        }
        (_, other) => panic!("unexpected SAN {other:?} for {}", case.iss),
    }
    let by_oid = |oid: &str| {
        cert.extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == oid)
            .unwrap_or_else(|| panic!("{oid} missing for {}", case.iss))
    };
    assert_eq!(
        by_oid("1.3.6.1.4.1.57264.1.1").value,
        case.recorded_issuer.as_bytes()
    );
    let issuer_v2 = by_oid("1.3.6.1.4.1.57264.1.8");
    assert!(!issuer_v2.critical);
    assert_eq!(issuer_v2.value[0], 0x0c);
    assert_eq!(&issuer_v2.value[2..], case.recorded_issuer.as_bytes());
    let sct = by_oid("1.3.6.1.4.1.11129.2.4.2");
    assert!(!sct.critical);
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        if oid.starts_with("1.3.6.1.4.1.57264.1.") {
            assert!(!ext.critical, "{oid} non-critical");
        }
    }
}

/// The CT log holds a precertificate entry whose TBS is the leaf's TBS without its SCT list.
async fn assert_logged(stack: &Stack, leaf: &Certificate) {
    let (log, _) = stack.ct.as_ref().unwrap();
    let size = log.signed_tree_head().await.unwrap().tree_size;
    let tbs = leaf.tbs_certificate().to_der().unwrap();
    let want =
        sigstack_ct::tbs_without_extension(&tbs, sigstack_fulcio_core::oids::CT_SCT_LIST).unwrap();
    let found = log
        .entries(0, size - 1)
        .await
        .unwrap()
        .into_iter()
        .any(|entry| {
            matches!(
                sigstack_ct::MerkleTreeLeaf::from_tls(&entry.leaf_input).unwrap().entry,
                sigstack_ct::LogEntryType::Precert { tbs_der, .. } if tbs_der == want
            )
        });
    assert!(found, "the certificate is in the CT log");
}

#[tokio::test]
async fn every_identity_type_is_issued_profiled_and_logged() {
    let f = fixture(CtMode::Log, false, RateLimits::default()).await;
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let all = cases();
    for case in &all {
        let jwt = token(&f.key, &case.iss, case.claims.clone());
        let (status, answer) = call(f.stack.app(), request(&jwt, &client, &case.challenge)).await;
        assert_eq!(status, StatusCode::OK, "{}: {answer}", case.iss);
        let leaf = leaf_of(&answer);
        check_profile(&leaf.to_der().unwrap(), case);
        assert_logged(&f.stack, &leaf).await;
    }
    assert_eq!(f.stack.issued(), all.len() as u64);
    assert_eq!(f.stack.ct_size().await, all.len() as u64);
    // No key was fetched from the network for any of them.
    assert_eq!(f.stack.provider.fetches(), 0);

    // The custom extension of the GitHub issuer: DER UTF8String, non-critical.
    let gh = &all[7];
    let jwt = token(&f.key, &gh.iss, gh.claims.clone());
    let (_, answer) = call(f.stack.app(), request(&jwt, &client, &gh.challenge)).await;
    let der = leaf_of(&answer).to_der().unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let custom = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "1.3.6.1.4.1.99999.7.1")
        .unwrap();
    let want = format!(
        "{}@{}",
        gh.claims["repository"].as_str().unwrap(),
        gh.claims["sha"].as_str().unwrap()
    );
    assert!(!custom.critical);
    assert_eq!(
        custom.value,
        [&[0x0c, want.len() as u8][..], want.as_bytes()].concat()
    );
}

async fn assert_refused(f: &Fixture, req: Request<Body>, status: StatusCode, needle: &str) {
    let (ct, issued) = (f.stack.ct_size().await, f.stack.issued());
    let (got, body) = call(f.stack.app(), req).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["code"], status.as_u16(), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(needle),
        "{message:?} should mention {needle:?}"
    );
    assert_eq!(f.stack.ct_size().await, ct, "nothing logged");
    assert_eq!(f.stack.issued(), issued, "nothing issued");
}

#[tokio::test]
async fn refusals_are_clear_and_leave_nothing_behind() {
    let f = fixture(CtMode::Log, false, RateLimits::default()).await;
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let gh = "https://token.actions.githubusercontent.com";
    let other_owner = github_claims("999");
    let sub = other_owner["sub"].as_str().unwrap().to_string();
    assert_refused(
        &f,
        request(&token(&f.key, gh, other_owner), &client, &sub),
        StatusCode::FORBIDDEN,
        "owner-1234-only",
    )
    .await;
    // Unverified email.
    let jwt = token(
        &f.key,
        "https://mail.example.test",
        json!({"sub": "u", "email": "eve@example.test", "email_verified": false}),
    );
    assert_refused(
        &f,
        request(&jwt, &client, "eve@example.test"),
        StatusCode::BAD_REQUEST,
        "not verified",
    )
    .await;
    // A SPIFFE ID of another trust domain.
    let jwt = token(
        &f.key,
        "https://spire.example.test",
        json!({"sub": "spiffe://evil.test/x"}),
    );
    assert_refused(
        &f,
        request(&jwt, &client, "spiffe://evil.test/x"),
        StatusCode::BAD_REQUEST,
        "trust domain",
    )
    .await;
    // A meta-issuer matched only by a prefix.
    let jwt = token(
        &f.key,
        "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC/extra",
        json!({"sub": "s"}),
    );
    assert_refused(
        &f,
        request(&jwt, &client, "s"),
        StatusCode::UNAUTHORIZED,
        "not configured",
    )
    .await;
    // Expired, not yet valid, wrong audience.
    let now = now_secs();
    for (claims, needle) in [
        (json!({"exp": now - 1, "iat": now - 600}), "expired"),
        (json!({"nbf": now + 3600}), "not valid yet"),
        (json!({"aud": "other"}), "audience"),
    ] {
        let mut all = json!({"sub": "u", "email": "a@example.test", "email_verified": true});
        for (k, v) in claims.as_object().unwrap() {
            all[k] = v.clone();
        }
        let jwt = token(&f.key, "https://mail.example.test", all);
        assert_refused(
            &f,
            request(&jwt, &client, "a@example.test"),
            StatusCode::UNAUTHORIZED,
            needle,
        )
        .await;
    }
    // Keys on another origin than the issuer's are never fetched; nothing remote is echoed.
    let elsewhere = f.stack.provider.issuer("elsewhere");
    let jwt = token(
        &f.key,
        &elsewhere,
        json!({"sub": "u", "email": "a@example.test", "email_verified": true}),
    );
    let fetches = f.stack.provider.fetches();
    assert_refused(
        &f,
        request(&jwt, &client, "a@example.test"),
        StatusCode::UNAUTHORIZED,
        "cannot fetch the verification keys",
    )
    .await;
    assert_eq!(
        f.stack.provider.fetches(),
        fetches,
        "the foreign jwks_uri was not fetched"
    );
    let (_, body) = call(f.stack.app(), request(&jwt, &client, "a@example.test")).await;
    assert!(!body.to_string().contains("localhost"), "{body}");
}

#[tokio::test]
async fn a_jwks_file_is_reloaded_when_it_changes() {
    let f = fixture(CtMode::Log, false, RateLimits::default()).await;
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let claims = json!({"sub": "u", "email": "a@example.test", "email_verified": true});
    let iss = "https://mail.example.test";
    let (status, _) = call(
        f.stack.app(),
        request(
            &token(&f.key, iss, claims.clone()),
            &client,
            "a@example.test",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Rotate: the new key replaces the old one in the file.
    let rotated = IdpKey::eddsa("static-2");
    std::fs::write(&f.jwks_path, json!({"keys": [rotated.jwk]}).to_string()).unwrap();
    let (status, body) = call(
        f.stack.app(),
        request(
            &token(&rotated, iss, claims.clone()),
            &client,
            "a@example.test",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(
        f.stack.app(),
        request(&token(&f.key, iss, claims), &client, "a@example.test"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the removed key no longer verifies"
    );
}

#[tokio::test]
async fn configuration_lists_every_issuer() {
    let f = fixture(CtMode::Log, false, RateLimits::default()).await;
    let (status, body) = call(
        f.stack.app(),
        Request::get("/api/v2/configuration")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let issuers = body["issuers"].as_array().unwrap();
    assert_eq!(issuers.len(), 14, "{body}");
    let find = |url: &str| {
        issuers
            .iter()
            .find(|i| i["issuerUrl"] == url || i["wildcardIssuerUrl"] == url)
            .unwrap_or_else(|| panic!("{url} missing"))
    };
    let spire = find("https://spire.example.test");
    assert_eq!(spire["issuerType"], "spiffe");
    assert_eq!(spire["spiffeTrustDomain"], "prod.example.test");
    assert_eq!(spire["challengeClaim"], "sub");
    let eks = find("https://oidc.eks.*.amazonaws.com/id/*");
    assert_eq!(eks["issuerType"], "kubernetes");
    assert_eq!(find("https://mail.example.test")["challengeClaim"], "email");
    assert_eq!(
        find("https://issuer.enforce.dev")["issuerType"],
        "chainguard-identity"
    );
    assert_eq!(
        find("https://users.example.test")["subjectDomain"],
        "example.test"
    );
}

#[tokio::test]
async fn detached_sct_mode_returns_a_verifiable_sct_for_the_logged_certificate() {
    let f = fixture(CtMode::Log, true, RateLimits::default()).await;
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let jwt = token(
        &f.key,
        "https://mail.example.test",
        json!({"sub": "u", "email": "a@example.test", "email_verified": true}),
    );
    let (status, answer) = call(f.stack.app(), request(&jwt, &client, "a@example.test")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let detached = &answer["signedCertificateDetachedSct"];
    let pem = detached["chain"]["certificates"][0].as_str().unwrap();
    let leaf_der = sigstack_pki::parse_pem_chain(pem)
        .unwrap()
        .remove(0)
        .to_der()
        .unwrap();
    let (_, cert) = X509Certificate::from_der(&leaf_der).unwrap();
    assert!(
        !cert
            .extensions()
            .iter()
            .any(|e| e.oid.to_id_string().starts_with("1.3.6.1.4.1.11129.2.4")),
        "neither SCT list nor poison"
    );
    let sct_json = STANDARD
        .decode(detached["signedCertificateTimestamp"].as_str().unwrap())
        .unwrap();
    let response: sigstack_ct::AddChainResponse = serde_json::from_slice(&sct_json).unwrap();
    let sct = sigstack_ct::SignedCertificateTimestamp::from_json(&response).unwrap();
    let (log, log_key) = f.stack.ct.as_ref().unwrap();
    sct.verify_x509(log_key, &leaf_der).unwrap();
    assert_eq!(log.signed_tree_head().await.unwrap().tree_size, 1);
    let entry = log.entries(0, 0).await.unwrap().remove(0);
    assert!(matches!(
        sigstack_ct::MerkleTreeLeaf::from_tls(&entry.leaf_input).unwrap().entry,
        sigstack_ct::LogEntryType::X509(der) if der == leaf_der
    ));

    // Legacy v1: the same SCT in the `SCT` header of a 201.
    let body = json!({
        "publicKey": {"content": STANDARD.encode(sigstack_keys::pem_encode("PUBLIC KEY", client.public_key_der()))},
        "signedEmailAddress": STANDARD.encode(client.sign(b"a@example.test").unwrap()),
    });
    let response = tower::ServiceExt::oneshot(
        f.stack.app(),
        Request::post("/api/v1/signingCert")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {jwt}"))
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let header = response.headers().get("SCT").unwrap().to_str().unwrap();
    let response: sigstack_ct::AddChainResponse =
        serde_json::from_slice(&STANDARD.decode(header).unwrap()).unwrap();
    assert_eq!(response.sct_version, 0);
}

fn with_peer(mut req: Request<Body>, ip: [u8; 4]) -> Request<Body> {
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    req
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let limits = RateLimits {
        per_ip: Some(RateLimit {
            burst: 3,
            per_minute: 1,
        }),
        per_identity: Some(RateLimit {
            burst: 2,
            per_minute: 1,
        }),
    };
    let f = fixture(CtMode::Log, false, limits).await;
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let iss = "https://mail.example.test";
    let alice = token(
        &f.key,
        iss,
        json!({"sub": "a", "email": "alice@example.test", "email_verified": true}),
    );
    let bob = token(
        &f.key,
        iss,
        json!({"sub": "b", "email": "bob@example.test", "email_verified": true}),
    );
    for _ in 0..2 {
        let (status, _) = call(
            f.stack.app(),
            with_peer(
                request(&alice, &client, "alice@example.test"),
                [10, 0, 0, 1],
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    // Alice's identity bucket is empty, even from another address.
    let response = tower::ServiceExt::oneshot(
        f.stack.app(),
        with_peer(
            request(&alice, &client, "alice@example.test"),
            [10, 0, 0, 2],
        ),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let (status, body) = call(
        f.stack.app(),
        with_peer(
            request(&alice, &client, "alice@example.test"),
            [10, 0, 0, 2],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        body["message"].as_str().unwrap().contains("identity"),
        "{body}"
    );
    // The first address has one request left (3 - 2); Bob uses it, then it is exhausted.
    let (status, _) = call(
        f.stack.app(),
        with_peer(request(&bob, &client, "bob@example.test"), [10, 0, 0, 1]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        f.stack.app(),
        with_peer(request(&bob, &client, "bob@example.test"), [10, 0, 0, 1]),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        body["message"].as_str().unwrap().contains("client address"),
        "{body}"
    );
    assert_eq!(f.stack.issued(), 3);
    assert_eq!(f.stack.ct_size().await, 3);
}

#[tokio::test]
async fn ca_cert_roots_are_checked_at_startup() {
    let f = fixture(CtMode::Detached, false, RateLimits::default()).await;
    let root_pem = sigstack_pki::certificate_pem(f.stack.ca.root()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root_file = dir.path().join("idp-ca.pem");
    std::fs::write(&root_file, &root_pem).unwrap();
    let start = |ca_cert: &str| {
        let yaml = format!(
            "oidc-issuers:\n  https://idp.internal.test:\n    client-id: sigstore\n    type: email\n    ca-cert: {}\n",
            serde_json::to_string(ca_cert).unwrap()
        );
        sigstack_fulcio::FulcioState::new(sigstack_fulcio::FulcioConfig {
            ca: f.stack.ca.clone(),
            issuers: sigstack_fulcio::IssuerConfig::from_text(&yaml).unwrap(),
            ct: None,
            metrics: sigstack_http::Metrics::new(),
            http: reqwest::Client::new(),
            detached_sct: false,
            rate_limits: RateLimits::default(),
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    start(&root_pem).unwrap();
    start(root_file.to_str().unwrap()).unwrap();
    let err = start("/nonexistent/ca.pem").unwrap_err();
    assert!(
        err.contains("idp.internal.test") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );
    let err = start("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap_err();
    assert!(err.contains("ca-cert"), "{err}");
    // A jwks-file that is missing or holds no key is refused at startup, naming it.
    for (content, needle) in [
        (None, "No such file"),
        (Some("{\"keys\": []}"), "no usable key"),
    ] {
        let path = dir.path().join("keys.json");
        let _ = std::fs::remove_file(&path);
        if let Some(content) = content {
            std::fs::write(&path, content).unwrap();
        }
        let yaml = format!(
            "oidc-issuers:\n  https://idp.internal.test:\n    client-id: sigstore\n    type: email\n    jwks-file: {}\n",
            path.display()
        );
        let err = sigstack_fulcio::FulcioState::new(sigstack_fulcio::FulcioConfig {
            ca: f.stack.ca.clone(),
            issuers: sigstack_fulcio::IssuerConfig::from_text(&yaml).unwrap(),
            ct: None,
            metrics: sigstack_http::Metrics::new(),
            http: reqwest::Client::new(),
            detached_sct: false,
            rate_limits: RateLimits::default(),
        })
        .map(|_| ())
        .unwrap_err()
        .to_string();
        assert!(err.contains("keys.json") && err.contains(needle), "{err}");
    }
    // Detached SCTs need a CT log.
    let err = sigstack_fulcio::FulcioState::new(sigstack_fulcio::FulcioConfig {
        ca: f.stack.ca.clone(),
        issuers: sigstack_fulcio::IssuerConfig::from_text(
            "oidc-issuers:\n  https://idp.internal.test:\n    client-id: sigstore\n    type: email\n",
        )
        .unwrap(),
        ct: None,
        metrics: sigstack_http::Metrics::new(),
        http: reqwest::Client::new(),
        detached_sct: true,
        rate_limits: RateLimits::default(),
    })
    .map(|_| ())
    .unwrap_err();
    assert!(err.to_string().contains("CT log"));
}
