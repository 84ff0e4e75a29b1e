//! Object identifiers used in Fulcio certificates (Sigstore arc `1.3.6.1.4.1.57264.1`, see
//! Fulcio's `docs/oid-info.md`, plus the RFC 6962 and RFC 5280 ones the profile emits).

use const_oid::ObjectIdentifier;

/// `1.3.6.1.4.1.57264.1.1` Issuer (deprecated encoding: raw UTF-8 bytes in extnValue).
pub const ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// `1.3.6.1.4.1.57264.1.7` OtherName type-id of the `username` issuer type's SAN.
pub const OTHER_NAME_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");
/// `1.3.6.1.4.1.57264.1.8` Issuer (V2: DER UTF8String).
pub const ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// `1.3.6.1.4.1.57264.1.24` Token subject (the raw `sub` claim, DER UTF8String).
pub const TOKEN_SUBJECT: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.24");

/// `1.3.6.1.4.1.11129.2.4.3` RFC 6962 precertificate poison (critical, ASN.1 NULL).
pub const CT_PRECERT_POISON: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.3");
/// `1.3.6.1.4.1.11129.2.4.2` RFC 6962 embedded SignedCertificateTimestampList.
pub const CT_SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// `1.3.6.1.5.5.7.3.3` id-kp-codeSigning.
pub const KP_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// `2.5.29.17` subjectAltName.
pub const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

/// `1.2.840.10045.4.3.2` ecdsa-with-SHA256.
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `1.2.840.10045.4.3.3` ecdsa-with-SHA384.
pub const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// `1.3.101.112` id-Ed25519 (as a signature algorithm: PureEdDSA).
pub const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// `1.2.840.113549.1.1.1` rsaEncryption (recognised only to reject RSA keys with a clear error).
pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
