//! Fulcio proof of possession on untrusted requests (sigstack-fulcio-core):
//! `ProvenKey::from_csr` (base64 of a PEM or DER PKCS#10 request) and
//! `ProvenKey::from_public_key_request` (public key + signed challenge).
//!
//! Input: first byte 0 builds a correctly self-signed CSR, 1 a correctly signed
//! `publicKeyRequest`, from the rest (key type, DER or PEM, base64 flavour, whitespace,
//! challenge); otherwise the input is the CSR field, and also `key \0 proof \0 challenge`.
//!
//! Invariants:
//! - never panics;
//! - an accepted key is canonical DER SPKI that `sigstack-keys` parses to the same key;
//! - correctly signed CSRs and public-key requests for P-256, P-384 and Ed25519 are accepted
//!   and certify exactly the signer's key;
//! - a CSR whose signature algorithm is not the one its key uses is refused as an algorithm
//!   mismatch; a proof over another challenge is refused as a bad proof of possession.
#![no_main]

use der::asn1::BitString;
use der::{Decode as _, Encode as _};
use libfuzzer_sys::fuzz_target;
use sigstack_fulcio_core::{FulcioCoreError, ProvenKey};
use sigstack_fuzz::{Unstructured, any_base64, canonical_pem, pick_algorithm, signer};
use sigstack_keys::{PublicKey, SignatureAlgorithm};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

fn check(key: &ProvenKey) {
    let parsed = PublicKey::from_spki_der(key.spki_der()).expect("proven key parses");
    assert_eq!(&parsed, key.public_key());
    let canonical = SubjectPublicKeyInfoOwned::from_der(key.spki_der())
        .and_then(|s| s.to_der())
        .expect("SPKI");
    assert_eq!(canonical, key.spki_der(), "proven key is not canonical DER");
}

fn csr_der(alg: SignatureAlgorithm, algorithm: AlgorithmIdentifierOwned) -> Vec<u8> {
    let signer = signer(alg);
    let info = CertReqInfo {
        version: Version::V1,
        subject: Name::default(),
        public_key: SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).expect("spki"),
        attributes: Default::default(),
    };
    let sig = signer.sign(&info.to_der().expect("info")).expect("sign");
    CertReq {
        info,
        algorithm,
        signature: BitString::from_bytes(&sig).expect("bits"),
    }
    .to_der()
    .expect("CSR")
}

fn whitespace(u: &mut Unstructured<'_>) -> &'static str {
    [" ", "\n", "\r\n", "\t", ""][usize::from(u.arbitrary::<u8>().unwrap_or(0) % 5)]
}

fn signed_csr(u: &mut Unstructured<'_>) {
    let alg = pick_algorithm(u);
    let der = csr_der(alg, alg.signature_algorithm_identifier());
    let payload = match u.arbitrary::<u8>().unwrap_or(0) % 3 {
        0 => der.clone(),
        1 => canonical_pem("CERTIFICATE REQUEST", &der).into_bytes(),
        _ => canonical_pem("NEW CERTIFICATE REQUEST", &der).into_bytes(),
    };
    let field = format!(
        "{}{}{}",
        whitespace(u),
        any_base64(u, &payload),
        whitespace(u)
    );
    let key = ProvenKey::from_csr(&field).unwrap_or_else(|e| panic!("signed CSR refused: {e}"));
    check(&key);
    assert_eq!(key.spki_der(), signer(alg).public_key_der());

    let wrong = match alg {
        SignatureAlgorithm::EcdsaP256Sha256 => SignatureAlgorithm::EcdsaP384Sha384,
        _ => SignatureAlgorithm::EcdsaP256Sha256,
    };
    let mismatched = csr_der(alg, wrong.signature_algorithm_identifier());
    assert!(matches!(
        ProvenKey::from_csr(&any_base64(u, &mismatched)),
        Err(FulcioCoreError::AlgorithmMismatch { .. })
    ));
}

fn signed_public_key_request(u: &mut Unstructured<'_>) {
    let alg = pick_algorithm(u);
    let challenge: String = u.arbitrary().unwrap_or_default();
    let signer = signer(alg);
    let key = if u.arbitrary::<bool>().unwrap_or(false) {
        format!(
            "{}{}{}",
            whitespace(u),
            canonical_pem("PUBLIC KEY", signer.public_key_der()),
            whitespace(u)
        )
    } else {
        any_base64(u, signer.public_key_der())
    };
    let proof = any_base64(u, &signer.sign(challenge.as_bytes()).expect("sign"));
    let proven = ProvenKey::from_public_key_request(&key, &proof, &challenge)
        .unwrap_or_else(|e| panic!("signed public key request refused: {e}"));
    check(&proven);
    assert_eq!(proven.spki_der(), signer.public_key_der());
    let other = format!("{challenge}x");
    assert!(matches!(
        ProvenKey::from_public_key_request(&key, &proof, &other),
        Err(FulcioCoreError::BadProofOfPossession)
    ));
}

fuzz_target!(|data: &[u8]| {
    match data.first() {
        Some(0) => signed_csr(&mut Unstructured::new(&data[1..])),
        Some(1) => signed_public_key_request(&mut Unstructured::new(&data[1..])),
        _ => {
            let Ok(text) = std::str::from_utf8(data) else {
                return;
            };
            if let Ok(key) = ProvenKey::from_csr(text) {
                check(&key);
            }
            let mut parts = text.splitn(3, '\0');
            if let (Some(key), Some(proof), Some(challenge)) =
                (parts.next(), parts.next(), parts.next())
                && let Ok(key) = ProvenKey::from_public_key_request(key, proof, challenge)
            {
                check(&key);
            }
        }
    }
});
