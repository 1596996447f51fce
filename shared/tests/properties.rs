//! Property tests of every parser that reads client or producer input: whatever the input,
//! they answer (a value or a defined error) and never panic, and what they accept keeps the
//! invariants the rest of the code relies on.

use accepted_core::inbound;
use accepted_core::request::parse_submit;
use accepted_core::webhook::delivery::Delivery;
use accepted_core::webhook::DestinationPolicy;
use accepted_core::{cursor, ApiError, CorrelationId, IdempotencyKey, JobMessage, Owner};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Arbitrary JSON, with the names the parsers look for mixed into the keys.
fn json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type".to_owned()),
        Just("input".to_owned()),
        Just("callback_url".to_owned()),
        Just("job_id".to_owned()),
        Just("version".to_owned()),
        Just("Message".to_owned()),
        Just("detail".to_owned()),
        Just("csv".to_owned()),
        Just("duration_ms".to_owned()),
        ".{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("demo.sleep".to_owned()),
            Just("csv.summary".to_owned()),
            Just("https://example.com/hook".to_owned()),
            ".{0,24}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn submit(body: &[u8]) -> Result<(), ApiError> {
    parse_submit(
        Some("application/json"),
        body,
        64 * 1024,
        &accepted_builtin_jobs::registry(),
        DestinationPolicy::STRICT,
    )
    .map(|_| ())
}

/// Refusals are the documented client errors, each field error located by a JSON Pointer.
fn assert_defined(result: Result<(), ApiError>) {
    if let Err(err) = result {
        assert!(
            [400, 413, 422].contains(&err.status()),
            "undefined answer {err:?}"
        );
        if let ApiError::Validation(errors) = err {
            assert!(!errors.is_empty());
            for e in errors {
                assert!(e.pointer.is_empty() || e.pointer.starts_with('/'), "{e:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn submit_answers_any_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        assert_defined(submit(&body));
    }

    #[test]
    fn submit_answers_any_json(value in json()) {
        assert_defined(submit(value.to_string().as_bytes()));
    }

    #[test]
    fn submit_answers_any_job_shaped_request(input in json(), job_type in ".{0,16}") {
        let body = serde_json::json!({"type": job_type, "input": input});
        assert_defined(submit(body.to_string().as_bytes()));
    }

    #[test]
    fn queue_messages_decode_or_name_their_fault(value in json(), raw in ".{0,256}") {
        for body in [value.to_string(), raw] {
            if let Err(err) = inbound::decode(&body, "message-id") {
                prop_assert!(!err.code().is_empty());
            }
            let _ = JobMessage::decode(&body);
            let _ = Delivery::from_message(&body);
        }
    }

    #[test]
    fn ids_accept_only_what_keys_and_headers_can_carry(s in "\\PC{0,300}|.{0,300}") {
        if let Some(owner) = Owner::parse(&s) {
            prop_assert!(owner.as_str().len() <= Owner::MAX_LEN);
            prop_assert!(!owner.as_str().contains('#'));
        }
        if let Some(key) = IdempotencyKey::parse(&s) {
            prop_assert!(key.as_str().len() <= IdempotencyKey::MAX_LEN);
            prop_assert!(key.as_str().bytes().all(|b| b.is_ascii_graphic()));
        }
        let cid = CorrelationId::from_header_or_generate(Some(&s));
        prop_assert!(cid.as_str().len() <= CorrelationId::MAX_LEN);
        prop_assert!(lambda_http::http::HeaderValue::from_str(cid.as_str()).is_ok());
        let _ = cursor::decode(&s);
    }

    #[test]
    fn callback_urls_are_checked_without_panicking(
        s in ".{0,200}",
        host in "[a-z0-9.:\\[\\]-]{0,40}",
    ) {
        let _ = DestinationPolicy::STRICT.check_url(&s);
        let url = format!("https://{host}/hook");
        if let Ok(parsed) = DestinationPolicy::STRICT.check_url(&url) {
            prop_assert_eq!(parsed.scheme(), "https");
        }
    }
}
