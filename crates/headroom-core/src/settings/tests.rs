use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::*;

#[test]
fn metrics_settings_refuse_bad_addresses_and_names_field_by_field() {
    let parsed = parse(
        r#"{"metrics": {"serve": true, "address": "localhost:abc", "user": "a@b.c",
            "otlp_endpoint": "http://collector:4318/v1/metrics"}}"#,
    )
    .unwrap();
    let m = &parsed.settings.metrics;
    assert!(m.serve);
    assert_eq!(m.address, DEFAULT_METRICS_ADDRESS);
    assert_eq!(m.user, None);
    assert_eq!(
        m.otlp_endpoint.as_deref(),
        Some("http://collector:4318/v1/metrics")
    );
    let fields: Vec<&str> = parsed.warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(fields, ["metrics.address", "metrics.user"]);
    let ok = parse(r#"{"metrics": {"address": "0.0.0.0:9100", "user": "alice-laptop"}}"#).unwrap();
    assert_eq!(ok.settings.metrics.address.to_string(), "0.0.0.0:9100");
    assert_eq!(
        ok.settings.metrics.user.as_ref().map(MetricsUser::as_str),
        Some("alice-laptop")
    );
    assert!(ok.warnings.is_empty());
}

#[test]
fn caps_people_type() {
    assert_eq!(Cap::parse("50").unwrap().cents(), 5000);
    for cents in [100, 1250, 5000, 150_000, 10_000_000] {
        let cap = Cap::from_cents(cents).unwrap();
        assert_eq!(Cap::parse(&cap.plain()), Ok(cap), "{}", cap.plain());
    }
    assert_eq!(Cap::from_cents(150_005).unwrap().plain(), "1500.05");
    assert_eq!(Cap::parse(" $12.5 ").unwrap().cents(), 1250);
    assert_eq!(Cap::parse("1,000.00").unwrap().cents(), 100_000);
    assert_eq!(Cap::parse("0.99"), Err(CapError::TooSmall));
    assert_eq!(Cap::parse("-5"), Err(CapError::NotPositive));
    assert_eq!(Cap::parse("0"), Err(CapError::NotPositive));
    assert_eq!(Cap::parse(""), Err(CapError::Empty));
    assert_eq!(Cap::parse("  "), Err(CapError::Empty));
    assert!(matches!(Cap::parse("abc"), Err(CapError::NotANumber(_))));
    assert!(matches!(Cap::parse("1e9"), Err(CapError::NotANumber(_))));
    assert!(matches!(Cap::parse("NaN"), Err(CapError::NotANumber(_))));
    assert!(matches!(Cap::parse("."), Err(CapError::NotANumber(_))));
    assert_eq!(Cap::parse("12.345"), Err(CapError::TooPrecise));
    assert_eq!(Cap::parse("100001"), Err(CapError::TooLarge));
    assert_eq!(
        Cap::parse("99999999999999999999999"),
        Err(CapError::TooLarge)
    );
    assert_eq!(Cap::parse("50").unwrap().to_string(), "$50.00");
}

/// Audit N3: `9,99` was read as 999.00 and `12,50` as 1,250.00 (every comma was dropped).
/// A comma is a thousands separator only in well-formed groups; anything else is refused.
#[test]
fn a_comma_is_only_a_thousands_separator() {
    for (typed, cents) in [
        ("1,250", 125_000),
        ("1,250.50", 125_050),
        ("$12,500.5", 1_250_050),
        ("€ 1,000", 100_000),
        ("100,000.00", 10_000_000),
        ("£9.99", 999),
    ] {
        assert_eq!(Cap::parse(typed).map(Cap::cents), Ok(cents), "{typed}");
    }
    for typed in [
        "9,99",
        "12,50",
        "1,5",
        "1,2345",
        ",500",
        "1,,000",
        "1,000,00",
        "12.50,0",
        "1,000.5,0",
        "1234,567",
    ] {
        assert_eq!(Cap::parse(typed), Err(CapError::CommaForCents), "{typed}");
    }
    assert!(CapError::CommaForCents
        .to_string()
        .contains("use a dot for cents: 12.50"));
    assert_eq!(Cap::parse("-1,000"), Err(CapError::NotPositive));
}

#[test]
fn quiet_hours_may_span_midnight() {
    let q = QuietHours {
        start: TimeOfDay::try_from("22:00".to_owned()).unwrap(),
        end: TimeOfDay::try_from("07:30".to_owned()).unwrap(),
    };
    assert!(q.contains(23 * 60));
    assert!(q.contains(60));
    assert!(!q.contains(7 * 60 + 30));
    assert!(!q.contains(12 * 60));
    assert!(TimeOfDay::try_from("24:00".to_owned()).is_err());
}

/// Short: these tests' broken files are broken for good.
const QUICK: Duration = Duration::from_millis(10);

fn raw(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn round_trip_and_partial_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    assert_eq!(load(&path).unwrap(), Loaded::defaults());
    let saved = update(&path, 0, |s| {
        s.extra_usage.chosen_cap = Some(Cap::parse("50").unwrap());
        s.alerts.session_thresholds = vec![80];
    })
    .unwrap();
    let mut expected = Settings::default();
    expected.extra_usage.chosen_cap = Some(Cap::parse("50").unwrap());
    expected.alerts.session_thresholds = vec![80];
    assert_eq!(saved.settings, expected);
    assert_eq!(load(&path).unwrap().settings, expected);
    // A first save writes every field, for whoever opens the file to edit it.
    assert_eq!(raw(&path)["sources"]["poll_minutes"], 5);
    #[cfg(unix)]
    for file in ["settings.json", "settings.lock"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // No temporary file is left behind.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    fs::write(
        &path,
        r#"{"alerts":{"session_thresholds":[90,0,250,75,90]}}"#,
    )
    .unwrap();
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.settings.alerts.session_thresholds, [75, 90]);
    assert_eq!(loaded.settings.sources, SourceSettings::default());
    assert_eq!(loaded.notice(), None);
}

fn corrupt_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("corrupt"))
        .collect()
}

#[test]
fn one_wrongly_typed_field_resets_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    let defaults = serde_json::to_value(Settings::default()).unwrap();
    for (section, field, bad) in [
        ("alerts", "session_thresholds", serde_json::json!([75, 300])),
        ("sources", "poll_minutes", serde_json::json!(-1)),
        ("sources", "poll_minutes", serde_json::json!(5.5)),
        ("general", "timezone", serde_json::json!(7)),
        // A name that is no time zone used to load as it was and be dropped at every use.
        ("general", "timezone", serde_json::json!("Mars/Olympus")),
        (
            "alerts",
            "quiet_hours",
            serde_json::json!({"start": "25:00", "end": "07:00"}),
        ),
        ("extra_usage", "chosen_cap", serde_json::json!(-5)),
        ("extra_usage", "chosen_cap", serde_json::json!("abc")),
        ("extra_usage", "chosen_cap", serde_json::json!(1e9)),
        ("extra_usage", "chosen_cap", serde_json::json!(12.345)),
    ] {
        let mut file = serde_json::json!({
            "alerts": {"trap_percent": 80},
            "extra_usage": {"chosen_cap": 50},
            "sources": {"claude_ai": true, "claude_ai_organization": "org-1"},
            "general": {"start_at_login": true},
        });
        file[section][field] = bad.clone();
        fs::write(&path, file.to_string()).unwrap();
        let loaded = load(&path).unwrap();
        let s = &loaded.settings;
        assert!(path.exists(), "{bad}: the file was moved");
        assert!(corrupt_files(dir.path()).is_empty(), "{bad}");
        if field != "chosen_cap" {
            assert_eq!(
                s.extra_usage.chosen_cap,
                Some(Cap::parse("50").unwrap()),
                "{bad}"
            );
        }
        assert!(s.sources.claude_ai, "{bad}");
        assert_eq!(
            s.sources.claude_ai_organization.as_deref(),
            Some("org-1"),
            "{bad}"
        );
        assert_eq!(s.alerts.trap_percent, 80, "{bad}");
        assert!(s.general.start_at_login, "{bad}");
        // The bad field has its default, and the user is told which and why.
        let now = serde_json::to_value(s).unwrap();
        assert_eq!(now[section][field], defaults[section][field], "{bad}");
        assert_eq!(loaded.unreadable, None);
        assert_eq!(loaded.warnings.len(), 1, "{bad}: {:?}", loaded.warnings);
        let warning = &loaded.warnings[0];
        assert!(
            warning.contains(&format!("{section}.{field} is not valid (")),
            "{warning}"
        );
        assert!(warning.contains(&path.display().to_string()), "{warning}");
        assert!(warning.contains("using the default"), "{warning}");
    }
    // A whole section of the wrong type costs that section only.
    fs::write(&path, r#"{"alerts": 5, "sources": {"poll_minutes": 9}}"#).unwrap();
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.settings.alerts, AlertSettings::default());
    assert_eq!(loaded.settings.sources.poll_minutes, 9);
    assert!(
        loaded.warnings[0].contains("alerts is not valid"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn an_empty_or_half_written_file_is_not_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    let text = r#"{"sources":{"claude_ai":true,"poll_minutes":9}}"#;
    // As nano or a shell's `>` do: truncate, then write through the open descriptor.
    let mut editor = File::create(&path).unwrap();
    let loaded = load_settling(&path, QUICK).unwrap();
    assert!(path.exists(), "the empty file was moved aside");
    assert!(loaded.unreadable.unwrap().contains("empty"));
    editor.write_all(&text.as_bytes()[..20]).unwrap();
    editor.flush().unwrap();
    let loaded = load_settling(&path, QUICK).unwrap();
    assert!(path.exists(), "the half-written file was moved aside");
    assert!(loaded.notice().unwrap().contains("not valid JSON"));
    assert_eq!(loaded.settings, Settings::default());
    assert!(corrupt_files(dir.path()).is_empty());
    editor.write_all(&text.as_bytes()[20..]).unwrap();
    drop(editor);
    let s = load(&path).unwrap().settings;
    assert!(s.sources.claude_ai);
    assert_eq!(s.sources.poll_minutes, 9);
}

#[test]
fn a_file_caught_in_the_middle_of_a_write_is_read_once_it_settles() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    fs::write(&path, "").unwrap();
    let writer = {
        let path = path.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            fs::write(&path, r#"{"sources":{"poll_minutes":9}}"#).unwrap();
        })
    };
    // Settling for far longer than the writer needs keeps this test safe on a busy machine.
    let loaded = load_settling(&path, Duration::from_secs(3)).unwrap();
    writer.join().unwrap();
    assert_eq!(loaded.unreadable, None);
    assert_eq!(loaded.settings.sources.poll_minutes, 9);
}

#[test]
fn a_broken_file_stays_until_a_save_keeps_it_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    fs::write(&path, "{ not json").unwrap();
    let loaded = load_settling(&path, QUICK).unwrap();
    assert_eq!(loaded.settings, Settings::default());
    assert!(loaded.notice().unwrap().contains("not valid JSON"));
    assert_eq!(fs::read_to_string(&path).unwrap(), "{ not json");
    // A save is the user's own act: the broken file is kept aside, the change is saved.
    let saved = update(&path, 7, |s| s.alerts.snoozed_until_ms = Some(42)).unwrap();
    assert_eq!(saved.settings.alerts.snoozed_until_ms, Some(42));
    assert!(
        saved.warnings[0].contains("corrupt-7"),
        "{:?}",
        saved.warnings
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("settings.json.corrupt-7")).unwrap(),
        "{ not json"
    );
    assert_eq!(
        load(&path).unwrap().settings.alerts.snoozed_until_ms,
        Some(42)
    );
    // A second broken file in the same second does not replace the first one kept.
    fs::write(&path, "[1, 2]").unwrap();
    update(&path, 7, |s| s.alerts.snoozed_until_ms = Some(43)).unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("settings.json.corrupt-7-2")).unwrap(),
        "[1, 2]"
    );
    // An empty file holds nothing to keep: it is replaced, not moved.
    fs::write(&path, "").unwrap();
    let saved = update(&path, 8, |s| s.alerts.snoozed_until_ms = Some(44)).unwrap();
    assert_eq!(saved.warnings, Vec::<String>::new());
    assert_eq!(corrupt_files(dir.path()).len(), 2);
    // And a save that changes nothing writes nothing.
    fs::write(&path, "{ not json").unwrap();
    let unchanged = update(&path, 9, |_| {}).unwrap();
    assert!(unchanged.unreadable.is_some());
    assert_eq!(fs::read_to_string(&path).unwrap(), "{ not json");
}

#[test]
fn a_save_writes_only_the_fields_it_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    let file = serde_json::json!({
        "from_a_newer_version": {"kept": true},
        "alerts": {"session_thresholds": [90, 0, 250], "reset_weekly": true},
        "sources": {"poll_minutes": 5.5, "claude_ai": true},
    });
    fs::write(&path, file.to_string()).unwrap();
    let saved = update(&path, 0, |s| s.alerts.snoozed_until_ms = Some(42)).unwrap();
    let mut expected = file.clone();
    expected["alerts"]["snoozed_until_ms"] = 42.into();
    assert_eq!(raw(&path), expected);
    assert_eq!(saved.settings.alerts.snoozed_until_ms, Some(42));
    assert_eq!(saved.settings.alerts.session_thresholds, [90]);
    assert!(saved.settings.sources.claude_ai);
    // The hand-written bad value is still the user's to fix, and still named.
    assert!(
        saved.warnings[0].contains("sources.poll_minutes"),
        "{:?}",
        saved.warnings
    );
}

#[test]
fn a_patch_holds_the_changed_fields_only() {
    let before = Settings::default();
    let mut after = before.clone();
    after.alerts.quiet_hours = Some(QuietHours {
        start: TimeOfDay { minutes: 60 },
        end: TimeOfDay { minutes: 120 },
    });
    after.sources.claude_ai = true;
    let patch = Patch::between(&before, &after).unwrap();
    assert_eq!(patch.fields(), ["alerts.quiet_hours", "sources.claude_ai"]);
    assert!(Patch::between(&after, &after).unwrap().is_empty());
    let mut other = Settings::default();
    other.general.start_at_login = true;
    patch.apply(&mut other);
    assert_eq!(other.alerts.quiet_hours, after.alerts.quiet_hours);
    assert!(other.sources.claude_ai);
    assert!(other.general.start_at_login);
}

#[test]
fn parse_refuses_only_what_is_not_a_settings_object() {
    assert_eq!(parse(""), Err(Unreadable::Empty));
    assert_eq!(parse(" \n"), Err(Unreadable::Empty));
    assert_eq!(parse("[1, 2]"), Err(Unreadable::NotAnObject));
    assert_eq!(parse("null"), Err(Unreadable::NotAnObject));
    assert!(matches!(parse("{\"alerts\":"), Err(Unreadable::NotJson(_))));
    assert_eq!(parse("{}").unwrap().settings, Settings::default());
    let parsed = parse(r#"{"version": "one", "unknown": 1}"#).unwrap();
    assert_eq!(parsed.settings, Settings::default());
    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(parsed.warnings[0].field, "version");
}

#[test]
fn the_time_zone_is_validated_on_load_and_written_back_as_the_user_wrote_it() {
    use crate::report::Zone;
    let parsed = parse(r#"{"general": {"timezone": "Asia/Kathmandu"}}"#).unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(
        parsed.settings.zone(),
        Zone::Named(chrono_tz::Asia::Kathmandu)
    );
    let written = serde_json::to_value(&parsed.settings).unwrap();
    assert_eq!(written["general"]["timezone"], "Asia/Kathmandu");
    // A cleared input and null are the system's zone, and no warning.
    for blank in [r#""""#, r#""  ""#, "null"] {
        let parsed = parse(&format!(r#"{{"general": {{"timezone": {blank}}}}}"#)).unwrap();
        assert!(parsed.warnings.is_empty(), "{blank}: {:?}", parsed.warnings);
        assert_eq!(parsed.settings.general.timezone, None, "{blank}");
        assert_eq!(parsed.settings.zone(), Zone::Local, "{blank}");
    }
    let parsed = parse(r#"{"general": {"timezone": "Mars/Olympus"}}"#).unwrap();
    assert_eq!(parsed.settings.zone(), Zone::Local);
    assert_eq!(parsed.warnings.len(), 1);
    assert!(
        parsed.warnings[0]
            .reason
            .contains("unknown time zone \"Mars/Olympus\""),
        "{}",
        parsed.warnings[0]
    );
}
