//! `accepted`: the job API on one machine.

use std::process::ExitCode;

use accepted_core::logging;
use accepted_server::cli::{Cli, Command};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The client commands print for people and scripts; only the server logs.
    if let Some(code) = accepted_server::commands::run(&cli.command).await {
        return code;
    }
    logging::init("accepted");
    let result = match cli.command {
        Command::Serve(args) => {
            accepted_server::serve(args, accepted_builtin_jobs::registry(), shutdown_signal()).await
        }
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
