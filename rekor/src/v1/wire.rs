//! Rekor v1 JSON wire types (`sigstore/rekor:openapi.yaml`, Swagger 2.0 definitions).

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sigstack_tlog::merkle::Hash;

/// `LogEntry`: an object with exactly one member, keyed by the entry ID (80 hex digits: the
/// 16-hex tree ID followed by the 64-hex leaf hash):
///
/// ```yaml
/// LogEntry:
///   type: object
///   additionalProperties:
///     type: object
///     properties:
///       logID: {type: string, pattern: '^[0-9a-fA-F]{64}$', description: SHA256 hash of the DER-encoded public key}
///       logIndex: {type: integer, minimum: 0}
///       body: {type: object, additionalProperties: true}   # base64 of the canonical body
///       integratedTime: {type: integer}
///       attestation: {type: object, properties: {data: {format: byte}}}
///       verification:
///         type: object
///         properties:
///           inclusionProof: {$ref: '#/definitions/InclusionProof'}
///           signedEntryTimestamp: {type: string, format: byte}
///     required: [logID, logIndex, body, integratedTime]
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// The entry ID (80 hex digits).
    pub entry_id: String,
    /// The entry.
    pub entry: LogEntryAnon,
}

impl LogEntry {
    /// About the length of the entry's JSON: what its answer reserves up front.
    #[must_use]
    pub fn json_size_hint(&self) -> usize {
        let proof = &self.entry.verification.inclusion_proof;
        self.entry.body.len()
            + proof.checkpoint.len()
            + proof.hashes.len() * 67
            + self.entry.verification.signed_entry_timestamp.len()
            + 512
    }
}

impl Serialize for LogEntry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(&self.entry_id, &self.entry)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for LogEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneEntry;
        impl<'de> Visitor<'de> for OneEntry {
            type Value = LogEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object with exactly one LogEntry member")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LogEntry, A::Error> {
                let Some((entry_id, entry)) = map.next_entry::<String, LogEntryAnon>()? else {
                    return Err(de::Error::custom("empty LogEntry"));
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom("LogEntry has more than one member"));
                }
                Ok(LogEntry { entry_id, entry })
            }
        }
        deserializer.deserialize_map(OneEntry)
    }
}

/// The value of a [`LogEntry`] member (`LogEntryAnon` in the generated Go models).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntryAnon {
    /// Base64 of the canonical body (the Merkle leaf data).
    #[serde(serialize_with = "sigstack_tlog::json::serialize_plain_str")]
    pub body: String,
    /// Unix seconds when the entry was integrated.
    pub integrated_time: i64,
    /// Hex SHA-256 of the log's DER public key.
    #[serde(rename = "logID")]
    pub log_id: String,
    /// Index of the entry in the log.
    pub log_index: u64,
    /// Proofs.
    pub verification: Verification,
}

/// `LogEntry.verification`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// Inclusion proof with a signed checkpoint.
    pub inclusion_proof: InclusionProof,
    /// Base64 signature over the canonical `{body, integratedTime, logID, logIndex}`.
    pub signed_entry_timestamp: String,
}

/// `InclusionProof`:
///
/// ```yaml
/// InclusionProof:
///   type: object
///   properties:
///     logIndex: {type: integer, minimum: 0}
///     rootHash: {type: string, pattern: '^[0-9a-fA-F]{64}$'}
///     treeSize: {type: integer, minimum: 1}
///     hashes: {type: array, items: {type: string, pattern: '^[0-9a-fA-F]{64}$'}}
///     checkpoint: {type: string, format: signedCheckpoint}
///   required: [logIndex, rootHash, treeSize, hashes, checkpoint]
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    /// Signed checkpoint (signed note) for `treeSize`/`rootHash`.
    pub checkpoint: String,
    /// Audit path, leaf to root.
    pub hashes: Vec<HexHash>,
    /// Leaf index within the tree.
    pub log_index: u64,
    /// Root hash of the tree of `treeSize` leaves.
    pub root_hash: HexHash,
    /// Tree size the proof is against.
    pub tree_size: u64,
}

/// `LogInfo`:
///
/// ```yaml
/// LogInfo:
///   type: object
///   properties:
///     rootHash: {type: string, pattern: '^[0-9a-fA-F]{64}$'}
///     treeSize: {type: integer, minimum: 1}
///     signedTreeHead: {type: string, format: signedCheckpoint}
///     treeID: {type: string, pattern: '^[0-9]+$'}
///     inactiveShards: {type: array, items: {$ref: '#/definitions/InactiveShardLogInfo'}}
///   required: [rootHash, treeSize, signedTreeHead, treeID]
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogInfo {
    /// Root hash of the current tree.
    pub root_hash: HexHash,
    /// Current tree size.
    pub tree_size: u64,
    /// Signed checkpoint of the current tree.
    pub signed_tree_head: String,
    /// Decimal tree ID.
    #[serde(rename = "treeID")]
    pub tree_id: String,
}

/// `ConsistencyProof`:
///
/// ```yaml
/// ConsistencyProof:
///   type: object
///   properties:
///     rootHash: {type: string, pattern: '^[0-9a-fA-F]{64}$'}
///     hashes: {type: array, items: {type: string, pattern: '^[0-9a-fA-F]{64}$'}}
///   required: [rootHash, hashes]
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsistencyProof {
    /// Root hash of the tree of `lastSize` leaves.
    pub root_hash: HexHash,
    /// Proof hashes.
    pub hashes: Vec<HexHash>,
}

/// A hash as the API writes it: `{type: string, pattern: '^[0-9a-fA-F]{64}$'}`. Written in
/// lowercase from a buffer on the stack (an answer carries dozens: no string each); read in
/// either case, and anything that is not 64 hex digits is refused when the answer is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HexHash(pub Hash);

impl Serialize for HexHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut hex = [0u8; 64];
        hex::encode_to_slice(self.0.as_bytes(), &mut hex).map_err(serde::ser::Error::custom)?;
        // Hex digits are ASCII.
        let hex = std::str::from_utf8(&hex).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(hex)
    }
}

impl<'de> Deserialize<'de> for HexHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let unverified = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Hash::from_hex(&unverified)
            .map(HexHash)
            .map_err(|_| de::Error::custom("a hash must be 64 hex digits"))
    }
}

/// `SearchLogQuery` (body of `POST /api/v1/log/entries/retrieve`):
///
/// ```yaml
/// SearchLogQuery:
///   type: object
///   properties:
///     entryUUIDs: {type: array, minItems: 1, maxItems: 10,
///                  items: {type: string, pattern: '^([0-9a-fA-F]{64}|[0-9a-fA-F]{80})$'}}
///     logIndexes: {type: array, minItems: 1, maxItems: 10, items: {type: integer, minimum: 0}}
///     entries: {type: array, minItems: 1, maxItems: 10, items: {$ref: '#/definitions/ProposedEntry'}}
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct SearchLogQuery {
    /// 64-hex UUIDs (leaf hashes) or 80-hex entry IDs.
    #[serde(rename = "entryUUIDs", default)]
    pub entry_uuids: Vec<String>,
    /// Log indexes.
    #[serde(rename = "logIndexes", default)]
    pub log_indexes: Vec<u64>,
    /// Proposed entries, looked up by their canonical leaf hash.
    #[serde(default)]
    pub entries: Vec<Value>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Hashes go out as 64 lowercase hex digits, come back in either case, and anything else
    /// in their place makes the answer unparsable.
    #[test]
    fn hex_hashes_on_the_wire() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        bytes[31] = 0x0f;
        let proof = ConsistencyProof {
            root_hash: HexHash(Hash(bytes)),
            hashes: vec![HexHash(Hash([0xff; 32]))],
        };
        let json = serde_json::to_string(&proof).unwrap();
        let want_root = format!("ab{}0f", "00".repeat(30));
        assert_eq!(
            json,
            format!(
                r#"{{"rootHash":"{want_root}","hashes":["{}"]}}"#,
                "ff".repeat(32)
            )
        );
        let back: ConsistencyProof =
            serde_json::from_str(&json.replace("ab", "AB").replace("ff", "FF")).unwrap();
        assert_eq!(back, proof);
        for bad in [
            "ab".repeat(31),
            "ab".repeat(33),
            format!("{}zz", "ab".repeat(31)),
        ] {
            let err = serde_json::from_str::<ConsistencyProof>(&format!(
                r#"{{"rootHash":"{bad}","hashes":[]}}"#
            ))
            .unwrap_err();
            assert!(err.to_string().contains("64 hex digits"), "{bad}: {err}");
        }
    }
}
