//! From verified token claims to the certificate identity: [`Principal`].

use const_oid::ObjectIdentifier;
use der::Encode;
use der::asn1::{Any, Ia5String, Utf8StringRef};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::{GeneralName, OtherName};

use crate::config::{Issuer, IssuerKind};
use crate::template::TemplateData;
use crate::{FulcioCoreError, oids};

/// The claims of an ID token whose signature, `iss`, `aud`, `exp`, `nbf` and `iat` have been
/// verified by the caller. Only a token verifier should construct this.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedClaims {
    claims: serde_json::Map<String, serde_json::Value>,
}

impl VerifiedClaims {
    /// Wrap the claim set of a token the caller has fully verified.
    #[must_use]
    pub fn from_verified_token(claims: serde_json::Map<String, serde_json::Value>) -> Self {
        Self { claims }
    }

    /// `iss`, if it is a string.
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(serde_json::Value::as_str)
    }

    /// `sub`, if it is a string.
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(serde_json::Value::as_str)
    }

    /// Any claim.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.claims.get(name)
    }

    /// All claims.
    #[must_use]
    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.claims
    }
}

/// How a Sigstore extension value is stored in `extnValue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtensionEncoding {
    /// The UTF-8 bytes themselves, no DER wrapper (deprecated OIDs `.1`-`.6`).
    Raw,
    /// A DER `UTF8String` (tag 0x0C) (OIDs `.8` and later).
    Utf8String,
}

/// One `1.3.6.1.4.1.57264.1.*` extension of a principal (always non-critical).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimExtension {
    /// The extension OID.
    pub oid: ObjectIdentifier,
    /// How the value is encoded.
    pub encoding: ExtensionEncoding,
    /// The value.
    pub value: String,
}

impl ClaimExtension {
    /// The `extnValue` contents.
    ///
    /// # Errors
    /// Only if the value is too long for DER.
    pub fn value_der(&self) -> Result<Vec<u8>, FulcioCoreError> {
        match self.encoding {
            ExtensionEncoding::Raw => Ok(self.value.as_bytes().to_vec()),
            ExtensionEncoding::Utf8String => Utf8StringRef::new(&self.value)
                .and_then(|s| s.to_der())
                .map_err(|e| FulcioCoreError::Certificate(e.into())),
        }
    }

    /// The X.509 extension (non-critical).
    ///
    /// # Errors
    /// Only if the value is too long for DER.
    pub fn to_extension(&self) -> Result<Extension, FulcioCoreError> {
        Ok(sigstack_pki::verbatim_extension(
            self.oid,
            false,
            &self.value_der()?,
        )?)
    }
}

/// The single subject alternative name of a Fulcio certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubjectAltName {
    /// `rfc822Name` (email issuers).
    Email(String),
    /// `uniformResourceIdentifier` (ci-provider and uri issuers).
    Uri(String),
    /// `otherName` with type-id `1.3.6.1.4.1.57264.1.7` and a UTF8String `user!domain`
    /// (username issuers).
    Username(String),
}

impl SubjectAltName {
    /// The identity string (email, URI or `user!domain`).
    #[must_use]
    pub fn value(&self) -> &str {
        match self {
            Self::Email(v) | Self::Uri(v) | Self::Username(v) => v,
        }
    }

    /// The `subjectAltName` extension, critical because Fulcio certificates have an empty
    /// subject (RFC 5280 §4.2.1.6).
    ///
    /// ```text
    /// SubjectAltName ::= GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName
    /// ```
    ///
    /// # Errors
    /// If the value is not representable (non-ASCII email or URI).
    pub fn to_extension(&self) -> Result<Extension, FulcioCoreError> {
        let ia5 = |v: &str| {
            Ia5String::new(v).map_err(|_| FulcioCoreError::InvalidClaim {
                claim: "subject".into(),
                reason: format!("{v:?} is not ASCII"),
            })
        };
        let name = match self {
            Self::Email(v) => GeneralName::Rfc822Name(ia5(v)?),
            Self::Uri(v) => GeneralName::UniformResourceIdentifier(ia5(v)?),
            Self::Username(v) => GeneralName::OtherName(OtherName {
                type_id: oids::OTHER_NAME_SAN,
                value: Any::encode_from(
                    &Utf8StringRef::new(v).map_err(|e| FulcioCoreError::Certificate(e.into()))?,
                )
                .map_err(|e| FulcioCoreError::Certificate(e.into()))?,
            }),
        };
        let san = x509_cert::ext::pkix::SubjectAltName(vec![name]);
        Ok(sigstack_pki::raw_extension(
            &san,
            oids::SUBJECT_ALT_NAME,
            true,
        )?)
    }
}

/// Who a certificate is issued to, derived from verified claims and the issuer's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    name: String,
    issuer: String,
    subject: String,
    san: SubjectAltName,
    extensions: Vec<ClaimExtension>,
}

impl Principal {
    /// Derive the principal of `claims` for `issuer` (the issuer they were verified against).
    ///
    /// # Errors
    /// [`FulcioCoreError::MissingClaim`], [`FulcioCoreError::InvalidClaim`],
    /// [`FulcioCoreError::EmailNotVerified`] or [`FulcioCoreError::TemplateMissingKey`].
    pub fn from_claims(issuer: &Issuer, claims: &VerifiedClaims) -> Result<Self, FulcioCoreError> {
        let iss = claims
            .issuer()
            .ok_or_else(|| FulcioCoreError::MissingClaim("iss".into()))?;
        if iss != issuer.issuer_url {
            return Err(FulcioCoreError::InvalidClaim {
                claim: "iss".into(),
                reason: format!("token is from {iss:?}, not {:?}", issuer.issuer_url),
            });
        }
        let subject = claims
            .subject()
            .ok_or_else(|| FulcioCoreError::MissingClaim("sub".into()))?;
        if subject.is_empty() {
            return Err(invalid("sub", "empty"));
        }
        // The operator's policy is decided first: a refused identity gets the refusal, whatever
        // else its token lacks.
        if let Some(policy) = &issuer.claim_policy {
            policy
                .evaluate(claims.as_map())
                .map_err(|denial| FulcioCoreError::PolicyDenied {
                    rule: denial.rule,
                    reason: denial.reason,
                })?;
        }
        let mut recorded_issuer = iss.to_string();
        let mut templated = Vec::new();
        let (name, san) = match &issuer.kind {
            IssuerKind::Email => {
                let email = email_claim(issuer, claims)?;
                if let Some(path) = &issuer.issuer_claim {
                    recorded_issuer = path
                        .lookup(claims.as_map())
                        .and_then(serde_json::Value::as_str)
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| FulcioCoreError::MissingClaim(path.as_str().into()))?
                        .to_string();
                }
                (email.clone(), SubjectAltName::Email(email))
            }
            IssuerKind::CiProvider { metadata, .. } => {
                let data = TemplateData::new(&metadata.default_template_values, claims.as_map());
                let uri = metadata.subject_alternative_name_template.render(&data)?;
                check_uri(&uri)?;
                for (def, template) in &metadata.extension_templates {
                    let value = template.render(&data)?;
                    if !value.is_empty() {
                        templated.push(ClaimExtension {
                            oid: def.oid,
                            encoding: def.encoding,
                            value,
                        });
                    }
                }
                (subject.to_string(), SubjectAltName::Uri(uri))
            }
            IssuerKind::Uri { subject_domain } => {
                let uri = url::Url::parse(subject).map_err(|_| invalid("sub", "not a URI"))?;
                if uri.scheme() != subject_domain.scheme()
                    || uri.host_str() != subject_domain.host_str()
                {
                    return Err(invalid("sub", "not under the issuer's subject-domain"));
                }
                check_uri(subject)?;
                (
                    subject.to_string(),
                    SubjectAltName::Uri(subject.to_string()),
                )
            }
            IssuerKind::Username { subject_domain } => {
                if subject.contains('!') {
                    return Err(invalid("sub", "usernames must not contain '!'"));
                }
                (
                    subject.to_string(),
                    SubjectAltName::Username(format!("{subject}!{subject_domain}")),
                )
            }
            IssuerKind::Spiffe { trust_domain } => {
                check_spiffe_id(subject, trust_domain)?;
                (
                    subject.to_string(),
                    SubjectAltName::Uri(subject.to_string()),
                )
            }
            IssuerKind::Kubernetes => {
                let uri = kubernetes_uri(claims)?;
                (subject.to_string(), SubjectAltName::Uri(uri))
            }
            IssuerKind::ChainguardIdentity => {
                // The PoP name is the verified email when the token carries one, else `sub`
                // (the rule Sigstore clients use to choose what to sign).
                let name = match claims.get("email") {
                    Some(serde_json::Value::String(email)) if !email.is_empty() => {
                        if !email_verified(claims) {
                            return Err(FulcioCoreError::EmailNotVerified);
                        }
                        email.clone()
                    }
                    _ => subject.to_string(),
                };
                // The SAN is the subject as a path under the issuer; dot segments would let a
                // subject name another path, so they are refused.
                if subject
                    .split('/')
                    .any(|segment| segment == "." || segment == "..")
                {
                    return Err(invalid("sub", "dot segments are not allowed"));
                }
                let uri = format!(
                    "{}/{}",
                    iss.trim_end_matches('/'),
                    subject.trim_start_matches('/')
                );
                check_uri(&uri)?;
                (name, SubjectAltName::Uri(uri))
            }
        };

        let mut extensions = Vec::with_capacity(templated.len() + 3);
        extensions.push(ClaimExtension {
            oid: oids::ISSUER_V1,
            encoding: ExtensionEncoding::Raw,
            value: recorded_issuer.clone(),
        });
        let (deprecated, current): (Vec<_>, Vec<_>) = templated
            .into_iter()
            .partition(|e| e.encoding == ExtensionEncoding::Raw);
        extensions.extend(deprecated);
        extensions.push(ClaimExtension {
            oid: oids::ISSUER_V2,
            encoding: ExtensionEncoding::Utf8String,
            value: recorded_issuer.clone(),
        });
        extensions.extend(current);
        extensions.push(ClaimExtension {
            oid: oids::TOKEN_SUBJECT,
            encoding: ExtensionEncoding::Utf8String,
            value: subject.to_string(),
        });
        for custom in issuer.custom_extensions.iter() {
            let value = custom.render(claims.as_map())?;
            if !value.is_empty() {
                extensions.push(ClaimExtension {
                    oid: custom.oid,
                    encoding: ExtensionEncoding::Utf8String,
                    value,
                });
            }
        }
        Ok(Self {
            name,
            issuer: recorded_issuer,
            subject: subject.to_string(),
            san,
            extensions,
        })
    }

    /// The string the proof of possession signs: the email for email issuers, `sub` otherwise.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The issuer recorded in the certificate (`iss`, or the `issuer-claim` value).
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The token's `sub`.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The SAN.
    #[must_use]
    pub fn subject_alt_name(&self) -> &SubjectAltName {
        &self.san
    }

    /// The Sigstore extensions in certificate order: `.1`, [`.2`-`.6`], `.8`, `.9`-`.23`, `.24`.
    #[must_use]
    pub fn extensions(&self) -> &[ClaimExtension] {
        &self.extensions
    }
}

fn invalid(claim: &str, reason: &str) -> FulcioCoreError {
    FulcioCoreError::InvalidClaim {
        claim: claim.into(),
        reason: reason.into(),
    }
}

/// The verified email of an email-type token.
fn email_claim(issuer: &Issuer, claims: &VerifiedClaims) -> Result<String, FulcioCoreError> {
    let email = match claims.get("email") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => return Err(invalid("email", "not a string")),
        None => return Err(FulcioCoreError::MissingClaim("email".into())),
    };
    if !issuer.skip_email_verification && !email_verified(claims) {
        return Err(FulcioCoreError::EmailNotVerified);
    }
    let well_formed = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    }) && email.is_ascii()
        && !email
            .chars()
            .any(|c| c.is_ascii_whitespace() || c.is_ascii_control());
    if !well_formed {
        return Err(invalid("email", "not an email address"));
    }
    Ok(email)
}

/// A SAN URI must parse as a URL and be ASCII (IA5String).
fn check_uri(uri: &str) -> Result<(), FulcioCoreError> {
    if uri.is_empty() || !uri.is_ascii() || url::Url::parse(uri).is_err() {
        return Err(FulcioCoreError::InvalidClaim {
            claim: "subject-alternative-name".into(),
            reason: format!("{uri:?} is not an ASCII URI"),
        });
    }
    Ok(())
}

/// `email_verified` is `true` (or the string "true"/"True", which some issuers send).
fn email_verified(claims: &VerifiedClaims) -> bool {
    match claims.get("email_verified") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s == "true" || s == "True",
        _ => false,
    }
}

/// `https://kubernetes.io/namespaces/<ns>/serviceaccounts/<sa>` from the service-account
/// token's `kubernetes.io` claim:
///
/// ```text
/// "kubernetes.io": { "namespace": <ns>, "serviceaccount": { "name": <sa>, "uid": .. },
///                    "pod": { "name": .., "uid": .. } }
/// ```
fn kubernetes_uri(claims: &VerifiedClaims) -> Result<String, FulcioCoreError> {
    let k8s = claims
        .get("kubernetes.io")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| FulcioCoreError::MissingClaim("kubernetes.io".into()))?;
    let segment = |value: Option<&serde_json::Value>, claim: &str| {
        let value = value
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| FulcioCoreError::MissingClaim(claim.into()))?;
        // Kubernetes names are DNS labels / subdomains; anything else cannot be a path segment.
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(invalid(claim, "not a Kubernetes object name"));
        }
        Ok(value.to_string())
    };
    let namespace = segment(k8s.get("namespace"), "kubernetes.io.namespace")?;
    let account = segment(
        k8s.get("serviceaccount").and_then(|sa| sa.get("name")),
        "kubernetes.io.serviceaccount.name",
    )?;
    Ok(format!(
        "https://kubernetes.io/namespaces/{namespace}/serviceaccounts/{account}"
    ))
}

/// A SPIFFE trust domain: lowercase letters, digits, `.`, `-` and `_`, non-empty.
pub(crate) fn check_spiffe_trust_domain(trust_domain: &str) -> Result<(), String> {
    let ok = !trust_domain.is_empty()
        && trust_domain.len() <= 255
        && trust_domain
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!("{trust_domain:?} is not a SPIFFE trust domain"))
    }
}

/// `sub` must be a SPIFFE ID (`spiffe://<trust domain>[/<path>]`, path segments of letters,
/// digits, `.`, `-`, `_`, none empty, `.` or `..`) whose trust domain is `trust_domain`.
fn check_spiffe_id(subject: &str, trust_domain: &str) -> Result<(), FulcioCoreError> {
    let rest = subject
        .strip_prefix("spiffe://")
        .ok_or_else(|| invalid("sub", "not a SPIFFE ID (spiffe://...)"))?;
    let (domain, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    check_spiffe_trust_domain(domain)
        .map_err(|_| invalid("sub", "malformed SPIFFE trust domain"))?;
    if !path.is_empty() {
        for segment in path[1..].split('/') {
            let ok = !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !ok {
                return Err(invalid("sub", "malformed SPIFFE ID path"));
            }
        }
    }
    if domain != trust_domain {
        return Err(FulcioCoreError::InvalidClaim {
            claim: "sub".into(),
            reason: format!(
                "SPIFFE trust domain {domain:?} is not the configured {trust_domain:?}"
            ),
        });
    }
    Ok(())
}
