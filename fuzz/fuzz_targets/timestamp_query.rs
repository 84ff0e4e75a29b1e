//! `VerifiedRequest::from_der` on untrusted RFC 3161 `TimeStampReq` DER (sigstack-tsp), the
//! token the TSA issues for every accepted request, and `TimeStampResp` parsing.
//!
//! Invariants:
//! - never panics;
//! - the parse is strict DER, so the checked fields re-encode to exactly the input;
//! - the imprint length matches the hash algorithm;
//! - every accepted request gets a token (P-256 TSA, self-signed time-stamping certificate)
//!   whose signature verifies, whose TSTInfo carries the request's imprint and nonce, and which
//!   embeds the certificate exactly when `certReq` is set;
//! - an accepted `TimeStampResp` re-encodes to the input, and its signature never verifies
//!   under the fuzz TSA certificate (that would be a forgery).
#![no_main]

use std::sync::{Arc, LazyLock};

use der::{Decode as _, Encode as _};
use libfuzzer_sys::fuzz_target;
use sigstack_keys::SignatureAlgorithm;
use sigstack_tsp::{
    ID_KP_TIME_STAMPING, TimeStampReq, TimeStampResp, TimestampAuthority, VerifiedRequest,
};
use x509_cert::Certificate;
use x509_cert::serial_number::SerialNumber;

struct Tsa {
    authority: TimestampAuthority,
    leaf: Certificate,
    serial: SerialNumber,
}

static TSA: LazyLock<Tsa> = LazyLock::new(|| {
    let signer = sigstack_fuzz::signer(SignatureAlgorithm::EcdsaP256Sha256);
    let leaf = sigstack_fuzz::self_signed(
        signer.as_ref(),
        "fuzz tsa",
        vec![sigstack_pki::extended_key_usage(&[ID_KP_TIME_STAMPING], true).expect("eku")],
    );
    let authority =
        TimestampAuthority::new(Arc::clone(&signer), vec![leaf.clone()]).expect("authority");
    Tsa {
        authority,
        leaf,
        serial: SerialNumber::new(&[0x5e, 0xed]).expect("serial"),
    }
});

fuzz_target!(|data: &[u8]| {
    let tsa = &*TSA;

    if let Ok(request) = VerifiedRequest::from_der(data) {
        let again = TimeStampReq {
            version: 1,
            message_imprint: request.message_imprint().clone(),
            req_policy: request.req_policy(),
            nonce: request.nonce().cloned(),
            cert_req: request.cert_req(),
            extensions: None,
        };
        assert_eq!(
            again.to_der().expect("re-encode"),
            data,
            "strict DER round trip"
        );
        assert_eq!(
            request.message_imprint().hashed_message.as_bytes().len(),
            request.algorithm().output_len()
        );

        let reply = tsa
            .authority
            .timestamp(&request, sigstack_fuzz::fixed_now(), &tsa.serial)
            .expect("every verified request gets a token");
        let response = TimeStampResp::from_der(&reply).expect("own response parses");
        let tst = response
            .verify_signature(&tsa.leaf)
            .expect("own token verifies");
        assert_eq!(&tst.message_imprint, request.message_imprint());
        assert_eq!(tst.nonce.as_ref(), request.nonce());
        let certs = response
            .signed_data()
            .expect("SignedData")
            .certificates
            .map_or(0, |c| c.0.len());
        assert_eq!(certs > 0, request.cert_req());
    }

    if let Ok(response) = TimeStampResp::from_der(data) {
        assert_eq!(
            response.to_der().expect("re-encode"),
            data,
            "response round trip"
        );
        let _ = response.tst_info();
        assert!(
            response.verify_signature(&tsa.leaf).is_err(),
            "a foreign response verified under the fuzz TSA key"
        );
    }
});
