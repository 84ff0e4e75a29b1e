//! Writing a typical entry's 2.3 KB base64 body as a JSON string: serde_json's own string
//! escaping against `json::serialize_plain_str`, and the whole Rekor v1 SET payload built
//! with the latter.
//!
//! `cargo bench -p sigstack-tlog --bench set`

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use sigstack_tlog::json::serialize_plain_str;
use sigstack_tlog::set::set_payload;

fn bench(c: &mut Criterion) {
    let body = "eyJhcGlWZXJzaW9uIjoiMC4wLjEiLCJraW5kIjoiaGFzaGVkcmVrb3JkIn0=".repeat(38);
    let log_id = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d";
    let mut group = c.benchmark_group("body_2300B");
    group.bench_function("string_serde_json_escaping", |b| {
        b.iter(|| serde_json::to_vec(body.as_str()).unwrap());
    });
    group.bench_function("string_plain_str", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(body.len() + 2);
            serialize_plain_str(&body, &mut serde_json::Serializer::new(&mut out)).unwrap();
            out
        });
    });
    group.bench_function("set_payload", |b| {
        b.iter(|| set_payload(&body, 1_764_547_200, log_id, 123_456_789).unwrap());
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
