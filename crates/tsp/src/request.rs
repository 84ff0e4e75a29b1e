//! Checking untrusted time-stamp requests.

use std::fmt;

use der::asn1::{Int, ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;

use crate::{ID_SHA256, ID_SHA384, ID_SHA512, MessageImprint, TimeStampReq, TspError};

/// A hash algorithm accepted in a message imprint.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-256 (`2.16.840.1.101.3.4.2.1`).
    Sha256,
    /// SHA-384 (`2.16.840.1.101.3.4.2.2`).
    Sha384,
    /// SHA-512 (`2.16.840.1.101.3.4.2.3`).
    Sha512,
}

impl HashAlgorithm {
    /// The algorithm for `oid`, if supported.
    #[must_use]
    pub fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        match oid {
            ID_SHA256 => Some(Self::Sha256),
            ID_SHA384 => Some(Self::Sha384),
            ID_SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The algorithm named `sha256`, `sha384` or `sha512` (the sigstore JSON request form).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The algorithm's object identifier.
    #[must_use]
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha256 => ID_SHA256,
            Self::Sha384 => ID_SHA384,
            Self::Sha512 => ID_SHA512,
        }
    }

    /// The identifier without parameters, as CMS `digestAlgorithm` fields use it (RFC 5754).
    #[must_use]
    pub fn identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }

    /// Digest length in bytes.
    #[must_use]
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Hash `data`.
    #[must_use]
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        })
    }
}

impl TimeStampReq {
    /// A version-1 request for `digest`, with `NULL` hash parameters (as OpenSSL and the
    /// sigstore TSA write them), no nonce, no policy and `certReq` false.
    ///
    /// # Errors
    /// Fails only if the digest is too long for DER.
    pub fn for_digest(algorithm: HashAlgorithm, digest: &[u8]) -> Result<Self, TspError> {
        Ok(Self {
            version: 1,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: algorithm.oid(),
                    parameters: Some(Any::null()),
                },
                hashed_message: OctetString::new(digest).map_err(TspError::Encoding)?,
            },
            req_policy: None,
            nonce: None,
            cert_req: false,
            extensions: None,
        })
    }
}

/// A time-stamp request whose version, hash algorithm, imprint length and extensions were
/// checked. The only way to get one is [`VerifiedRequest::from_der`] or `TryFrom<TimeStampReq>`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct VerifiedRequest {
    algorithm: HashAlgorithm,
    message_imprint: MessageImprint,
    req_policy: Option<ObjectIdentifier>,
    nonce: Option<Int>,
    cert_req: bool,
}

impl VerifiedRequest {
    /// Parse and check an untrusted DER `TimeStampReq`.
    ///
    /// # Errors
    /// [`TspError::MalformedRequest`] for anything that is not exactly one DER `TimeStampReq`,
    /// and the errors of `TryFrom<TimeStampReq>`.
    pub fn from_der(unverified_der: &[u8]) -> Result<Self, TspError> {
        let unverified =
            TimeStampReq::from_der(unverified_der).map_err(TspError::MalformedRequest)?;
        // The decoder tolerates some BER leniencies (for example a DEFAULT value encoded
        // explicitly); DER has exactly one encoding, so anything that does not re-encode to the
        // same bytes is refused.
        if unverified.to_der().map_err(TspError::MalformedRequest)? != unverified_der {
            return Err(TspError::MalformedRequest(der::Error::from(
                der::ErrorKind::Noncanonical {
                    tag: der::Tag::Sequence,
                },
            )));
        }
        Self::try_from(unverified)
    }

    /// The imprint's hash algorithm.
    #[must_use]
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The message imprint, exactly as requested.
    #[must_use]
    pub fn message_imprint(&self) -> &MessageImprint {
        &self.message_imprint
    }

    /// The requested policy.
    #[must_use]
    pub fn req_policy(&self) -> Option<ObjectIdentifier> {
        self.req_policy
    }

    /// The nonce to echo.
    #[must_use]
    pub fn nonce(&self) -> Option<&Int> {
        self.nonce.as_ref()
    }

    /// Whether the token must carry the TSA certificates.
    #[must_use]
    pub fn cert_req(&self) -> bool {
        self.cert_req
    }
}

impl TryFrom<TimeStampReq> for VerifiedRequest {
    type Error = TspError;

    /// Check a decoded request.
    ///
    /// # Errors
    /// [`TspError::UnsupportedVersion`], [`TspError::UnsupportedHashAlgorithm`],
    /// [`TspError::HashParameters`], [`TspError::ImprintLength`] or
    /// [`TspError::UnacceptedExtension`].
    fn try_from(unverified: TimeStampReq) -> Result<Self, TspError> {
        if unverified.version != 1 {
            return Err(TspError::UnsupportedVersion(unverified.version));
        }
        let hash_algorithm = &unverified.message_imprint.hash_algorithm;
        let algorithm = HashAlgorithm::from_oid(hash_algorithm.oid)
            .ok_or(TspError::UnsupportedHashAlgorithm(hash_algorithm.oid))?;
        if hash_algorithm
            .parameters
            .as_ref()
            .is_some_and(|p| !p.is_null())
        {
            return Err(TspError::HashParameters(hash_algorithm.oid));
        }
        let got = unverified.message_imprint.hashed_message.as_bytes().len();
        if got != algorithm.output_len() {
            return Err(TspError::ImprintLength {
                algorithm,
                expected: algorithm.output_len(),
                got,
            });
        }
        if unverified.extensions.is_some() {
            return Err(TspError::UnacceptedExtension);
        }
        Ok(Self {
            algorithm,
            message_imprint: unverified.message_imprint,
            req_policy: unverified.req_policy,
            nonce: unverified.nonce,
            cert_req: unverified.cert_req,
        })
    }
}
