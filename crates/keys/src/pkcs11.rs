//! Keys on a PKCS#11 token (an HSM, or SoftHSM2 in tests), through the `cryptoki` crate.
//!
//! The private key never leaves the token: this process holds only an object handle, the
//! public key and a logged-in session. ECDSA messages are hashed here and the digest is signed
//! on the token with `CKM_ECDSA` (the raw `r || s` result is re-encoded as DER); Ed25519
//! messages are signed whole with `CKM_EDDSA`.
//!
//! A PKCS#11 module is initialised once per process (the standard forbids a second
//! `C_Initialize`), so contexts are shared by module path.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::{Decode, Encode};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};

use crate::{
    ID_EC_PUBLIC_KEY, ID_ED25519, KeyError, SECP256R1, SECP384R1, SecretSource, SignatureAlgorithm,
    Signer,
};

/// How the token holding a key is found among the module's slots.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSelector {
    /// The token's label (`CK_TOKEN_INFO.label`, trailing blanks ignored).
    Label(String),
    /// The token's serial number (`CK_TOKEN_INFO.serialNumber`, trailing blanks ignored).
    Serial(String),
    /// The slot's ID.
    Slot(u64),
}

impl std::fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Label(label) => write!(f, "token labelled {label:?}"),
            Self::Serial(serial) => write!(f, "token with serial number {serial:?}"),
            Self::Slot(slot) => write!(f, "token in slot {slot}"),
        }
    }
}

/// Which key on which token, and how to log in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11Key {
    /// Path of the PKCS#11 module (for SoftHSM2 on Debian: `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token holding the key.
    pub token: TokenSelector,
    /// `CKA_LABEL` of the private key and its public key.
    pub key_label: String,
    /// Where the user PIN comes from.
    pub pin: SecretSource,
}

/// A [`Signer`] whose private key stays on a PKCS#11 token.
pub struct Pkcs11Signer {
    config: Pkcs11Key,
    algorithm: SignatureAlgorithm,
    spki_der: Vec<u8>,
    /// The logged-in session and the private key's handle in it; reopened after token errors.
    session: Mutex<Option<(Session, ObjectHandle)>>,
}

impl Pkcs11Signer {
    /// Log in to the token and find the key labelled `config.key_label`.
    ///
    /// # Errors
    /// [`KeyError::Unavailable`] when the module, token or key cannot be reached or the PIN is
    /// refused; [`KeyError::UnsupportedKey`] for key types other than P-256, P-384, Ed25519.
    pub fn open(config: &Pkcs11Key) -> Result<Self, KeyError> {
        let (session, key) = login(config)?;
        let (algorithm, spki_der) = public_key(&session, config)?;
        Ok(Self {
            config: config.clone(),
            algorithm,
            spki_der,
            session: Mutex::new(Some((session, key))),
        })
    }

    /// Generate a key pair of `algorithm` on the token (private key sensitive and not
    /// extractable), labelled `config.key_label`, and open it.
    ///
    /// # Errors
    /// Fails when a key with that label exists already, or on token errors.
    pub fn generate(config: &Pkcs11Key, algorithm: SignatureAlgorithm) -> Result<Self, KeyError> {
        let (mechanism, params) = match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => (Mechanism::EccKeyPairGen, SECP256R1),
            SignatureAlgorithm::EcdsaP384Sha384 => (Mechanism::EccKeyPairGen, SECP384R1),
            SignatureAlgorithm::Ed25519 => (Mechanism::EccEdwardsKeyPairGen, ID_ED25519),
            other => {
                return Err(KeyError::UnsupportedKey(format!(
                    "{other:?} keys cannot be generated on a token"
                )));
            }
        };
        let params = params
            .to_der()
            .map_err(|e| KeyError::MalformedKey(e.to_string()))?;
        let session = open_session(config, true)?;
        let label = config.key_label.as_bytes().to_vec();
        let existing = session
            .find_objects(&[Attribute::Label(label.clone())])
            .map_err(|e| unavailable("C_FindObjects", &e))?;
        if !existing.is_empty() {
            return Err(KeyError::Signing(format!(
                "{} already holds an object labelled {:?}",
                config.token, config.key_label
            )));
        }
        let id = crate::sha256(config.key_label.as_bytes())[..8].to_vec();
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(params),
            Attribute::Label(label.clone()),
            Attribute::Id(id.clone()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label),
            Attribute::Id(id),
        ];
        session
            .generate_key_pair(&mechanism, &public_template, &private_template)
            .map_err(|e| unavailable("C_GenerateKeyPair", &e))?;
        drop(session);
        Self::open(config)
    }

    /// The configuration this signer was opened with.
    #[must_use]
    pub fn config(&self) -> &Pkcs11Key {
        &self.config
    }

    fn sign_once(&self, slot: &mut Option<(Session, ObjectHandle)>, message: &[u8]) -> SignResult {
        if slot.is_none() {
            match login(&self.config) {
                Ok(opened) => *slot = Some(opened),
                Err(e) => return SignResult::Failed(e),
            }
        }
        let Some((session, key)) = slot.as_ref() else {
            return SignResult::Failed(KeyError::Unavailable("no session".into()));
        };
        let result = match self.algorithm {
            SignatureAlgorithm::Ed25519 => session.sign(
                &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                *key,
                message,
            ),
            other => session.sign(&Mechanism::Ecdsa, *key, &other.digest(message)),
        };
        match result {
            Ok(raw) => SignResult::Done(raw),
            Err(e) if is_session_lost(&e) => SignResult::Retry(unavailable("C_Sign", &e)),
            Err(e) => SignResult::Failed(unavailable("C_Sign", &e)),
        }
    }
}

enum SignResult {
    Done(Vec<u8>),
    Retry(KeyError),
    Failed(KeyError),
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("token", &self.config.token)
            .field("key", &self.config.key_label)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Sign on the token. A lost session (token removed, logged out) is reopened once; if that
    /// fails the error is [`KeyError::Unavailable`].
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut slot = self
            .session
            .lock()
            .map_err(|_| KeyError::Signing("PKCS#11 session lock poisoned".into()))?;
        let raw = match self.sign_once(&mut slot, message) {
            SignResult::Done(raw) => raw,
            SignResult::Failed(e) => {
                *slot = None;
                return Err(e);
            }
            SignResult::Retry(_) => {
                *slot = None;
                match self.sign_once(&mut slot, message) {
                    SignResult::Done(raw) => raw,
                    SignResult::Retry(e) | SignResult::Failed(e) => {
                        *slot = None;
                        return Err(e);
                    }
                }
            }
        };
        drop(slot);
        match self.algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => p256::ecdsa::Signature::from_slice(&raw)
                .map(|s| s.to_der().as_bytes().to_vec())
                .map_err(|_| KeyError::Signing("token returned a malformed signature".into())),
            SignatureAlgorithm::EcdsaP384Sha384 => p384::ecdsa::Signature::from_slice(&raw)
                .map(|s| s.to_der().as_bytes().to_vec())
                .map_err(|_| KeyError::Signing("token returned a malformed signature".into())),
            _ if raw.len() == 64 => Ok(raw),
            _ => Err(KeyError::Signing(
                "token returned a malformed signature".into(),
            )),
        }
    }
}

/// The X.509 certificate (DER) stored on `config`'s token under `CKA_ID` = `id`, if there is
/// one. `config.key_label` is not used: certificates are found by ID, the way Fulcio's
/// `pkcs11ca` finds its CA certificate (`--hsm-caroot-id`).
///
/// # Errors
/// [`KeyError::Unavailable`] for token errors or several certificates with that ID.
pub fn read_certificate(config: &Pkcs11Key, id: &[u8]) -> Result<Option<Vec<u8>>, KeyError> {
    let session = open_session(config, false)?;
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::Id(id.to_vec()),
        ])
        .map_err(|e| unavailable("C_FindObjects", &e))?;
    let handle = match found.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        _ => {
            return Err(KeyError::Unavailable(format!(
                "{} has several certificates with ID {:?}",
                config.token,
                String::from_utf8_lossy(id)
            )));
        }
    };
    let attributes = session
        .get_attributes(handle, &[AttributeType::Value])
        .map_err(|e| unavailable("C_GetAttributeValue", &e))?;
    attributes
        .into_iter()
        .find_map(|a| match a {
            Attribute::Value(der) => Some(der),
            _ => None,
        })
        .map(Some)
        .ok_or_else(|| KeyError::Unavailable("the certificate object has no CKA_VALUE".into()))
}

/// Store an X.509 certificate (DER, with its DER-encoded subject name) on `config`'s token as
/// a public token object with `CKA_ID` = `id` and `CKA_LABEL` = `config.key_label`.
///
/// # Errors
/// Refuses when a certificate with that ID exists already; token errors otherwise.
pub fn write_certificate(
    config: &Pkcs11Key,
    id: &[u8],
    certificate_der: &[u8],
    subject_der: &[u8],
) -> Result<(), KeyError> {
    if read_certificate(config, id)?.is_some() {
        return Err(KeyError::Signing(format!(
            "{} already holds a certificate with ID {:?}",
            config.token,
            String::from_utf8_lossy(id)
        )));
    }
    let session = open_session(config, true)?;
    session
        .create_object(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Id(id.to_vec()),
            Attribute::Label(config.key_label.as_bytes().to_vec()),
            Attribute::Subject(subject_der.to_vec()),
            Attribute::Value(certificate_der.to_vec()),
        ])
        .map_err(|e| unavailable("C_CreateObject", &e))?;
    Ok(())
}

/// The process-wide context of the module at `path`, initialised on first use.
fn context(path: &Path) -> Result<Pkcs11, KeyError> {
    static CONTEXTS: OnceLock<Mutex<Vec<(PathBuf, Pkcs11)>>> = OnceLock::new();
    let contexts = CONTEXTS.get_or_init(|| Mutex::new(Vec::new()));
    let mut contexts = contexts
        .lock()
        .map_err(|_| KeyError::Unavailable("PKCS#11 context lock poisoned".into()))?;
    if let Some((_, ctx)) = contexts.iter().find(|(p, _)| p == path) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(path).map_err(|e| {
        KeyError::Unavailable(format!(
            "cannot load PKCS#11 module {}: {}",
            path.display(),
            short(&e)
        ))
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(KeyError::Unavailable(format!(
                "PKCS#11 module {} failed to initialise ({}); check its configuration",
                path.display(),
                short(&e)
            )));
        }
    }
    contexts.push((path.to_path_buf(), ctx.clone()));
    Ok(ctx)
}

/// Find the slot of the configured token.
fn find_slot(ctx: &Pkcs11, config: &Pkcs11Key) -> Result<Slot, KeyError> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| unavailable("C_GetSlotList", &e))?;
    for slot in slots {
        let found = match &config.token {
            TokenSelector::Slot(id) => slot.id() == *id,
            TokenSelector::Label(label) => ctx
                .get_token_info(slot)
                .is_ok_and(|info| info.label().trim_end() == label),
            TokenSelector::Serial(serial) => ctx
                .get_token_info(slot)
                .is_ok_and(|info| info.serial_number().trim_end() == serial),
        };
        if found {
            return Ok(slot);
        }
    }
    let missing = match &config.token {
        TokenSelector::Label(label) => format!("no PKCS#11 token labelled {label:?}"),
        TokenSelector::Serial(serial) => {
            format!("no PKCS#11 token with serial number {serial:?}")
        }
        TokenSelector::Slot(id) => format!("no PKCS#11 token in slot {id}"),
    };
    Err(KeyError::Unavailable(format!(
        "{missing} in {}",
        config.module.display()
    )))
}

/// Open a session on the token and log in as the user.
fn open_session(config: &Pkcs11Key, read_write: bool) -> Result<Session, KeyError> {
    let ctx = context(&config.module)?;
    let slot = find_slot(&ctx, config)?;
    let session = if read_write {
        ctx.open_rw_session(slot)
    } else {
        ctx.open_ro_session(slot)
    }
    .map_err(|e| unavailable("C_OpenSession", &e))?;
    let pin = config.pin.read()?;
    let pin = String::from_utf8(pin).map_err(|_| KeyError::Secret {
        source_name: config.pin.to_string(),
        reason: "the PIN is not UTF-8".into(),
    })?;
    match session.login(UserType::User, Some(&AuthPin::from(pin))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(KeyError::Unavailable(format!(
            "{} refused the PIN from {}",
            config.token, config.pin
        ))),
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(KeyError::Unavailable(format!(
            "{} is locked (PIN locked)",
            config.token
        ))),
        Err(e) => Err(unavailable("C_Login", &e)),
    }
}

/// Log in and find the private key.
fn login(config: &Pkcs11Key) -> Result<(Session, ObjectHandle), KeyError> {
    let session = open_session(config, false)?;
    let key = find_one(&session, config, ObjectClass::PRIVATE_KEY)?;
    Ok((session, key))
}

fn find_one(
    session: &Session,
    config: &Pkcs11Key,
    class: ObjectClass,
) -> Result<ObjectHandle, KeyError> {
    let found = session
        .find_objects(&[
            Attribute::Class(class),
            Attribute::Label(config.key_label.as_bytes().to_vec()),
        ])
        .map_err(|e| unavailable("C_FindObjects", &e))?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(KeyError::Unavailable(format!(
            "{} has no {class} labelled {:?}",
            config.token, config.key_label
        ))),
        _ => Err(KeyError::Unavailable(format!(
            "{} has several objects of class {class} labelled {:?}",
            config.token, config.key_label
        ))),
    }
}

/// Read the public half of the key pair and build its SubjectPublicKeyInfo.
fn public_key(
    session: &Session,
    config: &Pkcs11Key,
) -> Result<(SignatureAlgorithm, Vec<u8>), KeyError> {
    let handle = find_one(session, config, ObjectClass::PUBLIC_KEY)?;
    let attributes = session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
            ],
        )
        .map_err(|e| unavailable("C_GetAttributeValue", &e))?;
    let (mut key_type, mut params, mut point) = (None, None, None);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let malformed = |what: &str| KeyError::MalformedKey(format!("token public key: {what}"));
    let params = params.ok_or_else(|| malformed("no CKA_EC_PARAMS"))?;
    let point = point.ok_or_else(|| malformed("no CKA_EC_POINT"))?;
    // CKA_EC_POINT is a DER OCTET STRING holding the point (some modules give it bare).
    let point = der::asn1::OctetString::from_der(&point)
        .map(|o| o.as_bytes().to_vec())
        .unwrap_or(point);
    let (algorithm, spki_algorithm) = match key_type {
        Some(KeyType::EC) => {
            let curve = ObjectIdentifier::from_der(&params)
                .map_err(|_| malformed("CKA_EC_PARAMS is not a named curve"))?;
            let algorithm = match curve {
                SECP256R1 => SignatureAlgorithm::EcdsaP256Sha256,
                SECP384R1 => SignatureAlgorithm::EcdsaP384Sha384,
                other => return Err(KeyError::UnsupportedKey(format!("EC curve {other}"))),
            };
            let curve =
                der::asn1::Any::from_der(&params).map_err(|_| malformed("CKA_EC_PARAMS"))?;
            (
                algorithm,
                AlgorithmIdentifierOwned {
                    oid: ID_EC_PUBLIC_KEY,
                    parameters: Some(curve),
                },
            )
        }
        Some(KeyType::EC_EDWARDS) => (
            SignatureAlgorithm::Ed25519,
            AlgorithmIdentifierOwned {
                oid: ID_ED25519,
                parameters: None,
            },
        ),
        other => {
            return Err(KeyError::UnsupportedKey(format!(
                "token key type {other:?}; use EC P-256, P-384 or Ed25519"
            )));
        }
    };
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: spki_algorithm,
        subject_public_key: der::asn1::BitString::from_bytes(&point)
            .map_err(|_| malformed("CKA_EC_POINT"))?,
    };
    let spki_der = spki
        .to_der()
        .map_err(|e| KeyError::MalformedKey(e.to_string()))?;
    // Parse it back: an invalid point is refused here rather than at the first verification.
    let parsed = crate::PublicKey::from_spki_der(&spki_der)?;
    if parsed.algorithm() != algorithm {
        return Err(malformed("key type and curve disagree"));
    }
    Ok((algorithm, spki_der))
}

/// Errors after which a fresh session and login may succeed.
fn is_session_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::ObjectHandleInvalid
                | RvError::KeyHandleInvalid
                | RvError::DeviceError,
            _
        )
    )
}

fn unavailable(call: &str, e: &CkError) -> KeyError {
    KeyError::Unavailable(format!("PKCS#11 {call} failed: {}", short(e)))
}

/// The PKCS#11 return value name, without cryptoki's paragraph-long descriptions.
fn short(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, _) => format!("{rv:?}"),
        CkError::LibraryLoading(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}
