//! Every problem type the code can answer is the one `docs/http-api.md` and the OpenAPI
//! document list, with the same status: a new `ApiError` variant cannot ship undocumented.

use accepted_core::{ApiError, AuthMode, JobStatus};

const GUIDE: &str = include_str!("../../docs/http-api.md");
const OPENAPI: &str = include_str!("../../api/openapi.yaml");

/// One value of each variant. The match makes a new variant a compile error here.
fn every_variant() -> Vec<ApiError> {
    let all = vec![
        ApiError::MalformedJson(String::new()),
        ApiError::MalformedRequest(""),
        ApiError::HeadersTooLarge { limit: 1 },
        ApiError::UriTooLong,
        ApiError::RequestTimeout { waited_secs: 1 },
        ApiError::InvalidHeader {
            header: "h",
            reason: "r",
        },
        ApiError::Validation(Vec::new()),
        ApiError::IdempotencyKeyReused,
        ApiError::IdempotencyKeyInProgress {
            retry_after_secs: 1,
        },
        ApiError::PayloadTooLarge {
            actual: None,
            limit: 1,
        },
        ApiError::UnsupportedMediaType(String::new()),
        ApiError::InvalidParameter {
            parameter: "p",
            reason: String::new(),
        },
        ApiError::Unauthenticated {
            mode: AuthMode::Jwt,
        },
        ApiError::InvalidIdentity { reason: "r" },
        ApiError::NotFound,
        ApiError::JobFinished(JobStatus::Completed),
        ApiError::ResultNotAvailable {
            status: JobStatus::Pending,
            retry_after_secs: None,
        },
        ApiError::MethodNotAllowed {
            method: String::new(),
            allow: "GET",
        },
        ApiError::TooManyUnfinishedJobs {
            limit: 1,
            retry_after_secs: 1,
        },
        ApiError::Unavailable {
            retry_after_secs: 1,
        },
        ApiError::Internal,
    ];
    for err in &all {
        match err {
            ApiError::MalformedJson(_)
            | ApiError::MalformedRequest(_)
            | ApiError::HeadersTooLarge { .. }
            | ApiError::UriTooLong
            | ApiError::RequestTimeout { .. }
            | ApiError::InvalidHeader { .. }
            | ApiError::Validation(_)
            | ApiError::IdempotencyKeyReused
            | ApiError::IdempotencyKeyInProgress { .. }
            | ApiError::PayloadTooLarge { .. }
            | ApiError::UnsupportedMediaType(_)
            | ApiError::InvalidParameter { .. }
            | ApiError::Unauthenticated { .. }
            | ApiError::InvalidIdentity { .. }
            | ApiError::NotFound
            | ApiError::JobFinished(_)
            | ApiError::ResultNotAvailable { .. }
            | ApiError::MethodNotAllowed { .. }
            | ApiError::TooManyUnfinishedJobs { .. }
            | ApiError::Unavailable { .. }
            | ApiError::Internal => {}
        }
    }
    all
}

/// The guide's `| /problems/slug | status ... |` rows.
fn documented() -> Vec<(String, u16)> {
    GUIDE
        .lines()
        .filter_map(|line| line.strip_prefix("| `/problems/"))
        .map(|rest| {
            let (slug, rest) = rest.split_once("` | ").expect("a status cell");
            let status = rest[..3].parse().expect("a status");
            (slug.to_owned(), status)
        })
        .collect()
}

#[test]
fn the_guide_lists_every_problem_type_with_its_status() {
    let mut code: Vec<(String, u16)> = every_variant()
        .iter()
        .map(|e| (e.slug().to_owned(), e.status()))
        .collect();
    code.sort();
    code.dedup();
    let mut docs = documented();
    docs.sort();
    assert_eq!(code, docs);
}

#[test]
fn the_openapi_document_names_every_problem_type() {
    let line = OPENAPI
        .lines()
        .find(|l| l.contains("`/problems/<slug>`"))
        .expect("the Problem type's description");
    for err in every_variant() {
        let slug = err.slug();
        assert!(
            line.contains(&format!(" {slug},")) || line.contains(&format!(" {slug}.")),
            "{slug} missing from the OpenAPI Problem description"
        );
    }
}
