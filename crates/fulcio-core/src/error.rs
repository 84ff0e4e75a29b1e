//! The one error type of this crate.

/// Everything that can go wrong in Fulcio's certificate logic.
///
/// The variants fall into four groups, which a service maps to HTTP statuses:
/// configuration (operator mistakes, found at startup), identity (the verified token does not
/// carry what the issuer type needs: 400), key and proof of possession (400), and certificate
/// assembly (internal: 500).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FulcioCoreError {
    /// The configuration file is neither valid JSON nor valid YAML of the expected shape.
    #[error("config file: {0}")]
    ConfigSyntax(String),
    /// An issuer entry of the configuration is inconsistent or unsupported.
    #[error("config: issuer {issuer:?}: {reason}")]
    InvalidIssuer {
        /// The issuer URL (or meta-issuer pattern) of the entry.
        issuer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `ci-issuer-metadata` entry is inconsistent (unknown extension name, bad template).
    #[error("config: ci-issuer-metadata {provider:?}: {reason}")]
    InvalidCiMetadata {
        /// The ci-provider name.
        provider: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A claim template does not parse.
    #[error("template {template:?}: {reason}")]
    TemplateSyntax {
        /// The template text.
        template: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A template refers to a key present in neither the claims nor the defaults.
    #[error("claim {0:?} is required by the issuer's templates but is not in the token")]
    TemplateMissingKey(String),
    /// A claim the issuer type requires is absent.
    #[error("the identity token has no {0:?} claim")]
    MissingClaim(String),
    /// A claim is present but unusable.
    #[error("the identity token's {claim:?} claim is invalid: {reason}")]
    InvalidClaim {
        /// The claim name.
        claim: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// An email issuer's token does not assert a verified email address.
    #[error("the identity token's email address is not verified (email_verified is not true)")]
    EmailNotVerified,
    /// The public key, CSR or proof could not be decoded.
    #[error("malformed request: {0}")]
    MalformedRequest(String),
    /// The public key is of a type or size Sigstack does not certify (RSA for now, other curves).
    #[error("the public key supplied in the request is not supported: {0}")]
    UnsupportedKey(String),
    /// The CSR's signature algorithm does not match its key (for example P-256 with SHA-384).
    #[error("signature algorithm {algorithm} does not match the {key} key")]
    AlgorithmMismatch {
        /// The signature algorithm OID of the CSR.
        algorithm: String,
        /// The key type.
        key: String,
    },
    /// The proof of possession (signature or CSR self-signature) does not verify.
    #[error("the signature supplied in the request could not be verified")]
    BadProofOfPossession,
    /// The issuer's claim policy refuses the token (HTTP 403).
    #[error("the issuer's claim policy refuses this identity: rule {rule:?}: {reason}")]
    PolicyDenied {
        /// The rule that failed.
        rule: String,
        /// What failed.
        reason: String,
    },
    /// Building or encoding the certificate failed.
    #[error("certificate assembly: {0}")]
    Certificate(#[from] sigstack_pki::PkiError),
}

impl FulcioCoreError {
    /// Whether the error was caused by the request (token content, key, proof) rather than by
    /// the configuration or the CA.
    #[must_use]
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::TemplateMissingKey(_)
                | Self::MissingClaim(_)
                | Self::InvalidClaim { .. }
                | Self::EmailNotVerified
                | Self::MalformedRequest(_)
                | Self::UnsupportedKey(_)
                | Self::AlgorithmMismatch { .. }
                | Self::BadProofOfPossession
        )
    }
}
