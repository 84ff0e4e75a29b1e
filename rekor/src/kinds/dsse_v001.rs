//! `dsse` 0.0.1: a DSSE envelope verified against supplied keys (`pkg/types/dsse/v0.0.1`).
//!
//! The envelope and payload are not stored. The canonical body holds the SHA-256 of the
//! envelope *text as submitted* (`envelopeHash`), the SHA-256 of the decoded payload
//! (`payloadHash`), and one `{signature, verifier}` per distinct envelope signature, sorted by
//! the signature string, where `verifier` is the base64 canonical PEM of the key that verified it:
//! ```json
//! {"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash":{"algorithm":"sha256","value":"<hex>"},
//!  "payloadHash":{"algorithm":"sha256","value":"<hex>"},
//!  "signatures":[{"signature":"<sig as in envelope>","verifier":"<b64 PEM>"}]}}
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use sigstack_keys::sha256;

use super::dsse::{
    EnvelopeSignature, check_dsse_limits, in_toto_subject_digests, pae, verify_envelope,
};
use super::encoding::{b64, b64_lenient};
use super::material::KeyMaterial;
use super::{CanonicalEntry, EntryError, malformed};

/// The `spec` of a dsse 0.0.1 `ProposedEntry` (`dsse_v0_0_1_schema.json`, request side):
///
/// ```json
/// {"type": "object", "properties": {
///   "proposedContent": {"type": "object", "writeOnly": true,
///     "required": ["envelope", "verifiers"], "properties": {
///       "envelope": {"type": "string", "writeOnly": true,
///         "description": "DSSE envelope specified as a stringified JSON object"},
///       "verifiers": {"type": "array", "minItems": 1, "writeOnly": true,
///         "items": {"type": "string", "format": "byte",
///                   "description": "PEM public key or certificate, base64"}}}},
///   "signatures": {"readOnly": true}, "envelopeHash": {"readOnly": true},
///   "payloadHash": {"readOnly": true}}}
/// ```
/// Server-computed (`readOnly`) fields must not be supplied with `proposedContent`.
#[derive(Debug, Deserialize)]
pub struct DsseV001Spec {
    /// The envelope and the keys that verify it.
    #[serde(rename = "proposedContent")]
    pub proposed_content: Option<ProposedContent>,
    /// Server-computed; refused on input.
    pub signatures: Option<Value>,
    /// Server-computed; refused on input.
    #[serde(rename = "envelopeHash")]
    pub envelope_hash: Option<Value>,
    /// Server-computed; refused on input.
    #[serde(rename = "payloadHash")]
    pub payload_hash: Option<Value>,
}

/// `spec.proposedContent`.
#[derive(Debug, Deserialize)]
pub struct ProposedContent {
    /// The DSSE envelope as JSON text.
    pub envelope: String,
    /// Base64 PEM keys or certificates.
    pub verifiers: Vec<String>,
}

/// A DSSE envelope (`envelope.proto` JSON form, as Go's `dsse.Envelope` reads it):
///
/// ```json
/// {"payload": "<base64>", "payloadType": "<string>",
///  "signatures": [{"keyid": "<string>", "sig": "<base64>"}]}
/// ```
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// Base64 payload.
    #[serde(default)]
    pub payload: String,
    /// Payload media type.
    #[serde(rename = "payloadType", default)]
    pub payload_type: String,
    /// Signatures over PAE(payloadType, payload).
    #[serde(default)]
    pub signatures: Vec<EnvelopeSignatureJson>,
}

/// One signature of an [`Envelope`].
#[derive(Debug, Deserialize)]
pub struct EnvelopeSignatureJson {
    /// Optional key hint (unused by verification).
    #[serde(default)]
    pub keyid: Option<String>,
    /// Base64 signature.
    pub sig: String,
}

/// Verify a dsse 0.0.1 `spec` and build the canonical body.
///
/// # Errors
/// Any [`EntryError`]; [`EntryError::InvalidSignature`] unless every envelope signature verifies
/// with a supplied verifier.
pub fn canonicalize(unverified_spec: Value) -> Result<CanonicalEntry, EntryError> {
    let unverified: DsseV001Spec =
        serde_json::from_value(unverified_spec).map_err(malformed("dsse spec"))?;
    let Some(proposed) = unverified.proposed_content else {
        return Err(EntryError::Malformed("missing proposedContent".into()));
    };
    if unverified.signatures.is_some()
        || unverified.envelope_hash.is_some()
        || unverified.payload_hash.is_some()
    {
        return Err(EntryError::Malformed(
            "either proposedContent or envelopeHash, payloadHash, and signatures must be present but not both".into(),
        ));
    }
    if proposed.envelope.is_empty() {
        return Err(EntryError::Malformed(
            "missing proposed DSSE envelope".into(),
        ));
    }
    if proposed.verifiers.is_empty() {
        return Err(EntryError::Malformed("missing proposed verifiers".into()));
    }
    let unverified_envelope: Envelope =
        serde_json::from_str(&proposed.envelope).map_err(malformed("proposedContent.envelope"))?;
    check_dsse_limits(
        unverified_envelope.signatures.len(),
        proposed.verifiers.len(),
    )?;
    let payload = b64_lenient("envelope.payload", &unverified_envelope.payload)?;
    let signatures = unverified_envelope
        .signatures
        .iter()
        .map(|s| {
            Ok(EnvelopeSignature {
                encoded: s.sig.clone(),
                raw: b64_lenient("envelope.signatures[].sig", &s.sig)?,
            })
        })
        .collect::<Result<Vec<_>, EntryError>>()?;
    let keys = proposed
        .verifiers
        .iter()
        .map(|v| KeyMaterial::from_b64_pem("proposedContent.verifiers[]", v))
        .collect::<Result<Vec<_>, EntryError>>()?;

    let message = pae(&unverified_envelope.payload_type, &payload);
    let verified_by = verify_envelope(&message, &signatures, &keys, true)?;

    // One record per distinct signature string, sorted by it (Go: map keyed by sig, sort.Strings).
    let mut by_sig: BTreeMap<&str, &KeyMaterial> = BTreeMap::new();
    for (sig, &k) in signatures.iter().zip(&verified_by) {
        by_sig.entry(sig.encoded.as_str()).or_insert(&keys[k]);
    }
    let records: Vec<Value> = by_sig
        .into_iter()
        .map(
            |(sig, key)| json!({"signature": sig, "verifier": b64(key.canonical_pem().as_bytes())}),
        )
        .collect();
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hex::encode(sha256(proposed.envelope.as_bytes()))},
            "payloadHash": {"algorithm": "sha256", "value": hex::encode(sha256(&payload))},
            "signatures": records,
        },
    });
    let mut entry = CanonicalEntry::from_json("dsse", "0.0.1", &body)?;
    entry.subject_digests = in_toto_subject_digests(&unverified_envelope.payload_type, &payload);
    Ok(entry)
}
