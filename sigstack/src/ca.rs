//! `sigstack ca`: the CA key ceremony.
//!
//! - `create-root` makes a self-signed root whose key lives in a file (optionally
//!   password-encrypted) or on an HSM, meant to stay offline.
//! - `create-intermediate` uses that root once to certify the key a service signs with: Fulcio's
//!   issuing intermediate (CA, `pathlen:0`, EKU codeSigning) or the TSA's time-stamping
//!   certificate, and writes the chain into the data directory.
//! - `csr` prints a PKCS#10 request for such a key, for a root run elsewhere; `import` checks
//!   the certificate that comes back and writes the chain into the data directory.
//!
//! `sigstack up` then serves with the intermediate's key only (`--fulcio-ca-key`/`--tsa-key`,
//! or the key file in the data directory); it never reads the root's private key.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use der::Encode as _;
use sigstack_keys::{FileSigner, KeySource, Pkcs11Signer, SignatureAlgorithm, Signer};
use sigstack_pki::{
    INTERMEDIATE_CERT_FILE, INTERMEDIATE_KEY_FILE, IntermediateSpec, ROOT_CERT_FILE, RootSpec,
};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage};

/// `id-kp-codeSigning`.
const CODE_SIGNING: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// `id-kp-timeStamping`.
const TIME_STAMPING: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// Where the TSA keeps its certificate and key in its directory.
const TSA_CERT_FILE: &str = "tsa-leaf.pem";
const TSA_KEY_FILE: &str = "tsa-leaf-key.pem";
const DAY: u64 = 86_400;

/// CA ceremony commands.
#[derive(Debug, clap::Args)]
pub struct CaArgs {
    #[command(subcommand)]
    command: CaCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CaCommand {
    /// Create a self-signed root certificate (keep its key offline).
    CreateRoot(CreateRootArgs),
    /// Certify a service key with the root and write the chain into the data directory.
    CreateIntermediate(CreateIntermediateArgs),
    /// Print a PKCS#10 CSR for a service key, for a root run elsewhere.
    Csr(CsrArgs),
    /// Check a certificate issued by an external root and write its chain into the data
    /// directory.
    Import(ImportArgs),
    /// Generate a signing key (for example a log key on the HSM) and print its public key.
    GenerateKey(GenerateKeyArgs),
}

#[derive(Debug, clap::Args)]
struct GenerateKeyArgs {
    /// Where to create the key (a new file, or a new key pair on the PKCS#11 token).
    #[arg(long)]
    key: KeySource,
    /// Algorithm: p256 for Rekor v1 and the CT log, ed25519 for Rekor v2.
    #[arg(long, value_enum)]
    algorithm: Algorithm,
}

/// Which service a certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Purpose {
    /// Fulcio's issuing intermediate: CA, pathlen 0, EKU codeSigning.
    Fulcio,
    /// The TSA's time-stamping certificate: EKU timeStamping (critical).
    Tsa,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Algorithm {
    P256,
    P384,
    Ed25519,
}

impl From<Algorithm> for SignatureAlgorithm {
    fn from(a: Algorithm) -> Self {
        match a {
            Algorithm::P256 => Self::EcdsaP256Sha256,
            Algorithm::P384 => Self::EcdsaP384Sha384,
            Algorithm::Ed25519 => Self::Ed25519,
        }
    }
}

/// How to get a key: an existing one, or a new one made at the source.
#[derive(Debug, clap::Args)]
struct KeyArgs {
    /// Generate the key at its source (a new file, refused if it exists; or a new key pair on
    /// the PKCS#11 token) instead of using an existing one.
    #[arg(long)]
    generate: bool,
    /// Algorithm of a generated key.
    #[arg(long, value_enum)]
    algorithm: Option<Algorithm>,
}

#[derive(Debug, clap::Args)]
struct CreateRootArgs {
    /// The root's key: `file:PATH[?password-env=VAR|password-file=PATH]` or
    /// `pkcs11:token=T;object=LABEL?module-path=M&pin-env=VAR`.
    #[arg(long, required_unless_present = "pkcs11_config_path")]
    key: Option<KeySource>,
    /// Instead of `--key`: the key pair labelled `PKCS11CA` on the token of upstream Fulcio's
    /// crypto11 JSON file, the CA key Fulcio's `pkcs11ca` (and `sigstack up --ca pkcs11ca`)
    /// issues with.
    #[arg(long, conflicts_with = "key")]
    pkcs11_config_path: Option<PathBuf>,
    /// Also store the root certificate on the key's token, as a certificate object with this
    /// `CKA_ID` (text, e.g. `99`), where `--ca pkcs11ca --hsm-caroot-id` finds it.
    #[arg(long)]
    hsm_caroot_id: Option<String>,
    #[command(flatten)]
    key_args: KeyArgs,
    /// Where to write the root certificate (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// Organization (`O=`).
    #[arg(long, default_value = "sigstack")]
    organization: String,
    /// Common name (`CN=`); default `<organization>-root`.
    #[arg(long)]
    common_name: Option<String>,
    /// Validity in days.
    #[arg(long, default_value_t = 3650)]
    days: u64,
}

#[derive(Debug, clap::Args)]
struct CreateIntermediateArgs {
    /// Data directory of the stack the certificate is for.
    #[arg(long, env = "SIGSTACK_DATA_DIR")]
    data_dir: PathBuf,
    /// Which service the certificate is for.
    #[arg(long = "for", value_enum, default_value = "fulcio")]
    purpose: Purpose,
    /// The root certificate (PEM).
    #[arg(long)]
    root_cert: PathBuf,
    /// The root's key (same forms as `--key`).
    #[arg(long)]
    root_key: KeySource,
    /// The service's key; default: a key file in the data directory.
    #[arg(long)]
    key: Option<KeySource>,
    #[command(flatten)]
    key_args: KeyArgs,
    /// Organization (`O=`).
    #[arg(long, default_value = "sigstack")]
    organization: String,
    /// Common name; default `<organization>-fulcio-intermediate` or `<organization>-tsa`.
    #[arg(long)]
    common_name: Option<String>,
    /// Validity in days (capped at the root's).
    #[arg(long, default_value_t = 1825)]
    days: u64,
}

#[derive(Debug, clap::Args)]
struct CsrArgs {
    /// The key to certify.
    #[arg(long)]
    key: KeySource,
    #[command(flatten)]
    key_args: KeyArgs,
    /// Which service the certificate is for (sets the requested extensions).
    #[arg(long = "for", value_enum, default_value = "fulcio")]
    purpose: Purpose,
    /// Organization (`O=`).
    #[arg(long, default_value = "sigstack")]
    organization: String,
    /// Common name; default `<organization>-fulcio-intermediate` or `<organization>-tsa`.
    #[arg(long)]
    common_name: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// Data directory of the stack the certificate is for.
    #[arg(long, env = "SIGSTACK_DATA_DIR")]
    data_dir: PathBuf,
    /// Which service the certificate is for.
    #[arg(long = "for", value_enum, default_value = "fulcio")]
    purpose: Purpose,
    /// The issued certificate (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// Its issuers (PEM), ending with the self-signed root.
    #[arg(long)]
    chain: PathBuf,
    /// The key the certificate must certify; default: the key file in the data directory.
    #[arg(long)]
    key: Option<KeySource>,
}

/// Run a `sigstack ca` command.
pub fn run(args: CaArgs) -> anyhow::Result<()> {
    match args.command {
        CaCommand::CreateRoot(a) => create_root(&a),
        CaCommand::CreateIntermediate(a) => create_intermediate(&a),
        CaCommand::Csr(a) => {
            print!("{}", csr(&a)?);
            Ok(())
        }
        CaCommand::Import(a) => import(&a),
        CaCommand::GenerateKey(a) => {
            let key = obtain_key(
                &a.key,
                &KeyArgs {
                    generate: true,
                    algorithm: Some(a.algorithm),
                },
                a.algorithm.into(),
            )?;
            print!("{}", key.public_key()?.to_pem());
            Ok(())
        }
    }
}

fn create_root(args: &CreateRootArgs) -> anyhow::Result<()> {
    if args.cert.exists() {
        bail!(
            "{} exists; refusing to overwrite a root",
            args.cert.display()
        );
    }
    let source = match (&args.key, &args.pkcs11_config_path) {
        (Some(key), _) => key.clone(),
        (None, Some(path)) => KeySource::Pkcs11(
            sigstack_keys::Crypto11Config::load(path)
                .context("--pkcs11-config-path")?
                .key(sigstack_keys::FULCIO_CA_KEY_LABEL),
        ),
        (None, None) => bail!("give --key or --pkcs11-config-path"),
    };
    let token_key = match (&source, &args.hsm_caroot_id) {
        (_, None) => None,
        (KeySource::Pkcs11(key), Some(id)) if !id.is_empty() => {
            // Refuse before making a root that could not be stored.
            if sigstack_keys::read_certificate(key, id.as_bytes())
                .with_context(|| format!("reading the token of {source}"))?
                .is_some()
            {
                bail!(
                    "the {} already holds a certificate with ID {id:?}",
                    key.token
                );
            }
            Some((key, id))
        }
        (KeySource::Pkcs11(_), Some(_)) => bail!("--hsm-caroot-id must not be empty"),
        (_, Some(_)) => {
            bail!("--hsm-caroot-id stores the root on the key's token: use a PKCS#11 key")
        }
    };
    let key = obtain_key(&source, &args.key_args, SignatureAlgorithm::EcdsaP384Sha384)?;
    let now = SystemTime::now();
    let common_name = args
        .common_name
        .clone()
        .unwrap_or_else(|| format!("{}-root", args.organization));
    let root = RootSpec {
        subject: sigstack_pki::name(&format!("O={},CN={common_name}", args.organization))?,
        not_before: now,
        not_after: now + Duration::from_secs(args.days * DAY),
    }
    .issue(key.as_ref())?;
    write_new(&args.cert, &sigstack_pki::certificate_pem(&root)?)?;
    println!("root certificate written to {}", args.cert.display());
    if let Some((token_key, id)) = token_key {
        sigstack_keys::write_certificate(
            token_key,
            id.as_bytes(),
            &root.to_der()?,
            &root.tbs_certificate().subject().to_der()?,
        )
        .with_context(|| format!("storing the root certificate on the {}", token_key.token))?;
        println!(
            "root certificate stored on the {} with ID {id:?}",
            token_key.token
        );
    }
    Ok(())
}

fn create_intermediate(args: &CreateIntermediateArgs) -> anyhow::Result<()> {
    let (dir, cert_file, default_key) = layout(&args.data_dir, args.purpose);
    if dir.join(cert_file).exists() {
        bail!(
            "{} exists; this data directory already has a {:?} certificate (to rotate it, move \
             it and its key aside first)",
            dir.join(cert_file).display(),
            args.purpose
        );
    }
    let root_pem = std::fs::read_to_string(&args.root_cert)
        .with_context(|| format!("reading {}", args.root_cert.display()))?;
    let root = sigstack_pki::parse_pem_chain(&root_pem)?.remove(0);
    // A rotation keeps the root: an installed root must be the one certifying the successor.
    let installed_root = dir.join(ROOT_CERT_FILE);
    let keep_root = match sigstack_durable::read_existing(&installed_root)? {
        None => false,
        Some(pem) => {
            let installed = sigstack_pki::parse_pem_chain(&String::from_utf8_lossy(&pem))?;
            if installed.first().map(|c| c.to_der()).transpose()? != Some(root.to_der()?) {
                bail!(
                    "{} holds another root than {}; a rotation keeps the root",
                    installed_root.display(),
                    args.root_cert.display()
                );
            }
            true
        }
    };
    let root_key = args
        .root_key
        .open()
        .with_context(|| format!("opening the root key ({})", args.root_key))?;
    let key_source = args.key.clone().unwrap_or(default_key);
    let key = obtain_key(&key_source, &args.key_args, default_algorithm(args.purpose))?;
    let now = SystemTime::now();
    let not_after = now + Duration::from_secs(args.days * DAY);
    let common_name = args
        .common_name
        .clone()
        .unwrap_or_else(|| default_common_name(&args.organization, args.purpose));
    let cert = match args.purpose {
        Purpose::Fulcio => IntermediateSpec {
            subject: sigstack_pki::name(&format!("O={},CN={common_name}", args.organization))?,
            extended_key_usage: vec![CODE_SIGNING],
            not_before: now,
            not_after,
        }
        .issue(key.public_key_der(), &root, root_key.as_ref())?,
        Purpose::Tsa => sigstack_tsa::issue_time_stamping_certificate(
            root_key.as_ref(),
            &root,
            key.public_key_der(),
            &args.organization,
            &common_name,
            now,
        )?,
    };
    install(&dir, cert_file, &[cert, root], keep_root)?;
    println!(
        "{:?} certificate for {key_source} written to {}",
        args.purpose,
        dir.join(cert_file).display()
    );
    Ok(())
}

fn csr(args: &CsrArgs) -> anyhow::Result<String> {
    use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq, Version};
    let key = obtain_key(&args.key, &args.key_args, default_algorithm(args.purpose))?;
    let common_name = args
        .common_name
        .clone()
        .unwrap_or_else(|| default_common_name(&args.organization, args.purpose));
    let extensions = match args.purpose {
        Purpose::Fulcio => vec![
            sigstack_pki::basic_constraints(true, Some(0))?,
            sigstack_pki::extended_key_usage(&[CODE_SIGNING], false)?,
        ],
        Purpose::Tsa => vec![
            sigstack_pki::basic_constraints(false, None)?,
            sigstack_pki::extended_key_usage(&[TIME_STAMPING], true)?,
        ],
    };
    let mut attributes = x509_cert::attr::Attributes::new();
    attributes
        .insert(ExtensionReq(extensions).try_into()?)
        .context("CSR attributes")?;
    let info = CertReqInfo {
        version: Version::V1,
        subject: sigstack_pki::name(&format!("O={},CN={common_name}", args.organization))?,
        public_key: der::Decode::from_der(key.public_key_der())?,
        attributes,
    };
    let signature = key.sign(&info.to_der()?)?;
    let request = CertReq {
        info,
        algorithm: key.algorithm().signature_algorithm_identifier(),
        signature: der::asn1::BitString::from_bytes(&signature)?,
    };
    Ok(sigstack_keys::pem_encode(
        "CERTIFICATE REQUEST",
        &request.to_der()?,
    ))
}

fn import(args: &ImportArgs) -> anyhow::Result<()> {
    let (dir, cert_file, default_key) = layout(&args.data_dir, args.purpose);
    let read = |path: &Path| -> anyhow::Result<Vec<Certificate>> {
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(sigstack_pki::parse_pem_chain(&pem)?)
    };
    let mut chain = read(&args.cert)?;
    chain.truncate(1);
    chain.extend(read(&args.chain)?);
    if chain.len() < 2 {
        bail!("--chain must hold the issuer certificates, ending with the root");
    }
    sigstack_pki::verify_chain(&chain).map_err(|e| anyhow::anyhow!("the chain is broken: {e}"))?;
    let key_source = args.key.clone().unwrap_or(default_key);
    let key = key_source
        .open()
        .with_context(|| format!("opening the key the certificate must certify ({key_source})"))?;
    if chain[0]
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()?
        != key.public_key_der()
    {
        bail!("the certificate does not certify {key_source}");
    }
    check_profile(&chain[0], args.purpose)?;
    install(&dir, cert_file, &chain, false)?;
    println!("imported into {}", dir.join(cert_file).display());
    Ok(())
}

/// The extensions each service relies on.
fn check_profile(cert: &Certificate, purpose: Purpose) -> anyhow::Result<()> {
    let tbs = cert.tbs_certificate();
    let constraints = tbs.get_extension::<BasicConstraints>()?.map(|(_, bc)| bc);
    let eku = tbs
        .get_extension::<ExtendedKeyUsage>()?
        .map(|(critical, eku)| (critical, eku.0));
    match purpose {
        Purpose::Fulcio => {
            if !matches!(
                constraints,
                Some(BasicConstraints {
                    ca: true,
                    path_len_constraint: Some(0)
                })
            ) {
                bail!("a Fulcio intermediate must be a CA with pathlen:0");
            }
            if !eku.is_some_and(|(_, usages)| usages.contains(&CODE_SIGNING)) {
                bail!("a Fulcio intermediate must carry the codeSigning extended key usage");
            }
        }
        Purpose::Tsa => {
            if constraints.is_some_and(|bc| bc.ca) {
                bail!("a time-stamping certificate must not be a CA");
            }
            if eku != Some((true, vec![TIME_STAMPING])) {
                bail!("a time-stamping certificate needs a critical EKU of timeStamping only");
            }
        }
    }
    Ok(())
}

/// The directory, certificate file and default key of a service in the data directory.
fn layout(data_dir: &Path, purpose: Purpose) -> (PathBuf, &'static str, KeySource) {
    let (dir, cert, key) = match purpose {
        Purpose::Fulcio => (
            data_dir.join("fulcio/ca"),
            INTERMEDIATE_CERT_FILE,
            INTERMEDIATE_KEY_FILE,
        ),
        Purpose::Tsa => (data_dir.join("tsa"), TSA_CERT_FILE, TSA_KEY_FILE),
    };
    let key = KeySource::File(sigstack_keys::FileKey {
        path: dir.join(key),
        password: None,
    });
    (dir, cert, key)
}

fn default_algorithm(purpose: Purpose) -> SignatureAlgorithm {
    match purpose {
        Purpose::Fulcio => SignatureAlgorithm::EcdsaP384Sha384,
        Purpose::Tsa => SignatureAlgorithm::EcdsaP256Sha256,
    }
}

fn default_common_name(organization: &str, purpose: Purpose) -> String {
    match purpose {
        Purpose::Fulcio => format!("{organization}-fulcio-intermediate"),
        Purpose::Tsa => format!("{organization}-tsa"),
    }
}

/// Write the issuing certificate (and any certificates between it and the root) and the root.
/// Write the issuing chain and (unless `keep_root`, when the same root is installed already)
/// the root into `dir`, refusing to overwrite anything.
fn install(
    dir: &Path,
    cert_file: &str,
    chain: &[Certificate],
    keep_root: bool,
) -> anyhow::Result<()> {
    let Some((root, issuing)) = chain.split_last() else {
        bail!("empty chain");
    };
    sigstack_durable::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let pem = issuing
        .iter()
        .map(sigstack_pki::certificate_pem)
        .collect::<Result<String, _>>()?;
    if !keep_root {
        write_new(
            &dir.join(ROOT_CERT_FILE),
            &sigstack_pki::certificate_pem(root)?,
        )?;
    }
    write_new(&dir.join(cert_file), &pem)
}

fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    if path.exists() {
        bail!("{} exists; refusing to overwrite it", path.display());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        sigstack_durable::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    sigstack_durable::write(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Open the key at `source`, or with `--generate` create it there first.
fn obtain_key(
    source: &KeySource,
    args: &KeyArgs,
    default: SignatureAlgorithm,
) -> anyhow::Result<Arc<dyn Signer>> {
    if !args.generate {
        if args.algorithm.is_some() {
            bail!("--algorithm only applies with --generate");
        }
        return source
            .open()
            .with_context(|| format!("opening {source} (add --generate to create it)"));
    }
    let algorithm = args.algorithm.map_or(default, SignatureAlgorithm::from);
    match source {
        KeySource::Pkcs11(key) => Ok(Arc::new(
            Pkcs11Signer::generate(key, algorithm)
                .with_context(|| format!("generating a key pair on the token ({source})"))?,
        )),
        KeySource::File(file) => {
            if file.path.exists() {
                bail!(
                    "{} exists; refusing to overwrite a key",
                    file.path.display()
                );
            }
            let signer = FileSigner::generate(algorithm)?;
            let pem = match &file.password {
                Some(password) => signer.to_pkcs8_encrypted_pem(&password.read()?)?,
                None => signer.to_pkcs8_pem()?,
            };
            if let Some(parent) = file.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                sigstack_durable::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            sigstack_durable::write_private(&file.path, pem.as_bytes())
                .with_context(|| format!("writing {}", file.path.display()))?;
            Ok(Arc::new(signer))
        }
        other => bail!("cannot generate a key at {other}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;
    use x509_parser::prelude::*;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        ca: CaArgs,
    }

    fn ca(args: &[&str]) -> anyhow::Result<()> {
        let cli = Cli::try_parse_from(std::iter::once("ca").chain(args.iter().copied()))?;
        run(cli.ca)
    }

    fn openssl(args: &[&str]) {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl is installed by .ci/run");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    }

    #[test]
    fn offline_root_then_intermediates_that_up_serves_without_the_root_key() {
        let tmp = tempfile::tempdir().unwrap();
        let offline = tmp.path().join("offline");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&offline).unwrap();
        let pass = offline.join("pass");
        std::fs::write(&pass, "root password\n").unwrap();
        let root_key = format!(
            "file:{}?password-file={}",
            offline.join("root-key.pem").display(),
            pass.display()
        );
        let root_cert = offline.join("root.pem");
        let root_cert_arg = root_cert.to_str().unwrap();
        ca(&[
            "create-root",
            "--key",
            &root_key,
            "--generate",
            "--cert",
            root_cert_arg,
        ])
        .unwrap();
        // The root key file is encrypted, and a second root is not written over the first.
        let key_pem = std::fs::read_to_string(offline.join("root-key.pem")).unwrap();
        assert!(key_pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert!(
            ca(&["create-root", "--key", &root_key, "--cert", root_cert_arg]).is_err(),
            "overwrote a root"
        );

        let data_arg = data.to_str().unwrap();
        for purpose in ["fulcio", "tsa"] {
            ca(&[
                "create-intermediate",
                "--data-dir",
                data_arg,
                "--for",
                purpose,
                "--root-cert",
                root_cert_arg,
                "--root-key",
                &root_key,
                "--generate",
            ])
            .unwrap();
        }
        // No root key in the data directory.
        for entry in walk(&data) {
            let text = std::fs::read_to_string(&entry).unwrap_or_default();
            assert!(
                !text.contains("PRIVATE KEY") || !entry.ends_with("root-key.pem"),
                "{}",
                entry.display()
            );
        }
        assert!(!data.join("fulcio/ca/root-key.pem").exists());

        // What `sigstack up` does: load the Fulcio CA and the TSA from the data directory.
        let spec = sigstack_pki::CaSpec {
            organization: "sigstack".into(),
            root_common_name: "unused".into(),
            intermediate_common_name: Some("unused".into()),
            algorithm: SignatureAlgorithm::EcdsaP384Sha384,
            intermediate_extended_key_usage: vec![CODE_SIGNING],
            validity: Duration::from_secs(DAY),
        };
        let fulcio = sigstack_pki::CertificateAuthority::load_or_create(
            &data.join("fulcio/ca"),
            &spec,
            SystemTime::now(),
        )
        .unwrap();
        let root_der = sigstack_pki::parse_pem_chain(&std::fs::read_to_string(&root_cert).unwrap())
            .unwrap()[0]
            .to_der()
            .unwrap();
        assert_eq!(fulcio.root().to_der().unwrap(), root_der);
        let der = fulcio.issuer().to_der().unwrap();
        let (_, intermediate) = X509Certificate::from_der(&der).unwrap();
        let bc = intermediate.basic_constraints().unwrap().unwrap().value;
        assert!(bc.ca && bc.path_len_constraint == Some(0));
        let eku = intermediate.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.code_signing);
        let tsa = sigstack_tsa::TsaState::load_or_create(
            sigstack_tsa::TsaConfig {
                dir: data.join("tsa"),
                organization: "sigstack".into(),
                common_name: "sigstack-tsa".into(),
                policy: None,
                accuracy: None,
                window: sigstack_tsp::ValidityWindow::default(),
                metrics: sigstack_http::Metrics::new(),
                key: None,
            },
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(tsa.chain()[1].to_der().unwrap(), root_der);

        // A second intermediate for the same directory is refused.
        assert!(
            ca(&[
                "create-intermediate",
                "--data-dir",
                data_arg,
                "--root-cert",
                root_cert_arg,
                "--root-key",
                &root_key,
            ])
            .is_err()
        );
    }

    #[test]
    fn csr_for_an_external_root_and_import() {
        let tmp = tempfile::tempdir().unwrap();
        let path = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
        let data = path("data");
        let key = format!("file:{}/fulcio/ca/intermediate-key.pem", data);
        let csr_pem = csr(&CsrArgs {
            key: key.parse().unwrap(),
            key_args: KeyArgs {
                generate: true,
                algorithm: None,
            },
            purpose: Purpose::Fulcio,
            organization: "example".into(),
            common_name: None,
        })
        .unwrap();
        std::fs::write(path("req.pem"), &csr_pem).unwrap();
        // OpenSSL verifies the request's self-signature.
        openssl(&["req", "-in", &path("req.pem"), "-verify", "-noout"]);

        // An external root run by OpenSSL signs it, copying the requested extensions.
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-keyout",
            &path("ext-root-key.pem"),
            "-out",
            &path("ext-root.pem"),
            "-subj",
            "/O=External/CN=External Root",
            "-sha384",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        let sign = |out: &str, copy: &str| {
            openssl(&[
                "x509",
                "-req",
                "-in",
                &path("req.pem"),
                "-CA",
                &path("ext-root.pem"),
                "-CAkey",
                &path("ext-root-key.pem"),
                "-sha384",
                "-days",
                "10",
                "-copy_extensions",
                copy,
                "-out",
                &path(out),
            ]);
        };
        sign("no-ext.pem", "none");
        sign("issued.pem", "copyall");

        let import = |cert: &str| {
            ca(&[
                "import",
                "--data-dir",
                &data,
                "--cert",
                &path(cert),
                "--chain",
                &path("ext-root.pem"),
            ])
        };
        // Without pathlen:0 and codeSigning the certificate is refused, and nothing is written.
        let err = import("no-ext.pem").unwrap_err();
        assert!(format!("{err:#}").contains("pathlen:0"), "{err:#}");
        assert!(!Path::new(&data).join("fulcio/ca/intermediate.pem").exists());
        // A chain that does not lead to the issuer is refused.
        let err = ca(&[
            "import",
            "--data-dir",
            &data,
            "--cert",
            &path("issued.pem"),
            "--chain",
            &path("issued.pem"),
        ])
        .unwrap_err();
        assert!(format!("{err:#}").contains("broken"), "{err:#}");
        import("issued.pem").unwrap();

        // `sigstack up` serves with it.
        let loaded = sigstack_pki::CertificateAuthority::from_files(
            &Path::new(&data).join("fulcio/ca"),
            key.parse::<KeySource>().unwrap().open().unwrap(),
        )
        .unwrap();
        let der = loaded.root().to_der().unwrap();
        let (_, root) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(root.subject().to_string(), "O=External, CN=External Root");
        // Importing a certificate for a different key is refused.
        let other = format!("file:{}", path("other-key.pem"));
        csr(&CsrArgs {
            key: other.parse().unwrap(),
            key_args: KeyArgs {
                generate: true,
                algorithm: Some(Algorithm::P256),
            },
            purpose: Purpose::Fulcio,
            organization: "example".into(),
            common_name: None,
        })
        .unwrap();
        let err = ca(&[
            "import",
            "--data-dir",
            &path("data2"),
            "--cert",
            &path("issued.pem"),
            "--chain",
            &path("ext-root.pem"),
            "--key",
            &other,
        ])
        .unwrap_err();
        assert!(format!("{err:#}").contains("does not certify"), "{err:#}");
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
