//! [`LogStore`] for the embedded driver: every call maps onto [`EmbeddedLog`]'s own methods.
//! Reads are positional reads of committed data (page-cache hits in the common case), so they
//! run in place; appends wait on the sequencer thread.

use async_trait::async_trait;
use sigstack_tlog::TilePath;
use sigstack_tlog::merkle::Hash;

use crate::store::{IndexKey, LogStore, NewEntry, SequencerStats, StoredCheckpoint, StoredEntry};
use crate::{Appended, EmbeddedLog, StorageError, TreeHead};

#[async_trait]
impl LogStore for EmbeddedLog {
    async fn append(&self, entry: NewEntry) -> Result<Appended, StorageError> {
        self.append_entry(entry).await
    }

    async fn tree_head(&self) -> Result<TreeHead, StorageError> {
        Ok(EmbeddedLog::tree_head(self))
    }

    async fn lookup(&self, identity: &[u8; 32]) -> Result<Option<u64>, StorageError> {
        EmbeddedLog::lookup(self, identity)
    }

    async fn search(&self, key: &IndexKey, limit: usize) -> Result<Vec<u64>, StorageError> {
        EmbeddedLog::search(self, key, limit)
    }

    async fn entries(&self, start: u64, count: u64) -> Result<Vec<StoredEntry>, StorageError> {
        EmbeddedLog::entries(self, start, count)
    }

    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StorageError> {
        EmbeddedLog::inclusion_proof(self, index, size)
    }

    async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StorageError> {
        EmbeddedLog::consistency_proof(self, old, new)
    }

    async fn root_at(&self, size: u64) -> Result<Hash, StorageError> {
        EmbeddedLog::root_at(self, size)
    }

    async fn tile(&self, path: &TilePath) -> Result<Vec<u8>, StorageError> {
        EmbeddedLog::tile(self, path)
    }

    async fn publish_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StorageError> {
        let log = self.clone();
        let checkpoint = checkpoint.clone();
        // A durable file replacement: fsyncs, so off the async workers.
        tokio::task::spawn_blocking(move || log.publish_checkpoint(&checkpoint))
            .await
            .map_err(|e| StorageError::Io {
                op: "publish checkpoint".into(),
                source: std::io::Error::other(e),
            })?
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StorageError> {
        Ok(EmbeddedLog::latest_checkpoint(self))
    }

    fn check_writable(&self) -> Result<(), StorageError> {
        EmbeddedLog::check_writable(self)
    }

    fn sequencer_stats(&self) -> Option<SequencerStats> {
        Some(EmbeddedLog::sequencer_stats(self))
    }

    async fn close(&self) {
        EmbeddedLog::close(self.clone()).await;
    }
}
