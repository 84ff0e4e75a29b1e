//! Checkpoints (c2sp.org/tlog-checkpoint): the signed tree head every tlog serves.
//!
//! Body format (the text of a signed note):
//! ```text
//! <origin>\n                 non-empty; Rekor v1 uses "<hostname> - <tree ID>"
//! <tree size>\n              decimal, no leading zeros ("0" for the empty tree)
//! <base64(root hash)>\n      standard padded base64 of the 32-byte RFC 6962 root
//! [<extension line>\n]...    optional, non-empty (not recommended by the spec)
//! ```

use std::fmt::Write as _;

use crate::merkle::Hash;
use crate::note::{Note, NoteSigner, NoteVerifier, sign_note};
use crate::{Result, TlogError};

/// A checkpoint body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// RFC 6962 root hash of the tree of `size` leaves.
    pub root_hash: Hash,
    /// Extension lines, without their newlines.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    #[must_use]
    pub fn new(origin: impl Into<String>, size: u64, root_hash: Hash) -> Self {
        Self {
            origin: origin.into(),
            size,
            root_hash,
            extensions: Vec::new(),
        }
    }

    /// Check that the body can be written unambiguously: origin and extensions non-empty and
    /// single-line, no control characters.
    ///
    /// # Errors
    /// [`TlogError::MalformedCheckpoint`].
    pub fn validate(&self) -> Result<()> {
        let line_ok = |s: &str| !s.is_empty() && !s.chars().any(char::is_control);
        if !line_ok(&self.origin) {
            return Err(TlogError::MalformedCheckpoint("invalid origin line".into()));
        }
        if !self.extensions.iter().all(|e| line_ok(e)) {
            return Err(TlogError::MalformedCheckpoint(
                "invalid extension line".into(),
            ));
        }
        Ok(())
    }

    /// The body text: origin, size, base64 root and extension lines, each ending in `\n`.
    #[must_use]
    pub fn to_body(&self) -> String {
        let mut out = String::with_capacity(self.origin.len() + 80);
        let _ = write!(
            out,
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root_hash.to_base64()
        );
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }

    /// Parse an untrusted checkpoint body (the text of a note).
    ///
    /// # Errors
    /// [`TlogError::MalformedCheckpoint`].
    pub fn parse(unverified_body: &str) -> Result<Self> {
        let bad = |why: &str| TlogError::MalformedCheckpoint(why.to_owned());
        let body = unverified_body
            .strip_suffix('\n')
            .ok_or_else(|| bad("must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().ok_or_else(|| bad("missing origin"))?;
        let size = lines.next().ok_or_else(|| bad("missing tree size"))?;
        let root = lines.next().ok_or_else(|| bad("missing root hash"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(bad(
                "tree size must be a decimal number without leading zeros",
            ));
        }
        let size: u64 = size.parse().map_err(|_| bad("tree size out of range"))?;
        let root_hash =
            Hash::from_base64(root).map_err(|_| bad("root hash is not base64 of 32 bytes"))?;
        let cp = Self {
            origin: origin.to_owned(),
            size,
            root_hash,
            extensions,
        };
        cp.validate()?;
        Ok(cp)
    }
}

/// Sign a checkpoint with every signer and return the note text.
///
/// # Errors
/// [`TlogError::MalformedCheckpoint`] for an invalid body; signing errors as [`sign_note`].
pub fn sign_checkpoint(checkpoint: &Checkpoint, signers: &[&NoteSigner]) -> Result<String> {
    checkpoint.validate()?;
    sign_note(&checkpoint.to_body(), signers)
}

/// Parse an untrusted checkpoint note, verify it against `verifiers` (see [`Note::verify`]),
/// and return its body.
///
/// # Errors
/// [`TlogError::MalformedNote`], [`TlogError::InvalidSignature`], [`TlogError::UnverifiedNote`]
/// or [`TlogError::MalformedCheckpoint`].
pub fn open_checkpoint(unverified_note: &str, verifiers: &[NoteVerifier]) -> Result<Checkpoint> {
    let verified = Note::parse(unverified_note)?.verify(verifiers)?;
    Checkpoint::parse(&verified.text)
}
