//! The token builder.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{GeneralizedTime, Int, ObjectIdentifier, OctetString, SetOfVec};
use der::flagset::FlagSet;
use der::{Any, Decode, Encode, EncodeValue, Tagged};
use sigstack_keys::{SignatureAlgorithm, Signer};
use x509_cert::Certificate;
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use crate::{
    Accuracy, EssCertIdV2, HashAlgorithm, ID_AA_SIGNING_CERTIFICATE_V2, ID_CONTENT_TYPE,
    ID_CT_TST_INFO, ID_KP_TIME_STAMPING, ID_MESSAGE_DIGEST, ID_SIGNED_DATA, ID_SIGNING_TIME,
    IssuerSerial, PkiFailureInfo, PkiStatus, PkiStatusInfo, SIGSTORE_TSA_POLICY,
    SigningCertificateV2, TimeStampResp, TspError, TstInfo, VerifiedRequest,
};

/// A timestamp authority: a signing key, its certificate chain and its policy.
///
/// Tokens are CMS `SignedData` v3 over a DER `TSTInfo`, with one `SignerInfo` (sid =
/// issuerAndSerialNumber of the leaf), digest SHA-256 for a P-256 key, SHA-384 for P-384 and
/// SHA-512 for Ed25519 (RFC 8419), and the signed attributes contentType, signingTime,
/// messageDigest and signingCertificateV2 (an `ESSCertIDv2` over the leaf with SHA-256 and
/// issuerSerial).
#[derive(Clone, Debug)]
pub struct TimestampAuthority {
    signer: Arc<dyn Signer>,
    chain: Vec<Certificate>,
    embedded: Vec<Certificate>,
    policy: ObjectIdentifier,
    accepted_policies: Vec<ObjectIdentifier>,
    accuracy: Option<Accuracy>,
    digest: HashAlgorithm,
    signer_id: SignerIdentifier,
    signing_certificate: SigningCertificateV2,
    tsa_name: GeneralName,
}

impl TimestampAuthority {
    /// A TSA signing with `signer`, certified by `chain` (leaf first, then intermediates,
    /// optionally the root last). Policy [`SIGSTORE_TSA_POLICY`], accuracy one second.
    ///
    /// # Errors
    /// [`TspError::Certificate`] for an empty chain or a leaf without the critical
    /// `id-kp-timeStamping`-only extended key usage RFC 3161 §2.3 requires,
    /// [`TspError::KeyMismatch`] when the leaf does not certify `signer`, and
    /// [`TspError::UnsupportedKey`] for key types without a CMS profile here.
    pub fn new(signer: Arc<dyn Signer>, chain: Vec<Certificate>) -> Result<Self, TspError> {
        let leaf = chain
            .first()
            .ok_or_else(|| TspError::Certificate("empty certificate chain".into()))?;
        let tbs = leaf.tbs_certificate();
        let leaf_spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(TspError::Encoding)?;
        if leaf_spki != signer.public_key_der() {
            return Err(TspError::KeyMismatch);
        }
        match tbs.get_extension::<ExtendedKeyUsage>() {
            Ok(Some((true, eku))) if eku.0 == [ID_KP_TIME_STAMPING] => {}
            Ok(_) => {
                return Err(TspError::Certificate(
                    "leaf needs a critical extended key usage of only id-kp-timeStamping".into(),
                ));
            }
            Err(e) => return Err(TspError::Certificate(format!("extended key usage: {e}"))),
        }
        let digest = match signer.algorithm() {
            SignatureAlgorithm::EcdsaP256Sha256 => HashAlgorithm::Sha256,
            SignatureAlgorithm::EcdsaP384Sha384 => HashAlgorithm::Sha384,
            SignatureAlgorithm::Ed25519 => HashAlgorithm::Sha512,
            other => return Err(TspError::UnsupportedKey(format!("{other:?}"))),
        };
        let leaf_der = leaf.to_der().map_err(TspError::Encoding)?;
        let signing_certificate = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                // SHA-256 is the DEFAULT, which DER omits.
                hash_algorithm: None,
                cert_hash: OctetString::new(sigstack_keys::sha256(&leaf_der).to_vec())
                    .map_err(TspError::Encoding)?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                    serial_number: tbs.serial_number().clone(),
                }),
            }],
            policies: None,
        };
        let signer_id = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        });
        let tsa_name = GeneralName::DirectoryName(tbs.subject().clone());
        // Tokens carry the leaf and intermediates; a trailing self-signed root is left to the
        // verifier's trust store (as the sigstore TSA does).
        let mut embedded = chain.clone();
        if embedded.len() > 1
            && embedded.last().is_some_and(|root| {
                root.tbs_certificate().subject() == root.tbs_certificate().issuer()
            })
        {
            embedded.pop();
        }
        Ok(Self {
            signer,
            chain,
            embedded,
            policy: SIGSTORE_TSA_POLICY,
            accepted_policies: vec![SIGSTORE_TSA_POLICY],
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            digest,
            signer_id,
            signing_certificate,
            tsa_name,
        })
    }

    /// Use `policy` as the default policy (it is also accepted when requested).
    #[must_use]
    pub fn with_policy(mut self, policy: ObjectIdentifier) -> Self {
        self.policy = policy;
        if !self.accepted_policies.contains(&policy) {
            self.accepted_policies.push(policy);
        }
        self
    }

    /// Also honour `policy` when a request asks for it.
    #[must_use]
    pub fn with_accepted_policy(mut self, policy: ObjectIdentifier) -> Self {
        if !self.accepted_policies.contains(&policy) {
            self.accepted_policies.push(policy);
        }
        self
    }

    /// Set (or with `None`, omit) the accuracy stated in tokens.
    #[must_use]
    pub fn with_accuracy(mut self, accuracy: Option<Accuracy>) -> Self {
        self.accuracy = accuracy;
        self
    }

    /// The default policy.
    #[must_use]
    pub fn policy(&self) -> ObjectIdentifier {
        self.policy
    }

    /// The certificate chain, leaf first.
    #[must_use]
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// Issue a token for `request` at `now` with serial number `serial` and return the DER
    /// `TimeStampResp` (status granted).
    ///
    /// `genTime` and signingTime are `now` truncated to whole seconds. The policy is the
    /// request's `reqPolicy` when this TSA accepts it, otherwise the default policy. The nonce
    /// is echoed when present; the certificates (leaf and intermediates) are included only when
    /// the request sets `certReq`.
    ///
    /// # Errors
    /// [`TspError::Time`] when `now` cannot be encoded, [`TspError::Signing`] when the signer
    /// fails, [`TspError::Encoding`] on encoding failures.
    pub fn timestamp(
        &self,
        request: &VerifiedRequest,
        now: SystemTime,
        serial: &SerialNumber,
    ) -> Result<Vec<u8>, TspError> {
        let seconds = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|_| TspError::Time)?;
        let whole = Duration::from_secs(seconds.as_secs());
        let gen_time = GeneralizedTime::from_unix_duration(whole).map_err(|_| TspError::Time)?;
        let signing_time =
            Time::try_from(SystemTime::UNIX_EPOCH + whole).map_err(|_| TspError::Time)?;
        let policy = request
            .req_policy()
            .filter(|p| self.accepted_policies.contains(p))
            .unwrap_or(self.policy);
        let tst_info = TstInfo {
            version: 1,
            policy,
            message_imprint: request.message_imprint().clone(),
            serial_number: Int::from_der(&serial.to_der().map_err(TspError::Encoding)?)
                .map_err(TspError::Encoding)?,
            gen_time,
            accuracy: self.accuracy,
            ordering: false,
            nonce: request.nonce().cloned(),
            tsa: Some(self.tsa_name.clone()),
            extensions: None,
        };
        let tst_der = tst_info.to_der().map_err(TspError::Encoding)?;
        let signer_info = self.signer_info(&tst_der, signing_time)?;

        let certificates = if request.cert_req() {
            let choices: Vec<_> = self
                .embedded
                .iter()
                .cloned()
                .map(CertificateChoices::Certificate)
                .collect();
            Some(CertificateSet::try_from(choices).map_err(TspError::Encoding)?)
        } else {
            None
        };
        let signed_data = SignedData {
            // RFC 5652 §5.1: version 3 because eContentType is not id-data.
            version: CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![self.digest.identifier()])
                .map_err(TspError::Encoding)?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_CT_TST_INFO,
                econtent: Some(any_of(
                    &OctetString::new(tst_der).map_err(TspError::Encoding)?,
                )?),
            },
            certificates,
            crls: None,
            signer_infos: SignerInfos::try_from(vec![signer_info]).map_err(TspError::Encoding)?,
        };
        let response = TimeStampResp {
            status: PkiStatusInfo {
                status: PkiStatus::Granted,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: Some(ContentInfo {
                content_type: ID_SIGNED_DATA,
                content: any_of(&signed_data)?,
            }),
        };
        response.to_der().map_err(TspError::Encoding)
    }

    /// The SignerInfo over `tst_der`: signed attributes, then the signature over their DER
    /// `SET OF` encoding (RFC 5652 §5.4).
    fn signer_info(&self, tst_der: &[u8], signing_time: Time) -> Result<SignerInfo, TspError> {
        let message_digest =
            OctetString::new(self.digest.digest(tst_der)).map_err(TspError::Encoding)?;
        let signed_attrs: Attributes = SetOfVec::try_from(vec![
            attribute(ID_CONTENT_TYPE, &ID_CT_TST_INFO)?,
            attribute(ID_SIGNING_TIME, &signing_time)?,
            attribute(ID_MESSAGE_DIGEST, &message_digest)?,
            attribute(ID_AA_SIGNING_CERTIFICATE_V2, &self.signing_certificate)?,
        ])
        .map_err(TspError::Encoding)?;
        let to_sign = signed_attrs.to_der().map_err(TspError::Encoding)?;
        let signature = self.signer.sign(&to_sign).map_err(TspError::Signing)?;
        Ok(SignerInfo {
            // RFC 5652 §5.3: version 1 with an issuerAndSerialNumber sid.
            version: CmsVersion::V1,
            sid: self.signer_id.clone(),
            digest_alg: self.digest.identifier(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: self.signer.algorithm().signature_algorithm_identifier(),
            signature: OctetString::new(signature).map_err(TspError::Encoding)?,
            unsigned_attrs: None,
        })
    }
}

/// A DER `TimeStampResp` with status rejection, `failure` bits and an optional explanation.
///
/// # Errors
/// Fails only on encoding errors.
pub fn rejection_response(
    failure: FlagSet<PkiFailureInfo>,
    status_text: &str,
) -> Result<Vec<u8>, TspError> {
    let response = TimeStampResp {
        status: PkiStatusInfo {
            status: PkiStatus::Rejection,
            status_string: (!status_text.is_empty()).then(|| vec![status_text.to_string()]),
            fail_info: Some(failure),
        },
        time_stamp_token: None,
    };
    response.to_der().map_err(TspError::Encoding)
}

/// An attribute with a single value.
fn attribute<T: Tagged + EncodeValue>(
    oid: ObjectIdentifier,
    value: &T,
) -> Result<Attribute, TspError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![any_of(value)?]).map_err(TspError::Encoding)?,
    })
}

fn any_of<T: Tagged + EncodeValue>(value: &T) -> Result<Any, TspError> {
    Any::encode_from(value).map_err(TspError::Encoding)
}
