//! Configuration of `sigstack up`: an optional TOML file, overridden by environment variables,
//! overridden by flags; checked once at startup into [`StackConfig`].

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use sigstack_keys::KeySource;

/// Default ports, one per service.
pub const DEFAULT_PORTS: Ports = Ports {
    fulcio: 7700,
    ctlog: 7701,
    rekor_v1: 7702,
    rekor_v2: 7703,
    tsa: 7704,
    oidc: 7705,
};

/// Flags (and their environment variables) of `sigstack up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Data directory holding every key, certificate and log (created if missing).
    #[arg(long, env = "SIGSTACK_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Optional TOML configuration file (flags and environment variables override it).
    #[arg(long, env = "SIGSTACK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address every service listens on.
    #[arg(long, env = "SIGSTACK_LISTEN")]
    pub listen: Option<IpAddr>,
    /// Host name clients use in URLs (defaults to the listen address).
    #[arg(long, env = "SIGSTACK_PUBLIC_HOST")]
    pub public_host: Option<String>,
    /// Fulcio port (0 picks a free port).
    #[arg(long, env = "SIGSTACK_FULCIO_PORT")]
    pub fulcio_port: Option<u16>,
    /// CT log port.
    #[arg(long, env = "SIGSTACK_CTLOG_PORT")]
    pub ctlog_port: Option<u16>,
    /// Rekor v1 port.
    #[arg(long, env = "SIGSTACK_REKOR_V1_PORT")]
    pub rekor_v1_port: Option<u16>,
    /// Rekor v2 port.
    #[arg(long, env = "SIGSTACK_REKOR_V2_PORT")]
    pub rekor_v2_port: Option<u16>,
    /// Timestamp authority port.
    #[arg(long, env = "SIGSTACK_TSA_PORT")]
    pub tsa_port: Option<u16>,
    /// Local OIDC issuer port.
    #[arg(long, env = "SIGSTACK_OIDC_PORT")]
    pub oidc_port: Option<u16>,
    /// Do not run the local OIDC issuer (Fulcio then trusts only the issuers in its config).
    #[arg(long, env = "SIGSTACK_NO_OIDC_ISSUER")]
    pub no_oidc_issuer: bool,
    /// DEVELOPMENT ONLY: let anyone who reaches the OIDC issuer mint tokens for any identity.
    #[arg(long, env = "SIGSTACK_DANGEROUSLY_MINT_ANY_IDENTITY")]
    pub dangerously_mint_any_identity: bool,
    /// Fulcio issuer configuration (Fulcio's YAML/JSON format) to use instead of the generated one.
    #[arg(long, env = "SIGSTACK_FULCIO_CONFIG")]
    pub fulcio_config: Option<PathBuf>,
    /// Fulcio's issuing (intermediate) CA key: `file:PATH[?password-env=VAR]` or
    /// `pkcs11:token=T;object=LABEL?module-path=M&pin-env=VAR`. Its certificate chain must be
    /// in DATA_DIR/fulcio/ca (see `sigstack ca`). Default: a key file in the data directory.
    #[arg(long, env = "SIGSTACK_FULCIO_CA_KEY")]
    pub fulcio_ca_key: Option<KeySource>,
    /// The TSA's time-stamping key (same forms); its chain must be in DATA_DIR/tsa.
    #[arg(long, env = "SIGSTACK_TSA_KEY")]
    pub tsa_key: Option<KeySource>,
    /// Rekor v1's log key (ECDSA P-256 or P-384; same forms).
    #[arg(long, env = "SIGSTACK_REKOR_V1_KEY")]
    pub rekor_v1_key: Option<KeySource>,
    /// Rekor v2's checkpoint key (Ed25519; same forms).
    #[arg(long, env = "SIGSTACK_REKOR_V2_KEY")]
    pub rekor_v2_key: Option<KeySource>,
    /// The CT log's key (ECDSA P-256; same forms).
    #[arg(long, env = "SIGSTACK_CTLOG_KEY")]
    pub ctlog_key: Option<KeySource>,
}

/// Where each service's signing key lives; `None` keeps the key file in the data directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceKeys {
    pub fulcio_ca: Option<KeySource>,
    pub tsa: Option<KeySource>,
    pub rekor_v1: Option<KeySource>,
    pub rekor_v2: Option<KeySource>,
    pub ctlog: Option<KeySource>,
}

/// `[keys]` of the TOML file: the same one-line key sources as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileKeys {
    fulcio_ca: Option<String>,
    tsa: Option<String>,
    rekor_v1: Option<String>,
    rekor_v2: Option<String>,
    ctlog: Option<String>,
}

/// The TOML file (every field optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    listen: Option<IpAddr>,
    public_host: Option<String>,
    organization: Option<String>,
    #[serde(default)]
    ports: FilePorts,
    #[serde(default)]
    oidc: FileOidc,
    fulcio_config: Option<PathBuf>,
    #[serde(default)]
    log: FileLog,
    #[serde(default)]
    keys: FileKeys,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FilePorts {
    fulcio: Option<u16>,
    ctlog: Option<u16>,
    rekor_v1: Option<u16>,
    rekor_v2: Option<u16>,
    tsa: Option<u16>,
    oidc: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileOidc {
    enabled: Option<bool>,
    dangerously_mint_any_identity: Option<bool>,
    #[serde(default)]
    clients: Vec<sigstack_oidc_issuer::ClientIdentity>,
    token_lifetime_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileLog {
    batch_max_size: Option<usize>,
    batch_max_age_ms: Option<u64>,
}

/// Ports of every service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub fulcio: u16,
    pub ctlog: u16,
    pub rekor_v1: u16,
    pub rekor_v2: u16,
    pub tsa: u16,
    pub oidc: u16,
}

/// The checked configuration of a running stack.
#[derive(Debug)]
pub struct StackConfig {
    pub data_dir: PathBuf,
    pub listen: IpAddr,
    pub public_host: String,
    pub organization: String,
    pub ports: Ports,
    pub oidc_enabled: bool,
    pub dangerously_mint_any_identity: bool,
    pub oidc_clients: Vec<sigstack_oidc_issuer::ClientIdentity>,
    pub token_lifetime: std::time::Duration,
    pub fulcio_config: Option<PathBuf>,
    pub batch_max_size: usize,
    pub batch_max_age: std::time::Duration,
    pub keys: ServiceKeys,
}

impl StackConfig {
    /// Merge file, environment and flags, then check the result.
    pub fn resolve(args: UpArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let public_host = args
            .public_host
            .or(file.public_host)
            .unwrap_or_else(|| match listen {
                IpAddr::V6(v6) => format!("[{v6}]"),
                IpAddr::V4(v4) => v4.to_string(),
            });
        if public_host.is_empty() || public_host.contains(['/', ' ', '+']) {
            bail!("public host {public_host:?} must be a bare host name or address");
        }
        let ports = Ports {
            fulcio: args
                .fulcio_port
                .or(file.ports.fulcio)
                .unwrap_or(DEFAULT_PORTS.fulcio),
            ctlog: args
                .ctlog_port
                .or(file.ports.ctlog)
                .unwrap_or(DEFAULT_PORTS.ctlog),
            rekor_v1: args
                .rekor_v1_port
                .or(file.ports.rekor_v1)
                .unwrap_or(DEFAULT_PORTS.rekor_v1),
            rekor_v2: args
                .rekor_v2_port
                .or(file.ports.rekor_v2)
                .unwrap_or(DEFAULT_PORTS.rekor_v2),
            tsa: args
                .tsa_port
                .or(file.ports.tsa)
                .unwrap_or(DEFAULT_PORTS.tsa),
            oidc: args
                .oidc_port
                .or(file.ports.oidc)
                .unwrap_or(DEFAULT_PORTS.oidc),
        };
        let fixed: Vec<u16> = [
            ports.fulcio,
            ports.ctlog,
            ports.rekor_v1,
            ports.rekor_v2,
            ports.tsa,
            ports.oidc,
        ]
        .into_iter()
        .filter(|p| *p != 0)
        .collect();
        let mut unique = fixed.clone();
        unique.sort_unstable();
        unique.dedup();
        if unique.len() != fixed.len() {
            bail!("two services are configured on the same port: {ports:?}");
        }
        let oidc_enabled = !args.no_oidc_issuer && file.oidc.enabled.unwrap_or(true);
        let dangerously_mint_any_identity = args.dangerously_mint_any_identity
            || file.oidc.dangerously_mint_any_identity.unwrap_or(false);
        if dangerously_mint_any_identity && !oidc_enabled {
            bail!("--dangerously-mint-any-identity needs the local OIDC issuer");
        }
        let batch_max_size = file.log.batch_max_size.unwrap_or(256);
        if batch_max_size == 0 {
            bail!("log.batch-max-size must be at least 1");
        }
        let fulcio_config = args.fulcio_config.or(file.fulcio_config);
        if !oidc_enabled && fulcio_config.is_none() {
            bail!(
                "without the local OIDC issuer, give --fulcio-config naming the issuers Fulcio trusts"
            );
        }
        let key = |flag: Option<KeySource>, file: Option<String>, name: &str| match (flag, file) {
            (Some(source), _) => Ok(Some(source)),
            (None, Some(text)) => text
                .parse::<KeySource>()
                .map(Some)
                .with_context(|| format!("keys.{name}")),
            (None, None) => Ok(None),
        };
        let keys = ServiceKeys {
            fulcio_ca: key(args.fulcio_ca_key, file.keys.fulcio_ca, "fulcio-ca")?,
            tsa: key(args.tsa_key, file.keys.tsa, "tsa")?,
            rekor_v1: key(args.rekor_v1_key, file.keys.rekor_v1, "rekor-v1")?,
            rekor_v2: key(args.rekor_v2_key, file.keys.rekor_v2, "rekor-v2")?,
            ctlog: key(args.ctlog_key, file.keys.ctlog, "ctlog")?,
        };
        Ok(Self {
            keys,
            data_dir: args.data_dir,
            listen,
            public_host,
            organization: file.organization.unwrap_or_else(|| "sigstack".to_string()),
            ports,
            oidc_enabled,
            dangerously_mint_any_identity,
            oidc_clients: file.oidc.clients,
            token_lifetime: std::time::Duration::from_secs(
                file.oidc.token_lifetime_seconds.unwrap_or(600),
            ),
            fulcio_config,
            batch_max_size,
            batch_max_age: std::time::Duration::from_millis(
                file.log.batch_max_age_ms.unwrap_or(20),
            ),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        up: UpArgs,
    }

    fn resolve(args: &[&str]) -> anyhow::Result<StackConfig> {
        let cli = Cli::try_parse_from(std::iter::once("up").chain(args.iter().copied()))?;
        StackConfig::resolve(cli.up)
    }

    fn example() -> String {
        format!("{}/sigstack.example.toml", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn defaults_just_work() {
        let c = resolve(&["--data-dir", "/tmp/x"]).unwrap();
        assert_eq!(c.ports, DEFAULT_PORTS);
        assert_eq!(c.public_host, "127.0.0.1");
        assert!(c.oidc_enabled && !c.dangerously_mint_any_identity);
        assert_eq!(c.batch_max_size, 256);
    }

    #[test]
    fn the_example_file_parses_and_flags_override_it() {
        let example = example();
        let c = resolve(&["--data-dir", "/tmp/x", "--config", &example]).unwrap();
        assert_eq!(c.oidc_clients.len(), 1);
        assert_eq!(
            c.oidc_clients[0].subject,
            "https://ci.example.test/pipelines/release"
        );
        assert_eq!(c.batch_max_age, std::time::Duration::from_millis(20));
        let c = resolve(&[
            "--data-dir",
            "/tmp/x",
            "--config",
            &example,
            "--tsa-port",
            "9999",
        ])
        .unwrap();
        assert_eq!(c.ports.tsa, 9999);
        assert_eq!(c.ports.fulcio, 7700);
    }

    #[test]
    fn key_sources_come_from_file_env_or_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.toml");
        std::fs::write(
            &file,
            "[keys]\nfulcio-ca = \"pkcs11:token=ca;object=fulcio?module-path=/m.so&pin-env=PIN\"\n\
             tsa = \"file:/etc/tsa.pem?password-file=/run/tsa-pass\"\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let c = resolve(&["--data-dir", "/x", "--config", path]).unwrap();
        let Some(KeySource::Pkcs11(ca)) = &c.keys.fulcio_ca else {
            panic!("{:?}", c.keys)
        };
        assert_eq!(
            (ca.token_label.as_str(), ca.key_label.as_str()),
            ("ca", "fulcio")
        );
        assert!(matches!(&c.keys.tsa, Some(KeySource::File(f)) if f.path.ends_with("tsa.pem")));
        assert_eq!(c.keys.rekor_v1, None);
        // A flag overrides the file.
        let c = resolve(&[
            "--data-dir",
            "/x",
            "--config",
            path,
            "--tsa-key",
            "file:/other.pem",
        ])
        .unwrap();
        assert_eq!(c.keys.tsa.unwrap().to_string(), "file:/other.pem");
        // Malformed sources are refused at startup, naming the key.
        std::fs::write(&file, "[keys]\nctlog = \"hsm:whatever\"\n").unwrap();
        let err = resolve(&["--data-dir", "/x", "--config", path]).unwrap_err();
        assert!(format!("{err:#}").contains("keys.ctlog"), "{err:#}");
        assert!(resolve(&["--data-dir", "/x", "--rekor-v2-key", "pkcs11:token=t"]).is_err());
    }

    #[test]
    fn bad_configurations_are_refused_at_startup() {
        assert!(
            resolve(&["--data-dir", "/x", "--fulcio-port", "7701"]).is_err(),
            "port clash"
        );
        assert!(
            resolve(&["--data-dir", "/x", "--fulcio-port", "0", "--tsa-port", "0"]).is_ok(),
            "0 may repeat"
        );
        assert!(
            resolve(&[
                "--data-dir",
                "/x",
                "--no-oidc-issuer",
                "--dangerously-mint-any-identity"
            ])
            .is_err()
        );
        assert!(
            resolve(&["--data-dir", "/x", "--no-oidc-issuer"]).is_err(),
            "no issuer at all"
        );
        assert!(resolve(&["--data-dir", "/x", "--public-host", "a b"]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "listen = \"127.0.0.1\"\nunknown-key = 1\n").unwrap();
        let err = resolve(&["--data-dir", "/x", "--config", bad.to_str().unwrap()]).unwrap_err();
        assert!(format!("{err:#}").contains("unknown"), "{err:#}");
    }
}
