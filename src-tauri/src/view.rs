//! What the settings pane's **Now** section shows: the published snapshot plus the charts'
//! series, read from the ledger on demand (only while the window is open).

use chrono::Days;
use headroom_core::account::{self, extra_usage};
use headroom_core::ledger::Ledger;
use headroom_core::pricing::PRICE_TABLE_VERSION;
use headroom_core::report::{self, CostMode, Period, Query};
use headroom_core::snapshot::{Band, Span, UsageSnapshot, Window, WindowKind};
use serde::Serialize;

use crate::env::AppEnv;
use crate::error::{CmdResult, CommandError, ErrorCode};
use crate::refresh::Published;

/// Days in the cost chart.
pub const DAILY_DAYS: u64 = 30;

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Point {
    pub at_ms: i64,
    pub utilization: f64,
}

/// What the core says of one window of the snapshot, so the pane does not decide it again.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct WindowFacts {
    pub id: String,
    /// The gauge's colour (`Band::of`, as the tray's icon).
    pub band: Band,
    /// Where its figure came from, as every front end names it (`Source::label`).
    pub source_label: &'static str,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Day {
    pub date: String,
    pub cost_usd: f64,
    pub total_tokens: u64,
}

/// docs/ipc.md, `get_overview`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Overview {
    pub snapshot: UsageSnapshot,
    /// Each of `snapshot.windows` (and so `session` and `weekly`), in that order.
    pub windows: Vec<WindowFacts>,
    /// The span the session chart covers (`Window::session_span`: 5 h up to the session's
    /// reset); `None` without a reset time.
    pub session_span: Option<Span>,
    pub session_history: Vec<Point>,
    /// The ids of the per-model weekly windows in use (`Window::in_use`), in the order of
    /// `snapshot.windows`: the pane's chips, the tray's menu rows.
    pub model_windows_in_use: Vec<String>,
    pub daily: Vec<Day>,
    pub chosen_cap: Option<f64>,
    pub cap_mismatch: Option<String>,
    pub extra_usage_text: Option<String>,
    /// The Extra Usage trap in one sentence (`extra_usage::trap`, by the alert settings, as
    /// `headroom status` says it); `None` when no window is in it.
    pub trap: Option<String>,
    pub snoozed_until_ms: Option<i64>,
    pub last_refresh_ms: Option<i64>,
    pub timezone: Option<String>,
    pub price_table_version: &'static str,
    pub app_version: &'static str,
    pub data_dir: String,
    /// The refresh task failed and was restarted within the hour:
    /// `refresh failed: …; restarted at 14:05`.
    pub refresh_failure: Option<String>,
    /// Some source of limit figures is set up (`first_run::has_source`); without one the
    /// pane says what to connect.
    pub has_source: bool,
    /// What the costs of `daily` (and so of the current block) leave out or estimate, as the
    /// CLI's report footers say it (`report::estimated_note`, `report::unpriced_note`); `None`
    /// when every response was priced.
    pub unpriced_note: Option<String>,
}

pub fn overview(env: &AppEnv, p: &Published) -> CmdResult<Overview> {
    let ledger = Ledger::open(&env.state.ledger())?;
    let s = &p.snapshot;
    let now = p.refreshed_at_ms;
    // The chart's span (`Window::session_span`) and the readings seen inside it; none
    // without a reset time, when the pane draws no chart.
    let session_span = s.session.as_ref().and_then(Window::session_span);
    let session_history = match session_span {
        Some(span) => account::window_history(&ledger, &WindowKind::Session.id(), span.start_ms)?
            .into_iter()
            .filter(|h| span.contains(h.seen_ms))
            .map(|h| Point {
                at_ms: h.seen_ms,
                utilization: h.utilization,
            })
            .collect(),
        None => Vec::new(),
    };
    let zone = p.zone();
    let today = zone.date_of(now);
    let first = today
        .checked_sub_days(Days::new(DAILY_DAYS - 1))
        .unwrap_or(today);
    let query = Query {
        zone,
        since: Some(first),
        until: Some(today),
        mode: CostMode::Auto,
        ..Query::default()
    };
    let (periods, _) = report::periods(&ledger, Period::Day, &query)?;
    let (from, to) = query.covered_ms();
    let unpriced = ledger.unpriced(from, to)?;
    // An estimate (a model newer than the table, at its family's rates) is said first.
    let notes: Vec<String> = [
        report::estimated_note(None, &unpriced),
        report::unpriced_note(&unpriced),
    ]
    .into_iter()
    .flatten()
    .collect();
    let unpriced_note = (!notes.is_empty()).then(|| notes.join(" "));
    let daily = (0..DAILY_DAYS)
        .filter_map(|i| first.checked_add_days(Days::new(i)))
        .map(|date| {
            let key = date.format("%Y-%m-%d").to_string();
            let found = periods.iter().find(|p| p.period == key);
            Day {
                cost_usd: found.map_or(0.0, |p| p.totals.total_cost),
                total_tokens: found.map_or(0, |p| p.totals.total_tokens),
                date: key,
            }
        })
        .collect();
    let chosen = p.settings.extra_usage.chosen_cap;
    Ok(Overview {
        snapshot: s.clone(),
        windows: s
            .windows
            .iter()
            .map(|w| WindowFacts {
                id: w.id.clone(),
                band: Band::of(w.utilization),
                source_label: w.source.label(),
            })
            .collect(),
        session_span,
        session_history,
        model_windows_in_use: s.model_windows_in_use().map(|w| w.id.clone()).collect(),
        daily,
        chosen_cap: chosen.map(|c| c.dollars()),
        cap_mismatch: s
            .extra_usage
            .as_ref()
            .and_then(|eu| extra_usage::cap_mismatch(chosen, eu)),
        extra_usage_text: s.extra_usage.as_ref().map(extra_usage::describe),
        trap: extra_usage::trap(s, &p.settings.alerts),
        snoozed_until_ms: p.settings.alerts.snoozed_until_ms.filter(|&u| u > now),
        last_refresh_ms: Some(p.refreshed_at_ms),
        timezone: p
            .settings
            .general
            .timezone
            .as_ref()
            .map(|z| z.as_str().to_owned()),
        price_table_version: PRICE_TABLE_VERSION,
        app_version: env!("CARGO_PKG_VERSION"),
        data_dir: env.state.dir.display().to_string(),
        refresh_failure: p.failure.as_ref().map(|f| f.describe(now, zone)),
        has_source: headroom_core::first_run::has_source(s),
        unpriced_note,
    })
}

impl From<()> for CommandError {
    fn from(_: ()) -> Self {
        CommandError::new(
            ErrorCode::Busy,
            "Headroom is shutting down; try again after it restarts",
        )
    }
}
