//! A reading of the account's Extra Usage taken for a write: straight from
//! `GET /api/oauth/usage`, outside the poll cadence (still inside the shared 429 cool-down),
//! and read more strictly than a poll reads it. A poll may guess (a missing currency is shown
//! as USD, a missing cap as none) because it only shows figures; a write spends money, so
//! here a field the account did not state stays unknown, and the write path refuses to build
//! on it.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{CapChoice, Change, NOT_PROVISIONED};
use crate::snapshot::ExtraUsage;

/// The monthly cap as the account states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "minor")]
pub enum CapState {
    /// A cap, in the currency's minor units (cents).
    Cap(u64),
    /// The account says `null`: no monthly cap.
    NoCap,
    /// The field is missing, or not a whole non-negative number: not known. Never read as
    /// "no cap" (audit N14: a renamed field would have read as an uncapped account).
    Unknown,
}

/// What one direct reading of the account says about Extra Usage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    /// On or off; `None` when the answer did not say.
    pub enabled: Option<bool>,
    /// The monthly cap.
    pub cap: CapState,
    /// The account's currency (`USD`, `EUR`, ...), when the answer names one; never assumed.
    pub currency: Option<String>,
    /// How many decimals the account's amounts have (2 for cents); `None` when not said,
    /// which the answers' own rule reads as 2.
    pub decimals: u32,
    /// Whether Extra Usage was ever set up: `Some(false)` when the account says
    /// `overage_not_provisioned`.
    pub provisioned: Option<bool>,
    /// Why it is off, as the account says (an API code, for rules; never shown raw).
    pub disabled_reason: Option<String>,
    /// When it was read (epoch ms).
    pub read_at_ms: i64,
    /// The same answer as a poll reads it: what the ledger records and the summary words.
    pub extra_usage: Option<ExtraUsage>,
}

impl Reading {
    /// Reads the usage response's Extra Usage: the newer `spend` object wins over the legacy
    /// `extra_usage` (as the poll's parser, `account::usage`, does).
    pub fn from_usage(
        object: &Map<String, Value>,
        extra_usage: Option<ExtraUsage>,
        read_at_ms: i64,
    ) -> Reading {
        let empty = Map::new();
        let (state, spend) = match (
            object.get("spend").and_then(Value::as_object),
            object.get("extra_usage").and_then(Value::as_object),
        ) {
            (Some(s), _) if spend_has_state(s) => (s, true),
            (_, Some(e)) => (e, false),
            _ => (&empty, false),
        };
        let enabled = state
            .get(if spend { "enabled" } else { "is_enabled" })
            .or_else(|| state.get("enabled"))
            .and_then(Value::as_bool);
        let (cap, currency, decimals) = if spend {
            spend_cap(state)
        } else {
            legacy_cap(state)
        };
        let disabled_reason = state
            .get("disabled_reason")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let provisioned = match (disabled_reason.as_deref(), enabled) {
            (Some(NOT_PROVISIONED), _) => Some(false),
            (_, Some(true)) | (Some(_), _) => Some(true),
            _ => None,
        };
        Reading {
            enabled,
            cap,
            currency,
            decimals,
            provisioned,
            disabled_reason,
            read_at_ms,
            extra_usage,
        }
    }

    /// Whether the account says Extra Usage was never set up.
    pub fn not_provisioned(&self) -> bool {
        self.provisioned == Some(false)
    }

    /// Whether the account is in the state `change` asks for.
    pub fn shows(&self, change: &Change) -> bool {
        match change {
            Change::Disable => self.enabled == Some(false),
            Change::Enable(c) | Change::SetCap(c) => {
                self.enabled == Some(true)
                    && match (c, self.cap) {
                        (CapChoice::Cap(cap), CapState::Cap(minor)) => cap.cents() == minor,
                        (CapChoice::NoCap, CapState::NoCap) => true,
                        _ => false,
                    }
            }
        }
    }

    /// What differs between this reading and `before`, in the terms a person confirmed: on or
    /// off, the cap, the currency, set up or not. `None` when nothing they confirmed changed.
    pub fn changed_since(&self, before: &Reading) -> Option<String> {
        let mut what = Vec::new();
        if self.enabled != before.enabled {
            what.push(format!(
                "Extra Usage is now {} (it was {})",
                on_off(self.enabled),
                on_off(before.enabled)
            ));
        }
        if self.cap != before.cap || self.decimals != before.decimals {
            what.push("its monthly cap changed".to_owned());
        }
        if self.currency != before.currency {
            what.push("its currency changed".to_owned());
        }
        // Off with no reason given says nothing about being set up: only two statements that
        // disagree are a change.
        if matches!((self.provisioned, before.provisioned), (Some(a), Some(b)) if a != b) {
            what.push("whether it is set up changed".to_owned());
        }
        (!what.is_empty()).then(|| what.join(", "))
    }
}

fn on_off(enabled: Option<bool>) -> &'static str {
    match enabled {
        Some(true) => "on",
        Some(false) => "off",
        None => "not stated",
    }
}

/// A valid ISO 4217-shaped code, upper-cased: three ASCII letters.
pub(super) fn currency_code(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// A whole, non-negative amount of minor units (`5000`, `5000.0`).
fn minor_units(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64).then_some(f as u64)
}

fn decimals_of(v: Option<&Value>) -> u32 {
    v.and_then(Value::as_u64)
        .and_then(|d| u32::try_from(d).ok())
        .unwrap_or(2)
}

fn spend_has_state(s: &Map<String, Value>) -> bool {
    s.contains_key("enabled") || s.contains_key("limit")
}

/// `spend.limit`: `{amount_minor, currency, exponent}`, or `null` for no cap.
fn spend_cap(s: &Map<String, Value>) -> (CapState, Option<String>, u32) {
    let currency = || {
        currency_code(s.get("currency"))
            .or_else(|| currency_code(s.get("used").and_then(|u| u.get("currency"))))
    };
    match s.get("limit") {
        Some(Value::Null) => (CapState::NoCap, currency(), 2),
        Some(Value::Object(limit)) => {
            let cap = limit
                .get("amount_minor")
                .and_then(minor_units)
                .map_or(CapState::Unknown, CapState::Cap);
            (
                cap,
                currency_code(limit.get("currency")).or_else(currency),
                decimals_of(limit.get("exponent")),
            )
        }
        _ => (CapState::Unknown, currency(), 2),
    }
}

/// `extra_usage.monthly_limit` (or the older `monthly_credit_limit`), minor units with
/// `decimal_places` (2 when absent), or `null` for no cap.
fn legacy_cap(e: &Map<String, Value>) -> (CapState, Option<String>, u32) {
    let field = e
        .get("monthly_limit")
        .or_else(|| e.get("monthly_credit_limit"));
    let cap = match field {
        Some(Value::Null) => CapState::NoCap,
        Some(v) => minor_units(v).map_or(CapState::Unknown, CapState::Cap),
        None => CapState::Unknown,
    };
    (
        cap,
        currency_code(e.get("currency")),
        decimals_of(e.get("decimal_places")),
    )
}
