//! Lambda entry point of the SQS worker with the shipped job types: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    accepted_worker::run(accepted_builtin_jobs::registry()).await
}
