//! Reading a trusted root for verification.
//!
//! The JSON is sigstore protobuf-specs `TrustedRoot` (see `sigstack-trust` for the writer).
//! The reader is deliberately tolerant of fields it does not use (`operator`, `uri`,
//! `checkpointKeyId`, `subject`, future additions), so roots written by other tools verify too;
//! what it uses it checks strictly. Keys of types this crate cannot verify (RSA today) are kept
//! with the reason, so a bundle that needs them fails naming the key, and others still verify.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::{Decode, Encode};
use serde::Deserialize;
use sigstack_keys::PublicKey;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_cert::Certificate;

use crate::VerifyError;

/// Largest trusted root accepted, in bytes.
pub const MAX_TRUSTED_ROOT_BYTES: usize = 4 * 1024 * 1024;

/// A validity window in Unix seconds. A missing start means "never valid" (a trusted root must
/// say from when it trusts a key); a missing end means "still valid". Both ends are inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First valid second, if stated.
    pub start: Option<i64>,
    /// Last valid second, if any.
    pub end: Option<i64>,
}

impl Window {
    /// Whether `t` (Unix seconds) is inside the window.
    #[must_use]
    pub fn contains(&self, t: i64) -> bool {
        self.start.is_some_and(|s| s <= t) && self.end.is_none_or(|e| t <= e)
    }
}

/// A transparency or CT log from the trusted root.
#[derive(Clone, Debug)]
pub struct TrustedLog {
    /// Base URL.
    pub base_url: String,
    /// The key, or why it cannot be used here.
    pub key: Result<PublicKey, String>,
    /// The 32-byte log ID.
    pub log_id: Vec<u8>,
    /// The checkpoint key ID, when stated separately.
    pub checkpoint_key_id: Option<Vec<u8>>,
    /// When the key is valid.
    pub valid_for: Window,
}

/// A certificate authority or timestamp authority from the trusted root.
#[derive(Clone, Debug)]
pub struct TrustedAuthority {
    /// Parsed certificates, issuing certificate first, root last.
    pub chain: Vec<Certificate>,
    /// When the authority is valid.
    pub valid_for: Window,
}

/// A parsed trusted root.
#[derive(Clone, Debug)]
pub struct TrustedRoot {
    /// Transparency logs (Rekor v1 and v2).
    pub tlogs: Vec<TrustedLog>,
    /// Certificate Transparency logs.
    pub ctlogs: Vec<TrustedLog>,
    /// Fulcio-style certificate authorities.
    pub certificate_authorities: Vec<TrustedAuthority>,
    /// RFC 3161 timestamp authorities.
    pub timestamp_authorities: Vec<TrustedAuthority>,
}

/// ```text
/// message TrustedRoot { string media_type = 1; repeated TransparencyLogInstance tlogs = 2;
///   repeated CertificateAuthority certificate_authorities = 3;
///   repeated TransparencyLogInstance ctlogs = 4;
///   repeated CertificateAuthority timestamp_authorities = 5; }
/// ```
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTrustedRoot {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawAuthority>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawAuthority>,
}

/// `TransparencyLogInstance { base_url, hash_algorithm, public_key, log_id, checkpoint_key_id }`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    public_key: RawPublicKey,
    log_id: RawLogId,
    checkpoint_key_id: Option<RawLogId>,
}

/// `PublicKey { raw_bytes, key_details, valid_for }`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPublicKey {
    raw_bytes: Option<String>,
    valid_for: Option<RawTimeRange>,
}

/// `LogId { key_id }`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

/// `TimeRange { start, end }`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimeRange {
    start: Option<String>,
    end: Option<String>,
}

/// `CertificateAuthority { subject, uri, cert_chain, valid_for }`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthority {
    cert_chain: RawChain,
    valid_for: Option<RawTimeRange>,
}

/// `X509CertificateChain { repeated X509Certificate certificates }`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawChain {
    certificates: Vec<RawCertificate>,
}

/// `X509Certificate { bytes raw_bytes }`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCertificate {
    raw_bytes: String,
}

fn bad(message: impl Into<String>) -> VerifyError {
    VerifyError::MalformedTrustedRoot(message.into())
}

impl TrustedRoot {
    /// Parse an untrusted trusted-root JSON document (a `TrustedRoot`, or a `ClientTrustConfig`
    /// holding one).
    ///
    /// # Errors
    /// [`VerifyError::MalformedTrustedRoot`].
    pub fn from_json(unverified: &[u8]) -> Result<Self, VerifyError> {
        if unverified.len() > MAX_TRUSTED_ROOT_BYTES {
            return Err(bad("larger than 4 MiB"));
        }
        let value: serde_json::Value =
            serde_json::from_slice(unverified).map_err(|e| bad(e.to_string()))?;
        let value = match value.get("trustedRoot") {
            Some(inner) => inner.clone(),
            None => value,
        };
        let raw: RawTrustedRoot = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        if !raw
            .media_type
            .starts_with("application/vnd.dev.sigstore.trustedroot")
        {
            return Err(bad(format!("media type {:?}", raw.media_type)));
        }
        Ok(Self {
            tlogs: raw.tlogs.iter().map(log).collect::<Result<_, _>>()?,
            ctlogs: raw.ctlogs.iter().map(log).collect::<Result<_, _>>()?,
            certificate_authorities: raw
                .certificate_authorities
                .iter()
                .map(authority)
                .collect::<Result<_, _>>()?,
            timestamp_authorities: raw
                .timestamp_authorities
                .iter()
                .map(authority)
                .collect::<Result<_, _>>()?,
        })
    }
}

fn log(raw: &RawLog) -> Result<TrustedLog, VerifyError> {
    let key = match &raw.public_key.raw_bytes {
        None => Err("the log has no key bytes".to_string()),
        Some(b64) => {
            let der = STANDARD
                .decode(b64)
                .map_err(|_| bad(format!("key of {} is not base64", raw.base_url)))?;
            PublicKey::from_spki_der(&der).map_err(|e| e.to_string())
        }
    };
    Ok(TrustedLog {
        base_url: raw.base_url.clone(),
        key,
        log_id: STANDARD
            .decode(&raw.log_id.key_id)
            .map_err(|_| bad(format!("log ID of {} is not base64", raw.base_url)))?,
        checkpoint_key_id: raw
            .checkpoint_key_id
            .as_ref()
            .map(|id| STANDARD.decode(&id.key_id))
            .transpose()
            .map_err(|_| {
                bad(format!(
                    "checkpoint key ID of {} is not base64",
                    raw.base_url
                ))
            })?,
        valid_for: window(raw.public_key.valid_for.as_ref())?,
    })
}

fn authority(raw: &RawAuthority) -> Result<TrustedAuthority, VerifyError> {
    let chain = raw
        .cert_chain
        .certificates
        .iter()
        .map(|c| {
            let der = STANDARD
                .decode(&c.raw_bytes)
                .map_err(|_| bad("certificate is not base64"))?;
            Certificate::from_der(&der).map_err(|e| bad(format!("certificate: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if chain.is_empty() {
        return Err(bad("an authority has an empty certificate chain"));
    }
    Ok(TrustedAuthority {
        chain,
        valid_for: window(raw.valid_for.as_ref())?,
    })
}

fn window(raw: Option<&RawTimeRange>) -> Result<Window, VerifyError> {
    let parse = |s: &Option<String>| {
        s.as_deref()
            .map(|t| {
                OffsetDateTime::parse(t, &Rfc3339)
                    .map(OffsetDateTime::unix_timestamp)
                    .map_err(|_| bad(format!("time {t:?} is not RFC 3339")))
            })
            .transpose()
    };
    Ok(match raw {
        None => Window {
            start: None,
            end: None,
        },
        Some(r) => Window {
            start: parse(&r.start)?,
            end: parse(&r.end)?,
        },
    })
}

/// DER of a certificate's SubjectPublicKeyInfo.
pub(crate) fn spki_der(cert: &Certificate) -> Result<Vec<u8>, der::Error> {
    cert.tbs_certificate().subject_public_key_info().to_der()
}
