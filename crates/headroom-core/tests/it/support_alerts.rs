//! Builders for alert tests: snapshots at a fake `now`, and a runner that carries the engine
//! state from one evaluation to the next like a front end does.

use headroom_core::alerts::{evaluate, Delivery, EngineState, Evaluation, Notification};
use headroom_core::report::Zone;
use headroom_core::settings::AlertSettings;
use headroom_core::snapshot::{
    ExtraUsage, Source, SourceStatus, UsageSnapshot, Window, WindowKind,
};

pub(crate) const MIN: i64 = 60_000;
pub(crate) const HOUR: i64 = 60 * MIN;
/// Tuesday 2026-03-03 10:00 UTC.
pub(crate) const T0: i64 = 1_772_532_000_000;

pub(crate) fn utc() -> Zone {
    Zone::Named(chrono_tz::UTC)
}

pub(crate) fn window(
    kind: WindowKind,
    utilization: f64,
    resets_at_ms: Option<i64>,
    now: i64,
) -> Window {
    let (id, label) = match &kind {
        WindowKind::Session => ("session".to_owned(), "Session".to_owned()),
        WindowKind::Weekly => ("weekly".to_owned(), "Weekly".to_owned()),
        WindowKind::WeeklyModel { model } => (
            format!("weekly:{}", model.to_lowercase()),
            format!("Weekly ({model})"),
        ),
        WindowKind::Other { key } => (key.clone(), key.clone()),
    };
    Window {
        id,
        label,
        kind,
        utilization,
        resets_at_ms,
        source: Source::Account,
        observed_at_ms: now,
    }
}

pub(crate) fn session(utilization: f64, resets_at_ms: i64, now: i64) -> Window {
    window(WindowKind::Session, utilization, Some(resets_at_ms), now)
}

pub(crate) fn weekly(utilization: f64, resets_at_ms: i64, now: i64) -> Window {
    window(WindowKind::Weekly, utilization, Some(resets_at_ms), now)
}

pub(crate) fn extra(
    enabled: Option<bool>,
    cap: Option<f64>,
    used: Option<f64>,
    now: i64,
) -> ExtraUsage {
    ExtraUsage {
        enabled,
        monthly_limit: cap,
        used,
        currency: "USD".to_owned(),
        balance: None,
        disabled_reason: None,
        source: Source::Account,
        observed_at_ms: now,
    }
}

pub(crate) fn account_ok(now: i64) -> SourceStatus {
    SourceStatus {
        source: Source::Account,
        configured: true,
        last_success_ms: Some(now),
        cooldown_until_ms: None,
        error: None,
    }
}

/// A snapshot the way the account source fills it: `windows` has them all, `session` and
/// `weekly` repeat the two main ones.
pub(crate) fn snapshot(
    now: i64,
    windows: Vec<Window>,
    extra_usage: Option<ExtraUsage>,
) -> UsageSnapshot {
    UsageSnapshot {
        taken_at_ms: now,
        session: windows
            .iter()
            .find(|w| w.kind == WindowKind::Session)
            .cloned(),
        weekly: windows
            .iter()
            .find(|w| w.kind == WindowKind::Weekly)
            .cloned(),
        windows,
        extra_usage,
        sources: vec![account_ok(now)],
        ..UsageSnapshot::default()
    }
}

/// A front end in miniature: keeps the state between evaluations.
pub(crate) struct Runner {
    pub state: EngineState,
    pub settings: AlertSettings,
    pub zone: Zone,
}

impl Runner {
    pub(crate) fn new() -> Runner {
        Runner {
            state: EngineState::default(),
            settings: AlertSettings::default(),
            zone: utc(),
        }
    }

    pub(crate) fn eval(&mut self, snapshot: &UsageSnapshot, now: i64) -> Evaluation {
        let out = evaluate(snapshot, &self.state, &self.settings, now, self.zone);
        self.state = out.state.clone();
        out
    }
}

pub(crate) fn delivered(e: &Evaluation) -> Option<&Notification> {
    match &e.delivery {
        Delivery::Deliver { notification } => Some(notification),
        _ => None,
    }
}

pub(crate) fn kinds(e: &Evaluation) -> Vec<(headroom_core::alerts::AlertKind, Option<u32>)> {
    e.alerts.iter().map(|a| (a.kind, a.threshold)).collect()
}
