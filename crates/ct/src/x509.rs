//! The X.509 side of CT: the poison and SCT-list extensions, and TBSCertificate surgery.

use der::asn1::{AnyRef, BitStringRef, OctetString};
use der::{Decode, Encode, Sequence};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::sct::SignedCertificateTimestampList;

use crate::sct::SignedCertificateTimestamp;
use crate::tls::{Reader, Writer};
use crate::{CtError, ObjectIdentifier, POISON_OID, SCT_LIST_OID};

/// The precertificate poison extension (RFC 6962 §3.1): `1.3.6.1.4.1.11129.2.4.3`, critical,
/// `extnValue` = DER of ASN.1 `NULL` (`05 00`).
#[must_use]
pub fn poison_extension() -> Extension {
    Extension {
        extn_id: POISON_OID,
        critical: true,
        // A constant two-byte value: OCTET STRING construction only fails beyond 256 MiB.
        extn_value: OctetString::new(NULL_DER.to_vec())
            .expect("a 2-byte constant always fits an OCTET STRING"),
    }
}

const NULL_DER: [u8; 2] = [0x05, 0x00];

/// The SCT-list extension of a final certificate (RFC 6962 §3.3): `1.3.6.1.4.1.11129.2.4.2`,
/// non-critical, `extnValue` = DER `OCTET STRING` wrapping the TLS
///
/// ```text
/// opaque SerializedSCT<1..2^16-1>;
/// struct {
///     SerializedSCT sct_list <1..2^16-1>;
/// } SignedCertificateTimestampList;
/// ```
///
/// # Errors
/// [`CtError::TooLong`] if the list does not fit its 16-bit length prefix.
pub fn sct_list_extension(scts: &[SignedCertificateTimestamp]) -> Result<Extension, CtError> {
    let mut list = Writer::new();
    for sct in scts {
        list.vec16("SerializedSCT", &sct.to_tls()?)?;
    }
    let mut outer = Writer::new();
    outer.vec16("sct_list", &list.into_bytes())?;
    let wrapped = SignedCertificateTimestampList::from(OctetString::new(outer.into_bytes())?);
    Ok(Extension {
        extn_id: SCT_LIST_OID,
        critical: false,
        extn_value: OctetString::new(wrapped.to_der()?)?,
    })
}

/// The SCTs embedded in `cert`'s SCT-list extension, in list order; empty when the certificate
/// has no such extension. Signatures are not checked here (see
/// [`SignedCertificateTimestamp::verify_precert`]).
///
/// # Errors
/// [`CtError::DuplicateExtension`], DER errors, or TLS errors in the list or an SCT
/// (including an SCT version other than v1).
pub fn embedded_scts(cert: &Certificate) -> Result<Vec<SignedCertificateTimestamp>, CtError> {
    let Some(ext) = single_extension(cert, SCT_LIST_OID)? else {
        return Ok(Vec::new());
    };
    let wrapped = SignedCertificateTimestampList::from_der(ext.extn_value.as_bytes())?;
    let inner: &OctetString = wrapped.as_ref();
    let mut outer = Reader::new(inner.as_bytes());
    let list = outer.vec16("sct_list")?;
    outer.finish("SignedCertificateTimestampList")?;
    let mut r = Reader::new(list);
    let mut scts = Vec::new();
    while !r.is_empty() {
        scts.push(SignedCertificateTimestamp::from_tls(
            r.vec16("SerializedSCT")?,
        )?);
    }
    Ok(scts)
}

/// Whether `cert` is a precertificate: it carries the poison extension, which must then be
/// critical with an ASN.1 `NULL` value.
///
/// # Errors
/// [`CtError::MalformedPoison`] or [`CtError::DuplicateExtension`].
pub fn is_precertificate(cert: &Certificate) -> Result<bool, CtError> {
    match single_extension(cert, POISON_OID)? {
        None => Ok(false),
        Some(ext) if ext.critical && ext.extn_value.as_bytes() == NULL_DER => Ok(true),
        Some(_) => Err(CtError::MalformedPoison),
    }
}

fn single_extension(
    cert: &Certificate,
    oid: ObjectIdentifier,
) -> Result<Option<&Extension>, CtError> {
    let mut found = cert
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .filter(|e| e.extn_id == oid);
    let first = found.next();
    if found.next().is_some() {
        return Err(CtError::DuplicateExtension(oid));
    }
    Ok(first)
}

/// A TBSCertificate decoded only as far as needed to drop one extension. Every field except the
/// extension list stays an opaque TLV, so re-encoding reproduces the input bytes exactly:
///
/// ```text
/// TBSCertificate  ::=  SEQUENCE  {
///      version         [0]  EXPLICIT Version DEFAULT v1,
///      serialNumber         CertificateSerialNumber,
///      signature            AlgorithmIdentifier,
///      issuer               Name,
///      validity             Validity,
///      subject              Name,
///      subjectPublicKeyInfo SubjectPublicKeyInfo,
///      issuerUniqueID  [1]  IMPLICIT UniqueIdentifier OPTIONAL,
///      subjectUniqueID [2]  IMPLICIT UniqueIdentifier OPTIONAL,
///      extensions      [3]  EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Sequence)]
struct OpaqueTbs<'a> {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<AnyRef<'a>>,
    serial_number: AnyRef<'a>,
    signature: AnyRef<'a>,
    issuer: AnyRef<'a>,
    validity: AnyRef<'a>,
    subject: AnyRef<'a>,
    subject_public_key_info: AnyRef<'a>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    issuer_unique_id: Option<BitStringRef<'a>>,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    subject_unique_id: Option<BitStringRef<'a>>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<AnyRef<'a>>>,
}

/// Re-encode a DER TBSCertificate without the extension `oid` (all other bytes unchanged;
/// an extension list left empty is omitted, as `Extensions` is `SIZE (1..MAX)`).
///
/// This is how both sides of RFC 6962 reach the precertificate entry's TBS: the log removes the
/// poison from a precertificate, a verifier removes the SCT list from a final certificate.
/// Because DER is canonical the result equals a TBS built without that extension. A TBS that
/// lacks `oid` comes back unchanged.
///
/// # Errors
/// DER errors for malformed input, [`CtError::DuplicateExtension`] if `oid` occurs twice.
pub fn tbs_without_extension(tbs_der: &[u8], oid: ObjectIdentifier) -> Result<Vec<u8>, CtError> {
    let mut tbs = OpaqueTbs::from_der(tbs_der)?;
    if let Some(extensions) = tbs.extensions.take() {
        if extensions.is_empty() {
            // RFC 5280: Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension.
            return Err(CtError::EmptyExtensions);
        }
        let mut kept = Vec::with_capacity(extensions.len());
        let mut removed = 0usize;
        for raw in extensions {
            let ext: Extension = raw.decode_as()?;
            if ext.extn_id == oid {
                removed += 1;
            } else {
                kept.push(raw);
            }
        }
        if removed > 1 {
            return Err(CtError::DuplicateExtension(oid));
        }
        tbs.extensions = if kept.is_empty() { None } else { Some(kept) };
    }
    Ok(tbs.to_der()?)
}
