//! `sigstack_verify::verify` on untrusted bundle JSON, against the trusted root of the saved
//! test bundles (crates/verify/tests/data).
//!
//! Invariants:
//! - never panics, whatever the bundle;
//! - an accepted bundle has at least one verified log entry, and (the root trusting only the
//!   test CA) a certificate whose SAN is the policy identity.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sha2::Digest as _;
use sigstack_verify::{Matcher, Policy, SignerPolicy, TrustedRoot, verify};

const ROOT: &[u8] = include_bytes!("../../crates/verify/tests/data/trusted_root.json");
const ARTIFACT: &[u8] = include_bytes!("../../crates/verify/tests/data/artifact.txt");
const IDENTITY: &str = "alice@example.test";

static SETUP: LazyLock<(TrustedRoot, Policy, [u8; 32])> = LazyLock::new(|| {
    let root = TrustedRoot::from_json(ROOT).expect("test trusted root");
    let policy = Policy {
        signer: SignerPolicy::Identity {
            identity: Matcher::Exact(IDENTITY.into()),
            issuer: Matcher::regex(".*").expect("regex"),
        },
        witnesses: None,
    };
    (root, policy, sha2::Sha256::digest(ARTIFACT).into())
});

fuzz_target!(|data: &[u8]| {
    let (root, policy, digest) = &*SETUP;
    if let Ok(verified) = verify(data, digest, root, policy) {
        assert!(verified.tlog_entries >= 1);
        assert!(verified.identities.iter().any(|i| i == IDENTITY));
    }
});
