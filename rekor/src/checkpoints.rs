//! The log's published checkpoint: signed once per tree head, recorded in storage before it is
//! handed out, and reused by every response about that head.
//!
//! Signing per response would cost one signature per request (and, for ECDSA, a different note
//! each time); a head changes once per sequenced batch, so one signature covers every entry of
//! the batch. Recording it in storage first means no replica ever serves a checkpoint that a
//! restart could contradict, and the storage refuses to go below it.

use std::sync::Arc;

use sigstack_tlog::merkle::Hash;
use sigstack_tlog::{Checkpoint, NoteSigner, sign_checkpoint};
use sigstack_tlog_storage::{Appended, LogStore, StorageError, StoredCheckpoint, TreeHead};

use crate::error::RekorError;

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
    /// The largest head signed so far, read by every response.
    latest: std::sync::RwLock<Option<SignedHead>>,
    /// Held while a new head is signed and published, so each head is signed once.
    signing: tokio::sync::Mutex<()>,
}

impl PublishedCheckpoint {
    pub(crate) fn new(store: Arc<dyn LogStore>, signer: NoteSigner, origin: String) -> Self {
        Self {
            store,
            signer: Arc::new(signer),
            origin,
            latest: std::sync::RwLock::new(None),
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

    /// The signed head when it is `head`, or a newer one (which covers `head` too).
    fn cached(&self, head: TreeHead) -> Option<SignedHead> {
        let latest = self
            .latest
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        latest
            .as_ref()
            .filter(|s| s.head == head || s.head.size > head.size)
            .cloned()
    }

    fn remember(&self, signed: &SignedHead) {
        let mut latest = self
            .latest
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if latest
            .as_ref()
            .is_none_or(|l| l.head.size < signed.head.size)
        {
            *latest = Some(signed.clone());
        }
    }
}
