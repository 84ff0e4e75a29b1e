//! The signing identity (a P-256 key with its certificate) and the pre-signed request bodies.

use std::time::{Duration, SystemTime};

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use serde_json::{Value, json};
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer as _, sha256};
use sigstack_pki::{CaSpec, CertificateAuthority, CertificateTemplate};

use crate::{Api, Identity, check_loopback};

/// A P-256 signing key and what the entries name as its verifier.
pub struct SigningIdentity {
    key: FileSigner,
    /// DER of the leaf certificate, when signing with a certificate.
    cert_der: Option<Vec<u8>>,
    /// Where the certificate came from.
    source: String,
    /// Random per run, so artifacts never repeat across runs on the same log.
    nonce: [u8; 16],
    /// With `--key-per-entry`: the throwaway CA that certifies each entry's own fresh key
    /// (`None`: every entry is signed with `key`).
    per_entry: Option<PerEntry>,
}

/// Each entry signed by a key of its own, as keyless signing does (one short-lived
/// certificate per signing event), certified by a throwaway CA unless bare keys were asked for.
struct PerEntry {
    ca: Option<LocalCa>,
}

impl SigningIdentity {
    /// A fresh key, certified by the given Fulcio, by a throwaway Fulcio-like CA, or bare.
    pub async fn new(identity: &Identity, _api: Api) -> anyhow::Result<Self> {
        let key = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256)
            .map_err(|e| anyhow!("generating the client key: {e}"))?;
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| anyhow!("random nonce: {e}"))?;
        if identity.key_per_entry {
            let ca = if identity.public_key {
                None
            } else {
                Some(LocalCa::new()?)
            };
            let source = if ca.is_some() {
                "a fresh P-256 key per entry, each with a Fulcio-like certificate from a throwaway CA"
            } else {
                "a fresh bare P-256 public key per entry"
            };
            return Ok(Self {
                key,
                cert_der: None,
                source: source.to_owned(),
                nonce,
                per_entry: Some(PerEntry { ca }),
            });
        }
        let (cert_der, source) = if identity.public_key {
            (None, "bare P-256 public key".to_owned())
        } else if let (Some(url), Some(token)) = (&identity.fulcio_url, &identity.token) {
            check_loopback(url)?;
            let der = fulcio_certificate(&key, url, token).await?;
            (
                Some(der),
                format!("P-256 key, certificate from Fulcio {url}"),
            )
        } else {
            (
                Some(LocalCa::new()?.certify(&key)?),
                "P-256 key, Fulcio-like certificate from a throwaway CA".to_owned(),
            )
        };
        Ok(Self {
            key,
            cert_der,
            source,
            nonce,
            per_entry: None,
        })
    }

    pub fn describe(&self) -> String {
        match &self.cert_der {
            Some(der) => format!("{} ({} bytes DER)", self.source, der.len()),
            None => self.source.clone(),
        }
    }

    /// The distinct artifact number `i` of this run.
    fn artifact(&self, i: usize) -> Vec<u8> {
        let mut a = b"sigstack-loadgen artifact ".to_vec();
        a.extend_from_slice(&self.nonce);
        a.extend_from_slice(&(i as u64).to_be_bytes());
        a
    }

    /// One request body for artifact `i`.
    pub fn body(&self, api: Api, i: usize) -> anyhow::Result<Bytes> {
        match &self.per_entry {
            None => self.body_signed_by(&self.key, self.cert_der.as_deref(), api, i),
            Some(PerEntry { ca }) => {
                let key = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256)
                    .map_err(|e| anyhow!("generating an entry's key: {e}"))?;
                let cert_der = ca.as_ref().map(|ca| ca.certify(&key)).transpose()?;
                self.body_signed_by(&key, cert_der.as_deref(), api, i)
            }
        }
    }

    /// The body for artifact `i` signed by `key`, naming `cert_der` (or the bare key).
    fn body_signed_by(
        &self,
        key: &FileSigner,
        cert_der: Option<&[u8]>,
        api: Api,
        i: usize,
    ) -> anyhow::Result<Bytes> {
        let artifact = self.artifact(i);
        let digest = sha256(&artifact);
        let sig = key.sign(&artifact).map_err(|e| anyhow!("signing: {e}"))?;
        let value: Value = match api {
            Api::V1 => {
                let pem = match cert_der {
                    Some(der) => sigstack_keys::pem_encode("CERTIFICATE", der),
                    None => sigstack_keys::pem_encode("PUBLIC KEY", key.public_key_der()),
                };
                json!({
                    "apiVersion": "0.0.1",
                    "kind": "hashedrekord",
                    "spec": {
                        "signature": {"content": STANDARD.encode(&sig), "publicKey": {"content": STANDARD.encode(pem)}},
                        "data": {"hash": {"algorithm": "sha256", "value": hex::encode(digest)}},
                    },
                })
            }
            Api::V2 => {
                let verifier = match cert_der {
                    Some(der) => {
                        json!({"x509Certificate": {"rawBytes": STANDARD.encode(der)}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"})
                    }
                    None => {
                        json!({"publicKey": {"rawBytes": STANDARD.encode(key.public_key_der())}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"})
                    }
                };
                json!({"hashedRekordRequestV002": {
                    "digest": STANDARD.encode(digest),
                    "signature": {"content": STANDARD.encode(&sig), "verifier": verifier},
                }})
            }
        };
        Ok(Bytes::from(serde_json::to_vec(&value)?))
    }
}

/// Sign `count` entries, artifacts `first..first + count`, on every core.
pub fn presign(
    id: &SigningIdentity,
    api: Api,
    first: usize,
    count: usize,
) -> anyhow::Result<Vec<Bytes>> {
    let start = std::time::Instant::now();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let per = count.div_ceil(threads).max(1);
    let parts: Vec<anyhow::Result<Vec<Bytes>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..count)
            .step_by(per)
            .map(|from| {
                let to = (from + per).min(count);
                s.spawn(move || (from..to).map(|i| id.body(api, first + i)).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("signing thread panicked")))
            })
            .collect()
    });
    let mut bodies = Vec::with_capacity(count);
    for part in parts {
        bodies.extend(part?);
    }
    let avg = bodies.iter().map(Bytes::len).sum::<usize>() / bodies.len().max(1);
    println!(
        "pre-signed {} entries ({avg} bytes of JSON each) in {:.1} s",
        bodies.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(bodies)
}

/// `POST /api/v2/signingCert` with the token and a proof of possession over its email (or sub).
async fn fulcio_certificate(key: &FileSigner, url: &str, token: &str) -> anyhow::Result<Vec<u8>> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| anyhow!("the token is not a JWT"))?;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .context("decoding the token payload")?,
    )
    .context("parsing the token payload")?;
    let challenge = claims["email"]
        .as_str()
        .or_else(|| claims["sub"].as_str())
        .ok_or_else(|| anyhow!("the token has neither email nor sub"))?;
    let proof = key
        .sign(challenge.as_bytes())
        .map_err(|e| anyhow!("signing the proof of possession: {e}"))?;
    let request = json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": sigstack_keys::pem_encode("PUBLIC KEY", key.public_key_der())},
            "proofOfPossession": STANDARD.encode(proof),
        },
    });
    let response = reqwest::Client::new()
        .post(format!("{}/api/v2/signingCert", url.trim_end_matches('/')))
        .json(&request)
        .send()
        .await
        .context("calling Fulcio")?;
    let status = response.status();
    let body: Value = response.json().await.context("Fulcio's answer")?;
    if !status.is_success() {
        bail!("Fulcio answered {status}: {body}");
    }
    let chain = if body["signedCertificateEmbeddedSct"].is_object() {
        &body["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    } else {
        &body["signedCertificateDetachedSct"]["chain"]["certificates"]
    };
    let leaf_pem = chain[0]
        .as_str()
        .ok_or_else(|| anyhow!("no certificate in Fulcio's answer: {body}"))?;
    let (label, der) =
        der::pem::decode_vec(leaf_pem.as_bytes()).map_err(|e| anyhow!("Fulcio's PEM: {e}"))?;
    if label != "CERTIFICATE" {
        bail!("Fulcio's PEM is a {label}");
    }
    Ok(der)
}

/// A throwaway Fulcio-like CA (P-384 root and intermediate, one hour), in a temporary
/// directory removed with it.
struct LocalCa {
    ca: CertificateAuthority,
    _dir: tempfile::TempDir,
}

impl LocalCa {
    fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let ca = CertificateAuthority::load_or_create(
            dir.path(),
            &CaSpec {
                organization: "sigstack-loadgen".into(),
                root_common_name: "loadgen-root".into(),
                intermediate_common_name: Some("loadgen-intermediate".into()),
                algorithm: SignatureAlgorithm::EcdsaP384Sha384,
                intermediate_extended_key_usage: Vec::new(),
                validity: Duration::from_secs(3600),
            },
            SystemTime::now(),
        )?;
        Ok(Self { ca, _dir: dir })
    }

    /// A leaf like Fulcio's (email SAN, OIDC issuer extension, 10 minutes) for `key`.
    fn certify(&self, key: &FileSigner) -> anyhow::Result<Vec<u8>> {
        use x509_cert::ext::pkix::SubjectAltName;
        use x509_cert::ext::pkix::name::GeneralName;
        let now = SystemTime::now();
        let san = SubjectAltName(vec![GeneralName::Rfc822Name(der::asn1::Ia5String::new(
            "loadgen@example.test",
        )?)]);
        let issuer_url = der::asn1::Utf8StringRef::new("http://127.0.0.1:7705")?;
        let extensions = vec![
            sigstack_pki::raw_extension(
                &san,
                const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME,
                true,
            )?,
            sigstack_pki::raw_extension(
                &issuer_url,
                const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8"),
                false,
            )?,
        ];
        let cert = CertificateTemplate {
            serial: sigstack_pki::random_serial(),
            subject: sigstack_pki::name("O=sigstack-loadgen")?,
            issuer: self.ca.issuer().tbs_certificate().subject().clone(),
            not_before: now,
            not_after: now + Duration::from_secs(600),
            subject_public_key_der: key.public_key_der().to_vec(),
            extensions,
        }
        .issue(self.ca.signer.as_ref())?;
        Ok(sigstack_keys::to_der(&cert)?)
    }
}
