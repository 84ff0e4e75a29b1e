//! Bundles made by sigstore-python 4.5.1 and @sigstore/cli 0.10.3 against a real `sigstack up`
//! (saved in tests/data with the trusted root they need), verified and tampered with.
//!
//! Scenarios: Rekor v1 hashedrekord 0.0.1, dsse 0.0.1 and intoto 0.0.2 (SET + proof + TSA);
//! Rekor v2 hashedrekord 0.0.2 for a blob and for DSSE (proof + TSA, no SET).
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sha2::Digest as _;
use sigstack_verify::{
    Matcher, Policy, SignerPolicy, TrustedRoot, VerifyError, Witness, WitnessPolicy, verify,
};

const IDENTITY: &str = "alice@example.test";
const ISSUER: &str = "http://127.0.0.1:45821";
const SCENARIOS: [&str; 5] = [
    "rekor-v1-hashedrekord",
    "rekor-v1-dsse",
    "rekor-v1-intoto",
    "rekor-v2-hashedrekord",
    "rekor-v2-dsse",
];

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn bundle(scenario: &str) -> Value {
    serde_json::from_slice(&data(&format!("{scenario}.bundle.json"))).unwrap()
}

fn root_json() -> Value {
    serde_json::from_slice(&data("trusted_root.json")).unwrap()
}

fn root() -> TrustedRoot {
    TrustedRoot::from_json(&data("trusted_root.json")).unwrap()
}

fn digest() -> [u8; 32] {
    sha2::Sha256::digest(data("artifact.txt")).into()
}

fn policy() -> Policy {
    Policy {
        signer: SignerPolicy::Identity {
            identity: Matcher::Exact(IDENTITY.into()),
            issuer: Matcher::Exact(ISSUER.into()),
        },
        witnesses: None,
    }
}

fn run(bundle: &Value, root: &TrustedRoot, policy: &Policy) -> Result<(), VerifyError> {
    verify(
        &serde_json::to_vec(bundle).unwrap(),
        &digest(),
        root,
        policy,
    )
    .map(|_| ())
}

/// Verification must fail at `check`.
fn refused(scenario: &str, what: &str, result: Result<(), VerifyError>, check: &str) {
    match result {
        Ok(()) => panic!("{scenario}: {what} was accepted"),
        Err(e) => assert_eq!(e.check(), check, "{scenario}: {what}: {e}"),
    }
}

fn flip_b64(value: &mut Value, index: usize) {
    let mut bytes = STANDARD.decode(value.as_str().unwrap()).unwrap();
    let i = index.min(bytes.len() - 1);
    bytes[i] ^= 0x01;
    *value = Value::from(STANDARD.encode(bytes));
}

fn entry(b: &mut Value) -> &mut Value {
    &mut b["verificationMaterial"]["tlogEntries"][0]
}

fn signature(b: &mut Value) -> &mut Value {
    if b.get("dsseEnvelope").is_some() {
        &mut b["dsseEnvelope"]["signatures"][0]["sig"]
    } else {
        &mut b["messageSignature"]["signature"]
    }
}

#[test]
fn every_scenario_verifies() {
    let root = root();
    for scenario in SCENARIOS {
        let out = verify(
            &serde_json::to_vec(&bundle(scenario)).unwrap(),
            &digest(),
            &root,
            &policy(),
        )
        .unwrap_or_else(|e| panic!("{scenario}: {} failed: {e}", e.check()));
        assert_eq!(out.identities, vec![IDENTITY.to_string()]);
        assert_eq!(out.issuer.as_deref(), Some(ISSUER));
        assert_eq!(out.tlog_entries, 1);
        // Rekor v1 entries add the SET time to the TSA time.
        let want_times = if scenario.starts_with("rekor-v1") {
            2
        } else {
            1
        };
        assert_eq!(out.signing_times.len(), want_times, "{scenario}");
        assert_eq!(
            out.statement.is_some(),
            !scenario.ends_with("hashedrekord"),
            "{scenario}"
        );
    }
}

#[test]
fn regex_identity_and_issuer() {
    let root = root();
    let regex = |id: &str, iss: &str| Policy {
        signer: SignerPolicy::Identity {
            identity: Matcher::regex(id).unwrap(),
            issuer: Matcher::regex(iss).unwrap(),
        },
        witnesses: None,
    };
    let b = bundle("rekor-v2-hashedrekord");
    run(
        &b,
        &root,
        &regex(r".*@example\.test", r"http://127\.0\.0\.1:\d+"),
    )
    .unwrap();
    // Anchored: a partial match is not enough.
    refused(
        "regex",
        "partial identity",
        run(&b, &root, &regex("alice", ".*")),
        "identity",
    );
    refused(
        "regex",
        "other issuer",
        run(&b, &root, &regex(".*", "https://.*")),
        "oidc-issuer",
    );
    assert!(Matcher::regex("(").is_err());
}

#[test]
fn older_media_types_verify() {
    let root = root();
    for scenario in ["rekor-v1-hashedrekord", "rekor-v2-hashedrekord"] {
        for version in ["0.1", "0.2", "0.3"] {
            let mut b = bundle(scenario);
            b["mediaType"] = Value::from(format!(
                "application/vnd.dev.sigstore.bundle+json;version={version}"
            ));
            if version != "0.3" {
                let vm = &mut b["verificationMaterial"];
                let cert = vm.as_object_mut().unwrap().remove("certificate").unwrap();
                vm["x509CertificateChain"] = serde_json::json!({ "certificates": [cert] });
            }
            let result = run(&b, &root, &policy());
            if version == "0.1" && scenario.starts_with("rekor-v2") {
                // v0.1 requires a SET, which Rekor v2 never gives.
                refused(
                    scenario,
                    "v0.1 without SET",
                    result,
                    "signed-entry-timestamp",
                );
            } else {
                result.unwrap_or_else(|e| panic!("{scenario} as v{version}: {e}"));
            }
        }
        // A v0.2 bundle must carry its inclusion proof.
        let mut b = bundle(scenario);
        b["mediaType"] = Value::from("application/vnd.dev.sigstore.bundle+json;version=0.2");
        entry(&mut b)
            .as_object_mut()
            .unwrap()
            .remove("inclusionProof");
        refused(
            scenario,
            "v0.2 without proof",
            run(&b, &root, &policy()),
            "inclusion-proof",
        );
        let mut b = bundle(scenario);
        b["mediaType"] = Value::from("application/vnd.dev.sigstore.bundle+json;version=9");
        refused(
            scenario,
            "unknown media type",
            run(&b, &root, &policy()),
            "bundle-media-type",
        );
    }
}

#[test]
fn tampered_bundles_are_refused_naming_the_check() {
    let root = root();
    for scenario in SCENARIOS {
        let original = bundle(scenario);
        let v1 = scenario.starts_with("rekor-v1");

        // Artifact.
        let other: [u8; 32] = sha2::Sha256::digest(b"another artifact").into();
        refused(
            scenario,
            "other artifact",
            verify(
                &serde_json::to_vec(&original).unwrap(),
                &other,
                &root,
                &policy(),
            )
            .map(|_| ()),
            "artifact",
        );
        // Signature.
        let mut b = original.clone();
        flip_b64(signature(&mut b), 20);
        refused(
            scenario,
            "signature",
            run(&b, &root, &policy()),
            "signature",
        );
        // Certificate: another valid certificate (from another bundle) for the same identity.
        let mut b = original.clone();
        let donor = if scenario == "rekor-v1-hashedrekord" {
            "rekor-v2-hashedrekord"
        } else {
            "rekor-v1-hashedrekord"
        };
        b["verificationMaterial"]["certificate"] =
            bundle(donor)["verificationMaterial"]["certificate"].clone();
        refused(
            scenario,
            "swapped certificate",
            run(&b, &root, &policy()),
            "signature",
        );
        // Certificate: one flipped byte in the issuer's signature.
        let mut b = original.clone();
        let len = STANDARD
            .decode(
                b["verificationMaterial"]["certificate"]["rawBytes"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap()
            .len();
        flip_b64(
            &mut b["verificationMaterial"]["certificate"]["rawBytes"],
            len - 3,
        );
        // The logged body names the original certificate, so the body check catches it first.
        refused(
            scenario,
            "certificate bytes",
            run(&b, &root, &policy()),
            "tlog-body",
        );
        // Inclusion proof hash.
        let mut b = original.clone();
        flip_b64(&mut entry(&mut b)["inclusionProof"]["hashes"][0], 0);
        refused(
            scenario,
            "proof hash",
            run(&b, &root, &policy()),
            "inclusion-proof",
        );
        // Root hash and checkpoint stay consistent, but the checkpoint signature is broken.
        let mut b = original.clone();
        let envelope = entry(&mut b)["inclusionProof"]["checkpoint"]["envelope"]
            .as_str()
            .unwrap()
            .to_string();
        let (text, sigs) = envelope.rsplit_once("\n\n").unwrap();
        let (name, sig) = sigs.trim_end().rsplit_once(' ').unwrap();
        let mut sig = Value::from(sig);
        flip_b64(&mut sig, 10);
        entry(&mut b)["inclusionProof"]["checkpoint"]["envelope"] =
            Value::from(format!("{text}\n\n{name} {}\n", sig.as_str().unwrap()));
        refused(
            scenario,
            "checkpoint signature",
            run(&b, &root, &policy()),
            "checkpoint",
        );
        // Checkpoint for another tree size.
        let mut b = original.clone();
        let forged = envelope.replacen(
            &format!(
                "\n{}\n",
                entry(&mut b)["inclusionProof"]["treeSize"]
                    .as_str()
                    .unwrap()
            ),
            "\n99\n",
            1,
        );
        entry(&mut b)["inclusionProof"]["checkpoint"]["envelope"] = Value::from(forged);
        refused(
            scenario,
            "checkpoint body",
            run(&b, &root, &policy()),
            "checkpoint",
        );
        // SET (Rekor v1 only).
        if v1 {
            let mut b = original.clone();
            flip_b64(
                &mut entry(&mut b)["inclusionPromise"]["signedEntryTimestamp"],
                12,
            );
            refused(
                scenario,
                "SET",
                run(&b, &root, &policy()),
                "signed-entry-timestamp",
            );
            let mut b = original.clone();
            entry(&mut b)["integratedTime"] = Value::from("1796000000");
            refused(
                scenario,
                "integrated time",
                run(&b, &root, &policy()),
                "signed-entry-timestamp",
            );
        }
        // TSA token.
        let mut b = original.clone();
        let ts = &mut b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
            [0]["signedTimestamp"];
        let len = STANDARD.decode(ts.as_str().unwrap()).unwrap().len();
        flip_b64(ts, len - 5);
        refused(
            scenario,
            "TSA token",
            run(&b, &root, &policy()),
            "rfc3161-timestamp",
        );
        // Without the TSA token, Rekor v2 bundles have no signing time at all.
        if !v1 {
            let mut b = original.clone();
            b["verificationMaterial"]
                .as_object_mut()
                .unwrap()
                .remove("timestampVerificationData");
            refused(
                scenario,
                "no timestamp",
                run(&b, &root, &policy()),
                "signing-time",
            );
        }
        // Logged body of another entry.
        let mut b = original.clone();
        let other = if scenario == "rekor-v1-hashedrekord" {
            "rekor-v1-dsse"
        } else {
            "rekor-v1-hashedrekord"
        };
        entry(&mut b)["canonicalizedBody"] =
            bundle(other)["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"].clone();
        let result = run(&b, &root, &policy());
        assert!(result.is_err(), "{scenario}: foreign body accepted");
        // Wrong identity and issuer.
        let wrong = |id: &str, iss: &str| Policy {
            signer: SignerPolicy::Identity {
                identity: Matcher::Exact(id.into()),
                issuer: Matcher::Exact(iss.into()),
            },
            witnesses: None,
        };
        refused(
            scenario,
            "identity",
            run(&original, &root, &wrong("mallory@example.test", ISSUER)),
            "identity",
        );
        refused(
            scenario,
            "issuer",
            run(
                &original,
                &root,
                &wrong(IDENTITY, "https://accounts.example.test"),
            ),
            "oidc-issuer",
        );
    }
}

/// Trusted roots that do not cover the bundle: no CT log, validity windows that end before the
/// bundle was signed, a log missing.
#[test]
fn trust_root_windows_and_membership() {
    for scenario in SCENARIOS {
        let b = bundle(scenario);
        let with = |edit: &dyn Fn(&mut Value)| {
            let mut r = root_json();
            edit(&mut r);
            TrustedRoot::from_json(&serde_json::to_vec(&r).unwrap()).unwrap()
        };
        let past = Value::from("2020-01-01T00:00:00Z");
        refused(
            scenario,
            "CA validity ended",
            run(
                &b,
                &with(&|r| r["certificateAuthorities"][0]["validFor"]["end"] = past.clone()),
                &policy(),
            ),
            "certificate-validity",
        );
        refused(
            scenario,
            "no CT log",
            run(
                &b,
                &with(&|r| r["ctlogs"] = Value::Array(vec![])),
                &policy(),
            ),
            "sct",
        );
        refused(
            scenario,
            "CT log key replaced",
            run(
                &b,
                &with(&|r| {
                    r["ctlogs"][0]["publicKey"]["rawBytes"] =
                        r["tlogs"][0]["publicKey"]["rawBytes"].clone();
                }),
                &policy(),
            ),
            "sct",
        );
        refused(
            scenario,
            "TSA validity ended",
            run(
                &b,
                &with(&|r| r["timestampAuthorities"][0]["validFor"]["end"] = past.clone()),
                &policy(),
            ),
            "rfc3161-timestamp",
        );
        let log = usize::from(!scenario.starts_with("rekor-v1"));
        refused(
            scenario,
            "log key validity ended",
            run(
                &b,
                &with(&|r| r["tlogs"][log]["publicKey"]["validFor"]["end"] = past.clone()),
                &policy(),
            ),
            "tlog-key-validity",
        );
        refused(
            scenario,
            "log not trusted",
            run(
                &b,
                &with(&|r| {
                    r["tlogs"].as_array_mut().unwrap().remove(log);
                }),
                &policy(),
            ),
            "tlog-known",
        );
        // A trusted log with a start but the wrong key: the checkpoint or SET fails.
        let result = run(
            &b,
            &with(&|r| {
                r["tlogs"][log]["publicKey"]["rawBytes"] =
                    r["ctlogs"][0]["publicKey"]["rawBytes"].clone()
            }),
            &policy(),
        );
        assert!(result.is_err(), "{scenario}: wrong log key accepted");
    }
}

/// Witness cosignatures (c2sp.org/tlog-cosignature, type 0x04) on the Rekor v2 checkpoint.
#[test]
fn witness_policy() {
    use ed25519_dalek::Signer as _;
    let root = root();
    let witness_key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let raw = witness_key.verifying_key().to_bytes();
    let vkey_for = |name: &str, raw: &[u8; 32]| {
        let mut input = name.as_bytes().to_vec();
        input.push(b'\n');
        input.push(0x04);
        input.extend_from_slice(raw);
        let id: [u8; 32] = sha2::Sha256::digest(&input).into();
        let mut typed = vec![0x04];
        typed.extend_from_slice(raw);
        (
            format!(
                "{name}+{}+{}",
                hex::encode(&id[..4]),
                STANDARD.encode(typed)
            ),
            id,
        )
    };
    let (vkey, id) = vkey_for("witness.example.test", &raw);
    let mut b = bundle("rekor-v2-hashedrekord");
    let envelope = entry(&mut b)["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .unwrap()
        .to_string();
    let (text, _) = envelope.rsplit_once("\n\n").unwrap();
    let text = format!("{text}\n");
    let t: u64 = 1_796_000_000;
    let signed = format!("cosignature/v1\ntime {t}\n{text}");
    let mut field = id[..4].to_vec();
    field.extend_from_slice(&t.to_be_bytes());
    field.extend_from_slice(&witness_key.sign(signed.as_bytes()).to_bytes());
    let cosigned = format!(
        "{envelope}— witness.example.test {}\n",
        STANDARD.encode(field)
    );
    entry(&mut b)["inclusionProof"]["checkpoint"]["envelope"] = Value::from(cosigned);

    let with_witnesses = |vkeys: &[&str], threshold| Policy {
        witnesses: Some(WitnessPolicy {
            witnesses: vkeys
                .iter()
                .map(|v| Witness::from_vkey(v).unwrap())
                .collect(),
            threshold,
        }),
        ..policy()
    };
    // The cosignature does not disturb plain verification, and satisfies a 1-of-1 policy.
    run(&b, &root, &policy()).unwrap();
    run(&b, &root, &with_witnesses(&[&vkey], 1)).unwrap();
    // Another witness, or a threshold of 2, is not met.
    let other = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let (other_vkey, _) = vkey_for("other.example.test", &other.verifying_key().to_bytes());
    refused(
        "witness",
        "other witness",
        run(&b, &root, &with_witnesses(&[&other_vkey], 1)),
        "witness-cosignatures",
    );
    refused(
        "witness",
        "threshold 2",
        run(&b, &root, &with_witnesses(&[&vkey, &other_vkey], 2)),
        "witness-cosignatures",
    );
    // The original bundle has no cosignature at all.
    refused(
        "witness",
        "uncosigned",
        run(
            &bundle("rekor-v2-hashedrekord"),
            &root,
            &with_witnesses(&[&vkey], 1),
        ),
        "witness-cosignatures",
    );
    assert!(Witness::from_vkey("name+00000000+AAAA").is_err());
}

#[test]
fn key_policy_refuses_certificate_bundles_and_the_reverse() {
    let root = root();
    let key = sigstack_keys::PublicKey::from_spki_der(
        &STANDARD
            .decode(
                root_json()["ctlogs"][0]["publicKey"]["rawBytes"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    let key_policy = Policy {
        signer: SignerPolicy::Key(key),
        witnesses: None,
    };
    refused(
        "key",
        "certificate bundle with --key",
        run(&bundle("rekor-v2-hashedrekord"), &root, &key_policy),
        "verification-material",
    );
    let mut b = bundle("rekor-v2-hashedrekord");
    let vm = b["verificationMaterial"].as_object_mut().unwrap();
    vm.remove("certificate");
    vm.insert("publicKey".into(), serde_json::json!({"hint": "x"}));
    refused(
        "key",
        "key bundle with identity",
        run(&b, &root, &policy()),
        "verification-material",
    );
    // With the wrong key the signature fails.
    refused("key", "wrong key", run(&b, &root, &key_policy), "signature");
}

#[test]
fn dsse_payload_must_be_an_in_toto_statement_about_the_artifact() {
    let root = root();
    for scenario in ["rekor-v1-dsse", "rekor-v2-dsse", "rekor-v1-intoto"] {
        let original = bundle(scenario);
        let payload = STANDARD
            .decode(original["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap();
        let statement: Value = serde_json::from_slice(&payload).unwrap();
        let mut untyped = statement.clone();
        untyped.as_object_mut().unwrap().remove("_type");
        let mut unknown = statement.clone();
        unknown["_type"] = Value::from("https://example.test/Statement/v9");
        let mut other_type = original.clone();
        other_type["dsseEnvelope"]["payloadType"] = Value::from("text/plain");
        for (what, edited) in [("no _type", untyped), ("unknown _type", unknown)] {
            let mut b = original.clone();
            b["dsseEnvelope"]["payload"] = Value::from(STANDARD.encode(edited.to_string()));
            refused(scenario, what, run(&b, &root, &policy()), "artifact");
        }
        refused(
            scenario,
            "payload type",
            run(&other_type, &root, &policy()),
            "artifact",
        );
    }
}

#[test]
fn garbage_is_refused() {
    let root = root();
    for bad in [&b"not json"[..], b"{}", b"[]", br#"{"mediaType":1}"#] {
        let e = verify(bad, &digest(), &root, &policy()).unwrap_err();
        assert_eq!(e.check(), "bundle-format", "{e}");
    }
    assert!(TrustedRoot::from_json(b"{\"mediaType\":\"x\"}").is_err());
    assert!(TrustedRoot::from_json(&vec![b' '; 5 * 1024 * 1024]).is_err());
}
