//! `fill-direct`: append entries to a stopped stack's Rekor v1 log in this process, through
//! the same code path as `POST /api/v1/log/entries` (`RekorV1State::create_entry`: entry
//! verification, canonical body, SET, group-committed embedded storage), without HTTP.
//!
//! The log is opened the way `sigstack up` opens it (`DATA_DIR/rekor-v1/{key.pem,tree-id,log/}`,
//! the checkpoint key name, the stack's storage defaults, the opening entry), so that a later
//! `sigstack up --data-dir DATA_DIR` serves the very same log.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use sigstack_clock::SystemClock;
use sigstack_keys::{FileSigner, SignatureAlgorithm};
use sigstack_rekor::{RekorError, RekorV1Config, RekorV1State};
use sigstack_tlog_storage::{EmbeddedLog, LogConfig, StorageError};
use tokio::sync::{Mutex, mpsc};

use crate::entries::SigningIdentity;
use crate::{Api, Identity, procstat, report};

/// How often progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Most signed entries waiting for an appender.
const QUEUE: usize = 4096;

/// What one `fill-direct` run does.
pub struct Plan {
    pub data_dir: PathBuf,
    pub entries: usize,
    pub hostname: String,
    pub concurrency: usize,
    pub duration: Duration,
}

/// The Rekor v1 log key, as `sigstack up` finds it without a configured key source: the key
/// file, or a new P-256 key written there while the log is still empty.
fn log_key(rekor_dir: &Path) -> anyhow::Result<FileSigner> {
    let key_path = rekor_dir.join("key.pem");
    let log_dir = rekor_dir.join("log");
    if !key_path.exists() && EmbeddedLog::holds_data(&log_dir) {
        bail!(
            "{} is missing but the log in {} holds entries; restore the key (or use another \
             --data-dir)",
            key_path.display(),
            log_dir.display()
        );
    }
    FileSigner::load_or_generate(&key_path, SignatureAlgorithm::EcdsaP256Sha256)
        .map_err(|e| anyhow!("loading the Rekor v1 key {}: {e}", key_path.display()))
}

/// Open (or create) the log, refusing clearly when `sigstack up` holds it.
async fn open_log(plan: &Plan) -> anyhow::Result<RekorV1State> {
    let rekor_dir = plan.data_dir.join("rekor-v1");
    let signer = log_key(&rekor_dir)?;
    let opened = RekorV1State::open(RekorV1Config {
        dir: rekor_dir.clone(),
        signer: Arc::new(signer),
        hostname: plan.hostname.clone(),
        metrics: sigstack_http::Metrics::new(),
        log: LogConfig::default(),
        clock: Arc::new(SystemClock),
    })
    .await;
    match opened {
        Ok(state) => Ok(state),
        Err(RekorError::Storage(StorageError::Locked(dir))) => bail!(
            "the log {} is in use by another process (a running `sigstack up --data-dir {}`?): \
             stop it first",
            dir.display(),
            plan.data_dir.display()
        ),
        Err(e) => Err(anyhow!(
            "opening the Rekor v1 log in {}: {e}",
            rekor_dir.display()
        )),
    }
}

/// Run the fill: returns once `plan.entries` are appended, `plan.duration` has passed, or an
/// append failed (an error).
pub fn run(runtime: &tokio::runtime::Runtime, plan: &Plan) -> anyhow::Result<()> {
    let state = runtime.block_on(open_log(plan))?;
    let result = runtime.block_on(fill(&state, plan));
    // Before the log closes: its threads (sequencer, LSM flushes and merges) are still alive.
    let threads = procstat::threads_cpu("self").unwrap_or_default();
    let tree_size = runtime.block_on(state.log_info()).map(|i| i.tree_size);
    runtime.block_on(state.close());
    let summary = result?;
    let tree_size = tree_size.map_err(|e| anyhow!("reading the tree size: {e}"))?;
    let secs = summary.elapsed.as_secs_f64();
    let (rss, peak) = procstat::process_memory("self").unwrap_or((0, 0));
    println!(
        "fill-direct: appended {} entries in {secs:.1} s = {:.0} entries/s; tree size {tree_size}; \
         RSS {} MiB (peak {} MiB){}",
        summary.appended,
        summary.appended as f64 / secs.max(1e-9),
        rss >> 20,
        peak >> 20,
        if summary.timed_out {
            "; stopped at --duration"
        } else {
            ""
        }
    );
    let cpu: Vec<String> = threads
        .iter()
        .map(|(name, cpu)| format!("{name} {:.1} s", cpu.as_secs_f64()))
        .collect();
    println!("CPU by thread: {}", cpu.join(", "));
    report::print_storage(&plan.data_dir.join("rekor-v1"), tree_size)?;
    Ok(())
}

struct Summary {
    appended: u64,
    elapsed: Duration,
    timed_out: bool,
}

async fn fill(state: &RekorV1State, plan: &Plan) -> anyhow::Result<Summary> {
    if let Some(index) = state
        .append_opening_entry()
        .await
        .context("writing the opening entry")?
    {
        println!("fill-direct: new log, opening entry at index {index}");
    }
    let before = state
        .log_info()
        .await
        .map_err(|e| anyhow!("reading the tree size: {e}"))?;
    println!(
        "fill-direct: log {} (origin {:?}), tree size {}; appending {} entries with {} tasks",
        plan.data_dir.join("rekor-v1").display(),
        state.origin(),
        before.tree_size,
        plan.entries,
        plan.concurrency
    );
    let identity = SigningIdentity::new(
        &Identity {
            fulcio_url: None,
            token: None,
            public_key: false,
            key_per_entry: false,
        },
        Api::V1,
    )
    .await?;
    println!("identity: {}", identity.describe());

    // Signing threads (one per core) each sign every `threads`-th artifact and queue the
    // compact JSON body (about 1.7 KB; each is parsed just before its append): at most
    // `QUEUE` signed entries are in memory. They end when every entry is signed or the
    // appenders are gone.
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
    let identity = Arc::new(identity);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let signers: Vec<_> = (0..threads)
        .map(|first| {
            let (tx, identity, total) = (tx.clone(), Arc::clone(&identity), plan.entries);
            std::thread::spawn(move || -> anyhow::Result<()> {
                for i in (first..total).step_by(threads) {
                    if tx.blocking_send(identity.body(Api::V1, i)?).is_err() {
                        break;
                    }
                }
                Ok(())
            })
        })
        .collect();
    drop(tx);

    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + plan.duration;
    let rx = Arc::new(Mutex::new(rx));
    let appended = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let first_error: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..plan.concurrency {
        let (state, rx, appended) = (state.clone(), Arc::clone(&rx), Arc::clone(&appended));
        let (stop, timed_out, first_error) = (
            Arc::clone(&stop),
            Arc::clone(&timed_out),
            Arc::clone(&first_error),
        );
        workers.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if tokio::time::Instant::now() >= deadline {
                    timed_out.store(true, Ordering::Relaxed);
                    break;
                }
                let next =
                    tokio::time::timeout_at(deadline, async { rx.lock().await.recv().await }).await;
                let request = match next {
                    Ok(Some(request)) => request,
                    Ok(None) => break,
                    Err(_) => {
                        timed_out.store(true, Ordering::Relaxed);
                        break;
                    }
                };
                let appended_entry = state.create_entry(request).await.map_err(|e| e.to_string());
                match appended_entry {
                    Ok(_) => {
                        appended.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        if let Ok(mut first) = first_error.lock() {
                            first.get_or_insert(e);
                        }
                    }
                }
            }
        });
    }
    let progress = tokio::spawn(progress(Arc::clone(&appended), start, plan.entries));
    while let Some(joined) = workers.join_next().await {
        joined.context("append task")?;
    }
    progress.abort();
    let elapsed = start.elapsed();
    // The appenders are gone: each signer's next send fails and it returns.
    drop(rx);
    let produced = tokio::task::spawn_blocking(move || {
        signers
            .into_iter()
            .map(|s| {
                s.join()
                    .unwrap_or_else(|_| Err(anyhow!("a signing thread panicked")))
            })
            .collect::<anyhow::Result<Vec<()>>>()
    })
    .await
    .context("joining the signers")?;
    let appended = appended.load(Ordering::Relaxed);
    if let Some(e) = first_error.lock().ok().and_then(|mut e| e.take()) {
        bail!("an append failed after {appended} entries: {e}");
    }
    produced?;
    Ok(Summary {
        appended,
        elapsed,
        timed_out: timed_out.load(Ordering::Relaxed),
    })
}

/// Print entries, rates and this process's memory every [`PROGRESS_EVERY`].
async fn progress(appended: Arc<AtomicU64>, start: Instant, total: usize) {
    let mut ticks = tokio::time::interval(PROGRESS_EVERY);
    ticks.tick().await;
    let mut last = (0u64, Instant::now());
    loop {
        ticks.tick().await;
        let now = Instant::now();
        let n = appended.load(Ordering::Relaxed);
        let (rss, _) = procstat::process_memory("self").unwrap_or((0, 0));
        println!(
            "fill-direct: {n}/{total} appended, {:.0} entries/s (overall {:.0}), {:.0} s elapsed, RSS {} MiB",
            (n - last.0) as f64 / now.duration_since(last.1).as_secs_f64().max(1e-9),
            n as f64 / start.elapsed().as_secs_f64().max(1e-9),
            start.elapsed().as_secs_f64(),
            rss >> 20
        );
        last = (n, now);
    }
}
