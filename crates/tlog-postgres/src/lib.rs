//! PostgreSQL storage driver for Sigstack transparency logs: [`PostgresLog`] implements
//! [`LogStore`], so Rekor v1, Rekor v2 and the CT log run on it unchanged.
//!
//! This crate is storage only (sqlx and tokio, no HTTP). Merkle math comes from
//! `sigstack-tlog`; the interface, its contract and its conformance suite from
//! `sigstack-tlog-storage`.
//!
//! # Model: stateless replicas
//!
//! Everything a log holds lives in the database (`src/schema.rs` names the tables);
//! many logs share one database, each a row of `tlog_logs` keyed by name. Any number of
//! processes may open the same log:
//!
//! - **Appends on every replica.** Each [`PostgresLog`] batches its own appends on one tokio
//!   task. A batch is one transaction: it locks the log's `tlog_logs` row (`SELECT … FOR
//!   UPDATE`), reads the committed head, drops duplicates (against `tlog_identities` and within
//!   the batch), computes the new stored Merkle hashes from the committed ones, inserts entries,
//!   hashes, identities and search keys, advances the head, and commits. Only then are the
//!   waiters answered, so an acknowledged entry is committed with its index, and nothing is ever
//!   half-written.
//! - **Exactly one sequencer at a time.** The row lock makes the replica whose transaction holds
//!   it the log's only sequencer for that batch; other replicas wait for the lock. PostgreSQL
//!   releases it when the holder commits, rolls back, or its connection dies (a killed process
//!   closes its socket), and `idle_in_transaction_session_timeout` aborts a holder that hangs,
//!   so another replica takes over within seconds.
//! - **Reads on every replica**, straight from the database, so every replica sees every
//!   committed entry as soon as its append returns.
//! - **Rollback protection.** The published checkpoint is kept per log; a smaller one is
//!   refused ([`check_publishable`]), and a log whose tree is smaller than its checkpoint, or
//!   whose stored frontier hashes (the complete subtrees the root is computed from) do not
//!   reproduce its head's root or the checkpoint's, is refused at open. Open does not rehash
//!   every entry: that would be O(n).
//! - **Failures.** A database that cannot be reached (or stops answering mid-request) gives
//!   [`StorageError::Unavailable`] (503); a batch whose commit outcome is unknown is reported
//!   as failed, and a retry then gets [`StorageError::Duplicate`] with its index.
//!   [`LogStore::check_writable`] reports the outcome of the last database round trip.

mod schema;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sigstack_tlog::merkle::{self, Hash, HashReader, PendingOverlay, split_stored_hash_index};
use sigstack_tlog::tiles::{self, TILE_WIDTH};
use sigstack_tlog::{TileKind, TilePath, TlogError};
use sigstack_tlog_storage::{
    Appended, IndexKey, LogConfig, LogStore, MAX_SEARCH_RESULTS, NewEntry, SequencerStats,
    StorageError, StoredCheckpoint, StoredEntry, TreeHead, check_publishable, check_range,
    check_tile_covered,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Row as _};
use tokio::sync::{mpsc, oneshot};

/// How long a request waits for a database connection before answering 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle replica checks that the database answers (for `check_writable`).
const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// Settings of every connection:
/// - server-side limits: a sequencer that stops talking while holding a log's lock is aborted
///   after this long, so another replica takes over;
/// - every statement planned for its actual parameters: the driver's statements are prepared
///   once per connection, and a generic plan made while a log's tables were still small (a
///   sequential scan for `identity = ANY($2)`) would otherwise stay cached until the next
///   `ANALYZE`, making each batch's dedup lookup scan the whole table.
const SESSION_SETTINGS: [(&str, &str); 4] = [
    ("idle_in_transaction_session_timeout", "5000"),
    ("lock_timeout", "15000"),
    ("statement_timeout", "30000"),
    ("plan_cache_mode", "force_custom_plan"),
];

/// A connection pool to the database holding the logs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PgDatabase {
    pool: PgPool,
}

impl PgDatabase {
    /// Connect to `url` (`postgres://user:password@host:port/database`), then create or
    /// migrate the schema.
    ///
    /// # Errors
    /// [`StorageError::InvalidConfig`] for a malformed URL or a schema newer than this binary,
    /// [`StorageError::Unavailable`] when the database cannot be reached.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StorageError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| StorageError::InvalidConfig(format!("database URL: {e}")))?;
        // Named after the process, so operators (and tests) can tell replicas apart in
        // pg_stat_activity.
        let options = options
            .options(SESSION_SETTINGS)
            .application_name(&format!("sigstack-{}", std::process::id()));
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(db_err)?;
        schema::migrate(&pool).await?;
        Ok(Self { pool })
    }

    /// The value of deployment setting `name`, storing `proposed` first if there is none yet.
    /// Every replica gets the same value, whichever proposed first.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`].
    pub async fn setting_or_insert(
        &self,
        name: &str,
        proposed: &str,
    ) -> Result<String, StorageError> {
        sqlx::query(
            "INSERT INTO tlog_settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(proposed)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        sqlx::query_scalar("SELECT value FROM tlog_settings WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    /// Open (or create) the log called `name` and start this replica's batcher for it.
    ///
    /// # Errors
    /// [`StorageError::InvalidConfig`] for unusable settings, [`StorageError::Corrupt`] if the
    /// stored tree contradicts its head or published checkpoint, [`StorageError::Unavailable`].
    pub async fn open_log(
        &self,
        name: &str,
        config: LogConfig,
    ) -> Result<PostgresLog, StorageError> {
        config.validate()?;
        if name.is_empty() || name.len() > 200 {
            return Err(StorageError::InvalidConfig(format!("log name {name:?}")));
        }
        let pool = &self.pool;
        sqlx::query(
            "INSERT INTO tlog_logs (name, size, root) VALUES ($1, 0, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(merkle::empty_root().0.as_slice())
        .execute(pool)
        .await
        .map_err(db_err)?;
        let log_id: i64 = sqlx::query_scalar("SELECT log_id FROM tlog_logs WHERE name = $1")
            .bind(name)
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
        sqlx::query("INSERT INTO tlog_checkpoints (log_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(log_id)
            .execute(pool)
            .await
            .map_err(db_err)?;
        let (tx, rx) = mpsc::channel(config.max_pending);
        let shared = Arc::new(Shared {
            pool: pool.clone(),
            log_id,
            name: name.to_owned(),
            reachable: AtomicBool::new(true),
            outstanding: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            known_size: AtomicU64::new(0),
            stats: std::sync::Mutex::default(),
        });
        let log = PostgresLog {
            inner: Arc::new(Inner {
                shared: Arc::clone(&shared),
                tx: tokio::sync::Mutex::new(Some(tx)),
                config: config.clone(),
            }),
        };
        log.verify_at_open().await?;
        tokio::spawn(probe(Arc::downgrade(&shared)));
        tokio::spawn(run_batcher(shared, rx, config));
        Ok(log)
    }
}

/// Map a database error: anything on the way to or inside the database is a 503 for the
/// caller; data that cannot be decoded is corruption.
pub(crate) fn db_err(e: sqlx::Error) -> StorageError {
    match e {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::RowNotFound => {
            StorageError::Corrupt(format!("database: {e}"))
        }
        other => StorageError::Unavailable(other.to_string()),
    }
}

fn to_i64(v: u64) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|_| StorageError::InvalidRequest(format!("{v} is out of range")))
}

fn to_u64(v: i64) -> Result<u64, StorageError> {
    u64::try_from(v).map_err(|_| StorageError::Corrupt(format!("negative value {v} in database")))
}

fn to_hash(bytes: &[u8]) -> Result<Hash, StorageError> {
    <[u8; 32]>::try_from(bytes)
        .map(Hash)
        .map_err(|_| StorageError::Corrupt("hash of wrong length in database".into()))
}

/// A `tlog_checkpoints` row: size, root and signed bytes, all NULL before the first publish.
type CheckpointRow = (Option<i64>, Option<Vec<u8>>, Option<Vec<u8>>);

/// State shared by a log's handle and its batcher.
#[derive(Debug)]
struct Shared {
    pool: PgPool,
    log_id: i64,
    name: String,
    /// Whether the last database round trip succeeded.
    reachable: AtomicBool,
    /// Appends accepted but not yet answered.
    outstanding: AtomicUsize,
    /// Set by [`LogStore::close`].
    closed: AtomicBool,
    /// The largest tree size this replica has seen committed. Trees only grow (a smaller one is
    /// refused at open), so any size up to this one exists without asking the database.
    known_size: AtomicU64,
    /// The batches this replica has committed.
    stats: std::sync::Mutex<SequencerStats>,
}

impl Shared {
    /// Record the outcome of a database call for [`LogStore::check_writable`].
    fn observe<T>(&self, r: Result<T, StorageError>) -> Result<T, StorageError> {
        match &r {
            Err(StorageError::Unavailable(_)) => self.reachable.store(false, Ordering::SeqCst),
            _ => self.reachable.store(true, Ordering::SeqCst),
        }
        r
    }
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    tx: tokio::sync::Mutex<Option<mpsc::Sender<Msg>>>,
    config: LogConfig,
}

/// One log stored in PostgreSQL, as seen by this replica. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PostgresLog {
    inner: Arc<Inner>,
}

struct Request {
    entry: NewEntry,
    reply: oneshot::Sender<Result<Appended, StorageError>>,
    _permit: Permit,
}

enum Msg {
    Append(Request),
    Close(oneshot::Sender<()>),
}

struct Permit(Arc<Shared>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Records which stored hashes a Merkle computation reads (answering zeros): the indexes never
/// depend on the hash values, so a second run with the real hashes reads exactly these.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<u64>>);

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[u64]) -> sigstack_tlog::Result<Vec<Hash>> {
        if let Ok(mut seen) = self.0.lock() {
            seen.extend_from_slice(indexes);
        }
        Ok(vec![Hash([0; 32]); indexes.len()])
    }
}

/// Stored hashes fetched from the database, by stored-hash index.
struct Fetched(HashMap<u64, Hash>);

impl HashReader for Fetched {
    fn read_hashes(&self, indexes: &[u64]) -> sigstack_tlog::Result<Vec<Hash>> {
        indexes
            .iter()
            .map(|i| {
                self.0
                    .get(i)
                    .copied()
                    .ok_or_else(|| TlogError::HashRead(format!("stored hash {i} not fetched")))
            })
            .collect()
    }
}

/// Read the stored hashes at `indexes` of log `log_id` through `executor`.
async fn fetch_hashes(
    conn: &mut PgConnection,
    log_id: i64,
    indexes: &[u64],
) -> Result<Fetched, StorageError> {
    // Stored hash (level, n) is written by entry (n+1)*2^level - 1, at offset `level`.
    let mut wanted: HashMap<u64, Vec<(u64, u32)>> = HashMap::new();
    for &i in indexes {
        let (level, n) = split_stored_hash_index(i);
        let entry = n
            .checked_add(1)
            .and_then(|m| m.checked_mul(1u64 << level.min(63)))
            .map(|m| m - 1)
            .ok_or_else(|| StorageError::InvalidRequest(format!("stored hash {i}")))?;
        wanted.entry(entry).or_default().push((i, level));
    }
    if wanted.is_empty() {
        return Ok(Fetched(HashMap::new()));
    }
    let entries: Vec<i64> = wanted
        .keys()
        .map(|&e| to_i64(e))
        .collect::<Result<_, _>>()?;
    let rows = sqlx::query(
        "SELECT idx, hashes FROM tlog_entries WHERE log_id = $1 AND idx = ANY($2::int8[])",
    )
    .bind(log_id)
    .bind(&entries)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut out = HashMap::with_capacity(indexes.len());
    for row in rows {
        let idx = to_u64(row.try_get::<i64, _>(0).map_err(db_err)?)?;
        let blob: Vec<u8> = row.try_get(1).map_err(db_err)?;
        for &(i, level) in wanted.get(&idx).map(Vec::as_slice).unwrap_or_default() {
            let at = level as usize * 32;
            let h = blob
                .get(at..at + 32)
                .ok_or_else(|| StorageError::Corrupt(format!("entry {idx} lacks level {level}")))?;
            out.insert(i, to_hash(h)?);
        }
    }
    Ok(Fetched(out))
}

/// Run a Merkle computation over the committed stored hashes of log `log_id`.
async fn with_hashes<T>(
    pool: &PgPool,
    log_id: i64,
    compute: impl Fn(&dyn HashReader) -> sigstack_tlog::Result<T>,
) -> Result<T, StorageError> {
    let recorder = Recorder::default();
    compute(&recorder)?;
    let indexes = recorder.0.into_inner().unwrap_or_default();
    let mut conn = pool.acquire().await.map_err(db_err)?;
    let fetched = fetch_hashes(&mut conn, log_id, &indexes).await?;
    Ok(compute(&fetched)?)
}

async fn read_head(
    conn: &mut PgConnection,
    log_id: i64,
    lock: bool,
) -> Result<TreeHead, StorageError> {
    let sql = if lock {
        "SELECT size, root FROM tlog_logs WHERE log_id = $1 FOR UPDATE"
    } else {
        "SELECT size, root FROM tlog_logs WHERE log_id = $1"
    };
    let row = sqlx::query(sql)
        .bind(log_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
    let size: i64 = row.try_get(0).map_err(db_err)?;
    let root: Vec<u8> = row.try_get(1).map_err(db_err)?;
    Ok(TreeHead {
        size: to_u64(size)?,
        root: to_hash(&root)?,
    })
}

/// Every [`PROBE_INTERVAL`], a trivial query records whether the database answers, so that
/// [`LogStore::check_writable`] (`/readyz`) follows the database even while no request comes
/// in. Ends when the log is dropped or closed.
async fn probe(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(PROBE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.closed.load(Ordering::SeqCst) {
            return;
        }
        let answered = tokio::time::timeout(
            ACQUIRE_TIMEOUT,
            sqlx::query("SELECT 1").execute(&shared.pool),
        )
        .await;
        let ok = matches!(answered, Ok(Ok(_)));
        shared.reachable.store(ok, Ordering::SeqCst);
    }
}

async fn run_batcher(shared: Arc<Shared>, mut rx: mpsc::Receiver<Msg>, config: LogConfig) {
    loop {
        let first = match rx.recv().await {
            Some(Msg::Append(r)) => r,
            Some(Msg::Close(ack)) => {
                let _ = ack.send(());
                return;
            }
            None => return,
        };
        let mut batch = vec![first];
        let mut close = None;
        let deadline = tokio::time::Instant::now() + config.batch_max_age;
        while batch.len() < config.batch_max_size {
            let next = match rx.try_recv() {
                Ok(m) => Some(m),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    tokio::time::timeout_at(deadline, rx.recv())
                        .await
                        .unwrap_or_default()
                }
            };
            match next {
                Some(Msg::Append(r)) => batch.push(r),
                Some(Msg::Close(ack)) => {
                    close = Some(ack);
                    break;
                }
                None => break,
            }
        }
        process(&shared, batch).await;
        if let Some(ack) = close {
            let _ = ack.send(());
            return;
        }
    }
}

/// Commit one batch and answer its waiters.
async fn process(shared: &Shared, batch: Vec<Request>) {
    let started = std::time::Instant::now();
    let result = shared.observe(commit(shared, &batch).await);
    match result {
        Ok(outcomes) => {
            let committed = outcomes.iter().filter(|o| o.is_ok()).count();
            if committed > 0 {
                shared
                    .stats
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .record(committed, started.elapsed());
            }
            for (r, outcome) in batch.into_iter().zip(outcomes) {
                let _ = r.reply.send(outcome);
            }
        }
        Err(e) => {
            tracing::warn!(log = %shared.name, error = %e, "batch not committed");
            let msg = e.to_string();
            for r in batch {
                let _ = r.reply.send(Err(match &e {
                    StorageError::Unavailable(_) => StorageError::Unavailable(msg.clone()),
                    _ => StorageError::Unavailable(format!("batch failed: {msg}")),
                }));
            }
        }
    }
}

/// The sealed metadata of each of `fresh` (indices from `first`), or `None` where an entry has no
/// [`sigstack_tlog_storage::MetadataSeal`]. Sealing may block (an HSM round trip), so it runs on
/// a blocking thread, all of the batch in one hop.
async fn seal_metadata(
    first: u64,
    fresh: &[&NewEntry],
) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
    if fresh.iter().all(|e| e.sealed_metadata.is_none()) {
        return Ok(vec![None; fresh.len()]);
    }
    let work: Vec<_> = fresh
        .iter()
        .map(|e| {
            let seal = e.sealed_metadata.clone();
            seal.map(|s| (s, e.entry.data().to_vec(), e.metadata.clone()))
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        work.into_iter()
            .zip(first..)
            .map(|(w, index)| {
                w.map(|(seal, entry, metadata)| seal.seal(index, &entry, &metadata))
                    .transpose()
            })
            .collect()
    })
    .await
    .map_err(|e| StorageError::Unavailable(format!("sealing task: {e}")))?
}

/// One transaction: lock the head, dedup, compute hashes, insert everything, advance the head.
async fn commit(
    shared: &Shared,
    batch: &[Request],
) -> Result<Vec<Result<Appended, StorageError>>, StorageError> {
    let log_id = shared.log_id;
    let mut tx = shared.pool.begin().await.map_err(db_err)?;
    let old = read_head(&mut tx, log_id, true).await?;
    let ids: Vec<Vec<u8>> = batch.iter().map(|r| r.entry.identity.to_vec()).collect();
    let existing: HashMap<Vec<u8>, i64> = sqlx::query_as::<_, (Vec<u8>, i64)>(
        "SELECT identity, idx FROM tlog_identities WHERE log_id = $1 AND identity = ANY($2::bytea[])",
    )
    .bind(log_id)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?
    .into_iter()
    .collect();

    // Assign indexes: duplicates of committed entries or of earlier ones in the batch get the
    // first index.
    enum Slot {
        Fresh(u64),
        Duplicate(u64),
    }
    let mut slots = Vec::with_capacity(batch.len());
    let mut fresh: Vec<&NewEntry> = Vec::new();
    let mut in_batch: HashMap<[u8; 32], u64> = HashMap::new();
    for r in batch {
        let id = r.entry.identity;
        if let Some(&index) = existing.get(id.as_slice()) {
            slots.push(Slot::Duplicate(to_u64(index)?));
        } else if let Some(&index) = in_batch.get(&id) {
            slots.push(Slot::Duplicate(index));
        } else {
            let index = old.size + fresh.len() as u64;
            in_batch.insert(id, index);
            fresh.push(&r.entry);
            slots.push(Slot::Fresh(index));
        }
    }
    if fresh.is_empty() {
        tx.rollback().await.map_err(db_err)?;
        return Ok(slots
            .into_iter()
            .map(|s| match s {
                Slot::Fresh(index) | Slot::Duplicate(index) => {
                    Err(StorageError::Duplicate { index })
                }
            })
            .collect());
    }

    let sealed = seal_metadata(old.size, &fresh).await?;

    // Stored hashes of the new entries, computed from the committed ones, and each new entry's
    // inclusion proof in the new tree (so that answering an append needs no further round trip).
    let base = merkle::stored_hash_count(old.size);
    let new_size = old.size + fresh.len() as u64;
    type Computed = (Vec<Vec<Hash>>, Hash, Vec<Vec<Hash>>);
    let compute = |committed: &dyn HashReader| -> sigstack_tlog::Result<Computed> {
        let mut pending: Vec<Hash> = Vec::with_capacity(2 * fresh.len() + 64);
        let mut per_entry = Vec::with_capacity(fresh.len());
        for (i, e) in fresh.iter().enumerate() {
            let overlay = PendingOverlay {
                committed,
                base,
                pending: &pending,
            };
            let new = merkle::stored_hashes_for_leaf_hash(
                old.size + i as u64,
                *e.entry.hash(),
                &overlay,
            )?;
            pending.extend_from_slice(&new);
            per_entry.push(new);
        }
        let overlay = PendingOverlay {
            committed,
            base,
            pending: &pending,
        };
        let root = merkle::tree_hash(new_size, &overlay)?;
        let proofs = (old.size..new_size)
            .map(|index| merkle::inclusion_proof(new_size, index, &overlay))
            .collect::<sigstack_tlog::Result<Vec<_>>>()?;
        Ok((per_entry, root, proofs))
    };
    let recorder = Recorder::default();
    compute(&recorder)?;
    let needed: Vec<u64> = recorder
        .0
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .filter(|&i| i < base)
        .collect();
    let fetched = fetch_hashes(&mut tx, log_id, &needed).await?;
    let (per_entry, root, proofs) = compute(&fetched)?;
    let mut proofs = proofs.into_iter();

    let mut idx = Vec::with_capacity(fresh.len());
    let mut entries = Vec::with_capacity(fresh.len());
    let mut metadata = Vec::with_capacity(fresh.len());
    let mut hashes = Vec::with_capacity(fresh.len());
    let mut identities = Vec::with_capacity(fresh.len());
    let (mut key_idx, mut keys) = (Vec::new(), Vec::new());
    for (i, (e, h)) in fresh.iter().zip(&per_entry).enumerate() {
        let index = to_i64(old.size + i as u64)?;
        idx.push(index);
        entries.push(e.entry.data());
        metadata.push(sealed[i].as_deref().unwrap_or(e.metadata.as_slice()));
        hashes.push(h.iter().flat_map(|h| h.0).collect::<Vec<u8>>());
        identities.push(e.identity.as_slice());
        let mut unique = e.index_keys.clone();
        unique.sort_unstable();
        unique.dedup();
        for k in unique {
            key_idx.push(index);
            keys.push(k.0.to_vec());
        }
    }
    sqlx::query(
        "INSERT INTO tlog_entries (log_id, idx, entry, metadata, hashes)
         SELECT $1, * FROM UNNEST($2::int8[], $3::bytea[], $4::bytea[], $5::bytea[])",
    )
    .bind(log_id)
    .bind(&idx)
    .bind(&entries)
    .bind(&metadata)
    .bind(&hashes)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    sqlx::query(
        "INSERT INTO tlog_identities (log_id, identity, idx)
         SELECT $1, * FROM UNNEST($2::bytea[], $3::int8[])",
    )
    .bind(log_id)
    .bind(&identities)
    .bind(&idx)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    if !keys.is_empty() {
        sqlx::query(
            "INSERT INTO tlog_search_keys (log_id, key, idx)
             SELECT $1, * FROM UNNEST($2::bytea[], $3::int8[])",
        )
        .bind(log_id)
        .bind(&keys)
        .bind(&key_idx)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    sqlx::query("UPDATE tlog_logs SET size = $2, root = $3 WHERE log_id = $1")
        .bind(log_id)
        .bind(to_i64(new_size)?)
        .bind(root.0.as_slice())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    shared.known_size.fetch_max(new_size, Ordering::SeqCst);
    let tree = TreeHead {
        size: new_size,
        root,
    };
    Ok(slots
        .into_iter()
        .map(|s| match s {
            Slot::Fresh(index) => Ok(Appended {
                index,
                tree,
                proof: proofs.next(),
            }),
            Slot::Duplicate(index) => Err(StorageError::Duplicate { index }),
        })
        .collect())
}

impl PostgresLog {
    fn pool(&self) -> &PgPool {
        &self.inner.shared.pool
    }

    fn log_id(&self) -> i64 {
        self.inner.shared.log_id
    }

    /// The log's name in the database.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.shared.name
    }

    /// Refuse a log whose stored hashes do not reproduce its head, or whose tree is smaller
    /// than (or differs from) its published checkpoint.
    ///
    /// Boxed: it keeps `open_log`'s future `Send` (rustc cannot prove it through the nested
    /// sqlx futures otherwise).
    fn verify_at_open(
        &self,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), StorageError>> + Send + '_>> {
        Box::pin(async move {
            let head = read_head(
                &mut *self.pool().acquire().await.map_err(db_err)?,
                self.log_id(),
                false,
            )
            .await?;
            let size = head.size;
            let computed = with_hashes(self.pool(), self.log_id(), |r| merkle::tree_hash(size, r))
                .await
                .map_err(|e| StorageError::Corrupt(format!("log {}: {e}", self.name())))?;
            if computed != head.root {
                return Err(StorageError::Corrupt(format!(
                    "log {}: stored hashes do not reproduce the root of size {size}",
                    self.name()
                )));
            }
            if let Some(cp) = self.read_checkpoint().await? {
                if cp.size > head.size {
                    return Err(StorageError::Corrupt(format!(
                        "log {}: tree of {} entries is smaller than its published checkpoint of {} \
                     (the database was rolled back; restore it from a later backup)",
                        self.name(),
                        head.size,
                        cp.size
                    )));
                }
                let root = self.root_at_checked(cp.size, head).await?;
                if root != cp.root {
                    return Err(StorageError::Corrupt(format!(
                        "log {}: the tree of size {} differs from the published checkpoint",
                        self.name(),
                        cp.size
                    )));
                }
            }
            Ok(())
        })
    }

    async fn read_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StorageError> {
        let row: Option<CheckpointRow> =
            sqlx::query_as("SELECT size, root, signed FROM tlog_checkpoints WHERE log_id = $1")
                .bind(self.log_id())
                .fetch_optional(self.pool())
                .await
                .map_err(db_err)?;
        match row {
            Some((Some(size), Some(root), Some(signed))) => Ok(Some(StoredCheckpoint {
                size: to_u64(size)?,
                root: to_hash(&root)?,
                signed,
            })),
            _ => Ok(None),
        }
    }

    async fn head(&self) -> Result<TreeHead, StorageError> {
        let head = read_head(
            &mut *self.pool().acquire().await.map_err(db_err)?,
            self.log_id(),
            false,
        )
        .await?;
        self.inner
            .shared
            .known_size
            .fetch_max(head.size, Ordering::SeqCst);
        Ok(head)
    }

    /// Refuse a tree size beyond the tree; sizes this replica has already seen committed need
    /// no round trip (a proof for an entry just appended is the common case).
    async fn check_size_exists(&self, size: u64) -> Result<(), StorageError> {
        if size <= self.inner.shared.known_size.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.check_size(size).await.map(|_| ())
    }

    async fn check_size(&self, size: u64) -> Result<TreeHead, StorageError> {
        let head = self.head().await?;
        if size > head.size {
            return Err(StorageError::NotFound(format!(
                "tree size {size} (current {})",
                head.size
            )));
        }
        Ok(head)
    }

    async fn root_at_checked(&self, size: u64, head: TreeHead) -> Result<Hash, StorageError> {
        if size == head.size {
            return Ok(head.root);
        }
        with_hashes(self.pool(), self.log_id(), |r| merkle::tree_hash(size, r)).await
    }

    async fn read_entries(&self, start: u64, count: u64) -> Result<Vec<StoredEntry>, StorageError> {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT entry, metadata FROM tlog_entries
             WHERE log_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
        )
        .bind(self.log_id())
        .bind(to_i64(start)?)
        .bind(to_i64(start + count)?)
        .fetch_all(self.pool())
        .await
        .map_err(db_err)?;
        if rows.len() as u64 != count {
            return Err(StorageError::Corrupt(format!(
                "entries {start}..{} are missing below the tree head",
                start + count
            )));
        }
        Ok(rows
            .into_iter()
            .map(|(entry, metadata)| StoredEntry { entry, metadata })
            .collect())
    }

    async fn read_tile(&self, path: &TilePath) -> Result<Vec<u8>, StorageError> {
        let size = self.head().await?.size;
        check_tile_covered(path, size)?;
        match path.kind {
            TileKind::Hash => {
                let (level, index, width) = (path.level, path.index, path.width);
                let hashes = with_hashes(self.pool(), self.log_id(), |r| {
                    tiles::read_tile_hashes(level, index, width, r)
                })
                .await?;
                Ok(tiles::tile_bytes(&hashes))
            }
            TileKind::Entries => {
                let entries = self
                    .read_entries(path.index * u64::from(TILE_WIDTH), u64::from(path.width))
                    .await?;
                let refs: Vec<&[u8]> = entries.iter().map(|e| e.entry.as_slice()).collect();
                Ok(tiles::encode_entry_bundle(&refs)?)
            }
        }
    }

    async fn append_entry(&self, entry: NewEntry) -> Result<Appended, StorageError> {
        entry.check_limits(self.inner.config.max_entry_size)?;
        if self.inner.shared.closed.load(Ordering::SeqCst) {
            return Err(StorageError::Closed);
        }
        let shared = &self.inner.shared;
        let prev = shared.outstanding.fetch_add(1, Ordering::SeqCst);
        let permit = Permit(Arc::clone(shared));
        if prev >= self.inner.config.max_pending {
            return Err(StorageError::Overloaded);
        }
        let (reply, rx) = oneshot::channel();
        {
            let tx = self.inner.tx.lock().await;
            let Some(tx) = tx.as_ref() else {
                return Err(StorageError::Closed);
            };
            tx.try_send(Msg::Append(Request {
                entry,
                reply,
                _permit: permit,
            }))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StorageError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => StorageError::Closed,
            })?;
        }
        rx.await.map_err(|_| StorageError::Closed)?
    }
}

#[async_trait]
impl LogStore for PostgresLog {
    async fn append(&self, entry: NewEntry) -> Result<Appended, StorageError> {
        self.append_entry(entry).await
    }

    async fn tree_head(&self) -> Result<TreeHead, StorageError> {
        self.inner.shared.observe(self.head().await)
    }

    async fn lookup(&self, identity: &[u8; 32]) -> Result<Option<u64>, StorageError> {
        let r = sqlx::query_scalar::<_, i64>(
            "SELECT idx FROM tlog_identities WHERE log_id = $1 AND identity = $2",
        )
        .bind(self.log_id())
        .bind(identity.as_slice())
        .fetch_optional(self.pool())
        .await
        .map_err(db_err)
        .and_then(|v| v.map(to_u64).transpose());
        self.inner.shared.observe(r)
    }

    async fn search(&self, key: &IndexKey, limit: usize) -> Result<Vec<u64>, StorageError> {
        let limit = limit.min(MAX_SEARCH_RESULTS) as i64;
        let r = sqlx::query_scalar::<_, i64>(
            "SELECT idx FROM tlog_search_keys WHERE log_id = $1 AND key = $2 ORDER BY idx LIMIT $3",
        )
        .bind(self.log_id())
        .bind(key.0.as_slice())
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(db_err)
        .and_then(|v| v.into_iter().map(to_u64).collect());
        self.inner.shared.observe(r)
    }

    async fn entries(&self, start: u64, count: u64) -> Result<Vec<StoredEntry>, StorageError> {
        let r = async {
            check_range(start, count, self.head().await?.size)?;
            self.read_entries(start, count).await
        }
        .await;
        self.inner.shared.observe(r)
    }

    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StorageError> {
        let r = async {
            self.check_size_exists(size).await?;
            if index >= size {
                return Err(StorageError::InvalidRequest(format!(
                    "index {index} not below size {size}"
                )));
            }
            with_hashes(self.pool(), self.log_id(), |r| {
                merkle::inclusion_proof(size, index, r)
            })
            .await
        }
        .await;
        self.inner.shared.observe(r)
    }

    async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StorageError> {
        if old == 0 || old > new {
            return Err(StorageError::InvalidRequest(format!(
                "no consistency proof from {old} to {new}"
            )));
        }
        let r = async {
            self.check_size_exists(new).await?;
            with_hashes(self.pool(), self.log_id(), |r| {
                merkle::consistency_proof(old, new, r)
            })
            .await
        }
        .await;
        self.inner.shared.observe(r)
    }

    async fn root_at(&self, size: u64) -> Result<Hash, StorageError> {
        let r = async {
            let head = self.check_size(size).await?;
            self.root_at_checked(size, head).await
        }
        .await;
        self.inner.shared.observe(r)
    }

    async fn tile(&self, path: &TilePath) -> Result<Vec<u8>, StorageError> {
        let r = self.read_tile(path).await;
        self.inner.shared.observe(r)
    }

    async fn publish_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StorageError> {
        let r = async {
            if checkpoint.signed.len() > sigstack_tlog_storage::MAX_CHECKPOINT_SIZE {
                return Err(StorageError::InvalidRequest(format!(
                    "checkpoint of {} bytes exceeds {}",
                    checkpoint.signed.len(),
                    sigstack_tlog_storage::MAX_CHECKPOINT_SIZE
                )));
            }
            // The common case, in one round trip: a checkpoint of the current head, no smaller
            // than the published one. Anything else takes the checked path below, which also
            // names the reason for a refusal.
            let published_now = sqlx::query(
                "UPDATE tlog_checkpoints c SET size = $2, root = $3, signed = $4
                 FROM tlog_logs l
                 WHERE c.log_id = $1 AND l.log_id = $1 AND l.size = $2 AND l.root = $3
                   AND (c.size IS NULL OR c.size <= $2)",
            )
            .bind(self.log_id())
            .bind(to_i64(checkpoint.size)?)
            .bind(checkpoint.root.0.as_slice())
            .bind(checkpoint.signed.as_slice())
            .execute(self.pool())
            .await
            .map_err(db_err)?;
            if published_now.rows_affected() == 1 {
                return Ok(());
            }
            let head = self.head().await?;
            let root = if checkpoint.size <= head.size {
                Some(self.root_at_checked(checkpoint.size, head).await?)
            } else {
                None
            };
            let mut tx = self.pool().begin().await.map_err(db_err)?;
            let row: CheckpointRow = sqlx::query_as(
                "SELECT size, root, signed FROM tlog_checkpoints WHERE log_id = $1 FOR UPDATE",
            )
            .bind(self.log_id())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            let published = match row {
                (Some(size), Some(root), Some(signed)) => Some(StoredCheckpoint {
                    size: to_u64(size)?,
                    root: to_hash(&root)?,
                    signed,
                }),
                _ => None,
            };
            check_publishable(checkpoint, head.size, root, published.as_ref())?;
            if published.as_ref() == Some(checkpoint) {
                return Ok(());
            }
            sqlx::query(
                "UPDATE tlog_checkpoints SET size = $2, root = $3, signed = $4 WHERE log_id = $1",
            )
            .bind(self.log_id())
            .bind(to_i64(checkpoint.size)?)
            .bind(checkpoint.root.0.as_slice())
            .bind(checkpoint.signed.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            tx.commit().await.map_err(db_err)
        }
        .await;
        self.inner.shared.observe(r)
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StorageError> {
        let r = self.read_checkpoint().await;
        self.inner.shared.observe(r)
    }

    fn sequencer_stats(&self) -> Option<SequencerStats> {
        Some(
            self.inner
                .shared
                .stats
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }

    fn check_writable(&self) -> Result<(), StorageError> {
        if self.inner.shared.closed.load(Ordering::SeqCst) {
            return Err(StorageError::Closed);
        }
        if !self.inner.shared.reachable.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable(
                "the last database request failed".into(),
            ));
        }
        Ok(())
    }

    async fn close(&self) {
        self.inner.shared.closed.store(true, Ordering::SeqCst);
        let tx = self.inner.tx.lock().await.take();
        if let Some(tx) = tx {
            let (ack, done) = oneshot::channel();
            if tx.send(Msg::Close(ack)).await.is_ok() {
                let _ = done.await;
            }
        }
    }
}

/// Test support: the variable naming the server the tests use, as a URL of a role that may
/// create databases (`.ci/run` starts PostgreSQL and sets it).
pub const TEST_DATABASE_URL_VAR: &str = "SIGSTACK_TEST_DATABASE_URL";

/// Test support: a new, empty database for the test `test` (lowercase letters, digits, `_`)
/// on the server [`TEST_DATABASE_URL_VAR`] names, or `None`, after saying so on stderr, when
/// the variable is unset on a developer's machine.
///
/// # Errors
/// [`StorageError::InvalidConfig`] when the variable is unset under CI (`CI=true`), where a
/// skipped database test would pass unseen; otherwise as [`create_fresh_database`].
pub async fn fresh_test_database(test: &str) -> Result<Option<String>, StorageError> {
    let Ok(base) = std::env::var(TEST_DATABASE_URL_VAR) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            return Err(StorageError::InvalidConfig(format!(
                "{TEST_DATABASE_URL_VAR} must be set in CI (.ci/run starts PostgreSQL)"
            )));
        }
        eprintln!("skipping {test}: {TEST_DATABASE_URL_VAR} is not set");
        return Ok(None);
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("sigstack_test_{test}_{}_{nanos}", std::process::id());
    create_fresh_database(&base, &name).await.map(Some)
}

/// Test support: create a new, empty database next to the one `base_url` names and return
/// its URL, so each test run starts from nothing.
///
/// # Errors
/// [`StorageError::InvalidConfig`] for a URL without a database path,
/// [`StorageError::Unavailable`] when the server cannot be reached or refuses.
pub async fn create_fresh_database(base_url: &str, name: &str) -> Result<String, StorageError> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StorageError::InvalidConfig(format!(
            "database name {name:?}"
        )));
    }
    let options: PgConnectOptions = base_url
        .parse()
        .map_err(|e| StorageError::InvalidConfig(format!("database URL: {e}")))?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(db_err)?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .map_err(db_err)?;
    pool.close().await;
    // Replace the path of the URL (after the authority) with the new database's name.
    let (scheme, rest) = base_url
        .split_once("://")
        .ok_or_else(|| StorageError::InvalidConfig("database URL has no scheme".into()))?;
    let (authority, query) = match rest.find(['/', '?']) {
        Some(at) => {
            let (authority, tail) = rest.split_at(at);
            (authority, tail.split_once('?').map(|(_, q)| q))
        }
        None => (rest, None),
    };
    Ok(match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    })
}
