//! Calibration in the same run as the load: single-core P-256 sign and verify rates (the
//! server's own crypto, `sigstack-keys`, and aws-lc-rs for comparison) and the fsync rate of
//! the disk that holds the data directory.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use sigstack_keys::{FileSigner, PublicKey, SignatureAlgorithm, Signer as _, sha256};

use crate::CalibrateArgs;

/// Time per operation of each calibrated step.
#[derive(Clone, Debug)]
pub struct Calibration {
    pub keys_sign: Duration,
    pub keys_verify: Duration,
    pub aws_lc_sign: Duration,
    pub aws_lc_verify: Duration,
    /// Time per 4 KiB append + fdatasync, when a directory was given.
    pub fsync: Option<(Duration, String)>,
}

impl Calibration {
    /// The crypto floor of one hashedrekord entry with the server's crypto: one P-256 verify
    /// (the client's signature) plus one P-256 sign (the log's).
    pub fn floor(&self) -> Duration {
        self.keys_verify + self.keys_sign
    }

    pub fn aws_lc_floor(&self) -> Duration {
        self.aws_lc_verify + self.aws_lc_sign
    }
}

/// CPU time of the calling thread.
pub fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Rounds each calibration step is split into; the step's figure is its fastest round.
pub const ROUNDS: u32 = 5;

/// Run `op` repeatedly on this thread for about `seconds` of wall time, in [`ROUNDS`] rounds;
/// this thread's CPU time per call in the fastest round. CPU time, so that other processes
/// competing for the cores do not inflate the figure (the server's cost is CPU time too); the
/// fastest round, because what disturbs a round on this shared machine (the other vCPU's load
/// on the host, cache-evicting neighbours) only ever slows it, so the floor is not flattered.
fn per_op(seconds: f64, mut op: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    // One untimed call warms caches and lazy initialisation.
    op()?;
    let budget = Duration::from_secs_f64(seconds) / ROUNDS;
    let mut fastest = Duration::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let cpu_start = thread_cpu();
        let mut n: u32 = 0;
        while start.elapsed() < budget {
            op()?;
            n += 1;
        }
        fastest = fastest.min((thread_cpu() - cpu_start) / n.max(1));
    }
    Ok(fastest)
}

/// Wall time per call (for fsync, which waits on the disk rather than the CPU).
fn per_op_wall(
    seconds: f64,
    mut op: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Duration> {
    op()?;
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut n: u32 = 0;
    while start.elapsed() < budget {
        op()?;
        n += 1;
    }
    Ok(start.elapsed() / n.max(1))
}

pub fn run(args: &CalibrateArgs) -> anyhow::Result<Calibration> {
    let seconds = args.seconds.clamp(0.05, 10.0);
    let message = [0x5au8; 256];
    let digest = sha256(&message);

    let key = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256)
        .map_err(|e| anyhow!("generating a key: {e}"))?;
    let public = PublicKey::from_spki_der(key.public_key_der())
        .map_err(|e| anyhow!("parsing our key: {e}"))?;
    let sig = key.sign(&message).map_err(|e| anyhow!("signing: {e}"))?;
    let keys_sign = per_op(seconds, || {
        key.sign(&message)
            .map(drop)
            .map_err(|e| anyhow!("signing: {e}"))
    })?;
    let keys_verify = per_op(seconds, || {
        public
            .verify_prehash(&digest, &sig)
            .map_err(|e| anyhow!("verifying: {e}"))
    })?;

    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
        .map_err(|_| anyhow!("aws-lc-rs key generation failed"))?;
    let aws_sig = pair
        .sign(&rng, &message)
        .map_err(|_| anyhow!("aws-lc-rs signing failed"))?;
    let aws_public =
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, pair.public_key().as_ref().to_vec());
    let aws_lc_sign = per_op(seconds, || {
        pair.sign(&rng, &message)
            .map(drop)
            .map_err(|_| anyhow!("aws-lc-rs signing failed"))
    })?;
    let aws_lc_verify = per_op(seconds, || {
        aws_public
            .verify(&message, aws_sig.as_ref())
            .map_err(|_| anyhow!("aws-lc-rs verification failed"))
    })?;

    let fsync = match &args.fsync_dir {
        Some(dir) => {
            // A temporary probe file, removed on drop; nothing the stack reads.
            let mut file = tempfile::Builder::new()
                .prefix(".loadgen-fsync-probe")
                .tempfile_in(dir)?;
            let block = [0u8; 4096];
            let t = per_op_wall(seconds, || {
                file.write_all(&block)?;
                file.as_file().sync_data()?;
                Ok(())
            })?;
            Some((t, dir.display().to_string()))
        }
        None => None,
    };

    Ok(Calibration {
        keys_sign,
        keys_verify,
        aws_lc_sign,
        aws_lc_verify,
        fsync,
    })
}
