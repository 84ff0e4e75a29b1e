//! Certificate Transparency (RFC 6962) structures for Sigstack: signed certificate timestamps
//! (SCTs), the precertificate entry they sign, the Merkle tree leaf a log stores, tree head
//! signatures, and the X.509 extensions that carry an SCT inside a certificate.
//!
//! This is a protocol-layer crate: it contains no tokio, axum or database code. It turns
//! bytes into verified values and values into bytes; the `ctlog` service and Fulcio build on it.
//!
//! Wire-format choices, all byte-compatible with RFC 6962 and what Sigstore clients check:
//! - SCTs are v1, signed with ECDSA P-256 over SHA-256 (`hash_algorithm` 4, `signature_algorithm` 3).
//! - SCT extensions are produced empty (sigstore-python 4.5.1 mishandles the static-ct-api
//!   `leaf_index` extension), but whatever extension bytes an SCT carries are always covered by
//!   verification.
//! - Precertificate entries sign the issuer's key hash and the final certificate's
//!   `TBSCertificate` without the SCT-list extension (which equals the precertificate's TBS
//!   without the poison extension, because DER is canonical).
//!
//! TLS presentation-language structures are encoded byte by byte (there is no ASN.1 here);
//! X.509 values go through the `der` / `x509-cert` types.

mod leaf;
mod sct;
mod signer;
mod tls;
mod x509;

pub use leaf::{
    LogEntryType, MerkleTreeLeaf, merkle_tree_leaf, precert_chain_extra_data,
    tree_head_signature_input, verify_tree_head, x509_chain_extra_data,
};
pub use sct::{AddChainRequest, AddChainResponse, DigitallySigned, SignedCertificateTimestamp};
pub use signer::CtSigner;
pub use x509::{
    embedded_scts, is_precertificate, poison_extension, sct_list_extension, tbs_without_extension,
};

use sigstack_keys::KeyError;
pub use spki::ObjectIdentifier;

/// `id-ce-embeddedSCTList`-style OID of the SignedCertificateTimestampList extension carried by
/// final certificates (RFC 6962 §3.3): `1.3.6.1.4.1.11129.2.4.2`.
pub const SCT_LIST_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// OID of the critical poison extension that marks a precertificate (RFC 6962 §3.1):
/// `1.3.6.1.4.1.11129.2.4.3`, value ASN.1 `NULL`.
pub const POISON_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.3");

/// TLS `HashAlgorithm` code of SHA-256 (RFC 5246 §7.4.1.4.1).
pub const HASH_SHA256: u8 = 4;
/// TLS `HashAlgorithm` code of SHA-384.
pub const HASH_SHA384: u8 = 5;
/// TLS `HashAlgorithm` code "intrinsic" (RFC 8422), used with Ed25519.
pub const HASH_INTRINSIC: u8 = 8;
/// TLS `SignatureAlgorithm` code of ECDSA.
pub const SIGNATURE_ECDSA: u8 = 3;
/// TLS `SignatureAlgorithm` code of Ed25519 (RFC 8422).
pub const SIGNATURE_ED25519: u8 = 7;

/// The log ID of a CT log: SHA-256 of the DER SubjectPublicKeyInfo of its key (RFC 6962 §3.2).
#[must_use]
pub fn log_id(spki_der: &[u8]) -> [u8; 32] {
    sigstack_keys::sha256(spki_der)
}

/// Errors from parsing, encoding, signing or verifying CT structures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtError {
    /// A TLS-encoded structure ended before the named field was complete.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// Bytes were left over after the named TLS-encoded structure.
    #[error("trailing bytes after {0}")]
    TrailingData(&'static str),
    /// A value is too long for its TLS length prefix.
    #[error("{what} is {len} bytes, more than the {max} its length prefix allows")]
    TooLong {
        /// The field.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The largest encodable length.
        max: usize,
    },
    /// An enumerated TLS field holds a value this crate does not understand.
    #[error("unsupported {field} {value}")]
    Unsupported {
        /// The field (`sct_version`, `entry_type`, ...).
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// A JSON field is not valid standard base64.
    #[error("field {0} is not valid base64")]
    Base64(&'static str),
    /// A log ID is not 32 bytes long.
    #[error("log ID must be 32 bytes, got {0}")]
    LogIdLength(usize),
    /// DER encoding or decoding of a certificate, TBS or extension failed.
    #[error("DER: {0}")]
    Der(#[from] der::Error),
    /// A certificate carries the same extension more than once (RFC 5280 §4.2 forbids it).
    #[error("extension {0} appears more than once")]
    DuplicateExtension(ObjectIdentifier),
    /// The TBSCertificate carries an `[3]` extensions field with no extension in it.
    #[error("TBSCertificate has an empty extensions list")]
    EmptyExtensions,
    /// The poison extension is present but not critical, or its value is not ASN.1 NULL.
    #[error("malformed precertificate poison extension")]
    MalformedPoison,
    /// The hash/signature algorithm codes of a `DigitallySigned` do not fit the log key.
    #[error("signature algorithm (hash {hash}, signature {signature}) does not match the log key")]
    AlgorithmMismatch {
        /// TLS `HashAlgorithm` code found.
        hash: u8,
        /// TLS `SignatureAlgorithm` code found.
        signature: u8,
    },
    /// The log key type cannot sign SCTs (Sigstack logs sign with ECDSA P-256).
    #[error("unsupported CT log key: {0}")]
    UnsupportedKey(String),
    /// The signature does not verify under the log key.
    #[error("SCT or tree head signature does not verify")]
    BadSignature,
    /// The key source failed to sign.
    #[error("signing failed: {0}")]
    Signing(#[source] KeyError),
}
