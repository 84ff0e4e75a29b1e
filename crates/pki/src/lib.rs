//! X.509 issuance for Sigstack's certificate authorities (Fulcio's CA, the TSA's chain).
//!
//! Protocol layer only: no tokio, HTTP or database code. Certificates are assembled with
//! `x509-cert`'s builder and signed through [`sigstack_keys::Signer`], so a key in a file, an
//! HSM or a KMS issues certificates the same way. Profiles here take an explicit, ordered list of
//! extensions: the caller (for example Fulcio's certificate profile) decides exactly what goes in
//! and in which order, which matters when a precertificate and its final certificate must differ
//! only by one extension.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use const_oid::ObjectIdentifier;
use der::asn1::{BitString, OctetString};
use der::{Decode, Encode};
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

/// Errors from building or loading certificates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// DER encoding or decoding failed.
    #[error("DER: {0}")]
    Der(#[from] der::Error),
    /// The certificate builder rejected the input.
    #[error("certificate builder: {0}")]
    Builder(String),
    /// The signer failed.
    #[error(transparent)]
    Key(#[from] sigstack_keys::KeyError),
    /// A distinguished name could not be parsed.
    #[error("invalid name {0:?}")]
    Name(String),
    /// A time is outside what X.509 can represent.
    #[error("time out of range")]
    Time,
    /// PEM text did not hold the expected certificates.
    #[error("PEM: {0}")]
    Pem(String),
    /// Stored CA material is inconsistent (for example the key does not match the certificate).
    #[error("CA material in {dir}: {reason}")]
    Inconsistent {
        /// Directory holding the CA files.
        dir: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing CA files failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Everything that goes into one certificate apart from the issuer's signature.
#[derive(Clone, Debug)]
pub struct CertificateTemplate {
    /// Serial number (use [`random_serial`]).
    pub serial: SerialNumber,
    /// Subject name (may be empty).
    pub subject: Name,
    /// Issuer name: the issuing CA's subject.
    pub issuer: Name,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// The subject's public key, DER SubjectPublicKeyInfo.
    pub subject_public_key_der: Vec<u8>,
    /// Extensions, emitted exactly in this order.
    pub extensions: Vec<Extension>,
}

impl CertificateTemplate {
    /// Sign this template with `issuer` and return the certificate.
    ///
    /// # Errors
    /// Fails on encoding errors or when the signer fails.
    pub fn issue(&self, issuer: &dyn Signer) -> Result<Certificate, PkiError> {
        let adapter = SignerAdapter(issuer);
        let mut builder = self.builder()?;
        let tbs = builder
            .finalize(&adapter)
            .map_err(|e| PkiError::Builder(e.to_string()))?;
        let signature = issuer.sign(&tbs)?;
        let signature = BitString::from_bytes(&signature)?;
        builder
            .assemble(signature, &adapter)
            .map_err(|e| PkiError::Builder(e.to_string()))
    }

    /// The DER `TBSCertificate` this template produces when signed by `issuer`
    /// (what RFC 6962 signs in a precertificate entry).
    ///
    /// # Errors
    /// Fails on encoding errors.
    pub fn tbs_der(&self, issuer: &dyn Signer) -> Result<Vec<u8>, PkiError> {
        let adapter = SignerAdapter(issuer);
        let mut builder = self.builder()?;
        builder
            .finalize(&adapter)
            .map_err(|e| PkiError::Builder(e.to_string()))
    }

    fn builder(&self) -> Result<CertificateBuilder<ExplicitProfile>, PkiError> {
        let validity = Validity::new(to_time(self.not_before)?, to_time(self.not_after)?);
        let spki = SubjectPublicKeyInfoOwned::from_der(&self.subject_public_key_der)?;
        let profile = ExplicitProfile {
            subject: self.subject.clone(),
            issuer: self.issuer.clone(),
            extensions: self.extensions.clone(),
        };
        CertificateBuilder::new(profile, self.serial.clone(), validity, spki)
            .map_err(|e| PkiError::Builder(e.to_string()))
    }
}

/// A builder profile that emits exactly the extensions it was given.
struct ExplicitProfile {
    subject: Name,
    issuer: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for ExplicitProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

/// Presents a [`Signer`] to `x509-cert`'s builder, which only needs the public key and the
/// signature algorithm; the signature itself is made by [`Signer::sign`].
struct SignerAdapter<'a>(&'a dyn Signer);

#[derive(Clone)]
struct SpkiBytes(Vec<u8>);

impl spki::EncodePublicKey for SpkiBytes {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::from_der(&self.0)?)
    }
}

impl signature::Keypair for SignerAdapter<'_> {
    type VerifyingKey = SpkiBytes;

    fn verifying_key(&self) -> SpkiBytes {
        SpkiBytes(self.0.public_key_der().to_vec())
    }
}

impl spki::DynSignatureAlgorithmIdentifier for SignerAdapter<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.0.algorithm().signature_algorithm_identifier())
    }
}

/// A random, positive, 20-byte (160-bit) serial number.
#[must_use]
pub fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 20];
    // The OS random source failing is unrecoverable; a zero serial would be detected by the
    // non-zero fix-up below in any case.
    let _ = getrandom::fill(&mut bytes);
    bytes[0] &= 0x7f; // positive
    if bytes[0] == 0 {
        bytes[0] = 0x01; // keep exactly 20 bytes with no leading zero
    }
    // 20 bytes with a non-zero, positive first byte always fits the RFC 5280 limit.
    SerialNumber::new(&bytes).unwrap_or_else(|_| SerialNumber::from(1u64))
}

/// The RFC 5280 §4.2.1.2 method (1) key identifier: SHA-1 of the subjectPublicKey bits.
///
/// # Errors
/// Fails on malformed SubjectPublicKeyInfo.
pub fn key_identifier(spki_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der)?;
    let ski = SubjectKeyIdentifier::try_from(spki).map_err(|e| PkiError::Builder(e.to_string()))?;
    Ok(ski.0.as_bytes().to_vec())
}

/// `basicConstraints` (critical) for a CA or an end entity.
///
/// # Errors
/// Fails only on encoding errors.
pub fn basic_constraints(ca: bool, path_len: Option<u8>) -> Result<Extension, PkiError> {
    raw_extension(
        &BasicConstraints {
            ca,
            path_len_constraint: path_len,
        },
        ObjectIdentifier::new_unwrap("2.5.29.19"),
        true,
    )
}

/// `keyUsage` (critical) from a set of flags.
///
/// # Errors
/// Fails only on encoding errors.
pub fn key_usage_set(usages: der::flagset::FlagSet<KeyUsages>) -> Result<Extension, PkiError> {
    raw_extension(
        &KeyUsage(usages),
        ObjectIdentifier::new_unwrap("2.5.29.15"),
        true,
    )
}

/// `extKeyUsage` with the given purposes.
///
/// # Errors
/// Fails only on encoding errors.
pub fn extended_key_usage(
    purposes: &[ObjectIdentifier],
    critical: bool,
) -> Result<Extension, PkiError> {
    raw_extension(
        &ExtendedKeyUsage(purposes.to_vec()),
        ObjectIdentifier::new_unwrap("2.5.29.37"),
        critical,
    )
}

/// `subjectKeyIdentifier` (non-critical) for a subject key.
///
/// # Errors
/// Fails on malformed SubjectPublicKeyInfo.
pub fn subject_key_identifier(spki_der: &[u8]) -> Result<Extension, PkiError> {
    let id = OctetString::new(key_identifier(spki_der)?)?;
    raw_extension(
        &SubjectKeyIdentifier(id),
        ObjectIdentifier::new_unwrap("2.5.29.14"),
        false,
    )
}

/// `authorityKeyIdentifier` (non-critical) naming the issuer's key.
///
/// # Errors
/// Fails on malformed SubjectPublicKeyInfo.
pub fn authority_key_identifier(issuer_spki_der: &[u8]) -> Result<Extension, PkiError> {
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(key_identifier(issuer_spki_der)?)?),
        ..Default::default()
    };
    raw_extension(&aki, ObjectIdentifier::new_unwrap("2.5.29.35"), false)
}

/// An extension whose value is the DER of `value`.
///
/// # Errors
/// Fails only on encoding errors.
pub fn raw_extension<T: Encode>(
    value: &T,
    oid: ObjectIdentifier,
    critical: bool,
) -> Result<Extension, PkiError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// An extension whose value bytes are given verbatim (for example Fulcio's raw-string OIDs).
///
/// # Errors
/// Fails only if the value is too long for DER.
pub fn verbatim_extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: &[u8],
) -> Result<Extension, PkiError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_vec())?,
    })
}

/// Parse a distinguished name such as `O=sigstack,CN=sigstack-root`.
///
/// # Errors
/// Fails on a malformed name.
pub fn name(s: &str) -> Result<Name, PkiError> {
    Name::from_str(s).map_err(|_| PkiError::Name(s.to_string()))
}

/// Convert a system time to an X.509 `Time` (UTCTime before 2050, GeneralizedTime after).
///
/// # Errors
/// Fails for times X.509 cannot represent.
pub fn to_time(t: SystemTime) -> Result<Time, PkiError> {
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| PkiError::Time)?;
    // X.509 has one-second resolution.
    let secs = Duration::from_secs(since.as_secs());
    let dt = der::DateTime::from_unix_duration(secs).map_err(|_| PkiError::Time)?;
    Ok(Time::from(dt))
}

/// Encode a certificate as PEM (LF line endings).
///
/// # Errors
/// Fails only on encoding errors.
pub fn certificate_pem(cert: &Certificate) -> Result<String, PkiError> {
    Ok(sigstack_keys::pem_encode("CERTIFICATE", &cert.to_der()?))
}

/// Parse every `CERTIFICATE` block in `pem`.
///
/// # Errors
/// Fails on malformed PEM or DER, or when there is no certificate.
pub fn parse_pem_chain(pem: &str) -> Result<Vec<Certificate>, PkiError> {
    let certs =
        Certificate::load_pem_chain(pem.as_bytes()).map_err(|e| PkiError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(PkiError::Pem("no certificate found".into()));
    }
    Ok(certs)
}

/// What a certificate authority created on first run looks like.
#[derive(Clone, Debug)]
pub struct CaSpec {
    /// Organization (`O=`) of every CA certificate.
    pub organization: String,
    /// Common name of the self-signed root.
    pub root_common_name: String,
    /// Common name of the issuing intermediate, if the CA issues from an intermediate.
    pub intermediate_common_name: Option<String>,
    /// Key algorithm of the CA keys.
    pub algorithm: SignatureAlgorithm,
    /// Extended key usages placed on the intermediate (Fulcio puts codeSigning there).
    pub intermediate_extended_key_usage: Vec<ObjectIdentifier>,
    /// Validity of the root (the intermediate gets the same end).
    pub validity: Duration,
}

/// A CA: the issuing key and its chain, issuer first and root last.
#[derive(Clone, Debug)]
pub struct CertificateAuthority {
    /// The key that signs issued certificates.
    pub signer: Arc<dyn Signer>,
    /// The issuing certificate first, the root last (length 1 when the root issues directly).
    pub chain: Vec<Certificate>,
}

impl CertificateAuthority {
    /// Load the CA from `dir`, or create a root (and intermediate) there on first run.
    ///
    /// Files: `root.pem`, `root-key.pem`, and, with an intermediate, `intermediate.pem`,
    /// `intermediate-key.pem`. Keys are PKCS#8 PEM written with mode 0600.
    ///
    /// # Errors
    /// Fails on I/O errors or inconsistent files.
    pub fn load_or_create(dir: &Path, spec: &CaSpec, now: SystemTime) -> Result<Self, PkiError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| PkiError::Io { path, source }
        };
        sigstack_durable::create_dir_all(dir).map_err(io(dir))?;
        let root_cert_path = dir.join("root.pem");
        let root_key = Arc::new(FileSigner::load_or_generate(
            &dir.join("root-key.pem"),
            spec.algorithm,
        )?);
        let root = load_or_issue(&root_cert_path, root_key.as_ref(), || {
            let subject = name(&format!(
                "O={},CN={}",
                spec.organization, spec.root_common_name
            ))?;
            CertificateTemplate {
                serial: random_serial(),
                subject: subject.clone(),
                issuer: subject,
                not_before: now,
                not_after: now + spec.validity,
                subject_public_key_der: root_key.public_key_der().to_vec(),
                extensions: vec![
                    key_usage_set(KeyUsages::KeyCertSign | KeyUsages::CRLSign)?,
                    basic_constraints(true, Some(1))?,
                    subject_key_identifier(root_key.public_key_der())?,
                ],
            }
            .issue(root_key.as_ref())
        })?;
        let Some(intermediate_cn) = &spec.intermediate_common_name else {
            return Ok(Self {
                signer: root_key,
                chain: vec![root],
            });
        };
        let key = Arc::new(FileSigner::load_or_generate(
            &dir.join("intermediate-key.pem"),
            spec.algorithm,
        )?);
        let intermediate = load_or_issue(&dir.join("intermediate.pem"), key.as_ref(), || {
            let mut extensions = vec![
                key_usage_set(KeyUsages::KeyCertSign | KeyUsages::CRLSign)?,
                basic_constraints(true, Some(0))?,
                subject_key_identifier(key.public_key_der())?,
                authority_key_identifier(root_key.public_key_der())?,
            ];
            if !spec.intermediate_extended_key_usage.is_empty() {
                extensions.push(extended_key_usage(
                    &spec.intermediate_extended_key_usage,
                    false,
                )?);
            }
            CertificateTemplate {
                serial: random_serial(),
                subject: name(&format!("O={},CN={}", spec.organization, intermediate_cn))?,
                issuer: root.tbs_certificate().subject().clone(),
                not_before: now,
                not_after: now + spec.validity,
                subject_public_key_der: key.public_key_der().to_vec(),
                extensions,
            }
            .issue(root_key.as_ref())
        })?;
        Ok(Self {
            signer: key,
            chain: vec![intermediate, root],
        })
    }

    /// The issuing certificate (first in the chain).
    #[must_use]
    pub fn issuer(&self) -> &Certificate {
        &self.chain[0]
    }

    /// The self-signed root (last in the chain).
    #[must_use]
    pub fn root(&self) -> &Certificate {
        &self.chain[self.chain.len() - 1]
    }

    /// The chain as PEM strings, issuer first.
    ///
    /// # Errors
    /// Fails only on encoding errors.
    pub fn chain_pem(&self) -> Result<Vec<String>, PkiError> {
        self.chain.iter().map(certificate_pem).collect()
    }
}

/// Load the certificate at `path` and check that it certifies `key`, or issue it with `make`
/// and store it.
fn load_or_issue(
    path: &Path,
    key: &dyn Signer,
    make: impl FnOnce() -> Result<Certificate, PkiError>,
) -> Result<Certificate, PkiError> {
    let inconsistent = |reason: &str| PkiError::Inconsistent {
        dir: path.display().to_string(),
        reason: reason.to_string(),
    };
    match std::fs::read_to_string(path) {
        Ok(pem) => {
            let cert = parse_pem_chain(&pem)?.remove(0);
            let spki = cert.tbs_certificate().subject_public_key_info().to_der()?;
            if spki != key.public_key_der() {
                return Err(inconsistent("certificate does not match its key file"));
            }
            Ok(cert)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cert = make()?;
            sigstack_durable::write(path, certificate_pem(&cert)?.as_bytes()).map_err(
                |source| PkiError::Io {
                    path: path.display().to_string(),
                    source,
                },
            )?;
            Ok(cert)
        }
        Err(source) => Err(PkiError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(intermediate: bool) -> CaSpec {
        CaSpec {
            organization: "sigstack".into(),
            root_common_name: "sigstack-root".into(),
            intermediate_common_name: intermediate.then(|| "sigstack-intermediate".into()),
            algorithm: SignatureAlgorithm::EcdsaP384Sha384,
            intermediate_extended_key_usage: vec![ObjectIdentifier::new_unwrap(
                "1.3.6.1.5.5.7.3.3",
            )],
            validity: Duration::from_secs(10 * 365 * 86400),
        }
    }

    #[test]
    fn creates_then_reloads_a_verifiable_chain() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let ca = CertificateAuthority::load_or_create(dir.path(), &spec(true), now).unwrap();
        assert_eq!(ca.chain.len(), 2);
        let again = CertificateAuthority::load_or_create(dir.path(), &spec(true), now).unwrap();
        assert_eq!(
            again.chain[0].to_der().unwrap(),
            ca.chain[0].to_der().unwrap()
        );
        assert_eq!(again.signer.public_key_der(), ca.signer.public_key_der());

        // Cross-check with an independent parser: signatures, CA flags, path lengths.
        let root_der = ca.root().to_der().unwrap();
        let inter_der = ca.issuer().to_der().unwrap();
        let (_, root) = x509_parser::parse_x509_certificate(&root_der).unwrap();
        let (_, inter) = x509_parser::parse_x509_certificate(&inter_der).unwrap();
        for (cert, issuer) in [(ca.root(), ca.root()), (ca.issuer(), ca.root())] {
            let issuer_key = sigstack_keys::PublicKey::from_spki_der(
                &issuer
                    .tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .unwrap(),
            )
            .unwrap();
            let sig = cert.signature().as_bytes().unwrap();
            issuer_key
                .verify(&cert.tbs_certificate().to_der().unwrap(), sig)
                .unwrap();
        }
        let bc = inter.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && bc.value.ca && bc.value.path_len_constraint == Some(0));
        let ku = root.key_usage().unwrap().unwrap();
        assert!(ku.critical && ku.value.key_cert_sign());
        let aki: AuthorityKeyIdentifier = ca
            .issuer()
            .tbs_certificate()
            .get_extension()
            .unwrap()
            .unwrap()
            .1;
        let ski: SubjectKeyIdentifier = ca
            .root()
            .tbs_certificate()
            .get_extension()
            .unwrap()
            .unwrap()
            .1;
        assert_eq!(aki.key_identifier.unwrap(), ski.0);
    }

    #[test]
    fn serials_are_positive_160_bit() {
        for _ in 0..64 {
            let s = random_serial();
            assert_eq!(s.as_bytes().len(), 20);
            assert!(s.as_bytes()[0] & 0x80 == 0 && s.as_bytes()[0] != 0);
        }
    }

    #[test]
    fn mismatched_key_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        CertificateAuthority::load_or_create(dir.path(), &spec(false), now).unwrap();
        std::fs::remove_file(dir.path().join("root-key.pem")).unwrap();
        let err = CertificateAuthority::load_or_create(dir.path(), &spec(false), now).unwrap_err();
        assert!(matches!(err, PkiError::Inconsistent { .. }), "{err}");
    }
}
