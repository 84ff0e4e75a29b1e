//! The TSA's certificate chain: a P-384 root and a P-256 time-stamping leaf, created in the
//! state directory on first run and reused (after consistency checks) on later runs.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use der::Encode;
use sigstack_keys::{FileSigner, PublicKey, SignatureAlgorithm, Signer};
use sigstack_pki::{CaSpec, CertificateAuthority, CertificateTemplate};
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

/// Load the chain from `dir`, or create it there. The root uses `sigstack_pki`'s files
/// (`root.pem`, `root-key.pem`); the leaf lives in `tsa-leaf.pem` / `tsa-leaf-key.pem`.
pub(crate) fn load_or_create(
    dir: &Path,
    organization: &str,
    common_name: &str,
    now: SystemTime,
) -> Result<TsaChain, TsaError> {
    let spec = CaSpec {
        organization: organization.to_string(),
        root_common_name: format!("{common_name} root"),
        intermediate_common_name: None,
        algorithm: SignatureAlgorithm::EcdsaP384Sha384,
        intermediate_extended_key_usage: vec![],
        validity: VALIDITY,
    };
    let ca = CertificateAuthority::load_or_create(dir, &spec, now)?;
    let root = ca.root().clone();
    let leaf_key = Arc::new(FileSigner::load_or_generate(
        &dir.join(LEAF_KEY_FILE),
        SignatureAlgorithm::EcdsaP256Sha256,
    )?);
    let leaf_path = dir.join(LEAF_CERT_FILE);
    let io = |source| TsaError::Io {
        path: leaf_path.display().to_string(),
        source,
    };
    let leaf = match std::fs::read_to_string(&leaf_path) {
        Ok(pem) => {
            let leaf = sigstack_pki::parse_pem_chain(&pem)?
                .into_iter()
                .next()
                .ok_or_else(|| inconsistent(&leaf_path, "no certificate"))?;
            check_leaf(&leaf_path, &leaf, leaf_key.as_ref(), &root)?;
            leaf
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let leaf = issue_leaf(
                &ca,
                &root,
                leaf_key.as_ref(),
                organization,
                common_name,
                now,
            )?;
            sigstack_durable::write(&leaf_path, sigstack_pki::certificate_pem(&leaf)?.as_bytes())
                .map_err(io)?;
            leaf
        }
        Err(e) => return Err(io(e)),
    };
    Ok(TsaChain {
        signer: leaf_key,
        chain: vec![leaf, root],
    })
}

/// The leaf profile RFC 3161 §2.3 and the Sigstore clients require: KeyUsage digitalSignature
/// (critical), ExtendedKeyUsage id-kp-timeStamping only (critical), SKI, AKI, not a CA.
fn issue_leaf(
    ca: &CertificateAuthority,
    root: &Certificate,
    leaf_key: &dyn Signer,
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
        subject_public_key_der: leaf_key.public_key_der().to_vec(),
        extensions: vec![
            sigstack_pki::key_usage_set(KeyUsages::DigitalSignature.into())?,
            sigstack_pki::extended_key_usage(&[sigstack_tsp::ID_KP_TIME_STAMPING], true)?,
            sigstack_pki::subject_key_identifier(leaf_key.public_key_der())?,
            sigstack_pki::authority_key_identifier(ca.signer.public_key_der())?,
            sigstack_pki::basic_constraints(false, None)?,
        ],
    };
    Ok(template.issue(ca.signer.as_ref())?)
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
