//! Tokens from [`TimestampAuthority`], checked with OpenSSL `ts -verify` and by hand.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use cms::content_info::CmsVersion;
use cms::signed_data::SignerIdentifier;
use der::asn1::{Int, ObjectIdentifier};
use der::flagset::FlagSet;
use der::{Decode, Encode};
use sigstack_keys::SignatureAlgorithm;
use sigstack_tsp::{
    Accuracy, HashAlgorithm, ID_AA_SIGNING_CERTIFICATE_V2, ID_CONTENT_TYPE, ID_MESSAGE_DIGEST,
    ID_SIGNING_TIME, PkiFailureInfo, PkiStatus, SIGSTORE_TSA_POLICY, SigningCertificateV2,
    TimeStampReq, TimeStampResp, TimestampAuthority, TspError, VerifiedRequest, rejection_response,
};
use x509_cert::serial_number::SerialNumber;

use common::{Against, TestChain, generate_chain, openssl_ts_text, openssl_ts_verify, pem};

const VECTOR_REQUEST: &[u8] = include_bytes!("data/local-tsa-request-sha512-nonce-certreq.tsq");

/// 2026-01-02T03:04:05.678Z: the sub-second part must be dropped from genTime.
fn fixed_now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_767_323_045_678)
}

fn serial() -> SerialNumber {
    SerialNumber::new(&hex::decode("5eed0123456789abcdef0123456789abcdef0001").unwrap()).unwrap()
}

fn authority(chain: &TestChain) -> TimestampAuthority {
    TimestampAuthority::new(chain.leaf_signer.clone(), chain.chain.clone()).unwrap()
}

/// Leaf + intermediates as `-untrusted`, the root as `-CAfile`.
fn verify_with_openssl(chain: &TestChain, reply: &[u8], against: Against<'_>) -> (bool, String) {
    let n = chain.chain.len();
    openssl_ts_verify(
        reply,
        against,
        &pem(&chain.chain[n - 1..]),
        Some(&pem(&chain.chain[..n - 1])),
    )
}

#[test]
fn token_for_vector_request_verifies_with_openssl() {
    let chain = generate_chain(SignatureAlgorithm::EcdsaP256Sha256, false, true);
    let request = VerifiedRequest::from_der(VECTOR_REQUEST).unwrap();
    let reply = authority(&chain)
        .timestamp(&request, SystemTime::now(), &serial())
        .unwrap();
    let (ok, out) = verify_with_openssl(&chain, &reply, Against::Query(VECTOR_REQUEST));
    assert!(ok, "{out}");
    // The same token also verifies against the data itself.
    let (ok, out) = verify_with_openssl(&chain, &reply, Against::Data(b"hello"));
    assert!(ok, "{out}");
}

#[test]
fn tampered_token_fails_openssl_and_our_check() {
    let chain = generate_chain(SignatureAlgorithm::EcdsaP256Sha256, false, true);
    let request = VerifiedRequest::from_der(VECTOR_REQUEST).unwrap();
    let reply = authority(&chain)
        .timestamp(&request, fixed_now(), &serial())
        .unwrap();
    // Change one digit of genTime inside the signed TSTInfo.
    let gen_time = b"20260102030405Z";
    let at = reply
        .windows(gen_time.len())
        .position(|w| w == gen_time)
        .unwrap();
    let mut tampered = reply.clone();
    tampered[at + 3] = b'7';
    let (ok, out) = verify_with_openssl(&chain, &tampered, Against::Query(VECTOR_REQUEST));
    assert!(!ok, "tampered token verified: {out}");
    let parsed = TimeStampResp::from_der(&tampered).unwrap();
    assert!(matches!(
        parsed.verify_signature(chain.leaf()),
        Err(TspError::InvalidToken(_))
    ));

    // A flipped bit in the signature itself.
    let mut tampered = reply;
    let last = tampered.len() - 3;
    tampered[last] ^= 0x40;
    let (ok, out) = verify_with_openssl(&chain, &tampered, Against::Query(VECTOR_REQUEST));
    assert!(!ok, "tampered signature verified: {out}");
}

#[test]
fn token_fields_echo_the_request() {
    let chain = generate_chain(SignatureAlgorithm::EcdsaP256Sha256, false, true);
    let request = VerifiedRequest::from_der(VECTOR_REQUEST).unwrap();
    let reply = authority(&chain)
        .timestamp(&request, fixed_now(), &serial())
        .unwrap();
    let response = TimeStampResp::from_der(&reply).unwrap();
    assert_eq!(response.to_der().unwrap(), reply, "reply is DER");
    assert_eq!(response.status.status, PkiStatus::Granted);
    assert_eq!(response.status.fail_info, None);

    let tst = response.verify_signature(chain.leaf()).unwrap();
    assert_eq!(tst.version, 1);
    assert_eq!(tst.policy, SIGSTORE_TSA_POLICY);
    assert_eq!(&tst.message_imprint, request.message_imprint());
    assert_eq!(tst.nonce.as_ref(), request.nonce());
    assert_eq!(
        tst.serial_number,
        Int::from_der(&serial().to_der().unwrap()).unwrap()
    );
    assert_eq!(
        tst.gen_time.to_unix_duration(),
        Duration::from_secs(1_767_323_045)
    );
    assert_eq!(
        tst.accuracy,
        Some(Accuracy {
            seconds: Some(1),
            millis: None,
            micros: None
        })
    );
    assert!(!tst.ordering);
    assert!(tst.tsa.is_some());
    // Whole-second genTime: exactly "YYYYMMDDHHMMSSZ".
    assert!(reply.windows(17).any(|w| w == b"\x18\x0f20260102030405Z"));
}

#[test]
fn signed_data_profile() {
    let chain = generate_chain(SignatureAlgorithm::EcdsaP256Sha256, false, true);
    let request = VerifiedRequest::from_der(VECTOR_REQUEST).unwrap();
    let reply = authority(&chain)
        .timestamp(&request, fixed_now(), &serial())
        .unwrap();
    let signed_data = TimeStampResp::from_der(&reply)
        .unwrap()
        .signed_data()
        .unwrap();
    assert_eq!(signed_data.version, CmsVersion::V3);
    let digests: Vec<_> = signed_data
        .digest_algorithms
        .iter()
        .map(|a| a.oid)
        .collect();
    assert_eq!(digests, [sigstack_tsp::ID_SHA256]);
    assert_eq!(
        signed_data.encap_content_info.econtent_type,
        sigstack_tsp::ID_CT_TST_INFO
    );
    // certReq: the leaf (the self-signed root is left out).
    let certs = signed_data.certificates.as_ref().unwrap();
    assert_eq!(certs.0.len(), 1);
    assert!(signed_data.crls.is_none());

    let [signer_info] = signed_data.signer_infos.0.as_slice() else {
        panic!("one SignerInfo")
    };
    assert_eq!(signer_info.version, CmsVersion::V1);
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer_info.sid else {
        panic!("sid must be issuerAndSerialNumber")
    };
    assert_eq!(&sid.issuer, chain.leaf().tbs_certificate().issuer());
    assert_eq!(
        &sid.serial_number,
        chain.leaf().tbs_certificate().serial_number()
    );
    assert_eq!(signer_info.digest_alg.oid, sigstack_tsp::ID_SHA256);
    assert_eq!(signer_info.digest_alg.parameters, None);
    assert_eq!(
        signer_info.signature_algorithm.oid,
        sigstack_keys::ECDSA_WITH_SHA256
    );

    let attrs = signer_info.signed_attrs.as_ref().unwrap();
    let mut oids: Vec<ObjectIdentifier> = attrs.iter().map(|a| a.oid).collect();
    oids.sort();
    let mut want = vec![
        ID_CONTENT_TYPE,
        ID_SIGNING_TIME,
        ID_MESSAGE_DIGEST,
        ID_AA_SIGNING_CERTIFICATE_V2,
    ];
    want.sort();
    assert_eq!(oids, want);
    let signing_time: x509_cert::time::Time = attrs
        .iter()
        .find(|a| a.oid == ID_SIGNING_TIME)
        .unwrap()
        .values
        .get(0)
        .unwrap()
        .decode_as()
        .unwrap();
    assert_eq!(
        signing_time.to_unix_duration(),
        Duration::from_secs(1_767_323_045)
    );

    // ESSCertIDv2: SHA-256 (DEFAULT, so omitted) over the leaf DER, with issuerSerial.
    let ess: SigningCertificateV2 = attrs
        .iter()
        .find(|a| a.oid == ID_AA_SIGNING_CERTIFICATE_V2)
        .unwrap()
        .values
        .get(0)
        .unwrap()
        .decode_as()
        .unwrap();
    assert_eq!(ess.certs.len(), 1);
    assert_eq!(ess.certs[0].hash_algorithm, None);
    assert_eq!(
        ess.certs[0].cert_hash.as_bytes(),
        sigstack_keys::sha256(&chain.leaf().to_der().unwrap()).as_slice()
    );
    let issuer_serial = ess.certs[0].issuer_serial.as_ref().unwrap();
    assert_eq!(
        &issuer_serial.serial_number,
        chain.leaf().tbs_certificate().serial_number()
    );

    // The signature is ECDSA over the DER SET OF signed attributes, checked with sigstack-keys.
    let key = chain.leaf_signer.public_key().unwrap();
    key.verify(&attrs.to_der().unwrap(), signer_info.signature.as_bytes())
        .unwrap();
}

#[test]
fn without_cert_req_no_certificates_are_embedded() {
    let chain = generate_chain(SignatureAlgorithm::EcdsaP256Sha256, false, true);
    let mut unverified = TimeStampReq::for_digest(
        HashAlgorithm::Sha256,
        &HashAlgorithm::Sha256.digest(b"hello"),
    )
    .unwrap();
    unverified.nonce = Some(Int::new(&[0x00, 0x80, 0x01]).unwrap());
    assert!(!unverified.cert_req);
    let request_der = unverified.to_der().unwrap();
    let request = VerifiedRequest::from_der(&request_der).unwrap();
    let reply = authority(&chain)
        .timestamp(&request, SystemTime::now(), &serial())
        .unwrap();
    let response = TimeStampResp::from_der(&reply).unwrap();
    assert!(response.signed_data().unwrap().certificates.is_none());
    let tst = response.verify_signature(chain.leaf()).unwrap();
    assert_eq!(tst.nonce.unwrap().as_bytes(), [0x00, 0x80, 0x01]);
    // OpenSSL finds the leaf among -untrusted.
    let (ok, out) = verify_with_openssl(&chain, &reply, Against::Query(&request_der));
    assert!(ok, "{out}");
}

#[test]
fn intermediate_is_embedded_and_p384_leaf_uses_sha384() {
    let chain = generate_chain(SignatureAlgorithm::EcdsaP384Sha384, true, true);
    assert_eq!(chain.chain.len(), 3);
    let request = VerifiedRequest::from_der(VECTOR_REQUEST).unwrap();
    let reply = authority(&chain)
        .timestamp(&request, SystemTime::now(), &serial())
        .unwrap();
    let response = TimeStampResp::from_der(&reply).unwrap();
    let signed_data = response.signed_data().unwrap();
    assert_eq!(signed_data.certificates.as_ref().unwrap().0.len(), 2);
    let signer_info = &signed_data.signer_infos.0.as_slice()[0];
    assert_eq!(signer_info.digest_alg.oid, sigstack_tsp::ID_SHA384);
    assert_eq!(
        signer_info.signature_algorithm.oid,
        sigstack_keys::ECDSA_WITH_SHA384
    );
    response.verify_signature(chain.leaf()).unwrap();
    // Only the root is given to OpenSSL: leaf and intermediate come from the token.
    let (ok, out) = openssl_ts_verify(
        &reply,
        Against::Query(VECTOR_REQUEST),
        &pem(&chain.chain[2..]),
        None,
    );
    assert!(ok, "{out}");
}

#[test]
fn ed25519_leaf_uses_sha512_and_pure_signature() {
    let chain = generate_chain(SignatureAlgorithm::Ed25519, false, true);
    let request = VerifiedRequest::from_der(VECTOR_REQUEST).unwrap();
    let reply = authority(&chain)
        .timestamp(&request, SystemTime::now(), &serial())
        .unwrap();
    let response = TimeStampResp::from_der(&reply).unwrap();
    let signer_info = response.signed_data().unwrap().signer_infos.0.as_slice()[0].clone();
    assert_eq!(signer_info.digest_alg.oid, sigstack_tsp::ID_SHA512);
    assert_eq!(
        signer_info.signature_algorithm.oid,
        sigstack_keys::ID_ED25519
    );
    response.verify_signature(chain.leaf()).unwrap();
}

#[test]
fn policy_follows_accepted_request_policy_else_default() {
    let chain = generate_chain(SignatureAlgorithm::EcdsaP256Sha256, false, true);
    let custom = ObjectIdentifier::new_unwrap("1.2.3.4.5");
    let other = ObjectIdentifier::new_unwrap("1.2.3.4.6");
    let tsa = authority(&chain).with_accepted_policy(custom);
    let issue = |policy: Option<ObjectIdentifier>| {
        let mut unverified = TimeStampReq::for_digest(HashAlgorithm::Sha384, &[7u8; 48]).unwrap();
        unverified.req_policy = policy;
        let request = VerifiedRequest::try_from(unverified).unwrap();
        let reply = tsa
            .timestamp(&request, SystemTime::now(), &serial())
            .unwrap();
        TimeStampResp::from_der(&reply)
            .unwrap()
            .verify_signature(chain.leaf())
            .unwrap()
            .policy
    };
    assert_eq!(issue(None), SIGSTORE_TSA_POLICY);
    assert_eq!(issue(Some(custom)), custom);
    assert_eq!(issue(Some(other)), SIGSTORE_TSA_POLICY);
    assert_eq!(issue(Some(SIGSTORE_TSA_POLICY)), SIGSTORE_TSA_POLICY);

    let tsa = authority(&chain).with_policy(other).with_accuracy(None);
    let request = VerifiedRequest::from_der(VECTOR_REQUEST).unwrap();
    let reply = tsa
        .timestamp(&request, SystemTime::now(), &serial())
        .unwrap();
    let tst = TimeStampResp::from_der(&reply).unwrap().tst_info().unwrap();
    assert_eq!(tst.policy, other);
    assert_eq!(tst.accuracy, None);
}

#[test]
fn rejection_response_encodes_status_and_fail_info() {
    let reply = rejection_response(PkiFailureInfo::BadAlg.into(), "unsupported hash").unwrap();
    // status rejection(2), one UTF8String, failInfo BIT STRING with only bit 0 set (7 unused bits).
    let expected =
        "301d301b0201023012".to_owned() + "0c10" + &hex::encode("unsupported hash") + "03020780";
    assert_eq!(hex::encode(&reply), expected);
    let response = TimeStampResp::from_der(&reply).unwrap();
    assert_eq!(response.status.status, PkiStatus::Rejection);
    assert_eq!(
        response.status.fail_info,
        Some(FlagSet::from(PkiFailureInfo::BadAlg))
    );
    assert!(response.time_stamp_token.is_none());
    let text = openssl_ts_text(&reply);
    assert!(text.contains("Status: Rejected"), "{text}");
    assert!(
        text.contains("unrecognized or unsupported algorithm identifier"),
        "{text}"
    );

    let reply = rejection_response(PkiFailureInfo::SystemFailure.into(), "").unwrap();
    let text = openssl_ts_text(&reply);
    assert!(text.contains("system failure"), "{text}");
}

#[test]
fn bad_requests_map_to_failure_info() {
    let sha256_hello = HashAlgorithm::Sha256.digest(b"hello");
    let check = |unverified: TimeStampReq, bit: PkiFailureInfo| {
        let err = VerifiedRequest::from_der(&unverified.to_der().unwrap()).unwrap_err();
        assert!(err.is_client_error(), "{err}");
        assert_eq!(err.failure_info(), FlagSet::from(bit), "{err}");
        err
    };

    // SHA-1 imprint.
    let mut req = TimeStampReq::for_digest(HashAlgorithm::Sha256, &[0u8; 20]).unwrap();
    req.message_imprint.hash_algorithm.oid = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
    let err = check(req, PkiFailureInfo::BadAlg);
    assert!(matches!(err, TspError::UnsupportedHashAlgorithm(_)));

    // Hash parameters that are not NULL.
    let mut req = TimeStampReq::for_digest(HashAlgorithm::Sha256, &sha256_hello).unwrap();
    req.message_imprint.hash_algorithm.parameters = Some(der::Any::encode_from(&true).unwrap());
    assert!(matches!(
        check(req, PkiFailureInfo::BadAlg),
        TspError::HashParameters(_)
    ));

    // Absent parameters are fine.
    let mut req = TimeStampReq::for_digest(HashAlgorithm::Sha256, &sha256_hello).unwrap();
    req.message_imprint.hash_algorithm.parameters = None;
    VerifiedRequest::try_from(req).unwrap();

    // Imprint of the wrong length.
    let req = TimeStampReq::for_digest(HashAlgorithm::Sha512, &sha256_hello).unwrap();
    let err = check(req, PkiFailureInfo::BadDataFormat);
    assert!(matches!(
        err,
        TspError::ImprintLength {
            expected: 64,
            got: 32,
            ..
        }
    ));

    // Version 2.
    let mut req = TimeStampReq::for_digest(HashAlgorithm::Sha256, &sha256_hello).unwrap();
    req.version = 2;
    assert!(matches!(
        check(req, PkiFailureInfo::BadRequest),
        TspError::UnsupportedVersion(2)
    ));

    // Extensions.
    let mut req = TimeStampReq::for_digest(HashAlgorithm::Sha256, &sha256_hello).unwrap();
    req.extensions = Some(vec![x509_cert::ext::Extension {
        extn_id: ObjectIdentifier::new_unwrap("1.2.3"),
        critical: false,
        extn_value: der::asn1::OctetString::new(vec![5, 0]).unwrap(),
    }]);
    assert!(matches!(
        check(req, PkiFailureInfo::UnacceptedExtension),
        TspError::UnacceptedExtension
    ));

    // Not DER: trailing bytes, truncation, garbage.
    let mut trailing = VECTOR_REQUEST.to_vec();
    trailing.push(0);
    for bad in [&trailing[..], &VECTOR_REQUEST[..40], b"not a request"] {
        let err = VerifiedRequest::from_der(bad).unwrap_err();
        assert!(matches!(err, TspError::MalformedRequest(_)), "{err}");
        assert_eq!(
            err.failure_info(),
            FlagSet::from(PkiFailureInfo::BadDataFormat)
        );
    }
}

#[test]
fn authority_rejects_unfit_chains() {
    let chain = generate_chain(SignatureAlgorithm::EcdsaP256Sha256, false, true);
    // Leaf not matching the key.
    let other = generate_chain(SignatureAlgorithm::EcdsaP256Sha256, false, true);
    let err = TimestampAuthority::new(other.leaf_signer.clone(), chain.chain.clone()).unwrap_err();
    assert!(matches!(err, TspError::KeyMismatch));
    // Empty chain.
    let err = TimestampAuthority::new(chain.leaf_signer.clone(), vec![]).unwrap_err();
    assert!(matches!(err, TspError::Certificate(_)));
    // Non-critical EKU.
    let weak = generate_chain(SignatureAlgorithm::EcdsaP256Sha256, false, false);
    let err = TimestampAuthority::new(weak.leaf_signer.clone(), weak.chain.clone()).unwrap_err();
    assert!(matches!(err, TspError::Certificate(_)), "{err}");
    assert!(!err.is_client_error());
}
