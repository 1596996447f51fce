//! Where a successful attempt's result goes: into the job item when it is small, into the
//! result store when it is not (DynamoDB items stop at 400 KB, and the item also holds the
//! input). A result too large with no store configured fails the job, permanently and
//! explicitly, instead of failing the write.

use accepted_core::JobFailure;
use accepted_core::{Job, ResultRef};
use serde_json::Value;
use tracing::info;

use crate::Worker;

/// A result, where the completion write will find it.
pub(crate) enum Kept {
    Inline(Value),
    Stored(ResultRef),
}

pub(crate) async fn keep(worker: &Worker, job: &Job, result: Value) -> Result<Kept, JobFailure> {
    // A result of the wrong shape would reach clients as if it were the published one.
    if let Err(problems) = worker.registry.check_result(&job.job_type, &result) {
        let listed: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.pointer, p.message))
            .collect();
        return Err(JobFailure::permanent(
            "result_invalid",
            format!(
                "the result does not match the type's result schema: {}",
                listed.join("; ")
            ),
        ));
    }
    let document = serde_json::to_vec(&result)
        .map_err(|e| JobFailure::permanent("result_not_serializable", e.to_string()))?;
    if document.len() <= worker.result_inline_max_bytes {
        return Ok(Kept::Inline(result));
    }
    let Some(store) = &worker.results else {
        return Err(JobFailure::permanent(
            "result_too_large",
            format!(
                "the result is {} bytes; results over {} bytes need a result store (RESULTS_BUCKET)",
                document.len(),
                worker.result_inline_max_bytes
            ),
        ));
    };
    // Written again by a retried attempt: the same key, replaced whole.
    let stored = store
        .put(&job.id, &document)
        .await
        .map_err(|e| JobFailure::retryable("result_store_unavailable", e.to_string()))?;
    info!(bytes = stored.bytes, key = %stored.key, "result kept in the result store");
    Ok(Kept::Stored(stored))
}
