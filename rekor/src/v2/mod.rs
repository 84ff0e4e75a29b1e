//! Rekor v2: the `rekor-tiles` write API and the C2SP tlog-tiles read API.
//!
//! - Checkpoint origin = key name = `origin` (the host name of the v2 base URL, no port); key ID by the
//!   C2SP Ed25519 rule; log ID = the full 32-byte C2SP key hash.
//! - Every accepted request is stored as a `hashedrekord` 0.0.2 canonical body (see
//!   [`crate::kinds::v2`]); the leaf is that body, the dedup identity its leaf hash.
//! - The log lives in `<dir>/log`.

mod http;
pub mod wire;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use sigstack_http::Metrics;
use sigstack_keys::{SignatureAlgorithm, Signer};
use sigstack_tlog::merkle::Hash;
use sigstack_tlog::{KeyIdRule, NoteSigner, TilePath};
use sigstack_tlog_storage::{EmbeddedLog, Leaf, LogConfig, LogStore, NewEntry, StorageError};

pub use self::http::v2_router;
use self::wire::{CheckpointEnvelope, InclusionProof, KindVersion, LogId, TransparencyLogEntry};
use crate::checkpoints::PublishedCheckpoint;
use crate::error::RekorError;
use crate::kinds::encoding::b64;
use crate::kinds::v2::canonicalize_request;

/// Configuration of a Rekor v2 log.
#[derive(Clone, Debug)]
pub struct RekorV2Config {
    /// Data directory.
    pub dir: PathBuf,
    /// The Ed25519 checkpoint key.
    pub signer: Arc<dyn Signer>,
    /// The host name of the v2 base URL (no port): checkpoint origin and key name.
    pub origin: String,
    /// Process-wide metrics registry.
    pub metrics: Metrics,
    /// Storage tuning.
    pub log: LogConfig,
}

/// An open Rekor v2 log. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RekorV2State {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    log: Arc<dyn LogStore>,
    checkpoints: PublishedCheckpoint,
    origin: String,
    log_id: [u8; 32],
    max_entry_size: usize,
    metrics: Metrics,
}

/// A tile or entry bundle ready to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tile {
    /// The tile bytes.
    pub bytes: Vec<u8>,
    /// Whether it is a full (256-wide, immutable) tile.
    pub full: bool,
}

impl RekorV2State {
    /// Open (or create) the log on embedded storage in `config.dir/log`.
    ///
    /// # Errors
    /// [`RekorError::Config`] for a non-Ed25519 key or an invalid origin;
    /// [`RekorError::Storage`] when the log cannot be opened.
    pub async fn open(config: RekorV2Config) -> Result<Self, RekorError> {
        let store = EmbeddedLog::open(&config.dir.join("log"), config.log.clone()).await?;
        Self::open_with_store(config, Arc::new(store)).await
    }

    /// Open the log on any storage driver (`config.dir` is unused; `config.log` gives only the
    /// entry-size limit).
    ///
    /// # Errors
    /// As [`Self::open`].
    pub async fn open_with_store(
        config: RekorV2Config,
        store: Arc<dyn LogStore>,
    ) -> Result<Self, RekorError> {
        if config.signer.algorithm() != SignatureAlgorithm::Ed25519 {
            return Err(RekorError::Config(
                "the Rekor v2 checkpoint key must be Ed25519".into(),
            ));
        }
        let note_signer = NoteSigner::new(
            config.origin.clone(),
            Arc::clone(&config.signer),
            KeyIdRule::C2sp,
        )
        .map_err(|e| RekorError::Config(format!("checkpoint signer: {e}")))?;
        let max_entry_size = config.log.max_entry_size;
        Ok(Self {
            inner: Arc::new(Inner {
                log_id: note_signer.key_hash(),
                checkpoints: PublishedCheckpoint::new(
                    Arc::clone(&store),
                    note_signer,
                    config.origin.clone(),
                ),
                log: store,
                origin: config.origin,
                max_entry_size,
                metrics: config.metrics,
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
    ///
    /// Rekor v2 entries take ECDSA keys only, so the statement is signed with a one-time P-256
    /// key whose public half is in the entry.
    pub async fn append_opening_entry(&self) -> Result<Option<u64>, RekorError> {
        if self.inner.log.tree_head().await?.size > 0 {
            return Ok(None);
        }
        let statement = crate::opening_statement(&self.inner.origin);
        let signing = |e: sigstack_keys::KeyError| RekorError::Signing(e.to_string());
        let key = sigstack_keys::FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256)
            .map_err(signing)?;
        let signature = key.sign(statement.as_bytes()).map_err(signing)?;
        let request = serde_json::json!({
            "hashedRekordRequestV002": {
                "digest": b64(&sigstack_keys::sha256(statement.as_bytes())),
                "signature": {
                    "content": b64(&signature),
                    "verifier": {
                        "publicKey": { "rawBytes": b64(key.public_key_der()) },
                        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    },
                },
            },
        });
        let entry = self.create_entry(&request).await?;
        Ok(entry.log_index.parse().ok())
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

    /// The log ID: `SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ raw Ed25519 key)`.
    #[must_use]
    pub fn log_id(&self) -> [u8; 32] {
        self.inner.log_id
    }

    /// The checkpoint origin (and key name).
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The metrics registry this log reports to.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Verify a `CreateEntryRequest`, append its canonical body and return the
    /// `TransparencyLogEntry` with an inclusion proof and checkpoint covering it.
    ///
    /// # Errors
    /// [`RekorError::InvalidEntry`], [`RekorError::Duplicate`] (with the existing index),
    /// [`RekorError::EntryTooLarge`], [`RekorError::Storage`] or [`RekorError::Signing`].
    pub async fn create_entry(
        &self,
        unverified: &Value,
    ) -> Result<TransparencyLogEntry, RekorError> {
        // Signature checks are CPU work: off the async workers, with the body's hashing and
        // base64.
        let unverified = unverified.clone();
        let (kind, version, canonicalized_body, leaf) = crate::error::verifying(move || {
            let entry = canonicalize_request(&unverified)?;
            let body_b64 = b64(&entry.body);
            Ok((
                entry.kind,
                entry.api_version,
                body_b64,
                Leaf::new(entry.body),
            ))
        })
        .await?;
        if leaf.len() > self.inner.max_entry_size {
            return Err(RekorError::EntryTooLarge {
                size: leaf.len(),
                max: self.inner.max_entry_size,
            });
        }
        let leaf_hash = *leaf.hash();
        let appended = match self
            .inner
            .log
            .append(NewEntry::new(leaf, leaf_hash.0))
            .await
        {
            Ok(a) => a,
            Err(StorageError::Duplicate { index }) => {
                return Err(RekorError::Duplicate {
                    index,
                    entry_id: leaf_hash.to_hex(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        tracing::debug!(index = appended.index, "rekor v2 entry appended");
        // Prove against the published checkpoint (it covers the entry: the entry is committed).
        let index = appended.index;
        let signed = self.inner.checkpoints.covering(appended.tree).await?;
        let head = signed.head;
        let proof = self.inner.checkpoints.proof_for(appended, &signed).await?;
        Ok(TransparencyLogEntry {
            log_index: index.to_string(),
            log_id: LogId {
                key_id: b64(&self.inner.log_id),
            },
            kind_version: KindVersion {
                kind: kind.into(),
                version: version.into(),
            },
            inclusion_proof: InclusionProof {
                log_index: index.to_string(),
                root_hash: head.root.to_base64(),
                tree_size: head.size.to_string(),
                hashes: proof.iter().map(Hash::to_base64).collect(),
                checkpoint: CheckpointEnvelope {
                    envelope: signed.note,
                },
            },
            canonicalized_body,
        })
    }

    /// The signed checkpoint of the current tree (`GET /api/v2/checkpoint`).
    ///
    /// # Errors
    /// [`RekorError::Signing`].
    pub async fn checkpoint(&self) -> Result<String, RekorError> {
        Ok(self.inner.checkpoints.current().await?.note)
    }

    /// A hash tile or entry bundle by its tlog-tiles path below `tile/` (for example `0/x001/234`,
    /// `entries/000.p/7`).
    ///
    /// # Errors
    /// [`RekorError::InvalidRequest`] for a malformed path, [`RekorError::NotFound`] for a tile
    /// the tree does not cover.
    pub async fn tile(&self, unverified_path: &str) -> Result<Tile, RekorError> {
        let path = TilePath::parse(&format!("tile/{unverified_path}"))
            .map_err(|e| RekorError::InvalidRequest(e.to_string()))?;
        let bytes = self.inner.log.tile(&path).await?;
        Ok(Tile {
            bytes,
            full: path.is_full(),
        })
    }

    /// Commit queued appends and release the data directory.
    pub async fn close(self) {
        self.inner.log.close().await;
    }
}
