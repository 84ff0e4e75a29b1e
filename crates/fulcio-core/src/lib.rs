//! Fulcio's certificate logic, free of I/O: the issuer configuration file, claim templates,
//! the principal derived from verified OIDC claims, proof of possession of the client key, and
//! the leaf certificate profile (precertificate and final certificate).
//!
//! This is a protocol-layer crate: **no tokio, no axum, no reqwest, no database**. Token
//! signature verification (which needs discovery and JWKS over the network) lives in the
//! `sigstack-fulcio` service; this crate starts from claims the service has already verified
//! ([`VerifiedClaims`]) and never reads the clock itself (every time is passed in).
//!
//! The flow the service drives:
//!
//! 1. [`IssuerConfig::issuer_for`] picks the configured [`Issuer`] for the token's `iss`.
//! 2. [`Principal::from_claims`] turns the verified claims into the challenge name, the single
//!    SAN and the ordered `1.3.6.1.4.1.57264.1.*` extensions, after the issuer's claim policy
//!    (if any) has accepted them; operator-defined custom extensions follow.
//! 3. [`ProvenKey::from_public_key_request`] or [`ProvenKey::from_csr`] checks that the client
//!    holds the key it wants certified.
//! 4. [`CertificateProfile::new`] fixes serial, validity and extensions once; its
//!    [`precertificate`](CertificateProfile::precertificate) and
//!    [`final_certificate`](CertificateProfile::final_certificate) templates then differ only by
//!    their last extension (CT poison versus SCT list), as RFC 6962 requires.

mod config;
mod error;
pub mod oids;
mod policy;
mod pop;
mod principal;
mod profile;
mod template;

pub use config::{
    CiIssuerMetadataFile, CiProviderMetadata, ClaimPath, FulcioConfigFile, Issuer, IssuerConfig,
    IssuerEntryFile, IssuerKind, KeySource, MetaIssuerPattern, builtin_ci_issuer_metadata,
};
pub use error::FulcioCoreError;
pub use policy::{
    ClaimPolicy, ClaimPolicyFile, ClaimRuleFile, CustomExtension, CustomExtensionFile,
    PolicyDenial, glob_matches,
};
pub use pop::ProvenKey;
pub use principal::{ClaimExtension, ExtensionEncoding, Principal, SubjectAltName, VerifiedClaims};
pub use profile::{CertificateProfile, LEAF_VALIDITY};
pub use template::{Template, TemplateData};
