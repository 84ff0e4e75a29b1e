//! End-to-end tests of the Fulcio service with a real OIDC provider and a real CT log.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{CtMode, IdpKey, Stack, call, now_secs, public_key_request, sign};
use der::{Decode, Encode};
use serde_json::{Value, json};
use sigstack_clock::FixedClock;
use sigstack_keys::{FileSigner, PublicKey, SignatureAlgorithm, Signer};
use x509_cert::Certificate;
use x509_parser::prelude::*;

/// The chain of a successful answer, checked for shape: PEM with LF, leaf first, ≥ 2 certs.
fn embedded_chain(body: &Value) -> Vec<Certificate> {
    let pems = body["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        .as_array()
        .unwrap();
    assert!(pems.len() >= 2, "{body}");
    assert!(body.get("signedCertificateDetachedSct").is_none());
    pems.iter()
        .map(|p| {
            let p = p.as_str().unwrap();
            assert!(p.starts_with("-----BEGIN CERTIFICATE-----\n") && !p.contains('\r'));
            sigstack_pki::parse_pem_chain(p).unwrap().remove(0)
        })
        .collect()
}

/// Each certificate is signed by the next; the last is the CA root.
fn assert_chain_verifies(stack: &Stack, chain: &[Certificate]) {
    assert_eq!(chain.last().unwrap(), stack.ca.root());
    for pair in chain.windows(2) {
        let issuer_key = PublicKey::from_spki_der(
            &pair[1]
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .unwrap(),
        )
        .unwrap();
        issuer_key
            .verify(
                &pair[0].tbs_certificate().to_der().unwrap(),
                pair[0].signature().as_bytes().unwrap(),
            )
            .unwrap();
        assert_eq!(
            pair[0].tbs_certificate().issuer(),
            pair[1].tbs_certificate().subject()
        );
    }
}

/// The embedded SCT is from our log and verifies over the precertificate entry.
fn assert_embedded_sct_verifies(stack: &Stack, leaf: &Certificate) {
    let (_, ct_key) = stack.ct.as_ref().unwrap();
    let scts = sigstack_ct::embedded_scts(leaf).unwrap();
    assert_eq!(scts.len(), 1);
    assert_eq!(scts[0].log_id, sigstack_ct::log_id(ct_key.spki_der()));
    let tbs = sigstack_ct::tbs_without_extension(
        &leaf.tbs_certificate().to_der().unwrap(),
        sigstack_ct::SCT_LIST_OID,
    )
    .unwrap();
    let issuer_spki = stack
        .ca
        .issuer()
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    scts[0].verify_precert(ct_key, &issuer_spki, &tbs).unwrap();
    // Tampering with the TBS breaks it.
    let mut bad = tbs.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(scts[0].verify_precert(ct_key, &issuer_spki, &bad).is_err());
}

fn extension<'a>(cert: &'a X509Certificate<'_>, oid: &str) -> &'a X509Extension<'a> {
    cert.extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == oid)
        .unwrap()
}

#[tokio::test]
async fn email_public_key_request_issues_a_chain_with_a_verified_embedded_sct() {
    let stack = Stack::start(CtMode::Log).await;
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let token = stack.idp_key.sign(&stack.email_claims("alice@example.com"));
    let body = json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": public_key_request(&client, "alice@example.com"),
    });
    let (status, answer) = sign(stack.app(), &body, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let chain = embedded_chain(&answer);
    assert_eq!(chain.len(), 3, "leaf, intermediate, root");
    assert_chain_verifies(&stack, &chain);
    assert_embedded_sct_verifies(&stack, &chain[0]);
    assert_eq!(stack.ct_size().await, 1);
    assert_eq!(stack.issued(), 1);

    let der = chain[0].to_der().unwrap();
    let (_, leaf) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(leaf.public_key().raw, client.public_key_der());
    assert_eq!(
        leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp(),
        600
    );
    assert!((leaf.validity().not_before.timestamp() - now_secs() as i64).abs() < 60);
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    assert!(san.critical);
    assert!(matches!(
        san.value.general_names.as_slice(),
        [GeneralName::RFC822Name("alice@example.com")]
    ));
    let issuer = stack.provider.issuer("email");
    assert_eq!(
        extension(&leaf, "1.3.6.1.4.1.57264.1.1").value,
        issuer.as_bytes()
    );
    let v2 = extension(&leaf, "1.3.6.1.4.1.57264.1.8").value;
    assert_eq!(v2[0], 0x0c);
    assert_eq!(&v2[2..], issuer.as_bytes());
    assert_eq!(
        extension(&leaf, "1.3.6.1.4.1.57264.1.24").value,
        b"\x0c\x09user-1234"
    );
    // The SCT list is the last extension and there is no poison.
    assert_eq!(
        leaf.extensions().last().unwrap().oid.to_id_string(),
        "1.3.6.1.4.1.11129.2.4.2"
    );
    assert!(
        !leaf
            .extensions()
            .iter()
            .any(|e| e.oid.to_id_string() == "1.3.6.1.4.1.11129.2.4.3")
    );
}

#[tokio::test]
async fn github_csr_with_bearer_token_issues_a_ci_certificate() {
    let stack = Stack::start(CtMode::Log).await;
    let claims = stack.github_claims();
    let token = stack.idp_key.sign(&claims);
    // A CSR built the way sigstore-python does: base64 of the PEM.
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let csr = csr_pem(&client);
    let body = json!({"certificateSigningRequest": STANDARD.encode(csr)});
    let (status, answer) = sign(stack.app(), &body, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let chain = embedded_chain(&answer);
    assert_chain_verifies(&stack, &chain);
    assert_embedded_sct_verifies(&stack, &chain[0]);

    let der = chain[0].to_der().unwrap();
    let (_, leaf) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(leaf.public_key().raw, client.public_key_der());
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    assert!(matches!(
        san.value.general_names.as_slice(),
        [GeneralName::URI(
            "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
        )]
    ));
    assert_eq!(extension(&leaf, "1.3.6.1.4.1.57264.1.2").value, b"release");
    assert_eq!(
        extension(&leaf, "1.3.6.1.4.1.57264.1.21").value,
        [
            b"\x0c\x4c".as_slice(),
            b"https://github.com/trailofbits/rfc8785.py/actions/runs/8351058501/attempts/1"
        ]
        .concat()
    );
    assert_eq!(stack.ct_size().await, 1);
}

#[tokio::test]
async fn eddsa_tokens_and_ed25519_client_keys_work() {
    let idp = IdpKey::eddsa("ed-key");
    let stack = Stack::start(CtMode::Log).await;
    stack.provider.jwks.lock().push(idp.jwk.clone());
    let client = FileSigner::generate(SignatureAlgorithm::Ed25519).unwrap();
    let token = idp.sign(&stack.email_claims("bob@example.com"));
    let body = json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": public_key_request(&client, "bob@example.com"),
    });
    let (status, answer) = sign(stack.app(), &body, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let chain = embedded_chain(&answer);
    assert_chain_verifies(&stack, &chain);
    assert_embedded_sct_verifies(&stack, &chain[0]);
}

#[tokio::test]
async fn meta_issuers_match_only_their_pattern() {
    let stack = Stack::start(CtMode::Log).await;
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let mut claims = stack.email_claims("carol@example.com");
    claims["iss"] = stack.provider.issuer("tenant-acme").into();
    let body = json!({
        "credentials": {"oidcIdentityToken": stack.idp_key.sign(&claims)},
        "publicKeyRequest": public_key_request(&client, "carol@example.com"),
    });
    let (status, answer) = sign(stack.app(), &body, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let leaf = embedded_chain(&answer).remove(0);
    let der = leaf.to_der().unwrap();
    let (_, leaf) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(
        extension(&leaf, "1.3.6.1.4.1.57264.1.1").value,
        stack.provider.issuer("tenant-acme").as_bytes()
    );

    claims["iss"] = stack.provider.issuer("tenant-acme/x").into();
    let body = json!({
        "credentials": {"oidcIdentityToken": stack.idp_key.sign(&claims)},
        "publicKeyRequest": public_key_request(&client, "carol@example.com"),
    });
    let (status, answer) = sign(stack.app(), &body, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("not configured"),
        "{answer}"
    );
}

#[tokio::test]
async fn detached_mode_issues_without_sct() {
    let stack = Stack::start(CtMode::Detached).await;
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP384Sha384).unwrap();
    let token = stack.idp_key.sign(&stack.email_claims("dave@example.com"));
    let body = json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": public_key_request(&client, "dave@example.com"),
    });
    let (status, answer) = sign(stack.app(), &body, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer.get("signedCertificateEmbeddedSct").is_none());
    let detached = &answer["signedCertificateDetachedSct"];
    assert!(detached.get("signedCertificateTimestamp").is_none());
    let pems = detached["chain"]["certificates"].as_array().unwrap();
    assert_eq!(pems.len(), 3);
    let leaf = sigstack_pki::parse_pem_chain(pems[0].as_str().unwrap())
        .unwrap()
        .remove(0);
    assert!(sigstack_ct::embedded_scts(&leaf).unwrap().is_empty());
    assert!(!sigstack_ct::is_precertificate(&leaf).unwrap());
    assert_eq!(stack.issued(), 1);
}

/// What every refusal must look like: the status, a JSON error body, nothing logged or issued.
async fn assert_refused(stack: &Stack, request: Request<Body>, status: StatusCode, needle: &str) {
    let (got, body) = call(stack.app(), request).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["code"], status.as_u16(), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(needle),
        "{message:?} should mention {needle:?}"
    );
    assert_eq!(stack.ct_size().await, 0, "nothing may reach the CT log");
    assert_eq!(stack.issued(), 0, "nothing may be issued");
}

fn post(body: &Value, bearer: Option<&str>) -> Request<Body> {
    let mut request =
        Request::post("/api/v2/signingCert").header("content-type", "application/json");
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Body::from(body.to_string())).unwrap()
}

fn email_body(stack: &Stack, claims: &Value, client: &FileSigner, challenge: &str) -> Value {
    json!({
        "credentials": {"oidcIdentityToken": stack.idp_key.sign(claims)},
        "publicKeyRequest": public_key_request(client, challenge),
    })
}

#[tokio::test]
async fn bad_tokens_are_refused_with_401() {
    let stack = Stack::start(CtMode::Log).await;
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let good = stack.email_claims("alice@example.com");

    // Claims that make an otherwise good token unacceptable, and what the answer names.
    type Mutation = fn(&mut Value);
    let cases: [(Mutation, &str); 6] = [
        (
            |c| {
                c["exp"] = (now_secs() - 10).into();
                c["iat"] = (now_secs() - 700).into();
            },
            "expired",
        ),
        (|c| c["aud"] = "not-sigstore".into(), "audience"),
        (|c| c["nbf"] = (now_secs() + 3600).into(), "not valid yet"),
        (
            |c| c["iss"] = "https://evil.example.com".into(),
            "not configured",
        ),
        (
            |c| {
                c.as_object_mut().unwrap().remove("iat");
            },
            "iat",
        ),
        // Oversized: refused before any parsing.
        (|c| c["padding"] = "x".repeat(20_000).into(), "bytes"),
    ];
    for (mutate, needle) in cases {
        let mut claims = good.clone();
        mutate(&mut claims);
        let body = email_body(&stack, &claims, &client, "alice@example.com");
        assert_refused(&stack, post(&body, None), StatusCode::UNAUTHORIZED, needle).await;
    }

    // Signed by another key that claims the provider's kid.
    let forger = IdpKey::es256("forger");
    let body = json!({
        "credentials": {"oidcIdentityToken": stack.idp_key.sign_as(&forger, &good)},
        "publicKeyRequest": public_key_request(&client, "alice@example.com"),
    });
    assert_refused(
        &stack,
        post(&body, None),
        StatusCode::UNAUTHORIZED,
        "signature",
    )
    .await;

    // A key id the provider never published.
    let body = json!({
        "credentials": {"oidcIdentityToken": forger.sign(&good)},
        "publicKeyRequest": public_key_request(&client, "alice@example.com"),
    });
    assert_refused(
        &stack,
        post(&body, None),
        StatusCode::UNAUTHORIZED,
        "no key",
    )
    .await;

    // Not a JWT, an unsigned JWT, no token at all.
    let body = json!({"credentials": {"oidcIdentityToken": "hello"},
                      "publicKeyRequest": public_key_request(&client, "alice@example.com")});
    assert_refused(
        &stack,
        post(&body, None),
        StatusCode::UNAUTHORIZED,
        "malformed",
    )
    .await;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(good.to_string());
    let body = json!({"credentials": {"oidcIdentityToken": format!("{header}.{payload}.")},
                      "publicKeyRequest": public_key_request(&client, "alice@example.com")});
    assert_refused(
        &stack,
        post(&body, None),
        StatusCode::UNAUTHORIZED,
        "malformed",
    )
    .await;
    let body = json!({"publicKeyRequest": public_key_request(&client, "alice@example.com")});
    assert_refused(
        &stack,
        post(&body, None),
        StatusCode::UNAUTHORIZED,
        "no identity token",
    )
    .await;

    // A provider whose discovery document names another issuer.
    let mut liar = good.clone();
    liar["iss"] = stack.provider.issuer("liar").into();
    let body = email_body(&stack, &liar, &client, "alice@example.com");
    assert_refused(
        &stack,
        post(&body, None),
        StatusCode::UNAUTHORIZED,
        "cannot fetch the verification keys",
    )
    .await;
    // What the remote document said (the other issuer's name) is not echoed to the caller.
    let (_, answer) = call(stack.app(), post(&body, None)).await;
    assert!(
        !answer.to_string().contains("accounts.example.com"),
        "{answer}"
    );
}

#[tokio::test]
async fn bad_keys_and_proofs_are_refused_with_400() {
    let stack = Stack::start(CtMode::Log).await;
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let claims = stack.email_claims("alice@example.com");

    // PoP over another identity.
    let body = email_body(&stack, &claims, &client, "mallory@example.com");
    assert_refused(
        &stack,
        post(&body, None),
        StatusCode::BAD_REQUEST,
        "could not be verified",
    )
    .await;

    // PoP by another key.
    let other = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let mut body = email_body(&stack, &claims, &client, "alice@example.com");
    body["publicKeyRequest"]["proofOfPossession"] = STANDARD
        .encode(other.sign(b"alice@example.com").unwrap())
        .into();
    assert_refused(
        &stack,
        post(&body, None),
        StatusCode::BAD_REQUEST,
        "could not be verified",
    )
    .await;

    // Garbage PoP.
    body["publicKeyRequest"]["proofOfPossession"] = "AAAA".into();
    assert_refused(
        &stack,
        post(&body, None),
        StatusCode::BAD_REQUEST,
        "well-formed",
    )
    .await;

    // Another curve (RSA and P-384 client keys: tests/client_keys.rs).
    for (file, needle) in [("secp256k1-public-key.pem", "not supported")] {
        let mut body = email_body(&stack, &claims, &client, "alice@example.com");
        body["publicKeyRequest"]["publicKey"]["content"] =
            std::fs::read_to_string(format!("tests/data/{file}"))
                .unwrap()
                .into();
        assert_refused(&stack, post(&body, None), StatusCode::BAD_REQUEST, needle).await;
    }

    // A CSR whose self-signature does not verify.
    let mut csr = x509_cert::request::CertReq::from_der(&csr_der(&client)).unwrap();
    csr.info.public_key =
        x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(other.public_key_der()).unwrap();
    let pem = sigstack_keys::pem_encode("CERTIFICATE REQUEST", &csr.to_der().unwrap());
    let body = json!({"certificateSigningRequest": STANDARD.encode(pem)});
    let token = stack.idp_key.sign(&claims);
    assert_refused(
        &stack,
        post(&body, Some(&token)),
        StatusCode::BAD_REQUEST,
        "could not be verified",
    )
    .await;

    // No key, both keys.
    let body = json!({"credentials": {"oidcIdentityToken": token}});
    assert_refused(
        &stack,
        post(&body, None),
        StatusCode::BAD_REQUEST,
        "required",
    )
    .await;
    let body = json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": public_key_request(&client, "alice@example.com"),
        "certificateSigningRequest": STANDARD.encode(csr_pem(&client)),
    });
    assert_refused(
        &stack,
        post(&body, None),
        StatusCode::BAD_REQUEST,
        "not both",
    )
    .await;

    // Unverified email.
    let mut unverified = claims.clone();
    unverified["email_verified"] = false.into();
    let body = email_body(&stack, &unverified, &client, "alice@example.com");
    assert_refused(
        &stack,
        post(&body, None),
        StatusCode::BAD_REQUEST,
        "not verified",
    )
    .await;

    // Two different tokens.
    let body = email_body(&stack, &claims, &client, "alice@example.com");
    let other_token = stack.idp_key.sign(&stack.email_claims("bob@example.com"));
    assert_refused(
        &stack,
        post(&body, Some(&other_token)),
        StatusCode::BAD_REQUEST,
        "two different",
    )
    .await;
}

#[tokio::test]
async fn malformed_requests_are_refused_before_anything_else() {
    let stack = Stack::start(CtMode::Log).await;
    let request = Request::post("/api/v2/signingCert")
        .header("content-type", "application/json")
        .body(Body::from("{\"credentials\": "))
        .unwrap();
    assert_refused(&stack, request, StatusCode::BAD_REQUEST, "malformed JSON").await;

    let request = Request::post("/api/v2/signingCert")
        .header("content-type", "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    assert_refused(
        &stack,
        request,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Content-Type",
    )
    .await;

    let big = format!(
        "{{\"certificateSigningRequest\": \"{}\"}}",
        "A".repeat(5 << 20)
    );
    let request = Request::post("/api/v2/signingCert")
        .header("content-type", "application/json")
        .body(Body::from(big))
        .unwrap();
    let (status, body) = call(stack.app(), request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], 413);
    assert_eq!(stack.ct_size().await, 0);
}

#[tokio::test]
async fn jwks_is_cached_and_refetched_for_new_key_ids() {
    // Refetch allowed at once: a rotated key is picked up.
    let stack = Stack::start_with(CtMode::Log, Duration::ZERO).await;
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let claims = stack.email_claims("alice@example.com");
    for _ in 0..2 {
        let (status, _) = sign(
            stack.app(),
            &email_body(&stack, &claims, &client, "alice@example.com"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        stack.provider.fetches(),
        1,
        "second request served from cache"
    );
    let rotated = IdpKey::es256("key-2");
    stack.provider.jwks.lock().push(rotated.jwk.clone());
    let body = json!({
        "credentials": {"oidcIdentityToken": rotated.sign(&claims)},
        "publicKeyRequest": public_key_request(&client, "alice@example.com"),
    });
    let (status, answer) = sign(stack.app(), &body, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(stack.provider.fetches(), 2);

    // Default interval: unknown kids do not hammer the provider.
    let stack = Stack::start(CtMode::Log).await;
    let (status, _) = sign(
        stack.app(),
        &email_body(&stack, &claims_for(&stack), &client, "alice@example.com"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stranger = IdpKey::es256("key-unknown");
    for _ in 0..3 {
        let body = json!({
            "credentials": {"oidcIdentityToken": stranger.sign(&claims_for(&stack))},
            "publicKeyRequest": public_key_request(&client, "alice@example.com"),
        });
        let (status, _) = sign(stack.app(), &body, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(stack.provider.fetches(), 1, "refetch is rate-limited");
}

fn claims_for(stack: &Stack) -> Value {
    stack.email_claims("alice@example.com")
}

#[tokio::test]
async fn trust_bundle_and_configuration() {
    let stack = Stack::start(CtMode::Log).await;
    let (status, bundle) = call(
        stack.app(),
        Request::get("/api/v2/trustBundle")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let chain = bundle["chains"][0]["certificates"].as_array().unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(
        sigstack_pki::parse_pem_chain(chain[1].as_str().unwrap()).unwrap()[0],
        *stack.ca.root()
    );
    assert_eq!(
        sigstack_pki::parse_pem_chain(chain[0].as_str().unwrap()).unwrap()[0],
        *stack.ca.issuer()
    );

    let (status, config) = call(
        stack.app(),
        Request::get("/api/v2/configuration")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let issuers = config["issuers"].as_array().unwrap();
    assert_eq!(issuers.len(), 5);
    let email = issuers
        .iter()
        .find(|i| i["issuerUrl"] == stack.provider.issuer("email"))
        .unwrap();
    assert_eq!(email["audience"], "sigstore");
    assert_eq!(email["challengeClaim"], "email");
    assert_eq!(email["issuerType"], "email");
    let github = issuers
        .iter()
        .find(|i| i["issuerUrl"] == stack.provider.issuer("github"))
        .unwrap();
    assert_eq!(github["challengeClaim"], "sub");
    assert_eq!(github["issuerType"], "ci-provider");
    let meta = issuers
        .iter()
        .find(|i| i.get("wildcardIssuerUrl").is_some())
        .unwrap();
    assert_eq!(
        meta["wildcardIssuerUrl"],
        format!("{}/tenant-*", stack.provider.base)
    );
    assert!(meta.get("issuerUrl").is_none());

    let (status, _) = call(
        stack.app(),
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

fn csr_der(signer: &FileSigner) -> Vec<u8> {
    use x509_cert::request::{CertReq, CertReqInfo, Version};
    let info = CertReqInfo {
        version: Version::V1,
        subject: Default::default(),
        public_key: x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(signer.public_key_der())
            .unwrap(),
        attributes: Default::default(),
    };
    let signature = signer.sign(&info.to_der().unwrap()).unwrap();
    CertReq {
        info,
        algorithm: signer.algorithm().signature_algorithm_identifier(),
        signature: der::asn1::BitString::from_bytes(&signature).unwrap(),
    }
    .to_der()
    .unwrap()
}

fn csr_pem(signer: &FileSigner) -> String {
    sigstack_keys::pem_encode("CERTIFICATE REQUEST", &csr_der(signer))
}

#[tokio::test]
async fn legacy_v1_endpoints() {
    let stack = Stack::start(CtMode::Log).await;
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let token = stack.idp_key.sign(&stack.email_claims("erin@example.com"));
    let pem = sigstack_keys::pem_encode("PUBLIC KEY", client.public_key_der());
    let body = json!({
        "publicKey": {"content": STANDARD.encode(pem), "algorithm": "ecdsa"},
        "signedEmailAddress": STANDARD.encode(client.sign(b"erin@example.com").unwrap()),
    });
    let request = Request::post("/api/v1/signingCert")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = tower::ServiceExt::oneshot(stack.app(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.headers()["content-type"],
        "application/pem-certificate-chain"
    );
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let chain = sigstack_pki::parse_pem_chain(std::str::from_utf8(&bytes).unwrap()).unwrap();
    assert_eq!(chain.len(), 3);
    assert_chain_verifies(&stack, &chain);
    assert_embedded_sct_verifies(&stack, &chain[0]);

    // DER content and a wrong proof.
    let body = json!({
        "publicKey": {"content": STANDARD.encode(client.public_key_der())},
        "signedEmailAddress": STANDARD.encode(client.sign(b"someone@example.com").unwrap()),
    });
    let request = Request::post("/api/v1/signingCert")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, answer) = call(stack.app(), request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(stack.ct_size().await, 1);

    let response = tower::ServiceExt::oneshot(
        stack.app(),
        Request::get("/api/v1/rootCert")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let chain = sigstack_pki::parse_pem_chain(std::str::from_utf8(&bytes).unwrap()).unwrap();
    assert_eq!(chain, stack.ca.chain);
}

#[tokio::test]
async fn ct_failures_answer_500_without_a_certificate() {
    for mode in [CtMode::WrongKey, CtMode::Unreachable] {
        let stack = Stack::start(mode).await;
        let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
        let body = email_body(
            &stack,
            &stack.email_claims("alice@example.com"),
            &client,
            "alice@example.com",
        );
        let (status, answer) = sign(stack.app(), &body, None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
        assert_eq!(
            answer["message"], "Error entering certificate in CTL",
            "no detail leaks"
        );
        assert_eq!(stack.issued(), 0);
    }
}

#[tokio::test]
async fn the_injected_clock_drives_token_checks_and_validity() {
    const T: u64 = 1_900_000_000; // 2030-03-17
    let clock = std::sync::Arc::new(FixedClock(
        std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(T),
    ));
    let stack = common::Stack::start_full(CtMode::Log, Duration::from_secs(30), clock).await;
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();

    // Valid at T (though expired in real time).
    let mut claims = stack.email_claims("alice@example.com");
    claims["iat"] = T.into();
    claims["nbf"] = T.into();
    claims["exp"] = (T + 60).into();
    let (status, answer) = sign(
        stack.app(),
        &email_body(&stack, &claims, &client, "alice@example.com"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let leaf = embedded_chain(&answer).remove(0);
    let der = leaf.to_der().unwrap();
    let (_, leaf) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(leaf.validity().not_before.timestamp(), T as i64);
    assert_eq!(leaf.validity().not_after.timestamp(), T as i64 + 600);

    // A token issued in real time is from the future at T.
    let claims = stack.email_claims("alice@example.com");
    let (status, answer) = sign(
        stack.app(),
        &email_body(&stack, &claims, &client, "alice@example.com"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
}
