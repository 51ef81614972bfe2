//! `headroom alerts` as a user runs it: an empty history, snoozing for a duration and
//! resuming (the settings file keeps every other key), bad input refused with a clear message
//! and exit code 2, JSON output.

use std::process::{Command, Output};

use headroom_tests::{headroom_bin, EnvClearKeepClock};

fn headroom(home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(headroom_bin())
        .env_clear_keep_clock()
        .env("HOME", home)
        .env("HEADROOM_HOME", home.join("headroom"))
        .env("CLAUDE_CONFIG_DIR", home.join("claude"))
        .env("TZ", "UTC")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn listing_and_snoozing_alerts() {
    let home = tempfile::tempdir().unwrap();
    let settings = home.path().join("headroom/settings.json");

    let out = headroom(home.path(), &["alerts"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "No alerts yet.\n");
    let out = headroom(home.path(), &["alerts", "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );

    // A settings file with other keys: snoozing keeps them.
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(
        &settings,
        r#"{"alerts":{"session_thresholds":[80]},"sources":{"poll_minutes":7}}"#,
    )
    .unwrap();
    let before = chrono::Utc::now().timestamp_millis();
    let out = headroom(home.path(), &["alerts", "--snooze", "1h30m"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("Notifications snoozed until "),
        "{stdout}"
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    let until = saved["alerts"]["snoozed_until_ms"].as_i64().unwrap();
    assert!(
        (until - before - 90 * 60_000).abs() < 60_000,
        "{until} vs {before}"
    );
    assert_eq!(
        saved["alerts"]["session_thresholds"],
        serde_json::json!([80])
    );
    assert_eq!(saved["sources"]["poll_minutes"], 7);
    let (stdout, _) = text(&headroom(home.path(), &["alerts"]));
    assert!(
        stdout.contains("Notifications are snoozed until"),
        "{stdout}"
    );

    // Nonsense is refused and changes nothing.
    for bad in [
        "soon",
        "8d",
        "-1h",
        "20000",
        "153722867280912931",
        "9999999999999999d",
    ] {
        let out = headroom(home.path(), &["alerts", &format!("--snooze={bad}")]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("is not a snooze"), "{stderr}");
    }
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(saved["alerts"]["snoozed_until_ms"].as_i64(), Some(until));

    let out = headroom(home.path(), &["alerts", "--snooze", "off"]);
    assert_eq!(text(&out).0, "Notifications resumed.\n");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert!(saved["alerts"]["snoozed_until_ms"].is_null());
}

#[test]
fn a_wrongly_typed_setting_is_named_and_snoozing_keeps_everything_else() {
    let home = tempfile::tempdir().unwrap();
    let settings = home.path().join("headroom/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let file = serde_json::json!({
        "alerts": {"session_thresholds": [75, 300], "reset_weekly": true},
        "sources": {"claude_ai": true, "claude_ai_organization": "org-1", "poll_minutes": 5.5},
        "extra_usage": {"chosen_cap": 50},
    });
    std::fs::write(&settings, file.to_string()).unwrap();

    let out = headroom(home.path(), &["alerts", "--snooze", "1h"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // Each bad field is named with why, once per load.
    for field in ["alerts.session_thresholds", "sources.poll_minutes"] {
        assert!(
            stderr.contains(&format!("{field} is not valid (")),
            "{field}: {stderr}"
        );
    }
    // Nothing was moved aside, and only the snooze was written: the hand-written values,
    // bad ones included, are still the user's to fix.
    let names: Vec<_> = std::fs::read_dir(settings.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("corrupt"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
    let mut saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert!(saved["alerts"]["snoozed_until_ms"].as_i64().is_some());
    saved["alerts"]
        .as_object_mut()
        .unwrap()
        .remove("snoozed_until_ms");
    assert_eq!(saved, file);
}

/// `watch --no-notify` prints the alerts it raises, and the history says so: the outcome
/// goes through the ledger as a value and comes back in the same words (table and JSON).
#[test]
fn an_alert_printed_by_watch_is_listed_as_printed_only() {
    use headroom_tests::account::{now_ms, run, stdout, usage_server, Home};

    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339()
    };
    let now = now_ms();
    let server = usage_server(
        serde_json::json!({
            "five_hour": {"utilization": 93.0, "resets_at": iso(now + 2 * 3_600_000)},
            "seven_day": {"utilization": 20.0, "resets_at": iso(now + 3 * 86_400_000)},
            "extra_usage": {"is_enabled": true, "monthly_limit": 5000, "used_credits": 0},
        })
        .to_string(),
    );
    let home = Home::new();
    let mut watch = home.command(Some(&server.base));
    watch.args(["watch", "--once", "--no-notify"]);
    let printed = stdout(&run(watch));
    assert!(
        printed.contains("[printed only (--no-notify)]"),
        "{printed}"
    );

    let mut list = home.command(None);
    list.args(["alerts", "--json"]);
    let history: serde_json::Value = serde_json::from_str(&stdout(&run(list))).unwrap();
    let rows = history.as_array().unwrap();
    assert!(!rows.is_empty(), "{history}");
    for row in rows {
        assert_eq!(row["delivery"], "printed only (--no-notify)", "{row}");
        assert_eq!(row["kind"], "threshold", "{row}");
        assert_eq!(row["level"], "warning", "{row}");
    }
    let mut table = home.command(None);
    table.arg("alerts");
    let table = stdout(&run(table));
    assert!(table.contains("printed only (--no-notify)"), "{table}");
    assert!(table.contains("warning"), "{table}");
}
