//! Alerts as a user gets them (docs/alerts.md), end to end: the real `headroom` binary, a real D-Bus session
//! bus (a private `dbus-daemon`) with a notification server that records what arrives, and a
//! loopback HTTP server answering like Anthropic's OAuth usage endpoint at 91 % of the session
//! window with Extra Usage off.
//!
//! - `headroom watch --once` sends exactly one notification whose summary and body are
//!   asserted word for word (reset time in local time: the child runs with `TZ=UTC`); a second
//!   run sends nothing new; `headroom alerts --json` lists both alerts as delivered.
//! - Without a notification server (or a bus at all) it is a warning and exit code 0, and the
//!   history says so.
//! - `headroom watch` (the loop) offers the buttons, acts on "Snooze 1 h" and ends cleanly on
//!   Ctrl-C (SIGINT).
//!
//! The binary: `$HEADROOM_BIN` if set, else built here with the cargo that runs the tests
//! (a no-op when it is up to date), so the test never runs a stale binary.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use headroom_tests::account::{at_clock_texts, now_ms, run, usage_server, Server, TOKEN};
use headroom_tests::dbus::{Bus, Recorder};
use headroom_tests::{headroom_bin, EnvClearKeepClock};

/// The response of the fixture with reset times relative to `now`.
fn usage_body(session_reset: DateTime<Utc>, weekly_reset: DateTime<Utc>) -> String {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/alerts/usage-session-91-extra-off.json");
    let api_time = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string();
    std::fs::read_to_string(fixture)
        .unwrap()
        .replace("@SESSION_RESETS_AT@", &api_time(session_reset))
        .replace("@WEEKLY_RESETS_AT@", &api_time(weekly_reset))
}

/// A user's folders: Claude Code's (credentials, no transcripts yet) and Headroom's.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let claude = dir.path().join("claude");
        std::fs::create_dir_all(claude.join("projects")).unwrap();
        let expires = Utc::now().timestamp_millis() + 8 * 3_600_000;
        std::fs::write(
            claude.join(".credentials.json"),
            format!(
                r#"{{"claudeAiOauth":{{"accessToken":"{TOKEN}","refreshToken":"sk-ant-ort01-unused","expiresAt":{expires},"scopes":["user:inference","user:profile"],"subscriptionType":"max"}}}}"#
            ),
        )
        .unwrap();
        Home { dir }
    }

    fn headroom_home(&self) -> PathBuf {
        self.dir.path().join("headroom")
    }

    fn command(&self, api: &Server, bus: Option<&Bus>) -> Command {
        let mut c = Command::new(headroom_bin());
        c.env_clear_keep_clock()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("CLAUDE_CONFIG_DIR", self.dir.path().join("claude"))
            .env("HEADROOM_HOME", self.headroom_home())
            .env("HEADROOM_ANTHROPIC_API", &api.base)
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .env("TZ", "UTC")
            .env("NO_COLOR", "1")
            .env("HEADROOM_LOG", "warn")
            .stdin(Stdio::null());
        if let Some(bus) = bus {
            c.env("DBUS_SESSION_BUS_ADDRESS", &bus.address);
        }
        c
    }
}

fn history(home: &Home, api: &Server) -> Vec<serde_json::Value> {
    let mut c = home.command(api, None);
    c.args(["alerts", "--json"]);
    serde_json::from_slice(&run(c).stdout).unwrap()
}

struct Scenario {
    home: Home,
    api: Server,
    summary: &'static str,
    session_reset_ms: i64,
    created_ms: i64,
}

impl Scenario {
    /// The one body the notification may carry: the reset written by the core's own
    /// formatter as it read at some moment between the scenario's start and now ("at 00:40"
    /// or "tomorrow at 00:40", by the hour the test runs at).
    fn bodies(&self) -> Vec<String> {
        at_clock_texts(self.session_reset_ms, self.created_ms, now_ms())
            .iter()
            .map(|at| {
                format!(
                    "Work will stop at 100 % until the window resets {at} (in 1 h 10 min). \
                     Turn on Extra Usage from Headroom (Enable Extra Usage, or `headroom extra-usage enable --cap DOLLARS`) to keep working past the limit; any prepaid balance is not used until you do.\n\
                     Session usage passed 90 %: now 91 %; the window resets {at} (in 1 h 10 min)."
                )
            })
            .collect()
    }
}

/// A fresh user at 91 % of the session, resetting in 1 h 10 min 30 s (the half minute keeps
/// "in 1 h 10 min" true for the first 30 s of the run, as durations are floored).
fn at_91_percent() -> Scenario {
    headroom_bin();
    let now = Utc::now();
    let session_reset = now + chrono::Duration::seconds(70 * 60 + 30);
    let api = usage_server(usage_body(session_reset, now + chrono::Duration::days(3)));
    Scenario {
        home: Home::new(),
        api,
        summary: "Session at 91 % and Extra Usage is off",
        session_reset_ms: session_reset.timestamp_millis(),
        created_ms: now.timestamp_millis(),
    }
}

#[test]
fn at_91_percent_with_extra_usage_off_one_notification_then_nothing_new() {
    let s = at_91_percent();
    let bus = Bus::start();
    let recorder = Recorder::serve(&bus, &["body", "body-markup", "actions"]);

    let mut c = s.home.command(&s.api, Some(&bus));
    c.args(["watch", "--once"]);
    let out = run(c);
    let got = recorder.received();
    assert_eq!(got.len(), 1, "exactly one notification: {got:#?}");
    let n = &got[0];
    assert_eq!(n.summary, s.summary);
    assert!(
        s.bodies().contains(&n.body),
        "{:?} not in {:#?}",
        n.body,
        s.bodies()
    );
    assert_eq!(n.app_name, "Headroom");
    assert_eq!(n.urgency, Some(2), "critical: work will stop");
    assert!(n.app_icon.ends_with("headroom.png"), "{}", n.app_icon);
    assert!(Path::new(&n.app_icon).is_file());
    assert!(
        n.actions.is_empty(),
        "--once stays for no click: {:?}",
        n.actions
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(s.summary), "{stdout}");
    assert!(
        s.api.requests().iter().any(|r| r.method == "GET"
            && r.path == "/api/oauth/usage"
            && r.header("authorization") == Some(&format!("Bearer {TOKEN}"))),
        "the account source asked the loopback API: {:?}",
        s.api.requests()
    );

    // Again: nothing new arrives.
    let mut c = s.home.command(&s.api, Some(&bus));
    c.args(["watch", "--once"]);
    run(c);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(recorder.received().len(), 1, "{:#?}", recorder.received());

    let h = history(&s.home, &s.api);
    let rows: Vec<(&str, &str)> = h
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["delivery"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            ("threshold", "delivered"),
            ("extra_usage_trap", "delivered")
        ]
    );
}

#[test]
fn no_notification_server_is_a_warning_and_the_alert_is_recorded() {
    // A bus with nobody serving notifications.
    let s = at_91_percent();
    let bus = Bus::start();
    let mut c = s.home.command(&s.api, Some(&bus));
    c.args(["watch", "--once"]);
    let out = run(c);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no notification server is running"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(s.summary));
    let h = history(&s.home, &s.api);
    assert_eq!(h.len(), 2);
    assert!(
        h.iter().all(|r| r["delivery"] == "no notification server"),
        "{h:#?}"
    );

    // No session bus at all.
    let s = at_91_percent();
    let mut c = s.home.command(&s.api, None);
    c.args(["watch", "--once"]);
    let out = run(c);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no notification server is running"),
        "{stderr}"
    );
    assert!(history(&s.home, &s.api)
        .iter()
        .all(|r| r["delivery"] == "no notification server"));
}

#[test]
fn watch_offers_buttons_snoozes_on_click_and_stops_on_ctrl_c() {
    let s = at_91_percent();
    let bus = Bus::start();
    let recorder = Recorder::serve(&bus, &["body", "actions"]);
    let mut c = s.home.command(&s.api, Some(&bus));
    c.args(["watch", "--interval", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();

    let got = recorder.wait_for(1, Duration::from_secs(30));
    let n = &got[0];
    assert_eq!(n.summary, s.summary);
    assert!(
        s.bodies().contains(&n.body),
        "{:?} not in {:#?}",
        n.body,
        s.bodies()
    );
    assert_eq!(
        n.actions,
        [
            "enable-extra-usage",
            "Enable Extra Usage",
            "snooze-1h",
            "Snooze 1 h",
            "open-settings",
            "Open settings"
        ]
    );

    // The user clicks "Snooze 1 h", once the watch listens for it: the settings file says so
    // within seconds.
    bus.wait_for_click_subscribers(1, Duration::from_secs(10));
    let clicked_at = Utc::now().timestamp_millis();
    recorder.click(n.id, "snooze-1h");
    let settings = s.home.headroom_home().join("settings.json");
    let start = Instant::now();
    let until = loop {
        let snoozed = std::fs::read_to_string(&settings)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["alerts"]["snoozed_until_ms"].as_i64());
        if let Some(until) = snoozed {
            break until;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no snooze written"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        (until - clicked_at - 3_600_000).abs() < 30_000,
        "snoozed until {until}, clicked at {clicked_at}"
    );

    // Ctrl-C: a clean stop, exit code 0.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "watch did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert!(stdout.contains("Notifications snoozed until"), "{stdout}");
    assert!(stderr.contains("headroom watch: stopped"), "{stderr}");
    assert_eq!(recorder.received().len(), 1);
}

/// With `HEADROOM_NO_BROWSER` set, a click on "Enable Extra Usage" in `headroom watch`'s
/// notification prints the address and opens nothing (the desktop's handler, `xdg-open` here,
/// is a script that records being run).
#[cfg(unix)]
#[test]
fn watch_opens_nothing_on_a_click_with_no_browser_set() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    let s = at_91_percent();
    let bus = Bus::start();
    let recorder = Recorder::serve(&bus, &["body", "actions"]);
    let handlers = s.home.dir.path().join("bin");
    std::fs::create_dir_all(&handlers).unwrap();
    let opened = s.home.dir.path().join("opened");
    for name in ["xdg-open", "open"] {
        let script = handlers.join(name);
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$@\" >> '{}'\n", opened.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = std::env::join_paths(std::iter::once(handlers.clone()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let mut c = s.home.command(&s.api, Some(&bus));
    c.env("PATH", path)
        .env("HEADROOM_NO_BROWSER", "1")
        .args(["watch", "--interval", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let n = recorder.wait_for(1, Duration::from_secs(30))[0].clone();
    bus.wait_for_click_subscribers(1, Duration::from_secs(10));
    recorder.click(n.id, "enable-extra-usage");
    let deadline = Instant::now() + Duration::from_secs(15);
    let said = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("Turn on Extra Usage at") => break line,
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                panic!("the click was not answered ({e})");
            }
        }
    };
    // The handler would have been started right after the line; give it time to write.
    std::thread::sleep(Duration::from_secs(1));
    let _ = child.kill();
    let _ = child.wait();
    assert!(said.contains("https://claude.ai/settings/usage"), "{said}");
    assert!(
        !opened.exists(),
        "opened with HEADROOM_NO_BROWSER set: {}",
        std::fs::read_to_string(&opened).unwrap_or_default()
    );
}
