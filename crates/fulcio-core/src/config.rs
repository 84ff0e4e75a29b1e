//! The Fulcio issuer configuration file, parsed into [`FulcioConfigFile`] and checked into
//! [`IssuerConfig`].
//!
//! The file is Fulcio's own format (`pkg/config/config.go`), JSON or YAML; an operator's existing
//! file loads unchanged (YAML anchors, a `define:` block, every issuer type, meta-issuers,
//! `ci-issuer-metadata`):
//!
//! ```yaml
//! oidc-issuers:                      # exact issuer URL -> issuer entry
//!   https://token.actions.githubusercontent.com:
//!     issuer-url: https://token.actions.githubusercontent.com   # defaults to the key
//!     client-id: sigstore            # the required `aud`
//!     type: ci-provider              # email | username | uri | spiffe | kubernetes |
//!                                    # chainguard-identity | ci-provider (legacy:
//!                                    # github-workflow | gitlab-pipeline | buildkite-job |
//!                                    # codefresh-workflow, read as ci-provider)
//!     ci-provider: github-workflow   # key into ci-issuer-metadata (ci-provider only)
//!     issuer-claim: $.federated_claims.connector_id   # email only: issuer recorded in the cert
//!     subject-domain: https://example.com   # uri (with scheme) / username (without)
//!     spiffe-trust-domain: example.org      # spiffe only
//!     challenge-claim: sub           # optional; must be what the type signs (email or sub)
//!     skip-email-verification: false # email only
//!     ca-cert: /etc/ssl/idp-ca.pem   # extra TLS roots for discovery: PEM text or a file path
//!     environment: production        # informational; every issuer is served
//!     description: "..."
//!     contact: "..."
//!     # Sigstack additions, all optional (see the policy module):
//!     jwks-file: /etc/sigstack/github-jwks.json   # or `jwks: {"keys": [...]}`: no discovery
//!     claim-policy: { rules: [ ... ] }
//!     custom-extensions: [ { oid: 1.3.6.1.4.1.<PEN>.1, claim: ... } ]
//! meta-issuers:                      # pattern, `*` = [-_a-zA-Z0-9]+, anchored -> entry
//!   https://oidc.eks.*.amazonaws.com/id/*:
//!     client-id: sigstore
//!     type: kubernetes
//! ci-issuer-metadata:                # ci-provider name -> templates (built-ins:
//!   my-ci:                           # github-workflow, gitlab-pipeline, codefresh-workflow,
//!                                    # buildkite-job, circleci-job, buddy-pipeline; an entry
//!                                    # here replaces a built-in)
//!     default-template-values: { url: "https://ci.example" }
//!     extension-templates: { build-signer-uri: "{{ .url }}/{{ .workflow }}", ... }
//!     subject-alternative-name-template: "{{ .url }}/{{ .workflow }}"
//! ```
//!
//! JSON files may also use Fulcio's Go field names (`OIDCIssuers`, `IssuerURL`, `ClientID`,
//! `Type`, `CIProvider`, ...). Unknown keys inside an issuer entry are rejected, so typos do not
//! silently weaken the configuration; unknown top-level keys (such as the `define:` anchors
//! block of Fulcio's public config) are ignored. SPIFFE issuers cannot be meta-issuers (as
//! upstream).

use std::collections::BTreeMap;
use std::sync::Arc;

use const_oid::ObjectIdentifier;
use serde::Deserialize;

use crate::FulcioCoreError;
use crate::policy::{ClaimPolicy, ClaimPolicyFile, CustomExtension, CustomExtensionFile};
use crate::principal::ExtensionEncoding;
use crate::template::Template;

/// The built-in `ci-issuer-metadata` (GitHub Actions and GitLab CI), as YAML.
const BUILTIN_CI_METADATA: &str = include_str!("ci-issuer-metadata.yaml");

/// The configuration file as written, before any check.
///
/// ```text
/// { "oidc-issuers": { <issuer URL>: IssuerEntryFile },
///   "meta-issuers": { <pattern>: IssuerEntryFile },
///   "ci-issuer-metadata": { <provider name>: CiIssuerMetadataFile } }
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FulcioConfigFile {
    /// Issuers matched by exact URL.
    #[serde(rename = "oidc-issuers", alias = "OIDCIssuers", default)]
    pub oidc_issuers: BTreeMap<String, IssuerEntryFile>,
    /// Issuers matched by a `*` pattern.
    #[serde(rename = "meta-issuers", alias = "MetaIssuers", default)]
    pub meta_issuers: BTreeMap<String, IssuerEntryFile>,
    /// Claim templates of `ci-provider` issuers, by provider name.
    #[serde(rename = "ci-issuer-metadata", alias = "CIIssuerMetadata", default)]
    pub ci_issuer_metadata: BTreeMap<String, CiIssuerMetadataFile>,
}

/// One issuer entry as written (Fulcio's `OIDCIssuer`).
///
/// ```text
/// { "issuer-url", "client-id", "type", "ci-provider", "issuer-claim", "subject-domain",
///   "challenge-claim", "skip-email-verification", "description", "contact",
///   "spiffe-trust-domain", "ca-cert", "environment" }
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerEntryFile {
    /// Expected `iss`; defaults to the map key. Not allowed for meta-issuers.
    #[serde(rename = "issuer-url", alias = "IssuerURL", default)]
    pub issuer_url: Option<String>,
    /// Expected `aud`.
    #[serde(rename = "client-id", alias = "ClientID", default)]
    pub client_id: Option<String>,
    /// Issuer type.
    #[serde(rename = "type", alias = "Type", default)]
    pub issuer_type: Option<String>,
    /// `ci-issuer-metadata` key for `ci-provider` issuers.
    #[serde(rename = "ci-provider", alias = "CIProvider", default)]
    pub ci_provider: Option<String>,
    /// JSON path (`$.a.b`) of the issuer recorded in certificates; email issuers only.
    #[serde(rename = "issuer-claim", alias = "IssuerClaim", default)]
    pub issuer_claim: Option<String>,
    /// Domain of `uri` / `username` subjects.
    #[serde(rename = "subject-domain", alias = "SubjectDomain", default)]
    pub subject_domain: Option<String>,
    /// Claim the proof of possession signs, as reported by `/api/v2/configuration`.
    #[serde(rename = "challenge-claim", alias = "ChallengeClaim", default)]
    pub challenge_claim: Option<String>,
    /// Accept email tokens without `email_verified: true`.
    #[serde(
        rename = "skip-email-verification",
        alias = "SkipEmailVerification",
        default
    )]
    pub skip_email_verification: Option<bool>,
    /// Free text.
    #[serde(rename = "description", alias = "Description", default)]
    pub description: Option<String>,
    /// Free text.
    #[serde(rename = "contact", alias = "Contact", default)]
    pub contact: Option<String>,
    /// SPIFFE trust domain (the `spiffe` type, not supported).
    #[serde(rename = "spiffe-trust-domain", alias = "SPIFFETrustDomain", default)]
    pub spiffe_trust_domain: Option<String>,
    /// PEM TLS roots for reaching the issuer (not supported yet).
    #[serde(rename = "ca-cert", alias = "CACert", default)]
    pub ca_cert: Option<String>,
    /// Deployment environment (`staging`, `production`); Sigstack serves every issuer whatever
    /// its environment, as upstream does when no environment is selected.
    #[serde(rename = "environment", alias = "Environment", default)]
    pub environment: Option<String>,
    /// Sigstack: a static JWK Set (`{"keys": [...]}`) used instead of discovery (air-gapped
    /// issuers).
    #[serde(rename = "jwks", default)]
    pub jwks: Option<serde_json::Value>,
    /// Sigstack: path of a JWK Set file used instead of discovery, re-read when it changes.
    #[serde(rename = "jwks-file", default)]
    pub jwks_file: Option<String>,
    /// Sigstack: allow/deny rules on claim values (off when absent).
    #[serde(rename = "claim-policy", default)]
    pub claim_policy: Option<ClaimPolicyFile>,
    /// Sigstack: operator-defined extensions under a private OID arc (off when absent).
    #[serde(rename = "custom-extensions", default)]
    pub custom_extensions: Vec<CustomExtensionFile>,
}

/// One `ci-issuer-metadata` entry as written (Fulcio's `IssuerMetadata`).
///
/// ```text
/// { "default-template-values": { <key>: <string> },
///   "extension-templates": { <extension name>: <template> },
///   "subject-alternative-name-template": <template> }
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiIssuerMetadataFile {
    /// Values templates may use when the token lacks them.
    #[serde(
        rename = "default-template-values",
        alias = "DefaultTemplateValues",
        default
    )]
    pub default_template_values: BTreeMap<String, String>,
    /// Extension name (`build-signer-uri`, ... or the Go field name) -> template.
    #[serde(
        rename = "extension-templates",
        alias = "ExtensionTemplates",
        alias = "ClaimsTemplates",
        default
    )]
    pub extension_templates: BTreeMap<String, String>,
    /// Template of the URI SAN.
    #[serde(
        rename = "subject-alternative-name-template",
        alias = "SubjectAlternativeNameTemplate",
        default
    )]
    pub subject_alternative_name_template: String,
}

impl FulcioConfigFile {
    /// Parse a configuration file: JSON is tried first, then YAML (as Fulcio does).
    ///
    /// # Errors
    /// [`FulcioCoreError::ConfigSyntax`] naming the YAML error (and the JSON one when the text
    /// looks like JSON).
    pub fn parse(bytes: &[u8]) -> Result<Self, FulcioCoreError> {
        match serde_json::from_slice(bytes) {
            Ok(file) => Ok(file),
            Err(json) => serde_yaml_ng::from_slice(bytes).map_err(|yaml| {
                let looks_json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
                FulcioCoreError::ConfigSyntax(if looks_json {
                    format!("invalid JSON: {json}")
                } else {
                    format!("invalid YAML: {yaml}")
                })
            }),
        }
    }
}

/// The checked issuer configuration.
#[derive(Clone, Debug)]
pub struct IssuerConfig {
    issuers: BTreeMap<String, Issuer>,
    meta_issuers: Vec<(MetaIssuerPattern, Issuer)>,
}

/// One configured OIDC issuer, checked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Issuer {
    /// The exact `iss` of its tokens (for a meta-issuer: the token's `iss` that matched).
    pub issuer_url: String,
    /// The required `aud`.
    pub client_id: String,
    /// How claims become the certificate identity.
    pub kind: IssuerKind,
    /// Email issuers: where in the claims the recorded issuer is (Dex federation).
    pub issuer_claim: Option<ClaimPath>,
    /// Email issuers: accept tokens without `email_verified: true`.
    pub skip_email_verification: bool,
    /// Free text from the configuration.
    pub description: Option<String>,
    /// Free text from the configuration.
    pub contact: Option<String>,
    /// Extra TLS roots (PEM text, or a path to a PEM file) for discovery and JWKS fetches.
    pub ca_cert: Option<String>,
    /// Where the issuer's keys come from.
    pub key_source: KeySource,
    /// Claim policy (Sigstack; `None` = every verified token of the issuer may get a
    /// certificate).
    pub claim_policy: Option<Arc<ClaimPolicy>>,
    /// Operator-defined extensions (Sigstack), in configuration order.
    pub custom_extensions: Arc<Vec<CustomExtension>>,
    /// Deployment environment label from the configuration (informational).
    pub environment: Option<String>,
}

/// Where the verification keys of an issuer come from.
#[derive(Clone, Debug, PartialEq)]
pub enum KeySource {
    /// OpenID Connect discovery at `<issuer>/.well-known/openid-configuration`, then its
    /// `jwks_uri` (which must be on the issuer's own origin).
    Discovery,
    /// A JWK Set given inline in the configuration.
    InlineJwks(serde_json::Value),
    /// A JWK Set file, re-read whenever its modification time or size changes.
    JwksFile(std::path::PathBuf),
}

/// The issuer type: what the SAN is and which claim the proof of possession signs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum IssuerKind {
    /// `email`: rfc822Name SAN from the verified `email` claim; PoP signs the email.
    Email,
    /// `ci-provider`: URI SAN and extensions rendered from claim templates; PoP signs `sub`.
    CiProvider {
        /// The `ci-issuer-metadata` name.
        provider: String,
        /// Its templates.
        metadata: Arc<CiProviderMetadata>,
    },
    /// `uri`: the `sub` claim is a URI under `subject_domain` and becomes a URI SAN.
    Uri {
        /// Scheme and host subjects must have.
        subject_domain: url::Url,
    },
    /// `username`: OtherName SAN `sub!subject_domain`; PoP signs `sub`.
    Username {
        /// Appended to the username.
        subject_domain: String,
    },
    /// `spiffe`: `sub` is a SPIFFE ID in `trust_domain`; it becomes the URI SAN.
    Spiffe {
        /// The SPIFFE trust domain (a lowercase DNS-like name).
        trust_domain: String,
    },
    /// `kubernetes`: URI SAN
    /// `https://kubernetes.io/namespaces/<ns>/serviceaccounts/<sa>` from the `kubernetes.io`
    /// claim; PoP signs `sub`.
    Kubernetes,
    /// `chainguard-identity`: URI SAN `<iss>/<sub>`; PoP signs the verified email if the token
    /// has one, else `sub`.
    ChainguardIdentity,
}

impl IssuerKind {
    /// The configuration name of the type.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::CiProvider { .. } => "ci-provider",
            Self::Uri { .. } => "uri",
            Self::Username { .. } => "username",
            Self::Spiffe { .. } => "spiffe",
            Self::Kubernetes => "kubernetes",
            Self::ChainguardIdentity => "chainguard-identity",
        }
    }

    /// The claim whose value the proof of possession signs.
    #[must_use]
    pub fn challenge_claim(&self) -> &'static str {
        match self {
            Self::Email => "email",
            _ => "sub",
        }
    }
}

/// The checked templates of one ci-provider.
#[derive(Clone, Debug)]
pub struct CiProviderMetadata {
    /// Values templates may use when the token lacks them.
    pub default_template_values: BTreeMap<String, String>,
    /// Extension templates in certificate order.
    pub(crate) extension_templates: Vec<(&'static ExtensionDef, Template)>,
    /// Template of the URI SAN.
    pub subject_alternative_name_template: Template,
}

impl CiProviderMetadata {
    /// The templated extensions in certificate order: (OID, template).
    pub fn extension_templates(&self) -> impl Iterator<Item = (ObjectIdentifier, &Template)> {
        self.extension_templates.iter().map(|(def, t)| (def.oid, t))
    }

    fn from_file(provider: &str, file: &CiIssuerMetadataFile) -> Result<Self, FulcioCoreError> {
        let invalid = |reason: String| FulcioCoreError::InvalidCiMetadata {
            provider: provider.to_string(),
            reason,
        };
        let mut extension_templates = Vec::new();
        for (name, source) in &file.extension_templates {
            if source.trim().is_empty() {
                continue; // Fulcio skips empty templates.
            }
            let def = TEMPLATED_EXTENSIONS
                .iter()
                .find(|d| d.name == name.as_str() || d.go_name == name.as_str())
                .ok_or_else(|| {
                    invalid(if name.eq_ignore_ascii_case("issuer") {
                        "the issuer extensions always come from the token's iss".into()
                    } else {
                        format!("unknown extension {name:?}")
                    })
                })?;
            if extension_templates
                .iter()
                .any(|(d, _): &(&ExtensionDef, Template)| d.oid == def.oid)
            {
                return Err(invalid(format!("extension {:?} is set twice", def.name)));
            }
            extension_templates.push((def, Template::parse(source)?));
        }
        extension_templates.sort_by_key(|(def, _)| def.order);
        if file.subject_alternative_name_template.trim().is_empty() {
            return Err(invalid(
                "subject-alternative-name-template must not be empty".into(),
            ));
        }
        Ok(Self {
            default_template_values: file.default_template_values.clone(),
            extension_templates,
            subject_alternative_name_template: Template::parse(
                &file.subject_alternative_name_template,
            )?,
        })
    }
}

/// The built-in ci-issuer-metadata entries (`github-workflow`, `gitlab-pipeline`).
///
/// # Errors
/// Never in a released build (a unit test parses the embedded file).
pub fn builtin_ci_issuer_metadata()
-> Result<BTreeMap<String, CiIssuerMetadataFile>, FulcioCoreError> {
    serde_yaml_ng::from_str(BUILTIN_CI_METADATA)
        .map_err(|e| FulcioCoreError::ConfigSyntax(format!("built-in ci-issuer-metadata: {e}")))
}

/// A JSON path of the form `$.a.b.c` into the token claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimPath {
    source: String,
    segments: Vec<String>,
}

impl ClaimPath {
    /// Parse `$.a.b`.
    ///
    /// # Errors
    /// A message when the path is not of that form.
    pub fn parse(source: &str) -> Result<Self, String> {
        let rest = source
            .strip_prefix("$.")
            .ok_or("a claim path must start with `$.`")?;
        let segments: Vec<String> = rest.split('.').map(str::to_string).collect();
        if segments.iter().any(|s| {
            s.is_empty()
                || !s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }) {
            return Err(format!(
                "unsupported claim path {source:?} (only $.name.name...)"
            ));
        }
        Ok(Self {
            source: source.to_string(),
            segments,
        })
    }

    /// The path as configured.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Look the path up in `claims`.
    #[must_use]
    pub fn lookup<'a>(
        &self,
        claims: &'a serde_json::Map<String, serde_json::Value>,
    ) -> Option<&'a serde_json::Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut value = claims.get(first)?;
        for segment in rest {
            value = value.as_object()?.get(segment)?;
        }
        Some(value)
    }
}

/// A meta-issuer URL pattern: `*` matches one or more of `[-_a-zA-Z0-9]` and the pattern is
/// anchored at both ends (Fulcio's `metaRegex` after GHSA-59jp-pj84-45mr), so a `*` can never
/// span a `.`, `/` or `:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaIssuerPattern {
    source: String,
}

impl MetaIssuerPattern {
    /// Check and wrap a pattern.
    ///
    /// # Errors
    /// A message when the pattern is not an http(s) URL once its stars are filled in.
    pub fn parse(source: &str) -> Result<Self, String> {
        let example = source.replace('*', "x");
        let parsed = url::Url::parse(&example).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err("meta-issuer patterns must be http(s) URLs".into());
        }
        if source.contains("**") {
            return Err("`**` is not meaningful in a meta-issuer pattern".into());
        }
        Ok(Self {
            source: source.to_string(),
        })
    }

    /// The pattern as configured.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `unverified_issuer` matches the whole pattern.
    #[must_use]
    pub fn matches(&self, unverified_issuer: &str) -> bool {
        // Simulate the automaton of the pattern over the input: `states[i]` means the first
        // `i` pattern characters have been matched. A star is "one class character, then any
        // number more", so it has a state for "inside the star" (entered after one character).
        let pattern: Vec<char> = self.source.chars().collect();
        let in_class = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        // states: 0..=len for "before pattern[i]"; inside-star flags per star position.
        let mut before = vec![false; pattern.len() + 1];
        let mut inside = vec![false; pattern.len()];
        before[0] = true;
        for c in unverified_issuer.chars() {
            let mut next_before = vec![false; pattern.len() + 1];
            let mut next_inside = vec![false; pattern.len()];
            for i in 0..pattern.len() {
                let star = pattern[i] == '*';
                if before[i] {
                    if star {
                        if in_class(c) {
                            next_inside[i] = true;
                        }
                    } else if pattern[i] == c {
                        next_before[i + 1] = true;
                    }
                }
                if inside[i] && in_class(c) {
                    next_inside[i] = true;
                }
            }
            // Being inside a star after at least one character may also mean the star ended.
            for i in 0..pattern.len() {
                if next_inside[i] {
                    next_before[i + 1] = true;
                }
            }
            before = next_before;
            inside = next_inside;
            if !before.iter().any(|b| *b) && !inside.iter().any(|b| *b) {
                return false;
            }
        }
        before[pattern.len()]
    }
}

impl IssuerConfig {
    /// Parse and check a configuration file (JSON or YAML).
    ///
    /// # Errors
    /// [`FulcioCoreError::ConfigSyntax`], [`FulcioCoreError::InvalidIssuer`],
    /// [`FulcioCoreError::InvalidCiMetadata`] or [`FulcioCoreError::TemplateSyntax`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FulcioCoreError> {
        Self::try_from(FulcioConfigFile::parse(bytes)?)
    }

    /// [`Self::from_bytes`] for text already in memory.
    ///
    /// # Errors
    /// As [`Self::from_bytes`].
    pub fn from_text(text: &str) -> Result<Self, FulcioCoreError> {
        Self::from_bytes(text.as_bytes())
    }

    /// The issuer for a token whose (not yet verified) `iss` is `unverified_issuer`: the exact
    /// entry if there is one, else the first meta-issuer whose pattern matches. The returned
    /// issuer's `issuer_url` is the token's `iss`.
    #[must_use]
    pub fn issuer_for(&self, unverified_issuer: &str) -> Option<Issuer> {
        if let Some(issuer) = self.issuers.get(unverified_issuer) {
            return Some(issuer.clone());
        }
        // Bound the work on hostile input; no real issuer URL is this long.
        if unverified_issuer.len() > MAX_ISSUER_URL_LEN {
            return None;
        }
        self.meta_issuers
            .iter()
            .find(|(p, _)| p.matches(unverified_issuer))
            .map(|(_, issuer)| {
                let mut issuer = issuer.clone();
                issuer.issuer_url = unverified_issuer.to_string();
                issuer
            })
    }

    /// The exact-URL issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &Issuer> {
        self.issuers.values()
    }

    /// The meta-issuers with their patterns (each issuer's `issuer_url` is the pattern).
    pub fn meta_issuers(&self) -> impl Iterator<Item = (&MetaIssuerPattern, &Issuer)> {
        self.meta_issuers.iter().map(|(p, i)| (p, i))
    }
}

impl TryFrom<FulcioConfigFile> for IssuerConfig {
    type Error = FulcioCoreError;

    fn try_from(file: FulcioConfigFile) -> Result<Self, FulcioCoreError> {
        let mut metadata_files = builtin_ci_issuer_metadata()?;
        metadata_files.extend(file.ci_issuer_metadata);
        let mut metadata = BTreeMap::new();
        for (name, entry) in &metadata_files {
            metadata.insert(
                name.clone(),
                Arc::new(CiProviderMetadata::from_file(name, entry)?),
            );
        }

        let mut issuers = BTreeMap::new();
        for (key, entry) in &file.oidc_issuers {
            let issuer = check_issuer(key, entry, &metadata, false)?;
            issuers.insert(key.clone(), issuer);
        }
        let mut meta_issuers = Vec::new();
        for (pattern, entry) in &file.meta_issuers {
            let parsed = MetaIssuerPattern::parse(pattern).map_err(|reason| {
                FulcioCoreError::InvalidIssuer {
                    issuer: pattern.clone(),
                    reason,
                }
            })?;
            meta_issuers.push((parsed, check_issuer(pattern, entry, &metadata, true)?));
        }
        if issuers.is_empty() && meta_issuers.is_empty() {
            return Err(FulcioCoreError::ConfigSyntax(
                "no oidc-issuers or meta-issuers are configured".into(),
            ));
        }
        Ok(Self {
            issuers,
            meta_issuers,
        })
    }
}

fn check_issuer(
    key: &str,
    entry: &IssuerEntryFile,
    metadata: &BTreeMap<String, Arc<CiProviderMetadata>>,
    meta: bool,
) -> Result<Issuer, FulcioCoreError> {
    let invalid = |reason: String| FulcioCoreError::InvalidIssuer {
        issuer: key.to_string(),
        reason,
    };
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());

    let issuer_url = match (&entry.issuer_url, meta) {
        (Some(_), true) => {
            return Err(invalid(
                "meta-issuers take their URL from the token; remove issuer-url".into(),
            ));
        }
        (Some(url), false) if url != key => {
            return Err(invalid(format!(
                "issuer-url {url:?} differs from the entry's key"
            )));
        }
        _ => key.to_string(),
    };
    if !meta {
        let parsed =
            url::Url::parse(&issuer_url).map_err(|e| invalid(format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(invalid("issuer URLs must be http(s)".into()));
        }
    }
    let client_id = entry.client_id.clone().unwrap_or_default();
    if client_id.is_empty() {
        return Err(invalid(
            "client-id (the expected audience) is required".into(),
        ));
    }
    if set(&entry.spiffe_trust_domain) && entry.issuer_type.as_deref() != Some("spiffe") {
        return Err(invalid(
            "spiffe-trust-domain is only meaningful for type spiffe".into(),
        ));
    }
    let key_source = match (
        &entry.jwks,
        entry.jwks_file.as_deref().filter(|s| !s.is_empty()),
    ) {
        (Some(_), Some(_)) => return Err(invalid("give jwks or jwks-file, not both".into())),
        (Some(jwks), None) => {
            check_static_jwks(jwks).map_err(invalid)?;
            KeySource::InlineJwks(jwks.clone())
        }
        (None, Some(path)) => KeySource::JwksFile(path.into()),
        (None, None) => KeySource::Discovery,
    };
    if !matches!(key_source, KeySource::Discovery) && set(&entry.ca_cert) {
        return Err(invalid(
            "ca-cert is for discovery over TLS; an issuer with static keys fetches nothing".into(),
        ));
    }

    let type_name = entry.issuer_type.as_deref().unwrap_or_default();
    let ci_provider = entry.ci_provider.as_deref().filter(|s| !s.is_empty());
    let ci_kind = |provider: &str| {
        metadata
            .get(provider)
            .map(|m| IssuerKind::CiProvider {
                provider: provider.to_string(),
                metadata: m.clone(),
            })
            .ok_or_else(|| {
                invalid(format!(
                    "ci-provider {provider:?} has no ci-issuer-metadata"
                ))
            })
    };
    let kind = match type_name {
        "email" => IssuerKind::Email,
        "ci-provider" => ci_kind(
            ci_provider.ok_or_else(|| invalid("type ci-provider needs ci-provider".into()))?,
        )?,
        legacy @ ("github-workflow" | "gitlab-pipeline" | "buildkite-job"
        | "codefresh-workflow") => ci_kind(ci_provider.unwrap_or(legacy))?,
        "uri" => {
            let domain = entry
                .subject_domain
                .as_deref()
                .ok_or_else(|| invalid("type uri needs subject-domain".into()))?;
            let subject_domain = url::Url::parse(domain).map_err(|_| {
                invalid("subject-domain of a uri issuer must be a URL with scheme".into())
            })?;
            if !meta {
                let issuer =
                    url::Url::parse(&issuer_url).map_err(|e| invalid(format!("not a URL: {e}")))?;
                if issuer.scheme() != subject_domain.scheme() {
                    return Err(invalid("subject-domain and issuer schemes differ".into()));
                }
                same_registered_domain(
                    subject_domain.host_str().unwrap_or_default(),
                    issuer.host_str().unwrap_or_default(),
                )
                .map_err(invalid)?;
            }
            IssuerKind::Uri { subject_domain }
        }
        "username" => {
            let domain = entry
                .subject_domain
                .clone()
                .ok_or_else(|| invalid("type username needs subject-domain".into()))?;
            if domain.contains("://") || domain.contains('/') || domain.contains('!') {
                return Err(invalid(
                    "subject-domain of a username issuer is a bare domain".into(),
                ));
            }
            if !meta {
                let issuer =
                    url::Url::parse(&issuer_url).map_err(|e| invalid(format!("not a URL: {e}")))?;
                same_registered_domain(&domain, issuer.host_str().unwrap_or_default())
                    .map_err(invalid)?;
            }
            IssuerKind::Username {
                subject_domain: domain,
            }
        }
        "spiffe" => {
            if meta {
                return Err(invalid("spiffe issuers cannot be meta-issuers".into()));
            }
            let trust_domain = entry
                .spiffe_trust_domain
                .clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| invalid("type spiffe needs spiffe-trust-domain".into()))?;
            crate::principal::check_spiffe_trust_domain(&trust_domain).map_err(invalid)?;
            IssuerKind::Spiffe { trust_domain }
        }
        "kubernetes" => IssuerKind::Kubernetes,
        "chainguard-identity" => IssuerKind::ChainguardIdentity,
        "" => return Err(invalid("type is required".into())),
        unknown => return Err(invalid(format!("unknown issuer type {unknown:?}"))),
    };
    if ci_provider.is_some() && !matches!(kind, IssuerKind::CiProvider { .. }) {
        return Err(invalid(
            "ci-provider is only meaningful for type ci-provider".into(),
        ));
    }
    if set(&entry.subject_domain)
        && !matches!(kind, IssuerKind::Uri { .. } | IssuerKind::Username { .. })
    {
        return Err(invalid(
            "subject-domain is only meaningful for types uri and username".into(),
        ));
    }
    let is_email = matches!(kind, IssuerKind::Email);
    let issuer_claim = match entry.issuer_claim.as_deref().filter(|s| !s.is_empty()) {
        Some(_) if !is_email => {
            return Err(invalid(
                "issuer-claim is only allowed for email issuers".into(),
            ));
        }
        Some(path) => Some(ClaimPath::parse(path).map_err(invalid)?),
        None => None,
    };
    let skip_email_verification = entry.skip_email_verification.unwrap_or(false);
    if skip_email_verification && !is_email {
        return Err(invalid(
            "skip-email-verification is only meaningful for email issuers".into(),
        ));
    }
    if let Some(claim) = entry.challenge_claim.as_deref().filter(|s| !s.is_empty())
        && claim != kind.challenge_claim()
    {
        return Err(invalid(format!(
            "challenge-claim {claim:?}: {} issuers prove possession over {:?}",
            kind.type_name(),
            kind.challenge_claim()
        )));
    }
    let claim_policy = entry
        .claim_policy
        .as_ref()
        .map(|p| ClaimPolicy::from_file(p).map(Arc::new))
        .transpose()
        .map_err(invalid)?;
    let mut custom_extensions = Vec::new();
    for file in &entry.custom_extensions {
        let extension = CustomExtension::from_file(file).map_err(invalid)?;
        if custom_extensions
            .iter()
            .any(|e: &CustomExtension| e.oid == extension.oid)
        {
            return Err(invalid(format!(
                "custom extension {} is configured twice",
                extension.oid
            )));
        }
        custom_extensions.push(extension);
    }
    Ok(Issuer {
        issuer_url,
        client_id,
        kind,
        issuer_claim,
        skip_email_verification,
        description: entry.description.clone(),
        contact: entry.contact.clone(),
        ca_cert: entry.ca_cert.clone().filter(|s| !s.is_empty()),
        key_source,
        claim_policy,
        custom_extensions: Arc::new(custom_extensions),
        environment: entry.environment.clone().filter(|s| !s.is_empty()),
    })
}

/// A static JWK Set must be `{"keys": [ ... ]}` with at least one key.
fn check_static_jwks(jwks: &serde_json::Value) -> Result<(), String> {
    match jwks.get("keys").and_then(serde_json::Value::as_array) {
        Some(keys) if !keys.is_empty() => Ok(()),
        _ => Err("jwks must be a JWK Set: {\"keys\": [ ... ]} with at least one key".into()),
    }
}

/// Fulcio's check that a subject domain is under the issuer's registered domain: equal
/// hostnames, or the same last two DNS labels.
fn same_registered_domain(subject: &str, issuer: &str) -> Result<(), String> {
    if subject == issuer {
        return Ok(());
    }
    let s: Vec<&str> = subject.split('.').collect();
    let i: Vec<&str> = issuer.split('.').collect();
    if s.len() < 2 || i.len() < 2 {
        return Err(format!("hostname too short: {subject:?} / {issuer:?}"));
    }
    if s[s.len() - 2..] == i[i.len() - 2..] {
        Ok(())
    } else {
        Err(format!(
            "subject domain {subject:?} is not under the issuer's domain {issuer:?}"
        ))
    }
}

/// Longest `iss` matched against meta-issuer patterns.
const MAX_ISSUER_URL_LEN: usize = 2048;

/// One templatable Sigstore extension.
#[derive(Debug)]
pub(crate) struct ExtensionDef {
    /// Name in `extension-templates` (Fulcio's YAML tag).
    pub(crate) name: &'static str,
    /// Fulcio's Go field name (JSON configs).
    pub(crate) go_name: &'static str,
    /// Last OID arc under 1.3.6.1.4.1.57264.1, also the emission order.
    pub(crate) order: u32,
    pub(crate) oid: ObjectIdentifier,
    pub(crate) encoding: ExtensionEncoding,
}

macro_rules! ext {
    ($name:literal, $go:literal, $arc:literal, $enc:ident) => {
        ExtensionDef {
            name: $name,
            go_name: $go,
            order: $arc,
            oid: ObjectIdentifier::new_unwrap(concat!("1.3.6.1.4.1.57264.1.", stringify!($arc))),
            encoding: ExtensionEncoding::$enc,
        }
    };
}

/// The extensions `extension-templates` may fill (`docs/oid-info.md`).
pub(crate) static TEMPLATED_EXTENSIONS: [ExtensionDef; 20] = [
    ext!("github-workflow-trigger", "GithubWorkflowTrigger", 2, Raw),
    ext!("github-workflow-sha", "GithubWorkflowSHA", 3, Raw),
    ext!("github-workflow-name", "GithubWorkflowName", 4, Raw),
    ext!(
        "github-workflow-repository",
        "GithubWorkflowRepository",
        5,
        Raw
    ),
    ext!("github-workflow-ref", "GithubWorkflowRef", 6, Raw),
    ext!("build-signer-uri", "BuildSignerURI", 9, Utf8String),
    ext!("build-signer-digest", "BuildSignerDigest", 10, Utf8String),
    ext!("runner-environment", "RunnerEnvironment", 11, Utf8String),
    ext!(
        "source-repository-uri",
        "SourceRepositoryURI",
        12,
        Utf8String
    ),
    ext!(
        "source-repository-digest",
        "SourceRepositoryDigest",
        13,
        Utf8String
    ),
    ext!(
        "source-repository-ref",
        "SourceRepositoryRef",
        14,
        Utf8String
    ),
    ext!(
        "source-repository-identifier",
        "SourceRepositoryIdentifier",
        15,
        Utf8String
    ),
    ext!(
        "source-repository-owner-uri",
        "SourceRepositoryOwnerURI",
        16,
        Utf8String
    ),
    ext!(
        "source-repository-owner-identifier",
        "SourceRepositoryOwnerIdentifier",
        17,
        Utf8String
    ),
    ext!("build-config-uri", "BuildConfigURI", 18, Utf8String),
    ext!("build-config-digest", "BuildConfigDigest", 19, Utf8String),
    ext!("build-trigger", "BuildTrigger", 20, Utf8String),
    ext!("run-invocation-uri", "RunInvocationURI", 21, Utf8String),
    ext!(
        "source-repository-visibility-at-signing",
        "SourceRepositoryVisibilityAtSigning",
        22,
        Utf8String
    ),
    ext!(
        "deployment-environment",
        "DeploymentEnvironment",
        23,
        Utf8String
    ),
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
define:
  - &gh "github-workflow"
oidc-issuers:
  https://token.actions.githubusercontent.com:
    issuer-url: https://token.actions.githubusercontent.com
    client-id: sigstore
    type: ci-provider
    ci-provider: *gh
  https://accounts.example.com:
    client-id: sigstore
    type: email
    issuer-claim: $.federated_claims.connector_id
meta-issuers:
  https://token.actions.githubusercontent.com/*:
    client-id: sigstore
    type: ci-provider
    ci-provider: *gh
"#;

    fn err(text: &str) -> String {
        IssuerConfig::from_bytes(text.as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn builtin_metadata_parses_and_covers_the_oid_table() {
        let files = builtin_ci_issuer_metadata().unwrap();
        let gh =
            CiProviderMetadata::from_file("github-workflow", &files["github-workflow"]).unwrap();
        let arcs: Vec<String> = gh
            .extension_templates()
            .map(|(oid, _)| oid.to_string())
            .collect();
        let want: Vec<String> = [
            2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
        ]
        .iter()
        .map(|a| format!("1.3.6.1.4.1.57264.1.{a}"))
        .collect();
        assert_eq!(arcs, want);
        let gl =
            CiProviderMetadata::from_file("gitlab-pipeline", &files["gitlab-pipeline"]).unwrap();
        assert_eq!(gl.extension_templates().count(), 15, "GitLab fills .9-.23");
        assert!(
            gl.extension_templates()
                .all(|(oid, _)| !oid.to_string().ends_with(".1.2"))
        );
    }

    #[test]
    fn yaml_with_anchors_and_meta_issuers() {
        let config = IssuerConfig::from_bytes(CONFIG.as_bytes()).unwrap();
        let gh = config
            .issuer_for("https://token.actions.githubusercontent.com")
            .unwrap();
        assert!(
            matches!(&gh.kind, IssuerKind::CiProvider { provider, .. } if provider == "github-workflow")
        );
        let email = config.issuer_for("https://accounts.example.com").unwrap();
        assert!(matches!(email.kind, IssuerKind::Email));
        assert_eq!(
            email.issuer_claim.unwrap().as_str(),
            "$.federated_claims.connector_id"
        );

        let ghe = config
            .issuer_for("https://token.actions.githubusercontent.com/my-enterprise")
            .unwrap();
        assert_eq!(
            ghe.issuer_url,
            "https://token.actions.githubusercontent.com/my-enterprise"
        );
        for bad in [
            "https://token.actions.githubusercontent.com/",
            "https://token.actions.githubusercontent.com/a/b",
            "https://token.actions.githubusercontent.com/a.evil.com",
            "https://token.actions.githubusercontent.com/a?x",
            "https://token.actions.githubusercontent.com.evil.com/a",
            "https://evil.com/?https://token.actions.githubusercontent.com/a",
            "https://accounts.example.com/",
        ] {
            assert!(config.issuer_for(bad).is_none(), "{bad} must not match");
        }
    }

    #[test]
    fn meta_pattern_anchoring() {
        let p = MetaIssuerPattern::parse("https://oidc.eks.*.amazonaws.com/id/*").unwrap();
        assert!(p.matches(
            "https://oidc.eks.us-west-2.amazonaws.com/id/B02C93B6A2D30341AD01E1B6D48164CB"
        ));
        assert!(!p.matches("https://oidc.eks.us-west-2.amazonaws.com/id/"));
        assert!(!p.matches("https://oidc.eks..amazonaws.com/id/x"));
        assert!(!p.matches("https://oidc.eks.a.b.amazonaws.com/id/x"));
        assert!(!p.matches("xhttps://oidc.eks.a.amazonaws.com/id/x"));
        assert!(!p.matches("https://oidc.eks.a.amazonaws.com/id/x/"));
        // A literal that is also a class character after a star.
        let q = MetaIssuerPattern::parse("https://a.example/*-x").unwrap();
        assert!(q.matches("https://a.example/b-c-x"));
        assert!(!q.matches("https://a.example/-x"));
    }

    #[test]
    fn json_with_go_field_names() {
        let json = r#"{"OIDCIssuers":{"https://accounts.example.com":{"IssuerURL":"https://accounts.example.com","ClientID":"sigstore","Type":"email"}}}"#;
        let config = IssuerConfig::from_bytes(json.as_bytes()).unwrap();
        assert_eq!(
            config
                .issuer_for("https://accounts.example.com")
                .unwrap()
                .client_id,
            "sigstore"
        );
    }

    #[test]
    fn legacy_github_type_maps_to_ci_provider() {
        let text = "oidc-issuers:\n  https://token.actions.githubusercontent.com:\n    client-id: sigstore\n    type: github-workflow\n";
        let config = IssuerConfig::from_bytes(text.as_bytes()).unwrap();
        let issuer = config
            .issuer_for("https://token.actions.githubusercontent.com")
            .unwrap();
        assert_eq!(issuer.kind.type_name(), "ci-provider");
    }

    #[test]
    fn clear_errors() {
        let base = "oidc-issuers:\n  https://i.example.com:\n    client-id: sigstore\n";
        assert!(err(&format!("{base}    type: spiffe\n")).contains("needs spiffe-trust-domain"));
        assert!(err(&format!("{base}    type: frobnicate\n")).contains("unknown issuer type"));
        assert!(err(&format!("{base}    type: ci-provider\n")).contains("needs ci-provider"));
        assert!(
            err(&format!(
                "{base}    type: ci-provider\n    ci-provider: nope\n"
            ))
            .contains("has no ci-issuer-metadata")
        );
        assert!(err(&format!("{base}    type: uri\n    subject-domain: https://example.com\n    issuer-claim: $.x\n"))
            .contains("only allowed for email"));
        assert!(
            err(&format!("{base}    type: email\n    clientid: x\n")).contains("unknown field")
        );
        assert!(
            err(&format!(
                "{base}    type: email\n    challenge-claim: sub\n"
            ))
            .contains("challenge-claim")
        );
        assert!(
            err(&format!(
                "{base}    type: uri\n    subject-domain: https://other.org\n"
            ))
            .contains("not under")
        );
        assert!(
            err(&format!(
                "{base}    type: username\n    subject-domain: https://example.com\n"
            ))
            .contains("bare domain")
        );
        assert!(
            err("oidc-issuers:\n  https://i.example.com:\n    type: email\n").contains("client-id")
        );
        assert!(err("oidc-issuers: {}\n").contains("no oidc-issuers"));
        assert!(err("{\"oidc-issuers\": [}").contains("invalid JSON"));
        let bad_template = format!(
            "{base}    type: ci-provider\n    ci-provider: x\nci-issuer-metadata:\n  x:\n    extension-templates:\n      build-signer-uri: \"{{{{ .a \"\n    subject-alternative-name-template: \"{{{{ .a }}}}\"\n"
        );
        assert!(
            err(&bad_template).contains("unclosed"),
            "{}",
            err(&bad_template)
        );
        let unknown_ext = format!(
            "{base}    type: ci-provider\n    ci-provider: x\nci-issuer-metadata:\n  x:\n    extension-templates:\n      build-signer-url: a\n    subject-alternative-name-template: a\n"
        );
        assert!(err(&unknown_ext).contains("unknown extension"));
    }

    #[test]
    fn uri_and_username_issuers() {
        let text = "oidc-issuers:\n  https://accounts.example.com:\n    client-id: sigstore\n    type: uri\n    subject-domain: https://example.com\n  https://id.example.org:\n    client-id: sigstore\n    type: username\n    subject-domain: example.org\n";
        let config = IssuerConfig::from_bytes(text.as_bytes()).unwrap();
        assert_eq!(config.issuers().count(), 2);
        assert_eq!(
            config
                .issuer_for("https://id.example.org")
                .unwrap()
                .kind
                .challenge_claim(),
            "sub"
        );
    }
}
