//! The TUF repository (specification 1.0, consistent snapshots) that publishes the Sigstore
//! client targets `trusted_root.json` and `signing_config.v0.2.json`.
//!
//! Roles: root is held by k-of-n offline keys, targets by its own key set (also offline), snapshot
//! and timestamp by one online key the service keeps and re-signs with before expiry. Metadata
//! types, canonical JSON, key IDs and the final client-side check come from the `tough` crate;
//! this module adds the quorum workflow that needs no shared machine:
//!
//! 1. `stage` writes an unsigned new version of root or targets to `REPO/staged/`;
//! 2. each member runs `sign` on a copy of the staged file with their own key (any
//!    [`sigstack_keys::Signer`]) and returns a small detached signature file;
//! 3. `publish` checks every signature (unknown keys, duplicates and bad signatures are refused),
//!    the thresholds (a new root needs the current and the new root's thresholds), versions,
//!    expiry, target hashes and sizes, builds snapshot and timestamp with the online key, loads
//!    the result with tough's client as a final check, and only then writes the published tree.
//!
//! Repository directory layout:
//!
//! ```text
//! REPO/repository.json        lifetimes of each role (seconds)
//! REPO/online-key.pem         the online snapshot + timestamp key (0600)
//! REPO/staged/root.json       proposals awaiting signatures (Signed<T> with no signatures)
//! REPO/staged/targets.json
//! REPO/staged/targets/NAME    the target files the staged targets metadata lists
//! REPO/published/             what clients fetch (serve it as static files):
//!     N.root.json root.json N.targets.json N.snapshot.json timestamp.json
//!     targets/<sha256>.trusted_root.json targets/<sha256>.signing_config.v0.2.json
//! ```

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use sigstack_keys::{PublicKey, SignatureAlgorithm, Signer};
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::key::Key;
use tough::schema::{
    Hashes, Metafile, Role, RoleKeys, RoleType, Root, Signature, Signed, Snapshot, Target, Targets,
    Timestamp,
};

/// The target names Sigstore clients fetch.
pub const TARGET_NAMES: [&str; 2] = ["trusted_root.json", "signing_config.v0.2.json"];
/// The TUF specification version written into metadata.
pub const SPEC_VERSION: &str = "1.0.31";
/// Largest metadata file read (staged, published or fetched), in bytes.
pub const MAX_METADATA_SIZE: u64 = 512 * 1024;
/// Largest target file accepted, in bytes.
pub const MAX_TARGET_SIZE: u64 = 4 * 1024 * 1024;
/// Largest detached signature file read, in bytes.
pub const MAX_SIGNATURE_FILE_SIZE: u64 = 16 * 1024;

/// Why the repository refused an operation. Every message names the role and the rule.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TufError {
    /// Metadata or a signature file does not parse or breaks the structure rules.
    #[error("{role}: malformed metadata: {detail}")]
    Malformed {
        /// Role (or file) concerned.
        role: String,
        /// What is wrong.
        detail: String,
    },
    /// Fewer valid signatures than the threshold.
    #[error(
        "{role} v{version}: threshold not met: {valid} valid signature(s) from the {which} root's {role} keys, {threshold} required"
    )]
    Threshold {
        /// Role signed.
        role: String,
        /// Version signed.
        version: u64,
        /// `current` or `new` (root rotation checks both).
        which: &'static str,
        /// Valid signatures counted.
        valid: usize,
        /// Required.
        threshold: u64,
    },
    /// A signature by a key the role does not list.
    #[error(
        "{role}: signature by unknown key {keyid}: not a {role} key of the current or new root"
    )]
    UnknownKey {
        /// Role signed.
        role: String,
        /// The key ID (hex).
        keyid: String,
    },
    /// The same key signed twice.
    #[error("{role}: key {keyid} signed more than once; each key counts once")]
    DuplicateKey {
        /// Role signed.
        role: String,
        /// The key ID (hex).
        keyid: String,
    },
    /// A signature that does not verify.
    #[error("{role}: signature by key {keyid} does not verify over the canonical metadata")]
    BadSignature {
        /// Role signed.
        role: String,
        /// The key ID (hex).
        keyid: String,
    },
    /// A detached signature made over another proposal.
    #[error("{role}: signature file {file} was made for {detail}, not the staged proposal")]
    WrongProposal {
        /// Role of the signature file.
        role: String,
        /// The file.
        file: String,
        /// What it signed.
        detail: String,
    },
    /// Metadata whose expiry has passed (or would pass before it is published).
    #[error("{role} v{version}: expired at {expires} (rule: expired metadata is never published)")]
    Expired {
        /// Role.
        role: String,
        /// Version.
        version: u64,
        /// Expiry.
        expires: String,
    },
    /// A version that does not move forward.
    #[error("{role}: version {got} after published version {current} (rule: {rule})")]
    Rollback {
        /// Role.
        role: String,
        /// Proposed version.
        got: u64,
        /// Published version.
        current: u64,
        /// The rule broken.
        rule: &'static str,
    },
    /// A target file whose length or hash differs from the metadata.
    #[error("targets: target {name}: {rule}")]
    TargetMismatch {
        /// Target name.
        name: String,
        /// What differs.
        rule: String,
    },
    /// A file over its size limit.
    #[error("{role}: {path} is {size} bytes, over the {limit}-byte limit")]
    Oversized {
        /// Role (or file kind).
        role: String,
        /// File.
        path: String,
        /// Size found.
        size: u64,
        /// Limit.
        limit: u64,
    },
    /// Nothing waits to be published.
    #[error("nothing is staged: run `sigstack trust tuf stage-root` or `stage-targets` first")]
    NothingStaged,
    /// The repository has not been initialised.
    #[error("{0} is not an initialised TUF repository (run `sigstack trust tuf init`)")]
    NotInitialised(String),
    /// A key the repository cannot use.
    #[error("key: {0}")]
    Key(String),
    /// tough's client refused the candidate repository.
    #[error("final client check refused the candidate repository: {0}")]
    ClientCheck(String),
    /// File system failure.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, TufError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TufError + '_ {
    move |source| TufError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn malformed(role: impl Into<String>, detail: impl ToString) -> TufError {
    TufError::Malformed {
        role: role.into(),
        detail: detail.to_string(),
    }
}

/// Read a file, refusing it before reading when it is over `limit`.
pub fn read_capped(path: &Path, role: &str, limit: u64) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path).map_err(io(path))?.len();
    if size > limit {
        return Err(TufError::Oversized {
            role: role.to_string(),
            path: path.display().to_string(),
            size,
            limit,
        });
    }
    std::fs::read(path).map_err(io(path))
}

fn read_optional(path: &Path, role: &str, limit: u64) -> Result<Option<Vec<u8>>> {
    match std::fs::metadata(path) {
        Ok(_) => read_capped(path, role, limit).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        sigstack_durable::create_dir_all(dir).map_err(io(dir))?;
    }
    sigstack_durable::write(path, bytes).map_err(io(path))
}

fn hex_id(keyid: &Decoded<Hex>) -> String {
    hex::encode(keyid.as_ref())
}

// ---------------------------------------------------------------------------------------------
// Keys

/// The TUF form of a public key: `ecdsa` / `ecdsa-sha2-nistp256` with a PEM SPKI, or `ed25519`
/// with the hex raw key (TUF 1.0 §4.2; the forms python-tuf and tough both read).
pub fn tuf_key(key: &PublicKey) -> Result<Key> {
    let json = match key.algorithm() {
        SignatureAlgorithm::EcdsaP256Sha256 => serde_json::json!({
            "keytype": "ecdsa",
            "scheme": "ecdsa-sha2-nistp256",
            "keyval": { "public": key.to_pem() },
        }),
        SignatureAlgorithm::Ed25519 => serde_json::json!({
            "keytype": "ed25519",
            "scheme": "ed25519",
            "keyval": { "public": hex::encode(key.ed25519_bytes().unwrap_or_default()) },
        }),
        other => {
            return Err(TufError::Key(format!(
                "{other:?} keys have no TUF scheme here; use ECDSA P-256 or Ed25519"
            )));
        }
    };
    serde_json::from_value(json).map_err(|e| TufError::Key(e.to_string()))
}

/// The TUF key ID (SHA-256 of the canonical JSON key) of a public key.
pub fn key_id(key: &PublicKey) -> Result<Decoded<Hex>> {
    tuf_key(key)?
        .key_id()
        .map_err(|e| TufError::Key(e.to_string()))
}

/// Read a PEM `PUBLIC KEY` file.
pub fn read_public_key(path: &Path) -> Result<PublicKey> {
    let bytes = read_capped(path, "key", 64 * 1024)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| TufError::Key(format!("{} is not PEM", path.display())))?;
    PublicKey::from_pem(&text).map_err(|e| TufError::Key(format!("{}: {e}", path.display())))
}

/// Check one signature with the TUF key it claims.
fn signature_verifies(key: &Key, message: &[u8], signature: &[u8]) -> bool {
    match key {
        Key::Ecdsa { keyval, .. } | Key::EcdsaOld { keyval, .. } => {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, keyval.public.as_ref())
                .verify(message, signature)
                .is_ok()
        }
        Key::Ed25519 { keyval, .. } => UnparsedPublicKey::new(&ED25519, keyval.public.as_ref())
            .verify(message, signature)
            .is_ok(),
        Key::Rsa { .. } => false,
    }
}

/// tough's signing interface over any Sigstack [`Signer`] (key file or PKCS#11 alike).
#[derive(Debug, Clone)]
pub struct SignerKeySource(pub Arc<dyn Signer>);

struct SignerSign(Arc<dyn Signer>, Key);

#[tough::async_trait]
impl tough::sign::Sign for SignerSign {
    fn tuf_key(&self) -> Key {
        self.1.clone()
    }

    async fn sign(
        &self,
        msg: &[u8],
        _rng: &(dyn aws_lc_rs::rand::SecureRandom + Sync),
    ) -> std::result::Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync + 'static>> {
        let signer = self.0.clone();
        let msg = msg.to_vec();
        // Key sources may block (HSM round trips): keep them off the async workers.
        Ok(tokio::task::spawn_blocking(move || signer.sign(&msg)).await??)
    }
}

#[tough::async_trait]
impl tough::key_source::KeySource for SignerKeySource {
    async fn as_sign(
        &self,
    ) -> std::result::Result<
        Box<dyn tough::sign::Sign>,
        Box<dyn std::error::Error + Send + Sync + 'static>,
    > {
        let key = tuf_key(&self.0.public_key()?)?;
        Ok(Box::new(SignerSign(self.0.clone(), key)))
    }

    async fn write(
        &self,
        _value: &str,
        _key_id_hex: &str,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        Err("Sigstack key sources are read-only".into())
    }
}

// ---------------------------------------------------------------------------------------------
// Repository settings and state

/// Lifetimes of each role's metadata, in seconds (`REPO/repository.json`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Lifetimes {
    /// Root.
    pub root: u64,
    /// Targets.
    pub targets: u64,
    /// Snapshot.
    pub snapshot: u64,
    /// Timestamp.
    pub timestamp: u64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            root: 365 * DAY,
            targets: 180 * DAY,
            snapshot: 7 * DAY,
            timestamp: DAY,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    lifetimes: Lifetimes,
}

/// A repository directory.
#[derive(Clone, Debug)]
pub struct Repository {
    dir: PathBuf,
}

/// The published metadata, loaded.
#[derive(Clone, Debug)]
pub struct Published {
    /// Latest root.
    pub root: Signed<Root>,
    /// Current targets.
    pub targets: Signed<Targets>,
    /// The published targets file, byte for byte (snapshot hashes these bytes).
    pub targets_bytes: Vec<u8>,
    /// Current snapshot.
    pub snapshot: Signed<Snapshot>,
    /// Current timestamp.
    pub timestamp: Signed<Timestamp>,
}

/// A proposal's identity, recorded in each detached signature.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DetachedSignature {
    /// `root` or `targets`.
    pub role: String,
    /// The proposal's version.
    pub version: u64,
    /// Hex SHA-256 of the canonical JSON that was signed.
    pub signed_sha256: String,
    /// The TUF signature (`keyid`, `sig`).
    pub signature: Signature,
}

fn expires_in(now: jiff::Timestamp, seconds: u64) -> Result<jiff::Timestamp> {
    let span = jiff::SignedDuration::from_secs(i64::try_from(seconds).unwrap_or(i64::MAX));
    now.checked_add(span)
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t))
        .map_err(|e| malformed("settings", format!("lifetime {seconds}s: {e}")))
}

fn version(v: u64) -> NonZeroU64 {
    NonZeroU64::new(v).unwrap_or(NonZeroU64::MIN)
}

fn parse_signed<T: serde::de::DeserializeOwned>(role: &str, bytes: &[u8]) -> Result<Signed<T>> {
    serde_json::from_slice(bytes).map_err(|e| malformed(role, e))
}

fn canonical<T: Role>(role: &str, signed: &T) -> Result<Vec<u8>> {
    signed.canonical_form().map_err(|e| malformed(role, e))
}

fn pretty<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut out = serde_json::to_vec_pretty(value).map_err(|e| malformed("metadata", e))?;
    out.push(b'\n');
    Ok(out)
}

fn check_not_expired(
    role: &str,
    version: u64,
    expires: jiff::Timestamp,
    now: jiff::Timestamp,
) -> Result<()> {
    if expires <= now {
        return Err(TufError::Expired {
            role: role.to_string(),
            version,
            expires: expires.to_string(),
        });
    }
    Ok(())
}

/// Structure rules for a root: all four roles, every listed key present and its ID correct,
/// thresholds reachable, consistent snapshots on.
fn check_root_structure(root: &Root) -> Result<()> {
    let role = "root";
    if !root.consistent_snapshot {
        return Err(malformed(role, "consistent_snapshot must be true"));
    }
    for (keyid, key) in &root.keys {
        let computed = key.key_id().map_err(|e| malformed(role, e))?;
        if computed.as_ref() != keyid.as_ref() {
            return Err(malformed(
                role,
                format!(
                    "key ID {} does not match its key (computed {})",
                    hex_id(keyid),
                    hex_id(&computed)
                ),
            ));
        }
    }
    for role_type in [
        RoleType::Root,
        RoleType::Targets,
        RoleType::Snapshot,
        RoleType::Timestamp,
    ] {
        let keys = root
            .roles
            .get(&role_type)
            .ok_or_else(|| malformed(role, format!("role {role_type} is missing")))?;
        let unique: HashSet<&[u8]> = keys.keyids.iter().map(AsRef::as_ref).collect();
        if unique.len() != keys.keyids.len() {
            return Err(malformed(
                role,
                format!("role {role_type} lists a key twice"),
            ));
        }
        for keyid in &keys.keyids {
            if !root.keys.contains_key(keyid) {
                return Err(malformed(
                    role,
                    format!(
                        "role {role_type} lists key {} that root.keys does not hold",
                        hex_id(keyid)
                    ),
                ));
            }
        }
        if keys.threshold.get() > keys.keyids.len() as u64 {
            return Err(malformed(
                role,
                format!(
                    "role {role_type} threshold {} exceeds its {} key(s)",
                    keys.threshold,
                    keys.keyids.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Check signatures of one role against one or two key sets (a root rotation counts the current
/// and the new root's root keys separately). Every signature must come from a listed key, verify,
/// and appear once; each key set's threshold must be met.
fn check_signatures(
    role: &str,
    version: u64,
    message: &[u8],
    signatures: &[Signature],
    key_sets: &[(&'static str, &Root, RoleType)],
) -> Result<()> {
    let mut seen = HashSet::new();
    let mut valid: Vec<&Decoded<Hex>> = Vec::new();
    for signature in signatures {
        let keyid = hex_id(&signature.keyid);
        if !seen.insert(signature.keyid.as_ref().to_vec()) {
            return Err(TufError::DuplicateKey {
                role: role.to_string(),
                keyid,
            });
        }
        let key = key_sets.iter().find_map(|(_, root, role_type)| {
            let listed = root.roles.get(role_type)?.keyids.contains(&signature.keyid);
            listed.then(|| root.keys.get(&signature.keyid)).flatten()
        });
        let Some(key) = key else {
            return Err(TufError::UnknownKey {
                role: role.to_string(),
                keyid,
            });
        };
        if !signature_verifies(key, message, signature.sig.as_ref()) {
            return Err(TufError::BadSignature {
                role: role.to_string(),
                keyid,
            });
        }
        valid.push(&signature.keyid);
    }
    for (which, root, role_type) in key_sets {
        let RoleKeys {
            keyids, threshold, ..
        } = root
            .roles
            .get(role_type)
            .ok_or_else(|| malformed(role, format!("the {which} root has no {role_type} role")))?;
        let count = valid.iter().filter(|k| keyids.contains(k)).count();
        if (count as u64) < threshold.get() {
            return Err(TufError::Threshold {
                role: role.to_string(),
                version,
                which,
                valid: count,
                threshold: threshold.get(),
            });
        }
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn metafile(bytes: &[u8], version: NonZeroU64) -> Metafile {
    Metafile {
        length: Some(bytes.len() as u64),
        hashes: Some(Hashes {
            sha256: sha2::Sha256::digest(bytes).to_vec().into(),
            _extra: HashMap::new(),
        }),
        version,
        _extra: HashMap::new(),
    }
}

fn target_entry(bytes: &[u8]) -> Target {
    Target {
        length: bytes.len() as u64,
        hashes: Hashes {
            sha256: sha2::Sha256::digest(bytes).to_vec().into(),
            _extra: HashMap::new(),
        },
        custom: HashMap::new(),
        _extra: HashMap::new(),
    }
}

/// What `publish` changed.
#[derive(Debug)]
pub struct PublishReport {
    /// Root version now published.
    pub root_version: u64,
    /// Targets version now published.
    pub targets_version: u64,
    /// Snapshot version now published.
    pub snapshot_version: u64,
    /// Timestamp version now published.
    pub timestamp_version: u64,
}

/// Key sets of a new root.
#[derive(Debug, Default)]
pub struct RootKeys {
    /// Root keys (offline).
    pub root: Vec<PublicKey>,
    /// Root threshold.
    pub root_threshold: u64,
    /// Targets keys.
    pub targets: Vec<PublicKey>,
    /// Targets threshold.
    pub targets_threshold: u64,
    /// The online snapshot + timestamp key.
    pub online: Option<PublicKey>,
}

/// Changes to the current root for the next version.
#[derive(Debug, Default)]
pub struct RootChanges {
    /// Root keys to add.
    pub add_root: Vec<PublicKey>,
    /// Root key IDs (hex) to remove.
    pub remove_root: Vec<String>,
    /// New root threshold.
    pub root_threshold: Option<u64>,
    /// Targets keys to add.
    pub add_targets: Vec<PublicKey>,
    /// Targets key IDs (hex) to remove.
    pub remove_targets: Vec<String>,
    /// New targets threshold.
    pub targets_threshold: Option<u64>,
    /// Replacement online key.
    pub online: Option<PublicKey>,
}

impl Repository {
    /// The repository at `dir`.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory clients are served from.
    #[must_use]
    pub fn published_dir(&self) -> PathBuf {
        self.dir.join("published")
    }

    /// Where the online key lives by default.
    #[must_use]
    pub fn online_key_path(&self) -> PathBuf {
        self.dir.join("online-key.pem")
    }

    /// Take the repository's writer lock (`REPO/.lock`, flock(2)), waiting for another writer
    /// (a `publish` from the command line and the service's re-signing never interleave).
    fn lock(&self) -> Result<std::fs::File> {
        sigstack_durable::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.dir.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io(&path)(e.into()))?;
        Ok(file)
    }

    fn staged(&self, name: &str) -> PathBuf {
        self.dir.join("staged").join(name)
    }

    /// The configured lifetimes.
    pub fn lifetimes(&self) -> Result<Lifetimes> {
        let path = self.dir.join("repository.json");
        let bytes = read_optional(&path, "settings", 64 * 1024)?
            .ok_or_else(|| TufError::NotInitialised(self.dir.display().to_string()))?;
        let settings: Settings =
            serde_json::from_slice(&bytes).map_err(|e| malformed("settings", e))?;
        Ok(settings.lifetimes)
    }

    /// Load the published metadata, or `None` before the first publication.
    pub fn published(&self) -> Result<Option<Published>> {
        let dir = self.published_dir();
        let Some(timestamp) =
            read_optional(&dir.join("timestamp.json"), "timestamp", MAX_METADATA_SIZE)?
        else {
            return Ok(None);
        };
        let timestamp: Signed<Timestamp> = parse_signed("timestamp", &timestamp)?;
        let root: Signed<Root> = parse_signed(
            "root",
            &read_capped(&dir.join("root.json"), "root", MAX_METADATA_SIZE)?,
        )?;
        let snapshot_version = timestamp
            .signed
            .meta
            .get("snapshot.json")
            .ok_or_else(|| malformed("timestamp", "no snapshot.json entry"))?
            .version;
        let snapshot: Signed<Snapshot> = parse_signed(
            "snapshot",
            &read_capped(
                &dir.join(format!("{snapshot_version}.snapshot.json")),
                "snapshot",
                MAX_METADATA_SIZE,
            )?,
        )?;
        let targets_version = snapshot
            .signed
            .meta
            .get("targets.json")
            .ok_or_else(|| malformed("snapshot", "no targets.json entry"))?
            .version;
        let targets_bytes = read_capped(
            &dir.join(format!("{targets_version}.targets.json")),
            "targets",
            MAX_METADATA_SIZE,
        )?;
        let targets: Signed<Targets> = parse_signed("targets", &targets_bytes)?;
        Ok(Some(Published {
            root,
            targets,
            targets_bytes,
            snapshot,
            timestamp,
        }))
    }

    /// Create the repository: settings, and root v1 plus targets v1 staged for signing.
    pub fn init(
        &self,
        keys: &RootKeys,
        lifetimes: Lifetimes,
        targets: &[(String, Vec<u8>)],
        now: jiff::Timestamp,
    ) -> Result<()> {
        if self.dir.join("repository.json").exists() {
            return Err(malformed(
                "settings",
                format!("{} is already a repository", self.dir.display()),
            ));
        }
        let online = keys
            .online
            .as_ref()
            .ok_or_else(|| TufError::Key("an online key is required".into()))?;
        let mut root = Root {
            spec_version: SPEC_VERSION.to_string(),
            consistent_snapshot: true,
            version: NonZeroU64::MIN,
            expires: expires_in(now, lifetimes.root)?,
            keys: HashMap::new(),
            roles: HashMap::new(),
            _extra: HashMap::new(),
        };
        let mut role = |role_type, list: &[&PublicKey], threshold: u64| -> Result<()> {
            let mut keyids = Vec::new();
            for key in list {
                let tuf = tuf_key(key)?;
                let id = tuf.key_id().map_err(|e| TufError::Key(e.to_string()))?;
                root.keys.insert(id.clone(), tuf);
                keyids.push(id);
            }
            let threshold = NonZeroU64::new(threshold).ok_or_else(|| {
                malformed(
                    "root",
                    format!("role {role_type} threshold must be at least 1"),
                )
            })?;
            root.roles.insert(
                role_type,
                RoleKeys {
                    keyids,
                    threshold,
                    _extra: HashMap::new(),
                },
            );
            Ok(())
        };
        role(
            RoleType::Root,
            &keys.root.iter().collect::<Vec<_>>(),
            keys.root_threshold,
        )?;
        role(
            RoleType::Targets,
            &keys.targets.iter().collect::<Vec<_>>(),
            keys.targets_threshold,
        )?;
        role(RoleType::Snapshot, &[online], 1)?;
        role(RoleType::Timestamp, &[online], 1)?;
        check_root_structure(&root)?;
        write(
            &self.dir.join("repository.json"),
            &pretty(&Settings { lifetimes })?,
        )?;
        self.write_staged_root(root)?;
        self.stage_targets_version(1, targets, lifetimes, now)
    }

    fn write_staged_root(&self, root: Root) -> Result<()> {
        let signed = Signed {
            signed: root,
            signatures: Vec::new(),
        };
        write(&self.staged("root.json"), &pretty(&signed)?)
    }

    /// Stage the next root version from the published one with `changes` (key additions,
    /// removals, thresholds, online key) and a fresh expiry.
    pub fn stage_root(&self, changes: &RootChanges, now: jiff::Timestamp) -> Result<u64> {
        let _lock = self.lock()?;
        let lifetimes = self.lifetimes()?;
        let published = self
            .published()?
            .ok_or_else(|| TufError::NotInitialised(self.dir.display().to_string()))?;
        let mut root = published.root.signed.clone();
        let next = root.version.get() + 1;
        root.version = version(next);
        root.expires = expires_in(now, lifetimes.root)?;
        let mut edit = |role_type: RoleType,
                        add: &[PublicKey],
                        remove: &[String],
                        threshold: Option<u64>|
         -> Result<()> {
            let mut added = Vec::new();
            for key in add {
                let tuf = tuf_key(key)?;
                let id = tuf.key_id().map_err(|e| TufError::Key(e.to_string()))?;
                root.keys.insert(id.clone(), tuf);
                added.push(id);
            }
            let entry = root
                .roles
                .get_mut(&role_type)
                .ok_or_else(|| malformed("root", format!("role {role_type} is missing")))?;
            for id in remove {
                let before = entry.keyids.len();
                entry.keyids.retain(|k| hex_id(k) != *id);
                if entry.keyids.len() == before {
                    return Err(TufError::Key(format!("{id} is not a {role_type} key")));
                }
            }
            for id in added {
                if !entry.keyids.contains(&id) {
                    entry.keyids.push(id);
                }
            }
            if let Some(t) = threshold {
                entry.threshold = NonZeroU64::new(t).ok_or_else(|| {
                    malformed(
                        "root",
                        format!("role {role_type} threshold must be at least 1"),
                    )
                })?;
            }
            Ok(())
        };
        edit(
            RoleType::Root,
            &changes.add_root,
            &changes.remove_root,
            changes.root_threshold,
        )?;
        edit(
            RoleType::Targets,
            &changes.add_targets,
            &changes.remove_targets,
            changes.targets_threshold,
        )?;
        if let Some(online) = &changes.online {
            let tuf = tuf_key(online)?;
            let id = tuf.key_id().map_err(|e| TufError::Key(e.to_string()))?;
            root.keys.insert(id.clone(), tuf);
            for role_type in [RoleType::Snapshot, RoleType::Timestamp] {
                if let Some(entry) = root.roles.get_mut(&role_type) {
                    entry.keyids = vec![id.clone()];
                }
            }
        }
        // Revocation by removal: drop keys no role lists any more.
        let listed: HashSet<Vec<u8>> = root
            .roles
            .values()
            .flat_map(|r| r.keyids.iter().map(|k| k.as_ref().to_vec()))
            .collect();
        root.keys.retain(|k, _| listed.contains(k.as_ref()));
        check_root_structure(&root)?;
        self.write_staged_root(root)?;
        Ok(next)
    }

    /// Stage the next targets version with new target files (or the published ones when
    /// `targets` is empty: an expiry refresh).
    pub fn stage_targets(
        &self,
        targets: &[(String, Vec<u8>)],
        now: jiff::Timestamp,
    ) -> Result<u64> {
        let _lock = self.lock()?;
        let lifetimes = self.lifetimes()?;
        let published = self
            .published()?
            .ok_or_else(|| TufError::NotInitialised(self.dir.display().to_string()))?;
        let next = published.targets.signed.version.get() + 1;
        let mut files = Vec::new();
        for name in TARGET_NAMES {
            if let Some((_, bytes)) = targets.iter().find(|(n, _)| n == name) {
                files.push((name.to_string(), bytes.clone()));
            } else {
                files.push((
                    name.to_string(),
                    self.published_target(&published.targets.signed, name)?,
                ));
            }
        }
        self.stage_targets_version(next, &files, lifetimes, now)?;
        Ok(next)
    }

    fn published_target(&self, targets: &Targets, name: &str) -> Result<Vec<u8>> {
        let entry = targets
            .targets
            .iter()
            .find(|(n, _)| n.raw() == name)
            .map(|(_, t)| t)
            .ok_or_else(|| malformed("targets", format!("published targets do not list {name}")))?;
        let path = self.published_dir().join("targets").join(format!(
            "{}.{name}",
            hex::encode(entry.hashes.sha256.as_ref())
        ));
        read_capped(&path, "targets", MAX_TARGET_SIZE)
    }

    fn stage_targets_version(
        &self,
        next: u64,
        files: &[(String, Vec<u8>)],
        lifetimes: Lifetimes,
        now: jiff::Timestamp,
    ) -> Result<()> {
        let mut targets = Targets::new(
            SPEC_VERSION.to_string(),
            version(next),
            expires_in(now, lifetimes.targets)?,
        );
        for (name, bytes) in files {
            if !TARGET_NAMES.contains(&name.as_str()) {
                return Err(malformed(
                    "targets",
                    format!("unexpected target name {name}"),
                ));
            }
            if bytes.len() as u64 > MAX_TARGET_SIZE {
                return Err(TufError::Oversized {
                    role: "targets".into(),
                    path: name.clone(),
                    size: bytes.len() as u64,
                    limit: MAX_TARGET_SIZE,
                });
            }
            serde_json::from_slice::<serde_json::Value>(bytes)
                .map_err(|e| malformed("targets", format!("target {name} is not JSON: {e}")))?;
            let target_name =
                tough::TargetName::new(name.clone()).map_err(|e| malformed("targets", e))?;
            targets.add_target(target_name, target_entry(bytes));
            write(&self.staged("targets").join(name), bytes)?;
        }
        let signed = Signed {
            signed: targets,
            signatures: Vec::new(),
        };
        write(&self.staged("targets.json"), &pretty(&signed)?)
    }

    /// Publish what is staged, with the detached signatures in `signature_files`.
    pub async fn publish(
        &self,
        online: Arc<dyn Signer>,
        signature_files: &[PathBuf],
        now: jiff::Timestamp,
    ) -> Result<PublishReport> {
        let _lock = self.lock()?;
        let lifetimes = self.lifetimes()?;
        let current = self.published()?;
        let staged_root = read_optional(&self.staged("root.json"), "root", MAX_METADATA_SIZE)?
            .map(|b| parse_signed::<Root>("root", &b))
            .transpose()?;
        let staged_targets =
            read_optional(&self.staged("targets.json"), "targets", MAX_METADATA_SIZE)?
                .map(|b| parse_signed::<Targets>("targets", &b))
                .transpose()?;
        if staged_root.is_none() && staged_targets.is_none() {
            return Err(TufError::NothingStaged);
        }
        let mut root_signatures = Vec::new();
        let mut targets_signatures = Vec::new();
        let root_digest = staged_root
            .as_ref()
            .map(|r| canonical("root", &r.signed))
            .transpose()?;
        let targets_digest = staged_targets
            .as_ref()
            .map(|t| canonical("targets", &t.signed))
            .transpose()?;
        for file in signature_files {
            let bytes = read_capped(file, "signature", MAX_SIGNATURE_FILE_SIZE)?;
            let detached: DetachedSignature = serde_json::from_slice(&bytes)
                .map_err(|e| malformed(format!("signature file {}", file.display()), e))?;
            let (message, version, list) = match detached.role.as_str() {
                "root" => (
                    root_digest.as_ref(),
                    staged_root.as_ref().map(|r| r.signed.version.get()),
                    &mut root_signatures,
                ),
                "targets" => (
                    targets_digest.as_ref(),
                    staged_targets.as_ref().map(|t| t.signed.version.get()),
                    &mut targets_signatures,
                ),
                other => {
                    return Err(malformed(
                        "signature",
                        format!("{} names role {other:?}", file.display()),
                    ));
                }
            };
            let matches = message.is_some_and(|m| sha256_hex(m) == detached.signed_sha256)
                && version == Some(detached.version);
            if !matches {
                return Err(TufError::WrongProposal {
                    role: detached.role.clone(),
                    file: file.display().to_string(),
                    detail: format!(
                        "{} v{} sha256 {}",
                        detached.role, detached.version, detached.signed_sha256
                    ),
                });
            }
            list.push(detached.signature);
        }

        // Root.
        let root = match staged_root {
            Some(mut proposed) => {
                let v = proposed.signed.version.get();
                let expected = current
                    .as_ref()
                    .map_or(1, |c| c.root.signed.version.get() + 1);
                if v != expected {
                    return Err(TufError::Rollback {
                        role: "root".into(),
                        got: v,
                        current: expected - 1,
                        rule: "each root version is exactly the previous one plus 1",
                    });
                }
                check_not_expired("root", v, proposed.signed.expires, now)?;
                check_root_structure(&proposed.signed)?;
                let message = root_digest.unwrap_or_default();
                let mut key_sets = vec![("new", &proposed.signed, RoleType::Root)];
                if let Some(c) = &current {
                    key_sets.push(("current", &c.root.signed, RoleType::Root));
                }
                check_signatures("root", v, &message, &root_signatures, &key_sets)?;
                proposed.signatures = root_signatures;
                Some(proposed)
            }
            None => {
                if !root_signatures.is_empty() {
                    return Err(malformed("root", "signatures given but no root is staged"));
                }
                None
            }
        };
        let new_root = match (&root, &current) {
            (Some(r), _) => r.clone(),
            (None, Some(c)) => c.root.clone(),
            (None, None) => return Err(TufError::NotInitialised(self.dir.display().to_string())),
        };
        check_not_expired(
            "root",
            new_root.signed.version.get(),
            new_root.signed.expires,
            now,
        )?;

        // Targets.
        let (targets, target_files, new_targets_bytes) = match staged_targets {
            Some(mut proposed) => {
                let v = proposed.signed.version.get();
                if let Some(c) = &current {
                    let cur = c.targets.signed.version.get();
                    if v <= cur {
                        return Err(TufError::Rollback {
                            role: "targets".into(),
                            got: v,
                            current: cur,
                            rule: "a targets version must be greater than the published one",
                        });
                    }
                }
                check_not_expired("targets", v, proposed.signed.expires, now)?;
                if proposed
                    .signed
                    .delegations
                    .as_ref()
                    .is_some_and(|d| !d.roles.is_empty())
                {
                    return Err(malformed(
                        "targets",
                        "delegations are not supported: sigstore clients read top-level targets only",
                    ));
                }
                let message = targets_digest.unwrap_or_default();
                check_signatures(
                    "targets",
                    v,
                    &message,
                    &targets_signatures,
                    &[("new", &new_root.signed, RoleType::Targets)],
                )?;
                proposed.signatures = targets_signatures;
                let mut files = Vec::new();
                for (name, entry) in &proposed.signed.targets {
                    let name = name.raw().to_string();
                    if !TARGET_NAMES.contains(&name.as_str()) {
                        return Err(malformed(
                            "targets",
                            format!("unexpected target name {name}"),
                        ));
                    }
                    let bytes = read_capped(
                        &self.staged("targets").join(&name),
                        "targets",
                        MAX_TARGET_SIZE,
                    )?;
                    if bytes.len() as u64 != entry.length {
                        return Err(TufError::TargetMismatch {
                            name,
                            rule: format!(
                                "length {} differs from the {} bytes listed",
                                bytes.len(),
                                entry.length
                            ),
                        });
                    }
                    if sha2::Sha256::digest(&bytes).as_slice() != entry.hashes.sha256.as_ref() {
                        return Err(TufError::TargetMismatch {
                            name,
                            rule: "sha256 differs from the hash listed".into(),
                        });
                    }
                    files.push((name, entry.hashes.sha256.as_ref().to_vec(), bytes));
                }
                for name in TARGET_NAMES {
                    if !files.iter().any(|(n, _, _)| n == name) {
                        return Err(malformed(
                            "targets",
                            format!("{name} is not listed (sigstore clients need it)"),
                        ));
                    }
                }
                let bytes = pretty(&proposed)?;
                (proposed, files, Some(bytes))
            }
            None => {
                if !targets_signatures.is_empty() {
                    return Err(malformed(
                        "targets",
                        "signatures given but no targets are staged",
                    ));
                }
                let c = current
                    .as_ref()
                    .ok_or_else(|| TufError::NotInitialised(self.dir.display().to_string()))?;
                let message = canonical("targets", &c.targets.signed)?;
                // The published targets must still satisfy the (possibly new) root.
                check_signatures(
                    "targets",
                    c.targets.signed.version.get(),
                    &message,
                    &c.targets.signatures,
                    &[("new", &new_root.signed, RoleType::Targets)],
                )
                .map_err(|e| {
                    malformed(
                        "targets",
                        format!(
                            "the published targets no longer satisfy the new root ({e}); stage \
                             targets signed by the new targets keys in the same publication"
                        ),
                    )
                })?;
                check_not_expired(
                    "targets",
                    c.targets.signed.version.get(),
                    c.targets.signed.expires,
                    now,
                )?;
                (c.targets.clone(), Vec::new(), None)
            }
        };

        // Snapshot and timestamp, signed by the online key.
        let snapshot_version = current
            .as_ref()
            .map_or(1, |c| c.snapshot.signed.version.get() + 1);
        let timestamp_version = current
            .as_ref()
            .map_or(1, |c| c.timestamp.signed.version.get() + 1);
        // Snapshot hashes the targets file exactly as it is (or will be) published.
        let targets_bytes = match (&new_targets_bytes, &current) {
            (Some(bytes), _) => bytes.clone(),
            (None, Some(c)) => c.targets_bytes.clone(),
            (None, None) => return Err(TufError::NotInitialised(self.dir.display().to_string())),
        };
        let (snapshot_bytes, timestamp_bytes) = self
            .sign_online(
                &new_root.signed,
                online,
                snapshot_version,
                &targets_bytes,
                targets.signed.version,
                timestamp_version,
                lifetimes,
                now,
            )
            .await?;

        let root_bytes = pretty(&new_root)?;
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for (name, sha, bytes) in target_files {
            files.push((format!("targets/{}.{name}", hex::encode(sha)), bytes));
        }
        if root.is_some() {
            files.push((
                format!("{}.root.json", new_root.signed.version),
                root_bytes.clone(),
            ));
            files.push(("root.json".into(), root_bytes));
        }
        if let Some(bytes) = new_targets_bytes {
            files.push((format!("{}.targets.json", targets.signed.version), bytes));
        }
        files.push((format!("{snapshot_version}.snapshot.json"), snapshot_bytes));
        files.push(("timestamp.json".into(), timestamp_bytes));
        self.check_with_client_and_write(&files).await?;
        for name in ["root.json", "targets.json"] {
            let _ = std::fs::remove_file(self.staged(name));
        }
        let _ = std::fs::remove_dir_all(self.staged("targets"));
        Ok(PublishReport {
            root_version: new_root.signed.version.get(),
            targets_version: targets.signed.version.get(),
            snapshot_version,
            timestamp_version,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn sign_online(
        &self,
        root: &Root,
        online: Arc<dyn Signer>,
        snapshot_version: u64,
        targets_bytes: &[u8],
        targets_version: NonZeroU64,
        timestamp_version: u64,
        lifetimes: Lifetimes,
        now: jiff::Timestamp,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let online_id = key_id(
            &online
                .public_key()
                .map_err(|e| TufError::Key(e.to_string()))?,
        )?;
        for role_type in [RoleType::Snapshot, RoleType::Timestamp] {
            let listed = root
                .roles
                .get(&role_type)
                .is_some_and(|r| r.keyids.contains(&online_id));
            if !listed {
                return Err(TufError::Key(format!(
                    "the online key {} is not a {role_type} key of the root",
                    hex_id(&online_id)
                )));
            }
        }
        let mut snapshot = Snapshot::new(
            SPEC_VERSION.to_string(),
            version(snapshot_version),
            expires_in(now, lifetimes.snapshot)?,
        );
        snapshot.meta.insert(
            "targets.json".into(),
            metafile(targets_bytes, targets_version),
        );
        let holder = tough::schema::KeyHolder::Root(root.clone());
        let keys: Vec<Box<dyn tough::key_source::KeySource>> =
            vec![Box::new(SignerKeySource(online))];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let snapshot = tough::editor::signed::SignedRole::new(snapshot, &holder, &keys, &rng)
            .await
            .map_err(|e| TufError::Key(format!("signing snapshot: {e}")))?;
        let mut timestamp = Timestamp::new(
            SPEC_VERSION.to_string(),
            version(timestamp_version),
            expires_in(now, lifetimes.timestamp)?,
        );
        timestamp.meta.insert(
            "snapshot.json".into(),
            metafile(snapshot.buffer(), version(snapshot_version)),
        );
        let timestamp = tough::editor::signed::SignedRole::new(timestamp, &holder, &keys, &rng)
            .await
            .map_err(|e| TufError::Key(format!("signing timestamp: {e}")))?;
        Ok((snapshot.buffer().clone(), timestamp.buffer().clone()))
    }

    /// Copy the published tree, lay `files` over the copy, load it with tough's client from the
    /// first root (walking every root rotation, checking every signature, hash, length and
    /// expiry), read both targets back, and only then write `files` into the published tree,
    /// timestamp last.
    async fn check_with_client_and_write(&self, files: &[(String, Vec<u8>)]) -> Result<()> {
        let published = self.published_dir();
        let root_dir = std::path::absolute(&self.dir).map_err(io(&self.dir))?;
        let candidate = root_dir.join(".candidate");
        let _ = std::fs::remove_dir_all(&candidate);
        copy_tree(&published, &candidate)?;
        for (name, bytes) in files {
            write(&candidate.join(name), bytes)?;
        }
        let first_root = read_capped(&candidate.join("1.root.json"), "root", MAX_METADATA_SIZE)?;
        let base = url::Url::from_directory_path(&candidate).map_err(|()| {
            TufError::ClientCheck(format!("{} is not an absolute path", candidate.display()))
        })?;
        let targets_url = base
            .join("targets/")
            .map_err(|e| TufError::ClientCheck(e.to_string()))?;
        let datastore = root_dir.join(".candidate-client");
        let _ = std::fs::remove_dir_all(&datastore);
        sigstack_durable::create_dir_all(&datastore).map_err(io(&datastore))?;
        let loaded = tough::RepositoryLoader::new(&first_root, base, targets_url)
            .datastore(&datastore)
            .expiration_enforcement(tough::ExpirationEnforcement::Safe)
            .load()
            .await
            .map_err(|e| TufError::ClientCheck(error_chain(&e)))?;
        for name in TARGET_NAMES {
            let target =
                tough::TargetName::new(name).map_err(|e| TufError::ClientCheck(e.to_string()))?;
            let stream = loaded
                .read_target(&target)
                .await
                .map_err(|e| TufError::ClientCheck(error_chain(&e)))?
                .ok_or_else(|| TufError::ClientCheck(format!("{name} is not listed")))?;
            use tough::IntoVec as _;
            stream
                .into_vec()
                .await
                .map_err(|e| TufError::ClientCheck(format!("{name}: {}", error_chain(&e))))?;
        }
        let _ = std::fs::remove_dir_all(&datastore);
        let _ = std::fs::remove_dir_all(&candidate);
        for (name, bytes) in files {
            write(&published.join(name), bytes)?;
        }
        Ok(())
    }

    /// Re-sign snapshot and timestamp with the online key when either is within half its
    /// lifetime of expiry (or always with `force`). `timestamp_lifetime` overrides the configured
    /// lifetime for this one signature. Returns the new timestamp version, if one was written.
    pub async fn refresh(
        &self,
        online: Arc<dyn Signer>,
        now: jiff::Timestamp,
        force: bool,
        timestamp_lifetime: Option<u64>,
    ) -> Result<Option<u64>> {
        let _lock = self.lock()?;
        let mut lifetimes = self.lifetimes()?;
        let current = self
            .published()?
            .ok_or_else(|| TufError::NotInitialised(self.dir.display().to_string()))?;
        let half = |seconds: u64| {
            jiff::SignedDuration::from_secs(i64::try_from(seconds / 2).unwrap_or(i64::MAX))
        };
        let snapshot_due =
            current.snapshot.signed.expires.duration_since(now) < half(lifetimes.snapshot);
        let timestamp_due =
            current.timestamp.signed.expires.duration_since(now) < half(lifetimes.timestamp);
        if !(force || snapshot_due || timestamp_due) {
            return Ok(None);
        }
        if let Some(seconds) = timestamp_lifetime {
            lifetimes.timestamp = seconds;
        }
        let targets_bytes = current.targets_bytes.clone();
        let snapshot_version = current.snapshot.signed.version.get() + 1;
        let timestamp_version = current.timestamp.signed.version.get() + 1;
        let (snapshot, timestamp) = self
            .sign_online(
                &current.root.signed,
                online,
                snapshot_version,
                &targets_bytes,
                current.targets.signed.version,
                timestamp_version,
                lifetimes,
                now,
            )
            .await?;
        let published = self.published_dir();
        write(
            &published.join(format!("{snapshot_version}.snapshot.json")),
            &snapshot,
        )?;
        write(&published.join("timestamp.json"), &timestamp)?;
        Ok(Some(timestamp_version))
    }
}

impl Repository {
    /// A human-readable account of what is published and what is staged: versions, expiries,
    /// and for each staged proposal the keys and thresholds whose signatures it needs.
    pub fn status(&self) -> Result<String> {
        use std::fmt::Write as _;
        let mut out = String::new();
        let current = self.published()?;
        match &current {
            Some(p) => {
                let _ = writeln!(out, "published in {}:", self.published_dir().display());
                let _ = writeln!(
                    out,
                    "  root      v{} expires {}",
                    p.root.signed.version, p.root.signed.expires
                );
                let _ = writeln!(
                    out,
                    "  targets   v{} expires {}",
                    p.targets.signed.version, p.targets.signed.expires
                );
                let _ = writeln!(
                    out,
                    "  snapshot  v{} expires {}",
                    p.snapshot.signed.version, p.snapshot.signed.expires
                );
                let _ = writeln!(
                    out,
                    "  timestamp v{} expires {}",
                    p.timestamp.signed.version, p.timestamp.signed.expires
                );
            }
            None => {
                let _ = writeln!(out, "nothing published yet");
            }
        }
        let describe_role = |out: &mut String, which: &str, root: &Root, role: RoleType| {
            if let Some(keys) = root.roles.get(&role) {
                let ids: Vec<String> = keys.keyids.iter().map(hex_id).collect();
                let _ = writeln!(
                    out,
                    "    {which} root: {} of [{}]",
                    keys.threshold,
                    ids.join(", ")
                );
            }
        };
        if let Some(bytes) = read_optional(&self.staged("root.json"), "root", MAX_METADATA_SIZE)? {
            let staged: Signed<Root> = parse_signed("root", &bytes)?;
            let digest = sha256_hex(&canonical("root", &staged.signed)?);
            let _ = writeln!(
                out,
                "staged root v{} (sha256 {digest}) needs signatures from",
                staged.signed.version
            );
            describe_role(&mut out, "new", &staged.signed, RoleType::Root);
            if let Some(p) = &current {
                describe_role(&mut out, "current", &p.root.signed, RoleType::Root);
            }
        }
        if let Some(bytes) =
            read_optional(&self.staged("targets.json"), "targets", MAX_METADATA_SIZE)?
        {
            let staged: Signed<Targets> = parse_signed("targets", &bytes)?;
            let digest = sha256_hex(&canonical("targets", &staged.signed)?);
            let _ = writeln!(
                out,
                "staged targets v{} (sha256 {digest}) needs signatures from",
                staged.signed.version
            );
            let staged_root = read_optional(&self.staged("root.json"), "root", MAX_METADATA_SIZE)?
                .map(|b| parse_signed::<Root>("root", &b))
                .transpose()?;
            if let Some(root) = staged_root
                .as_ref()
                .map(|r| &r.signed)
                .or(current.as_ref().map(|p| &p.root.signed))
            {
                describe_role(&mut out, "the", root, RoleType::Targets);
            }
        }
        Ok(out)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    sigstack_durable::create_dir_all(to).map_err(io(to))?;
    let entries = match std::fs::read_dir(from) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(from)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(from))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(io(&path))?.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            std::fs::copy(&path, &target).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// What a staged proposal says, for the member to review before signing: version, expiry, and
/// the key sets (root) or the target hashes (targets).
pub fn summarize_staged(unverified_staged: &[u8]) -> Result<String> {
    use std::fmt::Write as _;
    let value: serde_json::Value =
        serde_json::from_slice(unverified_staged).map_err(|e| malformed("staged", e))?;
    let mut out = String::new();
    match value["signed"]["_type"].as_str() {
        Some("root") => {
            let r: Signed<Root> = parse_signed("root", unverified_staged)?;
            let _ = writeln!(
                out,
                "root v{} expires {}",
                r.signed.version, r.signed.expires
            );
            let mut roles: Vec<_> = r.signed.roles.iter().collect();
            roles.sort_by_key(|(role, _)| role.to_string());
            for (role, keys) in roles {
                let ids: Vec<String> = keys.keyids.iter().map(hex_id).collect();
                let _ = writeln!(out, "  {role}: {} of [{}]", keys.threshold, ids.join(", "));
            }
        }
        Some("targets") => {
            let t: Signed<Targets> = parse_signed("targets", unverified_staged)?;
            let _ = writeln!(
                out,
                "targets v{} expires {}",
                t.signed.version, t.signed.expires
            );
            let mut targets: Vec<_> = t.signed.targets.iter().collect();
            targets.sort_by_key(|(name, _)| name.raw().to_string());
            for (name, target) in targets {
                let _ = writeln!(
                    out,
                    "  {}: {} bytes, sha256 {}",
                    name.raw(),
                    target.length,
                    hex::encode(target.hashes.sha256.as_ref())
                );
            }
        }
        other => {
            return Err(malformed(
                "staged",
                format!("not a root or targets proposal: {other:?}"),
            ));
        }
    }
    Ok(out)
}

/// Sign a staged proposal (root or targets) with one member's key: the detached signature file
/// the publisher collects.
pub fn sign_staged(unverified_staged: &[u8], signer: &dyn Signer) -> Result<DetachedSignature> {
    let value: serde_json::Value =
        serde_json::from_slice(unverified_staged).map_err(|e| malformed("staged", e))?;
    let role = value["signed"]["_type"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (message, version) = match role.as_str() {
        "root" => {
            let r: Signed<Root> = parse_signed("root", unverified_staged)?;
            check_root_structure(&r.signed)?;
            (canonical("root", &r.signed)?, r.signed.version.get())
        }
        "targets" => {
            let t: Signed<Targets> = parse_signed("targets", unverified_staged)?;
            (canonical("targets", &t.signed)?, t.signed.version.get())
        }
        other => {
            return Err(malformed(
                "staged",
                format!("cannot sign role {other:?}: only root and targets are signed offline"),
            ));
        }
    };
    let key = signer
        .public_key()
        .map_err(|e| TufError::Key(e.to_string()))?;
    let keyid = key_id(&key)?;
    let sig = signer
        .sign(&message)
        .map_err(|e| TufError::Key(e.to_string()))?;
    Ok(DetachedSignature {
        role,
        version,
        signed_sha256: sha256_hex(&message),
        signature: Signature {
            keyid,
            sig: sig.into(),
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
