//! A test identity provider: a P-256 key whose JWKS the operator's Fulcio configuration reads
//! from a file (an air-gapped issuer), and ES256 tokens signed with it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sigstack_keys::{FileSigner, SignatureAlgorithm, Signer as _};

/// The key ID of every token and of the JWK.
const KID: &str = "e2e";

/// A signing key and its public JWK.
pub struct TestIdp {
    encoding: jsonwebtoken::EncodingKey,
    /// The public key as a JWK (`{"keys": [jwk]}` is the JWKS).
    pub jwk: Value,
}

impl TestIdp {
    /// A fresh key.
    ///
    /// # Panics
    /// If the key cannot be generated or encoded.
    #[must_use]
    pub fn new() -> Self {
        let signer = FileSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).expect("key");
        let pem = signer.to_pkcs8_pem().expect("pem");
        // A P-256 SubjectPublicKeyInfo ends with the uncompressed point 04 || x || y.
        let spki = signer.public_key_der();
        let point = &spki[spki.len() - 64..];
        Self {
            encoding: jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).expect("key"),
            jwk: json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": KID,
                        "x": URL_SAFE_NO_PAD.encode(&point[..32]),
                        "y": URL_SAFE_NO_PAD.encode(&point[32..])}),
        }
    }

    /// The JWKS document holding [`Self::jwk`].
    #[must_use]
    pub fn jwks(&self) -> String {
        json!({"keys": [self.jwk]}).to_string()
    }

    /// An ES256 token from issuer `iss` for audience `sigstore`, valid for 10 minutes from now,
    /// with `claims` added.
    ///
    /// # Panics
    /// If the clock is before 1970 or the token cannot be signed.
    #[must_use]
    pub fn token(&self, iss: &str, claims: Value) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let mut all = claims;
        all["iss"] = iss.into();
        all["aud"] = "sigstore".into();
        all["iat"] = now.into();
        all["nbf"] = now.into();
        all["exp"] = (now + 600).into();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(KID.into());
        jsonwebtoken::encode(&header, &all, &self.encoding).expect("jwt")
    }
}

impl Default for TestIdp {
    fn default() -> Self {
        Self::new()
    }
}
