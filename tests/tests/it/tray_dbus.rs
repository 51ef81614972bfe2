//! The tray app as a desktop shell sees it: the built `headroom-app` in an X display (Xvfb)
//! and a D-Bus session with a StatusNotifierWatcher (the tray host Debian ships as
//! `status-notifier-watcher`), against a loopback server answering like Anthropic's OAuth
//! usage endpoint, with temporary Headroom and Claude Code folders.
//!
//! Asserted over D-Bus, as a panel would read it: the StatusNotifierItem is registered; its
//! dbusmenu (`GetLayout`) holds the live rows with the server's numbers; clicking "Refresh
//! now" (`Event`) asks the server again and the rows follow its new numbers; a transcript
//! line appended on disk is read without any click; "Quit Headroom" ends the app with 0.
//!
//! Needs a display, a session bus and `status-notifier-watcher`, so it is `#[ignore]`d in a
//! plain `cargo test` and run by `scripts/ci-gui.sh` (`--run-ignored only`). The no-display
//! test below runs everywhere.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use headroom_tests::account::{clock_texts, now_ms, Home, Response, Server, TOKEN};
use headroom_tests::app_bin;
use headroom_tests::tray::{self, Proc};
use serde_json::{json, Value};

/// Only ever waited for something to appear: generous for a fresh CI machine (cold WebKit, 2 cores).
const WAIT: Duration = Duration::from_secs(60);
/// The app's stderr, shown when a wait times out.
static LOG: OnceLock<PathBuf> = OnceLock::new();

/// The session bus of the test (scripts/ci-gui.sh's `dbus-run-session`).
fn session() -> String {
    std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap_or_default()
}

fn busctl(args: &[&str]) -> Option<String> {
    tray::busctl(&session(), args)
}

fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if start.elapsed() > WAIT {
            let log = LOG
                .get()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default();
            panic!("timed out waiting for {what}; the app's log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn item() -> Option<(String, String)> {
    tray::item(&session())
}

fn menu(name: &str, path: &str) -> Vec<(i64, String, bool)> {
    tray::menu(&session(), name, path)
}

fn labels(items: &[(i64, String, bool)]) -> Vec<String> {
    items.iter().map(|(_, l, _)| l.clone()).collect()
}

fn click(name: &str, path: &str, id: i64) {
    tray::click_id(&session(), name, path, id)
}

fn api_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

fn usage_body(session: f64, weekly: f64, session_reset_ms: i64, weekly_reset_ms: i64) -> String {
    json!({
        "five_hour": { "utilization": session, "resets_at": api_time(session_reset_ms) },
        "seven_day": { "utilization": weekly, "resets_at": api_time(weekly_reset_ms) },
        "seven_day_opus": { "utilization": 12.0, "resets_at": api_time(weekly_reset_ms) },
        "extra_usage": { "is_enabled": false, "monthly_limit": null, "used_credits": null },
    })
    .to_string()
}

fn transcript_line(at_ms: i64, n: usize) -> String {
    let at = chrono::DateTime::from_timestamp_millis(at_ms).unwrap();
    json!({
        "type": "assistant",
        "timestamp": at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "sessionId": "tray-session",
        "requestId": format!("req_tray_{n}"),
        "message": {
            "id": format!("msg_tray_{n}"),
            "model": "claude-sonnet-4-5-20250929",
            "usage": { "input_tokens": 1000, "output_tokens": 500 }
        }
    })
    .to_string()
        + "\n"
}

#[test]
#[ignore = "needs Xvfb, a D-Bus session and status-notifier-watcher: run by scripts/ci-gui.sh"]
fn tray_menu_over_dbus_shows_the_servers_numbers() {
    for var in ["DISPLAY", "DBUS_SESSION_BUS_ADDRESS"] {
        assert!(
            std::env::var_os(var).is_some(),
            "{var} is not set: run this test through scripts/ci-gui.sh"
        );
    }
    // A tray host, unless the session has one.
    // A tray host (a watcher and a panel registered with it), unless the session has one.
    let _watcher =
        if item().is_none() && busctl(&["status", "org.kde.StatusNotifierWatcher"]).is_none() {
            Some(tray::start_tray_host(&session()))
        } else {
            None
        };

    // Reset times in the test's own minute grid, so the expected text is exact.
    let now = now_ms();
    let session_reset = (now / 60_000 + 185) * 60_000;
    let weekly_reset = (now / 60_000 + 3 * 24 * 60) * 60_000;
    let body = Arc::new(Mutex::new(usage_body(
        62.0,
        41.0,
        session_reset,
        weekly_reset,
    )));
    let served = body.clone();
    let api = Server::start(move |r, _| {
        if r.path != "/api/oauth/usage" {
            return Response::not_found();
        }
        if r.header("authorization") == Some(&format!("Bearer {TOKEN}")) {
            Response::json(200, served.lock().unwrap().clone())
        } else {
            Response::json(401, r#"{"error":{"type":"authentication_error"}}"#)
        }
    });
    let home = Home::new();
    let transcript = home.claude_dir().join("projects/-home-dev-tray/tray.jsonl");
    std::fs::create_dir_all(transcript.parent().unwrap()).unwrap();
    std::fs::write(&transcript, transcript_line(now - 20 * 60_000, 1)).unwrap();

    // The user's environment only (tray::App): the loopback API, these folders,
    // "Refresh now" allowed to ask the server again at once (the floor is a minute), TZ=UTC.
    let user = tray::App::new(home.dir.path(), &session());
    let log = user.log.clone();
    let mut app = user.command(&api.base);
    let mut app = Proc(app.spawn().unwrap());
    let _ = LOG.set(log.clone());
    let show_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let (name, path) = wait_for("the StatusNotifierItem", item);
    let rows = wait_for("the live rows", || {
        let items = menu(&name, &path);
        labels(&items)
            .iter()
            .any(|l| l.starts_with("Session 62 %"))
            .then_some(items)
    });
    let text = labels(&rows);
    // The app's own formatter says "resets 00:05" or "resets tomorrow 00:05" by the hour the
    // test runs at; either is right if it held at some moment of the run.
    let session_rows: Vec<String> = clock_texts(session_reset, now, now_ms())
        .iter()
        .map(|at| format!("Session 62 % · resets {at}"))
        .collect();
    assert!(
        text.iter().any(|l| session_rows.contains(l)),
        "no row {session_rows:?} in {text:#?}\n{}",
        show_log()
    );
    let expect = [
        "Weekly 41 % · resets ".to_owned(),
        "Weekly (Opus) 12 % · resets ".to_owned(),
        "Extra Usage off".to_owned(),
        "Source: Anthropic account · just now".to_owned(),
        "Open settings…".to_owned(),
        "Refresh now".to_owned(),
        "Snooze alerts 1 h".to_owned(),
        "Enable Extra Usage…".to_owned(),
        "Quit Headroom".to_owned(),
    ];
    for e in &expect {
        assert!(
            text.iter().any(|l| l.starts_with(e.as_str())),
            "no row {e:?} in {text:#?}\n{}",
            show_log()
        );
    }
    // The rows are read-only; the actions are not.
    for (_, label, enabled) in &rows {
        let row = ["Session", "Weekly", "Extra Usage", "Source", "Plan"]
            .iter()
            .any(|p| label.starts_with(p));
        assert_eq!(!row, *enabled, "{label}: enabled = {enabled}");
    }
    let tooltip_title = busctl(&[
        "get-property",
        &name,
        &path,
        "org.kde.StatusNotifierItem",
        "Status",
    ]);
    assert!(tooltip_title.is_some_and(|s| s.contains("Active")));

    // Refresh now: the server is asked again and the rows follow its numbers.
    let before = api.count("/api/oauth/usage");
    assert!(before >= 1);
    *body.lock().unwrap() = usage_body(71.0, 43.0, session_reset, weekly_reset);
    let refresh = rows
        .iter()
        .find(|(_, l, _)| l == "Refresh now")
        .map(|(id, _, _)| *id)
        .unwrap();
    click(&name, &path, refresh);
    wait_for("the refreshed rows", || {
        labels(&menu(&name, &path))
            .iter()
            .any(|l| l.starts_with("Session 71 %"))
            .then_some(())
    });
    assert!(api.count("/api/oauth/usage") > before);
    assert!(labels(&menu(&name, &path))
        .iter()
        .any(|l| l.starts_with("Weekly 43 %")));

    // A transcript line appended on disk is read within about a second, with no click: the
    // ledger holds it (the CLI shows it).
    let appended = Instant::now();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&transcript)
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, transcript_line(now_ms(), 2).as_bytes())
        })
        .unwrap();
    let ledger_path = home.headroom_home().join("ledger.sqlite3");
    wait_for("the appended line in the ledger", || {
        let ledger = headroom_core::ledger::Ledger::open(&ledger_path).ok()?;
        let query = headroom_core::report::Query::default();
        let (_, totals) =
            headroom_core::report::periods(&ledger, headroom_core::report::Period::Day, &query)
                .ok()?;
        (totals.output_tokens == 1000).then_some(())
    });
    eprintln!("appended line in the ledger after {:?}", appended.elapsed());

    // Snooze from the tray: the settings file says until when, and the item offers to resume.
    let snooze = menu(&name, &path)
        .into_iter()
        .find(|(_, l, _)| l == "Snooze alerts 1 h")
        .map(|(id, _, _)| id)
        .unwrap();
    click(&name, &path, snooze);
    let settings_file = home.headroom_home().join("settings.json");
    let until = wait_for("the snooze in the settings file", || {
        let v: Value = serde_json::from_slice(&std::fs::read(&settings_file).ok()?).ok()?;
        v["alerts"]["snoozed_until_ms"].as_i64()
    });
    assert!((until - now_ms() - 3_600_000).abs() < 120_000, "{until}");
    wait_for("the resume item", || {
        labels(&menu(&name, &path))
            .iter()
            .any(|l| l.starts_with("Resume alerts (snoozed until "))
            .then_some(())
    });

    // Open settings: the window runs as a process of its own, which Quit takes along.
    let open = menu(&name, &path)
        .into_iter()
        .find(|(_, l, _)| l == "Open settings…")
        .map(|(id, _, _)| id)
        .unwrap();
    click(&name, &path, open);
    let app_pid = app.0.id();
    let window_pid = wait_for("the settings window's process", || {
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid: u32 = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            (ppid == app_pid && cmdline.split(|&b| b == 0).any(|a| a == b"--settings"))
                .then_some(pid)
        })
    });

    // Quit ends the app cleanly.
    let quit = menu(&name, &path)
        .into_iter()
        .find(|(_, l, _)| l == "Quit Headroom")
        .map(|(id, _, _)| id)
        .unwrap();
    click(&name, &path, quit);
    let status = wait_for("the app to quit", || app.0.try_wait().ok().flatten());
    assert!(status.success(), "{status:?}\n{}", show_log());
    // No settings window left behind (a zombie is gone too once reaped: /proc has no entry).
    let gone = || {
        std::fs::read_to_string(format!("/proc/{window_pid}/stat")).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    };
    wait_for("the settings window to close", || gone().then_some(()));
}

/// Today's plans in the menu, as a panel reads it: an Ultra login (no 5-hour limit) shows
/// the plan, the session row's reason and no percent; the account then answering with a
/// session and Extra Usage spend past its cap, turned off by the organization's cap, is read
/// on "Refresh now" with the reason in words and the spend over the cap.
#[test]
#[ignore = "needs Xvfb, a D-Bus session and status-notifier-watcher: run by scripts/ci-gui.sh"]
fn tray_menu_over_dbus_shows_the_plan_and_why_there_is_no_session() {
    use headroom_tests::account::plans::PlanAccount;
    for var in ["DISPLAY", "DBUS_SESSION_BUS_ADDRESS"] {
        assert!(
            std::env::var_os(var).is_some(),
            "{var} is not set: run this test through scripts/ci-gui.sh"
        );
    }
    let _watcher =
        if item().is_none() && busctl(&["status", "org.kde.StatusNotifierWatcher"]).is_none() {
            Some(tray::start_tray_host(&session()))
        } else {
            None
        };
    let body = Arc::new(Mutex::new(PlanAccount::Ultra.usage().to_string()));
    let served = body.clone();
    let api = Server::start(move |r, _| {
        if r.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return Response::json(401, r#"{"error":{"type":"authentication_error"}}"#);
        }
        match r.path.as_str() {
            "/api/oauth/usage" => Response::json(200, served.lock().unwrap().clone()),
            _ => Response::not_found(),
        }
    });
    let home = PlanAccount::Ultra.home();
    let user = tray::App::new(home.dir.path(), &session());
    let log = user.log.clone();
    let mut app = user.command(&api.base);
    let mut app = Proc(app.spawn().unwrap());
    let _ = LOG.set(log.clone());
    let show_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let (name, path) = wait_for("the StatusNotifierItem", item);
    let rows = wait_for("the plan's rows", || {
        let items = menu(&name, &path);
        labels(&items)
            .iter()
            .any(|l| l == "Plan: Ultra")
            .then_some(items)
    });
    let text = labels(&rows);
    for e in [
        "Session: no 5-hour limit on your plan",
        "Extra Usage on · $12.00 of $50.00",
        "Source: Anthropic account · just now",
        "Plan: Ultra",
    ] {
        assert!(
            text.iter().any(|l| l == e),
            "no row {e:?} in {text:#?}\n{}",
            show_log()
        );
    }
    assert!(
        text.iter().any(|l| l.starts_with("Weekly 18 %")),
        "{text:#?}"
    );
    assert!(
        !text
            .iter()
            .any(|l| l.starts_with("Session ") && l.contains('%')),
        "no session percent on Ultra: {text:#?}"
    );

    // The account now reports a session and spend past its cap, off by the organization's cap.
    *body.lock().unwrap() = PlanAccount::OverCap.usage().to_string();
    let refresh = rows
        .iter()
        .find(|(_, l, _)| l == "Refresh now")
        .map(|(id, _, _)| *id)
        .unwrap();
    click(&name, &path, refresh);
    let text = wait_for("the refreshed rows", || {
        let text = labels(&menu(&name, &path));
        text.iter()
            .any(|l| l.starts_with("Session 40 %"))
            .then_some(text)
    });
    assert!(
        text.iter()
            .any(|l| l == "Extra Usage off · your organization's spending cap is reached"),
        "{text:#?}\n{}",
        show_log()
    );
    assert!(
        !text.iter().any(|l| l.contains("org_spend_cap_reached")),
        "{text:#?}"
    );

    let quit = menu(&name, &path)
        .into_iter()
        .find(|(_, l, _)| l == "Quit Headroom")
        .map(|(id, _, _)| id)
        .unwrap();
    click(&name, &path, quit);
    let status = wait_for("the app to quit", || app.0.try_wait().ok().flatten());
    assert!(status.success(), "{status:?}\n{}", show_log());
}

#[test]
fn without_a_display_it_says_so_and_exits_2() {
    let out = Command::new(app_bin())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env(
            "HEADROOM_HOME",
            std::env::temp_dir().join("headroom-no-display-test"),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "headroom-app needs a graphical session; for terminals and servers use `headroom watch`"
    );
    assert!(out.stdout.is_empty());
    // Before GTK: no GTK warning, and nothing was created.
    assert!(!stderr.contains("Gtk"));
}

#[test]
fn a_display_it_cannot_open_is_said_in_one_line_too() {
    let out = Command::new(app_bin())
        .env("DISPLAY", ":97531")
        .env_remove("WAYLAND_DISPLAY")
        .env(
            "HEADROOM_HOME",
            std::env::temp_dir().join("headroom-bad-display-test"),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "headroom-app cannot open the display \":97531\"; for terminals and servers use `headroom watch`"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
