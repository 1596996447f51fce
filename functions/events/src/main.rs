//! Lambda entry point of the lifecycle event publisher (DynamoDB stream → EventBridge):

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    accepted_events::run().await
}
