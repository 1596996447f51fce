//! The `worker` function of this team's deployment: accepted's, with the team's job types.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    accepted_worker::run(invoice_jobs::registry()).await
}
