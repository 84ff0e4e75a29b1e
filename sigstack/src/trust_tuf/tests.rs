//! The repository's refusals: each names the role and the rule, and publishes nothing.

use sigstack_keys::FileSigner;

use super::*;

struct Fixture {
    dir: tempfile::TempDir,
    repo: Repository,
    alice: FileSigner,
    bob: FileSigner,
    carol: FileSigner,
    tom: FileSigner,
    online: Arc<dyn Signer>,
}

fn key() -> FileSigner {
    FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap()
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

const TRUSTED_ROOT: &[u8] =
    br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#;
const SIGNING_CONFIG: &[u8] =
    br#"{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json"}"#;

/// A repository with root v1 (alice, bob, carol: 2 of 3) and targets v1 (tom) staged.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::new(dir.path().join("repo"));
    let (alice, bob, carol, tom) = (key(), key(), key(), key());
    let online: Arc<dyn Signer> =
        Arc::new(FileSigner::generate(SignatureAlgorithm::Ed25519).unwrap());
    repo.init(
        &RootKeys {
            root: vec![
                alice.public_key().unwrap(),
                bob.public_key().unwrap(),
                carol.public_key().unwrap(),
            ],
            root_threshold: 2,
            targets: vec![tom.public_key().unwrap()],
            targets_threshold: 1,
            online: Some(online.public_key().unwrap()),
        },
        Lifetimes::default(),
        &[
            (TARGET_NAMES[0].into(), TRUSTED_ROOT.to_vec()),
            (TARGET_NAMES[1].into(), SIGNING_CONFIG.to_vec()),
        ],
        now(),
    )
    .unwrap();
    Fixture {
        dir,
        repo,
        alice,
        bob,
        carol,
        tom,
        online,
    }
}

impl Fixture {
    fn staged(&self, role: &str) -> PathBuf {
        self.repo.staged(&format!("{role}.json"))
    }

    /// A member's detached signature over the staged `role`, as a file.
    fn sign(&self, role: &str, signer: &FileSigner, name: &str) -> PathBuf {
        let staged = std::fs::read(self.staged(role)).unwrap();
        let sig = sign_staged(&staged, signer).unwrap();
        let path = self.dir.path().join(format!("{name}.{role}.sig"));
        std::fs::write(&path, serde_json::to_vec(&sig).unwrap()).unwrap();
        path
    }

    async fn publish(&self, signatures: &[PathBuf]) -> Result<PublishReport> {
        self.repo
            .publish(self.online.clone(), signatures, now())
            .await
    }

    fn nothing_new_published(&self, timestamp_version: u64) -> bool {
        self.repo
            .published()
            .unwrap()
            .is_some_and(|p| p.timestamp.signed.version.get() == timestamp_version)
    }

    fn nothing_published(&self) -> bool {
        !self.repo.published_dir().join("timestamp.json").exists()
    }

    /// Publish root v1 and targets v1 with a valid quorum.
    async fn first_publication(&self) {
        let sigs = [
            self.sign("root", &self.alice, "alice"),
            self.sign("root", &self.bob, "bob"),
            self.sign("targets", &self.tom, "tom"),
        ];
        self.publish(&sigs).await.unwrap();
    }

    fn edit_staged(&self, role: &str, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = self.staged(role);
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut v);
        std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    }
}

fn assert_refused<T: std::fmt::Debug>(result: Result<T>, needles: &[&str]) {
    let message = result.unwrap_err().to_string();
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
    }
}

#[tokio::test]
async fn a_quorum_publishes_every_role_and_the_client_check_reads_it_back() {
    let f = fixture();
    f.first_publication().await;
    let published = f.repo.published().unwrap().unwrap();
    assert_eq!(published.root.signed.version.get(), 1);
    assert_eq!(published.timestamp.signed.version.get(), 1);
    let dir = f.repo.published_dir();
    for name in [
        "1.root.json",
        "root.json",
        "1.targets.json",
        "1.snapshot.json",
    ] {
        assert!(dir.join(name).exists(), "{name}");
    }
    let digest = hex::encode(sha2::Sha256::digest(TRUSTED_ROOT));
    assert_eq!(
        std::fs::read(dir.join(format!("targets/{digest}.trusted_root.json"))).unwrap(),
        TRUSTED_ROOT
    );
    // Staged proposals are consumed; publishing again has nothing to do.
    assert!(matches!(f.publish(&[]).await, Err(TufError::NothingStaged)));
    // tough's own threshold check agrees with ours.
    published.root.signed.verify_role(&published.root).unwrap();
    published
        .root
        .signed
        .verify_role(&published.targets)
        .unwrap();
    published
        .root
        .signed
        .verify_role(&published.timestamp)
        .unwrap();
}

#[tokio::test]
async fn signature_problems_are_refused_and_nothing_is_published() {
    let f = fixture();
    let alice = f.sign("root", &f.alice, "alice");
    let tom = f.sign("targets", &f.tom, "tom");

    assert_refused(
        f.publish(&[alice.clone(), tom.clone()]).await,
        &[
            "root v1",
            "threshold not met",
            "1 valid signature(s)",
            "2 required",
        ],
    );

    let again = f.dir.path().join("alice-again.sig");
    std::fs::copy(&alice, &again).unwrap();
    assert_refused(
        f.publish(&[alice.clone(), again, tom.clone()]).await,
        &["root:", "signed more than once"],
    );

    let mallory = f.sign("root", &key(), "mallory");
    assert_refused(
        f.publish(&[alice.clone(), mallory, tom.clone()]).await,
        &["root:", "unknown key"],
    );
    // tom is a targets key, not a root key.
    let tom_on_root = f.sign("root", &f.tom, "tom-root");
    assert_refused(
        f.publish(&[alice.clone(), tom_on_root, tom.clone()]).await,
        &["root:", "unknown key"],
    );

    let bob = f.sign("root", &f.bob, "bob");
    let mut forged: DetachedSignature =
        serde_json::from_slice(&std::fs::read(&bob).unwrap()).unwrap();
    let mut sig = forged.signature.sig.as_ref().to_vec();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    forged.signature.sig = sig.into();
    let forged_path = f.dir.path().join("forged.sig");
    std::fs::write(&forged_path, serde_json::to_vec(&forged).unwrap()).unwrap();
    assert_refused(
        f.publish(&[alice.clone(), forged_path, tom.clone()]).await,
        &["root:", "does not verify"],
    );

    // A signature over a different proposal (the proposal changed after bob signed).
    f.edit_staged("root", |v| {
        v["signed"]["expires"] = "2099-01-01T00:00:00Z".into()
    });
    assert_refused(
        f.publish(&[alice, bob, tom]).await,
        &["root:", "not the staged proposal"],
    );

    let garbage = f.dir.path().join("garbage.sig");
    std::fs::write(&garbage, b"{not json").unwrap();
    assert_refused(f.publish(&[garbage]).await, &["malformed metadata"]);
    let huge = f.dir.path().join("huge.sig");
    std::fs::write(&huge, vec![b' '; 20_000]).unwrap();
    assert_refused(
        f.publish(&[huge]).await,
        &["signature:", "over the 16384-byte limit"],
    );
    assert!(f.nothing_published());
}

#[tokio::test]
async fn targets_with_a_wrong_hash_or_length_are_refused() {
    let f = fixture();
    let summary = summarize_staged(&std::fs::read(f.staged("targets")).unwrap()).unwrap();
    let digest = hex::encode(sha2::Sha256::digest(TRUSTED_ROOT));
    assert!(
        summary.contains(&format!(
            "trusted_root.json: {} bytes, sha256 {digest}",
            TRUSTED_ROOT.len()
        )),
        "{summary}"
    );
    let summary = summarize_staged(&std::fs::read(f.staged("root")).unwrap()).unwrap();
    assert!(summary.starts_with("root v1 expires "), "{summary}");
    assert!(summary.contains("  root: 2 of ["), "{summary}");
    let status = f.repo.status().unwrap();
    assert!(status.contains("nothing published yet"), "{status}");
    assert!(status.contains("staged root v1"), "{status}");
    assert!(status.contains("new root: 2 of ["), "{status}");
    assert!(status.contains("staged targets v1"), "{status}");
    let sigs = [
        f.sign("root", &f.alice, "alice"),
        f.sign("root", &f.carol, "carol"),
        f.sign("targets", &f.tom, "tom"),
    ];
    let target = f.repo.staged("targets").join("trusted_root.json");
    let mut same_length = TRUSTED_ROOT.to_vec();
    same_length[2] = b'X';
    std::fs::write(&target, &same_length).unwrap();
    assert_refused(
        f.publish(&sigs).await,
        &["targets: target trusted_root.json", "sha256 differs"],
    );
    std::fs::write(&target, [TRUSTED_ROOT, b" "].concat()).unwrap();
    assert_refused(
        f.publish(&sigs).await,
        &["targets: target trusted_root.json", "length"],
    );
    assert!(f.nothing_published());
    std::fs::write(&target, TRUSTED_ROOT).unwrap();
    f.publish(&sigs).await.unwrap();
}

#[tokio::test]
async fn malformed_oversized_and_expired_metadata_are_refused() {
    let f = fixture();
    let sigs = [
        f.sign("root", &f.alice, "alice"),
        f.sign("root", &f.bob, "bob"),
        f.sign("targets", &f.tom, "tom"),
    ];
    let root = std::fs::read(f.staged("root")).unwrap();

    std::fs::write(f.staged("root"), b"{\"signed\":").unwrap();
    assert_refused(f.publish(&sigs).await, &["root: malformed metadata"]);

    std::fs::write(f.staged("root"), vec![b' '; 600_000]).unwrap();
    assert_refused(
        f.publish(&sigs).await,
        &["root:", "over the 524288-byte limit"],
    );

    std::fs::write(f.staged("root"), &root).unwrap();
    f.edit_staged("root", |v| {
        v["signed"]["expires"] = "2020-01-01T00:00:00Z".into()
    });
    // (No signature files: signatures over the unedited proposal would not match it.)
    assert_refused(
        f.publish(&[]).await,
        &["root v1: expired", "expired metadata is never published"],
    );

    std::fs::write(f.staged("root"), &root).unwrap();
    f.edit_staged("root", |v| {
        v["signed"]["roles"]["root"]["threshold"] = 4.into();
    });
    assert_refused(
        f.publish(&[]).await,
        &["root: malformed", "threshold 4 exceeds"],
    );
    assert!(f.nothing_published());
}

#[tokio::test]
async fn version_rollbacks_are_refused() {
    let f = fixture();
    f.first_publication().await;
    f.repo.stage_root(&RootChanges::default(), now()).unwrap();
    f.repo.stage_targets(&[], now()).unwrap();
    f.edit_staged("root", |v| v["signed"]["version"] = 1.into());
    f.edit_staged("targets", |v| v["signed"]["version"] = 1.into());
    let sigs = [
        f.sign("root", &f.alice, "alice"),
        f.sign("root", &f.bob, "bob"),
        f.sign("targets", &f.tom, "tom"),
    ];
    assert_refused(
        f.publish(&sigs).await,
        &[
            "root: version 1 after published version 1",
            "exactly the previous one plus 1",
        ],
    );
    f.repo.stage_root(&RootChanges::default(), now()).unwrap();
    let sigs = [
        f.sign("root", &f.alice, "alice"),
        f.sign("root", &f.bob, "bob"),
        f.sign("targets", &f.tom, "tom"),
    ];
    assert_refused(
        f.publish(&sigs).await,
        &[
            "targets: version 1 after published version 1",
            "greater than the published one",
        ],
    );
    let published = f.repo.published().unwrap().unwrap();
    assert_eq!(
        published.timestamp.signed.version.get(),
        1,
        "nothing published"
    );
}

#[tokio::test]
async fn root_rotation_needs_the_current_and_the_new_threshold_and_revokes_removed_keys() {
    let f = fixture();
    f.first_publication().await;
    let dave = key();
    let alice_id = hex::encode(key_id(&f.alice.public_key().unwrap()).unwrap().as_ref());
    f.repo
        .stage_root(
            &RootChanges {
                add_root: vec![dave.public_key().unwrap()],
                remove_root: vec![alice_id.clone()],
                root_threshold: Some(2),
                ..RootChanges::default()
            },
            now(),
        )
        .unwrap();
    let staged: Signed<Root> =
        serde_json::from_slice(&std::fs::read(f.staged("root")).unwrap()).unwrap();
    assert!(
        !staged.signed.keys.keys().any(|k| hex_id(k) == alice_id),
        "revoked key dropped"
    );
    let carol = f.sign("root", &f.carol, "carol");
    let dave_sig = f.sign("root", &dave, "dave");
    // carol + dave meet the new threshold (bob, carol, dave: 2) but only 1 of the current.
    assert_refused(
        f.publish(&[carol.clone(), dave_sig.clone()]).await,
        &["root v2: threshold not met", "current root's root keys"],
    );
    let bob = f.sign("root", &f.bob, "bob");
    let report = f.publish(&[bob, carol, dave_sig]).await.unwrap();
    assert_eq!(report.root_version, 2);
    assert_eq!(report.targets_version, 1, "targets carried over");
    // alice no longer counts for anything.
    f.repo.stage_root(&RootChanges::default(), now()).unwrap();
    let alice = f.sign("root", &f.alice, "alice");
    let bob = f.sign("root", &f.bob, "bob");
    assert_refused(f.publish(&[alice, bob]).await, &["root:", "unknown key"]);
}

#[tokio::test]
async fn the_online_roles_are_re_signed_only_near_expiry() {
    let f = fixture();
    f.first_publication().await;
    assert_eq!(
        f.repo
            .refresh(f.online.clone(), now(), false, None)
            .await
            .unwrap(),
        None
    );
    let later = now()
        .checked_add(jiff::SignedDuration::from_hours(13))
        .unwrap();
    assert_eq!(
        f.repo
            .refresh(f.online.clone(), later, false, None)
            .await
            .unwrap(),
        Some(2)
    );
    let published = f.repo.published().unwrap().unwrap();
    assert_eq!(published.snapshot.signed.version.get(), 2);
    published
        .root
        .signed
        .verify_role(&published.snapshot)
        .unwrap();
    published
        .root
        .signed
        .verify_role(&published.timestamp)
        .unwrap();
    // A key the root does not list cannot re-sign.
    let stranger: Arc<dyn Signer> = Arc::new(key());
    assert_refused(
        f.repo.refresh(stranger, now(), true, None).await,
        &["online key", "not a snapshot key"],
    );
}

#[tokio::test]
async fn delegated_targets_are_refused() {
    let f = fixture();
    f.first_publication().await;
    f.repo.stage_targets(&[], now()).unwrap();
    f.edit_staged("targets", |v| {
        v["signed"]["delegations"] = serde_json::json!({
            "keys": {},
            "roles": [{
                "name": "elsewhere", "keyids": [], "threshold": 1,
                "paths": ["*"], "terminating": false
            }]
        });
    });
    assert_refused(
        f.publish(&[]).await,
        &["targets: malformed", "delegations are not supported"],
    );
    // Without the delegation, the same version publishes (an expiry refresh).
    f.repo.stage_targets(&[], now()).unwrap();
    let tom = f.sign("targets", &f.tom, "tom");
    let report = f.publish(&[tom]).await.unwrap();
    assert_eq!(report.targets_version, 2);
    assert_eq!(report.root_version, 1);
}

#[tokio::test]
async fn replacing_the_targets_keys_needs_new_targets_in_the_same_publication() {
    let f = fixture();
    f.first_publication().await;
    let tina = key();
    let tom_id = hex::encode(key_id(&f.tom.public_key().unwrap()).unwrap().as_ref());
    f.repo
        .stage_root(
            &RootChanges {
                add_targets: vec![tina.public_key().unwrap()],
                remove_targets: vec![tom_id],
                ..RootChanges::default()
            },
            now(),
        )
        .unwrap();
    let alice = f.sign("root", &f.alice, "alice");
    let bob = f.sign("root", &f.bob, "bob");
    assert_refused(
        f.publish(&[alice.clone(), bob.clone()]).await,
        &[
            "targets: malformed",
            "no longer satisfy the new root",
            "stage targets",
        ],
    );
    assert!(f.nothing_new_published(1));
    f.repo.stage_targets(&[], now()).unwrap();
    let tina_sig = f.sign("targets", &tina, "tina");
    let report = f.publish(&[alice, bob, tina_sig]).await.unwrap();
    assert_eq!((report.root_version, report.targets_version), (2, 2));
}
