//! Inputs the fuzzing targets (`fuzz/`, docs/fuzzing.md) found to crash, each kept as a file
//! in `tests/fixtures/fuzz/` and fed to the same code as a regular test.

use std::path::PathBuf;

use headroom_core::account::statusline::{self, Colors, LineFacts};

fn input(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// statusline_stdin: a cost of -1e300 made `text::money` take the absolute value of
/// `i64::MIN` (an overflow panic in debug builds, a garbled "-$-92,…" line in release).
#[test]
fn a_huge_negative_cost_prints_a_line() {
    let payload = statusline::parse(&input("statusline-huge-negative-cost.json")).unwrap();
    let facts = LineFacts {
        today_cost_usd: payload.session_cost_usd,
        ..LineFacts::default()
    };
    let line = statusline::format_line(&facts, 0, Colors(false));
    assert!(line.starts_with("Today -$"), "{line}");
    assert!(!line.contains("$-"), "{line}");
}
