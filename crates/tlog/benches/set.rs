//! The Rekor v1 SET payload of a typical entry (a 2.3 KB base64 body): serde_json's own string
//! escaping against `json::serialize_plain_str`, the path the log takes.
//!
//! `cargo bench -p sigstack-tlog --bench set`

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use sigstack_tlog::set::set_payload;

#[derive(serde::Serialize)]
struct EscapedBody<'a> {
    body: &'a str,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: &'a str,
    #[serde(rename = "logIndex")]
    log_index: u64,
}

fn bench(c: &mut Criterion) {
    let body = "eyJhcGlWZXJzaW9uIjoiMC4wLjEiLCJraW5kIjoiaGFzaGVkcmVrb3JkIn0=".repeat(38);
    let log_id = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d";
    let mut group = c.benchmark_group("set_payload_2300B_body");
    group.bench_function("serde_json_escaping", |b| {
        b.iter(|| {
            serde_json::to_vec(&EscapedBody {
                body: &body,
                integrated_time: 1_764_547_200,
                log_id,
                log_index: 123_456_789,
            })
            .unwrap()
        });
    });
    group.bench_function("plain_str", |b| {
        b.iter(|| set_payload(&body, 1_764_547_200, log_id, 123_456_789).unwrap());
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
