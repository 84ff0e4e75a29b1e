//! RSA client keys and curve acceptance, with signatures made by an independent
//! implementation (the OpenSSL command line) over fixtures in `tests/data`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sigstack_keys::{KeyError, PublicKey, SignatureAlgorithm, sha256};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl is installed by .ci/run");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?}");
    out.stdout
}

fn public_pem(private: &Path) -> String {
    String::from_utf8(openssl(
        &["pkey", "-in", private.to_str().unwrap(), "-pubout"],
        b"",
    ))
    .unwrap()
}

#[test]
fn rsa_2048_to_4096_verify_pkcs1_pss_and_prehash() {
    for bits in [2048usize, 3072, 4096] {
        let private = data(&format!("rsa-{bits}.pem"));
        let key = PublicKey::from_pem(&public_pem(&private)).unwrap();
        assert_eq!(key.rsa_bits(), Some(bits));
        assert_eq!(key.algorithm(), SignatureAlgorithm::RsaPkcs1Sha256);
        assert_eq!(
            key.key_details(),
            format!("PKIX_RSA_PKCS1V15_{bits}_SHA256")
        );
        let message = b"alice@example.test";
        let key_path = private.to_str().unwrap();
        let pkcs1 = openssl(&["dgst", "-sha256", "-sign", key_path], message);
        key.verify(message, &pkcs1).unwrap();
        key.verify_with(SignatureAlgorithm::RsaPkcs1Sha256, message, &pkcs1)
            .unwrap();
        key.verify_prehash(&sha256(message), &pkcs1).unwrap();
        assert!(matches!(
            key.verify(b"bob@example.test", &pkcs1),
            Err(KeyError::BadSignature)
        ));
        // A PKCS#1 v1.5 signature is not a PSS signature, and the reverse.
        assert!(
            key.verify_with(SignatureAlgorithm::RsaPssSha256, message, &pkcs1)
                .is_err()
        );
        for salt in ["32", "digest", "max"] {
            let pss = openssl(
                &[
                    "dgst",
                    "-sha256",
                    "-sign",
                    key_path,
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    &format!("rsa_pss_saltlen:{salt}"),
                ],
                message,
            );
            key.verify_with(SignatureAlgorithm::RsaPssSha256, message, &pss)
                .unwrap();
            assert!(key.verify(message, &pss).is_err(), "PSS taken as PKCS#1");
        }
        // An ECDSA scheme does not fit an RSA key.
        assert!(matches!(
            key.verify_with(SignatureAlgorithm::EcdsaP256Sha256, message, &pkcs1),
            Err(KeyError::UnsupportedKey(_))
        ));
        // SHA-384 prehash (Rekor hashedrekord with a sha384 digest).
        let sig384 = openssl(&["dgst", "-sha384", "-sign", key_path], message);
        let digest384 = openssl(&["dgst", "-sha384", "-binary"], message);
        key.verify_prehash(&digest384, &sig384).unwrap();
        assert!(key.verify_prehash(&sha256(message), &sig384).is_err());
    }
}

#[test]
fn weak_or_unsupported_keys_are_refused() {
    for (file, expect) in [
        ("rsa-1024-public.pem", "2048 to 4096 bits"),
        ("rsa-2048-e3-public.pem", "65537"),
        ("p224-public.pem", "curve"),
    ] {
        let pem = std::fs::read_to_string(data(file)).unwrap();
        let err = PublicKey::from_pem(&pem).unwrap_err();
        assert!(
            matches!(&err, KeyError::UnsupportedKey(m) if m.contains(expect)),
            "{file}: {err}"
        );
    }
}

#[test]
fn p384_keys_pair_with_sha384() {
    let private = openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
        ],
        b"",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p384.pem");
    std::fs::write(&path, private).unwrap();
    let key = PublicKey::from_pem(&public_pem(&path)).unwrap();
    assert_eq!(key.algorithm(), SignatureAlgorithm::EcdsaP384Sha384);
    let message = b"https://ci.example.test/workflow";
    let path = path.to_str().unwrap();
    let good = openssl(&["dgst", "-sha384", "-sign", path], message);
    key.verify(message, &good).unwrap();
    let wrong_hash = openssl(&["dgst", "-sha256", "-sign", path], message);
    assert!(key.verify(message, &wrong_hash).is_err());
}

#[test]
fn p521_keys_pair_with_sha512() {
    let private = openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-521",
        ],
        b"",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p521.pem");
    std::fs::write(&path, private).unwrap();
    let key = PublicKey::from_pem(&public_pem(&path)).unwrap();
    assert_eq!(key.algorithm(), SignatureAlgorithm::EcdsaP521Sha512);
    assert_eq!(key.key_details(), "PKIX_ECDSA_P521_SHA_512");
    let message = b"alice@example.test";
    let path = path.to_str().unwrap();
    let good = openssl(&["dgst", "-sha512", "-sign", path], message);
    key.verify(message, &good).unwrap();
    let digest = SignatureAlgorithm::EcdsaP521Sha512.digest(message);
    key.verify_prehash(&digest, &good).unwrap();
    assert!(matches!(
        key.verify(b"mallory@example.test", &good),
        Err(KeyError::BadSignature)
    ));
    let wrong_hash = openssl(&["dgst", "-sha256", "-sign", path], message);
    assert!(key.verify(message, &wrong_hash).is_err());
    assert!(matches!(
        key.verify_prehash(&sha256(message), &wrong_hash),
        Err(KeyError::DigestLength { want: 64, got: 32 })
    ));

    // A point that is not on the curve is malformed, not unsupported.
    let mut spki = key.spki_der().to_vec();
    let last = spki.len() - 1;
    spki[last] ^= 0x01;
    assert!(matches!(
        PublicKey::from_spki_der(&spki),
        Err(KeyError::MalformedKey(_))
    ));
}
