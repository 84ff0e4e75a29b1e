//! `Note::parse` / `Note::from_bytes` and `NoteVerifier::from_vkey` on untrusted input
//! (c2sp.org/signed-note).
//!
//! Invariants:
//! - never panics;
//! - an accepted note has 1..=MAX_SIGNATURES signatures, text ending in a newline, and
//!   `to_note_string()` reproduces the input exactly (the parse is strict);
//! - `verify` against known keys (the Go x/mod test vkeys and fixed Ed25519 / ECDSA keys)
//!   splits the signatures into verified + unverified without losing any, every verified one
//!   is by a known key and really verifies, and an error is only returned when no known key
//!   signed or a known key's signature is invalid;
//! - the note text re-signed with a fixed key (Ed25519 and ECDSA P-256) verifies;
//! - an accepted vkey re-encodes with `to_vkey` to a vkey that parses to the same verifier, and
//!   its key ID is the C2SP key ID of its name and key.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigstack_keys::SignatureAlgorithm;
use sigstack_tlog::TlogError;
use sigstack_tlog::note::{KeyIdRule, MAX_SIGNATURES, Note, NoteSigner, NoteVerifier};

/// From /work/shared/vectors/signed-note.json (golang.org/x/mod sumdb/note tests).
const VKEYS: [&str; 3] = [
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop",
    "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
];

struct Keys {
    signers: Vec<NoteSigner>,
    verifiers: Vec<NoteVerifier>,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let signers = vec![
        NoteSigner::new(
            "fuzz.example/ed25519",
            sigstack_fuzz::signer(SignatureAlgorithm::Ed25519),
            KeyIdRule::C2sp,
        )
        .expect("signer"),
        NoteSigner::new(
            "fuzz.example/p256",
            sigstack_fuzz::signer(SignatureAlgorithm::EcdsaP256Sha256),
            KeyIdRule::RekorV1,
        )
        .expect("signer"),
    ];
    let mut verifiers: Vec<NoteVerifier> = VKEYS
        .iter()
        .map(|v| NoteVerifier::from_vkey(v).expect("vector vkey"))
        .collect();
    verifiers.extend(signers.iter().map(|s| s.verifier().expect("verifier")));
    Keys { signers, verifiers }
});

fuzz_target!(|data: &[u8]| {
    let keys = &*KEYS;
    if let Ok(note) = Note::from_bytes(data) {
        let text = std::str::from_utf8(data).expect("accepted notes are UTF-8");
        assert!(!note.signatures.is_empty() && note.signatures.len() <= MAX_SIGNATURES);
        assert!(note.text.ends_with('\n'));
        assert_eq!(
            note.to_note_string(),
            text,
            "to_note_string() must reproduce the input"
        );
        assert_eq!(Note::parse(text).expect("re-parse"), note);

        match note.verify(&keys.verifiers) {
            Ok(verified) => {
                assert_eq!(verified.text, note.text);
                assert!(!verified.verified.is_empty());
                assert_eq!(
                    verified.verified.len() + verified.unverified.len(),
                    note.signatures.len()
                );
                for sig in &verified.verified {
                    assert!(keys.verifiers.iter().any(|v| v.name() == sig.name
                        && v.key_id() == sig.key_id
                        && v.verify(note.text.as_bytes(), &sig.sig)));
                }
                for sig in &verified.unverified {
                    assert!(
                        !keys
                            .verifiers
                            .iter()
                            .any(|v| v.name() == sig.name && v.key_id() == sig.key_id)
                    );
                }
            }
            Err(TlogError::UnverifiedNote) => {
                assert!(!note.signatures.iter().any(|s| {
                    keys.verifiers
                        .iter()
                        .any(|v| v.name() == s.name && v.key_id() == s.key_id)
                }));
            }
            Err(TlogError::InvalidSignature { name, key_id }) => {
                assert!(
                    keys.verifiers
                        .iter()
                        .any(|v| v.name() == name && v.key_id() == key_id)
                );
            }
            Err(other) => panic!("unexpected verification error {other}"),
        }

        for signer in &keys.signers {
            let resigned = Note {
                text: note.text.clone(),
                signatures: vec![signer.sign(&note.text).expect("accepted text signs")],
            };
            let reparsed = Note::parse(&resigned.to_note_string()).expect("signed note parses");
            let ok = reparsed
                .verify(&keys.verifiers)
                .expect("own signature verifies");
            assert_eq!(ok.verified.len(), 1);
        }
    }

    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(verifier) = NoteVerifier::from_vkey(text)
    {
        let vkey = verifier.to_vkey().expect("parsed vkeys are Ed25519");
        assert_eq!(NoteVerifier::from_vkey(&vkey).expect("re-parse"), verifier);
        assert_eq!(
            KeyIdRule::C2sp
                .key_id(verifier.name(), verifier.public_key())
                .expect("key id"),
            verifier.key_id()
        );
    }
});
