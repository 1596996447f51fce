//! The `accepted` command line as a library call, so that a team's own binary runs the same
//! CLI (`serve`, `submit`, `wait`, `list`, …) with its own job types:
//! `accepted_server::run(my_jobs::registry()).await`.

use std::process::ExitCode;

use accepted_core::{logging, JobRegistry};
use clap::Parser;

use crate::cli::{Cli, Command};

/// Parses the command line and runs it: the client commands print and exit; `serve` runs the
/// API and the worker with `registry`'s job types until Ctrl-C or SIGTERM.
pub async fn run(registry: JobRegistry) -> ExitCode {
    let cli = Cli::parse();
    // The client commands print for people and scripts; only the server logs.
    if let Some(code) = crate::commands::run(&cli.command).await {
        return code;
    }
    logging::init("accepted");
    let result = match cli.command {
        Command::Serve(args) => crate::serve(args, registry, shutdown_signal()).await,
        _ => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "accepted failed");
            eprintln!("accepted: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C, or SIGTERM (what process managers and `kill` send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
