//! Wire types of the Time-Stamp Protocol (RFC 3161) and the ESS signing-certificate attribute
//! (RFC 5035, profiled for time-stamping by RFC 5816).
//!
//! The ASN.1 module of RFC 3161 (`PKIXTSP`) uses `IMPLICIT TAGS`; every tagged field below states
//! its tagging explicitly. CMS structures (`ContentInfo`, `SignedData`, `SignerInfo`) come from the
//! `cms` crate.

use cms::content_info::ContentInfo;
use der::asn1::{GeneralizedTime, Int, ObjectIdentifier, OctetString};
use der::flagset::FlagSet;
use der::{Enumerated, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::name::{GeneralName, GeneralNames};
use x509_cert::serial_number::SerialNumber;

/// The hash of the data to be time-stamped, with its algorithm (RFC 3161 §2.4.1).
///
/// ```text
/// MessageImprint ::= SEQUENCE  {
///      hashAlgorithm                AlgorithmIdentifier,
///      hashedMessage                OCTET STRING  }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct MessageImprint {
    /// The hash algorithm (parameters NULL or absent).
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// The digest itself.
    pub hashed_message: OctetString,
}

/// A time-stamp request (RFC 3161 §2.4.1).
///
/// ```text
/// TimeStampReq ::= SEQUENCE  {
///    version                      INTEGER  { v1(1) },
///    messageImprint               MessageImprint,
///      --a hash algorithm OID and the hash value of the data to be
///      --time-stamped
///    reqPolicy             TSAPolicyId              OPTIONAL,
///    nonce                 INTEGER                  OPTIONAL,
///    certReq               BOOLEAN                  DEFAULT FALSE,
///    extensions            [0] IMPLICIT Extensions  OPTIONAL  }
///
/// TSAPolicyId ::= OBJECT IDENTIFIER
/// ```
///
/// Decoding with [`der::Decode::from_der`] is a strict DER parse (no trailing bytes); use
/// [`crate::VerifiedRequest`] to also check the version, hash algorithm and imprint length.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampReq {
    /// Always 1.
    pub version: u8,
    /// What to time-stamp.
    pub message_imprint: MessageImprint,
    /// The policy the requester wants the TSA to use.
    #[asn1(optional = "true")]
    pub req_policy: Option<ObjectIdentifier>,
    /// A value the TSA must echo in `TSTInfo.nonce`.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// Whether the TSA must include its certificate(s) in the token.
    #[asn1(default = "Default::default")]
    pub cert_req: bool,
    /// Request extensions (none are supported).
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// The status of a time-stamp response (RFC 3161 §2.4.2).
///
/// ```text
/// PKIStatus ::= INTEGER {
///    granted                (0),
///    grantedWithMods        (1),
///    rejection              (2),
///    waiting                (3),
///    revocationWarning      (4),
///    revocationNotification (5) }
/// ```
#[derive(Clone, Copy, Debug, Eq, PartialEq, Enumerated)]
#[asn1(type = "INTEGER")]
#[repr(u8)]
pub enum PkiStatus {
    /// A time-stamp token, as requested, is present.
    Granted = 0,
    /// A time-stamp token, with modifications, is present.
    GrantedWithMods = 1,
    /// The request was refused.
    Rejection = 2,
    /// The request has not been processed yet.
    Waiting = 3,
    /// A revocation is imminent.
    RevocationWarning = 4,
    /// A revocation has occurred.
    RevocationNotification = 5,
}

der::flagset::flags! {
    /// Why a request was rejected (RFC 3161 §2.4.2). Encoded as a named-bit `BIT STRING`.
    ///
    /// ```text
    /// PKIFailureInfo ::= BIT STRING {
    ///     badAlg               (0),
    ///     badRequest           (2),
    ///     badDataFormat        (5),
    ///     timeNotAvailable    (14),
    ///     unacceptedPolicy    (15),
    ///     unacceptedExtension (16),
    ///     addInfoNotAvailable (17),
    ///     systemFailure       (25)  }
    /// ```
    pub enum PkiFailureInfo: u32 {
        /// Unrecognized or unsupported algorithm identifier.
        BadAlg = 1 << 0,
        /// Transaction not permitted or supported.
        BadRequest = 1 << 2,
        /// The data submitted has the wrong format.
        BadDataFormat = 1 << 5,
        /// The TSA's time source is not available.
        TimeNotAvailable = 1 << 14,
        /// The requested TSA policy is not supported.
        UnacceptedPolicy = 1 << 15,
        /// The requested extension is not supported.
        UnacceptedExtension = 1 << 16,
        /// The additional information requested could not be understood or is not available.
        AddInfoNotAvailable = 1 << 17,
        /// The request cannot be handled due to system failure.
        SystemFailure = 1 << 25,
    }
}

/// Status of a response (RFC 3161 §2.4.2, from RFC 2510).
///
/// ```text
/// PKIStatusInfo ::= SEQUENCE {
///     status        PKIStatus,
///     statusString  PKIFreeText     OPTIONAL,
///     failInfo      PKIFailureInfo  OPTIONAL  }
///
/// PKIFreeText ::= SEQUENCE SIZE (1..MAX) OF UTF8String
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PkiStatusInfo {
    /// Granted, rejected, ...
    pub status: PkiStatus,
    /// Human-readable explanation.
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<String>>,
    /// Failure reasons (only with a rejection).
    #[asn1(optional = "true")]
    pub fail_info: Option<FlagSet<PkiFailureInfo>>,
}

/// A time-stamp response (RFC 3161 §2.4.2).
///
/// ```text
/// TimeStampResp ::= SEQUENCE  {
///      status                  PKIStatusInfo,
///      timeStampToken          TimeStampToken     OPTIONAL  }
///
/// TimeStampToken ::= ContentInfo
///      -- contentType is id-signedData ([CMS])
///      -- content is SignedData ([CMS])
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampResp {
    /// Whether the request was granted.
    pub status: PkiStatusInfo,
    /// The token: a CMS `ContentInfo` holding `SignedData` over a [`TstInfo`].
    #[asn1(optional = "true")]
    pub time_stamp_token: Option<ContentInfo>,
}

/// The time deviation around `genTime` (RFC 3161 §2.4.2).
///
/// ```text
/// Accuracy ::= SEQUENCE {
///       seconds        INTEGER              OPTIONAL,
///       millis     [0] INTEGER  (1..999)    OPTIONAL,
///       micros     [1] INTEGER  (1..999)    OPTIONAL  }
/// ```
///
/// Prefer whole seconds: sigstore-rust 0.15 decodes `millis`/`micros` with the wrong tagging,
/// so a token carrying them does not verify there.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Sequence)]
pub struct Accuracy {
    /// Whole seconds.
    #[asn1(optional = "true")]
    pub seconds: Option<u32>,
    /// Milliseconds, 1..=999.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub millis: Option<u16>,
    /// Microseconds, 1..=999.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub micros: Option<u16>,
}

/// The time-stamp token information, the signed content of a token (RFC 3161 §2.4.2).
///
/// ```text
/// TSTInfo ::= SEQUENCE  {
///    version                      INTEGER  { v1(1) },
///    policy                       TSAPolicyId,
///    messageImprint               MessageImprint,
///      -- MUST have the same value as the similar field in
///      -- TimeStampReq
///    serialNumber                 INTEGER,
///     -- Time-Stamping users MUST be ready to accommodate integers
///     -- up to 160 bits.
///    genTime                      GeneralizedTime,
///    accuracy                     Accuracy                 OPTIONAL,
///    ordering                     BOOLEAN             DEFAULT FALSE,
///    nonce                        INTEGER                  OPTIONAL,
///      -- MUST be present if the similar field was present
///      -- in TimeStampReq.  In that case it MUST have the same value.
///    tsa                          [0] GeneralName          OPTIONAL,
///    extensions                   [1] IMPLICIT Extensions   OPTIONAL  }
/// ```
///
/// `tsa` is a `CHOICE`, so its `[0]` tag is explicit despite the module's implicit tagging.
/// `genTime` is whole seconds here (fractional `GeneralizedTime` is rejected when decoding).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TstInfo {
    /// Always 1.
    pub version: u8,
    /// The TSA policy under which the token was issued.
    pub policy: ObjectIdentifier,
    /// Copied from the request.
    pub message_imprint: MessageImprint,
    /// Unique per token.
    pub serial_number: Int,
    /// When the token was created.
    pub gen_time: GeneralizedTime,
    /// Deviation around `gen_time`.
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    /// Whether tokens from this TSA can be ordered by `gen_time` alone.
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    /// Echo of the request nonce.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// The TSA's name (here: the signing certificate's subject).
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    /// Extensions (none are produced).
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// Issuer and serial number of a certificate, as named by ESS (RFC 5035 §4).
///
/// ```text
/// IssuerSerial ::= SEQUENCE {
///     issuer                   GeneralNames,
///     serialNumber             CertificateSerialNumber
/// }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    /// The certificate issuer, as one `directoryName`.
    pub issuer: GeneralNames,
    /// The certificate serial number.
    pub serial_number: SerialNumber,
}

/// Identifies a certificate by hash (RFC 5035 §4, used by RFC 5816 for time-stamp tokens).
///
/// ```text
/// ESSCertIDv2 ::=  SEQUENCE {
///     hashAlgorithm           AlgorithmIdentifier
///                    DEFAULT {algorithm id-sha256},
///     certHash                 Hash,
///     issuerSerial             IssuerSerial OPTIONAL
/// }
///
/// Hash ::= OCTET STRING
/// ```
///
/// DER omits a `hashAlgorithm` equal to the default, so `None` here stands for SHA-256 (see
/// [`EssCertIdV2::effective_hash_algorithm`]); builders must use `None` rather than
/// `Some(sha256)`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    /// Hash algorithm of `cert_hash`; `None` is the default SHA-256.
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    /// Hash of the whole DER certificate.
    pub cert_hash: OctetString,
    /// Issuer and serial of the certificate.
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

impl EssCertIdV2 {
    /// The hash algorithm of `cert_hash`, with the DEFAULT applied.
    #[must_use]
    pub fn effective_hash_algorithm(&self) -> AlgorithmIdentifierOwned {
        self.hash_algorithm
            .clone()
            .unwrap_or_else(sha256_identifier)
    }
}

/// The signed attribute binding the signer's certificate to the signature (RFC 5035 §5.4,
/// required for time-stamp tokens by RFC 5816).
///
/// ```text
/// SigningCertificateV2 ::=  SEQUENCE {
///     certs        SEQUENCE OF ESSCertIDv2,
///     policies     SEQUENCE OF PolicyInformation OPTIONAL
/// }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    /// The signing certificate first, optionally followed by others of its chain.
    pub certs: Vec<EssCertIdV2>,
    /// Policies (not produced).
    #[asn1(optional = "true")]
    pub policies: Option<Vec<PolicyInformation>>,
}

/// `{algorithm id-sha256}` without parameters, the default of `ESSCertIDv2.hashAlgorithm`.
#[must_use]
pub fn sha256_identifier() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: crate::ID_SHA256,
        parameters: None,
    }
}
