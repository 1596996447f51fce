use serde_json::{json, Value};

use super::*;

const SOURCE: &str = "accepted.jobs";

/// An entry as the events function puts it on the bus.
fn entry(kind: &str, data: Value) -> Value {
    json!({"source": SOURCE, "detail-type": format!("accepted.job.{kind}"),
           "detail": {"type": format!("accepted.job.{kind}"), "subject": "j-1", "data": data}})
}

fn matches(pattern: &str, entry: &Value) -> bool {
    Pattern::parse(pattern).may_match(entry)
}

const WEBHOOK_RULE: &str = r#"{"source": ["accepted.jobs"],
    "detail-type": ["accepted.job.completed", "accepted.job.failed", "accepted.job.cancelled"],
    "detail": {"data": {"callback_url": [{"exists": true}]}}}"#;

#[test]
fn the_webhook_rule_matches_the_terminal_events_of_jobs_with_a_callback_only() {
    let hooked = json!({"status": "completed", "callback_url": "https://example.com/hook"});
    let plain = json!({"status": "completed"});
    assert!(matches(WEBHOOK_RULE, &entry("completed", hooked.clone())));
    assert!(matches(WEBHOOK_RULE, &entry("failed", hooked.clone())));
    assert!(!matches(WEBHOOK_RULE, &entry("completed", plain)));
    assert!(!matches(WEBHOOK_RULE, &entry("started", hooked)));
}

#[test]
fn source_and_detail_type_are_evaluated_and_an_absent_field_matches_anything() {
    let completed = entry("completed", json!({}));
    assert!(!matches(r#"{"source": ["aws.s3"]}"#, &completed));
    assert!(matches(r#"{"source": ["accepted.jobs"]}"#, &completed));
    assert!(matches("{}", &completed));
    assert!(matches(
        r#"{"source": [{"prefix": "accepted."}]}"#,
        &completed
    ));
    assert!(!matches(
        r#"{"detail-type": ["accepted.job.started"]}"#,
        &completed
    ));
}

#[test]
fn detail_fields_are_evaluated_with_eventbridges_matchers() {
    let failed = entry(
        "failed",
        json!({"status": "failed", "attempts": 3, "type": "invoice.render",
               "error": {"code": "retries_exhausted"}, "tags": ["a", "b"]}),
    );
    for (pattern, expected) in [
        (
            r#"{"detail": {"data": {"type": ["invoice.render"]}}}"#,
            true,
        ),
        (r#"{"detail": {"data": {"type": ["other"]}}}"#, false),
        (
            r#"{"detail": {"data": {"type": [{"prefix": "invoice."}]}}}"#,
            true,
        ),
        (
            r#"{"detail": {"data": {"type": [{"suffix": ".pdf"}]}}}"#,
            false,
        ),
        (
            r#"{"detail": {"data": {"type": [{"equals-ignore-case": "INVOICE.RENDER"}]}}}"#,
            true,
        ),
        (
            r#"{"detail": {"data": {"type": [{"wildcard": "inv*.r*"}]}}}"#,
            true,
        ),
        (
            r#"{"detail": {"data": {"type": [{"anything-but": "invoice.render"}]}}}"#,
            false,
        ),
        (
            r#"{"detail": {"data": {"type": [{"anything-but": ["x", "y"]}]}}}"#,
            true,
        ),
        (r#"{"detail": {"data": {"attempts": [3]}}}"#, true),
        (r#"{"detail": {"data": {"attempts": [3.0]}}}"#, true),
        (r#"{"detail": {"data": {"attempts": [4]}}}"#, false),
        (
            r#"{"detail": {"data": {"attempts": [{"anything-but": 3}]}}}"#,
            false,
        ),
        (
            r#"{"detail": {"data": {"error": {"code": ["retries_exhausted"]}}}}"#,
            true,
        ),
        (
            r#"{"detail": {"data": {"error": {"code": ["timeout"]}}}}"#,
            false,
        ),
        (r#"{"detail": {"data": {"tags": ["b"]}}}"#, true),
        (r#"{"detail": {"data": {"tags": ["c"]}}}"#, false),
        (
            r#"{"detail": {"data": {"callback_url": [{"exists": false}]}}}"#,
            true,
        ),
        (r#"{"detail": {"data": {"missing": ["x"]}}}"#, false),
        (
            r#"{"detail": {"data": {"missing": [{"prefix": "x"}]}}}"#,
            false,
        ),
        (
            r#"{"detail": {"data": {"missing": {"deeper": [{"exists": false}]}}}}"#,
            true,
        ),
        (
            r#"{"detail": {"data": {"missing": {"deeper": ["x"]}}}}"#,
            false,
        ),
    ] {
        assert_eq!(matches(pattern, &failed), expected, "{pattern}");
    }
}

#[test]
fn what_is_not_evaluated_may_match() {
    let started = entry("started", json!({"attempts": 1, "nested": [{"a": 1}]}));
    for pattern in [
        r#"{"detail-type": [{"prefix": {"equals-ignore-case": "ACCEPTED"}}]}"#,
        r#"{"detail-type": [{"anything-but": {"prefix": "accepted"}}]}"#,
        r#"{"detail": {"data": {"attempts": [{"numeric": [">", 5]}]}}}"#,
        r#"{"detail": {"data": {"missing": [{"anything-but": "x"}]}}}"#,
        r#"{"detail": {"data": {"nested": {"a": [2]}}}}"#,
        r#"{"account": ["111122223333"], "region": ["eu-west-1"]}"#,
        r#"{"detail-type": "accepted.job.created"}"#,
        r#"["not", "an", "object"]"#,
        "not json",
    ] {
        assert!(matches(pattern, &started), "{pattern}");
    }
}

#[test]
fn or_needs_one_branch_and_the_fields_beside_it() {
    let failed = entry("failed", json!({"type": "x"}));
    let either = r#"{"source": ["accepted.jobs"], "$or": [
        {"detail-type": ["accepted.job.started"]},
        {"detail-type": ["accepted.job.failed"], "detail": {"data": {"type": ["x"]}}}]}"#;
    assert!(matches(either, &failed));
    assert!(matches(either, &entry("started", json!({}))));
    assert!(!matches(either, &entry("completed", json!({}))));
    let narrowed = r#"{"detail-type": ["accepted.job.started"], "$or": [
        {"detail": {"data": {"type": ["x"]}}}, {"source": ["accepted.jobs"]}]}"#;
    assert!(!matches(narrowed, &failed));
    let elsewhere = r#"{"$or": [{"source": ["aws.s3"]}, {"source": ["aws.ec2"]}]}"#;
    assert!(!matches(elsewhere, &failed));
}

#[test]
fn wildcards_follow_eventbridge() {
    assert!(wildcard("accepted.job.*", "accepted.job.created"));
    assert!(wildcard("*", "anything"));
    assert!(wildcard("a*b*c", "abc"));
    assert!(!wildcard("a*b*c", "acb"));
    assert!(!wildcard("*ed", "started.x"));
    assert!(wildcard(r"a\*b", "a*b"));
    assert!(!wildcard(r"a\*b", "axb"));
    assert!(wildcard("exact", "exact"));
    assert!(!wildcard("exact", "exactly"));
    assert!(!wildcard("ab*ba", "aba"));
}
