//! Offline verification of Sigstore bundles against a trusted root, with no network at all.
//!
//! This is a protocol-layer crate: no tokio, no axum, no HTTP, no database, no file I/O. The
//! caller passes the bundle bytes, the artifact's SHA-256, a parsed [`TrustedRoot`] and a
//! [`Policy`]; [`verify`] returns what it established or a [`VerifyError`] whose variant names
//! the check that failed ([`VerifyError::check`]).
//!
//! What is checked, in order:
//! 1. the bundle parses and its media type is v0.1, v0.2 or v0.3;
//! 2. the verification material fits the policy (a certificate for an identity policy, a public
//!    key equal to the given key for a key policy);
//! 3. the artifact: the message digest (or the in-toto statement's subject) is the artifact's
//!    SHA-256;
//! 4. the signature over the digest (message signatures) or over the DSSE PAE;
//! 5. every transparency-log entry (at least one): the log is in the trusted root, the Rekor v1
//!    SET verifies, the inclusion proof reaches the root of a checkpoint signed by the log key
//!    (and cosigned by enough witnesses when the policy asks), and the logged body
//!    (hashedrekord 0.0.1/0.0.2, dsse 0.0.1/0.0.2, intoto 0.0.2) describes this bundle;
//! 6. every RFC 3161 timestamp verifies against a trusted timestamp authority;
//! 7. for certificates, at least one signing time comes from a verified timestamp or SET;
//! 8. for certificates: the chain to a trusted CA, valid at every signing time, the
//!    code-signing profile, an SCT from a trusted CT log, and the identity and OIDC issuer;
//! 9. each log key was valid at its entry's time.
//!
//! Only SHA-256 artifacts are supported, and keys of the types `sigstack-keys` verifies
//! (ECDSA P-256 and P-384, Ed25519); RSA keys in a trusted root are kept but refused when a
//! bundle needs them.

mod bundle;
mod cert;
mod error;
mod root;
mod timestamp;
mod tlog;

use der::{Decode, Encode};
use serde_json::Value;
use sigstack_keys::{PublicKey, SignatureAlgorithm};
use x509_cert::Certificate;

pub use bundle::{Bundle, BundleVersion, MAX_BUNDLE_BYTES};
pub use error::VerifyError;
pub use root::{MAX_TRUSTED_ROOT_BYTES, TrustedAuthority, TrustedLog, TrustedRoot, Window};
pub use tlog::{Witness, WitnessPolicy};

/// How an identity or issuer is matched.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// The exact string.
    Exact(String),
    /// A regular expression that must match the whole value.
    Regex(regex::Regex),
}

impl Matcher {
    /// A regex matcher, anchored at both ends.
    ///
    /// # Errors
    /// [`VerifyError::Policy`] for an invalid expression.
    pub fn regex(pattern: &str) -> Result<Self, VerifyError> {
        regex::Regex::new(&format!("^(?:{pattern})$"))
            .map(Self::Regex)
            .map_err(|e| VerifyError::Policy(format!("regex {pattern:?}: {e}")))
    }

    /// Whether `value` matches.
    #[must_use]
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(s) => s == value,
            Self::Regex(r) => r.is_match(value),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Exact(s) => format!("{s:?}"),
            Self::Regex(r) => format!("a match of /{}/", r.as_str()),
        }
    }
}

/// Who must have signed.
#[derive(Clone, Debug)]
pub enum SignerPolicy {
    /// A Fulcio-style certificate with this SAN identity and OIDC issuer.
    Identity {
        /// SAN (email, URI or user name).
        identity: Matcher,
        /// OIDC issuer.
        issuer: Matcher,
    },
    /// A bundle signed with this public key.
    Key(PublicKey),
}

/// What a bundle must satisfy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The signer.
    pub signer: SignerPolicy,
    /// Witness cosignatures required on every checkpoint, if any.
    pub witnesses: Option<WitnessPolicy>,
}

/// What verification established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The bundle version.
    pub version: BundleVersion,
    /// Verified signing times (Unix seconds): RFC 3161 `genTime`s, then SET integration times.
    pub signing_times: Vec<i64>,
    /// The certificate's SAN values (empty for key bundles).
    pub identities: Vec<String>,
    /// The certificate's OIDC issuer.
    pub issuer: Option<String>,
    /// Number of verified transparency-log entries.
    pub tlog_entries: usize,
    /// The in-toto statement of a DSSE bundle.
    pub statement: Option<Value>,
}

/// The signed content of a bundle.
pub(crate) struct Content {
    /// The artifact's SHA-256.
    pub digest: [u8; 32],
    /// The signature bytes.
    pub signature: Vec<u8>,
    /// For DSSE bundles: the envelope.
    pub payload: Option<DssePayload>,
}

pub(crate) struct DssePayload {
    pub payload: Vec<u8>,
    pub payload_type: String,
    pub pae: Vec<u8>,
}

/// The signer's material from the bundle.
pub(crate) enum SignerMaterial {
    /// A leaf certificate.
    Certificate {
        der: Vec<u8>,
        cert: Box<Certificate>,
        key: PublicKey,
    },
    /// A public key (given by the policy; the bundle only carries a hint).
    Key(PublicKey),
}

impl SignerMaterial {
    fn key(&self) -> &PublicKey {
        match self {
            Self::Certificate { key, .. } | Self::Key(key) => key,
        }
    }
}

/// The DSSE pre-authentication encoding: `"DSSEv1" SP len(type) SP type SP len(body) SP body`.
#[must_use]
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Media type of in-toto statements in DSSE envelopes.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The in-toto statement `_type`s accepted in DSSE payloads.
pub const IN_TOTO_STATEMENT_TYPES: [&str; 2] = [
    "https://in-toto.io/Statement/v1",
    "https://in-toto.io/Statement/v0.1",
];

/// Verify `unverified_bundle` (bundle JSON) over the artifact whose SHA-256 is
/// `artifact_sha256`, against `root`, under `policy`. Uses no network and no clock: every time
/// checked comes from the bundle's verified timestamps.
///
/// # Errors
/// The first failed check, as a [`VerifyError`].
pub fn verify(
    unverified_bundle: &[u8],
    artifact_sha256: &[u8; 32],
    root: &TrustedRoot,
    policy: &Policy,
) -> Result<Verified, VerifyError> {
    let bundle = Bundle::from_json(unverified_bundle)?;
    let version = BundleVersion::from_media_type(&bundle.media_type)?;
    let material = &bundle.verification_material;

    // Signer material.
    let signer = signer_material(&bundle, version, policy)?;

    // Content, artifact and signature.
    let (content, statement) = content(&bundle, artifact_sha256)?;
    check_signature(&content, signer.key())?;

    // Transparency-log entries.
    if material.tlog_entries.is_empty() {
        return Err(VerifyError::UnknownLog(
            "the bundle has no transparency-log entry".into(),
        ));
    }
    let entries = material
        .tlog_entries
        .iter()
        .map(|entry| {
            tlog::verify_entry(
                entry,
                version,
                &root.tlogs,
                &content,
                &signer,
                policy.witnesses.as_ref(),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;

    // Signing times.
    let mut tsa_times = Vec::new();
    if let Some(data) = &material.timestamp_verification_data {
        for ts in &data.rfc3161_timestamps {
            let der = bundle::b64("signedTimestamp", &ts.signed_timestamp)?;
            tsa_times.push(timestamp::verify_timestamp(
                &der,
                &content.signature,
                &root.timestamp_authorities,
            )?);
        }
    }
    let mut signing_times = tsa_times.clone();
    signing_times.extend(entries.iter().filter_map(|e| e.set_time));
    // A certificate is only meaningful at a verified time; a key-signed bundle has no
    // certificate whose validity needs a time (its log entries are still verified).
    if signing_times.is_empty() && matches!(signer, SignerMaterial::Certificate { .. }) {
        return Err(VerifyError::NoTimeSource);
    }

    // Certificate.
    let (identities, issuer) = match &signer {
        SignerMaterial::Certificate { cert, .. } => {
            let authority =
                cert::verify_chain(cert, &root.certificate_authorities, &signing_times)?;
            cert::check_code_signing_profile(cert)?;
            cert::verify_scts(cert, &authority.chain[0], &root.ctlogs)?;
            let identities = cert::san_values(cert);
            let issuer = cert::oidc_issuer(cert);
            if let SignerPolicy::Identity {
                identity: want_identity,
                issuer: want_issuer,
            } = &policy.signer
            {
                if !identities.iter().any(|v| want_identity.matches(v)) {
                    return Err(VerifyError::Identity {
                        expected: want_identity.describe(),
                        found: identities,
                    });
                }
                if !issuer.as_deref().is_some_and(|i| want_issuer.matches(i)) {
                    return Err(VerifyError::Issuer {
                        expected: want_issuer.describe(),
                        found: issuer,
                    });
                }
            }
            (identities, issuer)
        }
        SignerMaterial::Key(_) => (Vec::new(), None),
    };

    // Log keys valid at their entries' times.
    for entry in &entries {
        let times: &[i64] = match &entry.set_time {
            Some(t) => std::slice::from_ref(t),
            None => &tsa_times,
        };
        if let Some(t) = times.iter().find(|t| !entry.log.valid_for.contains(**t)) {
            return Err(VerifyError::LogKeyValidity(format!(
                "the key of log {} is not valid at {t}",
                entry.log.base_url
            )));
        }
    }

    Ok(Verified {
        version,
        signing_times,
        identities,
        issuer,
        tlog_entries: entries.len(),
        statement,
    })
}

fn signer_material(
    bundle: &Bundle,
    version: BundleVersion,
    policy: &Policy,
) -> Result<SignerMaterial, VerifyError> {
    let bad = |m: &str| VerifyError::VerificationMaterial(m.to_string());
    let material = &bundle.verification_material;
    let leaf_b64 = match (&material.certificate, &material.x509_certificate_chain) {
        (Some(cert), None) => Some(&cert.raw_bytes),
        (None, Some(chain)) if version < BundleVersion::V0_3 => Some(
            &chain
                .certificates
                .first()
                .ok_or_else(|| bad("empty certificate chain"))?
                .raw_bytes,
        ),
        (None, Some(_)) => return Err(bad("a v0.3 bundle carries a single certificate")),
        (Some(_), Some(_)) => return Err(bad("both a certificate and a chain")),
        (None, None) => None,
    };
    match (leaf_b64, &policy.signer) {
        (Some(b64), SignerPolicy::Identity { .. }) => {
            let der = bundle::b64("certificate.rawBytes", b64)?;
            let cert = Certificate::from_der(&der)
                .map_err(|e| VerifyError::CertificateChain(format!("leaf certificate: {e}")))?;
            let spki = cert
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .map_err(|e| VerifyError::CertificateChain(e.to_string()))?;
            let key = PublicKey::from_spki_der(&spki)
                .map_err(|e| VerifyError::CertificateChain(format!("leaf key: {e}")))?;
            Ok(SignerMaterial::Certificate {
                der,
                cert: Box::new(cert),
                key,
            })
        }
        (None, SignerPolicy::Key(key)) if material.public_key.is_some() => {
            Ok(SignerMaterial::Key(key.clone()))
        }
        (Some(_), SignerPolicy::Key(_)) => {
            Err(bad("the bundle is certificate-signed but a key was given"))
        }
        (None, SignerPolicy::Identity { .. }) => Err(bad(
            "the bundle has no certificate (key-signed bundles need --key)",
        )),
        (None, SignerPolicy::Key(_)) => Err(bad("the bundle has neither certificate nor key")),
    }
}

fn content(
    bundle: &Bundle,
    artifact_sha256: &[u8; 32],
) -> Result<(Content, Option<Value>), VerifyError> {
    match (&bundle.message_signature, &bundle.dsse_envelope) {
        (Some(message), None) => {
            if let Some(digest) = &message.message_digest {
                if digest.algorithm != "SHA2_256" {
                    return Err(VerifyError::Artifact(format!(
                        "message digest algorithm {} (only SHA2_256 is supported)",
                        digest.algorithm
                    )));
                }
                if bundle::b64("messageDigest.digest", &digest.digest)? != artifact_sha256 {
                    return Err(VerifyError::Artifact(
                        "the signed digest is not the artifact's SHA-256".into(),
                    ));
                }
            }
            Ok((
                Content {
                    digest: *artifact_sha256,
                    signature: bundle::b64("messageSignature.signature", &message.signature)?,
                    payload: None,
                },
                None,
            ))
        }
        (None, Some(envelope)) => {
            let [signature] = envelope.signatures.as_slice() else {
                return Err(VerifyError::Signature(
                    "the DSSE envelope must carry exactly one signature".into(),
                ));
            };
            let payload = bundle::b64("dsseEnvelope.payload", &envelope.payload)?;
            if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
                return Err(VerifyError::Artifact(format!(
                    "payload type {} is not an in-toto statement",
                    envelope.payload_type
                )));
            }
            let statement: Value = serde_json::from_slice(&payload)
                .map_err(|_| VerifyError::Artifact("the in-toto statement is not JSON".into()))?;
            let statement_type = statement["_type"].as_str().unwrap_or_default();
            if !IN_TOTO_STATEMENT_TYPES.contains(&statement_type) {
                return Err(VerifyError::Artifact(format!(
                    "the payload is not an in-toto statement (_type {statement_type:?})"
                )));
            }
            let want = hex::encode(artifact_sha256);
            let covered = statement["subject"].as_array().is_some_and(|subjects| {
                subjects.iter().any(|s| {
                    s["digest"]["sha256"]
                        .as_str()
                        .is_some_and(|d| d.eq_ignore_ascii_case(&want))
                })
            });
            if !covered {
                return Err(VerifyError::Artifact(
                    "no in-toto subject has the artifact's SHA-256".into(),
                ));
            }
            Ok((
                Content {
                    digest: *artifact_sha256,
                    signature: bundle::b64("dsseEnvelope.signatures[].sig", &signature.sig)?,
                    payload: Some(DssePayload {
                        pae: pae(&envelope.payload_type, &payload),
                        payload,
                        payload_type: envelope.payload_type.clone(),
                    }),
                },
                Some(statement),
            ))
        }
        _ => Err(VerifyError::MalformedBundle(
            "exactly one of messageSignature and dsseEnvelope is required".into(),
        )),
    }
}

fn check_signature(content: &Content, key: &PublicKey) -> Result<(), VerifyError> {
    let result = match &content.payload {
        Some(dsse) => key.verify(&dsse.pae, &content.signature),
        None => match key.algorithm() {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                key.verify_prehash(&content.digest, &content.signature)
            }
            other => {
                return Err(VerifyError::Signature(format!(
                    "a {other:?} key cannot sign a SHA-256 message digest"
                )));
            }
        },
    };
    result.map_err(|e| {
        VerifyError::Signature(format!("does not verify under the signer's key ({e})"))
    })
}
