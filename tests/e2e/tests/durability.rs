//! Crash safety of the real binary: kill -9 during concurrent Rekor submissions, restart on the
//! same data directory, and find every acknowledged entry at its index, with the new tree
//! consistent with every checkpoint served before the crash.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sigstack_e2e::Stack;
use sigstack_e2e::rekor_v1::{
    AckedEntry, assert_acked_entries_unchanged, assert_checkpoints_consistent, tree_head,
};
use sigstack_keys::{FileSigner, SignatureAlgorithm};

fn hashedrekord(signer: &FileSigner, n: u64) -> serde_json::Value {
    let artifact = format!("durability artifact {n} {:?}", std::time::SystemTime::now());
    sigstack_e2e::signed_hashedrekord(signer, &artifact)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_entries_survive_kill_dash_nine() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let mut stack = Stack::start_on(&data_dir);
    let rekor = stack.url("rekor-v1");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let signer = Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key"));

    let acks = Arc::new(Mutex::new(Vec::<AckedEntry>::new()));
    let checkpoints = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    let mut writers = Vec::new();
    for w in 0..16u64 {
        let (client, rekor, signer, acks) =
            (client.clone(), rekor.clone(), signer.clone(), acks.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let entry = hashedrekord(&signer, w * 1_000_000 + i);
                let Ok(res) = client
                    .post(format!("{rekor}/api/v1/log/entries"))
                    .json(&entry)
                    .send()
                    .await
                else {
                    return; // the server died
                };
                if res.status() != reqwest::StatusCode::CREATED {
                    return;
                }
                let Ok(v) = res.json::<serde_json::Value>().await else {
                    return;
                };
                let Some(ack) = AckedEntry::from_answer(&v) else {
                    return;
                };
                acks.lock().expect("lock").push(ack);
            }
        }));
    }
    let reader = {
        let (client, rekor, checkpoints) = (client.clone(), rekor.clone(), checkpoints.clone());
        tokio::spawn(async move {
            loop {
                let Ok(res) = client.get(format!("{rekor}/api/v1/log")).send().await else {
                    return;
                };
                let Ok(v) = res.json::<serde_json::Value>().await else {
                    return;
                };
                if let (Some(size), Some(root)) = (v["treeSize"].as_u64(), v["rootHash"].as_str()) {
                    checkpoints
                        .lock()
                        .expect("lock")
                        .push((size, root.to_string()));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // Let traffic build up, then pull the plug mid-flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acks.lock().expect("lock").len() < 600 {
        assert!(
            std::time::Instant::now() < deadline,
            "too few acknowledgements: {}",
            stack.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The log's commit batches are exported: at least the acknowledged entries so far, in at
    // least one batch and at most one batch per entry.
    let acknowledged = acks.lock().expect("lock").len() as f64;
    let metrics = client
        .get(format!("{rekor}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let value = |name: &str| -> f64 {
        let prefix = format!("{name}{{log=\"rekor-v1\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{prefix:?} missing from\n{metrics}"))
    };
    let (entries, batches) = (
        value("sigstack_log_batch_entries_sum"),
        value("sigstack_log_batch_entries_count"),
    );
    assert!(
        entries >= acknowledged,
        "{entries} committed < {acknowledged} acknowledged"
    );
    assert!(
        (1.0..=entries).contains(&batches),
        "{batches} batches for {entries} entries"
    );
    assert!(value("sigstack_log_commit_seconds_total") > 0.0);
    stack.kill_hard();
    for w in writers {
        let _ = w.await;
    }
    reader.abort();
    let acks = acks.lock().expect("lock").clone();
    let checkpoints = checkpoints.lock().expect("lock").clone();

    // Restart on the same data directory.
    let stack = Stack::start_on(&data_dir);
    let rekor = stack.url("rekor-v1");
    let (size, root) = tree_head(&client, &rekor).await;
    assert_acked_entries_unchanged(&client, &rekor, size, &acks).await;
    let checked = assert_checkpoints_consistent(&client, &rekor, (size, root), &checkpoints).await;
    assert!(checked > 0, "no checkpoint was observed before the crash");

    // A clean stop (SIGTERM) and restart keeps the tree exactly.
    let mut stack = stack;
    stack.stop();
    let stack = Stack::start_on(&data_dir);
    let rekor = stack.url("rekor-v1");
    assert_eq!(tree_head(&client, &rekor).await, (size, root));
    eprintln!(
        "{} acknowledged entries and {checked} checkpoints survived; tree size {size}",
        acks.len()
    );
}
