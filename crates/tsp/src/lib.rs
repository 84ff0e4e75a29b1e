//! RFC 3161 Time-Stamp Protocol for Sigstack's timestamp authority: the wire types
//! (`TimeStampReq`, `TimeStampResp`, `TSTInfo`, ESS `SigningCertificateV2`), request checking and
//! the token builder.
//!
//! This is a protocol-layer crate: no tokio, no axum, no database and no ambient clock or
//! randomness. Callers pass the current time and the token serial number in, and sign through
//! [`sigstack_keys::Signer`], so a key in a file, an HSM or a KMS issues tokens the same way.
//!
//! Tokens follow what real Sigstore clients verify (sigstore-python via rfc3161-client,
//! sigstore-js, sigstore-rust, OpenSSL `ts -verify`): a CMS `SignedData` v3 over an
//! `id-ct-TSTInfo` with exactly one `SignerInfo` identified by issuer and serial number, signed
//! attributes contentType, signingTime, messageDigest and signingCertificateV2 (RFC 5816), and
//! `genTime` in whole seconds (sigstore-rust rejects fractional `GeneralizedTime`).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn demo(signer: Arc<dyn sigstack_keys::Signer>, chain: Vec<x509_cert::Certificate>,
//! #         unverified_der: &[u8], serial: &x509_cert::serial_number::SerialNumber)
//! #         -> Result<(), sigstack_tsp::TspError> {
//! use sigstack_tsp::{TimestampAuthority, VerifiedRequest};
//! let tsa = TimestampAuthority::new(signer, chain)?;
//! let request = VerifiedRequest::from_der(unverified_der)?;
//! let reply_der = tsa.timestamp(&request, std::time::SystemTime::now(), serial)?;
//! # Ok(()) }
//! ```

mod asn1;
mod authority;
mod error;
mod inspect;
mod request;
mod validity;

pub use asn1::{
    Accuracy, EssCertIdV2, IssuerSerial, MessageImprint, PkiFailureInfo, PkiStatus, PkiStatusInfo,
    SigningCertificateV2, TimeStampReq, TimeStampResp, TstInfo, sha256_identifier,
};
pub use authority::{TimestampAuthority, rejection_response};
pub use error::TspError;
pub use request::{HashAlgorithm, VerifiedRequest};
pub use validity::{ValidityWindow, check_accuracy};

use der::asn1::ObjectIdentifier;

/// Sigstore's TSA policy `1.3.6.1.4.1.57264.2`, the default policy of [`TimestampAuthority`].
pub const SIGSTORE_TSA_POLICY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.2");
/// `id-ct-TSTInfo` (RFC 3161 §2.4.2): the eContentType of a time-stamp token.
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// `id-signedData` (RFC 5652 §5.1).
pub const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// `id-contentType` signed attribute (RFC 5652 §11.1).
pub const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// `id-messageDigest` signed attribute (RFC 5652 §11.2).
pub const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// `id-signingTime` signed attribute (RFC 5652 §11.3).
pub const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
/// `id-aa-signingCertificateV2` signed attribute (RFC 5035 §5.4).
pub const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// `id-kp-timeStamping` extended key usage (RFC 3161 §2.3).
pub const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// `id-sha256` (RFC 5754).
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// `id-sha384` (RFC 5754).
pub const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
/// `id-sha512` (RFC 5754).
pub const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
