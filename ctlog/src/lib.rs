//! An RFC 6962 Certificate Transparency log for Fulcio: `add-chain`, `add-pre-chain` and the
//! RFC 6962 read API (`get-sth`, `get-sth-consistency`, `get-proof-by-hash`, `get-entries`,
//! `get-roots`), served under `/ct/v1/` from the host root.
//!
//! Submissions are sequenced synchronously: an SCT is signed only after its entry is durable in
//! the log, so every SCT this log issues is already included (zero merge delay). Entries live in
//! `sigstack-tlog-storage` under [`CtLogConfig::dir`]: each stored entry is exactly the RFC 6962
//! `MerkleTreeLeaf`, so the storage's leaf hash SHA-256(0x00 ‖ entry) is the RFC 6962 leaf hash,
//! and the entry's metadata (same durable batch) is the `extra_data` chain that `get-entries`
//! serves. The dedup identity is SHA-256(entry_type ‖ signed_entry), the leaf without its
//! timestamp, so a resubmitted chain gets an SCT with the original timestamp.
//! SCT extensions are always empty.
//!
//! `get-proof-by-hash` finds leaves through the storage's search index: every entry is filed
//! under its RFC 6962 leaf hash ([`leaf_key`]). Storage is any `LogStore` driver
//! ([`CtLogState::open_with_store`]); [`CtLogState::open`] uses the embedded one.

mod api;
mod chain;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use der::Encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sigstack_clock::{Clock, SystemClock};
use sigstack_ct::{
    AddChainRequest, CtError, CtSigner, DigitallySigned, MerkleTreeLeaf, SignedCertificateTimestamp,
};
use sigstack_http::Metrics;
use sigstack_keys::Signer;
use sigstack_tlog_storage::{
    EmbeddedLog, IndexKey, Leaf, LogConfig, LogStore, MAX_METADATA_SIZE, NewEntry, StorageError,
    StoredCheckpoint,
};
use x509_cert::Certificate;

pub use api::{
    ConsistencyResponse, EntriesResponse, Entry, ProofByHashResponse, RootsResponse, SthResponse,
    router,
};

use crate::chain::Submission;

/// Most entries one `get-entries` call returns (RFC 6962 lets a log return fewer than asked).
pub const MAX_GET_ENTRIES: u64 = 256;

/// Everything the CT log needs to start.
#[derive(Clone, Debug)]
pub struct CtLogConfig {
    /// Data directory (created if missing).
    pub dir: PathBuf,
    /// The log key; must be ECDSA P-256.
    pub signer: Arc<dyn Signer>,
    /// Accepted trust anchors (Fulcio's root).
    pub roots: Vec<Certificate>,
    /// Process-wide metrics registry.
    pub metrics: Metrics,
    /// Storage and batching tuning.
    pub log: LogConfig,
}

/// Errors of the CT log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtLogError {
    /// The submitted chain cannot be logged (HTTP 400).
    #[error("{0}")]
    BadChain(String),
    /// A request parameter is missing or invalid (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// The requested entry or hash is not in the log (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// Log storage failed or refused (status depends on the storage error).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Encoding or signing a CT structure failed (HTTP 500).
    #[error(transparent)]
    Ct(#[from] CtError),
    /// The configuration or on-disk state is unusable (startup error).
    #[error("configuration: {0}")]
    Config(String),
    /// A file operation failed (HTTP 500 or startup error).
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An internal invariant failed (HTTP 500).
    #[error("internal error: {0}")]
    Internal(String),
    /// Too many submissions are waiting for their chain checks: retry later (503).
    #[error("too many submissions are waiting for verification; retry later")]
    Busy,
}

/// A signed tree head (RFC 6962 §3.5 / §4.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTreeHead {
    /// Number of entries.
    pub tree_size: u64,
    /// Milliseconds since the epoch; never earlier than any SCT this process issued.
    pub timestamp: u64,
    /// RFC 6962 Merkle tree root.
    pub root: [u8; 32],
    /// Signature over the `TreeHeadSignature` structure.
    pub signature: DigitallySigned,
}

/// One logged entry as `get-entries` serves it (RFC 6962 §4.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedEntry {
    /// The TLS `MerkleTreeLeaf`.
    pub leaf_input: Vec<u8>,
    /// The TLS `extra_data`: the certificate chain (`x509_entry`) or `PrecertChainEntry`.
    pub extra_data: Vec<u8>,
}

/// How long a cached tree head is served for an unchanged tree before it is re-signed.
const STH_REFRESH: Duration = Duration::from_secs(60);

/// The running log. Cheap to clone.
#[derive(Clone)]
pub struct CtLogState {
    inner: Arc<Inner>,
}

struct Inner {
    log: Arc<dyn LogStore>,
    signer: CtSigner,
    roots: Vec<Certificate>,
    roots_der: Vec<Vec<u8>>,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    submissions: Family<Vec<(String, String)>, Counter>,
    max_entry_size: usize,
    /// The latest SCT timestamp issued or found at startup, so tree heads never predate it.
    latest_timestamp: AtomicU64,
    sth: tokio::sync::Mutex<Option<SignedTreeHead>>,
    /// CA-to-CA signatures already checked (Fulcio's intermediate under its root).
    verified_links: chain::VerifiedLinks,
}

/// The search key under which an entry with RFC 6962 leaf hash `hash` is filed.
#[must_use]
pub fn leaf_key(hash: &[u8; 32]) -> IndexKey {
    IndexKey::new("ct-leaf", hash)
}

impl std::fmt::Debug for CtLogState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtLogState")
            .field("log_id", &B64.encode(self.inner.signer.log_id()))
            .field("log", &self.inner.log)
            .finish_non_exhaustive()
    }
}

impl CtLogState {
    /// Open (or create) the log with the system clock.
    ///
    /// # Errors
    /// [`CtLogError::Config`] for a non-P-256 key or no roots, storage and I/O errors.
    pub async fn open(config: CtLogConfig) -> Result<Self, CtLogError> {
        Self::open_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Open (or create) the log with an injected clock.
    ///
    /// # Errors
    /// As [`Self::open`].
    pub async fn open_with_clock(
        config: CtLogConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CtLogError> {
        sigstack_durable::create_dir_all(&config.dir).map_err(|source| CtLogError::Io {
            op: format!("create {}", config.dir.display()),
            source,
        })?;
        let store = EmbeddedLog::open(&config.dir, config.log.clone()).await?;
        Self::open_with_store(config, Arc::new(store), clock).await
    }

    /// Open the log on any storage driver (`config.dir` is unused; `config.log` gives only the
    /// entry-size limit).
    ///
    /// # Errors
    /// As [`Self::open`].
    pub async fn open_with_store(
        config: CtLogConfig,
        store: Arc<dyn LogStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CtLogError> {
        let signer = CtSigner::new(config.signer).map_err(|e| CtLogError::Config(e.to_string()))?;
        if config.roots.is_empty() {
            return Err(CtLogError::Config(
                "the CT log needs at least one accepted root".into(),
            ));
        }
        let roots_der = config
            .roots
            .iter()
            .map(Encode::to_der)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CtLogError::Config(format!("root certificate: {e}")))?;
        let max_entry_size = config.log.max_entry_size;
        let log = store;
        let head = log.tree_head().await?;
        let latest_timestamp = if head.size == 0 {
            0
        } else {
            MerkleTreeLeaf::from_tls(&log.entry(head.size - 1).await?.entry)?.timestamp
        };
        let submissions = Family::<Vec<(String, String)>, Counter>::default();
        config.metrics.register(
            "ct_submissions",
            "CT log submissions by endpoint and outcome",
            submissions.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                log,
                signer,
                roots: config.roots,
                roots_der,
                clock,
                metrics: config.metrics,
                submissions,
                max_entry_size,
                latest_timestamp: AtomicU64::new(latest_timestamp),
                sth: tokio::sync::Mutex::new(None),
                verified_links: chain::VerifiedLinks::default(),
            }),
        })
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

    /// SHA-256 of the log key's DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn log_id(&self) -> [u8; 32] {
        self.inner.signer.log_id()
    }

    /// The log key as DER SubjectPublicKeyInfo (for trusted roots' `ctlogs`).
    #[must_use]
    pub fn public_key_der(&self) -> &[u8] {
        self.inner.signer.public_key_der()
    }

    /// The accepted roots.
    #[must_use]
    pub fn roots(&self) -> &[Certificate] {
        &self.inner.roots
    }

    /// Log a final certificate chain (`add-chain`) and return its SCT.
    ///
    /// # Errors
    /// [`CtLogError::BadChain`] for an unacceptable chain (nothing is written), storage errors.
    pub async fn add_chain(
        &self,
        unverified: &AddChainRequest,
    ) -> Result<SignedCertificateTimestamp, CtLogError> {
        self.submit(Submission::Certificate, unverified).await
    }

    /// Log a precertificate chain (`add-pre-chain`) and return its SCT.
    ///
    /// # Errors
    /// As [`Self::add_chain`].
    pub async fn add_pre_chain(
        &self,
        unverified: &AddChainRequest,
    ) -> Result<SignedCertificateTimestamp, CtLogError> {
        self.submit(Submission::Precertificate, unverified).await
    }

    async fn submit(
        &self,
        kind: Submission,
        unverified: &AddChainRequest,
    ) -> Result<SignedCertificateTimestamp, CtLogError> {
        let endpoint = match kind {
            Submission::Certificate => "add-chain",
            Submission::Precertificate => "add-pre-chain",
        };
        let result = self.sequence(kind, unverified).await;
        let outcome = match &result {
            Ok((_, true)) => "new",
            Ok((_, false)) => "duplicate",
            Err(CtLogError::BadChain(_)) => "rejected",
            Err(_) => "error",
        };
        self.inner
            .submissions
            .get_or_create(&vec![
                ("endpoint".into(), endpoint.into()),
                ("outcome".into(), outcome.into()),
            ])
            .inc();
        result.map(|(sct, _)| sct)
    }

    /// Verify, record and sequence one submission; the flag says whether it was new.
    async fn sequence(
        &self,
        kind: Submission,
        unverified: &AddChainRequest,
    ) -> Result<(SignedCertificateTimestamp, bool), CtLogError> {
        // Chain signature checks are CPU work: off the async workers.
        let chain = unverified.chain.clone();
        let state = self.clone();
        let verified = sigstack_workpool::run(move || {
            chain::verify_chain(
                kind,
                &chain,
                &state.inner.roots,
                &state.inner.verified_links,
            )
        })
        .await
        .map_err(|e| match e {
            sigstack_workpool::PoolError::Busy => CtLogError::Busy,
            e => CtLogError::Internal(format!("verification task: {e}")),
        })??;
        let entry_tls = verified
            .entry
            .to_tls()
            .map_err(|e| CtLogError::BadChain(e.to_string()))?;
        let identity = sigstack_keys::sha256(&entry_tls);
        if let Some(index) = self.inner.log.lookup(&identity).await? {
            return Ok((self.sct_for_index(index).await?, false));
        }

        let timestamp = self.now_ms();
        let leaf = MerkleTreeLeaf {
            timestamp,
            entry: verified.entry,
            extensions: Vec::new(),
        };
        let leaf_bytes = leaf
            .to_tls()
            .map_err(|e| CtLogError::BadChain(e.to_string()))?;
        if leaf_bytes.len() > self.inner.max_entry_size {
            return Err(CtLogError::BadChain(format!(
                "certificate is too large to log ({} bytes, limit {})",
                leaf_bytes.len(),
                self.inner.max_entry_size
            )));
        }
        if verified.extra_data.len() > MAX_METADATA_SIZE {
            return Err(CtLogError::BadChain(format!(
                "certificate chain is too large to log ({} bytes, limit {MAX_METADATA_SIZE})",
                verified.extra_data.len()
            )));
        }
        let leaf_data = Leaf::new(leaf_bytes);
        let leaf_hash = leaf_data.hash().0;

        match self
            .inner
            .log
            .append(NewEntry {
                entry: leaf_data,
                identity,
                metadata: verified.extra_data,
                index_keys: vec![leaf_key(&leaf_hash)],
                sealed_metadata: None,
            })
            .await
        {
            Ok(_) => {
                self.inner
                    .latest_timestamp
                    .fetch_max(timestamp, Ordering::SeqCst);
                // Signing may be an HSM round trip: keep it off the async workers.
                let state = self.clone();
                let sct = tokio::task::spawn_blocking(move || {
                    state
                        .inner
                        .signer
                        .sign_entry(timestamp, &leaf.entry, &leaf.extensions)
                })
                .await
                .map_err(|e| CtLogError::Internal(format!("signing task: {e}")))??;
                Ok((sct, true))
            }
            Err(StorageError::Duplicate { index }) => Ok((self.sct_for_index(index).await?, false)),
            Err(e) => Err(e.into()),
        }
    }

    /// [`Self::sct_for_index`] on a blocking thread.
    /// Re-sign the SCT of a logged entry, with its original timestamp.
    async fn sct_for_index(&self, index: u64) -> Result<SignedCertificateTimestamp, CtLogError> {
        // Storage makes an entry readable before its dedup identity, so a looked-up index is
        // always readable.
        let bytes = self.inner.log.entry(index).await?.entry;
        let leaf = MerkleTreeLeaf::from_tls(&bytes)?;
        let state = self.clone();
        // Signing may be an HSM round trip: off the async workers.
        tokio::task::spawn_blocking(move || {
            Ok(state
                .inner
                .signer
                .sign_entry(leaf.timestamp, &leaf.entry, &leaf.extensions)?)
        })
        .await
        .map_err(|e| CtLogError::Internal(format!("signing task: {e}")))?
    }

    fn now_ms(&self) -> u64 {
        let since_epoch = self
            .inner
            .clock
            .now()
            .duration_since(SystemTime::UNIX_EPOCH);
        since_epoch.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// The current signed tree head (re-signed when the tree grew or the cached one is a minute
    /// old).
    ///
    /// # Errors
    /// [`CtLogError::Ct`] if signing fails.
    pub async fn signed_tree_head(&self) -> Result<SignedTreeHead, CtLogError> {
        let mut cached = self.inner.sth.lock().await;
        let head = self.inner.log.tree_head().await?;
        let now = self.now_ms();
        if let Some(sth) = cached.as_ref() {
            let fresh = now.saturating_sub(sth.timestamp) < STH_REFRESH.as_millis() as u64;
            if sth.tree_size == head.size && fresh {
                return Ok(sth.clone());
            }
        }
        let timestamp = now.max(self.inner.latest_timestamp.load(Ordering::SeqCst));
        let root = head.root.0;
        let state = self.clone();
        // Signing may be an HSM round trip: off the async workers.
        let signature = tokio::task::spawn_blocking(move || {
            state
                .inner
                .signer
                .sign_tree_head(timestamp, head.size, &root)
        })
        .await
        .map_err(|e| CtLogError::Internal(format!("signing task: {e}")))??;
        let sth = SignedTreeHead {
            tree_size: head.size,
            timestamp,
            root,
            signature,
        };
        let published = StoredCheckpoint {
            size: head.size,
            root: head.root,
            signed: api::sth_json(&sth)?,
        };
        match self.inner.log.publish_checkpoint(&published).await {
            // A replica published a larger tree meanwhile: this STH is still valid, just older.
            Ok(()) | Err(StorageError::InvalidRequest(_)) => {}
            Err(e) => return Err(e.into()),
        }
        *cached = Some(sth.clone());
        Ok(sth)
    }

    /// Consistency proof between tree sizes `first` and `second` (RFC 6962 §4.4); empty when
    /// `first == second`.
    ///
    /// # Errors
    /// [`CtLogError::BadRequest`] for `first == 0`, `first > second` or `second` beyond the tree.
    pub async fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<Vec<[u8; 32]>, CtLogError> {
        let size = self.inner.log.tree_head().await?.size;
        if first == 0 || first > second || second > size {
            return Err(CtLogError::BadRequest(format!(
                "no consistency proof from {first} to {second} (tree size {size})"
            )));
        }
        if first == second {
            return Ok(Vec::new());
        }
        let proof = self.inner.log.consistency_proof(first, second).await?;
        Ok(proof.into_iter().map(|h| h.0).collect())
    }

    /// Index and audit path of the leaf with Merkle leaf hash `hash` in the tree of `tree_size`
    /// entries (RFC 6962 §4.5).
    ///
    /// # Errors
    /// [`CtLogError::BadRequest`] for a tree size of 0 or beyond the tree,
    /// [`CtLogError::NotFound`] if the hash is not a leaf of that tree.
    pub async fn proof_by_hash(
        &self,
        hash: &[u8; 32],
        tree_size: u64,
    ) -> Result<(u64, Vec<[u8; 32]>), CtLogError> {
        let size = self.inner.log.tree_head().await?.size;
        if tree_size == 0 || tree_size > size {
            return Err(CtLogError::BadRequest(format!(
                "tree_size {tree_size} is not between 1 and the tree size {size}"
            )));
        }
        let not_found = || {
            CtLogError::NotFound(format!(
                "no leaf with that hash in the tree of size {tree_size}"
            ))
        };
        let index = self
            .inner
            .log
            .search(&leaf_key(hash), 1)
            .await?
            .first()
            .copied()
            .ok_or_else(not_found)?;
        if index >= tree_size {
            return Err(not_found());
        }
        let proof = self.inner.log.inclusion_proof(index, tree_size).await?;
        Ok((index, proof.into_iter().map(|h| h.0).collect()))
    }

    /// Entries `start..=end` (RFC 6962 §4.6), at most
    /// [`MAX_GET_ENTRIES`] and never beyond the tree.
    ///
    /// # Errors
    /// [`CtLogError::BadRequest`] for `start > end` or `start` beyond the tree.
    pub async fn entries(&self, start: u64, end: u64) -> Result<Vec<LoggedEntry>, CtLogError> {
        let size = self.inner.log.tree_head().await?.size;
        if start > end || start >= size {
            return Err(CtLogError::BadRequest(format!(
                "invalid range {start}..={end} for tree size {size}"
            )));
        }
        let last = end.min(size - 1).min(start + MAX_GET_ENTRIES - 1);
        Ok(self
            .inner
            .log
            .entries(start, last - start + 1)
            .await?
            .into_iter()
            .map(|stored| LoggedEntry {
                leaf_input: stored.entry,
                extra_data: stored.metadata,
            })
            .collect())
    }

    /// The accepted roots as DER (RFC 6962 §4.7).
    #[must_use]
    pub fn roots_der(&self) -> &[Vec<u8>] {
        &self.inner.roots_der
    }

    /// The metrics registry the service reports to.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Stop sequencing: commit what is queued and release the storage lock.
    pub async fn close(self) {
        self.inner.log.close().await;
    }
}
