//! Human-readable reports of the runs.

use std::path::Path;
use std::time::Duration;

use crate::calibrate::Calibration;
use crate::http_floor::{BareWork, HttpFloor};
use crate::read::ReadSummary;
use crate::write::{Mode, Summary};

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The `p`-quantile (0..=1) of sorted values, nearest rank.
fn quantile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn latency_line(sorted: &[Duration]) -> String {
    format!(
        "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(quantile(sorted, 0.50)),
        ms(quantile(sorted, 0.90)),
        ms(quantile(sorted, 0.99)),
        ms(sorted.last().copied().unwrap_or_default()),
    )
}

pub fn print_calibration(c: &Calibration) {
    println!(
        "calibration (one thread, CPU time per operation, fastest of {} rounds, this run):",
        crate::calibrate::ROUNDS
    );
    println!(
        "  P-256 sign   sigstack-keys {:6.1} µs ({:6.0}/s)   aws-lc-rs {:6.1} µs ({:6.0}/s)",
        us(c.keys_sign),
        1e6 / us(c.keys_sign),
        us(c.aws_lc_sign),
        1e6 / us(c.aws_lc_sign)
    );
    println!(
        "  P-256 verify sigstack-keys {:6.1} µs ({:6.0}/s)   aws-lc-rs {:6.1} µs ({:6.0}/s)",
        us(c.keys_verify),
        1e6 / us(c.keys_verify),
        us(c.aws_lc_verify),
        1e6 / us(c.aws_lc_verify)
    );
    println!(
        "  crypto floor (1 verify + 1 sign): sigstack-keys {:.1} µs, aws-lc-rs {:.1} µs",
        us(c.floor()),
        us(c.aws_lc_floor())
    );
    if let Some((t, dir)) = &c.fsync {
        println!(
            "  fsync: 4 KiB append + fdatasync {:.2} ms ({:.0}/s) in {dir}",
            ms(*t),
            1.0 / t.as_secs_f64()
        );
    }
}

pub fn print_http_floor(f: &HttpFloor) {
    let what = match f.work {
        BareWork::Http => "HTTP floor (a bare hyper server",
        BareWork::VerifyAndSign => {
            "verify-and-sign floor (a bare hyper server that verifies each entry and signs once"
        }
    };
    println!(
        "{what}, the same requests and connections, {}-byte answers): {:.1} µs of server CPU per request ({} requests, {} errors)",
        f.answer_bytes,
        us(f.per_request),
        f.requests,
        f.errors
    );
    if let Some((verify, sign)) = f.crypto_calls {
        println!(
            "  of which inside the crypto calls (thread CPU time around them, one entry in {}): verify {:.1} µs, sign {:.1} µs",
            crate::http_floor::TIMED_EVERY,
            us(verify),
            us(sign)
        );
    }
}

pub fn print_write(s: &Summary, c: Option<&Calibration>, floors: &[HttpFloor]) {
    let mode = match s.mode {
        Mode::Closed { connections } => format!("closed loop, {connections} connections"),
        Mode::Open { rate, .. } => format!("open loop, {rate:.0} entries/s scheduled"),
    };
    println!("write {:?}, {mode}:", s.api);
    println!(
        "  sent {}, accepted {} in {:.2} s = {:.0} entries/s accepted",
        s.sent,
        s.accepted,
        s.elapsed.as_secs_f64(),
        s.accepted_per_second()
    );
    println!("  errors: {:?}", s.errors);
    let what = match (s.api, s.mode) {
        (crate::Api::V2, _) => {
            "latency until the entry is in a signed checkpoint (the answer carries it)"
        }
        (_, Mode::Open { .. }) => "latency from scheduled send",
        _ => "latency",
    };
    println!("  {what}: {}", latency_line(&s.latencies));
    let per_entry = |d: Duration| us(d) / (s.accepted.max(1) as f64);
    if let Some(server) = s.cpu.server {
        println!(
            "  server CPU {:.2} s = {:.0} µs per accepted entry ({:.2} cores busy)",
            server.as_secs_f64(),
            per_entry(server),
            server.as_secs_f64() / s.elapsed.as_secs_f64().max(1e-9)
        );
        if let Some(c) = c {
            println!(
                "  server CPU per entry / crypto floor: {:.2} × (sigstack-keys {:.0} µs), {:.2} × (aws-lc-rs {:.0} µs)",
                per_entry(server) / us(c.floor()),
                us(c.floor()),
                per_entry(server) / us(c.aws_lc_floor()),
                us(c.aws_lc_floor())
            );
            for f in floors {
                match f.work {
                    BareWork::Http => {
                        let both = us(c.aws_lc_floor()) + us(f.per_request);
                        println!(
                            "  server CPU per entry / (aws-lc-rs crypto floor + HTTP floor, {both:.0} µs): {:.2} ×; above both: {:.0} µs per entry",
                            per_entry(server) / both,
                            per_entry(server) - both
                        );
                    }
                    BareWork::VerifyAndSign => println!(
                        "  verify-and-sign floor / aws-lc-rs crypto floor: {:.2} ×; server CPU per entry / verify-and-sign floor: {:.2} ×; above it: {:.0} µs per entry",
                        us(f.per_request) / us(c.aws_lc_floor()),
                        per_entry(server) / us(f.per_request),
                        per_entry(server) - us(f.per_request)
                    ),
                }
            }
        }
    }
    println!(
        "  load generator CPU {:.2} s ({:.0} µs per entry); other processes on the machine {:.2} s ({:.2} cores)",
        s.cpu.loadgen.as_secs_f64(),
        per_entry(s.cpu.loadgen),
        s.cpu.other.as_secs_f64(),
        s.cpu.other.as_secs_f64() / s.elapsed.as_secs_f64().max(1e-9)
    );
    if let Some((rss, hwm)) = s.server_memory {
        println!(
            "  server RSS {:.1} MiB (peak {:.1} MiB)",
            rss as f64 / 1048576.0,
            hwm as f64 / 1048576.0
        );
    }
}

pub fn print_read(s: &ReadSummary) {
    let what = match s.api {
        crate::Api::V1 => "entries with inclusion proofs (GET /api/v1/log/entries?logIndex=)",
        crate::Api::V2 => "full level-0 hash tiles (GET /api/v2/tile/0/N)",
    };
    println!(
        "read {:?}, {} connections, tree size {}: {what}",
        s.api, s.connections, s.tree_size
    );
    println!(
        "  ok {} in {:.2} s = {:.0}/s; errors {:?}",
        s.ok,
        s.elapsed.as_secs_f64(),
        s.ok as f64 / s.elapsed.as_secs_f64().max(1e-9),
        s.errors
    );
    println!("  latency: {}", latency_line(&s.latencies));
    if let Some(server) = s.cpu.server {
        println!(
            "  server CPU {:.0} µs per read; load generator {:.0} µs per read; other processes {:.2} cores",
            us(server) / s.ok.max(1) as f64,
            us(s.cpu.loadgen) / s.ok.max(1) as f64,
            s.cpu.other.as_secs_f64() / s.elapsed.as_secs_f64().max(1e-9)
        );
    }
}

/// Apparent size and allocated blocks of every file under `dir`.
fn disk_usage(dir: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (a, b) = disk_usage(&entry.path())?;
            total.0 += a;
            total.1 += b;
        } else {
            total.0 += meta.len();
            total.1 += meta.blocks() * 512;
        }
    }
    Ok(total)
}

pub fn print_storage(dir: &Path, tree_size: u64) -> anyhow::Result<()> {
    let (apparent, allocated) = disk_usage(dir)?;
    println!(
        "storage of {}: {apparent} bytes ({allocated} allocated) for {tree_size} entries = {:.0} bytes per entry ({:.0} allocated)",
        dir.display(),
        apparent as f64 / tree_size.max(1) as f64,
        allocated as f64 / tree_size.max(1) as f64
    );
    Ok(())
}
