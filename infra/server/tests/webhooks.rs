//! Webhooks end to end on the local server: a job with a `callback_url` finishes, the outbox
//! relay routes its terminal event to the embedded webhook queue, and the real delivery
//! function POSTs it to a receiver on this machine (allowed by `--insecure-callbacks`),
//! retrying after a failure; the owner verifies it with the key from `GET /webhook-secret`.

mod common;

use std::time::{Duration, Instant};

use accepted_core::webhook::delivery::WebhookPayload;
use accepted_core::webhook::{verify, WebhookHeaders, WebhookSecret};
use accepted_tests::receiver::{Answer, Receiver};
use common::{call, finished, submit, Server};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_is_posted_to_its_callback_signed_and_retried() {
    let receiver = Receiver::start().await;
    receiver.then(Answer::status(500));
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(
        dir.path(),
        &["--insecure-callbacks"],
        &[("WEBHOOK_RETRY_SCHEDULE", "1s")],
    );
    let base = server.base.clone();
    let url = receiver.url("/hook");

    let (job, key) = tokio::task::spawn_blocking(move || {
        let job = submit(
            &base,
            json!({"type": "demo.sleep", "input": {"duration_ms": 1}, "callback_url": url}),
        );
        assert_eq!(finished(&base, &job)["status"], "completed");
        let refused = call(
            "POST",
            &format!("{base}/jobs"),
            Some(&json!({"type": "demo.sleep", "input": {"duration_ms": 1},
                         "callback_url": "ftp://127.0.0.1/"})),
        );
        assert_eq!(
            refused.status, 422,
            "the development flag allows http, nothing else"
        );
        let secret = call("GET", &format!("{base}/webhook-secret"), None);
        assert_eq!(secret.status, 200);
        (
            job,
            secret.body["secret"].as_str().expect("secret").to_owned(),
        )
    })
    .await
    .expect("client");

    let start = Instant::now();
    while receiver.received().len() < 2 && start.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = receiver.received();
    assert_eq!(received.len(), 2, "a failed attempt, then the retry");
    assert!(received[1].at - received[0].at >= Duration::from_millis(700));
    let key = WebhookSecret::parse(&key).expect("whsec_ key");
    for r in &received {
        let headers = WebhookHeaders {
            id: r.header("webhook-id"),
            timestamp: r.header("webhook-timestamp"),
            signature: r.header("webhook-signature"),
        };
        let now = accepted_core::Timestamp::now().as_secs();
        assert_eq!(verify(&key, headers, &r.body, now, 300), Ok(()));
        assert_eq!(
            r.header("webhook-id"),
            Some(format!("{job}.1.completed").as_str())
        );
        let payload: WebhookPayload = serde_json::from_slice(&r.body).expect("payload");
        assert_eq!(payload.event_type, "accepted.job.completed");
        assert_eq!(payload.data["id"], job.as_str());
    }
    let secret_file = dir.path().join("webhook-secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .expect("secret file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the secret file is the owner's only");
    }
    drop(server);
}
