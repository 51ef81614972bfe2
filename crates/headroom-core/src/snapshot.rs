//! The one merged view of usage that every front end reads: the CLI's `status`, the
//! statusline, `watch`, the alert engine, the tray and the settings pane.
//!
//! A snapshot says, per limit window, how full it is, when it resets, where the figure came
//! from and how old it is; the Extra Usage state; the local 5-hour block's pace; and a
//! forecast of when the session window fills. Anthropic's own figures are preferred; a local
//! estimate stands in when there are none, and is labelled as such.
//!
//! Percentages are 0–100 and may exceed 100. Times are epoch milliseconds (UTC).

use serde::{Deserialize, Serialize};

/// Where a figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Source {
    /// Claude Code's statusline feed (no network).
    #[serde(rename = "statusline")]
    Statusline,
    /// The OAuth usage endpoint (what Claude Code's `/usage` shows).
    #[serde(rename = "account")]
    Account,
    /// claude.ai's own endpoints, with the user's session key.
    #[serde(rename = "claude.ai")]
    ClaudeAi,
    /// Headroom's estimate from local transcripts.
    #[serde(rename = "local-estimate")]
    LocalEstimate,
    /// Claude Code's own last usage answer, kept in its `.claude.json`: shown with its age
    /// when nothing fresher exists, never as current, never the start of an alert.
    #[serde(rename = "claude-code-cache")]
    ClaudeCodeCache,
}

impl Source {
    /// The id in JSON and the ledger (`statusline`, `account`, `claude.ai`, `local-estimate`).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Statusline => "statusline",
            Source::Account => "account",
            Source::ClaudeAi => "claude.ai",
            Source::LocalEstimate => "local-estimate",
            Source::ClaudeCodeCache => "claude-code-cache",
        }
    }

    /// The source of an id written by [`Source::as_str`]; `None` for any other text.
    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "statusline" => Some(Source::Statusline),
            "account" => Some(Source::Account),
            "claude.ai" => Some(Source::ClaudeAi),
            "local-estimate" => Some(Source::LocalEstimate),
            "claude-code-cache" => Some(Source::ClaudeCodeCache),
            _ => None,
        }
    }

    /// The source as every front end names it to the user (`headroom status`, the tray's
    /// menu, the pane); [`Source::as_str`] is the id in JSON and the ledger.
    pub fn label(self) -> &'static str {
        match self {
            Source::Statusline => "Claude Code statusline",
            Source::Account => "Anthropic account",
            Source::ClaudeAi => "claude.ai",
            Source::LocalEstimate => "local estimate",
            Source::ClaudeCodeCache => "Claude Code's last reading",
        }
    }

    /// Whether its figures are Anthropic's, read now by Headroom (the statusline feed, the
    /// account, claude.ai): not the local estimate, not Claude Code's cached answer.
    pub fn is_live_account(self) -> bool {
        matches!(
            self,
            Source::Statusline | Source::Account | Source::ClaudeAi
        )
    }
}

/// The account's plan, as Claude Code's login or Anthropic's profile names it. Since
/// 2026-10-30 the old Max 20x plan is Ultra, which has no 5-hour session limit; Enterprise
/// (usage-based) seats report spend rather than percentages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
// `AccountPlan` in the pane's types: `Plan` there is an Extra Usage write's plan.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "AccountPlan"))]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// Claude Pro.
    Pro,
    /// Claude Max (the 5x plan; the old 20x one is [`Plan::Ultra`]).
    Max,
    /// Claude Ultra: no 5-hour session limit.
    Ultra,
    /// A Team seat.
    Team,
    /// An Enterprise seat: spend against the organization's limit is the headline.
    Enterprise,
    /// No source has named the plan (yet), or it is one Headroom does not know.
    #[default]
    Unknown,
}

impl Plan {
    /// The id in JSON and the ledger (`pro`, `max`, `ultra`, `team`, `enterprise`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Pro => "pro",
            Plan::Max => "max",
            Plan::Ultra => "ultra",
            Plan::Team => "team",
            Plan::Enterprise => "enterprise",
            Plan::Unknown => "unknown",
        }
    }

    /// The plan of an id written by [`Plan::as_str`]; [`Plan::Unknown`] for any other text.
    pub fn parse(s: &str) -> Plan {
        [
            Plan::Pro,
            Plan::Max,
            Plan::Ultra,
            Plan::Team,
            Plan::Enterprise,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
        .unwrap_or(Plan::Unknown)
    }

    /// Its name as every front end shows it: "Pro", "Max", "Ultra", "Team", "Enterprise",
    /// "unknown".
    pub fn label(self) -> &'static str {
        match self {
            Plan::Pro => "Pro",
            Plan::Max => "Max",
            Plan::Ultra => "Ultra",
            Plan::Team => "Team",
            Plan::Enterprise => "Enterprise",
            Plan::Unknown => "unknown",
        }
    }

    /// Whether the plan has no 5-hour session limit at all (Ultra; an Enterprise seat is
    /// limited by spend).
    pub fn has_no_session_limit(self) -> bool {
        matches!(self, Plan::Ultra | Plan::Enterprise)
    }
}

/// Why the snapshot has no session figure although an account source answered: the one
/// reason every front end shows in the session row, instead of a percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SessionAbsence {
    /// The plan has no 5-hour limit (Ultra, Enterprise).
    NoLimitOnPlan,
    /// The plan has one, but no session is running (after its reset, until the next prompt).
    NotRunning,
}

impl SessionAbsence {
    /// The words of the session row: "no 5-hour limit on your plan", "no session running".
    pub fn text(self) -> &'static str {
        match self {
            SessionAbsence::NoLimitOnPlan => "no 5-hour limit on your plan",
            SessionAbsence::NotRunning => "no session running",
        }
    }
}

/// How full a window is, for its colour: one rule for the tray's icon, the statusline's
/// colours and the pane's gauges (which get it in the overview).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Below [`Band::WARN_PERCENT`].
    Ok,
    /// From [`Band::WARN_PERCENT`] to below [`Band::BAD_PERCENT`].
    Warn,
    /// From [`Band::BAD_PERCENT`]: work may stop soon.
    Bad,
}

impl Band {
    /// Where a window turns amber.
    pub const WARN_PERCENT: f64 = 75.0;
    /// Where a window turns red.
    pub const BAD_PERCENT: f64 = 90.0;

    /// The band of a percent; a figure that is not a number (never sent by the sources) is
    /// [`Band::Ok`], like no figure.
    pub fn of(percent: f64) -> Band {
        if percent >= Band::BAD_PERCENT {
            Band::Bad
        } else if percent >= Band::WARN_PERCENT {
            Band::Warn
        } else {
            Band::Ok
        }
    }
}

/// Which limit a window is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum WindowKind {
    /// The rolling 5-hour session limit.
    Session,
    /// The weekly limit across all models.
    Weekly,
    /// A per-model weekly limit, named by the model (e.g. "Opus").
    WeeklyModel {
        /// The model's name as the account gives it.
        model: String,
    },
    /// Any other window the account reports, by its key.
    Other {
        /// The account's key for the window.
        key: String,
    },
}

impl WindowKind {
    /// The id a window of this kind carries ([`Window::id`]): `session`, `weekly`,
    /// `weekly:<model>` with the model in lower case, or the account's own key. The ledger
    /// stores readings by it and the alert engine keys its memory by it, so this is the one
    /// place it is spelled.
    pub fn id(&self) -> String {
        match self {
            WindowKind::Session => "session".to_owned(),
            WindowKind::Weekly => "weekly".to_owned(),
            WindowKind::WeeklyModel { model } => format!("weekly:{}", model.to_lowercase()),
            WindowKind::Other { key } => key.clone(),
        }
    }
}

/// How long the session window lasts: it resets 5 hours after it began.
pub const SESSION_WINDOW_MS: i64 = 5 * 3_600_000;

/// A stretch of time, `start_ms..end_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Span {
    /// Where it begins.
    pub start_ms: i64,
    /// Where it ends (included).
    pub end_ms: i64,
}

impl Span {
    /// Whether `at_ms` is inside, both ends included.
    pub fn contains(&self, at_ms: i64) -> bool {
        (self.start_ms..=self.end_ms).contains(&at_ms)
    }
}

/// One limit window at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Window {
    /// Stable id: `session`, `weekly`, `weekly:<model>`, or the account's key.
    pub id: String,
    /// What a person reads: "Session", "Weekly", "Weekly (Opus)".
    pub label: String,
    /// Which limit the window is.
    pub kind: WindowKind,
    /// Percent used, 0–100, may exceed 100.
    pub utilization: f64,
    /// When the window resets, if known (a dormant window has none).
    pub resets_at_ms: Option<i64>,
    /// Where the figure came from.
    pub source: Source,
    /// When the figure was observed.
    pub observed_at_ms: i64,
}

impl Window {
    /// How old the figure is at `now_ms` (never negative, whatever the clocks say).
    pub fn age_ms(&self, now_ms: i64) -> i64 {
        (now_ms - self.observed_at_ms).max(0)
    }

    /// Whether the window is counting: it has a use on record (more than 0 %) or a reset time.
    /// The account reports a window nobody has used yet (a per-model weekly window of a model
    /// not used this week) as 0 % with no reset; a reset time means the window has begun,
    /// even while its figure still rounds to 0 %, and that time is worth showing. The one
    /// rule for the tray's menu and the settings pane (which gets it in the overview).
    pub fn in_use(&self) -> bool {
        self.utilization > 0.0 || self.resets_at_ms.is_some()
    }

    /// The span the session window covers, `reset − 5 h .. reset` ([`SESSION_WINDOW_MS`]);
    /// `None` without a reset time. The pane's "current session window" chart is drawn over
    /// it, with the readings seen inside it.
    pub fn session_span(&self) -> Option<Span> {
        if self.kind != WindowKind::Session {
            return None;
        }
        let end_ms = self.resets_at_ms?;
        Some(Span {
            start_ms: end_ms.saturating_sub(SESSION_WINDOW_MS),
            end_ms,
        })
    }
}

/// Extra Usage (pay-as-you-go past the limits), as the account reports it.
/// Amounts are in major units of `currency` (dollars, euros).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExtraUsage {
    /// On or off; `None` when the source did not say.
    pub enabled: Option<bool>,
    /// The monthly spending cap; `None` while enabled means no cap.
    pub monthly_limit: Option<f64>,
    /// Spent this month.
    pub used: Option<f64>,
    /// The currency of the amounts (`USD`, `EUR`), as the account gives it.
    pub currency: String,
    /// Prepaid credit balance, where a source gives it.
    pub balance: Option<f64>,
    /// Why it is off, when the account says (e.g. an organisation policy).
    pub disabled_reason: Option<String>,
    /// Where the figures came from.
    pub source: Source,
    /// When they were observed.
    pub observed_at_ms: i64,
}

impl ExtraUsage {
    /// Fraction of the cap spent, when there is a cap.
    pub fn cap_fraction(&self) -> Option<f64> {
        match (self.monthly_limit, self.used) {
            (Some(limit), Some(used)) if limit > 0.0 => Some(used / limit),
            _ => None,
        }
    }
}

/// The local 5-hour block from transcripts: Claude Code's own pace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LocalBlock {
    /// When the block began (its first entry, floored to the hour).
    pub start_ms: i64,
    /// When it ends: 5 hours after its start.
    pub end_ms: i64,
    /// Tokens used in it so far.
    pub total_tokens: u64,
    /// Their cost in dollars, at the price table's rates.
    pub cost_usd: f64,
    /// Pace between the block's first and last message; `None` until they differ.
    pub tokens_per_minute: Option<f64>,
    /// Cost pace, same basis.
    pub cost_per_hour: Option<f64>,
    /// Tokens at the block's end if the pace holds.
    pub projected_tokens: Option<u64>,
    /// Cost at the block's end if the pace holds.
    pub projected_cost_usd: Option<f64>,
}

/// What a forecast was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ForecastBasis {
    /// The trend of the account's own session percentages.
    AccountHistory,
    /// Local token pace against the largest block seen (an estimate).
    LocalTokens,
}

/// When the session window reaches 100 % at the current pace. Always a forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Forecast {
    /// `None` when the pace would not fill the window before it resets, or is unknown.
    pub session_full_at_ms: Option<i64>,
    /// What the forecast was computed from; `None` with no forecast.
    pub basis: Option<ForecastBasis>,
    /// Percent per hour the forecast assumes.
    pub percent_per_hour: Option<f64>,
}

/// Health of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SourceStatus {
    /// The source described.
    pub source: Source,
    /// Whether the source is set up at all (credentials found, statusline installed...).
    pub configured: bool,
    /// When it last gave figures.
    pub last_success_ms: Option<i64>,
    /// No request before this time (rate-limit cool-down or backoff).
    pub cooldown_until_ms: Option<i64>,
    /// The last problem, in words a person can act on. Never contains a secret.
    pub error: Option<String>,
}

/// Everything the front ends show, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UsageSnapshot {
    /// When the snapshot was made (the `now` it was asked for).
    pub taken_at_ms: i64,
    /// The session window, also in `windows`.
    pub session: Option<Window>,
    /// The weekly window across all models, also in `windows`.
    pub weekly: Option<Window>,
    /// Every window: session, weekly, per-model weekly and any other.
    pub windows: Vec<Window>,
    /// Extra Usage, from the newest source that reported it.
    pub extra_usage: Option<ExtraUsage>,
    /// The active local 5-hour block, if any.
    pub local_block: Option<LocalBlock>,
    /// When the session window fills at the current pace.
    pub forecast: Forecast,
    /// True when no account source has given figures recently and local estimates stand in,
    /// or the newest account figures are older than the freshness limit.
    pub stale: bool,
    /// Health of each source, whether it gave figures or not.
    pub sources: Vec<SourceStatus>,
    /// Problems worth showing (rate limited, login expired...). Never contains a secret.
    pub errors: Vec<String>,
    /// The account's plan.
    #[serde(default)]
    pub plan: Plan,
    /// Why `session` is empty although an account source answered; `None` while there is a
    /// session figure, or no account figure at all (then the local estimate stands in).
    #[serde(default)]
    pub session_absent: Option<SessionAbsence>,
}

impl UsageSnapshot {
    /// The per-model weekly windows in use ([`Window::in_use`]), in the snapshot's order:
    /// what the tray's menu lists and the pane shows as chips.
    pub fn model_windows_in_use(&self) -> impl Iterator<Item = &Window> {
        self.windows
            .iter()
            .filter(|w| matches!(w.kind, WindowKind::WeeklyModel { .. }) && w.in_use())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_split_at_75_and_90_percent() {
        for (percent, band) in [
            (0.0, Band::Ok),
            (74.9, Band::Ok),
            (75.0, Band::Warn),
            (89.99, Band::Warn),
            (90.0, Band::Bad),
            (250.0, Band::Bad),
            (f64::NAN, Band::Ok),
        ] {
            assert_eq!(Band::of(percent), band, "{percent}");
        }
        assert_eq!(serde_json::to_value(Band::Warn).unwrap(), "warn");
    }

    fn window(kind: WindowKind, utilization: f64, resets_at_ms: Option<i64>) -> Window {
        Window {
            id: kind.id(),
            label: String::new(),
            kind,
            utilization,
            resets_at_ms,
            source: Source::Account,
            observed_at_ms: 0,
        }
    }

    fn model(name: &str, utilization: f64, resets_at_ms: Option<i64>) -> Window {
        window(
            WindowKind::WeeklyModel {
                model: name.to_owned(),
            },
            utilization,
            resets_at_ms,
        )
    }

    #[test]
    fn a_window_is_in_use_with_a_figure_or_a_reset_time() {
        assert!(!model("opus", 0.0, None).in_use(), "dormant");
        assert!(model("opus", 0.0, Some(1)).in_use(), "begun, rounds to 0 %");
        assert!(model("opus", 3.0, None).in_use(), "used, no reset known");
        let snapshot = UsageSnapshot {
            windows: vec![
                window(WindowKind::Session, 40.0, Some(1)),
                model("sonnet", 0.0, None),
                model("opus", 0.0, Some(1)),
                window(
                    WindowKind::Other {
                        key: "seven_day_cowork".into(),
                    },
                    33.0,
                    Some(1),
                ),
                model("haiku", 2.0, None),
            ],
            ..UsageSnapshot::default()
        };
        let ids: Vec<&str> = snapshot
            .model_windows_in_use()
            .map(|w| w.id.as_str())
            .collect();
        assert_eq!(ids, ["weekly:opus", "weekly:haiku"]);
    }

    /// The ids the ledger and the alert memory are keyed by: one spelling, the model in lower
    /// case whatever case the account gives it.
    #[test]
    fn a_window_kind_has_one_id() {
        let ids: Vec<String> = [
            WindowKind::Session,
            WindowKind::Weekly,
            WindowKind::WeeklyModel {
                model: "Opus".to_owned(),
            },
            WindowKind::Other {
                key: "seven_day_oauth_apps".to_owned(),
            },
        ]
        .iter()
        .map(WindowKind::id)
        .collect();
        assert_eq!(
            ids,
            ["session", "weekly", "weekly:opus", "seven_day_oauth_apps"]
        );
    }

    #[test]
    fn the_session_span_ends_at_the_reset_and_lasts_five_hours() {
        let reset = 10 * 3_600_000;
        let span = window(WindowKind::Session, 50.0, Some(reset))
            .session_span()
            .unwrap();
        assert_eq!(
            span,
            Span {
                start_ms: 5 * 3_600_000,
                end_ms: reset
            }
        );
        assert!(span.contains(span.start_ms) && span.contains(reset));
        assert!(!span.contains(span.start_ms - 1) && !span.contains(reset + 1));
        assert_eq!(window(WindowKind::Session, 50.0, None).session_span(), None);
        assert_eq!(
            window(WindowKind::Weekly, 50.0, Some(reset)).session_span(),
            None
        );
        // A reset time from the far past cannot overflow.
        assert!(window(WindowKind::Session, 0.0, Some(i64::MIN))
            .session_span()
            .is_some());
    }
}
