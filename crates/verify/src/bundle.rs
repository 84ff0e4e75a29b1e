//! The Sigstore bundle, as protobuf JSON (sigstore protobuf-specs `sigstore_bundle.proto`).
//!
//! Every value here is untrusted until the verifier has checked it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer};

use crate::VerifyError;

/// Largest bundle accepted, in bytes.
pub const MAX_BUNDLE_BYTES: usize = 32 * 1024 * 1024;

/// Bundle media-type versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BundleVersion {
    /// `application/vnd.dev.sigstore.bundle+json;version=0.1`: inclusion promise required,
    /// inclusion proof optional.
    V0_1,
    /// `...;version=0.2`: inclusion proof with checkpoint required.
    V0_2,
    /// `...;version=0.3` or `application/vnd.dev.sigstore.bundle.v0.3+json`: as 0.2, and the
    /// leaf certificate alone instead of a chain.
    V0_3,
}

impl BundleVersion {
    /// The version of a media type.
    ///
    /// # Errors
    /// [`VerifyError::UnsupportedMediaType`].
    pub fn from_media_type(media_type: &str) -> Result<Self, VerifyError> {
        match media_type {
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => Ok(Self::V0_1),
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => Ok(Self::V0_2),
            "application/vnd.dev.sigstore.bundle+json;version=0.3"
            | "application/vnd.dev.sigstore.bundle.v0.3+json" => Ok(Self::V0_3),
            other => Err(VerifyError::UnsupportedMediaType(other.to_string())),
        }
    }
}

/// ```text
/// message Bundle { string media_type = 1; VerificationMaterial verification_material = 2;
///   oneof content { MessageSignature message_signature = 3; Envelope dsse_envelope = 4; } }
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// Media type naming the bundle version.
    pub media_type: String,
    /// Certificate or key, log entries, timestamps.
    pub verification_material: VerificationMaterial,
    /// A signature over an artifact digest.
    pub message_signature: Option<MessageSignature>,
    /// A DSSE envelope.
    pub dsse_envelope: Option<Envelope>,
}

/// ```text
/// message VerificationMaterial {
///   oneof content { PublicKeyIdentifier public_key = 1; X509CertificateChain x509_certificate_chain = 2;
///                   X509Certificate certificate = 5; }
///   repeated TransparencyLogEntry tlog_entries = 3;
///   TimestampVerificationData timestamp_verification_data = 4; }
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// The leaf certificate (v0.3).
    pub certificate: Option<RawBytes>,
    /// Leaf first (v0.1, v0.2).
    pub x509_certificate_chain: Option<CertificateChain>,
    /// A key hint (key-signed bundles).
    pub public_key: Option<serde_json::Value>,
    /// Transparency-log entries.
    #[serde(default)]
    pub tlog_entries: Vec<TlogEntry>,
    /// RFC 3161 timestamps.
    pub timestamp_verification_data: Option<TimestampVerificationData>,
}

/// `X509CertificateChain { repeated X509Certificate certificates = 1; }`
#[derive(Clone, Debug, Deserialize)]
pub struct CertificateChain {
    /// Leaf first.
    pub certificates: Vec<RawBytes>,
}

/// `{ bytes raw_bytes = 1; }`
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawBytes {
    /// Base64.
    pub raw_bytes: String,
}

/// `TimestampVerificationData { repeated RFC3161SignedTimestamp rfc3161_timestamps = 1; }`
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimestampVerificationData {
    /// The timestamps.
    #[serde(default)]
    pub rfc3161_timestamps: Vec<SignedTimestamp>,
}

/// `RFC3161SignedTimestamp { bytes signed_timestamp = 1; }`: base64 of a DER `TimeStampResp`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedTimestamp {
    /// Base64 DER.
    pub signed_timestamp: String,
}

/// ```text
/// message TransparencyLogEntry { int64 log_index = 1; LogId log_id = 2; KindVersion kind_version = 3;
///   int64 integrated_time = 4; InclusionPromise inclusion_promise = 5;
///   InclusionProof inclusion_proof = 6; bytes canonicalized_body = 7; }
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlogEntry {
    /// Index in the log (the virtual index for sharded Rekor v1).
    #[serde(deserialize_with = "int64")]
    pub log_index: i64,
    /// The log ID.
    pub log_id: LogId,
    /// Entry kind and version.
    pub kind_version: KindVersion,
    /// Rekor v1 integration time (absent or 0 for Rekor v2).
    #[serde(default, deserialize_with = "opt_int64")]
    pub integrated_time: Option<i64>,
    /// The SET.
    pub inclusion_promise: Option<InclusionPromise>,
    /// The inclusion proof.
    pub inclusion_proof: Option<InclusionProof>,
    /// Base64 of the logged entry body.
    pub canonicalized_body: String,
}

/// `LogId { bytes key_id = 1; }`
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogId {
    /// Base64.
    pub key_id: String,
}

/// `KindVersion { string kind = 1; string version = 2; }`
#[derive(Clone, Debug, Deserialize)]
pub struct KindVersion {
    /// For example `hashedrekord`.
    pub kind: String,
    /// For example `0.0.1`.
    pub version: String,
}

/// `InclusionPromise { bytes signed_entry_timestamp = 1; }`
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionPromise {
    /// Base64 signature.
    pub signed_entry_timestamp: String,
}

/// ```text
/// message InclusionProof { int64 log_index = 1; bytes root_hash = 2; int64 tree_size = 3;
///   repeated bytes hashes = 4; Checkpoint checkpoint = 5; }
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    /// Index of the leaf in this log shard.
    #[serde(deserialize_with = "int64")]
    pub log_index: i64,
    /// Base64 root hash.
    pub root_hash: String,
    /// Tree size.
    #[serde(deserialize_with = "int64")]
    pub tree_size: i64,
    /// Base64 hashes, leaf to root.
    #[serde(default)]
    pub hashes: Vec<String>,
    /// The signed checkpoint.
    pub checkpoint: Option<CheckpointEnvelope>,
}

/// `Checkpoint { string envelope = 1; }`: a signed note.
#[derive(Clone, Debug, Deserialize)]
pub struct CheckpointEnvelope {
    /// Note text.
    pub envelope: String,
}

/// `MessageSignature { HashOutput message_digest = 1; bytes signature = 2; }`
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSignature {
    /// The digest that was signed.
    pub message_digest: Option<HashOutput>,
    /// Base64 signature.
    pub signature: String,
}

/// `HashOutput { HashAlgorithm algorithm = 1; bytes digest = 2; }`
#[derive(Clone, Debug, Deserialize)]
pub struct HashOutput {
    /// For example `SHA2_256`.
    pub algorithm: String,
    /// Base64 digest.
    pub digest: String,
}

/// DSSE `Envelope { bytes payload = 1; string payloadType = 2; repeated Signature signatures = 3; }`
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Base64 payload.
    pub payload: String,
    /// Payload media type.
    pub payload_type: String,
    /// Signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// DSSE `Signature { bytes sig = 1; string keyid = 2; }`
#[derive(Clone, Debug, Deserialize)]
pub struct EnvelopeSignature {
    /// Base64 signature.
    pub sig: String,
    /// Optional key hint.
    #[serde(default)]
    pub keyid: Option<String>,
}

impl Bundle {
    /// Parse untrusted bundle JSON.
    ///
    /// # Errors
    /// [`VerifyError::MalformedBundle`].
    pub fn from_json(unverified: &[u8]) -> Result<Self, VerifyError> {
        if unverified.len() > MAX_BUNDLE_BYTES {
            return Err(VerifyError::MalformedBundle("larger than 32 MiB".into()));
        }
        serde_json::from_slice(unverified).map_err(|e| VerifyError::MalformedBundle(e.to_string()))
    }
}

/// Decode standard base64 from a bundle field, naming the field on failure.
pub(crate) fn b64(field: &str, value: &str) -> Result<Vec<u8>, VerifyError> {
    STANDARD
        .decode(value)
        .map_err(|_| VerifyError::MalformedBundle(format!("{field} is not base64")))
}

/// Protobuf JSON writes int64 as a string, but numbers are accepted too.
fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StrOrInt {
        Str(String),
        Int(i64),
    }
    match StrOrInt::deserialize(d)? {
        StrOrInt::Int(i) => Ok(i),
        StrOrInt::Str(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

fn opt_int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    int64(d).map(Some)
}
