//! C2SP signed notes (c2sp.org/signed-note), as used by checkpoints.
//!
//! Wire format:
//! ```text
//! <text, UTF-8, ending in "\n", no control characters other than "\n">
//! <empty line>
//! — <key name> <base64(key ID [4 bytes, big endian] || signature)>\n     (one or more)
//! ```
//! The signature lines start with U+2014 EM DASH and a space. The text is separated from the
//! signatures by the *last* empty line. Key names are non-empty and contain no whitespace and
//! no `+`. A verifier ignores signatures by keys it does not know, rejects the note if a known
//! key's signature is invalid, and rejects it unless at least one known key signed it.
//!
//! Key IDs ([`KeyIdRule`]):
//! - C2SP Ed25519 (signature type 0x01): `SHA-256(name || 0x0A || 0x01 || 32-byte key)[:4]`.
//! - C2SP ECDSA (type 0x02): `SHA-256(DER SubjectPublicKeyInfo)[:4]`.
//! - Rekor v1: `SHA-256(DER SubjectPublicKeyInfo)[:4]` for every key type.
//!
//! Ed25519 signs the note text itself. ECDSA signatures are DER `Ecdsa-Sig-Value` over the
//! text hashed with the key's hash (SHA-256 for P-256), as Rekor produces them.
//!
//! Verifier keys ("vkeys") for Ed25519 are written `<name>+<hex key ID>+<base64(0x01 || key)>`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::Encode as _;
use sigstack_keys::{PublicKey, Signer, sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned, der::asn1::BitString};

use crate::error::hex_id;
use crate::{Result, TlogError};

/// The signature-line prefix: U+2014 EM DASH and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// Most signatures [`Note::parse`] accepts (the spec requires at least 16; Go accepts 100).
pub const MAX_SIGNATURES: usize = 100;
/// Largest note [`Note::parse`] accepts, in bytes.
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// C2SP signature type byte for Ed25519.
const SIG_TYPE_ED25519: u8 = 0x01;

/// How a note key ID is derived from a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyIdRule {
    /// c2sp.org/signed-note: Ed25519 keys hash `name || 0x0A || 0x01 || key`, ECDSA keys hash
    /// their DER SPKI. Used by Rekor v2 and tlog-tiles logs.
    C2sp,
    /// Rekor v1: SHA-256 of the DER SPKI for every key type (the log ID's first 4 bytes).
    RekorV1,
}

impl KeyIdRule {
    /// The full 32-byte key hash whose first 4 bytes are the key ID. For Rekor v1 and for
    /// ECDSA keys this is the log ID (`SHA-256(SPKI)`); for C2SP Ed25519 keys it is the Rekor
    /// v2 `checkpointKeyId` / `logId` in trusted roots.
    ///
    /// # Errors
    /// [`TlogError::InvalidKeyName`] for an invalid key name.
    pub fn key_hash(self, name: &str, key: &PublicKey) -> Result<[u8; 32]> {
        check_key_name(name)?;
        Ok(match (self, key.ed25519_bytes()) {
            (Self::C2sp, Some(raw)) => c2sp_key_hash(name, &raw),
            _ => sha256(key.spki_der()),
        })
    }

    /// The 4-byte key ID: the first 4 bytes of [`KeyIdRule::key_hash`].
    ///
    /// # Errors
    /// [`TlogError::InvalidKeyName`] for an invalid key name.
    pub fn key_id(self, name: &str, key: &PublicKey) -> Result<[u8; 4]> {
        Ok(truncate(&self.key_hash(name, key)?))
    }
}

/// The full C2SP hash of an Ed25519 note key: `SHA-256(name || 0x0A || 0x01 || raw_pubkey)`.
/// Its first 4 bytes are the key ID; the whole hash is Rekor v2's log ID in trusted roots.
#[must_use]
pub fn c2sp_key_hash(name: &str, raw_pubkey: &[u8; 32]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(name.len() + 34);
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'\n');
    buf.push(SIG_TYPE_ED25519);
    buf.extend_from_slice(raw_pubkey);
    sha256(&buf)
}

fn truncate(hash: &[u8; 32]) -> [u8; 4] {
    [hash[0], hash[1], hash[2], hash[3]]
}

/// Check a key name: non-empty, no whitespace, no `+`.
///
/// # Errors
/// [`TlogError::InvalidKeyName`].
pub fn check_key_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('+') || name.chars().any(|c| c.is_whitespace()) {
        return Err(TlogError::InvalidKeyName(name.to_owned()));
    }
    Ok(())
}

fn check_text(text: &str) -> std::result::Result<(), &'static str> {
    if !text.ends_with('\n') {
        return Err("text must end with a newline");
    }
    if text.chars().any(|c| c != '\n' && c.is_control()) {
        return Err("text contains control characters");
    }
    Ok(())
}

/// A key that signs notes: a [`Signer`] with its key name and key ID.
#[derive(Clone, Debug)]
pub struct NoteSigner {
    name: String,
    signer: Arc<dyn Signer>,
    key_hash: [u8; 32],
}

impl NoteSigner {
    /// Wrap `signer` under key `name`, deriving the key ID with `rule`.
    ///
    /// # Errors
    /// [`TlogError::InvalidKeyName`], or [`TlogError::Key`] if the public key is unusable.
    pub fn new(name: impl Into<String>, signer: Arc<dyn Signer>, rule: KeyIdRule) -> Result<Self> {
        let name = name.into();
        let key = signer.public_key()?;
        let key_hash = rule.key_hash(&name, &key)?;
        Ok(Self {
            name,
            signer,
            key_hash,
        })
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key ID written in signature lines.
    #[must_use]
    pub fn key_id(&self) -> [u8; 4] {
        truncate(&self.key_hash)
    }

    /// The full 32-byte key hash (see [`KeyIdRule::key_hash`]).
    #[must_use]
    pub fn key_hash(&self) -> [u8; 32] {
        self.key_hash
    }

    /// The underlying signer.
    #[must_use]
    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    /// A verifier for this signer's signatures.
    ///
    /// # Errors
    /// [`TlogError::Key`] if the public key cannot be parsed.
    pub fn verifier(&self) -> Result<NoteVerifier> {
        NoteVerifier::new(self.name.clone(), self.key_id(), self.signer.public_key()?)
    }

    /// Sign `text` (which must already be valid note text).
    ///
    /// # Errors
    /// [`TlogError::MalformedNote`] for invalid text, [`TlogError::Key`] if signing fails.
    pub fn sign(&self, text: &str) -> Result<NoteSignature> {
        check_text(text).map_err(|e| TlogError::MalformedNote(e.into()))?;
        let sig = self.signer.sign(text.as_bytes())?;
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id(),
            sig,
        })
    }
}

/// One signature line of a note. Nothing about it is verified until [`Note::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID (first 4 bytes of the decoded signature field).
    pub key_id: [u8; 4],
    /// Signature bytes (the rest of the decoded field).
    pub sig: Vec<u8>,
}

impl NoteSignature {
    /// The line as it appears in a note, including the trailing newline.
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut payload = Vec::with_capacity(4 + self.sig.len());
        payload.extend_from_slice(&self.key_id);
        payload.extend_from_slice(&self.sig);
        format!(
            "{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(payload)
        )
    }
}

/// Sign `text` with every signer and return the complete note: `text`, an empty line, and one
/// signature line per signer, in order.
///
/// # Errors
/// [`TlogError::MalformedNote`] if `text` does not end in a newline or has control characters,
/// or if no signer is given; [`TlogError::Key`] if a signer fails.
pub fn sign_note(text: &str, signers: &[&NoteSigner]) -> Result<String> {
    if signers.is_empty() {
        return Err(TlogError::MalformedNote(
            "at least one signer is required".into(),
        ));
    }
    check_text(text).map_err(|e| TlogError::MalformedNote(e.into()))?;
    let mut out = String::with_capacity(text.len() + 1 + 128 * signers.len());
    out.push_str(text);
    out.push('\n');
    for s in signers {
        out.push_str(&s.sign(text)?.to_line());
    }
    Ok(out)
}

/// A parsed, not yet verified, signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in a newline.
    pub text: String,
    /// Signature lines in order.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parse untrusted note bytes; they must be UTF-8.
    ///
    /// # Errors
    /// [`TlogError::MalformedNote`].
    pub fn from_bytes(unverified: &[u8]) -> Result<Self> {
        let s = std::str::from_utf8(unverified)
            .map_err(|_| TlogError::MalformedNote("not UTF-8".into()))?;
        Self::parse(s)
    }

    /// Parse an untrusted note strictly: size and signature-count limits, no control
    /// characters, text ends in a newline, an empty line, then only well-formed signature lines.
    ///
    /// # Errors
    /// [`TlogError::MalformedNote`].
    pub fn parse(unverified: &str) -> Result<Self> {
        let bad = |why: &str| TlogError::MalformedNote(why.to_owned());
        if unverified.len() > MAX_NOTE_SIZE {
            return Err(bad("note too large"));
        }
        check_text(unverified).map_err(bad)?;
        let split = unverified
            .rfind("\n\n")
            .ok_or_else(|| bad("no signature block"))?;
        let text = &unverified[..=split];
        let block = &unverified[split + 2..];
        if block.is_empty() {
            return Err(bad("no signatures"));
        }
        let mut signatures = Vec::new();
        // `block` ends in "\n" and has no empty lines, so every piece is a whole line.
        for line in block.split_terminator('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(bad("too many signatures"));
            }
            let rest = line
                .strip_prefix(SIGNATURE_PREFIX)
                .ok_or_else(|| bad("not a signature line"))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| bad("signature line without key name"))?;
            check_key_name(name).map_err(|_| bad("invalid key name"))?;
            let payload = STANDARD
                .decode(b64)
                .map_err(|_| bad("signature is not base64"))?;
            if payload.len() < 5 {
                return Err(bad("signature too short"));
            }
            let (id, sig) = payload.split_at(4);
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: [id[0], id[1], id[2], id[3]],
                sig: sig.to_vec(),
            });
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Check the signatures against `verifiers`: signatures by unknown keys (name and key ID)
    /// are set aside, any invalid signature by a known key rejects the note, and at least one
    /// known key must have signed.
    ///
    /// # Errors
    /// [`TlogError::InvalidSignature`] or [`TlogError::UnverifiedNote`].
    pub fn verify(&self, verifiers: &[NoteVerifier]) -> Result<VerifiedNote> {
        let mut verified = Vec::new();
        let mut unverified = Vec::new();
        for sig in &self.signatures {
            let mut known = verifiers
                .iter()
                .filter(|v| v.name == sig.name && v.key_id == sig.key_id)
                .peekable();
            if known.peek().is_none() {
                unverified.push(sig.clone());
                continue;
            }
            if known.any(|v| v.verify(self.text.as_bytes(), &sig.sig)) {
                verified.push(sig.clone());
            } else {
                return Err(TlogError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
        }
        if verified.is_empty() {
            return Err(TlogError::UnverifiedNote);
        }
        Ok(VerifiedNote {
            text: self.text.clone(),
            verified,
            unverified,
        })
    }

    /// The note in wire form.
    #[must_use]
    pub fn to_note_string(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.to_line());
        }
        out
    }
}

/// Parse and verify an untrusted note in one step.
///
/// # Errors
/// As [`Note::parse`] and [`Note::verify`].
pub fn open_note(unverified: &str, verifiers: &[NoteVerifier]) -> Result<VerifiedNote> {
    Note::parse(unverified)?.verify(verifiers)
}

/// A note with at least one valid signature by a known key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedNote {
    /// The signed text.
    pub text: String,
    /// Signatures that verified.
    pub verified: Vec<NoteSignature>,
    /// Signatures by keys the verifier does not know (not checked).
    pub unverified: Vec<NoteSignature>,
}

/// A public key that verifies note signatures under a key name and key ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: [u8; 4],
    key: PublicKey,
}

impl NoteVerifier {
    /// A verifier with an explicit key ID.
    ///
    /// # Errors
    /// [`TlogError::InvalidKeyName`].
    pub fn new(name: impl Into<String>, key_id: [u8; 4], key: PublicKey) -> Result<Self> {
        let name = name.into();
        check_key_name(&name)?;
        Ok(Self { name, key_id, key })
    }

    /// A verifier whose key ID is derived from the key with `rule`.
    ///
    /// # Errors
    /// [`TlogError::InvalidKeyName`].
    pub fn for_key(name: impl Into<String>, key: PublicKey, rule: KeyIdRule) -> Result<Self> {
        let name = name.into();
        let key_id = rule.key_id(&name, &key)?;
        Ok(Self { name, key_id, key })
    }

    /// Parse an Ed25519 verifier key `<name>+<8 hex key ID>+<base64(0x01 || 32-byte key)>`,
    /// checking that the key ID matches the C2SP rule.
    ///
    /// # Errors
    /// [`TlogError::MalformedVerifierKey`] or [`TlogError::UnsupportedKey`].
    pub fn from_vkey(unverified: &str) -> Result<Self> {
        let bad = |why: &str| TlogError::MalformedVerifierKey(why.to_owned());
        // Names and key IDs never contain '+'; the base64 key may.
        let mut parts = unverified.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected name+keyid+key"));
        };
        check_key_name(name).map_err(|_| bad("invalid key name"))?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("key ID must be 8 hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| bad("key ID is not hex"))?;
        let key = STANDARD.decode(b64).map_err(|_| bad("key is not base64"))?;
        let Some((&alg, raw)) = key.split_first() else {
            return Err(bad("empty key"));
        };
        if alg != SIG_TYPE_ED25519 {
            return Err(TlogError::UnsupportedKey(format!(
                "signature type 0x{alg:02x}"
            )));
        }
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| bad("Ed25519 key must be 32 bytes"))?;
        let key_id = truncate(&c2sp_key_hash(name, &raw));
        if key_id != id.to_be_bytes() {
            return Err(bad("key ID does not match key"));
        }
        let key = PublicKey::from_spki_der(&ed25519_spki(&raw)?)
            .map_err(|e| TlogError::MalformedVerifierKey(e.to_string()))?;
        Ok(Self {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// The verifier key string of an Ed25519 key (see [`NoteVerifier::from_vkey`]).
    ///
    /// # Errors
    /// [`TlogError::UnsupportedKey`] for non-Ed25519 keys.
    pub fn to_vkey(&self) -> Result<String> {
        let raw = self.key.ed25519_bytes().ok_or_else(|| {
            TlogError::UnsupportedKey("vkeys are only defined for Ed25519".into())
        })?;
        let mut payload = vec![SIG_TYPE_ED25519];
        payload.extend_from_slice(&raw);
        Ok(format!(
            "{}+{}+{}",
            self.name,
            hex_id(&self.key_id),
            STANDARD.encode(payload)
        ))
    }

    /// Key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    #[must_use]
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// Whether `sig` is a valid signature of `text` by this key.
    #[must_use]
    pub fn verify(&self, text: &[u8], sig: &[u8]) -> bool {
        self.key.verify(text, sig).is_ok()
    }
}

/// DER SubjectPublicKeyInfo for a raw Ed25519 key (RFC 8410).
fn ed25519_spki(raw: &[u8; 32]) -> Result<Vec<u8>> {
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: sigstack_keys::ID_ED25519,
            parameters: None,
        },
        subject_public_key: BitString::from_bytes(raw)
            .map_err(|e| TlogError::MalformedVerifierKey(e.to_string()))?,
    };
    spki.to_der()
        .map_err(|e| TlogError::MalformedVerifierKey(e.to_string()))
}
