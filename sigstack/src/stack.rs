//! Wiring of the all-in-one stack: keys and certificates under the data directory, one
//! listener per service, trust material for clients, graceful shutdown.
//!
//! Each service has its own start function here, used by `sigstack up` (all of them in one
//! process) and by `sigstack serve` (one of them alone).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use der::Encode as _;
use sigstack_keys::{FileSigner, KeySource, SignatureAlgorithm, Signer};
use sigstack_pki::{CaSpec, CertificateAuthority};
use sigstack_tlog_storage::{EmbeddedLog, LogConfig};
use sigstack_trust::{AuthorityDescription, ClientTrustConfig, Deployment, LogDescription};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::StackConfig;
use crate::storage::LogStorage;

/// `id-kp-codeSigning`, placed on Fulcio's intermediate.
const CODE_SIGNING: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

/// Read the issuer URL recorded by `sigstack up`.
pub fn read_issuer_url(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("oidc").join("issuer.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (start the stack once with `sigstack up` first)",
            path.display()
        )
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).context("parsing issuer.json")?;
    v["issuer"]
        .as_str()
        .map(str::to_string)
        .context("issuer.json has no issuer")
}

struct Listeners {
    fulcio: TcpListener,
    ctlog: TcpListener,
    rekor_v1: TcpListener,
    rekor_v2: TcpListener,
    tsa: TcpListener,
    oidc: Option<TcpListener>,
    tuf: TcpListener,
}

async fn bind(config: &StackConfig) -> anyhow::Result<Listeners> {
    let at = |port: u16| SocketAddr::new(config.listen, port);
    let bind = |port: u16| async move {
        TcpListener::bind(at(port))
            .await
            .with_context(|| format!("binding {}", at(port)))
    };
    Ok(Listeners {
        fulcio: bind(config.ports.fulcio).await?,
        ctlog: bind(config.ports.ctlog).await?,
        rekor_v1: bind(config.ports.rekor_v1).await?,
        rekor_v2: bind(config.ports.rekor_v2).await?,
        tsa: bind(config.ports.tsa).await?,
        tuf: bind(config.ports.tuf).await?,
        oidc: if config.oidc_enabled {
            Some(bind(config.ports.oidc).await?)
        } else {
            None
        },
    })
}

/// The URL clients use for a service: its configured public URL, else http://public-host:port.
fn url(
    config: &StackConfig,
    public: Option<&String>,
    listener: &TcpListener,
) -> anyhow::Result<String> {
    if let Some(public) = public {
        return Ok(public.clone());
    }
    Ok(format!(
        "http://{}:{}",
        config.public_host,
        listener.local_addr()?.port()
    ))
}

/// The Rekor v2 checkpoint origin (and note key name) for a log served on `public_host`: the
/// bare host name, without port or IPv6 brackets. sigstore-go (and so cosign) verify a Rekor v2
/// checkpoint with a note verifier named after the host name of the trusted root's `baseUrl`
/// and require the checkpoint's origin line to equal that name; the other clients only match
/// the key ID, which is derived from the same name.
fn checkpoint_origin(public_host: &str) -> String {
    public_host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(public_host)
        .to_string()
}

/// The local issuer's Fulcio configuration: people (email SAN) and workloads (the token's
/// `sub`, a URI, becomes a URI SAN).
fn generated_fulcio_config(oidc_url: &str) -> String {
    let workload = sigstack_oidc_issuer::workload_issuer(oidc_url);
    serde_json::json!({
        "oidc-issuers": {
            oidc_url: { "issuer-url": oidc_url, "client-id": "sigstore", "type": "email" },
            &workload: {
                "issuer-url": &workload,
                "client-id": "sigstore",
                "type": "ci-provider",
                "ci-provider": "sigstack-workload",
            },
        },
        "ci-issuer-metadata": {
            "sigstack-workload": {
                "subject-alternative-name-template": "{{ .sub }}",
                "extension-templates": {},
            },
        },
    })
    .to_string()
}

/// What the start-up of every service shares: the data directory, the start time, metrics
/// and the log storage.
pub(crate) struct Common {
    pub data_dir: PathBuf,
    pub now: SystemTime,
    pub metrics: sigstack_http::Metrics,
    pub log_config: LogConfig,
    pub storage: LogStorage,
}

impl Common {
    /// Create the data directory and connect the log storage.
    pub(crate) async fn new(config: &StackConfig) -> anyhow::Result<Self> {
        let data_dir = config.data_dir.clone();
        sigstack_durable::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        Ok(Self {
            data_dir,
            now: SystemTime::now(),
            metrics: sigstack_http::Metrics::new(),
            log_config: LogConfig {
                batch_max_size: config.batch_max_size,
                batch_max_age: config.batch_max_age,
                ..LogConfig::default()
            },
            storage: LogStorage::connect(config.database_url.as_deref()).await?,
        })
    }
}

/// Fulcio's CA: P-384 root and intermediate, codeSigning on the intermediate. Only the
/// intermediate's key is used; the root's private key is never read.
pub(crate) async fn fulcio_ca(
    config: &StackConfig,
    common: &Common,
) -> anyhow::Result<CertificateAuthority> {
    let ca_dir = common.data_dir.join("fulcio/ca");
    if ca_dir.join(sigstack_pki::ROOT_KEY_FILE).exists() {
        tracing::warn!(
            path = %ca_dir.join(sigstack_pki::ROOT_KEY_FILE).display(),
            "the Fulcio root's private key is in the data directory but is not used; \
             move it to offline storage"
        );
    }
    if let Some(hsm) = &config.fulcio_hsm_ca {
        return hsm_fulcio_ca(hsm).await;
    }
    match &config.keys.fulcio_ca {
        Some(source) => {
            let signer = open_key(source, "the Fulcio CA key", None).await?;
            CertificateAuthority::from_files(&ca_dir, signer).with_context(|| {
                format!(
                    "Fulcio CA in {}: with a configured CA key the chain must be there \
                     (`sigstack ca create-intermediate` or `sigstack ca import`)",
                    ca_dir.display()
                )
            })
        }
        None => CertificateAuthority::load_or_create(
            &ca_dir,
            &CaSpec {
                organization: config.organization.clone(),
                root_common_name: format!("{}-fulcio-root", config.organization),
                intermediate_common_name: Some(format!(
                    "{}-fulcio-intermediate",
                    config.organization
                )),
                algorithm: SignatureAlgorithm::EcdsaP384Sha384,
                intermediate_extended_key_usage: vec![CODE_SIGNING],
                validity: Duration::from_secs(10 * 365 * 24 * 3600),
            },
            common.now,
        )
        .context("Fulcio CA"),
    }
}

/// Fulcio's CA the way upstream Fulcio's `pkcs11ca` runs it: the key pair labelled `PKCS11CA`
/// on the token of the crypto11 file, and the CA certificate stored on that token under
/// `CKA_ID` = `hsm-caroot-id` (or read from `aws-hsm-root-ca-path`). The certificate is usually
/// the self-signed root made by `sigstack ca create-root --hsm-caroot-id` (or Fulcio's
/// `createca`), which then issues directly.
async fn hsm_fulcio_ca(hsm: &crate::config::HsmCa) -> anyhow::Result<CertificateAuthority> {
    let signer = open_key(&hsm.key, "the Fulcio CA key (pkcs11ca)", None).await?;
    let (chain, origin) = match &hsm.root_ca_path {
        Some(path) => {
            let pem = sigstack_durable::read_to_string(path)
                .with_context(|| format!("reading the Fulcio CA certificate {}", path.display()))?;
            let chain = sigstack_pki::parse_pem_chain(&pem)
                .with_context(|| format!("the Fulcio CA certificate {}", path.display()))?;
            (chain, path.display().to_string())
        }
        None => {
            let sigstack_keys::KeySource::Pkcs11(key) = hsm.key.clone() else {
                bail!("the pkcs11ca key is not a PKCS#11 key");
            };
            let id = hsm.caroot_id.clone();
            let der = tokio::task::spawn_blocking(move || {
                sigstack_keys::read_certificate(&key, id.as_bytes())
            })
            .await
            .context("certificate-reading task")?
            .context("reading the Fulcio CA certificate from the token")?;
            let Some(der) = der else {
                bail!(
                    "the {} has no certificate with ID {:?} (hsm-caroot-id): store the CA \
                     certificate there with `sigstack ca create-root --pkcs11-config-path {} \
                     --hsm-caroot-id {} --cert FILE` (or Fulcio's `createca`), or give its file \
                     as aws-hsm-root-ca-path",
                    hsm.crypto11.token,
                    hsm.caroot_id,
                    hsm.crypto11.file.display(),
                    hsm.caroot_id
                );
            };
            let cert =
                <x509_cert::Certificate as der::Decode>::from_der(&der).with_context(|| {
                    format!(
                        "the certificate with ID {:?} on the {} is not DER X.509",
                        hsm.caroot_id, hsm.crypto11.token
                    )
                })?;
            (
                vec![cert],
                format!("the {} (ID {:?})", hsm.crypto11.token, hsm.caroot_id),
            )
        }
    };
    CertificateAuthority::from_chain(chain, signer, &origin).context("Fulcio CA (pkcs11ca)")
}

/// The CT log key (ECDSA P-256: clients need SHA-256 SCTs).
pub(crate) async fn ct_signer(
    config: &StackConfig,
    common: &Common,
) -> anyhow::Result<Arc<dyn Signer>> {
    log_key(
        config.keys.ctlog.as_ref(),
        &common.data_dir.join("ctlog/key.pem"),
        &common.data_dir.join("ctlog/log"),
        SignatureAlgorithm::EcdsaP256Sha256,
        "the CT log key",
    )
    .await
}

/// Open the CT log, accepting chains to `root`.
pub(crate) async fn open_ctlog(
    common: &Common,
    signer: Arc<dyn Signer>,
    root: x509_cert::Certificate,
) -> anyhow::Result<sigstack_ctlog::CtLogState> {
    let dir = common.data_dir.join("ctlog/log");
    sigstack_ctlog::CtLogState::open_with_store(
        sigstack_ctlog::CtLogConfig {
            dir: dir.clone(),
            signer,
            roots: vec![root],
            metrics: common.metrics.clone(),
            log: common.log_config.clone(),
        },
        common
            .storage
            .open("ctlog", &dir, &common.log_config, &common.metrics)
            .await?,
        Arc::new(sigstack_clock::SystemClock),
    )
    .await
    .context("opening the CT log")
}

/// The local OIDC issuer at `issuer`, recording its URL for `sigstack token`.
pub(crate) fn oidc_issuer(
    config: &StackConfig,
    common: &Common,
    issuer: &str,
) -> anyhow::Result<sigstack_oidc_issuer::OidcIssuerState> {
    let data_dir = &common.data_dir;
    sigstack_durable::create_dir_all(&data_dir.join("oidc"))?;
    sigstack_durable::write(
        &data_dir.join("oidc/issuer.json"),
        serde_json::json!({ "issuer": issuer })
            .to_string()
            .as_bytes(),
    )?;
    sigstack_oidc_issuer::OidcIssuerState::new(sigstack_oidc_issuer::OidcIssuerConfig {
        issuer: issuer.to_string(),
        key_path: data_dir.join("oidc/key.pem"),
        clients: config.oidc_clients.clone(),
        token_lifetime: config.token_lifetime,
        dangerously_mint_any_identity: config.dangerously_mint_any_identity,
        metrics: common.metrics.clone(),
    })
    .context("OIDC issuer")
}

/// Fulcio, trusting the configured issuers (or the local one at `oidc_url`) and submitting
/// precertificates to the CT log at `ctlog_url`.
pub(crate) fn fulcio(
    config: &StackConfig,
    common: &Common,
    ca: CertificateAuthority,
    ctlog_url: &str,
    ct_signer: &Arc<dyn Signer>,
    oidc_url: Option<&str>,
) -> anyhow::Result<sigstack_fulcio::FulcioState> {
    let fulcio_config_text = match (&config.fulcio_config, oidc_url) {
        (Some(path), _) => std::fs::read_to_string(path)
            .with_context(|| format!("reading Fulcio config {}", path.display()))?,
        (None, Some(oidc_url)) => generated_fulcio_config(oidc_url),
        (None, None) => bail!("no Fulcio issuer configuration"),
    };
    let issuers = sigstack_fulcio_core::IssuerConfig::from_text(&fulcio_config_text)
        .context("Fulcio issuer configuration")?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("HTTP client")?;
    sigstack_fulcio::FulcioState::new(sigstack_fulcio::FulcioConfig {
        ca,
        issuers,
        ct: Some(sigstack_fulcio::CtConfig {
            url: ctlog_url.parse().context("CT log URL")?,
            public_key: ct_signer.public_key()?,
        }),
        metrics: common.metrics.clone(),
        http,
        detached_sct: config.fulcio_detached_sct,
        rate_limits: config.fulcio_rate_limits,
    })
    .context("Fulcio")
}

/// The Rekor v1 log key (ECDSA P-256).
pub(crate) async fn rekor_v1_signer(
    config: &StackConfig,
    common: &Common,
) -> anyhow::Result<Arc<dyn Signer>> {
    log_key(
        config.keys.rekor_v1.as_ref(),
        &common.data_dir.join("rekor-v1/key.pem"),
        &common.data_dir.join("rekor-v1/log"),
        SignatureAlgorithm::EcdsaP256Sha256,
        "the Rekor v1 key",
    )
    .await
}

/// Open Rekor v1 served at `url` (its host is the checkpoint key name) and write its opening
/// entry into an empty log.
pub(crate) async fn open_rekor_v1(
    common: &Common,
    signer: Arc<dyn Signer>,
    url: &str,
) -> anyhow::Result<sigstack_rekor::RekorV1State> {
    let dir = common.data_dir.join("rekor-v1");
    common.storage.agree_on_rekor_v1_tree_id(&dir).await?;
    let rekor_v1 = sigstack_rekor::RekorV1State::open_with_store(
        sigstack_rekor::RekorV1Config {
            dir: dir.clone(),
            signer,
            hostname: url_host(url)?,
            metrics: common.metrics.clone(),
            log: common.log_config.clone(),
            clock: Arc::new(sigstack_clock::SystemClock),
        },
        common
            .storage
            .open(
                "rekor-v1",
                &dir.join("log"),
                &common.log_config,
                &common.metrics,
            )
            .await?,
    )
    .await
    .context("opening Rekor v1")?;
    rekor_v1
        .append_opening_entry()
        .await
        .context("Rekor v1 opening entry")?;
    Ok(rekor_v1)
}

/// The Rekor v2 checkpoint key (Ed25519).
pub(crate) async fn rekor_v2_signer(
    config: &StackConfig,
    common: &Common,
) -> anyhow::Result<Arc<dyn Signer>> {
    log_key(
        config.keys.rekor_v2.as_ref(),
        &common.data_dir.join("rekor-v2/key.pem"),
        &common.data_dir.join("rekor-v2/log"),
        SignatureAlgorithm::Ed25519,
        "the Rekor v2 key",
    )
    .await
}

/// Open Rekor v2 served at `url` and write its opening entry into an empty log. The checkpoint
/// origin (and so the C2SP log ID) is the bare host name of the URL: sigstore-go requires the
/// origin to equal the trusted root's baseUrl host.
pub(crate) async fn open_rekor_v2(
    common: &Common,
    signer: Arc<dyn Signer>,
    url: &str,
) -> anyhow::Result<sigstack_rekor::RekorV2State> {
    let dir = common.data_dir.join("rekor-v2");
    let rekor_v2 = sigstack_rekor::RekorV2State::open_with_store(
        sigstack_rekor::RekorV2Config {
            dir: dir.clone(),
            signer,
            origin: checkpoint_origin(&url_host(url)?),
            metrics: common.metrics.clone(),
            log: common.log_config.clone(),
        },
        common
            .storage
            .open(
                "rekor-v2",
                &dir.join("log"),
                &common.log_config,
                &common.metrics,
            )
            .await?,
    )
    .await
    .context("opening Rekor v2")?;
    rekor_v2
        .append_opening_entry()
        .await
        .context("Rekor v2 opening entry")?;
    Ok(rekor_v2)
}

/// The timestamp authority.
pub(crate) async fn tsa(
    config: &StackConfig,
    common: &Common,
) -> anyhow::Result<sigstack_tsa::TsaState> {
    let key = match &config.keys.tsa {
        Some(source) => Some(open_key(source, "the TSA key", None).await?),
        None => None,
    };
    sigstack_tsa::TsaState::load_or_create(
        sigstack_tsa::TsaConfig {
            dir: common.data_dir.join("tsa"),
            organization: config.organization.clone(),
            common_name: format!("{}-tsa", config.organization),
            policy: config.tsa.policy.clone(),
            accuracy: config.tsa.accuracy,
            window: config.tsa.window,
            metrics: common.metrics.clone(),
            key,
        },
        common.now,
    )
    .context("timestamp authority")
}

/// HTTP servers (and background tasks) that stop together.
pub(crate) struct Servers {
    stop: watch::Sender<bool>,
    limits: sigstack_http::ServerLimits,
    running: tokio::task::JoinSet<(&'static str, std::io::Result<()>)>,
}

impl Servers {
    pub(crate) fn new(limits: sigstack_http::ServerLimits) -> Self {
        Self {
            stop: watch::channel(false).0,
            limits,
            running: tokio::task::JoinSet::new(),
        }
    }

    /// Serve `router` on `listener`, with the configured deadlines and in-flight bound, until
    /// [`Servers::shut_down`].
    pub(crate) fn spawn(
        &mut self,
        name: &'static str,
        listener: TcpListener,
        router: axum::Router,
    ) {
        let mut stop = self.stop.subscribe();
        let limits = self.limits;
        self.running.spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            (
                name,
                sigstack_http::serve(listener, router, limits, stopped).await,
            )
        });
    }

    /// Run a background task that ends when the servers shut down.
    pub(crate) fn spawn_task<F>(
        &mut self,
        name: &'static str,
        task: impl FnOnce(watch::Receiver<bool>) -> F,
    ) where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let work = task(self.stop.subscribe());
        self.running.spawn(async move {
            work.await;
            (name, Ok(()))
        });
    }

    /// Stop taking connections and wait until every request has been answered.
    pub(crate) async fn shut_down(mut self) {
        let _ = self.stop.send(true);
        while let Some(joined) = self.running.join_next().await {
            match joined {
                Ok((name, Err(e))) => tracing::error!(service = name, error = %e, "server failed"),
                Ok((_, Ok(()))) => {}
                Err(e) => tracing::error!(error = %e, "server task failed"),
            }
        }
    }
}

/// Run the stack until SIGINT or SIGTERM.
pub async fn run(config: StackConfig) -> anyhow::Result<()> {
    let common = Common::new(&config).await?;
    let data_dir = common.data_dir.clone();
    let epoch = load_or_create_epoch(&data_dir.join("epoch"), common.now)?;

    let listeners = bind(&config).await?;
    let public = &config.public_urls;
    let fulcio_url = url(&config, public.fulcio.as_ref(), &listeners.fulcio)?;
    let ctlog_url = url(&config, public.ctlog.as_ref(), &listeners.ctlog)?;
    let rekor_v1_url = url(&config, public.rekor_v1.as_ref(), &listeners.rekor_v1)?;
    let rekor_v2_url = url(&config, public.rekor_v2.as_ref(), &listeners.rekor_v2)?;
    let tsa_base = url(&config, public.tsa.as_ref(), &listeners.tsa)?;
    let tsa_url = format!("{tsa_base}/api/v1/timestamp");
    let tuf_url = url(&config, public.tuf.as_ref(), &listeners.tuf)?;
    let oidc_url = listeners
        .oidc
        .as_ref()
        .map(|l| url(&config, public.oidc.as_ref(), l))
        .transpose()?;

    let ca = fulcio_ca(&config, &common).await?;
    let ct_signer = ct_signer(&config, &common).await?;
    let ctlog = open_ctlog(&common, ct_signer.clone(), ca.root().clone()).await?;
    let oidc = oidc_url
        .as_deref()
        .map(|issuer| oidc_issuer(&config, &common, issuer))
        .transpose()?;
    let fulcio = fulcio(
        &config,
        &common,
        ca.clone(),
        &ctlog_url,
        &ct_signer,
        oidc_url.as_deref(),
    )?;
    let rekor_v1_signer = rekor_v1_signer(&config, &common).await?;
    let rekor_v1 = open_rekor_v1(&common, rekor_v1_signer.clone(), &rekor_v1_url).await?;
    let rekor_v2_signer = rekor_v2_signer(&config, &common).await?;
    let rekor_v2 = open_rekor_v2(&common, rekor_v2_signer.clone(), &rekor_v2_url).await?;
    let tsa = tsa(&config, &common).await?;

    // Trust material for clients.
    let valid_from = OffsetDateTime::from(epoch);
    let chain_der = |certs: &[x509_cert::Certificate]| -> anyhow::Result<Vec<Vec<u8>>> {
        certs
            .iter()
            .map(|c| c.to_der().context("encoding certificate"))
            .collect()
    };
    let deployment = Deployment {
        fulcio: AuthorityDescription {
            organization: config.organization.clone(),
            common_name: format!("{}-fulcio", config.organization),
            uri: fulcio_url.clone(),
            chain_der: chain_der(&ca.chain)?,
            valid_from,
        },
        ctlog: LogDescription {
            base_url: ctlog_url.clone(),
            spki_der: ct_signer.public_key_der().to_vec(),
            key_details: ct_signer.algorithm().key_details().to_string(),
            log_id: ctlog.log_id(),
            valid_from,
        },
        rekor_v1: LogDescription {
            base_url: rekor_v1_url.clone(),
            spki_der: rekor_v1_signer.public_key_der().to_vec(),
            key_details: rekor_v1_signer.algorithm().key_details().to_string(),
            log_id: rekor_v1.log_id(),
            valid_from,
        },
        rekor_v2: LogDescription {
            base_url: rekor_v2_url.clone(),
            spki_der: rekor_v2_signer.public_key_der().to_vec(),
            key_details: rekor_v2_signer.algorithm().key_details().to_string(),
            log_id: rekor_v2.log_id(),
            valid_from,
        },
        tsa: AuthorityDescription {
            organization: config.organization.clone(),
            common_name: format!("{}-tsa", config.organization),
            uri: tsa_url.clone(),
            chain_der: chain_der(tsa.chain())?,
            valid_from,
        },
        oidc_url: oidc_url.clone(),
        operator: config.organization.clone(),
        valid_from,
    };
    write_trust_material(&data_dir.join("trust"), &deployment)?;

    // Serve.
    let metrics = common.metrics.clone();
    let mut servers = Servers::new(config.server_limits);
    servers.spawn("fulcio", listeners.fulcio, sigstack_fulcio::router(fulcio));
    servers.spawn(
        "ctlog",
        listeners.ctlog,
        sigstack_ctlog::router(ctlog.clone()),
    );
    servers.spawn(
        "rekor-v1",
        listeners.rekor_v1,
        sigstack_rekor::v1_router(rekor_v1.clone()),
    );
    servers.spawn(
        "rekor-v2",
        listeners.rekor_v2,
        sigstack_rekor::v2_router(rekor_v2.clone()),
    );
    servers.spawn("tsa", listeners.tsa, sigstack_tsa::router(tsa));
    if let (Some(listener), Some(state)) = (listeners.oidc, oidc) {
        servers.spawn("oidc-issuer", listener, sigstack_oidc_issuer::router(state));
    }
    let tuf_repo = crate::trust_tuf::Repository::new(&config.tuf_repo);
    servers.spawn(
        "tuf",
        listeners.tuf,
        crate::trust_serve::router(tuf_repo.published_dir(), metrics.clone()),
    );
    let tuf_metrics = crate::trust_serve::TufMetrics::register(&metrics);
    let online_key = tuf_repo.online_key_path();
    let refresh_interval = config.tuf_refresh_interval;
    servers.spawn_task("tuf-refresh", move |stop| {
        crate::trust_serve::refresh_loop(tuf_repo, online_key, refresh_interval, tuf_metrics, stop)
    });

    println!("sigstack is up; data directory {}", data_dir.display());
    println!("  fulcio       {fulcio_url}");
    println!("  ct log       {ctlog_url}");
    println!("  rekor v1     {rekor_v1_url}");
    println!("  rekor v2     {rekor_v2_url}");
    println!("  tsa          {tsa_url}");
    if let Some(oidc_url) = &oidc_url {
        println!("  oidc issuer  {oidc_url}");
    }
    println!(
        "  tuf          {tuf_url} (repository {})",
        config.tuf_repo.display()
    );
    println!(
        "  trust config {}",
        data_dir.join("trust/trust_config.json").display()
    );
    sigstack_durable::write(
        &data_dir.join("trust/tuf.json"),
        serde_json::json!({ "url": tuf_url, "repository": config.tuf_repo })
            .to_string()
            .as_bytes(),
    )?;
    let shutdown = shutdown_signal();
    sigstack_durable::write(&data_dir.join("trust/ready"), b"ready\n")?;

    shutdown.await;
    tracing::info!("shutting down");
    let _ = std::fs::remove_file(data_dir.join("trust/ready"));
    servers.shut_down().await;
    // Every request has been answered; commit anything queued and release the logs.
    ctlog.close().await;
    rekor_v1.close().await;
    rekor_v2.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Open a configured key on a blocking thread (a PKCS#11 login is a device round trip),
/// checking its algorithm when one is required.
async fn open_key(
    source: &KeySource,
    what: &str,
    algorithm: Option<SignatureAlgorithm>,
) -> anyhow::Result<Arc<dyn Signer>> {
    let opening = source.clone();
    let signer = tokio::task::spawn_blocking(move || opening.open())
        .await
        .context("key-opening task")?
        .with_context(|| format!("opening {what} ({source})"))?;
    if let Some(algorithm) = algorithm
        && signer.algorithm() != algorithm
    {
        bail!(
            "{what} ({source}) is a {:?} key; this service signs with {algorithm:?}",
            signer.algorithm()
        );
    }
    Ok(signer)
}

/// A log's key: the configured source, or a key file in the data directory.
async fn log_key(
    source: Option<&KeySource>,
    default_path: &Path,
    log_dir: &Path,
    algorithm: SignatureAlgorithm,
    what: &str,
) -> anyhow::Result<Arc<dyn Signer>> {
    match source {
        Some(source) => open_key(source, what, Some(algorithm)).await,
        None if !default_path.exists() && EmbeddedLog::holds_data(log_dir) => bail!(
            "{what} ({}) is missing but its log in {} holds entries: a new key would give the \
             log a new identity that no client trusts. Restore the key file from a backup; to \
             start a new log (shard) instead, move the whole directory {} aside first (see \
             docs/rotation.md)",
            default_path.display(),
            log_dir.display(),
            default_path.parent().unwrap_or(log_dir).display()
        ),
        None => Ok(Arc::new(
            FileSigner::load_or_generate(default_path, algorithm)
                .with_context(|| format!("loading {what}"))?,
        )),
    }
}

fn write_trust_material(dir: &Path, deployment: &Deployment) -> anyhow::Result<()> {
    sigstack_durable::create_dir_all(dir)?;
    let root = deployment.trusted_root()?;
    let v2 = deployment.signing_config(2)?;
    let v1 = deployment.signing_config(1)?;
    let files = [
        ("trusted_root.json", serde_json::to_string_pretty(&root)?),
        ("signing_config.json", serde_json::to_string_pretty(&v2)?),
        (
            "signing_config.rekor-v1.json",
            serde_json::to_string_pretty(&v1)?,
        ),
        (
            "trust_config.json",
            serde_json::to_string_pretty(&ClientTrustConfig::new(root.clone(), v2))?,
        ),
        (
            "trust_config.rekor-v1.json",
            serde_json::to_string_pretty(&ClientTrustConfig::new(root, v1))?,
        ),
    ];
    for (name, body) in files {
        let path = dir.join(name);
        sigstack_durable::write(&path, (body + "\n").as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn url_host(url: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).with_context(|| format!("URL {url:?}"))?;
    parsed
        .host_str()
        .map(str::to_string)
        .with_context(|| format!("URL {url:?} has no host"))
}

/// The time of the first start, recorded once: every `validFor.start` in the trust material.
fn load_or_create_epoch(path: &Path, now: SystemTime) -> anyhow::Result<SystemTime> {
    match sigstack_durable::read_existing(path).context("reading the epoch file")? {
        Some(bytes) => {
            let secs: u64 = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .with_context(|| {
                    format!(
                        "{} must hold the first start's Unix time in seconds; restore it from a \
                         backup, or write the notBefore of the Fulcio root certificate there",
                        path.display()
                    )
                })?;
            Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        }
        None => {
            let secs = now.duration_since(SystemTime::UNIX_EPOCH)?.as_secs();
            sigstack_durable::write(path, format!("{secs}\n").as_bytes())?;
            Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        }
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled, so a signal arriving right after the caller announces readiness
/// (the `trust/ready` file) is not lost to the default action.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (mut terminate, mut interrupt) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(terminate.take()) => {},
                () = wait(interrupt.take()) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::checkpoint_origin;

    #[test]
    fn checkpoint_origin_is_the_bare_host_name() {
        assert_eq!(checkpoint_origin("127.0.0.1"), "127.0.0.1");
        assert_eq!(
            checkpoint_origin("rekor.example.test"),
            "rekor.example.test"
        );
        assert_eq!(checkpoint_origin("[::1]"), "::1");
    }
}
