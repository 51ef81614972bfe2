//! The text of `settings.json` (`settings::parse`, the pure half of `settings::load`), and the
//! two values a person types into the pane: a spending cap and a time of day.
//!
//! Beyond "never panics": every loaded value is in its allowed range, clamping twice changes
//! nothing, and saved settings load back equal; a cap and a time read back from their own
//! display form.
#![no_main]

use headroom_core::settings::{parse, Cap, Settings, TimeOfDay, SETTINGS_VERSION};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = parse(text) {
        // Lenient per field: whatever was wrong is named, and the rest is in range.
        let settings = parsed.settings;
        check_ranges(&settings);
        let mut twice = settings.clone();
        twice.clamp();
        assert_eq!(twice, settings, "clamp is not idempotent");
        let saved = serde_json::to_string_pretty(&settings).expect("settings serialize");
        let again =
            parse(&saved).unwrap_or_else(|e| panic!("saved settings do not load ({e}): {saved}"));
        assert!(again.warnings.is_empty(), "saved settings warn: {saved}");
        assert_eq!(again.settings, settings, "saved as {saved}");
    }
    if let Ok(cap) = Cap::parse(text) {
        assert!(
            (Cap::MIN_CENTS..=Cap::MAX_CENTS).contains(&cap.cents()),
            "{cap:?}"
        );
        assert_eq!(Cap::parse(&cap.to_string()), Ok(cap), "{cap}");
        assert_eq!(Cap::try_from(cap.dollars()), Ok(cap), "{cap}");
    }
    if let Ok(time) = TimeOfDay::try_from(text.to_owned()) {
        assert!(time.minutes < 24 * 60, "{time:?}");
        assert_eq!(TimeOfDay::try_from(String::from(time)), Ok(time));
    }
});

fn check_ranges(s: &Settings) {
    let a = &s.alerts;
    for list in [
        &a.session_thresholds,
        &a.weekly_thresholds,
        &a.model_weekly_thresholds,
        &a.cap_percents,
    ] {
        assert!(list.iter().all(|p| (1..=200).contains(p)), "{list:?}");
        assert!(
            list.windows(2).all(|w| w[0] < w[1]),
            "{list:?} not sorted and unique"
        );
    }
    assert!((1..=100).contains(&a.trap_percent));
    assert!(a.forecast_lead_minutes <= 300);
    assert!((1..=300).contains(&a.forecast_margin_minutes));
    assert!((1..=100_000).contains(&a.spend_step_dollars));
    assert!((5..=24 * 60).contains(&a.stale_after_minutes));
    assert!((1..=24 * 60).contains(&s.sources.poll_minutes));
    assert_eq!(s.version, SETTINGS_VERSION);
    if let Some(cap) = s.extra_usage.chosen_cap {
        assert!((Cap::MIN_CENTS..=Cap::MAX_CENTS).contains(&cap.cents()));
    }
}
