//! JSON wire types of Fulcio's v2 HTTP API: the proto3 JSON mapping (lowerCamelCase names,
//! `bytes` as base64) of `dev.sigstore.fulcio.v2` (`fulcio.proto`) as served by grpc-gateway.
//! Request types also accept the proto field names (`oidc_identity_token`, ...), as proto3 JSON
//! parsers must.

use serde::{Deserialize, Serialize};

/// Body of `POST /api/v2/signingCert`:
///
/// ```text
/// message CreateSigningCertificateRequest {
///   Credentials credentials = 1;
///   oneof key {
///     PublicKeyRequest public_key_request = 2;
///     bytes certificate_signing_request = 3;   // base64 of a PEM (or DER) PKCS#10 CSR
///   }
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSigningCertificateRequest {
    /// The identity token (may instead come in `Authorization: Bearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    /// A public key with a proof of possession.
    #[serde(
        default,
        alias = "public_key_request",
        skip_serializing_if = "Option::is_none"
    )]
    pub public_key_request: Option<PublicKeyRequest>,
    /// Base64 of a PEM (or DER) CSR.
    #[serde(
        default,
        alias = "certificate_signing_request",
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_signing_request: Option<String>,
}

/// ```text
/// message Credentials { oneof credentials { string oidc_identity_token = 1; } }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// A JWT.
    #[serde(
        default,
        alias = "oidc_identity_token",
        skip_serializing_if = "Option::is_none"
    )]
    pub oidc_identity_token: Option<String>,
}

/// ```text
/// message PublicKeyRequest {
///   PublicKey public_key = 1;
///   bytes proof_of_possession = 2;   // base64 signature over the principal's name
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyRequest {
    /// The key to certify.
    #[serde(default, alias = "public_key", skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKey>,
    /// Base64 signature over the challenge (the email, or `sub`).
    #[serde(
        default,
        alias = "proof_of_possession",
        skip_serializing_if = "Option::is_none"
    )]
    pub proof_of_possession: Option<String>,
}

/// ```text
/// message PublicKey {
///   PublicKeyAlgorithm algorithm = 1;   // ignored: the key says what it is
///   string content = 2;                 // PEM PUBLIC KEY (or base64 DER SPKI)
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKey {
    /// Enum name or number; not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<serde_json::Value>,
    /// The key.
    #[serde(default)]
    pub content: String,
}

/// Answer of `POST /api/v2/signingCert`:
///
/// ```text
/// message SigningCertificate {
///   oneof certificate {
///     SigningCertificateDetachedSCT signed_certificate_detached_sct = 1;
///     SigningCertificateEmbeddedSCT signed_certificate_embedded_sct = 2;
///   }
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningCertificate {
    /// Certificate without embedded SCT (Sigstack: only when CT is disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_certificate_detached_sct: Option<SigningCertificateDetachedSct>,
    /// Certificate with its SCT embedded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_certificate_embedded_sct: Option<SigningCertificateEmbeddedSct>,
}

/// ```text
/// message SigningCertificateDetachedSCT {
///   CertificateChain chain = 1;
///   bytes signed_certificate_timestamp = 2;   // base64 of JSON ct.AddChainResponse; omitted here
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningCertificateDetachedSct {
    /// Leaf first, root last.
    pub chain: CertificateChain,
    /// Base64 of the JSON `AddChainResponse`, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_certificate_timestamp: Option<String>,
}

/// ```text
/// message SigningCertificateEmbeddedSCT { CertificateChain chain = 1; }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningCertificateEmbeddedSct {
    /// Leaf first, root last.
    pub chain: CertificateChain,
}

/// ```text
/// message CertificateChain { repeated string certificates = 1; }   // PEM, LF line endings
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateChain {
    /// PEM certificates.
    pub certificates: Vec<String>,
}

/// Answer of `GET /api/v2/trustBundle`:
///
/// ```text
/// message TrustBundle { repeated CertificateChain chains = 1; }   // issuer first, root last
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustBundle {
    /// One chain per CA.
    pub chains: Vec<CertificateChain>,
}

/// Answer of `GET /api/v2/configuration`:
///
/// ```text
/// message Configuration { repeated OIDCIssuer issuers = 1; }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    /// Every configured issuer.
    pub issuers: Vec<OidcIssuer>,
}

/// ```text
/// message OIDCIssuer {
///   oneof issuer { string issuer_url = 1; string wildcard_issuer_url = 2; }
///   string audience = 3;
///   string spiffe_trust_domain = 4;
///   string challenge_claim = 5;
///   ...issuer_type, subject_domain, skip_email_verification (proto3: defaults omitted)
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcIssuer {
    /// Exact issuer URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_url: Option<String>,
    /// Meta-issuer pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wildcard_issuer_url: Option<String>,
    /// Required `aud`.
    pub audience: String,
    /// SPIFFE trust domain of spiffe issuers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spiffe_trust_domain: Option<String>,
    /// Claim the proof of possession signs.
    pub challenge_claim: String,
    /// Issuer type (`email`, `ci-provider`, `uri`, `username`, `spiffe`, `kubernetes`,
    /// `chainguard-identity`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer_type: String,
    /// Subject domain of uri / username issuers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_domain: Option<String>,
    /// Whether `email_verified` is not required.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_email_verification: bool,
}

/// Body of the legacy `POST /api/v1/signingCert` (`fulcio_legacy.proto`):
///
/// ```text
/// message CreateSigningCertificateRequest {
///   PublicKey public_key = 1;            // content: base64 of PEM or DER bytes
///   bytes signed_email_address = 2;      // base64 signature over the principal's name
///   bytes certificate_signing_request = 3;
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyCertificateRequest {
    /// The key to certify.
    #[serde(default, alias = "public_key", skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKey>,
    /// Base64 proof of possession.
    #[serde(
        default,
        alias = "signed_email_address",
        skip_serializing_if = "Option::is_none"
    )]
    pub signed_email_address: Option<String>,
    /// Base64 of a PEM (or DER) CSR.
    #[serde(
        default,
        alias = "certificate_signing_request",
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_signing_request: Option<String>,
}
