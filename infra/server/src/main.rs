//! `accepted`: the job API on one machine, with the shipped job types.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    accepted_server::run(accepted_builtin_jobs::registry()).await
}
