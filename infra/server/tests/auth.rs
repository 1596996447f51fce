//! `accepted serve --auth jwt`: the server verifies bearer tokens as API Gateway's JWT
//! authorizer would, and every route is scoped to the token's subject.

mod common;

use std::process::Command;

use accepted_tests::tokens::TestIssuer;
use common::{call_with, Answer, Server};
use serde_json::{json, Value};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "accepted-api";

struct Client<'a> {
    base: &'a str,
    token: Option<String>,
}

impl Client<'_> {
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        more: &[(&str, &str)],
    ) -> Answer {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = more.to_vec();
        if let Some(auth) = &auth {
            headers.push(("authorization", auth));
        }
        call_with(method, &format!("{}{path}", self.base), body, &headers)
    }
}

fn sleep_job() -> Value {
    json!({"type": "demo.sleep", "input": {"duration_ms": 1}})
}

#[test]
fn tokens_decide_who_is_calling_and_each_owner_sees_only_their_jobs() {
    let idp = TestIssuer::new(ISSUER, AUDIENCE);
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = dir.path().join("jwks.json");
    std::fs::write(&keys, idp.jwks()).expect("write jwks");
    let keys = keys.to_string_lossy().into_owned();
    let server = Server::start(
        dir.path(),
        &[
            "--auth",
            "jwt",
            "--jwt-issuer",
            ISSUER,
            "--jwt-audience",
            AUDIENCE,
            "--jwt-keys",
            &keys,
        ],
        &[(
            "WEBHOOK_SECRET",
            "whsec_dGVzdC1tYXN0ZXItc2VjcmV0LWZvci1hdXRoLXRlc3Q=",
        )],
    );
    let base = server.base.as_str();
    let anonymous = Client { base, token: None };
    let alice = Client {
        base,
        token: Some(idp.token("alice")),
    };
    let bob = Client {
        base,
        token: Some(idp.token("bob")),
    };

    // No token, a malformed one, one from another issuer's key: 401 before anything runs.
    let stranger = TestIssuer::new(ISSUER, AUDIENCE);
    for client in [
        &anonymous,
        &Client {
            base,
            token: Some("not.a.token".into()),
        },
        &Client {
            base,
            token: Some(stranger.token("alice")),
        },
    ] {
        let refused = client.call("POST", "/jobs", Some(&sleep_job()), &[]);
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert_eq!(refused.headers["www-authenticate"], "Bearer");
        assert_eq!(refused.body["type"], "/problems/unauthenticated");
        assert_eq!(client.call("GET", "/jobs", None, &[]).status, 401);
    }
    assert_eq!(
        alice.call("GET", "/jobs", None, &[]).body["jobs"],
        json!([]),
        "the refused submits wrote nothing"
    );

    // A verified subject that cannot be an owner is refused, not mapped to someone else.
    let odd = Client {
        base,
        token: Some(idp.token("team#1")),
    };
    let refused = odd.call("POST", "/jobs", Some(&sleep_job()), &[]);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.body["type"], "/problems/invalid-identity");

    let accepted = alice.call(
        "POST",
        "/jobs",
        Some(&sleep_job()),
        &[("idempotency-key", "k-1")],
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let id = accepted.body["id"].as_str().expect("id").to_owned();
    let job = format!("/jobs/{id}");
    assert_eq!(
        alice
            .call("GET", &format!("{job}?wait=5"), None, &[])
            .status,
        200
    );

    // Bob sees nothing of it, on every route, exactly as for an id that does not exist.
    let missing = format!("/jobs/{}", uuid::Uuid::new_v4());
    for (method, path) in [
        ("GET", job.clone()),
        ("GET", format!("{job}?wait=1")),
        ("GET", format!("{job}/result")),
        ("DELETE", job.clone()),
    ] {
        let foreign = bob.call(method, &path, None, &[]);
        let absent = bob.call(method, &path.replace(&job, &missing), None, &[]);
        assert_eq!(
            (foreign.status, absent.status),
            (404, 404),
            "{method} {path}"
        );
        assert_eq!(foreign.body["type"], absent.body["type"]);
        assert_eq!(foreign.body["title"], absent.body["title"]);
    }
    assert_eq!(bob.call("GET", "/jobs", None, &[]).body["jobs"], json!([]));
    let listed = alice.call("GET", "/jobs", None, &[]);
    assert_eq!(listed.body["jobs"][0]["id"], id.as_str());

    // The same idempotency key is another owner's own key.
    let bobs = bob.call(
        "POST",
        "/jobs",
        Some(&sleep_job()),
        &[("idempotency-key", "k-1")],
    );
    assert_eq!(bobs.status, 202);
    assert_ne!(bobs.body["id"], id.as_str());
    assert!(bobs.headers.get("idempotent-replayed").is_none());

    // Each owner gets their own webhook key.
    let alices_key = alice.call("GET", "/webhook-secret", None, &[]);
    let bobs_key = bob.call("GET", "/webhook-secret", None, &[]);
    assert_eq!((alices_key.status, bobs_key.status), (200, 200));
    assert_ne!(alices_key.body["secret"], bobs_key.body["secret"]);
    assert_eq!(
        anonymous.call("GET", "/webhook-secret", None, &[]).status,
        401
    );

    // The contract stays public.
    assert_eq!(
        anonymous.call("GET", "/openapi.json", None, &[]).status,
        200
    );
    server.stop();
}

#[test]
fn jwt_mode_without_an_issuer_or_keys_does_not_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (args, missing) in [
        (vec!["--auth", "jwt"], "--jwt-issuer"),
        (
            vec![
                "--auth",
                "jwt",
                "--jwt-issuer",
                ISSUER,
                "--jwt-audience",
                AUDIENCE,
            ],
            "--jwt-keys",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_accepted"))
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--port", "0"])
            .args(&args)
            .output()
            .expect("run accepted");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(missing), "{stderr}");
    }
}
