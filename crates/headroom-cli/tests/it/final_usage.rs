//! Each response counts once with its final usage, through the real CLI, on transcripts in
//! today's shape made by the project's own generator (`tests/transcripts/gen_transcripts.py`:
//! streaming snapshots before the final row, forks, `cost-state` records), which also works
//! out the per-day and per-session figures: tokens must match exactly, costs within a cent,
//! in a cold read and in reads made while Claude Code was still writing.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn generator() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/transcripts/gen_transcripts.py")
}

/// Generates transcripts into `out` (`out/claude`, `out/cut.json`, `out/expected.json`).
fn generate(out: &Path, seed: u64) -> Value {
    let run = Command::new("python3")
        .arg(generator())
        .arg(out)
        .args(["--seed", &seed.to_string(), "--sessions", "14"])
        .output()
        .expect("python3 runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(out.join("expected.json")).unwrap()).unwrap()
}

/// `headroom <report> --json --verbose` on `config` with the ledger in `home`: the report and
/// what `--verbose` said.
fn headroom(report: &str, config: &Path, home: &Path) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args([report, "--json", "--verbose"])
        .env("CLAUDE_CONFIG_DIR", config)
        .env("HEADROOM_HOME", home)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

fn assert_matches(config: &Path, home: &Path, expected: &Value) {
    let (daily, _) = headroom("daily", config, home);
    let days = daily["daily"].as_array().unwrap();
    let want = expected["daily"].as_object().unwrap();
    assert_eq!(days.len(), want.len(), "days: {daily}");
    for day in days {
        let date = day["date"].as_str().unwrap();
        let w = &want[date];
        for field in [
            "inputTokens",
            "outputTokens",
            "cacheCreationTokens",
            "cacheReadTokens",
        ] {
            assert_eq!(day[field], w[field], "{date} {field}");
        }
        let (a, b) = (
            day["totalCost"].as_f64().unwrap(),
            w["totalCost"].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 0.01, "{date}: cost {a} vs {b}");
    }
    let (sessions, _) = headroom("session", config, home);
    let rows = sessions["sessions"].as_array().unwrap();
    let want = expected["sessions"].as_object().unwrap();
    assert_eq!(rows.len(), want.len(), "sessions: {sessions}");
    for row in rows {
        let id = row["sessionId"].as_str().unwrap();
        assert_eq!(
            row["outputTokens"], want[id]["outputTokens"],
            "session {id}"
        );
        let (a, b) = (
            row["totalCost"].as_f64().unwrap(),
            want[id]["totalCost"].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 0.01, "session {id}: cost {a} vs {b}");
    }
}

/// The number `--verbose` gave before `label` ("given their final usage").
fn said(stderr: &str, label: &str) -> u64 {
    let at = stderr
        .find(label)
        .unwrap_or_else(|| panic!("{label}: {stderr}"));
    stderr[..at]
        .trim_end()
        .rsplit([' ', ','])
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{label}: {stderr}"))
}

#[test]
fn a_cold_read_counts_every_response_with_its_final_usage() {
    let dir = tempfile::tempdir().unwrap();
    let expected = generate(dir.path(), 7);
    let config = dir.path().join("claude");
    let home = dir.path().join("home");
    assert_matches(&config, &home, &expected);
    let (_, said_then) = headroom("daily", &config, &home);
    assert_eq!(said(&said_then, "skipped lines"), 0, "{said_then}");
}

#[test]
fn reads_made_while_claude_code_streams_end_with_the_final_usage() {
    let dir = tempfile::tempdir().unwrap();
    let expected = generate(dir.path(), 11);
    let full = dir.path().join("claude");
    let cuts: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("cut.json")).unwrap())
            .unwrap();
    // What a reader sees while Claude Code is still streaming: every transcript up to its
    // cut, inside a response whose final row is not written yet (or half written).
    let live = dir.path().join("live");
    let mut rest = Vec::new();
    for file in walk(&full.join("projects")) {
        let relative = file.strip_prefix(&full).unwrap().to_owned();
        let text = std::fs::read(&file).unwrap();
        let cut = cuts[relative.to_str().unwrap()]
            .as_u64()
            .map_or(text.len(), |c| usize::try_from(c).unwrap());
        let target = live.join(&relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, &text[..cut]).unwrap();
        rest.push((target, text[cut..].to_vec()));
    }
    assert!(rest.iter().any(|(_, r)| !r.is_empty()));
    let home = dir.path().join("home");
    let (_, first) = headroom("daily", &live, &home);
    assert_eq!(said(&first, "skipped lines"), 0, "{first}");
    // The rest arrives: the stored responses get their final usage.
    for (target, bytes) in &rest {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(target)
            .unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
    }
    let (_, second) = headroom("daily", &live, &home);
    assert!(
        said(&second, "given their final usage") > 0,
        "no stored response was updated: {second}"
    );
    assert_eq!(said(&second, "skipped lines"), 0, "{second}");
    assert_matches(&live, &home, &expected);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Audit N18: a transcript cannot drive the terminal that prints a report.
#[test]
fn hostile_names_never_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("claude");
    // A project folder and a working directory whose names hold an escape sequence.
    let project = config.join("projects").join("-home-\u{1b}[2J-api");
    std::fs::create_dir_all(&project).unwrap();
    let row = |msg: &str, model: &str| {
        format!(
            r#"{{"cwd":"/home/\u001b[2J/api","sessionId":"s1","version":"2.1.312","message":{{"id":"{msg}","type":"message","role":"assistant","model":"{model}","content":[],"usage":{{"input_tokens":5,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":42}}}},"requestId":"r-{msg}","type":"assistant","uuid":"u-{msg}","timestamp":"2026-11-20T10:00:00.000Z"}}"#
        ) + "\n"
    };
    let text = [
        row("m1", "claude-sonnet-4-5-20250929"),
        row("m2", r"claude\u001b]0;pwned\u0007\u001b[2J"),
        row("m3", &"x".repeat(5 << 20)),
    ]
    .concat();
    std::fs::write(project.join("s1.jsonl"), text).unwrap();
    let home = dir.path().join("home");
    for report in ["daily", "session", "blocks"] {
        let out = Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args([report, "--verbose"])
            .env("CLAUDE_CONFIG_DIR", &config)
            .env("HEADROOM_HOME", &home)
            .env("TZ", "UTC")
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        assert!(out.status.success());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains(['\u{1b}', '\u{7}']),
            "{report} printed a control character: {stdout:?}"
        );
        assert!(
            !stdout.contains("pwned") && !stdout.contains("xxxx"),
            "{stdout}"
        );
        if report == "session" {
            assert!(stdout.contains("/home/\u{FFFD}[2J/api"), "{stdout}");
        }
    }
    let (daily, said) = headroom("daily", &config, &home);
    assert_eq!(daily["totals"]["outputTokens"], 42);
    assert_eq!(
        daily["daily"][0]["modelsUsed"][0],
        "claude-sonnet-4-5-20250929"
    );
    // Read once, by the first run: the two bad lines were said then (this run read nothing).
    assert!(said.contains("0 skipped lines"), "{said}");
}
