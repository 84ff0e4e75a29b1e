//! The real GitHub Actions certificate is the oracle: its claims, fed through the built-in
//! `github-workflow` templates, must give every 1.3.6.1.4.1.57264.1.* extension byte for byte.

use sigstack_fulcio_core::{
    ExtensionEncoding, IssuerConfig, Principal, SubjectAltName, VerifiedClaims,
};
use x509_parser::extensions::{GeneralName, ParsedExtension};

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn config() -> IssuerConfig {
    IssuerConfig::from_bytes(
        b"oidc-issuers:\n  https://token.actions.githubusercontent.com:\n    client-id: sigstore\n    type: ci-provider\n    ci-provider: github-workflow\n",
    )
    .expect("config")
}

fn claims(file: &str) -> VerifiedClaims {
    let text = std::fs::read_to_string(format!("tests/data/{file}")).expect("claims file");
    VerifiedClaims::from_verified_token(serde_json::from_str(&text).expect("claims JSON"))
}

#[test]
fn github_extensions_match_the_real_certificate_byte_for_byte() {
    let pem = std::fs::read("tests/data/github-actions-release-leaf.pem").expect("pem");
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("pem parse");
    let cert = pem.parse_x509().expect("cert");

    let issuer = config().issuer_for(GITHUB_ISSUER).expect("issuer");
    let principal = Principal::from_claims(&issuer, &claims("github-actions-release-claims.json"))
        .expect("principal");

    // Every Sigstore extension of the real certificate, in its order.
    let real: Vec<(String, Vec<u8>, bool)> = cert
        .extensions()
        .iter()
        .filter(|e| e.oid.to_id_string().starts_with("1.3.6.1.4.1.57264.1."))
        .map(|e| (e.oid.to_id_string(), e.value.to_vec(), e.critical))
        .collect();
    assert_eq!(real.len(), 21, "the oracle has .1-.6 and .8-.22");

    // Ours: the same list plus .24 (token subject, added to Fulcio after 2024-03).
    let ours: Vec<(String, Vec<u8>)> = principal
        .extensions()
        .iter()
        .map(|e| (e.oid.to_string(), e.value_der().expect("der")))
        .collect();
    assert_eq!(ours.len(), real.len() + 1);
    for ((real_oid, real_value, critical), (our_oid, our_value)) in real.iter().zip(&ours) {
        assert_eq!(real_oid, our_oid, "extension order");
        assert_eq!(
            hex::encode(real_value),
            hex::encode(our_value),
            "value of {real_oid}"
        );
        assert!(!critical);
    }
    let last = principal.extensions().last().expect("24");
    assert_eq!(last.oid.to_string(), "1.3.6.1.4.1.57264.1.24");
    assert_eq!(last.encoding, ExtensionEncoding::Utf8String);
    assert_eq!(
        last.value,
        "repo:trailofbits/rfc8785.py:ref:refs/tags/v0.1.2"
    );

    // And each rendered extension as a whole X.509 extension, non-critical.
    for (claim, (oid, value, _)) in principal.extensions().iter().zip(&real) {
        let ext = claim.to_extension().expect("extension");
        assert_eq!(&ext.extn_id.to_string(), oid);
        assert_eq!(ext.extn_value.as_bytes(), value.as_slice());
        assert!(!ext.critical);
    }

    // The SAN and the challenge name.
    let san = cert
        .subject_alternative_name()
        .expect("san")
        .expect("san present");
    assert!(san.critical);
    let [GeneralName::URI(real_uri)] = san.value.general_names.as_slice() else {
        panic!("one URI SAN expected")
    };
    assert_eq!(
        principal.subject_alt_name(),
        &SubjectAltName::Uri((*real_uri).to_string())
    );
    assert_eq!(
        principal.name(),
        "repo:trailofbits/rfc8785.py:ref:refs/tags/v0.1.2"
    );
    assert_eq!(principal.issuer(), GITHUB_ISSUER);

    // The SAN extension we encode equals the real one byte for byte.
    let real_san = cert
        .extensions()
        .iter()
        .find(|e| {
            matches!(
                e.parsed_extension(),
                ParsedExtension::SubjectAlternativeName(_)
            )
        })
        .expect("san ext");
    let ours = principal
        .subject_alt_name()
        .to_extension()
        .expect("san ext");
    assert_eq!(ours.extn_value.as_bytes(), real_san.value);
    assert!(ours.critical && real_san.critical);
}

#[test]
fn deployment_environment_is_emitted_only_when_present() {
    let issuer = config().issuer_for(GITHUB_ISSUER).expect("issuer");
    let mut map = claims("github-actions-release-claims.json")
        .as_map()
        .clone();
    let without =
        Principal::from_claims(&issuer, &VerifiedClaims::from_verified_token(map.clone()))
            .expect("principal");
    assert!(
        !without
            .extensions()
            .iter()
            .any(|e| e.oid.to_string() == "1.3.6.1.4.1.57264.1.23")
    );
    map.insert("environment".into(), "pypi".into());
    let with = Principal::from_claims(&issuer, &VerifiedClaims::from_verified_token(map))
        .expect("principal");
    let env = with
        .extensions()
        .iter()
        .find(|e| e.oid.to_string() == "1.3.6.1.4.1.57264.1.23")
        .expect(".23");
    assert_eq!(env.value_der().expect("der"), b"\x0c\x04pypi");
    // .23 sits between .22 and .24.
    let arcs: Vec<String> = with
        .extensions()
        .iter()
        .map(|e| e.oid.to_string())
        .collect();
    let pos = arcs.iter().position(|a| a.ends_with(".23")).expect("pos");
    assert!(arcs[pos - 1].ends_with(".22") && arcs[pos + 1].ends_with(".24"));
}

#[test]
fn a_missing_templated_claim_refuses_the_request() {
    let issuer = config().issuer_for(GITHUB_ISSUER).expect("issuer");
    let mut map = claims("github-actions-release-claims.json")
        .as_map()
        .clone();
    map.remove("job_workflow_ref");
    let err = Principal::from_claims(&issuer, &VerifiedClaims::from_verified_token(map))
        .expect_err("must fail");
    assert!(err.to_string().contains("job_workflow_ref"), "{err}");
    assert!(err.is_client_error());
}

#[test]
fn gitlab_templates_follow_the_oid_table() {
    let config = IssuerConfig::from_bytes(
        b"oidc-issuers:\n  https://gitlab.com:\n    client-id: sigstore\n    type: ci-provider\n    ci-provider: gitlab-pipeline\n",
    )
    .expect("config");
    let issuer = config.issuer_for("https://gitlab.com").expect("issuer");
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(serde_json::json!({
            "iss": "https://gitlab.com",
            "sub": "project_path:group/proj:ref_type:branch:ref:main",
            "aud": "sigstore",
            "ci_config_ref_uri": "gitlab.com/group/proj//.gitlab-ci.yml@refs/heads/main",
            "ci_config_sha": "abc123",
            "runner_environment": "gitlab-hosted",
            "project_path": "group/proj",
            "sha": "def456",
            "ref_type": "branch",
            "ref": "main",
            "project_id": 42,
            "namespace_path": "group",
            "namespace_id": "7",
            "pipeline_source": "push",
            "job_id": "1234",
            "project_visibility": "private"
        }))
        .expect("map");
    let principal = Principal::from_claims(&issuer, &VerifiedClaims::from_verified_token(claims))
        .expect("principal");
    assert_eq!(
        principal.subject_alt_name(),
        &SubjectAltName::Uri(
            "https://gitlab.com/group/proj//.gitlab-ci.yml@refs/heads/main".into()
        )
    );
    let got: Vec<(String, String)> = principal
        .extensions()
        .iter()
        .map(|e| {
            (
                e.oid
                    .to_string()
                    .trim_start_matches("1.3.6.1.4.1.57264.1.")
                    .to_string(),
                e.value.clone(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("1", "https://gitlab.com"),
        ("8", "https://gitlab.com"),
        (
            "9",
            "https://gitlab.com/group/proj//.gitlab-ci.yml@refs/heads/main",
        ),
        ("10", "abc123"),
        ("11", "gitlab-hosted"),
        ("12", "https://gitlab.com/group/proj"),
        ("13", "def456"),
        ("14", "refs/heads/main"),
        ("15", "42"),
        ("16", "https://gitlab.com/group"),
        ("17", "7"),
        (
            "18",
            "https://gitlab.com/group/proj//.gitlab-ci.yml@refs/heads/main",
        ),
        ("19", "abc123"),
        ("20", "push"),
        ("21", "https://gitlab.com/group/proj/-/jobs/1234"),
        ("22", "private"),
        ("24", "project_path:group/proj:ref_type:branch:ref:main"),
    ]
    .iter()
    .map(|(a, v)| ((*a).to_string(), (*v).to_string()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(principal.extensions()[0].encoding, ExtensionEncoding::Raw);
    assert!(
        principal.extensions()[1..]
            .iter()
            .all(|e| e.encoding == ExtensionEncoding::Utf8String)
    );
}
