//! The service's integration tests, one binary (`it`): one module per area, so nextest names
//! a test `module::test`. `support` holds what they share (an environment of temporary
//! folders, recording hooks, a transcript line).

mod busy_ledger;
mod round;
mod supervise;
mod support;
