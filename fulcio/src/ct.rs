//! Submitting precertificates to the CT log and checking the SCT it returns.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sigstack_ct::{AddChainRequest, AddChainResponse, SignedCertificateTimestamp};
use sigstack_keys::PublicKey;
use url::Url;

/// Timeout of one `add-pre-chain` call (Fulcio uses 30 s, no retries).
pub const CT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest `add-pre-chain` answer read.
const MAX_RESPONSE_SIZE: usize = 64 * 1024;

/// Where precertificates are logged.
#[derive(Clone, Debug)]
pub struct CtConfig {
    /// Base URL of the log; precertificates go to `POST {url}/ct/v1/add-pre-chain`.
    pub url: Url,
    /// The log's key: every SCT is verified with it before a certificate is returned.
    pub public_key: PublicKey,
}

impl CtConfig {
    /// The `add-pre-chain` endpoint.
    #[must_use]
    pub fn add_pre_chain_url(&self) -> String {
        format!(
            "{}/ct/v1/add-pre-chain",
            self.url.as_str().trim_end_matches('/')
        )
    }
}

/// Log `chain_der` (the final certificate first, then the issuing chain) with `add-chain` and
/// return the SCT, verified against the log key over the certificate.
///
/// # Errors
/// A description of what failed (for the server log; clients get a generic message).
pub(crate) async fn submit_certificate(
    http: &reqwest::Client,
    ct: &CtConfig,
    chain_der: &[Vec<u8>],
) -> Result<SignedCertificateTimestamp, String> {
    let url = format!("{}/ct/v1/add-chain", ct.url.as_str().trim_end_matches('/'));
    let sct = post_chain(http, ct, &url, chain_der).await?;
    let leaf = chain_der.first().ok_or("empty chain")?;
    sct.verify_x509(&ct.public_key, leaf)
        .map_err(|e| format!("POST {url}: SCT does not verify: {e}"))?;
    Ok(sct)
}

/// POST a chain to `url` and return the SCT of the configured log (signature not yet checked).
async fn post_chain(
    http: &reqwest::Client,
    ct: &CtConfig,
    url: &str,
    chain_der: &[Vec<u8>],
) -> Result<SignedCertificateTimestamp, String> {
    let request = AddChainRequest {
        chain: chain_der.iter().map(|c| B64.encode(c)).collect(),
    };
    let mut response = http
        .post(url)
        .timeout(CT_TIMEOUT)
        .json(&request)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_SIZE {
            return Err(format!(
                "POST {url}: answer larger than {MAX_RESPONSE_SIZE} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    if status != reqwest::StatusCode::OK {
        return Err(format!(
            "POST {url}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    let unverified: AddChainResponse =
        serde_json::from_slice(&body).map_err(|e| format!("POST {url}: answer: {e}"))?;
    let sct = SignedCertificateTimestamp::from_json(&unverified)
        .map_err(|e| format!("POST {url}: SCT: {e}"))?;
    let expected_log_id = sigstack_ct::log_id(ct.public_key.spki_der());
    if sct.log_id != expected_log_id {
        return Err(format!(
            "POST {url}: SCT from log {} but the configured log is {}",
            B64.encode(sct.log_id),
            B64.encode(expected_log_id)
        ));
    }
    Ok(sct)
}

/// Log `chain_der` (precertificate first, then the issuing chain) and return the SCT, verified
/// against the log key over the precertificate entry (`issuer_spki_der`, `tbs_der`).
///
/// # Errors
/// A description of what failed (for the server log; clients get a generic message).
pub(crate) async fn submit_precertificate(
    http: &reqwest::Client,
    ct: &CtConfig,
    chain_der: &[Vec<u8>],
    issuer_spki_der: &[u8],
    tbs_der: &[u8],
) -> Result<SignedCertificateTimestamp, String> {
    let url = ct.add_pre_chain_url();
    let sct = post_chain(http, ct, &url, chain_der).await?;
    sct.verify_precert(&ct.public_key, issuer_spki_der, tbs_der)
        .map_err(|e| format!("POST {url}: SCT does not verify: {e}"))?;
    Ok(sct)
}
