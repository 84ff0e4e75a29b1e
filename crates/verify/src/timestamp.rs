//! RFC 3161 timestamps in a bundle: each one is a DER `TimeStampResp` over the signature bytes,
//! signed by a timestamp authority of the trusted root.

use cms::signed_data::SignerIdentifier;
use der::Decode;
use sigstack_tsp::{HashAlgorithm, TimeStampResp};
use x509_cert::ext::pkix::ExtendedKeyUsage;

use crate::VerifyError;
use crate::cert::{check_signed_by, validity};
use crate::root::TrustedAuthority;

/// Verify one timestamp over `signature` and return its `genTime` (Unix seconds).
///
/// Checks: the response is granted and its token is CMS-signed by the leaf of a trusted TSA
/// (named by issuer and serial), the leaf has the critical time-stamping EKU, the trusted chain
/// links verify, the imprint is the hash of `signature`, and `genTime` lies inside the TSA's
/// validFor window and every chain certificate's validity.
pub(crate) fn verify_timestamp(
    unverified_der: &[u8],
    signature: &[u8],
    authorities: &[TrustedAuthority],
) -> Result<i64, VerifyError> {
    let bad = |m: String| VerifyError::Timestamp(m);
    let response = TimeStampResp::from_der(unverified_der)
        .map_err(|e| bad(format!("not a TimeStampResp: {e}")))?;
    let signed_data = response.signed_data().map_err(|e| bad(e.to_string()))?;
    let [signer_info] = signed_data.signer_infos.0.as_slice() else {
        return Err(bad("expected exactly one SignerInfo".into()));
    };
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer_info.sid else {
        return Err(bad(
            "the SignerInfo does not name its certificate by issuer and serial".into(),
        ));
    };
    let authority = authorities
        .iter()
        .find(|a| {
            a.chain.first().is_some_and(|leaf| {
                let tbs = leaf.tbs_certificate();
                *tbs.issuer() == sid.issuer && *tbs.serial_number() == sid.serial_number
            })
        })
        .ok_or_else(|| bad("no trusted timestamp authority signed this token".into()))?;
    let leaf = &authority.chain[0];
    let tst_info = response
        .verify_signature(leaf)
        .map_err(|e| bad(e.to_string()))?;
    match leaf.tbs_certificate().get_extension::<ExtendedKeyUsage>() {
        Ok(Some((true, eku))) if eku.0 == [sigstack_tsp::ID_KP_TIME_STAMPING] => {}
        _ => {
            return Err(bad(
                "the TSA certificate lacks a critical id-kp-timeStamping EKU".into(),
            ));
        }
    }
    for pair in authority.chain.windows(2) {
        check_signed_by(&pair[0], &pair[1]).map_err(|e| bad(format!("TSA chain: {e}")))?;
    }
    let imprint = &tst_info.message_imprint;
    let algorithm = HashAlgorithm::from_oid(imprint.hash_algorithm.oid)
        .ok_or_else(|| bad(format!("imprint hash {}", imprint.hash_algorithm.oid)))?;
    if imprint.hashed_message.as_bytes() != algorithm.digest(signature).as_slice() {
        return Err(bad("the token does not timestamp this signature".into()));
    }
    let gen_time = i64::try_from(tst_info.gen_time.to_unix_duration().as_secs())
        .map_err(|_| bad("genTime out of range".into()))?;
    if !authority.valid_for.contains(gen_time) {
        return Err(bad(format!(
            "genTime {gen_time} is outside the TSA's validFor window"
        )));
    }
    for cert in &authority.chain {
        let (not_before, not_after) = validity(cert);
        if gen_time < not_before || gen_time > not_after {
            return Err(bad(format!(
                "genTime {gen_time} is outside the TSA certificate validity {not_before}..{not_after}"
            )));
        }
    }
    Ok(gen_time)
}
