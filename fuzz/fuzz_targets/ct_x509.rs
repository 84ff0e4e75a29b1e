//! The X.509 side of CT on untrusted DER (sigstack-ct): `tbs_without_extension` (what the log
//! does to every `add-pre-chain` TBSCertificate) and `embedded_scts` / `is_precertificate` on
//! parsed certificates.
//!
//! Invariants:
//! - never panics;
//! - removing an extension is idempotent, never lengthens the TBS, and leaves a TBS that does
//!   not even contain the extension's OID bytes unchanged ("all other bytes unchanged");
//! - every SCT embedded in a certificate re-encodes to itself, and `sct_list_extension` of
//!   the embedded SCTs rebuilds the certificate's extension value byte for byte;
//! - removing the SCT list from a certificate's TBS leaves a TBS without SCTs.
#![no_main]

use der::{Decode as _, Encode as _};
use libfuzzer_sys::fuzz_target;
use sigstack_ct::{
    POISON_OID, SCT_LIST_OID, SignedCertificateTimestamp, embedded_scts, is_precertificate,
    sct_list_extension, tbs_without_extension,
};
use x509_cert::Certificate;

fn oid_tlv(oid: &der::asn1::ObjectIdentifier) -> Vec<u8> {
    oid.to_der().expect("OID DER")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    for oid in [POISON_OID, SCT_LIST_OID] {
        if let Ok(out) = tbs_without_extension(data, oid) {
            assert!(
                out.len() <= data.len(),
                "removing an extension grew the TBS"
            );
            assert_eq!(
                tbs_without_extension(&out, oid).expect("output is a TBS"),
                out,
                "removal is not idempotent"
            );
            if !contains(data, &oid_tlv(&oid)) {
                assert_eq!(out, data, "a TBS without {oid} must come back unchanged");
            }
        }
    }

    let Ok(cert) = Certificate::from_der(data) else {
        return;
    };
    let _ = is_precertificate(&cert);
    if let Ok(scts) = embedded_scts(&cert) {
        for sct in &scts {
            let tls = sct.to_tls().expect("re-encode");
            assert_eq!(
                &SignedCertificateTimestamp::from_tls(&tls).expect("re-parse"),
                sct
            );
        }
        let original = cert
            .tbs_certificate()
            .extensions()
            .into_iter()
            .flatten()
            .find(|e| e.extn_id == SCT_LIST_OID);
        if let Some(original) = original {
            let rebuilt = sct_list_extension(&scts).expect("embedded SCTs re-encode");
            assert_eq!(
                rebuilt.extn_value.as_bytes(),
                original.extn_value.as_bytes(),
                "SCT list extension round trip"
            );
        }
        if let Ok(tbs) = cert.tbs_certificate().to_der()
            && let Ok(stripped) = tbs_without_extension(&tbs, SCT_LIST_OID)
            && let Ok(stripped) = x509_cert::TbsCertificate::from_der(&stripped)
        {
            assert!(
                stripped
                    .extensions()
                    .into_iter()
                    .flatten()
                    .all(|e| e.extn_id != SCT_LIST_OID)
            );
        }
    }
});
