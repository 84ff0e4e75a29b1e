//! `PublicKey::from_spki_der` and `PublicKey::from_pem` on untrusted keys (sigstack-keys).
//!
//! Invariants:
//! - never panics;
//! - an accepted DER key keeps its input bytes as `spki_der()` and re-parses to an equal key;
//! - `to_pem()` of an accepted key parses back to an equal key;
//! - algorithm and `ed25519_bytes()` agree; prehash verification is refused for Ed25519 and
//!   refuses digests of the wrong length for ECDSA;
//! - verifying arbitrary bytes as a signature fails cleanly (with the digest of the input as
//!   message, a valid signature would be a forgery).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigstack_keys::{KeyError, PublicKey, SignatureAlgorithm, sha256};

fn check(key: &PublicKey, data: &[u8]) {
    let again = PublicKey::from_spki_der(key.spki_der()).expect("spki_der() re-parses");
    assert_eq!(&again, key);
    let pem = key.to_pem();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert_eq!(&PublicKey::from_pem(&pem).expect("to_pem() re-parses"), key);

    let message = sha256(data);
    match key.algorithm() {
        SignatureAlgorithm::Ed25519 => {
            assert!(key.ed25519_bytes().is_some());
            assert!(matches!(
                key.verify_prehash(&message, data),
                Err(KeyError::UnsupportedKey(_))
            ));
        }
        SignatureAlgorithm::EcdsaP256Sha256 | SignatureAlgorithm::EcdsaP384Sha384 => {
            assert!(key.ed25519_bytes().is_none());
            assert!(matches!(
                key.verify_prehash(&message[..31], data),
                Err(KeyError::DigestLength { .. })
            ));
            let _ = key.verify_prehash(&key.algorithm().digest(&message), data);
        }
        other => panic!("unexpected algorithm {other:?}"),
    }
    assert!(
        key.verify(&message, data).is_err(),
        "arbitrary bytes verified as a signature"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = PublicKey::from_spki_der(data) {
        assert_eq!(key.spki_der(), data, "spki_der() must be the input");
        check(&key, data);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(key) = PublicKey::from_pem(text)
    {
        check(&key, data);
    }
});
