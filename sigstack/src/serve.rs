//! `sigstack serve SERVICE`: run one service of the stack alone, for per-service deployments.
//!
//! It takes the same flags, environment variables and TOML file as `sigstack up`, listens only
//! on the chosen service's port, and starts the service exactly as `sigstack up` does (the
//! per-service start functions of [`crate::stack`]). URLs of the other services (the CT log for
//! Fulcio, the local OIDC issuer) are `http://<public host>:<their port>`. With
//! `--database-url` the logs live in PostgreSQL, so any number of processes may serve the same
//! log. Trust material is written only by `sigstack up`: start the whole stack once on the data
//! directory (or copy one that has been), then hand copies of it to the per-service processes.

use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use tokio::net::TcpListener;

use crate::config::{StackConfig, UpArgs};
use crate::stack::{self, Common, Servers};

/// The services `sigstack serve` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    /// Rekor v1 REST API.
    RekorV1,
    /// Rekor v2 (tiles and `/api/v2/log/entries`).
    RekorV2,
    /// RFC 6962 CT log.
    Ctlog,
    /// Fulcio certificate authority.
    Fulcio,
    /// RFC 3161 timestamp authority.
    Tsa,
    /// Local OIDC issuer.
    Oidc,
}

/// Arguments of `sigstack serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The service to run.
    #[arg(value_enum)]
    pub service: Service,
    #[command(flatten)]
    pub up: UpArgs,
}

fn base_url(config: &StackConfig, port: u16) -> String {
    format!("http://{}:{port}", config.public_host)
}

/// Run one service until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let service = args.service;
    let config = StackConfig::resolve(args.up)?;
    let port = match service {
        Service::RekorV1 => config.ports.rekor_v1,
        Service::RekorV2 => config.ports.rekor_v2,
        Service::Ctlog => config.ports.ctlog,
        Service::Fulcio => config.ports.fulcio,
        Service::Tsa => config.ports.tsa,
        Service::Oidc => config.ports.oidc,
    };
    let at = SocketAddr::new(config.listen, port);
    let listener = TcpListener::bind(at)
        .await
        .with_context(|| format!("binding {at}"))?;
    let url = base_url(&config, listener.local_addr()?.port());
    let common = Common::new(&config).await?;
    let mut servers = Servers::new(config.server_limits);
    // The log to close after the last request, if the service keeps one.
    let log = match service {
        Service::RekorV1 => {
            let signer = stack::rekor_v1_signer(&config, &common).await?;
            let state = stack::open_rekor_v1(&common, signer, &url).await?;
            servers.spawn(
                "rekor-v1",
                listener,
                sigstack_rekor::v1_router(state.clone()),
            );
            OpenLog::RekorV1(state)
        }
        Service::RekorV2 => {
            let signer = stack::rekor_v2_signer(&config, &common).await?;
            let state = stack::open_rekor_v2(&common, signer, &url).await?;
            servers.spawn(
                "rekor-v2",
                listener,
                sigstack_rekor::v2_router(state.clone()),
            );
            OpenLog::RekorV2(state)
        }
        Service::Ctlog => {
            let ca = stack::fulcio_ca(&config, &common).await?;
            let signer = stack::ct_signer(&config, &common).await?;
            let state = stack::open_ctlog(&common, signer, ca.root().clone()).await?;
            servers.spawn("ctlog", listener, sigstack_ctlog::router(state.clone()));
            OpenLog::Ctlog(state)
        }
        Service::Fulcio => {
            let key = common.data_dir.join("ctlog/key.pem");
            if !key.exists() {
                bail!(
                    "{} is missing: Fulcio needs the CT log's key; run `sigstack up` (or \
                     `sigstack serve ctlog`) on this data directory first, or copy one that has",
                    key.display()
                );
            }
            let ca = stack::fulcio_ca(&config, &common).await?;
            let ct_signer = stack::ct_signer(&config, &common).await?;
            let oidc_url = config
                .oidc_enabled
                .then(|| base_url(&config, config.ports.oidc));
            let state = stack::fulcio(
                &config,
                &common,
                ca,
                &base_url(&config, config.ports.ctlog),
                &ct_signer,
                oidc_url.as_deref(),
            )?;
            servers.spawn("fulcio", listener, sigstack_fulcio::router(state));
            OpenLog::None
        }
        Service::Tsa => {
            let state = stack::tsa(&config, &common).await?;
            servers.spawn("tsa", listener, sigstack_tsa::router(state));
            OpenLog::None
        }
        Service::Oidc => {
            if !config.oidc_enabled {
                bail!("the local OIDC issuer is disabled in this configuration");
            }
            let state = stack::oidc_issuer(&config, &common, &url)?;
            servers.spawn("oidc-issuer", listener, sigstack_oidc_issuer::router(state));
            OpenLog::None
        }
    };
    println!("sigstack {service:?} serving at {url}");
    stack::shutdown_signal().await;
    tracing::info!("shutting down");
    servers.shut_down().await;
    match log {
        OpenLog::RekorV1(state) => state.close().await,
        OpenLog::RekorV2(state) => state.close().await,
        OpenLog::Ctlog(state) => state.close().await,
        OpenLog::None => {}
    }
    tracing::info!("stopped");
    Ok(())
}

/// The log a service keeps open, closed after its last request.
enum OpenLog {
    RekorV1(sigstack_rekor::RekorV1State),
    RekorV2(sigstack_rekor::RekorV2State),
    Ctlog(sigstack_ctlog::CtLogState),
    None,
}
