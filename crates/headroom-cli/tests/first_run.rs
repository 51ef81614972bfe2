//! A new user's first `headroom daily`: Claude Code's folder is there, but it has no
//! transcripts yet and no credentials. The report says so, names the folders it read and
//! the ways to add a source, instead of a bare "No usage found.".

use std::path::Path;
use std::process::{Command, Output};

fn headroom(args: &[&str], config: &Path, home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .env("CLAUDE_CONFIG_DIR", config)
        .env("HEADROOM_HOME", home)
        .env("TZ", "UTC")
        .output()
        .unwrap()
}

fn assert_says_what_to_do(stdout: &str, projects: &Path, state: &str) {
    let folder = format!("{} ({state})", projects.display());
    for needle in [
        folder.as_str(),
        "Claude Code's login",
        "headroom statusline --install",
        "headroom claude-ai login",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in\n{stdout}");
    }
}

#[test]
fn claude_codes_folder_without_transcripts_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let claude = dir.path().join("claude");
    std::fs::create_dir_all(&claude).unwrap();
    std::fs::write(claude.join("settings.json"), "{}\n").unwrap();
    let home = dir.path().join("headroom");
    let projects = claude.join("projects");

    // No `projects` folder yet: no usage, not an error.
    let out = headroom(&["daily"], &claude, &home);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().next(), Some("No usage found."), "{stdout}");
    assert_says_what_to_do(&stdout, &projects, "not found");

    // An empty `projects` folder, as Claude Code leaves it before the first answer; the other
    // reports say the same.
    std::fs::create_dir_all(projects.join("-home-dev-new")).unwrap();
    for (args, first) in [
        (&["daily"][..], "No usage found."),
        (&["monthly"][..], "No usage found."),
        (&["session"][..], "No sessions found."),
        (&["projects"][..], "No projects found."),
    ] {
        let out = headroom(args, &claude, &home);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {stdout}");
        assert_eq!(stdout.lines().next(), Some(first), "{args:?}: {stdout}");
        assert_says_what_to_do(&stdout, &projects, "0 transcripts");
    }

    // A date range may just miss the usage: the bare line, no lecture.
    let out = headroom(&["daily", "--since", "20260101"], &claude, &home);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), "No usage found between 20260101 and now.");

    // JSON stays JSON.
    let out = headroom(&["daily", "--json"], &claude, &home);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["daily"], serde_json::json!([]));
}
