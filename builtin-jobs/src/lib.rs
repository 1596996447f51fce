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
        }
    }
}
