//! Wiring of the all-in-one stack: keys and certificates under the data directory, one
//! listener per service, trust material for clients, graceful shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use der::Encode as _;
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer};
use sigstack_pki::{CaSpec, CertificateAuthority};
use sigstack_tlog_storage::LogConfig;
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
        oidc: if config.oidc_enabled {
            Some(bind(config.ports.oidc).await?)
        } else {
            None
        },
    })
}

fn url(config: &StackConfig, listener: &TcpListener) -> anyhow::Result<String> {
    Ok(format!(
        "http://{}:{}",
        config.public_host,
        listener.local_addr()?.port()
    ))
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

/// Run the stack until SIGINT or SIGTERM.
pub async fn run(config: StackConfig) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    sigstack_durable::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let now = SystemTime::now();
    let epoch = load_or_create_epoch(&data_dir.join("epoch"), now)?;

    let listeners = bind(&config).await?;
    let fulcio_url = url(&config, &listeners.fulcio)?;
    let ctlog_url = url(&config, &listeners.ctlog)?;
    let rekor_v1_url = url(&config, &listeners.rekor_v1)?;
    let rekor_v2_url = url(&config, &listeners.rekor_v2)?;
    let tsa_base = url(&config, &listeners.tsa)?;
    let tsa_url = format!("{tsa_base}/api/v1/timestamp");
    let oidc_url = listeners
        .oidc
        .as_ref()
        .map(|l| url(&config, l))
        .transpose()?;
    let metrics = sigstack_http::Metrics::new();
    let log_config = LogConfig {
        batch_max_size: config.batch_max_size,
        batch_max_age: config.batch_max_age,
        ..LogConfig::default()
    };
    let storage = LogStorage::connect(config.database_url.as_deref()).await?;

    // Fulcio's CA: P-384 root and intermediate, codeSigning on the intermediate.
    let ca = CertificateAuthority::load_or_create(
        &data_dir.join("fulcio/ca"),
        &CaSpec {
            organization: config.organization.clone(),
            root_common_name: format!("{}-fulcio-root", config.organization),
            intermediate_common_name: Some(format!("{}-fulcio-intermediate", config.organization)),
            algorithm: SignatureAlgorithm::EcdsaP384Sha384,
            intermediate_extended_key_usage: vec![CODE_SIGNING],
            validity: Duration::from_secs(10 * 365 * 24 * 3600),
        },
        now,
    )
    .context("Fulcio CA")?;

    // CT log (ECDSA P-256: clients need SHA-256 SCTs).
    let ct_signer: Arc<dyn Signer> = Arc::new(
        FileSigner::load_or_generate(
            &data_dir.join("ctlog/key.pem"),
            SignatureAlgorithm::EcdsaP256Sha256,
        )
        .context("CT log key")?,
    );
    let ctlog_dir = data_dir.join("ctlog/log");
    let ctlog = sigstack_ctlog::CtLogState::open_with_store(
        sigstack_ctlog::CtLogConfig {
            dir: ctlog_dir.clone(),
            signer: ct_signer.clone(),
            roots: vec![ca.root().clone()],
            metrics: metrics.clone(),
            log: log_config.clone(),
        },
        storage.open("ctlog", &ctlog_dir, &log_config).await?,
        sigstack_ctlog::system_clock(),
    )
    .await
    .context("opening the CT log")?;

    // OIDC issuer.
    let oidc = match &oidc_url {
        Some(issuer) => {
            sigstack_durable::create_dir_all(&data_dir.join("oidc"))?;
            sigstack_durable::write(
                &data_dir.join("oidc/issuer.json"),
                serde_json::json!({ "issuer": issuer })
                    .to_string()
                    .as_bytes(),
            )?;
            Some(
                sigstack_oidc_issuer::OidcIssuerState::new(
                    sigstack_oidc_issuer::OidcIssuerConfig {
                        issuer: issuer.clone(),
                        key_path: data_dir.join("oidc/key.pem"),
                        clients: config.oidc_clients.clone(),
                        token_lifetime: config.token_lifetime,
                        dangerously_mint_any_identity: config.dangerously_mint_any_identity,
                        metrics: metrics.clone(),
                    },
                )
                .context("OIDC issuer")?,
            )
        }
        None => None,
    };

    // Fulcio.
    let fulcio_config_text = match (&config.fulcio_config, &oidc_url) {
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
    let fulcio = sigstack_fulcio::FulcioState::new(sigstack_fulcio::FulcioConfig {
        ca: ca.clone(),
        issuers,
        ct: Some(sigstack_fulcio::CtConfig {
            url: ctlog_url.parse().context("CT log URL")?,
            public_key: ct_signer.public_key()?,
        }),
        metrics: metrics.clone(),
        http,
    })
    .context("Fulcio")?;

    // Rekor v1 (ECDSA P-256) and v2 (Ed25519), two independent logs.
    let rekor_v1_signer: Arc<dyn Signer> = Arc::new(
        FileSigner::load_or_generate(
            &data_dir.join("rekor-v1/key.pem"),
            SignatureAlgorithm::EcdsaP256Sha256,
        )
        .context("Rekor v1 key")?,
    );
    let rekor_v1_dir = data_dir.join("rekor-v1");
    storage.agree_on_rekor_v1_tree_id(&rekor_v1_dir).await?;
    let rekor_v1 = sigstack_rekor::RekorV1State::open_with_store(
        sigstack_rekor::RekorV1Config {
            dir: rekor_v1_dir.clone(),
            signer: rekor_v1_signer.clone(),
            hostname: config.public_host.clone(),
            metrics: metrics.clone(),
            log: log_config.clone(),
            clock: Arc::new(sigstack_rekor::SystemClock),
        },
        storage
            .open("rekor-v1", &rekor_v1_dir.join("log"), &log_config)
            .await?,
    )
    .await
    .context("opening Rekor v1")?;
    rekor_v1
        .append_opening_entry()
        .await
        .context("Rekor v1 opening entry")?;
    let rekor_v2_signer: Arc<dyn Signer> = Arc::new(
        FileSigner::load_or_generate(
            &data_dir.join("rekor-v2/key.pem"),
            SignatureAlgorithm::Ed25519,
        )
        .context("Rekor v2 key")?,
    );
    let rekor_v2_origin = rekor_v2_url.trim_start_matches("http://").to_string();
    let rekor_v2_dir = data_dir.join("rekor-v2");
    let rekor_v2 = sigstack_rekor::RekorV2State::open_with_store(
        sigstack_rekor::RekorV2Config {
            dir: rekor_v2_dir.clone(),
            signer: rekor_v2_signer.clone(),
            origin: rekor_v2_origin,
            metrics: metrics.clone(),
            log: log_config.clone(),
        },
        storage
            .open("rekor-v2", &rekor_v2_dir.join("log"), &log_config)
            .await?,
    )
    .await
    .context("opening Rekor v2")?;
    rekor_v2
        .append_opening_entry()
        .await
        .context("Rekor v2 opening entry")?;

    // Timestamp authority.
    let tsa = sigstack_tsa::TsaState::load_or_create(
        sigstack_tsa::TsaConfig {
            dir: data_dir.join("tsa"),
            organization: config.organization.clone(),
            common_name: format!("{}-tsa", config.organization),
            policy: None,
            metrics: metrics.clone(),
        },
        now,
    )
    .context("timestamp authority")?;

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
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    let mut serve = |name: &'static str, listener: TcpListener, router: axum::Router| {
        let mut stop = stop_rx.clone();
        servers.spawn(async move {
            let result = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            (name, result)
        });
    };
    serve("fulcio", listeners.fulcio, sigstack_fulcio::router(fulcio));
    serve(
        "ctlog",
        listeners.ctlog,
        sigstack_ctlog::router(ctlog.clone()),
    );
    serve(
        "rekor-v1",
        listeners.rekor_v1,
        sigstack_rekor::v1_router(rekor_v1.clone()),
    );
    serve(
        "rekor-v2",
        listeners.rekor_v2,
        sigstack_rekor::v2_router(rekor_v2.clone()),
    );
    serve("tsa", listeners.tsa, sigstack_tsa::router(tsa));
    if let (Some(listener), Some(state)) = (listeners.oidc, oidc) {
        serve("oidc-issuer", listener, sigstack_oidc_issuer::router(state));
    }

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
        "  trust config {}",
        data_dir.join("trust/trust_config.json").display()
    );
    sigstack_durable::write(&data_dir.join("trust/ready"), b"ready\n")?;

    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = std::fs::remove_file(data_dir.join("trust/ready"));
    let _ = stop_tx.send(true);
    while let Some(joined) = servers.join_next().await {
        match joined {
            Ok((name, Err(e))) => tracing::error!(service = name, error = %e, "server failed"),
            Ok((_, Ok(()))) => {}
            Err(e) => tracing::error!(error = %e, "server task failed"),
        }
    }
    // Every request has been answered; commit anything queued and release the data directory.
    ctlog.close().await;
    rekor_v1.close().await;
    rekor_v2.close().await;
    tracing::info!("stopped");
    Ok(())
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
