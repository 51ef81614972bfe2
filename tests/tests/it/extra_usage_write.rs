//! `headroom extra-usage enable | cap | disable | history` end to end: the real binary against
//! a loopback server that plays the account (`headroom_tests::account::extra_usage`). Each case checks the
//! output, the exit code and every request the server saw (method, path, headers, body), and
//! that nothing else was requested: only `PUT overage_spend_limit` and `POST
//! setup_overage_billing` are ever written, never prepaid credits or auto-reload.
//!
//! A write is the core's one flow: a reading before the question, a second reading just before
//! the write, the write, and a reading that settles the outcome. So a plain write reads
//! `GET usage, GET usage, PUT, GET usage`.
//!
//! Over 600 lines: one case per answer the account can give, each asserting every request;
//! they share the account server's setup, which would otherwise be repeated per file.

use std::process::Stdio;
use std::time::{Duration, Instant};

use headroom_core::ledger::Ledger;

use headroom_tests::account::extra_usage::{
    account_server, overage_path, setup_path, user_facing, Account, AfterPut, ORG,
};
use headroom_tests::account::*;
use serde_json::{json, Value};

const USAGE: &str = "/api/oauth/usage";

/// A user whose Claude Code account file names the organization, and who allowed scripts
/// (no terminal, `--yes`) caps up to 2,000 (`allow-scripts --max-cap 2000`).
fn home() -> Home {
    let home = Home::new();
    home.write_account_file(ORG, None);
    allow_scripts(&home, Some(2000.0));
    home
}

fn allow_scripts(home: &Home, max: Option<f64>) {
    std::fs::create_dir_all(home.headroom_home()).unwrap();
    std::fs::write(
        home.headroom_home().join("settings.json"),
        json!({"version": 1, "extra_usage": {"scripts_max_cap": max}}).to_string(),
    )
    .unwrap();
}

/// The question names the account and organization billed (audit N10).
const WHO: &str = "user@example.com (organization “Acme”)";

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
/// A whole write around `writes`: the reading for the question, the reading just before the
/// write, the writes, the reading that settles the outcome.
fn flow(writes: &[String]) -> Vec<String> {
    let mut all = vec![get(USAGE), get(USAGE)];
    all.extend_from_slice(writes);
    all.push(get(USAGE));
    all
}

fn history_json(home: &Home, server: &Server) -> Value {
    let (code, text, err) = go(cmd(home, server, &["history", "--json"]));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&text).unwrap()
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
    assert!(out.contains(&format!("Turn on Extra Usage for {WHO} with a monthly cap of $50.00? Usage past your plan's limits is billed to the organization's payment method at API rates, up to $50.00 a month.")), "{out}");
    confirmed_line(&out, "Extra Usage is on · cap $50.00");
    assert_eq!(seen(&server), flow(&[put()]));
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
    let h = history_json(&home, &server);
    assert_eq!(h["writes"][0]["outcome"], "verified");
    assert_eq!(h["writes"][0]["organization"], "Acme");
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
    assert_eq!(seen(&server), flow(&[post_setup(), put()]));
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
    assert_eq!(seen(&server), flow(&[put(), post_setup(), put()]));
    check_headers(&server);
}

#[test]
fn cap_changes_the_cap_of_extra_usage_that_is_on() {
    let (server, account) = account_server(Account {
        enabled: true,
        cap_cents: Some(5000),
        ..Account::default()
    });
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["cap", "75", "--yes"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "Change the monthly cap of Extra Usage for {WHO} from $50.00 to $75.00?"
        )),
        "{out}"
    );
    confirmed_line(&out, "Extra Usage is on · cap $75.00");
    assert_eq!(
        write_bodies(&server),
        [json!({"is_enabled": true, "monthly_credit_limit": 7500, "currency": "USD"})]
    );
    assert_eq!(account.lock().unwrap().cap_cents, Some(7500));
    check_headers(&server);
}

/// Audit N1: with Extra Usage off, `cap 75` asked "Change the cap?" and sent
/// `is_enabled: true`, turning it back on. Changing the cap never turns it on.
#[test]
fn a_cap_change_while_it_is_off_is_refused_and_sends_nothing() {
    let (server, account) = account_server(Account {
        cap_cents: Some(5000),
        ..Account::default()
    });
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["cap", "75", "--yes"]));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("Extra Usage is off; `headroom extra-usage enable --cap 75.00` turns it on"),
        "{err}"
    );
    assert_eq!(seen(&server), [get(USAGE)]);
    assert!(!account.lock().unwrap().enabled);
}

/// Audit N1: the account was turned off in the browser after the question was asked; the
/// write went ahead from the old reading and turned it back on, reported as verified.
#[test]
fn an_account_changed_between_the_question_and_the_write_gets_nothing_written() {
    let (server, account) = account_server(Account {
        enabled: true,
        cap_cents: Some(5000),
        elsewhere: Some((1, |a| a.enabled = false)),
        ..Account::default()
    });
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["cap", "75", "--yes"]));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("from $50.00 to $75.00?"), "{out}");
    assert!(
        err.contains("Your account changed since the question (Extra Usage is now off (it was on)), so nothing was sent"),
        "{err}"
    );
    assert_eq!(seen(&server), [get(USAGE), get(USAGE)]);
    assert!(!account.lock().unwrap().enabled, "still off");
    let h = history_json(&home, &server);
    assert_eq!(h["writes"][0]["outcome"], "failed");

    // On a terminal the person is asked the new question, which the new reading makes a
    // refusal: a cap change while off.
    let (server, _account) = account_server(Account {
        enabled: true,
        cap_cents: Some(5000),
        elsewhere: Some((1, |a| a.enabled = false)),
        ..Account::default()
    });
    let (code, shown) = on_a_terminal(cmd(&home, &server, &["cap", "75"]), "yes\n");
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.contains("Your account changed since the question"),
        "{shown}"
    );
    assert!(
        shown.contains("Extra Usage is off; `headroom extra-usage enable --cap 75.00` turns it on"),
        "{shown}"
    );
    assert!(write_bodies(&server).is_empty(), "{shown}");
}

#[test]
fn a_cap_over_a_thousand_needs_the_amount_again_checked_as_written() {
    let (server, _account) = account_server(Account::default());
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "1500", "--yes"]));
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("type 1500.00 to confirm"), "{err}");
    // Audit N3: "1.500,00" and "15,00" are not 1500.00, however a parser might read them.
    for wrong in ["1400", "1.500,00", "15,00"] {
        let (code, _, err) = go(cmd(
            &home,
            &server,
            &[
                "enable",
                "--cap",
                "1500",
                "--yes",
                "--confirm-amount",
                wrong,
            ],
        ));
        assert_eq!(code, 1, "{wrong}: {err}");
        assert!(err.contains("is not the amount asked ($1,500.00)"), "{err}");
    }
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

/// Audit N13: `--confirm-amount` was ignored when no retype was needed, and `enable --yes`
/// took its amount from the settings.
#[test]
fn an_amount_given_again_is_always_checked_and_yes_needs_the_cap_on_the_command_line() {
    let (server, _account) = account_server(Account {
        enabled: true,
        cap_cents: Some(5000),
        ..Account::default()
    });
    let home = home();
    let (code, _, err) = go(cmd(
        &home,
        &server,
        &["cap", "75", "--yes", "--confirm-amount", "57"],
    ));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not the amount asked ($75.00)"), "{err}");
    let (code, _, err) = go(cmd(&home, &server, &["enable", "--yes"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("with --yes, name the cap"), "{err}");
    assert!(write_bodies(&server).is_empty());
}

/// Audit N4: without a terminal, the refusal spelled out the flags that bypass it, and an
/// agent's shell could turn on uncapped Extra Usage in two commands.
#[test]
fn scripts_write_only_within_the_users_own_limit_never_no_cap_and_never_from_an_agent() {
    let (server, _account) = account_server(Account::default());
    let home = home();
    headroom_bin();
    // No terminal, no --yes: nothing read, nothing written, no bypass taught.
    for args in [
        &["enable", "--cap", "50"][..],
        &["cap", "20"],
        &["disable"],
        &["enable", "--no-cap"],
    ] {
        let started = Instant::now();
        let (code, out, err) = go(cmd(&home, &server, args));
        assert!(started.elapsed() < Duration::from_secs(15), "it waited");
        assert_eq!(code, 1, "{out}");
        assert!(err.contains("there is no terminal to ask on. Run it in a terminal, or use Headroom's settings pane"), "{err}");
        assert!(
            !out.contains("--yes") && !err.contains("--yes") && !err.contains("--confirm-amount"),
            "{out}\n{err}"
        );
    }
    assert!(server.requests().is_empty(), "{:?}", seen(&server));
    // No cap is never a script's, whatever it types.
    let (code, _, err) = go(cmd(
        &home,
        &server,
        &["enable", "--no-cap", "--yes", "--confirm-amount", "no cap"],
    ));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Without a terminal, Headroom never sets \"no cap\""),
        "{err}"
    );
    // Above the user's limit for scripts: refused.
    let (code, _, err) = go(cmd(
        &home,
        &server,
        &[
            "enable",
            "--cap",
            "2500",
            "--yes",
            "--confirm-amount",
            "2500",
        ],
    ));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("only up to the $2,000.00 you allowed scripts"),
        "{err}"
    );
    // Without the user's opt-in: refused.
    allow_scripts(&home, None);
    let (code, _, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("only if you allowed scripts a maximum cap first"),
        "{err}"
    );
    // And the opt-in itself is not a script's to give.
    let (code, _, err) = go(cmd(
        &home,
        &server,
        &["allow-scripts", "--max-cap", "100000"],
    ));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("only from a terminal"), "{err}");
    assert!(write_bodies(&server).is_empty());
    // Inside Claude Code's shell nothing is written, even with the opt-in and --yes.
    allow_scripts(&home, Some(2000.0));
    let before = server.requests().len();
    let mut c = cmd(&home, &server, &["enable", "--cap", "50", "--yes"]);
    c.env("CLAUDECODE", "1");
    let (code, _, err) = go(c);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("from inside Claude Code's shell"), "{err}");
    assert_eq!(server.requests().len(), before, "nothing at all is sent");
    assert!(write_bodies(&server).is_empty());
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
    assert!(
        out.contains(&format!("Turn off Extra Usage for {WHO}?")),
        "{out}"
    );
    confirmed_line(&out, "Extra Usage is off");
    assert_eq!(seen(&server), flow(&[put()]));
    assert_eq!(write_bodies(&server), [json!({"is_enabled": false})]);
    assert!(!account.lock().unwrap().enabled);
    check_headers(&server);
}

/// Audit N9: the account's own currency, everywhere; none stated, nothing written.
#[test]
fn amounts_are_in_the_accounts_currency_and_an_unstated_one_stops_the_write() {
    let (server, _account) = account_server(Account {
        currency: Some("EUR"),
        ..Account::default()
    });
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("with a monthly cap of €50.00?"), "{out}");
    confirmed_line(&out, "Extra Usage is on · cap €50.00");
    assert_eq!(
        write_bodies(&server),
        [json!({"is_enabled": true, "monthly_credit_limit": 5000, "currency": "EUR"})]
    );
    let h = history_json(&home, &server);
    assert_eq!(h["writes"][0]["asked"], "turn on, cap €50.00");

    let (server, _account) = account_server(Account {
        currency: None,
        ..Account::default()
    });
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("did not state its currency"), "{err}");
    assert_eq!(seen(&server), [get(USAGE)]);
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
    assert_eq!(seen(&server), [get(USAGE), get(USAGE), put()]);
    check_headers(&server);

    let h = history_json(&home, &server);
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
    assert_eq!(seen(&server), [get(USAGE), get(USAGE), put()]);

    // Claude Code's files say so: nothing is sent.
    let (server, _account) = account_server(Account::default());
    let home = Home::new();
    allow_scripts(&home, Some(2000.0));
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
fn refusals_fall_back_to_the_browser_and_a_5xx_is_settled_by_reading_the_account() {
    for (answer, says) in [
        (
            Response::not_found(),
            "the undocumented endpoint may have changed",
        ),
        (
            Response::json(409, r#"{"type":"error","error":{"type":"conflict"}}"#),
            "Anthropic refused the change (HTTP 409)",
        ),
    ] {
        let status = answer.status;
        let (server, _account) = account_server(Account {
            put: Some(answer),
            ..Account::default()
        });
        let home = home();
        let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
        assert_eq!(code, 1, "{status}");
        assert!(err.contains(says), "{status}: {err}");
        assert!(out.contains(BROWSER), "{out}");
        assert_eq!(seen(&server), [get(USAGE), get(USAGE), put()], "{status}");
    }
    // A 500 may come after the origin applied the write (audit N2): the account is read
    // again and its answer reported (here: still off, so the change was not made).
    let (server, _account) = account_server(Account {
        put: Some(Response::json(
            500,
            r#"{"type":"error","error":{"type":"api_error"}}"#,
        )),
        ..Account::default()
    });
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("Anthropic's server failed (HTTP 500) after the change was sent, so it may or may not have been made; your account, read again, says:"), "{out}");
    confirmed_line(&out, "Extra Usage is off");
    assert!(err.contains("still reports it off"), "{err}");
    assert_eq!(seen(&server), flow(&[put()]));
    // A 200 whatever its body: the reading decides.
    let (server, _account) = account_server(Account {
        put: Some(Response::html(200, "<html><body>Log in</body></html>")),
        ..Account::default()
    });
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 1, "the account still says off:\n{out}\n{err}");
    assert!(err.contains("still reports it off"), "{err}");
}

/// Audit N2: a write the account applied was reported as not made when its answer was lost.
#[test]
fn a_lost_answer_after_the_account_applied_the_write_is_settled_by_a_reading() {
    for (after, lost) in [
        (AfterPut::CutOff, "The connection broke before Anthropic's answer was complete, so the change may or may not have been made"),
        (AfterPut::Status(502), "Anthropic's server failed (HTTP 502) after the change was sent, so it may or may not have been made"),
    ] {
        let (server, account) = account_server(Account {
            after_put: after,
            ..Account::default()
        });
        let home = home();
        let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
        assert_eq!(code, 0, "{after:?}\n{out}\n{err}");
        assert!(out.contains(&format!("{lost}; your account, read again, says:")), "{out}");
        confirmed_line(&out, "Extra Usage is on · cap $50.00");
        assert_eq!(seen(&server), flow(&[put()]), "{after:?}");
        assert!(account.lock().unwrap().enabled);
        let h = history_json(&home, &server);
        assert_eq!(h["writes"][0]["outcome"], "verified", "{after:?}");
        // Right after, the status is the account's as read after the write, with no advice
        // to turn on what is on.
        let (code, status, _) = go(cmd(&home, &server, &["status"]));
        assert_eq!(code, 0);
        assert!(status.contains("Extra Usage: on, monthly cap $50.00"), "{status}");
        assert!(status.contains("just now"), "{status}");
        assert!(!status.contains("can turn it on"), "{status}");
    }
}

/// Audit N2 and N12: a lost answer that no reading can settle is "unknown", everywhere, until
/// a reading settles it; never "failed", never the reading from before the write.
#[test]
fn an_outcome_no_reading_can_settle_is_unknown_until_one_does() {
    let (server, account) = account_server(Account {
        after_put: AfterPut::Status(502),
        usage_after_write: Some(Response::json(503, r#"{"type":"error"}"#)),
        ..Account::default()
    });
    let home = home();
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        err.contains(
            "Anthropic's server failed (HTTP 502) after the change was sent, so it may or may not have been made, and Headroom could not read your account back to tell (Anthropic's server failed (HTTP 503))"
        ),
        "{err}"
    );
    assert!(
        err.contains("check https://claude.ai/settings/usage before trying again"),
        "{err}"
    );
    assert!(
        !out.contains(BROWSER),
        "no browser flow that assumes it was not made: {out}"
    );
    assert_eq!(
        history_json(&home, &server)["writes"][0]["outcome"],
        "unknown"
    );
    // The status does not show the pre-write "off" as current, nor advise turning it on.
    let (code, status, _) = go(cmd(&home, &server, &["status"]));
    assert_eq!(code, 0);
    assert!(
        status.contains("Extra Usage: not known: your change at"),
        "{status}"
    );
    assert!(status.contains("may or may not have been made"), "{status}");
    assert!(!status.contains("Extra Usage: off"), "{status}");
    assert!(!status.contains("can turn it on"), "{status}");
    // The account answers again: the next reading settles the write.
    account.lock().unwrap().usage_after_write = None;
    let (_, status, _) = go(cmd(&home, &server, &["status"]));
    assert!(
        status.contains("Extra Usage: on, monthly cap $50.00"),
        "{status}"
    );
    let h = history_json(&home, &server);
    assert_eq!(h["writes"][0]["outcome"], "verified");
    assert!(
        h["writes"][0]["error"]
            .as_str()
            .unwrap()
            .contains("settled by a later reading"),
        "{h}"
    );
}

/// Audit N12: a write interrupted (Ctrl-C, a crash) stayed `pending` for ever.
#[test]
fn a_write_interrupted_before_it_was_recorded_is_unknown_not_pending_for_ever() {
    let (server, _account) = account_server(Account {
        after_put: AfterPut::Slow(Duration::from_secs(30)),
        ..Account::default()
    });
    let home = home();
    let mut c = cmd(&home, &server, &["enable", "--cap", "50", "--yes"]);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen(&server).contains(&put()) {
        assert!(Instant::now() < deadline, "the PUT never came");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        history_json(&home, &server)["writes"][0]["outcome"],
        "pending"
    );
    // As if the write had begun longer ago than any write takes.
    let ledger = rusqlite::Connection::open(home.headroom_home().join("ledger.sqlite3")).unwrap();
    ledger
        .execute("UPDATE extra_usage_writes SET at_ms = at_ms - 360000", [])
        .unwrap();
    drop(ledger);
    let h = history_json(&home, &server);
    assert_eq!(h["writes"][0]["outcome"], "unknown", "{h}");
    assert!(
        h["writes"][0]["error"]
            .as_str()
            .unwrap()
            .contains("stopped before the account answered"),
        "{h}"
    );
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
    assert_eq!(seen(&server), [get(USAGE), get(USAGE), put()]);

    // No retry loop, and while the cool-down lasts nothing at all is sent.
    let (code, _, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 1);
    assert!(err.contains("try again after"), "{err}");
    assert_eq!(server.requests().len(), 3, "{:?}", seen(&server));
}

#[test]
fn an_answer_slower_than_the_timeout_is_settled_by_reading_the_account() {
    let (server, _account) = account_server(Account {
        after_put: AfterPut::Slow(Duration::from_secs(40)),
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
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Anthropic did not answer within 20 s, so the change may or may not have been made; your account, read again, says:"), "{out}");
    confirmed_line(&out, "Extra Usage is on · cap $50.00");
    assert_eq!(seen(&server), flow(&[put()]));
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
    assert_eq!(seen(&server), flow(&[put()]));
    let (_, history, _) = go(cmd(&home, &server, &["history"]));
    assert!(history.contains("account says otherwise"), "{history}");
}

#[test]
fn without_the_organization_nothing_is_written_and_the_profile_can_name_it() {
    let (server, account) = account_server(Account::default());
    let home = Home::new(); // no .claude.json
    allow_scripts(&home, Some(2000.0));
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 1);
    assert!(err.contains("cannot tell which organization"), "{err}");
    assert!(out.contains(BROWSER), "{out}");
    assert_eq!(seen(&server), [get("/api/oauth/profile")]);

    account.lock().unwrap().profile = Some(Response::json(
        200,
        json!({"account": {"uuid": "u", "email": "p@example.com"}, "organization": {"uuid": ORG, "name": "Profile Org", "organization_type": "claude_max"}}).to_string(),
    ));
    let (code, out, err) = go(cmd(&home, &server, &["enable", "--cap", "50", "--yes"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("Turn on Extra Usage for p@example.com (organization “Profile Org”)"),
        "{out}"
    );
    let profile = get("/api/oauth/profile");
    assert_eq!(
        seen(&server),
        [
            profile.clone(),
            profile.clone(),
            get(USAGE),
            profile,
            get(USAGE),
            put(),
            get(USAGE)
        ]
    );
    check_headers(&server);
}

#[test]
fn bad_caps_exit_2_and_send_nothing() {
    let (server, _account) = account_server(Account::default());
    let home = home();
    for bad in [
        "-5", "abc", "1e9", "0.001", "", "0", "100001", "12,50", "9,99",
    ] {
        for args in [
            vec!["enable", "--cap", bad, "--yes"],
            vec!["cap", bad, "--yes"],
        ] {
            let (code, _, err) = go(cmd(&home, &server, &args));
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(err.contains("invalid cap"), "{err}");
        }
    }
    let (_, _, err) = go(cmd(&home, &server, &["cap", "12,50", "--yes"]));
    assert!(err.contains("use a dot for cents: 12.50"), "{err}");
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
        table.contains("turn on, cap $50.00")
            && table.contains("turn off")
            && table.contains("Acme"),
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
        "GET /api/oauth/usage, PUT .../overage_spend_limit, GET /api/oauth/usage"
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

/// Holds the ledger's write lock for longer than the 5 s busy timeout while `args` runs.
fn run_while_the_ledger_is_busy(
    home: &Home,
    server: &Server,
    args: &[&str],
) -> (i32, String, String) {
    go(cmd(home, server, &["history"])); // the ledger exists, at the current schema
    let mut writer = Ledger::open(&home.headroom_home().join("ledger.sqlite3")).unwrap();
    let batch = writer.batch().unwrap();
    let mut c = cmd(home, server, args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(7));
    drop(batch);
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
}

#[test]
fn a_busy_ledger_is_waited_for_briefly_not_a_failure() {
    let (server, _account) = account_server(Account::default());
    let home = home();
    let (code, out, err) =
        run_while_the_ledger_is_busy(&home, &server, &["enable", "--cap", "50", "--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // The reading for the question waits out SQLite's busy timeout (and says it could not be
    // recorded); the write's history row, which must be recorded before anything is sent,
    // waits too (`trying again`) when the lock outlasts it.
    assert!(
        err.contains("trying again") || err.contains("locked by another process"),
        "{err}"
    );
    confirmed_line(&out, "Extra Usage is on · cap $50.00");
    assert_eq!(write_bodies(&server).len(), 1, "written once");
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
    allow_scripts(&home, None);
    headroom_bin();

    // Anything but yes: nothing written.
    let (code, shown) = on_a_terminal(cmd(&home, &server, &["enable", "--cap", "50"]), "no\n");
    assert!(shown.contains("Type yes to confirm: "), "{shown}");
    assert_eq!(code, 1, "{shown}");
    assert!(write_bodies(&server).is_empty(), "{shown}");

    // Above 1,000 the amount itself, not yes; a different one writes nothing.
    let (code, shown) = on_a_terminal(cmd(&home, &server, &["enable", "--cap", "1500"]), "yes\n");
    assert!(shown.contains("Type 1500.00 to confirm: "), "{shown}");
    assert!(
        shown.contains("is not the amount asked ($1,500.00)"),
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

    // No cap, only on a terminal, typing it.
    let (code, shown) = on_a_terminal(cmd(&home, &server, &["cap", "--no-cap"]), "no cap\n");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("with no monthly limit"), "{shown}");
    confirmed_line(&shown, "Extra Usage is on · no monthly cap");
    assert_eq!(
        write_bodies(&server).last(),
        Some(&json!({"is_enabled": true, "monthly_credit_limit": null, "currency": "USD"}))
    );

    // The opt-in for scripts, from a terminal.
    let (code, shown) = on_a_terminal(
        cmd(&home, &server, &["allow-scripts", "--max-cap", "80"]),
        "",
    );
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("Scripts may now set Extra Usage caps up to 80.00"),
        "{shown}"
    );
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(home.headroom_home().join("settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(settings["extra_usage"]["scripts_max_cap"], 80.0);
}
