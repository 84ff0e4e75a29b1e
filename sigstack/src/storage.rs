//! Where the logs live: embedded files under the data directory (the default), or one
//! PostgreSQL database shared by every replica (`--database-url`).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use sigstack_http::{LogBatches, Metrics};
use sigstack_tlog_postgres::PgDatabase;
use sigstack_tlog_storage::{EmbeddedLog, LogConfig, LogStore};

/// Connections one process keeps to the database, shared by all of its logs.
const DATABASE_CONNECTIONS: u32 = 16;
/// The deployment setting holding Rekor v1's tree ID, so that every replica reports the same.
const REKOR_V1_TREE_ID: &str = "rekor-v1/tree-id";

/// The storage every log of this process opens.
#[derive(Clone, Debug)]
pub enum LogStorage {
    /// One directory per log under the data directory.
    Embedded,
    /// Every log in one PostgreSQL database.
    Postgres(PgDatabase),
}

impl LogStorage {
    /// Connect to the database (creating or migrating its schema) if one is configured.
    pub async fn connect(database_url: Option<&str>) -> anyhow::Result<Self> {
        match database_url {
            None => Ok(Self::Embedded),
            Some(url) => Ok(Self::Postgres(
                PgDatabase::connect(url, DATABASE_CONNECTIONS)
                    .await
                    .context("connecting to the log database")?,
            )),
        }
    }

    /// Open the log called `name` (in the database) or kept in `embedded_dir`, and report its
    /// commit batches in `metrics` (labelled with `name`).
    pub async fn open(
        &self,
        name: &'static str,
        embedded_dir: &Path,
        config: &LogConfig,
        metrics: &Metrics,
    ) -> anyhow::Result<Arc<dyn LogStore>> {
        let store: Arc<dyn LogStore> = match self {
            Self::Embedded => Arc::new(
                EmbeddedLog::open(embedded_dir, config.clone())
                    .await
                    .with_context(|| format!("opening {}", embedded_dir.display()))?,
            ),
            Self::Postgres(db) => Arc::new(
                db.open_log(name, config.clone())
                    .await
                    .with_context(|| format!("opening log {name} in the database"))?,
            ),
        };
        // Weak: the registry lives as long as the process, the log only until it is closed.
        let reported = Arc::downgrade(&store);
        metrics.register_log_batches(name, move || {
            let s = reported.upgrade()?.sequencer_stats()?;
            Some(LogBatches {
                batches: s.batches,
                entries: s.entries,
                size_buckets: s.batch_size_buckets(),
                commit_seconds: s.commit_seconds,
            })
        });
        Ok(store)
    }

    /// With a database, make `rekor_dir/tree-id` hold the tree ID recorded in the database
    /// (recording this directory's, or a new random one, on the first start), so that every
    /// replica serves the same entry UUIDs and checkpoint origin.
    pub async fn agree_on_rekor_v1_tree_id(&self, rekor_dir: &Path) -> anyhow::Result<()> {
        let Self::Postgres(db) = self else {
            return Ok(());
        };
        sigstack_durable::create_dir_all(rekor_dir)?;
        let path = rekor_dir.join("tree-id");
        let local = sigstack_durable::read_existing(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .map(|bytes| {
                String::from_utf8(bytes)
                    .ok()
                    .and_then(|t| t.trim().parse::<u64>().ok())
                    .filter(|id| *id > 0 && *id <= i64::MAX as u64)
                    .with_context(|| {
                        format!("{} must hold a positive decimal tree ID", path.display())
                    })
            })
            .transpose()?;
        let proposed = match local {
            Some(id) => id,
            None => loop {
                let id = getrandom::u64().context("random tree ID")? & (i64::MAX as u64);
                if id != 0 {
                    break id;
                }
            },
        };
        let agreed = db
            .setting_or_insert(REKOR_V1_TREE_ID, &proposed.to_string())
            .await
            .context("reading Rekor v1's tree ID from the database")?;
        let agreed: u64 = agreed.parse().with_context(|| {
            format!("the database's {REKOR_V1_TREE_ID} {agreed:?} is not a number")
        })?;
        match local {
            Some(id) if id != agreed => bail!(
                "{} holds tree ID {id} but the database's Rekor v1 log has {agreed}: this data \
                 directory belongs to another deployment (copy the data directory of the stack \
                 that created the database)",
                path.display()
            ),
            Some(_) => Ok(()),
            None => {
                sigstack_durable::write(&path, format!("{agreed}\n").as_bytes())
                    .with_context(|| format!("writing {}", path.display()))?;
                Ok(())
            }
        }
    }
}
