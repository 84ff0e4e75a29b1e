//! The real production Fulcio certificate in `tests/data` (issued 2024-03-19 to a GitHub Actions
//! workflow) carries one SCT from ctfe.sigstore.dev/2022. These tests verify it with the public
//! log key and the sigstore intermediate, exactly as sigstore clients do.

#![allow(clippy::unwrap_used)] // tests may unwrap

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use der::asn1::AnyRef;
use der::{Decode, DecodePem, Encode};
use sigstack_ct::{
    CtError, SCT_LIST_OID, SignedCertificateTimestamp, embedded_scts, is_precertificate, log_id,
    sct_list_extension, tbs_without_extension,
};
use sigstack_keys::PublicKey;
use x509_cert::Certificate;

const LEAF_PEM: &str = include_str!("data/github-actions-leaf-with-embedded-sct.pem");
const LEAF_JSON: &str = include_str!("data/github-actions-leaf-with-embedded-sct.json");
const ISSUER_PEM: &str = include_str!("data/sigstore-intermediate-issuer-of-github-leaf.pem");
const LOG_KEY_PEM: &str = include_str!("data/ctfe-sigstore-2022-log-key.pem");

struct Fixture {
    leaf: Certificate,
    leaf_der: Vec<u8>,
    issuer_spki: Vec<u8>,
    log_key: PublicKey,
    expected: serde_json::Value,
}

fn fixture() -> Fixture {
    let leaf = Certificate::from_pem(LEAF_PEM).unwrap();
    let leaf_der = leaf.to_der().unwrap();
    let issuer = Certificate::from_pem(ISSUER_PEM).unwrap();
    let issuer_spki = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    let log_key = PublicKey::from_pem(LOG_KEY_PEM).unwrap();
    let expected: serde_json::Value = serde_json::from_str(LEAF_JSON).unwrap();
    Fixture {
        leaf,
        leaf_der,
        issuer_spki,
        log_key,
        expected: expected["embedded_sct"].clone(),
    }
}

/// The TBSCertificate bytes exactly as they appear inside the certificate DER.
fn raw_tbs(cert_der: &[u8]) -> Vec<u8> {
    let parts: Vec<AnyRef<'_>> = Vec::from_der(cert_der).unwrap();
    parts[0].to_der().unwrap()
}

#[test]
fn embedded_sct_fields_match_the_published_vector() {
    let f = fixture();
    let scts = embedded_scts(&f.leaf).unwrap();
    assert_eq!(scts.len(), 1);
    let sct = &scts[0];
    assert_eq!(
        hex::encode(sct.log_id),
        f.expected["log_id_hex"].as_str().unwrap()
    );
    assert_eq!(sct.log_id, log_id(f.log_key.spki_der()));
    assert_eq!(sct.timestamp, f.expected["timestamp_ms"].as_u64().unwrap());
    assert!(sct.extensions.is_empty());
    assert_eq!(sct.signature.hash_algorithm, 4);
    assert_eq!(sct.signature.signature_algorithm, 3);
    assert_eq!(
        B64.encode(&sct.signature.signature),
        f.expected["signature_b64"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(sigstack_keys::sha256(&f.issuer_spki)),
        f.expected["issuer_key_hash_hex"].as_str().unwrap()
    );
}

#[test]
fn real_precert_sct_verifies_against_the_ctfe_2022_key() {
    let f = fixture();
    let sct = &embedded_scts(&f.leaf).unwrap()[0];
    let tbs = raw_tbs(&f.leaf_der);
    assert_eq!(
        tbs,
        f.leaf.tbs_certificate().to_der().unwrap(),
        "x509-cert re-encodes the TBS exactly"
    );
    let precert_tbs = tbs_without_extension(&tbs, SCT_LIST_OID).unwrap();
    assert!(precert_tbs.len() < tbs.len());
    sct.verify_precert(&f.log_key, &f.issuer_spki, &precert_tbs)
        .unwrap();
}

#[test]
fn real_sct_fails_on_any_change() {
    let f = fixture();
    let sct = &embedded_scts(&f.leaf).unwrap()[0];
    let precert_tbs = tbs_without_extension(&raw_tbs(&f.leaf_der), SCT_LIST_OID).unwrap();

    // Without removing the SCT list, the TBS is not the one the log signed.
    let full_tbs = raw_tbs(&f.leaf_der);
    assert!(matches!(
        sct.verify_precert(&f.log_key, &f.issuer_spki, &full_tbs),
        Err(CtError::BadSignature)
    ));

    // One flipped bit inside the TBS (in the subject key) breaks it.
    let mut tampered = precert_tbs.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    assert!(matches!(
        sct.verify_precert(&f.log_key, &f.issuer_spki, &tampered),
        Err(CtError::BadSignature)
    ));

    // Another issuer key, another timestamp, extensions, or the x509 entry type: all fail.
    let other_spki = f.log_key.spki_der().to_vec();
    assert!(
        sct.verify_precert(&f.log_key, &other_spki, &precert_tbs)
            .is_err()
    );
    let mut later = sct.clone();
    later.timestamp += 1;
    assert!(
        later
            .verify_precert(&f.log_key, &f.issuer_spki, &precert_tbs)
            .is_err()
    );
    let mut with_ext = sct.clone();
    with_ext.extensions = vec![0, 0, 5, 0, 0, 0, 0, 1];
    assert!(
        with_ext
            .verify_precert(&f.log_key, &f.issuer_spki, &precert_tbs)
            .is_err()
    );
    assert!(sct.verify_x509(&f.log_key, &f.leaf_der).is_err());

    // A mislabelled algorithm is refused before the signature is even checked.
    let mut sha384 = sct.clone();
    sha384.signature.hash_algorithm = 5;
    assert!(matches!(
        sha384.verify_precert(&f.log_key, &f.issuer_spki, &precert_tbs),
        Err(CtError::AlgorithmMismatch {
            hash: 5,
            signature: 3
        })
    ));
}

#[test]
fn rebuilt_sct_list_extension_is_byte_identical() {
    let f = fixture();
    let scts = embedded_scts(&f.leaf).unwrap();
    let original = f
        .leaf
        .tbs_certificate()
        .extensions()
        .unwrap()
        .iter()
        .find(|e| e.extn_id == SCT_LIST_OID)
        .unwrap();
    let rebuilt = sct_list_extension(&scts).unwrap();
    assert_eq!(rebuilt, *original);
    assert!(!rebuilt.critical);
    // extnValue = OCTET STRING { TLS list }, and the TLS list is the published one.
    let inner = der::asn1::OctetString::from_der(rebuilt.extn_value.as_bytes()).unwrap();
    assert_eq!(
        B64.encode(inner.as_bytes()),
        f.expected["sct_list_tls_b64"].as_str().unwrap()
    );
    assert!(!is_precertificate(&f.leaf).unwrap());
}

#[test]
fn real_sct_round_trips_through_tls_and_json() {
    let f = fixture();
    let sct = embedded_scts(&f.leaf).unwrap().remove(0);
    let tls = sct.to_tls().unwrap();
    assert_eq!(SignedCertificateTimestamp::from_tls(&tls).unwrap(), sct);
    let json = serde_json::to_value(sct.to_json().unwrap()).unwrap();
    assert_eq!(json["sct_version"], 0);
    assert_eq!(json["id"], f.expected["log_id_b64"]);
    assert_eq!(json["timestamp"], f.expected["timestamp_ms"]);
    assert_eq!(json["extensions"], "");
    let parsed: sigstack_ct::AddChainResponse = serde_json::from_value(json).unwrap();
    let back = SignedCertificateTimestamp::from_json(&parsed).unwrap();
    back.verify_precert(
        &f.log_key,
        &f.issuer_spki,
        &tbs_without_extension(&raw_tbs(&f.leaf_der), SCT_LIST_OID).unwrap(),
    )
    .unwrap();
}
