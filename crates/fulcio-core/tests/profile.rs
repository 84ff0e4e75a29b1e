//! The leaf profile: extension order and criticality, validity, and the precertificate /
//! final-certificate relationship RFC 6962 relies on.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use der::asn1::OctetString;
use der::{Decode, Encode};
use sigstack_fulcio_core::{
    CertificateProfile, IssuerConfig, Principal, ProvenKey, VerifiedClaims,
};
use sigstack_keys::{FileSigner, PublicKey, SignatureAlgorithm, Signer};
use sigstack_pki::{CaSpec, CertificateAuthority};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_parser::prelude::*;

fn ca(dir: &std::path::Path) -> CertificateAuthority {
    let spec = CaSpec {
        organization: "sigstack-test".into(),
        root_common_name: "root".into(),
        intermediate_common_name: Some("intermediate".into()),
        algorithm: SignatureAlgorithm::EcdsaP384Sha384,
        intermediate_extended_key_usage: vec![sigstack_fulcio_core::oids::KP_CODE_SIGNING],
        validity: Duration::from_secs(86400 * 365),
    };
    CertificateAuthority::load_or_create(dir, &spec, SystemTime::now()).expect("ca")
}

fn principal() -> Principal {
    let config = IssuerConfig::from_bytes(
        b"oidc-issuers:\n  https://token.actions.githubusercontent.com:\n    client-id: sigstore\n    type: ci-provider\n    ci-provider: github-workflow\n",
    )
    .expect("config");
    let issuer = config
        .issuer_for("https://token.actions.githubusercontent.com")
        .expect("issuer");
    let text =
        std::fs::read_to_string("tests/data/github-actions-release-claims.json").expect("claims");
    Principal::from_claims(
        &issuer,
        &VerifiedClaims::from_verified_token(serde_json::from_str(&text).expect("json")),
    )
    .expect("principal")
}

fn proven_key(signer: &FileSigner, challenge: &str) -> ProvenKey {
    let proof = base64::engine::general_purpose::STANDARD
        .encode(signer.sign(challenge.as_bytes()).expect("sign"));
    ProvenKey::from_public_key_request(
        &sigstack_keys::pem_encode("PUBLIC KEY", signer.public_key_der()),
        &proof,
        challenge,
    )
    .expect("pop")
}

/// `TBSCertificate` (RFC 5280 §4.1) with every field kept as decoded, so one extension can be
/// dropped and the rest re-encoded exactly.
#[derive(der::Sequence)]
struct Tbs {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    serial: der::asn1::Int,
    signature: spki::AlgorithmIdentifierOwned,
    issuer: x509_cert::name::Name,
    validity: x509_cert::time::Validity,
    subject: x509_cert::name::Name,
    spki: spki::SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

/// The TBS DER of `cert` with the extension `oid` removed (what RFC 6962 SCTs sign).
fn tbs_without(cert: &Certificate, oid: &str) -> Vec<u8> {
    let mut tbs = Tbs::from_der(&cert.tbs_certificate().to_der().expect("der")).expect("tbs");
    let exts = tbs.extensions.as_mut().expect("extensions");
    let before = exts.len();
    exts.retain(|e| e.extn_id.to_string() != oid);
    assert_eq!(exts.len() + 1, before, "{oid} present exactly once");
    tbs.to_der().expect("der")
}

#[test]
fn precertificate_and_final_certificate_differ_only_in_the_last_extension() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = ca(dir.path());
    let principal = principal();
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key");
    let key = proven_key(&client, principal.name());
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let profile = CertificateProfile::new(&principal, &key, ca.issuer(), now).expect("profile");

    let precert = profile
        .precertificate()
        .expect("precert")
        .issue(ca.signer.as_ref())
        .expect("issue");
    let sct_list = Extension {
        extn_id: sigstack_fulcio_core::oids::CT_SCT_LIST,
        critical: false,
        extn_value: OctetString::new(
            OctetString::new(vec![0u8, 0])
                .expect("os")
                .to_der()
                .expect("der"),
        )
        .expect("os"),
    };
    let final_cert = profile
        .final_certificate(sct_list)
        .expect("final")
        .issue(ca.signer.as_ref())
        .expect("issue");

    let precert_minus_poison = tbs_without(&precert, "1.3.6.1.4.1.11129.2.4.3");
    let final_minus_sct = tbs_without(&final_cert, "1.3.6.1.4.1.11129.2.4.2");
    assert_eq!(precert_minus_poison, final_minus_sct);
    assert_eq!(
        final_minus_sct,
        profile
            .without_ct_extension()
            .tbs_der(ca.signer.as_ref())
            .expect("tbs"),
        "the SCT-signed TBS is the template without CT extension"
    );

    // Both verify under the intermediate.
    let issuer_key = PublicKey::from_spki_der(ca.signer.public_key_der()).expect("issuer key");
    for cert in [&precert, &final_cert] {
        let tbs = cert.tbs_certificate().to_der().expect("tbs");
        issuer_key
            .verify(&tbs, cert.signature().as_bytes().expect("sig"))
            .expect("verifies");
    }

    // A wrong extension is not accepted as an SCT list.
    let bogus = Extension {
        extn_id: sigstack_fulcio_core::oids::CT_PRECERT_POISON,
        critical: true,
        extn_value: OctetString::new(vec![5, 0]).expect("os"),
    };
    assert!(profile.final_certificate(bogus).is_err());
}

#[test]
fn leaf_profile_matches_fulcio() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = ca(dir.path());
    let principal = principal();
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key");
    let key = proven_key(&client, principal.name());
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let profile = CertificateProfile::new(&principal, &key, ca.issuer(), now).expect("profile");
    let der = profile
        .precertificate()
        .expect("t")
        .issue(ca.signer.as_ref())
        .expect("issue")
        .to_der()
        .expect("der");
    let (_, cert) = X509Certificate::from_der(&der).expect("x509-parser");

    assert_eq!(cert.version(), X509Version::V3);
    assert!(cert.subject().iter().next().is_none(), "empty subject");
    let issuer_der = ca.issuer().to_der().expect("der");
    let (_, issuer) = X509Certificate::from_der(&issuer_der).expect("issuer");
    assert_eq!(
        cert.issuer().as_raw(),
        issuer.subject().as_raw(),
        "issuer = CA subject"
    );
    assert_eq!(cert.validity().not_before.timestamp(), 1_800_000_000);
    assert_eq!(
        cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp(),
        600
    );
    let serial = cert.raw_serial();
    assert_eq!(serial.len(), 20);
    assert!(
        serial[0] & 0x80 == 0 && serial[0] != 0,
        "positive 160-bit serial"
    );
    assert_eq!(cert.public_key().raw, client.public_key_der());

    let order: Vec<(String, bool)> = cert
        .extensions()
        .iter()
        .map(|e| (e.oid.to_id_string(), e.critical))
        .collect();
    let mut want = vec![
        ("2.5.29.15".to_string(), true),
        ("2.5.29.37".to_string(), false),
        ("2.5.29.14".to_string(), false),
        ("2.5.29.35".to_string(), false),
        ("2.5.29.17".to_string(), true),
    ];
    for arc in [
        1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 24,
    ] {
        want.push((format!("1.3.6.1.4.1.57264.1.{arc}"), false));
    }
    want.push(("1.3.6.1.4.1.11129.2.4.3".to_string(), true));
    assert_eq!(order, want);

    let ku = cert.key_usage().expect("ku").expect("present");
    assert!(ku.value.digital_signature() && !ku.value.key_cert_sign() && ku.value.flags == 1);
    let eku = cert.extended_key_usage().expect("eku").expect("present");
    assert!(eku.value.code_signing && !eku.value.any && eku.value.other.is_empty());
    assert!(cert.basic_constraints().expect("bc").is_none());

    // SKI = SHA-1 of the subject key bits; AKI = the intermediate's SKI.
    let ski = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .expect("ski");
    assert_eq!(
        ski,
        sigstack_pki::key_identifier(client.public_key_der()).expect("kid")
    );
    let issuer_ski = issuer
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .expect("issuer ski");
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .expect("aki");
    assert_eq!(aki, issuer_ski);

    // Poison is critical NULL.
    let poison = cert.extensions().last().expect("poison");
    assert_eq!(poison.value, &[0x05, 0x00]);
}

#[test]
fn every_certificate_gets_a_fresh_serial() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = ca(dir.path());
    let principal = principal();
    let client = FileSigner::generate(SignatureAlgorithm::Ed25519).expect("key");
    let key = proven_key(&client, principal.name());
    let a = CertificateProfile::new(&principal, &key, ca.issuer(), SystemTime::now()).expect("a");
    let b = CertificateProfile::new(&principal, &key, ca.issuer(), SystemTime::now()).expect("b");
    assert_ne!(
        a.without_ct_extension().serial,
        b.without_ct_extension().serial
    );
    // Within one profile the precertificate and final certificate share the serial.
    assert_eq!(
        a.precertificate().expect("p").serial,
        a.without_ct_extension().serial
    );
}
