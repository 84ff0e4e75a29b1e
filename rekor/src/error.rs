//! The service-level error type.

use sigstack_tlog::TlogError;
use sigstack_tlog_storage::StorageError;

use crate::kinds::EntryError;

/// Errors from the Rekor v1 and v2 cores. The HTTP layer maps each to a status code (noted per
/// variant); nothing here knows about HTTP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RekorError {
    /// The proposed entry is malformed, of an unsupported kind, or does not verify (400).
    #[error(transparent)]
    InvalidEntry(#[from] EntryError),
    /// A query parameter or identifier is malformed (400).
    #[error("{0}")]
    InvalidRequest(String),
    /// The entry, tree size or tile does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// An equivalent entry is already in the log (409). `entry_id` is the existing entry's
    /// v1 entry ID (80 hex digits) or, for v2, its leaf hash in hex.
    #[error("an equivalent entry already exists in the transparency log with UUID {entry_id}")]
    Duplicate {
        /// Index of the existing entry.
        index: u64,
        /// Identifier of the existing entry.
        entry_id: String,
    },
    /// A search asked for more than the allowed number of entries (422).
    #[error("maximum number of search queries ({max}) exceeded: {got}")]
    TooManyQueries {
        /// The limit.
        max: usize,
        /// What was asked for.
        got: usize,
    },
    /// The canonical entry is larger than the log accepts (413).
    #[error("entry of {size} bytes exceeds the {max}-byte limit")]
    EntryTooLarge {
        /// Canonical body size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Log storage refused or failed (status by cause: 503 overloaded/closed/failed, 404, 400,
    /// 500 for I/O and corruption).
    #[error(transparent)]
    Storage(StorageError),
    /// Signing a checkpoint or SET, or Merkle math over committed data, failed (500).
    #[error("log signing or proof construction failed: {0}")]
    Signing(String),
    /// The log's signing key cannot be reached: its PKCS#11 token is missing or locked (503).
    #[error("the log's signing key is unavailable: {0}")]
    KeyUnavailable(String),
    /// Too many entries are waiting for verification (503 with `Retry-After`).
    #[error("too many requests are waiting for verification; retry later")]
    Busy,
    /// Stored data is inconsistent (for example a missing integratedTime) (500).
    #[error("stored log data is inconsistent: {0}")]
    Inconsistent(String),
    /// The configuration or data directory is unusable (startup).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl From<StorageError> for RekorError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::EntryTooLarge { size, max } => Self::EntryTooLarge { size, max },
            StorageError::NotFound(what) => Self::NotFound(what),
            StorageError::InvalidRequest(what) => Self::InvalidRequest(what),
            other => Self::Storage(other),
        }
    }
}

impl From<TlogError> for RekorError {
    fn from(e: TlogError) -> Self {
        match e {
            TlogError::Key(e) => e.into(),
            e => Self::Signing(e.to_string()),
        }
    }
}

impl From<sigstack_keys::KeyError> for RekorError {
    fn from(e: sigstack_keys::KeyError) -> Self {
        match e {
            sigstack_keys::KeyError::Unavailable(detail) => Self::KeyUnavailable(detail),
            e => Self::Signing(e.to_string()),
        }
    }
}

/// Run `work`, the CPU-bound checks of a request (parsing and verifying what the client sent),
/// on the process's CPU pool: off the async workers, one thread per core. A full queue is
/// [`RekorError::Busy`].
pub(crate) async fn verifying<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RekorError> + Send + 'static,
) -> Result<T, RekorError> {
    match sigstack_workpool::run(work).await {
        Ok(result) => result,
        Err(sigstack_workpool::PoolError::Busy) => Err(RekorError::Busy),
        Err(e) => Err(RekorError::Signing(format!("verification task: {e}"))),
    }
}

/// Run `work`, which signs with the log key (possibly an HSM round trip), on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RekorError> + Send + 'static,
) -> Result<T, RekorError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| RekorError::Signing(format!("signing task: {e}")))?
}
