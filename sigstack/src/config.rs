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
    tuf: 7706,
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
    /// TUF repository port (serves `<tuf-repo>/published/`).
    #[arg(long, env = "SIGSTACK_TUF_PORT")]
    pub tuf_port: Option<u16>,
    /// TUF repository directory (default `<data-dir>/tuf`); see `sigstack trust tuf`.
    #[arg(long, env = "SIGSTACK_TUF_REPO")]
    pub tuf_repo: Option<PathBuf>,
    /// How often the TUF service checks whether snapshot and timestamp need re-signing (seconds).
    #[arg(long, env = "SIGSTACK_TUF_REFRESH_SECONDS")]
    pub tuf_refresh_seconds: Option<u64>,
    /// Public URL of a service as clients reach it, e.g. behind a TLS ingress:
    /// `SERVICE=URL` with SERVICE one of fulcio, ctlog, rekor-v1, rekor-v2, tsa, oidc, tuf
    /// (repeatable). Written into the trust material instead of http://public-host:port.
    #[arg(long = "public-url", value_name = "SERVICE=URL")]
    pub public_urls: Vec<String>,
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
    /// Fulcio's CA type, as upstream Fulcio's `--ca`: only `pkcs11ca` (a CA key and certificate
    /// on a PKCS#11 token, given by `--pkcs11-config-path` and `--hsm-caroot-id`).
    #[arg(long = "ca", env = "SIGSTACK_FULCIO_CA", value_name = "pkcs11ca")]
    pub fulcio_ca_type: Option<String>,
    /// With `--ca pkcs11ca`: upstream Fulcio's crypto11 JSON file (`Path`, `TokenLabel` or
    /// `TokenSerial` or `SlotNumber`, `Pin`); default `config/crypto11.conf`. The CA key is the
    /// key pair labelled `PKCS11CA` on that token.
    #[arg(long, env = "SIGSTACK_PKCS11_CONFIG_PATH")]
    pub pkcs11_config_path: Option<PathBuf>,
    /// With `--ca pkcs11ca`: the `CKA_ID` (as text, e.g. `99`) of the CA certificate on the token.
    #[arg(long, env = "SIGSTACK_HSM_CAROOT_ID")]
    pub hsm_caroot_id: Option<String>,
    /// With `--ca pkcs11ca`: read the CA certificate (PEM; a chain ending with the root) from
    /// this file instead of the token.
    #[arg(long, env = "SIGSTACK_AWS_HSM_ROOT_CA_PATH")]
    pub aws_hsm_root_ca_path: Option<PathBuf>,
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
    /// Keep every log (Rekor v1, Rekor v2, CT log) in this PostgreSQL database
    /// (`postgres://user:password@host:port/database`) instead of the data directory; processes
    /// sharing the database and a copy of the data directory are replicas of one stack.
    #[arg(long, env = "SIGSTACK_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
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

/// Upstream Fulcio's `pkcs11ca`: the CA key on a token described by a crypto11 file, and its
/// certificate on the same token (by `CKA_ID`) or in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HsmCa {
    /// The crypto11 file, checked.
    pub crypto11: sigstack_keys::Crypto11Config,
    /// The CA key (the key pair labelled `PKCS11CA`).
    pub key: KeySource,
    /// `CKA_ID` of the CA certificate on the token.
    pub caroot_id: String,
    /// The CA certificate chain as a PEM file instead of the token.
    pub root_ca_path: Option<PathBuf>,
}

/// Where upstream Fulcio looks for its crypto11 file when `--pkcs11-config-path` is not given.
const DEFAULT_PKCS11_CONFIG_PATH: &str = "config/crypto11.conf";

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
    database_url: Option<String>,
    #[serde(default)]
    fulcio: FileFulcio,
    #[serde(default)]
    log: FileLog,
    tuf_repo: Option<PathBuf>,
    tuf_refresh_seconds: Option<u64>,
    #[serde(default)]
    public_urls: PublicUrls,
    #[serde(default)]
    keys: FileKeys,
    #[serde(default)]
    server: FileServer,
    #[serde(default)]
    tsa: FileTsa,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileServer {
    header_read_timeout_seconds: Option<u64>,
    request_timeout_seconds: Option<u64>,
    max_concurrent_requests: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileTsa {
    policy: Option<String>,
    accuracy_seconds: Option<u32>,
    accuracy_millis: Option<u16>,
    accuracy_micros: Option<u16>,
    omit_accuracy: Option<bool>,
    valid_from: Option<String>,
    valid_until: Option<String>,
}

/// Settings of the timestamp authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsaSettings {
    /// Default policy OID (dotted); `None` for Sigstore's.
    pub policy: Option<String>,
    /// Accuracy written into tokens; `None` omits it.
    pub accuracy: Option<sigstack_tsp::Accuracy>,
    /// The window the TSA issues in; its chain must cover it (checked at start-up).
    pub window: sigstack_tsp::ValidityWindow,
}

impl FileTsa {
    fn resolve(self) -> anyhow::Result<TsaSettings> {
        if let Some(policy) = &self.policy {
            const_oid::ObjectIdentifier::new(policy)
                .map_err(|_| anyhow::anyhow!("tsa.policy {policy:?} is not a dotted OID"))?;
        }
        let given = self.accuracy_seconds.is_some()
            || self.accuracy_millis.is_some()
            || self.accuracy_micros.is_some();
        let accuracy = match (self.omit_accuracy.unwrap_or(false), given) {
            (true, true) => bail!("tsa.omit-accuracy conflicts with tsa.accuracy-*"),
            (true, false) => None,
            (false, false) => Some(sigstack_tsp::Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            (false, true) => {
                let accuracy = sigstack_tsp::Accuracy {
                    seconds: self.accuracy_seconds,
                    millis: self.accuracy_millis,
                    micros: self.accuracy_micros,
                };
                sigstack_tsp::check_accuracy(&accuracy).context("tsa.accuracy-*")?;
                Some(accuracy)
            }
        };
        let time = |key: &str,
                    value: Option<String>|
         -> anyhow::Result<Option<std::time::SystemTime>> {
            value
                .map(|v| {
                    time::OffsetDateTime::parse(&v, &time::format_description::well_known::Rfc3339)
                        .map(std::time::SystemTime::from)
                        .with_context(|| format!("tsa.{key} {v:?} is not an RFC 3339 time"))
                })
                .transpose()
        };
        let window = sigstack_tsp::ValidityWindow {
            not_before: time("valid-from", self.valid_from)?,
            not_after: time("valid-until", self.valid_until)?,
        };
        if let (Some(from), Some(until)) = (window.not_before, window.not_after)
            && from >= until
        {
            bail!("tsa.valid-from must be before tsa.valid-until");
        }
        Ok(TsaSettings {
            policy: self.policy,
            accuracy,
            window,
        })
    }
}

/// `[fulcio]`: detached SCTs and rate limits (both off by default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileFulcio {
    ca: Option<String>,
    pkcs11_config_path: Option<PathBuf>,
    hsm_caroot_id: Option<String>,
    aws_hsm_root_ca_path: Option<PathBuf>,
    detached_sct: Option<bool>,
    rate_limit_per_ip: Option<FileRateLimit>,
    rate_limit_per_identity: Option<FileRateLimit>,
}

/// A token bucket: `{ burst = N, per-minute = M }`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileRateLimit {
    burst: u32,
    per_minute: u32,
}

impl FileRateLimit {
    fn check(self, name: &str) -> anyhow::Result<sigstack_fulcio::RateLimit> {
        if self.burst == 0 || self.per_minute == 0 {
            bail!("fulcio.{name}: burst and per-minute must be at least 1");
        }
        Ok(sigstack_fulcio::RateLimit {
            burst: self.burst,
            per_minute: self.per_minute,
        })
    }
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
    tuf: Option<u16>,
}

/// Public URLs of the services (`[public-urls]` in the file, `--public-url` on the command line).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PublicUrls {
    pub fulcio: Option<String>,
    pub ctlog: Option<String>,
    pub rekor_v1: Option<String>,
    pub rekor_v2: Option<String>,
    pub tsa: Option<String>,
    pub oidc: Option<String>,
    pub tuf: Option<String>,
}

impl PublicUrls {
    fn set(&mut self, assignment: &str) -> anyhow::Result<()> {
        let (service, url) = assignment
            .split_once('=')
            .with_context(|| format!("--public-url {assignment:?}: expected SERVICE=URL"))?;
        let slot = match service {
            "fulcio" => &mut self.fulcio,
            "ctlog" => &mut self.ctlog,
            "rekor-v1" => &mut self.rekor_v1,
            "rekor-v2" => &mut self.rekor_v2,
            "tsa" => &mut self.tsa,
            "oidc" => &mut self.oidc,
            "tuf" => &mut self.tuf,
            other => bail!("--public-url: unknown service {other:?}"),
        };
        *slot = Some(url.to_string());
        Ok(())
    }

    fn check(&self) -> anyhow::Result<()> {
        for url in [
            &self.fulcio,
            &self.ctlog,
            &self.rekor_v1,
            &self.rekor_v2,
            &self.tsa,
            &self.oidc,
            &self.tuf,
        ]
        .into_iter()
        .flatten()
        {
            let parsed = url::Url::parse(url).with_context(|| format!("public URL {url:?}"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                bail!("public URL {url:?} must be http(s) with a host");
            }
            if url.ends_with('/') {
                bail!("public URL {url:?} must not end with '/'");
            }
        }
        Ok(())
    }
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
    pub tuf: u16,
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
    pub fulcio_detached_sct: bool,
    pub fulcio_rate_limits: sigstack_fulcio::RateLimits,
    pub batch_max_size: usize,
    pub batch_max_age: std::time::Duration,
    /// Header and request deadlines and the in-flight bound of every service.
    pub server_limits: sigstack_http::ServerLimits,
    pub tsa: TsaSettings,
    pub tuf_repo: PathBuf,
    pub tuf_refresh_interval: std::time::Duration,
    pub public_urls: PublicUrls,
    pub keys: ServiceKeys,
    /// Fulcio's CA on an HSM configured the way upstream Fulcio's `pkcs11ca` is.
    pub fulcio_hsm_ca: Option<HsmCa>,
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
        // A flag wins over the file, the file over the default.
        let port =
            |flag: Option<u16>, file: Option<u16>, default: u16| flag.or(file).unwrap_or(default);
        let ports = Ports {
            fulcio: port(args.fulcio_port, file.ports.fulcio, DEFAULT_PORTS.fulcio),
            ctlog: port(args.ctlog_port, file.ports.ctlog, DEFAULT_PORTS.ctlog),
            rekor_v1: port(
                args.rekor_v1_port,
                file.ports.rekor_v1,
                DEFAULT_PORTS.rekor_v1,
            ),
            rekor_v2: port(
                args.rekor_v2_port,
                file.ports.rekor_v2,
                DEFAULT_PORTS.rekor_v2,
            ),
            tsa: port(args.tsa_port, file.ports.tsa, DEFAULT_PORTS.tsa),
            oidc: port(args.oidc_port, file.ports.oidc, DEFAULT_PORTS.oidc),
            tuf: port(args.tuf_port, file.ports.tuf, DEFAULT_PORTS.tuf),
        };
        let fixed: Vec<u16> = [
            ports.fulcio,
            ports.ctlog,
            ports.rekor_v1,
            ports.rekor_v2,
            ports.tsa,
            ports.oidc,
            ports.tuf,
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
        let log_defaults = sigstack_tlog_storage::LogConfig::default();
        let batch_max_size = file
            .log
            .batch_max_size
            .unwrap_or(log_defaults.batch_max_size);
        if batch_max_size == 0 {
            bail!("log.batch-max-size must be at least 1");
        }
        let defaults = sigstack_http::ServerLimits::default();
        let seconds = |v: Option<u64>, default: std::time::Duration, name: &str| match v {
            Some(0) => bail!("server.{name} must be at least 1 second"),
            Some(s) => Ok(std::time::Duration::from_secs(s)),
            None => Ok(default),
        };
        let server_limits = sigstack_http::ServerLimits {
            header_read_timeout: seconds(
                file.server.header_read_timeout_seconds,
                defaults.header_read_timeout,
                "header-read-timeout-seconds",
            )?,
            request_timeout: seconds(
                file.server.request_timeout_seconds,
                defaults.request_timeout,
                "request-timeout-seconds",
            )?,
            max_concurrent_requests: match file.server.max_concurrent_requests {
                Some(0) => bail!("server.max-concurrent-requests must be at least 1"),
                Some(n) => n,
                None => defaults.max_concurrent_requests,
            },
        };
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
        let tsa = file.tsa.resolve()?;
        let mut public_urls = file.public_urls;
        for assignment in &args.public_urls {
            public_urls.set(assignment)?;
        }
        public_urls.check()?;
        let tuf_repo = args
            .tuf_repo
            .or(file.tuf_repo)
            .unwrap_or_else(|| args.data_dir.join("tuf"));
        let tuf_refresh_seconds = args
            .tuf_refresh_seconds
            .or(file.tuf_refresh_seconds)
            .unwrap_or(60);
        if tuf_refresh_seconds == 0 {
            bail!("tuf-refresh-seconds must be at least 1");
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
        let fulcio_hsm_ca = hsm_ca(
            args.fulcio_ca_type.or(file.fulcio.ca),
            args.pkcs11_config_path.or(file.fulcio.pkcs11_config_path),
            args.hsm_caroot_id.or(file.fulcio.hsm_caroot_id),
            args.aws_hsm_root_ca_path
                .or(file.fulcio.aws_hsm_root_ca_path),
        )?;
        if fulcio_hsm_ca.is_some() && keys.fulcio_ca.is_some() {
            bail!(
                "fulcio.ca = \"pkcs11ca\" and keys.fulcio-ca (--fulcio-ca-key) both name Fulcio's \
                 CA key; give one"
            );
        }
        Ok(Self {
            keys,
            fulcio_hsm_ca,
            tuf_refresh_interval: std::time::Duration::from_secs(tuf_refresh_seconds),
            tuf_repo,
            public_urls,
            tsa,
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
            fulcio_detached_sct: file.fulcio.detached_sct.unwrap_or(false),
            fulcio_rate_limits: sigstack_fulcio::RateLimits {
                per_ip: file
                    .fulcio
                    .rate_limit_per_ip
                    .map(|l| l.check("rate-limit-per-ip"))
                    .transpose()?,
                per_identity: file
                    .fulcio
                    .rate_limit_per_identity
                    .map(|l| l.check("rate-limit-per-identity"))
                    .transpose()?,
            },
            batch_max_size,
            batch_max_age: file
                .log
                .batch_max_age_ms
                .map_or(log_defaults.batch_max_age, std::time::Duration::from_millis),
            server_limits,
            database_url,
        })
    }
}

/// Check upstream Fulcio's CA settings (`ca`, `pkcs11-config-path`, `hsm-caroot-id`,
/// `aws-hsm-root-ca-path`) and read the crypto11 file.
fn hsm_ca(
    ca: Option<String>,
    config_path: Option<PathBuf>,
    caroot_id: Option<String>,
    root_ca_path: Option<PathBuf>,
) -> anyhow::Result<Option<HsmCa>> {
    match ca.as_deref() {
        None => {
            if config_path.is_some() || caroot_id.is_some() || root_ca_path.is_some() {
                bail!(
                    "fulcio.pkcs11-config-path, fulcio.hsm-caroot-id and \
                     fulcio.aws-hsm-root-ca-path are only used with fulcio.ca = \"pkcs11ca\""
                );
            }
            Ok(None)
        }
        Some("pkcs11ca") => {
            let caroot_id = caroot_id
                .filter(|id| !id.is_empty())
                .context("hsm-caroot-id must be set when using pkcs11ca")?;
            let path = config_path.unwrap_or_else(|| DEFAULT_PKCS11_CONFIG_PATH.into());
            let crypto11 = sigstack_keys::Crypto11Config::load(&path)
                .context("fulcio.pkcs11-config-path (--pkcs11-config-path)")?;
            Ok(Some(HsmCa {
                key: KeySource::Pkcs11(crypto11.key(sigstack_keys::FULCIO_CA_KEY_LABEL)),
                crypto11,
                caroot_id,
                root_ca_path,
            }))
        }
        Some(other @ ("fileca" | "googleca" | "kmsca" | "tinkca" | "ephemeralca")) => bail!(
            "fulcio.ca = {other:?} is not supported; Sigstack runs Fulcio's CA from a key file \
             or PKCS#11 key (keys.fulcio-ca, default: a key file in the data directory) or from \
             \"pkcs11ca\""
        ),
        Some(other) => bail!("unknown CA {other:?} (fulcio.ca / --ca): only \"pkcs11ca\""),
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
        assert_eq!(c.tsa.policy.as_deref(), Some("1.3.6.1.4.1.57264.2"));
        assert_eq!(c.tsa.accuracy.and_then(|a| a.seconds), Some(1));
        assert_eq!(
            c.oidc_clients[0].subject,
            "https://ci.example.test/pipelines/release"
        );
        assert_eq!(c.batch_max_age, std::time::Duration::ZERO);
        assert_eq!(c.server_limits.max_concurrent_requests, 1024);
        assert_eq!(
            c.server_limits.request_timeout,
            std::time::Duration::from_secs(30)
        );
        assert!(!c.fulcio_detached_sct);
        assert_eq!(
            c.fulcio_rate_limits.per_identity,
            Some(sigstack_fulcio::RateLimit {
                burst: 20,
                per_minute: 60
            })
        );
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
    fn public_urls_come_from_flags_or_the_file_and_are_checked() {
        let c = resolve(&[
            "--data-dir",
            "/x",
            "--public-url",
            "fulcio=https://fulcio.example.org",
            "--public-url",
            "rekor-v2=https://rekor.example.org:8443",
        ])
        .unwrap();
        assert_eq!(
            c.public_urls.fulcio.as_deref(),
            Some("https://fulcio.example.org")
        );
        assert_eq!(
            c.public_urls.rekor_v2.as_deref(),
            Some("https://rekor.example.org:8443")
        );
        assert_eq!(c.public_urls.tsa, None);
        assert_eq!(c.tuf_repo, PathBuf::from("/x/tuf"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("urls.toml");
        std::fs::write(&file, "[public-urls]\ntuf = \"https://tuf.example.org\"\n").unwrap();
        let c = resolve(&["--data-dir", "/x", "--config", file.to_str().unwrap()]).unwrap();
        assert_eq!(
            c.public_urls.tuf.as_deref(),
            Some("https://tuf.example.org")
        );
        for bad in [
            "nosuch=https://x.example",
            "tsa=ftp://x.example",
            "tsa",
            "ctlog=https://x.example/",
        ] {
            assert!(
                resolve(&["--data-dir", "/x", "--public-url", bad]).is_err(),
                "{bad}"
            );
        }
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
            (&ca.token, ca.key_label.as_str()),
            (&sigstack_keys::TokenSelector::Label("ca".into()), "fulcio")
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
    fn upstream_pkcs11ca_settings_become_the_fulcio_ca_key() {
        let dir = tempfile::tempdir().unwrap();
        let crypto11 = dir.path().join("crypto11.conf");
        std::fs::write(
            &crypto11,
            r#"{"Path": "/usr/lib/softhsm/libsofthsm2.so", "TokenLabel": "fulcio", "Pin": "2324"}"#,
        )
        .unwrap();
        let c11 = crypto11.to_str().unwrap();
        // Upstream's flags.
        let c = resolve(&[
            "--data-dir",
            "/x",
            "--ca",
            "pkcs11ca",
            "--pkcs11-config-path",
            c11,
            "--hsm-caroot-id",
            "99",
        ])
        .unwrap();
        let hsm = c.fulcio_hsm_ca.unwrap();
        assert_eq!(hsm.caroot_id, "99");
        assert_eq!(hsm.root_ca_path, None);
        assert_eq!(
            hsm.key.to_string(),
            format!(
                "pkcs11:token=fulcio;object=PKCS11CA?module-path=/usr/lib/softhsm/libsofthsm2.so\
                 &pin-crypto11={c11}"
            )
        );
        assert_eq!(c.keys.fulcio_ca, None);
        // The same in the file's [fulcio] section.
        let file = dir.path().join("s.toml");
        std::fs::write(
            &file,
            format!(
                "[fulcio]\nca = \"pkcs11ca\"\npkcs11-config-path = \"{c11}\"\n\
                 hsm-caroot-id = \"99\"\naws-hsm-root-ca-path = \"/etc/fulcio/root.pem\"\n"
            ),
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let c = resolve(&["--data-dir", "/x", "--config", path]).unwrap();
        let hsm = c.fulcio_hsm_ca.unwrap();
        assert_eq!(
            hsm.root_ca_path.as_deref(),
            Some(std::path::Path::new("/etc/fulcio/root.pem"))
        );
        assert_eq!(hsm.crypto11.file, crypto11);

        // Refusals name the setting.
        let err = |args: &[&str]| format!("{:#}", resolve(args).unwrap_err());
        let e = err(&[
            "--data-dir",
            "/x",
            "--ca",
            "pkcs11ca",
            "--pkcs11-config-path",
            c11,
        ]);
        assert!(e.contains("hsm-caroot-id must be set"), "{e}");
        let e = err(&["--data-dir", "/x", "--hsm-caroot-id", "99"]);
        assert!(e.contains("only used with fulcio.ca"), "{e}");
        let e = err(&["--data-dir", "/x", "--ca", "googleca"]);
        assert!(e.contains("not supported"), "{e}");
        let e = err(&["--data-dir", "/x", "--ca", "hsm"]);
        assert!(e.contains("unknown CA"), "{e}");
        let e = err(&[
            "--data-dir",
            "/x",
            "--config",
            path,
            "--fulcio-ca-key",
            "file:/k.pem",
        ]);
        assert!(e.contains("give one"), "{e}");
        std::fs::write(
            &crypto11,
            r#"{"Path": "/m.so", "TokenLabel": "fulcio", "Pin": "1", "Slot": 0}"#,
        )
        .unwrap();
        let e = err(&["--data-dir", "/x", "--config", path]);
        assert!(
            e.contains("pkcs11-config-path") && e.contains("unknown field \"Slot\""),
            "{e}"
        );
        let missing = dir.path().join("missing.conf");
        let e = err(&[
            "--data-dir",
            "/x",
            "--ca",
            "pkcs11ca",
            "--hsm-caroot-id",
            "1",
            "--pkcs11-config-path",
            missing.to_str().unwrap(),
        ]);
        assert!(e.contains("missing.conf"), "{e}");
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

    fn with_tsa(section: &str) -> anyhow::Result<StackConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, format!("[tsa]\n{section}")).unwrap();
        resolve(&["--data-dir", "/x", "--config", path.to_str().unwrap()])
    }

    #[test]
    fn tsa_settings() {
        let c = resolve(&["--data-dir", "/x"]).unwrap();
        assert_eq!(c.tsa.policy, None);
        assert_eq!(c.tsa.accuracy.and_then(|a| a.seconds), Some(1));
        assert_eq!(c.tsa.window, sigstack_tsp::ValidityWindow::default());
        let c = with_tsa(
            "policy = \"1.2.3.4\"\naccuracy-millis = 250\nvalid-from = \"2026-01-01T00:00:00Z\"\nvalid-until = \"2027-01-01T00:00:00Z\"\n",
        )
        .unwrap();
        assert_eq!(c.tsa.policy.as_deref(), Some("1.2.3.4"));
        let accuracy = c.tsa.accuracy.unwrap();
        assert_eq!((accuracy.seconds, accuracy.millis), (None, Some(250)));
        assert!(c.tsa.window.not_before < c.tsa.window.not_after);
        assert_eq!(
            with_tsa("omit-accuracy = true\n").unwrap().tsa.accuracy,
            None
        );
        for bad in [
            "policy = \"not an oid\"\n",
            "accuracy-millis = 1000\n",
            "accuracy-micros = 0\n",
            "omit-accuracy = true\naccuracy-seconds = 2\n",
            "valid-from = \"yesterday\"\n",
            "valid-from = \"2027-01-01T00:00:00Z\"\nvalid-until = \"2026-01-01T00:00:00Z\"\n",
            "unknown = 1\n",
        ] {
            assert!(with_tsa(bad).is_err(), "{bad}");
        }
    }
}
