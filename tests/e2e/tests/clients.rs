//! Every client signs a blob and an in-toto statement through Rekor v1 and Rekor v2 against a
//! real `sigstack up`, and every client verifies every other client's bundles. Tampering and
//! wrong identities must fail in every verifier.

use std::path::PathBuf;

use sigstack_e2e::{Client, Kind, Rekor, Stack, Workspace, js_cli_attest, sign, verify};

const ALICE: &str = "alice@example.test";

struct Signed {
    signer: Client,
    rekor: Rekor,
    kind: Kind,
    bundle: PathBuf,
}

#[test]
fn every_client_verifies_every_clients_bundles() {
    let stack = Stack::start();
    let ws = Workspace::new();
    let token = stack.token(ALICE);
    let issuer = stack.issuer();
    let artifact = ws.path("artifact.txt");

    // Each signer signs its four bundles in its own thread; then each verifier checks every
    // bundle in its own thread.
    let results: Vec<(Signed, Result<(), String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = Client::ALL
            .into_iter()
            .map(|signer| {
                let (stack, ws, token) = (&stack, &ws, &token);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    for rekor in [Rekor::V1, Rekor::V2] {
                        for kind in [Kind::Blob, Kind::InToto] {
                            let bundle = ws.path(&format!(
                                "{}-{rekor:?}-{kind:?}.sigstore.json",
                                signer.name()
                            ));
                            let result = sign(signer, stack, ws, rekor, kind, token, &bundle);
                            done.push((
                                Signed {
                                    signer,
                                    rekor,
                                    kind,
                                    bundle,
                                },
                                result,
                            ));
                        }
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signer thread"))
            .collect()
    });

    let mut failures = Vec::new();
    let mut signed = Vec::new();
    for (s, result) in results {
        match result {
            Ok(()) => signed.push(s),
            Err(e) => failures.push(e),
        }
    }
    for s in &signed {
        check_bundle_shape(s);
    }
    let verified: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = Client::ALL
            .into_iter()
            .map(|verifier| {
                let (stack, signed, artifact, issuer) = (&stack, &signed, &artifact, &issuer);
                scope.spawn(move || {
                    let mut problems = Vec::new();
                    for s in signed {
                        let cell = format!(
                            "bundle from {} ({:?}, {:?}) verified by {}",
                            s.signer.name(),
                            s.rekor,
                            s.kind,
                            verifier.name()
                        );
                        if let Err(e) = verify(verifier, stack, &s.bundle, artifact, ALICE, issuer)
                        {
                            problems.push(format!("{cell}: {e}"));
                        }
                    }
                    problems
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("verifier thread"))
            .collect()
    });
    failures.extend(verified);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}\n--- stack log ---\n{}",
        failures.len(),
        failures.join("\n\n"),
        stack.log()
    );
    assert_eq!(signed.len(), Client::ALL.len() * 4);
}

/// The bundle went through the Rekor API we asked for, with the entry kind clients expect.
fn check_bundle_shape(s: &Signed) {
    let text = std::fs::read_to_string(&s.bundle).expect("bundle");
    let bundle: serde_json::Value = serde_json::from_str(&text).expect("bundle JSON");
    let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
    let kind = entry["kindVersion"]["kind"].as_str().unwrap_or_default();
    let version = entry["kindVersion"]["version"].as_str().unwrap_or_default();
    match (s.rekor, s.kind) {
        (Rekor::V2, _) => assert_eq!(
            (kind, version),
            ("hashedrekord", "0.0.2"),
            "{}",
            s.bundle.display()
        ),
        (Rekor::V1, Kind::Blob) => assert_eq!((kind, version), ("hashedrekord", "0.0.1")),
        (Rekor::V1, Kind::InToto) => assert_eq!(kind, "dsse", "{}", s.bundle.display()),
    }
    match s.rekor {
        Rekor::V1 => assert!(entry["inclusionPromise"]["signedEntryTimestamp"].is_string()),
        Rekor::V2 => {
            let timestamps =
                &bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"];
            assert!(
                timestamps.as_array().is_some_and(|t| !t.is_empty()),
                "v2 bundle without a timestamp"
            );
        }
    }
    assert!(entry["inclusionProof"]["checkpoint"]["envelope"].is_string());
}

#[test]
fn verification_fails_for_wrong_identity_issuer_artifact_or_bundle() {
    let stack = Stack::start();
    let ws = Workspace::new();
    let token = stack.token(ALICE);
    let issuer = stack.issuer();
    let artifact = ws.path("artifact.txt");
    // The JS bundle below is the first client entry in the fresh Rekor v2 log. sigstore-js omits
    // proto3 default values, so a bundle for log index 0 would lack `logIndex` and `hashes` and
    // sigstore-python would reject it; the logs' opening entries keep clients off index 0.
    let mut bundles = Vec::new();
    for (signer, rekor) in [(Client::Python, Rekor::V1), (Client::Js, Rekor::V2)] {
        let bundle = ws.path(&format!("{}-{rekor:?}.sigstore.json", signer.name()));
        sign(signer, &stack, &ws, rekor, Kind::Blob, &token, &bundle)
            .unwrap_or_else(|e| panic!("{e}\n{}", stack.log()));
        bundles.push(bundle);
    }

    let tampered_artifact = ws.path("tampered.txt");
    std::fs::write(
        &tampered_artifact,
        b"hello from sigstack end-to-end tests!\n",
    )
    .expect("write");

    for bundle in &bundles {
        // Flip one byte inside the signature of the bundle.
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(bundle).expect("read")).expect("json");
        let sig = v["messageSignature"]["signature"]
            .as_str()
            .expect("signature")
            .to_string();
        let mut chars: Vec<char> = sig.chars().collect();
        chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
        v["messageSignature"]["signature"] = serde_json::Value::String(chars.into_iter().collect());
        let tampered_bundle = bundle.with_extension("tampered.json");
        std::fs::write(&tampered_bundle, v.to_string()).expect("write");

        for verifier in Client::ALL {
            verify(verifier, &stack, bundle, &artifact, ALICE, &issuer)
                .unwrap_or_else(|e| panic!("baseline must verify: {e}"));
            let cases = [
                (
                    "wrong identity",
                    bundle.clone(),
                    artifact.clone(),
                    "mallory@example.test",
                    issuer.clone(),
                ),
                (
                    "wrong issuer",
                    bundle.clone(),
                    artifact.clone(),
                    ALICE,
                    "https://issuer.invalid".to_string(),
                ),
                (
                    "tampered artifact",
                    bundle.clone(),
                    tampered_artifact.clone(),
                    ALICE,
                    issuer.clone(),
                ),
                (
                    "tampered bundle",
                    tampered_bundle.clone(),
                    artifact.clone(),
                    ALICE,
                    issuer.clone(),
                ),
            ];
            for (what, b, a, id, iss) in cases {
                assert!(
                    verify(verifier, &stack, &b, &a, id, &iss).is_err(),
                    "{} accepted a bundle with a {what}",
                    verifier.name()
                );
            }
        }
    }
}

#[test]
fn workload_identities_get_a_uri_san_from_the_workload_issuer() {
    let stack = Stack::start();
    let ws = Workspace::new();
    let subject = "https://ci.sigstack.test/pipelines/42";
    let token = stack.workload_token(subject);
    let workload_issuer = format!("{}/workload", stack.issuer());
    let artifact = ws.path("artifact.txt");
    let bundle = ws.path("workload.sigstore.json");
    sign(
        Client::Python,
        &stack,
        &ws,
        Rekor::V2,
        Kind::Blob,
        &token,
        &bundle,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", stack.log()));
    for verifier in Client::ALL {
        verify(
            verifier,
            &stack,
            &bundle,
            &artifact,
            subject,
            &workload_issuer,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // The people issuer did not vouch for this identity.
        assert!(
            verify(
                verifier,
                &stack,
                &bundle,
                &artifact,
                subject,
                &stack.issuer()
            )
            .is_err()
        );
    }
}

#[test]
fn sigstore_cli_attestations_use_intoto_entries_every_client_verifies() {
    let stack = Stack::start();
    let ws = Workspace::new();
    let token = stack.token(ALICE);
    let bundle = ws.path("cli-attestation.sigstore.json");
    js_cli_attest(&stack, &ws.path("statement.json"), &token, &bundle)
        .unwrap_or_else(|e| panic!("{e}\n{}", stack.log()));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).expect("bundle")).expect("json");
    assert_eq!(
        v["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"],
        "intoto"
    );
    assert_eq!(
        v["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["version"],
        "0.0.2"
    );
    // sigstore-python 4.5.1 does not verify intoto 0.0.2 entries at all ("Integrated time only
    // supported for dsse/hashedrekord 0.0.1 types"); the other four clients do.
    let refused = verify(
        Client::Python,
        &stack,
        &bundle,
        &ws.path("artifact.txt"),
        ALICE,
        &stack.issuer(),
    )
    .expect_err("sigstore-python verified an intoto 0.0.2 entry");
    assert!(
        refused.contains("Integrated time only supported"),
        "unexpected sigstore-python error: {refused}"
    );
    for verifier in [Client::Js, Client::Rust, Client::Cosign, Client::Go] {
        verify(
            verifier,
            &stack,
            &bundle,
            &ws.path("artifact.txt"),
            ALICE,
            &stack.issuer(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            verify(
                verifier,
                &stack,
                &bundle,
                &ws.path("artifact.txt"),
                "mallory@example.test",
                &stack.issuer()
            )
            .is_err()
        );
    }
}
