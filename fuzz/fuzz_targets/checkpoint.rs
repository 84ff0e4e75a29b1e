//! `Checkpoint::parse` on untrusted checkpoint bodies (c2sp.org/tlog-checkpoint).
//!
//! Invariants:
//! - never panics;
//! - the parse is strict, so an accepted body is the only encoding of its checkpoint:
//!   `to_body()` reproduces the input byte for byte and re-parses to the same value;
//! - an accepted checkpoint validates, and signing it as a note (Ed25519, C2SP key ID) and
//!   opening that note with the matching verifier returns the same checkpoint.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigstack_keys::SignatureAlgorithm;
use sigstack_tlog::note::{KeyIdRule, MAX_NOTE_SIZE, NoteSigner, NoteVerifier};
use sigstack_tlog::{Checkpoint, open_checkpoint, sign_checkpoint};

static SIGNER: LazyLock<(NoteSigner, NoteVerifier)> = LazyLock::new(|| {
    let signer = NoteSigner::new(
        "fuzz.example/log",
        sigstack_fuzz::signer(SignatureAlgorithm::Ed25519),
        KeyIdRule::C2sp,
    )
    .expect("note signer");
    let verifier = signer.verifier().expect("verifier");
    (signer, verifier)
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(checkpoint) = Checkpoint::parse(text) else {
        return;
    };
    assert_eq!(
        checkpoint.to_body(),
        text,
        "to_body() must reproduce the accepted body"
    );
    assert_eq!(
        Checkpoint::parse(&checkpoint.to_body()).expect("re-parse"),
        checkpoint
    );
    checkpoint
        .validate()
        .expect("an accepted checkpoint validates");

    // Leave room for the signature line under the note size limit.
    if text.len() + 1024 < MAX_NOTE_SIZE {
        let (signer, verifier) = &*SIGNER;
        let note = sign_checkpoint(&checkpoint, &[signer]).expect("an accepted checkpoint signs");
        let opened = open_checkpoint(&note, std::slice::from_ref(verifier))
            .expect("a freshly signed checkpoint opens");
        assert_eq!(opened, checkpoint);
    }
});
