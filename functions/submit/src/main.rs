//! Lambda entry point of `POST /jobs` with the shipped job types: wiring only.

// One thread: the function serves one invocation at a time and waits only on AWS, so more
// threads would add wake-ups across threads and nothing else (BENCHMARKS.md, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    accepted_submit::run(accepted_builtin_jobs::registry()).await
}
