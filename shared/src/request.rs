//! Validation of `POST /jobs`: every check that must pass before anything is written.
//!
//! Order matters and is part of the contract: media type (415), size (413), JSON syntax (400),
//! structural limits (422: depth, value count, key length; [`crate::limits`]), then fields and
//! job input together (422, every field error at once).

use serde_json::{Map, Value};

use crate::limits;
use crate::problem::{ApiError, FieldError};
use crate::webhook::DestinationPolicy;
use accepted_job::{JobRegistry, Refusal};
const ALLOWED_FIELDS: [&str; 3] = ["type", "input", "callback_url"];

/// A `POST /jobs` body that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitRequest {
    pub job_type: String,
    pub input: Value,
    pub callback_url: Option<String>,
}

/// `application/json`, optionally with parameters such as `charset=utf-8`.
pub fn check_media_type(content_type: Option<&str>) -> Result<(), ApiError> {
    let raw = content_type.unwrap_or("");
    let essence = raw.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(raw.to_owned()))
    }
}

pub fn parse_submit(
    content_type: Option<&str>,
    body: &[u8],
    max_body_bytes: usize,
    registry: &JobRegistry,
    destinations: DestinationPolicy,
) -> Result<SubmitRequest, ApiError> {
    check_media_type(content_type)?;
    if body.len() > max_body_bytes {
        return Err(ApiError::PayloadTooLarge {
            actual: Some(body.len()),
            limit: max_body_bytes,
        });
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    limits::check(&value, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let Value::Object(obj) = value else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "",
            "the body must be a JSON object",
        )]));
    };
    validate_fields(obj, registry, destinations)
}

fn validate_fields(
    mut obj: Map<String, Value>,
    registry: &JobRegistry,
    destinations: DestinationPolicy,
) -> Result<SubmitRequest, ApiError> {
    let mut errors = Vec::new();
    for key in obj.keys().filter(|k| !ALLOWED_FIELDS.contains(&k.as_str())) {
        errors.push(FieldError::new(
            format!("/{}", limits::escape(key)),
            "unknown field; allowed: type, input, callback_url",
        ));
    }

    let job_type = match obj.remove("type") {
        Some(Value::String(t)) => Some(t),
        Some(_) => {
            errors.push(FieldError::new("/type", "must be a string"));
            None
        }
        None => {
            errors.push(FieldError::new("/type", "is required"));
            None
        }
    };
    let input = obj.remove("input");
    if input.is_none() {
        errors.push(FieldError::new("/input", "is required"));
    }
    let callback_url = match obj.remove("callback_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => Some(u),
        Some(_) => {
            errors.push(FieldError::new("/callback_url", "must be a string"));
            None
        }
    };
    if let (Some(t), Some(i)) = (&job_type, &input) {
        if let Err(more) = validate_job(t, i, callback_url.as_deref(), registry, destinations) {
            errors.extend(more);
        }
    }
    match (job_type, input) {
        (Some(job_type), Some(input)) if errors.is_empty() => Ok(SubmitRequest {
            job_type,
            input,
            callback_url,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// The checks a job gets whoever asks for it: a known type, an input that type accepts (its
/// schema, then its own check), a usable callback URL. `POST /jobs` runs them, and so does the
/// worker for job requests that other producers put on the queue.
pub fn validate_job(
    job_type: &str,
    input: &Value,
    callback_url: Option<&str>,
    registry: &JobRegistry,
    destinations: DestinationPolicy,
) -> Result<(), Vec<FieldError>> {
    // Requests from other producers have not been through `parse_submit`.
    if let Err(too_big) = limits::check(input, "/input") {
        return Err(vec![too_big]);
    }
    let mut errors = Vec::new();
    match registry.validate(job_type, input) {
        Ok(()) => {}
        Err(Refusal::Invalid(field_errors)) => errors.extend(field_errors),
        Err(Refusal::UnknownType) => {
            let known: Vec<_> = registry.types().collect();
            errors.push(FieldError::new(
                "/type",
                format!("unknown job type; known types: {}", known.join(", ")),
            ));
        }
    }
    if let Some(url) = callback_url {
        if let Err(refused) = destinations.check_url(url) {
            errors.push(FieldError::new("/callback_url", refused.to_string()));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: &str) -> Result<SubmitRequest, ApiError> {
        parse_submit(
            Some("application/json; charset=utf-8"),
            body.as_bytes(),
            1024,
            &accepted_builtin_jobs::registry(),
            DestinationPolicy::STRICT,
        )
    }

    fn pointers(err: ApiError) -> Vec<String> {
        match err {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.pointer).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_valid_request() {
        let req = parse(
            r#"{"type":"demo.sleep","input":{"duration_ms":5},"callback_url":"https://example.com/h"}"#,
        )
        .unwrap();
        assert_eq!(req.job_type, "demo.sleep");
        assert_eq!(req.input, json!({"duration_ms": 5}));
        assert_eq!(req.callback_url.as_deref(), Some("https://example.com/h"));
    }

    #[test]
    fn each_class_of_bad_input_has_its_own_error() {
        let registry = accepted_builtin_jobs::registry();
        let body = br#"{"type":"demo.sleep","input":{"duration_ms":5}}"#;
        assert_eq!(
            parse_submit(
                Some("text/plain"),
                body,
                1024,
                &registry,
                DestinationPolicy::STRICT
            )
            .unwrap_err()
            .status(),
            415
        );
        assert_eq!(
            parse_submit(None, body, 1024, &registry, DestinationPolicy::STRICT)
                .unwrap_err()
                .status(),
            415
        );
        assert_eq!(
            parse_submit(
                Some("application/json"),
                body,
                10,
                &registry,
                DestinationPolicy::STRICT
            )
            .unwrap_err()
            .status(),
            413
        );
        assert_eq!(parse("{not json").unwrap_err().status(), 400);
        assert_eq!(parse("").unwrap_err().status(), 400);
        assert_eq!(pointers(parse("[1]").unwrap_err()), [""]);
    }

    #[test]
    fn reports_every_field_error_at_once() {
        let err =
            parse(r#"{"type":"nope","input":{},"callback_url":"http://example.com","x/y":1}"#)
                .unwrap_err();
        assert_eq!(pointers(err), ["/x~1y", "/type", "/callback_url"]);
        let err = parse(r#"{"type":"demo.sleep","input":{"duration_ms":"soon"}}"#).unwrap_err();
        assert_eq!(pointers(err), ["/input/duration_ms"]);
        assert_eq!(pointers(parse(r#"{"input":{}}"#).unwrap_err()), ["/type"]);
        assert_eq!(
            pointers(parse(r#"{"type":"demo.sleep"}"#).unwrap_err()),
            ["/input"]
        );
    }

    #[test]
    fn structural_limits_come_before_the_fields() {
        let deep = format!(
            r#"{{"type":"demo.sleep","input":{{"duration_ms":1,"x":{}1{}}}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        let err = parse(&deep).unwrap_err();
        let ApiError::Validation(errors) = err else {
            panic!("expected a validation error")
        };
        assert_eq!(errors.len(), 1, "the limit alone: {errors:?}");
        assert!(errors[0].pointer.starts_with("/input/x/0/0"));
        assert!(errors[0].message.contains("nested deeper"));

        // Job requests from other producers meet the same limits.
        let input = serde_json::from_str::<Value>(&format!(r#"{{"{}":1}}"#, "k".repeat(300)));
        let errors = validate_job(
            "demo.sleep",
            &input.unwrap(),
            None,
            &accepted_builtin_jobs::registry(),
            DestinationPolicy::STRICT,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("key longer"), "{errors:?}");
    }

    #[test]
    fn callback_urls_must_be_plain_https() {
        for bad in [
            "ftp://example.com/x",
            "https://user:pw@example.com/",
            "not a url",
            "https://",
            "mailto:ops@example.com",
        ] {
            let body =
                json!({"type": "demo.sleep", "input": {"duration_ms": 1}, "callback_url": bad});
            let err = parse(&body.to_string()).unwrap_err();
            assert_eq!(pointers(err), ["/callback_url"], "{bad}");
        }
    }
}
