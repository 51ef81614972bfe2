//! Headroom's core: everything that can be built and tested without a display.
//!
//! Data flows one way: transcripts and account sources → [`ledger`] → reports, blocks and
//! snapshots → front ends (the `headroom` CLI, the tray app). Paths and clocks come in as
//! arguments; nothing here reads the environment or the system time on its own (the front ends
//! call [`environment::Edge::from_process`] once, at start).

#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod account;
pub mod alerts;
pub mod blocks;
pub mod environment;
pub mod first_run;
pub mod fs;
pub mod ingest;
pub mod ledger;
mod num;
pub mod paths;
pub mod pricing;
pub mod report;
pub mod settings;
pub mod snapshot;
pub mod text;
pub mod transcript;
