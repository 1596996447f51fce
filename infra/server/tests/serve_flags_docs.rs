//! The README's table of `accepted serve` flags against the command line itself: every flag
//! is documented with its environment variable and default, and nothing else is.

use accepted_server::cli::Cli;
use clap::CommandFactory;

const README: &str = include_str!("../../../README.md");

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Flag {
    long: String,
    env: String,
    default: String,
}

fn documented() -> Vec<Flag> {
    let start = README
        .find("| flag | environment | default |")
        .expect("the serve flags table");
    README[start..]
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            Flag {
                long: cells[0].trim_matches('`').to_owned(),
                env: cells[1].trim_matches('`').to_owned(),
                default: cells[2].trim_matches('`').to_owned(),
            }
        })
        .collect()
}

fn in_code() -> Vec<Flag> {
    let cli = Cli::command();
    let serve = cli.find_subcommand("serve").expect("serve");
    serve
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            Some(Flag {
                long: format!("--{long}"),
                env: arg.get_env()?.to_string_lossy().into_owned(),
                default: arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(","),
            })
        })
        .collect()
}

#[test]
fn the_readme_documents_every_serve_flag_as_the_code_defines_it() {
    let mut docs = documented();
    let mut code = in_code();
    docs.sort();
    code.sort();
    assert_eq!(docs, code);
}
