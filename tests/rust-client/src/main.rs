//! `srs`: signs and verifies with the published sigstore-rust crates, for Sigstack's end-to-end
//! tests (sigstore-conformance argument style).
//!
//! srs sign-bundle --identity-token T --bundle OUT --trusted-root TR --signing-config SC [--in-toto] FILE
//! srs verify-bundle --bundle B --certificate-identity ID --certificate-oidc-issuer ISS --trusted-root TR FILE

use std::collections::HashMap;

use anyhow::{Context, bail};

fn parse(args: &[String]) -> anyhow::Result<(HashMap<String, String>, bool, String)> {
    let mut flags = HashMap::new();
    let mut in_toto = false;
    let mut i = 0;
    while i < args.len() - 1 {
        let a = &args[i];
        if a == "--in-toto" {
            in_toto = true;
            i += 1;
        } else if let Some(name) = a.strip_prefix("--") {
            flags.insert(name.to_string(), args.get(i + 1).context("missing flag value")?.clone());
            i += 2;
        } else {
            bail!("unexpected argument {a}");
        }
    }
    Ok((flags, in_toto, args.last().context("missing FILE")?.clone()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else { bail!("usage: srs sign-bundle|verify-bundle ...") };
    let (flags, in_toto, file) = parse(rest)?;
    let get = |k: &str| flags.get(k).with_context(|| format!("--{k} is required"));
    match cmd.as_str() {
        "sign-bundle" => {
            let config = sigstore_trust_root::SigningConfig::from_file(get("signing-config")?)?;
            let ctx = sigstore_sign::SigningContext::new(
                sigstore_sign::SigningServices::from_signing_config(&config)?,
            );
            let token = sigstore_oidc::IdentityToken::from_jwt(get("identity-token")?)?;
            let data = std::fs::read(&file)?;
            let signer = ctx.signer(token);
            let bundle = if in_toto {
                signer.sign_raw_statement(&data).await?
            } else {
                signer.sign(data.as_slice()).await?
            };
            std::fs::write(get("bundle")?, bundle.to_json()?)?;
        }
        "verify-bundle" => {
            let tr = sigstore_trust_root::TrustedRoot::from_file(get("trusted-root")?)?;
            let bundle = sigstore_types::Bundle::from_json(&std::fs::read_to_string(get("bundle")?)?)?;
            let policy = sigstore_verify::VerificationPolicy::any_identity()
                .require_identity(get("certificate-identity")?)
                .require_issuer(get("certificate-oidc-issuer")?);
            let data = std::fs::read(&file)?;
            sigstore_verify::verify(&data, &bundle, &policy, &tr)?;
            println!("OK: {file}");
        }
        other => bail!("unknown command {other}"),
    }
    Ok(())
}
