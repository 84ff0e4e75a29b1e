//! `sigstack verify`: offline bundle verification and air-gap kits.
//!
//! `sigstack verify bundle` (alias `verify-bundle`) takes the flags of the sigstore-conformance
//! CLI protocol's verify-bundle command, so a conformance entry point can be
//! `sigstack verify "$@"`:
//!
//! ```text
//! sigstack verify verify-bundle --bundle FILE
//!     (--certificate-identity ID | --certificate-identity-regexp RE)
//!     (--certificate-oidc-issuer URL | --certificate-oidc-issuer-regexp RE) | --key PEM
//!     (--trusted-root FILE | --data-dir DIR) [--witness VKEY ... --witness-threshold N]
//!     FILE_OR_sha256:HEX
//! ```
//!
//! Nothing touches the network. A failure exits non-zero with the name of the failed check.
//!
//! `sigstack verify export-kit --data-dir DIR --out KIT [--bundle FILE ...]` copies what an
//! air-gapped verifier needs into `KIT`: the trusted root (and ClientTrustConfig), the TUF
//! metadata found under the data directory, and bundles (each must carry its inclusion proof
//! and checkpoint), with a `manifest.json` of SHA-256 sums.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sha2::Digest as _;
use sigstack_verify::{Matcher, Policy, SignerPolicy, TrustedRoot, Witness, WitnessPolicy, verify};

/// `sigstack verify ...`
#[derive(Debug, clap::Args)]
pub struct VerifyCommand {
    #[command(subcommand)]
    command: VerifySubcommand,
}

#[derive(Debug, clap::Subcommand)]
enum VerifySubcommand {
    /// Verify a Sigstore bundle offline against a trusted root.
    #[command(alias = "verify-bundle")]
    Bundle(Box<BundleArgs>),
    /// Export an air-gap verification kit: trusted root, TUF metadata and bundles.
    ExportKit(KitArgs),
}

#[derive(Debug, clap::Args)]
struct BundleArgs {
    /// Refused: the public-good staging instance needs its own trust root (give --trusted-root).
    #[arg(long, hide = true)]
    staging: bool,
    /// The bundle to verify.
    #[arg(long)]
    bundle: PathBuf,
    /// Expected certificate identity (SAN: email, URI or user name), exactly.
    #[arg(long, conflicts_with_all = ["certificate_identity_regexp", "key"])]
    certificate_identity: Option<String>,
    /// Expected certificate identity as a regular expression matching the whole value.
    #[arg(long, alias = "certificate-identity-regex", conflicts_with = "key")]
    certificate_identity_regexp: Option<String>,
    /// Expected OIDC issuer, exactly.
    #[arg(long, conflicts_with_all = ["certificate_oidc_issuer_regexp", "key"])]
    certificate_oidc_issuer: Option<String>,
    /// Expected OIDC issuer as a regular expression matching the whole value.
    #[arg(long, alias = "certificate-oidc-issuer-regex", conflicts_with = "key")]
    certificate_oidc_issuer_regexp: Option<String>,
    /// PEM public key of a key-signed bundle (ECDSA P-256/P-384 or Ed25519).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Trusted root (a TrustedRoot or ClientTrustConfig JSON file).
    #[arg(long, conflicts_with = "data_dir")]
    trusted_root: Option<PathBuf>,
    /// Data directory of a stack: uses DIR/trust/trusted_root.json.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Witness verifier key (`name+keyid+base64(0x04||key)`) whose cosignature counts.
    #[arg(long = "witness")]
    witnesses: Vec<String>,
    /// How many of the --witness keys must cosign every checkpoint (default: all given).
    #[arg(long, requires = "witnesses")]
    witness_threshold: Option<usize>,
    /// The artifact, or its digest as `sha256:<64 hex>` (taken as a path if such a file exists).
    artifact: String,
}

#[derive(Debug, clap::Args)]
struct KitArgs {
    /// Data directory of the stack whose trust material is exported.
    #[arg(long, env = "SIGSTACK_DATA_DIR")]
    data_dir: PathBuf,
    /// Directory to write the kit into (created; existing files are replaced).
    #[arg(long)]
    out: PathBuf,
    /// Bundles to include (each must carry an inclusion proof with its checkpoint).
    #[arg(long = "bundle")]
    bundles: Vec<PathBuf>,
}

/// Run `sigstack verify`.
///
/// # Errors
/// Verification failures name the failed check; I/O and argument errors say what is wrong.
pub fn run(command: VerifyCommand) -> anyhow::Result<()> {
    match command.command {
        VerifySubcommand::Bundle(args) => verify_bundle(*args),
        VerifySubcommand::ExportKit(args) => export_kit(&args),
    }
}

fn verify_bundle(args: BundleArgs) -> anyhow::Result<()> {
    if args.staging {
        bail!("--staging is not supported offline: give --trusted-root");
    }
    let root_path = match (&args.trusted_root, &args.data_dir) {
        (Some(path), _) => path.clone(),
        (None, Some(dir)) => dir.join("trust").join("trusted_root.json"),
        (None, None) => bail!("give --trusted-root FILE or --data-dir DIR"),
    };
    let root = TrustedRoot::from_json(&read_capped(
        &root_path,
        sigstack_verify::MAX_TRUSTED_ROOT_BYTES,
    )?)
    .with_context(|| format!("trusted root {}", root_path.display()))?;
    let signer = match &args.key {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            SignerPolicy::Key(
                sigstack_keys::PublicKey::from_pem(&pem)
                    .with_context(|| format!("public key {}", path.display()))?,
            )
        }
        None => SignerPolicy::Identity {
            identity: matcher(
                args.certificate_identity.as_deref(),
                args.certificate_identity_regexp.as_deref(),
                "--certificate-identity",
            )?,
            issuer: matcher(
                args.certificate_oidc_issuer.as_deref(),
                args.certificate_oidc_issuer_regexp.as_deref(),
                "--certificate-oidc-issuer",
            )?,
        },
    };
    let witnesses = if args.witnesses.is_empty() {
        None
    } else {
        let witnesses = args
            .witnesses
            .iter()
            .map(|v| Witness::from_vkey(v))
            .collect::<Result<Vec<_>, _>>()?;
        let threshold = args.witness_threshold.unwrap_or(witnesses.len());
        if threshold == 0 || threshold > witnesses.len() {
            bail!(
                "--witness-threshold must be between 1 and the {} witnesses given",
                witnesses.len()
            );
        }
        Some(WitnessPolicy {
            witnesses,
            threshold,
        })
    };
    let digest = artifact_digest(&args.artifact)?;
    let bundle = read_capped(&args.bundle, sigstack_verify::MAX_BUNDLE_BYTES)?;
    let policy = Policy { signer, witnesses };
    match verify(&bundle, &digest, &root, &policy) {
        Ok(verified) => {
            println!("OK: {}", args.artifact);
            if !verified.identities.is_empty() {
                println!(
                    "  identity {} (issuer {})",
                    verified.identities.join(", "),
                    verified.issuer.as_deref().unwrap_or("-")
                );
            }
            let times: Vec<String> = verified.signing_times.iter().map(|t| rfc3339(*t)).collect();
            println!(
                "  {} transparency-log entr{}; verified signing time(s): {}",
                verified.tlog_entries,
                if verified.tlog_entries == 1 {
                    "y"
                } else {
                    "ies"
                },
                if times.is_empty() {
                    "none (key-signed bundle)".to_string()
                } else {
                    times.join(", ")
                }
            );
            Ok(())
        }
        Err(e) => {
            eprintln!("verification failed: check {} failed: {e}", e.check());
            std::process::exit(1);
        }
    }
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

fn matcher(exact: Option<&str>, regex: Option<&str>, flag: &str) -> anyhow::Result<Matcher> {
    match (exact, regex) {
        (Some(value), None) => Ok(Matcher::Exact(value.to_string())),
        (None, Some(pattern)) => Ok(Matcher::regex(pattern)?),
        _ => bail!("give {flag} or {flag}-regexp (or --key for a key-signed bundle)"),
    }
}

/// `sha256:<64 hex>` names a digest unless a file of that name exists; anything else is a
/// path, hashed as it is read.
fn artifact_digest(artifact: &str) -> anyhow::Result<[u8; 32]> {
    let digest = artifact
        .strip_prefix("sha256:")
        .filter(|hex_digest| hex_digest.len() == 64 && !Path::new(artifact).exists())
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
    if let Some(digest) = digest {
        return Ok(digest);
    }
    let mut file =
        std::fs::File::open(artifact).with_context(|| format!("opening artifact {artifact}"))?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("reading artifact {artifact}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().into())
}

/// Read a file, refusing more than `cap` bytes before reading them.
fn read_capped(path: &Path, cap: usize) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(u64::try_from(cap).unwrap_or(u64::MAX) + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() > cap {
        bail!("{} is larger than {cap} bytes", path.display());
    }
    Ok(bytes)
}

/// Names under the data directory that hold TUF metadata, if the stack publishes a repository.
const TUF_DIRS: [&str; 2] = ["tuf", "trust/tuf"];

fn export_kit(args: &KitArgs) -> anyhow::Result<()> {
    let trust = args.data_dir.join("trust");
    let root_path = trust.join("trusted_root.json");
    let root_bytes = read_capped(&root_path, sigstack_verify::MAX_TRUSTED_ROOT_BYTES)?;
    TrustedRoot::from_json(&root_bytes)
        .with_context(|| format!("trusted root {}", root_path.display()))?;
    // Check every bundle before writing anything.
    let mut bundles = Vec::new();
    for (i, path) in args.bundles.iter().enumerate() {
        let bytes = read_capped(path, sigstack_verify::MAX_BUNDLE_BYTES)?;
        check_kit_bundle(&bytes).with_context(|| format!("bundle {}", path.display()))?;
        let name = path.file_name().map_or_else(
            || format!("bundle-{i}.json"),
            |n| n.to_string_lossy().to_string(),
        );
        if bundles.iter().any(|(n, _): &(String, Vec<u8>)| *n == name) {
            bail!("two bundles are named {name}");
        }
        bundles.push((name, bytes));
    }

    let mut manifest = serde_json::Map::new();
    let mut files = Vec::new();
    let out = &args.out;
    let write = |rel: &str, bytes: &[u8], files: &mut Vec<serde_json::Value>| {
        let path = out.join(rel);
        if let Some(parent) = path.parent() {
            sigstack_durable::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        sigstack_durable::write(&path, bytes)
            .with_context(|| format!("writing {}", path.display()))?;
        files.push(serde_json::json!({
            "path": rel,
            "sha256": hex::encode(sha2::Sha256::digest(bytes)),
        }));
        anyhow::Ok(())
    };
    write("trusted_root.json", &root_bytes, &mut files)?;
    if let Some(config) = sigstack_durable::read_existing(&trust.join("trust_config.json"))
        .context("reading trust_config.json")?
    {
        write("trust_config.json", &config, &mut files)?;
    }
    let mut tuf_files = 0;
    for dir in TUF_DIRS {
        let source = args.data_dir.join(dir);
        if source.is_dir() {
            for (rel, bytes) in read_tree(&source)? {
                write(&format!("tuf/{rel}"), &bytes, &mut files)?;
                tuf_files += 1;
            }
            break;
        }
    }
    for (name, bytes) in &bundles {
        write(&format!("bundles/{name}"), bytes, &mut files)?;
    }
    manifest.insert(
        "description".into(),
        "Sigstack air-gap verification kit: verify with `sigstack verify bundle --trusted-root trusted_root.json ...`".into(),
    );
    manifest.insert("files".into(), files.into());
    let manifest = serde_json::to_vec_pretty(&manifest)?;
    sigstack_durable::write(&out.join("manifest.json"), &manifest)
        .with_context(|| format!("writing {}", out.join("manifest.json").display()))?;
    println!(
        "air-gap kit written to {}: trusted root, {tuf_files} TUF file(s), {} bundle(s)",
        out.display(),
        bundles.len()
    );
    Ok(())
}

/// A kit bundle must parse and carry, for every log entry, an inclusion proof with its
/// checkpoint, so it verifies without asking the log anything.
fn check_kit_bundle(bytes: &[u8]) -> anyhow::Result<()> {
    let bundle = sigstack_verify::Bundle::from_json(bytes)?;
    sigstack_verify::BundleVersion::from_media_type(&bundle.media_type)?;
    let entries = &bundle.verification_material.tlog_entries;
    if entries.is_empty() {
        bail!("has no transparency-log entry");
    }
    if entries.iter().any(|e| {
        e.inclusion_proof
            .as_ref()
            .is_none_or(|p| p.checkpoint.is_none())
    }) {
        bail!("lacks an inclusion proof with checkpoint (offline verification needs one)");
    }
    Ok(())
}

/// Every regular file under `dir`, with its path relative to `dir` ('/'-separated), sorted.
fn read_tree(dir: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, rel)) = stack.pop() {
        for entry in
            std::fs::read_dir(&path).with_context(|| format!("listing {}", path.display()))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            let child_rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push((entry.path(), child_rel));
            } else if kind.is_file() {
                out.push((
                    child_rel,
                    std::fs::read(entry.path())
                        .with_context(|| format!("reading {}", entry.path().display()))?,
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn digest_arguments_follow_the_conformance_rule() {
        let hex64 = "ab".repeat(32);
        assert_eq!(
            artifact_digest(&format!("sha256:{hex64}")).unwrap(),
            [0xab; 32]
        );
        // Wrong length or not hex: treated as a path, which does not exist.
        assert!(artifact_digest("sha256:abcd").is_err());
        assert!(artifact_digest(&format!("sha256:{}", "zz".repeat(32))).is_err());
        // An existing file of that name wins.
        let dir = tempfile::tempdir().unwrap();
        let name = dir.path().join(format!("sha256:{hex64}"));
        std::fs::write(&name, b"content").unwrap();
        assert_eq!(
            artifact_digest(name.to_str().unwrap()).unwrap(),
            <[u8; 32]>::from(sha2::Sha256::digest(b"content"))
        );
    }
}
