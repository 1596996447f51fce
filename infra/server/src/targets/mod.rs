//! The targets `accepted serve` runs declared types with: a command or an HTTP endpoint on
//! loopback. A type declared only with a Lambda function runs on AWS and is refused here, at
//! start, with the reason.

mod command;
mod http;

use std::path::Path;
use std::sync::Arc;

use accepted_core::declared::{self, DeclarationError, DeclaredType, LocalTarget, Target};
use accepted_core::JobRegistry;

pub use command::{CommandTarget, CANCEL_GRACE, MAX_ANSWER_BYTES, PROGRESS_PREFIX};
pub use http::HttpTarget;

/// `registry` with the types declared in `file`, each run by its local target.
pub fn with_declared(registry: JobRegistry, file: &Path) -> Result<JobRegistry, DeclarationError> {
    let types = declared::load(file)?;
    declared::register(registry, types, file, connect)
}

fn connect(declared: &DeclaredType) -> Result<Arc<dyn Target>, String> {
    match &declared.run.local {
        Some(LocalTarget::Command { argv, env, dir }) => Ok(Arc::new(CommandTarget {
            job_type: declared.name.clone(),
            argv: argv.clone(),
            env: env.clone(),
            dir: dir.clone(),
        })),
        Some(LocalTarget::Http { url }) => Ok(Arc::new(HttpTarget::new(url.clone()))),
        None => Err(
            "runs only as a Lambda function (run.lambda); give it run.command or run.http to run it under accepted serve"
                .to_owned(),
        ),
    }
}
