//! `headroom extra-usage enable | cap | disable | history` end to end: the real binary against
//! a loopback server that plays the account (`headroom_tests::account::extra_usage`). Each case checks the
//! output, the exit code and every request the server saw (method, path, headers, body), and
//! that nothing else was requested: only `PUT overage_spend_limit` and `POST
//! setup_overage_billing` are ever written, never prepaid credits or auto-reload.
//!
//! Over 600 lines: one case per answer the account can give, each asserting every request;
//! they share the account server's setup, which would otherwise be repeated per file.

use std::process::Stdio;
use std::time::{Duration, Instant};

use headroom_core::ledger::Ledger;

use headroom_tests::account::extra_usage::{
    account_server, overage_path, setup_path, user_facing, Account, ORG,
};
use headroom_tests::account::*;
use serde_json::{json, Value};

const USAGE: &str = "/api/oauth/usage";

fn home() -> Home {
    let home = Home::new();
    home.write_account_file(ORG, None);
    home
}

fn cmd(home: &Home, server: &Server, args: &[&str]) -> std::process::Command {
    let mut c = home.command(Some(&server.base));
    c.arg("extra-usage").args(args);
    c
}

/// Runs, checks that no secret is in the output, returns (exit code, stdout, stderr).
fn go(c: std::process::Command) -> (i32, String, String) {
    let out = output(c);
    let (o, e) = (stdout(&out), stderr(&out));
    for secret in [TOKEN, REFRESH_TOKEN] {
        assert!(
            !o.contains(secret) && !e.contains(secret),
            "a secret in the output:\n{o}\n{e}"
        );
    }
    (out.status.code().unwrap_or(-1), o, e)
}

/// Method and path of every request, in order.
fn seen(server: &Server) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn get(path: &str) -> String {
    format!("GET {path}")
}
fn put() -> String {
    format!("PUT {}", overage_path(ORG))
}
fn post_setup() -> String {
    format!("POST {}", setup_path(ORG))
}
/// The read-back after a write: the usage response, then the setting itself.
fn read_back() -> [String; 2] {
    [get(USAGE), get(&overage_path(ORG))]
}

/// Every request carries the login; writes also the headers Claude Code sends and JSON.
fn check_headers(server: &Server) {
    for r in server.requests() {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{r:?}"
        );
        assert_eq!(
            r.header("anthropic-beta"),
            Some("oauth-2025-04-20"),
            "{r:?}"
        );
        if r.path.starts_with("/api/oauth/organizations/") {
            assert_eq!(r.header("anthropic-version"), Some("2023-06-01"), "{r:?}");
            assert_eq!(r.header("x-organization-uuid"), Some(ORG), "{r:?}");
        }
        if r.method != "GET" {
            assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
        }
    }
}

/// The JSON bodies of the writes, in order.
fn write_bodies(server: &Server) -> Vec<Value> {
    server
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

/// "… · confirmed by your account at HH:MM" (the core's own clock format, same day).
fn confirmed_line<'a>(text: &'a str, head: &str) -> &'a str {
    let line = text
        .lines()
        .find(|l| l.starts_with(head))
        .unwrap_or_else(|| panic!("no line starting {head:?} in:\n{text}"));
    let time = line
        .strip_prefix(&format!("{head} · confirmed by your account at "))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        time.len() == 5
            && time.as_bytes()[2] == b':'
            && time.replace(':', "").bytes().all(|b| b.is_ascii_digit()),
        "{line}"
    );
    line
}

const BROWSER: &str = "https://claude.ai/settings/usage";

#[test]
fn enable_with_a_cap_turns_it_on_and_the_account_confirms_it() {
    let (server, account) = account_server(Account::default());
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Turn on Extra Usage with a monthly cap of $50.00? Usage past your plan's limits is billed to your payment method at API rates, up to $50.00 a month."), "{out}");
    confirmed_line(&out, "Extra Usage is on · cap $50.00");
    let mut expected = vec![get(USAGE), put()];
    expected.extend(read_back());
    assert_eq!(seen(&server), expected);
    assert_eq!(
        write_bodies(&server),
        [json!({"is_enabled": true, "monthly_credit_limit": 5000, "currency": "USD"})]
    );
    check_headers(&server);
    assert!(account.lock().unwrap().enabled);
    // The cap asked for is the one compared from now on.
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(home.headroom_home().join("settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(settings["extra_usage"]["chosen_cap"], 50.0);
}

#[test]
fn an_account_never_set_up_is_set_up_first_then_turned_on() {
    let (server, account) = account_server(Account {
        provisioned: false,
        ..Account::default()
    });
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "30", "--yes"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Headroom sets it up first"), "{out}");
    confirmed_line(&out, "Extra Usage is on · cap $30.00");
    let mut expected = vec![get(USAGE), post_setup(), put()];
    expected.extend(read_back());
    assert_eq!(seen(&server), expected);
    assert_eq!(
        write_bodies(&server),
        [
            json!({"org_monthly_spend_limit": 3000}),
            json!({"is_enabled": true, "monthly_credit_limit": 3000, "currency": "USD"})
        ]
    );
    check_headers(&server);
    assert!(account.lock().unwrap().provisioned);
}

#[test]
fn when_only_the_write_says_it_was_never_set_up_it_is_set_up_and_written_again() {
    let (server, _account) = account_server(Account {
        provisioned: false,
        hide_not_provisioned: true,
        ..Account::default()
    });
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 0, "{out}\n{err}");
    confirmed_line(&out, "Extra Usage is on · cap $50.00");
    let mut expected = vec![get(USAGE), put(), post_setup(), put()];
    expected.extend(read_back());
    assert_eq!(seen(&server), expected);
    check_headers(&server);
}

#[test]
fn cap_changes_the_cap_and_no_cap_needs_the_amount_typed_again() {
    let (server, account) = account_server(Account {
        enabled: true,
        cap_cents: Some(5000),
        ..Account::default()
    });
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["cap", "75", "--yes"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("Change Extra Usage's monthly cap from $50.00 to $75.00?"),
        "{out}"
    );
    confirmed_line(&out, "Extra Usage is on · cap $75.00");

    // No cap: `--yes` alone writes nothing and says what to add.
    let before = server.requests().len();
    let (code, out, _) = go(cmd(&home, &server, &["cap", "--no-cap", "--yes"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(r#"--yes --confirm-amount "no cap""#), "{out}");
    assert!(server.requests()[before..]
        .iter()
        .all(|r| r.method == "GET"));

    let (code, out, err) = go(cmd(
        &home,
        &server,
        &["cap", "--no-cap", "--yes", "--confirm-amount", "no cap"],
    ));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("with no monthly limit"), "{out}");
    confirmed_line(&out, "Extra Usage is on · no monthly cap");
    assert_eq!(
        write_bodies(&server),
        [
            json!({"is_enabled": true, "monthly_credit_limit": 7500, "currency": "USD"}),
            json!({"is_enabled": true, "monthly_credit_limit": null, "currency": "USD"})
        ]
    );
    assert_eq!(account.lock().unwrap().cap_cents, None);
    check_headers(&server);
}

#[test]
fn a_cap_over_a_thousand_dollars_needs_the_amount_again() {
    let (server, _account) = account_server(Account::default());
    let home = home();
    let (code, out, _) = go(cmd(&home, &server, &["enable", "--cap", "1500", "--yes"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(r#"--confirm-amount "1500.00""#), "{out}");
    let (code, _, err) = go(cmd(
        &home,
        &server,
        &[
            "enable",
            "--cap",
            "1500",
            "--yes",
            "--confirm-amount",
            "1400",
        ],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not repeat the amount"), "{err}");
    assert!(write_bodies(&server).is_empty(), "nothing written yet");
    let (code, out, err) = go(cmd(
        &home,
        &server,
        &[
            "enable",
            "--cap",
            "1500",
            "--yes",
            "--confirm-amount",
            "$1,500",
        ],
    ));
    assert_eq!(code, 0, "{out}\n{err}");
    confirmed_line(&out, "Extra Usage is on · cap $1,500.00");
    assert_eq!(
        write_bodies(&server),
        [json!({"is_enabled": true, "monthly_credit_limit": 150000, "currency": "USD"})]
    );
}

#[test]
fn disable_turns_it_off() {
    let (server, account) = account_server(Account {
        enabled: true,
        cap_cents: Some(5000),
        ..Account::default()
    });
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["disable", "--yes"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Turn off Extra Usage?"), "{out}");
    confirmed_line(&out, "Extra Usage is off");
    let mut expected = vec![get(USAGE), put()];
    expected.extend(read_back());
    assert_eq!(seen(&server), expected);
    assert_eq!(write_bodies(&server), [json!({"is_enabled": false})]);
    assert!(!account.lock().unwrap().enabled);
    check_headers(&server);
}

#[test]
fn without_a_terminal_or_yes_nothing_is_written_and_it_exits_at_once() {
    let (server, _account) = account_server(Account::default());
    let home = home();
    headroom_bin();
    for args in [&["enable", "--cap", "50"][..], &["cap", "20"], &["disable"]] {
        let started = Instant::now();
        let (code, out, _) = go(cmd(&home, &server, args));
        assert!(started.elapsed() < Duration::from_secs(15), "it waited");
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("Nothing was changed: no terminal to ask on. To confirm, run the command again with --yes."), "{out}");
    }
    assert!(server
        .requests()
        .iter()
        .all(|r| r.method == "GET" && r.path == USAGE));
}

#[test]
fn a_refusal_is_told_in_the_servers_words_with_the_browser_flow() {
    let (server, _account) = account_server(Account {
        put: Some(user_facing(
            422,
            "Your payment method was declined. Update it in Settings > Billing.",
        )),
        ..Account::default()
    });
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "headroom: Your payment method was declined. Update it in Settings > Billing."
        ),
        "{err}"
    );
    assert!(out.contains(BROWSER) && out.contains("--browser"), "{out}");
    assert_eq!(seen(&server), [get(USAGE), put()]);
    check_headers(&server);

    let (code, history, _) = go(cmd(&home, &server, &["history", "--json"]));
    assert_eq!(code, 0);
    let h: Value = serde_json::from_str(&history).unwrap();
    assert_eq!(h["writes"][0]["outcome"], "failed");
    assert_eq!(h["writes"][0]["asked"], "turn on, cap $50.00");
    assert_eq!(
        h["writes"][0]["error"],
        "Your payment method was declined. Update it in Settings > Billing."
    );
}

#[test]
fn a_team_member_is_told_the_admin_decides() {
    // The server says so.
    let (server, _account) = account_server(Account {
        put: Some(Response::json(
            403,
            r#"{"type":"error","error":{"type":"permission_error","message":"forbidden"}}"#,
        )),
        ..Account::default()
    });
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("Team or Enterprise plan the organization's admin decides"),
        "{err}"
    );
    assert!(out.contains(BROWSER), "{out}");
    assert_eq!(seen(&server), [get(USAGE), put()]);

    // Claude Code's files say so: nothing is sent.
    let (server, _account) = account_server(Account::default());
    let home = Home::new();
    home.write_credentials_for_plan(now_ms() + 3_600_000, &["user:profile"], "team");
    home.write_account_file(ORG, Some("user"));
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("your organization's admin's decision"),
        "{err}"
    );
    assert!(out.contains(BROWSER), "{out}");
    assert!(server.requests().is_empty(), "{:?}", seen(&server));
}

#[test]
fn not_found_and_server_errors_fall_back_to_the_browser() {
    for (answer, says) in [
        (
            Response::not_found(),
            "the undocumented endpoint may have changed",
        ),
        (
            Response::json(500, r#"{"type":"error","error":{"type":"api_error"}}"#),
            "Anthropic's server failed (HTTP 500)",
        ),
        (
            Response::json(409, r#"{"type":"error","error":{"type":"conflict"}}"#),
            "Anthropic refused the change (HTTP 409)",
        ),
        (
            Response::html(200, "<html><body>Log in</body></html>").with_header("x", "y"),
            "",
        ),
    ] {
        let status = answer.status;
        let (server, _account) = account_server(Account {
            put: Some(answer),
            ..Account::default()
        });
        let home = home();
        let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
        if status == 200 {
            // A 2xx write is accepted whatever its body; the read-back decides.
            assert_eq!(code, 1, "the account still says off:\n{out}\n{err}");
            assert!(err.contains("still reports it off"), "{err}");
            continue;
        }
        assert_eq!(code, 1, "{status}");
        assert!(err.contains(says), "{status}: {err}");
        assert!(out.contains(BROWSER), "{out}");
        assert_eq!(seen(&server), [get(USAGE), put()], "{status}");
    }
}

#[test]
fn a_429_starts_the_shared_cool_down_and_says_when_to_try_again() {
    let (server, _account) = account_server(Account {
        put: Some(
            Response::json(
                429,
                r#"{"type":"error","error":{"type":"rate_limit_error"}}"#,
            )
            .with_header("retry-after", "600"),
        ),
        ..Account::default()
    });
    let home = home();
    let from = now_ms();
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    let to = now_ms();
    assert_eq!(code, 1, "{out}");
    let times = clock_texts(from + 600_000, from, to);
    let times_late = clock_texts(to + 600_000, from, to);
    assert!(
        times
            .iter()
            .chain(&times_late)
            .any(|t| err.contains(&format!("try again after {t}"))),
        "{err} / {times:?}"
    );
    assert_eq!(seen(&server), [get(USAGE), put()]);

    // No retry loop, and while the cool-down lasts nothing at all is sent.
    let (code, _, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 1);
    assert!(err.contains("try again after"), "{err}");
    assert_eq!(server.requests().len(), 2, "{:?}", seen(&server));
}

#[test]
fn an_answer_slower_than_the_timeout_is_a_failure_that_may_have_changed_the_account() {
    let (server, _account) = account_server(Account {
        put: Some(Response::json(200, "{}").with_delay(Duration::from_secs(40))),
        ..Account::default()
    });
    let home = home();
    headroom_bin();
    let started = Instant::now();
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert!(
        started.elapsed() < Duration::from_secs(35),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(code, 1);
    assert!(err.contains("did not answer within 20 s"), "{err}");
    assert!(out.contains("Your account may have changed"), "{out}");
    assert!(out.contains(BROWSER), "{out}");
    assert_eq!(seen(&server), [get(USAGE), put()]);
}

#[test]
fn an_account_reporting_another_cap_after_the_write_is_said_plainly() {
    let (server, _account) = account_server(Account {
        reports_cap_cents: Some(Some(2000)),
        ..Account::default()
    });
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 1, "{out}");
    confirmed_line(&out, "Extra Usage is on · cap $20.00");
    assert!(
        err.contains("you asked for a monthly cap of $50.00, but the account reports $20.00"),
        "{err}"
    );
    let mut expected = vec![get(USAGE), put()];
    expected.extend(read_back());
    assert_eq!(seen(&server), expected);

    // The difference stays visible.
    let (_, status, _) = go(cmd(&home, &server, &["status"]));
    assert!(
        status.contains("the account's monthly cap is $20.00 but you chose $50.00"),
        "{status}"
    );
    let (_, history, _) = go(cmd(&home, &server, &["history"]));
    assert!(history.contains("differs"), "{history}");
}

#[test]
fn without_the_organization_nothing_is_written_and_the_profile_can_name_it() {
    let (server, account) = account_server(Account::default());
    let home = Home::new(); // no .claude.json
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 1);
    assert!(err.contains("cannot tell which organization"), "{err}");
    assert!(out.contains(BROWSER), "{out}");
    assert_eq!(seen(&server), [get(USAGE), get("/api/oauth/profile")]);

    account.lock().unwrap().profile = Some(Response::json(
        200,
        json!({"account": {"uuid": "u"}, "organization": {"uuid": ORG, "organization_type": "claude_max"}}).to_string(),
    ));
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 0, "{out}\n{err}");
    // The usage was read a moment ago (no poll is due): the profile, then the write.
    let mut expected = vec![
        get(USAGE),
        get("/api/oauth/profile"),
        get("/api/oauth/profile"),
        put(),
    ];
    expected.extend(read_back());
    assert_eq!(seen(&server), expected);
    check_headers(&server);
}

#[test]
fn bad_caps_exit_2_and_send_nothing() {
    let (server, _account) = account_server(Account::default());
    let home = home();
    for bad in ["-5", "abc", "1e9", "0.001", "", "0", "100001"] {
        for args in [
            vec!["enable", "--cap", bad, "--yes"],
            vec!["cap", bad, "--yes"],
        ] {
            let (code, _, err) = go(cmd(&home, &server, &args));
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(err.contains("invalid cap"), "{err}");
        }
    }
    assert!(server.requests().is_empty());
}

#[test]
fn history_lists_every_write_and_no_secret_is_kept_anywhere() {
    let (server, _account) = account_server(Account::default());
    let home = home();
    let mut c = cmd(&home, &server, &["enable", "--cap", "50", "--yes"]);
    c.env("HEADROOM_LOG", "debug");
    let (code, _, log) = go(c);
    assert_eq!(code, 0);
    assert!(
        log.contains("account request"),
        "debug logging is on: {log}"
    );
    let (code, _, _) = go(cmd(&home, &server, &["disable", "--yes"]));
    assert_eq!(code, 0);

    let (code, table, _) = go(cmd(&home, &server, &["history"]));
    assert_eq!(code, 0);
    assert!(
        table.contains("turn on, cap $50.00") && table.contains("turn off"),
        "{table}"
    );
    assert!(
        table.contains("Extra Usage is on · cap $50.00 · confirmed by your account at"),
        "{table}"
    );
    let (_, json_text, _) = go(cmd(&home, &server, &["history", "--json"]));
    let h: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(h["writes"].as_array().unwrap().len(), 2);
    assert_eq!(h["writes"][0]["outcome"], "verified");
    assert_eq!(
        h["writes"][1]["requests"],
        "PUT .../overage_spend_limit, GET /api/oauth/usage, GET .../overage_spend_limit"
    );
    for text in [&table, &json_text] {
        assert!(!text.contains(ORG), "the organization is not kept: {text}");
    }
    for entry in std::fs::read_dir(home.headroom_home()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(TOKEN) && !text.contains(REFRESH_TOKEN),
            "a secret in a file"
        );
    }
}

#[test]
fn the_browser_flow_is_still_there() {
    let (server, _account) = account_server(Account {
        enabled: true,
        cap_cents: Some(5000),
        ..Account::default()
    });
    let home = home();
    let (code, out, _) = go(cmd(&home, &server, &["enable", "--browser", "--cap", "50"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Extra Usage is already on"), "{out}");
    let (code, out, _) = go(cmd(&home, &server, &["disable", "--browser"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("Open https://claude.ai/settings/usage and turn off Extra Usage."),
        "{out}"
    );
    assert!(server.requests().iter().all(|r| r.method == "GET"));
}

/// Holds the ledger's write lock while `args` runs, until the command has said that it is
/// waiting for it ("trying again", after the 5 s busy timeout): however late the child starts,
/// it meets the lock.
fn run_while_the_ledger_is_busy(
    home: &Home,
    server: &Server,
    args: &[&str],
) -> (i32, String, String) {
    use std::io::{BufRead, BufReader, Read};
    go(cmd(home, server, &["history"])); // the ledger exists, at the current schema
    let mut writer = Ledger::open(&home.headroom_home().join("ledger.sqlite3")).unwrap();
    let batch = writer.batch().unwrap();
    let mut c = cmd(home, server, args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdout_pipe = child.stdout.take().unwrap();
    let stdout_text = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout_pipe.read_to_string(&mut text);
        text
    });
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stderr_pipe = child.stderr.take().unwrap();
    let stderr_text = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
            let _ = lines_tx.send(line);
        }
        text
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("trying again") => break,
            Ok(_) => {}
            // Ended, or never said it: the caller's assertions say what was missing.
            Err(_) => break,
        }
    }
    drop(batch);
    let status = child.wait().unwrap();
    (
        status.code().unwrap_or(-1),
        stdout_text.join().unwrap(),
        stderr_text.join().unwrap(),
    )
}

#[test]
fn a_busy_ledger_is_waited_for_briefly_not_a_failure() {
    let (server, _account) = account_server(Account::default());
    let home = home();
    let (code, out, err) =
        run_while_the_ledger_is_busy(&home, &server, &["enable", "--cap", "50", "--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("trying again"), "{err}");
    confirmed_line(&out, "Extra Usage is on · cap $50.00");
}

#[test]
fn the_browser_flow_waits_for_a_busy_ledger_too() {
    let (server, _account) = account_server(Account {
        enabled: true,
        cap_cents: Some(5000),
        ..Account::default()
    });
    let home = home();
    let (code, out, err) =
        run_while_the_ledger_is_busy(&home, &server, &["enable", "--browser", "--cap", "50"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("trying again"), "{err}");
    assert!(out.contains("Extra Usage is already on"), "{out}");
}

/// Runs `c` on a pseudo-terminal (util-linux's `script`, in every Debian install) with `typed`
/// as what the user types; returns (exit code, what the terminal showed).
fn on_a_terminal(c: std::process::Command, typed: &str) -> (i32, String) {
    fn quoted(s: &std::ffi::OsStr) -> String {
        format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
    }
    let line = std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(quoted)
        .collect::<Vec<_>>()
        .join(" ");
    let mut s = std::process::Command::new("script");
    s.args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The command's own environment, and nothing else of the test's, as `cmd` builds it.
    s.env_clear();
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            s.env(k, v);
        }
    }
    let mut child = s
        .spawn()
        .expect("script (util-linux) runs the command on a terminal");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(typed.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    // A prompt ends where the user's line would start; the typed text was echoed already
    // (it reached the terminal before the question), so a line break stands in for it.
    let shown = String::from_utf8_lossy(&out.stdout)
        .replace("\r\n", "\n")
        .replace(": Extra Usage", ":\nExtra Usage");
    for secret in [TOKEN, REFRESH_TOKEN] {
        assert!(
            !shown.contains(secret),
            "a secret on the terminal:\n{shown}"
        );
    }
    (out.status.code().unwrap_or(-1), shown)
}

#[test]
fn on_a_terminal_it_asks_and_only_yes_or_the_amount_itself_writes() {
    let (server, account) = account_server(Account::default());
    let home = home();
    headroom_bin();

    // Anything but yes: nothing written.
    let (code, shown) = on_a_terminal(cmd(&home, &server, &["enable", "--cap", "50"]), "no\n");
    assert!(shown.contains("Type yes to confirm: "), "{shown}");
    assert_eq!(code, 1, "{shown}");
    assert!(write_bodies(&server).is_empty(), "{shown}");

    // Above $1,000 the amount itself, not yes; a different one writes nothing.
    let (code, shown) = on_a_terminal(cmd(&home, &server, &["enable", "--cap", "1500"]), "yes\n");
    assert!(
        shown.contains("That is not the amount; nothing was changed."),
        "{shown}"
    );
    assert_ne!(code, 0, "{shown}");
    assert!(write_bodies(&server).is_empty(), "{shown}");

    // Yes, on a terminal, writes and reads back.
    let (code, shown) = on_a_terminal(cmd(&home, &server, &["enable", "--cap", "50"]), "yes\n");
    assert_eq!(code, 0, "{shown}");
    confirmed_line(&shown, "Extra Usage is on · cap $50.00");
    assert_eq!(
        write_bodies(&server),
        [json!({"is_enabled": true, "monthly_credit_limit": 5000, "currency": "USD"})]
    );
    assert!(account.lock().unwrap().enabled);

    // And the amount typed again, in the user's own way of writing it.
    let (code, shown) = on_a_terminal(cmd(&home, &server, &["cap", "1500"]), "$1,500\n");
    assert_eq!(code, 0, "{shown}");
    confirmed_line(&shown, "Extra Usage is on · cap $1,500.00");
    assert_eq!(write_bodies(&server).len(), 2, "{shown}");
}
