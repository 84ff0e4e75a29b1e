//! The read load: Rekor v1 entries with their inclusion proofs at random indexes, or Rekor v2
//! full level-0 hash tiles at random tile indexes, closed loop over N connections.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::conn::{Connection, Endpoint};
use crate::procstat::{self, CpuUsed};
use crate::{Api, Target};

pub struct ReadSummary {
    pub api: Api,
    pub connections: usize,
    pub tree_size: u64,
    pub ok: usize,
    pub errors: BTreeMap<String, usize>,
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
    pub cpu: CpuUsed,
}

/// The tlog-tiles path element for tile index `n`: 3-digit groups, all but the last `x`-prefixed.
fn tile_index_path(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

pub async fn tree_size(target: &Target) -> anyhow::Result<u64> {
    let mut conn = Connection::new(Endpoint::new(target)?);
    let path = match target.api {
        Api::V1 => "/api/v1/log",
        Api::V2 => "/api/v2/checkpoint",
    };
    let (status, body) = conn
        .get(path)
        .await
        .map_err(|kind| anyhow!("GET {path}: {kind}"))?;
    if !status.is_success() {
        bail!("GET {path}: {status}");
    }
    match target.api {
        Api::V1 => {
            let info: Value = serde_json::from_slice(&body).context("GET /api/v1/log")?;
            info["treeSize"]
                .as_u64()
                .ok_or_else(|| anyhow!("no treeSize in {info}"))
        }
        Api::V2 => {
            let note = String::from_utf8_lossy(&body);
            note.lines()
                .nth(1)
                .and_then(|l| l.parse().ok())
                .ok_or_else(|| anyhow!("unexpected checkpoint {note:?}"))
        }
    }
}

pub async fn run(
    target: &Target,
    connections: usize,
    duration: Duration,
    count: usize,
) -> anyhow::Result<ReadSummary> {
    let endpoint = Endpoint::new(target)?;
    let size = tree_size(target).await?;
    // Rekor v2: only full tiles, so every read is the same 8 KiB.
    let range = match target.api {
        Api::V1 => size,
        Api::V2 => size / 256,
    };
    if range == 0 {
        bail!("the log is too small to read from (tree size {size})");
    }
    let api = target.api;
    let cpu_before = procstat::CpuSnapshot::take(target.server_pid)?;
    let start = Instant::now();
    let deadline = start + duration;
    let issued = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for worker in 0..connections {
        let issued = Arc::clone(&issued);
        let mut conn = Connection::new(endpoint.clone());
        set.spawn(async move {
            // xorshift64*, seeded per worker: cheap, and not the same sequence on every connection.
            let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ ((worker as u64 + 1) << 17);
            let mut out: Vec<(Duration, Instant, Result<(), String>)> = Vec::new();
            while issued.fetch_add(1, Ordering::Relaxed) < count && Instant::now() < deadline {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                let n = state.wrapping_mul(0x2545_f491_4f6c_dd1d) % range;
                let path = match api {
                    Api::V1 => format!("/api/v1/log/entries?logIndex={n}"),
                    Api::V2 => format!("/api/v2/tile/0/{}", tile_index_path(n)),
                };
                let sent = Instant::now();
                let result = match conn.get(&path).await {
                    Ok((status, body)) if status.as_u16() == 200 && !body.is_empty() => Ok(()),
                    Ok((status, _)) => Err(status.as_u16().to_string()),
                    Err(kind) => Err(kind.to_owned()),
                };
                let done = Instant::now();
                out.push((done - sent, done, result));
            }
            out
        });
    }
    let mut errors = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut last = start;
    while let Some(joined) = set.join_next().await {
        for (latency, done, result) in joined? {
            last = last.max(done);
            match result {
                Ok(()) => latencies.push(latency),
                Err(kind) => *errors.entry(kind).or_insert(0) += 1,
            }
        }
    }
    let cpu_after = procstat::CpuSnapshot::take(target.server_pid)?;
    latencies.sort_unstable();
    Ok(ReadSummary {
        api,
        connections,
        tree_size: size,
        ok: latencies.len(),
        errors,
        latencies,
        elapsed: last - start,
        cpu: procstat::used(&cpu_before, &cpu_after),
    })
}

#[cfg(test)]
mod tests {
    use super::tile_index_path;

    #[test]
    fn tile_paths_follow_tlog_tiles() {
        assert_eq!(tile_index_path(0), "000");
        assert_eq!(tile_index_path(999), "999");
        assert_eq!(tile_index_path(1000), "x001/000");
        assert_eq!(tile_index_path(1_234_067), "x001/x234/067");
    }
}
