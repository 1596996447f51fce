//! A test identity provider: an ES256 key made for the run, its JWKS and PEM forms, and
//! tokens signed with it. No key material is kept in the repository.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// SubjectPublicKeyInfo header of a P-256 public key (RFC 5480), before the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

pub struct TestIssuer {
    pub issuer: String,
    pub audience: String,
    pub kid: String,
    pkcs8: Vec<u8>,
    point: Vec<u8>,
}

impl TestIssuer {
    pub fn new(issuer: &str, audience: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("generate a P-256 key")
            .as_ref()
            .to_vec();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
            .expect("read the generated key");
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            kid: format!("test-{}", uuid::Uuid::new_v4().simple()),
            point: pair.public_key().as_ref().to_vec(),
            pkcs8,
        }
    }

    /// The JWKS document an OIDC issuer would serve.
    pub fn jwks(&self) -> String {
        let (x, y) = self.point[1..].split_at(32);
        json!({"keys": [{
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }]})
        .to_string()
    }

    /// The public key as PEM (SubjectPublicKeyInfo).
    pub fn public_pem(&self) -> String {
        let der = [P256_SPKI_PREFIX.as_slice(), &self.point].concat();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der)
        )
    }

    /// Claims valid for the next hour, for `sub`, merged with `extra` (which may override).
    pub fn claims(&self, sub: &str, extra: Value) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut claims = json!({
            "iss": self.issuer, "aud": self.audience, "sub": sub,
            "iat": now, "nbf": now, "exp": now + 3600,
        });
        if let (Some(base), Value::Object(more)) = (claims.as_object_mut(), extra) {
            base.extend(more);
        }
        claims
    }

    /// A token signed with this issuer's key.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).expect("sign a token")
    }

    /// A valid token for `sub`.
    pub fn token(&self, sub: &str) -> String {
        self.sign(&self.claims(sub, json!({})))
    }
}
