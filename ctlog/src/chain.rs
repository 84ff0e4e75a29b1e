//! Checking a submitted chain and turning it into a log entry.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use der::{Decode, Encode};
use sigstack_ct::{LogEntryType, POISON_OID};
use sigstack_keys::PublicKey;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage};

use crate::CtLogError;

/// Issuer links (certificate signed by issuer) between CA certificates that already verified,
/// so the intermediate-to-root signature of Fulcio's chain is checked once, not per submission.
/// Only links between CA certificates under an accepted root are remembered (an attacker cannot
/// add any without a CA's signature), and the set is bounded.
#[derive(Debug, Default)]
pub(crate) struct VerifiedLinks(parking_lot::Mutex<std::collections::HashSet<[u8; 32]>>);

/// Most links remembered; the set starts over when full.
const MAX_VERIFIED_LINKS: usize = 1024;

impl VerifiedLinks {
    fn key(cert_der: &[u8], issuer_der: &[u8]) -> [u8; 32] {
        let mut both = Vec::with_capacity(8 + cert_der.len() + issuer_der.len());
        both.extend_from_slice(&(cert_der.len() as u64).to_be_bytes());
        both.extend_from_slice(cert_der);
        both.extend_from_slice(issuer_der);
        sigstack_keys::sha256(&both)
    }

    fn contains(&self, cert_der: &[u8], issuer_der: &[u8]) -> bool {
        self.0.lock().contains(&Self::key(cert_der, issuer_der))
    }

    fn insert(&self, cert_der: &[u8], issuer_der: &[u8]) {
        let mut set = self.0.lock();
        if set.len() >= MAX_VERIFIED_LINKS {
            set.clear();
        }
        set.insert(Self::key(cert_der, issuer_der));
    }
}

/// Most certificates accepted in one submitted chain.
pub(crate) const MAX_CHAIN_LEN: usize = 10;

/// `id-kp-precertificateSigning` (RFC 6962 §3.1): a Precertificate Signing Certificate.
const PRECERT_SIGNING_EKU: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.4");

/// Which endpoint the chain came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Submission {
    /// `add-chain`: the leaf is a final certificate.
    Certificate,
    /// `add-pre-chain`: the leaf is a poisoned precertificate.
    Precertificate,
}

/// A chain that checked out: its log entry and the `extra_data` served by `get-entries`.
pub(crate) struct VerifiedChain {
    pub(crate) entry: LogEntryType,
    pub(crate) extra_data: Vec<u8>,
}

fn bad(msg: impl Into<String>) -> CtLogError {
    CtLogError::BadChain(msg.into())
}

/// Decode, verify and classify a submitted chain against the accepted `roots`.
///
/// Every certificate must be signed by the next one (issuer name = next subject, the issuer a
/// CA, the signature algorithm the issuer key's), and the last must be a configured root or
/// be signed by one; the root is appended to the stored chain when the submitter left it out.
pub(crate) fn verify_chain(
    kind: Submission,
    unverified_chain: &[String],
    roots: &[Certificate],
    verified_links: &VerifiedLinks,
) -> Result<VerifiedChain, CtLogError> {
    if unverified_chain.is_empty() {
        return Err(bad("chain is empty"));
    }
    if unverified_chain.len() > MAX_CHAIN_LEN {
        return Err(bad(format!(
            "chain has more than {MAX_CHAIN_LEN} certificates"
        )));
    }
    let mut ders = Vec::with_capacity(unverified_chain.len() + 1);
    let mut certs = Vec::with_capacity(unverified_chain.len() + 1);
    for (i, b64) in unverified_chain.iter().enumerate() {
        let der = B64
            .decode(b64.trim())
            .map_err(|_| bad(format!("chain[{i}] is not valid base64")))?;
        let cert = Certificate::from_der(&der)
            .map_err(|e| bad(format!("chain[{i}] is not a DER certificate: {e}")))?;
        ders.push(der);
        certs.push(cert);
    }

    // Anchor the chain: the last certificate is a root, or a root issued it.
    let last_der = &ders[ders.len() - 1];
    let last = &certs[certs.len() - 1];
    let is_root = roots
        .iter()
        .any(|r| r.to_der().is_ok_and(|d| d == *last_der));
    if !is_root {
        let root = roots
            .iter()
            .find(|r| {
                r.tbs_certificate().subject() == last.tbs_certificate().issuer()
                    && check_signed_by(last, r).is_ok()
            })
            .ok_or_else(|| bad("chain does not end at or under an accepted root"))?;
        ders.push(
            root.to_der()
                .map_err(|e| CtLogError::Internal(e.to_string()))?,
        );
        certs.push(root.clone());
    }
    if certs.len() < 2 {
        return Err(bad("a root certificate cannot be logged as a leaf"));
    }

    for i in 0..certs.len() - 1 {
        let (cert, issuer) = (&certs[i], &certs[i + 1]);
        if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
            return Err(bad(format!(
                "chain[{i}] issuer name is not chain[{}] subject",
                i + 1
            )));
        }
        let ca = issuer
            .tbs_certificate()
            .get_extension::<BasicConstraints>()
            .map_err(|e| bad(format!("chain[{}] basic constraints: {e}", i + 1)))?
            .is_some_and(|(_, bc)| bc.ca);
        if !ca {
            return Err(bad(format!("chain[{}] is not a CA certificate", i + 1)));
        }
        // Links between CA certificates repeat on every submission: verify each once.
        let cached = i > 0 && verified_links.contains(&ders[i], &ders[i + 1]);
        if !cached {
            check_signed_by(cert, issuer)
                .map_err(|reason| bad(format!("chain[{i}] signature: {reason}")))?;
        }
    }
    for (i, cert) in certs.iter().enumerate().skip(1) {
        if sigstack_ct::is_precertificate(cert).unwrap_or(true) {
            return Err(bad(format!(
                "chain[{i}] is a precertificate; only the leaf may be"
            )));
        }
    }

    for i in 1..certs.len() - 1 {
        verified_links.insert(&ders[i], &ders[i + 1]);
    }

    let leaf = &certs[0];
    let poisoned = sigstack_ct::is_precertificate(leaf)
        .map_err(|e| bad(format!("leaf poison extension: {e}")))?;
    let issuer = &certs[1];
    let chain_without_leaf = &ders[1..];
    match kind {
        Submission::Certificate => {
            if poisoned {
                return Err(bad("add-chain leaf is a precertificate; use add-pre-chain"));
            }
            Ok(VerifiedChain {
                entry: LogEntryType::X509(ders[0].clone()),
                extra_data: sigstack_ct::x509_chain_extra_data(chain_without_leaf)
                    .map_err(|e| bad(e.to_string()))?,
            })
        }
        Submission::Precertificate => {
            if !poisoned {
                return Err(bad(
                    "add-pre-chain leaf lacks the critical poison extension",
                ));
            }
            let precert_signer = issuer
                .tbs_certificate()
                .get_extension::<ExtendedKeyUsage>()
                .map_err(|e| bad(format!("chain[1] extended key usage: {e}")))?
                .is_some_and(|(_, eku)| eku.0.contains(&PRECERT_SIGNING_EKU));
            if precert_signer {
                return Err(bad("precertificate signing certificates are not supported"));
            }
            let issuer_spki = spki_der(issuer)?;
            let tbs = leaf
                .tbs_certificate()
                .to_der()
                .map_err(|e| bad(format!("leaf TBS: {e}")))?;
            let tbs_der = sigstack_ct::tbs_without_extension(&tbs, POISON_OID)
                .map_err(|e| bad(format!("leaf TBS: {e}")))?;
            Ok(VerifiedChain {
                entry: LogEntryType::Precert {
                    issuer_key_hash: sigstack_keys::sha256(&issuer_spki),
                    tbs_der,
                },
                extra_data: sigstack_ct::precert_chain_extra_data(&ders[0], chain_without_leaf)
                    .map_err(|e| bad(e.to_string()))?,
            })
        }
    }
}

fn spki_der(cert: &Certificate) -> Result<Vec<u8>, CtLogError> {
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| bad(format!("issuer public key: {e}")))
}

/// Whether `issuer`'s key made `cert`'s signature, with the signature algorithm that key uses.
fn check_signed_by(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    let issuer_spki = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| e.to_string())?;
    let key = PublicKey::from_spki_der(&issuer_spki).map_err(|e| format!("issuer key: {e}"))?;
    let want = key.algorithm().signature_algorithm_identifier();
    if cert.signature_algorithm().oid != want.oid {
        return Err(format!(
            "algorithm {} does not match the issuer key ({})",
            cert.signature_algorithm().oid,
            want.oid
        ));
    }
    let tbs = cert.tbs_certificate().to_der().map_err(|e| e.to_string())?;
    let signature = cert
        .signature()
        .as_bytes()
        .ok_or("signature has unused bits")?;
    key.verify(&tbs, signature).map_err(|e| e.to_string())
}
