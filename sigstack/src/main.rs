//! `sigstack`: the whole Sigstore-compatible stack in one process on one machine.
//!
//! `sigstack up --data-dir DIR` starts Fulcio, the CT log, Rekor v1, Rekor v2, the TSA and the
//! local OIDC issuer on localhost, creates every key and certificate on first run (and reuses
//! them after), and writes the client trust material under `DIR/trust/`.
//! `sigstack token --data-dir DIR --email alice@example.test` prints an ID token from the local
//! issuer that this stack's Fulcio accepts.
//! `sigstack trust ...` builds trust material from a description and runs the TUF repository
//! that distributes it (quorum staging, detached signatures, checked publication).

mod ca;
mod config;
mod issued;
mod serve;
mod stack;
mod storage;
mod trust_cmd;
mod trust_material;
mod trust_serve;
mod trust_tuf;
mod verify;

use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::UpArgs;

/// mimalloc instead of the C library's allocator. Requests are allocated on the async workers
/// and freed on the CPU pool or the sequencer thread; glibc's malloc took 12-13 % of the stack's
/// CPU under Rekor v1 load (most of it free-list upkeep), mimalloc 7-8 % (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Self-hosted Sigstore: CA, transparency logs, timestamp authority, CT log and OIDC issuer.
#[derive(Debug, Parser)]
#[command(name = "sigstack", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every service on this machine, on embedded storage under the data directory.
    Up(Box<UpArgs>),
    /// Print an ID token from the local OIDC issuer (reading its key from the data directory).
    Token(TokenArgs),
    /// Verify Sigstore bundles offline, or export an air-gap verification kit.
    Verify(verify::VerifyCommand),
    /// Build trust material and run the TUF repository that distributes it.
    Trust(trust_cmd::TrustArgs),
    /// CA key ceremony: offline root, intermediates, CSRs for an external root, import.
    Ca(Box<ca::CaArgs>),
    /// List the certificates issued to an identity, read from the stack's CT log.
    Issued(issued::IssuedArgs),
    /// Run one service alone (same configuration as `up`), for per-service deployments.
    Serve(Box<serve::ServeArgs>),
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// Data directory of a stack started with `sigstack up`.
    #[arg(long, env = "SIGSTACK_DATA_DIR")]
    data_dir: std::path::PathBuf,
    /// Email identity (sets `sub` and a verified `email`).
    #[arg(long, conflicts_with = "subject", required_unless_present = "subject")]
    email: Option<String>,
    /// Workload identity: a URI that becomes the certificate's URI SAN (no email claim; the token
    /// comes from the workload issuer `<issuer>/workload`).
    #[arg(long)]
    subject: Option<String>,
    /// Audience.
    #[arg(long, default_value = "sigstore")]
    audience: String,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 600)]
    lifetime: u64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Ca(args) => ca::run(*args),
        Command::Issued(args) => issued::run(args),
        Command::Up(args) => {
            init_tracing();
            let config = config::StackConfig::resolve(*args)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(stack::run(config))
        }
        Command::Verify(command) => verify::run(command),
        Command::Trust(args) => trust_cmd::run(args),
        Command::Serve(args) => {
            init_tracing();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?
                .block_on(serve::run(*args))
        }
        Command::Token(args) => {
            let base = stack::read_issuer_url(&args.data_dir)?;
            let mut identity = match (&args.email, &args.subject) {
                (Some(email), _) => sigstack_oidc_issuer::Identity::email(email),
                (None, Some(sub)) => sigstack_oidc_issuer::Identity::subject(sub),
                (None, None) => anyhow::bail!("give --email or --subject"),
            };
            // Email identities come from the people issuer, subjects from the workload issuer.
            let issuer = if identity.email.is_some() {
                base
            } else {
                sigstack_oidc_issuer::workload_issuer(&base)
            };
            let key = sigstack_oidc_issuer::IssuerKey::load_or_create(
                &issuer,
                &args.data_dir.join("oidc").join("key.pem"),
            )
            .context("loading the OIDC issuer key")?;
            identity.audience = args.audience;
            let token = key.mint(
                &identity,
                SystemTime::now(),
                Duration::from_secs(args.lifetime),
            )?;
            println!("{token}");
            Ok(())
        }
    }
}

fn init_tracing() {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    // The storage engine reports every flush and merge at `info`: operator noise, so its
    // default is `warn` (SIGSTACK_LOG overrides the whole filter).
    let filter = EnvFilter::try_from_env("SIGSTACK_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,fjall=warn,lsm_tree=warn"));
    let json = std::env::var("SIGSTACK_LOG_FORMAT").is_ok_and(|v| v == "json");
    // Colour codes only for a terminal: a log file or journald gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
