//! Sigstore client trust material: `TrustedRoot`, `SigningConfig` v0.2 and `ClientTrustConfig`,
//! in the protobuf-JSON form the clients parse strictly (camelCase names, bytes as standard
//! base64, no unknown fields, RFC 3339 timestamps).
//!
//! Protocol layer only: no I/O beyond what the caller does with the JSON.
//! Definitions follow sigstore protobuf-specs `sigstore_trustroot.proto`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Media type of a trusted root. Clients reject other versions (v0.2 parses in sigstore-python
/// but is refused when verifying).
pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
/// Media type of a v0.2 signing config.
pub const SIGNING_CONFIG_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";
/// Media type of a client trust config.
pub const CLIENT_TRUST_CONFIG_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json";

/// Errors from building trust material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A timestamp could not be formatted.
    #[error("time formatting: {0}")]
    Time(String),
    /// JSON (de)serialization failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// ```text
/// message TrustedRoot {
///   string media_type = 1;
///   repeated TransparencyLogInstance tlogs = 2;
///   repeated CertificateAuthority certificate_authorities = 3;
///   repeated TransparencyLogInstance ctlogs = 4;
///   repeated CertificateAuthority timestamp_authorities = 5;
/// }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustedRoot {
    /// Always [`TRUSTED_ROOT_MEDIA_TYPE`].
    pub media_type: String,
    /// Transparency logs (Rekor v1 and v2).
    pub tlogs: Vec<TransparencyLogInstance>,
    /// Fulcio-style certificate authorities.
    pub certificate_authorities: Vec<CertificateAuthority>,
    /// Certificate Transparency logs.
    pub ctlogs: Vec<TransparencyLogInstance>,
    /// RFC 3161 timestamp authorities.
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

/// ```text
/// message TransparencyLogInstance {
///   string base_url = 1;
///   HashAlgorithm hash_algorithm = 2;
///   PublicKey public_key = 3;
///   LogId log_id = 4;
///   LogId checkpoint_key_id = 5;
///   string operator = 6;
/// }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransparencyLogInstance {
    /// Base URL of the log.
    pub base_url: String,
    /// Always `SHA2_256`.
    pub hash_algorithm: String,
    /// The log's key.
    pub public_key: PublicKey,
    /// The log's ID.
    pub log_id: LogId,
}

/// ```text
/// message PublicKey { optional bytes raw_bytes = 1; PublicKeyDetails key_details = 2; optional TimeRange valid_for = 3; }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublicKey {
    /// Base64 of the DER SubjectPublicKeyInfo.
    pub raw_bytes: String,
    /// For example `PKIX_ECDSA_P256_SHA_256` or `PKIX_ED25519`.
    pub key_details: String,
    /// When the key is valid.
    pub valid_for: TimeRange,
}

/// ```text
/// message LogId { bytes key_id = 1; }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogId {
    /// Base64 of the 32-byte log ID.
    pub key_id: String,
}

/// ```text
/// message TimeRange { google.protobuf.Timestamp start = 1; optional google.protobuf.Timestamp end = 2; }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeRange {
    /// RFC 3339 start.
    pub start: String,
    /// RFC 3339 end, absent while current.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end: Option<String>,
}

impl TimeRange {
    /// The range from `start` to `end` (open-ended without `end`).
    ///
    /// # Errors
    /// Fails only if a time cannot be formatted.
    pub fn new(start: OffsetDateTime, end: Option<OffsetDateTime>) -> Result<Self, TrustError> {
        Ok(Self {
            start: rfc3339(start)?,
            end: end.map(rfc3339).transpose()?,
        })
    }
}

/// ```text
/// message CertificateAuthority {
///   DistinguishedName subject = 1; string uri = 2;
///   X509CertificateChain cert_chain = 3; TimeRange valid_for = 4;
/// }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateAuthority {
    /// Subject of the authority (both fields required by sigstore-python).
    pub subject: DistinguishedName,
    /// Where the authority is reached.
    pub uri: String,
    /// The chain, issuing certificate first, root last.
    pub cert_chain: CertificateChain,
    /// When the authority is valid.
    pub valid_for: TimeRange,
}

/// ```text
/// message DistinguishedName { string organization = 1; string common_name = 2; }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DistinguishedName {
    /// `O=`.
    pub organization: String,
    /// `CN=`.
    pub common_name: String,
}

/// ```text
/// message X509CertificateChain { repeated X509Certificate certificates = 1; }
/// message X509Certificate { bytes raw_bytes = 1; }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateChain {
    /// Certificates, each `{"rawBytes": base64 DER}`.
    pub certificates: Vec<RawCertificate>,
}

/// One DER certificate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawCertificate {
    /// Base64 of the DER certificate.
    pub raw_bytes: String,
}

/// ```text
/// message SigningConfig {
///   string media_type = 5;
///   repeated Service ca_urls = 6; repeated Service oidc_urls = 7;
///   repeated Service rekor_tlog_urls = 8; ServiceConfiguration rekor_tlog_config = 9;
///   repeated Service tsa_urls = 10; ServiceConfiguration tsa_config = 11;
/// }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SigningConfig {
    /// Always [`SIGNING_CONFIG_MEDIA_TYPE`].
    pub media_type: String,
    /// Fulcio instances.
    pub ca_urls: Vec<Service>,
    /// OIDC providers for interactive sign-in.
    pub oidc_urls: Vec<Service>,
    /// Rekor instances.
    pub rekor_tlog_urls: Vec<Service>,
    /// How many Rekor instances to use.
    pub rekor_tlog_config: ServiceConfiguration,
    /// Timestamp authorities.
    pub tsa_urls: Vec<Service>,
    /// How many timestamp authorities to use.
    pub tsa_config: ServiceConfiguration,
}

/// ```text
/// message Service { string url = 1; uint32 major_api_version = 2; TimeRange valid_for = 3; string operator = 4; }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    /// The service URL.
    pub url: String,
    /// API major version (Rekor 1 or 2; others 1).
    pub major_api_version: u32,
    /// When to use this service.
    pub valid_for: TimeRange,
    /// Operator name (required by sigstore-python, may be empty).
    pub operator: String,
}

/// ```text
/// message ServiceConfiguration { ServiceSelector selector = 1; uint32 count = 2; }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceConfiguration {
    /// `ANY`, `ALL` or `EXACT`.
    pub selector: String,
    /// How many services to use with `EXACT`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub count: Option<u32>,
}

/// The service selectors of a signing config.
pub const SERVICE_SELECTORS: [&str; 3] = ["ANY", "ALL", "EXACT"];

/// ```text
/// message ClientTrustConfig { string media_type = 1; TrustedRoot trusted_root = 2; SigningConfig signing_config = 3; }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientTrustConfig {
    /// Always [`CLIENT_TRUST_CONFIG_MEDIA_TYPE`].
    pub media_type: String,
    /// What to trust when verifying.
    pub trusted_root: TrustedRoot,
    /// Where to sign.
    pub signing_config: SigningConfig,
}

impl ClientTrustConfig {
    /// Pair a trusted root with a signing config.
    #[must_use]
    pub fn new(trusted_root: TrustedRoot, signing_config: SigningConfig) -> Self {
        Self {
            media_type: CLIENT_TRUST_CONFIG_MEDIA_TYPE.to_string(),
            trusted_root,
            signing_config,
        }
    }
}

/// A log (transparency or CT) as it goes into a trusted root.
#[derive(Clone, Debug)]
pub struct LogDescription {
    /// Base URL clients use.
    pub base_url: String,
    /// DER SubjectPublicKeyInfo of the log key.
    pub spki_der: Vec<u8>,
    /// `PublicKeyDetails` name of the key.
    pub key_details: String,
    /// The 32-byte log ID (SHA-256 of the SPKI, or the C2SP key hash for Ed25519 checkpoints).
    pub log_id: [u8; 32],
    /// Start of validity.
    pub valid_from: OffsetDateTime,
}

impl LogDescription {
    /// The trusted-root entry for this log.
    ///
    /// # Errors
    /// Fails only if the start time cannot be formatted.
    pub fn to_instance(&self) -> Result<TransparencyLogInstance, TrustError> {
        Ok(TransparencyLogInstance {
            base_url: self.base_url.clone(),
            hash_algorithm: "SHA2_256".to_string(),
            public_key: PublicKey {
                raw_bytes: STANDARD.encode(&self.spki_der),
                key_details: self.key_details.clone(),
                valid_for: TimeRange {
                    start: rfc3339(self.valid_from)?,
                    end: None,
                },
            },
            log_id: LogId {
                key_id: STANDARD.encode(self.log_id),
            },
        })
    }
}

/// A certificate authority (Fulcio or a TSA) as it goes into a trusted root.
#[derive(Clone, Debug)]
pub struct AuthorityDescription {
    /// `O=` of the authority.
    pub organization: String,
    /// `CN=` of the authority.
    pub common_name: String,
    /// URI of the service.
    pub uri: String,
    /// DER certificates, issuing certificate first, root last.
    pub chain_der: Vec<Vec<u8>>,
    /// Start of validity.
    pub valid_from: OffsetDateTime,
}

impl AuthorityDescription {
    /// The trusted-root entry for this authority.
    ///
    /// # Errors
    /// Fails only if the start time cannot be formatted.
    pub fn to_authority(&self) -> Result<CertificateAuthority, TrustError> {
        Ok(CertificateAuthority {
            subject: DistinguishedName {
                organization: self.organization.clone(),
                common_name: self.common_name.clone(),
            },
            uri: self.uri.clone(),
            cert_chain: CertificateChain {
                certificates: self
                    .chain_der
                    .iter()
                    .map(|der| RawCertificate {
                        raw_bytes: STANDARD.encode(der),
                    })
                    .collect(),
            },
            valid_for: TimeRange {
                start: rfc3339(self.valid_from)?,
                end: None,
            },
        })
    }
}

/// Everything a Sigstack deployment publishes to clients.
#[derive(Clone, Debug)]
pub struct Deployment {
    /// Fulcio.
    pub fulcio: AuthorityDescription,
    /// The CT log Fulcio submits to.
    pub ctlog: LogDescription,
    /// Rekor v1.
    pub rekor_v1: LogDescription,
    /// Rekor v2.
    pub rekor_v2: LogDescription,
    /// The timestamp authority (its `uri` is the full timestamp endpoint URL).
    pub tsa: AuthorityDescription,
    /// The OIDC issuer URL, if one is offered for interactive sign-in.
    pub oidc_url: Option<String>,
    /// Operator name written into the signing config.
    pub operator: String,
    /// Start of validity of every service entry.
    pub valid_from: OffsetDateTime,
}

impl Deployment {
    /// The trusted root listing both Rekor logs, the CT log, Fulcio and the TSA.
    ///
    /// # Errors
    /// Fails only if a time cannot be formatted.
    pub fn trusted_root(&self) -> Result<TrustedRoot, TrustError> {
        Ok(TrustedRoot {
            media_type: TRUSTED_ROOT_MEDIA_TYPE.to_string(),
            tlogs: vec![self.rekor_v1.to_instance()?, self.rekor_v2.to_instance()?],
            certificate_authorities: vec![self.fulcio.to_authority()?],
            ctlogs: vec![self.ctlog.to_instance()?],
            timestamp_authorities: vec![self.tsa.to_authority()?],
        })
    }

    /// A v0.2 signing config that sends entries to Rekor `rekor_major_version` (1 or 2) and
    /// timestamps to the TSA.
    ///
    /// # Errors
    /// Fails only if a time cannot be formatted.
    pub fn signing_config(&self, rekor_major_version: u32) -> Result<SigningConfig, TrustError> {
        let service = |url: &str, major| -> Result<Service, TrustError> {
            Ok(Service {
                url: url.to_string(),
                major_api_version: major,
                valid_for: TimeRange {
                    start: rfc3339(self.valid_from)?,
                    end: None,
                },
                operator: self.operator.clone(),
            })
        };
        let rekor = if rekor_major_version == 1 {
            &self.rekor_v1
        } else {
            &self.rekor_v2
        };
        Ok(SigningConfig {
            media_type: SIGNING_CONFIG_MEDIA_TYPE.to_string(),
            ca_urls: vec![service(&self.fulcio.uri, 1)?],
            oidc_urls: self
                .oidc_url
                .iter()
                .map(|u| service(u, 1))
                .collect::<Result<_, _>>()?,
            rekor_tlog_urls: vec![service(&rekor.base_url, rekor_major_version)?],
            rekor_tlog_config: ServiceConfiguration {
                selector: "ANY".to_string(),
                count: None,
            },
            tsa_urls: vec![service(&self.tsa.uri, 1)?],
            tsa_config: ServiceConfiguration {
                selector: "ANY".to_string(),
                count: None,
            },
        })
    }
}

/// Format a time as RFC 3339 with whole seconds and `Z`, as protobuf JSON timestamps are written.
///
/// # Errors
/// Fails for times outside the RFC 3339 range.
pub fn rfc3339(t: OffsetDateTime) -> Result<String, TrustError> {
    let whole = t
        .replace_nanosecond(0)
        .map_err(|e| TrustError::Time(e.to_string()))?;
    whole
        .to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|e| TrustError::Time(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn deployment() -> Deployment {
        let t = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let log = |url: &str, details: &str| LogDescription {
            base_url: url.into(),
            spki_der: vec![1, 2, 3],
            key_details: details.into(),
            log_id: [7; 32],
            valid_from: t,
        };
        let ca = |uri: &str| AuthorityDescription {
            organization: "sigstack".into(),
            common_name: "ca".into(),
            uri: uri.into(),
            chain_der: vec![vec![4], vec![5]],
            valid_from: t,
        };
        Deployment {
            fulcio: ca("http://127.0.0.1:1"),
            ctlog: log("http://127.0.0.1:2", "PKIX_ECDSA_P256_SHA_256"),
            rekor_v1: log("http://127.0.0.1:3", "PKIX_ECDSA_P256_SHA_256"),
            rekor_v2: log("http://127.0.0.1:4", "PKIX_ED25519"),
            tsa: ca("http://127.0.0.1:5/api/v1/timestamp"),
            oidc_url: Some("http://127.0.0.1:6".into()),
            operator: "sigstack".into(),
            valid_from: t,
        }
    }

    #[test]
    fn client_trust_config_has_the_wire_shape_clients_expect() {
        let d = deployment();
        let tc = ClientTrustConfig::new(d.trusted_root().unwrap(), d.signing_config(2).unwrap());
        let v = serde_json::to_value(&tc).unwrap();
        assert_eq!(v["mediaType"], CLIENT_TRUST_CONFIG_MEDIA_TYPE);
        assert_eq!(v["trustedRoot"]["mediaType"], TRUSTED_ROOT_MEDIA_TYPE);
        assert_eq!(
            v["trustedRoot"]["tlogs"][1]["publicKey"]["keyDetails"],
            "PKIX_ED25519"
        );
        assert_eq!(
            v["trustedRoot"]["tlogs"][0]["publicKey"]["validFor"]["start"],
            "2026-09-21T14:13:20Z"
        );
        assert_eq!(
            v["trustedRoot"]["ctlogs"][0]["logId"]["keyId"],
            STANDARD.encode([7u8; 32])
        );
        assert_eq!(
            v["trustedRoot"]["timestampAuthorities"][0]["certChain"]["certificates"][1]["rawBytes"],
            "BQ=="
        );
        assert!(
            v["trustedRoot"]["tlogs"][0]["publicKey"]["validFor"]
                .get("end")
                .is_none()
        );
        assert_eq!(v["signingConfig"]["rekorTlogUrls"][0]["majorApiVersion"], 2);
        assert_eq!(
            v["signingConfig"]["rekorTlogUrls"][0]["url"],
            "http://127.0.0.1:4"
        );
        assert_eq!(v["signingConfig"]["tsaUrls"][0]["operator"], "sigstack");
        let v1 = d.signing_config(1).unwrap();
        assert_eq!(v1.rekor_tlog_urls[0].url, "http://127.0.0.1:3");
        // Round trip through the strict (deny_unknown_fields) types.
        let back: ClientTrustConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, tc);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let mut v = serde_json::to_value(deployment().trusted_root().unwrap()).unwrap();
        v["extra"] = serde_json::json!(1);
        assert!(serde_json::from_value::<TrustedRoot>(v).is_err());
    }
}
