//! `sigstack trust build`: a trusted root, a v0.2 signing config and a ClientTrustConfig from a
//! declarative description (TOML or YAML) that names key and certificate files. Nothing is
//! fetched from running services: the description is the whole input, so the material can be
//! built offline, reviewed, and published through the TUF repository.
//!
//! Example (`trust.toml`; paths are relative to the description file, times RFC 3339 strings):
//!
//! ```toml
//! operator = "example.org"
//!
//! [[certificate-authorities]]
//! uri = "https://fulcio.example.org"
//! chain = ["fulcio-chain.pem"]          # issuing certificate first, root last
//!
//! [[tlogs]]
//! base-url = "https://rekor.example.org"
//! public-key = "rekor-v2.pub"
//! api-version = 2                       # log ID = C2SP note key hash over the origin
//! valid-from = "2026-01-01T00:00:00Z"
//!
//! [[ctlogs]]
//! base-url = "https://ctlog.example.org"
//! public-key = "ctlog.pub"
//! valid-from = "2026-01-01T00:00:00Z"
//!
//! [[timestamp-authorities]]
//! uri = "https://tsa.example.org/api/v1/timestamp"
//! chain = ["tsa-chain.pem"]
//!
//! [signing]
//! rekor-selector = "ANY"
//! oidc = [{ url = "https://oauth2.example.org", valid-from = "2026-01-01T00:00:00Z" }]
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use der::Encode as _;
use serde::{Deserialize, Serialize};
use sigstack_keys::PublicKey;
use sigstack_tlog::note::KeyIdRule;
use sigstack_trust::{
    AuthorityDescription, CertificateAuthority, ClientTrustConfig, LogDescription,
    SERVICE_SELECTORS, SIGNING_CONFIG_MEDIA_TYPE, Service, ServiceConfiguration, SigningConfig,
    TRUSTED_ROOT_MEDIA_TYPE, TimeRange, TransparencyLogInstance, TrustedRoot,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Largest description or referenced file read, in bytes.
const MAX_INPUT_FILE: u64 = 1 << 20;

/// The whole description.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrustDescription {
    /// Operator name written into every signing-config service.
    pub operator: String,
    /// Fulcio-style CAs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_authorities: Vec<AuthorityEntry>,
    /// Rekor logs (v1 and v2; one entry per shard).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tlogs: Vec<LogEntry>,
    /// CT logs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ctlogs: Vec<LogEntry>,
    /// Timestamp authorities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timestamp_authorities: Vec<AuthorityEntry>,
    /// Signing-config settings.
    #[serde(default)]
    pub signing: SigningEntry,
}

/// A certificate authority or timestamp authority.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuthorityEntry {
    /// Public URL (for a TSA the full timestamp endpoint).
    pub uri: String,
    /// PEM files holding the chain, issuing certificate first, root last.
    pub chain: Vec<PathBuf>,
    /// `O=` written into the trusted root (default: the operator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// `CN=` written into the trusted root (default: the URL's host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    /// Start of validity (default: notBefore of the issuing certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// End of validity (absent while current).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// Also list this service in the signing config (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<bool>,
}

/// A transparency log or CT log.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LogEntry {
    /// Public base URL.
    pub base_url: String,
    /// PEM `PUBLIC KEY` file of the log.
    pub public_key: PathBuf,
    /// Rekor API version, 1 or 2 (tlogs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<u32>,
    /// Rekor v2 checkpoint origin (default: the host name of `base-url`, without port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Start of validity.
    pub valid_from: String,
    /// End of validity (absent while current).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// Also list this log in the signing config (default true; tlogs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<bool>,
}

/// Signing-config settings.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SigningEntry {
    /// OIDC providers offered for interactive sign-in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oidc: Vec<ServiceEntry>,
    /// `ANY`, `ALL` or `EXACT` (default `ANY`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rekor_selector: Option<String>,
    /// Count for `EXACT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rekor_count: Option<u32>,
    /// `ANY`, `ALL` or `EXACT` (default `ANY`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsa_selector: Option<String>,
    /// Count for `EXACT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsa_count: Option<u32>,
}

/// A signing-config service listed on its own.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceEntry {
    /// Public URL.
    pub url: String,
    /// Start of validity.
    pub valid_from: String,
    /// End of validity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

/// Everything built from one description.
#[derive(Debug)]
pub struct BuiltTrust {
    pub trusted_root: TrustedRoot,
    pub signing_config: SigningConfig,
}

impl BuiltTrust {
    /// Both, as one ClientTrustConfig.
    pub fn client_trust_config(&self) -> ClientTrustConfig {
        ClientTrustConfig::new(self.trusted_root.clone(), self.signing_config.clone())
    }
}

/// Read a description file (`.yaml`/`.yml` as YAML, anything else as TOML).
pub fn read_description(path: &Path) -> anyhow::Result<TrustDescription> {
    let text = String::from_utf8(read_capped(path)?)
        .with_context(|| format!("{} is not UTF-8", path.display()))?;
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    if yaml {
        serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    } else {
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

fn read_capped(path: &Path) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    ensure!(
        len <= MAX_INPUT_FILE,
        "{} is {len} bytes, over the {MAX_INPUT_FILE}-byte limit",
        path.display()
    );
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn parse_time(what: &str, s: &str) -> anyhow::Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .with_context(|| format!("{what}: {s:?} is not an RFC 3339 time"))
}

fn window(
    what: &str,
    from: OffsetDateTime,
    until: Option<&String>,
) -> anyhow::Result<(OffsetDateTime, Option<OffsetDateTime>)> {
    let until = until.map(|u| parse_time(what, u)).transpose()?;
    if let Some(end) = until {
        ensure!(end > from, "{what}: valid-until must be after valid-from");
    }
    Ok((from, until))
}

fn check_url(what: &str, url: &str) -> anyhow::Result<url::Url> {
    let parsed = url::Url::parse(url).with_context(|| format!("{what}: {url:?} is not a URL"))?;
    ensure!(
        matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some(),
        "{what}: {url:?} must be an http(s) URL with a host"
    );
    Ok(parsed)
}

fn read_chain(
    what: &str,
    base: &Path,
    files: &[PathBuf],
) -> anyhow::Result<Vec<x509_cert::Certificate>> {
    let mut chain = Vec::new();
    for file in files {
        let path = base.join(file);
        let text = String::from_utf8(read_capped(&path)?)
            .with_context(|| format!("{what}: {} is not PEM text", path.display()))?;
        let certs = sigstack_pki::parse_pem_chain(&text)
            .with_context(|| format!("{what}: parsing certificates in {}", path.display()))?;
        chain.extend(certs);
    }
    ensure!(!chain.is_empty(), "{what}: the chain holds no certificate");
    Ok(chain)
}

fn authority(
    what: &str,
    base: &Path,
    operator: &str,
    entry: &AuthorityEntry,
) -> anyhow::Result<(CertificateAuthority, Option<Service>)> {
    let url = check_url(what, &entry.uri)?;
    let chain = read_chain(what, base, &entry.chain)?;
    let from = match &entry.valid_from {
        Some(s) => parse_time(what, s)?,
        None => {
            let secs = chain[0]
                .tbs_certificate()
                .validity()
                .not_before
                .to_unix_duration()
                .as_secs();
            OffsetDateTime::from_unix_timestamp(i64::try_from(secs)?)?
        }
    };
    let (from, until) = window(what, from, entry.valid_until.as_ref())?;
    let chain_der = chain
        .iter()
        .map(|c| c.to_der().context("encoding certificate"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut ca = AuthorityDescription {
        organization: entry
            .organization
            .clone()
            .unwrap_or_else(|| operator.to_string()),
        common_name: entry
            .common_name
            .clone()
            .unwrap_or_else(|| url.host_str().unwrap_or_default().to_string()),
        uri: entry.uri.clone(),
        chain_der,
        valid_from: from,
    }
    .to_authority()?;
    ca.valid_for = TimeRange::new(from, until)?;
    let service = entry
        .signing
        .unwrap_or(true)
        .then(|| -> anyhow::Result<Service> {
            Ok(Service {
                url: entry.uri.clone(),
                major_api_version: 1,
                valid_for: TimeRange::new(from, until)?,
                operator: operator.to_string(),
            })
        });
    Ok((ca, service.transpose()?))
}

/// The log ID rule: SHA-256 of the SPKI for Rekor v1 and CT logs, the C2SP signed-note key hash
/// over the checkpoint origin for Rekor v2.
fn log(
    what: &str,
    base: &Path,
    entry: &LogEntry,
    api_version: u32,
) -> anyhow::Result<(
    TransparencyLogInstance,
    OffsetDateTime,
    Option<OffsetDateTime>,
)> {
    let url = check_url(what, &entry.base_url)?;
    let pem_path = base.join(&entry.public_key);
    let pem = String::from_utf8(read_capped(&pem_path)?)
        .with_context(|| format!("{what}: {} is not PEM text", pem_path.display()))?;
    let key = PublicKey::from_pem(&pem)
        .with_context(|| format!("{what}: public key {}", pem_path.display()))?;
    let log_id = if api_version == 2 {
        let origin = match &entry.origin {
            Some(o) => o.clone(),
            // The bare host name: sigstore-go requires the origin to equal the URL's host.
            None => {
                let host = url.host_str().unwrap_or_default();
                host.strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host)
                    .to_string()
            }
        };
        KeyIdRule::C2sp
            .key_hash(&origin, &key)
            .with_context(|| format!("{what}: origin {origin:?}"))?
    } else {
        ensure!(
            entry.origin.is_none(),
            "{what}: origin applies to Rekor v2 logs only"
        );
        KeyIdRule::RekorV1
            .key_hash("log", &key)
            .context("hashing the log key")?
    };
    let from = parse_time(what, &entry.valid_from)?;
    let (from, until) = window(what, from, entry.valid_until.as_ref())?;
    let mut instance = LogDescription {
        base_url: entry.base_url.clone(),
        spki_der: key.spki_der().to_vec(),
        key_details: key.algorithm().key_details().to_string(),
        log_id,
        valid_from: from,
    }
    .to_instance()?;
    instance.public_key.valid_for = TimeRange::new(from, until)?;
    Ok((instance, from, until))
}

fn selector(
    what: &str,
    name: Option<&String>,
    count: Option<u32>,
) -> anyhow::Result<ServiceConfiguration> {
    let selector = name.map_or("ANY", String::as_str).to_string();
    ensure!(
        SERVICE_SELECTORS.contains(&selector.as_str()),
        "{what}: selector {selector:?} is not one of ANY, ALL, EXACT"
    );
    match (selector.as_str(), count) {
        ("EXACT", None | Some(0)) => bail!("{what}: EXACT needs a count of at least 1"),
        ("EXACT", _) | (_, None) => {}
        (_, Some(_)) => bail!("{what}: a count applies to EXACT only"),
    }
    Ok(ServiceConfiguration { selector, count })
}

/// Build the trust material; `base` is the directory relative paths start from.
pub fn build(description: &TrustDescription, base: &Path) -> anyhow::Result<BuiltTrust> {
    let operator = description.operator.as_str();
    let mut root = TrustedRoot {
        media_type: TRUSTED_ROOT_MEDIA_TYPE.to_string(),
        tlogs: Vec::new(),
        certificate_authorities: Vec::new(),
        ctlogs: Vec::new(),
        timestamp_authorities: Vec::new(),
    };
    let mut signing = SigningConfig {
        media_type: SIGNING_CONFIG_MEDIA_TYPE.to_string(),
        ca_urls: Vec::new(),
        oidc_urls: Vec::new(),
        rekor_tlog_urls: Vec::new(),
        rekor_tlog_config: selector(
            "signing.rekor-selector",
            description.signing.rekor_selector.as_ref(),
            description.signing.rekor_count,
        )?,
        tsa_urls: Vec::new(),
        tsa_config: selector(
            "signing.tsa-selector",
            description.signing.tsa_selector.as_ref(),
            description.signing.tsa_count,
        )?,
    };
    for (i, entry) in description.certificate_authorities.iter().enumerate() {
        let (ca, service) = authority(
            &format!("certificate-authorities[{i}]"),
            base,
            operator,
            entry,
        )?;
        root.certificate_authorities.push(ca);
        signing.ca_urls.extend(service);
    }
    for (i, entry) in description.timestamp_authorities.iter().enumerate() {
        let what = format!("timestamp-authorities[{i}]");
        let (tsa, service) = authority(&what, base, operator, entry)?;
        ensure!(
            tsa.cert_chain.certificates.len() >= 2,
            "{what}: a TSA chain needs the signing certificate and its root (at least 2 certificates)"
        );
        root.timestamp_authorities.push(tsa);
        signing.tsa_urls.extend(service);
    }
    for (i, entry) in description.tlogs.iter().enumerate() {
        let what = format!("tlogs[{i}]");
        let version = entry
            .api_version
            .with_context(|| format!("{what}: api-version (1 or 2) is required"))?;
        ensure!(
            matches!(version, 1 | 2),
            "{what}: api-version must be 1 or 2, not {version}"
        );
        let (instance, from, until) = log(&what, base, entry, version)?;
        if entry.signing.unwrap_or(true) {
            signing.rekor_tlog_urls.push(Service {
                url: entry.base_url.clone(),
                major_api_version: version,
                valid_for: TimeRange::new(from, until)?,
                operator: operator.to_string(),
            });
        }
        root.tlogs.push(instance);
    }
    for (i, entry) in description.ctlogs.iter().enumerate() {
        let what = format!("ctlogs[{i}]");
        ensure!(
            entry.api_version.is_none() && entry.signing.is_none(),
            "{what}: api-version and signing apply to tlogs only"
        );
        let (instance, _, _) = log(&what, base, entry, 1)?;
        root.ctlogs.push(instance);
    }
    for (i, entry) in description.signing.oidc.iter().enumerate() {
        let what = format!("signing.oidc[{i}]");
        check_url(&what, &entry.url)?;
        let (from, until) = window(
            &what,
            parse_time(&what, &entry.valid_from)?,
            entry.valid_until.as_ref(),
        )?;
        signing.oidc_urls.push(Service {
            url: entry.url.clone(),
            major_api_version: 1,
            valid_for: TimeRange::new(from, until)?,
            operator: operator.to_string(),
        });
    }
    ensure!(
        !root.certificate_authorities.is_empty(),
        "the description lists no certificate authority"
    );
    ensure!(!root.tlogs.is_empty(), "the description lists no tlog");
    ensure!(!root.ctlogs.is_empty(), "the description lists no ctlog");
    ensure!(
        !signing.ca_urls.is_empty() && !signing.rekor_tlog_urls.is_empty(),
        "the signing config needs at least one certificate authority and one tlog with signing enabled"
    );
    let mut seen = std::collections::HashSet::new();
    for log in root.tlogs.iter().chain(&root.ctlogs) {
        ensure!(
            seen.insert(log.log_id.key_id.clone()),
            "two logs share the log ID {} (one key per shard)",
            log.log_id.key_id
        );
    }
    Ok(BuiltTrust {
        trusted_root: root,
        signing_config: signing,
    })
}

/// Write `trusted_root.json`, `signing_config.v0.2.json` and `trust_config.json` into `out`.
pub fn write(built: &BuiltTrust, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    sigstack_durable::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let files = [
        (
            "trusted_root.json",
            serde_json::to_string_pretty(&built.trusted_root)?,
        ),
        (
            "signing_config.v0.2.json",
            serde_json::to_string_pretty(&built.signing_config)?,
        ),
        (
            "trust_config.json",
            serde_json::to_string_pretty(&built.client_trust_config())?,
        ),
    ];
    let mut written = Vec::new();
    for (name, body) in files {
        let path = out.join(name);
        sigstack_durable::write(&path, (body + "\n").as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Merge descriptions (each with the directory its relative paths start from) into one with
/// absolute paths: entries are concatenated, the operator comes from the first, selectors from
/// the last that sets them. This is how old material (with `valid-until`) and new material (with
/// `valid-from`) are combined in a key rotation.
pub fn merge(descriptions: Vec<(TrustDescription, PathBuf)>) -> anyhow::Result<TrustDescription> {
    let mut merged: Option<TrustDescription> = None;
    for (mut d, base) in descriptions {
        for entry in d
            .certificate_authorities
            .iter_mut()
            .chain(d.timestamp_authorities.iter_mut())
        {
            for file in &mut entry.chain {
                *file = base.join(&*file);
            }
        }
        for entry in d.tlogs.iter_mut().chain(d.ctlogs.iter_mut()) {
            entry.public_key = base.join(&entry.public_key);
        }
        match &mut merged {
            None => merged = Some(d),
            Some(m) => {
                m.certificate_authorities
                    .append(&mut d.certificate_authorities);
                m.tlogs.append(&mut d.tlogs);
                m.ctlogs.append(&mut d.ctlogs);
                m.timestamp_authorities.append(&mut d.timestamp_authorities);
                m.signing.oidc.append(&mut d.signing.oidc);
                if d.signing.rekor_selector.is_some() {
                    m.signing.rekor_selector = d.signing.rekor_selector;
                    m.signing.rekor_count = d.signing.rekor_count;
                }
                if d.signing.tsa_selector.is_some() {
                    m.signing.tsa_selector = d.signing.tsa_selector;
                    m.signing.tsa_count = d.signing.tsa_count;
                }
            }
        }
    }
    merged.context("no description given")
}

/// Options of [`describe`].
#[derive(Debug, Default)]
pub struct DescribeOptions {
    /// Operator written into the description.
    pub operator: String,
    /// Replace every entry's start (new material in a rotation).
    pub valid_from: Option<String>,
    /// End every entry still open (old material in a rotation).
    pub valid_until: Option<String>,
}

fn decode_b64(what: &str, text: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .with_context(|| format!("{what}: bad base64"))
}

fn write_pem_chain(path: &Path, chain: &sigstack_trust::CertificateChain) -> anyhow::Result<()> {
    let mut text = String::new();
    for cert in &chain.certificates {
        let der = decode_b64("certificate", &cert.raw_bytes)?;
        text.push_str(
            &der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der)
                .context("PEM encoding")?,
        );
    }
    sigstack_durable::write(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Turn an existing trusted root (and optionally its signing config) back into a description
/// plus the key and certificate files it names, under `out`. Used to carry current material
/// into a rotation: describe it with `valid-until`, describe the new keys with `valid-from`,
/// and build both.
pub fn describe(
    root: &TrustedRoot,
    signing: Option<&SigningConfig>,
    options: &DescribeOptions,
    out: &Path,
) -> anyhow::Result<PathBuf> {
    if let Some(t) = &options.valid_from {
        parse_time("--valid-from", t)?;
    }
    if let Some(t) = &options.valid_until {
        parse_time("--valid-until", t)?;
    }
    sigstack_durable::create_dir_all(&out.join("keys"))?;
    sigstack_durable::create_dir_all(&out.join("certs"))?;
    let start = |s: &str| options.valid_from.clone().unwrap_or_else(|| s.to_string());
    let end = |e: &Option<String>| e.clone().or_else(|| options.valid_until.clone());
    let listed = |list: Option<&Vec<Service>>, url: &str| -> Option<(bool, u32)> {
        let list = list?;
        Some(
            list.iter()
                .find(|s| s.url == url)
                .map_or((false, 0), |s| (true, s.major_api_version)),
        )
    };
    let mut description = TrustDescription {
        operator: options.operator.clone(),
        certificate_authorities: Vec::new(),
        tlogs: Vec::new(),
        ctlogs: Vec::new(),
        timestamp_authorities: Vec::new(),
        signing: SigningEntry::default(),
    };
    for (kind, authorities, services) in [
        (
            "ca",
            &root.certificate_authorities,
            signing.map(|s| &s.ca_urls),
        ),
        (
            "tsa",
            &root.timestamp_authorities,
            signing.map(|s| &s.tsa_urls),
        ),
    ] {
        for (i, ca) in authorities.iter().enumerate() {
            let file = PathBuf::from(format!("certs/{kind}-{i}.pem"));
            write_pem_chain(&out.join(&file), &ca.cert_chain)?;
            let entry = AuthorityEntry {
                uri: ca.uri.clone(),
                chain: vec![file],
                organization: Some(ca.subject.organization.clone()),
                common_name: Some(ca.subject.common_name.clone()),
                valid_from: Some(start(&ca.valid_for.start)),
                valid_until: end(&ca.valid_for.end),
                signing: listed(services, &ca.uri).map(|(l, _)| l),
            };
            if kind == "ca" {
                description.certificate_authorities.push(entry);
            } else {
                description.timestamp_authorities.push(entry);
            }
        }
    }
    for (kind, logs) in [("tlog", &root.tlogs), ("ctlog", &root.ctlogs)] {
        for (i, log) in logs.iter().enumerate() {
            let what = format!("{kind}s[{i}]");
            let spki = decode_b64(&what, &log.public_key.raw_bytes)?;
            let key = PublicKey::from_spki_der(&spki).with_context(|| format!("{what}: key"))?;
            let file = PathBuf::from(format!("keys/{kind}-{i}.pub"));
            sigstack_durable::write(&out.join(&file), key.to_pem().as_bytes())?;
            let log_id = decode_b64(&what, &log.log_id.key_id)?;
            let spki_hash = KeyIdRule::RekorV1.key_hash("log", &key)?;
            let (signing_listed, api_version) = if kind == "tlog" {
                let from_config = listed(signing.map(|s| &s.rekor_tlog_urls), &log.base_url);
                let version = match from_config {
                    Some((true, v)) => v,
                    _ if log_id == spki_hash => 1,
                    _ => 2,
                };
                (from_config.map(|(l, _)| l), Some(version))
            } else {
                (None, None)
            };
            let entry = LogEntry {
                base_url: log.base_url.clone(),
                public_key: file,
                api_version,
                origin: None,
                valid_from: start(&log.public_key.valid_for.start),
                valid_until: end(&log.public_key.valid_for.end),
                signing: signing_listed,
            };
            if kind == "tlog" {
                description.tlogs.push(entry);
            } else {
                description.ctlogs.push(entry);
            }
        }
    }
    if let Some(signing) = signing {
        for oidc in &signing.oidc_urls {
            description.signing.oidc.push(ServiceEntry {
                url: oidc.url.clone(),
                valid_from: start(&oidc.valid_for.start),
                valid_until: end(&oidc.valid_for.end),
            });
        }
        description.signing.rekor_selector = Some(signing.rekor_tlog_config.selector.clone());
        description.signing.rekor_count = signing.rekor_tlog_config.count;
        description.signing.tsa_selector = Some(signing.tsa_config.selector.clone());
        description.signing.tsa_count = signing.tsa_config.count;
    }
    // Rebuilding must give back the same log IDs; otherwise a Rekor v2 origin differs from
    // the URL's host name and has to be written into the description by hand.
    let rebuilt = build(&description, out)?;
    for (mine, theirs) in rebuilt.trusted_root.tlogs.iter().zip(&root.tlogs) {
        ensure!(
            mine.log_id == theirs.log_id,
            "{}: the log ID is not the C2SP hash over the URL's host name; set `origin` in the description",
            theirs.base_url
        );
    }
    let path = out.join("description.toml");
    let text = toml::to_string(&description).context("writing the description as TOML")?;
    sigstack_durable::write(&path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use sha2::Digest as _;
    use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer as _};

    use super::*;

    struct Fixture {
        dir: tempfile::TempDir,
        rekor_v1: FileSigner,
        rekor_v2: FileSigner,
        ct: FileSigner,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let now = std::time::SystemTime::now();
        let ca = sigstack_pki::CertificateAuthority::load_or_create(
            &p.join("ca"),
            &sigstack_pki::CaSpec {
                organization: "example".into(),
                root_common_name: "root".into(),
                intermediate_common_name: Some("intermediate".into()),
                algorithm: SignatureAlgorithm::EcdsaP256Sha256,
                intermediate_extended_key_usage: vec![],
                validity: std::time::Duration::from_secs(3600),
            },
            now,
        )
        .unwrap();
        std::fs::write(p.join("chain.pem"), ca.chain_pem().unwrap().concat()).unwrap();
        let key = |name: &str, alg| {
            let signer = FileSigner::generate(alg).unwrap();
            std::fs::write(p.join(name), signer.public_key().unwrap().to_pem()).unwrap();
            signer
        };
        Fixture {
            rekor_v1: key("rekor-v1.pub", SignatureAlgorithm::EcdsaP256Sha256),
            rekor_v2: key("rekor-v2.pub", SignatureAlgorithm::Ed25519),
            ct: key("ct.pub", SignatureAlgorithm::EcdsaP256Sha256),
            dir,
        }
    }

    const DESCRIPTION: &str = r#"
operator = "example.org"

[[certificate-authorities]]
uri = "https://fulcio.example.org"
chain = ["chain.pem"]

[[tlogs]]
base-url = "https://rekor.example.org"
public-key = "rekor-v1.pub"
api-version = 1
valid-from = "2026-01-01T00:00:00Z"
valid-until = "2026-06-01T00:00:00Z"

[[tlogs]]
base-url = "https://rekor2.example.org:8443"
public-key = "rekor-v2.pub"
api-version = 2
valid-from = "2026-06-01T00:00:00Z"

[[ctlogs]]
base-url = "https://ctlog.example.org"
public-key = "ct.pub"
valid-from = "2026-01-01T00:00:00Z"

[[timestamp-authorities]]
uri = "https://tsa.example.org/api/v1/timestamp"
chain = ["chain.pem"]

[signing]
rekor-selector = "EXACT"
rekor-count = 1
oidc = [{ url = "https://oauth2.example.org", valid-from = "2026-01-01T00:00:00Z" }]
"#;

    fn build_text(f: &Fixture, text: &str) -> anyhow::Result<BuiltTrust> {
        let path = f.dir.path().join("trust.toml");
        std::fs::write(&path, text).unwrap();
        build(&read_description(&path)?, f.dir.path())
    }

    #[test]
    fn log_ids_windows_and_selectors_follow_the_description() {
        let f = fixture();
        let built = build_text(&f, DESCRIPTION).unwrap();
        let root = &built.trusted_root;
        let v1_id = sha2::Sha256::digest(f.rekor_v1.public_key_der());
        assert_eq!(root.tlogs[0].log_id.key_id, STANDARD.encode(v1_id));
        assert_eq!(
            root.tlogs[0].public_key.valid_for.end.as_deref(),
            Some("2026-06-01T00:00:00Z")
        );
        let raw = f.rekor_v2.public_key().unwrap().ed25519_bytes().unwrap();
        let v2_id = sigstack_tlog::note::c2sp_key_hash("rekor2.example.org", &raw);
        assert_eq!(root.tlogs[1].log_id.key_id, STANDARD.encode(v2_id));
        assert_eq!(root.tlogs[1].public_key.key_details, "PKIX_ED25519");
        let ct_id = sha2::Sha256::digest(f.ct.public_key_der());
        assert_eq!(root.ctlogs[0].log_id.key_id, STANDARD.encode(ct_id));
        assert_eq!(
            root.certificate_authorities[0]
                .cert_chain
                .certificates
                .len(),
            2
        );
        assert_eq!(
            root.certificate_authorities[0].subject.common_name,
            "fulcio.example.org"
        );
        let sc = &built.signing_config;
        assert_eq!(sc.rekor_tlog_urls.len(), 2);
        assert_eq!(sc.rekor_tlog_urls[1].major_api_version, 2);
        assert_eq!(sc.rekor_tlog_config.selector, "EXACT");
        assert_eq!(sc.rekor_tlog_config.count, Some(1));
        assert_eq!(sc.tsa_config.count, None);
        assert_eq!(sc.oidc_urls[0].operator, "example.org");
        // The output parses back through the strict wire types.
        let json = serde_json::to_string(&built.client_trust_config()).unwrap();
        let back: ClientTrustConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.trusted_root, built.trusted_root);
    }

    #[test]
    fn describe_round_trips_and_closes_windows_for_a_rotation() {
        let f = fixture();
        let built = build_text(&f, DESCRIPTION).unwrap();
        let out = f.dir.path().join("described");
        let options = DescribeOptions {
            operator: "example.org".into(),
            ..DescribeOptions::default()
        };
        let path = describe(
            &built.trusted_root,
            Some(&built.signing_config),
            &options,
            &out,
        )
        .unwrap();
        let again = build(&read_description(&path).unwrap(), &out).unwrap();
        assert_eq!(again.trusted_root, built.trusted_root);
        assert_eq!(again.signing_config, built.signing_config);

        // Old material ends where new material starts; merged, both are listed.
        let old = describe(
            &built.trusted_root,
            Some(&built.signing_config),
            &DescribeOptions {
                operator: "example.org".into(),
                valid_until: Some("2027-01-01T00:00:00Z".into()),
                ..DescribeOptions::default()
            },
            &f.dir.path().join("old"),
        )
        .unwrap();
        let merged = merge(vec![
            (read_description(&old).unwrap(), f.dir.path().join("old")),
            (read_description(&path).unwrap(), out.clone()),
        ])
        .unwrap();
        // The same keys twice are refused (a rotation needs new keys).
        let err = build(&merged, Path::new(".")).unwrap_err();
        assert!(format!("{err:#}").contains("share the log ID"), "{err:#}");
        let old_root = build(&read_description(&old).unwrap(), &f.dir.path().join("old")).unwrap();
        assert_eq!(
            old_root.trusted_root.ctlogs[0]
                .public_key
                .valid_for
                .end
                .as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            old_root.trusted_root.tlogs[0]
                .public_key
                .valid_for
                .end
                .as_deref(),
            Some("2026-06-01T00:00:00Z"),
            "an existing end is kept"
        );
        assert_eq!(
            old_root.trusted_root.certificate_authorities[0]
                .valid_for
                .end
                .as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
    }

    #[test]
    fn yaml_descriptions_build_the_same_material() {
        let f = fixture();
        let toml_built = build_text(&f, DESCRIPTION).unwrap();
        let value: toml::Value = toml::from_str(DESCRIPTION).unwrap();
        let path = f.dir.path().join("trust.yaml");
        std::fs::write(&path, serde_yaml_ng::to_string(&value).unwrap()).unwrap();
        let yaml_built = build(&read_description(&path).unwrap(), f.dir.path()).unwrap();
        assert_eq!(yaml_built.trusted_root, toml_built.trusted_root);
        assert_eq!(yaml_built.signing_config, toml_built.signing_config);
    }

    #[test]
    fn bad_descriptions_are_refused_with_the_field_named() {
        let f = fixture();
        let cases = [
            (
                "api-version = 1\nvalid-from",
                "api-version = 3\nvalid-from",
                "api-version must be 1 or 2",
            ),
            ("rekor-count = 1", "rekor-count = 0", "EXACT needs a count"),
            (
                "rekor-selector = \"EXACT\"",
                "rekor-selector = \"SOME\"",
                "not one of ANY",
            ),
            (
                "valid-until = \"2026-06-01T00:00:00Z\"",
                "valid-until = \"2025-06-01T00:00:00Z\"",
                "tlogs[0]: valid-until must be after",
            ),
            (
                "public-key = \"ct.pub\"",
                "public-key = \"chain.pem\"",
                "ctlogs[0]: public key",
            ),
            (
                "uri = \"https://fulcio.example.org\"",
                "uri = \"fulcio.example.org\"",
                "certificate-authorities[0]",
            ),
            (
                "operator = \"example.org\"",
                "operator = \"example.org\"\nsurprise = 1",
                "unknown field",
            ),
            (
                "public-key = \"rekor-v1.pub\"\napi-version = 1",
                "public-key = \"rekor-v1.pub\"\napi-version = 1\norigin = \"x\"",
                "origin applies to Rekor v2",
            ),
            (
                "public-key = \"rekor-v2.pub\"",
                "public-key = \"rekor-v1.pub\"",
                "share the log ID",
            ),
        ];
        for (from, to, message) in cases {
            assert!(DESCRIPTION.contains(from), "{from}");
            let err = build_text(&f, &DESCRIPTION.replacen(from, to, 1)).unwrap_err();
            assert!(format!("{err:#}").contains(message), "{message}: {err:#}");
        }
        let no_signing = DESCRIPTION
            .replace("api-version = 1\n", "api-version = 1\nsigning = false\n")
            .replace("api-version = 2\n", "api-version = 2\nsigning = false\n");
        let err = build_text(&f, &no_signing).unwrap_err();
        assert!(
            format!("{err:#}").contains("at least one certificate authority and one tlog"),
            "{err:#}"
        );
        let path = f.dir.path().join("tsa-short.pem");
        let chain = std::fs::read_to_string(f.dir.path().join("chain.pem")).unwrap();
        let first = chain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .unwrap();
        std::fs::write(&path, first).unwrap();
        let text = DESCRIPTION.replace(
            "chain = [\"chain.pem\"]\n\n[signing]",
            "chain = [\"tsa-short.pem\"]\n\n[signing]",
        );
        let err = build_text(&f, &text).unwrap_err();
        assert!(format!("{err:#}").contains("at least 2"), "{err:#}");
    }
}
