//! RFC 8785 (JSON Canonicalization Scheme) output for the JSON values Rekor signs and stores.
//!
//! Rekor canonicalizes entry bodies and the signed-entry-timestamp payload with JCS. Every
//! value we canonicalize is built by this crate and holds only objects, arrays, strings,
//! integers and booleans. For such values JCS reduces to:
//! - object members sorted by key (RFC 8785 §3.2.3 sorts by UTF-16 code units; for the ASCII
//!   keys used here that is plain byte order, which is what `serde_json::Map` keeps as long as
//!   serde_json's `preserve_order` feature is off — a unit test pins that);
//! - no insignificant whitespace;
//! - strings escaped minimally (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other controls as
//!   lowercase `\u00xx`, everything else literal), which is exactly serde_json's escaping;
//! - integers in plain decimal.
//!
//! Floating-point numbers would need the ECMAScript number formatting of RFC 8785 §3.2.2.3,
//! so they are refused rather than printed differently.

use serde_json::Value;

/// Why a value cannot be canonicalized.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JcsError {
    /// The value holds a non-integer number, which this encoder does not format.
    #[error("non-integer number {0} cannot be canonicalized")]
    NonIntegerNumber(String),
    /// serde_json failed to write the value (not expected for in-memory values).
    #[error("JSON encoding failed: {0}")]
    Encode(String),
}

/// The RFC 8785 canonical bytes of `value`.
///
/// # Errors
/// [`JcsError::NonIntegerNumber`] if `value` contains a floating-point number.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, JcsError> {
    check_numbers(value)?;
    serde_json::to_vec(value).map_err(|e| JcsError::Encode(e.to_string()))
}

fn check_numbers(value: &Value) -> Result<(), JcsError> {
    match value {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => {
            Err(JcsError::NonIntegerNumber(n.to_string()))
        }
        Value::Array(items) => items.iter().try_for_each(check_numbers),
        Value::Object(members) => members.values().try_for_each(check_numbers),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_sorted_whatever_the_insertion_order() {
        // Insert in reverse order: with serde_json's `preserve_order` feature this would print
        // "z" first and the test would fail.
        let mut map = serde_json::Map::new();
        map.insert("zeta".into(), json!(1));
        map.insert("logIndex".into(), json!(2));
        map.insert("logID".into(), json!("x"));
        map.insert("body".into(), json!({"b": true, "a": [3, "\u{7f}é"]}));
        let out = canonical_json(&Value::Object(map)).expect("canonical");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "{\"body\":{\"a\":[3,\"\u{7f}é\"],\"b\":true},\"logID\":\"x\",\"logIndex\":2,\"zeta\":1}"
        );
    }

    #[test]
    fn strings_use_rfc8785_escaping() {
        let v = json!({"s": "quote\" backslash\\ nl\n tab\t ctl\u{1} slash/ bs\u{8} ff\u{c} cr\r"});
        let out = String::from_utf8(canonical_json(&v).expect("canonical")).expect("utf8");
        assert_eq!(
            out,
            r#"{"s":"quote\" backslash\\ nl\n tab\t ctl\u0001 slash/ bs\b ff\f cr\r"}"#
        );
    }

    #[test]
    fn integers_print_plainly_and_floats_are_refused() {
        let v = json!({"a": -5, "b": u64::MAX, "c": 0});
        assert_eq!(
            canonical_json(&v).expect("canonical"),
            format!("{{\"a\":-5,\"b\":{},\"c\":0}}", u64::MAX).into_bytes()
        );
        assert!(matches!(
            canonical_json(&json!({"f": 1.5})),
            Err(JcsError::NonIntegerNumber(_))
        ));
        assert!(canonical_json(&json!([[{"f": 0.25}]])).is_err());
    }
}
