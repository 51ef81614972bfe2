//! `headroom statusline` as Claude Code runs it (payload on stdin, one line back, always exit 0,
//! no network), `status` reading its samples with no server at all, the local estimate when
//! there is neither, and `--install` / `--uninstall` on Claude Code's `settings.json`.
//!
//! Over 600 lines: the feed, its readers and the installer share one user's folders and a
//! payload builder; each test reads alone.

use headroom_tests::account::*;
#[cfg(unix)]
use headroom_tests::EnvClearKeepClock;
use serde_json::Value;

fn payload_with_limits(session_reset_s: i64, weekly_reset_s: i64) -> String {
    fixture("statusline_with_limits.json")
        .replace("@SESSION_RESET@", &session_reset_s.to_string())
        .replace("@WEEKLY_RESET@", &weekly_reset_s.to_string())
        .replace(
            "@TRANSCRIPT@",
            "/nonexistent/projects/-home-user-src-headroom/9b3c.jsonl",
        )
}

fn statusline(home: &Home, input: &[u8], color: bool) -> std::process::Output {
    let mut c = home.command(None);
    if color {
        c.env_remove("NO_COLOR");
    }
    c.arg("statusline");
    run_with_stdin(c, input)
}

#[test]
fn a_payload_with_rate_limits_is_recorded_and_status_shows_it_with_no_network() {
    // No Claude Code login and no server: nothing can be asked.
    let home = Home::bare();
    let now_s = now_ms() / 1000;
    let out = statusline(
        &home,
        payload_with_limits(now_s + 4_000, now_s + 300_000).as_bytes(),
        false,
    );
    assert!(out.status.success());
    let line = stdout(&out);
    assert!(
        line.starts_with("Session 42 % (1h06m) · Weekly 18 % · Today $0.00"),
        "{line:?}"
    );
    assert_eq!(line.lines().count(), 1);
    assert!(!line.contains('\x1b'), "NO_COLOR: {line:?}");

    let j = status_json(&home, None, &[]);
    assert_eq!(j["session"]["source"], "statusline");
    assert_eq!(j["session"]["utilization"].as_f64(), Some(42.5));
    assert!(j["session"]["age_s"].as_i64().unwrap() < 30);
    assert_eq!(j["weekly"]["utilization"].as_f64(), Some(18.0));
    let reset = chrono::DateTime::parse_from_rfc3339(j["session"]["resets_at"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert_eq!(reset, now_s + 4_000);
    assert_eq!(j["stale"], false);
    assert_eq!(j["errors"].as_array().unwrap().len(), 0, "{j:#}");

    let mut c = home.command(None);
    c.arg("status");
    let text = stdout(&run(c));
    assert!(
        text.contains("[Claude Code statusline, just now]"),
        "{text}"
    );
}

/// The feed carries session and weekly figures but neither Extra Usage nor per-model windows:
/// with a fresh sample the account is asked only every 30 minutes (the policy), and the most
/// recently seen figure of each window wins, whichever source it came from.
#[test]
fn a_fresh_statusline_sample_keeps_requests_rare_and_the_newest_figure_wins() {
    let server = usage_server(fixture("legacy_only.json"));
    let home = Home::new();
    let now_s = now_ms() / 1000;
    statusline(
        &home,
        payload_with_limits(now_s + 4_000, now_s + 300_000).as_bytes(),
        false,
    );
    let j = status_json(&home, Some(&server.base), &[]);
    assert_eq!(server.count("/api/oauth/usage"), 1, "once, for Extra Usage");
    assert_eq!(j["extra_usage"]["enabled"], true);
    assert_eq!(window_source(&j, "weekly:opus"), "account");
    for _ in 0..3 {
        status_json(&home, Some(&server.base), &[]);
    }
    assert_eq!(server.count("/api/oauth/usage"), 1);
    // Claude Code renders again with newer figures: they win.
    let newer = payload_with_limits(now_s + 4_000, now_s + 300_000).replace("42.5", "47");
    statusline(&home, newer.as_bytes(), false);
    let j = status_json(&home, Some(&server.base), &[]);
    assert_eq!(j["session"]["source"], "statusline");
    assert_eq!(j["session"]["utilization"].as_f64(), Some(47.0));
    assert_eq!(server.count("/api/oauth/usage"), 1);
}

fn window_source(j: &Value, id: &str) -> String {
    j["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == id)
        .map(|w| w["source"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn rfc3339_resets_and_over_100_percent() {
    let home = Home::bare();
    let now = chrono::Utc::now();
    let session = (now + chrono::Duration::minutes(30))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let weekly = (now + chrono::Duration::days(2))
        .format("%Y-%m-%dT%H:%M:%S%.3f+00:00")
        .to_string();
    let input = fixture("statusline_rfc3339.json")
        .replace("@SESSION_RESET_RFC@", &session)
        .replace("@WEEKLY_RESET_RFC@", &weekly);
    let out = statusline(&home, input.as_bytes(), false);
    assert!(out.status.success());
    let line = stdout(&out);
    assert!(line.starts_with("Session 91 % ("), "{line:?}");
    assert!(line.contains("Weekly 104 %"), "{line:?}");
    let j = status_json(&home, None, &[]);
    assert_eq!(j["session"]["resets_at"], session);
    assert_eq!(j["weekly"]["utilization"].as_f64(), Some(104.5));
}

#[test]
fn colour_only_without_no_color() {
    let home = Home::bare();
    let now_s = now_ms() / 1000;
    let input = payload_with_limits(now_s + 4_000, now_s + 300_000);
    let line = stdout(&statusline(&home, input.as_bytes(), true));
    assert!(line.contains("\x1b[32m42 %\x1b[0m"), "{line:?}");
    let line = stdout(&statusline(&home, input.as_bytes(), false));
    assert!(!line.contains('\x1b'), "{line:?}");
}

#[test]
fn without_rate_limits_garbage_and_empty_input_never_break_the_bar() {
    let home = Home::bare();
    // Before any sample: a plain line with what is known (today's cost), exit 0.
    for input in [
        fixture("statusline_without_limits.json").into_bytes(),
        b"{not json at all".to_vec(),
        b"[1,2,3]".to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
        Vec::new(),
        b"   \n".to_vec(),
        br#"{"rate_limits":{"five_hour":{"used_percentage":"lots"}}"#.to_vec(),
    ] {
        let out = statusline(&home, &input, true);
        assert!(out.status.success(), "{input:?}");
        let line = stdout(&out);
        assert!(line.lines().count() <= 1, "{line:?}");
        assert!(!line.contains('\x1b'), "plain on bad input: {line:?}");
        assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    }
    let j = status_json(&home, None, &[]);
    assert!(j["session"].is_null(), "nothing recorded: {j:#}");

    // After a sample, a payload without rate_limits (a new session's first render) shows the
    // ledger's figures.
    let now_s = now_ms() / 1000;
    statusline(
        &home,
        payload_with_limits(now_s + 4_000, now_s + 300_000).as_bytes(),
        false,
    );
    let out = statusline(
        &home,
        fixture("statusline_without_limits.json").as_bytes(),
        false,
    );
    assert!(stdout(&out).starts_with("Session 42 %"), "{}", stdout(&out));
    let out = statusline(&home, b"", false);
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("Session 42 %"), "{}", stdout(&out));
}

/// While another process holds the ledger's write lock (a cold ingest), a render waits about
/// 50 ms for it, not the 5 s busy timeout: the line is printed from what the ledger holds, the
/// reading is dropped and the log says so.
#[test]
fn a_busy_ledger_drops_the_reading_and_the_line_comes_at_once() {
    use std::time::{Duration, Instant};
    let home = Home::bare();
    let now_s = now_ms() / 1000;
    let timed = |payload: String| {
        let started = Instant::now();
        let out = statusline(&home, payload.as_bytes(), false);
        (out, started.elapsed())
    };
    // The first render creates the ledger; the second is the unhindered time of a render.
    timed(payload_with_limits(now_s + 4_000, now_s + 300_000));
    let (_, unhindered) = timed(payload_with_limits(now_s + 4_000, now_s + 300_000));

    let ledger_path = home.headroom_home().join("ledger.sqlite3");
    let mut writer = headroom_core::ledger::Ledger::open(&ledger_path).unwrap();
    let batch = writer.batch().unwrap();
    let (out, busy) =
        timed(payload_with_limits(now_s + 5_000, now_s + 300_000).replace("42.5", "57"));
    drop(batch);
    assert!(out.status.success());
    let line = stdout(&out);
    assert!(line.starts_with("Session 57 %"), "{line:?}");
    assert!(
        line.contains("Today $0.00"),
        "the ledger was still read: {line:?}"
    );
    let log = stderr(&out);
    assert!(log.contains("not recorded"), "{log}");
    eprintln!("render: {unhindered:?} unhindered, {busy:?} with the ledger busy");
    assert!(
        busy < unhindered + Duration::from_millis(150),
        "{busy:?} with the ledger busy, {unhindered:?} without"
    );
    let j = status_json(&home, None, &[]);
    assert_eq!(
        j["session"]["utilization"].as_f64(),
        Some(42.5),
        "the busy render's reading was dropped: {j:#}"
    );
}

#[test]
fn no_headroom_folder_at_all_still_exits_0() {
    let home = Home::bare();
    let mut c = home.command(None);
    // HOME unusable and no HEADROOM_HOME: Headroom has nowhere to keep its ledger.
    c.env_remove("HEADROOM_HOME")
        .env("HOME", "/nonexistent/home")
        .env("HEADROOM_HOME", "/proc/headroom-cannot-be-here")
        .arg("statusline");
    let now_s = now_ms() / 1000;
    let out = run_with_stdin(
        c,
        payload_with_limits(now_s + 4_000, now_s + 300_000).as_bytes(),
    );
    assert!(out.status.success());
    assert!(
        stdout(&out).starts_with("Session 42 % (1h06m) · Weekly 18 %"),
        "{}",
        stdout(&out)
    );
}

/// A transcript line of one assistant response.
fn transcript_line(i: usize, at: chrono::DateTime<chrono::Utc>, output: u64) -> String {
    format!(
        r#"{{"cwd":"/home/dev/api","sessionId":"s","version":"2.0.31","message":{{"id":"msg_{i}","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{{"type":"text","text":"x"}}],"usage":{{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":{output}}}}},"requestId":"req_{i}","type":"assistant","uuid":"u{i}","timestamp":"{}"}}"#,
        at.format("%Y-%m-%dT%H:%M:%S%.3fZ")
    )
}

#[test]
fn with_neither_source_the_local_estimate_is_labelled() {
    let home = Home::bare();
    let now = chrono::Utc::now();
    let dir = home.claude_dir().join("projects/-home-dev-api");
    std::fs::create_dir_all(&dir).unwrap();
    // Two days ago, a block of 10,000 output tokens (the local 100 %); now, 2,500 (25 %).
    let mut lines = Vec::new();
    let old = now - chrono::Duration::days(2);
    for i in 0..4 {
        lines.push(transcript_line(
            i,
            old + chrono::Duration::minutes(i as i64),
            2_490,
        ));
    }
    for i in 4..6 {
        lines.push(transcript_line(
            i,
            now - chrono::Duration::minutes(10 - i as i64),
            1_240,
        ));
    }
    std::fs::write(dir.join("s.jsonl"), lines.join("\n") + "\n").unwrap();
    let j = status_json(&home, None, &[]);
    assert_eq!(j["session"]["source"], "local-estimate", "{j:#}");
    let pct = j["session"]["utilization"].as_f64().unwrap();
    assert!((pct - 25.0).abs() < 0.01, "{pct}");
    assert_eq!(j["stale"], true);
    assert!(j["local_block"]["total_tokens"].as_u64().unwrap() == 2_500);

    let mut c = home.command(None);
    c.arg("status");
    let text = stdout(&run(c));
    assert!(
        text.contains("[local estimate from Claude Code transcripts]"),
        "{text}"
    );
    assert!(
        text.contains("Headroom's estimate from local transcripts"),
        "{text}"
    );
}

fn settings_file(home: &Home) -> std::path::PathBuf {
    home.claude_dir().join("settings.json")
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn install_keeps_every_other_setting_and_uninstall_reverses_it() {
    let home = Home::bare();
    let original = r#"{
  "model": "opus",
  "permissions": { "allow": ["Bash(git status)"], "deny": [] },
  "env": { "FOO": "bar" },
  "hooks": { "Stop": [ { "hooks": [ { "type": "command", "command": "notify-send done" } ] } ] },
  "includeCoAuthoredBy": false
}
"#;
    std::fs::write(settings_file(&home), original).unwrap();
    let before = read_json(&settings_file(&home));

    let mut c = home.command(None);
    c.args(["statusline", "--install"]);
    let out = run(c);
    assert!(
        stdout(&out).contains("Added Headroom's status line"),
        "{}",
        stdout(&out)
    );
    let after = read_json(&settings_file(&home));
    for (key, value) in before.as_object().unwrap() {
        assert_eq!(&after[key], value, "{key} kept");
    }
    let command = after["statusLine"]["command"].as_str().unwrap();
    assert!(command.ends_with("headroom statusline"), "{command}");
    assert_eq!(after["statusLine"]["type"], "command");
    // A backup of the file as it was.
    let backups = backups(&home);
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(std::fs::read_to_string(&backups[0]).unwrap(), original);
    // The command Claude Code will run works.
    let now_s = now_ms() / 1000;
    let mut parts = command.rsplitn(2, ' ');
    let (sub, bin) = (parts.next().unwrap(), parts.next().unwrap());
    let mut direct = std::process::Command::new(bin);
    direct
        .arg(sub)
        .env("HEADROOM_HOME", home.headroom_home())
        .env("NO_COLOR", "1");
    let line = stdout(&run_with_stdin(
        direct,
        payload_with_limits(now_s + 4_000, now_s + 300_000).as_bytes(),
    ));
    assert!(line.starts_with("Session 42 %"), "{line}");

    // Idempotent.
    let mut c = home.command(None);
    c.args(["statusline", "--install"]);
    assert!(stdout(&run(c)).contains("already"));
    assert_eq!(read_json(&settings_file(&home)), after);

    let mut c = home.command(None);
    c.args(["statusline", "--uninstall"]);
    assert!(stdout(&run(c)).contains("Removed"));
    assert_eq!(read_json(&settings_file(&home)), before);
}

#[test]
fn install_refuses_a_different_status_line_without_force() {
    let home = Home::bare();
    let original = r#"{"statusLine":{"type":"command","command":"~/bin/my-line.sh","padding":1},"theme":"dark"}"#;
    std::fs::write(settings_file(&home), original).unwrap();

    let mut c = home.command(None);
    c.args(["statusline", "--install"]);
    let out = output(c);
    assert!(!out.status.success(), "refused");
    let err = stderr(&out);
    assert!(
        err.contains("~/bin/my-line.sh"),
        "says what is there: {err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert!(
        err.contains("printf %s \"$in\" | ~/bin/my-line.sh"),
        "how to chain: {err}"
    );
    assert_eq!(
        std::fs::read_to_string(settings_file(&home)).unwrap(),
        original,
        "untouched"
    );

    let mut c = home.command(None);
    c.args(["statusline", "--install", "--force"]);
    let out = run(c);
    assert!(stdout(&out).contains("Replaced"), "{}", stdout(&out));
    let after = read_json(&settings_file(&home));
    assert!(after["statusLine"]["command"]
        .as_str()
        .unwrap()
        .ends_with("headroom statusline"));
    assert_eq!(after["theme"], "dark");

    // Uninstall puts the user's own status line back.
    let mut c = home.command(None);
    c.args(["statusline", "--uninstall"]);
    run(c);
    let restored = read_json(&settings_file(&home));
    assert_eq!(restored, serde_json::from_str::<Value>(original).unwrap());
}

#[test]
fn install_refuses_a_settings_file_it_cannot_read_as_json() {
    let home = Home::bare();
    std::fs::write(settings_file(&home), "{ \"model\": \"opus\", ").unwrap();
    let mut c = home.command(None);
    c.args(["statusline", "--install"]);
    let out = output(c);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not a JSON object Headroom can edit"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(settings_file(&home)).unwrap(),
        "{ \"model\": \"opus\", "
    );
}

/// The timestamped backups of Claude Code's settings.json, oldest first.
fn backups(home: &Home) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(home.claude_dir())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("settings.json.headroom-backup-")
        })
        .collect();
    found.sort();
    found
}

fn install(home: &Home, extra: &[&str]) -> std::process::Output {
    let mut c = home.command(None);
    c.args(["statusline", "--install"]).args(extra);
    output(c)
}

fn uninstall(home: &Home) -> std::process::Output {
    let mut c = home.command(None);
    c.args(["statusline", "--uninstall"]);
    output(c)
}

/// The top-level keys of a JSON object text, in the order written.
#[cfg(unix)]
fn key_order(text: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(text).unwrap();
    v.as_object().unwrap().keys().cloned().collect()
}

#[cfg(unix)]
#[test]
fn install_writes_through_a_symlink_keeping_the_link_the_key_order_and_the_mode() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::bare();
    // A dotfile manager's layout: ~/.claude/settings.json links into a repository.
    let repo = home.dir.path().join("dotfiles/claude");
    std::fs::create_dir_all(&repo).unwrap();
    let real = repo.join("settings.json");
    let original = r#"{
  "model": "opus",
  "permissions": {
    "deny": [],
    "allow": [
      "Bash(git status)"
    ]
  },
  "env": {
    "ZED": "1",
    "ALPHA": "2"
  },
  "includeCoAuthoredBy": false
}
"#;
    std::fs::write(&real, original).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link_target = std::path::Path::new("../dotfiles/claude/settings.json");
    std::os::unix::fs::symlink(link_target, settings_file(&home)).unwrap();

    let out = install(&home, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let link = std::fs::symlink_metadata(settings_file(&home)).unwrap();
    assert!(link.file_type().is_symlink(), "the link is kept");
    assert_eq!(
        std::fs::read_link(settings_file(&home)).unwrap(),
        link_target
    );
    let text = std::fs::read_to_string(&real).unwrap();
    let after: Value = serde_json::from_str(&text).unwrap();
    assert!(
        after["statusLine"]["command"]
            .as_str()
            .unwrap()
            .ends_with("headroom statusline"),
        "the link's target was edited: {text}"
    );
    assert_eq!(
        key_order(&text),
        [
            "model",
            "permissions",
            "env",
            "includeCoAuthoredBy",
            "statusLine"
        ],
        "{text}"
    );
    // Nested objects keep their order too.
    let nested: Vec<&String> = after["env"].as_object().unwrap().keys().collect();
    assert_eq!(nested, ["ZED", "ALPHA"]);
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640,
        "the file's mode is kept"
    );
    // No backup or temporary file lands in the repository.
    let in_repo: Vec<_> = std::fs::read_dir(&repo).unwrap().collect();
    assert_eq!(in_repo.len(), 1, "{in_repo:?}");

    let out = uninstall(&home);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(settings_file(&home))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(&real).unwrap(),
        original,
        "uninstall gives back the file as it was, order included"
    );
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn backups_are_timestamped_and_the_last_five_are_kept() {
    let home = Home::bare();
    std::fs::write(settings_file(&home), "{\"theme\":\"dark\"}\n").unwrap();
    let mut states = Vec::new();
    for round in 0..4 {
        states.push(std::fs::read_to_string(settings_file(&home)).unwrap());
        assert!(install(&home, &[]).status.success(), "install {round}");
        states.push(std::fs::read_to_string(settings_file(&home)).unwrap());
        assert!(uninstall(&home).status.success(), "uninstall {round}");
    }
    // Eight writes, each after a backup of the file as it was: the last five remain, in
    // the order they were made, each holding what the file held before that write.
    let kept = backups(&home);
    assert_eq!(kept.len(), 5, "{kept:?}");
    let contents: Vec<String> = kept
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(contents, states[3..], "{kept:?}");
}

#[test]
fn a_users_own_command_that_mentions_headroom_is_not_taken_for_ours() {
    let home = Home::bare();
    let original = r#"{"statusLine":{"type":"command","command":"~/bin/headroom-statusline.sh"}}"#;
    std::fs::write(settings_file(&home), original).unwrap();
    let out = install(&home, &[]);
    assert!(!out.status.success(), "refused without --force");
    assert!(
        stderr(&out).contains("~/bin/headroom-statusline.sh"),
        "{}",
        stderr(&out)
    );
    let out = uninstall(&home);
    assert!(out.status.success());
    assert!(stdout(&out).contains("not Headroom's"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(settings_file(&home)).unwrap(),
        original,
        "untouched by both"
    );
    assert!(backups(&home).is_empty());

    // Headroom's own command from another install location is recognised as ours.
    let other = r#"{"statusLine":{"type":"command","command":"/opt/old/bin/headroom statusline","padding":0}}"#;
    std::fs::write(settings_file(&home), other).unwrap();
    let out = uninstall(&home);
    assert!(stdout(&out).contains("Removed"), "{}", stdout(&out));
    assert!(read_json(&settings_file(&home)).get("statusLine").is_none());
}

#[cfg(unix)]
#[test]
fn the_installed_command_runs_from_a_folder_whose_name_has_a_backslash() {
    let home = Home::bare();
    // The same binary, started from a folder whose name a shell would mangle unquoted.
    let folder = home.dir.path().join(r"opt\tools");
    std::fs::create_dir_all(&folder).unwrap();
    let exe = folder.join("headroom");
    if std::fs::hard_link(headroom_bin(), &exe).is_err() {
        std::fs::copy(headroom_bin(), &exe).unwrap();
    }
    let mut c = std::process::Command::new(&exe);
    c.env_clear_keep_clock()
        .env("HOME", home.dir.path())
        .env("CLAUDE_CONFIG_DIR", home.claude_dir())
        .env("HEADROOM_HOME", home.headroom_home())
        .args(["statusline", "--install"]);
    run(c);
    let command = read_json(&settings_file(&home))["statusLine"]["command"]
        .as_str()
        .unwrap()
        .to_owned();
    // As Claude Code runs it: through a shell, the payload on stdin.
    let now_s = now_ms() / 1000;
    let mut sh = std::process::Command::new("sh");
    sh.args(["-c", &command])
        .env_clear_keep_clock()
        .env("HEADROOM_HOME", home.headroom_home())
        .env("NO_COLOR", "1");
    let out = run_with_stdin(
        sh,
        payload_with_limits(now_s + 4_000, now_s + 300_000).as_bytes(),
    );
    assert!(
        stdout(&out).starts_with("Session 42 %"),
        "{command}: {} {}",
        stdout(&out),
        stderr(&out)
    );
}
