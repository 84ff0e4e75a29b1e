//! PKCS#11 signing against a real SoftHSM2 token created for this test run.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` when the module is initialised, and a process initialises a
//! module once, so the test creates a fresh token directory and then re-runs itself in a child
//! process with `SOFTHSM2_CONF` pointing there (the environment of a running test process is
//! not changed). The test is skipped, with a printed reason, only when softhsm2 is not
//! installed; `.ci/run` installs it.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use sigstack_keys::{
    Crypto11Config, KeyError, KeySource, Pkcs11Key, Pkcs11Signer, PublicKey, SecretSource,
    SignatureAlgorithm, Signer, TokenSelector, read_certificate, write_certificate,
};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "sigstack-keys-test";
const USER_PIN: &str = "4242-user";
const CHILD_MARKER: &str = "SIGSTACK_SOFTHSM_TEST_DIR";

#[test]
fn softhsm_signers() {
    if !Path::new(MODULE).exists()
        || Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_err()
    {
        eprintln!("SKIPPED softhsm_signers: softhsm2 is not installed (apt-get install softhsm2)");
        return;
    }
    match std::env::var_os(CHILD_MARKER) {
        None => run_in_child(),
        Some(dir) => exercise_token(Path::new(&dir)),
    }
}

/// Create a token in a temporary directory and run this test again with SoftHSM2 pointed at it.
fn run_in_child() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let init = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", TOKEN])
        .args(["--so-pin", "4242-so", "--pin", USER_PIN])
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    std::fs::write(dir.path().join("pin"), format!("{USER_PIN}\n")).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "softhsm_signers",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD_MARKER, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(child.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "child ran nothing:\n{stdout}");
}

fn key(dir: &Path, label: &str) -> Pkcs11Key {
    Pkcs11Key {
        module: MODULE.into(),
        token: TokenSelector::Label(TOKEN.into()),
        key_label: label.into(),
        pin: SecretSource::File(dir.join("pin")),
    }
}

fn exercise_token(dir: &Path) {
    // Keys generated through PKCS#11 itself, one per algorithm, sign what verifies.
    for (label, algorithm) in [
        ("p256", SignatureAlgorithm::EcdsaP256Sha256),
        ("p384", SignatureAlgorithm::EcdsaP384Sha384),
        ("ed25519", SignatureAlgorithm::Ed25519),
    ] {
        let config = key(dir, label);
        let signer = Pkcs11Signer::generate(&config, algorithm).unwrap();
        assert_eq!(signer.algorithm(), algorithm);
        let public = PublicKey::from_spki_der(signer.public_key_der()).unwrap();
        assert_eq!(public.algorithm(), algorithm);
        let signature = signer.sign(b"signed on the token").unwrap();
        public.verify(b"signed on the token", &signature).unwrap();
        assert!(matches!(
            public.verify(b"something else", &signature),
            Err(KeyError::BadSignature)
        ));
        // The same key through the configuration text form.
        let source: KeySource = format!(
            "pkcs11:token={TOKEN};object={label}?module-path={MODULE}&pin-source={}",
            dir.join("pin").display()
        )
        .parse()
        .unwrap();
        let reopened = source.open().unwrap();
        assert_eq!(reopened.public_key_der(), signer.public_key_der());
        public
            .verify(b"again", &reopened.sign(b"again").unwrap())
            .unwrap();
        // A second key with the same label is refused.
        assert!(Pkcs11Signer::generate(&config, algorithm).is_err());
    }

    // Fulcio's crypto11 configuration file reaches the same token and keys, by label, serial
    // number or slot, with the PIN from the file.
    let slot_and_serial = {
        let ctx = cryptoki::context::Pkcs11::new(MODULE).unwrap();
        let _ = ctx.initialize(cryptoki::context::CInitializeArgs::new(
            cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
        ));
        ctx.get_slots_with_token()
            .unwrap()
            .into_iter()
            .find_map(|s| {
                let info = ctx.get_token_info(s).unwrap();
                (info.label().trim_end() == TOKEN)
                    .then(|| (s.id(), info.serial_number().trim_end().to_string()))
            })
            .unwrap()
    };
    let (slot_id, serial) = slot_and_serial;
    let p384 = Pkcs11Signer::open(&key(dir, "p384")).unwrap();
    for selector in [
        format!(r#""TokenLabel": "{TOKEN}""#),
        format!(r#""TokenSerial": "{serial}""#),
        format!(r#""SlotNumber": {slot_id}"#),
    ] {
        let file = dir.join("crypto11.conf");
        std::fs::write(
            &file,
            format!(r#"{{"Path": "{MODULE}", {selector}, "Pin": "{USER_PIN}"}}"#),
        )
        .unwrap();
        let config = Crypto11Config::load(&file).unwrap();
        let source = KeySource::Pkcs11(config.key("p384"));
        let opened = source.open().unwrap();
        assert_eq!(opened.public_key_der(), p384.public_key_der(), "{selector}");
        p384.public_key()
            .unwrap()
            .verify(b"c11", &opened.sign(b"c11").unwrap())
            .unwrap();
        // The text form round-trips, PIN source included.
        assert_eq!(source.to_string().parse::<KeySource>().unwrap(), source);
    }
    let file = dir.join("crypto11-wrong.conf");
    std::fs::write(
        &file,
        format!(r#"{{"Path": "{MODULE}", "TokenLabel": "fulcio", "Pin": "{USER_PIN}"}}"#),
    )
    .unwrap();
    let err = Pkcs11Signer::open(&Crypto11Config::load(&file).unwrap().key("p384")).unwrap_err();
    assert!(
        matches!(&err, KeyError::Unavailable(m) if m.contains("no PKCS#11 token labelled \"fulcio\"")),
        "{err}"
    );

    // A certificate stored under a CKA_ID is found by that ID, and only once.
    let cert_key = key(dir, "p384");
    assert_eq!(read_certificate(&cert_key, b"99").unwrap(), None);
    let fake_der = b"\x30\x03\x02\x01\x01".to_vec();
    write_certificate(&cert_key, b"99", &fake_der, b"\x30\x00").unwrap();
    assert_eq!(read_certificate(&cert_key, b"99").unwrap(), Some(fake_der));
    assert_eq!(read_certificate(&cert_key, b"98").unwrap(), None);
    let err = write_certificate(&cert_key, b"99", b"\x30\x00", b"\x30\x00").unwrap_err();
    assert!(
        err.to_string().contains("already holds a certificate"),
        "{err}"
    );

    // The private keys cannot be read out of the token.
    let ctx = cryptoki::context::Pkcs11::new(MODULE).unwrap();
    let _ = ctx.initialize(cryptoki::context::CInitializeArgs::new(
        cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
    ));
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label() == TOKEN)
        .unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    let pin = cryptoki::types::AuthPin::from(USER_PIN.to_string());
    let _ = session.login(cryptoki::session::UserType::User, Some(&pin));
    let private = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"p256".to_vec()),
        ])
        .unwrap();
    let flags = session
        .get_attributes(
            private[0],
            &[AttributeType::Sensitive, AttributeType::Extractable],
        )
        .unwrap();
    assert!(flags.contains(&Attribute::Sensitive(true)), "{flags:?}");
    assert!(flags.contains(&Attribute::Extractable(false)), "{flags:?}");
    let value = session.get_attributes(private[0], &[AttributeType::Value]);
    assert!(
        !matches!(&value, Ok(v) if v.iter().any(|a| matches!(a, Attribute::Value(_)))),
        "private key value readable: {value:?}"
    );

    // Startup errors name what is wrong.
    let err = Pkcs11Signer::open(&Pkcs11Key {
        token: TokenSelector::Label("no-such-token".into()),
        ..key(dir, "p256")
    })
    .unwrap_err();
    assert!(
        matches!(&err, KeyError::Unavailable(m) if m.contains("no PKCS#11 token labelled")),
        "{err}"
    );
    let err = Pkcs11Signer::open(&key(dir, "no-such-key")).unwrap_err();
    assert!(
        matches!(&err, KeyError::Unavailable(m) if m.contains("no-such-key")),
        "{err}"
    );
    let err = Pkcs11Signer::open(&Pkcs11Key {
        module: "/nonexistent/libpkcs11.so".into(),
        ..key(dir, "p256")
    })
    .unwrap_err();
    assert!(matches!(err, KeyError::Unavailable(_)), "{err}");

    // Logged out behind the signer's back: the next signature logs in again and succeeds.
    let signer = Pkcs11Signer::open(&key(dir, "p384")).unwrap();
    session.logout().unwrap();
    let public = signer.public_key().unwrap();
    public
        .verify(b"after logout", &signer.sign(b"after logout").unwrap())
        .unwrap();

    // Logged out and the PIN no longer accepted (a locked token): signing reports the key
    // unavailable, which services answer with 503.
    session.logout().unwrap();
    std::fs::write(dir.join("pin"), "not-the-pin\n").unwrap();
    let err = signer.sign(b"locked").unwrap_err();
    assert!(matches!(err, KeyError::Unavailable(_)), "{err}");
    let err = Pkcs11Signer::open(&key(dir, "p384")).unwrap_err();
    assert!(
        matches!(&err, KeyError::Unavailable(m) if m.contains("refused the PIN")),
        "{err}"
    );
    // The PIN is back: the same signer recovers.
    std::fs::write(dir.join("pin"), format!("{USER_PIN}\n")).unwrap();
    public
        .verify(b"recovered", &signer.sign(b"recovered").unwrap())
        .unwrap();
}
