//! Proof of possession: signature over the challenge, or a self-signed CSR.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::asn1::BitString;
use der::{Decode, Encode};
use sigstack_fulcio_core::{FulcioCoreError, ProvenKey};
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};

const ALGORITHMS: [SignatureAlgorithm; 3] = [
    SignatureAlgorithm::EcdsaP256Sha256,
    SignatureAlgorithm::EcdsaP384Sha384,
    SignatureAlgorithm::Ed25519,
];

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("tests/data/{name}")).expect("test data")
}

fn public_key_pem(signer: &FileSigner) -> String {
    sigstack_keys::pem_encode("PUBLIC KEY", signer.public_key_der())
}

/// A CSR signed by `signer`, optionally claiming another signature algorithm.
fn csr_der(signer: &FileSigner, algorithm: Option<SignatureAlgorithm>) -> Vec<u8> {
    let info = CertReqInfo {
        version: Version::V1,
        subject: Name::default(),
        public_key: SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).expect("spki"),
        attributes: Default::default(),
    };
    let info_der = info.to_der().expect("info");
    let signature = signer.sign(&info_der).expect("sign");
    CertReq {
        info,
        algorithm: algorithm
            .unwrap_or(signer.algorithm())
            .signature_algorithm_identifier(),
        signature: BitString::from_bytes(&signature).expect("bits"),
    }
    .to_der()
    .expect("csr")
}

fn b64_pem_csr(der: &[u8]) -> String {
    STANDARD.encode(sigstack_keys::pem_encode("CERTIFICATE REQUEST", der))
}

#[test]
fn public_key_request_accepts_a_signature_over_the_challenge() {
    for alg in ALGORITHMS {
        let signer = FileSigner::generate(alg).expect("key");
        let proof = STANDARD.encode(signer.sign(b"alice@example.com").expect("sign"));
        let key = ProvenKey::from_public_key_request(
            &public_key_pem(&signer),
            &proof,
            "alice@example.com",
        )
        .expect("accepted");
        assert_eq!(key.spki_der(), signer.public_key_der());
        // Base64 DER instead of PEM is accepted too.
        let b64_der = STANDARD.encode(signer.public_key_der());
        ProvenKey::from_public_key_request(&b64_der, &proof, "alice@example.com")
            .expect("DER accepted");
    }
}

#[test]
fn public_key_request_rejects_a_proof_over_another_identity() {
    for alg in ALGORITHMS {
        let signer = FileSigner::generate(alg).expect("key");
        let proof = STANDARD.encode(signer.sign(b"mallory@example.com").expect("sign"));
        let err = ProvenKey::from_public_key_request(
            &public_key_pem(&signer),
            &proof,
            "alice@example.com",
        )
        .expect_err("another identity");
        assert!(
            matches!(err, FulcioCoreError::BadProofOfPossession),
            "{alg:?}: {err}"
        );
    }
}

#[test]
fn public_key_request_rejects_a_proof_by_another_key() {
    let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key");
    let other = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key");
    let proof = STANDARD.encode(other.sign(b"sub").expect("sign"));
    let err = ProvenKey::from_public_key_request(&public_key_pem(&signer), &proof, "sub")
        .expect_err("other key");
    assert!(matches!(err, FulcioCoreError::BadProofOfPossession));
}

#[test]
fn public_key_request_rejects_garbage() {
    let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key");
    let pem = public_key_pem(&signer);
    let proof = STANDARD.encode(signer.sign(b"sub").expect("sign"));
    for (key, proof) in [
        (pem.as_str(), "!!not base64!!"),
        (pem.as_str(), ""),
        (pem.as_str(), "AAAA"),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            proof.as_str(),
        ),
        ("not a key", proof.as_str()),
    ] {
        let err = ProvenKey::from_public_key_request(key, proof, "sub").expect_err("garbage");
        assert!(matches!(err, FulcioCoreError::MalformedRequest(_)), "{err}");
    }
}

#[test]
fn weak_or_unsupported_keys_are_refused() {
    let file = "secp256k1-public-key.pem";
    let err = ProvenKey::from_public_key_request(&data(file), "AAAA", "sub").expect_err(file);
    assert!(
        matches!(err, FulcioCoreError::UnsupportedKey(_)),
        "{file}: {err}"
    );
    assert!(err.is_client_error());
    for (file, needle) in [
        ("secp256k1-csr.pem", "curve"),
        ("p224-sha256-csr.pem", "curve"),
        ("rsa1024-sha256-csr.pem", "2048 to 4096 bits"),
    ] {
        let err = ProvenKey::from_csr(&STANDARD.encode(data(file))).expect_err(file);
        assert!(
            matches!(&err, FulcioCoreError::UnsupportedKey(m) if m.contains(needle)),
            "{file}: {err}"
        );
        assert!(err.is_client_error());
    }
}

/// Sign `message` with the OpenSSL command line (an independent implementation), hashing with
/// `hash` (`-sha256`, `-sha512`).
fn openssl_sign_with(key_file: &str, hash: &str, message: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let path = format!("{}/tests/data/{key_file}", env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", hash, "-sign", &path])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl is installed by .ci/run");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(message)
        .expect("write");
    let out = child.wait_with_output().expect("openssl");
    assert!(out.status.success());
    out.stdout
}

/// RSA PKCS#1 v1.5 with SHA-256 by the OpenSSL command line.
fn openssl_sign(key_file: &str, message: &[u8]) -> Vec<u8> {
    openssl_sign_with(key_file, "-sha256", message)
}

#[test]
fn p521_client_keys_prove_possession_with_sha512_like_upstream() {
    // Upstream Fulcio's default algorithm registry includes ecdsa-sha2-512-nistp521, and cosign
    // (`sign-blob --signing-algorithm ecdsa-sha2-512-nistp521`) proves possession with a
    // SHA-512 signature over the challenge.
    let csr_pem = data("p521-sha512-openssl-csr.pem");
    let key = ProvenKey::from_csr(&STANDARD.encode(&csr_pem)).expect("P-521 CSR");
    assert_eq!(
        key.public_key().algorithm(),
        SignatureAlgorithm::EcdsaP521Sha512
    );
    assert_eq!(key.public_key().key_details(), "PKIX_ECDSA_P521_SHA_512");
    let (_, der) = der::pem::decode_vec(csr_pem.as_bytes()).expect("pem");
    let spki = CertReq::from_der(&der)
        .expect("csr")
        .info
        .public_key
        .to_der()
        .expect("spki");
    assert_eq!(key.spki_der(), spki);

    // P-521 signed with SHA-256 is not a pair the registry permits.
    let err = ProvenKey::from_csr(&STANDARD.encode(data("p521-with-sha256-csr.pem")))
        .expect_err("P-521 + SHA-256");
    assert!(
        matches!(err, FulcioCoreError::AlgorithmMismatch { .. }),
        "{err}"
    );

    // publicKeyRequest: ECDSA / SHA-512 over the challenge.
    let public_pem = sigstack_keys::pem_encode("PUBLIC KEY", &spki);
    let proof = STANDARD.encode(openssl_sign_with(
        "p521-key.pem",
        "-sha512",
        b"alice@example.com",
    ));
    let proven = ProvenKey::from_public_key_request(&public_pem, &proof, "alice@example.com")
        .expect("P-521 PoP");
    assert_eq!(proven.spki_der(), spki);
    for (proof, challenge) in [
        (proof.clone(), "mallory@example.com"),
        (
            STANDARD.encode(openssl_sign_with(
                "p521-key.pem",
                "-sha256",
                b"alice@example.com",
            )),
            "alice@example.com",
        ),
    ] {
        let err = ProvenKey::from_public_key_request(&public_pem, &proof, challenge)
            .expect_err("wrong challenge or hash");
        assert!(
            matches!(err, FulcioCoreError::BadProofOfPossession),
            "{err}"
        );
    }
}

#[test]
fn rsa_client_keys_prove_possession_like_upstream() {
    // CSRs: PKCS#1 v1.5 with SHA-256 (2048, 3072) and RSASSA-PSS with SHA-256 (4096).
    for file in [
        "rsa2048-sha256-csr.pem",
        "rsa3072-sha256-csr.pem",
        "rsa4096-pss-sha256-csr.pem",
    ] {
        let pem = data(file);
        let key =
            ProvenKey::from_csr(&STANDARD.encode(&pem)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (_, der) = der::pem::decode_vec(pem.as_bytes()).expect("pem");
        let csr = CertReq::from_der(&der).expect("csr");
        assert_eq!(key.spki_der(), csr.info.public_key.to_der().expect("spki"));
        assert!(key.public_key().rsa_bits().is_some());
    }
    // RSA with SHA-384 is not a pair upstream's default algorithm registry permits.
    let err = ProvenKey::from_csr(&STANDARD.encode(data("rsa3072-sha384-csr.pem")))
        .expect_err("RSA + SHA-384");
    assert!(
        matches!(err, FulcioCoreError::AlgorithmMismatch { .. }),
        "{err}"
    );

    // publicKeyRequest: PKCS#1 v1.5 / SHA-256 signature over the challenge.
    let csr_pem = data("rsa3072-sha256-csr.pem");
    let (_, der) = der::pem::decode_vec(csr_pem.as_bytes()).expect("pem");
    let spki = CertReq::from_der(&der)
        .expect("csr")
        .info
        .public_key
        .to_der()
        .expect("spki");
    let public_pem = sigstack_keys::pem_encode("PUBLIC KEY", &spki);
    let proof = STANDARD.encode(openssl_sign("rsa3072-key.pem", b"alice@example.com"));
    let key = ProvenKey::from_public_key_request(&public_pem, &proof, "alice@example.com")
        .expect("RSA PoP");
    assert_eq!(key.public_key().rsa_bits(), Some(3072));
    // The same proof over another identity is refused.
    let err = ProvenKey::from_public_key_request(&public_pem, &proof, "mallory@example.com")
        .expect_err("PoP over the wrong value");
    assert!(
        matches!(err, FulcioCoreError::BadProofOfPossession),
        "{err}"
    );
}

#[test]
fn csrs_from_independent_implementations_are_accepted() {
    for file in [
        "p256-sha256-openssl-csr.pem",
        "p384-sha384-openssl-csr.pem",
        "ed25519-openssl-csr.pem",
        "p256-sigstore-python-style-csr.pem",
    ] {
        let pem = data(file);
        let key =
            ProvenKey::from_csr(&STANDARD.encode(&pem)).unwrap_or_else(|e| panic!("{file}: {e}"));
        // The certified key is the CSR's key.
        let (_, der) = der::pem::decode_vec(pem.as_bytes()).expect("pem");
        let csr = CertReq::from_der(&der).expect("csr");
        assert_eq!(key.spki_der(), csr.info.public_key.to_der().expect("spki"));
        // Base64 of the DER form is accepted too.
        ProvenKey::from_csr(&STANDARD.encode(&der)).expect("DER");
    }
}

#[test]
fn csr_with_a_mismatched_hash_is_refused() {
    let err = ProvenKey::from_csr(&STANDARD.encode(data("p256-with-sha384-csr.pem")))
        .expect_err("mismatch");
    assert!(
        matches!(err, FulcioCoreError::AlgorithmMismatch { .. }),
        "{err}"
    );

    let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key");
    let der = csr_der(&signer, Some(SignatureAlgorithm::Ed25519));
    assert!(matches!(
        ProvenKey::from_csr(&b64_pem_csr(&der)),
        Err(FulcioCoreError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn our_own_csrs_verify_and_tampering_is_detected() {
    for alg in ALGORITHMS {
        let signer = FileSigner::generate(alg).expect("key");
        let der = csr_der(&signer, None);
        let key = ProvenKey::from_csr(&b64_pem_csr(&der)).expect("valid CSR");
        assert_eq!(key.spki_der(), signer.public_key_der());

        // Swap in another key: the self-signature no longer verifies.
        let other = FileSigner::generate(alg).expect("key");
        let mut csr = CertReq::from_der(&der).expect("csr");
        csr.info.public_key =
            SubjectPublicKeyInfoOwned::from_der(other.public_key_der()).expect("spki");
        let err =
            ProvenKey::from_csr(&b64_pem_csr(&csr.to_der().expect("der"))).expect_err("tampered");
        assert!(
            matches!(err, FulcioCoreError::BadProofOfPossession),
            "{alg:?}: {err}"
        );
    }
}

#[test]
fn malformed_csrs_are_refused() {
    for bad in [
        String::new(),
        "%%%".to_string(),
        STANDARD.encode("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
        STANDARD.encode([0x30, 0x03, 0x02, 0x01, 0x00]),
    ] {
        let err = ProvenKey::from_csr(&bad).expect_err("malformed");
        assert!(
            matches!(err, FulcioCoreError::MalformedRequest(_)),
            "{bad:?}: {err}"
        );
    }
}
