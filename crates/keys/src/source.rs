//! Where a signing key lives, as configuration: a PEM file (optionally password-encrypted) or
//! a key on a PKCS#11 token. [`KeySource::open`] turns it into a [`Signer`].
//!
//! Both have a one-line text form so operators can set them from a TOML file, an environment
//! variable or a flag:
//!
//! ```text
//! file:/etc/sigstack/tsa-key.pem
//! file:/etc/sigstack/tsa-key.pem?password-env=TSA_KEY_PASSWORD
//! file:/etc/sigstack/tsa-key.pem?password-file=/run/secrets/tsa-pass
//! pkcs11:token=sigstack;object=fulcio-intermediate?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-env=HSM_PIN
//! pkcs11:token=sigstack;object=tsa?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/secrets/pin
//! ```
//!
//! The `pkcs11:` form follows RFC 7512's attribute names (`token`, `object`, `module-path`,
//! `pin-source`) plus `pin-env`; values are taken literally (no percent-decoding), so they must
//! not contain `;`, `?` or `&`. A PIN or password itself never appears in the configuration.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use crate::{FileSigner, KeyError, Pkcs11Key, Pkcs11Signer, Signer, TokenSelector};

/// Where a secret (PIN, key password) comes from. The value itself is never configured inline.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretSource {
    /// An environment variable of the process.
    Env(String),
    /// A file; one trailing newline is removed.
    File(PathBuf),
    /// The `Pin` field of a crypto11 JSON configuration file (Fulcio's `--pkcs11-config-path`;
    /// see [`crate::Crypto11Config`]).
    Crypto11Config(PathBuf),
}

impl SecretSource {
    /// Read the secret.
    ///
    /// # Errors
    /// [`KeyError::Secret`] when the variable is unset or the file unreadable or empty.
    pub fn read(&self) -> Result<Vec<u8>, KeyError> {
        let fail = |reason: String| KeyError::Secret {
            source_name: self.to_string(),
            reason,
        };
        let mut value = match self {
            Self::Env(name) => std::env::var_os(name)
                .ok_or_else(|| fail("not set".into()))?
                .into_encoded_bytes(),
            Self::File(path) => std::fs::read(path).map_err(|e| fail(e.to_string()))?,
            Self::Crypto11Config(path) => return crate::crypto11::read_pin(path),
        };
        if value.last() == Some(&b'\n') {
            value.pop();
            if value.last() == Some(&b'\r') {
                value.pop();
            }
        }
        if value.is_empty() {
            return Err(fail("empty".into()));
        }
        Ok(value)
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "environment variable {name}"),
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Crypto11Config(path) => {
                write!(f, "the Pin of crypto11 configuration {}", path.display())
            }
        }
    }
}

/// A PKCS#8 PEM key file, optionally encrypted with a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileKey {
    /// The PEM file (`PRIVATE KEY` or `ENCRYPTED PRIVATE KEY`).
    pub path: PathBuf,
    /// Where the password of an encrypted key comes from.
    pub password: Option<SecretSource>,
}

/// A configured signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// A key file.
    File(FileKey),
    /// A key on a PKCS#11 token; the private key never leaves the token.
    Pkcs11(Pkcs11Key),
}

impl KeySource {
    /// Open the key for signing. PKCS#11 keys log in to the token here, so a missing token, a
    /// wrong PIN or a missing key label fails at startup rather than at the first request.
    ///
    /// # Errors
    /// I/O, parse, decryption or token errors, each naming the source.
    pub fn open(&self) -> Result<Arc<dyn Signer>, KeyError> {
        match self {
            Self::File(file) => {
                let io = |source| KeyError::Io {
                    path: file.path.display().to_string(),
                    source,
                };
                let pem = std::fs::read_to_string(&file.path).map_err(io)?;
                let signer = match &file.password {
                    Some(password) => {
                        FileSigner::from_pkcs8_encrypted_pem(&pem, &password.read()?)?
                    }
                    None if pem.contains("ENCRYPTED PRIVATE KEY") => {
                        return Err(KeyError::MalformedKey(format!(
                            "{} is encrypted; configure password-env or password-file",
                            file.path.display()
                        )));
                    }
                    None => FileSigner::from_pkcs8_pem(&pem)?,
                };
                Ok(Arc::new(signer))
            }
            Self::Pkcs11(key) => Ok(Arc::new(Pkcs11Signer::open(key)?)),
        }
    }

    /// Whether the private key lives outside this process (an HSM).
    #[must_use]
    pub fn is_hardware(&self) -> bool {
        matches!(self, Self::Pkcs11(_))
    }
}

impl FromStr for KeySource {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        let bad = |reason: &str| KeyError::MalformedKey(format!("key source {text:?}: {reason}"));
        if let Some(rest) = text.strip_prefix("file:") {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if path.is_empty() {
                return Err(bad("no path"));
            }
            let mut password = None;
            for (name, value) in attributes(query, &['&'])? {
                let secret = match name {
                    "password-env" => SecretSource::Env(value.to_string()),
                    "password-file" => SecretSource::File(value.into()),
                    other => return Err(bad(&format!("unknown attribute {other}"))),
                };
                if password.replace(secret).is_some() {
                    return Err(bad("more than one password source"));
                }
            }
            return Ok(Self::File(FileKey {
                path: path.into(),
                password,
            }));
        }
        if let Some(rest) = text.strip_prefix("pkcs11:") {
            let (mut token, mut serial, mut slot_id) = (None, None, None);
            let (mut object, mut module, mut pin) = (None, None, None);
            for (name, value) in attributes(rest, &[';', '?', '&'])? {
                let slot = match name {
                    "token" => &mut token,
                    "serial" => &mut serial,
                    "slot-id" => &mut slot_id,
                    "object" => &mut object,
                    "module-path" => &mut module,
                    "pin-env" | "pin-source" | "pin-crypto11" => {
                        let secret = match name {
                            "pin-env" => SecretSource::Env(value.to_string()),
                            "pin-crypto11" => SecretSource::Crypto11Config(value.into()),
                            _ => SecretSource::File(
                                value.strip_prefix("file:").unwrap_or(value).into(),
                            ),
                        };
                        if pin.replace(secret).is_some() {
                            return Err(bad("more than one PIN source"));
                        }
                        continue;
                    }
                    other => return Err(bad(&format!("unknown attribute {other}"))),
                };
                if slot.replace(value.to_string()).is_some() {
                    return Err(bad(&format!("{name} given twice")));
                }
            }
            let token = match (token, serial, slot_id) {
                (Some(label), None, None) => TokenSelector::Label(label),
                (None, Some(serial), None) => TokenSelector::Serial(serial),
                (None, None, Some(id)) => TokenSelector::Slot(
                    id.parse()
                        .map_err(|_| bad("slot-id must be a decimal number"))?,
                ),
                (None, None, None) => return Err(bad("token (or serial, or slot-id) is required")),
                _ => return Err(bad("give only one of token, serial and slot-id")),
            };
            return Ok(Self::Pkcs11(Pkcs11Key {
                module: module.ok_or_else(|| bad("module-path is required"))?.into(),
                token,
                key_label: object.ok_or_else(|| bad("object (the key label) is required"))?,
                pin: pin.ok_or_else(|| bad("pin-env or pin-source is required"))?,
            }));
        }
        Err(bad("must start with file: or pkcs11:"))
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(file) => {
                write!(f, "file:{}", file.path.display())?;
                match &file.password {
                    Some(SecretSource::Env(name)) => write!(f, "?password-env={name}"),
                    Some(SecretSource::File(path)) => {
                        write!(f, "?password-file={}", path.display())
                    }
                    // Not a form the text parser produces: describe it instead.
                    Some(other) => write!(f, " (password: {other})"),
                    None => Ok(()),
                }
            }
            Self::Pkcs11(key) => {
                match &key.token {
                    TokenSelector::Label(label) => write!(f, "pkcs11:token={label}")?,
                    TokenSelector::Serial(serial) => write!(f, "pkcs11:serial={serial}")?,
                    TokenSelector::Slot(id) => write!(f, "pkcs11:slot-id={id}")?,
                }
                write!(
                    f,
                    ";object={}?module-path={}",
                    key.key_label,
                    key.module.display()
                )?;
                match &key.pin {
                    SecretSource::Env(name) => write!(f, "&pin-env={name}"),
                    SecretSource::File(path) => write!(f, "&pin-source={}", path.display()),
                    SecretSource::Crypto11Config(path) => {
                        write!(f, "&pin-crypto11={}", path.display())
                    }
                }
            }
        }
    }
}

/// Split `name=value` pairs separated by any of `separators`.
fn attributes<'a>(text: &'a str, separators: &[char]) -> Result<Vec<(&'a str, &'a str)>, KeyError> {
    text.split(|c| separators.contains(&c))
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.split_once('=')
                .filter(|(name, value)| !name.is_empty() && !value.is_empty())
                .ok_or_else(|| {
                    KeyError::MalformedKey(format!("attribute {part:?} is not name=value"))
                })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::SignatureAlgorithm;

    #[test]
    fn text_forms_round_trip() {
        for text in [
            "file:/etc/k.pem",
            "file:/etc/k.pem?password-env=PASS",
            "file:/etc/k.pem?password-file=/run/p",
            "pkcs11:token=t;object=o?module-path=/usr/lib/m.so&pin-env=PIN",
            "pkcs11:token=t;object=o?module-path=/usr/lib/m.so&pin-source=/run/pin",
            "pkcs11:serial=9a1b;object=o?module-path=/usr/lib/m.so&pin-env=PIN",
            "pkcs11:slot-id=3;object=o?module-path=/usr/lib/m.so&pin-crypto11=/etc/c11.conf",
        ] {
            let source: KeySource = text.parse().unwrap();
            assert_eq!(source.to_string(), text);
            assert_eq!(source.is_hardware(), text.starts_with("pkcs11:"));
        }
        let rfc: KeySource = "pkcs11:token=t;object=o;module-path=/m.so;pin-source=file:/p"
            .parse()
            .unwrap();
        let KeySource::Pkcs11(key) = rfc else {
            panic!("not pkcs11")
        };
        assert_eq!(key.pin, SecretSource::File("/p".into()));
    }

    #[test]
    fn incomplete_or_unknown_forms_are_refused() {
        for text in [
            "/etc/k.pem",
            "file:",
            "file:/k?password=hunter2",
            "file:/k?password-env=A&password-file=/b",
            "pkcs11:token=t;object=o?pin-env=P",
            "pkcs11:token=t?module-path=/m.so&pin-env=P",
            "pkcs11:token=t;object=o?module-path=/m.so",
            "pkcs11:token=t;object=o?module-path=/m.so&pin-value=1234",
            "pkcs11:token=t;token=u;object=o?module-path=/m.so&pin-env=P",
            "pkcs11:token=t;serial=s;object=o?module-path=/m.so&pin-env=P",
            "pkcs11:slot-id=x;object=o?module-path=/m.so&pin-env=P",
            "pkcs11:object=o?module-path=/m.so&pin-env=P",
        ] {
            assert!(text.parse::<KeySource>().is_err(), "{text} accepted");
        }
    }

    #[test]
    fn encrypted_key_file_needs_its_password() {
        let dir = tempfile::tempdir().unwrap();
        let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP384Sha384).unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(
            &path,
            signer.to_pkcs8_encrypted_pem(b"correct horse").unwrap(),
        )
        .unwrap();
        let good = dir.path().join("pass");
        std::fs::write(&good, "correct horse\n").unwrap();
        let wrong = dir.path().join("wrong");
        std::fs::write(&wrong, "battery staple\n").unwrap();

        let open = |text: String| text.parse::<KeySource>().unwrap().open();
        let opened = open(format!(
            "file:{}?password-file={}",
            path.display(),
            good.display()
        ))
        .unwrap();
        assert_eq!(opened.public_key_der(), signer.public_key_der());
        let sig = opened.sign(b"m").unwrap();
        signer.public_key().unwrap().verify(b"m", &sig).unwrap();

        let err = open(format!(
            "file:{}?password-file={}",
            path.display(),
            wrong.display()
        ))
        .unwrap_err();
        assert!(err.to_string().contains("wrong password"), "{err}");
        let err = open(format!("file:{}", path.display())).unwrap_err();
        assert!(err.to_string().contains("encrypted"), "{err}");
        let err = open(format!(
            "file:{}?password-env=SIGSTACK_TEST_UNSET_VARIABLE",
            path.display()
        ))
        .unwrap_err();
        assert!(matches!(err, KeyError::Secret { .. }), "{err}");
    }
}
