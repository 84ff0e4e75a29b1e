//! Rekor v1 and Rekor v2 transparency logs for Sigstack.
//!
//! Two independent logs (own data directory, key and origin), each a thin axum service over
//! the pure crates:
//! - [`v1`]: the `sigstore/rekor` REST API (`/api/v1/log/...`): hashedrekord 0.0.1, dsse 0.0.1
//!   and intoto 0.0.2 entries, signed entry timestamps, inclusion proofs with ECDSA checkpoints,
//!   consistency proofs, lookups by index, UUID and search. Serve with [`v1_router`].
//! - [`v2`]: the `rekor-tiles` API: `POST /api/v2/log/entries` returning a protobuf-JSON
//!   `TransparencyLogEntry`, and the C2SP tlog-tiles read path (`/api/v2/checkpoint`,
//!   `/api/v2/tile/...`). Serve with [`v2_router`].
//!
//! Entry verification and canonicalization live in [`kinds`] (pure, no I/O), the SET payload
//! in [`set`], RFC 8785 output in [`jcs`]. Merkle math, notes and tiles come from
//! `sigstack-tlog`; durable storage from `sigstack-tlog-storage`.

mod api_error;
mod checkpoints;
mod error;
pub mod jcs;
pub mod kinds;
pub mod set;
pub mod v1;
pub mod v2;

pub use error::RekorError;
pub use v1::{RekorV1Config, RekorV1State, v1_router};
pub use v2::{RekorV2Config, RekorV2State, v2_router};

/// Largest request body either API accepts: 4 MiB (Rekor v2's `max-request-body-size`
/// default). Canonical entries are further limited by the storage entry size (64 KiB).
pub const MAX_REQUEST_BODY: usize = 4 << 20;

/// The statement a log's opening entry signs (both Rekor APIs): `sigstack transparency log`
/// and the log's origin, so the log's identity is its first leaf. The opening entry also keeps
/// client entries off index 0: sigstore-js writes bundles for index 0 / tree size 1 without the
/// zero-valued `logIndex` and `hashes` fields (proto3 JSON omits defaults), and sigstore-python's
/// strict bundle parser rejects those bundles.
pub(crate) fn opening_statement(origin: &str) -> String {
    format!("sigstack transparency log\norigin: {origin}\n")
}
