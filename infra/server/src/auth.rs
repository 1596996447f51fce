//! The local stand-in for API Gateway's JWT authorizer, so `AuthMode::Jwt` is testable
//! without AWS: the same checks (signature by a configured key, `iss`, `aud` or `client_id`,
//! `exp`, `nbf`) and the same result (the claims in the request context, or `401` before any
//! function runs).

use std::collections::HashMap;
use std::path::Path;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the JWT key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} holds neither a JWKS document nor a PEM public key (RSA, EC or Ed25519)")]
    Unusable(String),
    #[error("the JWKS document {0} holds no usable key")]
    EmptySet(String),
    #[error("the JWT secret must not be empty")]
    EmptySecret,
}

/// Why a request's token was refused. Logged, never sent: the client learns only `401`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("no bearer token")]
    Missing,
    #[error("the token's key or algorithm is not accepted")]
    UnknownKey,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token is not for this audience")]
    Audience,
}

struct VerifyingKey {
    kid: Option<String>,
    key: DecodingKey,
}

/// Verifies bearer tokens against one issuer, one audience and a set of keys.
pub struct JwtVerifier {
    keys: Vec<VerifyingKey>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl JwtVerifier {
    /// Keys from a file: a JWKS document (what an issuer serves at its `jwks_uri`) or one
    /// PEM public key.
    pub fn from_file(path: &Path, issuer: &str, audience: &str) -> Result<Self, KeyError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
            path: name.clone(),
            source,
        })?;
        let keys = if let Ok(set) = serde_json::from_slice::<JwkSet>(&bytes) {
            let keys: Vec<_> = set
                .keys
                .iter()
                .filter_map(|jwk| {
                    let key = DecodingKey::from_jwk(jwk).ok()?;
                    let kid = jwk.common.key_id.clone();
                    Some(VerifyingKey { kid, key })
                })
                .collect();
            if keys.is_empty() {
                return Err(KeyError::EmptySet(name));
            }
            keys
        } else {
            let key = DecodingKey::from_rsa_pem(&bytes)
                .or_else(|_| DecodingKey::from_ec_pem(&bytes))
                .or_else(|_| DecodingKey::from_ed_pem(&bytes))
                .map_err(|_| KeyError::Unusable(name))?;
            vec![VerifyingKey { kid: None, key }]
        };
        Ok(Self::new(keys, issuer, audience))
    }

    /// A shared HMAC secret: development tokens, never a production issuer's.
    pub fn from_secret(secret: &str, issuer: &str, audience: &str) -> Result<Self, KeyError> {
        let key = DecodingKey::from_secret(secret.as_bytes()).map_err(|_| KeyError::EmptySecret)?;
        Ok(Self::new(
            vec![VerifyingKey { kid: None, key }],
            issuer,
            audience,
        ))
    }

    fn new(keys: Vec<VerifyingKey>, issuer: &str, audience: &str) -> Self {
        Self {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// The claims of the `Authorization: Bearer` token, as API Gateway hands them to a
    /// function: every value a string.
    pub fn verify(&self, authorization: Option<&str>) -> Result<HashMap<String, String>, Refusal> {
        let token = authorization
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or(Refusal::Missing)?;
        let header = decode_header(token).map_err(|e| Refusal::Invalid(e.to_string()))?;
        let mut last = Refusal::UnknownKey;
        for candidate in self.candidates(header.kid.as_deref(), header.alg) {
            let mut validation = Validation::new(header.alg);
            validation.leeway = LEEWAY_SECS;
            validation.validate_nbf = true;
            validation.set_issuer(&[&self.issuer]);
            // API Gateway accepts the audience in `aud` or, for access tokens, `client_id`.
            validation.validate_aud = false;
            validation.set_required_spec_claims(&["exp", "iss"]);
            match decode::<Map<String, Value>>(token, &candidate.key, &validation) {
                Ok(data) if self.audience_matches(&data.claims) => {
                    return Ok(data
                        .claims
                        .into_iter()
                        .map(|(name, value)| match value {
                            Value::String(s) => (name, s),
                            other => (name, other.to_string()),
                        })
                        .collect());
                }
                Ok(_) => return Err(Refusal::Audience),
                Err(err) => last = Refusal::Invalid(err.to_string()),
            }
        }
        Err(last)
    }

    /// Keys that may have signed a token: the one its `kid` names, else those of its
    /// algorithm's family. A key is never used outside its family (no RSA key as an HMAC
    /// secret).
    fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Vec<&VerifyingKey> {
        let family = self
            .keys
            .iter()
            .filter(move |k| k.key.family() == alg.family());
        let named: Vec<_> = family
            .clone()
            .filter(|k| kid.is_some() && k.kid.as_deref() == kid)
            .collect();
        if named.is_empty() {
            family.collect()
        } else {
            named
        }
    }

    fn audience_matches(&self, claims: &Map<String, Value>) -> bool {
        let is_ours = |v: &Value| v.as_str() == Some(self.audience.as_str());
        match claims.get("aud") {
            Some(Value::Array(list)) if list.iter().any(is_ours) => return true,
            Some(v) if is_ours(v) => return true,
            _ => {}
        }
        claims.get("client_id").is_some_and(is_ours)
    }
}

#[cfg(test)]
mod tests;
