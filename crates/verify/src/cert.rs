//! The signing certificate: chain to a trusted CA, code-signing profile, embedded SCTs and the
//! identity (SAN and OIDC issuer extensions).

use der::asn1::{Ia5String, Utf8StringRef};
use der::{Decode, Encode};
use sigstack_keys::PublicKey;
use spki::ObjectIdentifier;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};

use crate::VerifyError;
use crate::root::{TrustedAuthority, TrustedLog, spki_der};

/// `id-kp-codeSigning`.
const ID_KP_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Fulcio's OIDC issuer extension (raw UTF-8 bytes, deprecated but read by every client).
pub const OID_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OIDC issuer extension (DER UTF8String).
pub const OID_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's otherName SAN for user names.
const OID_OTHERNAME_USERNAME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");

/// The certificate's validity window as Unix seconds, both ends inclusive.
pub(crate) fn validity(cert: &Certificate) -> (i64, i64) {
    let v = cert.tbs_certificate().validity();
    let secs = |t: &x509_cert::time::Time| {
        i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
    };
    (secs(&v.not_before), secs(&v.not_after))
}

/// Check that `cert` is signed by `issuer`: names chain and the signature verifies under the
/// issuer's key with the algorithm the certificate names.
pub(crate) fn check_signed_by(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return Err("issuer name does not match the CA subject".into());
    }
    let key = PublicKey::from_spki_der(&spki_der(issuer).map_err(|e| e.to_string())?)
        .map_err(|e| format!("CA key: {e}"))?;
    let named = cert.signature_algorithm().oid;
    let expected = key.algorithm().signature_algorithm_identifier().oid;
    if named != expected {
        return Err(format!(
            "signature algorithm {named} is not the one of the CA key ({expected})"
        ));
    }
    let signature = cert
        .signature()
        .as_bytes()
        .ok_or("signature has unused bits")?;
    let tbs = cert.tbs_certificate().to_der().map_err(|e| e.to_string())?;
    key.verify(&tbs, signature)
        .map_err(|_| "signature does not verify under the CA key".to_string())
}

/// Whether `cert` is a CA certificate (basic constraints with cA set).
fn is_ca(cert: &Certificate) -> bool {
    matches!(
        cert.tbs_certificate().get_extension::<BasicConstraints>(),
        Ok(Some((_, bc))) if bc.ca
    )
}

/// Find the trusted CA whose chain issued `leaf`, verify every link, and check that the CA and
/// every certificate are valid at each of `times`. Returns the chain used (issuer first).
pub(crate) fn verify_chain<'a>(
    leaf: &Certificate,
    authorities: &'a [TrustedAuthority],
    times: &[i64],
) -> Result<&'a TrustedAuthority, VerifyError> {
    let mut reasons = Vec::new();
    for authority in authorities {
        let Some(issuer) = authority.chain.first() else {
            continue;
        };
        if let Err(e) = check_signed_by(leaf, issuer) {
            reasons.push(e);
            continue;
        }
        for pair in authority.chain.windows(2) {
            check_signed_by(&pair[0], &pair[1])
                .map_err(|e| VerifyError::CertificateChain(format!("trusted chain: {e}")))?;
        }
        if let Some(root) = authority.chain.last() {
            // A trailing self-issued root must carry a valid self-signature.
            if root.tbs_certificate().issuer() == root.tbs_certificate().subject() {
                check_signed_by(root, root).map_err(|e| {
                    VerifyError::CertificateChain(format!("trusted root certificate: {e}"))
                })?;
            }
        }
        if let Some(not_ca) = authority.chain.iter().find(|c| !is_ca(c)) {
            return Err(VerifyError::CertificateChain(format!(
                "{} is not a CA certificate",
                not_ca.tbs_certificate().subject()
            )));
        }
        for &t in times {
            if !authority.valid_for.contains(t) {
                return Err(VerifyError::CertificateValidity(format!(
                    "the certificate authority is not valid at {t} (trusted root validFor)"
                )));
            }
            for cert in std::iter::once(leaf).chain(authority.chain.iter()) {
                let (not_before, not_after) = validity(cert);
                if t < not_before || t > not_after {
                    return Err(VerifyError::CertificateValidity(format!(
                        "{} is valid {not_before}..{not_after}, not at signing time {t}",
                        describe(cert)
                    )));
                }
            }
        }
        return Ok(authority);
    }
    Err(VerifyError::CertificateChain(if reasons.is_empty() {
        "the trusted root has no certificate authority".into()
    } else {
        format!(
            "no trusted certificate authority issued the certificate ({})",
            reasons.join("; ")
        )
    }))
}

fn describe(cert: &Certificate) -> String {
    let subject = cert.tbs_certificate().subject().to_string();
    if subject.is_empty() {
        "the signing certificate".into()
    } else {
        subject
    }
}

/// Not a CA, key usage digitalSignature and extended key usage codeSigning.
pub(crate) fn check_code_signing_profile(leaf: &Certificate) -> Result<(), VerifyError> {
    if is_ca(leaf) {
        return Err(VerifyError::CertificateProfile(
            "the signing certificate is a CA certificate".into(),
        ));
    }
    let tbs = leaf.tbs_certificate();
    match tbs.get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) if ku.0.contains(KeyUsages::DigitalSignature) => {}
        _ => {
            return Err(VerifyError::CertificateProfile(
                "key usage lacks digitalSignature".into(),
            ));
        }
    }
    match tbs.get_extension::<ExtendedKeyUsage>() {
        Ok(Some((_, eku))) if eku.0.contains(&ID_KP_CODE_SIGNING) => Ok(()),
        _ => Err(VerifyError::CertificateProfile(
            "extended key usage lacks codeSigning".into(),
        )),
    }
}

/// At least one embedded SCT must verify under a trusted CT log valid at the SCT's time.
pub(crate) fn verify_scts(
    leaf: &Certificate,
    issuer: &Certificate,
    ctlogs: &[TrustedLog],
) -> Result<(), VerifyError> {
    let scts = sigstack_ct::embedded_scts(leaf).map_err(|e| VerifyError::Sct(e.to_string()))?;
    if scts.is_empty() {
        return Err(VerifyError::Sct(
            "the certificate has no embedded SCT".into(),
        ));
    }
    let tbs = leaf
        .tbs_certificate()
        .to_der()
        .map_err(|e| VerifyError::Sct(e.to_string()))?;
    let precert_tbs = sigstack_ct::tbs_without_extension(&tbs, sigstack_ct::SCT_LIST_OID)
        .map_err(|e| VerifyError::Sct(e.to_string()))?;
    let issuer_spki = spki_der(issuer).map_err(|e| VerifyError::Sct(e.to_string()))?;
    let mut reasons = Vec::new();
    for sct in &scts {
        let Some(log) = ctlogs.iter().find(|l| l.log_id == sct.log_id) else {
            reasons.push(format!(
                "SCT from unknown CT log {}",
                hex::encode(sct.log_id)
            ));
            continue;
        };
        let key = match &log.key {
            Ok(k) => k,
            Err(e) => {
                reasons.push(format!("CT log {}: {e}", log.base_url));
                continue;
            }
        };
        let t = i64::try_from(sct.timestamp / 1000).unwrap_or(i64::MAX);
        if !log.valid_for.contains(t) {
            reasons.push(format!(
                "CT log {} key not valid at SCT time {t}",
                log.base_url
            ));
            continue;
        }
        match sct.verify_precert(key, &issuer_spki, &precert_tbs) {
            Ok(()) => return Ok(()),
            Err(e) => reasons.push(format!("CT log {}: {e}", log.base_url)),
        }
    }
    Err(VerifyError::Sct(reasons.join("; ")))
}

/// The SAN values: email addresses, URIs, and Fulcio user-name otherNames.
pub(crate) fn san_values(leaf: &Certificate) -> Vec<String> {
    let Ok(Some((_, san))) = leaf.tbs_certificate().get_extension::<SubjectAltName>() else {
        return Vec::new();
    };
    san.0
        .iter()
        .filter_map(|name| match name {
            GeneralName::Rfc822Name(s) | GeneralName::UniformResourceIdentifier(s) => Some(ia5(s)),
            GeneralName::OtherName(other) if other.type_id == OID_OTHERNAME_USERNAME => other
                .value
                .decode_as::<Utf8StringRef<'_>>()
                .ok()
                .map(|s| s.as_str().to_string()),
            _ => None,
        })
        .collect()
}

fn ia5(s: &Ia5String) -> String {
    s.as_str().to_string()
}

/// The OIDC issuer: extension 1.3.6.1.4.1.57264.1.8 (DER UTF8String) when present, else the
/// raw bytes of 1.3.6.1.4.1.57264.1.1.
pub(crate) fn oidc_issuer(leaf: &Certificate) -> Option<String> {
    let extensions = leaf.tbs_certificate().extensions()?;
    let find = |oid| extensions.iter().find(|e| e.extn_id == oid);
    if let Some(s) =
        find(OID_ISSUER_V2).and_then(|ext| Utf8StringRef::from_der(ext.extn_value.as_bytes()).ok())
    {
        return Some(s.as_str().to_string());
    }
    find(OID_ISSUER_V1).and_then(|ext| String::from_utf8(ext.extn_value.as_bytes().to_vec()).ok())
}
