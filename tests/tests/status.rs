//! `GET /jobs/{id}`: owner isolation and the shape of "not found".

use accepted_core::JobId;
use accepted_tests::{header, request, TestStack};
use lambda_http::http::Method;
use serde_json::json;

#[tokio::test]
async fn another_owners_job_is_exactly_as_missing_as_a_missing_one() {
    let t = TestStack::new().await;
    let body = json!({"type": "demo.sleep", "input": {"duration_ms": 1}}).to_string();
    let (res, job) = t
        .post_raw(
            body.as_bytes(),
            &[("content-type", "application/json")],
            Some("alice"),
        )
        .await;
    assert_eq!(res.status(), 202);
    let id = job["id"].as_str().unwrap();

    let (own, own_body) = t.get_job(id, Some("alice")).await;
    assert_eq!(own.status(), 200);
    assert_eq!(own_body["id"], id);
    assert_eq!(header(&own, "cache-control"), Some("no-store"));

    let (foreign, mut foreign_body) = t.get_job(id, Some("bob")).await;
    let (anonymous, _) = t.get_job(id, None).await;
    let missing_id = JobId::generate();
    let (missing, mut missing_body) = t.get_job(missing_id.as_str(), Some("bob")).await;
    assert_eq!(foreign.status(), 404);
    assert_eq!(anonymous.status(), 404);
    assert_eq!(missing.status(), 404);
    assert_eq!(
        header(&foreign, "content-type"),
        Some("application/problem+json")
    );
    // Identical apart from the id-bearing and per-request members.
    for body in [&mut foreign_body, &mut missing_body] {
        let obj = body.as_object_mut().unwrap();
        obj.remove("instance");
        obj.remove("correlation_id");
    }
    assert_eq!(foreign_body, missing_body);
}

#[tokio::test]
async fn malformed_ids_are_not_found_and_other_methods_are_refused() {
    let t = TestStack::new().await;
    for id in [
        "not-a-uuid",
        "..%2F..",
        "00000000-0000-0000-0000-00000000000G",
    ] {
        let (res, body) = t.get_job(id, None).await;
        assert_eq!(res.status(), 404, "{id}");
        assert_eq!(body["type"], "/problems/not-found");
    }
    // Without API Gateway's path parameters the id comes from the path.
    let id = JobId::generate();
    let req = request(
        Method::GET,
        &format!("/jobs/{id}"),
        b"",
        &[("x-correlation-id", "c-9")],
        None,
    );
    let res = accepted_status::handle(&t.status, req).await;
    assert_eq!(res.status(), 404);
    assert_eq!(header(&res, "x-correlation-id"), Some("c-9"));

    let req = request(Method::POST, &format!("/jobs/{id}"), b"", &[], None);
    let res = accepted_status::handle(&t.status, req).await;
    assert_eq!(res.status(), 405);
    assert_eq!(header(&res, "allow"), Some("GET"));
}
