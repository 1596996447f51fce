//! `GET /job-types`: the types a deployment runs, as clients may rely on them.
//!
//! The answer is the same for every caller and changes only with a deployment, so it is
//! rendered once at start, with a strong `ETag` over its bytes: clients (the console, the CLI,
//! a generated SDK) revalidate with `If-None-Match` and get `304` until the types change.
//! It says what a client needs to submit (name, description, schemas, an example, retries
//! and time limit) and nothing of where a type runs: no function names, commands or URLs.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::retry::RetryPolicy;
use accepted_job::JobRegistry;

/// How long a client may reuse the list without asking again.
pub const MAX_AGE_SECS: u64 = 300;

#[derive(Debug, Serialize)]
struct JobTypeView<'a> {
    #[serde(rename = "type")]
    job_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_schema: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result_schema: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    example_input: Option<Value>,
    max_attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_limit_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
struct CatalogView<'a> {
    job_types: Vec<JobTypeView<'a>>,
}

/// The rendered list and its entity tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    body: Vec<u8>,
    etag: String,
}

impl Catalog {
    /// Renders `registry`'s types, with retries as they resolve against the deployment's
    /// `default` policy.
    pub fn render(registry: &JobRegistry, default: &RetryPolicy) -> Self {
        let job_types = registry
            .iter()
            .map(|registered| {
                let handler = registered.handler();
                JobTypeView {
                    job_type: handler.job_type(),
                    description: handler.description(),
                    input_schema: registered.input_schema(),
                    result_schema: registered.result_schema(),
                    example_input: handler.example_input(),
                    max_attempts: handler.retry_policy(default).max_attempts,
                    time_limit_seconds: handler.time_limit().map(|d| d.as_secs_f64()),
                }
            })
            .collect();
        let body = serde_json::to_vec(&CatalogView { job_types }).unwrap_or_default();
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", hex::encode(&digest[..16]));
        Self { body, etag }
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// A strong entity tag, quoted as the header carries it.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Whether an `If-None-Match` header value names this version (or is `*`).
    pub fn matches(&self, if_none_match: &str) -> bool {
        if_none_match
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == self.etag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn catalog() -> Catalog {
        let default = RetryPolicy {
            max_attempts: 4,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        };
        Catalog::render(&accepted_builtin_jobs::registry(), &default)
    }

    #[test]
    fn lists_every_type_in_name_order_with_what_a_client_needs() {
        let body: Value = serde_json::from_slice(catalog().body()).expect("json");
        let types = body["job_types"].as_array().expect("a list");
        let names: Vec<_> = types.iter().map(|t| t["type"].as_str()).collect();
        assert_eq!(names, [Some("csv.summary"), Some("demo.sleep")]);
        for t in types {
            assert_eq!(t["max_attempts"], 4, "{t}");
            assert!(t["example_input"].is_object(), "{t}");
        }
    }

    #[test]
    fn the_tag_follows_the_bytes_and_if_none_match_forms_are_understood() {
        let one = catalog();
        assert_eq!(one, catalog(), "rendering is deterministic");
        let tag = one.etag().to_owned();
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34);
        assert!(one.matches(&tag));
        assert!(one.matches(&format!("\"other\", W/{tag}")));
        assert!(one.matches("*"));
        assert!(!one.matches("\"other\""));
        let fewer = Catalog::render(
            &JobRegistry::default(),
            &RetryPolicy {
                max_attempts: 1,
                base: Duration::ZERO,
                cap: Duration::ZERO,
            },
        );
        assert_ne!(fewer.etag(), one.etag());
    }
}
