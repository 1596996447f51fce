//! Lambda entry point of the SQS worker with the shipped job types: wiring only.

// Worker threads, unlike the other functions: job handlers may compute, and the batch's other
// jobs and every lease's heartbeats must run beside them.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    accepted_worker::run(accepted_builtin_jobs::registry()).await
}
