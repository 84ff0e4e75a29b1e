//! Transparency-log entries: which trusted log, the signed entry timestamp (Rekor v1), the
//! Merkle inclusion proof and its signed checkpoint (Rekor v1 and v2), witness cosignatures, and
//! whether the logged body describes exactly this bundle.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::Encode;
use serde_json::Value;
use sigstack_keys::PublicKey;
use sigstack_tlog::merkle::{leaf_hash, verify_inclusion};
use sigstack_tlog::note::c2sp_key_hash;
use sigstack_tlog::set::set_payload;
use sigstack_tlog::{Checkpoint, Hash, Note, NoteVerifier};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::bundle::{BundleVersion, TlogEntry, b64};
use crate::root::TrustedLog;
use crate::{Content, SignerMaterial, VerifyError};

/// A trusted witness: its name and Ed25519 cosignature key (c2sp.org/tlog-cosignature).
#[derive(Clone, Debug)]
pub struct Witness {
    name: String,
    key_id: [u8; 4],
    key: PublicKey,
}

impl Witness {
    /// Parse a witness verifier key `<name>+<8 hex key ID>+<base64(0x04 || 32-byte Ed25519 key)>`
    /// and check that the key ID is `SHA-256(name || "\n" || 0x04 || key)[:4]`.
    ///
    /// # Errors
    /// [`VerifyError::Policy`].
    pub fn from_vkey(unverified: &str) -> Result<Self, VerifyError> {
        let bad = |why: &str| VerifyError::Policy(format!("witness key {unverified:?}: {why}"));
        let mut parts = unverified.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected name+keyid+key"));
        };
        let id = hex::decode(id_hex).map_err(|_| bad("key ID is not hex"))?;
        let key_id: [u8; 4] = id.try_into().map_err(|_| bad("key ID is not 4 bytes"))?;
        let typed = STANDARD
            .decode(key_b64)
            .map_err(|_| bad("key is not base64"))?;
        let (&kind, raw) = typed.split_first().ok_or_else(|| bad("empty key"))?;
        if kind != 0x04 {
            return Err(bad("not an Ed25519 cosignature key (type 0x04)"));
        }
        let raw: [u8; 32] = raw.try_into().map_err(|_| bad("key is not 32 bytes"))?;
        if cosignature_key_hash(name, &raw)[..4] != key_id {
            return Err(bad("key ID does not match the name and key"));
        }
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: sigstack_keys::ID_ED25519,
                parameters: None,
            },
            subject_public_key: der::asn1::BitString::from_bytes(&raw)
                .map_err(|_| bad("key encoding"))?,
        };
        let der = spki.to_der().map_err(|_| bad("key encoding"))?;
        let key = PublicKey::from_spki_der(&der).map_err(|_| bad("invalid Ed25519 key"))?;
        Ok(Self {
            name: name.to_string(),
            key_id,
            key,
        })
    }
}

fn cosignature_key_hash(name: &str, raw: &[u8; 32]) -> [u8; 32] {
    let mut input = Vec::with_capacity(name.len() + 34);
    input.extend_from_slice(name.as_bytes());
    input.push(b'\n');
    input.push(0x04);
    input.extend_from_slice(raw);
    sigstack_keys::sha256(&input)
}

/// How many of which witnesses must have cosigned every checkpoint.
#[derive(Clone, Debug)]
pub struct WitnessPolicy {
    /// The trusted witnesses.
    pub witnesses: Vec<Witness>,
    /// How many distinct witnesses must cosign.
    pub threshold: usize,
}

/// The outcome of one verified entry.
pub(crate) struct VerifiedEntry<'a> {
    /// The trusted log that holds the entry.
    pub log: &'a TrustedLog,
    /// The integration time, when a SET vouches for it.
    pub set_time: Option<i64>,
}

pub(crate) fn verify_entry<'a>(
    entry: &TlogEntry,
    version: BundleVersion,
    tlogs: &'a [TrustedLog],
    content: &Content,
    signer: &SignerMaterial,
    witnesses: Option<&WitnessPolicy>,
) -> Result<VerifiedEntry<'a>, VerifyError> {
    let log_id = b64("tlogEntries[].logId.keyId", &entry.log_id.key_id)?;
    let log = tlogs
        .iter()
        .find(|l| l.log_id == log_id || l.checkpoint_key_id.as_ref() == Some(&log_id))
        .ok_or_else(|| {
            VerifyError::UnknownLog(format!(
                "log {} is not in the trusted root",
                STANDARD.encode(&log_id)
            ))
        })?;
    let key = log
        .key
        .as_ref()
        .map_err(|e| VerifyError::UnknownLog(format!("log {}: {e}", log.base_url)))?;
    let body = b64("canonicalizedBody", &entry.canonicalized_body)?;

    let set_time = match &entry.inclusion_promise {
        Some(promise) => {
            let bad = |m: &str| VerifyError::SignedEntryTimestamp(m.to_string());
            let set = b64("signedEntryTimestamp", &promise.signed_entry_timestamp)?;
            let integrated_time = entry
                .integrated_time
                .ok_or_else(|| bad("the entry has a SET but no integratedTime"))?;
            let body_b64 = STANDARD.encode(&body);
            let log_index = u64::try_from(entry.log_index)
                .map_err(|_| bad("the entry's logIndex is negative"))?;
            let payload = set_payload(&body_b64, integrated_time, &hex::encode(&log_id), log_index)
                .map_err(|e| bad(&e.to_string()))?;
            key.verify(&payload, &set)
                .map_err(|_| bad("the SET does not verify under the log key"))?;
            Some(integrated_time)
        }
        None if version == BundleVersion::V0_1 => {
            return Err(VerifyError::SignedEntryTimestamp(
                "a v0.1 bundle must carry an inclusion promise".into(),
            ));
        }
        None => None,
    };

    match &entry.inclusion_proof {
        Some(proof) => {
            let bad = |m: String| VerifyError::InclusionProof(m);
            let index = u64::try_from(proof.log_index).map_err(|_| bad("negative index".into()))?;
            let size = u64::try_from(proof.tree_size).map_err(|_| bad("negative size".into()))?;
            let root = Hash::from_slice(&b64("inclusionProof.rootHash", &proof.root_hash)?)
                .map_err(|e| bad(e.to_string()))?;
            let hashes = proof
                .hashes
                .iter()
                .map(|h| {
                    Hash::from_slice(&b64("inclusionProof.hashes", h)?)
                        .map_err(|e| bad(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            verify_inclusion(index, size, &leaf_hash(&body), &hashes, &root)
                .map_err(|e| bad(e.to_string()))?;
            let envelope = proof.checkpoint.as_ref().ok_or_else(|| {
                VerifyError::Checkpoint("the inclusion proof has no checkpoint".into())
            })?;
            let checkpoint = verify_checkpoint(&envelope.envelope, key, witnesses)?;
            if checkpoint.size != size || checkpoint.root_hash != root {
                return Err(VerifyError::Checkpoint(format!(
                    "the checkpoint (size {}) does not commit to the proof's root (size {size})",
                    checkpoint.size
                )));
            }
        }
        None if version >= BundleVersion::V0_2 => {
            return Err(VerifyError::InclusionProof(
                "v0.2 and later bundles must carry an inclusion proof".into(),
            ));
        }
        None => {}
    }

    check_body(entry, &body, content, signer)?;
    Ok(VerifiedEntry { log, set_time })
}

/// Verify the log's signature on a checkpoint note (Rekor v1 key IDs, SHA-256 of the SPKI, or
/// the c2sp.org/signed-note Ed25519 key ID), then the witness cosignatures the policy asks for.
fn verify_checkpoint(
    unverified: &str,
    key: &PublicKey,
    witnesses: Option<&WitnessPolicy>,
) -> Result<Checkpoint, VerifyError> {
    let bad = |m: String| VerifyError::Checkpoint(m);
    let note = Note::parse(unverified).map_err(|e| bad(e.to_string()))?;
    let spki_id = sigstack_keys::sha256(key.spki_der());
    let mut verifiers = Vec::new();
    for sig in &note.signatures {
        let c2sp_id = key
            .ed25519_bytes()
            .map(|raw| c2sp_key_hash(&sig.name, &raw));
        let matches =
            sig.key_id[..] == spki_id[..4] || c2sp_id.is_some_and(|id| sig.key_id[..] == id[..4]);
        if matches {
            verifiers.push(
                NoteVerifier::new(sig.name.clone(), sig.key_id, key.clone())
                    .map_err(|e| bad(e.to_string()))?,
            );
        }
    }
    if verifiers.is_empty() {
        return Err(bad("no signature by the log key".into()));
    }
    let verified = note.verify(&verifiers).map_err(|e| bad(e.to_string()))?;
    let checkpoint = Checkpoint::parse(&verified.text).map_err(|e| bad(e.to_string()))?;
    if let Some(policy) = witnesses {
        let got = count_cosignatures(&note, policy);
        if got < policy.threshold {
            return Err(VerifyError::WitnessQuorum {
                need: policy.threshold,
                got,
            });
        }
    }
    Ok(checkpoint)
}

/// Distinct policy witnesses whose timestamped Ed25519 cosignature (type 0x04) verifies:
/// the signature covers `"cosignature/v1\ntime <t>\n" || checkpoint text`, and the signature
/// field is the 8-byte big-endian `t` followed by the 64-byte signature.
fn count_cosignatures(note: &Note, policy: &WitnessPolicy) -> usize {
    policy
        .witnesses
        .iter()
        .filter(|w| {
            note.signatures.iter().any(|sig| {
                if sig.name != w.name || sig.key_id != w.key_id || sig.sig.len() != 72 {
                    return false;
                }
                let (time, signature) = sig.sig.split_at(8);
                let mut t = [0u8; 8];
                t.copy_from_slice(time);
                let mut message = format!("cosignature/v1\ntime {}\n", u64::from_be_bytes(t));
                message.push_str(&note.text);
                w.key.verify(message.as_bytes(), signature).is_ok()
            })
        })
        .count()
}

/// The logged body must describe this bundle: same kind and version as the entry says, the
/// same signature, the same certificate or key, and the same artifact digest or DSSE payload.
fn check_body(
    entry: &TlogEntry,
    unverified_body: &[u8],
    content: &Content,
    signer: &SignerMaterial,
) -> Result<(), VerifyError> {
    let bad = |m: &str| VerifyError::LogEntryBody(m.to_string());
    let body: Value = serde_json::from_slice(unverified_body).map_err(|_| bad("not JSON"))?;
    let kind = body["kind"].as_str().unwrap_or_default();
    let version = body["apiVersion"].as_str().unwrap_or_default();
    if kind != entry.kind_version.kind || version != entry.kind_version.version {
        return Err(bad(&format!(
            "body is {kind} {version}, the entry says {} {}",
            entry.kind_version.kind, entry.kind_version.version
        )));
    }
    let spec = &body["spec"];
    let text = |v: &Value, what: &str| -> Result<String, VerifyError> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| bad(&format!("missing {what}")))
    };
    let decode = |v: &Value, what: &str| -> Result<Vec<u8>, VerifyError> {
        STANDARD
            .decode(text(v, what)?)
            .map_err(|_| bad(&format!("{what} is not base64")))
    };
    let same_signature = |logged: Vec<u8>| {
        if logged == content.signature {
            Ok(())
        } else {
            Err(bad("the logged signature is not the bundle's signature"))
        }
    };
    match (kind, version, &content.payload) {
        ("hashedrekord", "0.0.1", None) => {
            same_signature(decode(&spec["signature"]["content"], "signature.content")?)?;
            check_pem_verifier(
                &decode(
                    &spec["signature"]["publicKey"]["content"],
                    "publicKey.content",
                )?,
                signer,
            )?;
            let algorithm = text(&spec["data"]["hash"]["algorithm"], "data.hash.algorithm")?;
            let value = text(&spec["data"]["hash"]["value"], "data.hash.value")?;
            if algorithm != "sha256" || !value.eq_ignore_ascii_case(&hex::encode(content.digest)) {
                return Err(bad("the logged artifact digest is not the bundle's"));
            }
        }
        ("hashedrekord", "0.0.2", _) => {
            let v2 = &spec["hashedRekordV002"];
            same_signature(decode(&v2["signature"]["content"], "signature.content")?)?;
            check_v2_verifier(&v2["signature"]["verifier"], signer, &decode)?;
            if text(&v2["data"]["algorithm"], "data.algorithm")? != "SHA2_256" {
                return Err(bad("the logged digest is not SHA2_256"));
            }
            // For DSSE the log holds the digest of the PAE (Rekor v2 logs DSSE as hashedrekord).
            let expected = match &content.payload {
                None => content.digest.to_vec(),
                Some(p) => sigstack_keys::sha256(&p.pae).to_vec(),
            };
            if decode(&v2["data"]["digest"], "data.digest")? != expected {
                return Err(bad("the logged digest is not the bundle's"));
            }
        }
        ("dsse", "0.0.1", Some(payload)) => {
            let hash = text(&spec["payloadHash"]["value"], "payloadHash.value")?;
            if !hash.eq_ignore_ascii_case(&hex::encode(sigstack_keys::sha256(&payload.payload))) {
                return Err(bad("the logged payload hash is not the envelope's payload"));
            }
            let [logged] = spec["signatures"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            else {
                return Err(bad("expected exactly one logged signature"));
            };
            same_signature(decode(&logged["signature"], "signatures[].signature")?)?;
            check_pem_verifier(
                &decode(&logged["verifier"], "signatures[].verifier")?,
                signer,
            )?;
        }
        ("dsse", "0.0.2", Some(payload)) => {
            let v2 = &spec["dsseV002"];
            if decode(&v2["payloadHash"]["digest"], "payloadHash.digest")?
                != sigstack_keys::sha256(&payload.payload).to_vec()
            {
                return Err(bad("the logged payload hash is not the envelope's payload"));
            }
            let [logged] = v2["signatures"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            else {
                return Err(bad("expected exactly one logged signature"));
            };
            same_signature(decode(&logged["content"], "signatures[].content")?)?;
            check_v2_verifier(&logged["verifier"], signer, &decode)?;
        }
        ("intoto", "0.0.2", Some(payload)) => {
            let content_spec = &spec["content"];
            let hash = text(&content_spec["payloadHash"]["value"], "payloadHash.value")?;
            if !hash.eq_ignore_ascii_case(&hex::encode(sigstack_keys::sha256(&payload.payload))) {
                return Err(bad("the logged payload hash is not the envelope's payload"));
            }
            let envelope = &content_spec["envelope"];
            if envelope["payloadType"].as_str() != Some(payload.payload_type.as_str()) {
                return Err(bad("the logged payload type differs"));
            }
            let [logged] = envelope["signatures"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            else {
                return Err(bad("expected exactly one logged signature"));
            };
            // intoto 0.0.2 base64-encodes the (already base64) signature and the PEM again.
            let sig_b64 = decode(&logged["sig"], "envelope.signatures[].sig")?;
            let sig = STANDARD
                .decode(&sig_b64)
                .map_err(|_| bad("the logged signature is not base64"))?;
            same_signature(sig)?;
            check_pem_verifier(
                &decode(&logged["publicKey"], "envelope.signatures[].publicKey")?,
                signer,
            )?;
        }
        (kind, version, payload) => {
            return Err(bad(&format!(
                "a {kind} {version} entry cannot log a {} bundle",
                if payload.is_some() {
                    "DSSE"
                } else {
                    "message signature"
                }
            )));
        }
    }
    Ok(())
}

/// A PEM certificate or public key in a Rekor v1 body must be the bundle's.
fn check_pem_verifier(pem: &[u8], signer: &SignerMaterial) -> Result<(), VerifyError> {
    let bad = |m: &str| VerifyError::LogEntryBody(m.to_string());
    let (label, der) =
        der::pem::decode_vec(pem).map_err(|_| bad("the logged verifier is not PEM"))?;
    match label {
        "CERTIFICATE" => check_der_verifier(&der, true, signer),
        "PUBLIC KEY" => check_der_verifier(&der, false, signer),
        other => Err(bad(&format!("the logged verifier is a {other}"))),
    }
}

/// Decodes a base64 field of a logged body, naming it in the error.
type Base64Field<'a> = dyn Fn(&Value, &str) -> Result<Vec<u8>, VerifyError> + 'a;

/// A Rekor v2 `Verifier` (`x509Certificate.rawBytes` or `publicKey.rawBytes`, DER) must be the
/// bundle's signing material.
fn check_v2_verifier(
    verifier: &Value,
    signer: &SignerMaterial,
    decode: &Base64Field<'_>,
) -> Result<(), VerifyError> {
    match verifier["x509Certificate"]["rawBytes"].as_str() {
        Some(cert) => check_der_verifier(
            &decode(&Value::from(cert), "x509Certificate")?,
            true,
            signer,
        ),
        None => check_der_verifier(
            &decode(&verifier["publicKey"]["rawBytes"], "publicKey.rawBytes")?,
            false,
            signer,
        ),
    }
}

fn check_der_verifier(
    der: &[u8],
    is_cert: bool,
    signer: &SignerMaterial,
) -> Result<(), VerifyError> {
    let same = match (signer, is_cert) {
        (SignerMaterial::Certificate { der: leaf, .. }, true) => der == leaf.as_slice(),
        (SignerMaterial::Key(key), false) => der == key.spki_der(),
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(VerifyError::LogEntryBody(
            "the logged certificate or key is not the bundle's".into(),
        ))
    }
}
