//! Checks on a Rekor v1 log after a crash or a takeover, read over its HTTP API: acknowledged
//! entries are where they were acknowledged, and every checkpoint served earlier is consistent
//! with the tree now.

use sigstack_tlog::merkle::{Hash, verify_consistency};

/// An entry the log acknowledged with `201 Created`.
#[derive(Clone, Debug)]
pub struct AckedEntry {
    /// `logIndex` of the answer.
    pub index: u64,
    /// The entry UUID, the answer's single key.
    pub uuid: String,
    /// The canonical body (base64) of the answer.
    pub body: String,
}

impl AckedEntry {
    /// Read a `201` answer, `{"<uuid>": LogEntry}`; `None` if it is not one.
    #[must_use]
    pub fn from_answer(answer: &serde_json::Value) -> Option<Self> {
        let (uuid, entry) = answer.as_object()?.iter().next()?;
        Some(Self {
            index: entry["logIndex"].as_u64()?,
            uuid: uuid.clone(),
            body: entry["body"].as_str()?.to_owned(),
        })
    }
}

/// `GET url` as JSON; panics unless it answers 2xx with JSON.
pub async fn get_json(client: &reqwest::Client, url: String) -> serde_json::Value {
    let res = client.get(&url).send().await.expect("request");
    assert!(res.status().is_success(), "{url}: {}", res.status());
    res.json().await.expect("json")
}

/// Decode a hex hash from an answer.
#[must_use]
pub fn hash_from_hex(hex_str: &str) -> Hash {
    Hash::from_hex(hex_str).expect("hex hash")
}

/// The tree `GET {rekor}/api/v1/log` reports: size and root.
pub async fn tree_head(client: &reqwest::Client, rekor: &str) -> (u64, Hash) {
    let info = get_json(client, format!("{rekor}/api/v1/log")).await;
    (
        info["treeSize"].as_u64().expect("treeSize"),
        hash_from_hex(info["rootHash"].as_str().expect("rootHash")),
    )
}

/// Asserts that no two acknowledgements share an index, that the tree of `size` holds every
/// acknowledged index, and that each entry is still at its index with its UUID and body.
pub async fn assert_acked_entries_unchanged<'a>(
    client: &reqwest::Client,
    rekor: &str,
    size: u64,
    acks: impl IntoIterator<Item = &'a AckedEntry>,
) {
    let acks: Vec<&AckedEntry> = acks.into_iter().collect();
    let mut indices: Vec<u64> = acks.iter().map(|a| a.index).collect();
    indices.sort_unstable();
    indices.dedup();
    assert_eq!(
        indices.len(),
        acks.len(),
        "two acknowledgements share an index"
    );
    assert!(
        acks.iter().all(|a| a.index < size),
        "tree shrank below an acknowledged index"
    );
    for ack in acks {
        let v = get_json(
            client,
            format!("{rekor}/api/v1/log/entries?logIndex={}", ack.index),
        )
        .await;
        let (uuid, entry) = v
            .as_object()
            .and_then(|o| o.iter().next())
            .expect("one entry");
        assert_eq!(uuid, &ack.uuid, "entry {} changed identity", ack.index);
        assert_eq!(
            entry["body"].as_str(),
            Some(ack.body.as_str()),
            "entry {} changed body",
            ack.index
        );
    }
}

/// Asserts that every observed checkpoint `(size, root hex)` is consistent with the tree of
/// `size` and `root`, by the log's own consistency proofs, and that none was beyond it.
/// Returns how many non-empty checkpoints were checked.
pub async fn assert_checkpoints_consistent(
    client: &reqwest::Client,
    rekor: &str,
    (size, root): (u64, Hash),
    observed: &[(u64, String)],
) -> usize {
    assert!(
        observed.iter().all(|(s, _)| *s <= size),
        "a checkpoint was served beyond the tree of {size}"
    );
    let mut checked = 0;
    for (old_size, old_root) in observed.iter().filter(|(s, _)| *s > 0) {
        if *old_size == size {
            assert_eq!(hash_from_hex(old_root), root, "two roots for size {size}");
        } else {
            let proof = get_json(
                client,
                format!("{rekor}/api/v1/log/proof?firstSize={old_size}&lastSize={size}"),
            )
            .await;
            let hashes: Vec<Hash> = proof["hashes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|h| hash_from_hex(h.as_str().expect("hex")))
                        .collect()
                })
                .unwrap_or_default();
            verify_consistency(*old_size, size, &hash_from_hex(old_root), &root, &hashes)
                .unwrap_or_else(|e| panic!("checkpoint {old_size} inconsistent with {size}: {e}"));
        }
        checked += 1;
    }
    checked
}
