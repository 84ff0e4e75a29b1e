//! Key-signed bundles (no certificate), built here with a one-leaf log whose checkpoint is
//! signed by a log key in the trusted root: they verify with the right key and without any
//! signing time, and tampering is refused.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer};
use sigstack_tlog::note::{KeyIdRule, NoteSigner};
use sigstack_tlog::{Checkpoint, merkle::leaf_hash, sign_checkpoint};
use sigstack_verify::{Policy, SignerPolicy, TrustedRoot, verify};

struct Fixture {
    bundle: Value,
    root: TrustedRoot,
    signer_key: sigstack_keys::PublicKey,
    digest: [u8; 32],
}

fn fixture() -> Fixture {
    let artifact = b"key-signed artifact\n";
    let digest = sigstack_keys::sha256(artifact);
    let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let signature = signer.sign(artifact).unwrap();
    let log: Arc<dyn Signer> =
        Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap());
    let log_id = sigstack_keys::sha256(log.public_key_der());
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(digest)}},
            "signature": {
                "content": STANDARD.encode(&signature),
                "publicKey": {"content": STANDARD.encode(signer.public_key().unwrap().to_pem())}
            }
        }
    })
    .to_string();
    let root_hash = leaf_hash(body.as_bytes());
    let note_signer = NoteSigner::new("log.example.test", log.clone(), KeyIdRule::RekorV1).unwrap();
    let checkpoint = sign_checkpoint(
        &Checkpoint::new("log.example.test - 1", 1, root_hash),
        &[&note_signer],
    )
    .unwrap();
    let bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "publicKey": {"hint": ""},
            "tlogEntries": [{
                "logIndex": "0",
                "logId": {"keyId": STANDARD.encode(log_id)},
                "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                "integratedTime": "0",
                "inclusionProof": {
                    "logIndex": "0",
                    "rootHash": root_hash.to_base64(),
                    "treeSize": "1",
                    "hashes": [],
                    "checkpoint": {"envelope": checkpoint}
                },
                "canonicalizedBody": STANDARD.encode(&body)
            }]
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest)},
            "signature": STANDARD.encode(&signature)
        }
    });
    let root = json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{
            "baseUrl": "https://log.example.test",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": STANDARD.encode(log.public_key_der()),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": "2020-01-01T00:00:00Z"}
            },
            "logId": {"keyId": STANDARD.encode(log_id)}
        }],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": []
    });
    Fixture {
        bundle,
        root: TrustedRoot::from_json(root.to_string().as_bytes()).unwrap(),
        signer_key: signer.public_key().unwrap(),
        digest,
    }
}

fn check(f: &Fixture, bundle: &Value, key: &sigstack_keys::PublicKey) -> Result<(), String> {
    let policy = Policy {
        signer: SignerPolicy::Key(key.clone()),
        witnesses: None,
    };
    verify(bundle.to_string().as_bytes(), &f.digest, &f.root, &policy)
        .map(|_| ())
        .map_err(|e| e.check().to_string())
}

#[test]
fn key_signed_bundle_verifies_and_tampering_is_refused() {
    let f = fixture();
    let verified = verify(
        f.bundle.to_string().as_bytes(),
        &f.digest,
        &f.root,
        &Policy {
            signer: SignerPolicy::Key(f.signer_key.clone()),
            witnesses: None,
        },
    )
    .unwrap();
    assert!(verified.signing_times.is_empty() && verified.identities.is_empty());

    let other = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256)
        .unwrap()
        .public_key()
        .unwrap();
    assert_eq!(check(&f, &f.bundle, &other), Err("signature".into()));

    let mut b = f.bundle.clone();
    b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["treeSize"] = json!("2");
    assert_eq!(check(&f, &b, &f.signer_key), Err("inclusion-proof".into()));

    let mut b = f.bundle.clone();
    let entry = &mut b["verificationMaterial"]["tlogEntries"][0];
    let body = STANDARD
        .decode(entry["canonicalizedBody"].as_str().unwrap())
        .unwrap();
    let tampered = String::from_utf8(body).unwrap().replace("sha256", "sha512");
    entry["canonicalizedBody"] = json!(STANDARD.encode(tampered));
    assert_eq!(check(&f, &b, &f.signer_key), Err("inclusion-proof".into()));

    let mut b = f.bundle.clone();
    b["verificationMaterial"]["tlogEntries"]
        .as_array_mut()
        .unwrap()
        .clear();
    assert_eq!(check(&f, &b, &f.signer_key), Err("tlog-known".into()));
}
