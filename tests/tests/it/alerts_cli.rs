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
