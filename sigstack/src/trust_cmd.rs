//! `sigstack trust ...`: build client trust material from a description, and run the TUF
//! repository that distributes it (quorum staging, detached signing, publication, re-signing).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer};

use crate::trust_tuf::{self, Lifetimes, Repository, RootChanges, RootKeys};

/// `sigstack trust`.
#[derive(Debug, Args)]
pub struct TrustArgs {
    #[command(subcommand)]
    command: TrustCommand,
}

#[derive(Debug, Subcommand)]
enum TrustCommand {
    /// Build trusted_root.json, signing_config.v0.2.json and trust_config.json from a TOML or
    /// YAML description naming key and certificate files (no network access).
    Build {
        /// The description (`.toml`, `.yaml` or `.yml`); relative paths in it start from its
        /// directory. Repeat to merge several (old and new material in a key rotation).
        #[arg(long = "description", required = true)]
        descriptions: Vec<PathBuf>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write an existing trusted root (and signing config) back out as a description plus the
    /// key and certificate files it names, optionally closing or moving its validity windows.
    Describe {
        /// The trusted root.
        #[arg(long)]
        trusted_root: PathBuf,
        /// Its signing config (decides which services are used for signing).
        #[arg(long)]
        signing_config: Option<PathBuf>,
        /// Operator name.
        #[arg(long, default_value = "sigstack")]
        operator: String,
        /// Start every entry at this RFC 3339 time (new material).
        #[arg(long)]
        valid_from: Option<String>,
        /// End every open entry at this RFC 3339 time (material being retired).
        #[arg(long)]
        valid_until: Option<String>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Generate a signing key (PKCS#8 PEM, mode 0600) and its public key next to it (`.pub`);
    /// prints the TUF key ID.
    Keygen {
        /// Private key file to create.
        #[arg(long)]
        out: PathBuf,
        /// `ecdsa-p256` or `ed25519`.
        #[arg(long, default_value = "ecdsa-p256")]
        algorithm: String,
    },
    /// The TUF repository.
    Tuf(Box<TufArgs>),
}

#[derive(Debug, Args)]
struct TufArgs {
    #[command(subcommand)]
    command: TufCommand,
}

#[derive(Debug, Subcommand)]
enum TufCommand {
    /// Create a repository: stage root v1 and targets v1 for the quorum to sign.
    Init {
        /// Repository directory.
        #[arg(long)]
        repo: PathBuf,
        /// Root key (PEM public key file), repeated once per member.
        #[arg(long = "root-key", required = true)]
        root_keys: Vec<PathBuf>,
        /// Signatures required on root.
        #[arg(long)]
        root_threshold: u64,
        /// Targets key (PEM public key file), repeated.
        #[arg(long = "targets-key", required = true)]
        targets_keys: Vec<PathBuf>,
        /// Signatures required on targets.
        #[arg(long, default_value_t = 1)]
        targets_threshold: u64,
        /// Online snapshot + timestamp private key (created if missing; default
        /// REPO/online-key.pem).
        #[arg(long)]
        online_key: Option<PathBuf>,
        /// The trusted root to publish.
        #[arg(long)]
        trusted_root: PathBuf,
        /// The v0.2 signing config to publish.
        #[arg(long)]
        signing_config: PathBuf,
        /// Root lifetime (`30s`, `15m`, `12h`, `365d`).
        #[arg(long, default_value = "365d")]
        root_lifetime: String,
        /// Targets lifetime.
        #[arg(long, default_value = "180d")]
        targets_lifetime: String,
        /// Snapshot lifetime.
        #[arg(long, default_value = "7d")]
        snapshot_lifetime: String,
        /// Timestamp lifetime.
        #[arg(long, default_value = "1d")]
        timestamp_lifetime: String,
    },
    /// Stage the next root version: rotate, add or revoke keys, change thresholds, or just
    /// extend its expiry.
    StageRoot {
        /// Repository directory.
        #[arg(long)]
        repo: PathBuf,
        /// Root key to add (PEM public key file).
        #[arg(long = "add-root-key")]
        add_root: Vec<PathBuf>,
        /// Root key to revoke (hex key ID or PEM public key file).
        #[arg(long = "remove-root-key")]
        remove_root: Vec<String>,
        /// New root threshold.
        #[arg(long)]
        root_threshold: Option<u64>,
        /// Targets key to add.
        #[arg(long = "add-targets-key")]
        add_targets: Vec<PathBuf>,
        /// Targets key to revoke (hex key ID or PEM public key file).
        #[arg(long = "remove-targets-key")]
        remove_targets: Vec<String>,
        /// New targets threshold.
        #[arg(long)]
        targets_threshold: Option<u64>,
        /// Replacement online key (PEM public key file).
        #[arg(long)]
        online_public_key: Option<PathBuf>,
    },
    /// Stage the next targets version with new trust material (or the published files again,
    /// to extend the expiry).
    StageTargets {
        /// Repository directory.
        #[arg(long)]
        repo: PathBuf,
        /// New trusted root.
        #[arg(long)]
        trusted_root: Option<PathBuf>,
        /// New v0.2 signing config.
        #[arg(long)]
        signing_config: Option<PathBuf>,
    },
    /// Sign a staged proposal with one member's key into a detached signature file (no
    /// repository needed: copy the staged file to the member's machine).
    Sign {
        /// The staged file (`REPO/staged/root.json` or `REPO/staged/targets.json`).
        #[arg(long)]
        staged: PathBuf,
        /// The member's private key: a PKCS#8 PEM file, or a key source
        /// (`file:PATH?password-env=VAR`, or a key on their own HSM:
        /// `pkcs11:token=T;object=LABEL?module-path=M&pin-source=PATH`).
        #[arg(long)]
        key: String,
        /// Signature file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check the signatures and thresholds, then publish what is staged.
    Publish {
        /// Repository directory.
        #[arg(long)]
        repo: PathBuf,
        /// Detached signature file, repeated.
        #[arg(long = "signature")]
        signatures: Vec<PathBuf>,
        /// Online key (default REPO/online-key.pem).
        #[arg(long)]
        online_key: Option<PathBuf>,
    },
    /// Show what is published (versions, expiries) and what is staged (the keys and thresholds
    /// each proposal needs).
    Status {
        /// Repository directory.
        #[arg(long)]
        repo: PathBuf,
    },
    /// Re-sign snapshot and timestamp when they near expiry (`sigstack up` does this on a
    /// schedule).
    Refresh {
        /// Repository directory.
        #[arg(long)]
        repo: PathBuf,
        /// Online key (default REPO/online-key.pem).
        #[arg(long)]
        online_key: Option<PathBuf>,
        /// Re-sign even if nothing nears expiry.
        #[arg(long)]
        force: bool,
        /// Lifetime of this timestamp only (for drills and tests).
        #[arg(long)]
        timestamp_lifetime: Option<String>,
    },
}

/// Parse `90`, `30s`, `15m`, `12h` or `7d` into seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<u64> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration like 30s, 15m, 12h or 7d"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("{text:?}: unit must be s, m, h or d"),
    };
    let seconds = n.checked_mul(scale).context("duration too long")?;
    if seconds == 0 {
        bail!("{text:?}: a lifetime must be positive");
    }
    Ok(seconds)
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// A member's signing key: a key source (`file:...`, `pkcs11:...`) or a plain PEM file path.
fn member_signer(spec: &str) -> anyhow::Result<Arc<dyn Signer>> {
    if spec.starts_with("pkcs11:") || spec.starts_with("file:") {
        let source: sigstack_keys::KeySource = spec.parse().context("--key")?;
        return source
            .open()
            .with_context(|| format!("opening the signing key ({source})"));
    }
    load_signer(Path::new(spec))
}

fn load_signer(path: &Path) -> anyhow::Result<Arc<dyn Signer>> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Arc::new(
        FileSigner::from_pkcs8_pem(&pem).with_context(|| format!("key {}", path.display()))?,
    ))
}

fn public_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<sigstack_keys::PublicKey>> {
    paths
        .iter()
        .map(|p| trust_tuf::read_public_key(p).map_err(Into::into))
        .collect()
}

/// A key ID given as hex, or as a public key file.
fn key_ids(given: &[String]) -> anyhow::Result<Vec<String>> {
    given
        .iter()
        .map(|g| {
            let path = Path::new(g);
            if path.exists() {
                let key = trust_tuf::read_public_key(path)?;
                Ok(hex::encode(trust_tuf::key_id(&key)?.as_ref()))
            } else {
                Ok(g.to_ascii_lowercase())
            }
        })
        .collect()
}

fn read_target(path: &Path) -> anyhow::Result<Vec<u8>> {
    Ok(trust_tuf::read_capped(
        path,
        "targets",
        trust_tuf::MAX_TARGET_SIZE,
    )?)
}

/// Run `sigstack trust`.
pub fn run(args: TrustArgs) -> anyhow::Result<()> {
    match args.command {
        TrustCommand::Build { descriptions, out } => {
            let mut parsed = Vec::new();
            for path in &descriptions {
                let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
                parsed.push((crate::trust_material::read_description(path)?, base));
            }
            let merged = crate::trust_material::merge(parsed)?;
            let built = crate::trust_material::build(&merged, Path::new("."))?;
            for path in crate::trust_material::write(&built, &out)? {
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        TrustCommand::Describe {
            trusted_root,
            signing_config,
            operator,
            valid_from,
            valid_until,
            out,
        } => {
            let read = |p: &Path| -> anyhow::Result<Vec<u8>> {
                Ok(trust_tuf::read_capped(
                    p,
                    "input",
                    trust_tuf::MAX_TARGET_SIZE,
                )?)
            };
            let root: sigstack_trust::TrustedRoot =
                serde_json::from_slice(&read(&trusted_root)?)
                    .with_context(|| format!("parsing {}", trusted_root.display()))?;
            let signing: Option<sigstack_trust::SigningConfig> = signing_config
                .as_deref()
                .map(|p| -> anyhow::Result<_> {
                    serde_json::from_slice(&read(p)?)
                        .with_context(|| format!("parsing {}", p.display()))
                })
                .transpose()?;
            let options = crate::trust_material::DescribeOptions {
                operator,
                valid_from,
                valid_until,
            };
            let path = crate::trust_material::describe(&root, signing.as_ref(), &options, &out)?;
            println!("wrote {}", path.display());
            Ok(())
        }
        TrustCommand::Keygen { out, algorithm } => {
            let algorithm = match algorithm.as_str() {
                "ecdsa-p256" => SignatureAlgorithm::EcdsaP256Sha256,
                "ed25519" => SignatureAlgorithm::Ed25519,
                other => bail!("algorithm {other:?}: use ecdsa-p256 or ed25519"),
            };
            if out.exists() {
                bail!("{} exists; not overwriting a key", out.display());
            }
            let signer = FileSigner::generate(algorithm)?;
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                sigstack_durable::create_dir_all(dir)?;
            }
            sigstack_durable::write_private(&out, signer.to_pkcs8_pem()?.as_bytes())?;
            let public = signer.public_key()?;
            let pub_path = out.with_extension("pub");
            sigstack_durable::write(&pub_path, public.to_pem().as_bytes())?;
            println!("{}", hex::encode(trust_tuf::key_id(&public)?.as_ref()));
            Ok(())
        }
        TrustCommand::Tuf(tuf) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(run_tuf(tuf.command))
        }
    }
}

async fn run_tuf(command: TufCommand) -> anyhow::Result<()> {
    match command {
        TufCommand::Init {
            repo,
            root_keys,
            root_threshold,
            targets_keys,
            targets_threshold,
            online_key,
            trusted_root,
            signing_config,
            root_lifetime,
            targets_lifetime,
            snapshot_lifetime,
            timestamp_lifetime,
        } => {
            let repository = Repository::new(&repo);
            let online_path = online_key.unwrap_or_else(|| repository.online_key_path());
            sigstack_durable::create_dir_all(&repo)?;
            let online =
                FileSigner::load_or_generate(&online_path, SignatureAlgorithm::EcdsaP256Sha256)
                    .with_context(|| format!("online key {}", online_path.display()))?;
            let lifetimes = Lifetimes {
                root: parse_duration(&root_lifetime)?,
                targets: parse_duration(&targets_lifetime)?,
                snapshot: parse_duration(&snapshot_lifetime)?,
                timestamp: parse_duration(&timestamp_lifetime)?,
            };
            let keys = RootKeys {
                root: public_keys(&root_keys)?,
                root_threshold,
                targets: public_keys(&targets_keys)?,
                targets_threshold,
                online: Some(online.public_key()?),
            };
            let targets = vec![
                (
                    trust_tuf::TARGET_NAMES[0].to_string(),
                    read_target(&trusted_root)?,
                ),
                (
                    trust_tuf::TARGET_NAMES[1].to_string(),
                    read_target(&signing_config)?,
                ),
            ];
            repository.init(&keys, lifetimes, &targets, now())?;
            println!(
                "staged root v1 and targets v1 in {}",
                repo.join("staged").display()
            );
            Ok(())
        }
        TufCommand::StageRoot {
            repo,
            add_root,
            remove_root,
            root_threshold,
            add_targets,
            remove_targets,
            targets_threshold,
            online_public_key,
        } => {
            let changes = RootChanges {
                add_root: public_keys(&add_root)?,
                remove_root: key_ids(&remove_root)?,
                root_threshold,
                add_targets: public_keys(&add_targets)?,
                remove_targets: key_ids(&remove_targets)?,
                targets_threshold,
                online: online_public_key
                    .map(|p| trust_tuf::read_public_key(&p))
                    .transpose()?,
            };
            let version = Repository::new(&repo).stage_root(&changes, now())?;
            println!(
                "staged root v{version} in {}",
                repo.join("staged/root.json").display()
            );
            Ok(())
        }
        TufCommand::StageTargets {
            repo,
            trusted_root,
            signing_config,
        } => {
            let mut files = Vec::new();
            if let Some(p) = trusted_root {
                files.push((trust_tuf::TARGET_NAMES[0].to_string(), read_target(&p)?));
            }
            if let Some(p) = signing_config {
                files.push((trust_tuf::TARGET_NAMES[1].to_string(), read_target(&p)?));
            }
            let version = Repository::new(&repo).stage_targets(&files, now())?;
            println!(
                "staged targets v{version} in {}",
                repo.join("staged/targets.json").display()
            );
            Ok(())
        }
        TufCommand::Sign { staged, key, out } => {
            let bytes = trust_tuf::read_capped(&staged, "staged", trust_tuf::MAX_METADATA_SIZE)?;
            let signer = member_signer(&key)?;
            // Show what is being signed: the member's review is the point of the quorum.
            print!("{}", trust_tuf::summarize_staged(&bytes)?);
            let signature = trust_tuf::sign_staged(&bytes, signer.as_ref())?;
            sigstack_durable::write(&out, serde_json::to_string_pretty(&signature)?.as_bytes())
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "signed {} v{} with key {}",
                signature.role,
                signature.version,
                hex::encode(signature.signature.keyid.as_ref())
            );
            Ok(())
        }
        TufCommand::Publish {
            repo,
            signatures,
            online_key,
        } => {
            let repository = Repository::new(&repo);
            let online = load_signer(&online_key.unwrap_or_else(|| repository.online_key_path()))?;
            let report = repository.publish(online, &signatures, now()).await?;
            println!(
                "published root v{} targets v{} snapshot v{} timestamp v{} in {}",
                report.root_version,
                report.targets_version,
                report.snapshot_version,
                report.timestamp_version,
                repository.published_dir().display()
            );
            Ok(())
        }
        TufCommand::Status { repo } => {
            print!("{}", Repository::new(&repo).status()?);
            Ok(())
        }
        TufCommand::Refresh {
            repo,
            online_key,
            force,
            timestamp_lifetime,
        } => {
            let repository = Repository::new(&repo);
            let online = load_signer(&online_key.unwrap_or_else(|| repository.online_key_path()))?;
            let lifetime = timestamp_lifetime
                .as_deref()
                .map(parse_duration)
                .transpose()?;
            match repository.refresh(online, now(), force, lifetime).await? {
                Some(v) => println!("re-signed: timestamp v{v}"),
                None => println!("nothing near expiry"),
            }
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("2d").unwrap(), 172_800);
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("d").is_err());
    }
}
