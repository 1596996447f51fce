//! Lambda entry point of `GET /jobs/{id}`: wiring only; the logic is in the library.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    accepted_status::run().await
}
