//! The metric model: every family Headroom exports (name, help, unit, type), and the values
//! one moment gives them, computed from a [`UsageSnapshot`] and the ledger.
//!
//! One catalogue ([`FAMILIES`]) feeds both outputs, so `/metrics` and OTLP can never name or
//! scale a figure differently. Names follow Prometheus's conventions: base units (seconds,
//! ratios 0–1), the unit stated in the name, and no counters (see [`Kind`]).
//!
//! Labels carry only what is safe to show a team: window kinds, model names, source names,
//! failure kinds, currencies and the `user` name the user chose. Never a token, a key, an
//! email, an organisation id or a project path: the ledger's session rows name projects, and
//! those names are dropped here, summed per model. Every label value is bounded and free of
//! control characters ([`label_value`]); the Prometheus page escapes what its format needs.

use std::collections::BTreeMap;

use headroom_core::account::{self, FailureKind};
use headroom_core::ledger::{Ledger, LedgerError};
use headroom_core::snapshot::{Source, UsageSnapshot, WindowKind};

/// What a family's value is, which decides its type in each output.
///
/// There is no counter: a Prometheus counter must never go down, and none of Headroom's
/// figures can promise that. The local totals are sums kept in the ledger, and they are
/// restated: `prices update` reprices every stored cost (down as well as up), and
/// `ledger rebuild` starts again from the transcripts still on disk. A counter that steps
/// down reads as a reset, and `increase()` would then count the whole total as new spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A state or a level at one moment.
    Gauge,
    /// A running total kept in the ledger, which a reprice or a rebuild can restate. A
    /// gauge for Prometheus (no `_total`); a non-monotonic cumulative sum for OTLP, so a
    /// collector still knows it adds up across models.
    Total,
}

/// A family's unit, as each output spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Ratio,
    /// Tokens per second.
    TokensPerSecond,
    /// US dollars (the local cost, at API prices).
    Usd,
    UsdPerSecond,
    /// Counted things (tokens, responses) or a state (0/1): no unit in the name.
    Count,
    /// An amount in the currency its `currency` label names.
    Money,
}

impl Unit {
    /// The suffix the Prometheus name ends with (OpenMetrics `# UNIT`), if any.
    pub fn prometheus_suffix(self) -> Option<&'static str> {
        match self {
            Unit::Seconds => Some("seconds"),
            Unit::Ratio => Some("ratio"),
            Unit::TokensPerSecond => Some("tokens_per_second"),
            Unit::Usd => Some("usd"),
            Unit::UsdPerSecond => Some("usd_per_second"),
            Unit::Count | Unit::Money => None,
        }
    }

    /// The UCUM unit OTLP carries (what the OTel spec asks for).
    pub fn ucum(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Ratio => "1",
            Unit::TokensPerSecond => "{token}/s",
            Unit::Usd => "USD",
            Unit::UsdPerSecond => "USD/s",
            Unit::Count => "",
            Unit::Money => "{currency_unit}",
        }
    }
}

/// One family: its base name (without the unit suffix or `_total`), what it means, its unit.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub unit: Unit,
    pub kind: Kind,
}

impl Family {
    /// The name as Prometheus shows it in a query: with the unit suffix.
    pub fn prometheus_name(&self) -> String {
        let mut name = self.name.to_owned();
        if let Some(suffix) = self.unit.prometheus_suffix() {
            name.push('_');
            name.push_str(suffix);
        }
        name
    }
}

macro_rules! families {
    ($($id:ident = $name:literal, $kind:ident, $unit:ident, $help:literal;)*) => {
        /// Index of each family in [`FAMILIES`] and in [`Frame::samples`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Id { $($id,)* }
        /// Every family Headroom exports, in the order `/metrics` lists them.
        pub const FAMILIES: &[Family] = &[
            $(Family { name: $name, help: $help, unit: Unit::$unit, kind: Kind::$kind },)*
        ];
    };
}

families! {
    WindowUtilization = "headroom_window_utilization", Gauge, Ratio,
        "How full a limit window is, 0-1 (may exceed 1): window is session, weekly, weekly_model (with model) or the account's own key.";
    WindowResetsAt = "headroom_window_resets_at", Gauge, Seconds,
        "When the window resets, as a Unix time (subtract time() for the time left).";
    ExtraUsageEnabled = "headroom_extra_usage_enabled", Gauge, Count,
        "Extra Usage (pay-as-you-go past the limits): 1 on, 0 off; absent while unknown.";
    ExtraUsageCap = "headroom_extra_usage_monthly_cap", Gauge, Money,
        "The account's monthly Extra Usage cap, in the currency label's major units; absent without a cap.";
    ExtraUsageSpent = "headroom_extra_usage_spent", Gauge, Money,
        "Extra Usage spent this month, in the currency label's major units.";
    PrepaidBalance = "headroom_prepaid_balance", Gauge, Money,
        "The prepaid credit balance, where the account gives it.";
    ForecastFullIn = "headroom_session_forecast_full_in", Gauge, Seconds,
        "Forecast: seconds until the session window reaches 100 % at the current pace; absent when it would not fill before it resets.";
    LocalTokens = "headroom_local_tokens", Total, Count,
        "Tokens in the local transcripts Headroom has read, by kind (input, output, cache_write, cache_read) and model; kept in the ledger, so it survives restarts and transcript clean-up.";
    LocalResponses = "headroom_local_responses", Total, Count,
        "API responses in the local transcripts, by model.";
    LocalCost = "headroom_local_cost", Total, Usd,
        "Cost of the local responses at API prices (Claude Code's own costUSD where it gave one), by model; restated when prices are updated.";
    UnpricedResponses = "headroom_unpriced_responses", Gauge, Count,
        "Responses of models without a complete price (their cost counts as 0, or at standard rates), by model and reason.";
    BlockTokensRate = "headroom_active_block_burn_rate", Gauge, TokensPerSecond,
        "The active 5-hour block's burn rate from the local transcripts; absent without an active block.";
    BlockCostRate = "headroom_active_block_cost_rate", Gauge, UsdPerSecond,
        "The active 5-hour block's spend rate at API prices.";
    SourceAge = "headroom_source_age", Gauge, Seconds,
        "Seconds since the source last gave figures (statusline, account, claude.ai).";
    SourceConfigured = "headroom_source_configured", Gauge, Count,
        "1 when the source is set up (credentials found, statusline installed).";
    SourceError = "headroom_source_last_error", Gauge, Count,
        "1 for the kind of the source's last failure (offline, rate_limited, auth, server) while it lasts.";
    Stale = "headroom_figures_stale", Gauge, Count,
        "1 while no account source has given figures recently and local estimates stand in.";
    SnapshotAt = "headroom_snapshot_taken_at", Gauge, Seconds,
        "When the figures were taken, as a Unix time.";
}

/// One labelled value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// Every family's values at one moment. Cheap to render: a few dozen samples, whatever the
/// history's size (the ledger is read when the frame is built, not when it is served).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Indexed like [`FAMILIES`].
    pub samples: Vec<Vec<Sample>>,
    /// Labels every sample carries (the optional `user`).
    pub common: Vec<(&'static str, String)>,
}

impl Default for Frame {
    fn default() -> Self {
        Frame {
            samples: vec![Vec::new(); FAMILIES.len()],
            common: Vec::new(),
        }
    }
}

/// The ledger's all-time sums of one model.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ModelTotals {
    responses: u64,
    input: u64,
    output: u64,
    cache_write: u64,
    cache_read: u64,
    cost_usd: f64,
}

impl Frame {
    /// The values `snapshot` and the ledger give at `now_ms`. `user` (the settings'
    /// `metrics.user`, checked by [`valid_user_label`]) labels every sample when set.
    pub fn collect(
        snapshot: &UsageSnapshot,
        ledger: &Ledger,
        now_ms: i64,
        user: Option<&str>,
    ) -> Result<Frame, LedgerError> {
        let mut frame = Frame {
            common: user
                .filter(|u| valid_user_label(u))
                .map(|u| vec![("user", u.to_owned())])
                .unwrap_or_default(),
            ..Frame::default()
        };
        frame.account(snapshot, now_ms);
        frame.local(ledger)?;
        frame.polls(ledger)?;
        Ok(frame)
    }

    fn push(&mut self, id: Id, labels: Vec<(&'static str, String)>, value: f64) {
        // A NaN or infinity (a corrupt figure) is left out rather than exported: a scrape
        // would accept it, but every sum over it would be poisoned.
        if value.is_finite() {
            // Every value is bounded here, whatever its origin (a transcript, the account's
            // answer, the settings), so no label can be long or carry a control character.
            let labels = labels
                .into_iter()
                .map(|(k, v)| (k, label_value(&v)))
                .collect();
            self.samples[id as usize].push(Sample { labels, value });
        }
    }

    /// The figures from the snapshot (the account's and the local block's).
    fn account(&mut self, s: &UsageSnapshot, now_ms: i64) {
        for w in &s.windows {
            let (window, model) = match &w.kind {
                WindowKind::Session => ("session".to_owned(), None),
                WindowKind::Weekly => ("weekly".to_owned(), None),
                WindowKind::WeeklyModel { model } => {
                    ("weekly_model".to_owned(), Some(model.to_ascii_lowercase()))
                }
                WindowKind::Other { key } => (key.clone(), None),
            };
            let mut labels = vec![("window", window)];
            if let Some(model) = model {
                labels.push(("model", model));
            }
            let mut with_source = labels.clone();
            with_source.push(("source", w.source.as_str().to_owned()));
            self.push(Id::WindowUtilization, with_source, w.utilization / 100.0);
            if let Some(at) = w.resets_at_ms {
                self.push(Id::WindowResetsAt, labels, at as f64 / 1000.0);
            }
        }
        if let Some(eu) = &s.extra_usage {
            if let Some(on) = eu.enabled {
                self.push(Id::ExtraUsageEnabled, vec![], if on { 1.0 } else { 0.0 });
            }
            let currency = || vec![("currency", currency_label(&eu.currency))];
            if let Some(cap) = eu.monthly_limit {
                self.push(Id::ExtraUsageCap, currency(), cap);
            }
            if let Some(used) = eu.used {
                self.push(Id::ExtraUsageSpent, currency(), used);
            }
            if let Some(balance) = eu.balance {
                self.push(Id::PrepaidBalance, currency(), balance);
            }
        }
        if let Some(full_at) = s.forecast.session_full_at_ms {
            self.push(
                Id::ForecastFullIn,
                vec![],
                (full_at - now_ms).max(0) as f64 / 1000.0,
            );
        }
        if let Some(block) = s.local_block.as_ref().filter(|b| b.end_ms > now_ms) {
            if let Some(tpm) = block.tokens_per_minute {
                self.push(Id::BlockTokensRate, vec![], tpm / 60.0);
            }
            if let Some(cph) = block.cost_per_hour {
                self.push(Id::BlockCostRate, vec![], cph / 3600.0);
            }
        }
        for status in &s.sources {
            let source = vec![("source", status.source.as_str().to_owned())];
            self.push(
                Id::SourceConfigured,
                source.clone(),
                if status.configured { 1.0 } else { 0.0 },
            );
            if let Some(at) = status.last_success_ms {
                self.push(Id::SourceAge, source, (now_ms - at).max(0) as f64 / 1000.0);
            }
        }
        self.push(Id::Stale, vec![], if s.stale { 1.0 } else { 0.0 });
        self.push(Id::SnapshotAt, vec![], s.taken_at_ms as f64 / 1000.0);
    }

    /// The counters from the ledger's aggregates: a few rows per session, summed per model
    /// (the project each session belongs to is never a label).
    fn local(&mut self, ledger: &Ledger) -> Result<(), LedgerError> {
        let mut models: BTreeMap<String, ModelTotals> = BTreeMap::new();
        for row in ledger.sessions()? {
            // Summed under the label the model gets, so two names that only differ past the
            // bound (or in a control character) make one series, never two with one name.
            let t = models.entry(label_value(&row.model)).or_default();
            t.responses = t.responses.saturating_add(row.sums.entries);
            t.input = t.input.saturating_add(row.sums.input);
            t.output = t.output.saturating_add(row.sums.output);
            t.cache_write = t.cache_write.saturating_add(row.sums.cache_write);
            t.cache_read = t.cache_read.saturating_add(row.sums.cache_read);
            t.cost_usd += row.sums.auto_cost;
        }
        for (model, t) in models {
            for (kind, n) in [
                ("input", t.input),
                ("output", t.output),
                ("cache_write", t.cache_write),
                ("cache_read", t.cache_read),
            ] {
                self.push(
                    Id::LocalTokens,
                    vec![("kind", kind.to_owned()), ("model", model.clone())],
                    n as f64,
                );
            }
            let model_label = vec![("model", model)];
            self.push(Id::LocalResponses, model_label.clone(), t.responses as f64);
            self.push(Id::LocalCost, model_label, t.cost_usd);
        }
        let mut unpriced: BTreeMap<(String, String), u64> = BTreeMap::new();
        for u in ledger.unpriced(i64::MIN, i64::MAX)? {
            let n = unpriced
                .entry((label_value(&u.model), label_value(&u.reason)))
                .or_default();
            *n = n.saturating_add(u.responses);
        }
        for ((model, reason), responses) in unpriced {
            self.push(
                Id::UnpricedResponses,
                vec![("model", model), ("reason", reason)],
                responses as f64,
            );
        }
        Ok(())
    }

    /// Each polled source's current failure, by kind (the sentence stays in the app: it may
    /// name a time zone or an organisation).
    fn polls(&mut self, ledger: &Ledger) -> Result<(), LedgerError> {
        for source in [Source::Account, Source::ClaudeAi] {
            let state = account::poll_state(ledger, source)?;
            if state.last_attempt_ms.is_none() {
                continue;
            }
            for kind in [
                FailureKind::Offline,
                FailureKind::RateLimited,
                FailureKind::Auth,
                FailureKind::Server,
            ] {
                self.push(
                    Id::SourceError,
                    vec![
                        ("source", source.as_str().to_owned()),
                        ("kind", kind.as_str().to_owned()),
                    ],
                    if state.last_failure == Some(kind) {
                        1.0
                    } else {
                        0.0
                    },
                );
            }
        }
        Ok(())
    }

    /// The samples of one family.
    pub fn family(&self, id: Id) -> &[Sample] {
        &self.samples[id as usize]
    }
}

/// The longest label value, in characters. Model names are about 30; anything past this is a
/// corrupt or hostile transcript line, which must not put kilobytes into every sample.
pub const MAX_LABEL_CHARS: usize = 128;

/// `raw` as a label value: at most [`MAX_LABEL_CHARS`] characters, with every control
/// character (a newline, an escape sequence that would reach a terminal showing the page)
/// replaced by U+FFFD. A longer value keeps its start and ends in a hash of the whole, so
/// two long names stay two series. The same input always gives the same label (the hash is
/// FNV-1a, not a per-process random one), and a label is its own label.
pub fn label_value(raw: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
            .collect()
    };
    if raw.chars().count() <= MAX_LABEL_CHARS {
        return clean(raw);
    }
    let hash = raw.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let suffix = format!("~{hash:016x}");
    let head: String = raw.chars().take(MAX_LABEL_CHARS - suffix.len()).collect();
    clean(&head) + &suffix
}

/// An ISO currency code as a label: upper case letters only (what the account sends), so a
/// surprising value can never carry anything else into a label.
fn currency_label(currency: &str) -> String {
    let code: String = currency
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase();
    if code.is_empty() {
        "USD".to_owned()
    } else {
        code
    }
}

/// Whether `user` may label the metrics (the settings' rule, checked again here because the
/// tray and the CLI may hand in a name from elsewhere).
pub fn valid_user_label(user: &str) -> bool {
    headroom_core::settings::MetricsUser::valid(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let names: Vec<String> = FAMILIES.iter().map(Family::prometheus_name).collect();
        assert!(names.contains(&"headroom_window_utilization_ratio".to_owned()));
        assert!(names.contains(&"headroom_local_tokens".to_owned()));
        assert!(names.contains(&"headroom_local_cost_usd".to_owned()));
        assert!(names.contains(&"headroom_window_resets_at_seconds".to_owned()));
        for (family, name) in FAMILIES.iter().zip(&names) {
            assert!(name.starts_with("headroom_"), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
            // `_total` is a counter's suffix, and no family is a counter (see [`Kind`]).
            assert!(!name.ends_with("_total"), "{name}");
            let _ = family;
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn user_labels_are_plain_names() {
        assert!(valid_user_label("alice-laptop"));
        assert!(valid_user_label("dev_box.2"));
        assert!(!valid_user_label(""));
        assert!(!valid_user_label("alice@example.com"));
        assert!(!valid_user_label("a b"));
        assert!(!valid_user_label(&"x".repeat(65)));
    }

    #[test]
    fn label_values_are_bounded_and_free_of_control_characters() {
        assert_eq!(label_value("claude-sonnet-4-5"), "claude-sonnet-4-5");
        assert_eq!(label_value("a\nb\x1b[2J"), "a\u{FFFD}b\u{FFFD}[2J");
        let long = "m".repeat(5_000_000);
        let label = label_value(&long);
        assert_eq!(label.chars().count(), MAX_LABEL_CHARS);
        assert_eq!(label_value(&label), label, "a label is its own label");
        let other = label_value(&("m".repeat(4_999_999) + "n"));
        assert_eq!(other.chars().count(), MAX_LABEL_CHARS);
        assert_ne!(label, other, "two long names stay two series");
        let wide = "é".repeat(200);
        assert_eq!(label_value(&wide).chars().count(), MAX_LABEL_CHARS);
    }

    #[test]
    fn currencies_are_codes() {
        assert_eq!(currency_label("eur"), "EUR");
        assert_eq!(currency_label("US$ \"}"), "US");
        assert_eq!(currency_label(""), "USD");
    }
}
