//! Rekor v2 JSON wire types: protobuf JSON (`protojson`) of `sigstore/protobuf-specs`.

use serde::{Deserialize, Serialize};

/// `dev.sigstore.rekor.v1.TransparencyLogEntry` (`sigstore_rekor.proto`) as Rekor v2 returns
/// it: 64-bit integers as decimal strings, bytes as standard base64, no `integratedTime`
/// (always 0, so omitted) and no `inclusionPromise`.
///
/// ```proto
/// message TransparencyLogEntry {
///   int64 log_index = 1;                 // REQUIRED
///   dev.sigstore.common.v1.LogId log_id = 2;   // REQUIRED: {bytes key_id = 1}
///   KindVersion kind_version = 3;        // REQUIRED: {string kind = 1; string version = 2}
///   int64 integrated_time = 4;
///   InclusionPromise inclusion_promise = 5;
///   InclusionProof inclusion_proof = 6;
///   bytes canonicalized_body = 7;
/// }
/// message InclusionProof {
///   int64 log_index = 1; bytes root_hash = 2; int64 tree_size = 3;
///   repeated bytes hashes = 4; Checkpoint checkpoint = 5;   // Checkpoint {string envelope = 1}
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransparencyLogEntry {
    /// Leaf index, decimal string.
    pub log_index: String,
    /// The log's checkpoint key hash.
    pub log_id: LogId,
    /// Always `hashedrekord` / `0.0.2`.
    pub kind_version: KindVersion,
    /// Inclusion proof and checkpoint.
    pub inclusion_proof: InclusionProof,
    /// Base64 of the canonical (RFC 8785) entry body.
    pub canonicalized_body: String,
}

/// `dev.sigstore.common.v1.LogId`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogId {
    /// Base64 of the 32-byte C2SP key hash `SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ Ed25519 key)`.
    pub key_id: String,
}

/// `dev.sigstore.rekor.v1.KindVersion`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindVersion {
    /// Entry kind.
    pub kind: String,
    /// Entry kind version.
    pub version: String,
}

/// `dev.sigstore.rekor.v1.InclusionProof`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InclusionProof {
    /// Leaf index, decimal string.
    pub log_index: String,
    /// Base64 root hash of the tree of `treeSize` leaves.
    pub root_hash: String,
    /// Tree size, decimal string.
    pub tree_size: String,
    /// Base64 audit path, leaf to root.
    pub hashes: Vec<String>,
    /// The signed checkpoint.
    pub checkpoint: CheckpointEnvelope,
}

/// `dev.sigstore.rekor.v1.Checkpoint`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointEnvelope {
    /// The signed note text.
    pub envelope: String,
}
