//! Issue a precertificate with sigstack-pki, sign an SCT for it, embed the SCT in the final
//! certificate the way Fulcio does, and verify it the way clients do.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use der::asn1::Null;
use der::{Decode, Encode};
use proptest::prelude::*;
use sigstack_ct::{
    AddChainResponse, CtError, CtSigner, DigitallySigned, LogEntryType, POISON_OID, SCT_LIST_OID,
    SignedCertificateTimestamp, embedded_scts, is_precertificate, poison_extension,
    sct_list_extension, tbs_without_extension, verify_tree_head,
};
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer};
use sigstack_pki::{CertificateTemplate, name, random_serial, subject_key_identifier};
use x509_cert::Certificate;

struct Issued {
    ca: Arc<FileSigner>,
    precert_template: CertificateTemplate,
    precert: Certificate,
}

fn issue_precert() -> Issued {
    let ca = Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP384Sha384).unwrap());
    let leaf_key = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let precert_template = CertificateTemplate {
        serial: random_serial(),
        subject: x509_cert::name::Name::default(),
        issuer: name("O=sigstack,CN=test-intermediate").unwrap(),
        not_before: now,
        not_after: now + Duration::from_secs(600),
        subject_public_key_der: leaf_key.public_key_der().to_vec(),
        extensions: vec![
            subject_key_identifier(leaf_key.public_key_der()).unwrap(),
            poison_extension(),
        ],
    };
    let precert = precert_template.issue(ca.as_ref()).unwrap();
    Issued {
        ca,
        precert_template,
        precert,
    }
}

fn log_signer() -> CtSigner {
    CtSigner::new(Arc::new(
        FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap(),
    ))
    .unwrap()
}

#[test]
fn poison_extension_is_critical_der_null() {
    let ext = poison_extension();
    assert_eq!(ext.extn_id, POISON_OID);
    assert!(ext.critical);
    assert_eq!(ext.extn_value.as_bytes(), Null.to_der().unwrap().as_slice());
}

#[test]
fn fulcio_flow_precert_sct_embeds_and_verifies() {
    let Issued {
        ca,
        precert_template,
        precert,
    } = issue_precert();
    assert!(is_precertificate(&precert).unwrap());
    let log = log_signer();
    let log_key = sigstack_keys::PublicKey::from_spki_der(log.public_key_der()).unwrap();

    // The log's view: precert TBS minus poison.
    let precert_tbs = precert.tbs_certificate().to_der().unwrap();
    let entry_tbs = tbs_without_extension(&precert_tbs, POISON_OID).unwrap();
    let issuer_key_hash = sigstack_keys::sha256(ca.public_key_der());
    let sct = log
        .sign_precert(1_800_000_000_123, issuer_key_hash, &entry_tbs, &[])
        .unwrap();
    assert_eq!(sct.log_id, sigstack_ct::log_id(log.public_key_der()));
    assert_eq!(sct.signature.hash_algorithm, 4);
    assert_eq!(sct.signature.signature_algorithm, 3);

    // Fulcio's view: the same template without the poison equals the log's TBS.
    let mut final_template = precert_template.clone();
    final_template
        .extensions
        .retain(|e| e.extn_id != POISON_OID);
    assert_eq!(final_template.tbs_der(ca.as_ref()).unwrap(), entry_tbs);
    final_template
        .extensions
        .push(sct_list_extension(std::slice::from_ref(&sct)).unwrap());
    let final_cert = final_template.issue(ca.as_ref()).unwrap();
    assert!(!is_precertificate(&final_cert).unwrap());

    // The client's view: extract, strip the SCT list, verify.
    let embedded = embedded_scts(&final_cert).unwrap();
    assert_eq!(embedded, vec![sct.clone()]);
    let final_tbs = final_cert.tbs_certificate().to_der().unwrap();
    let verify_tbs = tbs_without_extension(&final_tbs, SCT_LIST_OID).unwrap();
    assert_eq!(verify_tbs, entry_tbs);
    embedded[0]
        .verify_precert(&log_key, ca.public_key_der(), &verify_tbs)
        .unwrap();
    // Through the JSON a log returns, too.
    let via_json = SignedCertificateTimestamp::from_json(&sct.to_json().unwrap()).unwrap();
    via_json
        .verify_precert(&log_key, ca.public_key_der(), &verify_tbs)
        .unwrap();

    // A different TBS (the precert's, still poisoned) does not verify.
    assert!(matches!(
        sct.verify_precert(&log_key, ca.public_key_der(), &precert_tbs),
        Err(CtError::BadSignature)
    ));
}

#[test]
fn x509_entries_sign_the_whole_certificate() {
    let Issued { precert, .. } = issue_precert();
    let cert_der = precert.to_der().unwrap();
    let log = log_signer();
    let key = sigstack_keys::PublicKey::from_spki_der(log.public_key_der()).unwrap();
    let sct = log.sign_x509(42, &cert_der, &[]).unwrap();
    sct.verify_x509(&key, &cert_der).unwrap();
    sct.verify_entry(&key, &LogEntryType::X509(cert_der.clone()))
        .unwrap();
    let mut other = cert_der;
    let last = other.len() - 1;
    other[last] ^= 1;
    assert!(matches!(
        sct.verify_x509(&key, &other),
        Err(CtError::BadSignature)
    ));
}

#[test]
fn removing_an_extension_equals_building_without_it() {
    let ca = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let ski = subject_key_identifier(ca.public_key_der()).unwrap();
    let mut template = CertificateTemplate {
        serial: random_serial(),
        subject: name("CN=x").unwrap(),
        issuer: name("CN=x").unwrap(),
        not_before: now,
        not_after: now + Duration::from_secs(60),
        subject_public_key_der: ca.public_key_der().to_vec(),
        extensions: vec![poison_extension(), ski.clone()],
    };
    let with = template.tbs_der(&ca).unwrap();
    template.extensions = vec![ski];
    let without = template.tbs_der(&ca).unwrap();
    assert_eq!(tbs_without_extension(&with, POISON_OID).unwrap(), without);
    // Absent extension: unchanged bytes. Garbage: a DER error.
    assert_eq!(
        tbs_without_extension(&without, POISON_OID).unwrap(),
        without
    );
    assert!(matches!(
        tbs_without_extension(&with[1..], POISON_OID),
        Err(CtError::Der(_))
    ));
    // Removing the last extension omits the (SIZE 1..MAX) list instead of emitting it empty.
    let only_ski = tbs_without_extension(
        &without,
        der::oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
    )
    .unwrap();
    let parsed = x509_cert::TbsCertificate::from_der(&only_ski).unwrap();
    assert!(parsed.extensions().is_none());
}

#[test]
fn duplicate_and_malformed_poison_are_rejected() {
    let Issued {
        ca,
        mut precert_template,
        ..
    } = issue_precert();
    let mut weak = poison_extension();
    weak.critical = false;
    precert_template
        .extensions
        .retain(|e| e.extn_id != POISON_OID);
    precert_template.extensions.push(weak);
    let cert = precert_template.issue(ca.as_ref()).unwrap();
    assert!(matches!(
        is_precertificate(&cert),
        Err(CtError::MalformedPoison)
    ));

    precert_template.extensions.push(poison_extension());
    let tbs = precert_template.tbs_der(ca.as_ref()).unwrap();
    assert!(matches!(
        tbs_without_extension(&tbs, POISON_OID),
        Err(CtError::DuplicateExtension(_))
    ));
}

#[test]
fn tree_head_signatures_verify_and_bind_every_field() {
    let log = log_signer();
    let key = sigstack_keys::PublicKey::from_spki_der(log.public_key_der()).unwrap();
    let root = [3u8; 32];
    let sig = log.sign_tree_head(10, 7, &root).unwrap();
    verify_tree_head(&key, 10, 7, &root, &sig).unwrap();
    assert!(verify_tree_head(&key, 10, 8, &root, &sig).is_err());
    assert!(verify_tree_head(&key, 11, 7, &root, &sig).is_err());
    assert!(verify_tree_head(&key, 10, 7, &[4u8; 32], &sig).is_err());
    assert_eq!(
        DigitallySigned::from_tls(&sig.to_tls().unwrap()).unwrap(),
        sig
    );
}

#[test]
fn ct_signer_refuses_non_p256_keys() {
    for alg in [
        SignatureAlgorithm::EcdsaP384Sha384,
        SignatureAlgorithm::Ed25519,
    ] {
        let key = Arc::new(FileSigner::generate(alg).unwrap());
        assert!(matches!(
            CtSigner::new(key),
            Err(CtError::UnsupportedKey(_))
        ));
    }
}

#[test]
fn json_parser_rejects_malformed_fields() {
    let log = log_signer();
    let good = log.sign_x509(1, b"cert", &[]).unwrap().to_json().unwrap();
    let json = serde_json::to_string(&good).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json)
            .unwrap()
            .as_object()
            .unwrap()
            .len(),
        5
    );
    let mut bad = good.clone();
    bad.sct_version = 1;
    assert!(matches!(
        SignedCertificateTimestamp::from_json(&bad),
        Err(CtError::Unsupported { .. })
    ));
    let mut bad = good.clone();
    bad.id = "!!".into();
    assert!(matches!(
        SignedCertificateTimestamp::from_json(&bad),
        Err(CtError::Base64("id"))
    ));
    let mut bad = good.clone();
    bad.id = "AAAA".into();
    assert!(matches!(
        SignedCertificateTimestamp::from_json(&bad),
        Err(CtError::LogIdLength(3))
    ));
    let mut bad = good.clone();
    bad.signature = "BAMA".into(); // hash 4, sig 3, then a truncated length
    assert!(matches!(
        SignedCertificateTimestamp::from_json(&bad),
        Err(CtError::Truncated(_))
    ));
    let _: AddChainResponse = serde_json::from_str(&json).unwrap();
}

#[test]
fn tls_parser_rejects_bad_versions_and_lengths() {
    let sct = log_signer().sign_x509(1, b"cert", &[]).unwrap();
    let tls = sct.to_tls().unwrap();
    let mut v2 = tls.clone();
    v2[0] = 1;
    assert!(matches!(
        SignedCertificateTimestamp::from_tls(&v2),
        Err(CtError::Unsupported {
            field: "sct_version",
            value: 1
        })
    ));
    assert!(SignedCertificateTimestamp::from_tls(&tls[..tls.len() - 1]).is_err());
    let mut long = tls;
    long.push(0);
    assert!(matches!(
        SignedCertificateTimestamp::from_tls(&long),
        Err(CtError::TrailingData(_))
    ));
}

#[test]
fn sct_list_with_garbage_is_an_error_not_a_panic() {
    let Issued {
        ca,
        mut precert_template,
        ..
    } = issue_precert();
    precert_template
        .extensions
        .retain(|e| e.extn_id != POISON_OID);
    let mut ext = sct_list_extension(&[]).unwrap();
    // OCTET STRING { 00 05 01 } : list claims 5 bytes, has 1.
    ext.extn_value = der::asn1::OctetString::new(vec![0x04, 0x03, 0x00, 0x05, 0x01]).unwrap();
    precert_template.extensions.push(ext);
    let cert = precert_template.issue(ca.as_ref()).unwrap();
    assert!(matches!(embedded_scts(&cert), Err(CtError::Truncated(_))));
    let reparsed = Certificate::from_der(&cert.to_der().unwrap()).unwrap();
    assert!(embedded_scts(&reparsed).is_err());
}

proptest! {
    #[test]
    fn sct_tls_and_json_round_trip(
        log_id in any::<[u8; 32]>(),
        timestamp in any::<u64>(),
        extensions in proptest::collection::vec(any::<u8>(), 0..64),
        hash in any::<u8>(),
        sig_alg in any::<u8>(),
        signature in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let sct = SignedCertificateTimestamp {
            log_id, timestamp, extensions,
            signature: DigitallySigned { hash_algorithm: hash, signature_algorithm: sig_alg, signature },
        };
        let tls = sct.to_tls().unwrap();
        prop_assert_eq!(SignedCertificateTimestamp::from_tls(&tls).unwrap(), sct.clone());
        prop_assert_eq!(SignedCertificateTimestamp::from_json(&sct.to_json().unwrap()).unwrap(), sct.clone());
        let ext = sct_list_extension(std::slice::from_ref(&sct)).unwrap();
        prop_assert!(!ext.critical);
    }

    #[test]
    fn sct_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = SignedCertificateTimestamp::from_tls(&bytes);
        let _ = sigstack_ct::MerkleTreeLeaf::from_tls(&bytes);
        let _ = tbs_without_extension(&bytes, POISON_OID);
    }
}
