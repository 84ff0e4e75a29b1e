//! The error type: one variant per check, so a failure always names the check that failed.

/// Why a bundle did not verify. Each variant is one check of the verification; [`Self::check`]
/// gives its stable name (used by `sigstack verify` and in tests).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The bundle is not well-formed JSON of the expected shape.
    #[error("bundle: {0}")]
    MalformedBundle(String),
    /// The bundle media type is not v0.1, v0.2 or v0.3.
    #[error("bundle media type {0:?} is not supported")]
    UnsupportedMediaType(String),
    /// The trusted root is malformed or lacks what the bundle needs.
    #[error("trusted root: {0}")]
    MalformedTrustedRoot(String),
    /// The bundle's verification material does not fit the policy (a key bundle verified
    /// against an identity, a certificate bundle against a key, or a key that differs).
    #[error("verification material: {0}")]
    VerificationMaterial(String),
    /// The artifact (or the in-toto subject) does not match what was signed.
    #[error("artifact: {0}")]
    Artifact(String),
    /// The signature over the artifact or DSSE envelope does not verify.
    #[error("signature: {0}")]
    Signature(String),
    /// The signing certificate does not chain to a trusted certificate authority.
    #[error("certificate chain: {0}")]
    CertificateChain(String),
    /// A certificate (leaf or CA) or authority was not valid at a verified signing time.
    #[error("certificate validity: {0}")]
    CertificateValidity(String),
    /// The leaf lacks the code-signing profile (key usage digitalSignature, EKU codeSigning).
    #[error("certificate profile: {0}")]
    CertificateProfile(String),
    /// No embedded SCT verifies against a trusted CT log.
    #[error("SCT: {0}")]
    Sct(String),
    /// The certificate identity (SAN) does not match the policy.
    #[error("identity: expected {expected}, certificate has {found:?}")]
    Identity {
        /// What the policy asked for.
        expected: String,
        /// The SAN values found.
        found: Vec<String>,
    },
    /// The OIDC issuer in the certificate does not match the policy.
    #[error("OIDC issuer: expected {expected}, certificate has {found:?}")]
    Issuer {
        /// What the policy asked for.
        expected: String,
        /// The issuer found (extension 1.3.6.1.4.1.57264.1.8, else 1.1).
        found: Option<String>,
    },
    /// A transparency-log entry names a log that is not in the trusted root.
    #[error("transparency log: {0}")]
    UnknownLog(String),
    /// The log entry body does not describe this bundle's signature, key and artifact.
    #[error("log entry body: {0}")]
    LogEntryBody(String),
    /// The Merkle inclusion proof does not verify.
    #[error("inclusion proof: {0}")]
    InclusionProof(String),
    /// The checkpoint is malformed, unsigned by the log, or does not match the proof.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// Too few trusted witnesses cosigned the checkpoint.
    #[error("witness cosignatures: {got} of the required {need} verified")]
    WitnessQuorum {
        /// Required cosignatures.
        need: usize,
        /// Cosignatures that verified.
        got: usize,
    },
    /// The signed entry timestamp (Rekor v1 inclusion promise) does not verify.
    #[error("signed entry timestamp: {0}")]
    SignedEntryTimestamp(String),
    /// An RFC 3161 timestamp does not verify against a trusted timestamp authority.
    #[error("RFC 3161 timestamp: {0}")]
    Timestamp(String),
    /// The log key was not valid at the entry's time.
    #[error("transparency log key validity: {0}")]
    LogKeyValidity(String),
    /// Neither a verified SET nor a verified RFC 3161 timestamp gives a signing time.
    #[error("no verified signing time (needs an RFC 3161 timestamp or a Rekor v1 SET)")]
    NoTimeSource,
    /// A policy given by the caller is invalid (bad regex, bad witness key).
    #[error("policy: {0}")]
    Policy(String),
}

impl VerifyError {
    /// A short, stable name of the check that failed.
    #[must_use]
    pub fn check(&self) -> &'static str {
        match self {
            Self::MalformedBundle(_) => "bundle-format",
            Self::UnsupportedMediaType(_) => "bundle-media-type",
            Self::MalformedTrustedRoot(_) => "trusted-root",
            Self::VerificationMaterial(_) => "verification-material",
            Self::Artifact(_) => "artifact",
            Self::Signature(_) => "signature",
            Self::CertificateChain(_) => "certificate-chain",
            Self::CertificateValidity(_) => "certificate-validity",
            Self::CertificateProfile(_) => "certificate-profile",
            Self::Sct(_) => "sct",
            Self::Identity { .. } => "identity",
            Self::Issuer { .. } => "oidc-issuer",
            Self::UnknownLog(_) => "tlog-known",
            Self::LogEntryBody(_) => "tlog-body",
            Self::InclusionProof(_) => "inclusion-proof",
            Self::Checkpoint(_) => "checkpoint",
            Self::WitnessQuorum { .. } => "witness-cosignatures",
            Self::SignedEntryTimestamp(_) => "signed-entry-timestamp",
            Self::Timestamp(_) => "rfc3161-timestamp",
            Self::LogKeyValidity(_) => "tlog-key-validity",
            Self::NoTimeSource => "signing-time",
            Self::Policy(_) => "policy",
        }
    }
}
