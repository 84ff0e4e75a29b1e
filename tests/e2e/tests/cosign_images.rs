//! Container images: cosign v3 signs and attests an image in a loopback OCI registry with a
//! token from the stack's issuer and the stack's signing config, verifies both with the trusted
//! root, identity and issuer, and the entries are in the stack's Rekor logs; Rekor v1's search
//! index (`POST /api/v1/index/retrieve`) finds the attestation by the signer's email, its
//! certificate, the attested statement's digest and the image digest. Wrong identities, wrong issuers and a tag
//! moved to another image after signing are refused.

use std::process::Output;

use sha2::{Digest as _, Sha256};

use sigstack_e2e::go_clients::{Registry, SLSA_PROVENANCE_V1, cosign, output_text, token_file};
use sigstack_e2e::{Stack, Workspace};

const ALICE: &str = "alice@example.test";
const REPO: &str = "sigstack/app";

fn cosign_run(args: &[&str], extra: &[&std::ffi::OsStr]) -> Output {
    let mut cmd = cosign();
    cmd.args(args).args(extra).arg("--allow-http-registry");
    cmd.output().expect("run cosign")
}

#[test]
fn cosign_signs_attests_and_verifies_images_through_both_rekor_apis() {
    let stack = Stack::start();
    let registry = Registry::start();
    let ws = Workspace::new();
    let trust = stack.trust_dir();
    let trusted_root = trust.join("trusted_root.json");
    let token = token_file(&stack.token(ALICE), &ws.path("token"));
    let token = token.to_str().expect("utf-8 path");
    let issuer = stack.issuer();

    let tag = format!("{REPO}:v1");
    let digest = registry.push_image(ws.path("").as_path(), &tag, "first image\n");
    let by_digest = registry.reference(&format!("{REPO}@{digest}"));
    let by_tag = registry.reference(&tag);

    // Sign through Rekor v2 (signing_config.json: Rekor v2 + TSA), attest through Rekor v1.
    let out = cosign_run(
        &["sign", "--yes", "--identity-token", token, &by_digest],
        &[
            "--trusted-root".as_ref(),
            trusted_root.as_os_str(),
            "--signing-config".as_ref(),
            trust.join("signing_config.json").as_os_str(),
        ],
    );
    assert!(
        out.status.success(),
        "cosign sign: {}\n{}",
        output_text(&out),
        stack.log()
    );
    let out = cosign_run(
        &[
            "attest",
            "--yes",
            "--identity-token",
            token,
            "--type",
            SLSA_PROVENANCE_V1,
            &by_digest,
        ],
        &[
            "--predicate".as_ref(),
            ws.path("predicate.json").as_os_str(),
            "--trusted-root".as_ref(),
            trusted_root.as_os_str(),
            "--signing-config".as_ref(),
            trust.join("signing_config.rekor-v1.json").as_os_str(),
        ],
    );
    assert!(
        out.status.success(),
        "cosign attest: {}\n{}",
        output_text(&out),
        stack.log()
    );

    let verify = |reference: &str, identity: &str, issuer: &str| {
        cosign_run(
            &[
                "verify",
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                issuer,
                reference,
            ],
            &["--trusted-root".as_ref(), trusted_root.as_os_str()],
        )
    };
    let verify_attestation = |reference: &str, identity: &str, issuer: &str| {
        cosign_run(
            &[
                "verify-attestation",
                "--type",
                SLSA_PROVENANCE_V1,
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                issuer,
                reference,
            ],
            &["--trusted-root".as_ref(), trusted_root.as_os_str()],
        )
    };

    // Both verify, by digest and by tag, and name the signed digest.
    let mut statement_bytes = Vec::new();
    for reference in [&by_digest, &by_tag] {
        let out = verify(reference, ALICE, &issuer);
        assert!(out.status.success(), "cosign verify: {}", output_text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&digest),
            "cosign verify output does not name {digest}: {}",
            output_text(&out)
        );
        let out = verify_attestation(reference, ALICE, &issuer);
        assert!(
            out.status.success(),
            "cosign verify-attestation: {}",
            output_text(&out)
        );
        // The output is the verified DSSE envelope; its statement names the image digest.
        let stdout = String::from_utf8_lossy(&out.stdout);
        let envelope: serde_json::Value = serde_json::from_str(
            stdout
                .lines()
                .find(|l| l.starts_with('{'))
                .unwrap_or("null"),
        )
        .expect("verify-attestation prints the envelope");
        let payload = base64_decode(envelope["payload"].as_str().unwrap_or_default());
        let statement: serde_json::Value = serde_json::from_slice(&payload).expect("statement");
        assert_eq!(statement["predicateType"], SLSA_PROVENANCE_V1);
        assert_eq!(
            format!(
                "sha256:{}",
                statement["subject"][0]["digest"]["sha256"]
                    .as_str()
                    .unwrap_or_default()
            ),
            digest
        );
        statement_bytes = payload;
    }

    // The signature and the attestation are bundles attached to the image, logged in our Rekor.
    let bundles = registry.referrer_bundles(REPO, &digest);
    assert_eq!(bundles.len(), 2, "{bundles:#?}");
    let mut kinds = Vec::new();
    let mut attestation = None;
    for bundle in &bundles {
        let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
        let version = entry["kindVersion"]["version"].as_str().unwrap_or_default();
        let kind = entry["kindVersion"]["kind"].as_str().unwrap_or_default();
        kinds.push(format!("{kind}/{version}"));
        let index: u64 = entry["logIndex"]
            .as_str()
            .unwrap_or("0")
            .parse()
            .expect("logIndex");
        let body = entry["canonicalizedBody"].as_str().expect("body");
        if version == "0.0.2" {
            assert_logged_v2(&stack, index, body);
        } else {
            let entry_id = assert_logged_v1(&stack, index, body);
            attestation = Some((entry_id, bundle.clone()));
        }
    }
    kinds.sort();
    assert_eq!(kinds, ["dsse/0.0.1", "hashedrekord/0.0.2"]);

    // Rekor v1's search index finds the attestation (logged through v1) by the signer's email,
    // by the signing certificate, by the digest of the statement cosign signed (computed here
    // from the verified envelope's payload) and by the image digest the statement is about.
    let (entry_id, bundle) = attestation.expect("the attestation went to Rekor v1");
    let uuid = hex::encode(Sha256::digest(
        [
            &[0u8][..],
            &base64_decode(
                bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
                    .as_str()
                    .unwrap_or_default(),
            ),
        ]
        .concat(),
    ));
    assert!(
        entry_id.ends_with(&uuid),
        "entry ID {entry_id} is not the RFC 6962 leaf hash {uuid}"
    );
    let statement_hash = format!("sha256:{}", hex::encode(Sha256::digest(&statement_bytes)));
    let certificate = certificate_pem_b64(&bundle);
    let rekor_v1 = stack.url("rekor-v1");
    for query in [
        serde_json::json!({ "email": ALICE }),
        serde_json::json!({ "email": ALICE.to_uppercase() }),
        serde_json::json!({ "hash": statement_hash }),
        // The image digest is the statement's subject: what `rekor-cli search --sha` asks.
        serde_json::json!({ "hash": digest }),
        serde_json::json!({ "publicKey": { "format": "x509", "content": certificate } }),
        serde_json::json!({ "email": ALICE, "hash": statement_hash, "operator": "and" }),
    ] {
        let found = search_index(&rekor_v1, &query);
        assert!(
            found.iter().any(|id| id == &entry_id),
            "{query} did not find {entry_id}: {found:?}"
        );
    }
    for query in [
        serde_json::json!({ "email": "mallory@example.test" }),
        serde_json::json!({ "email": "mallory@example.test", "hash": statement_hash, "operator": "and" }),
        serde_json::json!({ "hash": format!("sha256:{}", hex::encode(Sha256::digest(b"other"))) }),
    ] {
        let found = search_index(&rekor_v1, &query);
        assert!(
            !found.iter().any(|id| id == &entry_id),
            "{query} found {entry_id}"
        );
    }

    // Refusals: another identity, another issuer, each named in cosign's error.
    for (identity, iss, reason) in [
        (
            "mallory@example.test",
            issuer.as_str(),
            "expected SAN value \"mallory@example.test\"",
        ),
        (
            ALICE,
            "https://issuer.invalid",
            "expected issuer value \"https://issuer.invalid\"",
        ),
    ] {
        for out in [
            verify(&by_digest, identity, iss),
            verify_attestation(&by_digest, identity, iss),
        ] {
            assert!(
                !out.status.success() && output_text(&out).contains(reason),
                "cosign accepted {identity} / {iss} or refused for another reason: {}",
                output_text(&out)
            );
        }
    }

    // The tag now points at a different image: verifying by tag finds no valid signature, while
    // the signed digest still verifies.
    let moved = registry.push_image(ws.path("").as_path(), &tag, "second image\n");
    assert_ne!(moved, digest);
    let out = verify(&by_tag, ALICE, &issuer);
    assert!(
        !out.status.success() && output_text(&out).contains("no signatures found"),
        "verify accepted a moved tag: {}",
        output_text(&out)
    );
    let out = verify_attestation(&by_tag, ALICE, &issuer);
    assert!(
        !out.status.success() && output_text(&out).contains("no matching attestations"),
        "verify-attestation accepted a moved tag: {}",
        output_text(&out)
    );
    let out = verify(&by_digest, ALICE, &issuer);
    assert!(out.status.success(), "{}", output_text(&out));
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}

fn http_get(url: &str) -> Vec<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let resp = reqwest::get(url).await.expect("GET");
        assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
        resp.bytes().await.expect("body").to_vec()
    })
}

/// `POST /api/v1/index/retrieve` with `query`: the matching entry IDs.
fn search_index(rekor_v1: &str, query: &serde_json::Value) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("{rekor_v1}/api/v1/index/retrieve"))
            .json(query)
            .send()
            .await
            .expect("POST");
        let status = resp.status();
        let body = resp.bytes().await.expect("body");
        assert!(
            status.is_success(),
            "index/retrieve {query}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).expect("array of entry IDs")
    })
}

/// The bundle's signing certificate as base64 of its PEM, the search API's `publicKey.content`.
fn certificate_pem_b64(bundle: &serde_json::Value) -> String {
    use base64::Engine as _;
    let der = bundle["verificationMaterial"]["certificate"]["rawBytes"]
        .as_str()
        .expect("certificate in the bundle");
    let body = base64::engine::general_purpose::STANDARD.encode(base64_decode(der));
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    base64::engine::general_purpose::STANDARD.encode(pem)
}

/// The Rekor v1 entry at `index` has the bundle's body; returns its entry ID.
fn assert_logged_v1(stack: &Stack, index: u64, body: &str) -> String {
    let reply = http_get(&format!(
        "{}/api/v1/log/entries?logIndex={index}",
        stack.url("rekor-v1")
    ));
    let reply: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
    let (entry_id, entry) = reply
        .as_object()
        .and_then(|m| m.iter().next())
        .expect("one entry");
    assert_eq!(entry["body"].as_str(), Some(body));
    assert_eq!(entry["logIndex"].as_u64(), Some(index));
    entry_id.clone()
}

/// The Rekor v2 entry bundle tile holding `index` contains the bundle's body as an entry.
fn assert_logged_v2(stack: &Stack, index: u64, body: &str) {
    let base = stack.url("rekor-v2");
    let checkpoint =
        String::from_utf8(http_get(&format!("{base}/api/v2/checkpoint"))).expect("utf8");
    let size: u64 = checkpoint
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("tree size");
    assert!(index < size, "entry {index} not in a tree of size {size}");
    let tile = index / 256;
    let width = (size - tile * 256).min(256);
    let path = tile_path(tile);
    let url = if width == 256 {
        format!("{base}/api/v2/tile/entries/{path}")
    } else {
        format!("{base}/api/v2/tile/entries/{path}.p/{width}")
    };
    let bytes = http_get(&url);
    // An entry bundle is a sequence of big-endian u16 length-prefixed entries.
    let mut entries = Vec::new();
    let mut rest = bytes.as_slice();
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        entries.push(&tail[..len]);
        rest = &tail[len..];
    }
    let wanted = base64_decode(body);
    let position = usize::try_from(index % 256).expect("index");
    assert_eq!(entries.get(position).copied(), Some(wanted.as_slice()));
}

/// The C2SP tlog-tiles path of tile `n`: three-digit groups, all but the last prefixed with `x`.
fn tile_path(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}
