//! The core's integration tests, one binary (`it`): one module per area, so nextest names a
//! test `module::test` (`cargo nextest run -p headroom-core -E 'test(/^alerts_store::/)'` runs
//! one area). `support_alerts` holds the alert tests' builders.

mod alerts_props;
mod alerts_scenarios;
mod alerts_store;
mod environment_doc;
mod format_cases;
mod fuzz_regressions;
mod ingest;
mod ingest_memory;
mod ingest_props;
mod ledger_busy;
mod settings_processes;
mod support_alerts;
mod todays_models;
