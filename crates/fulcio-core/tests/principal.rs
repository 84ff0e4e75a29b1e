//! Email, uri and username principals.

use der::Decode;
use sigstack_fulcio_core::{
    ExtensionEncoding, FulcioCoreError, IssuerConfig, Principal, SubjectAltName, VerifiedClaims,
};
use x509_cert::ext::pkix::name::GeneralName;

const CONFIG: &str = r"
oidc-issuers:
  https://accounts.example.com:
    client-id: sigstore
    type: email
  https://dex.example.com/auth:
    client-id: sigstore
    type: email
    issuer-claim: $.federated_claims.connector_id
  https://entra.example.com:
    client-id: sigstore
    type: email
    skip-email-verification: true
  https://uri.example.com:
    client-id: sigstore
    type: uri
    subject-domain: https://example.com
  https://users.example.org:
    client-id: sigstore
    type: username
    subject-domain: example.org
";

fn principal(iss: &str, claims: serde_json::Value) -> Result<Principal, FulcioCoreError> {
    let config = IssuerConfig::from_bytes(CONFIG.as_bytes()).expect("config");
    let issuer = config.issuer_for(iss).expect("issuer");
    let mut map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(claims).expect("object");
    map.insert("iss".into(), iss.into());
    Principal::from_claims(&issuer, &VerifiedClaims::from_verified_token(map))
}

#[test]
fn email_principal_signs_the_email_and_carries_issuer_and_subject() {
    let p = principal(
        "https://accounts.example.com",
        serde_json::json!({"sub": "1234", "email": "alice@example.com", "email_verified": true}),
    )
    .expect("principal");
    assert_eq!(p.name(), "alice@example.com");
    assert_eq!(
        p.subject_alt_name(),
        &SubjectAltName::Email("alice@example.com".into())
    );
    let exts: Vec<(String, Vec<u8>)> = p
        .extensions()
        .iter()
        .map(|e| (e.oid.to_string(), e.value_der().expect("der")))
        .collect();
    assert_eq!(
        exts,
        vec![
            (
                "1.3.6.1.4.1.57264.1.1".to_string(),
                b"https://accounts.example.com".to_vec()
            ),
            (
                "1.3.6.1.4.1.57264.1.8".to_string(),
                [b"\x0c\x1c".as_slice(), b"https://accounts.example.com"].concat()
            ),
            (
                "1.3.6.1.4.1.57264.1.24".to_string(),
                b"\x0c\x041234".to_vec()
            ),
        ]
    );
    let san = p.subject_alt_name().to_extension().expect("san");
    assert!(san.critical);
    let names =
        x509_cert::ext::pkix::SubjectAltName::from_der(san.extn_value.as_bytes()).expect("der");
    assert!(
        matches!(names.0.as_slice(), [GeneralName::Rfc822Name(e)] if e.as_str() == "alice@example.com")
    );
}

#[test]
fn email_verified_forms() {
    for ok in [
        serde_json::json!(true),
        serde_json::json!("true"),
        serde_json::json!("True"),
    ] {
        principal(
            "https://accounts.example.com",
            serde_json::json!({"sub": "1", "email": "a@example.com", "email_verified": ok}),
        )
        .expect("accepted");
    }
    for bad in [
        serde_json::json!(false),
        serde_json::json!("yes"),
        serde_json::json!(1),
        serde_json::Value::Null,
    ] {
        let err = principal(
            "https://accounts.example.com",
            serde_json::json!({"sub": "1", "email": "a@example.com", "email_verified": bad}),
        )
        .expect_err("refused");
        assert!(matches!(err, FulcioCoreError::EmailNotVerified), "{err}");
    }
    let err = principal(
        "https://accounts.example.com",
        serde_json::json!({"sub": "1", "email": "a@example.com"}),
    )
    .expect_err("missing email_verified");
    assert!(matches!(err, FulcioCoreError::EmailNotVerified));
    // skip-email-verification accepts the token anyway.
    principal(
        "https://entra.example.com",
        serde_json::json!({"sub": "1", "email": "a@example.com"}),
    )
    .expect("skip-email-verification");
}

#[test]
fn email_is_required_and_must_look_like_one() {
    let err = principal(
        "https://accounts.example.com",
        serde_json::json!({"sub": "1", "email_verified": true}),
    )
    .expect_err("no email");
    assert!(matches!(err, FulcioCoreError::MissingClaim(c) if c == "email"));
    for bad in [
        "alice",
        "@example.com",
        "alice@",
        "alice@localhost",
        "al ice@example.com",
        "alïce@example.com",
    ] {
        let err = principal(
            "https://accounts.example.com",
            serde_json::json!({"sub": "1", "email": bad, "email_verified": true}),
        )
        .expect_err(bad);
        assert!(err.is_client_error(), "{err}");
    }
    let err = principal(
        "https://accounts.example.com",
        serde_json::json!({"email": "a@example.com", "email_verified": true}),
    )
    .expect_err("no sub");
    assert!(matches!(err, FulcioCoreError::MissingClaim(c) if c == "sub"));
}

#[test]
fn issuer_claim_records_the_federated_issuer() {
    let p = principal(
        "https://dex.example.com/auth",
        serde_json::json!({"sub": "x", "email": "b@example.com", "email_verified": true,
                           "federated_claims": {"connector_id": "https://github.com/login/oauth", "user_id": "1"}}),
    )
    .expect("principal");
    assert_eq!(p.issuer(), "https://github.com/login/oauth");
    assert_eq!(p.extensions()[0].value, "https://github.com/login/oauth");
    assert_eq!(p.extensions()[0].encoding, ExtensionEncoding::Raw);
    assert_eq!(p.extensions()[1].value, "https://github.com/login/oauth");
    let err = principal(
        "https://dex.example.com/auth",
        serde_json::json!({"sub": "x", "email": "b@example.com", "email_verified": true}),
    )
    .expect_err("no federated claim");
    assert!(err.to_string().contains("federated_claims"), "{err}");
}

#[test]
fn uri_principal_must_stay_under_the_subject_domain() {
    let p = principal(
        "https://uri.example.com",
        serde_json::json!({"sub": "https://example.com/users/alice"}),
    )
    .expect("principal");
    assert_eq!(
        p.subject_alt_name(),
        &SubjectAltName::Uri("https://example.com/users/alice".into())
    );
    assert_eq!(p.name(), "https://example.com/users/alice");
    for bad in [
        "https://evil.com/users/alice",
        "http://example.com/x",
        "not a uri",
    ] {
        assert!(
            principal("https://uri.example.com", serde_json::json!({"sub": bad})).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn username_principal_uses_an_other_name_san() {
    let p = principal(
        "https://users.example.org",
        serde_json::json!({"sub": "alice"}),
    )
    .expect("principal");
    assert_eq!(p.name(), "alice");
    let san = p.subject_alt_name().to_extension().expect("san");
    assert!(san.critical);
    let names =
        x509_cert::ext::pkix::SubjectAltName::from_der(san.extn_value.as_bytes()).expect("der");
    let [GeneralName::OtherName(other)] = names.0.as_slice() else {
        panic!("one OtherName")
    };
    assert_eq!(other.type_id.to_string(), "1.3.6.1.4.1.57264.1.7");
    let value: der::asn1::Utf8StringRef<'_> = other.value.decode_as().expect("utf8");
    assert_eq!(value.as_str(), "alice!example.org");
    assert!(
        principal(
            "https://users.example.org",
            serde_json::json!({"sub": "a!b"})
        )
        .is_err()
    );
}

#[test]
fn claims_from_another_issuer_are_refused() {
    let config = IssuerConfig::from_bytes(CONFIG.as_bytes()).expect("config");
    let issuer = config
        .issuer_for("https://accounts.example.com")
        .expect("issuer");
    let claims = VerifiedClaims::from_verified_token(
        serde_json::from_value(
            serde_json::json!({"iss": "https://uri.example.com", "sub": "1",
            "email": "a@example.com", "email_verified": true}),
        )
        .expect("map"),
    );
    assert!(Principal::from_claims(&issuer, &claims).is_err());
}
