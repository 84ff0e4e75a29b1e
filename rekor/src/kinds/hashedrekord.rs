//! `hashedrekord` 0.0.1: a signature over an artifact digest (`pkg/types/hashedrekord/v0.0.1`).
//!
//! Rekor verifies the signature over the digest with the supplied key (a PEM public key or the
//! public key of a PEM certificate; the certificate itself is not validated) and stores only
//! `signature.content`, `signature.publicKey.content` (canonical LF PEM) and `data.hash`:
//! ```json
//! {"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256",
//!  "value":"<hex>"}},"signature":{"content":"<b64>","publicKey":{"content":"<b64 PEM>"}}}}
//! ```
//! Ed25519 keys are refused ("ed25519 unsupported for hashedrekord"), as in Rekor.

use serde::{Deserialize, Serialize};
use sigstack_keys::{KeyError, SignatureAlgorithm};

use super::encoding::{b64_std, lower_hex};
use super::material::KeyMaterial;
use super::{CanonicalEntry, EntryError, MaterialKeys, SearchMaterial};

/// The `spec` of a hashedrekord 0.0.1 `ProposedEntry` (`hashedrekord_v0_0_1_schema.json`):
///
/// ```json
/// {"type": "object", "required": ["signature", "data"], "properties": {
///   "signature": {"type": "object", "properties": {
///     "content": {"type": "string", "format": "byte"},
///     "publicKey": {"type": "object", "properties": {
///       "content": {"type": "string", "format": "byte"}}}}},
///   "data": {"type": "object", "properties": {
///     "hash": {"type": "object", "required": ["algorithm", "value"], "properties": {
///       "algorithm": {"type": "string", "enum": ["sha256", "sha384", "sha512"]},
///       "value": {"type": "string"}}}}}}}
/// ```
/// Other fields (such as `data.content`) are ignored and not stored.
#[derive(Debug, Deserialize)]
pub struct HashedRekordV001Spec {
    /// The detached signature and the key that verifies it.
    pub signature: SignatureV001,
    /// The signed artifact's digest.
    pub data: DataV001,
}

/// `spec.signature`.
#[derive(Debug, Deserialize)]
pub struct SignatureV001 {
    /// Base64 signature bytes (ASN.1 DER for ECDSA).
    pub content: String,
    /// The verification key.
    #[serde(rename = "publicKey")]
    pub public_key: PublicKeyV001,
}

/// `spec.signature.publicKey`.
#[derive(Debug, Deserialize)]
pub struct PublicKeyV001 {
    /// Base64 of a PEM public key or PEM certificate.
    pub content: String,
}

/// `spec.data`.
#[derive(Debug, Deserialize)]
pub struct DataV001 {
    /// The digest.
    pub hash: HashV001,
}

/// `spec.data.hash`.
#[derive(Debug, Deserialize)]
pub struct HashV001 {
    /// `sha256`, `sha384` or `sha512`.
    pub algorithm: String,
    /// Lowercase hex digest.
    pub value: String,
}

/// Verify a hashedrekord 0.0.1 `spec` and build the canonical body.
///
/// # Errors
/// Any [`EntryError`]; in particular [`EntryError::InvalidSignature`] when the signature does not
/// verify over the digest.
pub fn canonicalize(unverified: HashedRekordV001Spec) -> Result<CanonicalEntry, EntryError> {
    let HashedRekordV001Spec {
        signature: unverified_signature,
        data: unverified_data,
    } = unverified;
    let unverified_sig = b64_std("spec.signature.content", &unverified_signature.content)?;
    if unverified_sig.is_empty() {
        return Err(EntryError::Malformed("missing signature".into()));
    }
    let (material, pem) = KeyMaterial::from_b64_pem_with_canonical(
        "spec.signature.publicKey.content",
        unverified_signature.public_key.content,
    )?;
    if material.key.algorithm() == SignatureAlgorithm::Ed25519 {
        return Err(EntryError::UnsupportedKey(
            "ed25519 unsupported for hashedrekord".into(),
        ));
    }
    let algorithm = unverified_data.hash.algorithm.as_str();
    let len = match algorithm {
        "sha256" => 32,
        "sha384" => 48,
        "sha512" => 64,
        other => {
            return Err(EntryError::Malformed(format!(
                "unsupported hash algorithm {other:?}"
            )));
        }
    };
    let digest = lower_hex("spec.data.hash.value", &unverified_data.hash.value, len)?;
    verify_digest_signature(&material, &digest, &unverified_sig)?;

    let body = CanonicalBody {
        api_version: "0.0.1",
        kind: "hashedrekord",
        spec: CanonicalSpec {
            data: CanonicalData {
                hash: CanonicalHash {
                    algorithm,
                    value: &unverified_data.hash.value,
                },
            },
            signature: CanonicalSignature {
                // Decoded strictly above, so already the one standard base64 of the signature.
                content: unverified_signature.content,
                public_key: CanonicalPublicKey { content: pem.b64 },
            },
        },
    };
    let body = serde_json::to_vec(&body).map_err(|e| EntryError::Malformed(e.to_string()))?;
    let search = SearchMaterial {
        // Both parts are lowercase already (checked above).
        digests: vec![format!("{algorithm}:{}", unverified_data.hash.value)],
        materials: vec![MaterialKeys {
            pem_sha256: sigstack_keys::sha256(pem.pem.as_bytes()),
            subjects: material.subjects,
        }],
    };
    Ok(CanonicalEntry {
        body,
        kind: "hashedrekord",
        api_version: "0.0.1",
        subject_digests: Vec::new(),
        search: Some(search),
    })
}

// The stored body, serialised straight from these types: members in RFC 8785 order (sorted
// by name, as declared here) and serde_json's string escaping, which is JCS's, so the bytes are
// the canonical JSON of the body (a unit test compares them with `jcs::canonical_json`, and the
// real-entry vectors with what Rekor stored). The long base64 members go through
// `serialize_plain_str`, which writes the same bytes faster.

/// `{"apiVersion", "kind", "spec"}` of the stored hashedrekord body.
#[derive(Serialize)]
struct CanonicalBody<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    spec: CanonicalSpec<'a>,
}

/// `spec`: `{"data", "signature"}`.
#[derive(Serialize)]
struct CanonicalSpec<'a> {
    data: CanonicalData<'a>,
    signature: CanonicalSignature,
}

/// `spec.data`: `{"hash"}`.
#[derive(Serialize)]
struct CanonicalData<'a> {
    hash: CanonicalHash<'a>,
}

/// `spec.data.hash`: `{"algorithm", "value"}`.
#[derive(Serialize)]
struct CanonicalHash<'a> {
    algorithm: &'a str,
    value: &'a str,
}

/// `spec.signature`: `{"content", "publicKey"}`.
#[derive(Serialize)]
struct CanonicalSignature {
    #[serde(serialize_with = "sigstack_tlog::json::serialize_plain_str")]
    content: String,
    #[serde(rename = "publicKey")]
    public_key: CanonicalPublicKey,
}

/// `spec.signature.publicKey`: `{"content"}`.
#[derive(Serialize)]
struct CanonicalPublicKey {
    #[serde(serialize_with = "sigstack_tlog::json::serialize_plain_str")]
    content: String,
}

/// Verify an ECDSA signature over a precomputed digest.
pub(crate) fn verify_digest_signature(
    material: &KeyMaterial,
    digest: &[u8],
    sig: &[u8],
) -> Result<(), EntryError> {
    material
        .key
        .verify_prehash(digest, sig)
        .map_err(|e| match e {
            KeyError::DigestLength { want, got } => EntryError::Mismatch(format!(
                "a {got}-byte digest cannot be verified with this key (expects {want} bytes)"
            )),
            KeyError::UnsupportedKey(why) => EntryError::UnsupportedKey(why),
            KeyError::MalformedSignature => {
                EntryError::InvalidSignature("malformed signature".into())
            }
            other => EntryError::InvalidSignature(other.to_string()),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::Value;

    use crate::jcs::canonical_json;
    use crate::kinds::canonicalize_proposed_entry_json;

    /// The typed body is the JCS form of itself, byte for byte, and keeps what was sent (a
    /// stored body proposed again, from a real Rekor entry).
    #[test]
    fn the_typed_body_is_canonical_json() {
        let vectors: Value = serde_json::from_str(include_str!(
            "../../tests/data/rekor-v1-hashedrekord-staging-and-production.json"
        ))
        .unwrap();
        for case in ["staging_response", "production_entry"] {
            let sent = &vectors[case]["decoded_body"];
            let entry =
                canonicalize_proposed_entry_json(&serde_json::to_vec(sent).unwrap()).unwrap();
            let reparsed: Value = serde_json::from_slice(&entry.body).unwrap();
            assert_eq!(entry.body, canonical_json(&reparsed).unwrap(), "{case}");
            assert_eq!(&reparsed, sent, "{case}");
        }
    }
}
