//! Alerts before the wall: the one alert engine both front ends (`headroom watch` and the tray)
//! run, and the ledger tables that remember what it said.
//!
//! Contract:
//! - [`evaluate`] is pure: a [`UsageSnapshot`](crate::snapshot::UsageSnapshot), the previous
//!   [`EngineState`], the user's [`AlertSettings`](crate::settings::AlertSettings), `now` and
//!   the zone to write clock times in go in; the alerts, the new state and what to deliver
//!   come out. It reads no clock, no file and no environment.
//! - Each alert fires at most once per window instance (a window and its reset time); a jump
//!   over several thresholds fires only the highest; a reset re-arms the window.
//! - Alerts of one evaluation become ONE [`Notification`], most severe first.
//! - Quiet hours and snooze suppress delivery only: the alerts are still recorded.
//! - [`store`] keeps the state and the history in the ledger, so a restart never repeats an
//!   alert; [`store::evaluate_and_record`] evaluates and records in one write transaction, so
//!   two processes (tray and `watch`) sharing a ledger never both announce the same alert.

mod engine;
mod rules;
pub mod store;
mod words;

pub use engine::{
    evaluate, snooze_until_reset, EngineState, Evaluation, ExtraState, SpendState, StaleState,
    WindowState, INSTANCE_TOLERANCE_MS,
};

use serde::{Deserialize, Serialize};

/// How loud an alert is; notification urgency follows it (low, normal, critical).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Good to know: a reset, Extra Usage turned off, a spend step.
    Info,
    /// Act soon: a threshold below 100 %, a forecast, stale figures, Extra Usage turned on.
    Warning,
    /// Work stops (or is about to, with no way past it): a limit reached, the Extra Usage trap,
    /// the Extra Usage cap reached.
    Critical,
}

impl Level {
    /// The level's id in the ledger and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }

    /// The level of an id written by [`Level::as_str`].
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "info" => Some(Level::Info),
            "warning" => Some(Level::Warning),
            "critical" => Some(Level::Critical),
            _ => None,
        }
    }
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A window passed one of its percent thresholds.
    Threshold,
    /// At the current pace the session window fills well before it resets.
    Forecast,
    /// A window is near its limit while Extra Usage is off: work will stop at 100 %.
    ExtraUsageTrap,
    /// Extra Usage spend passed a percentage of the monthly cap.
    SpendCap,
    /// Extra Usage spend (no cap) passed a multiple of the spend step.
    SpendStep,
    /// Extra Usage was turned on.
    ExtraUsageOn,
    /// Extra Usage was turned off.
    ExtraUsageOff,
    /// The Extra Usage monthly cap changed.
    ExtraUsageCapChanged,
    /// A window is at 100 % and Extra Usage spend is growing: use is now billed.
    RunningOnExtraUsage,
    /// A window that had passed a threshold reset.
    Reset,
    /// The account source has failed for a while during high usage.
    Stale,
}

impl AlertKind {
    /// The kind's id in the ledger and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Threshold => "threshold",
            AlertKind::Forecast => "forecast",
            AlertKind::ExtraUsageTrap => "extra_usage_trap",
            AlertKind::SpendCap => "spend_cap",
            AlertKind::SpendStep => "spend_step",
            AlertKind::ExtraUsageOn => "extra_usage_on",
            AlertKind::ExtraUsageOff => "extra_usage_off",
            AlertKind::ExtraUsageCapChanged => "extra_usage_cap_changed",
            AlertKind::RunningOnExtraUsage => "running_on_extra_usage",
            AlertKind::Reset => "reset",
            AlertKind::Stale => "stale",
        }
    }

    /// The kind of an id written by [`AlertKind::as_str`].
    pub fn parse(s: &str) -> Option<AlertKind> {
        [
            AlertKind::Threshold,
            AlertKind::Forecast,
            AlertKind::ExtraUsageTrap,
            AlertKind::SpendCap,
            AlertKind::SpendStep,
            AlertKind::ExtraUsageOn,
            AlertKind::ExtraUsageOff,
            AlertKind::ExtraUsageCapChanged,
            AlertKind::RunningOnExtraUsage,
            AlertKind::Reset,
            AlertKind::Stale,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Order among alerts of the same level: what stops work first, what merely informs last.
    fn rank(self) -> u8 {
        match self {
            AlertKind::ExtraUsageTrap => 10,
            AlertKind::Threshold => 9,
            AlertKind::SpendCap => 8,
            AlertKind::RunningOnExtraUsage => 7,
            AlertKind::ExtraUsageOn => 6,
            AlertKind::Forecast => 5,
            AlertKind::Stale => 4,
            AlertKind::ExtraUsageCapChanged => 3,
            AlertKind::ExtraUsageOff => 2,
            AlertKind::SpendStep => 1,
            AlertKind::Reset => 0,
        }
    }
}

/// A button on a notification (Linux servers that advertise `actions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Opens Headroom's settings.
    OpenSettings,
    /// Leads to turning Extra Usage on: the tray opens its settings pane at the Extra Usage
    /// section (with the confirmation); `headroom watch`, which has no pane, opens claude.ai's
    /// usage settings ([`EXTRA_USAGE_SETTINGS_URL`]).
    EnableExtraUsage,
    /// Holds notifications back for an hour.
    Snooze1h,
}

impl Action {
    /// The action key sent over D-Bus and back in `ActionInvoked`.
    pub fn id(self) -> &'static str {
        match self {
            Action::OpenSettings => "open-settings",
            Action::EnableExtraUsage => "enable-extra-usage",
            Action::Snooze1h => "snooze-1h",
        }
    }

    /// The button's words.
    pub fn label(self) -> &'static str {
        match self {
            Action::OpenSettings => "Open settings",
            Action::EnableExtraUsage => "Enable Extra Usage",
            Action::Snooze1h => "Snooze 1 h",
        }
    }

    /// The action of a key sent back by the notification server ([`Action::id`]).
    pub fn from_id(id: &str) -> Option<Action> {
        [
            Action::OpenSettings,
            Action::EnableExtraUsage,
            Action::Snooze1h,
        ]
        .into_iter()
        .find(|a| a.id() == id)
    }
}

/// Where the user turns Extra Usage on (the "Enable Extra Usage" action opens it).
pub const EXTRA_USAGE_SETTINGS_URL: &str = "https://claude.ai/settings/usage";

/// One alert, with the words it was announced with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// What it is about.
    pub kind: AlertKind,
    /// How loud it is.
    pub level: Level,
    /// The window it concerns (`session`, `weekly`, `weekly:opus`), if any.
    pub window_id: Option<String>,
    /// The window instance (`<id>@<reset minute>`) it belongs to, if any.
    pub instance: Option<String>,
    /// The threshold crossed: a percent of a window or of the cap, or dollars of spend.
    pub threshold: Option<u32>,
    /// The figure that crossed it (percent, or amount spent).
    pub value: Option<f64>,
    /// When the window it concerns resets, if known.
    pub resets_at_ms: Option<i64>,
    /// The notification's summary line.
    pub title: String,
    /// The notification's text.
    pub body: String,
    /// The buttons it offers.
    pub actions: Vec<Action>,
}

impl Alert {
    /// Sort key: higher is more severe.
    fn severity(&self) -> (Level, u8, u32) {
        (self.level, self.kind.rank(), self.threshold.unwrap_or(0))
    }
}

/// Why an alert was not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Suppression {
    /// Inside the user's quiet hours.
    QuietHours,
    /// The user snoozed notifications.
    Snoozed {
        /// When the snooze ends.
        until_ms: i64,
    },
}

/// The one notification an evaluation delivers: its alerts, most severe first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The most severe alert's title.
    pub summary: String,
    /// Every alert's body, one per line, most severe first.
    pub body: String,
    /// The loudest alert's level.
    pub level: Level,
    /// The buttons, the way out first.
    pub actions: Vec<Action>,
}

impl Notification {
    /// Combines alerts (already sorted, most severe first) into one notification.
    pub fn combine(alerts: &[Alert]) -> Option<Notification> {
        let first = alerts.first()?;
        let body = alerts
            .iter()
            .map(|a| a.body.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let mut actions = Vec::new();
        // The way out first, then the snooze, then settings.
        for action in [
            Action::EnableExtraUsage,
            Action::Snooze1h,
            Action::OpenSettings,
        ] {
            if alerts.iter().any(|a| a.actions.contains(&action)) {
                actions.push(action);
            }
        }
        Some(Notification {
            summary: first.title.clone(),
            body,
            level: alerts.iter().map(|a| a.level).max().unwrap_or(first.level),
            actions,
        })
    }
}

/// What to do with an evaluation's alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "delivery", rename_all = "snake_case")]
pub enum Delivery {
    /// Nothing new.
    Nothing,
    /// Show this notification.
    Deliver {
        /// The notification.
        notification: Notification,
    },
    /// New alerts, recorded but not shown.
    Suppressed {
        /// Why not.
        why: Suppression,
    },
}

/// Sorts alerts most severe first (stable among equals).
pub fn sort_by_severity(alerts: &mut [Alert]) {
    alerts.sort_by_key(|a| std::cmp::Reverse(a.severity()));
}
