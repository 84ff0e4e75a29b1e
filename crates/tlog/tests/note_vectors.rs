//! c2sp.org/signed-note and tlog-checkpoint vectors (golang.org/x/mod sumdb/note tests and the
//! C2SP spec examples, tests/data/c2sp-signed-notes-ed25519.json), plus real Rekor v1 ECDSA
//! checkpoints with inclusion proofs (tests/data/rekor-v1-entries-ecdsa-checkpoints.json).

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sigstack_keys::{FileSigner, PublicKey, SignatureAlgorithm, Signer, sha256};
use sigstack_tlog::merkle::{Hash, leaf_hash, verify_inclusion};
use sigstack_tlog::note::{c2sp_key_hash, open_note, sign_note};
use sigstack_tlog::{
    Checkpoint, KeyIdRule, Note, NoteSigner, NoteVerifier, TlogError, open_checkpoint,
    sign_checkpoint,
};

fn notes() -> Value {
    serde_json::from_str(include_str!("data/c2sp-signed-notes-ed25519.json")).unwrap()
}

fn rekor() -> Value {
    serde_json::from_str(include_str!("data/rekor-v1-entries-ecdsa-checkpoints.json")).unwrap()
}

fn verifiers(keys: &Value) -> Vec<NoteVerifier> {
    keys.as_array()
        .unwrap()
        .iter()
        .map(|k| NoteVerifier::from_vkey(k.as_str().unwrap()).unwrap())
        .collect()
}

/// The published Go x/mod test key `PRIVATE+KEY+PeterNeumann+c74f20a3+<base64(0x01 || seed)>`.
fn peter_signer(v: &Value) -> NoteSigner {
    let skey = v["skeys_test_only"]["PeterNeumann"].as_str().unwrap();
    let parts: Vec<&str> = skey.splitn(5, '+').collect();
    assert_eq!(&parts[..4], ["PRIVATE", "KEY", "PeterNeumann", "c74f20a3"]);
    let raw = STANDARD.decode(parts[4]).unwrap();
    assert_eq!(raw[0], 0x01);
    let seed: [u8; 32] = raw[1..].try_into().unwrap();
    use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
    let pem = ed25519_dalek::SigningKey::from_bytes(&seed)
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap();
    let signer = FileSigner::from_pkcs8_pem(&pem).unwrap();
    NoteSigner::new("PeterNeumann", Arc::new(signer), KeyIdRule::C2sp).unwrap()
}

#[test]
fn vkeys_parse_and_print() {
    let v = notes();
    for (name, vkey) in v["vkeys"].as_object().unwrap() {
        let vkey = vkey.as_str().unwrap();
        let ver = NoteVerifier::from_vkey(vkey).unwrap();
        assert_eq!(ver.name(), name);
        assert_eq!(hex::encode(ver.key_id()), vkey.split('+').nth(1).unwrap());
        assert_eq!(ver.to_vkey().unwrap(), vkey);
        let raw = ver.public_key().ed25519_bytes().unwrap();
        assert_eq!(c2sp_key_hash(name, &raw)[..4], ver.key_id());
        assert_eq!(
            KeyIdRule::C2sp.key_id(name, ver.public_key()).unwrap(),
            ver.key_id()
        );
    }
}

#[test]
fn bad_vkeys_are_rejected() {
    let v = notes();
    for case in v["bad_vkeys_x_mod"]["cases"].as_array().unwrap() {
        let vkey = case["vkey"].as_str().unwrap();
        assert!(NoteVerifier::from_vkey(vkey).is_err(), "{}", case["why"]);
    }
    // As upstream: every proper substring and every single-byte +1 change of a good vkey fails.
    let good = v["vkeys"]["PeterNeumann"].as_str().unwrap();
    for start in 0..good.len() {
        for end in start..=good.len() {
            if (start, end) != (0, good.len()) {
                assert!(
                    NoteVerifier::from_vkey(&good[start..end]).is_err(),
                    "{start}..{end}"
                );
            }
        }
    }
    for i in 0..good.len() {
        let mut b = good.as_bytes().to_vec();
        b[i] += 1;
        let changed = String::from_utf8(b).unwrap();
        assert!(
            NoteVerifier::from_vkey(&changed).is_err(),
            "byte {i}: {changed}"
        );
    }
}

#[test]
fn notes_verify_as_expected() {
    let v = notes();
    for case in v["notes_to_verify"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let note = case["note"].as_str().unwrap();
        let vers = verifiers(&case["verifier_keys"]);
        let expected = &case["expected"];
        let result = open_note(note, &vers);
        if expected["open_ok"].as_bool().unwrap() {
            let opened = result.unwrap_or_else(|e| panic!("{id}: {e}"));
            if let Some(text) = expected["text"].as_str() {
                assert_eq!(opened.text, text, "{id}");
            }
            for sig in expected["signatures"].as_array().unwrap() {
                let name = sig["name"].as_str().unwrap();
                let key_id = hex::decode(sig["key_id"].as_str().unwrap()).unwrap();
                let in_verified = opened
                    .verified
                    .iter()
                    .any(|s| s.name == name && s.key_id[..] == key_id[..]);
                let in_unverified = opened
                    .unverified
                    .iter()
                    .any(|s| s.name == name && s.key_id[..] == key_id[..]);
                match sig["valid"].as_bool() {
                    Some(true) => assert!(in_verified, "{id}: {name}"),
                    None => assert!(in_unverified, "{id}: {name}"),
                    Some(false) => {
                        panic!("{id}: an opened note cannot hold an invalid known signature")
                    }
                }
            }
        } else {
            let err = result.expect_err(id);
            let known_bad = expected["signatures"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["valid"] == Value::Bool(false)));
            if known_bad
                || expected["error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("invalid signature"))
            {
                assert!(
                    matches!(err, TlogError::InvalidSignature { .. }),
                    "{id}: {err}"
                );
                assert!(err.to_string().contains('+'), "names key+id: {err}");
            } else {
                assert!(matches!(err, TlogError::UnverifiedNote), "{id}: {err}");
            }
        }
    }
}

#[test]
fn invalid_signature_error_names_the_key_like_upstream() {
    let v = notes();
    let case = &v["notes_to_verify"][3];
    assert_eq!(case["id"], "x-mod-peter-corrupted-signature");
    let err = open_note(
        case["note"].as_str().unwrap(),
        &verifiers(&case["verifier_keys"]),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), case["expected"]["error"].as_str().unwrap());
}

#[test]
fn malformed_notes_are_rejected() {
    let v = notes();
    let peter = verifiers(&Value::Array(vec![v["vkeys"]["PeterNeumann"].clone()]));
    for (i, case) in v["malformed_notes_x_mod"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let err = open_note(case.as_str().unwrap(), &peter).unwrap_err();
        assert!(
            matches!(err, TlogError::MalformedNote(_)),
            "case {i}: {err}"
        );
    }
    // Not representable in JSON: invalid UTF-8, and more than 100 signatures.
    let good = v["notes_to_verify"][0]["note"].as_str().unwrap();
    let (text, sigs) = good.split_once("\n\n").unwrap();
    let peter_line = sigs.lines().next().unwrap();
    let mut bad = vec![0xff];
    bad.extend_from_slice(good.as_bytes());
    assert!(matches!(
        Note::from_bytes(&bad),
        Err(TlogError::MalformedNote(_))
    ));
    let mut many = format!("{text}\n\n");
    for _ in 0..101 {
        many.push_str(peter_line);
        many.push('\n');
    }
    assert!(matches!(
        Note::parse(&many),
        Err(TlogError::MalformedNote(_))
    ));
    // 100 signatures are fine.
    let hundred = many.replacen(&format!("{peter_line}\n"), "", 1);
    assert_eq!(Note::parse(&hundred).unwrap().signatures.len(), 100);
    assert!(open_note(&hundred, &peter).is_ok());
}

#[test]
fn signing_with_the_published_test_key_reproduces_upstream_bytes() {
    let v = notes();
    let signer = peter_signer(&v);
    assert_eq!(hex::encode(signer.key_id()), "c74f20a3");
    assert_eq!(
        signer.verifier().unwrap().to_vkey().unwrap(),
        v["vkeys"]["PeterNeumann"]
    );
    let expected = v["notes_to_verify"][3 - 3]["note"].as_str().unwrap();
    let text = v["notes_to_verify"][0]["expected"]["text"]
        .as_str()
        .unwrap();
    let signed = sign_note(text, &[&signer]).unwrap();
    // Ed25519 is deterministic: the signature line equals upstream's byte for byte.
    let peter_line = expected
        .split("\n\n")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    assert_eq!(signed, format!("{text}\n{peter_line}\n"));
    assert!(sign_note("no newline", &[&signer]).is_err());
    assert!(sign_note("bell \u{7}\n", &[&signer]).is_err());
    assert!(sign_note(text, &[]).is_err());
}

#[test]
fn format_only_examples_parse() {
    let v = notes();
    let ex = v["format_only_examples_no_vkey"].as_array().unwrap();
    let quasimodo = Note::parse(ex[0]["note"].as_str().unwrap()).unwrap();
    assert_eq!(
        quasimodo.text,
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    );
    assert_eq!(
        quasimodo.signatures[0].name,
        ex[0]["signer_name"].as_str().unwrap()
    );
    assert_eq!(quasimodo.to_note_string(), ex[0]["note"].as_str().unwrap());

    let cp_note = Note::parse(ex[1]["note"].as_str().unwrap()).unwrap();
    let cp = Checkpoint::parse(&cp_note.text).unwrap();
    assert_eq!(cp.origin, ex[1]["origin"].as_str().unwrap());
    assert_eq!(cp.size, ex[1]["tree_size"].as_u64().unwrap());
    assert_eq!(
        cp.root_hash.to_base64(),
        ex[1]["root_hash_b64"].as_str().unwrap()
    );
    assert_eq!(cp.to_body(), cp_note.text);

    let cosigned = Note::parse(ex[2]["note"].as_str().unwrap()).unwrap();
    assert_eq!(cosigned.signatures.len(), 2);
    assert_eq!(cosigned.signatures[1].name, "witness.example.com/w1");
    assert_eq!(
        cosigned.signatures[1].sig.len(),
        8 + 64,
        "timestamp || Ed25519 signature"
    );
    // Nobody we know signed it.
    assert!(matches!(
        cosigned.verify(&[]),
        Err(TlogError::UnverifiedNote)
    ));
}

#[test]
fn sumdb_tree_note_body() {
    let v = notes();
    let body = &v["sumdb_tree_note_body"];
    let cp = Checkpoint::parse(body["text"].as_str().unwrap()).unwrap();
    assert_eq!(cp.origin, "go.sum database tree");
    assert_eq!(cp.size, body["n"].as_u64().unwrap());
    assert_eq!(cp.root_hash, leaf_hash(b"hello world"));
    assert_eq!(cp.to_body(), body["text"].as_str().unwrap());
}

#[test]
fn checkpoint_bodies_are_strict() {
    let root = leaf_hash(b"x").to_base64();
    let ok = format!("example.com/log\n10\n{root}\n");
    assert_eq!(Checkpoint::parse(&ok).unwrap().size, 10);
    let with_ext = format!("example.com/log\n10\n{root}\nTimestamp: 123\n");
    assert_eq!(
        Checkpoint::parse(&with_ext).unwrap().extensions,
        ["Timestamp: 123"]
    );
    for bad in [
        format!("example.com/log\n010\n{root}\n"),
        format!("example.com/log\n+10\n{root}\n"),
        format!("example.com/log\n-1\n{root}\n"),
        format!("example.com/log\n18446744073709551616\n{root}\n"),
        format!("example.com/log\n10\n{root}"),
        format!("\n10\n{root}\n"),
        format!("example.com/log\n10\n{root}\n\n"),
        "example.com/log\n10\nAAAA\n".to_owned(),
        "example.com/log\n10\n".to_owned(),
    ] {
        assert!(
            matches!(
                Checkpoint::parse(&bad),
                Err(TlogError::MalformedCheckpoint(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(
        Checkpoint::parse(&format!("o\n0\n{root}\n")).unwrap().size,
        0
    );
}

struct RekorCase {
    name: &'static str,
    key: PublicKey,
    checkpoint: String,
    leaf: Hash,
    index: u64,
    size: u64,
    root: Hash,
    proof: Vec<Hash>,
    key_hint: String,
}

fn rekor_cases() -> Vec<RekorCase> {
    let v = rekor();
    let staging = &v["staging_response"];
    let (_, entry) = staging["response"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let ip = &entry["verification"]["inclusionProof"];
    let body = STANDARD.decode(entry["body"].as_str().unwrap()).unwrap();
    let staging_case = RekorCase {
        name: "rekor.sigstage.dev",
        key: PublicKey::from_pem(staging["rekor_public_key_pem"].as_str().unwrap()).unwrap(),
        checkpoint: ip["checkpoint"].as_str().unwrap().to_owned(),
        leaf: leaf_hash(&body),
        index: ip["logIndex"].as_u64().unwrap(),
        size: ip["treeSize"].as_u64().unwrap(),
        root: Hash::from_hex(ip["rootHash"].as_str().unwrap()).unwrap(),
        proof: ip["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash::from_hex(h.as_str().unwrap()).unwrap())
            .collect(),
        key_hint: staging["expected"]["checkpoint_sig_key_hint_hex"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    assert_eq!(
        staging_case.leaf.to_hex(),
        staging["expected"]["leaf_hash_hex"].as_str().unwrap()
    );

    let prod = &v["production_entry"];
    let tle = &prod["bundle_tlog_entry_verbatim"];
    let ip = &tle["inclusionProof"];
    let body = STANDARD
        .decode(tle["canonicalizedBody"].as_str().unwrap())
        .unwrap();
    let prod_case = RekorCase {
        name: "rekor.sigstore.dev",
        key: PublicKey::from_pem(prod["rekor_public_key_pem"].as_str().unwrap()).unwrap(),
        checkpoint: ip["checkpoint"]["envelope"].as_str().unwrap().to_owned(),
        leaf: leaf_hash(&body),
        index: ip["logIndex"].as_str().unwrap().parse().unwrap(),
        size: ip["treeSize"].as_str().unwrap().parse().unwrap(),
        root: Hash::from_base64(ip["rootHash"].as_str().unwrap()).unwrap(),
        proof: ip["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
            .collect(),
        key_hint: prod["expected"]["checkpoint_sig_key_hint_hex"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    assert_eq!(
        prod_case.leaf.to_hex(),
        prod["expected"]["leaf_hash_hex"].as_str().unwrap()
    );
    vec![staging_case, prod_case]
}

#[test]
fn rekor_v1_ecdsa_checkpoints_verify_and_match_inclusion_proofs() {
    for case in rekor_cases() {
        let verifier =
            NoteVerifier::for_key(case.name, case.key.clone(), KeyIdRule::RekorV1).unwrap();
        assert_eq!(
            hex::encode(verifier.key_id()),
            case.key_hint,
            "{}",
            case.name
        );
        // For ECDSA keys the C2SP rule gives the same ID (SHA-256 of the SPKI).
        assert_eq!(
            KeyIdRule::C2sp.key_id(case.name, &case.key).unwrap(),
            verifier.key_id()
        );
        assert_eq!(
            KeyIdRule::RekorV1.key_hash(case.name, &case.key).unwrap(),
            sha256(case.key.spki_der())
        );

        let cp = open_checkpoint(&case.checkpoint, std::slice::from_ref(&verifier)).unwrap();
        assert!(
            cp.origin.starts_with(&format!("{} - ", case.name)),
            "{}",
            cp.origin
        );
        assert_eq!(cp.size, case.size);
        assert_eq!(cp.root_hash, case.root);
        verify_inclusion(
            case.index,
            case.size,
            &case.leaf,
            &case.proof,
            &cp.root_hash,
        )
        .unwrap();

        // Tampered body: the signature no longer verifies.
        let tampered =
            case.checkpoint
                .replacen(&case.size.to_string(), &(case.size + 1).to_string(), 1);
        assert!(matches!(
            open_checkpoint(&tampered, std::slice::from_ref(&verifier)),
            Err(TlogError::InvalidSignature { .. })
        ));
        // Signature line removed: not a signed note (sigstore-java's negative case).
        let body_only = case.checkpoint.split("\n\n").next().unwrap().to_owned() + "\n";
        assert!(matches!(
            open_checkpoint(&body_only, std::slice::from_ref(&verifier)),
            Err(TlogError::MalformedNote(_))
        ));
        // The proof does not verify another leaf.
        assert!(
            verify_inclusion(
                case.index,
                case.size,
                &leaf_hash(b"other"),
                &case.proof,
                &cp.root_hash
            )
            .is_err()
        );
    }
}

#[test]
fn sign_and_open_round_trip_for_every_key_type_and_rule() {
    for alg in [
        SignatureAlgorithm::EcdsaP256Sha256,
        SignatureAlgorithm::EcdsaP384Sha384,
        SignatureAlgorithm::Ed25519,
    ] {
        for rule in [KeyIdRule::C2sp, KeyIdRule::RekorV1] {
            let signer: Arc<dyn Signer> = Arc::new(FileSigner::generate(alg).unwrap());
            let key = signer.public_key().unwrap();
            let ns = NoteSigner::new("log.example", Arc::clone(&signer), rule).unwrap();
            let expected_hash = match (rule, alg) {
                (KeyIdRule::C2sp, SignatureAlgorithm::Ed25519) => {
                    c2sp_key_hash("log.example", &key.ed25519_bytes().unwrap())
                }
                _ => sha256(key.spki_der()),
            };
            assert_eq!(ns.key_hash(), expected_hash);
            assert_eq!(ns.key_id()[..], expected_hash[..4]);

            let cp = Checkpoint::new("log.example", 42, leaf_hash(b"root"));
            let other = NoteSigner::new(
                "witness.example",
                Arc::new(FileSigner::generate(SignatureAlgorithm::Ed25519).unwrap()),
                KeyIdRule::C2sp,
            )
            .unwrap();
            let note = sign_checkpoint(&cp, &[&ns, &other]).unwrap();
            assert!(note.starts_with(&cp.to_body()));
            assert!(note.contains("\n\n\u{2014} log.example "));
            // Only our key is known: the witness signature is ignored.
            let v = ns.verifier().unwrap();
            assert_eq!(
                open_checkpoint(&note, std::slice::from_ref(&v)).unwrap(),
                cp
            );
            let opened = open_note(&note, std::slice::from_ref(&v)).unwrap();
            assert_eq!((opened.verified.len(), opened.unverified.len()), (1, 1));
            // Same name, different key with the same ID cannot exist by construction; a
            // verifier with a wrong key but matching name+id rejects the note.
            let wrong_key = FileSigner::generate(alg).unwrap().public_key().unwrap();
            let impostor = NoteVerifier::new("log.example", ns.key_id(), wrong_key).unwrap();
            assert!(matches!(
                open_checkpoint(&note, &[impostor]),
                Err(TlogError::InvalidSignature { .. })
            ));
            if alg == SignatureAlgorithm::Ed25519 {
                let vkey = v.to_vkey().unwrap();
                if rule == KeyIdRule::C2sp {
                    let parsed = NoteVerifier::from_vkey(&vkey).unwrap();
                    assert_eq!(parsed.public_key().spki_der(), v.public_key().spki_der());
                    assert_eq!(parsed, v);
                } else {
                    // A Rekor-v1-style ID is not the C2SP ID, so the vkey is inconsistent.
                    assert!(NoteVerifier::from_vkey(&vkey).is_err());
                }
            } else {
                assert!(v.to_vkey().is_err());
            }
        }
    }
}

#[test]
fn key_names_are_checked() {
    let signer: Arc<dyn Signer> =
        Arc::new(FileSigner::generate(SignatureAlgorithm::Ed25519).unwrap());
    for bad in ["", "has space", "plus+sign", "tab\tname"] {
        assert!(matches!(
            NoteSigner::new(bad, Arc::clone(&signer), KeyIdRule::C2sp),
            Err(TlogError::InvalidKeyName(_))
        ));
    }
    // Rekor v1 origins contain spaces, but key names never do.
    let cp = Checkpoint::new("rekor.example - 123", 1, leaf_hash(b"a"));
    let ns = NoteSigner::new("rekor.example", signer, KeyIdRule::RekorV1).unwrap();
    let note = sign_checkpoint(&cp, &[&ns]).unwrap();
    assert_eq!(
        open_checkpoint(&note, &[ns.verifier().unwrap()])
            .unwrap()
            .origin,
        "rekor.example - 123"
    );
    assert!(sign_checkpoint(&Checkpoint::new("two\nlines", 1, leaf_hash(b"a")), &[&ns]).is_err());
}
