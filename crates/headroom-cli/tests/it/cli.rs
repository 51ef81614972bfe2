//! The `headroom` binary as a user runs it: exit codes, messages, colour, and a process killed
//! in the middle of ingesting.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn headroom(args: &[&str], config: &Path, home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .env("CLAUDE_CONFIG_DIR", config)
        .env("HEADROOM_HOME", home)
        .env("TZ", "UTC")
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn line(i: usize, output: u64) -> String {
    format!(
        r#"{{"cwd":"/home/dev/api","sessionId":"s","version":"2.0.31","message":{{"id":"msg_{i}","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{{"type":"text","text":"{pad}"}}],"usage":{{"input_tokens":3,"cache_creation_input_tokens":10,"cache_read_input_tokens":100,"output_tokens":{output}}}}},"requestId":"req_{i}","type":"assistant","uuid":"u","timestamp":"2026-11-{day:02}T{hour:02}:00:00.000Z"}}"#,
        pad = "x".repeat(200),
        day = 1 + i % 20,
        hour = i % 24,
    ) + "\n"
}

#[test]
fn no_transcript_folder_is_exit_2_with_the_paths() {
    let dir = tempfile::tempdir().unwrap();
    let out = headroom(
        &["daily"],
        &dir.path().join("missing"),
        &dir.path().join("home"),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // Joined as the CLI joins it: `missing\projects` on Windows.
    let looked = Path::new("missing").join("projects");
    assert!(stderr.contains(&looked.display().to_string()), "{stderr}");
}

#[test]
fn bad_arguments_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("c/projects")).unwrap();
    let out = headroom(
        &["daily", "--since", "yesterday"],
        &dir.path().join("c"),
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYYMMDD"));
    let out = headroom(
        &["daily", "-z", "Mars/Base"],
        &dir.path().join("c"),
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("time zone"));
}

#[test]
fn tables_have_no_colour_when_piped_and_verbose_reports_skips() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("c/projects/p");
    fs::create_dir_all(&project).unwrap();
    fs::write(project.join("s.jsonl"), line(1, 50) + "garbage\n").unwrap();
    let out = headroom(
        &["daily", "--verbose"],
        &dir.path().join("c"),
        &dir.path().join("h"),
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2026-11-02"), "{stdout}");
    assert!(!stdout.contains('\x1b'), "no colour on a pipe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 skipped lines"), "{stderr}");
}

#[test]
fn a_damaged_ledger_says_how_to_rebuild_and_rebuild_works() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("c/projects/p");
    fs::create_dir_all(&project).unwrap();
    fs::write(project.join("s.jsonl"), line(1, 50)).unwrap();
    let home = dir.path().join("h");
    fs::create_dir_all(&home).unwrap();
    fs::write(home.join("ledger.sqlite3"), vec![7u8; 4096]).unwrap();
    let out = headroom(&["daily", "--json"], &dir.path().join("c"), &home);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("headroom ledger rebuild"));
    let out = headroom(&["ledger", "rebuild"], &dir.path().join("c"), &home);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kept: Vec<_> = fs::read_dir(&home)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("damaged"))
        .collect();
    assert_eq!(kept.len(), 1, "the damaged file is kept");
    let out = headroom(&["daily", "--json"], &dir.path().join("c"), &home);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["totals"]["outputTokens"], 50);
}

/// Kills `headroom` at several moments of a long ingest; whatever was committed stays, and
/// the next run ends with exactly the totals of an uninterrupted run.
#[test]
fn killing_during_ingest_loses_nothing_and_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c");
    for f in 0..40 {
        let project = config.join(format!("projects/p{}", f % 4));
        fs::create_dir_all(&project).unwrap();
        let mut file = fs::File::create(project.join(format!("s{f}.jsonl"))).unwrap();
        for i in 0..2_500 {
            let n = f * 10_000 + i;
            // Two content blocks of one response, as Claude Code writes them.
            let text = line(n, (n % 97) as u64);
            file.write_all(text.as_bytes()).unwrap();
            file.write_all(text.as_bytes()).unwrap();
        }
    }
    let clean_home = dir.path().join("clean");
    let clean = headroom(&["daily", "--json"], &config, &clean_home);
    assert!(clean.status.success());
    let clean: serde_json::Value = serde_json::from_slice(&clean.stdout).unwrap();
    assert_eq!(clean["totals"]["inputTokens"], 3 * 40 * 2_500);

    let home = dir.path().join("killed");
    let mut killed_midway = 0;
    for delay_ms in [30, 80, 150, 250, 400] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args(["daily", "--json"])
            .env("CLAUDE_CONFIG_DIR", &config)
            .env("HEADROOM_HOME", &home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            killed_midway += 1;
        }
        child.kill().ok(); // SIGKILL: no destructors, no rollback handlers
        child.wait().unwrap();
        // Everything a killed run left must be consistent: never more than the truth.
        let check = headroom(&["ledger", "check"], &config, &home);
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    assert!(
        killed_midway > 0,
        "no run was interrupted; the test proves nothing"
    );
    let after = headroom(&["daily", "--json"], &config, &home);
    assert!(after.status.success());
    let after: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_same_usage(&after, &clean);
}

/// Equal token counts; costs equal up to float summation order.
fn assert_same_usage(a: &serde_json::Value, b: &serde_json::Value) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() < 1e-6, "{x} != {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).for_each(|(x, y)| assert_same_usage(x, y));
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
            for (k, v) in x {
                assert_same_usage(v, &y[k]);
            }
        }
        _ => assert_eq!(a, b),
    }
}

/// A FIFO among the transcripts is named once by `--verbose` and by `status`, and neither
/// waits for it.
#[cfg(unix)]
#[test]
fn a_special_file_is_named_by_verbose_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("c/projects/p");
    fs::create_dir_all(&project).unwrap();
    fs::write(project.join("s.jsonl"), line(1, 50)).unwrap();
    let fifo = project.join("pipe.jsonl");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let config = dir.path().join("c");
    let home = dir.path().join("h");
    let run = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args(args)
            .env("CLAUDE_CONFIG_DIR", &config)
            .env("HEADROOM_HOME", &home)
            .env("TZ", "UTC")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A hang fails the test instead of blocking CI.
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(30) {
                child.kill().unwrap();
                panic!("headroom {args:?} hung on a FIFO");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    };
    let expected = format!("{}: a FIFO, not a regular file", fifo.display());
    let out = run(&["daily", "--verbose"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches(&expected).count(), 1, "{stderr}");
    let out = run(&["status", "--offline"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let note = format!(
        "note: not read: {} (a FIFO, not a regular file)",
        fifo.display()
    );
    assert_eq!(stdout.matches(&note).count(), 1, "{stdout}");
}

/// A new user's first `headroom daily`: Claude Code's folder is there, but it has no
/// transcripts yet and no credentials. The report names the folders it read and the ways to
/// add a source, instead of a bare "No usage found.".
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

#[test]
fn every_report_says_what_its_costs_leave_out() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("c/projects/p");
    fs::create_dir_all(&project).unwrap();
    // Two responses of a model no price table knows, one of a known one.
    let unknown = |i: usize| line(i, 50).replace("claude-sonnet-4-5-20250929", "claude-foo-6");
    fs::write(
        project.join("s.jsonl"),
        line(1, 50) + &unknown(2) + &unknown(3),
    )
    .unwrap();
    let note = "Costs leave out 2 responses of claude-foo-6 with no known price: run `headroom prices update`";
    for report in [
        "daily", "weekly", "monthly", "session", "projects", "blocks",
    ] {
        let out = headroom(&[report], &dir.path().join("c"), &dir.path().join("h"));
        assert!(
            out.status.success(),
            "{report}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(note), "{report}:\n{stdout}");
        // Under JSON (ccusage's shape) the note goes to stderr.
        let out = headroom(
            &[report, "--json"],
            &dir.path().join("c"),
            &dir.path().join("h"),
        );
        assert!(out.status.success(), "{report} --json");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(note), "{report} --json:\n{stderr}");
    }
    // A range without them has no note, however near they are (the 2nd has the known
    // model's response, the 3rd and 4th the others).
    for report in ["daily", "session", "projects"] {
        let out = headroom(
            &[report, "--since", "20261102", "--until", "20261102"],
            &dir.path().join("c"),
            &dir.path().join("h"),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("2026-11-02") || report != "daily",
            "{stdout}"
        );
        assert!(!stdout.contains("leave out"), "{report}:\n{stdout}");
    }
}

/// `sources.extra_transcript_dirs` is read by every command that ingests, as by the tray: a
/// transcript only in an extra folder counts in `headroom daily`, and `headroom watch` records
/// it in the ledger (seen afterwards by a report that no longer names the folder).
#[test]
fn extra_transcript_folders_are_read_by_reports_and_watch() {
    let dir = tempfile::tempdir().unwrap();
    let claude = dir.path().join("claude");
    fs::create_dir_all(&claude).unwrap();
    let extra = dir.path().join("elsewhere");
    let project = extra.join("projects/p");
    fs::create_dir_all(&project).unwrap();
    fs::write(project.join("s.jsonl"), line(1, 50)).unwrap();
    let settings = |extra_dirs: &[&Path]| {
        serde_json::json!({
            "sources": { "account": false, "extra_transcript_dirs": extra_dirs },
        })
        .to_string()
    };
    let output_tokens = |out: &Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["totals"]["outputTokens"].clone()
    };

    let home = dir.path().join("report");
    fs::create_dir_all(&home).unwrap();
    fs::write(home.join("settings.json"), settings(&[&extra])).unwrap();
    let out = headroom(&["daily", "--json"], &claude, &home);
    assert_eq!(output_tokens(&out), 50);

    let home = dir.path().join("watch");
    fs::create_dir_all(&home).unwrap();
    fs::write(home.join("settings.json"), settings(&[&extra])).unwrap();
    let out = headroom(&["watch", "--once", "--no-notify"], &claude, &home);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(home.join("settings.json"), settings(&[])).unwrap();
    let out = headroom(&["daily", "--json"], &claude, &home);
    assert_eq!(output_tokens(&out), 50, "what watch recorded");
}

/// The settings' time zone is the reports' default, as it is the tray's and the pane's; `-z`
/// still wins. Reports used to count days in the system's zone whatever the settings said.
#[test]
fn reports_count_days_in_the_settings_time_zone_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("claude/projects/p");
    fs::create_dir_all(&project).unwrap();
    // 2026-11-02 20:00 UTC is 2026-11-03 01:45 in Kathmandu (+05:45).
    fs::write(
        project.join("s.jsonl"),
        line(1, 50).replace("T01:00", "T20:00"),
    )
    .unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    fs::write(
        home.join("settings.json"),
        r#"{"general": {"timezone": "Asia/Kathmandu"}}"#,
    )
    .unwrap();
    let claude = dir.path().join("claude");
    let dates = |args: &[&str]| -> Vec<String> {
        let out = headroom(args, &claude, &home);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["daily"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["date"].as_str().unwrap().to_owned())
            .collect()
    };
    // TZ=UTC for the process (see `headroom`): only the settings can move the day.
    assert_eq!(dates(&["daily", "--json"]), ["2026-11-03"]);
    assert_eq!(dates(&["daily", "--json", "-z", "UTC"]), ["2026-11-02"]);
}

/// `headroom watch` runs the tray's round (the service's task): a line Claude Code appends
/// reaches the ledger within seconds, not at the next poll, an hour away here. Its own loop
/// used to read the transcripts only once a round.
#[test]
fn watch_reads_appended_lines_as_claude_code_writes_them() {
    use headroom_core::ledger::Ledger;
    let dir = tempfile::tempdir().unwrap();
    let claude = dir.path().join("claude");
    let project = claude.join("projects/p");
    fs::create_dir_all(&project).unwrap();
    let transcript = project.join("s.jsonl");
    fs::write(&transcript, line(1, 50)).unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    fs::write(
        home.join("settings.json"),
        r#"{"sources": {"account": false}}"#,
    )
    .unwrap();
    /// Ends the watch if the test fails before it does (else it would outlive the test).
    struct KillOnDrop(Option<std::process::Child>);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if let Some(child) = self.0.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let mut watch = KillOnDrop(Some(
        Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args(["watch", "--no-notify", "--interval", "60"])
            .env("CLAUDE_CONFIG_DIR", &claude)
            .env("HEADROOM_HOME", &home)
            .env("TZ", "UTC")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let entries = |want: u64, within: Duration| {
        let start = std::time::Instant::now();
        loop {
            let count = Ledger::open(&home.join("ledger.sqlite3"))
                .ok()
                .and_then(|l| l.entry_count().ok());
            if count == Some(want) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "{count:?} responses in the ledger, not {want}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    entries(1, Duration::from_secs(60));
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&transcript)
        .unwrap();
    file.write_all(line(2, 70).as_bytes()).unwrap();
    drop(file);
    let took = entries(2, Duration::from_secs(20));
    eprintln!("the appended line reached the ledger after {took:?}");
    // Ctrl-C: a clean stop. A signal on Unix only: Windows has no way to send Ctrl-C to one
    // process from another that does not share its console, and no `kill` program (the
    // signal's result was ignored, so the wait below hung for ever under Wine). There the
    // watch is ended (TerminateProcess).
    #[cfg(unix)]
    {
        let child = watch.0.take().unwrap();
        let sent = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -INT: {sent}");
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("headroom watch: stopped"), "{stderr}");
    }
    #[cfg(not(unix))]
    {
        let mut child = watch.0.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// A setting `serve` cannot use is said once: the command read the file before starting the
/// service's task and said it, then the task's first round said it again.
#[test]
fn serve_names_a_bad_setting_once() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().unwrap();
    let claude = dir.path().join("claude");
    fs::create_dir_all(claude.join("projects")).unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    fs::write(
        home.join("settings.json"),
        r#"{"sources": {"account": false}, "alerts": {"session_thresholds": [75, 300]}}"#,
    )
    .unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["serve", "--metrics", "127.0.0.1:0"])
        .env("CLAUDE_CONFIG_DIR", &claude)
        .env("HEADROOM_HOME", &home)
        .env("TZ", "UTC")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first status line comes after the first round, which has said its warnings.
    let mut first = String::new();
    let read = BufReader::new(serve.stdout.take().unwrap()).read_line(&mut first);
    let _ = serve.kill();
    let _ = serve.wait();
    let mut stderr = String::new();
    serve
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(matches!(read, Ok(n) if n > 0), "no round: {stderr}");
    assert_eq!(
        stderr
            .matches("alerts.session_thresholds is not valid")
            .count(),
        1,
        "{stderr}"
    );
}
