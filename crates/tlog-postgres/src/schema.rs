//! The database schema, created and migrated on startup.
//!
//! Migrations are numbered SQL scripts applied in order, each in its own transaction, while
//! holding a transaction-scoped advisory lock so that replicas starting together migrate once.
//! A database whose schema is newer than this binary knows is refused.

use sqlx::{Executor as _, PgPool};

use crate::{StorageError, db_err};

/// Advisory-lock key serialising migrations ("sigstack" in ASCII, as an `i64`).
const MIGRATION_LOCK: i64 = 0x7369_6773_7461_636b;

/// `(version, SQL)`, ascending. Never edit a released entry; add a new one.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    r"
-- One row per log: its committed tree head. Locking this row (FOR UPDATE) is what makes a
-- replica the log's sequencer for one batch.
CREATE TABLE tlog_logs (
    log_id  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name    TEXT   NOT NULL UNIQUE,
    size    BIGINT NOT NULL CHECK (size >= 0),
    root    BYTEA  NOT NULL CHECK (length(root) = 32)
);
-- Entries with their metadata and the stored Merkle hashes each one completes: the leaf hash,
-- then one hash per subtree the entry closes (32 bytes each, smallest subtree first).
CREATE TABLE tlog_entries (
    log_id   BIGINT NOT NULL,
    idx      BIGINT NOT NULL,
    entry    BYTEA  NOT NULL,
    metadata BYTEA  NOT NULL,
    hashes   BYTEA  NOT NULL,
    PRIMARY KEY (log_id, idx)
);
-- Dedup identities: one index per identity and log.
CREATE TABLE tlog_identities (
    log_id   BIGINT NOT NULL,
    identity BYTEA  NOT NULL,
    idx      BIGINT NOT NULL,
    PRIMARY KEY (log_id, identity)
);
-- Secondary search keys (Rekor v1 /api/v1/index/retrieve).
CREATE TABLE tlog_search_keys (
    log_id BIGINT NOT NULL,
    key    BYTEA  NOT NULL,
    idx    BIGINT NOT NULL,
    PRIMARY KEY (log_id, key, idx)
);
-- The largest published checkpoint (NULLs until the first).
CREATE TABLE tlog_checkpoints (
    log_id BIGINT PRIMARY KEY,
    size   BIGINT,
    root   BYTEA,
    signed BYTEA
);
-- Small per-deployment settings that every replica must agree on (e.g. Rekor v1's tree ID).
CREATE TABLE tlog_settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
",
)];

/// Create or migrate the schema.
pub(crate) async fn migrate(pool: &PgPool) -> Result<(), StorageError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS tlog_schema_migrations (
             version    INT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .execute(pool)
    .await
    .map_err(db_err)?;
    for (version, sql) in MIGRATIONS {
        let mut tx = pool.begin().await.map_err(db_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let current: Option<i32> =
            sqlx::query_scalar("SELECT max(version) FROM tlog_schema_migrations")
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        let known = MIGRATIONS.last().map_or(0, |(v, _)| *v);
        if let Some(c) = current
            && c > known
        {
            return Err(StorageError::InvalidConfig(format!(
                "the database schema is at version {c}, newer than this binary's {known}; \
                 upgrade sigstack"
            )));
        }
        if current.is_some_and(|c| c >= *version) {
            continue;
        }
        // A query without arguments runs as a simple query: several statements are fine.
        (&mut *tx).execute(*sql).await.map_err(db_err)?;
        sqlx::query("INSERT INTO tlog_schema_migrations (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
