//! Fulcio's PKCS#11 configuration file, read as-is so an operator's existing HSM settings work
//! unchanged.
//!
//! Upstream Fulcio's `pkcs11ca` (and `createca`) read a JSON file of the `crypto11` Go library
//! (`--pkcs11-config-path`, default `config/crypto11.conf`):
//!
//! ```json
//! { "Path": "/usr/lib/softhsm/libsofthsm2.so", "TokenLabel": "fulcio", "Pin": "2324" }
//! ```
//!
//! `Path` is the module; the token is chosen by exactly one of `TokenLabel`, `TokenSerial` or
//! `SlotNumber`; `Pin` is the user PIN. Field names match case-insensitively, as Go's JSON
//! decoder matches them. The library's tuning fields (`MaxSessions`, `PoolWaitTimeout`, the
//! AES-GCM IV settings) are accepted and have no effect here. Anything else is refused, and so
//! are tokens without a login (`LoginNotSupported`) and user types other than the normal user.
//!
//! [`Crypto11Config::key`] turns the file into a [`Pkcs11Key`]; its PIN source is the file
//! itself ([`SecretSource::Crypto11Config`]), read again at each login like any PIN file.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{KeyError, Pkcs11Key, SecretSource, TokenSelector};

/// Label of the CA key pair Fulcio's `pkcs11ca` and `createca` use.
pub const FULCIO_CA_KEY_LABEL: &str = "PKCS11CA";

/// Fields the file may hold, in their canonical spelling.
const FIELDS: [&str; 12] = [
    "Path",
    "TokenSerial",
    "TokenLabel",
    "SlotNumber",
    "Pin",
    "MaxSessions",
    "UserType",
    "PoolWaitTimeout",
    "LoginNotSupported",
    "UseGCMIVFromHSM",
    "GCMIVLength",
    "GCMIVFromHSMControl",
];

/// `CKU_USER`, the only user type Sigstack logs in as.
const CKU_USER: u64 = 1;

/// A checked crypto11 configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crypto11Config {
    /// The file it was read from (it also holds the PIN).
    pub file: PathBuf,
    /// The PKCS#11 module (`Path`).
    pub module: PathBuf,
    /// The token (`TokenLabel`, `TokenSerial` or `SlotNumber`).
    pub token: TokenSelector,
}

impl Crypto11Config {
    /// Read and check the file.
    ///
    /// # Errors
    /// [`KeyError::Crypto11Config`] naming the file and what is wrong with it, or
    /// [`KeyError::Io`] when it cannot be read.
    pub fn load(file: &Path) -> Result<Self, KeyError> {
        let fields = read(file)?;
        let bad = |reason: String| KeyError::Crypto11Config {
            path: file.display().to_string(),
            reason,
        };
        let text = |name: &str| -> Result<Option<&str>, KeyError> {
            match fields.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(bad(format!("{name} must be a string"))),
            }
        };
        let number = |name: &str| -> Result<Option<u64>, KeyError> {
            match fields.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| bad(format!("{name} must be a non-negative integer"))),
                Some(_) => Err(bad(format!("{name} must be a number"))),
            }
        };
        let flag = |name: &str| -> Result<bool, KeyError> {
            match fields.get(name) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(bad(format!("{name} must be true or false"))),
            }
        };
        let module = text("Path")?
            .ok_or_else(|| bad("Path (the PKCS#11 module) is missing".into()))?
            .into();
        let mut selectors = Vec::new();
        if let Some(label) = text("TokenLabel")? {
            selectors.push(TokenSelector::Label(label.to_string()));
        }
        if let Some(serial) = text("TokenSerial")? {
            selectors.push(TokenSelector::Serial(serial.to_string()));
        }
        if let Some(slot) = number("SlotNumber")? {
            selectors.push(TokenSelector::Slot(slot));
        }
        let token = match selectors.len() {
            0 => {
                return Err(bad(
                    "no token: give one of TokenLabel, TokenSerial or SlotNumber".into(),
                ));
            }
            1 => selectors.remove(0),
            _ => {
                return Err(bad(
                    "give only one of TokenLabel, TokenSerial and SlotNumber".into(),
                ));
            }
        };
        let no_login = flag("LoginNotSupported")?;
        match (text("Pin")?.is_some(), no_login) {
            (true, false) => {}
            (true, true) => {
                return Err(bad(
                    "Pin and LoginNotSupported contradict each other; give one".into(),
                ));
            }
            (false, false) => return Err(bad("Pin (the user PIN) is missing".into())),
            (false, true) => {
                return Err(bad(
                    "LoginNotSupported: Sigstack only uses tokens it logs in to with a PIN".into(),
                ));
            }
        }
        if let Some(user_type) = number("UserType")?
            && user_type != 0
            && user_type != CKU_USER
        {
            return Err(bad(format!(
                "UserType {user_type}: Sigstack logs in as the normal user (1)"
            )));
        }
        // Accepted for compatibility, without effect: session pool sizing and AES-GCM IVs.
        number("MaxSessions")?;
        number("PoolWaitTimeout")?;
        number("GCMIVLength")?;
        flag("UseGCMIVFromHSM")?;
        Ok(Self {
            file: file.to_path_buf(),
            module,
            token,
        })
    }

    /// The key labelled `key_label` on the configured token, logging in with the file's PIN.
    #[must_use]
    pub fn key(&self, key_label: &str) -> Pkcs11Key {
        Pkcs11Key {
            module: self.module.clone(),
            token: self.token.clone(),
            key_label: key_label.to_string(),
            pin: SecretSource::Crypto11Config(self.file.clone()),
        }
    }
}

/// The `Pin` of the file.
pub(crate) fn read_pin(file: &Path) -> Result<Vec<u8>, KeyError> {
    let fields = read(file)?;
    match fields.get("Pin") {
        Some(Value::String(pin)) if !pin.is_empty() => Ok(pin.as_bytes().to_vec()),
        _ => Err(KeyError::Secret {
            source_name: SecretSource::Crypto11Config(file.to_path_buf()).to_string(),
            reason: "no Pin".into(),
        }),
    }
}

/// The file's fields under their canonical names.
fn read(file: &Path) -> Result<serde_json::Map<String, Value>, KeyError> {
    let bad = |reason: String| KeyError::Crypto11Config {
        path: file.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(file).map_err(|source| KeyError::Io {
        path: file.display().to_string(),
        source,
    })?;
    let Value::Object(given) =
        serde_json::from_slice::<Value>(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?
    else {
        return Err(bad("must be a JSON object".into()));
    };
    let mut fields = serde_json::Map::new();
    for (name, value) in given {
        let Some(canonical) = FIELDS.iter().find(|f| f.eq_ignore_ascii_case(&name)) else {
            return Err(bad(format!(
                "unknown field {name:?} (known: {})",
                FIELDS.join(", ")
            )));
        };
        if fields.insert((*canonical).to_string(), value).is_some() {
            return Err(bad(format!("{canonical} is given twice")));
        }
    }
    Ok(fields)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn load(json: &str) -> Result<Crypto11Config, KeyError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("crypto11.conf");
        std::fs::write(&file, json).unwrap();
        Crypto11Config::load(&file)
    }

    #[test]
    fn fulcios_documented_file_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("crypto11.conf");
        std::fs::write(
            &file,
            "{\n\"Path\" : \"/usr/lib/softhsm/libsofthsm2.so\",\n\"TokenLabel\": \"fulcio\",\n\
             \"Pin\" : \"2324\"\n}\n",
        )
        .unwrap();
        let config = Crypto11Config::load(&file).unwrap();
        assert_eq!(config.module, Path::new("/usr/lib/softhsm/libsofthsm2.so"));
        assert_eq!(config.token, TokenSelector::Label("fulcio".into()));
        let key = config.key(FULCIO_CA_KEY_LABEL);
        assert_eq!(key.key_label, "PKCS11CA");
        assert_eq!(key.pin.read().unwrap(), b"2324");
    }

    #[test]
    fn serial_slot_case_and_tuning_fields() {
        let c = load(r#"{"path": "/m.so", "tokenserial": "abc123", "PIN": "1", "MaxSessions": 4}"#)
            .unwrap();
        assert_eq!(c.token, TokenSelector::Serial("abc123".into()));
        let c =
            load(r#"{"Path": "/m.so", "SlotNumber": 0, "Pin": "1", "TokenLabel": ""}"#).unwrap();
        assert_eq!(c.token, TokenSelector::Slot(0));
        let c = load(
            r#"{"Path": "/m.so", "TokenLabel": "t", "Pin": "1", "UserType": 1,
            "PoolWaitTimeout": 0, "UseGCMIVFromHSM": false, "GCMIVLength": 12,
            "GCMIVFromHSMControl": {}, "LoginNotSupported": false}"#,
        )
        .unwrap();
        assert_eq!(c.token, TokenSelector::Label("t".into()));
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        for (json, reason) in [
            (r#"{"TokenLabel": "t", "Pin": "1"}"#, "Path"),
            (r#"{"Path": "", "TokenLabel": "t", "Pin": "1"}"#, "Path"),
            (r#"{"Path": "/m.so", "Pin": "1"}"#, "no token"),
            (
                r#"{"Path": "/m.so", "TokenLabel": "t", "SlotNumber": 1, "Pin": "1"}"#,
                "only one",
            ),
            (r#"{"Path": "/m.so", "TokenLabel": "t"}"#, "Pin"),
            (
                r#"{"Path": "/m.so", "TokenLabel": "t", "Pin": "1", "LoginNotSupported": true}"#,
                "contradict",
            ),
            (
                r#"{"Path": "/m.so", "TokenLabel": "t", "LoginNotSupported": true}"#,
                "LoginNotSupported",
            ),
            (
                r#"{"Path": "/m.so", "TokenLabel": "t", "Pin": "1", "Label": "x"}"#,
                "unknown field \"Label\"",
            ),
            (
                r#"{"Path": "/m.so", "TokenLabel": "t", "Pin": "1", "pin": "2"}"#,
                "twice",
            ),
            (
                r#"{"Path": "/m.so", "TokenLabel": "t", "Pin": 2324}"#,
                "string",
            ),
            (
                r#"{"Path": "/m.so", "SlotNumber": -1, "Pin": "1"}"#,
                "non-negative",
            ),
            (
                r#"{"Path": "/m.so", "TokenLabel": "t", "Pin": "1", "UserType": 0}"#,
                "",
            ),
            (
                r#"{"Path": "/m.so", "TokenLabel": "t", "Pin": "1", "UserType": 2}"#,
                "UserType",
            ),
            (r#"["Path"]"#, "JSON object"),
            ("Path=/m.so", "not JSON"),
        ] {
            match load(json) {
                Ok(_) if reason.is_empty() => {}
                Ok(c) => panic!("{json} accepted: {c:?}"),
                Err(e) => {
                    assert!(!reason.is_empty(), "{json}: {e}");
                    assert!(matches!(e, KeyError::Crypto11Config { .. }), "{json}: {e}");
                    assert!(e.to_string().contains(reason), "{json}: {e}");
                }
            }
        }
        let missing = Crypto11Config::load(Path::new("/nonexistent/crypto11.conf")).unwrap_err();
        assert!(matches!(missing, KeyError::Io { .. }), "{missing}");
    }
}
