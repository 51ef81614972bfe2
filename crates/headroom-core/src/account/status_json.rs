//! The stable JSON view of a [`UsageSnapshot`]: what `headroom status --json` prints and what
//! the tray app can hand to scripts. Documented in `docs/account.md`.
//!
//! Stability rules: `schema_version` changes only when a field is removed or changes meaning;
//! new fields may appear at any time. Every key listed here is always present (`null` when
//! unknown). Times are RFC 3339 in UTC (`2026-12-01T14:00:00Z`); percentages are 0–100 and
//! may exceed 100; amounts are in major units (dollars, not cents) of `currency`.

use serde::{Deserialize, Serialize};

use crate::snapshot::{ForecastBasis, Plan, SessionAbsence, Source, UsageSnapshot, Window};

/// Bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// `headroom status --json`: a [`UsageSnapshot`] in the stable shape of `docs/account.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusJson {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// When the snapshot was taken.
    pub taken_at: String,
    /// The account's plan: `pro`, `max`, `ultra`, `team`, `enterprise` or `unknown`.
    pub plan: Plan,
    /// The 5-hour session window (Anthropic's figure, or the local estimate).
    pub session: Option<WindowFigure>,
    /// Why `session` is `null` although an account source answered: `no_limit_on_plan`
    /// (Ultra, Enterprise) or `not_running`; `null` otherwise.
    pub session_absent: Option<SessionAbsence>,
    /// The weekly window across all models.
    pub weekly: Option<WindowFigure>,
    /// Every window: session, weekly, per-model weekly (labelled with the model's name),
    /// and any other the account reports, by its key.
    pub windows: Vec<WindowEntry>,
    /// Extra Usage, from the newest source that reported it.
    pub extra_usage: Option<ExtraUsageJson>,
    /// The active local 5-hour block from Claude Code's transcripts.
    pub local_block: Option<LocalBlockJson>,
    /// When the session window fills at the current pace.
    pub forecast: ForecastJson,
    /// True when no account figure was seen recently (local estimates or old figures shown).
    pub stale: bool,
    /// Health of each source.
    pub sources: Vec<SourceJson>,
    /// Problems worth showing, in words a person can act on. Never contains a secret.
    pub errors: Vec<String>,
}

/// A window's figure, as `session` and `weekly` give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowFigure {
    /// Percent used, 0–100, may exceed 100.
    pub utilization: f64,
    /// When it resets; `null` for a dormant window.
    pub resets_at: Option<String>,
    /// Where the figure came from.
    pub source: Source,
    /// Seconds since the figure was observed.
    pub age_s: i64,
}

/// One entry of `windows`: a [`WindowFigure`] with its id and label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowEntry {
    /// `session`, `weekly`, `weekly:<model>` or the account's own key.
    pub id: String,
    /// What a person reads: "Session", "Weekly (Opus)".
    pub label: String,
    /// Percent used, 0–100, may exceed 100.
    pub utilization: f64,
    /// When it resets; `null` for a dormant window.
    pub resets_at: Option<String>,
    /// Where the figure came from.
    pub source: Source,
    /// Seconds since the figure was observed.
    pub age_s: i64,
}

/// Extra Usage (pay-as-you-go past the limits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtraUsageJson {
    /// `null` when the source did not say.
    pub enabled: Option<bool>,
    /// `null` when uncapped (or unknown while off).
    pub monthly_limit: Option<f64>,
    /// Spent this month.
    pub used: Option<f64>,
    /// The currency of the amounts (`USD`, `EUR`).
    pub currency: String,
    /// Prepaid credit balance, where a source gives it.
    pub balance: Option<f64>,
    /// Why it is off, when the account says: the account's code, for scripts.
    pub disabled_reason: Option<String>,
    /// The same in words a person reads (`extra_usage::disabled_reason_text`).
    pub disabled_reason_text: Option<String>,
    /// How far spend is past the monthly cap; `null` within it or without a cap.
    pub over_cap: Option<f64>,
    /// Where the figures came from.
    pub source: Source,
    /// Seconds since they were observed.
    pub age_s: i64,
}

/// The active local 5-hour block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalBlockJson {
    /// When it began (its first message's hour).
    pub started_at: String,
    /// When it ends: five hours later.
    pub ends_at: String,
    /// Tokens used in it so far.
    pub total_tokens: u64,
    /// Their cost in dollars.
    pub cost_usd: f64,
    /// Pace so far; `null` until there is one.
    pub tokens_per_minute: Option<f64>,
    /// Cost pace, same basis.
    pub cost_per_hour: Option<f64>,
}

/// When the session window fills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastJson {
    /// When the session window reaches 100 % at the current pace; `null` when it would not
    /// before it resets, or the pace is unknown. Always a forecast, never a measurement.
    pub session_full_at: Option<String>,
    /// What the forecast was computed from; `null` with no forecast.
    pub basis: Option<ForecastBasis>,
    /// Percent per hour the forecast assumes.
    pub percent_per_hour: Option<f64>,
}

/// Health of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceJson {
    /// The source described.
    pub source: Source,
    /// Whether it is set up at all (credentials found, statusline installed, key stored).
    pub configured: bool,
    /// When it last gave figures.
    pub last_success_at: Option<String>,
    /// No request before this (rate-limit cool-down or backoff).
    pub cooldown_until: Option<String>,
    /// The last problem, in words a person can act on. Never contains a secret.
    pub error: Option<String>,
}

/// `2026-12-01T14:00:00Z` (milliseconds only when there are some).
pub fn rfc3339(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) if ms % 1000 == 0 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => "1970-01-01T00:00:00Z".to_owned(),
    }
}

fn age_s(observed_ms: i64, now_ms: i64) -> i64 {
    (now_ms - observed_ms).max(0) / 1000
}

fn figure(w: &Window, now_ms: i64) -> WindowFigure {
    WindowFigure {
        utilization: w.utilization,
        resets_at: w.resets_at_ms.map(rfc3339),
        source: w.source,
        age_s: age_s(w.observed_at_ms, now_ms),
    }
}

impl StatusJson {
    /// The JSON view of a snapshot, ages counted from when it was taken.
    pub fn from_snapshot(s: &UsageSnapshot) -> StatusJson {
        let now = s.taken_at_ms;
        StatusJson {
            schema_version: SCHEMA_VERSION,
            taken_at: rfc3339(now),
            plan: s.plan,
            session: s.session.as_ref().map(|w| figure(w, now)),
            session_absent: s.session_absent,
            weekly: s.weekly.as_ref().map(|w| figure(w, now)),
            windows: s
                .windows
                .iter()
                .map(|w| WindowEntry {
                    id: w.id.clone(),
                    label: w.label.clone(),
                    utilization: w.utilization,
                    resets_at: w.resets_at_ms.map(rfc3339),
                    source: w.source,
                    age_s: age_s(w.observed_at_ms, now),
                })
                .collect(),
            extra_usage: s.extra_usage.as_ref().map(|e| ExtraUsageJson {
                enabled: e.enabled,
                monthly_limit: e.monthly_limit,
                used: e.used,
                currency: e.currency.clone(),
                balance: e.balance,
                disabled_reason: e.disabled_reason.clone(),
                disabled_reason_text: e
                    .disabled_reason
                    .as_deref()
                    .map(|code| super::extra_usage::disabled_reason_text(code).to_owned()),
                over_cap: super::extra_usage::over_cap(e),
                source: e.source,
                age_s: age_s(e.observed_at_ms, now),
            }),
            local_block: s.local_block.as_ref().map(|b| LocalBlockJson {
                started_at: rfc3339(b.start_ms),
                ends_at: rfc3339(b.end_ms),
                total_tokens: b.total_tokens,
                cost_usd: b.cost_usd,
                tokens_per_minute: b.tokens_per_minute,
                cost_per_hour: b.cost_per_hour,
            }),
            forecast: ForecastJson {
                session_full_at: s.forecast.session_full_at_ms.map(rfc3339),
                basis: s.forecast.basis,
                percent_per_hour: s.forecast.percent_per_hour,
            },
            stale: s.stale,
            sources: s
                .sources
                .iter()
                .map(|st| SourceJson {
                    source: st.source,
                    configured: st.configured,
                    last_success_at: st.last_success_ms.map(rfc3339),
                    cooldown_until: st.cooldown_until_ms.map(rfc3339),
                    error: st.error.clone(),
                })
                .collect(),
            errors: s.errors.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::usage::make_window;
    use crate::snapshot::{ExtraUsage, WindowKind};

    #[test]
    fn times_are_rfc3339_utc_and_every_key_is_present() {
        assert_eq!(rfc3339(1_764_597_600_000), "2025-12-01T14:00:00Z");
        assert_eq!(rfc3339(1_764_597_600_250), "2025-12-01T14:00:00.250Z");
        let now = 1_764_597_600_000;
        let snap = UsageSnapshot {
            taken_at_ms: now,
            session: Some(make_window(
                WindowKind::Session,
                42.5,
                Some(now + 3_600_000),
                Source::Statusline,
                now - 90_000,
            )),
            extra_usage: Some(ExtraUsage {
                enabled: Some(true),
                monthly_limit: None,
                used: Some(12.34),
                currency: "USD".into(),
                balance: None,
                disabled_reason: None,
                source: Source::Account,
                observed_at_ms: now,
            }),
            ..UsageSnapshot::default()
        };
        let v = serde_json::to_value(StatusJson::from_snapshot(&snap)).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["session"]["utilization"], 42.5);
        assert_eq!(v["session"]["resets_at"], "2025-12-01T15:00:00Z");
        assert_eq!(v["session"]["source"], "statusline");
        assert_eq!(v["session"]["age_s"], 90);
        assert!(v["weekly"].is_null());
        assert!(v["extra_usage"]["monthly_limit"].is_null());
        assert_eq!(v["extra_usage"]["used"], 12.34);
        assert!(v["forecast"]
            .as_object()
            .unwrap()
            .contains_key("session_full_at"));
        for key in ["windows", "stale", "errors", "sources", "local_block"] {
            assert!(v.as_object().unwrap().contains_key(key), "{key}");
        }
    }
}
