//! Declared types on AWS: each runs by its Lambda function. The rule is shared by submit,
//! which validates the types and never runs them, and the worker, which invokes the
//! functions, so the two refuse the same declarations at start.

use async_trait::async_trait;
use serde_json::Value;

use accepted_job::{JobContext, JobFailure};

use super::file::DeclaredType;
use super::handler::Target;

/// The function `declared` runs as on AWS, or why it cannot run there.
pub fn lambda_function(declared: &DeclaredType) -> Result<&str, String> {
    declared.run.lambda.as_deref().ok_or_else(|| {
        "runs only under accepted serve (run.command or run.http); give it run.lambda to run it on AWS"
            .to_owned()
    })
}

/// The target of a declared type in a process that validates jobs but never runs them
/// (submit, `GET /job-types`). Were it ever invoked, the job fails rather than guessing.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunsElsewhere;

#[async_trait]
impl Target for RunsElsewhere {
    async fn invoke(&self, _ctx: &JobContext, _invocation: &[u8]) -> Result<Value, JobFailure> {
        Err(JobFailure::permanent(
            "target_unavailable",
            "this process validates declared types; the worker runs them",
        ))
    }
}
