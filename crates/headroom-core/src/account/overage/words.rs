//! The words of a write: what the account says after it, and how that differs from what was
//! asked.

use super::{CapChoice, Change, Verified};
use crate::account::AccountConfig;
use crate::snapshot::ExtraUsage;
use crate::text;

pub(super) fn money_cents(cents: u64, currency: &str) -> String {
    text::money(cents as f64 / 100.0, currency)
}

pub(super) fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What the account says, against what was asked.
pub fn verified(
    change: &Change,
    account: ExtraUsage,
    confirmed_at_ms: i64,
    config: &AccountConfig,
) -> Verified {
    let summary = summary(&account, confirmed_at_ms, confirmed_at_ms, config);
    let difference = difference(change, &account);
    Verified {
        matches: difference.is_none(),
        difference,
        summary,
        account,
        confirmed_at_ms,
        answer_lost: None,
    }
}

/// "Extra Usage is on · cap $50.00 · confirmed by your account at 14:05" (the clock in the
/// user's zone, by `text::clock`).
pub fn summary(eu: &ExtraUsage, at_ms: i64, now_ms: i64, config: &AccountConfig) -> String {
    let state = match eu.enabled {
        Some(true) => match eu.monthly_limit {
            Some(limit) => format!(
                "Extra Usage is on · cap {}",
                text::money(limit, &eu.currency)
            ),
            None => "Extra Usage is on · no monthly cap".to_owned(),
        },
        // The reason is an API code (`user_disabled`), not words for a person.
        Some(false) => "Extra Usage is off".to_owned(),
        None => "Extra Usage: the account did not say whether it is on".to_owned(),
    };
    format!(
        "{state} · confirmed by your account at {}",
        text::clock(at_ms, now_ms, config.zone)
    )
}

/// How the account differs from what was asked, in words; `None` when it says the same.
pub fn difference(change: &Change, eu: &ExtraUsage) -> Option<String> {
    let want_on = change.enabled();
    match eu.enabled {
        None => {
            return Some(
                "the account did not say whether Extra Usage is on, so the change is not confirmed"
                    .to_owned(),
            )
        }
        Some(on) if on != want_on => {
            return Some(if want_on {
                "you asked to turn Extra Usage on, but the account still reports it off".to_owned()
            } else {
                "you asked to turn Extra Usage off, but the account still reports it on".to_owned()
            });
        }
        Some(_) => {}
    }
    let asked = change.cap()?;
    let money = |v: f64| text::money(v, &eu.currency);
    match (asked, eu.monthly_limit) {
        (CapChoice::Cap(cap), Some(limit)) if (limit - cap.dollars()).abs() < 0.005 => None,
        (CapChoice::NoCap, None) => None,
        (CapChoice::Cap(cap), Some(limit)) => Some(format!(
            "you asked for a monthly cap of {}, but the account reports {}",
            money(cap.dollars()),
            money(limit)
        )),
        (CapChoice::Cap(cap), None) => Some(format!(
            "you asked for a monthly cap of {}, but the account reports no cap",
            money(cap.dollars())
        )),
        (CapChoice::NoCap, Some(limit)) => Some(format!(
            "you asked for no monthly cap, but the account reports a cap of {}",
            money(limit)
        )),
    }
}
