//! The alert policy: snapshot + previous state + settings + `now` → alerts + new state.
//!
//! Window instances. A window's instance is its id and its reset time. Reset times from the
//! account jitter by a few seconds between polls, so two reset times within
//! [`INSTANCE_TOLERANCE_MS`] are the same instance. A different reset time starts a new
//! instance only when the old one was due (or unknown), or when usage dropped by
//! [`DROP_POINTS`] or more (an early reset Anthropic granted); otherwise the schedule merely
//! moved and the instance, with what it already announced, carries on under the new time.
//!
//! Per instance the state remembers the highest threshold announced, whether the Extra Usage
//! trap and "running on Extra Usage" were said, and the forecast last announced. Thresholds
//! only ever go up within an instance: a jump from 50 % to 95 % announces 90 % only, and a dip
//! back under a threshold never re-announces it.
//!
//! This file keeps the state, the instance tracking and [`evaluate`], which runs the rules
//! (`rules`: whether an alert fires) and hands their facts to `words` (what it says).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::rules::{extra_usage_alerts, stale_alert, window_alerts, WindowCtx};
use super::words::Now;
use super::{sort_by_severity, Alert, Delivery, Notification, Suppression};
use crate::report::Zone;
use crate::settings::AlertSettings;
use crate::snapshot::{Source, UsageSnapshot, Window, WindowKind};
use crate::text;

/// Reset times closer than this are the same window instance.
pub const INSTANCE_TOLERANCE_MS: i64 = 10 * 60_000;
/// A fall in usage of this many points, with a new reset time, is a reset even before the old
/// reset time (Anthropic has reset everyone's limits early before).
pub(super) const DROP_POINTS: f64 = 10.0;
/// Window state with a reset time older than this is forgotten (windows that disappeared).
const FORGET_AFTER_MS: i64 = 8 * 24 * 3_600_000;
/// Money differences below half a cent are noise.
pub(super) const CENT: f64 = 0.005;

/// What the engine remembers about one window instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowState {
    /// The instance's reset time, as last seen (follows jitter and schedule moves).
    pub resets_at_ms: Option<i64>,
    /// The instance's key, fixed when it was first seen: `<id>@<reset minute>`.
    pub instance: String,
    /// Which limit the window is.
    pub kind: WindowKind,
    /// Its label, for the words of a reset alert.
    pub label: String,
    /// Usage last seen.
    pub utilization: f64,
    /// Highest threshold announced in this instance.
    #[serde(default)]
    pub threshold: Option<u8>,
    /// Whether the Extra Usage trap was announced in this instance.
    #[serde(default)]
    pub trap: bool,
    /// Whether "now running on Extra Usage" was announced in this instance.
    #[serde(default)]
    pub running_on_extra: bool,
    /// The forecast fill time last announced in this instance.
    #[serde(default)]
    pub forecast_at_ms: Option<i64>,
}

/// The last Extra Usage state seen (the baseline for "it was turned on / off / re-capped").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ExtraState {
    /// On or off, as last seen.
    pub enabled: Option<bool>,
    /// The monthly cap, as last seen.
    pub monthly_limit: Option<f64>,
    /// Spend this month, as last seen.
    pub used: Option<f64>,
}

/// Spend announced this month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SpendState {
    /// The cap the percentages below refer to; a new cap re-arms them.
    pub cap: Option<f64>,
    /// Highest percent of the cap announced.
    pub cap_percent: Option<u8>,
    /// Highest multiple of the spend step announced (no cap).
    pub steps: Option<u64>,
}

/// An ongoing account-source outage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct StaleState {
    /// When the engine first saw the failure (used when the source never succeeded).
    pub failing_since_ms: Option<i64>,
    /// Whether this outage was announced.
    pub announced: bool,
}

/// Everything the engine remembers between evaluations (kept in the ledger).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct EngineState {
    /// Each window's state, by window id.
    pub windows: BTreeMap<String, WindowState>,
    /// The Extra Usage baseline; `None` before it was first seen.
    pub extra: Option<ExtraState>,
    /// Spend announced this month.
    pub spend: SpendState,
    /// The account-source outage, if one is ongoing.
    pub stale: StaleState,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// New alerts, most severe first.
    pub alerts: Vec<Alert>,
    /// The state to keep for the next evaluation.
    pub state: EngineState,
    /// What to do with the alerts.
    pub delivery: Delivery,
}

/// The time "snooze until reset" snoozes to: the session window's reset, if known and ahead.
pub fn snooze_until_reset(snapshot: &UsageSnapshot, now_ms: i64) -> Option<i64> {
    windows(snapshot)
        .into_iter()
        .find(|w| w.kind == WindowKind::Session)
        .and_then(|w| w.resets_at_ms)
        .filter(|&at| at > now_ms)
}

/// Every window of the snapshot once: `windows`, plus `session`/`weekly` if missing there.
fn windows(snapshot: &UsageSnapshot) -> Vec<&Window> {
    let mut all: Vec<&Window> = snapshot.windows.iter().collect();
    for w in [&snapshot.session, &snapshot.weekly].into_iter().flatten() {
        if !all.iter().any(|o| o.id == w.id) {
            all.push(w);
        }
    }
    all
}

pub(super) fn instance_key(id: &str, resets_at_ms: Option<i64>) -> String {
    match resets_at_ms {
        Some(reset) => format!("{id}@{}", reset.div_euclid(60_000)),
        None => format!("{id}@-"),
    }
}

/// Whether `w` belongs to a new instance of the window `prev` describes.
pub(super) fn is_new_instance(prev: &WindowState, w: &Window, now_ms: i64) -> bool {
    match (prev.resets_at_ms, w.resets_at_ms) {
        (Some(a), Some(b)) if (a - b).abs() <= INSTANCE_TOLERANCE_MS => false,
        (None, None) => false,
        (old, _) => {
            let due = old.is_none_or(|a| now_ms >= a - INSTANCE_TOLERANCE_MS);
            let dropped = w.utilization <= prev.utilization - DROP_POINTS;
            due || dropped
        }
    }
}

pub(super) fn thresholds<'a>(settings: &'a AlertSettings, kind: &WindowKind) -> &'a [u8] {
    match kind {
        WindowKind::Session => &settings.session_thresholds,
        WindowKind::Weekly => &settings.weekly_thresholds,
        WindowKind::WeeklyModel { .. } => &settings.model_weekly_thresholds,
        // Unknown windows are shown but not alerted on: we cannot tell what they limit, so we
        // cannot say anything useful about them.
        WindowKind::Other { .. } => &[],
    }
}

pub(super) fn reset_enabled(settings: &AlertSettings, kind: &WindowKind) -> bool {
    match kind {
        WindowKind::Session => settings.reset_session,
        _ => settings.reset_weekly,
    }
}

/// Runs the alert policy once. Pure: see the module documentation.
pub fn evaluate(
    snapshot: &UsageSnapshot,
    previous: &EngineState,
    settings: &AlertSettings,
    now_ms: i64,
    zone: Zone,
) -> Evaluation {
    let mut state = previous.clone();
    let mut alerts = Vec::new();
    let extra = snapshot.extra_usage.as_ref();
    let prev_extra = previous.extra.clone();
    // Spend grew since the last evaluation (same month): Extra Usage is paying for something.
    let spend_grew = match (
        prev_extra.as_ref().and_then(|e| e.used),
        extra.and_then(|e| e.used),
    ) {
        (Some(before), Some(now)) => now > before + CENT,
        _ => false,
    };

    let ctx = WindowCtx {
        snapshot,
        settings,
        spend_grew,
        now: Now { ms: now_ms, zone },
    };
    // Claude Code's cached answer is shown, never alerted on: it can be days old.
    for w in windows(snapshot) {
        if !w.utilization.is_finite() || w.source == Source::ClaudeCodeCache {
            continue;
        }
        window_alerts(w, &ctx, &mut state, &mut alerts);
    }
    state.windows.retain(|_, ws| {
        ws.resets_at_ms
            .is_none_or(|at| at > now_ms - FORGET_AFTER_MS)
    });

    if let Some(eu) = extra.filter(|eu| eu.source != Source::ClaudeCodeCache) {
        extra_usage_alerts(eu, &mut state, settings, &mut alerts);
    }
    stale_alert(snapshot, &mut state, settings, ctx.now, &mut alerts);

    sort_by_severity(&mut alerts);
    let delivery = if alerts.is_empty() {
        Delivery::Nothing
    } else if let Some(until_ms) = settings.snoozed_until_ms.filter(|&u| u > now_ms) {
        Delivery::Suppressed {
            why: Suppression::Snoozed { until_ms },
        }
    } else if settings
        .quiet_hours
        .is_some_and(|q| q.contains(text::minute_of_day(now_ms, zone)))
    {
        Delivery::Suppressed {
            why: Suppression::QuietHours,
        }
    } else {
        match Notification::combine(&alerts) {
            Some(notification) => Delivery::Deliver { notification },
            None => Delivery::Nothing,
        }
    };
    Evaluation {
        alerts,
        state,
        delivery,
    }
}
