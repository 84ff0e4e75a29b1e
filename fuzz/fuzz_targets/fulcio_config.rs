//! Fulcio configuration parsing (sigstack-fulcio-core): `IssuerConfig::from_bytes` (JSON or
//! YAML issuer configuration), `MetaIssuerPattern` matching, claim `Template`s and
//! `ClaimPath`s.
//!
//! Invariants:
//! - never panics (including YAML anchors/aliases and deeply nested input);
//! - in an accepted configuration every exact issuer is found by its own URL, and every
//!   meta-issuer pattern matches its own URL with each `*` replaced by `x`;
//! - `MetaIssuerPattern::matches` (an NFA simulation) agrees with a reference dynamic-programming
//!   matcher of the documented semantics: `*` is one or more of `[-_a-zA-Z0-9]`, anchored at both
//!   ends, every other character literal (input: pattern on the first line, candidate after);
//! - an accepted template keeps its source; a template without `{{` renders to the value of the
//!   claim it names; rendering only ever fails with `TemplateMissingKey`;
//! - an accepted claim path keeps its source and finds a value placed at that path.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use sigstack_fulcio_core::{
    ClaimPath, FulcioCoreError, IssuerConfig, MetaIssuerPattern, Template, TemplateData,
};

const MAX_PATTERN: usize = 160;

fn class(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// `matches[i][j]`: `pattern[i..]` matches `s[j..]` exactly.
fn reference_match(pattern: &[char], s: &[char]) -> bool {
    let (n, m) = (pattern.len(), s.len());
    let mut matches = vec![vec![false; m + 1]; n + 1];
    matches[n][m] = true;
    for i in (0..n).rev() {
        for j in (0..=m).rev() {
            matches[i][j] = if pattern[i] == '*' {
                let mut k = j;
                let mut ok = false;
                while k < m && class(s[k]) {
                    k += 1;
                    if matches[i + 1][k] {
                        ok = true;
                        break;
                    }
                }
                ok
            } else {
                j < m && s[j] == pattern[i] && matches[i + 1][j + 1]
            };
        }
    }
    matches[0][0]
}

fn check_config(data: &[u8]) {
    let Ok(config) = IssuerConfig::from_bytes(data) else {
        return;
    };
    for issuer in config.issuers() {
        let found = config
            .issuer_for(&issuer.issuer_url)
            .expect("an exact issuer is found by its URL");
        assert_eq!(found.issuer_url, issuer.issuer_url);
        assert_eq!(found.client_id, issuer.client_id);
    }
    for (pattern, _) in config.meta_issuers() {
        let example = pattern.as_str().replace('*', "x");
        assert!(
            pattern.matches(&example),
            "{pattern:?} does not match {example:?}"
        );
        if example.len() <= 2048 {
            assert!(config.issuer_for(&example).is_some());
        }
    }
}

fn check_pattern(text: &str) {
    let (pattern, candidate) = text.split_once('\n').unwrap_or((text, ""));
    if pattern.len() > MAX_PATTERN || candidate.len() > MAX_PATTERN {
        return;
    }
    let Ok(parsed) = MetaIssuerPattern::parse(pattern) else {
        return;
    };
    assert_eq!(parsed.as_str(), pattern);
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = candidate.chars().collect();
    assert_eq!(
        parsed.matches(candidate),
        reference_match(&p, &s),
        "pattern {pattern:?} candidate {candidate:?}"
    );
}

fn check_template(text: &str) {
    let Ok(template) = Template::parse(text) else {
        return;
    };
    assert_eq!(template.source(), text);
    let defaults = BTreeMap::from([("url".to_string(), "https://ci.example".to_string())]);
    let mut claims = Map::new();
    for key in ["sub", "repository", "workflow", "ref", "event_name"] {
        claims.insert(key.into(), Value::String(format!("{key}-value")));
    }
    if !text.contains("{{") {
        claims.insert(text.trim().to_string(), Value::String("VALUE".into()));
        let data = TemplateData::new(&defaults, &claims);
        assert_eq!(template.render(&data).expect("claim is present"), "VALUE");
    }
    for data in [
        TemplateData::default(),
        TemplateData::new(&defaults, &claims),
    ] {
        match template.render(&data) {
            Ok(_) | Err(FulcioCoreError::TemplateMissingKey(_)) => {}
            Err(other) => panic!("render failed with {other:?}"),
        }
    }
}

fn check_claim_path(text: &str) {
    let Ok(path) = ClaimPath::parse(text) else {
        return;
    };
    assert_eq!(path.as_str(), text);
    let segments: Vec<&str> = text["$.".len()..].split('.').collect();
    let mut value = Value::String("leaf".into());
    for segment in segments.iter().rev() {
        let mut m = Map::new();
        m.insert((*segment).to_string(), value);
        value = Value::Object(m);
    }
    let Value::Object(claims) = value else {
        unreachable!("built an object")
    };
    assert_eq!(path.lookup(&claims), Some(&Value::String("leaf".into())));
}

fuzz_target!(|data: &[u8]| {
    check_config(data);
    if let Ok(text) = std::str::from_utf8(data) {
        check_pattern(text);
        check_template(text);
        check_claim_path(text);
    }
});
