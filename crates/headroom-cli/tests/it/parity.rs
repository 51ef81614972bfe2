//! `headroom <report> --json` agrees with ccusage 20.0.24 on a committed fixture that holds
//! every kind of bad line and a half-written last line (see tests/fixtures/parity/README.md):
//! token counts exactly, costs within a cent per row.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/parity")
}

fn headroom(report: &str, home: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args([report, "--json"])
        .env("CLAUDE_CONFIG_DIR", fixture().join("claude"))
        .env("HEADROOM_HOME", home)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ccusage(report: &str) -> Value {
    let text = std::fs::read_to_string(fixture().join(format!("ccusage-{report}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn compare(report: &str, list: &str, id: &str, tokens: &[&str], cost: &str) {
    let home = tempfile::tempdir().unwrap();
    let ours = headroom(report, home.path());
    let theirs = ccusage(report);
    let ours = ours[list].as_array().unwrap();
    let theirs = theirs[list].as_array().unwrap();
    assert!(!theirs.is_empty());
    assert_eq!(ours.len(), theirs.len(), "{report}: number of rows");
    for theirs_row in theirs {
        let key = &theirs_row[id];
        let ours_row = ours
            .iter()
            .find(|r| &r[id] == key)
            .unwrap_or_else(|| panic!("{report}: no row {key}"));
        for t in tokens {
            assert_eq!(ours_row[t], theirs_row[t], "{report} {key}: {t}");
        }
        let (a, b) = (
            ours_row[cost].as_f64().unwrap(),
            theirs_row[cost].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 0.01, "{report} {key}: cost {a} vs {b}");
    }
}

const TOKENS: &[&str] = &[
    "inputTokens",
    "outputTokens",
    "cacheCreationTokens",
    "cacheReadTokens",
    "totalTokens",
];

#[test]
fn daily_matches_ccusage() {
    compare("daily", "daily", "date", TOKENS, "totalCost");
}

#[test]
fn monthly_matches_ccusage() {
    compare("monthly", "monthly", "month", TOKENS, "totalCost");
}

#[test]
fn session_matches_ccusage() {
    compare("session", "sessions", "sessionId", TOKENS, "totalCost");
}

#[test]
fn blocks_match_ccusage() {
    compare(
        "blocks",
        "blocks",
        "id",
        &[
            "entries",
            "totalTokens",
            "tokenCounts",
            "startTime",
            "endTime",
            "actualEndTime",
            "isGap",
        ],
        "costUSD",
    );
}

#[test]
fn daily_json_has_ccusages_field_names() {
    let home = tempfile::tempdir().unwrap();
    let ours = headroom("daily", home.path());
    let theirs = ccusage("daily");
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&ours["daily"][0]), keys(&theirs["daily"][0]));
    assert_eq!(keys(&ours["totals"]), keys(&theirs["totals"]));
    assert_eq!(
        keys(&ours["daily"][0]["modelBreakdowns"][0]),
        keys(&theirs["daily"][0]["modelBreakdowns"][0])
    );
}
