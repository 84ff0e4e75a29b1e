//! Start-up validity checks of the TSA chain against the clock and the configured window, and
//! accuracy limits.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use sigstack_keys::SignatureAlgorithm;
use sigstack_tsp::{Accuracy, TimestampAuthority, TspError, ValidityWindow, check_accuracy};

fn authority(intermediate: bool) -> (TimestampAuthority, common::TestChain) {
    let chain = common::generate_chain(SignatureAlgorithm::EcdsaP256Sha256, intermediate, true);
    let tsa = TimestampAuthority::new(chain.leaf_signer.clone(), chain.chain.clone()).unwrap();
    (tsa, chain)
}

fn refused(result: Result<(), TspError>, needle: &str) {
    match result {
        Err(TspError::Certificate(message)) => {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
        other => panic!("expected a certificate error about {needle:?}, got {other:?}"),
    }
}

#[test]
fn chain_must_be_valid_now_and_cover_the_window() {
    for intermediate in [false, true] {
        let (tsa, _chain) = authority(intermediate);
        let now = SystemTime::now();
        let open = ValidityWindow::default();
        tsa.check_validity(now, &open).unwrap();
        // The leaf (valid one hour) has expired two hours from now; it is not yet valid before.
        refused(
            tsa.check_validity(now + Duration::from_secs(7200), &open),
            "expired",
        );
        refused(
            tsa.check_validity(now - Duration::from_secs(3600), &open),
            "not valid before",
        );
        // A window inside the leaf's validity is fine; one reaching past its expiry is not.
        let inside = ValidityWindow {
            not_before: Some(now - Duration::from_secs(30)),
            not_after: Some(now + Duration::from_secs(1800)),
        };
        tsa.check_validity(now, &inside).unwrap();
        refused(
            tsa.check_validity(
                now,
                &ValidityWindow {
                    not_before: Some(now - Duration::from_secs(30)),
                    not_after: Some(now + Duration::from_secs(86_400 * 30)),
                },
            ),
            "before the configured window ends",
        );
        // A window that began before the leaf: only the time from now on matters.
        tsa.check_validity(
            now,
            &ValidityWindow {
                not_before: Some(now - Duration::from_secs(86_400)),
                not_after: Some(now + Duration::from_secs(1800)),
            },
        )
        .unwrap();
        // Outside the window itself the TSA must not start.
        refused(
            tsa.check_validity(
                now,
                &ValidityWindow {
                    not_before: Some(now + Duration::from_secs(60)),
                    not_after: None,
                },
            ),
            "window starts",
        );
        refused(
            tsa.check_validity(
                now,
                &ValidityWindow {
                    not_before: None,
                    not_after: Some(now - Duration::from_secs(1)),
                },
            ),
            "window ended",
        );
    }
}

#[test]
fn leaf_outliving_its_issuer_is_refused() {
    use sigstack_keys::{FileSigner, Signer};
    use sigstack_pki::{CaSpec, CertificateAuthority, CertificateTemplate};
    use std::sync::Arc;
    use x509_cert::ext::pkix::KeyUsages;

    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now() - Duration::from_secs(60);
    let spec = CaSpec {
        organization: "sigstack-test".into(),
        root_common_name: "short root".into(),
        intermediate_common_name: None,
        algorithm: SignatureAlgorithm::EcdsaP384Sha384,
        intermediate_extended_key_usage: vec![],
        validity: Duration::from_secs(3600),
    };
    let ca = CertificateAuthority::load_or_create(dir.path(), &spec, now).unwrap();
    let signer: Arc<dyn Signer> =
        Arc::new(FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap());
    let leaf = CertificateTemplate {
        serial: sigstack_pki::random_serial(),
        subject: sigstack_pki::name("O=sigstack-test,CN=long leaf").unwrap(),
        issuer: ca.issuer().tbs_certificate().subject().clone(),
        not_before: now,
        not_after: now + Duration::from_secs(7200),
        subject_public_key_der: signer.public_key_der().to_vec(),
        extensions: vec![
            sigstack_pki::key_usage_set(KeyUsages::DigitalSignature.into()).unwrap(),
            sigstack_pki::extended_key_usage(&[sigstack_tsp::ID_KP_TIME_STAMPING], true).unwrap(),
            sigstack_pki::basic_constraints(false, None).unwrap(),
        ],
    }
    .issue(ca.signer.as_ref())
    .unwrap();
    let mut chain = vec![leaf];
    chain.extend(ca.chain.iter().cloned());
    let tsa = TimestampAuthority::new(signer, chain).unwrap();
    refused(
        tsa.check_validity(SystemTime::now(), &ValidityWindow::default()),
        "outside its issuer",
    );
}

#[test]
fn accuracy_limits() {
    let acc = |seconds, millis, micros| Accuracy {
        seconds,
        millis,
        micros,
    };
    check_accuracy(&acc(Some(1), None, None)).unwrap();
    check_accuracy(&acc(None, Some(500), Some(1))).unwrap();
    for bad in [
        acc(None, None, None),
        acc(Some(0), Some(0), None),
        acc(None, Some(1000), None),
        acc(None, None, Some(1000)),
    ] {
        assert!(
            matches!(check_accuracy(&bad), Err(TspError::InvalidAccuracy(_))),
            "{bad:?}"
        );
    }
}
