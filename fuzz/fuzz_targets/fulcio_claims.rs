//! From OIDC claims to a certificate (sigstack-fulcio-core): `Principal::from_claims` for every
//! issuer type (email, email with a federated issuer claim, GitHub Actions and GitLab CI
//! templates, uri, username), then `CertificateProfile` and issuance. Claims come from tokens
//! whose signature the service verified, but their content is chosen by whoever the issuer
//! signs for (CI workflows, repository names, e-mail local parts).
//!
//! Input: a JSON object of claims; `iss` is set to each configured issuer in turn.
//!
//! Invariants:
//! - never panics;
//! - an accepted principal has a non-empty name, carries the token subject, starts with the
//!   issuer (v1) extension and ends with the token-subject extension;
//! - everything accepted becomes a certificate: the SAN and every claim extension encode,
//!   the certificate profile builds, and the precertificate issues and parses back (a claim
//!   that passes `from_claims` but cannot be issued would be a 500 instead of a 400).
#![no_main]

use std::sync::LazyLock;

use der::{Decode as _, Encode as _};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use sigstack_fulcio_core::{
    CertificateProfile, Issuer, IssuerConfig, Principal, ProvenKey, VerifiedClaims, oids,
};
use sigstack_fuzz::{b64, canonical_pem, fixed_now, self_signed, signer};
use sigstack_keys::SignatureAlgorithm;
use x509_cert::Certificate;

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
  https://token.actions.githubusercontent.com:
    client-id: sigstore
    type: ci-provider
    ci-provider: github-workflow
  https://gitlab.com:
    client-id: sigstore
    type: ci-provider
    ci-provider: gitlab-pipeline
  https://uri.example.com:
    client-id: sigstore
    type: uri
    subject-domain: https://example.com
  https://users.example.org:
    client-id: sigstore
    type: username
    subject-domain: example.org
";

struct Setup {
    issuers: Vec<Issuer>,
    key: ProvenKey,
    ca: Certificate,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let config = IssuerConfig::from_bytes(CONFIG.as_bytes()).expect("config");
    let issuers = config.issuers().cloned().collect();
    let client = signer(SignatureAlgorithm::EcdsaP256Sha256);
    let proof = client.sign(b"challenge").expect("sign");
    let key = ProvenKey::from_public_key_request(
        &canonical_pem("PUBLIC KEY", client.public_key_der()),
        &b64(&proof),
        "challenge",
    )
    .expect("proven key");
    let ca_signer = signer(SignatureAlgorithm::EcdsaP384Sha384);
    let ca = self_signed(
        ca_signer.as_ref(),
        "fuzz ca",
        vec![sigstack_pki::basic_constraints(true, Some(0)).expect("bc")],
    );
    Setup { issuers, key, ca }
});

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let setup = &*SETUP;
    for issuer in &setup.issuers {
        let mut claims: Map<String, Value> = claims.clone();
        claims.insert("iss".into(), Value::String(issuer.issuer_url.clone()));
        let verified = VerifiedClaims::from_verified_token(claims);
        let Ok(principal) = Principal::from_claims(issuer, &verified) else {
            continue;
        };
        assert!(!principal.name().is_empty());
        assert_eq!(Some(principal.subject()), verified.subject());
        let exts = principal.extensions();
        assert_eq!(exts.first().map(|e| e.oid), Some(oids::ISSUER_V1));
        let last = exts.last().expect("extensions");
        assert_eq!(last.oid, oids::TOKEN_SUBJECT);
        assert_eq!(last.value, principal.subject());

        principal
            .subject_alt_name()
            .to_extension()
            .unwrap_or_else(|e| panic!("accepted SAN does not encode: {e} ({principal:?})"));
        for ext in exts {
            ext.to_extension()
                .unwrap_or_else(|e| panic!("accepted claim does not encode: {e} ({ext:?})"));
        }
        let profile = CertificateProfile::new(&principal, &setup.key, &setup.ca, fixed_now())
            .unwrap_or_else(|e| panic!("accepted principal has no profile: {e}"));
        let cert = profile
            .precertificate()
            .expect("precertificate template")
            .issue(signer(SignatureAlgorithm::EcdsaP384Sha384).as_ref())
            .unwrap_or_else(|e| panic!("accepted principal cannot be issued: {e}"));
        let der = cert.to_der().expect("certificate DER");
        assert_eq!(
            Certificate::from_der(&der).expect("issued certificate parses"),
            cert
        );
    }
});
