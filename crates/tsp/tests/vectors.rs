//! Public RFC 3161 vectors (tests/data/README.md): parsing requests and responses, walking the
//! TSTInfo out of real tokens and checking their signatures.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use der::asn1::OctetString;
use der::{Decode, Encode};
use sigstack_tsp::{
    HashAlgorithm, ID_AA_SIGNING_CERTIFICATE_V2, PkiStatus, SIGSTORE_TSA_POLICY,
    SigningCertificateV2, TimeStampReq, TimeStampResp, TspError, TstInfo, VerifiedRequest,
};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;

use common::{Against, openssl_ts_verify, pem};

const LOCAL_REQUEST: &[u8] = include_bytes!("data/local-tsa-request-sha512-nonce-certreq.tsq");
const LOCAL_RESPONSE: &[u8] = include_bytes!("data/local-tsa-response-granted.tsr");
const LOCAL_CHAIN: &str = include_str!("data/local-tsa-chain.pem");
const SIGSTAGE_RESPONSE: &[u8] = include_bytes!("data/sigstage-response-sha256-hello.tsr");
const SIGSTAGE_CORRUPTED: &[u8] = include_bytes!("data/sigstage-response-corrupted-signature.tsr");
const SIGSTAGE_CHAIN: &str = include_str!("data/sigstage-chain.pem");

fn chain(pem: &str) -> Vec<Certificate> {
    Certificate::load_pem_chain(pem.as_bytes()).unwrap()
}

fn unix(time: &der::asn1::GeneralizedTime) -> u64 {
    time.to_unix_duration().as_secs()
}

#[test]
fn vector_request_parses_with_nonce_hash_and_cert_req() {
    let request = VerifiedRequest::from_der(LOCAL_REQUEST).unwrap();
    assert_eq!(request.algorithm(), HashAlgorithm::Sha512);
    assert_eq!(
        request.message_imprint().hashed_message.as_bytes(),
        HashAlgorithm::Sha512.digest(b"hello").as_slice()
    );
    assert_eq!(
        request.nonce().unwrap().as_bytes(),
        hex::decode("36a44f9f4a391fd3").unwrap()
    );
    assert!(request.cert_req());
    assert_eq!(request.req_policy(), None);
    // The wire type re-encodes to the exact input (it was DER).
    assert_eq!(
        TimeStampReq::from_der(LOCAL_REQUEST)
            .unwrap()
            .to_der()
            .unwrap(),
        LOCAL_REQUEST
    );
}

#[test]
fn vector_response_tst_info_fields() {
    let response = TimeStampResp::from_der(LOCAL_RESPONSE).unwrap();
    assert_eq!(response.status.status, PkiStatus::Granted);
    // Our types round-trip the whole real-world response byte for byte.
    assert_eq!(response.to_der().unwrap(), LOCAL_RESPONSE);

    let tst = response.tst_info().unwrap();
    assert_eq!(tst.version, 1);
    assert_eq!(tst.policy, SIGSTORE_TSA_POLICY);
    // genTime 20241008154032Z
    assert_eq!(unix(&tst.gen_time), 1_728_402_032);
    assert_eq!(
        tst.serial_number.as_bytes(),
        hex::decode("797035501f358571fed54952bebbd000497461dc").unwrap()
    );
    assert_eq!(
        tst.nonce.unwrap().as_bytes(),
        hex::decode("36a44f9f4a391fd3").unwrap()
    );
    assert_eq!(tst.accuracy.unwrap().seconds, Some(1));
    assert!(!tst.ordering);
    let request = VerifiedRequest::from_der(LOCAL_REQUEST).unwrap();
    assert_eq!(&tst.message_imprint, request.message_imprint());
    let chain = chain(LOCAL_CHAIN);
    assert_eq!(
        tst.tsa,
        Some(GeneralName::DirectoryName(
            chain[0].tbs_certificate().subject().clone()
        ))
    );
    // The embedded TSTInfo is exactly what the vector recorded.
    assert!(
        hex::encode(response.tst_info_der().unwrap())
            .starts_with("3081cd02010106092b0601040183bf3002")
    );
}

#[test]
fn vector_response_signature_verifies_with_its_leaf_only() {
    let response = TimeStampResp::from_der(LOCAL_RESPONSE).unwrap();
    let chain = chain(LOCAL_CHAIN);
    let tst = response.verify_signature(&chain[0]).unwrap();
    assert_eq!(unix(&tst.gen_time), 1_728_402_032);
    // The intermediate is not the signer.
    assert!(matches!(
        response.verify_signature(&chain[1]),
        Err(TspError::InvalidToken(_))
    ));

    // A flipped bit in the signature is caught.
    let mut tampered = LOCAL_RESPONSE.to_vec();
    let last = tampered.len() - 5;
    tampered[last] ^= 0x01;
    let tampered = TimeStampResp::from_der(&tampered).unwrap();
    assert!(matches!(
        tampered.verify_signature(&chain[0]),
        Err(TspError::BadSignature(_))
    ));
}

#[test]
fn vector_signing_certificate_v2_names_the_leaf() {
    let response = TimeStampResp::from_der(LOCAL_RESPONSE).unwrap();
    let signed_data = response.signed_data().unwrap();
    let signer_info = &signed_data.signer_infos.0.as_slice()[0];
    let attrs = signer_info.signed_attrs.as_ref().unwrap();
    let attr = attrs
        .iter()
        .find(|a| a.oid == ID_AA_SIGNING_CERTIFICATE_V2)
        .unwrap();
    let ess: SigningCertificateV2 = attr.values.get(0).unwrap().decode_as().unwrap();
    let leaf = &chain(LOCAL_CHAIN)[0];
    // This TSA hashed the certificate with SHA-512 and wrote the algorithm explicitly.
    let id = &ess.certs[0];
    assert_eq!(id.effective_hash_algorithm().oid, sigstack_tsp::ID_SHA512);
    assert_eq!(
        id.cert_hash.as_bytes(),
        HashAlgorithm::Sha512
            .digest(&leaf.to_der().unwrap())
            .as_slice()
    );
    let issuer_serial = id.issuer_serial.as_ref().unwrap();
    assert_eq!(
        &issuer_serial.serial_number,
        leaf.tbs_certificate().serial_number()
    );
    assert_eq!(
        issuer_serial.issuer,
        vec![GeneralName::DirectoryName(
            leaf.tbs_certificate().issuer().clone()
        )]
    );
}

#[test]
fn vector_pair_verifies_with_openssl() {
    let chain = chain(LOCAL_CHAIN);
    let (ok, out) = openssl_ts_verify(
        LOCAL_RESPONSE,
        Against::Query(LOCAL_REQUEST),
        &pem(&chain[2..]),
        Some(&pem(&chain[..2])),
    );
    assert!(ok, "{out}");
}

#[test]
fn sigstage_response_fields_and_default_ess_hash() {
    let response = TimeStampResp::from_der(SIGSTAGE_RESPONSE).unwrap();
    assert_eq!(response.to_der().unwrap(), SIGSTAGE_RESPONSE);
    let tst: TstInfo = response.tst_info().unwrap();
    assert_eq!(tst.policy, SIGSTORE_TSA_POLICY);
    // genTime 20250509115855Z
    assert_eq!(
        tst.gen_time.to_system_time(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_746_791_935)
    );
    assert_eq!(
        tst.serial_number.as_bytes(),
        hex::decode("784b4c5e57aaa63b570f15cba4df95251668ae9e").unwrap()
    );
    assert_eq!(
        tst.nonce.unwrap().as_bytes(),
        hex::decode("051708b19a1d2e209c2236ffc3238bf24dcecc40").unwrap()
    );
    assert_eq!(
        tst.message_imprint.hashed_message,
        OctetString::new(HashAlgorithm::Sha256.digest(b"hello")).unwrap()
    );

    // sigstage omits ESSCertIDv2.hashAlgorithm (DEFAULT sha256), as DER requires.
    let signed_data = response.signed_data().unwrap();
    let attrs = signed_data.signer_infos.0.as_slice()[0]
        .signed_attrs
        .clone()
        .unwrap();
    let attr = attrs
        .iter()
        .find(|a| a.oid == ID_AA_SIGNING_CERTIFICATE_V2)
        .unwrap();
    let ess: SigningCertificateV2 = attr.values.get(0).unwrap().decode_as().unwrap();
    assert_eq!(ess.certs[0].hash_algorithm, None);
    let leaf = &chain(SIGSTAGE_CHAIN)[0];
    assert_eq!(
        ess.certs[0].cert_hash.as_bytes(),
        sigstack_keys::sha256(&leaf.to_der().unwrap()).as_slice()
    );

    // A P-384 key with a SHA-256 digest is outside what verify_signature supports.
    assert!(matches!(
        response.verify_signature(leaf),
        Err(TspError::UnsupportedKey(_))
    ));
}

#[test]
fn sigstage_response_verifies_with_openssl_and_corruption_fails() {
    let chain = chain(SIGSTAGE_CHAIN);
    let (ok, out) = openssl_ts_verify(
        SIGSTAGE_RESPONSE,
        Against::Data(b"hello"),
        &pem(&chain[1..]),
        Some(&pem(&chain[..1])),
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl_ts_verify(
        SIGSTAGE_CORRUPTED,
        Against::Data(b"hello"),
        &pem(&chain[1..]),
        Some(&pem(&chain[..1])),
    );
    assert!(!ok, "corrupted signature must not verify: {out}");
}

#[test]
fn non_der_default_encoding_is_refused() {
    // certReq = FALSE written out explicitly: valid BER, but DER omits DEFAULT values.
    let tsq = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/request-certreq-false-encoded-explicitly.tsq"
    ))
    .unwrap();
    assert!(matches!(
        sigstack_tsp::VerifiedRequest::from_der(&tsq),
        Err(sigstack_tsp::TspError::MalformedRequest(_))
    ));
}
