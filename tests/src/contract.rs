//! The contract documents as checks: the test harness validates what the code produces —
//! HTTP answers, queue messages, lifecycle events, webhook bodies — against the schemas of
//! `api/openapi.yaml` and `api/asyncapi.yaml`, so neither document can drift from the code.
//!
//! A status the OpenAPI document does not list for a route, or a body its schema refuses,
//! fails the test that produced it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::{Retrieve, Uri, Validator};
use serde_json::{json, Value};

const BASE: &str = "https://accepted.invalid/api/";

struct Documents {
    openapi: Value,
    asyncapi: Value,
}

impl Retrieve for Documents {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        match uri.as_str().strip_prefix(BASE) {
            Some("openapi.yaml") => Ok(self.openapi.clone()),
            Some("asyncapi.yaml") => Ok(self.asyncapi.clone()),
            _ => Err(format!("no contract document at {uri}").into()),
        }
    }
}

struct Contract {
    documents: Arc<Documents>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../api");
        let read = |name: &str| -> Value {
            let text = std::fs::read_to_string(root.join(name)).expect("contract document");
            serde_yaml::from_str(&text).expect("contract document is YAML")
        };
        Contract {
            documents: Arc::new(Documents {
                openapi: read("openapi.yaml"),
                asyncapi: read("asyncapi.yaml"),
            }),
            validators: Mutex::new(HashMap::new()),
        }
    })
}

/// A location inside a contract document: `("openapi.yaml", "/components/schemas/Job")`.
fn validator(document: &str, pointer: &str) -> Arc<Validator> {
    let contract = contract();
    // A JSON Pointer in a URI fragment: the characters URIs do not allow are percent-encoded.
    let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
    let uri = format!("{BASE}{document}#{fragment}");
    // A failed check panics; the cache stays usable for the next one.
    let mut cache = contract
        .validators
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(v) = cache.get(&uri) {
        return Arc::clone(v);
    }
    let retriever = Documents {
        openapi: contract.documents.openapi.clone(),
        asyncapi: contract.documents.asyncapi.clone(),
    };
    let built = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_retriever(retriever)
        .should_validate_formats(true)
        .build(&json!({ "$ref": uri }))
        .unwrap_or_else(|e| panic!("the schema at {uri} does not compile: {e}"));
    let built = Arc::new(built);
    cache.insert(uri, Arc::clone(&built));
    built
}

fn assert_valid(document: &str, pointer: &str, instance: &Value, what: &str) {
    let v = validator(document, pointer);
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} breaks {document}#{pointer}:\n  {}\n{instance:#}",
        errors.join("\n  ")
    );
}

/// The OpenAPI path template a request path matches (`/jobs/123/result` → `/jobs/{id}/result`).
fn template_of(path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["jobs"] => Some("/jobs"),
        ["jobs", _] => Some("/jobs/{id}"),
        ["jobs", _, "result"] => Some("/jobs/{id}/result"),
        ["webhook-secret"] => Some("/webhook-secret"),
        ["job-types"] => Some("/job-types"),
        _ => None,
    }
}

/// Whether `path` is one of the API's routes (and not, say, `/openapi.json`).
pub fn is_route(path: &str) -> bool {
    template_of(path).is_some()
}

/// Checks an HTTP answer: its status is listed for the operation, and its body (JSON or
/// problem JSON) matches the schema the document gives for that status and media type.
pub fn check_response(
    method: &str,
    path: &str,
    status: u16,
    content_type: Option<&str>,
    body: &Value,
) {
    let template =
        template_of(path).unwrap_or_else(|| panic!("{path} is not a route of openapi.yaml"));
    let openapi = &contract().documents.openapi;
    let operation = format!(
        "/paths/{}/{}",
        template.replace('~', "~0").replace('/', "~1"),
        method.to_ascii_lowercase()
    );
    let Some(responses) = openapi.pointer(&format!("{operation}/responses")) else {
        // A method the route does not have: the document promises a 405 problem.
        assert_eq!(status, 405, "{method} {template} is not in openapi.yaml");
        assert_valid("openapi.yaml", "/components/schemas/Problem", body, "a 405");
        return;
    };
    let mut pointer = format!("{operation}/responses/{status}");
    let mut response = responses.get(status.to_string()).unwrap_or_else(|| {
        panic!("{method} {template} answered {status}, which openapi.yaml does not list")
    });
    if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
        pointer = reference.trim_start_matches('#').to_owned();
        response = openapi
            .pointer(&pointer)
            .expect("the response $ref resolves");
    }
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return; // no body documented (304, 303)
    };
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .unwrap_or("application/json");
    assert!(
        content.contains_key(media),
        "{method} {template} {status} answered {media}, which openapi.yaml does not list"
    );
    let schema = format!("{pointer}/content/{}/schema", media.replace('/', "~1"));
    assert_valid(
        "openapi.yaml",
        &schema,
        body,
        &format!("{method} {path} {status}"),
    );
}

/// Checks a document against a schema of `asyncapi.yaml`'s components (`RunReference`,
/// `JobRequest`, `JobEvent`, `WebhookPayload`).
pub fn check_message(schema: &str, body: &Value) {
    assert_valid(
        "asyncapi.yaml",
        &format!("/components/schemas/{schema}"),
        body,
        schema,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message a check panicked with (empty when it passed).
    fn refusal(check: impl FnOnce() + std::panic::UnwindSafe) -> String {
        match std::panic::catch_unwind(check) {
            Ok(()) => String::new(),
            Err(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default(),
        }
    }

    #[test]
    fn the_checks_refuse_what_the_documents_do_not_allow() {
        let job = json!({"id": "not-a-uuid"});
        let why = refusal(|| check_response("GET", "/jobs/x", 200, None, &job));
        assert!(why.contains("breaks openapi.yaml"), "{why}");
        let why = refusal(|| check_response("GET", "/jobs/x", 418, None, &json!({})));
        assert!(why.contains("does not list"), "{why}");
        let why = refusal(|| check_message("RunReference", &json!({"version": 1, "job_id": "x"})));
        assert!(why.contains("breaks asyncapi.yaml"), "{why}");
        // And what they allow passes, including schemas that refer across the documents.
        let event = json!({"version": 1, "job_id": "0b9c2f6e-3c1a-4e5b-9a1d-7f2e8c4b5a61",
                           "correlation_id": "c-1"});
        assert_eq!(refusal(|| check_message("RunReference", &event)), "");
    }
}
