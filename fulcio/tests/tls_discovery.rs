//! Discovery over TLS with an issuer's own CA roots (`ca-cert`): a real TLS server (rustls) with
//! a certificate from a private CA serves discovery and the JWKS. With `ca-cert` naming that CA
//! the token verifies; without it the TLS handshake fails and the caller gets a message that
//! names the issuer and nothing else.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{CtMode, IdpKey, Stack, call, now_secs, public_key_request};
use der::Encode as _;
use serde_json::json;
use sigstack_clock::SystemClock;
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer};
use sigstack_pki::{CaSpec, CertificateAuthority, CertificateTemplate};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// A TLS server on localhost answering discovery and JWKS for issuer `https://localhost:PORT`.
async fn tls_idp(ca: &CertificateAuthority, jwk: serde_json::Value) -> String {
    let server_key = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let san = SubjectAltName(vec![GeneralName::DnsName(
        der::asn1::Ia5String::new("localhost").unwrap(),
    )]);
    let server_auth = der::oid::db::rfc5280::ID_KP_SERVER_AUTH;
    let leaf = CertificateTemplate {
        serial: sigstack_pki::random_serial(),
        subject: x509_cert::name::Name::default(),
        issuer: ca.issuer().tbs_certificate().subject().clone(),
        not_before: SystemTime::now() - Duration::from_secs(60),
        not_after: SystemTime::now() + Duration::from_secs(3600),
        subject_public_key_der: server_key.public_key_der().to_vec(),
        extensions: vec![
            sigstack_pki::raw_extension(&san, der::oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME, true)
                .unwrap(),
            sigstack_pki::extended_key_usage(&[server_auth], false).unwrap(),
        ],
    }
    .issue(ca.signer.as_ref())
    .unwrap();
    let key = {
        use rustls::pki_types::pem::PemObject as _;
        rustls::pki_types::PrivateKeyDer::from_pem_slice(
            server_key.to_pkcs8_pem().unwrap().as_bytes(),
        )
        .unwrap()
    };
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.to_der().unwrap().into()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")}).to_string();
    let jwks = json!({"keys": [jwk]}).to_string();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, discovery, jwks) = (acceptor.clone(), discovery.clone(), jwks.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return; // a client that does not trust us
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&request);
                let body = if line.starts_with("GET /.well-known/openid-configuration ") {
                    discovery
                } else {
                    jwks
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    issuer
}

#[tokio::test]
async fn discovery_over_tls_trusts_the_issuers_own_roots() {
    let ca_dir = tempfile::tempdir().unwrap();
    let idp_ca = CertificateAuthority::load_or_create(
        ca_dir.path(),
        &CaSpec {
            organization: "idp".into(),
            root_common_name: "internal-idp-ca".into(),
            intermediate_common_name: None,
            algorithm: SignatureAlgorithm::EcdsaP256Sha256,
            intermediate_extended_key_usage: vec![],
            validity: Duration::from_secs(86400),
        },
        SystemTime::now() - Duration::from_secs(120),
    )
    .unwrap();
    let key = IdpKey::es256("tls-1");
    let issuer = tls_idp(&idp_ca, key.jwk.clone()).await;
    let root_pem = sigstack_pki::certificate_pem(idp_ca.root()).unwrap();
    let now = now_secs();
    let claims = json!({"iss": issuer, "aud": "sigstore", "sub": "u", "email": "a@example.test",
                        "email_verified": true, "iat": now, "exp": now + 600});
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let body = json!({
        "credentials": {"oidcIdentityToken": key.sign(&claims)},
        "publicKeyRequest": public_key_request(&client, "a@example.test"),
    })
    .to_string();
    let post = || {
        Request::post("/api/v2/signingCert")
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .unwrap()
    };

    let with_roots = format!(
        "oidc-issuers:\n  {issuer}:\n    client-id: sigstore\n    type: email\n    ca-cert: {}\n",
        serde_json::to_string(&root_pem).unwrap()
    );
    let stack = Stack::start_custom(
        CtMode::Detached,
        &with_roots,
        Duration::ZERO,
        Arc::new(SystemClock),
        false,
        sigstack_fulcio::RateLimits::default(),
    )
    .await;
    let (status, answer) = call(stack.app(), post()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let without = format!("oidc-issuers:\n  {issuer}:\n    client-id: sigstore\n    type: email\n");
    let stack = Stack::start_custom(
        CtMode::Detached,
        &without,
        Duration::ZERO,
        Arc::new(SystemClock),
        false,
        sigstack_fulcio::RateLimits::default(),
    )
    .await;
    let (status, answer) = call(stack.app(), post()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!("cannot fetch the verification keys of issuer {issuer}")
    );
    assert_eq!(stack.issued(), 0);
}
