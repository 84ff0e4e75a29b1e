//! `intoto` 0.0.2: a DSSE envelope with a public key per signature (`pkg/types/intoto/v0.0.2`).
//!
//! On the wire the envelope's `payload` and each `sig` are base64 of the *base64 text* of the
//! DSSE payload and signature ("double base64"), because the Go model types them
//! `format: byte`. Rekor verifies every signature over PAE(payloadType, payload) with the
//! signature's own key, drops the payload, adds `payloadHash` (SHA-256 of the decoded payload)
//! and keeps the client-computed `hash` of the envelope. Keys are stored as canonical LF PEM
//! (current Rekor normalizes them, sigstore/rekor#1170):
//! ```json
//! {"apiVersion":"0.0.2","kind":"intoto","spec":{"content":{"envelope":{"payloadType":"...",
//!  "signatures":[{"keyid":"...","publicKey":"<b64 PEM>","sig":"<b64 of b64 sig>"}]},
//!  "hash":{"algorithm":"sha256","value":"<hex>"},"payloadHash":{"algorithm":"sha256","value":"<hex>"}}}}
//! ```
//! `keyid` is omitted when empty, like Go's `omitempty`.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sigstack_keys::sha256;

use super::dsse::{
    EnvelopeSignature, check_dsse_limits, in_toto_subject_digests, pae, verify_envelope,
};
use super::encoding::{b64, b64_lenient, b64_std, lower_hex};
use super::material::KeyMaterial;
use super::{CanonicalEntry, EntryError, malformed};

/// The `spec` of an intoto 0.0.2 `ProposedEntry` (`intoto_v0_0_2_schema.json`):
///
/// ```json
/// {"type": "object", "required": ["content"], "properties": {
///   "content": {"type": "object", "properties": {
///     "envelope": {"type": "object", "required": ["payloadType", "signatures"], "properties": {
///       "payload": {"type": "string", "format": "byte", "writeOnly": true},
///       "payloadType": {"type": "string"},
///       "signatures": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
///         "keyid": {"type": "string"},
///         "sig": {"type": "string", "format": "byte"},
///         "publicKey": {"type": "string", "format": "byte"}}}}}},
///     "hash": {"type": "object", "required": ["algorithm", "value"], "properties": {
///       "algorithm": {"type": "string", "enum": ["sha256"]}, "value": {"type": "string"}}},
///     "payloadHash": {"readOnly": true}}}}}
/// ```
#[derive(Debug, Deserialize)]
pub struct IntotoV002Spec {
    /// The envelope and its digest.
    pub content: ContentV002,
}

/// `spec.content`.
#[derive(Debug, Deserialize)]
pub struct ContentV002 {
    /// The signed envelope.
    pub envelope: EnvelopeV002,
    /// SHA-256 of the envelope, computed by the client (Rekor stores it as given).
    pub hash: Option<HashV002>,
}

/// `spec.content.envelope`.
#[derive(Debug, Deserialize)]
pub struct EnvelopeV002 {
    /// Base64 of the DSSE payload's base64 text.
    #[serde(default)]
    pub payload: String,
    /// Payload media type.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The signatures with their keys.
    pub signatures: Vec<SignatureV002>,
}

/// One element of `spec.content.envelope.signatures`.
#[derive(Debug, Deserialize)]
pub struct SignatureV002 {
    /// Optional key hint, stored as given.
    #[serde(default)]
    pub keyid: Option<String>,
    /// Base64 of the DSSE signature's base64 text.
    #[serde(default)]
    pub sig: String,
    /// Base64 PEM public key or certificate.
    #[serde(rename = "publicKey", default)]
    pub public_key: String,
}

/// `spec.content.hash`.
#[derive(Debug, Deserialize)]
pub struct HashV002 {
    /// Must be `sha256`.
    pub algorithm: String,
    /// Lowercase hex.
    pub value: String,
}

/// Verify an intoto 0.0.2 `spec` and build the canonical body.
///
/// # Errors
/// Any [`EntryError`]; [`EntryError::InvalidSignature`] unless every signature verifies and
/// every supplied key verifies a signature.
pub fn canonicalize(unverified_spec: Value) -> Result<CanonicalEntry, EntryError> {
    let unverified: IntotoV002Spec =
        serde_json::from_value(unverified_spec).map_err(malformed("intoto spec"))?;
    let envelope = &unverified.content.envelope;
    if envelope.payload.is_empty() {
        return Err(EntryError::Malformed("missing envelope content".into()));
    }
    if envelope.payload_type.is_empty() {
        return Err(EntryError::Malformed("missing payloadType content".into()));
    }
    let Some(hash) = &unverified.content.hash else {
        return Err(EntryError::Malformed("missing envelope digest".into()));
    };
    if hash.algorithm != "sha256" {
        return Err(EntryError::Malformed(format!(
            "unsupported hash algorithm {:?}",
            hash.algorithm
        )));
    }
    lower_hex("spec.content.hash.value", &hash.value, 32)?;

    let payload_text = utf8(
        b64_std("spec.content.envelope.payload", &envelope.payload)?,
        "payload",
    )?;
    let payload = b64_std("spec.content.envelope.payload (inner)", &payload_text)?;
    check_dsse_limits(envelope.signatures.len(), envelope.signatures.len())?;
    let mut signatures = Vec::with_capacity(envelope.signatures.len());
    let mut keys = Vec::with_capacity(envelope.signatures.len());
    for s in &envelope.signatures {
        if s.sig.is_empty() {
            return Err(EntryError::Malformed("missing signature content".into()));
        }
        if s.public_key.is_empty() {
            return Err(EntryError::Malformed("missing publicKey content".into()));
        }
        let sig_text = utf8(
            b64_std("spec.content.envelope.signatures[].sig", &s.sig)?,
            "sig",
        )?;
        let raw = b64_lenient("spec.content.envelope.signatures[].sig (inner)", &sig_text)?;
        signatures.push(EnvelopeSignature {
            encoded: sig_text,
            raw,
        });
        keys.push(KeyMaterial::from_b64_pem(
            "spec.content.envelope.signatures[].publicKey",
            &s.public_key,
        )?);
    }
    verify_envelope(
        &pae(&envelope.payload_type, &payload),
        &signatures,
        &keys,
        false,
    )?;

    let stored: Vec<Value> = envelope
        .signatures
        .iter()
        .zip(signatures.iter().zip(&keys))
        .map(|(s, (sig, key))| {
            let mut m = Map::new();
            if let Some(keyid) = s.keyid.as_deref().filter(|k| !k.is_empty()) {
                m.insert("keyid".into(), Value::String(keyid.to_owned()));
            }
            m.insert(
                "publicKey".into(),
                Value::String(b64(key.canonical_pem().as_bytes())),
            );
            m.insert("sig".into(), Value::String(b64(sig.encoded.as_bytes())));
            Value::Object(m)
        })
        .collect();
    let body = json!({
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {"content": {
            "envelope": {"payloadType": envelope.payload_type, "signatures": stored},
            "hash": {"algorithm": "sha256", "value": hash.value},
            "payloadHash": {"algorithm": "sha256", "value": hex::encode(sha256(&payload))},
        }},
    });
    let mut entry = CanonicalEntry::from_json("intoto", "0.0.2", &body)?;
    entry.subject_digests = in_toto_subject_digests(&envelope.payload_type, &payload);
    Ok(entry)
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, EntryError> {
    String::from_utf8(bytes)
        .map_err(|_| EntryError::Malformed(format!("decoded {what} is not base64 text")))
}
