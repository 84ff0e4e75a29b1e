//! Proof of possession of the key to certify: a signature over the principal's name, or a
//! self-signed PKCS#10 CSR.

use base64::Engine as _;
use der::asn1::{AnyRef, BitStringRef};
use der::{Decode, Encode, Sequence};
use sigstack_keys::{KeyError, PublicKey};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoOwned};
use x509_cert::request::CertReqInfo;

use crate::FulcioCoreError;

/// A public key whose holder has proven possession of the private key. The key is one
/// Sigstack certifies (ECDSA P-256, P-384 or P-521, Ed25519, RSA 2048–4096 bits with exponent
/// 65537) and is stored as canonical DER SPKI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenKey {
    key: PublicKey,
    spki_der: Vec<u8>,
}

/// PKCS#10 `CertificationRequest` with the signed part kept as raw bytes, so the signature is
/// checked over exactly what the client signed (RFC 2986 §4):
///
/// ```text
/// CertificationRequest ::= SEQUENCE {
///     certificationRequestInfo CertificationRequestInfo,
///     signatureAlgorithm       AlgorithmIdentifier,
///     signature                BIT STRING }
/// ```
#[derive(Sequence)]
struct CertificationRequest<'a> {
    info: AnyRef<'a>,
    algorithm: AlgorithmIdentifierRef<'a>,
    signature: BitStringRef<'a>,
}

impl ProvenKey {
    /// Check a `publicKeyRequest`: `unverified_public_key` is a PEM `PUBLIC KEY` (or base64
    /// DER SPKI), `unverified_proof_b64` the base64 signature over `challenge` (the principal's
    /// name) made with that key: ECDSA (DER) with SHA-256 on P-256, SHA-384 on P-384 or SHA-512
    /// on P-521, Ed25519, or RSA PKCS#1 v1.5 with SHA-256 (the pairs upstream Fulcio's default verifier
    /// uses).
    ///
    /// # Errors
    /// [`FulcioCoreError::MalformedRequest`], [`FulcioCoreError::UnsupportedKey`] or
    /// [`FulcioCoreError::BadProofOfPossession`].
    pub fn from_public_key_request(
        unverified_public_key: &str,
        unverified_proof_b64: &str,
        challenge: &str,
    ) -> Result<Self, FulcioCoreError> {
        let der = if unverified_public_key.contains("-----BEGIN") {
            let (label, der) = der::pem::decode_vec(unverified_public_key.trim().as_bytes())
                .map_err(|e| malformed(format!("public key PEM: {e}")))?;
            if label != "PUBLIC KEY" {
                return Err(malformed(format!(
                    "expected a PUBLIC KEY PEM block, got {label}"
                )));
            }
            der
        } else {
            decode_b64(unverified_public_key)
                .ok_or_else(|| malformed("public key is neither PEM nor base64 DER"))?
        };
        let candidate = Self::from_spki_der(&der)?;
        let proof = decode_b64(unverified_proof_b64)
            .ok_or_else(|| malformed("proofOfPossession is not base64"))?;
        candidate
            .key
            .verify(challenge.as_bytes(), &proof)
            .map_err(proof_error)?;
        Ok(candidate)
    }

    /// Check a `certificateSigningRequest`: base64 of a PEM (or DER) PKCS#10 request whose
    /// self-signature verifies with its own key. Only the key is used; the subject, attributes
    /// and extensions of the CSR are ignored. The signature algorithm must be the one that
    /// matches the key: ecdsa-with-SHA256 for P-256, ecdsa-with-SHA384 for P-384,
    /// ecdsa-with-SHA512 for P-521, Ed25519, and
    /// sha256WithRSAEncryption or RSASSA-PSS (SHA-256, MGF1-SHA-256) for RSA.
    ///
    /// # Errors
    /// [`FulcioCoreError::MalformedRequest`], [`FulcioCoreError::UnsupportedKey`],
    /// [`FulcioCoreError::AlgorithmMismatch`] or [`FulcioCoreError::BadProofOfPossession`].
    pub fn from_csr(unverified_csr_b64: &str) -> Result<Self, FulcioCoreError> {
        let bytes = decode_b64(unverified_csr_b64)
            .ok_or_else(|| malformed("certificateSigningRequest is not base64"))?;
        let der = if bytes.starts_with(b"-----BEGIN") {
            let (label, der) =
                der::pem::decode_vec(&bytes).map_err(|e| malformed(format!("CSR PEM: {e}")))?;
            if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
                return Err(malformed(format!(
                    "expected a CERTIFICATE REQUEST PEM block, got {label}"
                )));
            }
            der
        } else {
            bytes
        };
        let request =
            CertificationRequest::from_der(&der).map_err(|e| malformed(format!("CSR: {e}")))?;
        let info_der = request
            .info
            .to_der()
            .map_err(|e| malformed(format!("CSR: {e}")))?;
        let info =
            CertReqInfo::from_der(&info_der).map_err(|e| malformed(format!("CSR info: {e}")))?;
        let spki_der = info
            .public_key
            .to_der()
            .map_err(|e| malformed(format!("CSR public key: {e}")))?;
        let candidate = Self::from_spki_der(&spki_der)?;

        let parameters_der = request
            .algorithm
            .parameters
            .as_ref()
            .map(Encode::to_der)
            .transpose()
            .map_err(|e| malformed(format!("CSR signature algorithm: {e}")))?;
        let scheme = candidate
            .key
            .scheme_for_x509_algorithm(request.algorithm.oid, parameters_der.as_deref())
            .ok_or_else(|| FulcioCoreError::AlgorithmMismatch {
                algorithm: request.algorithm.oid.to_string(),
                key: format!("{:?}", candidate.key.algorithm()),
            })?;
        let signature = request
            .signature
            .as_bytes()
            .ok_or_else(|| malformed("CSR signature has unused bits"))?;
        candidate
            .key
            .verify_with(scheme, &info_der, signature)
            .map_err(proof_error)?;
        Ok(candidate)
    }

    /// Parse an untrusted SPKI, rejecting keys Sigstack does not certify, and keep its
    /// canonical DER. Possession is not proven yet, so this stays private.
    fn from_spki_der(unverified_der: &[u8]) -> Result<Self, FulcioCoreError> {
        let spki = SubjectPublicKeyInfoOwned::from_der(unverified_der)
            .map_err(|e| malformed(format!("public key: {e}")))?;
        let spki_der = spki
            .to_der()
            .map_err(|e| malformed(format!("public key: {e}")))?;
        let key = PublicKey::from_spki_der(&spki_der).map_err(|e| match e {
            KeyError::UnsupportedKey(what) => FulcioCoreError::UnsupportedKey(what),
            other => malformed(format!("public key: {other}")),
        })?;
        Ok(Self { key, spki_der })
    }

    /// The key, DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key, parsed.
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }
}

fn malformed(reason: impl Into<String>) -> FulcioCoreError {
    FulcioCoreError::MalformedRequest(reason.into())
}

fn proof_error(e: KeyError) -> FulcioCoreError {
    match e {
        KeyError::MalformedSignature => {
            malformed("the proof of possession is not a well-formed signature")
        }
        _ => FulcioCoreError::BadProofOfPossession,
    }
}

/// Decode standard or URL-safe base64, padded or not, ignoring surrounding whitespace.
fn decode_b64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    STANDARD_PAD_INDIFFERENT
        .decode(text)
        .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(text))
        .ok()
}
