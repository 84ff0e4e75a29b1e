//! The single writer: batches appends, makes each batch durable, then answers its waiters.
//!
//! It runs on its own OS thread (all of its work is blocking file I/O and fsync) and receives
//! requests over a bounded channel. Per batch it writes entries.dat, meta.dat, entries.idx,
//! hashes.dat and the batch's dedup identities and search keys to index.journal at their
//! committed lengths, fsyncs each once, then commits the new state record in one `index.redb`
//! transaction (the commit point) and puts the rows into the LSM tree. Only then is the
//! in-memory tree head advanced and are waiters answered, so nothing is acknowledged before it
//! is durable.
//!
//! After any I/O error the writer stops accepting entries (every later append fails with
//! [`StorageError::Failed`]): after a failed fsync the kernel may have dropped dirty pages, so
//! the only safe way forward is to reopen, which recovers from the files on disk.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use sigstack_tlog::merkle::{self, Hash, PendingOverlay, stored_hash_count};
use tokio::sync::oneshot;

use crate::disk::{DataFiles, FileHashes, INDEX_RECORD, State, io_err};
use crate::fs::{DirLock, StorageFile};
use crate::index::IndexRows;
use crate::journal::JOURNAL_FILE;
use crate::store::{IndexKey, Leaf, MetadataSeal};
use crate::{Appended, Shared, StorageError, TreeHead};

/// One queued append.
pub(crate) struct Request {
    pub entry: Leaf,
    pub identity: [u8; 32],
    /// Stored beside the entry, outside the Merkle tree.
    pub metadata: Vec<u8>,
    /// Search keys, deduplicated.
    pub index_keys: Vec<IndexKey>,
    /// Replaces `metadata` once the index is assigned.
    pub sealed_metadata: Option<MetadataSeal>,
    pub reply: oneshot::Sender<Result<Appended, StorageError>>,
    /// Counts the request as outstanding until it is answered (dropped).
    pub _permit: Permit,
}

/// One unit of [`Shared::outstanding`], returned on drop.
pub(crate) struct Permit(Arc<Shared>);

impl Permit {
    /// Take a permit unless `max` appends are already outstanding.
    pub(crate) fn try_acquire(shared: &Arc<Shared>, max: usize) -> Option<Self> {
        let prev = shared.outstanding.fetch_add(1, Ordering::SeqCst);
        if prev >= max {
            shared.outstanding.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self(Arc::clone(shared)))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Messages to the writer thread.
pub(crate) enum Msg {
    Append(Request),
    /// Commit everything received so far, release the directory, acknowledge, exit.
    Close(oneshot::Sender<()>),
}

pub(crate) struct Writer {
    pub dir: PathBuf,
    pub files: DataFiles,
    /// Held for the directory lock; released when the writer is dropped.
    pub _lock: Box<dyn DirLock>,
    pub state: State,
    pub shared: Arc<Shared>,
    pub batch_max_size: usize,
    pub batch_max_age: Duration,
    pub failed: bool,
}

impl Writer {
    /// The writer thread's main loop.
    pub(crate) fn run(mut self, rx: Receiver<Msg>) {
        loop {
            let first = match rx.recv() {
                Ok(Msg::Append(r)) => r,
                Ok(Msg::Close(ack)) => return self.shut_down(Some(ack)),
                Err(_) => return self.shut_down(None),
            };
            let mut batch = vec![first];
            let mut close = None;
            let mut disconnected = false;
            let deadline = Instant::now() + self.batch_max_age;
            while batch.len() < self.batch_max_size {
                let wait = deadline.saturating_duration_since(Instant::now());
                let next = if wait.is_zero() {
                    // Past the deadline: still take whatever is already queued.
                    rx.try_recv().map_err(|e| match e {
                        TryRecvError::Empty => RecvTimeoutError::Timeout,
                        TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                    })
                } else {
                    rx.recv_timeout(wait)
                };
                match next {
                    Ok(Msg::Append(r)) => batch.push(r),
                    Ok(Msg::Close(ack)) => {
                        close = Some(ack);
                        break;
                    }
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            self.process(batch);
            if close.is_some() || disconnected {
                return self.shut_down(close);
            }
        }
    }

    fn shut_down(self, ack: Option<oneshot::Sender<()>>) {
        tracing::debug!(dir = %self.dir.display(), size = self.state.size, "sequencer stopped");
        // The published checkpoint is recorded without an fsync of its own (the next batch
        // makes it durable); at close there is no next batch.
        let published = self.shared.checkpoint.lock().clone();
        if let Some(checkpoint) = published.filter(|_| !self.failed)
            && let Err(e) = self.shared.index.put_checkpoint(&checkpoint, true)
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not record the published checkpoint durably at close");
        }
        // Dropping the writer closes its files and releases the directory lock before the
        // closer is told, so the directory can be reopened at once.
        drop(self);
        if let Some(ack) = ack {
            let _ = ack.send(());
        }
    }

    fn process(&mut self, batch: Vec<Request>) {
        if self.failed {
            for r in batch {
                let _ = r.reply.send(Err(StorageError::Failed));
            }
            return;
        }
        // Assign indexes; duplicates (of committed entries or earlier ones in this batch)
        // are answered with the first index once the batch is durable.
        let mut fresh: Vec<Request> = Vec::with_capacity(batch.len());
        let mut duplicates: Vec<(Request, u64)> = Vec::new();
        let mut in_batch: HashMap<[u8; 32], u64> = HashMap::new();
        let committed = match self
            .shared
            .index
            .lookup_many(batch.iter().map(|r| &r.identity))
        {
            Ok(found) => found,
            Err(e) => {
                let msg = e.to_string();
                for r in batch {
                    let _ = r.reply.send(Err(StorageError::Unavailable(msg.clone())));
                }
                return;
            }
        };
        {
            for (r, committed) in batch.into_iter().zip(committed) {
                let existing = committed.or_else(|| in_batch.get(&r.identity).copied());
                match existing {
                    Some(index) => duplicates.push((r, index)),
                    None => {
                        let index = self.state.size + fresh.len() as u64;
                        in_batch.insert(r.identity, index);
                        fresh.push(r);
                    }
                }
            }
        }
        if fresh.is_empty() {
            for (r, index) in duplicates {
                let _ = r.reply.send(Err(StorageError::Duplicate { index }));
            }
            return;
        }
        // Metadata that commits to the index. Nothing is written yet, so a failure here fails
        // only this batch, not the log.
        if let Err(e) = self.seal(&mut fresh) {
            tracing::warn!(error = %e, dir = %self.dir.display(), "batch not committed");
            let msg = e.to_string();
            for r in fresh {
                let _ = r.reply.send(Err(StorageError::Unavailable(msg.clone())));
            }
            for (r, index) in duplicates {
                let _ = r.reply.send(Err(StorageError::Duplicate { index }));
            }
            return;
        }
        let started = Instant::now();
        match self.commit(&fresh) {
            Ok(head) => {
                self.shared
                    .stats
                    .lock()
                    .record(fresh.len(), started.elapsed());
                // Readers filter index rows by the head, so rows committed a moment before the
                // head moves are never seen early.
                *self.shared.head.write() = head;
                let first = head.size - fresh.len() as u64;
                for (i, r) in fresh.into_iter().enumerate() {
                    let _ = r.reply.send(Ok(Appended {
                        index: first + i as u64,
                        tree: head,
                        proof: None,
                    }));
                }
                for (r, index) in duplicates {
                    let _ = r.reply.send(Err(StorageError::Duplicate { index }));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, dir = %self.dir.display(), "commit failed; log stopped");
                self.failed = true;
                self.shared.failed.store(true, Ordering::SeqCst);
                let msg = e.to_string();
                for r in fresh {
                    let _ = r.reply.send(Err(StorageError::Io {
                        op: "commit batch".into(),
                        source: std::io::Error::other(msg.clone()),
                    }));
                }
                for (r, _) in duplicates {
                    let _ = r.reply.send(Err(StorageError::Failed));
                }
            }
        }
    }

    /// Replace the metadata of each sealed request by its sealed form.
    fn seal(&self, fresh: &mut [Request]) -> Result<(), StorageError> {
        for (r, index) in fresh.iter_mut().zip(self.state.size..) {
            if let Some(seal) = &r.sealed_metadata {
                r.metadata = seal.seal(index, &r.entry, &r.metadata)?;
            }
        }
        Ok(())
    }

    /// The committed tree's first `count` stored hashes: the upper levels and the most recent
    /// ones from memory, the rest from `hashes.dat`.
    fn committed_hashes(&self, count: u64) -> FileHashes<'_> {
        FileHashes {
            file: self.files.hashes.as_ref(),
            count,
            upper: Some(&self.shared.upper_hashes),
            recent: Some(&self.shared.recent_hashes),
        }
    }

    /// Write and fsync one batch, then the state record. On success `self.state` is the new
    /// committed state.
    fn commit(&mut self, fresh: &[Request]) -> Result<TreeHead, StorageError> {
        let old = self.state;
        let mut data = Vec::with_capacity(fresh.iter().map(|r| r.entry.len()).sum());
        let mut meta = Vec::with_capacity(fresh.iter().map(|r| r.metadata.len()).sum());
        let mut index = Vec::with_capacity(INDEX_RECORD as usize * fresh.len());
        let (mut end, mut meta_end) = (old.data_len, old.meta_len);
        for r in fresh {
            data.extend_from_slice(&r.entry);
            meta.extend_from_slice(&r.metadata);
            end += r.entry.len() as u64;
            meta_end += r.metadata.len() as u64;
            index.extend_from_slice(&end.to_be_bytes());
            index.extend_from_slice(&meta_end.to_be_bytes());
        }
        let base = stored_hash_count(old.size);
        let committed = self.committed_hashes(base);
        let mut pending: Vec<Hash> = Vec::with_capacity(2 * fresh.len() + 64);
        for (i, r) in fresh.iter().enumerate() {
            let overlay = PendingOverlay {
                committed: &committed,
                base,
                pending: &pending,
            };
            let new =
                merkle::stored_hashes_for_leaf_hash(old.size + i as u64, *r.entry.hash(), &overlay)
                    .map_err(|e| StorageError::Corrupt(format!("computing hashes: {e}")))?;
            pending.extend(new);
        }
        let new_size = old.size + fresh.len() as u64;
        let overlay = PendingOverlay {
            committed: &committed,
            base,
            pending: &pending,
        };
        let root = merkle::tree_hash(new_size, &overlay)
            .map_err(|e| StorageError::Corrupt(format!("computing root: {e}")))?;
        let hash_bytes: Vec<u8> = pending.iter().flat_map(|h| h.0).collect();

        let new_state = State {
            size: new_size,
            data_len: end,
            meta_len: meta_end,
            root,
        };
        let rows: Vec<IndexRows<'_>> = fresh
            .iter()
            .enumerate()
            .map(|(i, r)| IndexRows {
                index: old.size + i as u64,
                identity: &r.identity,
                keys: &r.index_keys,
            })
            .collect();
        let record = self.shared.index.journal_record(&rows)?;
        let [data_at, meta_at, index_at, hash_at] = old.file_lengths();
        let writes: [(&str, &dyn StorageFile, &[u8], u64); 5] = [
            ("entries.dat", self.files.data.as_ref(), &data, data_at),
            ("meta.dat", self.files.meta.as_ref(), &meta, meta_at),
            ("entries.idx", self.files.index.as_ref(), &index, index_at),
            (
                "hashes.dat",
                self.files.hashes.as_ref(),
                &hash_bytes,
                hash_at,
            ),
            (
                JOURNAL_FILE,
                self.shared.index.journal_file(),
                &record.bytes,
                record.at,
            ),
        ];
        let result = (|| {
            for (name, file, bytes, at) in writes {
                if !bytes.is_empty() {
                    file.write_all_at(bytes, at)
                        .map_err(io_err(format!("write {name}")))?;
                }
            }
            for (name, file, bytes, _) in writes {
                if !bytes.is_empty() {
                    file.sync_data().map_err(io_err(format!("fsync {name}")))?;
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            // Nothing is committed yet: cut the partial writes off (best effort; reopening
            // would do the same).
            for (name, file, _, at) in writes {
                if let Err(te) = file.set_len(at) {
                    tracing::error!(file = name, error = %te, "could not truncate after failed write");
                }
            }
            return Err(e);
        }
        // Once the index commit may have reached the disk the batch may be committed; never
        // truncate after this point.
        self.shared.index.commit(&new_state, &rows, &record)?;
        self.shared.recent_hashes.extend(base, &pending);
        self.state = new_state;
        Ok(TreeHead {
            size: new_size,
            root,
        })
    }
}
