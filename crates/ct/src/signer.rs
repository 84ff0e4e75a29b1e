//! The CT log's signing key: SCTs and tree head signatures.

use std::fmt;
use std::sync::Arc;

use sigstack_keys::{SignatureAlgorithm, Signer};

use crate::leaf::{LogEntryType, sct_signature_input, tree_head_signature_input};
use crate::sct::{DigitallySigned, SignedCertificateTimestamp};
use crate::{CtError, HASH_SHA256, SIGNATURE_ECDSA};

/// A CT log key: an ECDSA P-256 [`Signer`] (Sigstore clients accept SHA-256 SCTs only),
/// with its log ID computed once.
#[derive(Clone)]
pub struct CtSigner {
    signer: Arc<dyn Signer>,
    log_id: [u8; 32],
}

impl fmt::Debug for CtSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtSigner")
            .field("log_id", &self.log_id)
            .finish_non_exhaustive()
    }
}

impl CtSigner {
    /// Wrap `signer`, which must be ECDSA P-256.
    ///
    /// # Errors
    /// [`CtError::UnsupportedKey`] for any other key type.
    pub fn new(signer: Arc<dyn Signer>) -> Result<Self, CtError> {
        if signer.algorithm() != SignatureAlgorithm::EcdsaP256Sha256 {
            return Err(CtError::UnsupportedKey(format!(
                "{:?}; CT logs sign with ECDSA P-256",
                signer.algorithm()
            )));
        }
        let log_id = crate::log_id(signer.public_key_der());
        Ok(Self { signer, log_id })
    }

    /// SHA-256 of the log key's DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }

    /// The log key as DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn public_key_der(&self) -> &[u8] {
        self.signer.public_key_der()
    }

    /// Sign an SCT for `entry` at `timestamp` (ms) with `extensions` (pass `&[]`).
    ///
    /// # Errors
    /// [`CtError::TooLong`] for oversized inputs, [`CtError::Signing`] if the key fails.
    pub fn sign_entry(
        &self,
        timestamp: u64,
        entry: &LogEntryType,
        extensions: &[u8],
    ) -> Result<SignedCertificateTimestamp, CtError> {
        let message = sct_signature_input(timestamp, entry, extensions)?;
        Ok(SignedCertificateTimestamp {
            log_id: self.log_id,
            timestamp,
            extensions: extensions.to_vec(),
            signature: self.digitally_sign(&message)?,
        })
    }

    /// Sign an SCT for a precertificate entry: `issuer_key_hash` = SHA-256 of the issuing CA's
    /// SPKI, `tbs_der` = precertificate TBS without the poison extension.
    ///
    /// # Errors
    /// As [`Self::sign_entry`].
    pub fn sign_precert(
        &self,
        timestamp: u64,
        issuer_key_hash: [u8; 32],
        tbs_der: &[u8],
        extensions: &[u8],
    ) -> Result<SignedCertificateTimestamp, CtError> {
        let entry = LogEntryType::Precert {
            issuer_key_hash,
            tbs_der: tbs_der.to_vec(),
        };
        self.sign_entry(timestamp, &entry, extensions)
    }

    /// Sign an SCT for an X.509 entry (a complete DER certificate).
    ///
    /// # Errors
    /// As [`Self::sign_entry`].
    pub fn sign_x509(
        &self,
        timestamp: u64,
        cert_der: &[u8],
        extensions: &[u8],
    ) -> Result<SignedCertificateTimestamp, CtError> {
        self.sign_entry(
            timestamp,
            &LogEntryType::X509(cert_der.to_vec()),
            extensions,
        )
    }

    /// Sign an RFC 6962 §3.5 `TreeHeadSignature` for `get-sth`.
    ///
    /// # Errors
    /// [`CtError::Signing`] if the key fails.
    pub fn sign_tree_head(
        &self,
        timestamp: u64,
        tree_size: u64,
        root: &[u8; 32],
    ) -> Result<DigitallySigned, CtError> {
        self.digitally_sign(&tree_head_signature_input(timestamp, tree_size, root))
    }

    fn digitally_sign(&self, message: &[u8]) -> Result<DigitallySigned, CtError> {
        Ok(DigitallySigned {
            hash_algorithm: HASH_SHA256,
            signature_algorithm: SIGNATURE_ECDSA,
            signature: self.signer.sign(message).map_err(CtError::Signing)?,
        })
    }
}
