//! `headroom status` against a real HTTP server on loopback that answers like Anthropic's OAuth
//! usage endpoint: every response shape of `tests/fixtures/account/` through `status --json`
//! with its numbers asserted, every failure (401, 403 without scope, 429 with and without
//! Retry-After, 500, a slow server, invalid JSON, an HTML login page) as a message and exit 0,
//! the request count across repeated calls, Claude Code's credentials file missing,
//! unreadable, malformed and expired, and tokens absent from every output with
//! `RUST_LOG=trace`.
//!
//! Over 600 lines: one scenario per response shape and failure, each a whole story on the same
//! server and folders; split, they would repeat those fixtures.

use headroom_tests::account::*;
use serde_json::Value;

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn window<'a>(json: &'a Value, id: &str) -> &'a Value {
    json["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == id)
        .unwrap_or_else(|| panic!("no window {id}: {json:#}"))
}

/// `status --json` for a server answering `fixture`; also asserts one request was sent, a GET
/// of the usage endpoint with the headers Anthropic's OAuth usage API expects (its beta flag,
/// JSON, and a `headroom/` user agent that names the client).
fn status_for(fixture_name: &str) -> Value {
    let server = usage_server(fixture(fixture_name));
    let home = Home::new();
    let json = status_json(&home, Some(&server.base), &[]);
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{fixture_name}: one request");
    let r = &requests[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/api/oauth/usage");
    assert_eq!(r.header("anthropic-beta"), Some("oauth-2025-04-20"));
    assert_eq!(r.header("accept"), Some("application/json"));
    assert!(
        r.header("user-agent")
            .unwrap_or("")
            .starts_with("headroom/"),
        "{:?}",
        r.header("user-agent")
    );
    assert_eq!(json["schema_version"], 1);
    json
}

#[test]
fn legacy_windows_and_extra_usage_in_minor_units() {
    let j = status_for("legacy_only.json");
    assert_eq!(f(&j["session"]["utilization"]), 37.0);
    assert_eq!(j["session"]["source"], "account");
    assert_eq!(j["session"]["resets_at"], "2099-01-01T15:00:00Z");
    assert!(j["session"]["age_s"].as_i64().unwrap() < 30);
    assert_eq!(f(&j["weekly"]["utilization"]), 12.0);
    assert_eq!(j["weekly"]["resets_at"], "2099-01-05T09:00:00Z");
    let opus = window(&j, "weekly:opus");
    assert_eq!(opus["label"], "Weekly (Opus)");
    assert_eq!(f(&opus["utilization"]), 4.0);
    // monthly_limit 5000 minor units is $50.00; used_credits 1234 is $12.34.
    let eu = &j["extra_usage"];
    assert_eq!(eu["enabled"], true);
    assert_eq!(f(&eu["monthly_limit"]), 50.0);
    assert_eq!(f(&eu["used"]), 12.34);
    assert_eq!(eu["currency"], "USD");
    assert_eq!(j["stale"], false);
    assert_eq!(j["errors"].as_array().unwrap().len(), 0, "{j:#}");
}

#[test]
fn limits_list_with_a_per_model_window_named_by_the_model() {
    let j = status_for("limits_only.json");
    assert_eq!(f(&j["session"]["utilization"]), 61.5);
    assert_eq!(f(&j["weekly"]["utilization"]), 22.0);
    let fable = window(&j, "weekly:fable");
    assert_eq!(fable["label"], "Weekly (Fable)");
    assert_eq!(f(&fable["utilization"]), 48.0);
    // Entries without a percent or a name are skipped.
    assert_eq!(j["windows"].as_array().unwrap().len(), 3, "{j:#}");
    let eu = &j["extra_usage"];
    assert_eq!(eu["enabled"], true);
    assert_eq!(f(&eu["used"]), 2.5);
    assert_eq!(f(&eu["monthly_limit"]), 100.0);
}

#[test]
fn limits_and_spend_win_over_disagreeing_legacy_fields() {
    let j = status_for("both_disagreeing.json");
    assert_eq!(f(&j["session"]["utilization"]), 3.0);
    assert_eq!(j["session"]["resets_at"], "2099-01-01T15:00:00Z");
    assert_eq!(f(&j["weekly"]["utilization"]), 56.0);
    let eu = &j["extra_usage"];
    assert_eq!(eu["enabled"], true, "spend wins over extra_usage: {eu}");
    assert!(eu["monthly_limit"].is_null(), "no cap: {eu}");
    assert_eq!(f(&eu["used"]), 0.0);
}

#[test]
fn spend_with_exponent_0_and_3() {
    let j = status_for("spend_exponent_0.json");
    let eu = &j["extra_usage"];
    assert_eq!(f(&eu["used"]), 1500.0);
    assert_eq!(f(&eu["monthly_limit"]), 8000.0);
    assert_eq!(eu["currency"], "JPY");

    let j = status_for("spend_exponent_3.json");
    let eu = &j["extra_usage"];
    assert!((f(&eu["used"]) - 12.345).abs() < 1e-9, "{eu}");
    assert_eq!(f(&eu["monthly_limit"]), 50.0);
    assert_eq!(eu["currency"].as_str().unwrap().to_uppercase(), "KWD");
}

#[test]
fn legacy_decimal_places() {
    let j = status_for("legacy_decimal_places.json");
    let eu = &j["extra_usage"];
    assert_eq!(f(&eu["monthly_limit"]), 25.0);
    assert_eq!(f(&eu["used"]), 7.5);
    assert_eq!(eu["currency"], "EUR");
    assert_eq!(f(&j["session"]["utilization"]), 5.0);
}

#[test]
fn uncapped_and_disabled() {
    let j = status_for("uncapped.json");
    let eu = &j["extra_usage"];
    assert_eq!(eu["enabled"], true);
    assert!(eu["monthly_limit"].is_null(), "uncapped: {eu}");
    assert_eq!(f(&eu["used"]), 82.0);
    assert_eq!(f(&j["session"]["utilization"]), 100.0);

    let j = status_for("disabled.json");
    let eu = &j["extra_usage"];
    assert_eq!(eu["enabled"], false);
    assert_eq!(f(&j["session"]["utilization"]), 93.0);
}

#[test]
fn enterprise_seat_with_only_a_spend_limit() {
    let server = usage_server(fixture("enterprise_spend_only.json"));
    let home = Home::new();
    let j = status_json(&home, Some(&server.base), &[]);
    assert!(j["session"].is_null(), "{j:#}");
    assert!(j["weekly"].is_null());
    let eu = &j["extra_usage"];
    assert_eq!(f(&eu["used"]), 420.0);
    assert_eq!(f(&eu["monthly_limit"]), 1000.0);
    // For people, the spend limit is the figure shown.
    let mut c = home.command(Some(&server.base));
    c.arg("status");
    let text = stdout(&run(c));
    assert!(
        text.contains("$420.00 spent this month (42 % of the cap)"),
        "{text}"
    );
    assert!(text.contains("monthly cap $1,000.00"), "{text}");
}

#[test]
fn every_window_null_is_no_figures_not_an_error() {
    let j = status_for("all_null.json");
    assert!(j["session"].is_null());
    assert!(j["weekly"].is_null());
    assert_eq!(j["windows"].as_array().unwrap().len(), 0, "{j:#}");
    assert!(j["extra_usage"].is_null());
    assert_eq!(j["errors"].as_array().unwrap().len(), 0, "{j:#}");
}

#[test]
fn unknown_windows_are_kept_by_their_key() {
    let j = status_for("unknown_windows.json");
    assert_eq!(f(&j["session"]["utilization"]), 20.0);
    let cowork = window(&j, "seven_day_cowork");
    assert_eq!(cowork["label"], "seven_day_cowork");
    assert_eq!(f(&cowork["utilization"]), 33.0);
    assert_eq!(f(&window(&j, "iguana_necktie")["utilization"]), 1.0);
    assert_eq!(
        window(&j, "iguana_necktie")["resets_at"],
        "2099-01-01T00:00:00Z"
    );
    // Non-window keys are not windows.
    for w in j["windows"].as_array().unwrap() {
        assert_ne!(w["id"], "some_flag");
        assert_ne!(w["id"], "some_object");
    }
}

#[test]
fn over_100_percent_and_1_percent_stay_as_given() {
    let j = status_for("over_100.json");
    assert_eq!(f(&j["session"]["utilization"]), 104.3);
    // 1.0 means 1 %, never 100 %.
    assert_eq!(f(&j["weekly"]["utilization"]), 1.0);
}

fn errors(j: &Value) -> String {
    j["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn unauthorized_says_to_sign_in_again_and_is_not_retried() {
    let server = Server::fixed(
        "/api/oauth/usage",
        Response::json(401, fixture("unauthorized.json")),
    );
    let home = Home::new();
    let j = status_json(&home, Some(&server.base), &[]);
    let e = errors(&j);
    assert!(e.contains("run `claude` once to sign in again"), "{e}");
    assert!(!e.contains("rate limit"), "{e}");
    for _ in 0..3 {
        status_json(&home, Some(&server.base), &[]);
    }
    assert_eq!(
        server.count("/api/oauth/usage"),
        1,
        "a login problem is not retried"
    );
}

#[test]
fn forbidden_without_the_profile_scope() {
    let server = Server::fixed(
        "/api/oauth/usage",
        Response::json(403, fixture("forbidden_scope.json")),
    );
    let home = Home::new();
    let j = status_json(&home, Some(&server.base), &[]);
    let e = errors(&j);
    assert!(e.contains("user:profile"), "{e}");
    assert!(e.contains("403"), "{e}");
}

#[test]
fn rate_limited_without_retry_after_cools_down_across_processes() {
    let server = Server::fixed(
        "/api/oauth/usage",
        Response::json(429, fixture("rate_limited.json")).with_header("retry-after", "0"),
    );
    let home = Home::new();
    let j = status_json(&home, Some(&server.base), &[]);
    let e = errors(&j);
    assert!(e.contains("rate limited by Anthropic"), "{e}");
    assert!(
        !e.to_lowercase().contains("sign in"),
        "never a login problem: {e}"
    );
    // The cool-down (5 min for Retry-After 0) is in the ledger: later processes respect it.
    let account = j["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "account")
        .unwrap();
    let until = chrono::DateTime::parse_from_rfc3339(account["cooldown_until"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let left = until - now_ms();
    assert!(
        (4 * 60_000..=6 * 60_000).contains(&left),
        "cool-down of about 5 min: {left} ms"
    );
    for _ in 0..5 {
        let j = status_json(&home, Some(&server.base), &[]);
        assert!(errors(&j).contains("rate limited by Anthropic"));
    }
    assert_eq!(
        server.count("/api/oauth/usage"),
        1,
        "no request during the cool-down"
    );
    // --refresh skips the cadence, never the cool-down.
    let j = status_json(&home, Some(&server.base), &["--refresh"]);
    assert!(errors(&j).contains("rate limited by Anthropic until"));
    assert_eq!(
        server.count("/api/oauth/usage"),
        1,
        "--refresh during the cool-down"
    );
}

#[test]
fn rate_limited_after_figures_shows_them_with_their_age() {
    // First answer: figures. Every later one: 429 with no Retry-After.
    let body = fixture("legacy_only.json");
    let server = Server::start(move |r, i| {
        if r.path != "/api/oauth/usage" {
            Response::not_found()
        } else if i == 0 {
            Response::json(200, body.clone())
        } else {
            Response::json(429, fixture("rate_limited.json"))
        }
    });
    let home = Home::new();
    let api = Some(server.base.as_str());
    status_json(&home, api, &[]);
    // Lower the once-a-minute floor, which only a loopback server may do, to force at once.
    let mut c = home.command(api);
    c.env("HEADROOM_TEST_POLL_FLOOR_MS", "0")
        .args(["status", "--json", "--refresh"]);
    let j: Value = serde_json::from_slice(&run(c).stdout).unwrap();
    assert_eq!(server.count("/api/oauth/usage"), 2);
    let e = errors(&j);
    assert!(
        e.contains("rate limited by Anthropic until") && e.contains("; figures from"),
        "{e}"
    );
    assert_eq!(f(&j["session"]["utilization"]), 37.0, "figures still shown");
    assert_eq!(j["session"]["source"], "account");
    // The next calls respect the cool-down, forced or not, even with the floor lowered.
    for args in [&["status", "--json"][..], &["status", "--json"]] {
        let mut c = home.command(api);
        c.env("HEADROOM_TEST_POLL_FLOOR_MS", "0").args(args);
        run(c);
    }
    assert_eq!(server.count("/api/oauth/usage"), 2);
    // For people: a sentence that says who limits and until when, and where the figures
    // shown come from.
    let mut c = home.command(api);
    c.arg("status");
    let text = stdout(&run(c));
    assert!(
        text.contains("rate limited by Anthropic until") && text.contains("; figures from"),
        "{text}"
    );
}

#[test]
fn rate_limited_with_retry_after_honours_it() {
    let server = Server::fixed(
        "/api/oauth/usage",
        Response::json(429, fixture("rate_limited.json")).with_header("retry-after", "1800"),
    );
    let home = Home::new();
    let j = status_json(&home, Some(&server.base), &[]);
    let account = j["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "account")
        .unwrap()
        .clone();
    let until = chrono::DateTime::parse_from_rfc3339(account["cooldown_until"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let left = until - now_ms();
    assert!(
        (29 * 60_000..=30 * 60_000 + 5_000).contains(&left),
        "Retry-After 1800 s: {left} ms"
    );
    for _ in 0..4 {
        status_json(&home, Some(&server.base), &[]);
    }
    assert_eq!(server.count("/api/oauth/usage"), 1);
}

#[test]
fn server_error_backs_off() {
    let server = Server::fixed(
        "/api/oauth/usage",
        Response::json(500, fixture("server_error.json")),
    );
    let home = Home::new();
    let j = status_json(&home, Some(&server.base), &[]);
    assert!(errors(&j).contains("500"), "{}", errors(&j));
    status_json(&home, Some(&server.base), &[]);
    status_json(&home, Some(&server.base), &[]);
    assert_eq!(server.count("/api/oauth/usage"), 1, "backing off");
}

#[test]
fn a_server_slower_than_the_timeout_is_offline_not_a_hang() {
    let server = Server::fixed(
        "/api/oauth/usage",
        Response::json(200, fixture("legacy_only.json"))
            .with_delay(std::time::Duration::from_secs(40)),
    );
    let home = Home::new();
    headroom_bin(); // built (if needed) before the clock starts
    let started = std::time::Instant::now();
    let j = status_json(&home, Some(&server.base), &[]);
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(30),
        "gave up after the 20 s timeout: {took:?}"
    );
    let e = errors(&j);
    assert!(e.contains("offline (no answer within 20 s)"), "{e}");
    assert!(j["session"].is_null());
}

#[test]
fn invalid_json_and_a_login_page_are_messages() {
    let server = Server::fixed(
        "/api/oauth/usage",
        Response::json(200, fixture("invalid.json")),
    );
    let j = status_json(&Home::new(), Some(&server.base), &[]);
    assert!(!errors(&j).is_empty(), "{j:#}");
    assert!(j["session"].is_null());

    let server = Server::fixed(
        "/api/oauth/usage",
        Response::html(200, fixture("login_page.html")),
    );
    let j = status_json(&Home::new(), Some(&server.base), &[]);
    let e = errors(&j);
    assert!(e.contains("login page"), "{e}");
    assert!(e.contains("run `claude`"), "{e}");
}

#[test]
fn credentials_missing_unreadable_malformed_expired() {
    let server = usage_server(fixture("legacy_only.json"));
    let api = Some(server.base.as_str());

    // Missing: no account source, no request, no error (the statusline or local estimate
    // may still show figures).
    let home = Home::bare();
    let j = status_json(&home, api, &["--refresh"]);
    assert_eq!(server.count("/api/oauth/usage"), 0);
    assert!(j["session"].is_null());
    assert_eq!(errors(&j), "");

    // Unreadable: a folder where the file should be (root reads any file, so no chmod).
    let home = Home::bare();
    std::fs::create_dir(home.credentials_path()).unwrap();
    let j = status_json(&home, api, &[]);
    let e = errors(&j);
    assert!(e.contains("cannot read Claude Code's credentials"), "{e}");
    assert_eq!(server.count("/api/oauth/usage"), 0);

    // Malformed: says so without quoting the file.
    let home = Home::bare();
    std::fs::write(
        home.credentials_path(),
        format!(r#"{{"claudeAiOauth":{{"accessToken":"{TOKEN}""#),
    )
    .unwrap();
    let mut c = home.command(api);
    c.args(["status", "--json"]);
    let out = run(c);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = errors(&j);
    assert!(e.contains("not in a form Headroom knows"), "{e}");
    assert!(!stdout(&out).contains(TOKEN) && !stderr(&out).contains(TOKEN));
    assert_eq!(server.count("/api/oauth/usage"), 0);

    // Expired: run `claude`, no request, never a refresh.
    let home = Home::bare();
    home.write_credentials(now_ms() - 60_000, &["user:inference", "user:profile"]);
    let j = status_json(&home, api, &[]);
    let e = errors(&j);
    assert!(
        e.contains("expired; run `claude` once to refresh it"),
        "{e}"
    );
    assert_eq!(server.count("/api/oauth/usage"), 0);

    // Lacking the scope, locally known: the same kind of message.
    let home = Home::bare();
    home.write_credentials(now_ms() + 3_600_000, &["user:inference"]);
    let j = status_json(&home, api, &[]);
    assert!(errors(&j).contains("user:profile"), "{}", errors(&j));
    assert_eq!(server.count("/api/oauth/usage"), 0);
    // The file is only read, never written.
    assert!(std::fs::read_to_string(home.credentials_path())
        .unwrap()
        .contains(REFRESH_TOKEN));
}

/// Every file under `dir`, read as bytes.
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}

#[test]
fn tokens_never_appear_in_output_logs_or_headroom_files_at_trace_level() {
    let body = fixture("legacy_only.json");
    let server = Server::start(move |r, i| match (r.path.as_str(), i) {
        ("/api/oauth/usage", 0) => Response::json(200, body.clone()),
        ("/api/oauth/usage", 1) => Response::json(429, fixture("rate_limited.json")),
        ("/api/oauth/usage", 2) => Response::json(500, fixture("server_error.json")),
        ("/api/oauth/usage", _) => Response::json(401, fixture("unauthorized.json")),
        _ => Response::not_found(),
    });
    let mut logs = String::new();
    // A user each: a 429 holds back even a forced poll (a cool-down), and every answer
    // should be seen.
    let homes: Vec<Home> = (0..5).map(|_| Home::new()).collect();
    for (home, args) in homes.iter().zip([
        &["status", "--json"][..],
        &["status", "--refresh"],
        &["status", "--json", "--refresh"],
        &["status", "--refresh"],
        &["extra-usage", "status", "--json"],
    ]) {
        let mut c = home.command(Some(&server.base));
        c.env_remove("HEADROOM_LOG")
            .env("RUST_LOG", "trace")
            .env("HEADROOM_TEST_POLL_FLOOR_MS", "0")
            .args(args);
        let out = output(c);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        logs.push_str(&stdout(&out));
        logs.push_str(&stderr(&out));
    }
    assert_eq!(
        server.count("/api/oauth/usage"),
        5,
        "each case reached the server"
    );
    // The log is real: trace output from the HTTP stack and Headroom's own events.
    assert!(logs.contains("account request"), "{logs}");
    assert!(
        logs.to_ascii_uppercase().contains("TRACE"),
        "trace level was on"
    );
    for secret in [TOKEN, REFRESH_TOKEN, "SECRET"] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into output:\n{logs}"
        );
    }
    for (path, bytes) in homes.iter().flat_map(|h| files(&h.headroom_home())) {
        assert!(
            !bytes.windows(6).any(|w| w == b"SECRET"),
            "a token in {}",
            path.display()
        );
    }
    // It was sent, as a bearer token, to the loopback server only.
    assert!(server
        .requests()
        .iter()
        .all(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}"))));
}

#[test]
fn people_see_each_figure_with_its_source_and_age() {
    let server = usage_server(fixture("legacy_only.json"));
    let home = Home::new();
    let mut c = home.command(Some(&server.base));
    c.arg("status");
    let text = stdout(&run(c));
    assert!(text.contains("Session"), "{text}");
    assert!(text.contains("37 %"), "{text}");
    assert!(text.contains("[Anthropic account, just now]"), "{text}");
    assert!(text.contains("Weekly (Opus)"), "{text}");
    assert!(
        text.contains("Extra Usage: on, monthly cap $50.00, $12.34 spent this month"),
        "{text}"
    );
}

/// `HEADROOM_ANTHROPIC_API` or `HEADROOM_CLAUDE_AI` set to `value` (the other on loopback).
fn with_override(home: &Home, variable: &str, value: &str) -> std::process::Command {
    let mut c = home.command(None);
    c.env(variable, value);
    c
}

#[test]
fn a_foreign_host_in_either_variable_is_refused_at_start_naming_it() {
    // An https host that is not Anthropic's: today a project's env block could point the
    // token there. Nothing is sent: the command stops before any source is asked.
    let home = Home::new();
    for variable in ["HEADROOM_ANTHROPIC_API", "HEADROOM_CLAUDE_AI"] {
        for args in [
            &["status", "--json"][..],
            &["status", "--refresh"],
            &["daily"],
        ] {
            let mut c = with_override(&home, variable, "https://attacker.example");
            c.args(args);
            let out = output(c);
            assert_eq!(out.status.code(), Some(2), "{variable} {args:?}: {out:?}");
            let err = stderr(&out);
            assert!(err.contains(variable), "{variable} {args:?}: {err}");
            assert!(err.contains("https://attacker.example"), "{err}");
            assert!(err.contains("refuses"), "{err}");
            assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        }
    }
    // The name localhost is not trusted either (see account::client::base_url).
    let mut c = with_override(&home, "HEADROOM_ANTHROPIC_API", "http://localhost:9");
    c.args(["status", "--json"]);
    let out = output(c);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("127.0.0.1"), "{}", stderr(&out));
}

#[test]
fn the_official_hosts_written_out_are_accepted() {
    let home = Home::new();
    let mut c = home.command(None);
    c.env("HEADROOM_ANTHROPIC_API", "https://api.anthropic.com")
        .env("HEADROOM_CLAUDE_AI", "https://claude.ai/")
        // No request at all: tests talk only to loopback.
        .args(["status", "--json", "--offline"]);
    let out = run(c);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["schema_version"], 1);
}

#[test]
fn loopback_requests_never_go_through_a_configured_proxy() {
    // A proxy that records what reaches it: with the bypass missing, reqwest sends the
    // request (bearer token included, in cleartext) here instead of to the server.
    let proxy = Server::start(|_, _| Response::json(502, "{}"));
    let server = usage_server(fixture("legacy_only.json"));
    let home = Home::new();
    let mut c = home.command(Some(&server.base));
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        c.env(var, &proxy.base);
    }
    c.args(["status", "--json"]);
    let j: Value = serde_json::from_slice(&run(c).stdout).unwrap();
    assert_eq!(proxy.requests().len(), 0, "{:?}", proxy.requests());
    assert_eq!(server.count("/api/oauth/usage"), 1);
    assert_eq!(f(&j["session"]["utilization"]), 37.0, "{j:#}");
}

/// `cooldown_until` of the account source, in epoch ms.
fn cooldown_until_ms(j: &Value) -> i64 {
    let account = j["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "account")
        .unwrap_or_else(|| panic!("no account source: {j:#}"));
    let text = account["cooldown_until"]
        .as_str()
        .unwrap_or_else(|| panic!("no cool-down: {j:#}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

fn rfc3339_ms(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

#[test]
fn a_429_holds_back_every_forced_poll_in_every_process() {
    use headroom_core::account::{self, AccountConfig, MemoryStore, Mode, Refresher};
    use headroom_core::report::Zone;
    use headroom_core::snapshot::Source;
    use headroom_core::text::clock;

    // Figures first (Extra Usage off, so the Extra Usage watch below keeps asking), then a
    // 429 with `Retry-After: 0`, which the policy turns into its own 5 min cool-down.
    let body = fixture("disabled.json");
    let server = Server::start(move |r, i| match (r.path.as_str(), i) {
        ("/api/oauth/usage", 0) => Response::json(200, body.clone()),
        ("/api/oauth/usage", _) => {
            Response::json(429, fixture("rate_limited.json")).with_header("retry-after", "0")
        }
        _ => Response::not_found(),
    });
    let home = Home::new();
    let api = Some(server.base.as_str());
    // The one-a-minute floor lowered (loopback only): only the cool-down can hold back.
    let forced = |args: &[&str]| {
        let mut c = home.command(api);
        c.env("HEADROOM_TEST_POLL_FLOOR_MS", "0").args(args);
        c
    };
    status_json(&home, api, &[]);
    let j: Value =
        serde_json::from_slice(&run(forced(&["status", "--json", "--refresh"])).stdout).unwrap();
    assert_eq!(server.count("/api/oauth/usage"), 2, "the 429 came");
    let until = cooldown_until_ms(&j);
    let utc = Zone::parse("UTC").unwrap();
    let ledger_path = headroom_core::paths::StateFiles::new(home.headroom_home()).ledger();
    let seen = {
        let ledger = headroom_core::ledger::Ledger::open(&ledger_path).unwrap();
        account::newest(&ledger, Source::Account)
            .unwrap()
            .unwrap()
            .seen_ms
    };
    let words = |now: i64| {
        format!(
            "Anthropic account: rate limited by Anthropic until {}; figures from {}",
            clock(until, now, utc),
            clock(seen, now, utc)
        )
    };

    // Five `status --refresh`: none is sent, each says until when.
    for _ in 0..5 {
        let j: Value =
            serde_json::from_slice(&run(forced(&["status", "--json", "--refresh"])).stdout)
                .unwrap();
        let taken = rfc3339_ms(&j["taken_at"]);
        assert!(errors(&j).contains(&words(taken)), "{}", errors(&j));
        assert_eq!(f(&j["session"]["utilization"]), 93.0, "figures still shown");
    }
    let before = now_ms();
    let text = stdout(&run(forced(&["status", "--refresh"])));
    let after = now_ms();
    assert!(
        text.contains(&words(before)) || text.contains(&words(after)),
        "{text}"
    );

    // The tray's Refresh now: its refresh task calls `Refresher::refresh` in `Mode::Force`
    // (crates/headroom-service/src/task.rs) with the config the app builds; here on the same
    // ledger.
    let mut config = AccountConfig::new(Some(home.claude_dir())).with_zone(utc);
    config.anthropic_api = server.base.parse().unwrap();
    config.macos_keychain = None;
    config.policy.min_interval_ms = 0;
    let refresher = Refresher::new(config, std::sync::Arc::new(MemoryStore::new())).unwrap();
    let mut ledger = headroom_core::ledger::Ledger::open(&ledger_path).unwrap();
    let now = now_ms();
    let snap = refresher
        .refresh_blocking(&mut ledger, now, Mode::Force)
        .unwrap();
    assert!(
        snap.errors.iter().any(|e| e == &words(now)),
        "{:?}",
        snap.errors
    );
    drop(ledger);

    // The Extra Usage watch forces a poll every 100 ms with the floor lowered: for 3 s.
    let out = output(forced(&[
        "extra-usage",
        "enable",
        "--no-browser",
        "--timeout",
        "3s",
    ]));
    assert!(
        stderr(&out).contains("rate limited by Anthropic until"),
        "{}",
        stderr(&out)
    );

    // 15 s of `headroom watch`.
    let mut watch = forced(&["watch", "--no-notify"]);
    let child = watch
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(15));
    // Stopped as Ctrl-C would: the watch handles SIGINT.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    assert!(
        stderr(&out).contains("rate limited by Anthropic until"),
        "{}",
        stderr(&out)
    );

    assert_eq!(
        server.count("/api/oauth/usage"),
        2,
        "during the cool-down nothing was sent: only the figures and the 429"
    );
}
