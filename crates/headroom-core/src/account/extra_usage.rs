//! Extra Usage: its state in words, the trap (a window near its limit while Extra Usage is
//! off), the chosen cap against the account's, and the enable flow's watch.
//!
//! Anthropic offers no API to turn Extra Usage on or set its cap: the user does it at
//! [`SETTINGS_URL`]. The front end opens that page; [`watch_until_enabled`] then asks the
//! account (forced polls, at most one per `every`) until it reports Extra Usage on, or gives
//! up after `timeout`. Only a reading taken after the watch started counts.

use std::time::Duration;

use super::{AccountError, Mode, Refresher};
use crate::alerts::text;
use crate::ledger::Ledger;
use crate::settings::Cap;
use crate::snapshot::{ExtraUsage, Source, UsageSnapshot};

pub use crate::alerts::EXTRA_USAGE_SETTINGS_URL as SETTINGS_URL;

/// The percent of the session or weekly window at which the trap is pointed out.
pub const TRAP_PERCENT: f64 = 90.0;

/// `on, cap $50.00, $12.30 spent this month, balance $5.00` and the like.
pub fn describe(eu: &ExtraUsage) -> String {
    let mut parts = vec![match eu.enabled {
        Some(true) => "on".to_owned(),
        Some(false) => match &eu.disabled_reason {
            Some(why) => format!("off ({why})"),
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
        if let Some(f) = eu.cap_fraction() {
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

/// The trap: a window at or near its limit while Extra Usage is off. Returns the warning.
pub fn trap(snapshot: &UsageSnapshot) -> Option<String> {
    let eu = snapshot.extra_usage.as_ref()?;
    if eu.enabled != Some(false) {
        return None;
    }
    let w = [&snapshot.session, &snapshot.weekly]
        .into_iter()
        .flatten()
        .filter(|w| w.utilization >= TRAP_PERCENT)
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
        "{} is at {}{estimate} and Extra Usage is off: work stops at 100 % until the window resets, and {balance} will not be used until Extra Usage is turned on ({SETTINGS_URL}, or `headroom extra-usage enable`).",
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
        Some(limit) => Some(format!(
            "the account's monthly cap is {} but you chose {}; change it at {SETTINGS_URL}",
            text::money(limit, &eu.currency),
            chosen
        )),
        None => Some(format!(
            "the account has no monthly cap but you chose {chosen}; set it at {SETTINGS_URL}"
        )),
    }
}

/// How the watch ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Watched {
    /// The account reported Extra Usage on.
    Enabled(ExtraUsage),
    /// Gave up; the last snapshot taken.
    TimedOut(Box<UsageSnapshot>),
    /// No source that reports Extra Usage is set up (no Claude Code login, no claude.ai key).
    NoSource,
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

/// Polls the account (forced, at most once per `every`) until it reports Extra Usage on.
/// `clock` gives epoch ms; `progress` sees each snapshot.
pub async fn watch_until_enabled(
    refresher: &Refresher,
    ledger: &mut Ledger,
    clock: impl Fn() -> i64,
    every: Duration,
    timeout: Duration,
    mut progress: impl FnMut(&UsageSnapshot),
) -> Result<Watched, AccountError> {
    let started = clock();
    let deadline = started + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX / 2);
    loop {
        let now = clock();
        let snapshot = refresher.refresh(ledger, now, Mode::Force).await?;
        progress(&snapshot);
        if !can_report(&snapshot) {
            return Ok(Watched::NoSource);
        }
        if let Some(eu) = enabled_since(&snapshot, started) {
            return Ok(Watched::Enabled(eu.clone()));
        }
        if clock() >= deadline {
            return Ok(Watched::TimedOut(Box::new(snapshot)));
        }
        tokio::time::sleep(every).await;
    }
}

/// [`watch_until_enabled`] for synchronous callers.
pub fn watch_until_enabled_blocking(
    refresher: &Refresher,
    ledger: &mut Ledger,
    clock: impl Fn() -> i64,
    every: Duration,
    timeout: Duration,
    progress: impl FnMut(&UsageSnapshot),
) -> Result<Watched, AccountError> {
    super::runtime()?.block_on(watch_until_enabled(
        refresher, ledger, clock, every, timeout, progress,
    ))
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
        let t = trap(&s).unwrap();
        assert!(
            t.starts_with("Session is at 95 % and Extra Usage is off"),
            "{t}"
        );
        assert!(
            t.contains("will not be used until Extra Usage is turned on"),
            "{t}"
        );
        s.extra_usage = Some(eu(Some(true), None, None));
        assert_eq!(trap(&s), None);
        s.extra_usage = Some(eu(Some(false), None, None));
        s.session = Some(make_window(
            WindowKind::Session,
            80.0,
            None,
            Source::Statusline,
            0,
        ));
        assert_eq!(trap(&s), None);
    }

    #[test]
    fn cap_differences() {
        let cap = Cap::parse("50").ok();
        assert_eq!(cap_mismatch(cap, &eu(Some(true), Some(50.0), None)), None);
        assert!(cap_mismatch(cap, &eu(Some(true), Some(20.0), None))
            .unwrap()
            .contains("$20.00 but you chose $50.00"));
        assert!(cap_mismatch(cap, &eu(Some(true), None, None))
            .unwrap()
            .contains("no monthly cap"));
        assert_eq!(cap_mismatch(cap, &eu(Some(false), None, None)), None);
        assert_eq!(cap_mismatch(None, &eu(Some(true), Some(20.0), None)), None);
    }
}
