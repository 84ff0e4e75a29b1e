//! The sigstore JSON request form of `POST /api/v1/timestamp` (what sigstore-js sends).

use base64::Engine as _;
use der::asn1::{Int, ObjectIdentifier, Uint};
use serde::Deserialize;
use sigstack_tsp::{HashAlgorithm, TimeStampReq};

/// Decimal digits accepted in a string nonce (anything below 2^256 fits).
const MAX_NONCE_DIGITS: usize = 77;

/// `{"artifactHash": "<b64 digest>", "hashAlgorithm": "sha256"|"sha384"|"sha512",
///   "nonce"?: <integer or decimal string>, "certificates"?: bool, "tsaPolicyOID"?: "<oid>"}`.
/// Unknown fields are ignored, as the sigstore TSA does.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JsonTimestampRequest {
    artifact_hash: String,
    hash_algorithm: String,
    #[serde(default)]
    nonce: Option<JsonNonce>,
    #[serde(default)]
    certificates: Option<bool>,
    #[serde(default, rename = "tsaPolicyOID")]
    tsa_policy_oid: Option<String>,
}

/// A nonce as a JSON integer (up to 2^64 - 1) or a string of decimal digits.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum JsonNonce {
    Number(u64),
    Decimal(String),
}

impl JsonTimestampRequest {
    /// The equivalent `TimeStampReq` (imprint parameters NULL, `certReq` defaulting to true).
    /// Digest length and algorithm are checked afterwards by `VerifiedRequest`.
    pub(crate) fn into_request(self) -> Result<TimeStampReq, String> {
        let algorithm = HashAlgorithm::from_name(&self.hash_algorithm).ok_or_else(|| {
            format!(
                "unsupported hashAlgorithm {:?} (use sha256, sha384 or sha512)",
                self.hash_algorithm
            )
        })?;
        let digest = base64::engine::general_purpose::STANDARD
            .decode(self.artifact_hash.as_bytes())
            .map_err(|e| format!("artifactHash is not base64: {e}"))?;
        let mut request =
            TimeStampReq::for_digest(algorithm, &digest).map_err(|e| e.to_string())?;
        request.cert_req = self.certificates.unwrap_or(true);
        request.nonce = self.nonce.map(JsonNonce::into_int).transpose()?;
        request.req_policy = match self.tsa_policy_oid.as_deref() {
            None | Some("") => None,
            Some(oid) => Some(
                ObjectIdentifier::new(oid)
                    .map_err(|_| format!("tsaPolicyOID {oid:?} is not an OID"))?,
            ),
        };
        Ok(request)
    }
}

impl JsonNonce {
    fn into_int(self) -> Result<Int, String> {
        let magnitude = match self {
            Self::Number(n) => n.to_be_bytes().to_vec(),
            Self::Decimal(digits) => decimal_to_be_bytes(&digits)?,
        };
        let uint = Uint::new(&magnitude).map_err(|e| format!("nonce: {e}"))?;
        Ok(Int::from(uint))
    }
}

/// Big-endian bytes of a non-negative decimal number.
fn decimal_to_be_bytes(digits: &str) -> Result<Vec<u8>, String> {
    if digits.is_empty()
        || digits.len() > MAX_NONCE_DIGITS
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!(
            "nonce must be a non-negative integer of at most {MAX_NONCE_DIGITS} decimal digits"
        ));
    }
    let mut bytes: Vec<u8> = vec![0];
    for digit in digits.bytes() {
        let mut carry = u16::from(digit - b'0');
        for byte in bytes.iter_mut().rev() {
            let [high, low] = (u16::from(*byte) * 10 + carry).to_be_bytes();
            *byte = low;
            carry = u16::from(high);
        }
        if carry > 0 {
            bytes.insert(0, carry.to_be_bytes()[1]);
        }
    }
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decimal_nonces_convert_exactly() {
        assert_eq!(decimal_to_be_bytes("0").unwrap(), [0]);
        assert_eq!(decimal_to_be_bytes("255").unwrap(), [255]);
        assert_eq!(decimal_to_be_bytes("256").unwrap(), [1, 0]);
        // The vector nonce 0x36A44F9F4A391FD3.
        assert_eq!(
            decimal_to_be_bytes("3937359519792308179").unwrap(),
            [0x36, 0xa4, 0x4f, 0x9f, 0x4a, 0x39, 0x1f, 0xd3]
        );
        // 2^64 does not fit a JSON u64 but is fine as a string.
        assert_eq!(
            decimal_to_be_bytes("18446744073709551616").unwrap(),
            [1, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        for bad in ["", "-1", "12a", "1.5", &"9".repeat(MAX_NONCE_DIGITS + 1)] {
            assert!(decimal_to_be_bytes(bad).is_err(), "{bad}");
        }
    }
}
