//! Certificates per second end to end, and the raw cryptographic work they cannot avoid, in one
//! run so the ratio is meaningful.
//!
//! - `raw`: one certificate's unavoidable work on one thread, no HTTP and no storage: verify the
//!   ID token (ES256, static JWKS), derive the principal and profile, sign the precertificate
//!   (P-384 CA), sign the SCT (P-256 CT key) and sign the final certificate.
//! - `end_to_end/cN`: N concurrent clients POST `/api/v2/signingCert` over HTTP to the Fulcio
//!   service, which verifies the token and the proof of possession, signs the precertificate,
//!   submits it over HTTP to a real CT log (durable storage in a temporary directory, the stack's
//!   default 20 ms batching), verifies the SCT and signs the final certificate. Time is per
//!   certificate (wall time of a round of N requests divided by N).
//!
//! ```console
//! cargo bench -p sigstack-fulcio --bench issuance -- --quick
//! ```

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use der::Encode as _;
use serde_json::json;
use sigstack_fulcio::{CtConfig, FulcioConfig, FulcioState, IssuerConfig, OidcVerifier};
use sigstack_fulcio_core::{CertificateProfile, Principal, ProvenKey};
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer};
use sigstack_pki::{CaSpec, CertificateAuthority};

const ISSUER: &str = "https://bench.example.test";

struct Setup {
    runtime: tokio::runtime::Runtime,
    ca: CertificateAuthority,
    issuers: IssuerConfig,
    ct_signer: Arc<dyn Signer>,
    fulcio_url: String,
    token: String,
    body: String,
    _dirs: Vec<tempfile::TempDir>,
}

fn setup() -> Setup {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let idp = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let spki = idp.public_key_der();
    let point = &spki[spki.len() - 64..];
    let jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "bench",
                     "x": URL_SAFE_NO_PAD.encode(&point[..32]), "y": URL_SAFE_NO_PAD.encode(&point[32..])});
    let config = format!(
        "oidc-issuers:\n  {ISSUER}:\n    client-id: sigstore\n    type: email\n    jwks: {}\n",
        json!({"keys": [jwk]})
    );
    let issuers = IssuerConfig::from_text(&config).unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("bench".into());
    let token = jsonwebtoken::encode(
        &header,
        &json!({"iss": ISSUER, "aud": "sigstore", "sub": "u1", "email": "bench@example.test",
                "email_verified": true, "iat": now, "exp": now + 3600}),
        &jsonwebtoken::EncodingKey::from_ec_pem(idp.to_pkcs8_pem().unwrap().as_bytes()).unwrap(),
    )
    .unwrap();
    let client = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let body = json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"content": sigstack_keys::pem_encode("PUBLIC KEY", client.public_key_der())},
            "proofOfPossession": STANDARD.encode(client.sign(b"bench@example.test").unwrap()),
        },
    })
    .to_string();

    let ca_dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::load_or_create(
        ca_dir.path(),
        &CaSpec {
            organization: "bench".into(),
            root_common_name: "bench-root".into(),
            intermediate_common_name: Some("bench-intermediate".into()),
            algorithm: SignatureAlgorithm::EcdsaP384Sha384,
            intermediate_extended_key_usage: vec![sigstack_fulcio_core::oids::KP_CODE_SIGNING],
            validity: Duration::from_secs(86400),
        },
        SystemTime::now(),
    )
    .unwrap();
    let ct_dir = tempfile::tempdir().unwrap();
    let ct_signer: Arc<dyn Signer> =
        Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap());
    let metrics = sigstack_http::Metrics::new();
    let fulcio_url = runtime.block_on(async {
        let ctlog = sigstack_ctlog::CtLogState::open(sigstack_ctlog::CtLogConfig {
            dir: ct_dir.path().to_path_buf(),
            signer: ct_signer.clone(),
            roots: vec![ca.root().clone()],
            metrics: metrics.clone(),
            // The stack's default: group commit (no batch timer).
            log: sigstack_tlog_storage::LogConfig {
                batch_max_age: Duration::ZERO,
                ..Default::default()
            },
        })
        .await
        .unwrap();
        let ct_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ct_url = format!("http://{}/", ct_listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(ct_listener, sigstack_ctlog::router(ctlog))
                .await
                .unwrap();
        });
        let fulcio = FulcioState::new(FulcioConfig {
            ca: ca.clone(),
            issuers: issuers.clone(),
            ct: Some(CtConfig {
                url: ct_url.parse().unwrap(),
                public_key: ct_signer.public_key().unwrap(),
            }),
            metrics: metrics.clone(),
            http: reqwest::Client::new(),
            detached_sct: false,
            rate_limits: sigstack_fulcio::RateLimits::default(),
        })
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/api/v2/signingCert",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move {
            axum::serve(listener, sigstack_fulcio::router(fulcio))
                .await
                .unwrap();
        });
        url
    });
    Setup {
        runtime,
        ca,
        issuers,
        ct_signer,
        fulcio_url,
        token,
        body,
        _dirs: vec![ca_dir, ct_dir],
    }
}

fn issuance(c: &mut Criterion) {
    let s = setup();
    let verifier = OidcVerifier::new(s.issuers.clone()).unwrap();
    let ct = sigstack_ct::CtSigner::new(s.ct_signer.clone()).unwrap();
    let client_key = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let key = ProvenKey::from_public_key_request(
        &sigstack_keys::pem_encode("PUBLIC KEY", client_key.public_key_der()),
        &STANDARD.encode(client_key.sign(b"bench@example.test").unwrap()),
        "bench@example.test",
    )
    .unwrap();
    let issuer_spki =
        s.ca.issuer()
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap();
    let issuer_key_hash: [u8; 32] = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&issuer_spki).into()
    };
    let signer = s.ca.signer.as_ref();

    let mut group = c.benchmark_group("issuance");
    group.bench_function("raw", |b| {
        b.iter(|| {
            let now = SystemTime::now();
            let (issuer, claims) = s.runtime.block_on(verifier.verify(&s.token, now)).unwrap();
            let principal = Principal::from_claims(&issuer, &claims).unwrap();
            let profile = CertificateProfile::new(&principal, &key, s.ca.issuer(), now).unwrap();
            let precert = profile.precertificate().unwrap().issue(signer).unwrap();
            let tbs = profile.without_ct_extension().tbs_der(signer).unwrap();
            let sct = ct.sign_precert(1, issuer_key_hash, &tbs, &[]).unwrap();
            let sct_list = sigstack_ct::sct_list_extension(&[sct]).unwrap();
            let leaf = profile
                .final_certificate(sct_list)
                .unwrap()
                .issue(signer)
                .unwrap();
            (precert, leaf)
        });
    });
    let http = reqwest::Client::new();
    for concurrency in [1usize, 16, 64, 256] {
        group.bench_function(format!("end_to_end/c{concurrency}"), |b| {
            b.iter_custom(|rounds| {
                s.runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..rounds {
                        let mut tasks = tokio::task::JoinSet::new();
                        for _ in 0..concurrency {
                            let (http, url, body) =
                                (http.clone(), s.fulcio_url.clone(), s.body.clone());
                            tasks.spawn(async move {
                                let response = http
                                    .post(url)
                                    .header("content-type", "application/json")
                                    .body(body)
                                    .send()
                                    .await
                                    .unwrap();
                                assert_eq!(response.status(), 200);
                                response.bytes().await.unwrap().len()
                            });
                        }
                        while tasks.join_next().await.is_some() {}
                    }
                    start.elapsed() / u32::try_from(concurrency).unwrap()
                })
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(10));
    targets = issuance
}
criterion_main!(benches);
