//! Rekor v1: the REST API of `sigstore/rekor` on the Sigstack tlog engine.
//!
//! - Checkpoint origin `"<hostname> - <treeID>"`, key name `hostname`, key ID
//!   `SHA-256(SPKI DER)[:4]` (Rekor's rule for every key type); signed once per tree head and
//!   recorded in storage before it is served (see [`crate::checkpoints`]).
//! - `logID` = hex SHA-256 of the log key's DER SubjectPublicKeyInfo.
//! - Entry ID = 16-hex tree ID ‖ 64-hex leaf hash; the tree ID is a random positive 63-bit
//!   number chosen on first open and kept in `<dir>/tree-id`. The log itself lives in
//!   `<dir>/log`.
//! - `logIndex` (top level and in the proof) is the leaf index: there are no inactive shards.
//! - Each entry's metadata is its `integratedTime` (from the injected [`Clock`], 8 bytes
//!   big-endian) followed by its SET (the log key's signature, DER), signed once the entry's
//!   index is fixed and committed with the entry ([`SetSeal`]), so a read signs nothing. Entries
//!   stored with the time alone (logs written before SETs were stored) get their SET signed on
//!   each read.

mod http;
pub mod search;
pub mod wire;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sigstack_http::Metrics;
use sigstack_keys::{Signer, pem_encode, sha256};
use sigstack_tlog::merkle::{Hash, leaf_hash};
use sigstack_tlog::{KeyIdRule, NoteSigner};
use sigstack_tlog_storage::{
    EmbeddedLog, Leaf, LogConfig, LogStore, MetadataSeal, NewEntry, SealMetadata, StorageError,
    TreeHead,
};

pub use self::http::v1_router;
use self::wire::{
    ConsistencyProof, HexHash, InclusionProof, LogEntry, LogEntryAnon, LogInfo, SearchLogQuery,
    Verification,
};
use crate::checkpoints::{PublishedCheckpoint, SignedHead};
use crate::error::RekorError;
use crate::kinds::encoding::b64;
use crate::kinds::{canonicalize_proposed_entry, canonicalize_proposed_entry_json};
use crate::set::sign_set;
use sigstack_clock::Clock;

/// Most entries one `POST /api/v1/log/entries/retrieve` may ask for, over all three lists.
pub const MAX_SEARCH_QUERIES: usize = 10;
const TREE_ID_FILE: &str = "tree-id";
/// Bytes of `integratedTime` at the start of each entry's metadata (a big-endian `i64`).
const TIME_LEN: usize = 8;

/// Configuration of a Rekor v1 log.
#[derive(Clone, Debug)]
pub struct RekorV1Config {
    /// Data directory (the log, the tree ID, entry metadata).
    pub dir: PathBuf,
    /// The log key (ECDSA P-256 for client compatibility): signs checkpoints and SETs.
    pub signer: Arc<dyn Signer>,
    /// Checkpoint key name; must be a substring of the trusted-root `baseUrl` (e.g. `127.0.0.1`).
    pub hostname: String,
    /// Process-wide metrics registry.
    pub metrics: Metrics,
    /// Storage tuning.
    pub log: LogConfig,
    /// Source of `integratedTime`.
    pub clock: Arc<dyn Clock>,
}

/// An open Rekor v1 log. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RekorV1State {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    log: Arc<dyn LogStore>,
    signer: Arc<dyn Signer>,
    checkpoints: PublishedCheckpoint,
    origin: String,
    tree_id: u64,
    log_id: [u8; 32],
    log_id_hex: String,
    max_entry_size: usize,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
}

impl RekorV1State {
    /// Open (or create) the log on embedded storage in `config.dir/log`.
    ///
    /// # Errors
    /// [`RekorError::Config`] for an unusable hostname, key or tree-ID file;
    /// [`RekorError::Storage`] when the log cannot be opened.
    pub async fn open(config: RekorV1Config) -> Result<Self, RekorError> {
        let store = EmbeddedLog::open(&config.dir.join("log"), config.log.clone()).await?;
        Self::open_with_store(config, Arc::new(store)).await
    }

    /// Open the log on any storage driver; `config.dir` keeps only the tree ID and
    /// `config.log` only its entry-size limit.
    ///
    /// # Errors
    /// As [`Self::open`].
    pub async fn open_with_store(
        config: RekorV1Config,
        store: Arc<dyn LogStore>,
    ) -> Result<Self, RekorError> {
        let note_signer = NoteSigner::new(
            config.hostname.clone(),
            Arc::clone(&config.signer),
            KeyIdRule::RekorV1,
        )
        .map_err(|e| RekorError::Config(format!("checkpoint signer: {e}")))?;
        sigstack_durable::create_dir_all(&config.dir)
            .map_err(|e| RekorError::Config(format!("create {}: {e}", config.dir.display())))?;
        let tree_id = load_or_create_tree_id(&config.dir)?;
        let max_entry_size = config.log.max_entry_size;
        let log_id = sha256(config.signer.public_key_der());
        let origin = format!("{} - {tree_id}", config.hostname);
        Ok(Self {
            inner: Arc::new(Inner {
                checkpoints: PublishedCheckpoint::new(
                    Arc::clone(&store),
                    note_signer,
                    origin.clone(),
                ),
                log: store,
                origin,
                signer: config.signer,
                tree_id,
                log_id,
                log_id_hex: hex::encode(log_id),
                max_entry_size,
                metrics: config.metrics,
                clock: config.clock,
            }),
        })
    }

    /// Append the log's opening entry if the log is still empty; returns its index when one was
    /// written.
    ///
    /// The opening entry is an ordinary, verifiable hashedrekord over
    /// the statement of `opening_statement` (crate root; its doc says why every log has one).
    ///
    /// # Errors
    /// Signing or storage failures.
    pub async fn append_opening_entry(&self) -> Result<Option<u64>, RekorError> {
        if self.inner.log.tree_head().await?.size > 0 {
            return Ok(None);
        }
        let statement = crate::opening_statement(&self.inner.origin);
        let signer = Arc::clone(&self.inner.signer);
        let message = statement.clone().into_bytes();
        let signature = crate::error::blocking(move || Ok(signer.sign(&message)?)).await?;
        let key_pem = pem_encode("PUBLIC KEY", self.inner.signer.public_key_der());
        let proposed = serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "signature": {
                    "content": b64(&signature),
                    "publicKey": { "content": b64(key_pem.as_bytes()) },
                },
                "data": { "hash": { "algorithm": "sha256", "value": hex::encode(sha256(statement.as_bytes())) } },
            },
        });
        let entry = self.create_entry(proposed.to_string().into_bytes()).await?;
        Ok(Some(entry.entry.log_index))
    }

    /// Readiness for `/readyz`: the log still takes appends.
    ///
    /// # Errors
    /// A reason when the log stopped after a failed write.
    pub fn check_ready(&self) -> Result<(), String> {
        self.inner
            .log
            .check_writable()
            .map_err(|e| format!("log storage: {e}"))
    }

    /// The log ID: SHA-256 of the log key's DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn log_id(&self) -> [u8; 32] {
        self.inner.log_id
    }

    /// The tree ID (random positive 63-bit number fixed at creation).
    #[must_use]
    pub fn tree_id(&self) -> u64 {
        self.inner.tree_id
    }

    /// The checkpoint origin line, `"<hostname> - <treeID>"`.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The log key as PEM (`GET /api/v1/log/publicKey`).
    #[must_use]
    pub fn public_key_pem(&self) -> String {
        pem_encode("PUBLIC KEY", self.inner.signer.public_key_der())
    }

    /// The metrics registry this log reports to.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Verify a `ProposedEntry` (the JSON bytes of a request body), append its canonical body
    /// and return the new entry with its SET, inclusion proof and checkpoint. Nothing is
    /// written unless the entry verifies.
    ///
    /// # Errors
    /// [`RekorError::InvalidEntry`], [`RekorError::Duplicate`], [`RekorError::EntryTooLarge`],
    /// [`RekorError::Storage`] or [`RekorError::Signing`].
    pub async fn create_entry(
        &self,
        unverified: impl AsRef<[u8]> + Send + 'static,
    ) -> Result<LogEntry, RekorError> {
        // Signature checks are CPU work: off the async workers, with the rest of the entry's
        // parsing and its search keys (which hashedrekord gathers while it verifies).
        let (kind, index_keys, body_b64, leaf) = crate::error::verifying(move || {
            let entry = canonicalize_proposed_entry_json(unverified.as_ref())?;
            let keys = search::index_keys(&entry);
            // Both the SET and the answer carry the body in base64; the leaf hash names it.
            let body_b64 = b64(&entry.body);
            Ok((entry.kind, keys, body_b64, Leaf::new(entry.body)))
        })
        .await?;
        if leaf.len() > self.inner.max_entry_size {
            return Err(RekorError::EntryTooLarge {
                size: leaf.len(),
                max: self.inner.max_entry_size,
            });
        }
        let leaf_hash = *leaf.hash();
        let integrated_time = self.inner.clock.unix_seconds();
        let seal = Arc::new(SetSeal {
            signer: Arc::clone(&self.inner.signer),
            log_id_hex: self.inner.log_id_hex.clone(),
            body_b64,
            set: std::sync::Mutex::new(None),
        });
        let appended = match self
            .inner
            .log
            .append(NewEntry {
                entry: leaf,
                identity: leaf_hash.0,
                metadata: integrated_time.to_be_bytes().to_vec(),
                index_keys,
                sealed_metadata: Some(MetadataSeal(Arc::clone(&seal) as Arc<dyn SealMetadata>)),
            })
            .await
        {
            Ok(a) => a,
            Err(StorageError::Duplicate { index }) => {
                return Err(RekorError::Duplicate {
                    index,
                    entry_id: self.entry_id(&leaf_hash),
                });
            }
            Err(e) => return Err(e.into()),
        };
        tracing::debug!(index = appended.index, kind, "rekor v1 entry appended");
        let index = appended.index;
        let head = self.inner.checkpoints.covering(appended.tree).await?;
        let set = seal.take(index);
        let proof = Some(self.inner.checkpoints.proof_for(appended, &head).await?);
        let parts = EntryParts {
            body_b64: seal.body_b64.clone(),
            leaf: leaf_hash,
            set,
            proof,
        };
        self.log_entry(index, integrated_time, parts, &head).await
    }

    /// The entry at `index`, with a proof against the current tree.
    ///
    /// # Errors
    /// [`RekorError::NotFound`] beyond the tree; storage or signing failures.
    pub async fn entry_by_index(&self, index: u64) -> Result<LogEntry, RekorError> {
        let head = self.inner.checkpoints.current().await?;
        if index >= head.head.size {
            return Err(RekorError::NotFound(format!("no entry at index {index}")));
        }
        let stored = self.inner.log.entry(index).await?;
        let (integrated_time, set) = parse_metadata(index, &stored.metadata)?;
        let parts = EntryParts {
            body_b64: b64(&stored.entry),
            leaf: leaf_hash(&stored.entry),
            set,
            proof: None,
        };
        self.log_entry(index, integrated_time, parts, &head).await
    }

    /// The entry with this UUID (64 hex: leaf hash) or entry ID (80 hex: tree ID ‖ leaf hash).
    ///
    /// # Errors
    /// [`RekorError::InvalidRequest`] for a malformed identifier, [`RekorError::NotFound`] for
    /// an unknown one or another tree's ID.
    pub async fn entry_by_uuid(&self, unverified_id: &str) -> Result<LogEntry, RekorError> {
        let leaf = self.parse_entry_id(unverified_id)?;
        self.entry_by_leaf_hash(&leaf)
            .await?
            .ok_or_else(|| RekorError::NotFound(format!("no entry with UUID {unverified_id}")))
    }

    /// `POST /api/v1/log/entries/retrieve`: entries found by UUID, then by proposed entry, then
    /// by index; identifiers that match nothing are skipped, as in Rekor.
    ///
    /// # Errors
    /// [`RekorError::TooManyQueries`] above [`MAX_SEARCH_QUERIES`], [`RekorError::InvalidRequest`]
    /// or [`RekorError::InvalidEntry`] for malformed identifiers or entries.
    pub async fn search(&self, query: &SearchLogQuery) -> Result<Vec<LogEntry>, RekorError> {
        let total = query.entry_uuids.len() + query.log_indexes.len() + query.entries.len();
        if total > MAX_SEARCH_QUERIES {
            return Err(RekorError::TooManyQueries {
                max: MAX_SEARCH_QUERIES,
                got: total,
            });
        }
        let mut leaves = Vec::new();
        for id in &query.entry_uuids {
            match self.parse_entry_id(id) {
                Ok(leaf) => leaves.push(leaf),
                Err(RekorError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if !query.entries.is_empty() {
            // Verification is CPU work: off the async workers, all entries in one hop.
            let proposed = query.entries.clone();
            let bodies = crate::error::verifying(move || {
                proposed
                    .iter()
                    .map(|p| Ok(leaf_hash(&canonicalize_proposed_entry(p)?.body)))
                    .collect::<Result<Vec<Hash>, RekorError>>()
            })
            .await?;
            leaves.extend(bodies);
        }
        let mut out = Vec::new();
        for leaf in &leaves {
            out.extend(self.entry_by_leaf_hash(leaf).await?);
        }
        for &index in &query.log_indexes {
            match self.entry_by_index(index).await {
                Ok(entry) => out.push(entry),
                Err(RekorError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// `POST /api/v1/index/retrieve`: entry IDs (tree ID ‖ UUID) of the entries matching a
    /// [`search::SearchIndex`], ascending by index.
    ///
    /// # Errors
    /// [`RekorError::InvalidRequest`] for a malformed query; storage failures.
    pub async fn search_index(
        &self,
        unverified: &search::SearchIndex,
    ) -> Result<Vec<String>, RekorError> {
        let query = unverified.to_query()?;
        let mut lists = Vec::with_capacity(query.keys.len());
        for key in &query.keys {
            lists.push(
                self.inner
                    .log
                    .search(key, sigstack_tlog_storage::MAX_SEARCH_RESULTS)
                    .await?,
            );
        }
        let mut ids = Vec::new();
        for index in search::combine(query.operator, lists) {
            let stored = self.inner.log.entry(index).await?;
            ids.push(self.entry_id(&leaf_hash(&stored.entry)));
        }
        Ok(ids)
    }

    /// `GET /api/v1/log`: the current tree head and its signed checkpoint.
    ///
    /// # Errors
    /// [`RekorError::Signing`] when the checkpoint cannot be signed.
    pub async fn log_info(&self) -> Result<LogInfo, RekorError> {
        let SignedHead { head, note } = self.inner.checkpoints.current().await?;
        Ok(LogInfo {
            root_hash: HexHash(head.root),
            tree_size: head.size,
            signed_tree_head: note,
            tree_id: self.inner.tree_id.to_string(),
        })
    }

    /// `GET /api/v1/log/proof`: consistency proof from `first_size` to `last_size`.
    ///
    /// # Errors
    /// [`RekorError::InvalidRequest`] if a size is 0, `first_size > last_size` or `last_size` is
    /// beyond the tree; storage failures.
    pub async fn consistency_proof(
        &self,
        first_size: u64,
        last_size: u64,
    ) -> Result<ConsistencyProof, RekorError> {
        let log = &self.inner.log;
        if first_size == 0 || last_size == 0 {
            return Err(RekorError::InvalidRequest(
                "firstSize and lastSize must be at least 1".into(),
            ));
        }
        if first_size > last_size {
            return Err(RekorError::InvalidRequest(format!(
                "firstSize({first_size}) must be less than or equal to lastSize({last_size})"
            )));
        }
        let size = log.tree_head().await?.size;
        if last_size > size {
            return Err(RekorError::InvalidRequest(format!(
                "lastSize({last_size}) is beyond the current tree size ({size})"
            )));
        }
        let hashes = if first_size == last_size {
            Vec::new()
        } else {
            log.consistency_proof(first_size, last_size).await?
        };
        Ok(ConsistencyProof {
            root_hash: HexHash(log.root_at(last_size).await?),
            hashes: hashes.into_iter().map(HexHash).collect(),
        })
    }

    /// Commit queued appends and release the data directory (other clones keep serving reads).
    pub async fn close(self) {
        self.inner.log.close().await;
    }

    async fn entry_by_leaf_hash(&self, leaf: &Hash) -> Result<Option<LogEntry>, RekorError> {
        let Some(index) = self.inner.log.lookup(&leaf.0).await? else {
            return Ok(None);
        };
        self.entry_by_index(index).await.map(Some)
    }

    /// Parse a 64-hex UUID or an 80-hex entry ID of this tree into a leaf hash.
    fn parse_entry_id(&self, unverified: &str) -> Result<Hash, RekorError> {
        let bad = || RekorError::InvalidRequest(format!("invalid entry UUID {unverified:?}"));
        if !unverified.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let uuid = match unverified.len() {
            64 => unverified,
            80 => {
                let (tree, uuid) = unverified.split_at(16);
                let tree_id = u64::from_str_radix(tree, 16).map_err(|_| bad())?;
                if tree_id != self.inner.tree_id {
                    return Err(RekorError::NotFound(format!(
                        "tree {tree_id} is not served by this log"
                    )));
                }
                uuid
            }
            _ => return Err(bad()),
        };
        Hash::from_hex(uuid).map_err(|_| bad())
    }

    fn entry_id(&self, leaf: &Hash) -> String {
        format!("{:016x}{}", self.inner.tree_id, leaf.to_hex())
    }

    /// Assemble the response for entry `index` with a proof against the published `signed`
    /// head (read now unless given) and its stored SET (signed now when there is none).
    async fn log_entry(
        &self,
        index: u64,
        integrated_time: i64,
        EntryParts {
            body_b64,
            leaf,
            set,
            proof,
        }: EntryParts,
        signed: &SignedHead,
    ) -> Result<LogEntry, RekorError> {
        let head: TreeHead = signed.head;
        let proof = match proof {
            Some(proof) => proof,
            None => self.inner.log.inclusion_proof(index, head.size).await?,
        };
        let set = match set {
            Some(set) => set,
            None => {
                let (signer, log_id_hex) = (
                    Arc::clone(&self.inner.signer),
                    self.inner.log_id_hex.clone(),
                );
                let body_b64 = body_b64.clone();
                // Signing may be an HSM round trip: off the async workers.
                crate::error::blocking(move || {
                    let set = sign_set(&*signer, &body_b64, integrated_time, &log_id_hex, index)?;
                    Ok(set)
                })
                .await?
            }
        };
        Ok(LogEntry {
            entry_id: self.entry_id(&leaf),
            entry: LogEntryAnon {
                body: body_b64,
                integrated_time,
                log_id: self.inner.log_id_hex.clone(),
                log_index: index,
                verification: Verification {
                    inclusion_proof: InclusionProof {
                        checkpoint: signed.note.clone(),
                        hashes: proof.into_iter().map(HexHash).collect(),
                        log_index: index,
                        root_hash: HexHash(head.root),
                        tree_size: head.size,
                    },
                    signed_entry_timestamp: b64(&set),
                },
            },
        })
    }
}

/// An entry's answer as far as it is known: its body in base64 and its leaf hash, and, when
/// known, its SET (stored) and its inclusion proof in the signed head's tree (from the append).
/// What is missing is computed for the answer.
struct EntryParts {
    body_b64: String,
    leaf: Hash,
    set: Option<Vec<u8>>,
    proof: Option<Vec<Hash>>,
}

/// The `integratedTime` and, when stored, the SET of entry `index`, from its metadata.
fn parse_metadata(index: u64, metadata: &[u8]) -> Result<(i64, Option<Vec<u8>>), RekorError> {
    let (time, set) = metadata.split_first_chunk::<TIME_LEN>().ok_or_else(|| {
        RekorError::Inconsistent(format!("integratedTime of entry {index} is malformed"))
    })?;
    let set = (!set.is_empty()).then(|| set.to_vec());
    Ok((i64::from_be_bytes(*time), set))
}

/// Seals a new entry's metadata (`integratedTime`) with its SET once the storage has fixed its
/// index, and keeps the SET for the response. One per appended entry.
struct SetSeal {
    signer: Arc<dyn Signer>,
    log_id_hex: String,
    /// Base64 of the entry's canonical body (the entry the storage hands to [`Self::seal`]).
    body_b64: String,
    /// `(index, SET)` of the last seal: the committed one when the append succeeds.
    set: std::sync::Mutex<Option<(u64, Vec<u8>)>>,
}

impl SetSeal {
    /// The SET sealed for `index`, if that is the index it was sealed for.
    fn take(&self, index: u64) -> Option<Vec<u8>> {
        let mut set = self
            .set
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match set.take() {
            Some((sealed, bytes)) if sealed == index => Some(bytes),
            _ => None,
        }
    }
}

impl SealMetadata for SetSeal {
    fn seal(&self, index: u64, _entry: &[u8], metadata: &[u8]) -> Result<Vec<u8>, String> {
        let (time, _) = parse_metadata(index, metadata).map_err(|e| e.to_string())?;
        let set = sign_set(&*self.signer, &self.body_b64, time, &self.log_id_hex, index)
            .map_err(|e| e.to_string())?;
        let mut sealed = metadata[..TIME_LEN].to_vec();
        sealed.extend_from_slice(&set);
        *self
            .set
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((index, set));
        Ok(sealed)
    }
}

/// Read the tree ID from `dir/tree-id`, or pick a random positive 63-bit one and store it.
fn load_or_create_tree_id(dir: &Path) -> Result<u64, RekorError> {
    let path = dir.join(TREE_ID_FILE);
    let bad = |why: String| RekorError::Config(format!("{}: {why}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id: u64 = text
                .trim()
                .parse()
                .map_err(|_| bad("not a decimal tree ID".into()))?;
            if id == 0 || id > i64::MAX as u64 {
                return Err(bad("tree ID must be a positive 63-bit number".into()));
            }
            Ok(id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = loop {
                let id = getrandom::u64().map_err(|e| bad(format!("random source: {e}")))?
                    & (i64::MAX as u64);
                if id != 0 {
                    break id;
                }
            };
            write_durably(&path, format!("{id}\n").as_bytes()).map_err(|e| bad(e.to_string()))?;
            Ok(id)
        }
        Err(e) => Err(bad(e.to_string())),
    }
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    sigstack_durable::write(path, bytes)
}
