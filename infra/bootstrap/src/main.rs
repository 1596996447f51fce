//! `accepted-bootstrap`: create the template's tables and queues on an emulator and print
//! the environment the functions need, as shell `export` lines (or `KEY=VALUE` lines with
//! `--format dotenv`, for `cargo lambda watch --env-file`).
//!
//! ```sh
//! AWS_ENDPOINT_URL=http://127.0.0.1:5151 accepted-bootstrap --prefix accepted
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use accepted_infra::{bootstrap, default_template_path, Template};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut template = default_template_path();
    let mut prefix = "accepted".to_owned();
    let mut dotenv = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--template", Some(v)) => template = PathBuf::from(v),
            ("--prefix", Some(v)) => prefix = v,
            ("--format", Some(v)) if v == "shell" || v == "dotenv" => dotenv = v == "dotenv",
            _ => {
                eprintln!("usage: accepted-bootstrap [--template FILE] [--prefix NAME] [--format shell|dotenv]");
                return ExitCode::from(2);
            }
        }
    }
    // This tool is for emulators: it refuses to run without one, and never uses real
    // credentials.
    let sdk = match accepted_infra::emulator_sdk_config_from_env().await {
        Ok(sdk) => sdk,
        Err(reason) => {
            eprintln!("accepted-bootstrap creates resources on an emulator: {reason}");
            return ExitCode::from(2);
        }
    };
    let stack = match Template::load(&template) {
        Ok(t) => bootstrap(&t, &prefix, &sdk).await,
        Err(e) => Err(e),
    };
    match stack {
        Ok(stack) => {
            for (k, v) in stack.env.iter().chain(stack.outputs.iter()) {
                if dotenv {
                    println!("{k}={v}");
                } else {
                    println!("export {k}='{v}'");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bootstrap failed: {e}");
            ExitCode::FAILURE
        }
    }
}
