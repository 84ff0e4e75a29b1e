//! The transparency-log engine's pure half: RFC 6962 / RFC 9162 Merkle tree math, C2SP signed
//! notes and checkpoints, and C2SP tlog-tiles paths and entry bundles.
//!
//! This is a protocol-layer crate: no tokio, no HTTP, no file or database I/O. Storage plugs in
//! through the [`merkle::HashReader`] trait, which reads hashes by their "stored hash index"
//! (the layout of Go's `golang.org/x/mod/sumdb/tlog`, see [`merkle::stored_hash_index`]).
//! The durable log built on top of it lives in `sigstack-tlog-storage`; Rekor (v1 and v2) and the
//! RFC 6962 CT log are built on both.
//!
//! Modules:
//! - [`merkle`]: leaf and node hashes, tree heads, inclusion and consistency proofs and their
//!   verification (RFC 9162 §2.1.3.2 and §2.1.4.2).
//! - [`note`]: c2sp.org/signed-note signing, parsing and verification, including the Rekor v1
//!   key-ID rule (SHA-256 of the SPKI for every key type).
//! - [`checkpoint`]: c2sp.org/tlog-checkpoint bodies, signed and opened as notes.
//! - [`tiles`]: c2sp.org/tlog-tiles paths, hash tiles and entry bundles.
//! - [`set`]: the payload of Rekor v1 signed entry timestamps.

pub mod checkpoint;
mod error;
pub mod json;
pub mod merkle;
pub mod note;
pub mod set;
pub mod tiles;

pub use checkpoint::{Checkpoint, open_checkpoint, sign_checkpoint};
pub use error::TlogError;
pub use merkle::{Hash, HashReader};
pub use note::{KeyIdRule, Note, NoteSignature, NoteSigner, NoteVerifier, VerifiedNote};
pub use tiles::{TileKind, TilePath};

/// Shorthand for results in this crate.
pub type Result<T, E = TlogError> = std::result::Result<T, E>;
