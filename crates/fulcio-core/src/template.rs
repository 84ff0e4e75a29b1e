//! Claim templates of `ci-issuer-metadata`: the subset of Go `text/template` that Fulcio's
//! public configuration uses.
//!
//! A template without `{{` is a claim name: it renders to that claim's value. Otherwise it is
//! literal text mixed with actions:
//!
//! ```text
//! {{ .key }}                        value of `key` (missing key: error, like missingkey=error)
//! {{ index . "oidc.example/key" }}  value of a key that is not an identifier (missing key: "")
//! {{ if eq ARG ARG }}..{{ else }}..{{ end }}   ARG = .key | "literal" | (index . "key")
//! {{ if .key }}..{{ end }}          non-empty test
//! {{- ... -}}                       trim the whitespace next to the action
//! ```
//!
//! Values are strings. Fulcio renders with `html/template`, which would HTML-escape characters
//! such as `&`, `<` or `+` in claim values; Sigstack emits claim values verbatim, which only
//! differs for claims containing those characters.

use std::collections::BTreeMap;
use std::fmt;

use crate::FulcioCoreError;

/// A parsed claim template (see the module documentation for the accepted syntax).
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    body: Body,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Body {
    /// A bare claim name.
    Claim(String),
    /// Text and actions.
    Nodes(Vec<Node>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Text(String),
    Expr(Expr),
    If {
        condition: Expr,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Expr {
    /// `.key`
    Field(String),
    /// `index . "key"`
    Index(String),
    /// `"literal"`
    Literal(String),
    /// `eq a b`
    Eq(Box<Expr>, Box<Expr>),
}

enum Value {
    Str(String),
    Bool(bool),
}

impl Value {
    fn into_text(self) -> String {
        match self {
            Self::Str(s) => s,
            Self::Bool(b) => b.to_string(),
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Self::Str(s) => !s.is_empty(),
            Self::Bool(b) => *b,
        }
    }
}

/// The values a template renders from: the issuer's `default-template-values` overlaid by the
/// token's claims (claims win), every value as a string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateData {
    values: BTreeMap<String, String>,
}

impl TemplateData {
    /// Overlay `claims` on `defaults`. Strings are used as they are, integers and floats without
    /// a fraction print as integers, booleans as `true`/`false`, `null` as the empty string, and
    /// arrays and objects as compact JSON.
    #[must_use]
    pub fn new(
        defaults: &BTreeMap<String, String>,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        let mut values = defaults.clone();
        for (key, value) in claims {
            values.insert(key.clone(), claim_to_string(value));
        }
        Self { values }
    }

    /// The value of `key`, if present.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// Stringify one claim value the way Fulcio's templates see it.
#[must_use]
pub(crate) fn claim_to_string(value: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match value {
        J::String(s) => s.clone(),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                match n.as_f64() {
                    // 2^53: beyond it an f64 no longer holds every integer exactly.
                    Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                        format!("{f:.0}")
                    }
                    Some(f) => f.to_string(),
                    None => n.to_string(),
                }
            }
        }
        J::Bool(b) => b.to_string(),
        J::Null => String::new(),
        J::Array(_) | J::Object(_) => value.to_string(),
    }
}

impl Template {
    /// Parse a template.
    ///
    /// # Errors
    /// [`FulcioCoreError::TemplateSyntax`] for anything outside the supported subset.
    pub fn parse(source: &str) -> Result<Self, FulcioCoreError> {
        let body = if source.contains("{{") {
            let syntax = |reason: String| FulcioCoreError::TemplateSyntax {
                template: source.to_string(),
                reason,
            };
            let pieces = split_actions(source).map_err(syntax)?;
            let mut iter = pieces.into_iter().peekable();
            let (nodes, stop) = parse_nodes(&mut iter).map_err(syntax)?;
            if let Some(stop) = stop {
                return Err(syntax(format!("unexpected {{{{{stop}}}}}")));
            }
            Body::Nodes(nodes)
        } else {
            let claim = source.trim();
            if claim.is_empty() {
                return Err(FulcioCoreError::TemplateSyntax {
                    template: source.to_string(),
                    reason: "empty claim name".into(),
                });
            }
            Body::Claim(claim.to_string())
        };
        Ok(Self {
            source: source.to_string(),
            body,
        })
    }

    /// The template text as configured.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Render against `data`.
    ///
    /// # Errors
    /// [`FulcioCoreError::TemplateMissingKey`] when a claim name or `.key` is absent.
    pub fn render(&self, data: &TemplateData) -> Result<String, FulcioCoreError> {
        match &self.body {
            Body::Claim(name) => data
                .get(name)
                .map(str::to_string)
                .ok_or_else(|| FulcioCoreError::TemplateMissingKey(name.clone())),
            Body::Nodes(nodes) => {
                let mut out = String::new();
                render_nodes(nodes, data, &mut out)?;
                Ok(out)
            }
        }
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Template").field(&self.source).finish()
    }
}

fn render_nodes(
    nodes: &[Node],
    data: &TemplateData,
    out: &mut String,
) -> Result<(), FulcioCoreError> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Expr(expr) => out.push_str(&eval(expr, data)?.into_text()),
            Node::If {
                condition,
                then,
                otherwise,
            } => {
                let branch = if eval(condition, data)?.truthy() {
                    then
                } else {
                    otherwise
                };
                render_nodes(branch, data, out)?;
            }
        }
    }
    Ok(())
}

fn eval(expr: &Expr, data: &TemplateData) -> Result<Value, FulcioCoreError> {
    Ok(match expr {
        Expr::Field(key) => Value::Str(
            data.get(key)
                .ok_or_else(|| FulcioCoreError::TemplateMissingKey(key.clone()))?
                .to_string(),
        ),
        // Go's `index` yields the zero value for a missing map key.
        Expr::Index(key) => Value::Str(data.get(key).unwrap_or_default().to_string()),
        Expr::Literal(s) => Value::Str(s.clone()),
        Expr::Eq(a, b) => {
            let (a, b) = (eval(a, data)?.into_text(), eval(b, data)?.into_text());
            Value::Bool(a == b)
        }
    })
}

/// A piece of template source: literal text or the inside of one `{{ }}` action.
#[derive(Debug)]
enum Piece {
    Text(String),
    Action(String),
}

/// Split `source` into text and actions, applying `{{-` / `-}}` whitespace trimming and
/// dropping `{{/* comments */}}`.
fn split_actions(source: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = source;
    let mut trim_next_text = false;
    while let Some(open) = rest.find("{{") {
        let mut text = rest[..open].to_string();
        if trim_next_text {
            text = text.trim_start().to_string();
        }
        let after_open = &rest[open + 2..];
        let close = find_close(after_open).ok_or("unclosed action")?;
        let mut inner = &after_open[..close];
        if let Some(stripped) = inner.strip_prefix("- ") {
            text = text.trim_end().to_string();
            inner = stripped;
        }
        trim_next_text = false;
        if let Some(stripped) = inner.strip_suffix(" -") {
            trim_next_text = true;
            inner = stripped;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        let inner = inner.trim();
        if !(inner.starts_with("/*") && inner.ends_with("*/")) {
            pieces.push(Piece::Action(inner.to_string()));
        }
        rest = &after_open[close + 2..];
    }
    let text = if trim_next_text {
        rest.trim_start()
    } else {
        rest
    };
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_string()));
    }
    Ok(pieces)
}

/// Position of the `}}` closing an action, skipping `}}` inside string literals.
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'}' if !in_string && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parse nodes until the input ends or an `else`/`end` action, which is returned.
fn parse_nodes(
    pieces: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>,
) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some(piece) = pieces.next() {
        match piece {
            Piece::Text(text) => nodes.push(Node::Text(text)),
            Piece::Action(action) => {
                let tokens = tokenize(&action)?;
                match tokens.first() {
                    Some(Token::Ident(word)) if word == "else" || word == "end" => {
                        if tokens.len() != 1 {
                            return Err(format!("unsupported action {{{{{action}}}}}"));
                        }
                        return Ok((nodes, Some(word.clone())));
                    }
                    Some(Token::Ident(word)) if word == "if" => {
                        let condition = parse_expr(&tokens[1..])?;
                        let (then, stop) = parse_nodes(pieces)?;
                        let otherwise = match stop.as_deref() {
                            Some("end") => Vec::new(),
                            Some("else") => match parse_nodes(pieces)? {
                                (otherwise, Some(end)) if end == "end" => otherwise,
                                _ => return Err("{{else}} without {{end}}".into()),
                            },
                            _ => return Err("{{if}} without {{end}}".into()),
                        };
                        nodes.push(Node::If {
                            condition,
                            then,
                            otherwise,
                        });
                    }
                    _ => nodes.push(Node::Expr(parse_expr(&tokens)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// `.` alone (the data map).
    Dot,
    /// `.key`
    Field(String),
    /// `"literal"`
    Str(String),
    /// `index`, `eq`, `if`, ...
    Ident(String),
    Open,
    Close,
}

fn tokenize(action: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some(e @ ('"' | '\\')) => s.push(e),
                            _ => return Err("unsupported escape in string literal".into()),
                        },
                        Some(other) => s.push(other),
                        None => return Err("unterminated string literal".into()),
                    }
                }
                tokens.push(Token::Str(s));
            }
            '.' => {
                chars.next();
                let name = take_ident(&mut chars);
                tokens.push(if name.is_empty() {
                    Token::Dot
                } else {
                    Token::Field(name)
                });
            }
            c if c.is_alphabetic() || c == '_' => tokens.push(Token::Ident(take_ident(&mut chars))),
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(tokens)
}

fn take_ident(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut s = String::new();
    while let Some(&c) = chars.peek() {
        if c.is_alphanumeric() || c == '_' {
            s.push(c);
            chars.next();
        } else {
            break;
        }
    }
    s
}

/// Parse a whole action (or `if` condition) into one expression.
fn parse_expr(tokens: &[Token]) -> Result<Expr, String> {
    let (expr, used) = parse_command(tokens)?;
    if used != tokens.len() {
        return Err(format!("unexpected {:?}", tokens[used]));
    }
    Ok(expr)
}

/// A command: `index . "k"`, `eq A B`, or a single operand. Returns the tokens consumed.
fn parse_command(tokens: &[Token]) -> Result<(Expr, usize), String> {
    match tokens.first() {
        Some(Token::Ident(f)) if f == "index" => match tokens.get(1..3) {
            Some([Token::Dot, Token::Str(key)]) => Ok((Expr::Index(key.clone()), 3)),
            _ => Err("only `index . \"key\"` is supported".into()),
        },
        Some(Token::Ident(f)) if f == "eq" => {
            let (a, used_a) = parse_operand(&tokens[1..])?;
            let (b, used_b) = parse_operand(&tokens[1 + used_a..])?;
            Ok((Expr::Eq(Box::new(a), Box::new(b)), 1 + used_a + used_b))
        }
        _ => parse_operand(tokens),
    }
}

fn parse_operand(tokens: &[Token]) -> Result<(Expr, usize), String> {
    match tokens.first() {
        Some(Token::Field(name)) => Ok((Expr::Field(name.clone()), 1)),
        Some(Token::Str(s)) => Ok((Expr::Literal(s.clone()), 1)),
        Some(Token::Open) => {
            let (expr, used) = parse_command(&tokens[1..])?;
            match tokens.get(1 + used) {
                Some(Token::Close) => Ok((expr, used + 2)),
                _ => Err("missing `)`".into()),
            }
        }
        Some(Token::Dot) => Err("`.` alone is not supported; use .key".into()),
        Some(other) => Err(format!("unsupported {other:?}")),
        None => Err("missing operand".into()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, serde_json::Value)]) -> TemplateData {
        let defaults = BTreeMap::from([("url".to_string(), "https://github.com".to_string())]);
        let claims = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        TemplateData::new(&defaults, &claims)
    }

    fn render(t: &str, d: &TemplateData) -> Result<String, FulcioCoreError> {
        Template::parse(t)?.render(d)
    }

    #[test]
    fn claim_names_and_fields() {
        let d = data(&[
            ("repository", "o/r".into()),
            ("run_id", serde_json::json!(8351058501u64)),
        ]);
        assert_eq!(render("repository", &d).unwrap(), "o/r");
        assert_eq!(
            render("{{ .url }}/{{.repository}}", &d).unwrap(),
            "https://github.com/o/r"
        );
        assert_eq!(render("runs/{{ .run_id }}", &d).unwrap(), "runs/8351058501");
        assert!(
            matches!(render("missing", &d), Err(FulcioCoreError::TemplateMissingKey(k)) if k == "missing")
        );
        assert!(
            matches!(render("{{ .nope }}", &d), Err(FulcioCoreError::TemplateMissingKey(k)) if k == "nope")
        );
    }

    #[test]
    fn claims_override_defaults() {
        let d = data(&[("url", "https://ghe.example".into())]);
        assert_eq!(render("{{ .url }}", &d).unwrap(), "https://ghe.example");
    }

    #[test]
    fn numbers_print_as_integers() {
        let d = data(&[
            ("a", serde_json::json!(1.0)),
            ("b", serde_json::json!(2.5)),
            ("c", serde_json::json!(-3)),
            ("d", serde_json::json!(true)),
        ]);
        assert_eq!(
            render("{{.a}} {{.b}} {{.c}} {{.d}}", &d).unwrap(),
            "1 2.5 -3 true"
        );
    }

    #[test]
    fn gitlab_ref_conditional() {
        let t = Template::parse(
            r#"refs/{{if eq .ref_type "branch"}}heads/{{ else }}tags/{{end}}{{ .ref }}"#,
        )
        .unwrap();
        let branch = data(&[("ref_type", "branch".into()), ("ref", "main".into())]);
        let tag = data(&[("ref_type", "tag".into()), ("ref", "v1".into())]);
        assert_eq!(t.render(&branch).unwrap(), "refs/heads/main");
        assert_eq!(t.render(&tag).unwrap(), "refs/tags/v1");
        assert!(
            t.render(&data(&[("ref", "v1".into())])).is_err(),
            "missing ref_type"
        );
    }

    #[test]
    fn index_and_parentheses() {
        let t = Template::parse(
            r#"{{.url}}/x/{{(index . "oidc.circleci.com/project-id")}}{{if eq (index . "k/ssh") "true"}}!{{end}}"#,
        )
        .unwrap();
        let d = data(&[
            ("oidc.circleci.com/project-id", "p1".into()),
            ("k/ssh", "true".into()),
        ]);
        assert_eq!(t.render(&d).unwrap(), "https://github.com/x/p1!");
        // A missing key under `index` is the empty string, as in Go.
        assert_eq!(t.render(&data(&[])).unwrap(), "https://github.com/x/");
    }

    #[test]
    fn trim_markers_and_comments() {
        let d = data(&[("a", "A".into())]);
        assert_eq!(render("x  {{- .a -}}  y{{/* note */}}", &d).unwrap(), "xAy");
    }

    #[test]
    fn rejects_unsupported_syntax() {
        for bad in [
            "{{ .a ",
            "{{ if .a }}x",
            "{{ else }}",
            "{{ printf \"%s\" .a }}",
            "{{ .a | html }}",
            "{{ index .a \"b\" }}",
            "{{ eq .a }}",
            "{{ . }}",
            "   ",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
