//! Claim policies and custom extensions (Sigstack's per-issuer additions), through the
//! configuration file.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use sigstack_fulcio_core::{FulcioCoreError, IssuerConfig, Principal, VerifiedClaims};

const CONFIG: &str = r#"
oidc-issuers:
  https://token.actions.githubusercontent.com:
    client-id: sigstore
    type: ci-provider
    ci-provider: github-workflow
    claim-policy:
      rules:
        - name: acme-only
          claim: repository_owner_id
          exact: ["1234"]
        - name: release-branches
          claim: ref
          glob: ["refs/heads/main", "refs/tags/v*"]
        - name: no-pull-requests
          claim: event_name
          effect: deny
          regex: ["pull_request(_target)?"]
    custom-extensions:
      - oid: 1.3.6.1.4.1.99999.1.1
        claim: repository_owner
      - oid: 1.3.6.1.4.1.99999.1.2
        template: "{{ .repository }}@{{ .ref }}"
  https://accounts.example.com:
    client-id: sigstore
    type: email
    claim-policy:
      match: any
      rules:
        - name: staff
          claim: $.org.role
          exact: ["staff"]
        - name: example-domain
          claim: email
          regex: ['[a-z]+@example\.com']
        - name: no-contractors
          claim: groups
          effect: deny
          glob: ["contractors*"]
"#;

fn principal(iss: &str, mut claims: Value) -> Result<Principal, FulcioCoreError> {
    let config = IssuerConfig::from_text(CONFIG).unwrap();
    claims["iss"] = iss.into();
    Principal::from_claims(
        &config.issuer_for(iss).unwrap(),
        &VerifiedClaims::from_verified_token(claims.as_object().unwrap().clone()),
    )
}

fn github(owner_id: &str, git_ref: &str, event: &str) -> Value {
    json!({
        "sub": "repo:acme/app:ref:x", "repository_owner_id": owner_id, "ref": git_ref,
        "event_name": event, "repository_owner": "acme", "repository": "acme/app",
        "sha": "s", "workflow": "w", "job_workflow_ref": "acme/app/.github/workflows/r.yml@refs/heads/main",
        "job_workflow_sha": "j", "runner_environment": "github-hosted", "repository_id": "9",
        "workflow_ref": "acme/app/.github/workflows/r.yml@refs/heads/main", "workflow_sha": "w",
        "run_id": 1, "run_attempt": "1", "repository_visibility": "public",
    })
}

fn denied_rule(result: Result<Principal, FulcioCoreError>) -> String {
    match result {
        Err(FulcioCoreError::PolicyDenied { rule, .. }) => rule,
        other => panic!("expected a policy denial, got {other:?}"),
    }
}

#[test]
fn all_rules_must_pass_and_the_denial_names_the_rule() {
    let p = principal(
        "https://token.actions.githubusercontent.com",
        github("1234", "refs/tags/v1.0.0", "push"),
    )
    .unwrap();
    let custom: Vec<(String, Vec<u8>)> = p
        .extensions()
        .iter()
        .filter(|e| e.oid.to_string().starts_with("1.3.6.1.4.1.99999"))
        .map(|e| {
            let ext = e.to_extension().unwrap();
            assert!(!ext.critical);
            (e.oid.to_string(), ext.extn_value.as_bytes().to_vec())
        })
        .collect();
    assert_eq!(
        custom,
        vec![
            ("1.3.6.1.4.1.99999.1.1".into(), b"\x0c\x04acme".to_vec()),
            (
                "1.3.6.1.4.1.99999.1.2".into(),
                b"\x0c\x19acme/app@refs/tags/v1.0.0".to_vec()
            ),
        ]
    );
    let gh = "https://token.actions.githubusercontent.com";
    assert_eq!(
        denied_rule(principal(gh, github("999", "refs/heads/main", "push"))),
        "acme-only"
    );
    assert_eq!(
        denied_rule(principal(gh, github("1234", "refs/heads/dev", "push"))),
        "release-branches"
    );
    assert_eq!(
        denied_rule(principal(
            gh,
            github("1234", "refs/heads/main", "pull_request_target")
        )),
        "no-pull-requests"
    );
    // A regex matches the whole value only.
    assert!(principal(gh, github("1234", "refs/heads/main", "pull_requests")).is_ok());
    let mut no_owner = github("1234", "refs/heads/main", "push");
    no_owner
        .as_object_mut()
        .unwrap()
        .remove("repository_owner_id");
    let err = principal(gh, no_owner).unwrap_err().to_string();
    assert!(
        err.contains("acme-only") && err.contains("no repository_owner_id claim"),
        "{err}"
    );
}

#[test]
fn any_mode_paths_arrays_and_deny_rules() {
    let base = |extra: Value| {
        let mut claims = json!({"sub": "1", "email_verified": true});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        principal("https://accounts.example.com", claims)
    };
    assert!(base(json!({"email": "ann@example.com"})).is_ok());
    assert!(base(json!({"email": "ann@other.org", "org": {"role": "staff"}})).is_ok());
    assert_eq!(
        denied_rule(base(
            json!({"email": "ann@other.org", "org": {"role": "guest"}})
        )),
        "staff, example-domain"
    );
    assert_eq!(
        denied_rule(base(
            json!({"email": "ann@example.com", "groups": ["dev", "contractors-eu"]})
        )),
        "no-contractors"
    );
}

#[test]
fn bad_policies_and_extensions_are_refused_at_load() {
    let with = |extra: &str| {
        IssuerConfig::from_text(&format!(
            "oidc-issuers:\n  https://accounts.example.com:\n    client-id: sigstore\n    type: email\n{extra}"
        ))
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    for (extra, needle) in [
        ("    claim-policy:\n      rules: []\n", "no rules"),
        (
            "    claim-policy:\n      rules:\n        - {name: a, claim: x, exact: [a], glob: [b]}\n",
            "exactly one of",
        ),
        (
            "    claim-policy:\n      rules:\n        - {name: a, claim: x, regex: ['(']}\n",
            "regex",
        ),
        (
            "    claim-policy:\n      match: most\n      rules:\n        - {name: a, claim: x, exact: [a]}\n",
            "all or any",
        ),
        (
            "    claim-policy:\n      rules:\n        - {name: a, claim: x, effect: maybe, exact: [a]}\n",
            "allow or deny",
        ),
        (
            "    custom-extensions:\n      - {oid: 1.3.6.1.4.1.57264.1.99, claim: x}\n",
            "Sigstore's arc",
        ),
        (
            "    custom-extensions:\n      - {oid: 2.5.29.99, claim: x}\n",
            "private enterprise arc",
        ),
        (
            "    custom-extensions:\n      - {oid: 1.3.6.1.4.1.99999.1, claim: x}\n      - {oid: 1.3.6.1.4.1.99999.1, claim: y}\n",
            "twice",
        ),
        (
            "    custom-extensions:\n      - {oid: 1.3.6.1.4.1.99999.1, template: '{{ .x '}\n",
            "unclosed",
        ),
    ] {
        let err = with(extra);
        assert!(err.contains(needle), "{extra}: {err}");
    }
}
