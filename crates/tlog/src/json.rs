//! Writing long plain JSON strings (base64, hex) quickly.
//!
//! serde_json looks up every byte of a string in its escape table as it writes it. The log's
//! answers and signed payloads carry kilobytes of base64 per entry (the canonical body, the
//! key or certificate inside it), and that byte loop was ~2 % of the log's CPU per Rekor v1
//! entry. [`serialize_plain_str`] writes a string that needs no escaping as raw JSON instead,
//! after a check that runs a word at a time; the bytes written are the same either way.

use serde::{Serialize as _, Serializer};
use serde_json::value::RawValue;

/// Serialise `value` as a JSON string, for `#[serde(serialize_with = "...")]`: the exact bytes
/// serde_json would write, without its per-byte escape scan when `value` needs no escape.
///
/// A string with no backslash that parses as JSON once quoted holds no `"`, no backslash and
/// no control character, which are all that serde_json escapes, so it is written as it is.
/// Anything else goes through the serializer's own string escaping. Only for values written
/// with serde_json (other serializers would see serde_json's raw-value token).
///
/// # Errors
/// Those of `serializer`.
pub fn serialize_plain_str<S: Serializer>(value: &str, serializer: S) -> Result<S::Ok, S::Error> {
    if !value.contains('\\') {
        let mut quoted = String::with_capacity(value.len() + 2);
        quoted.push('"');
        quoted.push_str(value);
        quoted.push('"');
        if let Ok(raw) = RawValue::from_string(quoted) {
            return raw.serialize(serializer);
        }
    }
    serializer.serialize_str(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Fast<'a> {
        #[serde(serialize_with = "serialize_plain_str")]
        s: &'a str,
    }

    #[derive(serde::Serialize)]
    struct Plain<'a> {
        s: &'a str,
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let long_b64 = "QUJD+/=".repeat(500);
        let cases = [
            "",
            "plain",
            long_b64.as_str(),
            "0123456789abcdef",
            "quote \" inside",
            "back\\slash",
            "\\\"",
            "tab\tnew\nline\r",
            "\u{0}\u{1f}\u{7f}",
            "unicode é ✓ 😀",
            "slash / stays",
            "\"",
            "ends with backslash \\",
        ];
        for case in cases {
            let fast = serde_json::to_string(&Fast { s: case }).unwrap();
            let plain = serde_json::to_string(&Plain { s: case }).unwrap();
            assert_eq!(fast, plain, "{case:?}");
        }
    }
}
