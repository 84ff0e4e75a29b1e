//! Test helpers: a generated TSA chain and OpenSSL `ts -verify`.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use der::Encode;
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer};
use sigstack_pki::{CaSpec, CertificateAuthority, CertificateTemplate};
use x509_cert::Certificate;
use x509_cert::ext::pkix::KeyUsages;

/// A root (P-384) [+ intermediate] and a time-stamping leaf of `leaf_alg`.
pub struct TestChain {
    pub leaf_signer: Arc<dyn Signer>,
    /// Leaf first, root last.
    pub chain: Vec<Certificate>,
    _dir: tempfile::TempDir,
}

impl TestChain {
    pub fn leaf(&self) -> &Certificate {
        &self.chain[0]
    }

    pub fn root(&self) -> &Certificate {
        &self.chain[self.chain.len() - 1]
    }
}

pub fn generate_chain(
    leaf_alg: SignatureAlgorithm,
    intermediate: bool,
    leaf_eku_critical: bool,
) -> TestChain {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now() - Duration::from_secs(60);
    let spec = CaSpec {
        organization: "sigstack-test".into(),
        root_common_name: "test tsa root".into(),
        intermediate_common_name: intermediate.then(|| "test tsa intermediate".into()),
        algorithm: SignatureAlgorithm::EcdsaP384Sha384,
        intermediate_extended_key_usage: vec![],
        validity: Duration::from_secs(86400),
    };
    let ca = CertificateAuthority::load_or_create(dir.path(), &spec, now).unwrap();
    let leaf_signer: Arc<dyn Signer> = Arc::new(FileSigner::generate(leaf_alg).unwrap());
    let leaf = CertificateTemplate {
        serial: sigstack_pki::random_serial(),
        subject: sigstack_pki::name("O=sigstack-test,CN=test tsa").unwrap(),
        issuer: ca.issuer().tbs_certificate().subject().clone(),
        not_before: now,
        not_after: now + Duration::from_secs(3600),
        subject_public_key_der: leaf_signer.public_key_der().to_vec(),
        extensions: vec![
            sigstack_pki::key_usage_set(KeyUsages::DigitalSignature.into()).unwrap(),
            sigstack_pki::extended_key_usage(
                &[sigstack_tsp::ID_KP_TIME_STAMPING],
                leaf_eku_critical,
            )
            .unwrap(),
            sigstack_pki::subject_key_identifier(leaf_signer.public_key_der()).unwrap(),
            sigstack_pki::authority_key_identifier(ca.signer.public_key_der()).unwrap(),
            sigstack_pki::basic_constraints(false, None).unwrap(),
        ],
    }
    .issue(ca.signer.as_ref())
    .unwrap();
    let mut chain = vec![leaf];
    chain.extend(ca.chain.iter().cloned());
    TestChain {
        leaf_signer,
        chain,
        _dir: dir,
    }
}

pub fn pem(certs: &[Certificate]) -> String {
    certs
        .iter()
        .map(|c| sigstack_keys::pem_encode("CERTIFICATE", &c.to_der().unwrap()))
        .collect()
}

/// What the reply must be checked against.
pub enum Against<'a> {
    /// `-queryfile` with this DER request.
    Query(&'a [u8]),
    /// `-data` with this message.
    Data(&'a [u8]),
}

/// Run `openssl ts -verify`; returns whether it printed "Verification: OK" and exited 0,
/// plus its combined output.
pub fn openssl_ts_verify(
    reply_der: &[u8],
    against: Against<'_>,
    ca_pem: &str,
    untrusted_pem: Option<&str>,
) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("resp.tsr"), reply_der).unwrap();
    std::fs::write(path("ca.pem"), ca_pem).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.args(["ts", "-verify", "-in"])
        .arg(path("resp.tsr"))
        .arg("-CAfile")
        .arg(path("ca.pem"));
    match against {
        Against::Query(req) => {
            std::fs::write(path("req.tsq"), req).unwrap();
            cmd.arg("-queryfile").arg(path("req.tsq"));
        }
        Against::Data(data) => {
            std::fs::write(path("data"), data).unwrap();
            cmd.arg("-data").arg(path("data"));
        }
    }
    if let Some(untrusted) = untrusted_pem {
        std::fs::write(path("untrusted.pem"), untrusted).unwrap();
        cmd.arg("-untrusted").arg(path("untrusted.pem"));
    }
    run(cmd, dir.path())
}

fn run(mut cmd: Command, _dir: &Path) -> (bool, String) {
    let out = cmd.output().expect("openssl must be installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.contains("Verification: OK"),
        text,
    )
}

/// `openssl ts -reply -text` output for a reply.
pub fn openssl_ts_text(reply_der: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("resp.tsr");
    std::fs::write(&file, reply_der).unwrap();
    let out = Command::new("openssl")
        .args(["ts", "-reply", "-text", "-in"])
        .arg(&file)
        .output()
        .expect("openssl must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
