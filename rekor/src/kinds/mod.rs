//! Entry kinds: parsing, verifying and canonicalizing proposed entries. Pure: no I/O, no HTTP.
//!
//! Rekor v1 (`POST /api/v1/log/entries`) takes a `ProposedEntry`
//! (`{"kind", "apiVersion", "spec"}`) and stores a *canonical body* derived from it; the
//! Merkle leaf is exactly those bytes. Supported here, as real Rekor builds them:
//! - [`hashedrekord`] 0.0.1: a signature over a digest, verified with the supplied key or
//!   certificate;
//! - [`dsse_v001`] `dsse` 0.0.1: a DSSE envelope whose every signature verifies with a supplied
//!   verifier; only hashes and signatures are stored;
//! - [`intoto_v002`] `intoto` 0.0.2: a DSSE envelope with per-signature public keys; the payload
//!   is replaced by its hash.
//!
//! Rekor v2 (`POST /api/v2/log/entries`, [`v2`]) takes a `CreateEntryRequest` and stores the
//! RFC 8785 form of a `hashedrekord` 0.0.2 entry. DSSE requests are verified and logged as
//! `hashedrekord` 0.0.2 over the hash of the DSSE pre-authentication encoding, which is what
//! every current client verifies.
//!
//! Everything a client sends is named `unverified_*` until its signature has been checked.
//! Public keys and certificates are re-encoded the way Rekor does (PEM with LF line endings),
//! so the same signature submitted with CRLF PEM and with LF PEM yields the same leaf.

pub mod dsse;
pub mod dsse_v001;
pub(crate) mod encoding;
pub mod hashedrekord;
pub mod intoto_v002;
pub mod material;
pub mod v2;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::jcs::{JcsError, canonical_json};

/// Why a proposed entry was refused. Every variant is the submitter's fault (HTTP 400); nothing
/// is written to the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The `kind` (or its `apiVersion`) is not one this log accepts.
    #[error("unsupported kind {kind} version {version}")]
    UnsupportedKind {
        /// The requested kind.
        kind: String,
        /// The requested `apiVersion`.
        version: String,
    },
    /// The request does not have the shape its schema requires (missing or unknown fields,
    /// wrong JSON types, both or neither v2 request kinds).
    #[error("malformed entry: {0}")]
    Malformed(String),
    /// A field that must be base64 or hex is not.
    #[error("{field} is not valid {encoding}")]
    Encoding {
        /// JSON path of the field.
        field: &'static str,
        /// The expected encoding.
        encoding: &'static str,
    },
    /// A key or certificate could not be parsed.
    #[error("malformed key: {0}")]
    MalformedKey(String),
    /// The key type, curve or algorithm is not accepted (another curve, a weak RSA key, Ed25519
    /// over a digest, ...).
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// The key does not match the declared `keyDetails`, or the digest does not match the
    /// declared hash algorithm.
    #[error("inconsistent entry: {0}")]
    Mismatch(String),
    /// A signature does not verify.
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
}

impl From<JcsError> for EntryError {
    fn from(e: JcsError) -> Self {
        Self::Malformed(e.to_string())
    }
}

/// A verified entry in the exact form the log stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalEntry {
    /// The canonical body: the Merkle leaf data, stored and served verbatim.
    pub body: Vec<u8>,
    /// The entry kind (`hashedrekord`, `dsse`, `intoto`).
    pub kind: &'static str,
    /// The entry `apiVersion`.
    pub api_version: &'static str,
    /// `"<algorithm>:<digest>"` of each subject of an in-toto statement carried in a verified
    /// DSSE payload (dsse, intoto kinds; empty otherwise), as sent, at most
    /// [`dsse::MAX_INDEXED_SUBJECT_DIGESTS`]. The payload is not stored, so these are not in
    /// the body: the log files them as search keys when it appends the entry, as Rekor does.
    pub subject_digests: Vec<String>,
    /// What the search index files the entry under, when the kind gathered it while verifying
    /// (hashedrekord); `None` when it is read back from [`Self::body`].
    pub search: Option<SearchMaterial>,
}

/// The parts of a verified entry that the Rekor v1 search index files it under: artifact
/// digests and, per key or certificate, the fingerprint of its stored PEM and the
/// certificate's subjects. A kind fills it from what it parsed for verification, so appending
/// the entry parses neither the body nor its certificate again; for a stored body the same
/// material is read back from the body (`v1::search`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchMaterial {
    /// `"<algorithm>:<hex>"` of each artifact or payload digest, lowercased.
    pub digests: Vec<String>,
    /// Each key or certificate of the body.
    pub materials: Vec<MaterialKeys>,
}

/// One key or certificate of an entry, as the search index sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterialKeys {
    /// SHA-256 of the PEM stored in the body (Rekor's `publicKey.content`, decoded).
    pub pem_sha256: [u8; 32],
    /// The certificate's email SANs (lowercased) and URI SANs; empty for a bare key.
    pub subjects: Vec<String>,
}

impl CanonicalEntry {
    fn from_json(
        kind: &'static str,
        api_version: &'static str,
        body: &Value,
    ) -> Result<Self, EntryError> {
        Ok(Self {
            body: canonical_json(body)?,
            kind,
            api_version,
            subject_digests: Vec::new(),
            search: None,
        })
    }
}

/// The outer `ProposedEntry` of the Rekor v1 OpenAPI (`openapi.yaml`, discriminator `kind`):
///
/// ```json
/// {"type": "object", "discriminator": "kind",
///  "properties": {"kind": {"type": "string"}}, "required": ["kind"]}
/// ```
/// Each kind adds `apiVersion` (string, `^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)
/// and `spec` (the kind's versioned schema), both required.
///
/// Parsed in one pass over the request: when `kind` and `apiVersion` come before `spec` (as
/// most clients send them) and name hashedrekord 0.0.1, `spec` is parsed straight into its
/// typed form; otherwise it is kept as JSON text until the kind is known.
#[derive(Debug)]
struct ProposedEntry<'a> {
    kind: String,
    api_version: String,
    spec: ProposedSpec<'a>,
}

/// The `spec` of a [`ProposedEntry`], typed when the kind was known before it.
#[derive(Debug)]
enum ProposedSpec<'a> {
    HashedRekordV001(hashedrekord::HashedRekordV001Spec),
    Text(&'a RawValue),
}

impl<'de> Deserialize<'de> for ProposedEntry<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ProposedEntryVisitor)
    }
}

/// A member name of a [`ProposedEntry`], read without copying it.
enum ProposedEntryField {
    Kind,
    ApiVersion,
    Spec,
    Other,
}

impl<'de> Deserialize<'de> for ProposedEntryField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = ProposedEntryField;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<ProposedEntryField, E> {
                Ok(match name {
                    "kind" => ProposedEntryField::Kind,
                    "apiVersion" => ProposedEntryField::ApiVersion,
                    "spec" => ProposedEntryField::Spec,
                    _ => ProposedEntryField::Other,
                })
            }
        }
        deserializer.deserialize_identifier(Name)
    }
}

struct ProposedEntryVisitor;

impl<'de> Visitor<'de> for ProposedEntryVisitor {
    type Value = ProposedEntry<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object with kind, apiVersion and spec")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut kind, mut api_version, mut spec) = (None::<String>, None::<String>, None);
        while let Some(field) = map.next_key::<ProposedEntryField>()? {
            match field {
                ProposedEntryField::Kind if kind.is_some() => {
                    return Err(de::Error::duplicate_field("kind"));
                }
                ProposedEntryField::Kind => kind = Some(map.next_value()?),
                ProposedEntryField::ApiVersion if api_version.is_some() => {
                    return Err(de::Error::duplicate_field("apiVersion"));
                }
                ProposedEntryField::ApiVersion => api_version = Some(map.next_value()?),
                ProposedEntryField::Spec if spec.is_some() => {
                    return Err(de::Error::duplicate_field("spec"));
                }
                ProposedEntryField::Spec => {
                    spec = Some(match (kind.as_deref(), api_version.as_deref()) {
                        (Some("hashedrekord"), Some("0.0.1")) => {
                            ProposedSpec::HashedRekordV001(map.next_value().map_err(|e| {
                                de::Error::custom(format_args!("hashedrekord spec: {e}"))
                            })?)
                        }
                        _ => ProposedSpec::Text(map.next_value()?),
                    });
                }
                ProposedEntryField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ProposedEntry {
            kind: kind.ok_or_else(|| de::Error::missing_field("kind"))?,
            api_version: api_version.ok_or_else(|| de::Error::missing_field("apiVersion"))?,
            spec: spec.ok_or_else(|| de::Error::missing_field("spec"))?,
        })
    }
}

/// Verify a Rekor v1 `ProposedEntry`, given as the JSON bytes of a request body, and return its
/// canonical body.
///
/// # Errors
/// [`EntryError::UnsupportedKind`] for kinds other than hashedrekord 0.0.1, dsse 0.0.1 and
/// intoto 0.0.2; [`EntryError::Malformed`] for bytes that are not a `ProposedEntry`; any other
/// [`EntryError`] when the entry is malformed or does not verify.
pub fn canonicalize_proposed_entry_json(unverified: &[u8]) -> Result<CanonicalEntry, EntryError> {
    let unverified: ProposedEntry<'_> =
        serde_json::from_slice(unverified).map_err(not_a_proposed_entry)?;
    let text = match unverified.spec {
        ProposedSpec::HashedRekordV001(spec) => return hashedrekord::canonicalize(spec),
        ProposedSpec::Text(text) => text.get(),
    };
    let spec = || serde_json::from_str::<Value>(text).map_err(malformed("spec"));
    match (unverified.kind.as_str(), unverified.api_version.as_str()) {
        ("hashedrekord", "0.0.1") => hashedrekord::canonicalize(
            serde_json::from_str(text).map_err(malformed("hashedrekord spec"))?,
        ),
        ("dsse", "0.0.1") => dsse_v001::canonicalize(spec()?),
        ("intoto", "0.0.2") => intoto_v002::canonicalize(spec()?),
        _ => Err(EntryError::UnsupportedKind {
            kind: unverified.kind,
            version: unverified.api_version,
        }),
    }
}

/// [`canonicalize_proposed_entry_json`] for an entry already parsed into a JSON value (the
/// entries of a search query).
///
/// # Errors
/// As [`canonicalize_proposed_entry_json`].
pub fn canonicalize_proposed_entry(unverified: &Value) -> Result<CanonicalEntry, EntryError> {
    let bytes = serde_json::to_vec(unverified).map_err(not_a_proposed_entry)?;
    canonicalize_proposed_entry_json(&bytes)
}

fn not_a_proposed_entry(e: serde_json::Error) -> EntryError {
    EntryError::Malformed(format!("not a ProposedEntry: {e}"))
}

fn malformed(context: &str) -> impl FnOnce(serde_json::Error) -> EntryError + '_ {
    move |e| EntryError::Malformed(format!("{context}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_kinds_and_versions_are_unsupported() {
        for (kind, version) in [
            ("rekord", "0.0.1"),
            ("hashedrekord", "0.0.2"),
            ("intoto", "0.0.1"),
        ] {
            let err = canonicalize_proposed_entry(
                &json!({"kind": kind, "apiVersion": version, "spec": {}}),
            )
            .expect_err("refused");
            assert!(
                matches!(err, EntryError::UnsupportedKind { .. }),
                "{kind} {version}: {err}"
            );
            assert!(err.to_string().starts_with("unsupported kind"), "{err}");
        }
    }

    /// A real hashedrekord entry's `spec` (Rekor staging), as JSON text.
    fn real_hashedrekord_spec() -> String {
        let vectors: Value = serde_json::from_str(include_str!(
            "../../tests/data/rekor-v1-hashedrekord-staging-and-production.json"
        ))
        .expect("vectors");
        vectors["staging_response"]["decoded_body"]["spec"].to_string()
    }

    /// Whether `kind` comes before `spec` (typed in one pass) or after it (cosign's order: the
    /// spec is kept as text), the entry and its errors are the same.
    #[test]
    fn member_order_does_not_change_the_entry() {
        let spec = real_hashedrekord_spec();
        let head = r#""kind":"hashedrekord","apiVersion":"0.0.1""#;
        let orders = [
            format!("{{{head},\"spec\":{spec}}}"),
            format!("{{\"spec\":{spec},{head}}}"),
            format!("{{\"apiVersion\":\"0.0.1\",\"spec\":{spec},\"kind\":\"hashedrekord\"}}"),
            format!("{{\"x\":[1,{{}}],{head},\"spec\":{spec},\"y\":null}}"),
        ];
        let first = canonicalize_proposed_entry_json(orders[0].as_bytes()).expect("accepted");
        for text in &orders[1..] {
            let entry = canonicalize_proposed_entry_json(text.as_bytes()).expect(text);
            assert_eq!(entry, first, "{text}");
        }

        let bad_spec = r#"{"signature":{"content":"AA=="}}"#;
        for text in [
            format!("{{{head},\"spec\":{bad_spec}}}"),
            format!("{{\"spec\":{bad_spec},{head}}}"),
        ] {
            let err = canonicalize_proposed_entry_json(text.as_bytes()).expect_err(&text);
            assert!(matches!(err, EntryError::Malformed(_)), "{err}");
            assert!(err.to_string().contains("hashedrekord spec"), "{err}");
        }
    }

    #[test]
    fn duplicate_and_missing_members_are_refused() {
        let spec = real_hashedrekord_spec();
        let head = r#""kind":"hashedrekord","apiVersion":"0.0.1""#;
        for (text, why) in [
            (
                format!("{{{head},\"spec\":{spec},\"spec\":{spec}}}"),
                "duplicate field `spec`",
            ),
            (
                format!("{{\"kind\":\"x\",{head},\"spec\":{spec}}}"),
                "duplicate field `kind`",
            ),
            (
                format!("{{{head},\"apiVersion\":\"0.0.1\",\"spec\":{{}}}}"),
                "duplicate field `apiVersion`",
            ),
            (format!("{{{head}}}"), "missing field `spec`"),
            (
                format!("{{\"kind\":\"hashedrekord\",\"spec\":{spec}}}"),
                "missing field `apiVersion`",
            ),
            (
                format!("{{\"apiVersion\":\"0.0.1\",\"spec\":{spec}}}"),
                "missing field `kind`",
            ),
        ] {
            let err = canonicalize_proposed_entry_json(text.as_bytes()).expect_err(&text);
            assert!(matches!(err, EntryError::Malformed(_)), "{err}");
            assert!(err.to_string().contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn non_objects_are_malformed() {
        for v in [
            json!([]),
            json!("x"),
            json!({"kind": "hashedrekord"}),
            json!({"kind": 3, "apiVersion": "0.0.1", "spec": {}}),
        ] {
            assert!(
                matches!(
                    canonicalize_proposed_entry(&v),
                    Err(EntryError::Malformed(_))
                ),
                "{v}"
            );
        }
    }
}
