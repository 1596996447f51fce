//! A declared type as a [`JobHandler`]: its schemas, retries and time limit from the
//! declaration, its work done by a [`Target`] through the invocation contract.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use accepted_job::{JobContext, JobFailure, JobHandler, JobRegistry, RetryPolicy};

use super::contract::Invocation;
use super::file::{DeclarationError, DeclaredType};

/// Where a declared type's work runs: one attempt, the invocation document in, the job's
/// result or failure out. Implementations map every outcome of their transport (exit codes,
/// HTTP statuses, Lambda function errors) onto the job's semantics.
#[async_trait]
pub trait Target: Send + Sync + 'static {
    async fn invoke(&self, ctx: &JobContext, invocation: &[u8]) -> Result<Value, JobFailure>;
}

/// A job type read from a declaration file.
pub struct DeclaredJobType {
    declared: DeclaredType,
    target: Arc<dyn Target>,
}

impl DeclaredJobType {
    pub fn new(declared: DeclaredType, target: Arc<dyn Target>) -> Self {
        Self { declared, target }
    }
}

#[async_trait]
impl JobHandler for DeclaredJobType {
    fn job_type(&self) -> &str {
        &self.declared.name
    }

    fn description(&self) -> Option<&str> {
        self.declared.description.as_deref()
    }

    fn input_schema(&self) -> Option<Value> {
        Some(self.declared.input_schema.clone())
    }

    fn result_schema(&self) -> Option<Value> {
        self.declared.result_schema.clone()
    }

    fn example_input(&self) -> Option<Value> {
        self.declared.example_input.clone()
    }

    fn retry_policy(&self, default: &RetryPolicy) -> RetryPolicy {
        let over = &self.declared.retry;
        RetryPolicy {
            max_attempts: over.max_attempts.unwrap_or(default.max_attempts),
            base: over.base_ms.map_or(default.base, Duration::from_millis),
            cap: over.cap_ms.map_or(default.cap, Duration::from_millis),
        }
    }

    fn time_limit(&self) -> Option<Duration> {
        Some(self.declared.time_limit)
    }

    async fn run(&self, ctx: &JobContext, input: &Value) -> Result<Value, JobFailure> {
        let invocation = Invocation::new(&self.declared.name, ctx, input).to_bytes();
        self.target.invoke(ctx, &invocation).await
    }
}

/// `registry` with the types declared in `file`, each with the target `connect` gives it.
pub fn register_file(
    registry: JobRegistry,
    file: &Path,
    connect: impl Fn(&DeclaredType) -> Result<Arc<dyn Target>, String>,
) -> Result<JobRegistry, DeclarationError> {
    register(registry, super::file::load(file)?, file, connect)
}

/// Adds `types` (read from `source`) to `registry`, each with the target `connect` gives it.
/// `connect` refuses a type that cannot run where it is called (a command on AWS, say).
pub fn register(
    mut registry: JobRegistry,
    types: Vec<DeclaredType>,
    source: &Path,
    connect: impl Fn(&DeclaredType) -> Result<Arc<dyn Target>, String>,
) -> Result<JobRegistry, DeclarationError> {
    for declared in types {
        let refused = |reason: String| DeclarationError::Type {
            path: source.to_owned(),
            job_type: declared.name.clone(),
            reason,
        };
        let target = connect(&declared).map_err(refused)?;
        let name = declared.name.clone();
        registry = registry
            .try_with(Arc::new(DeclaredJobType::new(declared, target)))
            .map_err(|err| DeclarationError::Type {
                path: source.to_owned(),
                job_type: name,
                reason: err.to_string(),
            })?;
    }
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declared::file::{RetryOverride, Targets};
    use accepted_job::{CorrelationId, JobId, Refusal};
    use serde_json::json;

    /// Answers with what it was sent, so the test sees the invocation.
    struct Mirror;

    #[async_trait]
    impl Target for Mirror {
        async fn invoke(&self, _ctx: &JobContext, invocation: &[u8]) -> Result<Value, JobFailure> {
            serde_json::from_slice(invocation)
                .map_err(|e| JobFailure::permanent("x", e.to_string()))
        }
    }

    fn declared(name: &str) -> DeclaredType {
        DeclaredType {
            name: name.into(),
            description: Some("squares".into()),
            input_schema: json!({"type": "object", "required": ["n"]}),
            result_schema: None,
            example_input: Some(json!({"n": 3})),
            retry: RetryOverride {
                max_attempts: Some(2),
                base_ms: None,
                cap_ms: Some(5_000),
            },
            time_limit: Duration::from_secs(7),
            run: Targets {
                lambda: Some("f".into()),
                local: None,
            },
        }
    }

    fn mirror(_: &DeclaredType) -> Result<Arc<dyn Target>, String> {
        Ok(Arc::new(Mirror))
    }

    #[tokio::test]
    async fn a_declared_type_validates_retries_and_runs_as_declared() {
        let source = Path::new("job-types.yaml");
        let registry = register(
            JobRegistry::default(),
            vec![declared("math.square")],
            source,
            mirror,
        )
        .expect("registered");
        assert_eq!(
            registry.validate("math.square", &json!({})),
            Err(Refusal::Invalid(vec![accepted_job::FieldError::new(
                "/input/n",
                "is required"
            )]))
        );
        let handler = registry.get("math.square").expect("registered");
        let default = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        };
        let policy = handler.retry_policy(&default);
        assert_eq!(
            (policy.max_attempts, policy.base, policy.cap),
            (2, Duration::from_secs(1), Duration::from_secs(5))
        );
        assert_eq!(handler.time_limit(), Some(Duration::from_secs(7)));
        let (ctx, _signals) = JobContext::new(JobId::generate(), 1, CorrelationId::generate());
        let sent = handler.run(&ctx, &json!({"n": 3})).await.expect("mirrored");
        assert_eq!(sent["job"]["type"], "math.square");
        assert_eq!(sent["input"], json!({"n": 3}));
    }

    #[test]
    fn a_type_that_cannot_run_here_or_clashes_is_refused_by_name() {
        let source = Path::new("job-types.yaml");
        let err = register(
            JobRegistry::default(),
            vec![declared("math.square")],
            source,
            |_| Err("runs only on AWS".into()),
        )
        .expect_err("refused");
        assert_eq!(
            err.to_string(),
            r#"job-types.yaml: job type "math.square": runs only on AWS"#
        );
        let clash = register(
            accepted_builtin_jobs::registry(),
            vec![declared("demo.sleep")],
            source,
            mirror,
        )
        .expect_err("refused");
        assert!(clash.to_string().contains("registered twice"), "{clash}");
    }
}
