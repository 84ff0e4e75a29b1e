//! A small, neutral OpenID Connect provider for self-hosted Sigstack deployments, tests and
//! local development.
//!
//! It is two issuers sharing one key: people (`{issuer}`, tokens carry a verified `email`) and
//! workloads (`{issuer}/workload`, tokens carry only a `sub`, for Fulcio's URI-SAN identities).
//! Each publishes discovery metadata and a JWKS so Fulcio can verify its ID tokens. Tokens are
//! issued in exactly two ways:
//! - `POST /token` with the OAuth 2.0 client-credentials grant, for clients listed in the
//!   configuration, each bound to one fixed identity;
//! - [`IssuerKey::mint`], called in-process (the `sigstack token` command): whoever can read the
//!   issuer key in the data directory is authorized anyway.
//!
//! Minting a token for an arbitrary identity over HTTP exists only behind
//! [`OidcIssuerConfig::dangerously_mint_any_identity`], which is off by default and logged loudly
//! when on.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use der::Decode as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sigstack_http::{JsonBody, Metrics, json_error, observe};
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer as _};

/// Errors from loading the issuer or minting tokens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The issuer key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] sigstack_keys::KeyError),
    /// The token could not be signed.
    #[error("signing token: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// A client allowed to use the client-credentials grant, bound to one identity.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientIdentity {
    /// OAuth client ID.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// The `sub` claim of tokens issued to this client.
    pub subject: String,
    /// The `email` claim (verified), if any.
    #[serde(default)]
    pub email: Option<String>,
    /// The `aud` claim; `sigstore` when absent.
    #[serde(default)]
    pub audience: Option<String>,
}

/// Configuration of the issuer service.
#[derive(Clone, Debug)]
pub struct OidcIssuerConfig {
    /// The issuer URL (`iss`), exactly as clients and Fulcio see it.
    pub issuer: String,
    /// PKCS#8 PEM file of the signing key; created (P-256) on first run.
    pub key_path: std::path::PathBuf,
    /// Clients of the client-credentials grant.
    pub clients: Vec<ClientIdentity>,
    /// Lifetime of issued tokens.
    pub token_lifetime: Duration,
    /// DEVELOPMENT ONLY: serve `POST /dev/token`, which mints a token for any identity asked for.
    pub dangerously_mint_any_identity: bool,
    /// Metrics registry.
    pub metrics: Metrics,
}

/// Claims of an ID token issued here.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdTokenClaims {
    /// Issuer URL.
    pub iss: String,
    /// Subject.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Not before (unix seconds).
    pub nbf: u64,
    /// Expiry (unix seconds).
    pub exp: u64,
    /// Email address, when the identity has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    /// Always true when `email` is present: this issuer only knows configured identities.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email_verified: Option<bool>,
}

/// Path of the workload issuer below the base issuer URL.
pub const WORKLOAD_PATH: &str = "/workload";

/// The workload issuer URL for a base issuer URL.
#[must_use]
pub fn workload_issuer(base: &str) -> String {
    format!("{}{WORKLOAD_PATH}", base.trim_end_matches('/'))
}

/// Who a token is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `sub`.
    pub subject: String,
    /// `email`, if any.
    pub email: Option<String>,
    /// `aud`.
    pub audience: String,
}

impl Identity {
    /// An email identity: `sub` and `email` are both the address.
    #[must_use]
    pub fn email(address: &str) -> Self {
        Self {
            subject: address.to_string(),
            email: Some(address.to_string()),
            audience: "sigstore".into(),
        }
    }

    /// A subject-only identity.
    #[must_use]
    pub fn subject(sub: &str) -> Self {
        Self {
            subject: sub.to_string(),
            email: None,
            audience: "sigstore".into(),
        }
    }
}

/// The issuer's signing key and its JWKS form.
#[derive(Clone)]
pub struct IssuerKey {
    issuer: String,
    encoding: EncodingKey,
    kid: String,
    jwk: serde_json::Value,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish()
    }
}

impl IssuerKey {
    /// Load the P-256 key at `key_path`, creating it on first use.
    ///
    /// # Errors
    /// Fails on I/O errors or a key of another type.
    pub fn load_or_create(issuer: &str, key_path: &Path) -> Result<Self, OidcError> {
        let signer = FileSigner::load_or_generate(key_path, SignatureAlgorithm::EcdsaP256Sha256)?;
        let pem = signer.to_pkcs8_pem()?;
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes())?;
        let spki = spki::SubjectPublicKeyInfoRef::from_der(signer.public_key_der())
            .map_err(|e| OidcError::Config(e.to_string()))?;
        let point = spki.subject_public_key.raw_bytes();
        if point.len() != 65 || point[0] != 0x04 {
            return Err(OidcError::Config(
                "issuer key is not an uncompressed P-256 point".into(),
            ));
        }
        let kid = hex::encode(&sigstack_keys::sha256(signer.public_key_der())[..8]);
        let jwk = serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            "kid": kid,
            "alg": "ES256",
            "use": "sig",
        });
        Ok(Self {
            issuer: issuer.trim_end_matches('/').to_string(),
            encoding,
            kid,
            jwk,
        })
    }

    /// The issuer URL.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The JWKS document.
    #[must_use]
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.jwk] })
    }

    /// Sign an ID token for `identity`, valid from `now` for `lifetime`.
    ///
    /// # Errors
    /// Fails only if signing fails.
    pub fn mint(
        &self,
        identity: &Identity,
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<String, OidcError> {
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let claims = IdTokenClaims {
            iss: self.issuer.clone(),
            sub: identity.subject.clone(),
            aud: identity.audience.clone(),
            iat,
            nbf: iat,
            exp: iat + lifetime.as_secs(),
            email_verified: identity.email.as_ref().map(|_| true),
            email: identity.email.clone(),
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }

    /// The OpenID Provider metadata document.
    #[must_use]
    pub fn discovery(&self) -> serde_json::Value {
        serde_json::json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/keys", self.issuer),
            "token_endpoint": format!("{}/token", self.issuer),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email"],
            "claims_supported": ["iss", "sub", "aud", "iat", "nbf", "exp", "email", "email_verified"],
        })
    }
}

/// Shared state of the issuer service.
#[derive(Clone, Debug)]
pub struct OidcIssuerState {
    key: IssuerKey,
    workload_key: IssuerKey,
    clients: Arc<Vec<ClientIdentity>>,
    token_lifetime: Duration,
    dangerously_mint_any_identity: bool,
    metrics: Metrics,
}

impl OidcIssuerState {
    /// Load (or create) the key and check the configuration.
    ///
    /// # Errors
    /// Fails on key errors, duplicate client IDs, empty secrets or a non-HTTP issuer URL.
    pub fn new(config: OidcIssuerConfig) -> Result<Self, OidcError> {
        if !(config.issuer.starts_with("http://") || config.issuer.starts_with("https://")) {
            return Err(OidcError::Config(format!(
                "issuer {:?} is not an http(s) URL",
                config.issuer
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &config.clients {
            if !seen.insert(c.client_id.as_str()) {
                return Err(OidcError::Config(format!(
                    "duplicate client_id {:?}",
                    c.client_id
                )));
            }
            if c.client_secret.len() < 16 {
                return Err(OidcError::Config(format!(
                    "client {:?}: client_secret must be at least 16 characters",
                    c.client_id
                )));
            }
        }
        if config.dangerously_mint_any_identity {
            tracing::warn!(
                issuer = %config.issuer,
                "DANGER: POST /dev/token mints tokens for ANY identity; never use this outside development"
            );
        }
        Ok(Self {
            key: IssuerKey::load_or_create(&config.issuer, &config.key_path)?,
            workload_key: IssuerKey::load_or_create(
                &workload_issuer(&config.issuer),
                &config.key_path,
            )?,
            clients: Arc::new(config.clients),
            token_lifetime: config.token_lifetime,
            dangerously_mint_any_identity: config.dangerously_mint_any_identity,
            metrics: config.metrics,
        })
    }

    /// The people issuer's key (email identities).
    #[must_use]
    pub fn key(&self) -> &IssuerKey {
        &self.key
    }

    /// The workload issuer's key (subject-only identities).
    #[must_use]
    pub fn workload_key(&self) -> &IssuerKey {
        &self.workload_key
    }

    /// The issuer that mints tokens for `identity`: people when it has an email, else workloads.
    #[must_use]
    pub fn key_for(&self, identity: &Identity) -> &IssuerKey {
        if identity.email.is_some() {
            &self.key
        } else {
            &self.workload_key
        }
    }
}

/// The issuer's HTTP API, with health and metrics endpoints.
pub fn router(state: OidcIssuerState) -> Router {
    let mut router = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/keys", get(jwks))
        .route(
            "/workload/.well-known/openid-configuration",
            get(workload_discovery),
        )
        .route("/workload/keys", get(workload_jwks))
        .route("/token", post(token));
    if state.dangerously_mint_any_identity {
        router = router.route("/dev/token", post(dev_token));
    }
    let metrics = state.metrics.clone();
    let router = router
        .layer(DefaultBodyLimit::max(16 * 1024))
        .with_state(state);
    observe(
        router,
        "oidc-issuer",
        metrics,
        sigstack_http::always_ready(),
    )
}

/// `GET /.well-known/openid-configuration`
async fn discovery(State(state): State<OidcIssuerState>) -> Json<serde_json::Value> {
    Json(state.key.discovery())
}

/// `GET /keys`
async fn jwks(State(state): State<OidcIssuerState>) -> Json<serde_json::Value> {
    Json(state.key.jwks())
}

/// `GET /workload/.well-known/openid-configuration`
async fn workload_discovery(State(state): State<OidcIssuerState>) -> Json<serde_json::Value> {
    Json(state.workload_key.discovery())
}

/// `GET /workload/keys`
async fn workload_jwks(State(state): State<OidcIssuerState>) -> Json<serde_json::Value> {
    Json(state.workload_key.jwks())
}

/// Form body of the token endpoint (RFC 6749 §4.4.2).
#[derive(Debug, Deserialize)]
struct TokenRequest {
    grant_type: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
}

/// `POST /token` (client credentials only)
async fn token(
    State(state): State<OidcIssuerState>,
    headers: HeaderMap,
    Form(unverified): Form<TokenRequest>,
) -> Response {
    if unverified.grant_type != "client_credentials" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let Some((unverified_id, unverified_secret)) =
        basic_credentials(&headers).or(unverified.client_id.zip(unverified.client_secret))
    else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    let Some(client) = state.clients.iter().find(|c| {
        c.client_id == unverified_id
            && constant_time_eq(c.client_secret.as_bytes(), unverified_secret.as_bytes())
    }) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    let identity = Identity {
        subject: client.subject.clone(),
        email: client.email.clone(),
        audience: client.audience.clone().unwrap_or_else(|| "sigstore".into()),
    };
    issue(&state, &identity)
}

/// Body of the development-only token endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevTokenRequest {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    audience: Option<String>,
}

/// `POST /dev/token` (only with `dangerously_mint_any_identity`)
async fn dev_token(
    State(state): State<OidcIssuerState>,
    JsonBody(req): JsonBody<DevTokenRequest>,
) -> Response {
    let mut identity = match (req.email, req.subject) {
        (Some(email), None) => Identity::email(&email),
        (None, Some(sub)) => Identity::subject(&sub),
        _ => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "give exactly one of email or subject",
            );
        }
    };
    if let Some(aud) = req.audience {
        identity.audience = aud;
    }
    tracing::warn!(subject = %identity.subject, "DANGER: minted a token for an arbitrary identity");
    issue(&state, &identity)
}

fn issue(state: &OidcIssuerState, identity: &Identity) -> Response {
    match state
        .key_for(identity)
        .mint(identity, SystemTime::now(), state.token_lifetime)
    {
        Ok(jwt) => Json(serde_json::json!({
            "access_token": jwt,
            "id_token": jwt,
            "token_type": "Bearer",
            "expires_in": state.token_lifetime.as_secs(),
        }))
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "minting token failed");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": error }).to_string(),
    )
        .into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
    use tower::ServiceExt;

    fn state(dir: &Path, dev: bool) -> OidcIssuerState {
        OidcIssuerState::new(OidcIssuerConfig {
            issuer: "http://127.0.0.1:9/".into(),
            key_path: dir.join("oidc-key.pem"),
            clients: vec![ClientIdentity {
                client_id: "ci".into(),
                client_secret: "0123456789abcdef".into(),
                subject: "ci-bot".into(),
                email: Some("ci@example.test".into()),
                audience: None,
            }],
            token_lifetime: Duration::from_secs(300),
            dangerously_mint_any_identity: dev,
            metrics: Metrics::new(),
        })
        .unwrap()
    }

    async fn send(app: Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
        let res = app.oneshot(req).await.unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    fn verify(jwks: &serde_json::Value, token: &str) -> IdTokenClaims {
        let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
        let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
        let key = DecodingKey::from_jwk(set.find(&kid).unwrap()).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["sigstore"]);
        v.set_issuer(&["http://127.0.0.1:9"]);
        jsonwebtoken::decode::<IdTokenClaims>(token, &key, &v)
            .unwrap()
            .claims
    }

    #[tokio::test]
    async fn client_credentials_token_verifies_against_published_jwks() {
        let dir = tempfile::tempdir().unwrap();
        let app = router(state(dir.path(), false));
        let (status, disc) = send(
            app.clone(),
            Request::get("/.well-known/openid-configuration")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(disc["issuer"], "http://127.0.0.1:9");
        assert_eq!(disc["jwks_uri"], "http://127.0.0.1:9/keys");
        let (_, jwks) = send(
            app.clone(),
            Request::get("/keys").body(Body::empty()).unwrap(),
        )
        .await;

        let (status, body) = send(
            app.clone(),
            Request::post("/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .header(
                    "authorization",
                    format!("Basic {}", STANDARD.encode("ci:0123456789abcdef")),
                )
                .body(Body::from("grant_type=client_credentials"))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let claims = verify(&jwks, body["id_token"].as_str().unwrap());
        assert_eq!(claims.sub, "ci-bot");
        assert_eq!(claims.email.as_deref(), Some("ci@example.test"));
        assert_eq!(claims.email_verified, Some(true));
        assert_eq!(claims.exp - claims.iat, 300);

        let (status, _) = send(
            app.clone(),
            Request::post("/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(
                    "grant_type=client_credentials&client_id=ci&client_secret=wrong-secret-000",
                ))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn arbitrary_identities_only_with_the_danger_flag() {
        let dir = tempfile::tempdir().unwrap();
        let req = || {
            Request::post("/dev/token")
                .header("content-type", "application/json")
                .body(Body::from(r#"{"email":"mallory@example.test"}"#))
                .unwrap()
        };
        let (status, _) = send(router(state(dir.path(), false)), req()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let app = router(state(dir.path(), true));
        let (status, body) = send(app.clone(), req()).await;
        assert_eq!(status, StatusCode::OK);
        let (_, jwks) = send(app, Request::get("/keys").body(Body::empty()).unwrap()).await;
        assert_eq!(
            verify(&jwks, body["id_token"].as_str().unwrap()).sub,
            "mallory@example.test"
        );
    }

    #[tokio::test]
    async fn subject_only_identities_come_from_the_workload_issuer() {
        let dir = tempfile::tempdir().unwrap();
        let app = router(state(dir.path(), true));
        let (status, disc) = send(
            app.clone(),
            Request::get("/workload/.well-known/openid-configuration")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(disc["issuer"], "http://127.0.0.1:9/workload");
        assert_eq!(disc["jwks_uri"], "http://127.0.0.1:9/workload/keys");
        let (_, body) = send(
            app.clone(),
            Request::post("/dev/token")
                .header("content-type", "application/json")
                .body(Body::from(
                    r#"{"subject":"https://ci.example.test/pipelines/7"}"#,
                ))
                .unwrap(),
        )
        .await;
        let token = body["id_token"].as_str().unwrap();
        let (_, jwks) = send(
            app,
            Request::get("/workload/keys").body(Body::empty()).unwrap(),
        )
        .await;
        let set: JwkSet = serde_json::from_value(jwks).unwrap();
        let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
        let key = DecodingKey::from_jwk(set.find(&kid).unwrap()).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["sigstore"]);
        v.set_issuer(&["http://127.0.0.1:9/workload"]);
        let claims = jsonwebtoken::decode::<IdTokenClaims>(token, &key, &v)
            .unwrap()
            .claims;
        assert_eq!(claims.sub, "https://ci.example.test/pipelines/7");
        assert_eq!(claims.email, None);
    }

    #[test]
    fn key_is_reused_and_config_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let a = state(dir.path(), false);
        let b = state(dir.path(), false);
        assert_eq!(a.key().jwks(), b.key().jwks());
        let err = OidcIssuerState::new(OidcIssuerConfig {
            issuer: "ftp://x".into(),
            key_path: dir.path().join("k.pem"),
            clients: vec![],
            token_lifetime: Duration::from_secs(60),
            dangerously_mint_any_identity: false,
            metrics: Metrics::new(),
        });
        assert!(err.is_err());
    }
}
