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

/// Name of the root certificate file in a CA directory.
pub const ROOT_CERT_FILE: &str = "root.pem";
/// Name of the root key file, used only while a root-only CA (no intermediate) issues.
pub const ROOT_KEY_FILE: &str = "root-key.pem";
/// Name of the issuing intermediate's certificate file (intermediate first, then any
/// certificates between it and the root).
pub const INTERMEDIATE_CERT_FILE: &str = "intermediate.pem";
/// Name of the intermediate's key file when the key is kept in the CA directory.
pub const INTERMEDIATE_KEY_FILE: &str = "intermediate-key.pem";

impl CertificateAuthority {
    /// Load the CA from `dir`, or create a root (and intermediate) there on first run.
    ///
    /// Files: `root.pem`, and either `root-key.pem` (a root that issues directly) or
    /// `intermediate.pem` + `intermediate-key.pem`. With an intermediate the root's private key
    /// is never read: an existing directory is served from the intermediate alone, and a fresh
    /// one gets a root whose key is generated in memory, signs the intermediate and is dropped
    /// (to keep a root key offline for later re-issuing, create the CA with `sigstack ca`).
    /// Keys are PKCS#8 PEM written with mode 0600.
    ///
    /// # Errors
    /// Fails on I/O errors or inconsistent files.
    pub fn load_or_create(dir: &Path, spec: &CaSpec, now: SystemTime) -> Result<Self, PkiError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| PkiError::Io { path, source }
        };
        sigstack_durable::create_dir_all(dir).map_err(io(dir))?;
        let root_cert_path = dir.join(ROOT_CERT_FILE);
        let Some(intermediate_cn) = &spec.intermediate_common_name else {
            let root_key = Arc::new(FileSigner::load_or_generate(
                &dir.join(ROOT_KEY_FILE),
                spec.algorithm,
            )?);
            let root = load_or_issue(&root_cert_path, root_key.as_ref(), || {
                self_signed_root(root_key.as_ref(), spec, now)
            })?;
            return Ok(Self {
                signer: root_key,
                chain: vec![root],
            });
        };
        let intermediate_path = dir.join(INTERMEDIATE_CERT_FILE);
        if intermediate_path.exists() && root_cert_path.exists() {
            let key = Arc::new(FileSigner::load_or_generate(
                &dir.join(INTERMEDIATE_KEY_FILE),
                spec.algorithm,
            )?);
            return Self::from_files(dir, key);
        }
        if intermediate_path.exists() || root_cert_path.exists() {
            return Err(PkiError::Inconsistent {
                dir: dir.display().to_string(),
                reason: format!(
                    "{INTERMEDIATE_CERT_FILE} and {ROOT_CERT_FILE} must both exist or both be absent"
                ),
            });
        }
        // First run: an ephemeral root signs the intermediate and is then dropped.
        let root_key = FileSigner::generate(spec.algorithm)?;
        let root = self_signed_root(&root_key, spec, now)?;
        let key = Arc::new(FileSigner::load_or_generate(
            &dir.join(INTERMEDIATE_KEY_FILE),
            spec.algorithm,
        )?);
        let intermediate = IntermediateSpec {
            subject: name(&format!("O={},CN={}", spec.organization, intermediate_cn))?,
            extended_key_usage: spec.intermediate_extended_key_usage.clone(),
            not_before: now,
            not_after: now + spec.validity,
        }
        .issue(key.public_key_der(), &root, &root_key)?;
        let write = |path: &Path, cert: &Certificate| {
            sigstack_durable::write(path, certificate_pem(cert)?.as_bytes()).map_err(io(path))
        };
        write(&root_cert_path, &root)?;
        write(&intermediate_path, &intermediate)?;
        Ok(Self {
            signer: key,
            chain: vec![intermediate, root],
        })
    }

    /// Load an issuing CA whose key is `signer` (a file, or a key on an HSM) from `dir`:
    /// `intermediate.pem` (the issuing certificate first, then any certificates between it and
    /// the root) and `root.pem`. The root's private key is not needed. Checks that `signer`
    /// is the issuing certificate's key and that every certificate is signed by the next.
    ///
    /// # Errors
    /// [`PkiError::Io`] when a file is missing, [`PkiError::Inconsistent`] when the chain or
    /// key does not fit.
    pub fn from_files(dir: &Path, signer: Arc<dyn Signer>) -> Result<Self, PkiError> {
        let read = |file: &str| {
            let path = dir.join(file);
            sigstack_durable::read_to_string(&path)
                .map_err(|source| PkiError::Io {
                    path: path.display().to_string(),
                    source,
                })
                .and_then(|pem| parse_pem_chain(&pem))
        };
        let mut chain = read(INTERMEDIATE_CERT_FILE)?;
        chain.extend(read(ROOT_CERT_FILE)?);
        Self::from_chain(chain, signer, &dir.display().to_string())
    }

    /// An issuing CA whose key is `signer` and whose chain (issuing certificate first, ending
    /// with a self-signed root; a lone root issues directly) comes from `origin` (a directory,
    /// a file or a token, named in errors). Checks that `signer` is the issuing certificate's
    /// key and that every certificate is signed by the next.
    ///
    /// # Errors
    /// [`PkiError::Inconsistent`] when the chain is empty, broken or certifies another key.
    pub fn from_chain(
        chain: Vec<Certificate>,
        signer: Arc<dyn Signer>,
        origin: &str,
    ) -> Result<Self, PkiError> {
        let inconsistent = |reason: String| PkiError::Inconsistent {
            dir: origin.to_string(),
            reason,
        };
        let Some(issuer) = chain.first() else {
            return Err(inconsistent("no certificate".into()));
        };
        if issuer
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()?
            != signer.public_key_der()
        {
            return Err(inconsistent(
                "the issuing certificate does not certify the configured signing key".into(),
            ));
        }
        verify_chain(&chain).map_err(inconsistent)?;
        Ok(Self { signer, chain })
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

/// The self-signed root certificate of `spec`, for `root_key`.
fn self_signed_root(
    root_key: &dyn Signer,
    spec: &CaSpec,
    now: SystemTime,
) -> Result<Certificate, PkiError> {
    RootSpec {
        subject: name(&format!(
            "O={},CN={}",
            spec.organization, spec.root_common_name
        ))?,
        not_before: now,
        not_after: now + spec.validity,
    }
    .issue(root_key)
}

/// A self-signed root CA: keyCertSign + cRLSign, CA with pathlen 1, SKID.
#[derive(Clone, Debug)]
pub struct RootSpec {
    /// Subject (and issuer) name.
    pub subject: Name,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

impl RootSpec {
    /// Self-sign the root with `root_key`.
    ///
    /// # Errors
    /// Fails on encoding errors or when the signer fails.
    pub fn issue(&self, root_key: &dyn Signer) -> Result<Certificate, PkiError> {
        CertificateTemplate {
            serial: random_serial(),
            subject: self.subject.clone(),
            issuer: self.subject.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            subject_public_key_der: root_key.public_key_der().to_vec(),
            extensions: vec![
                key_usage_set(KeyUsages::KeyCertSign | KeyUsages::CRLSign)?,
                basic_constraints(true, Some(1))?,
                subject_key_identifier(root_key.public_key_der())?,
            ],
        }
        .issue(root_key)
    }
}

/// An issuing intermediate CA: keyCertSign + cRLSign, CA with pathlen 0, SKID/AKID, and the
/// given extended key usages (Fulcio's carries codeSigning).
#[derive(Clone, Debug)]
pub struct IntermediateSpec {
    /// Subject name.
    pub subject: Name,
    /// Extended key usages (none: no extension).
    pub extended_key_usage: Vec<ObjectIdentifier>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity (capped at the issuer's).
    pub not_after: SystemTime,
}

impl IntermediateSpec {
    /// Issue the intermediate for `subject_spki_der`, signed by `issuer_key` whose certificate
    /// is `issuer`.
    ///
    /// # Errors
    /// Fails on encoding errors, a key that does not match `issuer`, or a signer failure.
    pub fn issue(
        &self,
        subject_spki_der: &[u8],
        issuer: &Certificate,
        issuer_key: &dyn Signer,
    ) -> Result<Certificate, PkiError> {
        let issuer_spki = issuer
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()?;
        if issuer_spki != issuer_key.public_key_der() {
            return Err(PkiError::Inconsistent {
                dir: "issuer".into(),
                reason: "the issuer key does not match the issuer certificate".into(),
            });
        }
        let issuer_end = issuer
            .tbs_certificate()
            .validity()
            .not_after
            .to_system_time();
        let mut extensions = vec![
            key_usage_set(KeyUsages::KeyCertSign | KeyUsages::CRLSign)?,
            basic_constraints(true, Some(0))?,
            subject_key_identifier(subject_spki_der)?,
            authority_key_identifier(&issuer_spki)?,
        ];
        if !self.extended_key_usage.is_empty() {
            extensions.push(extended_key_usage(&self.extended_key_usage, false)?);
        }
        CertificateTemplate {
            serial: random_serial(),
            subject: self.subject.clone(),
            issuer: issuer.tbs_certificate().subject().clone(),
            not_before: self.not_before,
            not_after: self.not_after.min(issuer_end),
            subject_public_key_der: subject_spki_der.to_vec(),
            extensions,
        }
        .issue(issuer_key)
    }
}

/// Check that each certificate of `chain` is signed by the next and the last is self-signed.
///
/// # Errors
/// A description of the first link that does not verify.
pub fn verify_chain(chain: &[Certificate]) -> Result<(), String> {
    let Some(root) = chain.last() else {
        return Err("empty chain".into());
    };
    for (index, cert) in chain.iter().enumerate() {
        let issuer = chain.get(index + 1).unwrap_or(root);
        if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
            return Err(format!(
                "certificate {index} is not issued by the next certificate's subject"
            ));
        }
        let check = || -> Result<(), PkiError> {
            let key = sigstack_keys::PublicKey::from_spki_der(
                &issuer
                    .tbs_certificate()
                    .subject_public_key_info()
                    .to_der()?,
            )?;
            let signature = cert
                .signature()
                .as_bytes()
                .ok_or_else(|| PkiError::Pem("signature has unused bits".into()))?;
            let algorithm = cert.signature_algorithm();
            let parameters = algorithm
                .parameters
                .as_ref()
                .map(Encode::to_der)
                .transpose()?;
            // Only the hash paired with the issuer's key (SHA-384 for P-384, ...) is accepted.
            let scheme = key
                .scheme_for_x509_algorithm(algorithm.oid, parameters.as_deref())
                .ok_or_else(|| {
                    PkiError::Pem(format!(
                        "signature algorithm {} is not the one paired with the issuer's {:?} key",
                        algorithm.oid,
                        key.algorithm()
                    ))
                })?;
            key.verify_with(scheme, &cert.tbs_certificate().to_der()?, signature)?;
            Ok(())
        };
        check().map_err(|e| format!("certificate {index}: signature does not verify: {e}"))?;
    }
    Ok(())
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
    match sigstack_durable::read_existing_text(path) {
        Ok(Some(pem)) => {
            let cert = parse_pem_chain(&pem)?.remove(0);
            let spki = cert.tbs_certificate().subject_public_key_info().to_der()?;
            if spki != key.public_key_der() {
                return Err(inconsistent("certificate does not match its key file"));
            }
            Ok(cert)
        }
        Ok(None) => {
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
        // The root's private key is not kept anywhere, and reloading does not need it.
        assert!(!dir.path().join(ROOT_KEY_FILE).exists());
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
    fn an_existing_directory_is_served_without_the_root_key() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let ca = CertificateAuthority::load_or_create(dir.path(), &spec(true), now).unwrap();
        // A data directory from before: a root key file that is unreadable must not matter.
        std::fs::write(dir.path().join(ROOT_KEY_FILE), "not a key").unwrap();
        let again = CertificateAuthority::load_or_create(dir.path(), &spec(true), now).unwrap();
        assert_eq!(again.signer.public_key_der(), ca.signer.public_key_der());

        // from_files refuses a key that is not the intermediate's, and a broken chain.
        let other: Arc<dyn Signer> =
            Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP384Sha384).unwrap());
        let err = CertificateAuthority::from_files(dir.path(), other).unwrap_err();
        assert!(err.to_string().contains("does not certify"), "{err}");
        let foreign = tempfile::tempdir().unwrap();
        let foreign_ca =
            CertificateAuthority::load_or_create(foreign.path(), &spec(true), now).unwrap();
        std::fs::write(
            dir.path().join(ROOT_CERT_FILE),
            certificate_pem(foreign_ca.root()).unwrap(),
        )
        .unwrap();
        let err = CertificateAuthority::from_files(dir.path(), ca.signer.clone()).unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
        // A half-present chain is refused rather than silently replaced.
        std::fs::remove_file(dir.path().join(INTERMEDIATE_CERT_FILE)).unwrap();
        let err = CertificateAuthority::load_or_create(dir.path(), &spec(true), now).unwrap_err();
        assert!(matches!(err, PkiError::Inconsistent { .. }), "{err}");
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
