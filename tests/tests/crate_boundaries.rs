//! The crates a job author depends on stay small: `accepted-job` (the job-author API),
//! `accepted-builtin-jobs` (written only against it) and `accepted-core` (the domain and its
//! ports) must never pull in the AWS SDK or SQLite, which live in `accepted-aws` and
//! `accepted-embedded`.
//!
//! The check reads `cargo tree` with every feature of the crate on, so an optional dependency
//! cannot slip a backend in behind a feature either.

use std::process::Command;

/// Each crate's normal and build dependencies, as `name version` lines.
fn dependencies_of(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["tree", "--locked", "--offline", "--package", package])
        .args([
            "--edges",
            "normal,build",
            "--all-features",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut deps: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| line.trim_end_matches(" (*)").to_owned())
        .collect();
    deps.sort();
    deps.dedup();
    deps
}

fn offending<'a>(deps: &'a [String], forbidden: &[&str]) -> Vec<&'a String> {
    deps.iter()
        .filter(|dep| forbidden.iter().any(|prefix| dep.starts_with(prefix)))
        .collect()
}

/// What no crate below the adapters may depend on.
const BACKENDS: &[&str] = &[
    "aws-sdk-",
    "aws-config ",
    "aws-smithy-",
    "aws-types ",
    "rusqlite ",
];

#[test]
fn the_job_author_api_has_no_backend_runtime_or_http_stack() {
    let deps = dependencies_of("accepted-job");
    assert!(
        deps.iter().any(|d| d.starts_with("accepted-job ")),
        "{deps:?}"
    );
    let mut forbidden = BACKENDS.to_vec();
    forbidden.extend([
        "lambda_",
        "aws_lambda_events ",
        "hyper",
        "rustls",
        "accepted-core ",
    ]);
    assert_eq!(offending(&deps, &forbidden), Vec::<&String>::new());
}

#[test]
fn the_builtin_job_types_depend_on_the_job_author_api_alone() {
    let deps = dependencies_of("accepted-builtin-jobs");
    assert!(
        deps.iter().any(|d| d.starts_with("accepted-job ")),
        "{deps:?}"
    );
    let mut forbidden = BACKENDS.to_vec();
    forbidden.extend(["lambda_", "aws_lambda_events ", "hyper", "accepted-core "]);
    assert_eq!(offending(&deps, &forbidden), Vec::<&String>::new());
}

#[test]
fn the_core_builds_without_the_aws_sdk_or_sqlite() {
    let deps = dependencies_of("accepted-core");
    assert!(
        deps.iter().any(|d| d.starts_with("accepted-core ")),
        "{deps:?}"
    );
    assert_eq!(offending(&deps, BACKENDS), Vec::<&String>::new());
}

#[test]
fn the_adapters_are_where_the_backends_are() {
    // The check above would pass vacuously if the prefixes named nothing real.
    let aws = dependencies_of("accepted-aws");
    assert!(
        aws.iter().any(|d| d.starts_with("aws-sdk-dynamodb ")),
        "{aws:?}"
    );
    let embedded = dependencies_of("accepted-embedded");
    assert!(
        embedded.iter().any(|d| d.starts_with("rusqlite ")),
        "{embedded:?}"
    );
}
