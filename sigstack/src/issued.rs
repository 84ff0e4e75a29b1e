//! `sigstack issued --data-dir D --identity X`: the certificates Fulcio issued to an identity,
//! as recorded in the stack's CT log (an operator's audit question).
//!
//! Every certificate Fulcio issues is in the CT log before it is returned (a precertificate
//! entry in the default embedded-SCT mode, the certificate itself in detached mode), so the log
//! is the complete record. This command reads it over the running stack's RFC 6962 read API:
//! the CT log URL comes from `D/trust/trusted_root.json` (or `--ct-url`), then `get-sth` and
//! `get-entries` in pages. It never opens the log's storage, so it works while the stack runs
//! and needs no write access to the data directory.
//!
//! An entry matches when its single subject alternative name (email address, URI, or the
//! `user!domain` of a username certificate) equals `--identity`, and, with `--issuer`, when its
//! issuer extension (`1.3.6.1.4.1.57264.1.8`, else `.1`) equals that issuer.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use der::Decode as _;
use sigstack_ct::{LogEntryType, MerkleTreeLeaf};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// Entries asked for per `get-entries` call (the log may return fewer).
const PAGE: u64 = 256;

/// Flags of `sigstack issued`.
#[derive(Debug, clap::Args)]
pub struct IssuedArgs {
    /// Data directory of the stack (its trust material names the CT log).
    #[arg(long, env = "SIGSTACK_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The identity: the certificate's SAN (email address, URI, or `user!domain`).
    #[arg(long)]
    pub identity: String,
    /// Only certificates whose recorded OIDC issuer is this.
    #[arg(long)]
    pub issuer: Option<String>,
    /// CT log base URL (default: the first CT log of `trust/trusted_root.json`).
    #[arg(long)]
    pub ct_url: Option<String>,
}

/// One issued certificate found in the log.
#[derive(Debug, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// Index of the entry in the CT log.
    pub index: u64,
    /// SCT timestamp (ms since the epoch).
    pub logged_at_ms: u64,
    /// Serial number, hex.
    pub serial: String,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// Recorded OIDC issuer.
    pub issuer: String,
    /// The SAN value.
    pub identity: String,
}

/// Run the command: print one line per certificate, oldest first.
pub fn run(args: IssuedArgs) -> anyhow::Result<()> {
    let ct_url = match &args.ct_url {
        Some(url) => url.clone(),
        None => ct_url_from_trust(&args.data_dir)?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let found = runtime.block_on(scan(&ct_url, &args.identity, args.issuer.as_deref()))?;
    println!("index\tlogged_at_ms\tserial\tnot_before\tissuer\tidentity");
    for c in &found {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            c.index, c.logged_at_ms, c.serial, c.not_before, c.issuer, c.identity
        );
    }
    eprintln!(
        "{} certificate(s) issued to {} in {ct_url}",
        found.len(),
        args.identity
    );
    Ok(())
}

fn ct_url_from_trust(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("trust/trusted_root.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (start the stack with `sigstack up` first, or give --ct-url)",
            path.display()
        )
    })?;
    let root: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    root["ctlogs"][0]["baseUrl"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("{} names no CT log", path.display()))
}

/// Read the whole log and keep the certificates of `identity` (and `issuer`, if given).
pub async fn scan(
    ct_url: &str,
    identity: &str,
    issuer: Option<&str>,
) -> anyhow::Result<Vec<IssuedCertificate>> {
    let base = ct_url.trim_end_matches('/');
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let sth: serde_json::Value = http
        .get(format!("{base}/ct/v1/get-sth"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {base}/ct/v1/get-sth"))?
        .json()
        .await?;
    let size = sth["tree_size"].as_u64().context("get-sth: no tree_size")?;
    let mut found = Vec::new();
    let mut start = 0;
    while start < size {
        let end = (start + PAGE).min(size) - 1;
        let page: sigstack_ctlog::EntriesResponse = http
            .get(format!("{base}/ct/v1/get-entries?start={start}&end={end}"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("get-entries {start}..={end}"))?
            .json()
            .await?;
        if page.entries.is_empty() {
            bail!("get-entries {start}..={end} returned nothing");
        }
        for (offset, entry) in page.entries.iter().enumerate() {
            let index = start + offset as u64;
            let leaf = B64
                .decode(&entry.leaf_input)
                .ok()
                .and_then(|bytes| MerkleTreeLeaf::from_tls(&bytes).ok())
                .with_context(|| format!("entry {index}: not a MerkleTreeLeaf"))?;
            let Some(cert) = describe(index, &leaf)? else {
                continue;
            };
            if cert.identity == identity && issuer.is_none_or(|i| i == cert.issuer) {
                found.push(cert);
            }
        }
        start += page.entries.len() as u64;
    }
    Ok(found)
}

/// The identity of one log entry (`None` for entries that are not Fulcio certificates, such
/// as certificates without a SAN).
fn describe(index: u64, leaf: &MerkleTreeLeaf) -> anyhow::Result<Option<IssuedCertificate>> {
    let tbs = match &leaf.entry {
        LogEntryType::Precert { tbs_der, .. } => TbsCertificate::from_der(tbs_der)
            .with_context(|| format!("entry {index}: TBSCertificate"))?,
        LogEntryType::X509(der) => x509_cert::Certificate::from_der(der)
            .with_context(|| format!("entry {index}: certificate"))?
            .tbs_certificate()
            .clone(),
    };
    let Ok(Some((_, san))) = tbs.get_extension::<SubjectAltName>() else {
        return Ok(None);
    };
    let Some(identity) = san.0.first().and_then(name_value) else {
        return Ok(None);
    };
    let extension = |oid: &str| {
        tbs.extensions()
            .into_iter()
            .flatten()
            .find(|e| e.extn_id.to_string() == oid)
            .map(|e| e.extn_value.as_bytes().to_vec())
    };
    let issuer = match extension("1.3.6.1.4.1.57264.1.8") {
        Some(der) => der::asn1::Utf8StringRef::from_der(&der)
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        None => extension("1.3.6.1.4.1.57264.1.1")
            .map(|raw| String::from_utf8_lossy(&raw).into_owned())
            .unwrap_or_default(),
    };
    let not_before = time::OffsetDateTime::from(tbs.validity().not_before.to_system_time())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Ok(Some(IssuedCertificate {
        index,
        logged_at_ms: leaf.timestamp,
        serial: hex_string(tbs.serial_number().as_bytes()),
        not_before,
        issuer,
        identity,
    }))
}

fn name_value(name: &GeneralName) -> Option<String> {
    match name {
        GeneralName::Rfc822Name(s) | GeneralName::UniformResourceIdentifier(s) => {
            Some(s.to_string())
        }
        GeneralName::OtherName(other) => other
            .value
            .decode_as::<der::asn1::Utf8StringRef<'_>>()
            .ok()
            .map(|s| s.as_str().to_string()),
        _ => None,
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
