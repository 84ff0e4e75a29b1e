//! Base64 and hex decoding of untrusted fields, with the leniency each wire format allows.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use super::EntryError;

/// Standard padded base64 (Go `strfmt.Base64` / `encoding/base64.StdEncoding`, what Rekor v1's
/// `format: byte` fields use).
pub(crate) fn b64_std(
    field: &'static str,
    unverified: impl AsRef<[u8]>,
) -> Result<Vec<u8>, EntryError> {
    STANDARD
        .decode(unverified)
        .map_err(|_| EntryError::Encoding {
            field,
            encoding: "base64",
        })
}

/// Standard or URL-safe base64, padded or not: what protobuf JSON `bytes` fields accept, and
/// what DSSE implementations accept for `payload` and `sig`.
pub(crate) fn b64_lenient(field: &'static str, unverified: &str) -> Result<Vec<u8>, EntryError> {
    [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(unverified).ok())
        .ok_or(EntryError::Encoding {
            field,
            encoding: "base64",
        })
}

/// Standard padded base64 encoding.
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Lowercase hex of exactly `len` bytes (Rekor hash values: `govalidator.IsHash` accepts
/// lowercase only).
pub(crate) fn lower_hex(
    field: &'static str,
    unverified: &str,
    len: usize,
) -> Result<Vec<u8>, EntryError> {
    let bad = || EntryError::Encoding {
        field,
        encoding: "lowercase hex of the hash length",
    };
    if unverified.len() != 2 * len
        || !unverified
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(bad());
    }
    hex::decode(unverified).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_base64_accepts_every_alphabet_and_padding() {
        let want = vec![0xfb, 0xff, 0x01];
        for s in ["+/8B", "-_8B"] {
            assert_eq!(b64_lenient("f", s).expect("decodes"), want);
        }
        assert_eq!(b64_lenient("f", "+w==").expect("padded"), vec![0xfb]);
        assert_eq!(b64_lenient("f", "+w").expect("unpadded"), vec![0xfb]);
        assert!(b64_lenient("f", "*").is_err());
        assert!(b64_std("f", "-_8B").is_err());
        assert!(b64_std("f", "+w").is_err());
    }

    /// What decodes as standard base64 is the one encoding of its bytes (hashedrekord stores
    /// the sent signature text on that ground).
    #[test]
    fn standard_base64_decodes_only_its_canonical_encoding() {
        for ok in ["+w==", "+/8=", "+/8B", ""] {
            assert_eq!(b64(&b64_std("f", ok).expect(ok)), ok);
        }
        for refused in ["+x==", "+w", "+w=", "+/9=", "+/8B\n", " +/8B", "+/8B===="] {
            assert!(b64_std("f", refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn hex_must_be_lowercase_and_exact_length() {
        assert_eq!(lower_hex("h", "00ff", 2).expect("ok"), vec![0, 255]);
        assert!(lower_hex("h", "00FF", 2).is_err());
        assert!(lower_hex("h", "00ff00", 2).is_err());
        assert!(lower_hex("h", "0g", 1).is_err());
    }
}
