//! The CLI's integration tests, one binary (`it`): one module per area, so nextest names a
//! test `module::test` (`cargo nextest run -p headroom-cli -E 'test(/^parity::/)'` runs one).

mod cli;
mod contention;
mod final_usage;
mod parity;
mod readme;
