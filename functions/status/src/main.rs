//! Lambda entry point of `GET /jobs/{id}`: wiring only; the logic is in the library.

// One thread: the function serves one invocation at a time and waits only on AWS, so more
// threads would add wake-ups across threads and nothing else (BENCHMARKS.md, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    accepted_status::run().await
}
