//! The error type of this crate.

use der::asn1::ObjectIdentifier;
use der::flagset::FlagSet;

use crate::{HashAlgorithm, PkiFailureInfo};

/// Errors from parsing requests, issuing tokens and inspecting responses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TspError {
    /// The request is not a DER `TimeStampReq`.
    #[error("malformed time-stamp request: {0}")]
    MalformedRequest(der::Error),
    /// The request version is not 1.
    #[error("unsupported time-stamp request version {0}")]
    UnsupportedVersion(u8),
    /// The message imprint uses a hash other than SHA-256, SHA-384 or SHA-512.
    #[error("unsupported hash algorithm {0}")]
    UnsupportedHashAlgorithm(ObjectIdentifier),
    /// The hash algorithm identifier carries parameters other than NULL.
    #[error("hash algorithm {0} must have NULL or absent parameters")]
    HashParameters(ObjectIdentifier),
    /// The imprint length does not match its hash algorithm.
    #[error("{algorithm} digest must be {expected} bytes, got {got}")]
    ImprintLength {
        /// The declared hash algorithm.
        algorithm: HashAlgorithm,
        /// Its digest length.
        expected: usize,
        /// The length that was sent.
        got: usize,
    },
    /// The request carries extensions, none of which this TSA supports.
    #[error("time-stamp request extensions are not supported")]
    UnacceptedExtension,
    /// The signer's public key is not the one certified by the first certificate of the chain.
    #[error("the signing key does not match the TSA certificate")]
    KeyMismatch,
    /// The TSA certificate chain is empty or its leaf is not a time-stamping certificate.
    #[error("invalid TSA certificate: {0}")]
    Certificate(String),
    /// A configured accuracy is outside what RFC 3161 allows.
    #[error("invalid accuracy: {0}")]
    InvalidAccuracy(String),
    /// The signer's key type has no CMS profile here.
    #[error("unsupported TSA key: {0}")]
    UnsupportedKey(String),
    /// A time is outside what `GeneralizedTime` can hold.
    #[error("time out of range")]
    Time,
    /// Encoding a response failed.
    #[error("encoding failed: {0}")]
    Encoding(der::Error),
    /// The signer failed.
    #[error("signing failed: {0}")]
    Signing(sigstack_keys::KeyError),
    /// A response or token does not have the expected structure.
    #[error("invalid time-stamp token: {0}")]
    InvalidToken(String),
    /// A token signature does not verify.
    #[error("time-stamp token signature: {0}")]
    BadSignature(sigstack_keys::KeyError),
}

impl TspError {
    /// Whether the request was at fault (as opposed to the TSA).
    #[must_use]
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::MalformedRequest(_)
                | Self::UnsupportedVersion(_)
                | Self::UnsupportedHashAlgorithm(_)
                | Self::HashParameters(_)
                | Self::ImprintLength { .. }
                | Self::UnacceptedExtension
        )
    }

    /// The `PKIFailureInfo` bit a rejection response carries for this error.
    #[must_use]
    pub fn failure_info(&self) -> FlagSet<PkiFailureInfo> {
        match self {
            Self::UnsupportedHashAlgorithm(_) | Self::HashParameters(_) => {
                PkiFailureInfo::BadAlg.into()
            }
            Self::MalformedRequest(_) | Self::ImprintLength { .. } => {
                PkiFailureInfo::BadDataFormat.into()
            }
            Self::UnsupportedVersion(_) => PkiFailureInfo::BadRequest.into(),
            Self::UnacceptedExtension => PkiFailureInfo::UnacceptedExtension.into(),
            Self::Time => PkiFailureInfo::TimeNotAvailable.into(),
            _ => PkiFailureInfo::SystemFailure.into(),
        }
    }
}
