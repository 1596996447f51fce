//! Measurement tools: a Lambda Runtime API emulator to run the deployed bootstraps under,
//! the figures of a process read from `/proc`, and the percentiles the reports print.

pub mod cost;
pub mod http_load;
pub mod process;
pub mod runtime_api;
pub mod stats;
