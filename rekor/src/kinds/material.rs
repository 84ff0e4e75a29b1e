//! Verification material supplied in entries: PEM or DER public keys and X.509 certificates,
//! re-encoded the way Rekor stores them.
//!
//! Rekor v1 parses `publicKey.content` / DSSE verifiers with Go's `pem.Decode` (lenient about
//! line endings and line width, surrounding whitespace ignored) and stores the *canonical*
//! PEM: the certificate's DER or the key's SubjectPublicKeyInfo re-encoded with LF line endings
//! and 64-column base64 (`cryptoutils.MarshalCertificateToPEM` / `MarshalPublicKeyToPEM`).
//! Clients rebuild that PEM from the certificate in the bundle and compare, so CRLF input
//! must be stored as LF.

use der::{Decode as _, Encode as _};
use sigstack_keys::{KeyError, PublicKey, pem_encode};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::EntryError;
use super::encoding::b64_std;

/// Whether the material was a bare public key or a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaterialForm {
    /// A DER SubjectPublicKeyInfo (`PUBLIC KEY` PEM block).
    PublicKey,
    /// An X.509 certificate (`CERTIFICATE` PEM block); only its public key is used, the
    /// certificate is not validated (Rekor does not validate it either).
    Certificate,
}

/// A parsed key or certificate from an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyMaterial {
    /// The public key that verifies the entry's signatures.
    pub key: PublicKey,
    /// Key or certificate.
    pub form: MaterialForm,
    /// The DER of the certificate, or of the SubjectPublicKeyInfo.
    pub der: Vec<u8>,
    /// The certificate's email SANs (lowercased) and URI SANs, in certificate order: what the
    /// Rekor v1 search index files the entry under. Empty for a bare key.
    pub subjects: Vec<String>,
}

impl KeyMaterial {
    /// Parse PEM text holding exactly one `CERTIFICATE` or `PUBLIC KEY` block.
    ///
    /// # Errors
    /// [`EntryError::MalformedKey`] for bad PEM/DER, several blocks (certificate chains are not
    /// supported) or another block type; [`EntryError::UnsupportedKey`] for key types other
    /// than ECDSA P-256/P-384/P-521, Ed25519 and RSA 2048–4096.
    pub fn from_pem(unverified_pem: &[u8]) -> Result<Self, EntryError> {
        let text = std::str::from_utf8(unverified_pem)
            .map_err(|_| EntryError::MalformedKey("PEM is not UTF-8".into()))?;
        let (label, der) = decode_single_pem(text)?;
        match label {
            "CERTIFICATE" => Self::from_certificate_der(&der),
            "PUBLIC KEY" => Self::from_spki_der(&der),
            other => Err(EntryError::MalformedKey(format!(
                "unexpected PEM block {other:?}"
            ))),
        }
    }

    /// Parse a base64 field holding PEM (Rekor v1 `publicKey.content`, DSSE `verifiers[i]`).
    ///
    /// # Errors
    /// As [`KeyMaterial::from_pem`], plus [`EntryError::Encoding`].
    pub(crate) fn from_b64_pem(
        field: &'static str,
        unverified_b64: &str,
    ) -> Result<Self, EntryError> {
        Self::from_pem(&b64_std(field, unverified_b64)?)
    }

    /// [`KeyMaterial::from_b64_pem`] that also gives the canonical PEM and its base64, as a
    /// stored body carries them. What clients send is almost always canonical already; then both
    /// are the sent bytes and nothing is re-encoded (standard base64 decodes only its one
    /// canonical encoding, so the sent text is what encoding the PEM would give).
    ///
    /// # Errors
    /// As [`KeyMaterial::from_b64_pem`].
    pub(crate) fn from_b64_pem_with_canonical(
        field: &'static str,
        unverified_b64: String,
    ) -> Result<(Self, StoredPem), EntryError> {
        let sent_pem = b64_std(field, &unverified_b64)?;
        let material = Self::from_pem(&sent_pem)?;
        let stored = match String::from_utf8(sent_pem) {
            Ok(pem) if is_canonical_layout(&pem, material.pem_label(), material.der.len()) => {
                StoredPem {
                    pem,
                    b64: unverified_b64,
                }
            }
            _ => {
                let pem = material.canonical_pem();
                let b64 = super::encoding::b64(pem.as_bytes());
                StoredPem { pem, b64 }
            }
        };
        Ok((material, stored))
    }

    /// Parse a DER X.509 certificate and take its public key.
    ///
    /// # Errors
    /// [`EntryError::MalformedKey`] or [`EntryError::UnsupportedKey`].
    pub fn from_certificate_der(unverified_der: &[u8]) -> Result<Self, EntryError> {
        let cert = Certificate::from_der(unverified_der)
            .map_err(|e| EntryError::MalformedKey(format!("certificate: {e}")))?;
        let spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| EntryError::MalformedKey(format!("certificate key: {e}")))?;
        let key = PublicKey::from_spki_der(&spki).map_err(key_error)?;
        Ok(Self {
            key,
            form: MaterialForm::Certificate,
            der: unverified_der.to_vec(),
            subjects: certificate_subjects(&cert),
        })
    }

    /// Parse a DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// [`EntryError::MalformedKey`] or [`EntryError::UnsupportedKey`].
    pub fn from_spki_der(unverified_der: &[u8]) -> Result<Self, EntryError> {
        let key = PublicKey::from_spki_der(unverified_der).map_err(key_error)?;
        Ok(Self {
            der: key.spki_der().to_vec(),
            key,
            form: MaterialForm::PublicKey,
            subjects: Vec::new(),
        })
    }

    /// The canonical PEM Rekor v1 stores: LF line endings, 64-column base64, final newline.
    #[must_use]
    pub fn canonical_pem(&self) -> String {
        pem_encode(self.pem_label(), &self.der)
    }

    fn pem_label(&self) -> &'static str {
        match self.form {
            MaterialForm::PublicKey => "PUBLIC KEY",
            MaterialForm::Certificate => "CERTIFICATE",
        }
    }
}

/// The canonical PEM of an entry's key or certificate and the standard base64 of that PEM.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct StoredPem {
    /// LF line endings, 64-column base64, final newline.
    pub pem: String,
    /// What `publicKey.content` holds in the stored body.
    pub b64: String,
}

/// Whether `pem`, which [`decode_single_pem`] decoded into `der_len` bytes under `label`, is
/// byte for byte what [`KeyMaterial::canonical_pem`] writes: the BEGIN line, the base64 in
/// lines of 64 characters (the last one 1 to 64), the END line, each ended by one LF, nothing
/// around them. The base64 itself needs no check: it decoded strictly, so it is the one
/// canonical encoding of the DER, and with exactly as many bytes as that encoding plus its line
/// ends, and an LF at every line end, no other whitespace is left. (That DER is what
/// [`KeyMaterial::der`] holds: both forms keep the sent DER, never a re-encoding of it.)
fn is_canonical_layout(pem: &str, label: &str, der_len: usize) -> bool {
    let Some(body) = pem
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.strip_prefix(label))
        .and_then(|rest| rest.strip_prefix("-----\n"))
        .and_then(|rest| rest.strip_suffix("-----\n"))
        .and_then(|rest| rest.strip_suffix(label))
        .and_then(|rest| rest.strip_suffix("-----END "))
    else {
        return false;
    };
    let encoded = der_len.div_ceil(3) * 4;
    let lines = encoded.div_ceil(64);
    let body = body.as_bytes();
    body.len() == encoded + lines
        && (0..lines).all(|i| body[(i * 65 + 64).min(body.len() - 1)] == b'\n')
}

/// The email SANs (lowercased) and URI SANs of `cert`, in certificate order; empty when it has
/// no SubjectAltName extension or a malformed one.
pub(crate) fn certificate_subjects(cert: &Certificate) -> Vec<String> {
    let Ok(Some(san)) = cert.tbs_certificate().get_extension::<SubjectAltName>() else {
        return Vec::new();
    };
    san.1
        .0
        .iter()
        .filter_map(|name| match name {
            GeneralName::Rfc822Name(email) => Some(email.as_str().to_ascii_lowercase()),
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.as_str().to_string()),
            _ => None,
        })
        .collect()
}

/// Map key-parsing failures onto entry errors.
pub(crate) fn key_error(e: KeyError) -> EntryError {
    match e {
        KeyError::UnsupportedKey(why) => EntryError::UnsupportedKey(why),
        other => EntryError::MalformedKey(other.to_string()),
    }
}

/// Decode one PEM block the way Go's `pem.Decode` does for our purposes: surrounding
/// whitespace ignored, any line ending and line width, base64 body with whitespace removed.
/// Anything but whitespace after the block is refused (Rekor would treat a second block as a
/// certificate chain, which this log does not accept).
pub(crate) fn decode_single_pem(text: &str) -> Result<(&str, Vec<u8>), EntryError> {
    let bad = |why: &str| EntryError::MalformedKey(format!("invalid PEM: {why}"));
    let text = text.trim();
    let rest = text
        .strip_prefix("-----BEGIN ")
        .ok_or_else(|| bad("missing BEGIN line"))?;
    let (label, rest) = rest
        .split_once("-----")
        .ok_or_else(|| bad("unterminated BEGIN line"))?;
    if label.is_empty() || label.contains(['\r', '\n']) {
        return Err(bad("bad block label"));
    }
    let end_line = format!("-----END {label}-----");
    let (body, after) = rest
        .split_once(&end_line)
        .ok_or_else(|| bad("missing END line"))?;
    if !after.trim().is_empty() {
        return Err(if after.contains("-----BEGIN") {
            EntryError::MalformedKey(
                "certificate chains and multiple PEM blocks are not supported".into(),
            )
        } else {
            bad("trailing data after END line")
        });
    }
    if body.contains(':') {
        return Err(bad("PEM headers are not supported"));
    }
    // Whole lines at a time: a byte-by-byte filter was ~1 % of the log's CPU per v1 entry.
    let mut b64 = Vec::with_capacity(body.len());
    for line in body.split_ascii_whitespace() {
        b64.extend_from_slice(line.as_bytes());
    }
    let der = b64_std("PEM body", &b64).map_err(|_| bad("body is not base64"))?;
    if der.is_empty() {
        return Err(bad("empty body"));
    }
    Ok((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer as _};

    fn key_pem() -> (String, Vec<u8>) {
        let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key");
        (
            pem_encode("PUBLIC KEY", signer.public_key_der()),
            signer.public_key_der().to_vec(),
        )
    }

    #[test]
    fn crlf_and_odd_widths_canonicalize_to_lf_pem() {
        let (pem, der) = key_pem();
        let crlf = format!("\r\n  {}\r\n", pem.replace('\n', "\r\n"));
        let wide: String = {
            let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----")
        };
        for input in [pem.clone(), crlf, wide] {
            let m = KeyMaterial::from_pem(input.as_bytes()).expect("parses");
            assert_eq!(m.form, MaterialForm::PublicKey);
            assert_eq!(m.der, der);
            assert_eq!(m.canonical_pem(), pem, "canonical form of {input:?}");
            assert!(!m.canonical_pem().contains('\r'));
        }
    }

    #[test]
    fn canonical_layout_is_recognised_at_every_length() {
        for len in 1..=200 {
            let der: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            for label in ["CERTIFICATE", "PUBLIC KEY"] {
                let pem = pem_encode(label, &der);
                assert!(is_canonical_layout(&pem, label, len), "{len} {label}");
                let other = if label == "CERTIFICATE" {
                    "PUBLIC KEY"
                } else {
                    "CERTIFICATE"
                };
                assert!(!is_canonical_layout(&pem, other, len));
                assert!(!is_canonical_layout(&pem, label, len + 3));
                for variant in [
                    pem.replace('\n', "\r\n"),
                    pem.trim_end().to_string(),
                    format!(" {pem}"),
                    format!("{pem}\n"),
                ] {
                    assert!(!is_canonical_layout(&variant, label, len), "{variant:?}");
                }
            }
        }
    }

    /// Canonical PEM passes through as sent; anything else comes back re-encoded, the same as
    /// encoding it from scratch would give.
    #[test]
    fn stored_pem_is_the_canonical_one_whatever_was_sent() {
        let (pem, der) = key_pem();
        let b64 = |text: &str| super::super::encoding::b64(text.as_bytes());
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let wide = format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n");
        let width_76: String = {
            let chars: Vec<char> = body.chars().collect();
            let lines: Vec<String> = chars.chunks(76).map(|c| c.iter().collect()).collect();
            format!(
                "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
                lines.join("\n")
            )
        };
        let crlf = pem.replace('\n', "\r\n");
        let no_final_newline = pem.trim_end().to_string();
        for sent in [pem.clone(), wide, width_76, crlf, no_final_newline] {
            let (material, stored) =
                KeyMaterial::from_b64_pem_with_canonical("f", b64(&sent)).expect("parses");
            assert_eq!(material.der, der);
            assert_eq!(stored.pem, material.canonical_pem(), "{sent:?}");
            assert_eq!(stored.pem, pem);
            assert_eq!(stored.b64, b64(&pem), "{sent:?}");
        }
    }

    #[test]
    fn refuses_chains_garbage_and_other_blocks() {
        let (pem, _) = key_pem();
        let two = format!("{pem}{pem}");
        let err = KeyMaterial::from_pem(two.as_bytes()).expect_err("chain");
        assert!(err.to_string().contains("chains"), "{err}");
        assert!(KeyMaterial::from_pem(b"hello").is_err());
        assert!(KeyMaterial::from_pem(format!("{pem}junk").as_bytes()).is_err());
        let other = pem.replace("PUBLIC KEY", "PRIVATE KEY");
        assert!(KeyMaterial::from_pem(other.as_bytes()).is_err());
        let broken = pem.replace("-----END PUBLIC KEY-----", "-----END CERTIFICATE-----");
        assert!(KeyMaterial::from_pem(broken.as_bytes()).is_err());
        assert!(KeyMaterial::from_pem(&[0xff, 0xfe]).is_err());
    }
}
