//! The `submit` function of this team's deployment: accepted's, with the team's job types.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    accepted_submit::run(invoice_jobs::registry()).await
}
