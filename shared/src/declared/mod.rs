//! Declared job types: job types by configuration, run by a target in any language.
//!
//! A team that already has its work — a Python script, a Node Lambda function, a service on
//! the same machine — declares the type in a file ([`file`]): its name, input schema, retries,
//! time limit and where it runs. [`register`] turns the declarations into ordinary
//! [`JobHandler`](accepted_job::JobHandler)s in the deployment's registry, so submit,
//! `GET /job-types` and the worker treat them exactly like Rust types. Every target speaks
//! the same versioned [`contract`].

pub mod contract;
pub mod file;
mod handler;
mod on_aws;

pub use file::{load, DeclarationError, DeclaredType, LocalTarget, Targets};
pub use handler::{register, register_file, DeclaredJobType, Target};
pub use on_aws::{lambda_function, RunsElsewhere};
