//! `invoices`: accepted's command line (`serve`, `submit`, `wait`, …) with this team's job
//! types: `invoices serve` runs the API and the worker on one machine.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    accepted_server::run(invoice_jobs::registry()).await
}
