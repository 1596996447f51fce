//! Lambda entry point of the scheduled reconciler: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    accepted_reconciler::run().await
}
