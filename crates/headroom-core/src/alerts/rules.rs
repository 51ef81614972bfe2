//! The rules: whether each alert fires, how loud it is and which buttons it offers, and what
//! the engine remembers so that it fires once per window instance. Their words are
//! [`super::words`]'s.
//!
//! - per window ([`window_alerts`]): reset, threshold, the Extra Usage trap, running on Extra
//!   Usage, forecast;
//! - Extra Usage ([`extra_usage_alerts`]): turned on or off, cap changed, share of the cap
//!   spent, spend steps without a cap;
//! - the account's figures out of date ([`stale_alert`]).

use super::engine::{
    instance_key, is_new_instance, reset_enabled, thresholds, EngineState, ExtraState, SpendState,
    StaleState, WindowState, CENT,
};
use super::words::{self, Now, TrapRemedy};
use super::{Action, Alert, AlertKind, Level};
use crate::account::extra_usage;
use crate::num::floor_to_u64;
use crate::settings::AlertSettings;
use crate::snapshot::{ExtraUsage, ForecastBasis, Source, UsageSnapshot, Window, WindowKind};

/// What every window's rules read besides the window: one evaluation's inputs.
pub(super) struct WindowCtx<'a> {
    pub snapshot: &'a UsageSnapshot,
    pub settings: &'a AlertSettings,
    /// Extra Usage spend grew since the last evaluation (same month).
    pub spend_grew: bool,
    pub now: Now,
}

pub(super) fn window_alerts(
    w: &Window,
    ctx: &WindowCtx<'_>,
    state: &mut EngineState,
    alerts: &mut Vec<Alert>,
) {
    let (snapshot, settings, now) = (ctx.snapshot, ctx.settings, ctx.now);
    let now_ms = now.ms;
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
                    let (title, body) = words::reset(&w.label, w.utilization, t);
                    alerts.push(Alert {
                        kind: AlertKind::Reset,
                        level: Level::Info,
                        window_id: Some(w.id.clone()),
                        instance: Some(prev.instance.clone()),
                        threshold: Some(u32::from(t)),
                        value: Some(w.utilization),
                        resets_at_ms: prev.resets_at_ms,
                        title,
                        body,
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
    let extra = snapshot.extra_usage.as_ref();
    let extra_on = extra.and_then(|e| e.enabled);
    let estimated = w.source == Source::LocalEstimate;
    let (instance, resets_at_ms) = (ws.instance.clone(), ws.resets_at_ms);
    let alert = |kind, level, threshold: Option<u32>, (title, body): words::Words, actions| Alert {
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
        let level = if t >= 100 {
            Level::Critical
        } else {
            Level::Warning
        };
        let a = alert(
            AlertKind::Threshold,
            level,
            Some(u32::from(t)),
            words::threshold(label, t, u, estimated, extra_on, resets_at_ms, now),
            vec![Action::Snooze1h, Action::OpenSettings],
        );
        alerts.push(a);
        ws.threshold = Some(t);
    }

    // The Extra Usage trap: near the limit, Extra Usage off, work will stop.
    if !ws.trap && extra_usage::in_trap(w, extra, settings) {
        let eu = extra;
        let remedy = match eu.and_then(|e| e.disabled_reason.as_deref()) {
            Some(code) => TrapRemedy::Blocked {
                reason: extra_usage::disabled_reason_text(code),
            },
            None => TrapRemedy::TurnOn {
                balance: eu
                    .and_then(|e| e.balance.map(|b| (b, e.currency.as_str())))
                    .filter(|&(b, _)| b > CENT),
            },
        };
        let actions = match remedy {
            TrapRemedy::Blocked { .. } => vec![Action::Snooze1h, Action::OpenSettings],
            TrapRemedy::TurnOn { .. } => vec![
                Action::EnableExtraUsage,
                Action::Snooze1h,
                Action::OpenSettings,
            ],
        };
        let a = alert(
            AlertKind::ExtraUsageTrap,
            Level::Critical,
            Some(u32::from(settings.trap_percent)),
            words::trap(label, u, resets_at_ms, &remedy, now),
            actions,
        );
        alerts.push(a);
        ws.trap = true;
    }

    // Running on Extra Usage: the window is full and spend is growing.
    if settings.extra_usage_changes && !ws.running_on_extra && u >= 100.0 && ctx.spend_grew {
        if let Some(eu) = extra {
            let a = alert(
                AlertKind::RunningOnExtraUsage,
                Level::Warning,
                None,
                words::running_on_extra(
                    label,
                    eu.used.unwrap_or(0.0),
                    eu.monthly_limit,
                    &eu.currency,
                    resets_at_ms,
                    now,
                ),
                vec![Action::Snooze1h, Action::OpenSettings],
            );
            alerts.push(a);
            ws.running_on_extra = true;
        }
    }

    // Forecast: the session fills well before it resets.
    if w.kind == WindowKind::Session && settings.forecast && u < 100.0 {
        let full = snapshot.forecast.session_full_at_ms;
        if let (Some(full), Some(reset)) = (full, resets_at_ms) {
            let lead_ms = i64::from(settings.forecast_lead_minutes) * 60_000;
            let margin_ms = i64::from(settings.forecast_margin_minutes) * 60_000;
            let moved = ws
                .forecast_at_ms
                .is_none_or(|said| (full - said).abs() > margin_ms);
            if full >= now_ms && reset - full > lead_ms && moved {
                let local = snapshot.forecast.basis == Some(ForecastBasis::LocalTokens);
                let a = alert(
                    AlertKind::Forecast,
                    Level::Warning,
                    None,
                    words::forecast(label, full, reset, u, local, now),
                    vec![Action::Snooze1h, Action::OpenSettings],
                );
                alerts.push(a);
                ws.forecast_at_ms = Some(full);
            }
        }
    }
}

pub(super) fn extra_usage_alerts(
    eu: &ExtraUsage,
    state: &mut EngineState,
    settings: &AlertSettings,
    alerts: &mut Vec<Alert>,
) {
    let cur = &eu.currency;
    let alert = |kind, level, threshold, value, (title, body): words::Words| Alert {
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
                    words::extra_usage_on(eu.monthly_limit, cur),
                )),
                (Some(true), false) => alerts.push(alert(
                    AlertKind::ExtraUsageOff,
                    Level::Info,
                    None,
                    None,
                    words::extra_usage_off(),
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
                            words::extra_usage_cap_changed(
                                prev.monthly_limit,
                                eu.monthly_limit,
                                cur,
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
                let spent_percent = used / cap * 100.0;
                let crossed = settings
                    .cap_percents
                    .iter()
                    .copied()
                    .filter(|&p| spent_percent + 1e-9 >= f64::from(p))
                    .max();
                if let Some(p) = crossed.filter(|&p| state.spend.cap_percent.is_none_or(|s| p > s))
                {
                    let level = if p >= 100 {
                        Level::Critical
                    } else if p >= 80 {
                        Level::Warning
                    } else {
                        Level::Info
                    };
                    alerts.push(alert(
                        AlertKind::SpendCap,
                        level,
                        Some(u32::from(p)),
                        Some(used),
                        words::spend_cap(p, used, cap, spent_percent, cur),
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
                        words::spend_step(spent, used, cur),
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

pub(super) fn stale_alert(
    snapshot: &UsageSnapshot,
    state: &mut EngineState,
    settings: &AlertSettings,
    now: Now,
    alerts: &mut Vec<Alert>,
) {
    let now_ms = now.ms;
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
    let (title, body) = words::stale(
        last_success,
        now_ms - since,
        error,
        &high.label,
        high.utilization,
        now,
    );
    alerts.push(Alert {
        kind: AlertKind::Stale,
        level: Level::Warning,
        window_id: None,
        instance: None,
        threshold: None,
        value: Some(high.utilization),
        resets_at_ms: None,
        title,
        body,
        actions: vec![Action::OpenSettings],
    });
    state.stale.announced = true;
}
