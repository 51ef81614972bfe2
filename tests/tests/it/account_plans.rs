//! `headroom status` for accounts on today's plans, against the loopback account of
//! `headroom_tests::account::plans`: Ultra (no 5-hour limit), Pro between sessions,
//! Enterprise (spend is the headline; the plan from the profile) and Extra Usage spend past
//! its cap, each through `status --json` and the text a person reads; and Claude Code's
//! cached answer with no network at all (a refused loopback port).

use headroom_tests::account::plans::{write_cached_usage, PlanAccount};
use headroom_tests::account::*;
use serde_json::{json, Value};

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn status_text(home: &Home, api: Option<&str>) -> String {
    let mut c = home.command(api);
    c.arg("status");
    stdout(&run(c))
}

/// One assistant row of a Claude Code transcript at `at_ms`.
fn transcript_line(at_ms: i64, n: usize, output_tokens: u64) -> String {
    let at = chrono::DateTime::from_timestamp_millis(at_ms).unwrap();
    json!({
        "type": "assistant",
        "timestamp": at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "sessionId": "plans-session",
        "requestId": format!("req_plans_{n}"),
        "message": {
            "id": format!("msg_plans_{n}"),
            "model": "claude-sonnet-4-5-20250929",
            "usage": { "input_tokens": 1000, "output_tokens": output_tokens }
        }
    })
    .to_string()
        + "\n"
}

/// Claude Code activity that makes a local estimate possible: a complete block two days ago
/// (the estimate's 100 %) and an active one now, at a pace that would forecast a fill.
fn busy_transcripts(home: &Home) {
    let now = now_ms();
    let file = home
        .claude_dir()
        .join("projects/-home-dev-plans/plans.jsonl");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let lines = [
        transcript_line(now - 48 * 3_600_000, 1, 20_000),
        transcript_line(now - 40 * 60_000, 2, 30_000),
        transcript_line(now - 60_000, 3, 30_000),
    ];
    std::fs::write(file, lines.concat()).unwrap();
}

/// Ultra has no 5-hour limit: no session percent, no local estimate in its place, no
/// session forecast; the row says why. Before, the local estimate stood in ("Session 61 %
/// [local estimate]") with a forecast of a wall the account does not have.
#[test]
fn ultra_has_no_session_row_figure_and_says_why() {
    let account = PlanAccount::Ultra;
    let server = account.server();
    let home = account.home();
    busy_transcripts(&home);
    let j = status_json(&home, Some(&server.base), &[]);
    assert_eq!(j["plan"], "ultra", "{j:#}");
    assert!(j["session"].is_null(), "{j:#}");
    assert_eq!(j["session_absent"], "no_limit_on_plan");
    assert!(j["forecast"]["session_full_at"].is_null(), "{j:#}");
    assert!(j["forecast"]["basis"].is_null(), "{j:#}");
    assert_eq!(f(&j["weekly"]["utilization"]), 18.0);
    assert!(
        j["windows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["id"] != "session"),
        "{j:#}"
    );
    assert!(
        !j["local_block"].is_null(),
        "the block's pace is still there"
    );
    // The login names the plan: the profile is never asked.
    assert_eq!(server.count("/api/oauth/profile"), 0);

    let text = status_text(&home, Some(&server.base));
    assert!(text.starts_with("Plan: Ultra\n"), "{text}");
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("Session")
            && l.ends_with("no 5-hour limit on your plan")),
        "{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("Session") && l.contains("local estimate")),
        "{text}"
    );
    assert!(!text.contains("Forecast:"), "{text}");
    assert!(text.contains("Weekly"), "{text}");
}

/// Pro between sessions: no session running, said as such; its Extra Usage "off" reason in
/// words, never the API's code.
#[test]
fn idle_pro_says_no_session_running() {
    let account = PlanAccount::IdlePro;
    let server = account.server();
    let home = account.home();
    busy_transcripts(&home);
    let j = status_json(&home, Some(&server.base), &[]);
    assert_eq!(j["plan"], "pro");
    assert!(j["session"].is_null(), "{j:#}");
    assert_eq!(j["session_absent"], "not_running");
    assert!(j["forecast"]["session_full_at"].is_null(), "{j:#}");
    assert_eq!(j["extra_usage"]["disabled_reason"], "user_disabled");
    assert_eq!(
        j["extra_usage"]["disabled_reason_text"],
        "you turned it off"
    );

    let text = status_text(&home, Some(&server.base));
    assert!(text.starts_with("Plan: Pro\n"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("Session") && l.ends_with("no session running")),
        "{text}"
    );
    assert!(
        text.contains("Extra Usage: off (you turned it off)"),
        "{text}"
    );
    assert!(!text.contains("user_disabled"), "{text}");
    assert!(!text.contains("Forecast:"), "{text}");
}

/// An Enterprise seat: the plan from the profile (asked once for the login), spend against
/// the organization's limit as the headline, no percentages, no local estimate.
#[test]
fn enterprise_puts_spend_first_and_its_plan_comes_from_the_profile() {
    let account = PlanAccount::Enterprise;
    let server = account.server();
    let home = account.home();
    busy_transcripts(&home);
    let j = status_json(&home, Some(&server.base), &[]);
    assert_eq!(j["plan"], "enterprise", "{j:#}");
    assert!(j["session"].is_null() && j["weekly"].is_null(), "{j:#}");
    assert_eq!(j["session_absent"], "no_limit_on_plan");
    assert_eq!(f(&j["extra_usage"]["used"]), 42.0);
    assert_eq!(f(&j["extra_usage"]["monthly_limit"]), 1000.0);
    assert_eq!(server.count("/api/oauth/profile"), 1);

    let text = status_text(&home, Some(&server.base));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("Plan: Enterprise"), "{text}");
    let headline = lines.next().unwrap_or_default();
    assert!(
        headline.starts_with("Spend this month: $42.00 of $1,000.00 (4 %)"),
        "{text}"
    );
    assert!(!text.contains("No usage figures yet"), "{text}");
    assert!(!text.contains("Extra Usage:"), "{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("Session") && l.contains("local estimate")),
        "{text}"
    );
    // The profile was asked once for this login, not on every poll.
    let mut c = home.command(Some(&server.base));
    c.args(["status", "--refresh"]);
    run(c);
    assert_eq!(server.count("/api/oauth/profile"), 1);
}

/// Spend past the cap is over the cap (by how much), not "100 %" or "125 %"; the
/// organization's spending cap reached is said in words.
#[test]
fn spend_over_the_cap_is_said_as_over_it() {
    let account = PlanAccount::OverCap;
    let server = account.server();
    let home = account.home();
    let j = status_json(&home, Some(&server.base), &[]);
    assert_eq!(j["plan"], "max");
    assert_eq!(f(&j["session"]["utilization"]), 40.0);
    assert!(j["session_absent"].is_null());
    let eu = &j["extra_usage"];
    assert_eq!(f(&eu["used"]), 62.5);
    assert_eq!(f(&eu["monthly_limit"]), 50.0);
    assert_eq!(f(&eu["over_cap"]), 12.5);
    assert_eq!(
        eu["disabled_reason_text"],
        "your organization's spending cap is reached"
    );

    let text = status_text(&home, Some(&server.base));
    assert!(text.starts_with("Plan: Max\n"), "{text}");
    assert!(
        text.contains("Extra Usage: off (your organization's spending cap is reached), $62.50 spent this month ($12.50 over the cap)"),
        "{text}"
    );
    assert!(!text.contains("org_spend_cap_reached"), "{text}");
    assert!(!text.contains("125 %") && !text.contains("100 %"), "{text}");
}

/// No network at all (the API base is a refused loopback port) and nothing in the ledger:
/// Claude Code's cached answer is shown with when it was fetched, never as current, and
/// gives no forecast.
#[test]
fn claude_codes_cached_answer_is_shown_with_its_age_when_offline() {
    let home = PlanAccount::OverCap.home();
    let started = now_ms();
    let fetched = started - 3 * 3_600_000 - 7 * 60_000;
    let reset = started + 90 * 60_000;
    let api_time = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
            .to_string()
    };
    write_cached_usage(
        &home,
        fetched,
        &json!({
            "five_hour": { "utilization": 57.0, "resets_at": api_time(reset) },
            "seven_day": { "utilization": 31.0, "resets_at": "2099-01-05T09:00:00.000000+00:00" },
            "extra_usage": { "is_enabled": false, "disabled_reason": "org_level_disabled" }
        }),
    );
    let j = status_json(&home, None, &[]);
    assert_eq!(f(&j["session"]["utilization"]), 57.0, "{j:#}");
    assert_eq!(j["session"]["source"], "claude-code-cache");
    assert!(f(&j["session"]["age_s"]) >= (3 * 3600 + 7 * 60) as f64);
    assert_eq!(j["weekly"]["source"], "claude-code-cache");
    assert_eq!(j["stale"], true, "never as current");
    assert!(j["forecast"]["basis"].is_null(), "{j:#}");
    assert_eq!(j["extra_usage"]["source"], "claude-code-cache");

    let text = status_text(&home, None);
    let ended = now_ms();
    let as_of: Vec<String> = clock_texts(fetched, started, ended)
        .into_iter()
        .map(|at| format!("[as of {at}, from Claude Code]"))
        .collect();
    let session = text
        .lines()
        .find(|l| l.trim_start().starts_with("Session"))
        .unwrap_or_else(|| panic!("no session line:\n{text}"));
    assert!(session.contains("57 %"), "{text}");
    assert!(
        as_of.iter().any(|a| session.ends_with(a.as_str())),
        "{as_of:?} in {text}"
    );
    assert!(
        text.contains("Claude Code's last figures, not current"),
        "{text}"
    );
    assert!(
        text.contains("Extra Usage: off (your organization has turned it off)"),
        "{text}"
    );
    assert!(!text.contains("org_level_disabled"), "{text}");
}

/// A reading of Headroom's own that is newer than Claude Code's cache wins over it.
#[test]
fn a_fresher_reading_of_headrooms_own_wins_over_the_cache() {
    let account = PlanAccount::OverCap;
    let server = account.server();
    let home = account.home();
    write_cached_usage(
        &home,
        now_ms() - 3_600_000,
        &json!({ "five_hour": { "utilization": 90.0, "resets_at": "2099-01-01T15:00:00.000000+00:00" } }),
    );
    let j = status_json(&home, Some(&server.base), &[]);
    assert_eq!(f(&j["session"]["utilization"]), 40.0, "{j:#}");
    assert_eq!(j["session"]["source"], "account");
    assert_eq!(j["stale"], false);
}
