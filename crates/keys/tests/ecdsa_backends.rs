//! ECDSA signing and verification run on aws-lc-rs for speed; RustCrypto parses, validates and
//! encodes the keys. Both must agree: signatures made by one verify with the other, and anything
//! tampered is refused either way.

#![allow(clippy::unwrap_used)]

use p256::pkcs8::DecodePrivateKey as _;
use sha2::Digest as _;
use signature::Verifier as _;
use sigstack_keys::{FileSigner, KeyError, PublicKey, SignatureAlgorithm, Signer as _};

#[test]
fn p256_signatures_cross_verify_between_backends() {
    let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let pem = signer.to_pkcs8_pem().unwrap();
    let rustcrypto = p256::ecdsa::SigningKey::from_pkcs8_pem(&pem).unwrap();
    let public = PublicKey::from_spki_der(signer.public_key_der()).unwrap();
    let message = b"checkpoint body";

    // Our signer's signatures (aws-lc-rs, fresh randomness each time) verify with RustCrypto.
    let sig = signer.sign(message).unwrap();
    let again = signer.sign(message).unwrap();
    assert_ne!(again, sig, "each signature uses a fresh nonce");
    for s in [&sig, &again] {
        let der = p256::ecdsa::DerSignature::from_bytes(s).unwrap();
        rustcrypto.verifying_key().verify(message, &der).unwrap();
    }

    // A signature made elsewhere verifies on the aws-lc-rs path, over the message and the digest.
    let theirs: p256::ecdsa::DerSignature = signature::Signer::sign(&rustcrypto, message);
    public.verify(message, theirs.as_bytes()).unwrap();
    let digest = sha2::Sha256::digest(message);
    public.verify_prehash(&digest, theirs.as_bytes()).unwrap();

    // Tampering is refused on both paths.
    assert!(matches!(
        public.verify(b"other", &sig),
        Err(KeyError::BadSignature)
    ));
    let other_digest = sha2::Sha256::digest(b"other");
    assert!(matches!(
        public.verify_prehash(&other_digest, &sig),
        Err(KeyError::BadSignature)
    ));
    let mut flipped = sig.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(public.verify(message, &flipped).is_err());
    assert!(matches!(
        public.verify(message, b"not DER"),
        Err(KeyError::MalformedSignature)
    ));
}

#[test]
fn p384_signatures_cross_verify_between_backends() {
    let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP384Sha384).unwrap();
    let pem = signer.to_pkcs8_pem().unwrap();
    let rustcrypto = p384::ecdsa::SigningKey::from_pkcs8_pem(&pem).unwrap();
    let public = PublicKey::from_spki_der(signer.public_key_der()).unwrap();
    let sig = signer.sign(b"m").unwrap();
    rustcrypto
        .verifying_key()
        .verify(b"m", &p384::ecdsa::DerSignature::from_bytes(&sig).unwrap())
        .unwrap();
    let theirs: p384::ecdsa::DerSignature = signature::Signer::sign(&rustcrypto, b"m");
    public.verify(b"m", theirs.as_bytes()).unwrap();
    public
        .verify_prehash(&sha2::Sha384::digest(b"m"), theirs.as_bytes())
        .unwrap();
    assert!(public.verify(b"n", &sig).is_err());
}
