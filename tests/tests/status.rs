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
    assert_eq!(header(&res, "allow"), Some("GET, DELETE"));
}

async fn submit_as(t: &TestStack, owner: &str, body: serde_json::Value) -> String {
    let (res, job) = t
        .post_raw(
            body.to_string().as_bytes(),
            &[("content-type", "application/json")],
            Some(owner),
        )
        .await;
    assert_eq!(res.status(), 202, "{job}");
    job["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn no_route_lets_one_owner_see_or_touch_anothers_job() {
    let t = TestStack::new().await;
    let id = submit_as(
        &t,
        "alice",
        json!({"type": "demo.sleep", "input": {"duration_ms": 1}}),
    )
    .await;
    let missing = JobId::generate().to_string();
    for (method, suffix) in [
        (Method::GET, ""),
        (Method::GET, "?wait=1"),
        (Method::GET, "/result"),
        (Method::DELETE, ""),
    ] {
        let (foreign, mut foreign_body) = t
            .call(
                method.clone(),
                &format!("/jobs/{id}{suffix}"),
                &[],
                Some("bob"),
            )
            .await;
        let (absent, mut absent_body) = t
            .call(
                method.clone(),
                &format!("/jobs/{missing}{suffix}"),
                &[],
                Some("bob"),
            )
            .await;
        assert_eq!(
            (foreign.status().as_u16(), absent.status().as_u16()),
            (404, 404),
            "{method} {suffix}"
        );
        for body in [&mut foreign_body, &mut absent_body] {
            let obj = body.as_object_mut().unwrap();
            obj.remove("instance");
            obj.remove("correlation_id");
        }
        assert_eq!(foreign_body, absent_body, "{method} {suffix}");
    }
    // Bob's DELETE changed nothing.
    assert_eq!(
        t.stored(&id).await.status,
        accepted_core::JobStatus::Pending
    );
    let (listing, body) = t.call(Method::GET, "/jobs", &[], Some("bob")).await;
    assert_eq!(listing.status(), 200);
    assert_eq!(body["jobs"], json!([]));
}

#[tokio::test]
async fn listing_pages_through_the_callers_jobs_newest_first() {
    let t = TestStack::new().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = if i == 1 {
            json!({"type": "csv.summary", "input": {"csv": "a\n1\n"}})
        } else {
            json!({"type": "demo.sleep", "input": {"duration_ms": i}})
        };
        ids.push(submit_as(&t, "alice", body).await);
        // Distinct creation times make "newest first" a total order.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    submit_as(
        &t,
        "bob",
        json!({"type": "demo.sleep", "input": {"duration_ms": 1}}),
    )
    .await;
    ids.reverse();

    let (res, first) = t
        .call(Method::GET, "/jobs?limit=2", &[], Some("alice"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), Some("no-store"));
    let page_ids = |page: &serde_json::Value| -> Vec<String> {
        page["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(page_ids(&first), ids[..2]);
    let entry = &first["jobs"][0];
    assert!(entry.get("input").is_none() && entry.get("result").is_none());
    assert_eq!(entry["links"]["self"], format!("/jobs/{}", ids[0]));
    let cursor = first["next_cursor"].as_str().expect("a next page");

    let (_, second) = t
        .call(
            Method::GET,
            &format!("/jobs?limit=2&cursor={cursor}"),
            &[],
            Some("alice"),
        )
        .await;
    assert_eq!(page_ids(&second), ids[2..]);
    assert!(second.get("next_cursor").is_none());

    let (_, csv) = t
        .call(
            Method::GET,
            "/jobs?type=csv.summary&status=pending",
            &[],
            Some("alice"),
        )
        .await;
    assert_eq!(page_ids(&csv), [ids[1].clone()]);

    for bad in [
        "status=done",
        "limit=0",
        "limit=101",
        "cursor=not-a-cursor",
        "type=a%20b",
    ] {
        let (res, problem) = t
            .call(Method::GET, &format!("/jobs?{bad}"), &[], Some("alice"))
            .await;
        assert_eq!(res.status(), 400, "{bad}");
        assert_eq!(problem["type"], "/problems/invalid-parameter", "{bad}");
    }
}
