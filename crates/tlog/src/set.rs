//! Rekor v1 signed entry timestamps (SETs): the payload the log key signs for each entry.
//!
//! A SET is the log key's signature over the RFC 8785 form of the entry without its
//! `verification` object:
//! ```json
//! {"body":"<base64 canonical body>","integratedTime":<unix seconds>,"logID":"<hex SHA-256(SPKI)>","logIndex":<index>}
//! ```
//! The log signs it when the entry is sequenced; clients rebuild it from the entry and verify
//! the signature with the log's key from their trusted root.

use serde::Serialize;

use crate::TlogError;

/// The payload with its members in RFC 8785 order (sorted by key), so that plain JSON
/// serialisation of it is the canonical form: integers and the strings of base64 and hex that
/// the members hold need nothing else from RFC 8785.
#[derive(Serialize)]
struct SetPayload<'a> {
    #[serde(serialize_with = "crate::json::serialize_plain_str")]
    body: &'a str,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: &'a str,
    #[serde(rename = "logIndex")]
    log_index: u64,
}

/// The canonical payload a SET signs.
///
/// # Errors
/// [`TlogError::Encoding`], which a payload of strings and integers does not produce in practice.
pub fn set_payload(
    body_b64: &str,
    integrated_time: i64,
    log_id_hex: &str,
    log_index: u64,
) -> Result<Vec<u8>, TlogError> {
    let mut payload = Vec::with_capacity(body_b64.len() + log_id_hex.len() + 96);
    serde_json::to_writer(
        &mut payload,
        &SetPayload {
            body: body_b64,
            integrated_time,
            log_id: log_id_hex,
            log_index,
        },
    )
    .map_err(|e| TlogError::Encoding(e.to_string()))?;
    Ok(payload)
}
