//! The Fulcio leaf certificate profile.

use std::time::{Duration, SystemTime};

use der::Encode;
use der::asn1::{Null, OctetString};
use sigstack_pki::CertificateTemplate;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, KeyUsages, SubjectKeyIdentifier};
use x509_cert::name::Name;

use crate::{FulcioCoreError, Principal, ProvenKey, oids};

/// Lifetime of every Fulcio leaf certificate (fixed upstream, not configurable).
pub const LEAF_VALIDITY: Duration = Duration::from_secs(10 * 60);

/// One leaf certificate in the making: serial, validity, subject key and every extension are
/// fixed at construction, so the precertificate and the final certificate built from it differ
/// only in their last extension.
///
/// Extensions, in order:
///
/// | # | extension | critical |
/// |---|---|---|
/// | 1 | keyUsage digitalSignature | yes |
/// | 2 | extKeyUsage codeSigning | no |
/// | 3 | subjectKeyIdentifier (SHA-1 of the key) | no |
/// | 4 | authorityKeyIdentifier (the issuer's key identifier) | no |
/// | 5 | subjectAltName, the principal's single name | yes (empty subject) |
/// | 6.. | `1.3.6.1.4.1.57264.1.*` claim extensions | no |
/// | last | CT poison (precertificate) or SCT list (final) | yes / no |
#[derive(Clone, Debug)]
pub struct CertificateProfile {
    base: CertificateTemplate,
}

impl CertificateProfile {
    /// Lay out the certificate for `principal` and `key`, issued by `issuer` at `now`.
    ///
    /// # Errors
    /// [`FulcioCoreError::InvalidClaim`] if the SAN cannot be encoded, or
    /// [`FulcioCoreError::Certificate`] on encoding failures.
    pub fn new(
        principal: &Principal,
        key: &ProvenKey,
        issuer: &Certificate,
        now: SystemTime,
    ) -> Result<Self, FulcioCoreError> {
        let tbs = issuer.tbs_certificate();
        let mut extensions = vec![
            sigstack_pki::key_usage_set(KeyUsages::DigitalSignature.into())?,
            sigstack_pki::extended_key_usage(&[oids::KP_CODE_SIGNING], false)?,
            sigstack_pki::subject_key_identifier(key.spki_der())?,
            authority_key_identifier(issuer)?,
            principal.subject_alt_name().to_extension()?,
        ];
        for claim in principal.extensions() {
            extensions.push(claim.to_extension()?);
        }
        Ok(Self {
            base: CertificateTemplate {
                serial: sigstack_pki::random_serial(),
                subject: Name::default(),
                issuer: tbs.subject().clone(),
                not_before: now,
                not_after: now + LEAF_VALIDITY,
                subject_public_key_der: key.spki_der().to_vec(),
                extensions,
            },
        })
    }

    /// The precertificate: the certificate plus the critical RFC 6962 poison extension
    /// (`1.3.6.1.4.1.11129.2.4.3`, value ASN.1 NULL) as its last extension.
    ///
    /// # Errors
    /// Only on encoding failures.
    pub fn precertificate(&self) -> Result<CertificateTemplate, FulcioCoreError> {
        let poison = sigstack_pki::raw_extension(&Null, oids::CT_PRECERT_POISON, true)?;
        Ok(self.with_last(poison))
    }

    /// The final certificate: the certificate plus `sct_list`, the non-critical
    /// `1.3.6.1.4.1.11129.2.4.2` extension holding the SCTs of the precertificate.
    ///
    /// # Errors
    /// [`FulcioCoreError::Certificate`] if `sct_list` is not a non-critical SCT-list extension.
    pub fn final_certificate(
        &self,
        sct_list: Extension,
    ) -> Result<CertificateTemplate, FulcioCoreError> {
        if sct_list.extn_id != oids::CT_SCT_LIST || sct_list.critical {
            return Err(FulcioCoreError::Certificate(
                sigstack_pki::PkiError::Builder(format!(
                    "expected a non-critical {} extension, got {}",
                    oids::CT_SCT_LIST,
                    sct_list.extn_id
                )),
            ));
        }
        Ok(self.with_last(sct_list))
    }

    /// The certificate with neither poison nor SCTs. Its TBS is what an embedded SCT signs
    /// (the final TBS without the SCT list, equal to the precertificate TBS without the
    /// poison), and it is the certificate issued when no CT log is configured.
    #[must_use]
    pub fn without_ct_extension(&self) -> &CertificateTemplate {
        &self.base
    }

    fn with_last(&self, extension: Extension) -> CertificateTemplate {
        let mut template = self.base.clone();
        template.extensions.push(extension);
        template
    }
}

/// The AKI of a leaf: the issuer's own subjectKeyIdentifier when it has one, else the RFC 5280
/// method-1 identifier of its key.
fn authority_key_identifier(issuer: &Certificate) -> Result<Extension, FulcioCoreError> {
    let tbs = issuer.tbs_certificate();
    let key_identifier = match tbs.get_extension::<SubjectKeyIdentifier>() {
        Ok(Some((_, ski))) => ski.0,
        _ => {
            let spki = tbs
                .subject_public_key_info()
                .to_der()
                .map_err(|e| FulcioCoreError::Certificate(sigstack_pki::PkiError::Der(e)))?;
            OctetString::new(sigstack_pki::key_identifier(&spki)?)
                .map_err(|e| FulcioCoreError::Certificate(e.into()))?
        }
    };
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(key_identifier),
        ..Default::default()
    };
    Ok(sigstack_pki::raw_extension(
        &aki,
        const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
        false,
    )?)
}
