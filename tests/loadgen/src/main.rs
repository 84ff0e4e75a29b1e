//! `sigstack-loadgen`: a load generator for Sigstack's Rekor v1 and v2 logs, run on demand
//! (not in CI). See BENCHMARKS.md for the commands and the recorded figures.
//!
//! - `write`: submits real signed hashedrekord entries (a P-256 key with a Fulcio certificate,
//!   obtained from a running Fulcio with an identity token, or a Fulcio-like certificate from a
//!   throwaway CA) over HTTP, either as fast as possible over N connections (closed loop) or at a
//!   fixed rate (open loop, latency measured from each request's scheduled send time so a slow
//!   server cannot hide its queueing: no coordinated omission). Entries are signed before the
//!   timed phase, each over a distinct artifact, so none is a duplicate.
//! - `read`: inclusion proofs per second (Rekor v1 `GET /api/v1/log/entries?logIndex=`) or
//!   full hash tiles per second (Rekor v2).
//! - `fill`: appends many entries in chunks (sign a chunk, send it closed loop) to pre-fill a log.
//! - `fill-direct`: appends entries to a stopped stack's Rekor v1 log in this process (the
//!   same `create_entry` path as the HTTP API, no HTTP), to build logs of millions of entries.
//! - `calibrate`: the crypto floor and fsync rate alone.
//! - `write --http-floor` also measures the HTTP floor (`http_floor`): the CPU per request of a
//!   bare hyper server, in a child process (`bare-server`, hidden), given the same requests;
//!   `write --verify-and-sign-floor` the same for a bare server that also verifies each entry's
//!   signature and signs once, a lower bound for any log on this machine.
//!
//! Every run is bounded (a maximum duration and count) and only targets loopback addresses.
//! This is a load-testing binary: it has no library API and uses `anyhow` for its errors.

mod calibrate;
mod conn;
mod direct;
mod entries;
mod http_floor;
mod procstat;
mod read;
mod report;
mod write;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Longest any run may last.
const MAX_DURATION: Duration = Duration::from_secs(900);
/// Most entries one `write` run may submit (they are all held in memory, signed).
const MAX_WRITE_COUNT: usize = 2_000_000;
/// Most entries one `fill` or `fill-direct` run may append.
const MAX_FILL_COUNT: usize = 20_000_000;
/// Longest a `fill-direct` run may last.
const MAX_DIRECT_DURATION: Duration = Duration::from_secs(7200);

#[derive(Parser)]
#[command(
    name = "sigstack-loadgen",
    about = "Load generator for Sigstack's Rekor logs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Submit pre-signed hashedrekord entries (closed loop with --connections, or open loop with --rate).
    Write(WriteArgs),
    /// Read inclusion proofs (v1) or hash tiles (v2) at random indexes, closed loop.
    Read(ReadArgs),
    /// Append many entries quickly (chunks of pre-signed entries, closed loop), to pre-fill a log.
    Fill(FillArgs),
    /// Append entries straight into a stopped stack's Rekor v1 log (in this process, no HTTP).
    FillDirect(FillDirectArgs),
    /// Only measure the crypto floor and the fsync rate.
    Calibrate(CalibrateArgs),
    /// The bare HTTP server of `write --http-floor` (answers every request with 201).
    #[command(hide = true)]
    BareServer(BareServerArgs),
}

#[derive(Args)]
struct BareServerArgs {
    /// Loopback address to listen on (port 0: any free port).
    #[arg(long)]
    listen: String,
    /// Size of every answer's body.
    #[arg(long)]
    answer_bytes: usize,
    /// What to do with each request before answering.
    #[arg(long, value_enum, default_value_t = http_floor::BareWork::Http)]
    work: http_floor::BareWork,
}

/// Which Rekor API to target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Api {
    /// `POST /api/v1/log/entries`, hashedrekord 0.0.1.
    V1,
    /// `POST /api/v2/log/entries`, hashedRekordRequestV002.
    V2,
}

#[derive(Args, Clone)]
pub struct Target {
    /// Rekor base URL (loopback only), e.g. http://127.0.0.1:7702 (v1) or http://127.0.0.1:7703 (v2).
    #[arg(long)]
    pub url: String,
    /// Which API the URL serves.
    #[arg(long, value_enum, default_value = "v1")]
    pub api: Api,
    /// PID of the server process (`sigstack up`): its CPU time and RSS are read from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Send every request as a stream of one of N shared HTTP/2 connections (cleartext, prior
    /// knowledge) instead of over one HTTP/1.1 connection per worker.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub http2: Option<u16>,
}

#[derive(Args, Clone)]
pub struct Identity {
    /// Fulcio base URL: get a real certificate for the signing key (needs --token).
    #[arg(long, requires = "token")]
    pub fulcio_url: Option<String>,
    /// OIDC identity token for Fulcio (e.g. `sigstack token --data-dir D --email alice@example.test`).
    #[arg(long, env = "SIGSTACK_LOADGEN_TOKEN")]
    pub token: Option<String>,
    /// Sign with a bare public key instead of a certificate.
    #[arg(long, conflicts_with = "fulcio_url")]
    pub public_key: bool,
    /// Sign each entry with a fresh key of its own (with its own certificate from a throwaway
    /// Fulcio-like CA, or bare with --public-key), as keyless signing does, instead of one key
    /// and certificate for the whole run.
    #[arg(long, conflicts_with = "fulcio_url")]
    pub key_per_entry: bool,
}

#[derive(Args, Clone)]
pub struct CalibrateArgs {
    /// Directory on the disk to probe with 4 KiB write + fdatasync (a temporary file is created
    /// and removed there), normally the stack's data directory.
    #[arg(long)]
    pub fsync_dir: Option<PathBuf>,
    /// Seconds per calibration step.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
}

#[derive(Args)]
struct WriteArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    identity: Identity,
    /// Concurrent connections, closed loop (each sends its next entry when the last is answered).
    #[arg(long, conflicts_with = "rate")]
    connections: Option<usize>,
    /// Fixed arrival rate in entries/s, open loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Entries to submit (the run also stops at --duration).
    #[arg(long, default_value_t = 50_000)]
    count: usize,
    /// Longest time spent sending, in seconds.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Most requests in flight in open loop; a send that would exceed it is counted as
    /// `client-overload` and skipped.
    #[arg(long, default_value_t = 4096)]
    max_in_flight: usize,
    #[command(flatten)]
    calibrate: CalibrateArgs,
    /// Skip the calibration.
    #[arg(long)]
    no_calibrate: bool,
    /// Before the run, send the same entries the same way to a bare HTTP server for this many
    /// seconds (its answers as large as the log's, measured with one extra real entry), and
    /// report its CPU per request: the HTTP floor.
    #[arg(long, value_parser = parse_floor_seconds)]
    http_floor: Option<f64>,
    /// As --http-floor, with a bare server that also verifies each entry's signature and signs
    /// once, inline on its async workers, and stores nothing (Rekor v1 only): the least any log
    /// can spend per entry on this machine under the same load.
    #[arg(long, value_parser = parse_floor_seconds)]
    verify_and_sign_floor: Option<f64>,
    /// Data directory of the log (e.g. D/rekor-v1): prints its size per entry after the run.
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// Record a `perf record -g` profile of --server-pid into this file during the timed phase
    /// (needs `perf`; summarise with `perf report -i FILE --no-children --sort dso,symbol`).
    #[arg(long, requires = "server_pid")]
    perf_out: Option<PathBuf>,
}

#[derive(Args)]
struct ReadArgs {
    #[command(flatten)]
    target: Target,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Longest run, in seconds.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Most reads.
    #[arg(long, default_value_t = 5_000_000)]
    count: usize,
}

#[derive(Args)]
struct FillArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    identity: Identity,
    /// Entries to append.
    #[arg(long)]
    entries: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Entries signed per chunk.
    #[arg(long, default_value_t = 50_000)]
    chunk: usize,
    /// Longest run, in seconds.
    #[arg(long, default_value_t = 900.0)]
    duration: f64,
}

#[derive(Args)]
struct FillDirectArgs {
    /// The stack's data directory (`sigstack up --data-dir`); the log is DIR/rekor-v1, created
    /// (with its key and opening entry) if absent. `sigstack up` must not be running on it.
    #[arg(long)]
    data_dir: PathBuf,
    /// Entries to append (besides the opening entry of a new log).
    #[arg(long)]
    entries: usize,
    /// Checkpoint key name: the host of the Rekor v1 public URL of the `sigstack up` that will
    /// serve the log.
    #[arg(long, default_value = "127.0.0.1")]
    hostname: String,
    /// Concurrent appends.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Longest run, in seconds.
    #[arg(long, default_value_t = 7200.0)]
    duration: f64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The HTTP load runs on one thread: the load generator needs a fraction of a core, and a
    // single-threaded runtime spends none of it on waking and stealing between workers (the
    // server under test shares the machine's cores). Appending in process needs the server's own
    // multi-threaded runtime.
    let runtime = match cli.command {
        Command::FillDirect(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .context("starting the tokio runtime")?;
    match cli.command {
        Command::BareServer(args) => http_floor::serve(&args.listen, args.answer_bytes, args.work),
        Command::Calibrate(args) => {
            let c = calibrate::run(&args)?;
            report::print_calibration(&c);
            Ok(())
        }
        Command::Write(args) => {
            check_loopback(&args.target.url)?;
            let duration = bounded_duration(args.duration)?;
            if args.count == 0 || args.count > MAX_WRITE_COUNT {
                bail!("--count must be between 1 and {MAX_WRITE_COUNT}");
            }
            let mode = match (args.connections, args.rate) {
                (Some(n), None) if (1..=1024).contains(&n) => {
                    write::Mode::Closed { connections: n }
                }
                (None, Some(r)) if r > 0.0 && r <= 200_000.0 => write::Mode::Open {
                    rate: r,
                    max_in_flight: args.max_in_flight.max(1),
                },
                _ => bail!("give either --connections (1..=1024) or --rate (0..=200000)"),
            };
            if args.verify_and_sign_floor.is_some() && args.target.api != Api::V1 {
                bail!("--verify-and-sign-floor takes Rekor v1 entries only (--api v1)");
            }
            let calibration = if args.no_calibrate {
                None
            } else {
                Some(calibrate::run(&args.calibrate)?)
            };
            if let Some(c) = &calibration {
                report::print_calibration(c);
            }
            let signer = runtime.block_on(entries::SigningIdentity::new(
                &args.identity,
                args.target.api,
            ))?;
            println!("identity: {}", signer.describe());
            let bodies = entries::presign(&signer, args.target.api, 0, args.count)?;
            let floor_runs = [
                (http_floor::BareWork::Http, args.http_floor),
                (
                    http_floor::BareWork::VerifyAndSign,
                    args.verify_and_sign_floor,
                ),
            ];
            let mut floors = Vec::new();
            if floor_runs.iter().any(|(_, seconds)| seconds.is_some()) {
                // One more entry, past the run's, to learn the size of the log's answer.
                let probe = entries::presign(&signer, args.target.api, args.count, 1)?;
                let size =
                    runtime.block_on(http_floor::answer_size(&args.target, probe[0].clone()))?;
                for (work, seconds) in floor_runs {
                    let Some(seconds) = seconds else { continue };
                    let floor = runtime.block_on(http_floor::measure(
                        &args.target,
                        mode,
                        bodies.clone(),
                        size,
                        work,
                        Duration::from_secs_f64(seconds),
                    ))?;
                    report::print_http_floor(&floor);
                    floors.push(floor);
                }
            }
            let perf = match (&args.perf_out, args.target.server_pid) {
                (Some(out), Some(pid)) => Some(start_perf(out, pid, duration)?),
                _ => None,
            };
            let summary = runtime.block_on(write::run(&args.target, mode, bodies, duration))?;
            if let Some(mut perf) = perf {
                // It stops by itself at the end of --duration; stop it sooner if the run was shorter.
                let _ = rustix::process::kill_process(
                    rustix::process::Pid::from_raw(perf.id() as i32)
                        .ok_or_else(|| anyhow::anyhow!("perf has no PID"))?,
                    rustix::process::Signal::INT,
                );
                perf.wait()?;
            }
            report::print_write(&summary, calibration.as_ref(), &floors);
            if let Some(dir) = &args.log_dir {
                let size = runtime.block_on(read::tree_size(&args.target))?;
                report::print_storage(dir, size)?;
            }
            Ok(())
        }
        Command::Read(args) => {
            check_loopback(&args.target.url)?;
            let duration = bounded_duration(args.duration)?;
            if !(1..=1024).contains(&args.connections) {
                bail!("--connections must be between 1 and 1024");
            }
            let summary = runtime.block_on(read::run(
                &args.target,
                args.connections,
                duration,
                args.count,
            ))?;
            report::print_read(&summary);
            Ok(())
        }
        Command::FillDirect(args) => {
            if !(args.duration > 0.0 && args.duration <= MAX_DIRECT_DURATION.as_secs_f64()) {
                bail!(
                    "--duration must be between 0 and {} seconds",
                    MAX_DIRECT_DURATION.as_secs()
                );
            }
            if args.entries == 0 || args.entries > MAX_FILL_COUNT {
                bail!("--entries must be between 1 and {MAX_FILL_COUNT}");
            }
            if !(1..=1024).contains(&args.concurrency) {
                bail!("--concurrency must be between 1 and 1024");
            }
            direct::run(
                &runtime,
                &direct::Plan {
                    data_dir: args.data_dir,
                    entries: args.entries,
                    hostname: args.hostname,
                    concurrency: args.concurrency,
                    duration: Duration::from_secs_f64(args.duration),
                },
            )
        }
        Command::Fill(args) => {
            check_loopback(&args.target.url)?;
            let duration = bounded_duration(args.duration)?;
            if args.entries == 0 || args.entries > MAX_FILL_COUNT {
                bail!("--entries must be between 1 and {MAX_FILL_COUNT}");
            }
            if !(1..=1024).contains(&args.connections) || args.chunk == 0 {
                bail!("--connections must be between 1 and 1024 and --chunk positive");
            }
            let signer = runtime.block_on(entries::SigningIdentity::new(
                &args.identity,
                args.target.api,
            ))?;
            let deadline = std::time::Instant::now() + duration;
            let mut done = 0usize;
            let start = std::time::Instant::now();
            while done < args.entries {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    println!("fill: stopped at --duration");
                    break;
                }
                let n = args.chunk.min(args.entries - done);
                let bodies = entries::presign(&signer, args.target.api, done, n)?;
                let summary = runtime.block_on(write::run(
                    &args.target,
                    write::Mode::Closed {
                        connections: args.connections,
                    },
                    bodies,
                    left,
                ))?;
                done += n;
                println!(
                    "fill: {done}/{} sent, chunk {:.0} entries/s accepted, errors {:?}, {:.0} s elapsed",
                    args.entries,
                    summary.accepted_per_second(),
                    summary.errors,
                    start.elapsed().as_secs_f64()
                );
            }
            Ok(())
        }
    }
}

/// `perf record -g -p PID -o OUT` for at most `duration`.
fn start_perf(
    out: &std::path::Path,
    pid: u32,
    duration: Duration,
) -> anyhow::Result<std::process::Child> {
    let child = std::process::Command::new("perf")
        .args(["record", "-g", "-p", &pid.to_string(), "-o"])
        .arg(out)
        .args(["--", "sleep", &duration.as_secs().max(1).to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting perf")?;
    // Let perf attach before the load starts.
    std::thread::sleep(Duration::from_millis(300));
    Ok(child)
}

fn parse_floor_seconds(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 60.0 => Ok(s),
        _ => Err("seconds between 0 and 60".to_owned()),
    }
}

fn bounded_duration(seconds: f64) -> anyhow::Result<Duration> {
    if !(seconds > 0.0 && seconds <= MAX_DURATION.as_secs_f64()) {
        bail!(
            "--duration must be between 0 and {} seconds",
            MAX_DURATION.as_secs()
        );
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Refuse any target that is not a loopback address.
pub fn check_loopback(raw: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(raw).with_context(|| format!("parsing URL {raw}"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    if !loopback || url.scheme() != "http" {
        bail!("only http:// loopback targets are allowed, not {raw}");
    }
    Ok(())
}
