//! Signing keys and public-key verification for every Sigstack service.
//!
//! This is a protocol-layer crate: no tokio, no HTTP, no database. It defines one
//! [`Signer`] trait that every key source implements (key files today; PKCS#11 and cloud KMS
//! plug in behind the same trait), and a [`PublicKey`] type that parses untrusted
//! SubjectPublicKeyInfo bytes and verifies signatures made by clients.
//!
//! Signature encodings follow what X.509, CMS, RFC 6962 and C2SP signed notes expect:
//! ECDSA signatures are ASN.1 DER `Ecdsa-Sig-Value`, Ed25519 signatures are the raw 64 bytes.

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
    /// Pure Ed25519.
    Ed25519,
}

impl SignatureAlgorithm {
    /// The `PublicKeyDetails` name used by sigstore protobuf-specs (trusted roots, Rekor v2).
    #[must_use]
    pub fn key_details(self) -> &'static str {
        match self {
            Self::EcdsaP256Sha256 => "PKIX_ECDSA_P256_SHA_256",
            Self::EcdsaP384Sha384 => "PKIX_ECDSA_P384_SHA_384",
            Self::Ed25519 => "PKIX_ED25519",
        }
    }

    /// The X.509 `AlgorithmIdentifier` of signatures made with this scheme
    /// (`ecdsa-with-SHA256`, `ecdsa-with-SHA384` or `id-Ed25519`, all without parameters).
    #[must_use]
    pub fn signature_algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        let oid = match self {
            Self::EcdsaP256Sha256 => ECDSA_WITH_SHA256,
            Self::EcdsaP384Sha384 => ECDSA_WITH_SHA384,
            Self::Ed25519 => ID_ED25519,
        };
        AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        }
    }

    /// Digest `message` with this scheme's hash (SHA-512 for Ed25519, used only for prehash APIs).
    #[must_use]
    pub fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::EcdsaP256Sha256 => sha2::Sha256::digest(message).to_vec(),
            Self::EcdsaP384Sha384 => sha2::Sha384::digest(message).to_vec(),
            Self::Ed25519 => sha2::Sha512::digest(message).to_vec(),
        }
    }
}

/// A private key that can sign, wherever it lives (file, HSM, KMS).
///
/// ECDSA signers hash the message with the scheme's hash and return a DER `Ecdsa-Sig-Value`;
/// Ed25519 signers sign the message itself and return 64 raw bytes.
pub trait Signer: Send + Sync + fmt::Debug {
    /// The signature scheme of this key.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The public key as DER SubjectPublicKeyInfo.
    fn public_key_der(&self) -> &[u8];
    /// Sign `message`.
    ///
    /// # Errors
    /// Fails when the key source cannot produce a signature (for example an HSM session error).
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
pub struct FileSigner {
    key: PrivateKey,
    spki_der: Vec<u8>,
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
        match std::fs::read_to_string(path) {
            Ok(pem) => {
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
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
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
        use p256::pkcs8::EncodePublicKey;
        let der = match &key {
            PrivateKey::P256(k) => k.verifying_key().to_public_key_der(),
            PrivateKey::P384(k) => k.verifying_key().to_public_key_der(),
            PrivateKey::Ed25519(k) => k.verifying_key().to_public_key_der(),
        }
        .map_err(|e| KeyError::MalformedKey(e.to_string()))?;
        Ok(Self {
            key,
            spki_der: der.as_bytes().to_vec(),
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

#[derive(Clone, Debug, PartialEq, Eq)]
enum VerifyingKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Parse DER SubjectPublicKeyInfo. Accepts ECDSA P-256, P-384 and Ed25519 keys.
    ///
    /// # Errors
    /// Fails on malformed DER, an invalid point, or another key type.
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
                        p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                            .map_err(|_| KeyError::MalformedKey("invalid P-256 point".into()))?,
                    ),
                    SECP384R1 => VerifyingKey::P384(
                        p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                            .map_err(|_| KeyError::MalformedKey("invalid P-384 point".into()))?,
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

    /// The signature scheme used with this key.
    #[must_use]
    pub fn algorithm(&self) -> SignatureAlgorithm {
        match self.key {
            VerifyingKey::P256(_) => SignatureAlgorithm::EcdsaP256Sha256,
            VerifyingKey::P384(_) => SignatureAlgorithm::EcdsaP384Sha384,
            VerifyingKey::Ed25519(_) => SignatureAlgorithm::Ed25519,
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

    /// Verify `signature` over `message` (ECDSA signatures in DER form, Ed25519 raw).
    ///
    /// # Errors
    /// [`KeyError::MalformedSignature`] or [`KeyError::BadSignature`].
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        use signature::Verifier as _;
        match &self.key {
            VerifyingKey::P256(k) => {
                let sig = p256::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| KeyError::MalformedSignature)?;
                k.verify(message, &sig).map_err(|_| KeyError::BadSignature)
            }
            VerifyingKey::P384(k) => {
                let sig = p384::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| KeyError::MalformedSignature)?;
                k.verify(message, &sig).map_err(|_| KeyError::BadSignature)
            }
            VerifyingKey::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| KeyError::MalformedSignature)?;
                k.verify_strict(message, &sig)
                    .map_err(|_| KeyError::BadSignature)
            }
        }
    }

    /// Verify an ECDSA `signature` (DER) over a precomputed `digest` of the signed message.
    /// The digest must have the length of the key's hash (SHA-256 for P-256, SHA-384 for P-384).
    /// Ed25519 keys cannot verify over a digest and are rejected.
    ///
    /// # Errors
    /// [`KeyError::DigestLength`], [`KeyError::UnsupportedKey`], [`KeyError::MalformedSignature`]
    /// or [`KeyError::BadSignature`].
    pub fn verify_prehash(&self, digest: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        use signature::hazmat::PrehashVerifier as _;
        let want = match self.key {
            VerifyingKey::P256(_) => 32,
            VerifyingKey::P384(_) => 48,
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
                let sig = p256::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| KeyError::MalformedSignature)?;
                k.verify_prehash(digest, &sig)
                    .map_err(|_| KeyError::BadSignature)
            }
            VerifyingKey::P384(k) => {
                let sig = p384::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| KeyError::MalformedSignature)?;
                k.verify_prehash(digest, &sig)
                    .map_err(|_| KeyError::BadSignature)
            }
            VerifyingKey::Ed25519(_) => Err(KeyError::BadSignature),
        }
    }
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
/// `id-Ed25519` (RFC 8410).
pub const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// `ecdsa-with-SHA256` (RFC 5758).
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `ecdsa-with-SHA384` (RFC 5758).
pub const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

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

    #[test]
    fn rejects_garbage_public_keys() {
        assert!(PublicKey::from_spki_der(b"\x30\x03\x02\x01\x00").is_err());
        assert!(
            PublicKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
                .is_err()
        );
    }
}
