//! Extra Usage: its state in words, the trap (a window near its limit while Extra Usage is
//! off), the chosen cap against the account's, and the browser flow's watch.
//!
//! Headroom turns Extra Usage on and sets its cap itself through the OAuth account API that
//! Claude Code's `/usage-credits` uses ([`super::overage`]: confirmed, verified, recorded).
//! That API is undocumented; when it is not available (no Claude Code login, a claude.ai
//! session key only, a Team member, an error) the browser flow remains: the front end opens
//! [`SETTINGS_URL`] and polls the account, asking [`EnableWatch::step`] after each snapshot
//! whether it reports Extra Usage on yet, or the watch gives up. Only a reading taken after
//! the watch started counts.

use crate::settings::{AlertSettings, Cap};
use crate::snapshot::{ExtraUsage, Source, UsageSnapshot, Window, WindowKind};
use crate::text;

pub use crate::alerts::EXTRA_USAGE_SETTINGS_URL as SETTINGS_URL;

/// Why Extra Usage is off, in words a person reads, for the account's `disabled_reason`
/// code: the one wording for `headroom status`, the tray, the pane, the alerts and the write
/// path. A code Headroom does not know yet gets a neutral sentence without the code: an API
/// code is never shown to a person.
pub fn disabled_reason_text(code: &str) -> &'static str {
    match code.trim() {
        "user_disabled" => "you turned it off",
        "org_level_disabled" => "your organization has turned it off",
        "org_spend_cap_reached" => "your organization's spending cap is reached",
        "overage_not_provisioned" => "it has not been set up for this account yet",
        "out_of_credits" => "your prepaid credit is used up",
        _ => "your account reports it off without a reason Headroom knows",
    }
}

/// How far spend is past the monthly cap, when it is: `used_credits` above `monthly_limit`
/// is over the cap, never "100 %".
pub fn over_cap(eu: &ExtraUsage) -> Option<f64> {
    match (eu.used, eu.monthly_limit) {
        (Some(used), Some(limit)) if used > limit + 0.005 => Some(used - limit),
        _ => None,
    }
}

/// `on, cap $50.00, $12.30 spent this month, balance $5.00` and the like.
pub fn describe(eu: &ExtraUsage) -> String {
    let mut parts = vec![match eu.enabled {
        Some(true) => "on".to_owned(),
        Some(false) => match &eu.disabled_reason {
            Some(why) => format!("off ({})", disabled_reason_text(why)),
            None => "off".to_owned(),
        },
        None => "state unknown".to_owned(),
    }];
    if eu.enabled == Some(true) {
        parts.push(match eu.monthly_limit {
            Some(limit) => format!("monthly cap {}", text::money(limit, &eu.currency)),
            None => "no monthly cap".to_owned(),
        });
    }
    if let Some(used) = eu.used {
        let mut s = format!("{} spent this month", text::money(used, &eu.currency));
        if let Some(over) = over_cap(eu) {
            s.push_str(&format!(
                " ({} over the cap)",
                text::money(over, &eu.currency)
            ));
        } else if let Some(f) = eu.cap_fraction() {
            s.push_str(&format!(" ({} of the cap)", text::percent(f * 100.0)));
        }
        parts.push(s);
    }
    if let Some(balance) = eu.balance {
        parts.push(format!(
            "prepaid balance {}",
            text::money(balance, &eu.currency)
        ));
    }
    parts.join(", ")
}

/// Whether `window` is in the trap, by the user's alert settings: the trap warning is on
/// (`alerts.extra_usage_trap`), it is the session or the weekly window (the ones that stop
/// all work), it is at or past `alerts.trap_percent`, and the account reports Extra Usage
/// off. The one rule for the notification (`alerts::engine`), `headroom status`,
/// `headroom extra-usage status` and the settings pane (through [`trap`]).
pub fn in_trap(window: &Window, extra: Option<&ExtraUsage>, settings: &AlertSettings) -> bool {
    settings.extra_usage_trap
        && matches!(window.kind, WindowKind::Session | WindowKind::Weekly)
        && extra.and_then(|e| e.enabled) == Some(false)
        && window.utilization >= f64::from(settings.trap_percent)
}

/// The trap ([`in_trap`]) in one sentence, for the fullest window caught in it; `None` when
/// no window is (or the user switched the warning off).
pub fn trap(snapshot: &UsageSnapshot, settings: &AlertSettings) -> Option<String> {
    let eu = snapshot.extra_usage.as_ref()?;
    let w = [&snapshot.session, &snapshot.weekly]
        .into_iter()
        .flatten()
        .filter(|w| in_trap(w, Some(eu), settings))
        .max_by(|a, b| a.utilization.total_cmp(&b.utilization))?;
    let balance = match eu.balance {
        Some(b) if b > 0.0 => format!(
            "the {} on your prepaid balance",
            text::money(b, &eu.currency)
        ),
        _ => "any credit on your balance".to_owned(),
    };
    let estimate = if w.source == Source::LocalEstimate {
        " (estimated)"
    } else {
        ""
    };
    Some(format!(
        "{} is at {}{estimate} and Extra Usage is off: work stops at 100 % until the window resets, and {balance} will not be used until Extra Usage is turned on. Headroom can turn it on: `headroom extra-usage enable --cap DOLLARS` (or the settings pane; in the browser: {SETTINGS_URL}).",
        w.label,
        text::percent(w.utilization)
    ))
}

/// A warning while the account's cap differs from the one chosen in Headroom.
pub fn cap_mismatch(chosen: Option<Cap>, eu: &ExtraUsage) -> Option<String> {
    let chosen = chosen?;
    if eu.enabled != Some(true) {
        return None;
    }
    match eu.monthly_limit {
        Some(limit) if (limit - chosen.dollars()).abs() < 0.005 => None,
        // Both ways to fix it: Headroom writes the cap itself now (pane or CLI), and the
        // account's page stays for a claude.ai-key login, which Headroom cannot write with.
        Some(limit) => Some(format!(
            "the account's monthly cap is {} but you chose {}; change it with `headroom extra-usage cap {}` (Change cap in the settings pane) or at {SETTINGS_URL}",
            text::money(limit, &eu.currency),
            chosen,
            chosen.plain(),
        )),
        None => Some(format!(
            "the account has no monthly cap but you chose {chosen}; set it with `headroom extra-usage cap {}` (Change cap in the settings pane) or at {SETTINGS_URL}",
            chosen.plain(),
        )),
    }
}

/// A source that can report Extra Usage is set up: a Claude Code login or a claude.ai key
/// (the statusline feed does not carry Extra Usage).
pub fn can_report(snapshot: &UsageSnapshot) -> bool {
    snapshot
        .sources
        .iter()
        .any(|s| matches!(s.source, Source::Account | Source::ClaudeAi) && s.configured)
}

/// Extra Usage as reported on by the account at or after `since_ms`: an older "on" does not
/// confirm a change the user has just been asked to make.
pub fn enabled_since(snapshot: &UsageSnapshot, since_ms: i64) -> Option<&ExtraUsage> {
    snapshot
        .extra_usage
        .as_ref()
        .filter(|eu| eu.enabled == Some(true) && eu.observed_at_ms >= since_ms)
}

/// The browser flow's watch, as a pure step machine: the front end opens [`SETTINGS_URL`],
/// then polls the account at its own pace (forced polls, which the policy still holds to one
/// request a minute) and asks [`EnableWatch::step`] after each snapshot whether to keep
/// waiting. `headroom extra-usage enable --browser` loops on it with its Ctrl-C channel; the
/// app's refresh task maps each step to the `extra-usage-state` event. Reads no clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnableWatch {
    /// Only a reading taken at or after this counts: an older "on" does not confirm a change
    /// the user has just been asked to make.
    pub started_ms: i64,
    /// From then on a snapshot without Extra Usage on ends the watch.
    pub deadline_ms: i64,
}

/// Where the watch stands after a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchStep {
    /// Not on yet, and time is left.
    Waiting,
    /// The account reported Extra Usage on since the watch started.
    Enabled(ExtraUsage),
    /// The deadline passed without the account reporting it on.
    TimedOut,
    /// No source that reports Extra Usage is set up (no Claude Code login, no claude.ai
    /// key): waiting cannot confirm anything.
    NoSource,
}

impl EnableWatch {
    /// A watch starting at `started_ms` that gives up `timeout_ms` later.
    pub fn new(started_ms: i64, timeout_ms: i64) -> EnableWatch {
        EnableWatch {
            started_ms,
            deadline_ms: started_ms.saturating_add(timeout_ms),
        }
    }

    /// What `snapshot`, taken at `now_ms`, means for the watch. A confirmation wins over
    /// the deadline: the last poll may be the one that sees it.
    pub fn step(&self, snapshot: &UsageSnapshot, now_ms: i64) -> WatchStep {
        if !can_report(snapshot) {
            WatchStep::NoSource
        } else if let Some(eu) = enabled_since(snapshot, self.started_ms) {
            WatchStep::Enabled(eu.clone())
        } else if now_ms >= self.deadline_ms {
            WatchStep::TimedOut
        } else {
            WatchStep::Waiting
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::usage::make_window;
    use crate::snapshot::WindowKind;

    fn eu(enabled: Option<bool>, limit: Option<f64>, used: Option<f64>) -> ExtraUsage {
        ExtraUsage {
            enabled,
            monthly_limit: limit,
            used,
            currency: "USD".into(),
            balance: None,
            disabled_reason: None,
            source: Source::Account,
            observed_at_ms: 0,
        }
    }

    /// Every `disabled_reason` a person sees is worded here; an unknown code is never shown.
    #[test]
    fn disabled_reasons_are_words_never_codes() {
        for (code, words) in [
            ("user_disabled", "you turned it off"),
            ("org_level_disabled", "your organization has turned it off"),
            (
                "org_spend_cap_reached",
                "your organization's spending cap is reached",
            ),
            (
                "overage_not_provisioned",
                "it has not been set up for this account yet",
            ),
        ] {
            assert_eq!(disabled_reason_text(code), words);
        }
        let unknown = disabled_reason_text("seat_policy_v2_blocked");
        assert!(!unknown.contains("seat_policy"), "{unknown}");
        let mut off = eu(Some(false), None, None);
        off.disabled_reason = Some("org_spend_cap_reached".into());
        assert_eq!(
            describe(&off),
            "off (your organization's spending cap is reached)"
        );
        off.disabled_reason = Some("user_disabled".into());
        assert!(!describe(&off).contains("user_disabled"));
    }

    /// `used_credits` above `monthly_limit` is over the cap, not "100 %" (nor 120 %).
    #[test]
    fn spend_past_the_cap_is_said_as_over_it() {
        let over = eu(Some(true), Some(50.0), Some(62.5));
        assert_eq!(over_cap(&over), Some(12.5));
        assert_eq!(
            describe(&over),
            "on, monthly cap $50.00, $62.50 spent this month ($12.50 over the cap)"
        );
        let within = eu(Some(true), Some(50.0), Some(50.0));
        assert_eq!(over_cap(&within), None);
        assert_eq!(
            describe(&within),
            "on, monthly cap $50.00, $50.00 spent this month (100 % of the cap)"
        );
        assert_eq!(over_cap(&eu(Some(true), None, Some(80.0))), None);
    }

    #[test]
    fn states_in_words() {
        assert_eq!(
            describe(&eu(Some(true), Some(50.0), Some(12.3))),
            "on, monthly cap $50.00, $12.30 spent this month (24 % of the cap)"
        );
        assert_eq!(
            describe(&eu(Some(true), None, Some(80.0))),
            "on, no monthly cap, $80.00 spent this month"
        );
        let mut off = eu(Some(false), None, None);
        off.balance = Some(5.0);
        assert_eq!(describe(&off), "off, prepaid balance $5.00");
    }

    #[test]
    fn the_trap_needs_a_full_window_and_extra_usage_off() {
        let defaults = AlertSettings::default();
        let mut s = UsageSnapshot {
            session: Some(make_window(
                WindowKind::Session,
                95.0,
                None,
                Source::Statusline,
                0,
            )),
            extra_usage: Some(eu(Some(false), None, None)),
            ..UsageSnapshot::default()
        };
        let t = trap(&s, &defaults).unwrap();
        assert!(
            t.starts_with("Session is at 95 % and Extra Usage is off"),
            "{t}"
        );
        assert!(
            t.contains("will not be used until Extra Usage is turned on"),
            "{t}"
        );
        assert!(
            t.contains("Headroom can turn it on: `headroom extra-usage enable --cap DOLLARS`"),
            "{t}"
        );
        s.extra_usage = Some(eu(Some(true), None, None));
        assert_eq!(trap(&s, &defaults), None);
        s.extra_usage = Some(eu(Some(false), None, None));
        s.session = Some(make_window(
            WindowKind::Session,
            80.0,
            None,
            Source::Statusline,
            0,
        ));
        assert_eq!(trap(&s, &defaults), None);
    }

    #[test]
    fn the_trap_follows_the_alert_settings() {
        let at = |percent: f64| UsageSnapshot {
            session: Some(make_window(
                WindowKind::Session,
                percent,
                None,
                Source::Account,
                0,
            )),
            weekly: Some(make_window(
                WindowKind::Weekly,
                percent - 1.0,
                None,
                Source::Account,
                0,
            )),
            extra_usage: Some(eu(Some(false), None, None)),
            ..UsageSnapshot::default()
        };
        let mut settings = AlertSettings {
            trap_percent: 80,
            ..AlertSettings::default()
        };
        let t = trap(&at(85.0), &settings).unwrap();
        assert!(t.starts_with("Session is at 85 %"), "{t}");
        // At the percent itself, yes; below it, no.
        assert!(trap(&at(80.0), &settings).is_some());
        assert_eq!(trap(&at(79.5), &settings), None);
        // The default percent (90) leaves 85 % alone.
        assert_eq!(trap(&at(85.0), &AlertSettings::default()), None);
        // Switched off, never, even at 100 %.
        settings.extra_usage_trap = false;
        assert_eq!(trap(&at(100.0), &settings), None);
    }

    #[test]
    fn only_the_session_and_weekly_windows_are_in_the_trap() {
        let settings = AlertSettings::default();
        let off = eu(Some(false), None, None);
        let model = make_window(
            WindowKind::WeeklyModel {
                model: "Opus".into(),
            },
            99.0,
            None,
            Source::Account,
            0,
        );
        assert!(!in_trap(&model, Some(&off), &settings));
        let session = make_window(WindowKind::Session, 99.0, None, Source::Account, 0);
        assert!(in_trap(&session, Some(&off), &settings));
        // Extra Usage on, or not known: no trap.
        assert!(!in_trap(
            &session,
            Some(&eu(Some(true), None, None)),
            &settings
        ));
        assert!(!in_trap(&session, Some(&eu(None, None, None)), &settings));
        assert!(!in_trap(&session, None, &settings));
    }

    #[test]
    fn cap_differences() {
        let cap = Cap::parse("50").ok();
        assert_eq!(cap_mismatch(cap, &eu(Some(true), Some(50.0), None)), None);
        assert!(cap_mismatch(cap, &eu(Some(true), Some(20.0), None))
            .unwrap()
            .contains(
                "$20.00 but you chose $50.00; change it with `headroom extra-usage cap 50.00`"
            ));
        assert!(cap_mismatch(cap, &eu(Some(true), None, None))
            .unwrap()
            .contains("no monthly cap"));
        assert_eq!(cap_mismatch(cap, &eu(Some(false), None, None)), None);
        assert_eq!(cap_mismatch(None, &eu(Some(true), Some(20.0), None)), None);
    }

    /// A snapshot with the account source set up (or not) and Extra Usage as given.
    fn seen(configured: bool, extra_usage: Option<ExtraUsage>) -> UsageSnapshot {
        UsageSnapshot {
            sources: vec![crate::snapshot::SourceStatus {
                source: Source::Account,
                configured,
                last_success_ms: None,
                cooldown_until_ms: None,
                error: None,
            }],
            extra_usage,
            ..UsageSnapshot::default()
        }
    }

    fn on_at(observed_at_ms: i64) -> ExtraUsage {
        ExtraUsage {
            observed_at_ms,
            ..eu(Some(true), Some(50.0), None)
        }
    }

    #[test]
    fn the_watch_waits_until_a_reading_after_its_start_says_on() {
        let watch = EnableWatch::new(10_000, 60_000);
        assert_eq!(watch.deadline_ms, 70_000);
        let off = ExtraUsage {
            observed_at_ms: 20_000,
            ..eu(Some(false), None, None)
        };
        assert_eq!(
            watch.step(&seen(true, Some(off)), 20_000),
            WatchStep::Waiting
        );
        assert_eq!(watch.step(&seen(true, None), 20_000), WatchStep::Waiting);
        // An "on" read before the user was sent to the page confirms nothing.
        assert_eq!(
            watch.step(&seen(true, Some(on_at(9_999))), 20_000),
            WatchStep::Waiting
        );
        assert_eq!(
            watch.step(&seen(true, Some(on_at(10_000))), 20_000),
            WatchStep::Enabled(on_at(10_000))
        );
    }

    #[test]
    fn the_watch_times_out_at_its_deadline_unless_the_last_reading_confirms() {
        let watch = EnableWatch::new(10_000, 60_000);
        let off = seen(true, Some(eu(Some(false), None, None)));
        assert_eq!(watch.step(&off, 69_999), WatchStep::Waiting);
        assert_eq!(watch.step(&off, 70_000), WatchStep::TimedOut);
        assert_eq!(
            watch.step(&seen(true, Some(on_at(70_000))), 70_000),
            WatchStep::Enabled(on_at(70_000))
        );
        // A timeout past the end of time does not overflow.
        assert_eq!(EnableWatch::new(10, i64::MAX).deadline_ms, i64::MAX);
    }

    #[test]
    fn the_watch_ends_at_once_without_a_source_that_reports_extra_usage() {
        let watch = EnableWatch::new(10_000, 60_000);
        assert_eq!(watch.step(&seen(false, None), 20_000), WatchStep::NoSource);
        assert_eq!(
            watch.step(&UsageSnapshot::default(), 20_000),
            WatchStep::NoSource
        );
        // The statusline feed never carries Extra Usage.
        let mut statusline_only = seen(true, Some(on_at(20_000)));
        statusline_only.sources[0].source = Source::Statusline;
        assert_eq!(watch.step(&statusline_only, 20_000), WatchStep::NoSource);
    }
}
