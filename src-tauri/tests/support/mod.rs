//! What the app's integration tests share: a transcript line as Claude Code writes it (the
//! one copy, in the service's tests). The refresh task's own tests (a busy ledger, a panic
//! and its restart, the round itself) are the service's: `cargo test -p headroom-service`.

#[path = "../../../crates/headroom-service/tests/it/support/transcript.rs"]
mod transcript;
pub use transcript::transcript_line;
