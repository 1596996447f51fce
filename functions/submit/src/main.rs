//! Lambda entry point of `POST /jobs` with the shipped job types: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    accepted_submit::run(accepted_builtin_jobs::registry()).await
}
