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

/// Ctrl-C, or SIGTERM (what process managers and `kill` send). The handlers are installed
/// here, before the server starts, not when the future is first polled: a SIGTERM that
/// arrives right after start still shuts down cleanly instead of killing the process.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (term, interrupt) = signals;
            tokio::select! {
                _ = received(term) => {}
                _ = received(interrupt) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Waits for the signal; forever if its handler could not be installed.
#[cfg(unix)]
async fn received(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
