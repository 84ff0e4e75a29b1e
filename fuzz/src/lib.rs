//! Helpers shared by the Sigstack fuzz targets in `fuzz_targets/`.
//!
//! Everything here is deterministic: keys are fixed PKCS#8 test keys (generated for this crate,
//! never used anywhere else) and certificates use fixed serials and times, so a crashing input
//! reproduces byte for byte. The test keys sign deterministically (RFC 6979 for ECDSA, as
//! Ed25519 always does): the stack's own `FileSigner` draws a fresh ECDSA nonce per signature,
//! which would make every run build different inputs.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use der::Encode as _;
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;

pub use libfuzzer_sys::arbitrary::{self, Unstructured};

/// Test-only ECDSA P-256 key.
const P256_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgi+BRR0Z6wx7Xw/u3
LlraFP0OwoMSbWoe5FtqJqHIHeihRANCAATlz98WrW8oAylP6+q9C8bd6J68zImO
b92GnR3GFyjayKzs7fVJzWx9t/wmVxTIMKIrtg3OlqTgjGEPtUhD3Oln
-----END PRIVATE KEY-----
";

/// Test-only ECDSA P-384 key.
const P384_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDCq7KJGQrqW8wIuBnLn
hCgRIZA6Vy8/URITsnDmjzvkKq625CfpahIn6OEGp3xaEh2hZANiAATPCscqYZXi
O2cj4K7SwxkgVEbXwbHTTIO0L8z5BHFXjHn4hAaKNDFwy9NqAR3R0i6yZFcD8O3e
e38xTZb6oUxlaTew2eZy9RzSaio6+N8+BHL/+ai1YmjXEj3oq1/Qk3w=
-----END PRIVATE KEY-----
";

/// Test-only Ed25519 key.
const ED25519_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEILTqdEgZCGtsGQO4rHpurVUM+O+LphT7MjtquXVpweI4
-----END PRIVATE KEY-----
";

/// A fixed test key: `FileSigner` for its public key and algorithm, RustCrypto for
/// deterministic signatures.
struct FixedKey {
    public: FileSigner,
    private: PrivateKey,
}

enum PrivateKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for FixedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FixedKey(fuzz test key)")
    }
}

impl Signer for FixedKey {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.public.algorithm()
    }

    fn public_key_der(&self) -> &[u8] {
        self.public.public_key_der()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, sigstack_keys::KeyError> {
        use signature::Signer as _;
        let failed = |e: signature::Error| sigstack_keys::KeyError::Signing(e.to_string());
        Ok(match &self.private {
            PrivateKey::P256(k) => {
                let sig: p256::ecdsa::DerSignature = k.try_sign(message).map_err(failed)?;
                sig.as_bytes().to_vec()
            }
            PrivateKey::P384(k) => {
                let sig: p384::ecdsa::DerSignature = k.try_sign(message).map_err(failed)?;
                sig.as_bytes().to_vec()
            }
            PrivateKey::Ed25519(k) => k.try_sign(message).map_err(failed)?.to_bytes().to_vec(),
        })
    }
}

fn load(pem: &str) -> Arc<dyn Signer> {
    use p256::pkcs8::DecodePrivateKey as _;
    let public = FileSigner::from_pkcs8_pem(pem).expect("fixed fuzz test key loads");
    let private = match public.algorithm() {
        SignatureAlgorithm::EcdsaP256Sha256 => {
            PrivateKey::P256(p256::ecdsa::SigningKey::from_pkcs8_pem(pem).expect("P-256 key"))
        }
        SignatureAlgorithm::EcdsaP384Sha384 => {
            PrivateKey::P384(p384::ecdsa::SigningKey::from_pkcs8_pem(pem).expect("P-384 key"))
        }
        _ => PrivateKey::Ed25519(
            ed25519_dalek::SigningKey::from_pkcs8_pem(pem).expect("Ed25519 key"),
        ),
    };
    Arc::new(FixedKey { public, private })
}

static P256: LazyLock<Arc<dyn Signer>> = LazyLock::new(|| load(P256_PKCS8));
static P384: LazyLock<Arc<dyn Signer>> = LazyLock::new(|| load(P384_PKCS8));
static ED25519: LazyLock<Arc<dyn Signer>> = LazyLock::new(|| load(ED25519_PKCS8));

/// The fixed test signer of `alg`.
#[must_use]
pub fn signer(alg: SignatureAlgorithm) -> Arc<dyn Signer> {
    match alg {
        SignatureAlgorithm::EcdsaP256Sha256 => P256.clone(),
        SignatureAlgorithm::EcdsaP384Sha384 => P384.clone(),
        _ => ED25519.clone(),
    }
}

/// The three key types Sigstack accepts.
pub const ALGORITHMS: [SignatureAlgorithm; 3] = [
    SignatureAlgorithm::EcdsaP256Sha256,
    SignatureAlgorithm::EcdsaP384Sha384,
    SignatureAlgorithm::Ed25519,
];

/// One of [`ALGORITHMS`], chosen by the input.
pub fn pick_algorithm(u: &mut Unstructured<'_>) -> SignatureAlgorithm {
    ALGORITHMS[usize::from(u.arbitrary::<u8>().unwrap_or(0)) % ALGORITHMS.len()]
}

/// 2023-11-14T22:13:20Z, the fixed "now" of every certificate made here.
#[must_use]
pub fn fixed_now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A self-signed certificate for `signer`'s key with the given extensions.
///
/// # Panics
/// If `sigstack-pki` cannot issue it (a bug in the harness or in `sigstack-pki`).
#[must_use]
pub fn self_signed(
    signer: &dyn Signer,
    common_name: &str,
    extensions: Vec<Extension>,
) -> Certificate {
    let name = sigstack_pki::name(&format!("O=sigstack-fuzz,CN={common_name}")).expect("name");
    sigstack_pki::CertificateTemplate {
        serial: SerialNumber::new(&[0x01, 0x23, 0x45]).expect("serial"),
        subject: name.clone(),
        issuer: name,
        not_before: fixed_now(),
        not_after: fixed_now() + Duration::from_secs(10 * 365 * 86400),
        subject_public_key_der: signer.public_key_der().to_vec(),
        extensions,
    }
    .issue(signer)
    .expect("self-signed fuzz certificate")
}

static CERTS: LazyLock<[Vec<u8>; 3]> = LazyLock::new(|| {
    ALGORITHMS.map(|alg| {
        self_signed(signer(alg).as_ref(), "fuzz", Vec::new())
            .to_der()
            .expect("certificate DER")
    })
});

/// DER of a self-signed certificate for the fixed test key of `alg`.
#[must_use]
pub fn certificate_der(alg: SignatureAlgorithm) -> &'static [u8] {
    let i = ALGORITHMS.iter().position(|a| *a == alg).unwrap_or(0);
    &CERTS[i]
}

/// Base64 of `bytes` in one of the four standard/URL-safe, padded/unpadded forms.
pub fn any_base64(u: &mut Unstructured<'_>, bytes: &[u8]) -> String {
    match u.arbitrary::<u8>().unwrap_or(0) % 4 {
        0 => STANDARD.encode(bytes),
        1 => URL_SAFE.encode(bytes),
        2 => STANDARD_NO_PAD.encode(bytes),
        _ => URL_SAFE_NO_PAD.encode(bytes),
    }
}

/// PEM of `der` under `label`, written the many ways real clients write it: any line width,
/// LF or CRLF line endings, whitespace around the block. Go's `pem.Decode` (and therefore
/// Rekor) accepts all of these.
pub fn messy_pem(u: &mut Unstructured<'_>, label: &str, der: &[u8]) -> String {
    let width = 1 + usize::from(u.arbitrary::<u8>().unwrap_or(63) % 96);
    let eol = if u.arbitrary::<bool>().unwrap_or(false) {
        "\r\n"
    } else {
        "\n"
    };
    let pad = |u: &mut Unstructured<'_>| -> String {
        let n = u.arbitrary::<u8>().unwrap_or(0) % 4;
        (0..n)
            .map(|_| [" ", "\n", "\r\n", "\t"][usize::from(u.arbitrary::<u8>().unwrap_or(0) % 4)])
            .collect()
    };
    let body = STANDARD.encode(der);
    let mut out = pad(u);
    out.push_str(&format!("-----BEGIN {label}-----{eol}"));
    for chunk in body.as_bytes().chunks(width) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push_str(eol);
    }
    out.push_str(&format!("-----END {label}-----"));
    if u.arbitrary::<bool>().unwrap_or(true) {
        out.push_str(eol);
    }
    out.push_str(&pad(u));
    out
}

/// The canonical PEM Rekor stores: LF line endings, 64 columns, final newline.
#[must_use]
pub fn canonical_pem(label: &str, der: &[u8]) -> String {
    sigstack_keys::pem_encode(label, der)
}

/// Standard padded base64.
#[must_use]
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Standard padded base64 decoding (panics on bad input: use on values the product wrote).
#[must_use]
pub fn unb64(text: &str) -> Vec<u8> {
    STANDARD
        .decode(text)
        .expect("product output is standard base64")
}

/// Lowercase hex.
#[must_use]
pub fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Check what every accepted Rekor entry must satisfy and return the parsed body: the body is
/// JSON, already in RFC 8785 canonical form, and names the kind and apiVersion reported.
///
/// # Panics
/// When one of those properties does not hold.
#[must_use]
pub fn check_canonical_body(entry: &sigstack_rekor::kinds::CanonicalEntry) -> serde_json::Value {
    let value: serde_json::Value =
        serde_json::from_slice(&entry.body).expect("canonical body is JSON");
    assert_eq!(
        sigstack_rekor::jcs::canonical_json(&value).expect("canonical body re-canonicalizes"),
        entry.body,
        "canonical body is not in RFC 8785 form"
    );
    assert_eq!(value["kind"], entry.kind, "body kind");
    assert_eq!(value["apiVersion"], entry.api_version, "body apiVersion");
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_keys_sign_the_same_bytes_every_time_and_verify() {
        for alg in [
            SignatureAlgorithm::EcdsaP256Sha256,
            SignatureAlgorithm::EcdsaP384Sha384,
            SignatureAlgorithm::Ed25519,
        ] {
            let key = signer(alg);
            let sig = key.sign(b"fuzz input").expect("sign");
            assert_eq!(key.sign(b"fuzz input").expect("sign"), sig, "{alg:?}");
            key.public_key()
                .expect("public key")
                .verify(b"fuzz input", &sig)
                .expect("verifies");
        }
    }
}
