//! Malformed TBSCertificates found by fuzzing (see fuzz/README.md).
#![allow(clippy::unwrap_used)]

use sigstack_ct::{CtError, POISON_OID, tbs_without_extension};

#[test]
fn empty_extensions_list_is_refused_not_dropped() {
    // `[3] { SEQUENCE {} }`: RFC 5280 requires at least one extension.
    let tbs = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/tbs-with-empty-extensions.der"
    ))
    .unwrap();
    assert!(matches!(
        tbs_without_extension(&tbs, POISON_OID),
        Err(CtError::EmptyExtensions)
    ));
}
