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
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Statusline => "statusline",
            Source::Account => "account",
            Source::ClaudeAi => "claude.ai",
            Source::LocalEstimate => "local-estimate",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "statusline" => Some(Source::Statusline),
            "account" => Some(Source::Account),
            "claude.ai" => Some(Source::ClaudeAi),
            "local-estimate" => Some(Source::LocalEstimate),
            _ => None,
        }
    }
}

/// Which limit a window is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WindowKind {
    /// The rolling 5-hour session limit.
    Session,
    /// The weekly limit across all models.
    Weekly,
    /// A per-model weekly limit, named by the model (e.g. "Opus").
    WeeklyModel { model: String },
    /// Any other window the account reports, by its key.
    Other { key: String },
}

/// One limit window at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Stable id: `session`, `weekly`, `weekly:<model>`, or the account's key.
    pub id: String,
    /// What a person reads: "Session", "Weekly", "Weekly (Opus)".
    pub label: String,
    pub kind: WindowKind,
    /// Percent used, 0–100, may exceed 100.
    pub utilization: f64,
    /// When the window resets, if known (a dormant window has none).
    pub resets_at_ms: Option<i64>,
    pub source: Source,
    /// When the figure was observed.
    pub observed_at_ms: i64,
}

impl Window {
    pub fn age_ms(&self, now_ms: i64) -> i64 {
        (now_ms - self.observed_at_ms).max(0)
    }

    /// The key alerts use for "this instance of this window": the window and its reset time.
    pub fn instance_key(&self) -> String {
        match self.resets_at_ms {
            Some(reset) => format!("{}@{}", self.id, reset / 60_000),
            None => format!("{}@-", self.id),
        }
    }
}

/// Extra Usage (pay-as-you-go past the limits), as the account reports it.
/// Amounts are in major units of `currency` (dollars, euros).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtraUsage {
    /// On or off; `None` when the source did not say.
    pub enabled: Option<bool>,
    /// The monthly spending cap; `None` while enabled means no cap.
    pub monthly_limit: Option<f64>,
    /// Spent this month.
    pub used: Option<f64>,
    pub currency: String,
    /// Prepaid credit balance, where a source gives it.
    pub balance: Option<f64>,
    /// Why it is off, when the account says (e.g. an organisation policy).
    pub disabled_reason: Option<String>,
    pub source: Source,
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
pub struct LocalBlock {
    pub start_ms: i64,
    pub end_ms: i64,
    pub total_tokens: u64,
    pub cost_usd: f64,
    pub tokens_per_minute: Option<f64>,
    pub cost_per_hour: Option<f64>,
    pub projected_tokens: Option<u64>,
    pub projected_cost_usd: Option<f64>,
}

/// What a forecast was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForecastBasis {
    /// The trend of the account's own session percentages.
    AccountHistory,
    /// Local token pace against the largest block seen (an estimate).
    LocalTokens,
}

/// When the session window reaches 100 % at the current pace. Always a forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Forecast {
    /// `None` when the pace would not fill the window before it resets, or is unknown.
    pub session_full_at_ms: Option<i64>,
    pub basis: Option<ForecastBasis>,
    /// Percent per hour the forecast assumes.
    pub percent_per_hour: Option<f64>,
}

/// Health of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub source: Source,
    /// Whether the source is set up at all (credentials found, statusline installed...).
    pub configured: bool,
    pub last_success_ms: Option<i64>,
    /// No request before this time (rate-limit cool-down or backoff).
    pub cooldown_until_ms: Option<i64>,
    /// The last problem, in words a person can act on. Never contains a secret.
    pub error: Option<String>,
}

/// Everything the front ends show, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct UsageSnapshot {
    pub taken_at_ms: i64,
    pub session: Option<Window>,
    pub weekly: Option<Window>,
    /// Every window: session, weekly, per-model weekly and any other.
    pub windows: Vec<Window>,
    pub extra_usage: Option<ExtraUsage>,
    pub local_block: Option<LocalBlock>,
    pub forecast: Forecast,
    /// True when no account source has given figures recently and local estimates stand in,
    /// or the newest account figures are older than the freshness limit.
    pub stale: bool,
    pub sources: Vec<SourceStatus>,
    /// Problems worth showing (rate limited, login expired...). Never contains a secret.
    pub errors: Vec<String>,
}
