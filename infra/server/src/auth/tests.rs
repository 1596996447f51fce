use std::io::Write;

use accepted_tests::tokens::TestIssuer;
use serde_json::json;

use super::*;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "accepted-api";

fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(contents.as_bytes()).unwrap();
    f
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn a_token_signed_by_a_jwks_key_yields_its_claims_as_strings() {
    let idp = TestIssuer::new(ISSUER, AUDIENCE);
    let keys = file(&idp.jwks());
    let verifier = JwtVerifier::from_file(keys.path(), ISSUER, AUDIENCE).unwrap();
    let token = idp.sign(&idp.claims("alice", json!({"scope": "jobs", "n": 3})));
    let claims = verifier.verify(Some(&bearer(&token))).unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["scope"], "jobs");
    assert_eq!(claims["n"], "3");
    // The scheme is case-insensitive, as in RFC 9110.
    assert!(verifier.verify(Some(&format!("bearer {token}"))).is_ok());
}

#[test]
fn a_pem_public_key_works_as_well() {
    let idp = TestIssuer::new(ISSUER, AUDIENCE);
    let key = file(&idp.public_pem());
    let verifier = JwtVerifier::from_file(key.path(), ISSUER, AUDIENCE).unwrap();
    assert!(verifier.verify(Some(&bearer(&idp.token("bob")))).is_ok());
}

#[test]
fn every_broken_token_is_refused() {
    let idp = TestIssuer::new(ISSUER, AUDIENCE);
    let keys = file(&idp.jwks());
    let verifier = JwtVerifier::from_file(keys.path(), ISSUER, AUDIENCE).unwrap();
    let refused = |auth: Option<&str>| verifier.verify(auth).unwrap_err();

    assert_eq!(refused(None), Refusal::Missing);
    assert_eq!(refused(Some("Bearer ")), Refusal::Missing);
    assert_eq!(
        refused(Some(&format!("Basic {}", idp.token("a")))),
        Refusal::Missing
    );
    assert!(matches!(refused(Some("Bearer x.y")), Refusal::Invalid(_)));

    let expired = idp.claims("a", json!({"exp": 1_000_000, "nbf": 999_000}));
    assert!(matches!(
        refused(Some(&bearer(&idp.sign(&expired)))),
        Refusal::Invalid(_)
    ));
    let early = idp.claims(
        "a",
        json!({"nbf": 4_000_000_000u64, "exp": 4_000_003_600u64}),
    );
    assert!(matches!(
        refused(Some(&bearer(&idp.sign(&early)))),
        Refusal::Invalid(_)
    ));
    let elsewhere = idp.claims("a", json!({"iss": "https://evil.test"}));
    assert!(matches!(
        refused(Some(&bearer(&idp.sign(&elsewhere)))),
        Refusal::Invalid(_)
    ));
    let other_api = idp.claims("a", json!({"aud": "another-api"}));
    assert_eq!(
        refused(Some(&bearer(&idp.sign(&other_api)))),
        Refusal::Audience
    );

    // Signed by a key the verifier does not know.
    let stranger = TestIssuer::new(ISSUER, AUDIENCE);
    assert!(matches!(
        refused(Some(&bearer(&stranger.token("a")))),
        Refusal::Invalid(_)
    ));
    // A tampered payload no longer matches its signature.
    let token = idp.token("alice");
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = idp.token("mallory");
    parts[1] = forged.split('.').nth(1).unwrap();
    parts[2] = token.split('.').nth(2).unwrap();
    assert!(matches!(
        refused(Some(&bearer(&parts.join(".")))),
        Refusal::Invalid(_)
    ));
}

#[test]
fn the_audience_may_be_a_list_or_the_access_tokens_client_id() {
    let idp = TestIssuer::new(ISSUER, AUDIENCE);
    let keys = file(&idp.jwks());
    let verifier = JwtVerifier::from_file(keys.path(), ISSUER, AUDIENCE).unwrap();
    for extra in [
        json!({"aud": ["other", AUDIENCE]}),
        json!({"aud": null, "client_id": AUDIENCE}),
    ] {
        let token = idp.sign(&idp.claims("a", extra.clone()));
        assert!(verifier.verify(Some(&bearer(&token))).is_ok(), "{extra}");
    }
}

#[test]
fn an_hmac_token_cannot_pass_for_one_of_the_issuers_keys() {
    // The classic confusion: a token "signed" with HS256 using the public key as secret.
    let idp = TestIssuer::new(ISSUER, AUDIENCE);
    let key = file(&idp.public_pem());
    let verifier = JwtVerifier::from_file(key.path(), ISSUER, AUDIENCE).unwrap();
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &idp.claims("mallory", json!({})),
        &jsonwebtoken::EncodingKey::from_secret(idp.public_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        verifier.verify(Some(&bearer(&forged))).unwrap_err(),
        Refusal::UnknownKey
    );
}

#[test]
fn a_shared_secret_verifies_development_tokens() {
    let verifier = JwtVerifier::from_secret("dev-secret", ISSUER, AUDIENCE).unwrap();
    let idp = TestIssuer::new(ISSUER, AUDIENCE);
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &idp.claims("dev", json!({})),
        &jsonwebtoken::EncodingKey::from_secret(b"dev-secret").unwrap(),
    )
    .unwrap();
    assert_eq!(
        verifier.verify(Some(&bearer(&token))).unwrap()["sub"],
        "dev"
    );
    assert!(JwtVerifier::from_secret("", ISSUER, AUDIENCE).is_err());
}

#[test]
fn unusable_key_files_are_named_in_the_error() {
    let junk = file("not a key");
    let err = JwtVerifier::from_file(junk.path(), ISSUER, AUDIENCE).unwrap_err();
    assert!(matches!(err, KeyError::Unusable(_)), "{err}");
    let empty = file(r#"{"keys": []}"#);
    let err = JwtVerifier::from_file(empty.path(), ISSUER, AUDIENCE).unwrap_err();
    assert!(matches!(err, KeyError::EmptySet(_)), "{err}");
}
