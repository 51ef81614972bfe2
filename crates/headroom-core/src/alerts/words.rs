//! Every sentence an alert says: one function per alert kind, from the facts its rule found to
//! the notification's `(title, body)`. The rules (`rules`) decide whether an alert fires, how
//! loud it is and which buttons it offers; they never write a word. `docs/alerts.md` quotes
//! these sentences, and `tests/alerts_scenarios.rs` pins them.
//!
//! Numbers, money, clock times and durations are written by [`crate::text`], so a percent
//! reads the same in every sentence.

use crate::report::Zone;
use crate::text::{at_clock, clock, duration, money, percent, resets, whole_money};

/// A title and a body.
pub(super) type Words = (String, String);

/// The instant the words are written at, and the zone clock times are written in.
#[derive(Debug, Clone, Copy)]
pub(super) struct Now {
    pub ms: i64,
    pub zone: Zone,
}

impl Now {
    fn clock(self, at_ms: i64) -> String {
        clock(at_ms, self.ms, self.zone)
    }

    /// `at 11:32`, `tomorrow at 00:10`: a clock time after a verb.
    fn at_clock(self, at_ms: i64) -> String {
        at_clock(at_ms, self.ms, self.zone)
    }

    /// `resets at 14:00 (in 1 h 10 min)`.
    fn resets(self, resets_at_ms: Option<i64>) -> String {
        resets(resets_at_ms, self.ms, self.zone)
    }
}

/// "Session" → "session", "Weekly (Opus)" stays as is mid-sentence apart from the first letter.
fn lower_first(label: &str) -> String {
    let mut chars = label.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn estimate_note(estimated: bool) -> &'static str {
    if estimated {
        " (estimated from local transcripts)"
    } else {
        ""
    }
}

/// A window reset after passing `threshold`: capacity is back.
pub(super) fn reset(label: &str, utilization: f64, threshold: u8) -> Words {
    (
        format!("{label} window reset: full capacity again"),
        format!(
            "{label} usage is back to {} (it had passed {threshold} %).",
            percent(utilization)
        ),
    )
}

/// A window passed `threshold` (100 and more: the limit is reached). `extra_on` is whether
/// Extra Usage is on, when known; `estimated` whether the figure comes from local transcripts.
pub(super) fn threshold(
    label: &str,
    threshold: u8,
    utilization: f64,
    estimated: bool,
    extra_on: Option<bool>,
    resets_at_ms: Option<i64>,
    now: Now,
) -> Words {
    let note = estimate_note(estimated);
    let reset_text = now.resets(resets_at_ms);
    let u = percent(utilization);
    if threshold >= 100 {
        let after = match extra_on {
            Some(true) => "Extra Usage is on, so further use is billed to it until the window",
            Some(false) => "Work is stopped until the window",
            None => "Work is stopped (unless Extra Usage is on) until the window",
        };
        (
            format!("{label} limit reached"),
            format!("{label} usage is at {u}{note}. {after} {reset_text}."),
        )
    } else {
        (
            format!("{label} limit: {u} used"),
            format!("{label} usage passed {threshold} %: now {u}{note}; the window {reset_text}."),
        )
    }
}

/// Why Extra Usage cannot be turned on, or the prepaid balance it would use.
pub(super) enum TrapRemedy<'a> {
    /// The account says why it is off (`disabled_reason`, in the words of
    /// `extra_usage::disabled_reason_text`).
    Blocked { reason: &'a str },
    /// It can be turned on; the prepaid balance, when there is one worth naming.
    TurnOn { balance: Option<(f64, &'a str)> },
}

/// The Extra Usage trap: near (or at) the limit with Extra Usage off.
pub(super) fn trap(
    label: &str,
    utilization: f64,
    resets_at_ms: Option<i64>,
    remedy: &TrapRemedy<'_>,
    now: Now,
) -> Words {
    let reset_text = now.resets(resets_at_ms);
    let stop = if utilization >= 100.0 {
        format!("Work is stopped until the window {reset_text}.")
    } else {
        format!("Work will stop at 100 % until the window {reset_text}.")
    };
    let body = match remedy {
        TrapRemedy::Blocked { reason } => format!("{stop} Extra Usage is off: {reason}."),
        TrapRemedy::TurnOn { balance } => {
            let balance = match balance {
                Some((b, currency)) => format!(
                    "your prepaid balance of {} is not used until you do",
                    money(*b, currency)
                ),
                None => "any prepaid balance is not used until you do".to_owned(),
            };
            format!("{stop} Turn on Extra Usage from Headroom (Enable Extra Usage, or `headroom extra-usage enable --cap DOLLARS`) to keep working past the limit; {balance}.")
        }
    };
    (
        format!("{label} at {} and Extra Usage is off", percent(utilization)),
        body,
    )
}

/// The window is full and Extra Usage is paying.
pub(super) fn running_on_extra(
    label: &str,
    used: f64,
    cap: Option<f64>,
    currency: &str,
    resets_at_ms: Option<i64>,
    now: Now,
) -> Words {
    let of_cap = match cap {
        Some(cap) => format!(" of your {} cap", money(cap, currency)),
        None => String::new(),
    };
    (
        "Now running on Extra Usage".to_owned(),
        format!(
            "The {} limit is reached and Extra Usage is paying: {} spent this month{of_cap}. The window {}.",
            lower_first(label),
            money(used, currency),
            now.resets(resets_at_ms)
        ),
    )
}

/// The session fills at `full_ms`, well before it resets at `reset_ms`. Worded as a
/// forecast, always.
pub(super) fn forecast(
    label: &str,
    full_ms: i64,
    reset_ms: i64,
    utilization: f64,
    estimated: bool,
    now: Now,
) -> Words {
    let label = lower_first(label);
    let full = now.at_clock(full_ms);
    (
        format!("Forecast: {label} limit {full}"),
        format!(
            "At this pace the {label} limit is reached {full}, {} before it resets {}{}. Now at {}.",
            duration(reset_ms - full_ms),
            now.at_clock(reset_ms),
            estimate_note(estimated),
            percent(utilization)
        ),
    )
}

fn cap_text(cap: Option<f64>, currency: &str) -> String {
    match cap {
        Some(c) => format!("a monthly cap of {}", money(c, currency)),
        None => "no monthly cap".to_owned(),
    }
}

pub(super) fn extra_usage_on(cap: Option<f64>, currency: &str) -> Words {
    (
        "Extra Usage was turned on".to_owned(),
        format!(
            "Use past your plan's limits is now billed, with {}.",
            cap_text(cap, currency)
        ),
    )
}

pub(super) fn extra_usage_off() -> Words {
    (
        "Extra Usage was turned off".to_owned(),
        "Nothing more is billed; work will stop when a limit is reached.".to_owned(),
    )
}

pub(super) fn extra_usage_cap_changed(
    before: Option<f64>,
    after: Option<f64>,
    currency: &str,
) -> Words {
    (
        "Extra Usage cap changed".to_owned(),
        format!(
            "Extra Usage went from {} to {}.",
            cap_text(before, currency),
            cap_text(after, currency)
        ),
    )
}

/// `percent_step` % of the monthly cap is spent (`fraction`: the exact share, in percent).
pub(super) fn spend_cap(
    percent_step: u8,
    used: f64,
    cap: f64,
    spent_percent: f64,
    currency: &str,
) -> Words {
    let (title, tail) = if percent_step >= 100 {
        (
            "Extra Usage cap reached".to_owned(),
            " Work stops at the limits until you raise the cap or the month ends.",
        )
    } else {
        (
            format!("Extra Usage: {percent_step} % of your cap spent"),
            "",
        )
    };
    (
        title,
        format!(
            "{} of your {} monthly cap is spent ({}).{tail}",
            money(used, currency),
            money(cap, currency),
            percent(spent_percent)
        ),
    )
}

/// Spend passed `spent` (a whole step) with no monthly cap.
pub(super) fn spend_step(spent: u64, used: f64, currency: &str) -> Words {
    (
        format!(
            "Extra Usage: {} spent this month",
            whole_money(spent, currency)
        ),
        format!(
            "{} of Extra Usage spent this month, with no monthly cap.",
            money(used, currency)
        ),
    )
}

/// The account's figures are out of date: no success since `last_success_ms` (or, never
/// seen one, for `failing_for_ms`), while `label` was high.
pub(super) fn stale(
    last_success_ms: Option<i64>,
    failing_for_ms: i64,
    error: &str,
    label: &str,
    utilization: f64,
    now: Now,
) -> Words {
    let since_text = match last_success_ms {
        Some(at) => format!("since {}", now.clock(at)),
        None => format!("for {}", duration(failing_for_ms)),
    };
    (
        "Usage figures are out of date".to_owned(),
        format!(
            "Headroom has not read your account's usage {since_text} ({error}). {label} was at {} when last seen; alerts may come late until this is fixed.",
            percent(utilization)
        ),
    )
}

#[cfg(test)]
mod tests {
    //! The sentences no scenario test in `tests/alerts_scenarios.rs` reaches, pinned here as
    //! the engine wrote them before the words left the rules.
    use super::*;

    const NOW: Now = Now {
        ms: 1_764_000_000_000,
        zone: Zone::Named(chrono_tz::Europe::Berlin),
    };

    #[test]
    fn extra_usage_off_and_cap_changed() {
        assert_eq!(
            extra_usage_off(),
            (
                "Extra Usage was turned off".to_owned(),
                "Nothing more is billed; work will stop when a limit is reached.".to_owned()
            )
        );
        assert_eq!(
            extra_usage_cap_changed(Some(50.0), None, "USD"),
            (
                "Extra Usage cap changed".to_owned(),
                "Extra Usage went from a monthly cap of $50.00 to no monthly cap.".to_owned()
            )
        );
    }

    #[test]
    fn stale_figures_say_since_when() {
        let (title, body) = stale(None, 45 * 60_000, "HTTP 500", "Session", 91.4, NOW);
        assert_eq!(title, "Usage figures are out of date");
        assert_eq!(
            body,
            format!(
                "Headroom has not read your account's usage for {} (HTTP 500). Session was at 91 % when last seen; alerts may come late until this is fixed.",
                duration(45 * 60_000)
            )
        );
        let last = NOW.ms - 50 * 60_000;
        let (_, body) = stale(Some(last), 0, "HTTP 500", "Weekly", 80.0, NOW);
        assert!(
            body.starts_with(&format!(
                "Headroom has not read your account's usage since {} (HTTP 500). Weekly was at 80 %",
                clock(last, NOW.ms, NOW.zone)
            )),
            "{body}"
        );
    }

    /// Every sentence every alert kind can say, in one document pinned by `insta`
    /// (`snapshots/`): a changed word shows as a diff to review and accept, and a sentence
    /// no scenario reaches cannot change unseen. Clock times are in UTC from a fixed instant.
    #[test]
    fn every_sentence_is_pinned() {
        let now = Now {
            ms: 1_764_000_000_000,
            zone: Zone::Named(chrono_tz::UTC),
        };
        let in_2h = Some(now.ms + 2 * 3_600_000);
        let tomorrow = Some(now.ms + 30 * 3_600_000);
        let cases: Vec<(&str, Words)> = vec![
            ("reset", reset("Session", 3.0, 90)),
            (
                "threshold 75, from the account",
                threshold("Session", 75, 76.4, false, Some(false), in_2h, now),
            ),
            (
                "threshold 90, estimated, no reset known",
                threshold("Weekly", 90, 90.0, true, None, None, now),
            ),
            (
                "limit reached, Extra Usage on",
                threshold("Session", 100, 100.0, false, Some(true), in_2h, now),
            ),
            (
                "limit reached, Extra Usage off",
                threshold(
                    "Weekly (Opus)",
                    100,
                    100.0,
                    false,
                    Some(false),
                    tomorrow,
                    now,
                ),
            ),
            (
                "limit reached, Extra Usage unknown",
                threshold("Session", 100, 100.0, true, None, in_2h, now),
            ),
            (
                "trap, blocked",
                trap(
                    "Session",
                    92.0,
                    in_2h,
                    &TrapRemedy::Blocked {
                        reason: "your organization's admin turned it off",
                    },
                    now,
                ),
            ),
            (
                "trap, with a balance",
                trap(
                    "Weekly",
                    100.0,
                    tomorrow,
                    &TrapRemedy::TurnOn {
                        balance: Some((12.5, "USD")),
                    },
                    now,
                ),
            ),
            (
                "trap, no balance",
                trap(
                    "Session",
                    95.0,
                    in_2h,
                    &TrapRemedy::TurnOn { balance: None },
                    now,
                ),
            ),
            (
                "running on Extra Usage, capped",
                running_on_extra("Session", 4.2, Some(50.0), "USD", in_2h, now),
            ),
            (
                "running on Extra Usage, no cap",
                running_on_extra("Weekly", 31.0, None, "EUR", None, now),
            ),
            (
                "forecast, from the account",
                forecast(
                    "Session",
                    now.ms + 40 * 60_000,
                    now.ms + 95 * 60_000,
                    71.0,
                    false,
                    now,
                ),
            ),
            (
                "forecast, estimated",
                forecast(
                    "Weekly",
                    now.ms + 20 * 3_600_000,
                    now.ms + 50 * 3_600_000,
                    80.0,
                    true,
                    now,
                ),
            ),
            ("Extra Usage on, capped", extra_usage_on(Some(50.0), "USD")),
            ("Extra Usage on, no cap", extra_usage_on(None, "USD")),
            ("Extra Usage off", extra_usage_off()),
            (
                "cap changed",
                extra_usage_cap_changed(Some(50.0), Some(120.0), "USD"),
            ),
            ("spend cap 50 %", spend_cap(50, 25.0, 50.0, 50.0, "USD")),
            ("spend cap 100 %", spend_cap(100, 50.0, 50.0, 100.0, "USD")),
            ("spend step", spend_step(20, 20.37, "USD")),
            (
                "stale, never read",
                stale(None, 45 * 60_000, "HTTP 500", "Session", 91.4, now),
            ),
            (
                "stale, read before",
                stale(
                    Some(now.ms - 50 * 60_000),
                    0,
                    "offline (dns error)",
                    "Weekly",
                    80.0,
                    now,
                ),
            ),
        ];
        let document: String = cases
            .iter()
            .map(|(case, (title, body))| format!("## {case}\n{title}\n{body}\n\n"))
            .collect();
        insta::assert_snapshot!(document);
    }
}
