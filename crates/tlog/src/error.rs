use sigstack_keys::KeyError;

/// Everything that can go wrong in Merkle math, notes, checkpoints and tiles.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlogError {
    /// A hash was not exactly 32 bytes, or not valid hex/base64.
    #[error("malformed hash: {0}")]
    MalformedHash(String),
    /// A leaf index is not inside the tree (`index >= size`).
    #[error("index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size it was checked against.
        size: u64,
    },
    /// Tree sizes that cannot be proved against each other (`old > new`, or `old == 0`).
    #[error("invalid tree sizes: old {old}, new {new}")]
    InvalidTreeSizes {
        /// The smaller (older) tree size.
        old: u64,
        /// The larger (newer) tree size.
        new: u64,
    },
    /// A stored hash index that the tree does not (yet) contain, or arithmetic overflow.
    #[error("invalid stored hash index: {0}")]
    InvalidStoredHashIndex(String),
    /// An inclusion or consistency proof does not verify.
    #[error("proof verification failed: {0}")]
    InvalidProof(&'static str),
    /// A [`crate::HashReader`] failed to produce hashes (storage error, short read).
    #[error("reading hashes failed: {0}")]
    HashRead(String),
    /// A signed note is not well formed (c2sp.org/signed-note).
    #[error("malformed note: {0}")]
    MalformedNote(String),
    /// A note signature by a known key did not verify.
    #[error("invalid signature for key {name}+{}", hex_id(.key_id))]
    InvalidSignature {
        /// Key name from the signature line.
        name: String,
        /// Key ID from the signature line.
        key_id: [u8; 4],
    },
    /// No signature on the note is by a key the verifier knows.
    #[error("note has no signature from a known key")]
    UnverifiedNote,
    /// A key name is empty, contains whitespace or `+`.
    #[error("invalid key name {0:?}")]
    InvalidKeyName(String),
    /// A verifier key string (`name+hex+base64`) is malformed or inconsistent.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(String),
    /// The key cannot be used with the requested key-ID rule or note format.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// Signing or parsing a key failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A checkpoint body is not well formed (c2sp.org/tlog-checkpoint).
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// A tile path is not canonical c2sp.org/tlog-tiles syntax.
    #[error("malformed tile path {path:?}: {reason}")]
    MalformedTilePath {
        /// The rejected path.
        path: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A tile that cannot exist (level too high, width 0 or above 256, beyond the tree).
    #[error("invalid tile: {0}")]
    InvalidTile(String),
    /// An entry does not fit in an entry bundle (more than 65535 bytes).
    #[error("entry of {0} bytes exceeds the 65535-byte entry bundle limit")]
    EntryTooLarge(usize),
    /// An entry bundle is truncated or has trailing bytes.
    #[error("malformed entry bundle: {0}")]
    MalformedEntryBundle(&'static str),
    /// JSON encoding failed (not expected for the in-memory values this crate encodes).
    #[error("JSON encoding failed: {0}")]
    Encoding(String),
}

pub(crate) fn hex_id(id: &[u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}
