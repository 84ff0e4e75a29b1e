//! Signing keys and public-key verification for every Sigstack service.
//!
//! This is a protocol-layer crate: no tokio, no HTTP, no database. It defines one
//! [`Signer`] trait that every key source implements: PKCS#8 PEM files ([`FileSigner`],
//! optionally password-encrypted) and PKCS#11 tokens ([`Pkcs11Signer`], the private key never
//! leaves the token). [`KeySource`] is the typed configuration that names one of them and opens
//! it. [`PublicKey`] parses untrusted SubjectPublicKeyInfo bytes (ECDSA P-256/P-384/P-521,
//! Ed25519, RSA 2048–4096) and verifies signatures made by clients.
//!
//! Signing may block (an HSM round trip): async callers run [`Signer::sign`] on a blocking
//! thread (`tokio::task::spawn_blocking`), never on an async worker.
//!
//! Signature encodings follow what X.509, CMS, RFC 6962 and C2SP signed notes expect:
//! ECDSA signatures are ASN.1 DER `Ecdsa-Sig-Value`, Ed25519 signatures are the raw 64 bytes,
//! RSA signatures are the modulus-sized big-endian integer.

mod crypto11;
mod pkcs11;
mod source;

pub use crypto11::{Crypto11Config, FULCIO_CA_KEY_LABEL};
pub use pkcs11::{Pkcs11Key, Pkcs11Signer, TokenSelector, read_certificate, write_certificate};
pub use source::{FileKey, KeySource, SecretSource};

use std::fmt;
use std::path::Path;

use der::{Decode, Encode};
use getrandom::SysRng;
use rand_core::UnwrapErr;
use sha2::Digest;
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoRef};

/// Errors from loading keys, signing or verifying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key bytes or PEM text could not be parsed.
    #[error("malformed key: {0}")]
    MalformedKey(String),
    /// The key type or curve is not one Sigstack accepts.
    #[error("unsupported key type: {0}")]
    UnsupportedKey(String),
    /// The signature bytes are not a well-formed signature for this key type.
    #[error("malformed signature")]
    MalformedSignature,
    /// The signature does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// A digest of the wrong length was given for a prehash operation.
    #[error("digest length {got} does not match the key's hash ({want} bytes)")]
    DigestLength {
        /// Expected length in bytes.
        want: usize,
        /// Length that was supplied.
        got: usize,
    },
    /// The key source failed to produce a signature.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The key source cannot be reached right now: the PKCS#11 token is missing, locked or
    /// not logged in. Services answer 503 for this.
    #[error("signing key unavailable: {0}")]
    Unavailable(String),
    /// A secret (PIN, password) could not be read from its source.
    #[error("secret from {source_name}: {reason}")]
    Secret {
        /// Where the secret was to come from (`env FOO`, `file /x`).
        source_name: String,
        /// What went wrong.
        reason: String,
    },
    /// A crypto11 (Fulcio `--pkcs11-config-path`) configuration file is not usable.
    #[error("crypto11 configuration {path}: {reason}")]
    Crypto11Config {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

/// A signature scheme: key type plus hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384Sha384,
    /// ECDSA on P-521 with SHA-512 (client keys only).
    EcdsaP521Sha512,
    /// Pure Ed25519.
    Ed25519,
    /// RSA PKCS#1 v1.5 with SHA-256 (client keys only; Sigstack's own keys are never RSA).
    RsaPkcs1Sha256,
    /// RSA-PSS with SHA-256, MGF1-SHA-256 (client CSRs only).
    RsaPssSha256,
}

impl SignatureAlgorithm {
    /// The `PublicKeyDetails` name used by sigstore protobuf-specs (trusted roots, Rekor v2).
    /// RSA names depend on the key size: these give the 2048-bit name, and
    /// [`PublicKey::key_details`] the exact one.
    #[must_use]
    pub fn key_details(self) -> &'static str {
        match self {
            Self::EcdsaP256Sha256 => "PKIX_ECDSA_P256_SHA_256",
            Self::EcdsaP384Sha384 => "PKIX_ECDSA_P384_SHA_384",
            Self::EcdsaP521Sha512 => "PKIX_ECDSA_P521_SHA_512",
            Self::Ed25519 => "PKIX_ED25519",
            Self::RsaPkcs1Sha256 => "PKIX_RSA_PKCS1V15_2048_SHA256",
            Self::RsaPssSha256 => "PKIX_RSA_PSS_2048_SHA256",
        }
    }

    /// The X.509 `AlgorithmIdentifier` of signatures made with this scheme
    /// (`ecdsa-with-SHA256`, `ecdsa-with-SHA384`, `ecdsa-with-SHA512` or `id-Ed25519` without
    /// parameters;
    /// `sha256WithRSAEncryption` with NULL; `id-RSASSA-PSS` with SHA-256/MGF1-SHA-256/salt 32).
    #[must_use]
    pub fn signature_algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        let (oid, parameters) = match self {
            Self::EcdsaP256Sha256 => (ECDSA_WITH_SHA256, None),
            Self::EcdsaP384Sha384 => (ECDSA_WITH_SHA384, None),
            Self::EcdsaP521Sha512 => (ECDSA_WITH_SHA512, None),
            Self::Ed25519 => (ID_ED25519, None),
            Self::RsaPkcs1Sha256 => (SHA256_WITH_RSA, Some(der::asn1::Any::null())),
            Self::RsaPssSha256 => (
                ID_RSASSA_PSS,
                rsa::pkcs1::RsaPssParams::new::<sha2::Sha256>(32)
                    .to_der()
                    .ok()
                    .and_then(|d| der::asn1::Any::from_der(&d).ok()),
            ),
        };
        AlgorithmIdentifierOwned { oid, parameters }
    }

    /// Digest `message` with this scheme's hash (SHA-512 for Ed25519, used only for prehash APIs).
    #[must_use]
    pub fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::EcdsaP256Sha256 | Self::RsaPkcs1Sha256 | Self::RsaPssSha256 => {
                sha2::Sha256::digest(message).to_vec()
            }
            Self::EcdsaP384Sha384 => sha2::Sha384::digest(message).to_vec(),
            Self::EcdsaP521Sha512 | Self::Ed25519 => sha2::Sha512::digest(message).to_vec(),
        }
    }
}

/// A private key that can sign, wherever it lives (file, HSM, KMS).
///
/// ECDSA signers hash the message with the scheme's hash and return a DER `Ecdsa-Sig-Value`;
/// Ed25519 signers sign the message itself and return 64 raw bytes.
///
/// [`Signer::sign`] may block for a network or device round trip; async code calls it from a
/// blocking thread.
pub trait Signer: Send + Sync + fmt::Debug {
    /// The signature scheme of this key.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The public key as DER SubjectPublicKeyInfo.
    fn public_key_der(&self) -> &[u8];
    /// Sign `message`.
    ///
    /// # Errors
    /// Fails when the key source cannot produce a signature: [`KeyError::Unavailable`] when an
    /// HSM token is missing or locked, [`KeyError::Signing`] for other failures.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;

    /// The public key, parsed.
    ///
    /// # Errors
    /// Fails only if the key source reports an unparseable public key.
    fn public_key(&self) -> Result<PublicKey, KeyError> {
        PublicKey::from_spki_der(self.public_key_der())
    }
}

/// A private key held in memory, loaded from or saved to a PKCS#8 PEM file.
///
/// ECDSA signatures come from aws-lc-rs and use fresh randomness, so signing the same message
/// twice gives two different (equally valid) signatures. Every signature the stack hands out is
/// made once and stored (a Rekor v1 SET with its entry, a checkpoint when its head is
/// published, a certificate or timestamp when it is issued), so nothing depends on signing
/// being repeatable.
pub struct FileSigner {
    key: PrivateKey,
    spki_der: Vec<u8>,
    /// The same ECDSA key in aws-lc-rs, which signs several times faster than the portable
    /// field arithmetic (the RustCrypto key stays the source of truth for encoding).
    ecdsa: Option<aws_lc_rs::signature::EcdsaKeyPair>,
}

enum PrivateKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl FileSigner {
    /// Generate a fresh key from the operating system's random source.
    ///
    /// # Errors
    /// Fails only if the public key cannot be encoded.
    pub fn generate(algorithm: SignatureAlgorithm) -> Result<Self, KeyError> {
        use p256::elliptic_curve::Generate as _;
        let mut rng = UnwrapErr(SysRng);
        let key = match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                PrivateKey::P256(p256::ecdsa::SigningKey::generate_from_rng(&mut rng))
            }
            SignatureAlgorithm::EcdsaP384Sha384 => {
                PrivateKey::P384(p384::ecdsa::SigningKey::generate_from_rng(&mut rng))
            }
            SignatureAlgorithm::Ed25519 => {
                PrivateKey::Ed25519(ed25519_dalek::SigningKey::generate(&mut rng))
            }
            other => {
                return Err(KeyError::UnsupportedKey(format!(
                    "{other:?} is not a signing algorithm for Sigstack's own keys"
                )));
            }
        };
        Self::from_key(key)
    }

    /// Parse a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`), P-256, P-384 or Ed25519.
    ///
    /// # Errors
    /// Fails on malformed PEM or an unsupported key type.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        use p256::pkcs8::DecodePrivateKey;
        let key = if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            PrivateKey::P256(k)
        } else if let Ok(k) = p384::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            PrivateKey::P384(k)
        } else if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            PrivateKey::Ed25519(k)
        } else {
            return Err(KeyError::MalformedKey(
                "not a PKCS#8 P-256, P-384 or Ed25519 private key".into(),
            ));
        };
        Self::from_key(key)
    }

    /// Parse a password-encrypted PKCS#8 PEM private key (`-----BEGIN ENCRYPTED PRIVATE KEY-----`,
    /// PBES2 with scrypt or PBKDF2), P-256, P-384 or Ed25519.
    ///
    /// # Errors
    /// Fails on malformed PEM, a wrong password or an unsupported key type.
    pub fn from_pkcs8_encrypted_pem(pem: &str, password: &[u8]) -> Result<Self, KeyError> {
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| KeyError::MalformedKey(e.to_string()))?;
        if label != "ENCRYPTED PRIVATE KEY" {
            return Err(KeyError::MalformedKey(format!(
                "expected ENCRYPTED PRIVATE KEY PEM, got {label}"
            )));
        }
        let encrypted = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
            .map_err(|e| KeyError::MalformedKey(e.to_string()))?;
        let document = encrypted.decrypt(password).map_err(|_| {
            KeyError::MalformedKey("cannot decrypt the private key (wrong password?)".into())
        })?;
        Self::from_pkcs8_der(document.as_bytes())
    }

    /// Parse a DER PKCS#8 private key, P-256, P-384 or Ed25519.
    fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        use p256::pkcs8::DecodePrivateKey;
        let key = if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            PrivateKey::P256(k)
        } else if let Ok(k) = p384::ecdsa::SigningKey::from_pkcs8_der(der) {
            PrivateKey::P384(k)
        } else if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            PrivateKey::Ed25519(k)
        } else {
            return Err(KeyError::MalformedKey(
                "not a PKCS#8 P-256, P-384 or Ed25519 private key".into(),
            ));
        };
        Self::from_key(key)
    }

    /// Encode the private key as password-encrypted PKCS#8 PEM (PBES2: scrypt + AES-256-CBC).
    ///
    /// # Errors
    /// Fails only if encoding or encryption fails.
    pub fn to_pkcs8_encrypted_pem(&self, password: &[u8]) -> Result<String, KeyError> {
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let plain = match &self.key {
            PrivateKey::P256(k) => k.to_pkcs8_der(),
            PrivateKey::P384(k) => k.to_pkcs8_der(),
            PrivateKey::Ed25519(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| KeyError::MalformedKey(e.to_string()))?;
        let info = pkcs8::PrivateKeyInfoRef::try_from(plain.as_bytes())
            .map_err(|e| KeyError::MalformedKey(e.to_string()))?;
        let encrypted = info
            .encrypt(password)
            .map_err(|e| KeyError::MalformedKey(e.to_string()))?;
        encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .map(|p| p.to_string())
            .map_err(|e| KeyError::MalformedKey(e.to_string()))
    }

    /// Encode the private key as PKCS#8 PEM.
    ///
    /// # Errors
    /// Fails only if encoding fails.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let pem = match &self.key {
            PrivateKey::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
            PrivateKey::P384(k) => k.to_pkcs8_pem(LineEnding::LF),
            PrivateKey::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF),
        }
        .map_err(|e| KeyError::MalformedKey(e.to_string()))?;
        Ok(pem.to_string())
    }

    /// Load the key at `path`, or generate one of `algorithm` and write it there (mode 0600)
    /// if the file does not exist yet.
    ///
    /// # Errors
    /// Fails on I/O errors, a malformed existing file, or an existing key of another algorithm.
    pub fn load_or_generate(path: &Path, algorithm: SignatureAlgorithm) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        // An empty key file (an interrupted write by an older version) is an error, never a
        // reason to make a new key: that would silently replace the service's identity.
        match sigstack_durable::read_existing_text(path) {
            Ok(Some(pem)) => {
                let signer = Self::from_pkcs8_pem(&pem)?;
                if signer.algorithm() != algorithm {
                    return Err(KeyError::UnsupportedKey(format!(
                        "{} holds a {:?} key, expected {:?}",
                        path.display(),
                        signer.algorithm(),
                        algorithm
                    )));
                }
                Ok(signer)
            }
            Ok(None) => {
                let signer = Self::generate(algorithm)?;
                if let Some(dir) = path.parent() {
                    sigstack_durable::create_dir_all(dir).map_err(io)?;
                }
                write_private(path, signer.to_pkcs8_pem()?.as_bytes()).map_err(io)?;
                Ok(signer)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn from_key(key: PrivateKey) -> Result<Self, KeyError> {
        use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey};
        let der = match &key {
            PrivateKey::P256(k) => k.verifying_key().to_public_key_der(),
            PrivateKey::P384(k) => k.verifying_key().to_public_key_der(),
            PrivateKey::Ed25519(k) => k.verifying_key().to_public_key_der(),
        }
        .map_err(|e| KeyError::MalformedKey(e.to_string()))?;
        let fast = |alg: &'static aws_lc_rs::signature::EcdsaSigningAlgorithm,
                    pkcs8: Result<pkcs8::SecretDocument, pkcs8::Error>| {
            let pkcs8 = pkcs8.map_err(|e| KeyError::MalformedKey(e.to_string()))?;
            aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_bytes())
                .map(Some)
                .map_err(|e| KeyError::MalformedKey(format!("ECDSA key: {e}")))
        };
        let ecdsa = match &key {
            PrivateKey::P256(k) => fast(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                k.to_pkcs8_der(),
            )?,
            PrivateKey::P384(k) => fast(
                &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                k.to_pkcs8_der(),
            )?,
            PrivateKey::Ed25519(_) => None,
        };
        Ok(Self {
            key,
            spki_der: der.as_bytes().to_vec(),
            ecdsa,
        })
    }
}

impl fmt::Debug for FileSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSigner")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl Signer for FileSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        match self.key {
            PrivateKey::P256(_) => SignatureAlgorithm::EcdsaP256Sha256,
            PrivateKey::P384(_) => SignatureAlgorithm::EcdsaP384Sha384,
            PrivateKey::Ed25519(_) => SignatureAlgorithm::Ed25519,
        }
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        use signature::Signer as _;
        if let Some(pair) = &self.ecdsa {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            return pair
                .sign(&rng, message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| KeyError::Signing("ECDSA signing failed".into()));
        }
        Ok(match &self.key {
            PrivateKey::P256(k) => {
                let sig: p256::ecdsa::DerSignature = k.try_sign(message).map_err(sign_err)?;
                sig.as_bytes().to_vec()
            }
            PrivateKey::P384(k) => {
                let sig: p384::ecdsa::DerSignature = k.try_sign(message).map_err(sign_err)?;
                sig.as_bytes().to_vec()
            }
            PrivateKey::Ed25519(k) => k.try_sign(message).map_err(sign_err)?.to_bytes().to_vec(),
        })
    }
}

fn sign_err(e: signature::Error) -> KeyError {
    KeyError::Signing(e.to_string())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    sigstack_durable::write_private(path, bytes)
}

/// A parsed public key, from untrusted SubjectPublicKeyInfo bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    spki_der: Vec<u8>,
}

/// An ECDSA public key in aws-lc-rs (compared by its encoded point).
#[derive(Clone)]
struct EcdsaVerifier(std::sync::Arc<aws_lc_rs::signature::ParsedPublicKey>);

impl EcdsaVerifier {
    /// Parse a SEC1 point (uncompressed or compressed) of a curve whose field elements are
    /// `field_len` bytes. Only that shape is handed to aws-lc-rs, which would also take a whole
    /// SubjectPublicKeyInfo here: a key nested in another key's bit string is refused.
    fn parse(
        alg: &'static aws_lc_rs::signature::EcdsaVerificationAlgorithm,
        field_len: usize,
        point: &[u8],
    ) -> Option<Self> {
        let sec1 = match point.first() {
            Some(0x04) => point.len() == 1 + 2 * field_len,
            Some(0x02 | 0x03) => point.len() == 1 + field_len,
            _ => false,
        };
        if !sec1 {
            return None;
        }
        aws_lc_rs::signature::ParsedPublicKey::new(alg, point)
            .ok()
            .map(|k| Self(std::sync::Arc::new(k)))
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        self.0
            .verify_sig(message, signature)
            .map_err(|_| KeyError::BadSignature)
    }

    fn verify_prehash(
        &self,
        hash: &'static aws_lc_rs::digest::Algorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), KeyError> {
        let digest = aws_lc_rs::digest::Digest::import_less_safe(digest, hash)
            .map_err(|_| KeyError::BadSignature)?;
        self.0
            .verify_digest_sig(&digest, signature)
            .map_err(|_| KeyError::BadSignature)
    }
}

impl PartialEq for EcdsaVerifier {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_ref().as_ref() == other.0.as_ref().as_ref()
    }
}

impl Eq for EcdsaVerifier {}

impl fmt::Debug for EcdsaVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EcdsaVerifier")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum VerifyingKey {
    /// ECDSA keys are parsed (the point validated) and verified by aws-lc-rs alone: its
    /// verification is several times faster than RustCrypto's portable field arithmetic, and
    /// one parse per key instead of two matters when every log entry brings a new key.
    P256(EcdsaVerifier),
    P384(EcdsaVerifier),
    P521(EcdsaVerifier),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(rsa::RsaPublicKey),
}

/// Smallest RSA modulus accepted, in bits.
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (also bounds the work an attacker's key can cause).
pub const RSA_MAX_BITS: usize = 4096;

impl PublicKey {
    /// Parse DER SubjectPublicKeyInfo. Accepts ECDSA P-256, P-384, P-521, Ed25519 and RSA keys
    /// (`rsaEncryption`, modulus 2048–4096 bits and a multiple of 8, exponent 65537).
    ///
    /// # Errors
    /// Fails on malformed DER, an invalid point, a weak RSA key, or another key type.
    pub fn from_spki_der(unverified_der: &[u8]) -> Result<Self, KeyError> {
        let spki = SubjectPublicKeyInfoRef::from_der(unverified_der)
            .map_err(|e| KeyError::MalformedKey(e.to_string()))?;
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::MalformedKey("public key has unused bits".into()))?;
        let key = match spki.algorithm.oid {
            ID_EC_PUBLIC_KEY => {
                let curve: ObjectIdentifier = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as().ok())
                    .ok_or_else(|| KeyError::MalformedKey("EC key without named curve".into()))?;
                match curve {
                    SECP256R1 => VerifyingKey::P256(
                        EcdsaVerifier::parse(
                            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
                            32,
                            bits,
                        )
                        .ok_or_else(|| KeyError::MalformedKey("invalid P-256 point".into()))?,
                    ),
                    SECP384R1 => VerifyingKey::P384(
                        EcdsaVerifier::parse(
                            &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1,
                            48,
                            bits,
                        )
                        .ok_or_else(|| KeyError::MalformedKey("invalid P-384 point".into()))?,
                    ),
                    SECP521R1 => VerifyingKey::P521(
                        EcdsaVerifier::parse(
                            &aws_lc_rs::signature::ECDSA_P521_SHA512_ASN1,
                            66,
                            bits,
                        )
                        .ok_or_else(|| KeyError::MalformedKey("invalid P-521 point".into()))?,
                    ),
                    other => {
                        return Err(KeyError::UnsupportedKey(format!("EC curve {other}")));
                    }
                }
            }
            ID_ED25519 => {
                let raw: [u8; 32] = bits
                    .try_into()
                    .map_err(|_| KeyError::MalformedKey("Ed25519 key is not 32 bytes".into()))?;
                VerifyingKey::Ed25519(
                    ed25519_dalek::VerifyingKey::from_bytes(&raw)
                        .map_err(|_| KeyError::MalformedKey("invalid Ed25519 key".into()))?,
                )
            }
            RSA_ENCRYPTION => VerifyingKey::Rsa(rsa_key(&spki)?),
            other => return Err(KeyError::UnsupportedKey(format!("key algorithm {other}"))),
        };
        Ok(Self {
            key,
            spki_der: unverified_der.to_vec(),
        })
    }

    /// Parse a PEM `PUBLIC KEY` block.
    ///
    /// # Errors
    /// Fails on malformed PEM or an unsupported key.
    pub fn from_pem(unverified_pem: &str) -> Result<Self, KeyError> {
        let (label, der) = der::pem::decode_vec(unverified_pem.trim().as_bytes())
            .map_err(|e| KeyError::MalformedKey(e.to_string()))?;
        if label != "PUBLIC KEY" {
            return Err(KeyError::MalformedKey(format!(
                "expected PUBLIC KEY PEM, got {label}"
            )));
        }
        Self::from_spki_der(&der)
    }

    /// The default signature scheme of this key: the hash paired with each ECDSA curve,
    /// pure Ed25519, and PKCS#1 v1.5 with SHA-256 for RSA.
    #[must_use]
    pub fn algorithm(&self) -> SignatureAlgorithm {
        match self.key {
            VerifyingKey::P256(_) => SignatureAlgorithm::EcdsaP256Sha256,
            VerifyingKey::P384(_) => SignatureAlgorithm::EcdsaP384Sha384,
            VerifyingKey::P521(_) => SignatureAlgorithm::EcdsaP521Sha512,
            VerifyingKey::Ed25519(_) => SignatureAlgorithm::Ed25519,
            VerifyingKey::Rsa(_) => SignatureAlgorithm::RsaPkcs1Sha256,
        }
    }

    /// The RSA modulus size in bits, for RSA keys.
    #[must_use]
    pub fn rsa_bits(&self) -> Option<usize> {
        use rsa::traits::PublicKeyParts as _;
        match &self.key {
            VerifyingKey::Rsa(k) => Some(k.size() * 8),
            _ => None,
        }
    }

    /// The exact `PublicKeyDetails` name of this key with its default scheme
    /// (`PKIX_RSA_PKCS1V15_3072_SHA256` for a 3072-bit RSA key, and so on).
    #[must_use]
    pub fn key_details(&self) -> &'static str {
        match self.rsa_bits() {
            Some(3072) => "PKIX_RSA_PKCS1V15_3072_SHA256",
            Some(4096) => "PKIX_RSA_PKCS1V15_4096_SHA256",
            _ => self.algorithm().key_details(),
        }
    }

    /// DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// PEM `PUBLIC KEY` text with LF line endings.
    #[must_use]
    pub fn to_pem(&self) -> String {
        der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, &self.spki_der)
            .unwrap_or_default()
    }

    /// Raw Ed25519 key bytes, if this is an Ed25519 key.
    #[must_use]
    pub fn ed25519_bytes(&self) -> Option<[u8; 32]> {
        match &self.key {
            VerifyingKey::Ed25519(k) => Some(k.to_bytes()),
            _ => None,
        }
    }

    /// Verify `signature` over `message` with the key's default scheme ([`Self::algorithm`]):
    /// ECDSA signatures in DER form, Ed25519 raw, RSA PKCS#1 v1.5 with SHA-256.
    ///
    /// # Errors
    /// [`KeyError::MalformedSignature`] or [`KeyError::BadSignature`].
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        self.verify_with(self.algorithm(), message, signature)
    }

    /// The scheme named by an X.509 signature `AlgorithmIdentifier` (as in a CSR), if it is the
    /// one this key is used with: `ecdsa-with-SHA256` for P-256, `ecdsa-with-SHA384` for P-384,
    /// `ecdsa-with-SHA512` for P-521,
    /// `id-Ed25519` for Ed25519, and for RSA `sha256WithRSAEncryption` (NULL or absent
    /// parameters) or `id-RSASSA-PSS` with SHA-256 and MGF1-SHA-256. Any other pairing (P-256
    /// with SHA-384, RSA with SHA-1, ...) gives `None`.
    #[must_use]
    pub fn scheme_for_x509_algorithm(
        &self,
        oid: ObjectIdentifier,
        unverified_parameters_der: Option<&[u8]>,
    ) -> Option<SignatureAlgorithm> {
        const NULL: &[u8] = &[0x05, 0x00];
        let scheme = match (&self.key, oid) {
            (VerifyingKey::P256(_), ECDSA_WITH_SHA256) if unverified_parameters_der.is_none() => {
                SignatureAlgorithm::EcdsaP256Sha256
            }
            (VerifyingKey::P384(_), ECDSA_WITH_SHA384) if unverified_parameters_der.is_none() => {
                SignatureAlgorithm::EcdsaP384Sha384
            }
            (VerifyingKey::P521(_), ECDSA_WITH_SHA512) if unverified_parameters_der.is_none() => {
                SignatureAlgorithm::EcdsaP521Sha512
            }
            (VerifyingKey::Ed25519(_), ID_ED25519) if unverified_parameters_der.is_none() => {
                SignatureAlgorithm::Ed25519
            }
            (VerifyingKey::Rsa(_), SHA256_WITH_RSA)
                if unverified_parameters_der.is_none_or(|p| p == NULL) =>
            {
                SignatureAlgorithm::RsaPkcs1Sha256
            }
            (VerifyingKey::Rsa(_), ID_RSASSA_PSS) => {
                let params =
                    rsa::pkcs1::RsaPssParamsOwned::from_der(unverified_parameters_der?).ok()?;
                let mgf_hash = params.mask_gen.parameters.as_ref()?;
                let sha256 = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
                let mgf1 = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
                if params.hash.oid != sha256
                    || params.mask_gen.oid != mgf1
                    || mgf_hash.oid != sha256
                {
                    return None;
                }
                SignatureAlgorithm::RsaPssSha256
            }
            _ => return None,
        };
        Some(scheme)
    }

    /// Verify `signature` over `message` with an explicit scheme, which must suit the key
    /// (for RSA keys: PKCS#1 v1.5 or PSS with SHA-256; for the others: their default scheme).
    ///
    /// # Errors
    /// [`KeyError::UnsupportedKey`] when the scheme does not fit the key,
    /// [`KeyError::MalformedSignature`] or [`KeyError::BadSignature`].
    pub fn verify_with(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), KeyError> {
        let fits = match &self.key {
            VerifyingKey::Rsa(_) => matches!(
                algorithm,
                SignatureAlgorithm::RsaPkcs1Sha256 | SignatureAlgorithm::RsaPssSha256
            ),
            _ => algorithm == self.algorithm(),
        };
        if !fits {
            return Err(KeyError::UnsupportedKey(format!(
                "{algorithm:?} signatures cannot be made with a {:?} key",
                self.algorithm()
            )));
        }
        match &self.key {
            VerifyingKey::Rsa(k) => {
                let digest = sha2::Sha256::digest(message);
                let result = if algorithm == SignatureAlgorithm::RsaPssSha256 {
                    // Salt length is read from the signature (any length is accepted).
                    let scheme = rsa::Pss::<sha2::Sha256> {
                        salt_len: None,
                        ..rsa::Pss::new()
                    };
                    k.verify(scheme, &digest, signature)
                } else {
                    k.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, signature)
                };
                result.map_err(|_| KeyError::BadSignature)
            }
            VerifyingKey::P256(k) => {
                p256::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| KeyError::MalformedSignature)?;
                k.verify(message, signature)
            }
            VerifyingKey::P384(k) => {
                p384::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| KeyError::MalformedSignature)?;
                k.verify(message, signature)
            }
            VerifyingKey::P521(k) => k.verify(message, signature),
            VerifyingKey::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| KeyError::MalformedSignature)?;
                k.verify_strict(message, &sig)
                    .map_err(|_| KeyError::BadSignature)
            }
        }
    }

    /// Verify a `signature` over a precomputed `digest` of the signed message. For ECDSA (DER
    /// signature) the digest must have the length of the key's hash (SHA-256 for P-256,
    /// SHA-384 for P-384, SHA-512 for P-521); for RSA (PKCS#1 v1.5) the digest length picks SHA-256, SHA-384 or
    /// SHA-512. Ed25519 keys cannot verify over a digest and are rejected.
    ///
    /// # Errors
    /// [`KeyError::DigestLength`], [`KeyError::UnsupportedKey`], [`KeyError::MalformedSignature`]
    /// or [`KeyError::BadSignature`].
    pub fn verify_prehash(&self, digest: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        if let VerifyingKey::Rsa(k) = &self.key {
            let scheme = match digest.len() {
                32 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                48 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                64 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                got => return Err(KeyError::DigestLength { want: 32, got }),
            };
            return k
                .verify(scheme, digest, signature)
                .map_err(|_| KeyError::BadSignature);
        }
        let want = match self.key {
            VerifyingKey::P256(_) => 32,
            VerifyingKey::P384(_) => 48,
            VerifyingKey::P521(_) => 64,
            VerifyingKey::Rsa(_) => 0,
            VerifyingKey::Ed25519(_) => {
                return Err(KeyError::UnsupportedKey(
                    "Ed25519 signatures cannot be verified over a digest".into(),
                ));
            }
        };
        if digest.len() != want {
            return Err(KeyError::DigestLength {
                want,
                got: digest.len(),
            });
        }
        match &self.key {
            VerifyingKey::P256(k) => {
                p256::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| KeyError::MalformedSignature)?;
                k.verify_prehash(&aws_lc_rs::digest::SHA256, digest, signature)
            }
            VerifyingKey::P384(k) => {
                p384::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| KeyError::MalformedSignature)?;
                k.verify_prehash(&aws_lc_rs::digest::SHA384, digest, signature)
            }
            VerifyingKey::P521(k) => {
                k.verify_prehash(&aws_lc_rs::digest::SHA512, digest, signature)
            }
            VerifyingKey::Ed25519(_) | VerifyingKey::Rsa(_) => Err(KeyError::BadSignature),
        }
    }
}

/// Parse and vet an RSA public key: modulus 2048–4096 bits in whole bytes, exponent 65537
/// (the rules of Sigstore's certificate specification).
fn rsa_key(spki: &SubjectPublicKeyInfoRef<'_>) -> Result<rsa::RsaPublicKey, KeyError> {
    use rsa::traits::PublicKeyParts as _;
    // `RsaPublicKey` itself refuses moduli above 4096 bits, which bounds the work an
    // attacker's key can cause.
    let key = rsa::RsaPublicKey::try_from(spki.clone()).map_err(|e| match e {
        rsa::pkcs8::spki::Error::KeyMalformed => {
            KeyError::MalformedKey("malformed RSA public key".into())
        }
        other => KeyError::UnsupportedKey(format!("RSA key: {other}")),
    })?;
    let bits = key.n().bits() as usize;
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) || !bits.is_multiple_of(8) {
        return Err(KeyError::UnsupportedKey(format!(
            "RSA keys must be {RSA_MIN_BITS} to {RSA_MAX_BITS} bits in whole bytes, not {bits}"
        )));
    }
    if key.e_bytes().as_ref() != [0x01, 0x00, 0x01] {
        return Err(KeyError::UnsupportedKey(
            "RSA public exponent must be 65537".into(),
        ));
    }
    Ok(key)
}

/// SHA-256 of `data`, the hash every Sigstore key ID and log ID uses.
#[must_use]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// Encode DER bytes as PEM with LF line endings.
#[must_use]
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap_or_default()
}

/// Re-encode any DER-encodable value, for callers that only hold this crate's dependencies.
///
/// # Errors
/// Propagates DER encoding failures.
pub fn to_der<T: Encode>(value: &T) -> Result<Vec<u8>, KeyError> {
    value
        .to_der()
        .map_err(|e| KeyError::MalformedKey(e.to_string()))
}

/// `id-ecPublicKey` (RFC 5480).
pub const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `secp256r1` / P-256.
pub const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `secp384r1` / P-384.
pub const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// `secp521r1` / P-521.
pub const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
/// `id-Ed25519` (RFC 8410).
pub const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// `rsaEncryption` (RFC 8017).
pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `sha256WithRSAEncryption` (RFC 8017).
pub const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// `id-RSASSA-PSS` (RFC 8017).
pub const ID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
/// `ecdsa-with-SHA256` (RFC 5758).
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `ecdsa-with-SHA384` (RFC 5758).
pub const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// `ecdsa-with-SHA512` (RFC 5758).
pub const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_round_trips_and_verifies() {
        for alg in [
            SignatureAlgorithm::EcdsaP256Sha256,
            SignatureAlgorithm::EcdsaP384Sha384,
            SignatureAlgorithm::Ed25519,
        ] {
            let signer = FileSigner::generate(alg).expect("generate");
            let pem = signer.to_pkcs8_pem().expect("pem");
            let reloaded = FileSigner::from_pkcs8_pem(&pem).expect("reload");
            assert_eq!(reloaded.public_key_der(), signer.public_key_der());
            let sig = reloaded.sign(b"hello").expect("sign");
            let pk = PublicKey::from_spki_der(signer.public_key_der()).expect("spki");
            assert_eq!(pk.algorithm(), alg);
            pk.verify(b"hello", &sig).expect("verifies");
            assert!(matches!(
                pk.verify(b"hellO", &sig),
                Err(KeyError::BadSignature)
            ));
            let pem_pk = PublicKey::from_pem(&pk.to_pem()).expect("pem round trip");
            assert_eq!(pem_pk, pk);
        }
    }

    #[test]
    fn prehash_matches_message_signature() {
        let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("generate");
        let sig = signer.sign(b"artifact").expect("sign");
        let pk = signer.public_key().expect("pk");
        pk.verify_prehash(&sha256(b"artifact"), &sig)
            .expect("prehash verifies");
        assert!(pk.verify_prehash(&sha256(b"other"), &sig).is_err());
        assert!(matches!(
            pk.verify_prehash(&[0u8; 48], &sig),
            Err(KeyError::DigestLength { want: 32, got: 48 })
        ));
    }

    #[test]
    fn load_or_generate_persists_key() {
        let dir = std::env::temp_dir().join(format!("sigstack-keys-{}", std::process::id()));
        let path = dir.join("k.pem");
        let _ = std::fs::remove_file(&path);
        let a = FileSigner::load_or_generate(&path, SignatureAlgorithm::Ed25519).expect("gen");
        let b = FileSigner::load_or_generate(&path, SignatureAlgorithm::Ed25519).expect("load");
        assert_eq!(a.public_key_der(), b.public_key_der());
        assert!(FileSigner::load_or_generate(&path, SignatureAlgorithm::EcdsaP256Sha256).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// SubjectPublicKeyInfo of an EC `point` on `curve`.
    fn ec_spki(curve: ObjectIdentifier, point: &[u8]) -> Vec<u8> {
        spki::SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: ID_EC_PUBLIC_KEY,
                parameters: Some(der::Any::from(curve)),
            },
            subject_public_key: der::asn1::BitString::from_bytes(point).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn ecdsa_points_compressed_accepted_off_curve_refused() {
        use p256::elliptic_curve::sec1::ToSec1Point as _;
        for (alg, curve) in [
            (SignatureAlgorithm::EcdsaP256Sha256, SECP256R1),
            (SignatureAlgorithm::EcdsaP384Sha384, SECP384R1),
        ] {
            let signer = FileSigner::generate(alg).expect("generate");
            let sig = signer.sign(b"entry").expect("sign");
            let uncompressed = SubjectPublicKeyInfoRef::from_der(signer.public_key_der())
                .unwrap()
                .subject_public_key
                .as_bytes()
                .unwrap()
                .to_vec();
            let compressed = match alg {
                SignatureAlgorithm::EcdsaP256Sha256 => {
                    p256::PublicKey::from_sec1_bytes(&uncompressed)
                        .unwrap()
                        .to_sec1_point(true)
                        .as_bytes()
                        .to_vec()
                }
                _ => p384::PublicKey::from_sec1_bytes(&uncompressed)
                    .unwrap()
                    .to_sec1_point(true)
                    .as_bytes()
                    .to_vec(),
            };
            let key = PublicKey::from_spki_der(&ec_spki(curve, &compressed)).expect("compressed");
            assert_eq!(key.algorithm(), alg);
            key.verify(b"entry", &sig).expect("verifies");
            assert!(matches!(
                key.verify(b"entrY", &sig),
                Err(KeyError::BadSignature)
            ));
            assert!(matches!(
                key.verify(b"entry", b"\x30\x00"),
                Err(KeyError::MalformedSignature)
            ));
            // The same x with y + 1 is not on the curve.
            let mut off_curve = uncompressed.clone();
            let last = off_curve.len() - 1;
            off_curve[last] ^= 1;
            let err = PublicKey::from_spki_der(&ec_spki(curve, &off_curve)).expect_err("off curve");
            assert!(matches!(err, KeyError::MalformedKey(_)), "{err}");
            // The point at infinity is refused.
            assert!(PublicKey::from_spki_der(&ec_spki(curve, &[0])).is_err());
            // So is a whole SubjectPublicKeyInfo in place of the point.
            let nested = ec_spki(curve, signer.public_key_der());
            assert!(PublicKey::from_spki_der(&nested).is_err());
            // And a point with a byte too many or too few.
            let mut long = uncompressed.clone();
            long.push(0);
            assert!(PublicKey::from_spki_der(&ec_spki(curve, &long)).is_err());
            assert!(
                PublicKey::from_spki_der(&ec_spki(curve, &compressed[..compressed.len() - 1]))
                    .is_err()
            );
        }
    }

    #[test]
    fn rejects_garbage_public_keys() {
        assert!(PublicKey::from_spki_der(b"\x30\x03\x02\x01\x00").is_err());
        assert!(
            PublicKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
                .is_err()
        );
    }
}
