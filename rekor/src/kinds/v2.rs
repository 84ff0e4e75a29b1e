//! Rekor v2 (`rekor-tiles`) requests and the `hashedrekord` 0.0.2 entries they become.
//!
//! Request (`dev.sigstore.rekor.v2.CreateEntryRequest`, protobuf JSON; exactly one of the two
//! fields):
//! ```json
//! {"hashedRekordRequestV002": {"digest": "<b64>", "signature": {"content": "<b64>",
//!    "verifier": {"publicKey": {"rawBytes": "<b64 DER SPKI>"} | "x509Certificate": {"rawBytes": "<b64 DER>"},
//!                 "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}}
//! {"dsseRequestV002": {"envelope": {"payload": "<b64>", "payloadType": "...",
//!    "signatures": [{"sig": "<b64>", "keyid": "..."}]}, "verifiers": [<Verifier>, ...]}}
//! ```
//! The stored leaf (`canonicalizedBody`) is the RFC 8785 form of a
//! `dev.sigstore.rekor.v2.Entry`:
//! ```json
//! {"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{
//!   "data":{"algorithm":"SHA2_256","digest":"<b64>"},
//!   "signature":{"content":"<b64>","verifier":{"keyDetails":"...","x509Certificate":{"rawBytes":"<b64>"}}}}}}
//! ```
//! A DSSE request is verified (its single envelope signature over PAE(payloadType, payload) with
//! one of the verifiers) and logged as hashedrekord 0.0.2 over the hash of the PAE with that
//! signature and verifier: clients that sent `hashedRekordRequestV002` for DSSE
//! (sigstore-python, sigstore-rust) and clients that sent `dsseRequestV002` (sigstore-js) then
//! all verify the same entry shape.
//!
//! Only ECDSA P-256/SHA-256 and P-384/SHA-384 verifiers are accepted; Ed25519ph, RSA and P-521
//! are refused as unsupported keys.

use serde::Deserialize;
use serde_json::{Value, json};
use sigstack_keys::SignatureAlgorithm;

use super::dsse::pae;
use super::encoding::{b64, b64_lenient};
use super::hashedrekord::verify_digest_signature;
use super::material::{KeyMaterial, MaterialForm};
use super::{CanonicalEntry, EntryError, malformed};

/// `dev.sigstore.rekor.v2.CreateEntryRequest` (`rekor_service.proto`): a `oneof spec` of the two
/// request kinds. Unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEntryRequest {
    /// `hashed_rekord_request_v0_0_2`.
    #[serde(
        rename = "hashedRekordRequestV002",
        alias = "hashed_rekord_request_v0_0_2",
        default
    )]
    pub hashed_rekord: Option<HashedRekordRequestV002>,
    /// `dsse_request_v0_0_2`.
    #[serde(rename = "dsseRequestV002", alias = "dsse_request_v0_0_2", default)]
    pub dsse: Option<DsseRequestV002>,
}

/// `dev.sigstore.rekor.v2.HashedRekordRequestV002` (`hashedrekord.proto`):
/// `bytes digest = 1` (REQUIRED), `Signature signature = 2` (REQUIRED).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashedRekordRequestV002 {
    /// Base64 digest of the artifact.
    #[serde(default)]
    pub digest: String,
    /// The signature over the digest.
    pub signature: SignatureV2,
}

/// `dev.sigstore.rekor.v2.Signature` (`verifier.proto`): `bytes content = 1`,
/// `Verifier verifier = 2`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureV2 {
    /// Base64 signature.
    #[serde(default)]
    pub content: String,
    /// The key that verifies it.
    pub verifier: VerifierV2,
}

/// `dev.sigstore.rekor.v2.Verifier` (`verifier.proto`): `oneof verifier { PublicKey public_key = 1;
/// X509Certificate x509_certificate = 2; }`, `PublicKeyDetails key_details = 3` (REQUIRED).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierV2 {
    /// `{"rawBytes": "<b64 DER SubjectPublicKeyInfo>"}`.
    #[serde(rename = "publicKey", alias = "public_key", default)]
    pub public_key: Option<RawBytes>,
    /// `{"rawBytes": "<b64 DER certificate>"}`.
    #[serde(rename = "x509Certificate", alias = "x509_certificate", default)]
    pub x509_certificate: Option<RawBytes>,
    /// `PublicKeyDetails` enum name, e.g. `PKIX_ECDSA_P256_SHA_256`.
    #[serde(rename = "keyDetails", alias = "key_details", default)]
    pub key_details: String,
}

/// `dev.sigstore.common.v1.PublicKey` / `X509Certificate` as used by verifiers:
/// `bytes raw_bytes = 1`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBytes {
    /// Base64 DER.
    #[serde(rename = "rawBytes", alias = "raw_bytes", default)]
    pub raw_bytes: String,
}

/// `dev.sigstore.rekor.v2.DSSERequestV002` (`dsse.proto`): `io.intoto.Envelope envelope = 1`,
/// `repeated Verifier verifiers = 2` (both REQUIRED).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsseRequestV002 {
    /// The signed envelope.
    pub envelope: EnvelopeV2,
    /// Candidate keys.
    #[serde(default)]
    pub verifiers: Vec<VerifierV2>,
}

/// `io.intoto.Envelope` (`envelope.proto`): `bytes payload = 1; string payloadType = 2;
/// repeated Signature signatures = 3;`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeV2 {
    /// Base64 payload.
    #[serde(default)]
    pub payload: String,
    /// Payload media type.
    #[serde(rename = "payloadType", alias = "payload_type", default)]
    pub payload_type: String,
    /// Signatures over PAE(payloadType, payload).
    #[serde(default)]
    pub signatures: Vec<EnvelopeSignatureV2>,
}

/// `io.intoto.Signature`: `bytes sig = 1; string keyid = 2;`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignatureV2 {
    /// Base64 signature.
    #[serde(default)]
    pub sig: String,
    /// Optional key hint.
    #[serde(default)]
    pub keyid: String,
}

/// A verifier that parsed and matches its declared key details.
struct CheckedVerifier {
    material: KeyMaterial,
    algorithm: SignatureAlgorithm,
}

/// Verify a Rekor v2 `CreateEntryRequest` and build its canonical `hashedrekord` 0.0.2 body.
///
/// # Errors
/// [`EntryError::Malformed`] for unknown fields or not exactly one request kind; other
/// [`EntryError`]s when the key, digest or signature do not check out.
pub fn canonicalize_request(unverified: &Value) -> Result<CanonicalEntry, EntryError> {
    let unverified: CreateEntryRequest =
        serde_json::from_value(unverified.clone()).map_err(malformed("CreateEntryRequest"))?;
    match (unverified.hashed_rekord, unverified.dsse) {
        (Some(hr), None) => hashed_rekord(&hr),
        (None, Some(dsse)) => dsse_as_hashed_rekord(&dsse),
        (Some(_), Some(_)) => Err(EntryError::Malformed(
            "exactly one of hashedRekordRequestV002 and dsseRequestV002 must be set, got both"
                .into(),
        )),
        (None, None) => Err(EntryError::Malformed(
            "exactly one of hashedRekordRequestV002 and dsseRequestV002 must be set, got neither"
                .into(),
        )),
    }
}

fn hashed_rekord(unverified: &HashedRekordRequestV002) -> Result<CanonicalEntry, EntryError> {
    let digest = b64_lenient("hashedRekordRequestV002.digest", &unverified.digest)?;
    if digest.is_empty() {
        return Err(EntryError::Malformed("missing digest".into()));
    }
    let sig = b64_lenient(
        "hashedRekordRequestV002.signature.content",
        &unverified.signature.content,
    )?;
    if sig.is_empty() {
        return Err(EntryError::Malformed("missing signature".into()));
    }
    let verifier = check_verifier(&unverified.signature.verifier)?;
    let want = digest_len(verifier.algorithm);
    if digest.len() != want {
        return Err(EntryError::Mismatch(format!(
            "digest is {} bytes but {} uses a {want}-byte hash",
            digest.len(),
            verifier.algorithm.key_details()
        )));
    }
    verify_digest_signature(&verifier.material, &digest, &sig)?;
    body(&verifier, &digest, &sig)
}

fn dsse_as_hashed_rekord(unverified: &DsseRequestV002) -> Result<CanonicalEntry, EntryError> {
    let envelope = &unverified.envelope;
    let [signature] = envelope.signatures.as_slice() else {
        return Err(EntryError::Malformed(format!(
            "the DSSE envelope must carry exactly one signature, found {}",
            envelope.signatures.len()
        )));
    };
    if unverified.verifiers.is_empty() {
        return Err(EntryError::Malformed("missing verifiers".into()));
    }
    let payload = b64_lenient("dsseRequestV002.envelope.payload", &envelope.payload)?;
    let sig = b64_lenient("dsseRequestV002.envelope.signatures[0].sig", &signature.sig)?;
    if sig.is_empty() {
        return Err(EntryError::Malformed("missing signature".into()));
    }
    let message = pae(&envelope.payload_type, &payload);
    let verifiers = unverified
        .verifiers
        .iter()
        .map(check_verifier)
        .collect::<Result<Vec<_>, _>>()?;
    for verifier in &verifiers {
        let digest = verifier.algorithm.digest(&message);
        if verify_digest_signature(&verifier.material, &digest, &sig).is_ok() {
            return body(verifier, &digest, &sig);
        }
    }
    Err(EntryError::InvalidSignature(
        "no verifier verifies the DSSE envelope signature".into(),
    ))
}

fn check_verifier(unverified: &VerifierV2) -> Result<CheckedVerifier, EntryError> {
    let algorithm = key_details(&unverified.key_details)?;
    let material = match (&unverified.public_key, &unverified.x509_certificate) {
        (Some(pk), None) => {
            KeyMaterial::from_spki_der(&b64_lenient("verifier.publicKey.rawBytes", &pk.raw_bytes)?)?
        }
        (None, Some(cert)) => KeyMaterial::from_certificate_der(&b64_lenient(
            "verifier.x509Certificate.rawBytes",
            &cert.raw_bytes,
        )?)?,
        _ => {
            return Err(EntryError::Malformed(
                "verifier must contain exactly one of publicKey and x509Certificate".into(),
            ));
        }
    };
    // Exact names: an RSA key's size is part of its keyDetails.
    if material.key.key_details() != unverified.key_details {
        return Err(EntryError::Mismatch(format!(
            "the verifier's key is {} but keyDetails says {}",
            material.key.key_details(),
            unverified.key_details
        )));
    }
    Ok(CheckedVerifier {
        material,
        algorithm,
    })
}

/// Map `keyDetails` to the signature algorithms this log verifies.
fn key_details(unverified: &str) -> Result<SignatureAlgorithm, EntryError> {
    if [
        "PKIX_RSA_PKCS1V15_2048_SHA256",
        "PKIX_RSA_PKCS1V15_3072_SHA256",
        "PKIX_RSA_PKCS1V15_4096_SHA256",
    ]
    .contains(&unverified)
    {
        return Ok(SignatureAlgorithm::RsaPkcs1Sha256);
    }
    [
        SignatureAlgorithm::EcdsaP256Sha256,
        SignatureAlgorithm::EcdsaP384Sha384,
        SignatureAlgorithm::EcdsaP521Sha512,
    ]
    .into_iter()
    .find(|a| a.key_details() == unverified)
    .ok_or_else(|| {
        if unverified.starts_with("PKIX_") || unverified.starts_with("PKCS1_") {
            EntryError::UnsupportedKey(format!("key details {unverified} are not accepted"))
        } else {
            EntryError::Malformed(format!("unknown keyDetails {unverified:?}"))
        }
    })
}

/// Output length of the hash that goes with `algorithm` (ECDSA only here).
fn digest_len(algorithm: SignatureAlgorithm) -> usize {
    match algorithm {
        SignatureAlgorithm::EcdsaP384Sha384 => 48,
        SignatureAlgorithm::EcdsaP521Sha512 => 64,
        _ => 32,
    }
}

/// The `HashAlgorithm` enum name logged with the digest.
fn hash_name(algorithm: SignatureAlgorithm) -> &'static str {
    match algorithm {
        SignatureAlgorithm::EcdsaP384Sha384 => "SHA2_384",
        SignatureAlgorithm::EcdsaP521Sha512 => "SHA2_512",
        _ => "SHA2_256",
    }
}

fn body(
    verifier: &CheckedVerifier,
    digest: &[u8],
    sig: &[u8],
) -> Result<CanonicalEntry, EntryError> {
    let raw = json!({"rawBytes": b64(&verifier.material.der)});
    let mut v = serde_json::Map::new();
    v.insert(
        "keyDetails".into(),
        json!(verifier.material.key.key_details()),
    );
    match verifier.material.form {
        MaterialForm::PublicKey => v.insert("publicKey".into(), raw),
        MaterialForm::Certificate => v.insert("x509Certificate".into(), raw),
    };
    let body = json!({
        "apiVersion": "0.0.2",
        "kind": "hashedrekord",
        "spec": {"hashedRekordV002": {
            "data": {"algorithm": hash_name(verifier.algorithm), "digest": b64(digest)},
            "signature": {"content": b64(sig), "verifier": Value::Object(v)},
        }},
    });
    CanonicalEntry::from_json("hashedrekord", "0.0.2", &body)
}
