//! CPU time and memory of processes and of the machine, from /proc.

use std::time::Duration;

use anyhow::{Context as _, anyhow};

fn ticks_to_duration(ticks: u64) -> Duration {
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

/// utime + stime of a process (`"self"` or a PID).
pub fn process_cpu(pid: &str) -> anyhow::Result<Duration> {
    stat_cpu(&format!("/proc/{pid}/stat"))
}

/// utime + stime of each live thread of a process, summed by thread name (`comm`), most first.
/// Threads that have already exited are not counted.
pub fn threads_cpu(pid: &str) -> anyhow::Result<Vec<(String, Duration)>> {
    let mut by_name = std::collections::BTreeMap::<String, Duration>::new();
    let dir = format!("/proc/{pid}/task");
    for task in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let path = task.with_context(|| format!("reading {dir}"))?.path();
        // A thread may exit between the listing and the reads: skip it.
        let (Ok(name), Ok(cpu)) = (
            std::fs::read_to_string(path.join("comm")),
            stat_cpu(&path.join("stat").to_string_lossy()),
        ) else {
            continue;
        };
        *by_name.entry(name.trim().to_owned()).or_default() += cpu;
    }
    let mut threads: Vec<(String, Duration)> = by_name.into_iter().collect();
    threads.sort_by_key(|t| std::cmp::Reverse(t.1));
    Ok(threads)
}

/// utime + stime from a `stat` file of /proc.
fn stat_cpu(path: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    // Fields after the command name, which is in parentheses and may hold spaces:
    // state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unexpected {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| anyhow!("unexpected {path}"))
    };
    Ok(ticks_to_duration(field(11)? + field(12)?))
}

/// (VmRSS, VmHWM) of a process, in bytes.
pub fn process_memory(pid: &str) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let kib = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .map(|k| k * 1024)
            .unwrap_or(0)
    };
    Ok((kib("VmRSS:"), kib("VmHWM:")))
}

/// Busy CPU time of the whole machine (all cores, everything but idle and iowait).
pub fn machine_busy() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat
        .lines()
        .next()
        .ok_or_else(|| anyhow!("empty /proc/stat"))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    let busy: u64 = values
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    Ok(ticks_to_duration(busy))
}

/// CPU counters at one instant.
#[derive(Clone, Copy)]
pub struct CpuSnapshot {
    pub server: Option<Duration>,
    pub loadgen: Duration,
    pub machine: Duration,
}

impl CpuSnapshot {
    pub fn take(server_pid: Option<u32>) -> anyhow::Result<Self> {
        Ok(Self {
            server: server_pid
                .map(|p| process_cpu(&p.to_string()))
                .transpose()?,
            loadgen: process_cpu("self")?,
            machine: machine_busy()?,
        })
    }
}

/// CPU spent between two snapshots.
#[derive(Clone, Copy, Debug)]
pub struct CpuUsed {
    pub server: Option<Duration>,
    pub loadgen: Duration,
    /// Everything else on the machine (other agents' builds, the kernel's own threads).
    pub other: Duration,
}

pub fn used(before: &CpuSnapshot, after: &CpuSnapshot) -> CpuUsed {
    let server = match (before.server, after.server) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    let loadgen = after.loadgen.saturating_sub(before.loadgen);
    let machine = after.machine.saturating_sub(before.machine);
    let other = machine
        .saturating_sub(loadgen)
        .saturating_sub(server.unwrap_or_default());
    CpuUsed {
        server,
        loadgen,
        other,
    }
}
