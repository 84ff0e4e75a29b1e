//! The log's published checkpoint: signed once per tree head, recorded in storage before it is
//! handed out, and reused by every response about that head.
//!
//! Signing per response would cost one signature per request (and, for ECDSA, a different note
//! each time); a head changes once per sequenced batch, so one signature covers every entry of
//! the batch. Recording it in storage first means no replica ever serves a checkpoint that a
//! restart could contradict, and the storage refuses to go below it.

use std::collections::VecDeque;
use std::sync::Arc;

use sigstack_tlog::merkle::Hash;
use sigstack_tlog::{Checkpoint, NoteSigner, sign_checkpoint};
use sigstack_tlog_storage::{Appended, LogStore, StorageError, StoredCheckpoint, TreeHead};

use crate::error::RekorError;

/// Signed heads kept for the answers of appends: under load the answers of one batch may still
/// be waiting for a worker when the next batches have committed and signed theirs.
const RECENT_HEADS: usize = 16;

/// A signed checkpoint note with the head it commits to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SignedHead {
    pub head: TreeHead,
    pub note: String,
}

#[derive(Debug)]
pub(crate) struct PublishedCheckpoint {
    store: Arc<dyn LogStore>,
    signer: Arc<NoteSigner>,
    origin: String,
    /// The last [`RECENT_HEADS`] heads signed, smallest first, read by every response. An
    /// append's answer prefers the head of its own batch: the proof computed with the batch is
    /// then the answer's proof (a larger head needs a proof read from storage).
    recent: std::sync::RwLock<VecDeque<SignedHead>>,
    /// Held while a new head is signed and published, so each head is signed once.
    signing: tokio::sync::Mutex<()>,
}

impl PublishedCheckpoint {
    pub(crate) fn new(store: Arc<dyn LogStore>, signer: NoteSigner, origin: String) -> Self {
        Self {
            store,
            signer: Arc::new(signer),
            origin,
            recent: std::sync::RwLock::new(VecDeque::with_capacity(RECENT_HEADS)),
            signing: tokio::sync::Mutex::new(()),
        }
    }

    /// A checkpoint of the current tree: the published one when the tree has not grown since,
    /// otherwise a new one, signed and recorded before it is returned.
    pub(crate) async fn current(&self) -> Result<SignedHead, RekorError> {
        // Read the head before taking the lock: with a remote store it is a round trip, and
        // holding the lock over it would queue every response of the process behind it.
        let head = self.store.tree_head().await?;
        self.covering(head).await
    }

    /// A published checkpoint of `head` or of a larger tree: for the answer to an append, whose
    /// entry `head` (the tree its batch committed) already covers, so no store round trip is
    /// needed to learn the tree.
    pub(crate) async fn covering(&self, head: TreeHead) -> Result<SignedHead, RekorError> {
        if let Some(signed) = self.cached(head) {
            return Ok(signed);
        }
        let _signing = self.signing.lock().await;
        // Another response may have signed it (or a newer head) while this one waited.
        if let Some(signed) = self.cached(head) {
            return Ok(signed);
        }
        // Another replica may have published this head (or a newer one) already.
        if let Some(stored) = self.store.latest_checkpoint().await?
            && stored.size == head.size
            && stored.root == head.root
            && let Ok(note) = String::from_utf8(stored.signed)
        {
            let signed = SignedHead { head, note };
            self.remember(&signed);
            return Ok(signed);
        }
        let checkpoint = Checkpoint::new(self.origin.clone(), head.size, head.root);
        let signer = Arc::clone(&self.signer);
        // Signing may be an HSM round trip: off the async workers.
        let note = tokio::task::spawn_blocking(move || sign_checkpoint(&checkpoint, &[&signer]))
            .await
            .map_err(|e| RekorError::Signing(e.to_string()))??;
        let stored = StoredCheckpoint {
            size: head.size,
            root: head.root,
            signed: note.clone().into_bytes(),
        };
        match self.store.publish_checkpoint(&stored).await {
            Ok(()) => {}
            // A replica published a larger head meanwhile: ours is still a valid checkpoint of
            // an older tree, consistent with it, and fine to return; just don't cache it.
            Err(StorageError::InvalidRequest(_)) => {
                return Ok(SignedHead { head, note });
            }
            Err(e) => return Err(e.into()),
        }
        let signed = SignedHead { head, note };
        self.remember(&signed);
        Ok(signed)
    }

    /// The inclusion proof of an appended entry in `signed`'s tree: the one the storage computed
    /// with the entry's batch when `signed` is that batch's tree, otherwise read from storage.
    pub(crate) async fn proof_for(
        &self,
        appended: Appended,
        signed: &SignedHead,
    ) -> Result<Vec<Hash>, RekorError> {
        match appended.proof {
            Some(proof) if signed.head == appended.tree => Ok(proof),
            _ => Ok(self
                .store
                .inclusion_proof(appended.index, signed.head.size)
                .await?),
        }
    }

    /// The signed head when it is `head` and still among the recent ones, or else the largest
    /// one when it is larger (and so covers `head` too).
    fn cached(&self, head: TreeHead) -> Option<SignedHead> {
        let recent = self
            .recent
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        recent
            .iter()
            .rev()
            .find(|s| s.head == head)
            .or_else(|| recent.back().filter(|s| s.head.size > head.size))
            .cloned()
    }

    fn remember(&self, signed: &SignedHead) {
        let mut recent = self
            .recent
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.back().is_none_or(|l| l.head.size < signed.head.size) {
            if recent.len() == RECENT_HEADS {
                recent.pop_front();
            }
            recent.push_back(signed.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigstack_keys::{FileSigner, SignatureAlgorithm};
    use sigstack_tlog::KeyIdRule;
    use sigstack_tlog_storage::{EmbeddedLog, LogConfig, NewEntry};

    fn entry(n: u8) -> NewEntry {
        NewEntry {
            entry: vec![n; 8].into(),
            identity: [n; 32],
            metadata: Vec::new(),
            index_keys: Vec::new(),
            sealed_metadata: None,
        }
    }

    /// The answer to an append in an older batch gets that batch's own signed head while it is
    /// among the recent ones, so the proof computed with the batch is the answer's proof.
    #[tokio::test]
    async fn an_older_batch_gets_its_own_head() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store: Arc<dyn LogStore> =
            Arc::new(EmbeddedLog::open(&dir.path().join("log"), LogConfig::default()).await?);
        let signer = Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256)?);
        let note_signer = NoteSigner::new("log.example", signer, KeyIdRule::RekorV1)?;
        let checkpoints =
            PublishedCheckpoint::new(Arc::clone(&store), note_signer, "log.example - 1".into());

        let first = store.append(entry(1)).await?;
        let second = store.append(entry(2)).await?;
        assert!(second.tree.size > first.tree.size);
        let first_head = checkpoints.covering(first.tree).await?;
        let second_head = checkpoints.covering(second.tree).await?;
        assert_eq!(first_head.head, first.tree);
        assert_eq!(second_head.head, second.tree);

        // Asked again after the larger head was signed: the first batch's own head, so a
        // driver's proof from the append is the answer's proof.
        let again = checkpoints.covering(first.tree).await?;
        assert_eq!(again, first_head);
        let proof = checkpoints.proof_for(first.clone(), &again).await?;
        assert_eq!(
            proof,
            store.inclusion_proof(first.index, first.tree.size).await?
        );

        // Once it has left the recent heads, the largest one covers it, with a proof read
        // from storage for that tree.
        let mut last = second;
        for n in 3..3 + RECENT_HEADS as u8 {
            last = store.append(entry(n)).await?;
            checkpoints.covering(last.tree).await?;
        }
        let covering = checkpoints.covering(first.tree).await?;
        assert_eq!(covering.head, last.tree);
        let proof = checkpoints.proof_for(first.clone(), &covering).await?;
        assert_eq!(
            proof,
            store.inclusion_proof(first.index, last.tree.size).await?
        );
        Ok(())
    }
}
