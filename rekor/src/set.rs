//! Rekor v1 signed entry timestamps (SETs): signing and checking them with the log key. Pure:
//! no I/O.
//!
//! The payload a SET signs (the RFC 8785 form of `{body, integratedTime, logID, logIndex}`, as
//! Rekor's `signEntry` builds it) is [`sigstack_tlog::set::set_payload`], which the bundle
//! verifier uses too. Clients (sigstore-python `_internal/set.py`, sigstore-js `tlog/set.ts`)
//! rebuild it from the entry and verify the signature with the trusted-root key.

use sigstack_keys::{KeyError, PublicKey, Signer};
use sigstack_tlog::set::set_payload;

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jcs::canonical_json;

    /// The typed payload is byte for byte the RFC 8785 form of the same members, including
    /// negative and large integers and strings that need escaping.
    #[test]
    fn the_payload_is_the_canonical_json_of_its_members() {
        for (body, time, log_id, index) in [
            ("eyJhIjoxfQ==", 1_700_000_000, "c0d23d6ad406973f", 0),
            ("", -1, "", u64::MAX),
            ("a\"b\\c\u{1}\n\u{7f}é", i64::MIN, "ID\t", 42),
        ] {
            let generic = canonical_json(&serde_json::json!({
                "logIndex": index,
                "logID": log_id,
                "integratedTime": time,
                "body": body,
            }))
            .unwrap();
            assert_eq!(set_payload(body, time, log_id, index).unwrap(), generic);
        }
    }
}
