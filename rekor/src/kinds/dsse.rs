//! DSSE (Dead Simple Signing Envelope) v1 helpers shared by the dsse, intoto and Rekor v2 kinds.
//!
//! Signatures are made over the pre-authentication encoding (DSSE `protocol.md`):
//! ```text
//! PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//! ```
//! with `LEN` the ASCII decimal byte length and `body` the *decoded* payload.

use super::EntryError;
use super::material::KeyMaterial;

/// Most signatures one DSSE envelope may carry. Real envelopes have one; the bound keeps an
/// attacker from making the log try every key against every signature (n × m verifications).
pub const MAX_DSSE_SIGNATURES: usize = 8;
/// Most verifiers (keys or certificates) one DSSE entry may supply.
pub const MAX_DSSE_VERIFIERS: usize = 8;

/// Refuse envelopes beyond [`MAX_DSSE_SIGNATURES`] / [`MAX_DSSE_VERIFIERS`] before any key is
/// parsed or any signature checked.
///
/// # Errors
/// [`EntryError::Malformed`] naming the limit.
pub fn check_dsse_limits(signatures: usize, verifiers: usize) -> Result<(), EntryError> {
    if signatures > MAX_DSSE_SIGNATURES {
        return Err(EntryError::Malformed(format!(
            "{signatures} DSSE signatures exceed the limit of {MAX_DSSE_SIGNATURES}"
        )));
    }
    if verifiers > MAX_DSSE_VERIFIERS {
        return Err(EntryError::Malformed(format!(
            "{verifiers} DSSE verifiers exceed the limit of {MAX_DSSE_VERIFIERS}"
        )));
    }
    Ok(())
}

/// The DSSE payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Most statement subject digests filed as search keys for one entry.
pub const MAX_INDEXED_SUBJECT_DIGESTS: usize = 8;

/// `"<algorithm>:<digest>"` for each subject digest of the in-toto statement in a verified
/// payload, in statement order, at most [`MAX_INDEXED_SUBJECT_DIGESTS`]. Empty for other
/// payload types or a payload that is not a statement (the entry is still logged: Rekor does
/// not require DSSE payloads to be statements). The in-toto Statement (v0.1 and v1):
///
/// ```json
/// {"_type": "https://in-toto.io/Statement/v1",
///  "subject": [{"name": "<string>", "digest": {"<algorithm>": "<hex>", ...}}, ...],
///  "predicateType": "<URI>", "predicate": {...}}
/// ```
#[must_use]
pub fn in_toto_subject_digests(payload_type: &str, verified_payload: &[u8]) -> Vec<String> {
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Vec::new();
    }
    let Ok(statement) = serde_json::from_slice::<serde_json::Value>(verified_payload) else {
        return Vec::new();
    };
    statement["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|subject| subject["digest"].as_object())
        .flatten()
        .filter_map(|(algorithm, digest)| Some(format!("{algorithm}:{}", digest.as_str()?)))
        .take(MAX_INDEXED_SUBJECT_DIGESTS)
        .collect()
}

/// The DSSE v1 pre-authentication encoding of a payload.
#[must_use]
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// One envelope signature: its text as it appeared in the envelope, and its decoded bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EnvelopeSignature {
    /// The `sig` string from the envelope, verbatim.
    pub(crate) encoded: String,
    /// The decoded signature bytes.
    pub(crate) raw: Vec<u8>,
}

/// Check every signature of an envelope against the supplied keys, the way Rekor's
/// `verifyEnvelope` does: keys are tried in order; each key tried must verify at least one
/// signature; once every signature is covered, remaining keys are ignored when
/// `stop_when_covered` (dsse 0.0.1) or still required to verify one (intoto 0.0.2).
///
/// Returns, for each signature, the index of the first key that verified it.
pub(crate) fn verify_envelope(
    pae: &[u8],
    signatures: &[EnvelopeSignature],
    keys: &[KeyMaterial],
    stop_when_covered: bool,
) -> Result<Vec<usize>, EntryError> {
    if signatures.is_empty() {
        return Err(EntryError::Malformed(
            "DSSE envelope must contain 1 or more signatures".into(),
        ));
    }
    check_dsse_limits(signatures.len(), keys.len())?;
    let mut verified_by: Vec<Option<usize>> = vec![None; signatures.len()];
    for (k, material) in keys.iter().enumerate() {
        if stop_when_covered && verified_by.iter().all(Option::is_some) {
            break;
        }
        let mut any = false;
        for (s, sig) in signatures.iter().enumerate() {
            if material.key.verify(pae, &sig.raw).is_ok() {
                any = true;
                verified_by[s].get_or_insert(k);
            }
        }
        if !any {
            return Err(EntryError::InvalidSignature(format!(
                "verifier {k} does not verify any envelope signature"
            )));
        }
    }
    verified_by
        .into_iter()
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| {
            EntryError::InvalidSignature("all signatures must have a key that verifies it".into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // protocol.md test vector: type "http://example.com/HelloWorld", payload "hello world".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }
}
