//! Lambda entry point of the dead-letter queue consumer: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    accepted_dlq::run().await
}
