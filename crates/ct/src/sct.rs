//! Signed certificate timestamps, their `DigitallySigned` signature, and the RFC 6962 §4.1
//! JSON shapes of `add-chain` / `add-pre-chain`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sigstack_keys::{PublicKey, SignatureAlgorithm};

use crate::leaf::{LogEntryType, sct_signature_input};
use crate::tls::{Reader, Writer};
use crate::{
    CtError, HASH_INTRINSIC, HASH_SHA256, HASH_SHA384, SIGNATURE_ECDSA, SIGNATURE_ED25519,
};

/// A TLS `digitally-signed` element (RFC 5246 §4.7, as used by RFC 6962 §3.2):
///
/// ```text
/// struct {
///     SignatureAndHashAlgorithm algorithm;   /* uint8 hash; uint8 signature; */
///     opaque signature<0..2^16-1>;
/// } DigitallySigned;
/// ```
///
/// For ECDSA, `signature` is a DER `Ecdsa-Sig-Value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigitallySigned {
    /// TLS `HashAlgorithm` code (4 = SHA-256).
    pub hash_algorithm: u8,
    /// TLS `SignatureAlgorithm` code (3 = ECDSA).
    pub signature_algorithm: u8,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

impl DigitallySigned {
    /// TLS encoding.
    ///
    /// # Errors
    /// [`CtError::TooLong`] if the signature exceeds 65535 bytes.
    pub fn to_tls(&self) -> Result<Vec<u8>, CtError> {
        let mut w = Writer::new();
        self.write(&mut w)?;
        Ok(w.into_bytes())
    }

    /// Parse a complete TLS-encoded `DigitallySigned` (no trailing bytes).
    ///
    /// # Errors
    /// [`CtError::Truncated`] or [`CtError::TrailingData`].
    pub fn from_tls(unverified: &[u8]) -> Result<Self, CtError> {
        let mut r = Reader::new(unverified);
        let ds = Self::read(&mut r)?;
        r.finish("DigitallySigned")?;
        Ok(ds)
    }

    pub(crate) fn write(&self, w: &mut Writer) -> Result<(), CtError> {
        w.u8(self.hash_algorithm).u8(self.signature_algorithm);
        w.vec16("signature", &self.signature)?;
        Ok(())
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, CtError> {
        Ok(Self {
            hash_algorithm: r.u8("hash_algorithm")?,
            signature_algorithm: r.u8("signature_algorithm")?,
            signature: r.vec16("signature")?.to_vec(),
        })
    }

    /// Verify this signature over `message` with `key`, after checking that the algorithm codes
    /// are the ones that key signs with (P-256: SHA-256/ECDSA, P-384: SHA-384/ECDSA,
    /// Ed25519: intrinsic/Ed25519).
    ///
    /// # Errors
    /// [`CtError::AlgorithmMismatch`], [`CtError::UnsupportedKey`] or [`CtError::BadSignature`].
    pub fn verify(&self, key: &PublicKey, message: &[u8]) -> Result<(), CtError> {
        let expected = match key.algorithm() {
            SignatureAlgorithm::EcdsaP256Sha256 => (HASH_SHA256, SIGNATURE_ECDSA),
            SignatureAlgorithm::EcdsaP384Sha384 => (HASH_SHA384, SIGNATURE_ECDSA),
            SignatureAlgorithm::Ed25519 => (HASH_INTRINSIC, SIGNATURE_ED25519),
            other => return Err(CtError::UnsupportedKey(format!("{other:?}"))),
        };
        if (self.hash_algorithm, self.signature_algorithm) != expected {
            return Err(CtError::AlgorithmMismatch {
                hash: self.hash_algorithm,
                signature: self.signature_algorithm,
            });
        }
        key.verify(message, &self.signature)
            .map_err(|_| CtError::BadSignature)
    }
}

/// A version 1 signed certificate timestamp (RFC 6962 §3.2):
///
/// ```text
/// struct {
///     Version sct_version;            /* v1(0) */
///     LogID id;                       /* opaque key_id[32] = SHA-256(log SPKI) */
///     uint64 timestamp;               /* milliseconds since the epoch */
///     CtExtensions extensions;        /* opaque CtExtensions<0..2^16-1> */
///     digitally-signed struct {
///         Version sct_version;
///         SignatureType signature_type = certificate_timestamp;   /* 0 */
///         uint64 timestamp;
///         LogEntryType entry_type;
///         select(entry_type) {
///             case x509_entry: ASN.1Cert;
///             case precert_entry: PreCert;
///         } signed_entry;
///         CtExtensions extensions;
///     };
/// } SignedCertificateTimestamp;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCertificateTimestamp {
    /// SHA-256 of the log's DER SubjectPublicKeyInfo.
    pub log_id: [u8; 32],
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The `CtExtensions` bytes (without their length prefix); empty for Sigstack SCTs.
    pub extensions: Vec<u8>,
    /// The log's signature.
    pub signature: DigitallySigned,
}

/// The only SCT version this crate reads or writes.
const SCT_V1: u8 = 0;

impl SignedCertificateTimestamp {
    /// TLS encoding of the SCT (the form embedded in an SCT list).
    ///
    /// # Errors
    /// [`CtError::TooLong`] if the extensions or signature exceed 65535 bytes.
    pub fn to_tls(&self) -> Result<Vec<u8>, CtError> {
        let mut w = Writer::new();
        w.u8(SCT_V1).bytes(&self.log_id).u64(self.timestamp);
        w.vec16("extensions", &self.extensions)?;
        self.signature.write(&mut w)?;
        Ok(w.into_bytes())
    }

    /// Parse a complete TLS-encoded v1 SCT.
    ///
    /// # Errors
    /// [`CtError::Unsupported`] for a version other than v1, [`CtError::Truncated`] or
    /// [`CtError::TrailingData`] for malformed bytes.
    pub fn from_tls(unverified: &[u8]) -> Result<Self, CtError> {
        let mut r = Reader::new(unverified);
        let version = r.u8("sct_version")?;
        if version != SCT_V1 {
            return Err(CtError::Unsupported {
                field: "sct_version",
                value: version.into(),
            });
        }
        let sct = Self {
            log_id: r.array32("log_id")?,
            timestamp: r.u64("timestamp")?,
            extensions: r.vec16("extensions")?.to_vec(),
            signature: DigitallySigned::read(&mut r)?,
        };
        r.finish("SignedCertificateTimestamp")?;
        Ok(sct)
    }

    /// The RFC 6962 §4.1 JSON answer of `add-chain` / `add-pre-chain`.
    ///
    /// # Errors
    /// [`CtError::TooLong`] if the signature exceeds 65535 bytes.
    pub fn to_json(&self) -> Result<AddChainResponse, CtError> {
        Ok(AddChainResponse {
            sct_version: SCT_V1,
            id: B64.encode(self.log_id),
            timestamp: self.timestamp,
            extensions: B64.encode(&self.extensions),
            signature: B64.encode(self.signature.to_tls()?),
        })
    }

    /// Parse the RFC 6962 §4.1 JSON answer of a log.
    ///
    /// # Errors
    /// [`CtError::Unsupported`] for a version other than v1, [`CtError::Base64`],
    /// [`CtError::LogIdLength`] or a malformed signature.
    pub fn from_json(unverified: &AddChainResponse) -> Result<Self, CtError> {
        if unverified.sct_version != SCT_V1 {
            return Err(CtError::Unsupported {
                field: "sct_version",
                value: unverified.sct_version.into(),
            });
        }
        let id = B64
            .decode(&unverified.id)
            .map_err(|_| CtError::Base64("id"))?;
        let log_id: [u8; 32] = id
            .as_slice()
            .try_into()
            .map_err(|_| CtError::LogIdLength(id.len()))?;
        let extensions = B64
            .decode(&unverified.extensions)
            .map_err(|_| CtError::Base64("extensions"))?;
        if extensions.len() > crate::tls::MAX_U16 {
            return Err(CtError::TooLong {
                what: "extensions",
                len: extensions.len(),
                max: crate::tls::MAX_U16,
            });
        }
        let signature = B64
            .decode(&unverified.signature)
            .map_err(|_| CtError::Base64("signature"))?;
        Ok(Self {
            log_id,
            timestamp: unverified.timestamp,
            extensions,
            signature: DigitallySigned::from_tls(&signature)?,
        })
    }

    /// Verify this SCT over a precertificate entry.
    ///
    /// `issuer_spki_der` is the DER SubjectPublicKeyInfo of the CA that issued the certificate
    /// (the entry's `issuer_key_hash` is its SHA-256); `tbs_der` is the final certificate's
    /// `TBSCertificate` without the SCT-list extension, which is the precertificate's TBS without
    /// the poison extension (see [`crate::tbs_without_extension`]).
    ///
    /// The log ID is not compared with `log_key`; callers pick the key by [`Self::log_id`].
    ///
    /// # Errors
    /// [`CtError::BadSignature`] when the SCT does not cover exactly this entry, or an
    /// algorithm / encoding error.
    pub fn verify_precert(
        &self,
        log_key: &PublicKey,
        issuer_spki_der: &[u8],
        tbs_der: &[u8],
    ) -> Result<(), CtError> {
        let entry = LogEntryType::Precert {
            issuer_key_hash: sigstack_keys::sha256(issuer_spki_der),
            tbs_der: tbs_der.to_vec(),
        };
        self.verify_entry(log_key, &entry)
    }

    /// Verify this SCT over an X.509 entry: the complete DER certificate `cert_der`.
    ///
    /// # Errors
    /// As [`Self::verify_precert`].
    pub fn verify_x509(&self, log_key: &PublicKey, cert_der: &[u8]) -> Result<(), CtError> {
        self.verify_entry(log_key, &LogEntryType::X509(cert_der.to_vec()))
    }

    /// Verify this SCT over any log entry.
    ///
    /// # Errors
    /// As [`Self::verify_precert`].
    pub fn verify_entry(&self, log_key: &PublicKey, entry: &LogEntryType) -> Result<(), CtError> {
        let message = sct_signature_input(self.timestamp, entry, &self.extensions)?;
        self.signature.verify(log_key, &message)
    }
}

/// Body of `POST /ct/v1/add-chain` and `POST /ct/v1/add-pre-chain` (RFC 6962 §4.1, §4.2):
/// `{"chain": [base64 DER, ...]}`, end-entity (pre)certificate first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddChainRequest {
    /// Base64 (standard alphabet, padded) DER certificates, leaf first.
    pub chain: Vec<String>,
}

/// Answer of `add-chain` / `add-pre-chain` (RFC 6962 §4.1):
///
/// ```text
/// sct_version: The version of the SignedCertificateTimestamp structure, in decimal.
/// id:          The log ID, base64 encoded.
/// timestamp:   The SCT timestamp, in decimal.
/// extensions:  An opaque type for future expansion, base64 encoded.
/// signature:   The SCT signature, base64 encoded (a TLS DigitallySigned).
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddChainResponse {
    /// 0 for v1.
    pub sct_version: u8,
    /// Base64 log ID.
    pub id: String,
    /// Milliseconds since the epoch.
    pub timestamp: u64,
    /// Base64 `CtExtensions` contents (empty string when there are none).
    pub extensions: String,
    /// Base64 TLS `DigitallySigned`.
    pub signature: String,
}
