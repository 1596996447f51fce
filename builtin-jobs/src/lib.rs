//! The job types shipped with `accepted`, written exactly as a team writes its own: a crate
//! that depends on `accepted-job` alone and exports the registry of its types.
//!
//! - [`CsvSummary`] (`csv.summary`): a per-column report of a CSV document — the demo of
//!   real work with a structured result and a permanent failure on bad input.
//! - [`DemoSleep`] (`demo.sleep`): waits, reports progress, honours cancellation, and fails
//!   on purpose when asked — what the demos and the failure tests drive.
//!
//! ```
//! let registry = accepted_builtin_jobs::registry();
//! assert_eq!(registry.types().collect::<Vec<_>>(), ["csv.summary", "demo.sleep"]);
//! ```

mod csv_summary;
mod demo_sleep;

use accepted_job::JobRegistry;

pub use csv_summary::CsvSummary;
pub use demo_sleep::DemoSleep;

/// Every type of this crate: what this repository's functions, local server and tests run.
/// A deployment of your own builds its registry the same way, once, and hands it to each
/// entry point.
pub fn registry() -> JobRegistry {
    JobRegistry::default().with(CsvSummary).with(DemoSleep)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_type_has_an_example_input_it_accepts() {
        let registry = super::registry();
        for job_type in registry.types() {
            let handler = registry.get(job_type).expect("registered");
            let example = handler.example_input().expect("an example");
            assert_eq!(handler.validate(&example), Ok(()), "{job_type}");
            assert_eq!(registry.validate(job_type, &example), Ok(()), "{job_type}");
        }
    }

    /// The published schemas say what the hand-written checks enforce: each input the
    /// check refuses, the schema refuses too, at the same pointer.
    #[test]
    fn the_published_schemas_refuse_what_the_checks_refuse() {
        use accepted_job::schema::Schema;
        use serde_json::json;
        let registry = super::registry();
        let cases = [
            ("demo.sleep", json!({}), "/input/duration_ms"),
            (
                "demo.sleep",
                json!({"duration_ms": 20_001}),
                "/input/duration_ms",
            ),
            (
                "demo.sleep",
                json!({"duration_ms": -1}),
                "/input/duration_ms",
            ),
            (
                "demo.sleep",
                json!({"duration_ms": 1, "fail_attempts": 101}),
                "/input/fail_attempts",
            ),
            (
                "demo.sleep",
                json!({"duration_ms": 1, "failure": "maybe"}),
                "/input/failure",
            ),
            (
                "demo.sleep",
                json!({"duration_ms": 1, "result_bytes": 1_048_577}),
                "/input/result_bytes",
            ),
            (
                "demo.sleep",
                json!({"duration_ms": 1, "extra": 1}),
                "/input/extra",
            ),
            ("demo.sleep", json!([]), "/input"),
            ("csv.summary", json!({}), "/input/csv"),
            ("csv.summary", json!({"csv": 1}), "/input/csv"),
            (
                "csv.summary",
                json!({"csv": "", "delimiter": ";;"}),
                "/input/delimiter",
            ),
            (
                "csv.summary",
                json!({"csv": "", "delimiter": "\""}),
                "/input/delimiter",
            ),
            (
                "csv.summary",
                json!({"csv": "", "has_header": "yes"}),
                "/input/has_header",
            ),
            ("csv.summary", json!({"csv": "", "sep": ","}), "/input/sep"),
        ];
        for (job_type, input, pointer) in cases {
            let handler = registry.get(job_type).expect("registered");
            let checked = handler.validate(&input).expect_err("the check refuses");
            assert!(
                checked.iter().any(|e| e.pointer == pointer),
                "{job_type} {input}: {checked:?}"
            );
            let schema =
                Schema::compile(handler.input_schema().expect("a schema")).expect("compiles");
            let refused = schema
                .check(&input, "/input")
                .expect_err("the schema refuses");
            assert!(
                refused.iter().any(|e| e.pointer == pointer),
                "{job_type} {input}: {refused:?}"
            );
        }
    }
}
