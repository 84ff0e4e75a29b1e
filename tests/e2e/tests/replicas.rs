//! Two `sigstack up --database-url` replicas on one PostgreSQL database: concurrent Rekor v1
//! submissions through both, kill -9 of one of them mid-ingest, and then every acknowledged
//! entry is at its index (read through the survivor), the survivor keeps sequencing within
//! seconds, and every checkpoint either replica served before the kill is consistent with the
//! tree after it.
//!
//! Needs `SIGSTACK_TEST_DATABASE_URL` (a role that may create databases; .ci/run sets it): the
//! test fails without it under CI (`CI=true`) and skips locally with a message.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sigstack_e2e::Stack;
use sigstack_e2e::rekor_v1::{
    AckedEntry, assert_acked_entries_unchanged, assert_checkpoints_consistent, tree_head,
};
use sigstack_keys::{FileSigner, SignatureAlgorithm};

/// An acknowledged entry, when and through which replica.
#[derive(Clone, Debug)]
struct Ack {
    entry: AckedEntry,
    at: Instant,
    replica: usize,
}

fn hashedrekord(signer: &FileSigner, n: u64) -> serde_json::Value {
    let artifact = format!("replica artifact {n} {:?}", std::time::SystemTime::now());
    sigstack_e2e::signed_hashedrekord(signer, &artifact)
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_replica_loses_nothing_and_the_other_takes_over() {
    let Some(db) = sigstack_tlog_postgres::fresh_test_database("e2e_replicas")
        .await
        .expect("fresh database")
    else {
        return;
    };
    let db_args = ["--database-url", db.as_str()];

    // Replica A creates the keys; replica B runs on a copy of its data directory.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir_a = tmp.path().join("a");
    let dir_b = tmp.path().join("b");
    let mut a = Stack::start_with(&dir_a, &db_args, &[]);
    copy_dir(&dir_a, &dir_b);
    let b = Stack::start_with(&dir_b, &db_args, &[]);
    for (name, data) in [("a", &dir_a), ("b", &dir_b)] {
        assert!(
            !data.join("rekor-v1/log").exists() && !data.join("ctlog/log").exists(),
            "replica {name} keeps no log files in its data directory"
        );
    }
    let urls = [a.url("rekor-v1"), b.url("rekor-v1")];
    assert_ne!(urls[0], urls[1]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let signer = Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key"));

    let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
    let checkpoints = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..12u64 {
        let replica = (w % 2) as usize;
        let (client, rekor, signer, acks, stop) = (
            client.clone(),
            urls[replica].clone(),
            signer.clone(),
            acks.clone(),
            stop.clone(),
        );
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let entry = hashedrekord(&signer, w * 1_000_000 + i);
                let Ok(res) = client
                    .post(format!("{rekor}/api/v1/log/entries"))
                    .json(&entry)
                    .send()
                    .await
                else {
                    if replica == 0 {
                        return; // replica A died
                    }
                    continue;
                };
                if res.status() != reqwest::StatusCode::CREATED {
                    // Not acknowledged (503 while the database is busy, or the replica died).
                    if replica == 0 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let Ok(v) = res.json::<serde_json::Value>().await else {
                    continue;
                };
                let Some(entry) = AckedEntry::from_answer(&v) else {
                    continue;
                };
                acks.lock().expect("lock").push(Ack {
                    entry,
                    at: Instant::now(),
                    replica,
                });
            }
        }));
    }
    let mut readers = Vec::new();
    for rekor in urls.clone() {
        let (client, checkpoints) = (client.clone(), checkpoints.clone());
        readers.push(tokio::spawn(async move {
            loop {
                if let Ok(res) = client.get(format!("{rekor}/api/v1/log")).send().await
                    && let Ok(v) = res.json::<serde_json::Value>().await
                    && let (Some(size), Some(root)) =
                        (v["treeSize"].as_u64(), v["rootHash"].as_str())
                {
                    checkpoints
                        .lock()
                        .expect("lock")
                        .push((size, root.to_string()));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    // Both replicas sequence batches in turn; kill A mid-ingest.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (from_a, from_b) = {
            let acks = acks.lock().expect("lock");
            (
                acks.iter().filter(|a| a.replica == 0).count(),
                acks.iter().filter(|a| a.replica == 1).count(),
            )
        };
        if from_a >= 300 && from_b >= 300 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "too few acknowledgements ({from_a} via A, {from_b} via B): {}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Kill A while it holds the log's lock: the moment B's batch waits for a lock, A's batch
    // transaction holds it (they are the only two writers).
    let monitor = sqlx::PgPool::connect(&db)
        .await
        .expect("monitor connection");
    let b_name = format!("sigstack-{}", b.pid().expect("pid"));
    let mut b_waited = false;
    let lock_deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < lock_deadline {
        let waiting: Vec<String> = sqlx::query_scalar(
            "SELECT application_name FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_all(&monitor)
        .await
        .expect("pg_stat_activity");
        if waiting.contains(&b_name) {
            b_waited = true;
            break;
        }
    }
    a.kill_hard();
    let killed_at = Instant::now();
    assert!(
        b_waited,
        "replica B never waited for A's lock: the replicas do not share one sequencer lock"
    );
    // B keeps taking appends: the kill must not stall the log for more than a few seconds.
    let taken_over = loop {
        let after = acks
            .lock()
            .expect("lock")
            .iter()
            .filter(|x| x.replica == 1 && x.at > killed_at)
            .count();
        if after >= 100 {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(20),
            "replica B stopped sequencing after A was killed: {}",
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("replica B sequenced 100 entries {taken_over:?} after A was killed");
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        let _ = w.await;
    }
    for r in readers {
        r.abort();
    }
    let acks = acks.lock().expect("lock").clone();
    let checkpoints = checkpoints.lock().expect("lock").clone();

    // Everything acknowledged (by either replica) is at its index, read through B.
    let rekor = &urls[1];
    let (size, root) = tree_head(&client, rekor).await;
    assert_acked_entries_unchanged(&client, rekor, size, acks.iter().map(|a| &a.entry)).await;

    // Every checkpoint served by either replica is consistent with the tree now.
    let checked = assert_checkpoints_consistent(&client, rekor, (size, root), &checkpoints).await;
    assert!(checked > 10, "too few checkpoints observed: {checked}");

    // A restarted A serves the same tree.
    let a = Stack::start_with(&dir_a, &db_args, &[]);
    assert_eq!(tree_head(&client, &a.url("rekor-v1")).await, (size, root));

    // `sigstack serve rekor-v1` alone on a copy of the data directory serves the same log and
    // takes appends.
    let dir_c = tmp.path().join("c");
    copy_dir(&dir_b, &dir_c);
    let mut serve = std::process::Command::new(sigstack_e2e::sigstack_bin())
        .args(["serve", "rekor-v1", "--rekor-v1-port", "0", "--data-dir"])
        .arg(&dir_c)
        .args(db_args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sigstack serve");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(serve.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("read");
    let alone = line
        .split_whitespace()
        .last()
        .expect("serving at URL")
        .to_string();
    assert!(alone.starts_with("http://"), "{line}");
    assert_eq!(tree_head(&client, &alone).await.1, root);
    let res = client
        .post(format!("{alone}/api/v1/log/entries"))
        .json(&hashedrekord(&signer, 99_000_000))
        .send()
        .await
        .expect("append");
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let v: serde_json::Value = res.json().await.expect("json");
    let index = v
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(|e| e["logIndex"].as_u64())
        .expect("logIndex");
    assert_eq!(index, size, "the next index after the replicas' last");
    let _ = serve.kill();
    let _ = serve.wait();
    drop(b);
}

/// sigstore-python and sigstore-js sign through a stack whose logs are all in PostgreSQL
/// (Fulcio with SCTs from the CT log, Rekor v1 and v2, the TSA), and verify the bundles.
#[test]
fn real_clients_sign_and_verify_against_a_database_backed_stack() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(db) = runtime
        .block_on(sigstack_tlog_postgres::fresh_test_database("e2e_clients"))
        .expect("fresh database")
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let stack = Stack::start_with(&tmp.path().join("data"), &["--database-url", &db], &[]);
    let ws = sigstack_e2e::Workspace::new();
    let token = stack.token("alice@example.test");
    let artifact = ws.path("artifact.txt");
    for signer in [sigstack_e2e::Client::Python, sigstack_e2e::Client::Js] {
        for rekor in [sigstack_e2e::Rekor::V1, sigstack_e2e::Rekor::V2] {
            let bundle = ws.path(&format!("{}-{rekor:?}.sigstore.json", signer.name()));
            sigstack_e2e::sign(
                signer,
                &stack,
                &ws,
                rekor,
                sigstack_e2e::Kind::Blob,
                &token,
                &bundle,
            )
            .unwrap_or_else(|e| panic!("{e}\n{}", stack.log()));
            for verifier in [sigstack_e2e::Client::Python, sigstack_e2e::Client::Js] {
                sigstack_e2e::verify(
                    verifier,
                    &stack,
                    &bundle,
                    &artifact,
                    "alice@example.test",
                    &stack.issuer(),
                )
                .unwrap_or_else(|e| {
                    panic!("{} verifying {}: {e}", verifier.name(), bundle.display())
                });
            }
        }
    }
    assert!(
        !stack.data_dir.join("rekor-v2/log").exists(),
        "no log files in the data directory"
    );
}
