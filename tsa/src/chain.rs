//! The TSA's certificate chain: a P-384 root and a P-256 time-stamping leaf, created in the
//! state directory on first run and reused (after consistency checks) on later runs.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use der::Encode;
use sigstack_keys::{FileSigner, PublicKey, SignatureAlgorithm, Signer};
use sigstack_pki::CertificateTemplate;
use x509_cert::Certificate;
use x509_cert::ext::pkix::KeyUsages;

use crate::TsaError;

/// Validity of the root; the leaf ends with the root.
const VALIDITY: Duration = Duration::from_secs(10 * 365 * 86_400);
/// PKCS#8 PEM key of the leaf (mode 0600).
const LEAF_KEY_FILE: &str = "tsa-leaf-key.pem";
/// PEM certificate of the leaf.
const LEAF_CERT_FILE: &str = "tsa-leaf.pem";

/// The signing key and its chain, leaf first and root last.
pub(crate) struct TsaChain {
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) chain: Vec<Certificate>,
}

/// Load the chain from `dir`, or create it there: `root.pem`, `tsa-leaf.pem` and, unless the
/// key is configured elsewhere (`key`, for example on an HSM), `tsa-leaf-key.pem`.
///
/// The root's private key is never read: an existing chain is served from the leaf alone, and
/// a fresh one gets a root whose key is generated in memory, signs the leaf and is dropped
/// (`sigstack ca` makes a root whose key is kept offline). A configured key needs its chain
/// made beforehand with `sigstack ca`.
pub(crate) fn load_or_create(
    dir: &Path,
    organization: &str,
    common_name: &str,
    key: Option<Arc<dyn Signer>>,
    now: SystemTime,
) -> Result<TsaChain, TsaError> {
    let root_path = dir.join(sigstack_pki::ROOT_CERT_FILE);
    let leaf_path = dir.join(LEAF_CERT_FILE);
    let leaf_key: Arc<dyn Signer> = match key {
        Some(key) => {
            if !leaf_path.exists() || !root_path.exists() {
                return Err(inconsistent(
                    &leaf_path,
                    "no certificate for the configured TSA key; create one with \
                     `sigstack ca create-intermediate --for tsa` (or `sigstack ca csr` and \
                     `sigstack ca import --for tsa`)",
                ));
            }
            key
        }
        None => {
            sigstack_durable::create_dir_all(dir).map_err(|source| TsaError::Io {
                path: dir.display().to_string(),
                source,
            })?;
            Arc::new(FileSigner::load_or_generate(
                &dir.join(LEAF_KEY_FILE),
                SignatureAlgorithm::EcdsaP256Sha256,
            )?)
        }
    };
    let read = |path: &Path| {
        sigstack_durable::read_to_string(path).map_err(|source| TsaError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    match (leaf_path.exists(), root_path.exists()) {
        (true, true) => {
            let root = sigstack_pki::parse_pem_chain(&read(&root_path)?)?
                .into_iter()
                .next()
                .ok_or_else(|| inconsistent(&root_path, "no certificate"))?;
            let leaf = sigstack_pki::parse_pem_chain(&read(&leaf_path)?)?
                .into_iter()
                .next()
                .ok_or_else(|| inconsistent(&leaf_path, "no certificate"))?;
            check_leaf(&leaf_path, &leaf, leaf_key.as_ref(), &root)?;
            Ok(TsaChain {
                signer: leaf_key,
                chain: vec![leaf, root],
            })
        }
        (false, false) => {
            // First run: an ephemeral root signs the leaf and is then dropped.
            let root_key = FileSigner::generate(SignatureAlgorithm::EcdsaP384Sha384)?;
            let root = sigstack_pki::RootSpec {
                subject: sigstack_pki::name(&format!("O={organization},CN={common_name} root"))?,
                not_before: now,
                not_after: now + VALIDITY,
            }
            .issue(&root_key)?;
            let leaf = issue_leaf(
                &root_key,
                &root,
                leaf_key.public_key_der(),
                organization,
                common_name,
                now,
            )?;
            for (path, cert) in [(&root_path, &root), (&leaf_path, &leaf)] {
                sigstack_durable::write(path, sigstack_pki::certificate_pem(cert)?.as_bytes())
                    .map_err(|source| TsaError::Io {
                        path: path.display().to_string(),
                        source,
                    })?;
            }
            Ok(TsaChain {
                signer: leaf_key,
                chain: vec![leaf, root],
            })
        }
        _ => Err(inconsistent(
            dir,
            "root.pem and tsa-leaf.pem must both exist or both be absent",
        )),
    }
}

/// The leaf profile RFC 3161 §2.3 and the Sigstore clients require: KeyUsage digitalSignature
/// (critical), ExtendedKeyUsage id-kp-timeStamping only (critical), SKI, AKI, not a CA.
pub fn issue_leaf(
    root_key: &dyn Signer,
    root: &Certificate,
    leaf_spki_der: &[u8],
    organization: &str,
    common_name: &str,
    now: SystemTime,
) -> Result<Certificate, TsaError> {
    let root_end = root.tbs_certificate().validity().not_after.to_system_time();
    let template = CertificateTemplate {
        serial: sigstack_pki::random_serial(),
        subject: sigstack_pki::name(&format!("O={organization},CN={common_name}"))?,
        issuer: root.tbs_certificate().subject().clone(),
        not_before: now,
        not_after: (now + VALIDITY).min(root_end),
        subject_public_key_der: leaf_spki_der.to_vec(),
        extensions: vec![
            sigstack_pki::key_usage_set(KeyUsages::DigitalSignature.into())?,
            sigstack_pki::extended_key_usage(&[sigstack_tsp::ID_KP_TIME_STAMPING], true)?,
            sigstack_pki::subject_key_identifier(leaf_spki_der)?,
            sigstack_pki::authority_key_identifier(root_key.public_key_der())?,
            sigstack_pki::basic_constraints(false, None)?,
        ],
    };
    Ok(template.issue(root_key)?)
}

/// A stored leaf must certify the stored key and be signed by the stored root.
fn check_leaf(
    path: &Path,
    leaf: &Certificate,
    leaf_key: &dyn Signer,
    root: &Certificate,
) -> Result<(), TsaError> {
    let tbs = leaf.tbs_certificate();
    if tbs
        .subject_public_key_info()
        .to_der()
        .map_err(sigstack_pki::PkiError::from)?
        != leaf_key.public_key_der()
    {
        return Err(inconsistent(
            path,
            "certificate does not match its key file",
        ));
    }
    if tbs.issuer() != root.tbs_certificate().subject() {
        return Err(inconsistent(path, "certificate was not issued by root.pem"));
    }
    let root_spki = root
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(sigstack_pki::PkiError::from)?;
    let signature = leaf
        .signature()
        .as_bytes()
        .ok_or_else(|| inconsistent(path, "certificate signature has unused bits"))?;
    let signed = tbs.to_der().map_err(sigstack_pki::PkiError::from)?;
    PublicKey::from_spki_der(&root_spki)?
        .verify(&signed, signature)
        .map_err(|_| inconsistent(path, "certificate is not signed by root.pem's key"))
}

fn inconsistent(path: &Path, reason: &str) -> TsaError {
    TsaError::Inconsistent {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}
