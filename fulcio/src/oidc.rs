//! OIDC ID-token verification: pick the configured issuer by the token's (unverified) `iss`,
//! get its keys, check the signature with `jsonwebtoken`, then `aud`, `iss`, `exp`, `nbf`
//! and `iat` against the injected clock.
//!
//! Where the keys come from is per issuer ([`KeySource`]):
//!
//! - **Discovery** (the default): `<iss>/.well-known/openid-configuration`, then its `jwks_uri`.
//!   Both fetches stay on the issuer's own origin (scheme, host, port): a `jwks_uri` elsewhere is
//!   refused (except origins listed in [`KNOWN_JWKS_ORIGINS`]), and redirects are followed only
//!   within the origin. Each fetch has a 10 s timeout and a [`MAX_DOCUMENT_SIZE`] cap. An issuer
//!   with `ca-cert` gets its own client trusting those roots in addition to the system ones.
//! - **Inline JWKS** (`jwks:` in the configuration) and **JWKS file** (`jwks-file:`), for
//!   air-gapped sites: nothing is fetched; the file is re-read when its modification time or
//!   size changes.
//!
//! Key sets are cached per issuer for [`JWKS_MAX_AGE`]; a token whose `kid` is not in the cached
//! set triggers one refetch, at most once per refresh interval per issuer. Fetch failures are
//! reported to the client without any of the remote content (which may be anything); the detail
//! goes to the server log only.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::Mutex;
use serde::Deserialize;
use sigstack_fulcio_core::{Issuer, IssuerConfig, KeySource, VerifiedClaims};
use url::Url;

/// Largest token accepted, checked before any parsing (Fulcio GHSA-f83f-xpx7-ffpw).
pub const MAX_TOKEN_SIZE: usize = 16 * 1024;
/// Largest discovery or JWKS document read.
pub const MAX_DOCUMENT_SIZE: usize = 256 * 1024;
/// How long a fetched key set is used before it is fetched again.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// Default shortest time between two fetches of one issuer's keys for unknown `kid`s.
pub const DEFAULT_JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Timeout of discovery and JWKS requests.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Tolerance for `nbf` and `iat` in the future (go-oidc allows 5 minutes for `nbf`).
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// Most issuers whose keys are cached (meta-issuers can match many URLs).
const MAX_CACHED_ISSUERS: usize = 128;
/// Issuers whose discovery document names a `jwks_uri` on another origin, and that origin
/// (Google publishes its keys on www.googleapis.com).
pub const KNOWN_JWKS_ORIGINS: &[(&str, &str)] =
    &[("https://accounts.google.com", "https://www.googleapis.com")];

/// Why a token was refused. Every variant is answered with HTTP 401.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The token is larger than [`MAX_TOKEN_SIZE`].
    #[error("the identity token is {len} bytes, more than the {max} accepted")]
    TokenTooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The token is not a well-formed signed JWT.
    #[error("the identity token is malformed: {0}")]
    Malformed(String),
    /// No configured issuer matches the token's `iss`.
    #[error("the identity token's issuer {0:?} is not configured")]
    UnknownIssuer(String),
    /// Discovery or the JWKS of the issuer could not be fetched or used. The message names
    /// only the issuer; `detail` (which may quote remote content) is for the server log.
    #[error("cannot fetch the verification keys of issuer {issuer}")]
    Discovery {
        /// The issuer.
        issuer: String,
        /// What failed (server log only).
        detail: String,
    },
    /// No key of the issuer matches the token's `kid` and algorithm.
    #[error("no key of the issuer matches the identity token (kid {kid:?}, alg {alg:?})")]
    NoMatchingKey {
        /// The token's key id.
        kid: Option<String>,
        /// The token's algorithm.
        alg: String,
    },
    /// The signature, audience, issuer or a required claim is wrong.
    #[error("the identity token is invalid: {0}")]
    Invalid(String),
    /// `exp` has passed.
    #[error("the identity token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future.
    #[error("the identity token is not valid yet")]
    NotYetValid,
    /// Too many requests are waiting for signature checks: retry later (503).
    #[error("too many requests are waiting for verification; retry later")]
    Busy,
}

/// Verifies ID tokens for the configured issuers.
pub struct OidcVerifier {
    issuers: IssuerConfig,
    http: reqwest::Client,
    /// Clients of issuers with their own `ca-cert`, by the configured text.
    tls_clients: HashMap<String, reqwest::Client>,
    /// Milliseconds; atomic so the interval can be tuned on a shared verifier.
    refresh_interval_ms: AtomicU64,
    cache: Mutex<HashMap<String, Arc<CachedKeys>>>,
}

struct CachedKeys {
    keys: Vec<Jwk>,
    fetched: Instant,
    /// For a JWKS file: the modification time and size it was read at.
    file_stamp: Option<(SystemTime, u64)>,
}

/// Startup errors of the verifier.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcSetupError {
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// An issuer's `jwks-file` is unreadable or holds no usable key.
    #[error("issuer {issuer}: jwks-file {reason}")]
    Jwks {
        /// The issuer (or meta-issuer pattern).
        issuer: String,
        /// What is wrong.
        reason: String,
    },
    /// An issuer's `ca-cert` is unusable.
    #[error("issuer {issuer}: ca-cert: {reason}")]
    CaCert {
        /// The issuer (or meta-issuer pattern).
        issuer: String,
        /// What is wrong.
        reason: String,
    },
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("cached_issuers", &self.cache.lock().len())
            .finish_non_exhaustive()
    }
}

/// The part of an OpenID Provider Metadata document this verifier reads
/// (OpenID Connect Discovery 1.0 §3):
///
/// ```text
/// { "issuer": <must equal the token's iss>, "jwks_uri": <URL of the JWK Set>, ... }
/// ```
#[derive(Deserialize)]
struct ProviderMetadata {
    issuer: String,
    jwks_uri: String,
}

/// A JWK Set (RFC 7517 §5): `{"keys": [JWK, ...]}`. Keys are parsed one by one so a key of an
/// unknown type does not hide the others.
#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

/// Just the issuer of a token that is not verified yet.
#[derive(Deserialize)]
struct UnverifiedIssuer {
    iss: String,
}

impl OidcVerifier {
    /// A verifier for `issuers`.
    ///
    /// # Errors
    /// If an HTTP client cannot be built (TLS backend failure) or a `ca-cert` is unusable.
    pub fn new(issuers: IssuerConfig) -> Result<Self, OidcSetupError> {
        let http = discovery_client(Vec::new())?;
        let mut tls_clients = HashMap::new();
        let with_roots = issuers.issuers().map(|i| (i.issuer_url.clone(), i)).chain(
            issuers
                .meta_issuers()
                .map(|(p, i)| (p.as_str().to_string(), i)),
        );
        for (name, issuer) in with_roots {
            if let KeySource::JwksFile(path) = &issuer.key_source {
                // A missing or broken key file is an operator mistake: say so at startup.
                std::fs::read(path)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| {
                        serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))
                    })
                    .and_then(parse_jwks)
                    .map_err(|reason| OidcSetupError::Jwks {
                        issuer: name.clone(),
                        reason: format!("{}: {reason}", path.display()),
                    })?;
            }
            let Some(ca_cert) = &issuer.ca_cert else {
                continue;
            };
            if tls_clients.contains_key(ca_cert) {
                continue;
            }
            let bad = |reason: String| OidcSetupError::CaCert {
                issuer: name.clone(),
                reason,
            };
            let pem = if ca_cert.contains("-----BEGIN") {
                ca_cert.as_bytes().to_vec()
            } else {
                std::fs::read(ca_cert).map_err(|e| bad(format!("reading {ca_cert}: {e}")))?
            };
            // Parse every certificate fully here, so a damaged file fails at startup rather than
            // at the first TLS handshake.
            let text = String::from_utf8(pem).map_err(|_| bad("not PEM text".into()))?;
            let parsed = sigstack_pki::parse_pem_chain(&text)
                .map_err(|e| bad(format!("not PEM certificates: {e}")))?;
            if parsed.is_empty() {
                return Err(bad("no certificate in it".into()));
            }
            let mut roots = Vec::with_capacity(parsed.len());
            for cert in &parsed {
                let der = der::Encode::to_der(cert).map_err(|e| bad(e.to_string()))?;
                roots.push(reqwest::Certificate::from_der(&der).map_err(|e| bad(e.to_string()))?);
            }
            tls_clients.insert(ca_cert.clone(), discovery_client(roots)?);
        }
        Ok(Self {
            issuers,
            http,
            tls_clients,
            refresh_interval_ms: AtomicU64::new(duration_ms(DEFAULT_JWKS_REFRESH_INTERVAL)),
            cache: Mutex::new(HashMap::new()),
        })
    }
}

/// The HTTP client of discovery and JWKS fetches: 10 s timeout, redirects only within the
/// origin of the first request, `extra_roots` trusted besides the system roots.
fn discovery_client(
    extra_roots: Vec<reqwest::Certificate>,
) -> Result<reqwest::Client, reqwest::Error> {
    {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt.previous().first().is_some_and(|first| {
                first.scheme() == attempt.url().scheme()
                    && first.host_str() == attempt.url().host_str()
                    && first.port_or_known_default() == attempt.url().port_or_known_default()
            });
            if same_origin && attempt.previous().len() < 5 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let mut builder = reqwest::Client::builder()
            .redirect(policy)
            .timeout(DISCOVERY_TIMEOUT);
        if !extra_roots.is_empty() {
            builder = builder.tls_certs_merge(extra_roots);
        }
        builder.build()
    }
}

impl OidcVerifier {
    /// Change the shortest interval between two key fetches for unknown `kid`s.
    pub fn set_refresh_interval(&self, interval: Duration) {
        self.refresh_interval_ms
            .store(duration_ms(interval), Ordering::Relaxed);
    }

    /// The issuer configuration.
    #[must_use]
    pub fn issuers(&self) -> &IssuerConfig {
        &self.issuers
    }

    /// Verify `unverified_token` at time `now` and return its issuer and claims.
    ///
    /// # Errors
    /// An [`OidcError`] saying why the token is refused.
    pub async fn verify(
        &self,
        unverified_token: &str,
        now: SystemTime,
    ) -> Result<(Issuer, VerifiedClaims), OidcError> {
        if unverified_token.len() > MAX_TOKEN_SIZE {
            return Err(OidcError::TokenTooLarge {
                len: unverified_token.len(),
                max: MAX_TOKEN_SIZE,
            });
        }
        let unverified_token = unverified_token.trim();
        if unverified_token.split('.').count() != 3 {
            return Err(OidcError::Malformed(
                "not a JWS compact serialization".into(),
            ));
        }
        let header = jsonwebtoken::decode_header(unverified_token)
            .map_err(|e| OidcError::Malformed(format!("header: {e}")))?;
        let UnverifiedIssuer {
            iss: unverified_issuer,
        } = jsonwebtoken::dangerous::insecure_decode_claims(unverified_token)
            .map_err(|e| OidcError::Malformed(format!("claims: {e}")))?;
        let issuer = self
            .issuers
            .issuer_for(&unverified_issuer)
            .ok_or_else(|| OidcError::UnknownIssuer(unverified_issuer.clone()))?;

        let mut keys = self.keys(&issuer, false).await?;
        let mut candidates = matching_keys(&keys.keys, header.kid.as_deref(), header.alg);
        let refresh_interval =
            Duration::from_millis(self.refresh_interval_ms.load(Ordering::Relaxed));
        if candidates.is_empty() && keys.fetched.elapsed() >= refresh_interval {
            keys = self.keys(&issuer, true).await?;
            candidates = matching_keys(&keys.keys, header.kid.as_deref(), header.alg);
        }
        if candidates.is_empty() {
            return Err(OidcError::NoMatchingKey {
                kid: header.kid,
                alg: format!("{:?}", header.alg),
            });
        }

        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[&issuer.client_id]);
        validation.set_issuer(&[&issuer.issuer_url]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        // Time claims are checked below against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        // Signature checks are CPU work: off the async workers.
        let token = unverified_token.to_string();
        let verified = sigstack_workpool::run(move || {
            let mut last_error = None;
            for key in candidates {
                match jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
                    &token,
                    &key,
                    &validation,
                ) {
                    Ok(data) => return Ok(data.claims),
                    Err(e) => last_error = Some(e),
                }
            }
            Err(last_error.map_or_else(|| "no usable key".into(), |e| describe(&e)))
        })
        .await
        .map_err(|e| match e {
            sigstack_workpool::PoolError::Busy => OidcError::Busy,
            e => OidcError::Invalid(format!("verification task failed: {e}")),
        })?
        .map_err(OidcError::Invalid)?;
        check_times(&verified, now)?;
        Ok((issuer, VerifiedClaims::from_verified_token(verified)))
    }

    /// The issuer's key set: cached unless `refresh` or stale (for a JWKS file: unless the file
    /// changed).
    async fn keys(&self, issuer: &Issuer, refresh: bool) -> Result<Arc<CachedKeys>, OidcError> {
        let name = issuer.issuer_url.as_str();
        let cached = self.cache.lock().get(name).cloned();
        let file_stamp = match &issuer.key_source {
            KeySource::JwksFile(path) => {
                Some(
                    file_stamp(path)
                        .await
                        .map_err(|detail| OidcError::Discovery {
                            issuer: name.to_string(),
                            detail,
                        })?,
                )
            }
            _ => None,
        };
        if let Some(cached) = cached {
            let fresh = match &issuer.key_source {
                KeySource::Discovery => !refresh && cached.fetched.elapsed() < JWKS_MAX_AGE,
                KeySource::InlineJwks(_) => true,
                KeySource::JwksFile(_) => cached.file_stamp == file_stamp,
            };
            if fresh {
                return Ok(cached);
            }
        }
        let discovery_error = |detail: String| OidcError::Discovery {
            issuer: name.to_string(),
            detail,
        };
        let keys = match &issuer.key_source {
            KeySource::Discovery => self.fetch_keys(issuer).await?,
            KeySource::InlineJwks(jwks) => parse_jwks(jwks.clone()).map_err(discovery_error)?,
            KeySource::JwksFile(path) => {
                let bytes = read_capped(path).await.map_err(discovery_error)?;
                let jwks: serde_json::Value = serde_json::from_slice(&bytes)
                    .map_err(|e| discovery_error(format!("{}: not JSON: {e}", path.display())))?;
                parse_jwks(jwks).map_err(discovery_error)?
            }
        };
        let fetched = Arc::new(CachedKeys {
            keys,
            fetched: Instant::now(),
            file_stamp,
        });
        let mut cache = self.cache.lock();
        if cache.len() >= MAX_CACHED_ISSUERS
            && !cache.contains_key(name)
            && let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, k)| k.fetched)
                .map(|(name, _)| name.clone())
        {
            cache.remove(&oldest);
        }
        cache.insert(name.to_string(), fetched.clone());
        Ok(fetched)
    }

    async fn fetch_keys(&self, issuer_config: &Issuer) -> Result<Vec<Jwk>, OidcError> {
        let issuer = issuer_config.issuer_url.as_str();
        let http = issuer_config
            .ca_cert
            .as_ref()
            .and_then(|pem| self.tls_clients.get(pem))
            .unwrap_or(&self.http);
        let discovery_error = |detail: String| OidcError::Discovery {
            issuer: issuer.to_string(),
            detail,
        };
        let issuer_origin = Url::parse(issuer)
            .map_err(|e| discovery_error(format!("issuer URL: {e}")))?
            .origin();
        let discovery_url = Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ))
        .map_err(|e| discovery_error(format!("discovery URL: {e}")))?;
        let metadata: ProviderMetadata = fetch_json(http, &discovery_url)
            .await
            .map_err(discovery_error)?;
        if metadata.issuer != issuer {
            return Err(discovery_error(format!(
                "discovery document names issuer {:?}",
                metadata.issuer
            )));
        }
        let jwks_uri = Url::parse(&metadata.jwks_uri)
            .map_err(|e| discovery_error(format!("jwks_uri: {e}")))?;
        let same_origin = jwks_uri.origin() == issuer_origin;
        let known_elsewhere = KNOWN_JWKS_ORIGINS.iter().any(|(known_issuer, origin)| {
            *known_issuer == issuer
                && Url::parse(origin).is_ok_and(|o| o.origin() == jwks_uri.origin())
        });
        if !same_origin && !known_elsewhere {
            return Err(discovery_error(format!(
                "jwks_uri {jwks_uri} is not on the issuer's origin"
            )));
        }
        let raw: serde_json::Value = fetch_json(http, &jwks_uri).await.map_err(discovery_error)?;
        parse_jwks(raw).map_err(discovery_error)
    }
}

/// GET a JSON document of at most [`MAX_DOCUMENT_SIZE`] bytes.
async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &Url,
) -> Result<T, String> {
    {
        let mut response = http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_SIZE {
                return Err(format!(
                    "GET {url}: document larger than {MAX_DOCUMENT_SIZE} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))
    }
}

/// The usable keys of a JWK Set (RFC 7517 §5); keys of unknown types are skipped.
fn parse_jwks(jwks: serde_json::Value) -> Result<Vec<Jwk>, String> {
    let raw: RawJwkSet = serde_json::from_value(jwks).map_err(|e| format!("not a JWK Set: {e}"))?;
    let keys: Vec<Jwk> = raw
        .keys
        .into_iter()
        .filter_map(|k| serde_json::from_value(k).ok())
        .collect();
    if keys.is_empty() {
        return Err("the JWK set has no usable key".into());
    }
    Ok(keys)
}

/// Modification time and size of a JWKS file.
async fn file_stamp(path: &std::path::Path) -> Result<(SystemTime, u64), String> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let modified = meta
        .modified()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((modified, meta.len()))
}

/// Read a JWKS file of at most [`MAX_DOCUMENT_SIZE`] bytes.
async fn read_capped(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_DOCUMENT_SIZE as u64 {
        return Err(format!(
            "{}: larger than {MAX_DOCUMENT_SIZE} bytes",
            path.display()
        ));
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Keys usable for `alg` with id `kid` (any key when the token names none).
fn matching_keys(keys: &[Jwk], kid: Option<&str>, alg: Algorithm) -> Vec<DecodingKey> {
    keys.iter()
        .filter(|k| kid.is_none() || k.common.key_id.as_deref() == kid)
        .filter(
            |k| !matches!(k.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature),
        )
        .filter(|k| key_algorithms(k).contains(&alg))
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
        .collect()
}

/// The JWS algorithms a JWK may verify: fixed by its `alg` when present, else by its type and
/// curve. Symmetric keys are never used.
fn key_algorithms(jwk: &Jwk) -> Vec<Algorithm> {
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => vec![],
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        _ => vec![],
    };
    match jwk.common.key_algorithm {
        None => by_type,
        Some(declared) => {
            let declared = match declared {
                KeyAlgorithm::RS256 => Algorithm::RS256,
                KeyAlgorithm::RS384 => Algorithm::RS384,
                KeyAlgorithm::RS512 => Algorithm::RS512,
                KeyAlgorithm::PS256 => Algorithm::PS256,
                KeyAlgorithm::PS384 => Algorithm::PS384,
                KeyAlgorithm::PS512 => Algorithm::PS512,
                KeyAlgorithm::ES256 => Algorithm::ES256,
                KeyAlgorithm::ES384 => Algorithm::ES384,
                KeyAlgorithm::EdDSA => Algorithm::EdDSA,
                _ => return vec![],
            };
            by_type.into_iter().filter(|a| *a == declared).collect()
        }
    }
}

/// `exp` (required, must be in the future), `nbf` and `iat` (required; neither may be more than
/// [`CLOCK_SKEW`] in the future).
fn check_times(
    claims: &serde_json::Map<String, serde_json::Value>,
    now: SystemTime,
) -> Result<(), OidcError> {
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let time = |name: &str| -> Result<Option<f64>, OidcError> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|t| t.is_finite())
                .map(Some)
                .ok_or_else(|| OidcError::Invalid(format!("{name} is not a number"))),
        }
    };
    let exp = time("exp")?.ok_or_else(|| OidcError::Invalid("missing exp".into()))?;
    if now >= exp {
        return Err(OidcError::Expired);
    }
    let skew = CLOCK_SKEW.as_secs_f64();
    let iat = time("iat")?.ok_or_else(|| OidcError::Invalid("missing iat".into()))?;
    if iat > now + skew {
        return Err(OidcError::NotYetValid);
    }
    if let Some(nbf) = time("nbf")?
        && nbf > now + skew
    {
        return Err(OidcError::NotYetValid);
    }
    Ok(())
}

/// A client-facing description of a `jsonwebtoken` validation error.
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature => "signature does not verify".into(),
        K::InvalidAudience => "wrong audience (aud)".into(),
        K::InvalidIssuer => "wrong issuer (iss)".into(),
        K::MissingRequiredClaim(c) => format!("missing {c}"),
        K::InvalidAlgorithm => "algorithm not allowed for this key".into(),
        K::InvalidClaimFormat(c) => format!("malformed {c}"),
        other => format!("{other:?}"),
    }
}
