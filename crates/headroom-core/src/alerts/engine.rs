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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::text::{self, clock, duration, money, percent, resets, whole_money};
use super::{
    sort_by_severity, Action, Alert, AlertKind, Delivery, Level, Notification, Suppression,
};
use crate::num::floor_to_u64;
use crate::report::Zone;
use crate::settings::AlertSettings;
use crate::snapshot::{ExtraUsage, ForecastBasis, Source, UsageSnapshot, Window, WindowKind};

/// Reset times closer than this are the same window instance.
pub const INSTANCE_TOLERANCE_MS: i64 = 10 * 60_000;
/// A fall in usage of this many points, with a new reset time, is a reset even before the old
/// reset time (Anthropic has reset everyone's limits early before).
pub const DROP_POINTS: f64 = 10.0;
/// Window state with a reset time older than this is forgotten (windows that disappeared).
const FORGET_AFTER_MS: i64 = 8 * 24 * 3_600_000;
/// Money differences below half a cent are noise.
const CENT: f64 = 0.005;

/// What the engine remembers about one window instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowState {
    /// The instance's reset time, as last seen (follows jitter and schedule moves).
    pub resets_at_ms: Option<i64>,
    /// The instance's key, fixed when it was first seen: `<id>@<reset minute>`.
    pub instance: String,
    pub kind: WindowKind,
    pub label: String,
    /// Usage last seen.
    pub utilization: f64,
    /// Highest threshold announced in this instance.
    #[serde(default)]
    pub threshold: Option<u8>,
    #[serde(default)]
    pub trap: bool,
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
    pub enabled: Option<bool>,
    pub monthly_limit: Option<f64>,
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
    pub windows: BTreeMap<String, WindowState>,
    pub extra: Option<ExtraState>,
    pub spend: SpendState,
    pub stale: StaleState,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// New alerts, most severe first.
    pub alerts: Vec<Alert>,
    pub state: EngineState,
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

fn instance_key(id: &str, resets_at_ms: Option<i64>) -> String {
    match resets_at_ms {
        Some(reset) => format!("{id}@{}", reset.div_euclid(60_000)),
        None => format!("{id}@-"),
    }
}

/// Whether `w` belongs to a new instance of the window `prev` describes.
fn is_new_instance(prev: &WindowState, w: &Window, now_ms: i64) -> bool {
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

fn thresholds<'a>(settings: &'a AlertSettings, kind: &WindowKind) -> &'a [u8] {
    match kind {
        WindowKind::Session => &settings.session_thresholds,
        WindowKind::Weekly => &settings.weekly_thresholds,
        WindowKind::WeeklyModel { .. } => &settings.model_weekly_thresholds,
        // Unknown windows are shown but not alerted on: we cannot tell what they limit, so we
        // cannot say anything useful about them.
        WindowKind::Other { .. } => &[],
    }
}

fn reset_enabled(settings: &AlertSettings, kind: &WindowKind) -> bool {
    match kind {
        WindowKind::Session => settings.reset_session,
        _ => settings.reset_weekly,
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

fn estimate_note(source: Source) -> &'static str {
    if source == Source::LocalEstimate {
        " (estimated from local transcripts)"
    } else {
        ""
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

    for w in windows(snapshot) {
        if !w.utilization.is_finite() {
            continue;
        }
        window_alerts(
            w,
            &mut state,
            settings,
            snapshot,
            spend_grew,
            now_ms,
            zone,
            &mut alerts,
        );
    }
    state.windows.retain(|_, ws| {
        ws.resets_at_ms
            .is_none_or(|at| at > now_ms - FORGET_AFTER_MS)
    });

    if let Some(eu) = extra {
        extra_usage_alerts(eu, &mut state, settings, &mut alerts);
    }
    stale_alert(snapshot, &mut state, settings, now_ms, zone, &mut alerts);

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

#[allow(clippy::too_many_arguments)]
fn window_alerts(
    w: &Window,
    state: &mut EngineState,
    settings: &AlertSettings,
    snapshot: &UsageSnapshot,
    spend_grew: bool,
    now_ms: i64,
    zone: Zone,
    alerts: &mut Vec<Alert>,
) {
    let fresh = || WindowState {
        resets_at_ms: w.resets_at_ms,
        instance: instance_key(&w.id, w.resets_at_ms),
        kind: w.kind.clone(),
        label: w.label.clone(),
        utilization: w.utilization,
        threshold: None,
        trap: false,
        running_on_extra: false,
        forecast_at_ms: None,
    };
    let ws = match state.windows.get(&w.id) {
        Some(prev) if is_new_instance(prev, w, now_ms) => {
            if let Some(t) = prev.threshold {
                // "Full capacity again" only when capacity is actually back.
                if reset_enabled(settings, &prev.kind) && w.utilization < f64::from(t) {
                    alerts.push(Alert {
                        kind: AlertKind::Reset,
                        level: Level::Info,
                        window_id: Some(w.id.clone()),
                        instance: Some(prev.instance.clone()),
                        threshold: Some(u32::from(t)),
                        value: Some(w.utilization),
                        resets_at_ms: prev.resets_at_ms,
                        title: format!("{} window reset: full capacity again", w.label),
                        body: format!(
                            "{} usage is back to {} (it had passed {t} %).",
                            w.label,
                            percent(w.utilization)
                        ),
                        actions: vec![Action::OpenSettings],
                    });
                }
            }
            state.windows.insert(w.id.clone(), fresh());
            state.windows.get_mut(&w.id)
        }
        Some(_) => state.windows.get_mut(&w.id),
        None => {
            state.windows.insert(w.id.clone(), fresh());
            state.windows.get_mut(&w.id)
        }
    };
    let Some(ws) = ws else { return };
    ws.resets_at_ms = w.resets_at_ms.or(ws.resets_at_ms);
    ws.utilization = w.utilization;
    ws.label = w.label.clone();
    let label = w.label.as_str();
    let u = w.utilization;
    let reset_text = resets(ws.resets_at_ms, now_ms, zone);
    let extra = snapshot.extra_usage.as_ref();
    let extra_on = extra.and_then(|e| e.enabled);
    let note = estimate_note(w.source);
    let (instance, resets_at_ms) = (ws.instance.clone(), ws.resets_at_ms);
    let alert = |kind, level, threshold: Option<u32>, title: String, body: String, actions| Alert {
        kind,
        level,
        window_id: Some(w.id.clone()),
        instance: Some(instance.clone()),
        threshold,
        value: Some(u),
        resets_at_ms,
        title,
        body,
        actions,
    };

    // Thresholds: the highest crossed, if higher than anything said in this instance.
    let crossed = thresholds(settings, &w.kind)
        .iter()
        .copied()
        .filter(|&t| u >= f64::from(t))
        .max();
    if let Some(t) = crossed.filter(|&t| ws.threshold.is_none_or(|said| t > said)) {
        let (level, title, body) = if t >= 100 {
            let after = match extra_on {
                Some(true) => "Extra Usage is on, so further use is billed to it until the window",
                Some(false) => "Work is stopped until the window",
                None => "Work is stopped (unless Extra Usage is on) until the window",
            };
            (
                Level::Critical,
                format!("{label} limit reached"),
                format!(
                    "{label} usage is at {}{note}. {after} {reset_text}.",
                    percent(u)
                ),
            )
        } else {
            (
                Level::Warning,
                format!("{label} limit: {} used", percent(u)),
                format!(
                    "{label} usage passed {t} %: now {}{note}; the window {reset_text}.",
                    percent(u)
                ),
            )
        };
        let a = alert(
            AlertKind::Threshold,
            level,
            Some(u32::from(t)),
            title,
            body,
            vec![Action::Snooze1h, Action::OpenSettings],
        );
        alerts.push(a);
        ws.threshold = Some(t);
    }

    // The Extra Usage trap: near the limit, Extra Usage off, work will stop.
    let trap_window = matches!(w.kind, WindowKind::Session | WindowKind::Weekly);
    if settings.extra_usage_trap
        && trap_window
        && !ws.trap
        && extra_on == Some(false)
        && u >= f64::from(settings.trap_percent)
    {
        let eu = extra;
        let reason = eu.and_then(|e| e.disabled_reason.as_deref());
        let balance = match eu.and_then(|e| e.balance.map(|b| (b, &e.currency))) {
            Some((b, currency)) if b > CENT => format!(
                "your prepaid balance of {} is not used until you do",
                money(b, currency)
            ),
            _ => "any prepaid balance is not used until you do".to_owned(),
        };
        let stop = if u >= 100.0 {
            format!("Work is stopped until the window {reset_text}.")
        } else {
            format!("Work will stop at 100 % until the window {reset_text}.")
        };
        let (body, actions) = match reason {
            Some(reason) => (
                format!("{stop} Extra Usage is off: {reason}."),
                vec![Action::Snooze1h, Action::OpenSettings],
            ),
            None => (
                format!("{stop} Turn on Extra Usage to keep working past the limit; {balance}."),
                vec![
                    Action::EnableExtraUsage,
                    Action::Snooze1h,
                    Action::OpenSettings,
                ],
            ),
        };
        let a = alert(
            AlertKind::ExtraUsageTrap,
            Level::Critical,
            Some(u32::from(settings.trap_percent)),
            format!("{label} at {} and Extra Usage is off", percent(u)),
            body,
            actions,
        );
        alerts.push(a);
        ws.trap = true;
    }

    // Running on Extra Usage: the window is full and spend is growing.
    if settings.extra_usage_changes && !ws.running_on_extra && u >= 100.0 && spend_grew {
        if let Some(eu) = extra {
            let used = eu.used.unwrap_or(0.0);
            let of_cap = match eu.monthly_limit {
                Some(cap) => format!(" of your {} cap", money(cap, &eu.currency)),
                None => String::new(),
            };
            let a = alert(
                AlertKind::RunningOnExtraUsage,
                Level::Warning,
                None,
                "Now running on Extra Usage".to_owned(),
                format!(
                    "The {} limit is reached and Extra Usage is paying: {} spent this month{of_cap}. The window {reset_text}.",
                    lower_first(label),
                    money(used, &eu.currency)
                ),
                vec![Action::Snooze1h, Action::OpenSettings],
            );
            alerts.push(a);
            ws.running_on_extra = true;
        }
    }

    // Forecast: the session fills well before it resets. Worded as a forecast, always.
    if w.kind == WindowKind::Session && settings.forecast && u < 100.0 {
        let full = snapshot.forecast.session_full_at_ms;
        if let (Some(full), Some(reset)) = (full, resets_at_ms) {
            let lead_ms = i64::from(settings.forecast_lead_minutes) * 60_000;
            let margin_ms = i64::from(settings.forecast_margin_minutes) * 60_000;
            let moved = ws
                .forecast_at_ms
                .is_none_or(|said| (full - said).abs() > margin_ms);
            if full >= now_ms && reset - full > lead_ms && moved {
                let basis = match snapshot.forecast.basis {
                    Some(ForecastBasis::LocalTokens) => " (estimated from local transcripts)",
                    _ => "",
                };
                let a = alert(
                    AlertKind::Forecast,
                    Level::Warning,
                    None,
                    format!(
                        "Forecast: {} limit at {}",
                        lower_first(label),
                        clock(full, now_ms, zone)
                    ),
                    format!(
                        "At this pace the {} limit is reached at {}, {} before it resets at {}{basis}. Now at {}.",
                        lower_first(label),
                        clock(full, now_ms, zone),
                        duration(reset - full),
                        clock(reset, now_ms, zone),
                        percent(u)
                    ),
                    vec![Action::Snooze1h, Action::OpenSettings],
                );
                alerts.push(a);
                ws.forecast_at_ms = Some(full);
            }
        }
    }
}

fn extra_usage_alerts(
    eu: &ExtraUsage,
    state: &mut EngineState,
    settings: &AlertSettings,
    alerts: &mut Vec<Alert>,
) {
    let cur = &eu.currency;
    let cap_text = |cap: Option<f64>| match cap {
        Some(c) => format!("a monthly cap of {}", money(c, cur)),
        None => "no monthly cap".to_owned(),
    };
    let alert = |kind, level, threshold, value, title: String, body: String| Alert {
        kind,
        level,
        window_id: None,
        instance: None,
        threshold,
        value,
        resets_at_ms: None,
        title,
        body,
        actions: vec![Action::OpenSettings],
    };
    let prev = state.extra.clone();

    // State changes, against the last known state (the first observation is the baseline).
    if let (Some(prev), Some(enabled)) = (prev.as_ref(), eu.enabled) {
        if settings.extra_usage_changes {
            match (prev.enabled, enabled) {
                (Some(false), true) => alerts.push(alert(
                    AlertKind::ExtraUsageOn,
                    Level::Warning,
                    None,
                    eu.monthly_limit,
                    "Extra Usage was turned on".to_owned(),
                    format!(
                        "Use past your plan's limits is now billed, with {}.",
                        cap_text(eu.monthly_limit)
                    ),
                )),
                (Some(true), false) => alerts.push(alert(
                    AlertKind::ExtraUsageOff,
                    Level::Info,
                    None,
                    None,
                    "Extra Usage was turned off".to_owned(),
                    "Nothing more is billed; work will stop when a limit is reached.".to_owned(),
                )),
                (Some(true), true) => {
                    let changed = match (prev.monthly_limit, eu.monthly_limit) {
                        (Some(a), Some(b)) => (a - b).abs() > CENT,
                        (None, None) => false,
                        _ => true,
                    };
                    if changed {
                        alerts.push(alert(
                            AlertKind::ExtraUsageCapChanged,
                            Level::Warning,
                            None,
                            eu.monthly_limit,
                            "Extra Usage cap changed".to_owned(),
                            format!(
                                "Extra Usage went from {} to {}.",
                                cap_text(prev.monthly_limit),
                                cap_text(eu.monthly_limit)
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
    }

    // A fall in spend is a new month: re-arm the spend alerts.
    if let (Some(before), Some(now)) = (prev.as_ref().and_then(|p| p.used), eu.used) {
        if now < before - CENT {
            state.spend = SpendState::default();
        }
    }

    if let (Some(used), true) = (eu.used, eu.enabled != Some(false)) {
        match eu.monthly_limit.filter(|&cap| cap > 0.0) {
            Some(cap) => {
                if state.spend.cap.is_none_or(|c| (c - cap).abs() > CENT) {
                    state.spend.cap = Some(cap);
                    state.spend.cap_percent = None;
                }
                let fraction = used / cap * 100.0;
                let crossed = settings
                    .cap_percents
                    .iter()
                    .copied()
                    .filter(|&p| fraction + 1e-9 >= f64::from(p))
                    .max();
                if let Some(p) = crossed.filter(|&p| state.spend.cap_percent.is_none_or(|s| p > s))
                {
                    let (level, title, tail) = if p >= 100 {
                        (
                            Level::Critical,
                            "Extra Usage cap reached".to_owned(),
                            " Work stops at the limits until you raise the cap or the month ends.",
                        )
                    } else if p >= 80 {
                        (
                            Level::Warning,
                            format!("Extra Usage: {p} % of your cap spent"),
                            "",
                        )
                    } else {
                        (
                            Level::Info,
                            format!("Extra Usage: {p} % of your cap spent"),
                            "",
                        )
                    };
                    alerts.push(alert(
                        AlertKind::SpendCap,
                        level,
                        Some(u32::from(p)),
                        Some(used),
                        title,
                        format!(
                            "{} of your {} monthly cap is spent ({}).{tail}",
                            money(used, cur),
                            money(cap, cur),
                            percent(fraction)
                        ),
                    ));
                    state.spend.cap_percent = Some(p);
                }
            }
            None if eu.enabled == Some(true) => {
                let step = u64::from(settings.spend_step_dollars.max(1));
                let k = floor_to_u64(used / step as f64 + 1e-9).unwrap_or(0);
                // Saturates only for spend no account can have (a server's garbage).
                let spent = k.saturating_mul(step);
                if k >= 1 && state.spend.steps.is_none_or(|s| k > s) {
                    alerts.push(alert(
                        AlertKind::SpendStep,
                        Level::Info,
                        u32::try_from(spent).ok(),
                        Some(used),
                        format!("Extra Usage: {} spent this month", whole_money(spent, cur)),
                        format!(
                            "{} of Extra Usage spent this month, with no monthly cap.",
                            money(used, cur)
                        ),
                    ));
                    state.spend.steps = Some(k);
                }
            }
            None => {}
        }
    }

    // The new baseline; a source that does not say whether it is on keeps the old answer.
    let prev = prev.unwrap_or_default();
    state.extra = Some(match eu.enabled {
        Some(enabled) => ExtraState {
            enabled: Some(enabled),
            monthly_limit: eu.monthly_limit,
            used: eu.used.or(prev.used),
        },
        None => ExtraState {
            used: eu.used.or(prev.used),
            ..prev
        },
    });
}

fn stale_alert(
    snapshot: &UsageSnapshot,
    state: &mut EngineState,
    settings: &AlertSettings,
    now_ms: i64,
    zone: Zone,
    alerts: &mut Vec<Alert>,
) {
    let account = |s: Source| matches!(s, Source::Account | Source::ClaudeAi);
    let figures = |s: Source| matches!(s, Source::Account | Source::ClaudeAi | Source::Statusline);
    let configured: Vec<_> = snapshot.sources.iter().filter(|s| s.configured).collect();
    let failing: Vec<_> = configured
        .iter()
        .filter(|s| account(s.source) && s.error.is_some())
        .collect();
    let healthy = configured
        .iter()
        .any(|s| figures(s.source) && s.error.is_none() && s.last_success_ms.is_some());
    if failing.is_empty() || healthy {
        state.stale = StaleState::default();
        return;
    }
    let since_first_seen = *state.stale.failing_since_ms.get_or_insert(now_ms);
    let last_success = configured
        .iter()
        .filter(|s| figures(s.source))
        .filter_map(|s| s.last_success_ms)
        .max();
    let since = last_success.unwrap_or(since_first_seen);
    let limit_ms = i64::from(settings.stale_after_minutes) * 60_000;
    if state.stale.announced || now_ms - since <= limit_ms {
        return;
    }
    // "High": at or past the lowest session threshold, or 75 % without one.
    let high_at = settings
        .session_thresholds
        .iter()
        .copied()
        .min()
        .unwrap_or(75);
    let high = state
        .windows
        .values()
        .filter(|ws| matches!(ws.kind, WindowKind::Session | WindowKind::Weekly))
        .filter(|ws| ws.resets_at_ms.is_none_or(|at| at > now_ms))
        .max_by(|a, b| a.utilization.total_cmp(&b.utilization))
        .filter(|ws| ws.utilization >= f64::from(high_at));
    let Some(high) = high else { return };
    let error = failing
        .iter()
        .filter_map(|s| s.error.as_deref())
        .next()
        .unwrap_or("unknown error");
    let since_text = match last_success {
        Some(at) => format!("since {}", clock(at, now_ms, zone)),
        None => format!("for {}", duration(now_ms - since)),
    };
    alerts.push(Alert {
        kind: AlertKind::Stale,
        level: Level::Warning,
        window_id: None,
        instance: None,
        threshold: None,
        value: Some(high.utilization),
        resets_at_ms: None,
        title: "Usage figures are out of date".to_owned(),
        body: format!(
            "Headroom has not read your account's usage {since_text} ({error}). {} was at {} when last seen; alerts may come late until this is fixed.",
            high.label,
            percent(high.utilization)
        ),
        actions: vec![Action::OpenSettings],
    });
    state.stale.announced = true;
}
