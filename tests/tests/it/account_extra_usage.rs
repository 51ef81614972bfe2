//! `headroom extra-usage enable` end to end against a loopback server that reports Extra Usage
//! off and flips it on after a few requests (the user switching it on at claude.ai), the cap
//! recorded and compared, bad caps refused before anything is saved, Ctrl-C and the timeout.
//!
//! The watch polls at most once a minute against Anthropic; against this loopback server the
//! tests lower that floor with `HEADROOM_TEST_POLL_FLOOR_MS`, which Headroom honours only when
//! every account address is on loopback.

use std::time::{Duration, Instant};

use headroom_tests::account::*;
use serde_json::Value;

/// Off (`disabled.json`) for the first `off_for` requests, then on with a $50 cap.
fn flipping_server(off_for: usize) -> Server {
    Server::start(move |r, i| {
        if r.path != "/api/oauth/usage" {
            Response::not_found()
        } else if i < off_for {
            Response::json(200, fixture("disabled.json"))
        } else {
            Response::json(200, fixture("legacy_only.json"))
        }
    })
}

fn enable(home: &Home, server: &Server, args: &[&str]) -> std::process::Command {
    let mut c = home.command(Some(&server.base));
    c.env("HEADROOM_TEST_POLL_FLOOR_MS", "200")
        .args(["extra-usage", "enable", "--browser"])
        .args(args);
    c
}

fn settings(home: &Home) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(home.headroom_home().join("settings.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn enable_waits_until_the_account_reports_it_on_and_warns_about_a_different_cap() {
    let server = flipping_server(3);
    let home = Home::new();
    let out = run(enable(&home, &server, &["--cap", "40", "--timeout", "2m"]));
    let text = stdout(&out);
    assert!(
        text.contains("Recorded your monthly cap: $40.00."),
        "{text}"
    );
    assert!(
        text.contains("Open https://claude.ai/settings/usage and turn on Extra Usage and set its monthly spending cap to $40.00."),
        "{text}"
    );
    assert!(
        text.contains("Extra Usage is on: on, monthly cap $50.00, $12.34 spent this month"),
        "{text}"
    );
    assert!(
        text.contains("warning: the account's monthly cap is $50.00 but you chose $40.00"),
        "{text}"
    );
    assert_eq!(
        server.count("/api/oauth/usage"),
        4,
        "off three times, then on"
    );
    assert_eq!(settings(&home)["extra_usage"]["chosen_cap"], 40.0);

    // The state and the warning stay visible afterwards.
    let mut c = home.command(Some(&server.base));
    c.args(["extra-usage", "status", "--json"]);
    let j: Value = serde_json::from_slice(&run(c).stdout).unwrap();
    assert_eq!(j["chosen_cap"], 40.0);
    assert_eq!(j["extra_usage"]["enabled"], true);
    assert!(j["cap_mismatch"]
        .as_str()
        .unwrap()
        .contains("you chose $40.00"));
}

#[test]
fn enable_with_the_same_cap_says_on_without_a_warning() {
    let server = flipping_server(1);
    let home = Home::new();
    let out = run(enable(&home, &server, &["--cap", "$50"]));
    let text = stdout(&out);
    assert!(text.contains("Extra Usage is on:"), "{text}");
    assert!(!text.contains("warning"), "{text}");
}

#[test]
fn enable_when_already_on_opens_nothing() {
    let server = flipping_server(0);
    let home = Home::new();
    let out = run(enable(&home, &server, &["--cap", "50"]));
    let text = stdout(&out);
    assert!(text.contains("Extra Usage is already on"), "{text}");
    assert!(
        !text.contains("claude.ai/settings/usage and turn on"),
        "{text}"
    );
    assert_eq!(server.count("/api/oauth/usage"), 1);
}

#[test]
fn bad_caps_exit_2_and_save_nothing() {
    let server = flipping_server(0);
    let home = Home::new();
    for (cap, says) in [
        ("-5", "more than zero"),
        ("abc", "is not an amount"),
        ("1e9", "is not an amount"),
        ("", "enter an amount"),
        ("0", "more than zero"),
        ("12.345", "two decimals"),
        ("1000000", "at most 100,000.00"),
        // Audit N3: a comma is a thousands separator only; `12,50` is not 1,250.00.
        ("12,50", "use a dot for cents: 12.50"),
    ] {
        let out = output(enable(&home, &server, &["--cap", cap]));
        assert_eq!(out.status.code(), Some(2), "{cap:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("invalid --cap"), "{cap:?}: {err}");
        assert!(err.contains(says), "{cap:?}: {err}");
        assert!(stdout(&out).is_empty(), "{cap:?}: {}", stdout(&out));
    }
    assert!(
        !home.headroom_home().join("settings.json").exists(),
        "nothing saved"
    );
    assert_eq!(server.count("/api/oauth/usage"), 0, "nothing asked");

    let out = output(enable(&home, &server, &["--timeout", "forever"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ctrl_c_ends_the_wait_at_once() {
    let server = flipping_server(usize::MAX);
    let home = Home::new();
    let mut c = enable(&home, &server, &["--cap", "25"]);
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.count("/api/oauth/usage") < 3 {
        assert!(Instant::now() < deadline, "the watch polls");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stdout(&out).contains("Stopped waiting"), "{}", stdout(&out));
    assert_eq!(
        settings(&home)["extra_usage"]["chosen_cap"],
        25.0,
        "the cap stays recorded"
    );
}

#[test]
fn gives_up_after_the_timeout() {
    let server = flipping_server(usize::MAX);
    let home = Home::new();
    let started = Instant::now();
    let out = output(enable(&home, &server, &["--timeout", "2s"]));
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("still reports Extra Usage off"),
        "{}",
        stderr(&out)
    );
    assert!(server.count("/api/oauth/usage") >= 2);
}

#[test]
fn without_an_account_source_it_says_how_to_connect_one() {
    let server = flipping_server(0);
    let home = Home::bare();
    let out = output(enable(&home, &server, &[]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("https://claude.ai/settings/usage"),
        "the page is still offered"
    );
    assert!(
        stderr(&out).contains("cannot see your account"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.count("/api/oauth/usage"), 0);
}

#[test]
fn the_trap_is_pointed_out() {
    let server = Server::fixed(
        "/api/oauth/usage",
        Response::json(200, fixture("disabled.json")),
    );
    let home = Home::new();
    let mut c = home.command(Some(&server.base));
    c.args(["extra-usage"]);
    let text = stdout(&run(c));
    // The account's reason in words, never its code.
    assert!(
        text.contains("Extra Usage: off (your prepaid credit is used up)"),
        "{text}"
    );
    assert!(!text.contains("out_of_credits"), "{text}");
    assert!(
        text.contains("Session is at 93 % and Extra Usage is off"),
        "{text}"
    );
    assert!(
        text.contains("will not be used until Extra Usage is turned on"),
        "{text}"
    );
}

/// `headroom status` and `headroom extra-usage status` point out the trap by the same
/// settings the notification honours: `alerts.trap_percent` and `alerts.extra_usage_trap`.
#[test]
fn the_trap_follows_the_alert_settings() {
    let body = fixture("disabled.json").replace(r#""utilization": 93.0"#, r#""utilization": 85.0"#);
    assert!(body.contains("85.0"), "the fixture changed: {body}");
    let server = Server::fixed("/api/oauth/usage", Response::json(200, body));
    let home = Home::new();
    std::fs::create_dir_all(home.headroom_home()).unwrap();
    let warning = "warning: Session is at 85 % and Extra Usage is off";
    let both = |alerts: Value| {
        std::fs::write(
            home.headroom_home().join("settings.json"),
            serde_json::json!({ "alerts": alerts }).to_string(),
        )
        .unwrap();
        let mut c = home.command(Some(&server.base));
        c.arg("status");
        let status = stdout(&run(c));
        let mut c = home.command(Some(&server.base));
        c.args(["extra-usage", "status", "--json"]);
        let json: Value = serde_json::from_slice(&run(c).stdout).unwrap();
        (status, json["trap"].clone())
    };

    let (status, trap) = both(serde_json::json!({ "trap_percent": 80 }));
    assert!(status.contains(warning), "{status}");
    assert!(
        trap.as_str()
            .is_some_and(|t| t.starts_with("Session is at 85 % and Extra Usage is off")),
        "{trap}"
    );

    // The default, 90 %: not yet.
    let (status, trap) = both(serde_json::json!({}));
    assert!(!status.contains("Extra Usage is off:"), "{status}");
    assert_eq!(trap, Value::Null);

    // Switched off: never.
    let (status, trap) = both(serde_json::json!({ "trap_percent": 80, "extra_usage_trap": false }));
    assert!(!status.contains("Extra Usage is off:"), "{status}");
    assert_eq!(trap, Value::Null);
}
