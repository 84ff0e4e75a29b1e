//! Rekor v1's search index: the keys each entry is filed under, and
//! `POST /api/v1/index/retrieve` queries over them.
//!
//! As in Rekor, an entry is found by
//! - the artifact or payload digest, `"<algorithm>:<lowercase hex>"` (a bare 40/64/128-hex
//!   query gets the `sha1:`/`sha256:`/`sha512:` prefix);
//! - the public-key fingerprint: lowercase hex SHA-256 of the canonical PEM of each key or
//!   certificate in the entry (what Rekor stores as `publicKey.content`);
//! - each subject of a certificate in the entry: email SANs (lowercased) and URI SANs;
//! - for dsse and intoto entries carrying an in-toto statement, each subject digest of the
//!   statement (so an attestation is found by the digest of the image or file it is about).
//!
//! Keys are derived from the canonical body plus the statement subject digests the kind
//! extracted from the verified payload (which the body does not keep); the log computes them
//! once, when it appends the entry, and stores them with it. Pure: no I/O.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::Decode as _;
use serde::Deserialize;
use serde_json::Value;
use sigstack_tlog_storage::{IndexKey, MAX_INDEX_KEYS_PER_ENTRY};
use x509_cert::Certificate;

use crate::error::RekorError;
use crate::kinds::material::{KeyMaterial, certificate_subjects, decode_single_pem};
use crate::kinds::{CanonicalEntry, MaterialKeys, SearchMaterial};

/// Namespace of digest keys.
const DIGEST: &str = "digest";
/// Namespace of public-key fingerprint keys.
const KEY: &str = "publickey";
/// Namespace of certificate subject keys (emails and URIs).
const SUBJECT: &str = "subject";

/// The search keys of a verified entry: its body's own keys (from the material its kind
/// gathered while verifying it, or else read back from the canonical body), then the in-toto
/// statement subject digests of its verified payload (`"<algorithm>:<hex>"`; other algorithms
/// or malformed digests are not filed) while room remains; sorted, unique, at most
/// [`MAX_INDEX_KEYS_PER_ENTRY`].
#[must_use]
pub fn index_keys(entry: &CanonicalEntry) -> Vec<IndexKey> {
    let mut keys = match &entry.search {
        Some(material) => material_keys(material),
        None => material_keys(&body_material(&entry.body)),
    };
    for digest in entry
        .subject_digests
        .iter()
        .filter_map(|d| prefixed_hash(d))
    {
        let key = digest_key(&digest);
        if keys.len() >= MAX_INDEX_KEYS_PER_ENTRY {
            break;
        }
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.sort_unstable();
    keys
}

/// The keys of a body's own material, sorted, unique, at most [`MAX_INDEX_KEYS_PER_ENTRY`].
fn material_keys(material: &SearchMaterial) -> Vec<IndexKey> {
    let mut keys: Vec<IndexKey> = material.digests.iter().map(|d| digest_key(d)).collect();
    for m in &material.materials {
        keys.push(IndexKey::new(KEY, hex::encode(m.pem_sha256).as_bytes()));
        keys.extend(m.subjects.iter().map(|s| subject_key(s)));
    }
    keys.sort_unstable();
    keys.dedup();
    keys.truncate(MAX_INDEX_KEYS_PER_ENTRY);
    keys
}

/// The search material of a canonical body (hashedrekord, dsse, intoto), read back from the
/// body: what its kind gathers while verifying, for entries whose kind does not.
fn body_material(body: &[u8]) -> SearchMaterial {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return SearchMaterial::default();
    };
    let spec = &v["spec"];
    let mut digests: Vec<String> = Vec::new();
    let mut encoded: Vec<&str> = Vec::new();
    let mut push_hash = |h: &Value| {
        if let (Some(a), Some(v)) = (h["algorithm"].as_str(), h["value"].as_str()) {
            digests.push(format!(
                "{}:{}",
                a.to_ascii_lowercase(),
                v.to_ascii_lowercase()
            ));
        }
    };
    match v["kind"].as_str() {
        Some("hashedrekord") => {
            push_hash(&spec["data"]["hash"]);
            encoded.extend(spec["signature"]["publicKey"]["content"].as_str());
        }
        Some("dsse") => {
            push_hash(&spec["payloadHash"]);
            push_hash(&spec["envelopeHash"]);
            if let Some(sigs) = spec["signatures"].as_array() {
                encoded.extend(sigs.iter().filter_map(|s| s["verifier"].as_str()));
            }
        }
        Some("intoto") => {
            push_hash(&spec["content"]["payloadHash"]);
            push_hash(&spec["content"]["hash"]);
            if let Some(sigs) = spec["content"]["envelope"]["signatures"].as_array() {
                encoded.extend(sigs.iter().filter_map(|s| s["publicKey"].as_str()));
            }
        }
        _ => {}
    }
    let materials = encoded
        .into_iter()
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .map(|pem| {
            // The kind verified this material already; only its certificate subjects are
            // needed.
            let subjects = std::str::from_utf8(&pem)
                .ok()
                .and_then(|text| decode_single_pem(text).ok())
                .filter(|(label, _)| *label == "CERTIFICATE")
                .and_then(|(_, der)| Certificate::from_der(&der).ok())
                .map(|cert| certificate_subjects(&cert))
                .unwrap_or_default();
            MaterialKeys {
                pem_sha256: sigstack_keys::sha256(&pem),
                subjects,
            }
        })
        .collect();
    SearchMaterial { digests, materials }
}

fn digest_key(prefixed: &str) -> IndexKey {
    IndexKey::new(DIGEST, prefixed.as_bytes())
}

fn subject_key(subject: &str) -> IndexKey {
    IndexKey::new(SUBJECT, subject.as_bytes())
}

/// Email SANs (lowercased) and URI SANs of a certificate.
/// `SearchIndex` of the Rekor v1 OpenAPI:
///
/// ```yaml
/// SearchIndex:
///   type: object
///   properties:
///     email: {type: string, format: email}
///     publicKey:
///       type: object
///       properties:
///         format: {type: string, enum: [pgp, x509, minisign, ssh, tuf]}
///         content: {type: string, format: byte}
///         url: {type: string, format: uri}
///       required: [format]
///     hash: {type: string, pattern: '^(sha512:)?[0-9a-fA-F]{128}$|^(sha256:)?[0-9a-fA-F]{64}$|^(sha1:)?[0-9a-fA-F]{40}$'}
///     operator: {type: string, enum: [and, or]}
/// ```
/// `subject` (a URI SAN) is this log's addition for workload identities.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchIndex {
    /// An email SAN.
    #[serde(default)]
    pub email: Option<String>,
    /// A URI SAN (extension).
    #[serde(default)]
    pub subject: Option<String>,
    /// A public key or certificate.
    #[serde(default, rename = "publicKey")]
    pub public_key: Option<SearchPublicKey>,
    /// An artifact digest.
    #[serde(default)]
    pub hash: Option<String>,
    /// `and` or `or` (default `or`).
    #[serde(default)]
    pub operator: Option<String>,
}

/// `SearchIndex.publicKey`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchPublicKey {
    /// Only `x509` is indexed by this log.
    pub format: String,
    /// Base64 of the PEM key or certificate.
    #[serde(default)]
    pub content: Option<String>,
    /// Fetching keys from URLs is not supported (no outbound requests from the log).
    #[serde(default)]
    pub url: Option<String>,
}

/// How the criteria of one query combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// Entries matching every criterion.
    And,
    /// Entries matching any criterion.
    Or,
}

/// A checked [`SearchIndex`]: the operator and the keys to look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexQuery {
    /// How the keys combine.
    pub operator: Operator,
    /// One key per criterion.
    pub keys: Vec<IndexKey>,
}

impl SearchIndex {
    /// Check the query and derive its keys.
    ///
    /// # Errors
    /// [`RekorError::InvalidRequest`] for no criteria, an unknown operator, a malformed hash,
    /// email or key, a key format other than `x509`, or a key given by URL.
    pub fn to_query(&self) -> Result<IndexQuery, RekorError> {
        let bad = |why: String| RekorError::InvalidRequest(why);
        let operator = match self.operator.as_deref() {
            None | Some("or") => Operator::Or,
            Some("and") => Operator::And,
            Some(other) => {
                return Err(bad(format!(
                    "unknown operator {other:?}: use \"and\" or \"or\""
                )));
            }
        };
        let mut keys = Vec::new();
        if let Some(hash) = &self.hash {
            keys.push(digest_key(&prefixed_hash(hash).ok_or_else(|| {
                bad(format!(
                    "hash {hash:?} must be 40, 64 or 128 hex digits, optionally prefixed by its algorithm"
                ))
            })?));
        }
        if let Some(email) = &self.email {
            let (local, domain) = email
                .split_once('@')
                .ok_or_else(|| bad(format!("email {email:?} is not an email address")))?;
            if local.is_empty() || domain.is_empty() || email.len() > 320 {
                return Err(bad(format!("email {email:?} is not an email address")));
            }
            keys.push(subject_key(&email.to_ascii_lowercase()));
        }
        if let Some(subject) = &self.subject {
            if subject.is_empty() || subject.len() > 2048 {
                return Err(bad("subject must be 1 to 2048 characters".into()));
            }
            keys.push(subject_key(subject));
        }
        if let Some(pk) = &self.public_key {
            if pk.format != "x509" {
                return Err(bad(format!(
                    "publicKey format {:?} is not indexed by this log (only x509)",
                    pk.format
                )));
            }
            if pk.url.is_some() {
                return Err(bad(
                    "publicKey.url is not supported; send the key as content".into(),
                ));
            }
            let content = pk
                .content
                .as_deref()
                .ok_or_else(|| bad("publicKey needs content".into()))?;
            let material = KeyMaterial::from_b64_pem("publicKey.content", content)?;
            let canonical = material.canonical_pem();
            keys.push(IndexKey::new(
                KEY,
                hex::encode(sigstack_keys::sha256(canonical.as_bytes())).as_bytes(),
            ));
        }
        if keys.is_empty() {
            return Err(bad(
                "give at least one of hash, email, subject or publicKey".into(),
            ));
        }
        Ok(IndexQuery { operator, keys })
    }
}

/// `"<alg>:<lowercase hex>"` for a hash query, adding the algorithm to bare hex by its length.
fn prefixed_hash(unverified: &str) -> Option<String> {
    let lower = unverified.to_ascii_lowercase();
    let (alg, hex) = match lower.split_once(':') {
        Some((alg, hex)) => (Some(alg), hex),
        None => (None, lower.as_str()),
    };
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let by_len = match hex.len() {
        40 => "sha1",
        64 => "sha256",
        128 => "sha512",
        _ => return None,
    };
    match alg {
        None => Some(format!("{by_len}:{hex}")),
        Some(a) if a == by_len => Some(format!("{a}:{hex}")),
        Some(_) => None,
    }
}

/// Combine the per-key result lists (each ascending) by the operator; ascending, unique.
#[must_use]
pub fn combine(operator: Operator, lists: Vec<Vec<u64>>) -> Vec<u64> {
    let mut lists = lists.into_iter();
    let Some(first) = lists.next() else {
        return Vec::new();
    };
    let mut acc: std::collections::BTreeSet<u64> = first.into_iter().collect();
    for list in lists {
        let set: std::collections::BTreeSet<u64> = list.into_iter().collect();
        acc = match operator {
            Operator::And => acc.intersection(&set).copied().collect(),
            Operator::Or => acc.union(&set).copied().collect(),
        };
    }
    acc.into_iter().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bare_hashes_get_their_algorithm() {
        let h = "A".repeat(64);
        assert_eq!(
            prefixed_hash(&h).unwrap(),
            format!("sha256:{}", "a".repeat(64))
        );
        assert_eq!(
            prefixed_hash(&format!("sha256:{h}")).unwrap(),
            format!("sha256:{}", "a".repeat(64))
        );
        assert!(
            prefixed_hash(&format!("sha1:{h}")).is_none(),
            "algorithm must fit the length"
        );
        assert!(prefixed_hash("sha256:xyz").is_none());
        assert_eq!(
            prefixed_hash(&"b".repeat(40)).unwrap(),
            format!("sha1:{}", "b".repeat(40))
        );
    }

    #[test]
    fn statement_subject_digests_fill_the_remaining_keys_after_the_bodys_own() {
        let payload_hash = "1".repeat(64);
        let envelope_hash = "2".repeat(64);
        let body = format!(
            r#"{{"apiVersion":"0.0.1","kind":"dsse","spec":{{"envelopeHash":{{"algorithm":"sha256","value":"{envelope_hash}"}},"payloadHash":{{"algorithm":"sha256","value":"{payload_hash}"}},"signatures":[]}}}}"#
        );
        let mut subjects = vec![
            "md5:0123456789abcdef0123456789abcdef".to_string(),
            "sha256:zz".to_string(),
            format!("sha256:{payload_hash}"),
        ];
        subjects.extend((0..40u8).map(|i| format!("sha256:{}", hex::encode([i; 32]))));
        let entry = CanonicalEntry {
            body: body.into_bytes(),
            kind: "dsse",
            api_version: "0.0.1",
            subject_digests: subjects,
            search: None,
        };
        let keys = index_keys(&entry);
        assert_eq!(keys.len(), MAX_INDEX_KEYS_PER_ENTRY);
        for own in [&payload_hash, &envelope_hash] {
            assert!(keys.contains(&digest_key(&format!("sha256:{own}"))));
        }
        // Unknown algorithms and malformed digests are skipped, a repeat counts once; the
        // first subjects in statement order fill the rest.
        assert!(keys.contains(&digest_key(&format!("sha256:{}", hex::encode([13u8; 32])))));
        assert!(!keys.contains(&digest_key(&format!("sha256:{}", hex::encode([14u8; 32])))));
        assert!(keys.is_sorted());
    }

    /// A real hashedrekord entry (Fulcio certificate with an email SAN) and one with a bare key:
    /// what the kind gathers while verifying is exactly what the search index would read back
    /// from the stored body, so entries are filed the same way whichever path built the keys.
    #[test]
    fn verified_material_matches_the_body_read_back() {
        let vectors: Value = serde_json::from_str(include_str!(
            "../../tests/data/rekor-v1-hashedrekord-staging-and-production.json"
        ))
        .unwrap();
        let mut bodies: Vec<Vec<u8>> = ["staging_response", "production_entry"]
            .iter()
            .map(|case| serde_json::to_vec(&vectors[case]["decoded_body"]).unwrap())
            .collect();
        // A bare-key entry built from the real one: same signature, the certificate's key.
        let real: Value = serde_json::from_slice(&bodies[0]).unwrap();
        let cert_pem = STANDARD
            .decode(
                real["spec"]["signature"]["publicKey"]["content"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        let (_, der) = decode_single_pem(std::str::from_utf8(&cert_pem).unwrap()).unwrap();
        let key = KeyMaterial::from_certificate_der(&der).unwrap();
        let key_pem = sigstack_keys::pem_encode("PUBLIC KEY", key.key.spki_der());
        let mut bare = real.clone();
        bare["spec"]["signature"]["publicKey"]["content"] = STANDARD.encode(key_pem).into();
        bodies.push(serde_json::to_vec(&bare).unwrap());

        for (i, body) in bodies.iter().enumerate() {
            let entry = crate::kinds::canonicalize_proposed_entry_json(body).unwrap();
            let gathered = entry
                .search
                .clone()
                .expect("hashedrekord gathers its material");
            assert_eq!(gathered, body_material(&entry.body));
            let subjects = gathered.materials[0].subjects.len();
            // The real entries carry Fulcio certificates; the last one a bare key.
            assert_eq!(subjects == 0, i == bodies.len() - 1, "{:?}", gathered);
            let by_body = CanonicalEntry {
                search: None,
                ..entry.clone()
            };
            let keys = index_keys(&entry);
            assert_eq!(keys, index_keys(&by_body));
            // The digest, the fingerprint and each subject.
            assert_eq!(keys.len(), 2 + subjects);
        }
    }

    #[test]
    fn queries_are_checked() {
        let q = |json: &str| {
            serde_json::from_str::<SearchIndex>(json)
                .unwrap()
                .to_query()
        };
        assert!(q("{}").is_err(), "no criteria");
        assert!(
            q(r#"{"email":"a@b","operator":"xor"}"#).is_err(),
            "unknown operator"
        );
        assert!(q(r#"{"email":"nope"}"#).is_err());
        assert!(q(r#"{"hash":"12"}"#).is_err());
        assert!(q(r#"{"publicKey":{"format":"ssh","content":"AA=="}}"#).is_err());
        assert!(q(r#"{"publicKey":{"format":"x509","url":"http://x"}}"#).is_err());
        let ok = q(r#"{"email":"Alice@Example.Test","operator":"and"}"#).unwrap();
        assert_eq!(ok.operator, Operator::And);
        assert_eq!(
            ok.keys,
            vec![subject_key("alice@example.test")],
            "emails are lowercased"
        );
        assert!(serde_json::from_str::<SearchIndex>(r#"{"bogus":1}"#).is_err());
    }

    #[test]
    fn combine_by_operator() {
        let lists = vec![vec![1, 2, 5], vec![2, 5, 9]];
        assert_eq!(combine(Operator::And, lists.clone()), vec![2, 5]);
        assert_eq!(combine(Operator::Or, lists), vec![1, 2, 5, 9]);
        assert!(combine(Operator::And, Vec::new()).is_empty());
    }
}
