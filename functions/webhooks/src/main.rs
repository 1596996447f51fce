//! Lambda entry point of webhook delivery (webhook queue → receivers): wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    accepted_webhooks::run().await
}
