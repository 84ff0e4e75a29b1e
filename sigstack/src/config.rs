//! Configuration of `sigstack up`: an optional TOML file, overridden by environment variables,
//! overridden by flags; checked once at startup into [`StackConfig`].

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde::Deserialize;

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
    /// Keep every log (Rekor v1, Rekor v2, CT log) in this PostgreSQL database
    /// (`postgres://user:password@host:port/database`) instead of the data directory; processes
    /// sharing the database and a copy of the data directory are replicas of one stack.
    #[arg(long, env = "SIGSTACK_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
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
    database_url: Option<String>,
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
    /// PostgreSQL database holding the logs; `None` keeps them in the data directory.
    pub database_url: Option<String>,
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
        let database_url = args.database_url.or(file.database_url);
        if let Some(url) = &database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            bail!("the database URL must start with postgres:// or postgresql://");
        }
        if !oidc_enabled && fulcio_config.is_none() {
            bail!(
                "without the local OIDC issuer, give --fulcio-config naming the issuers Fulcio trusts"
            );
        }
        Ok(Self {
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
            database_url,
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
        assert!(c.database_url.is_none(), "embedded storage by default");
    }

    #[test]
    fn the_database_url_comes_from_the_file_or_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("db.toml");
        std::fs::write(
            &file,
            "database-url = \"postgres://a@db.example.test/logs\"\n",
        )
        .unwrap();
        let file = file.to_str().unwrap();
        let c = resolve(&["--data-dir", "/x", "--config", file]).unwrap();
        assert_eq!(
            c.database_url.as_deref(),
            Some("postgres://a@db.example.test/logs")
        );
        let c = resolve(&[
            "--data-dir",
            "/x",
            "--config",
            file,
            "--database-url",
            "postgresql://b@other.example.test/x",
        ])
        .unwrap();
        assert_eq!(
            c.database_url.as_deref(),
            Some("postgresql://b@other.example.test/x")
        );
        assert!(resolve(&["--data-dir", "/x", "--database-url", "mysql://a@b/c"]).is_err());
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
