//! Reading tokens back out of responses, and checking a token's CMS signature.

use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode};
use sigstack_keys::{PublicKey, SignatureAlgorithm};
use x509_cert::Certificate;
use x509_cert::attr::Attributes;

use crate::{
    HashAlgorithm, ID_CONTENT_TYPE, ID_CT_TST_INFO, ID_MESSAGE_DIGEST, ID_SIGNED_DATA, PkiStatus,
    TimeStampResp, TspError, TstInfo,
};

impl TimeStampResp {
    /// The `SignedData` of the token.
    ///
    /// # Errors
    /// [`TspError::InvalidToken`] when there is no token or it is not DER `SignedData`.
    pub fn signed_data(&self) -> Result<SignedData, TspError> {
        let token = self
            .time_stamp_token
            .as_ref()
            .ok_or_else(|| invalid("the response holds no time-stamp token"))?;
        if token.content_type != ID_SIGNED_DATA {
            return Err(invalid(format!(
                "content type {} is not signedData",
                token.content_type
            )));
        }
        token
            .content
            .decode_as::<SignedData>()
            .map_err(|e| invalid(format!("SignedData: {e}")))
    }

    /// The DER `TSTInfo` the token signs (the eContent OCTET STRING's value).
    ///
    /// # Errors
    /// [`TspError::InvalidToken`] when the token does not encapsulate a `TSTInfo`.
    pub fn tst_info_der(&self) -> Result<Vec<u8>, TspError> {
        let encap = self.signed_data()?.encap_content_info;
        if encap.econtent_type != ID_CT_TST_INFO {
            return Err(invalid(format!(
                "eContentType {} is not id-ct-TSTInfo",
                encap.econtent_type
            )));
        }
        let econtent = encap
            .econtent
            .ok_or_else(|| invalid("the token has no eContent"))?;
        let octets = econtent
            .decode_as::<OctetString>()
            .map_err(|e| invalid(format!("eContent: {e}")))?;
        Ok(octets.into_bytes().into_vec())
    }

    /// The decoded `TSTInfo` (not verified).
    ///
    /// # Errors
    /// [`TspError::InvalidToken`] when the token or its `TSTInfo` is malformed.
    pub fn tst_info(&self) -> Result<TstInfo, TspError> {
        TstInfo::from_der(&self.tst_info_der()?).map_err(|e| invalid(format!("TSTInfo: {e}")))
    }

    /// Check that the response is granted and that its token was signed by `signer_cert`'s key:
    /// exactly one SignerInfo naming `signer_cert` by issuer and serial, signed attributes with
    /// contentType id-ct-TSTInfo and a messageDigest matching the `TSTInfo`, and a valid
    /// signature over the DER `SET OF` signed attributes. Returns the `TSTInfo`.
    ///
    /// This does not validate the certificate chain, EKU, ESS attribute or the imprint; it
    /// supports the digest matching the key (SHA-256 with P-256, SHA-384 with P-384, SHA-512
    /// with Ed25519).
    ///
    /// # Errors
    /// [`TspError::InvalidToken`] for structural problems, [`TspError::UnsupportedKey`] for
    /// other key/digest pairs, [`TspError::BadSignature`] when the signature does not verify.
    pub fn verify_signature(&self, signer_cert: &Certificate) -> Result<TstInfo, TspError> {
        if !matches!(
            self.status.status,
            PkiStatus::Granted | PkiStatus::GrantedWithMods
        ) {
            return Err(invalid(format!("status is {:?}", self.status.status)));
        }
        let signed_data = self.signed_data()?;
        let tst_der = self.tst_info_der()?;
        let tst_info = TstInfo::from_der(&tst_der).map_err(|e| invalid(format!("TSTInfo: {e}")))?;
        let [signer_info] = signed_data.signer_infos.0.as_slice() else {
            return Err(invalid("expected exactly one SignerInfo"));
        };
        let tbs = signer_cert.tbs_certificate();
        match &signer_info.sid {
            SignerIdentifier::IssuerAndSerialNumber(sid)
                if sid.issuer == *tbs.issuer() && sid.serial_number == *tbs.serial_number() => {}
            _ => {
                return Err(invalid(
                    "the SignerInfo does not name the given certificate",
                ));
            }
        }
        let digest = HashAlgorithm::from_oid(signer_info.digest_alg.oid)
            .ok_or_else(|| invalid(format!("digest algorithm {}", signer_info.digest_alg.oid)))?;
        let attrs = signer_info
            .signed_attrs
            .as_ref()
            .ok_or_else(|| invalid("no signed attributes"))?;
        let content_type: ObjectIdentifier = single_value(attrs, ID_CONTENT_TYPE)?
            .decode_as()
            .map_err(|e| invalid(format!("contentType: {e}")))?;
        if content_type != ID_CT_TST_INFO {
            return Err(invalid("contentType attribute is not id-ct-TSTInfo"));
        }
        let message_digest: OctetString = single_value(attrs, ID_MESSAGE_DIGEST)?
            .decode_as()
            .map_err(|e| invalid(format!("messageDigest: {e}")))?;
        if message_digest.as_bytes() != digest.digest(&tst_der).as_slice() {
            return Err(invalid("messageDigest does not match the TSTInfo"));
        }
        let spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(TspError::Encoding)?;
        let key = PublicKey::from_spki_der(&spki).map_err(TspError::BadSignature)?;
        match (key.algorithm(), digest) {
            (SignatureAlgorithm::EcdsaP256Sha256, HashAlgorithm::Sha256)
            | (SignatureAlgorithm::EcdsaP384Sha384, HashAlgorithm::Sha384)
            | (SignatureAlgorithm::Ed25519, HashAlgorithm::Sha512) => {}
            (alg, digest) => {
                return Err(TspError::UnsupportedKey(format!(
                    "{alg:?} key with {digest} digest"
                )));
            }
        }
        let signed = attrs.to_der().map_err(TspError::Encoding)?;
        key.verify(&signed, signer_info.signature.as_bytes())
            .map_err(TspError::BadSignature)?;
        Ok(tst_info)
    }
}

/// The one value of the one attribute `oid` in `attrs`.
fn single_value(attrs: &Attributes, oid: ObjectIdentifier) -> Result<&Any, TspError> {
    let mut matching = attrs.iter().filter(|a| a.oid == oid);
    match (matching.next(), matching.next()) {
        (Some(attr), None) if attr.values.len() == 1 => attr
            .values
            .get(0)
            .ok_or_else(|| invalid(format!("attribute {oid} has no value"))),
        _ => Err(invalid(format!(
            "expected exactly one {oid} attribute with one value"
        ))),
    }
}

fn invalid(message: impl Into<String>) -> TspError {
    TspError::InvalidToken(message.into())
}
