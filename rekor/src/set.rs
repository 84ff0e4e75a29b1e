//! Rekor v1 signed entry timestamps (SETs). Pure: no I/O.
//!
//! A SET is the log key's signature over the RFC 8785 form of the entry without its
//! `verification` object (Rekor `pkg/api/entries.go` `signEntry`):
//! ```json
//! {"body":"<base64 canonical body>","integratedTime":<unix seconds>,"logID":"<hex SHA-256(SPKI)>","logIndex":<index>}
//! ```
//! Clients (sigstore-python `_internal/set.py`, sigstore-js `tlog/set.ts`) rebuild this payload
//! from the entry and verify the signature with the trusted-root key. It is recomputed on every
//! response, so `integratedTime` must be stored with the entry.

use serde_json::json;
use sigstack_keys::{KeyError, PublicKey, Signer};

use crate::jcs::{JcsError, canonical_json};

/// The canonical payload a SET signs.
///
/// # Errors
/// Never in practice (the value holds only strings and integers); [`JcsError`] otherwise.
pub fn set_payload(
    body_b64: &str,
    integrated_time: i64,
    log_id_hex: &str,
    log_index: u64,
) -> Result<Vec<u8>, JcsError> {
    canonical_json(&json!({
        "body": body_b64,
        "integratedTime": integrated_time,
        "logID": log_id_hex,
        "logIndex": log_index,
    }))
}

/// Sign the SET of the given entry fields with the log key.
///
/// # Errors
/// [`KeyError::Signing`] when the key source fails.
pub fn sign_set(
    signer: &dyn Signer,
    body_b64: &str,
    integrated_time: i64,
    log_id_hex: &str,
    log_index: u64,
) -> Result<Vec<u8>, KeyError> {
    let payload = set_payload(body_b64, integrated_time, log_id_hex, log_index)
        .map_err(|e| KeyError::Signing(e.to_string()))?;
    signer.sign(&payload)
}

/// Verify a SET over the given entry fields.
///
/// # Errors
/// [`KeyError::BadSignature`] / [`KeyError::MalformedSignature`] when it does not verify.
pub fn verify_set(
    log_key: &PublicKey,
    body_b64: &str,
    integrated_time: i64,
    log_id_hex: &str,
    log_index: u64,
    set: &[u8],
) -> Result<(), KeyError> {
    let payload = set_payload(body_b64, integrated_time, log_id_hex, log_index)
        .map_err(|e| KeyError::Signing(e.to_string()))?;
    log_key.verify(&payload, set)
}
