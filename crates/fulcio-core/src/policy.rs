//! Sigstack's per-issuer additions to Fulcio's configuration, both off unless configured:
//!
//! - **Claim policies** decide, from the verified claims, whether a token of the issuer may get
//!   a certificate at all (Fulcio issue #1989: trusting GitHub's issuer otherwise means
//!   trusting every workflow on GitHub).
//! - **Custom extensions** put operator-chosen claim values into the certificate under the
//!   operator's own OID arc (Fulcio issue #800), as DER `UTF8String`s.
//!
//! ```yaml
//! oidc-issuers:
//!   https://token.actions.githubusercontent.com:
//!     client-id: sigstore
//!     type: ci-provider
//!     ci-provider: github-workflow
//!     claim-policy:
//!       match: all              # all: every allow rule must pass (default); any: at least one
//!       rules:
//!         - name: our-org-only
//!           claim: repository_owner_id        # a claim name, or a path `$.a.b`
//!           exact: ["1234"]                   # or glob: ["acme-*"], or regex: ["v[0-9]+"]
//!         - name: no-pull-requests
//!           claim: event_name
//!           effect: deny                      # allow (default) | deny
//!           exact: ["pull_request", "pull_request_target"]
//!     custom-extensions:
//!       - oid: 1.3.6.1.4.1.99999.1.1         # under 1.3.6.1.4.1.<PEN>, never Sigstore's 57264
//!         claim: repository_owner            # a claim name ...
//!       - oid: 1.3.6.1.4.1.99999.1.2
//!         template: "{{ .repository }}@{{ .ref }}"   # ... or a claim template
//! ```
//!
//! Rule semantics: an allow rule passes when the claim is present and one of its values
//! matches one of the patterns; a deny rule fails when one of the claim's values matches one of
//! its patterns (an absent claim never fails a deny rule). Every deny rule is always checked;
//! allow rules are combined by `match`. Array claims match element by element. Patterns match
//! the whole value: `glob` knows `*` (any run of characters) and `?` (one character), `regex` is
//! anchored at both ends.

use std::collections::BTreeMap;

use const_oid::ObjectIdentifier;
use serde::Deserialize;

use crate::config::ClaimPath;
use crate::template::{Template, TemplateData, claim_to_string};

/// Longest regex source accepted in a rule.
const MAX_REGEX_LEN: usize = 1024;
/// Compiled size limit of one rule regex.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// `claim-policy` as written.
///
/// ```text
/// { "match": "all" | "any", "rules": [ ClaimRuleFile, ... ] }
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimPolicyFile {
    /// How allow rules combine.
    #[serde(rename = "match", default)]
    pub combine: Option<String>,
    /// The rules.
    #[serde(default)]
    pub rules: Vec<ClaimRuleFile>,
}

/// One rule as written.
///
/// ```text
/// { "name", "claim", "effect": "allow" | "deny",
///   exactly one of "exact": [..], "glob": [..], "regex": [..] }
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRuleFile {
    /// Named in denials.
    pub name: String,
    /// A claim name or a `$.a.b` path.
    pub claim: String,
    /// `allow` (default) or `deny`.
    #[serde(default)]
    pub effect: Option<String>,
    /// Values compared as they are.
    #[serde(default)]
    pub exact: Option<Vec<String>>,
    /// Glob patterns (`*`, `?`).
    #[serde(default)]
    pub glob: Option<Vec<String>>,
    /// Regular expressions, anchored.
    #[serde(default)]
    pub regex: Option<Vec<String>>,
}

/// A checked claim policy.
#[derive(Clone, Debug)]
pub struct ClaimPolicy {
    require_all: bool,
    rules: Vec<ClaimRule>,
}

#[derive(Clone, Debug)]
struct ClaimRule {
    name: String,
    claim: ClaimRef,
    deny: bool,
    matcher: Matcher,
}

#[derive(Clone, Debug)]
enum ClaimRef {
    Name(String),
    Path(ClaimPath),
}

#[derive(Clone, Debug)]
enum Matcher {
    Exact(Vec<String>),
    Glob(Vec<String>),
    Regex(Vec<regex::Regex>),
}

/// Why a policy refused a token: the rule and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDenial {
    /// The failed rule's name (for `match: any`, the names of every allow rule).
    pub rule: String,
    /// What failed.
    pub reason: String,
}

impl ClaimRef {
    fn parse(source: &str) -> Result<Self, String> {
        if source.starts_with("$.") {
            Ok(Self::Path(ClaimPath::parse(source)?))
        } else if source.is_empty() {
            Err("a rule needs a claim".into())
        } else {
            Ok(Self::Name(source.to_string()))
        }
    }

    fn lookup<'a>(
        &self,
        claims: &'a serde_json::Map<String, serde_json::Value>,
    ) -> Option<&'a serde_json::Value> {
        match self {
            Self::Name(name) => claims.get(name),
            Self::Path(path) => path.lookup(claims),
        }
    }
}

impl ClaimPolicy {
    /// Check a written policy.
    ///
    /// # Errors
    /// A message naming the rule that is wrong.
    pub fn from_file(file: &ClaimPolicyFile) -> Result<Self, String> {
        let require_all = match file.combine.as_deref() {
            None | Some("all") => true,
            Some("any") => false,
            Some(other) => return Err(format!("claim-policy match {other:?}: use all or any")),
        };
        if file.rules.is_empty() {
            return Err("claim-policy has no rules".into());
        }
        let mut rules = Vec::with_capacity(file.rules.len());
        for rule in &file.rules {
            let bad = |reason: String| format!("claim-policy rule {:?}: {reason}", rule.name);
            if rule.name.trim().is_empty() {
                return Err("every claim-policy rule needs a name".into());
            }
            if rules.iter().any(|r: &ClaimRule| r.name == rule.name) {
                return Err(bad("the name is used twice".into()));
            }
            let deny = match rule.effect.as_deref() {
                None | Some("allow") => false,
                Some("deny") => true,
                Some(other) => return Err(bad(format!("effect {other:?}: use allow or deny"))),
            };
            let matcher = match (&rule.exact, &rule.glob, &rule.regex) {
                (Some(values), None, None) => Matcher::Exact(values.clone()),
                (None, Some(globs), None) => Matcher::Glob(globs.clone()),
                (None, None, Some(sources)) => Matcher::Regex(
                    sources
                        .iter()
                        .map(|source| compile_regex(source))
                        .collect::<Result<_, _>>()
                        .map_err(bad)?,
                ),
                _ => return Err(bad("give exactly one of exact, glob or regex".into())),
            };
            let empty = match &matcher {
                Matcher::Exact(v) | Matcher::Glob(v) => v.is_empty(),
                Matcher::Regex(v) => v.is_empty(),
            };
            if empty {
                return Err(bad("the pattern list is empty".into()));
            }
            rules.push(ClaimRule {
                name: rule.name.clone(),
                claim: ClaimRef::parse(&rule.claim).map_err(bad)?,
                deny,
                matcher,
            });
        }
        if !require_all && rules.iter().all(|r| r.deny) {
            return Err("claim-policy match any needs at least one allow rule".into());
        }
        Ok(Self { require_all, rules })
    }

    /// Decide for verified `claims`.
    ///
    /// # Errors
    /// The [`PolicyDenial`] naming the rule that failed.
    pub fn evaluate(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), PolicyDenial> {
        for rule in self.rules.iter().filter(|r| r.deny) {
            if let Some(value) = rule.first_match(claims) {
                return Err(PolicyDenial {
                    rule: rule.name.clone(),
                    reason: format!("claim {} is {value:?}, which is denied", rule.claim_name()),
                });
            }
        }
        let mut allow = self.rules.iter().filter(|r| !r.deny).peekable();
        if allow.peek().is_none() {
            return Ok(());
        }
        if self.require_all {
            for rule in allow {
                if rule.first_match(claims).is_none() {
                    return Err(PolicyDenial {
                        rule: rule.name.clone(),
                        reason: rule.miss_reason(claims),
                    });
                }
            }
            Ok(())
        } else {
            let allow: Vec<&ClaimRule> = allow.collect();
            if allow.iter().any(|r| r.first_match(claims).is_some()) {
                Ok(())
            } else {
                Err(PolicyDenial {
                    rule: allow
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    reason: "no allow rule matched the token's claims".into(),
                })
            }
        }
    }
}

impl ClaimRule {
    fn claim_name(&self) -> &str {
        match &self.claim {
            ClaimRef::Name(n) => n,
            ClaimRef::Path(p) => p.as_str(),
        }
    }

    /// The values of the claim as strings (array claims: each element).
    fn values(&self, claims: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
        match self.claim.lookup(claims) {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) => items.iter().map(claim_to_string).collect(),
            Some(value) => vec![claim_to_string(value)],
        }
    }

    /// The first claim value matching one of the patterns.
    fn first_match(&self, claims: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
        self.values(claims)
            .into_iter()
            .find(|value| self.matcher.matches(value))
    }

    fn miss_reason(&self, claims: &serde_json::Map<String, serde_json::Value>) -> String {
        match self.values(claims).as_slice() {
            [] => format!("the token has no {} claim", self.claim_name()),
            [one] => format!(
                "claim {} is {one:?}, which is not allowed",
                self.claim_name()
            ),
            many => format!(
                "no value of claim {} ({many:?}) is allowed",
                self.claim_name()
            ),
        }
    }
}

impl Matcher {
    fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(values) => values.iter().any(|v| v == value),
            Self::Glob(globs) => globs.iter().any(|g| glob_matches(g, value)),
            Self::Regex(regexes) => regexes.iter().any(|r| r.is_match(value)),
        }
    }
}

fn compile_regex(source: &str) -> Result<regex::Regex, String> {
    if source.len() > MAX_REGEX_LEN {
        return Err(format!("regex longer than {MAX_REGEX_LEN} characters"));
    }
    regex::RegexBuilder::new(&format!("^(?:{source})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("regex {source:?}: {e}"))
}

/// Whole-string glob match: `*` is any run of characters (also none), `?` exactly one.
/// Linear-time two-pointer matching with backtracking to the last star only.
#[must_use]
pub fn glob_matches(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((star_p, star_v)) = star {
            pi = star_p + 1;
            vi = star_v + 1;
            star = Some((star_p, star_v + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// One `custom-extensions` entry as written.
///
/// ```text
/// { "oid": "1.3.6.1.4.1.<PEN>.…", exactly one of "claim": <claim name> | "template": <template>,
///   "default-template-values": { <key>: <string> } }
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomExtensionFile {
    /// Dotted OID under the operator's private enterprise arc.
    pub oid: String,
    /// Claim whose value fills the extension.
    #[serde(default)]
    pub claim: Option<String>,
    /// Template (see the template module) whose rendering fills the extension.
    #[serde(default)]
    pub template: Option<String>,
    /// Values the template may use when the token lacks them.
    #[serde(rename = "default-template-values", default)]
    pub default_template_values: BTreeMap<String, String>,
}

/// A checked custom extension: non-critical, value a DER `UTF8String`.
#[derive(Clone, Debug)]
pub struct CustomExtension {
    /// The extension OID.
    pub oid: ObjectIdentifier,
    template: Template,
    defaults: BTreeMap<String, String>,
}

/// `1.3.6.1.4.1`: IANA private enterprise numbers.
const PRIVATE_ENTERPRISE_ARC: [u32; 6] = [1, 3, 6, 1, 4, 1];
/// Sigstore's enterprise number, reserved to Sigstore's own extensions.
const SIGSTORE_PEN: u32 = 57264;

impl CustomExtension {
    /// Check a written entry: the OID must be under `1.3.6.1.4.1.<PEN>` with at least one arc
    /// below the PEN, and not under Sigstore's PEN; the template must parse.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn from_file(file: &CustomExtensionFile) -> Result<Self, String> {
        let bad = |reason: String| format!("custom extension {:?}: {reason}", file.oid);
        let oid = ObjectIdentifier::new(&file.oid).map_err(|e| bad(format!("not an OID: {e}")))?;
        let arcs: Vec<u32> = oid.arcs().collect();
        if arcs.len() < PRIVATE_ENTERPRISE_ARC.len() + 2
            || arcs[..PRIVATE_ENTERPRISE_ARC.len()] != PRIVATE_ENTERPRISE_ARC
        {
            return Err(bad(
                "must be under your private enterprise arc 1.3.6.1.4.1.<PEN>.<n>".into(),
            ));
        }
        if arcs[PRIVATE_ENTERPRISE_ARC.len()] == SIGSTORE_PEN {
            return Err(bad(
                "1.3.6.1.4.1.57264 is Sigstore's arc; use your own enterprise number".into(),
            ));
        }
        let source = match (&file.claim, &file.template) {
            (Some(claim), None) if !claim.contains("{{") => claim.clone(),
            (None, Some(template)) => template.clone(),
            _ => return Err(bad("give exactly one of claim or template".into())),
        };
        let template = Template::parse(&source).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            oid,
            template,
            defaults: file.default_template_values.clone(),
        })
    }

    /// The value for verified `claims` (empty: the extension is left out).
    ///
    /// # Errors
    /// [`crate::FulcioCoreError::TemplateMissingKey`] when a claim it needs is absent.
    pub fn render(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, crate::FulcioCoreError> {
        self.template
            .render(&TemplateData::new(&self.defaults, claims))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, v, want) in [
            ("*", "", true),
            ("a*", "abc", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*-fork", "x-fork", true),
            ("*-fork", "x-forks", false),
            ("acme-*-*", "acme-a-b", true),
            ("acme", "acme2", false),
        ] {
            assert_eq!(glob_matches(p, v), want, "{p} {v}");
        }
    }

    #[test]
    fn custom_extension_oids_are_checked() {
        let file = |oid: &str| CustomExtensionFile {
            oid: oid.into(),
            claim: Some("x".into()),
            ..Default::default()
        };
        assert!(CustomExtension::from_file(&file("1.3.6.1.4.1.99999.1")).is_ok());
        for bad in [
            "1.3.6.1.4.1.99999",
            "1.3.6.1.4.1.57264.9.1",
            "2.5.29.17",
            "1.3.6.1.4.2.1.1",
            "nope",
        ] {
            assert!(CustomExtension::from_file(&file(bad)).is_err(), "{bad}");
        }
    }
}
