//! The write load: closed loop (N connections, each sends when answered) or open loop (fixed
//! arrival rate, latency from the scheduled send time).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::conn::{Connection, Endpoint};
use crate::procstat::{self, CpuUsed};
use crate::{Api, Target};

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Closed { connections: usize },
    Open { rate: f64, max_in_flight: usize },
}

/// What one request came to.
enum Outcome {
    Accepted,
    /// Accepted, but the checkpoint in the answer does not cover the entry (Rekor v2).
    NotCovered,
    Error(String),
}

struct Sample {
    latency: Duration,
    done: Instant,
    outcome: Outcome,
}

pub struct Summary {
    pub api: Api,
    pub mode: Mode,
    pub sent: usize,
    pub accepted: usize,
    /// Error kind (HTTP status, `timeout`, `connect`, `client-overload`, ...) → count.
    pub errors: BTreeMap<String, usize>,
    /// Accepted entries' latencies, sorted.
    pub latencies: Vec<Duration>,
    /// From the first scheduled send to the last answer.
    pub elapsed: Duration,
    pub cpu: CpuUsed,
    /// Server (VmRSS, VmHWM) after the run.
    pub server_memory: Option<(u64, u64)>,
}

impl Summary {
    pub fn accepted_per_second(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Where entries are submitted.
pub fn path(api: Api) -> &'static str {
    match api {
        Api::V1 => "/api/v1/log/entries",
        Api::V2 => "/api/v2/log/entries",
    }
}

async fn submit(conn: &mut Connection, api: Api, body: Bytes) -> Outcome {
    let (status, bytes) = match conn.post_json(path(api), body).await {
        Ok(reply) => reply,
        Err(kind) => return Outcome::Error(kind.to_owned()),
    };
    if status.as_u16() != 201 {
        return Outcome::Error(status.as_u16().to_string());
    }
    match api {
        // Only the status is checked, to keep the load generator's CPU low.
        Api::V1 => Outcome::Accepted,
        Api::V2 => match checkpoint_covers(&bytes) {
            Some(true) => Outcome::Accepted,
            Some(false) => Outcome::NotCovered,
            None => Outcome::Error("201-unparsable".into()),
        },
    }
}

/// Does the checkpoint in a Rekor v2 answer cover the entry's index (and match the proof's
/// tree size)?
fn checkpoint_covers(body: &[u8]) -> Option<bool> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let index: u64 = v["logIndex"].as_str()?.parse().ok()?;
    let proof = &v["inclusionProof"];
    let tree_size: u64 = proof["treeSize"].as_str()?.parse().ok()?;
    let note = proof["checkpoint"]["envelope"].as_str()?;
    let note_size: u64 = note.lines().nth(1)?.parse().ok()?;
    Some(index < note_size && note_size == tree_size)
}

fn take_idle(idle: &std::sync::Mutex<Vec<Connection>>) -> Option<Connection> {
    idle.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop()
}

fn put_idle(idle: &std::sync::Mutex<Vec<Connection>>, conn: Connection) {
    idle.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(conn);
}

pub async fn run(
    target: &Target,
    mode: Mode,
    bodies: Vec<Bytes>,
    duration: Duration,
) -> anyhow::Result<Summary> {
    let endpoint = Endpoint::new(target)?;
    let api = target.api;
    let bodies = Arc::new(bodies);
    let cpu_before = procstat::CpuSnapshot::take(target.server_pid)?;
    let start = Instant::now();
    let deadline = start + duration;
    let mut set: JoinSet<Vec<Sample>> = JoinSet::new();
    let mut samples: Vec<Sample> = Vec::with_capacity(bodies.len());

    match mode {
        Mode::Closed { connections } => {
            let next = Arc::new(AtomicUsize::new(0));
            for _ in 0..connections {
                let (bodies, next) = (Arc::clone(&bodies), Arc::clone(&next));
                let mut conn = Connection::new(endpoint.clone());
                set.spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= bodies.len() || Instant::now() >= deadline {
                            break;
                        }
                        let sent = Instant::now();
                        let outcome = submit(&mut conn, api, bodies[i].clone()).await;
                        let done = Instant::now();
                        mine.push(Sample {
                            latency: done - sent,
                            done,
                            outcome,
                        });
                    }
                    mine
                });
            }
        }
        Mode::Open {
            rate,
            max_in_flight,
        } => {
            // Idle connections, one per request in flight at most.
            let idle = Arc::new(std::sync::Mutex::new(Vec::<Connection>::new()));
            let in_flight = Arc::new(Semaphore::new(max_in_flight));
            let period = Duration::from_secs_f64(1.0 / rate);
            for (i, body) in bodies.iter().enumerate() {
                let scheduled = start + period.mul_f64(i as f64);
                if scheduled >= deadline {
                    break;
                }
                tokio::time::sleep_until(scheduled.into()).await;
                let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                    let now = Instant::now();
                    samples.push(Sample {
                        latency: now - scheduled,
                        done: now,
                        outcome: Outcome::Error("client-overload".into()),
                    });
                    continue;
                };
                let (idle, body) = (Arc::clone(&idle), body.clone());
                let mut conn =
                    take_idle(&idle).unwrap_or_else(|| Connection::new(endpoint.clone()));
                set.spawn(async move {
                    let outcome = submit(&mut conn, api, body).await;
                    put_idle(&idle, conn);
                    drop(permit);
                    let done = Instant::now();
                    vec![Sample {
                        latency: done - scheduled,
                        done,
                        outcome,
                    }]
                });
                // Reap finished tasks now and then so the set stays small.
                while let Some(Ok(mut s)) = set.try_join_next() {
                    samples.append(&mut s);
                }
            }
        }
    }
    while let Some(joined) = set.join_next().await {
        samples.append(&mut joined?);
    }
    let cpu_after = procstat::CpuSnapshot::take(target.server_pid)?;
    let server_memory = target
        .server_pid
        .map(|p| procstat::process_memory(&p.to_string()))
        .transpose()?;

    let mut errors = BTreeMap::new();
    let mut latencies = Vec::with_capacity(samples.len());
    let mut last_done = start;
    for s in &samples {
        last_done = last_done.max(s.done);
        match &s.outcome {
            Outcome::Accepted => latencies.push(s.latency),
            Outcome::NotCovered => {
                latencies.push(s.latency);
                *errors
                    .entry("201-checkpoint-not-covering".to_owned())
                    .or_insert(0) += 1;
            }
            Outcome::Error(kind) => *errors.entry(kind.clone()).or_insert(0) += 1,
        }
    }
    latencies.sort_unstable();
    Ok(Summary {
        api,
        mode,
        sent: samples.len(),
        accepted: latencies.len(),
        errors,
        latencies,
        elapsed: last_done - start,
        cpu: procstat::used(&cpu_before, &cpu_after),
        server_memory,
    })
}
