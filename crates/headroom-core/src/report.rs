//! Daily, weekly, monthly, per-session and per-project totals from the ledger, in the JSON
//! shape of ccusage (`daily[]`, `monthly[]`, `weekly[]`, `sessions[]`, `totals`) so that
//! scripts written for it keep working.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, TimeZone, Weekday};
use serde::Serialize;

use crate::ledger::{BucketRow, Ledger, LedgerError, SessionRow, Sums};

/// Which cost to report, as in ccusage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CostMode {
    /// Claude Code's recorded `costUSD` where present, else calculated.
    #[default]
    Auto,
    /// Always calculated from tokens at API rates.
    Calculate,
    /// Only recorded `costUSD` (zero where absent).
    Display,
}

impl CostMode {
    /// The cost of `sums` this mode counts.
    pub fn pick(self, sums: &Sums) -> f64 {
        match self {
            CostMode::Auto => sums.auto_cost,
            CostMode::Calculate => sums.calc_cost,
            CostMode::Display => sums.display_cost,
        }
    }
}

impl std::str::FromStr for CostMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(CostMode::Auto),
            "calculate" => Ok(CostMode::Calculate),
            "display" => Ok(CostMode::Display),
            other => Err(format!(
                "unknown cost mode {other:?}: use auto, calculate or display"
            )),
        }
    }
}

/// The time zone dates are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The machine's zone (honours `TZ`).
    Local,
    /// A named IANA zone (`Europe/Berlin`, `UTC`), from the user's `general.timezone`.
    Named(chrono_tz::Tz),
}

impl Zone {
    /// `local` or an IANA name; the error says what to write instead.
    pub fn parse(name: &str) -> Result<Zone, String> {
        if name.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        name.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!("unknown time zone {name:?} (use an IANA name such as Europe/Berlin, or UTC)")
        })
    }

    /// The calendar date an instant falls on in this zone.
    pub fn date_of(self, ms: i64) -> NaiveDate {
        match self {
            Zone::Local => chrono::Local
                .timestamp_millis_opt(ms)
                .single()
                .map(|t| t.date_naive()),
            Zone::Named(tz) => tz.timestamp_millis_opt(ms).single().map(|t| t.date_naive()),
        }
        .unwrap_or_default()
    }

    /// Epoch ms of local midnight starting `date` (the earliest instant of that date).
    pub fn start_of(self, date: NaiveDate) -> i64 {
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        let local = match self {
            Zone::Local => chrono::Local
                .from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.timestamp_millis()),
            Zone::Named(tz) => tz
                .from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.timestamp_millis()),
        };
        local.unwrap_or_else(|| midnight.and_utc().timestamp_millis())
    }
}

/// Parses `20261120` or `2026-11-20`.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y%m%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
        .map_err(|_| format!("invalid date {s:?}: use YYYYMMDD or YYYY-MM-DD"))
}

/// Which rows a report covers and how they are counted.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    /// The zone dates are counted in.
    pub zone: Zone,
    /// The first date counted, if any (inclusive).
    pub since: Option<NaiveDate>,
    /// The last date counted, if any (inclusive).
    pub until: Option<NaiveDate>,
    /// How costs are counted.
    pub mode: CostMode,
    /// The day weeks begin on, for weekly reports.
    pub start_of_week: Weekday,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            zone: Zone::Local,
            since: None,
            until: None,
            mode: CostMode::Auto,
            start_of_week: Weekday::Sun,
        }
    }
}

impl Query {
    fn contains(&self, date: NaiveDate) -> bool {
        self.since.is_none_or(|s| date >= s) && self.until.is_none_or(|u| date <= u)
    }

    /// A generous epoch-ms range for the SQL query; dates are checked exactly afterwards.
    pub fn ms_range(&self) -> (i64, i64) {
        const DAY: i64 = 86_400_000;
        let from = self.since.map_or(i64::MIN, |d| self.zone.start_of(d) - DAY);
        let to = self
            .until
            .map_or(i64::MAX, |d| self.zone.start_of(d) + 2 * DAY);
        (from, to)
    }

    /// Exactly the instants the query's dates cover: from the start of `since` to the start
    /// of the day after `until`, in the query's zone (what a report's footer speaks for).
    pub fn covered_ms(&self) -> (i64, i64) {
        let from = self.since.map_or(i64::MIN, |d| self.zone.start_of(d));
        let to = self
            .until
            .and_then(|d| d.succ_opt())
            .map_or(i64::MAX, |d| self.zone.start_of(d));
        (from, to)
    }
}

/// One model's share of a row, as ccusage's `modelBreakdowns[]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelBreakdown {
    /// The model id as the transcript names it.
    pub model_name: String,
    /// Input tokens, not cached.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_creation_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read_tokens: u64,
    /// Their cost, in the query's [`CostMode`].
    pub cost: f64,
}

/// Token and cost totals, as ccusage's `totals`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Input tokens, not cached.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_creation_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read_tokens: u64,
    /// All four together.
    pub total_tokens: u64,
    /// Their cost, in the query's [`CostMode`].
    pub total_cost: f64,
}

impl Totals {
    fn add(&mut self, sums: &Sums, mode: CostMode) {
        self.input_tokens += sums.input;
        self.output_tokens += sums.output;
        self.cache_creation_tokens += sums.cache_write;
        self.cache_read_tokens += sums.cache_read;
        self.total_tokens += sums.total_tokens();
        self.total_cost += mode.pick(sums);
    }
}

/// One period's usage: a day, week or month.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodUsage {
    /// `2026-11-20`, the week's first day, or `2026-11`.
    #[serde(skip)]
    pub period: String,
    /// The period's totals (flattened into the row, as ccusage writes it).
    #[serde(flatten)]
    pub totals: Totals,
    /// The models used, in order of first use.
    pub models_used: Vec<String>,
    /// Each model's share.
    pub model_breakdowns: Vec<ModelBreakdown>,
}

/// Accumulates per-model sums, keeping models in order of first use.
#[derive(Debug, Default)]
struct ByModel {
    order: Vec<String>,
    sums: BTreeMap<String, Sums>,
}

impl ByModel {
    fn add(&mut self, model: &str, sums: &Sums) {
        match self.sums.get_mut(model) {
            Some(s) => s.add(sums),
            None => {
                self.order.push(model.to_owned());
                self.sums.insert(model.to_owned(), *sums);
            }
        }
    }

    fn finish(self, period: String, mode: CostMode) -> PeriodUsage {
        let mut totals = Totals::default();
        let mut breakdowns: Vec<ModelBreakdown> = self
            .sums
            .iter()
            .map(|(model, s)| {
                totals.add(s, mode);
                ModelBreakdown {
                    model_name: model.clone(),
                    input_tokens: s.input,
                    output_tokens: s.output,
                    cache_creation_tokens: s.cache_write,
                    cache_read_tokens: s.cache_read,
                    cost: mode.pick(s),
                }
            })
            .collect();
        breakdowns.sort_by(|a, b| b.cost.total_cmp(&a.cost));
        PeriodUsage {
            period,
            totals,
            models_used: self
                .order
                .into_iter()
                .filter(|m| is_real_model(m))
                .collect(),
            model_breakdowns: breakdowns,
        }
    }
}

/// `<synthetic>` (Claude Code's own error messages) and a missing model are not models.
fn is_real_model(model: &str) -> bool {
    model != "<synthetic>" && model != "unknown"
}

/// The `unpriced_models` reason of a model priced at `basis`'s rates (see
/// [`crate::pricing::Priced::Estimated`]): "estimated at Fable 5.2's rates".
pub fn estimated_reason(basis: &str) -> String {
    format!(
        "{ESTIMATED_PREFIX}{}'s rates",
        crate::pricing::display_name(basis)
    )
}

const ESTIMATED_PREFIX: &str = "estimated at ";

/// The responses of `unpriced` whose cost is an estimate, and their cost.
pub fn estimated(unpriced: &[crate::ledger::Unpriced]) -> Vec<&crate::ledger::Unpriced> {
    unpriced
        .iter()
        .filter(|u| u.reason.starts_with(ESTIMATED_PREFIX))
        .collect()
}

/// What part of a cost is estimated, in a sentence, or `None` when none is: "Total $12.30,
/// of which $4.10 estimated at Fable 5.2's rates for claude-fable-5-3; run `headroom prices
/// update`". Without `total` (a report with no single total): "Costs include $4.10 …".
pub fn estimated_note(total: Option<f64>, unpriced: &[crate::ledger::Unpriced]) -> Option<String> {
    let parts: Vec<String> = estimated(unpriced)
        .iter()
        .map(|u| format!("{} {} for {}", dollars(u.cost), u.reason, u.model))
        .collect();
    let (last, rest) = parts.split_last()?;
    let list = if rest.is_empty() {
        last.clone()
    } else {
        format!("{} and {last}", rest.join(", "))
    };
    Some(match total {
        Some(total) => format!(
            "Total {}, of which {list}; run `headroom prices update`",
            dollars(total)
        ),
        None => format!("Costs include {list}; run `headroom prices update`"),
    })
}

fn dollars(amount: f64) -> String {
    crate::text::money(amount, "USD")
}

/// What a cost leaves out, in a sentence, or `None` when every response was priced:
/// "Costs leave out 1,204 responses of claude-foo-6 with no known price: run `headroom prices
/// update`". Fast responses of a model without a known multiplier are counted at standard
/// rates, and said so.
pub fn unpriced_note(unpriced: &[crate::ledger::Unpriced]) -> Option<String> {
    use crate::text::group_thousands;
    let list = |reason: &str| -> Vec<String> {
        unpriced
            .iter()
            .filter(|u| u.reason == reason)
            .map(|u| {
                let n = group_thousands(u.responses);
                let noun = if u.responses == 1 {
                    "response"
                } else {
                    "responses"
                };
                format!("{n} {noun} of {}", u.model)
            })
            .collect()
    };
    let join = |items: Vec<String>| match items.len() {
        0 => None,
        1 => items.into_iter().next(),
        _ => {
            let (last, rest) = items.split_last()?;
            Some(format!("{} and {last}", rest.join(", ")))
        }
    };
    let mut parts = Vec::new();
    if let Some(unknown) = join(list("no known price")) {
        parts.push(format!("Costs leave out {unknown} with no known price"));
    }
    if let Some(fast) = join(list("no fast-mode multiplier")) {
        parts.push(format!(
            "Costs count {fast} at standard rates (no fast-mode multiplier known)"
        ));
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "{}: run `headroom prices update`",
        parts.join("; ")
    ))
}

/// How periods are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A calendar day (`2026-11-20`).
    Day,
    /// A week from the query's `start_of_week`, named by its first day.
    Week,
    /// A calendar month (`2026-11`).
    Month,
}

impl Period {
    fn key(self, date: NaiveDate, start_of_week: Weekday) -> String {
        match self {
            Period::Day => date.format("%Y-%m-%d").to_string(),
            Period::Week => {
                let back = (7 + date.weekday().num_days_from_sunday()
                    - start_of_week.num_days_from_sunday())
                    % 7;
                (date - chrono::Days::new(u64::from(back)))
                    .format("%Y-%m-%d")
                    .to_string()
            }
            Period::Month => date.format("%Y-%m").to_string(),
        }
    }
}

/// Usage per period, oldest first, with the grand total.
pub fn periods(
    ledger: &Ledger,
    period: Period,
    query: &Query,
) -> Result<(Vec<PeriodUsage>, Totals), LedgerError> {
    let (from, to) = query.ms_range();
    let buckets = ledger.buckets(from, to)?;
    Ok(group_buckets(&buckets, period, query))
}

/// Groups buckets (sorted by start) into periods.
pub fn group_buckets(
    buckets: &[BucketRow],
    period: Period,
    query: &Query,
) -> (Vec<PeriodUsage>, Totals) {
    let mut groups: BTreeMap<String, ByModel> = BTreeMap::new();
    // Buckets come in time order, so the day changes rarely from one to the next: remember
    // the current day's span and convert a time only when it leaves it.
    let mut current: Option<(i64, i64, NaiveDate, String)> = None;
    for bucket in buckets {
        let t = bucket.start_ms;
        let (date, key) = match &current {
            Some((from, to, date, key)) if (*from..*to).contains(&t) => (*date, key),
            _ => {
                let date = query.zone.date_of(t);
                let from = query.zone.start_of(date);
                let to = date
                    .succ_opt()
                    .map_or(i64::MAX, |next| query.zone.start_of(next));
                let key = period.key(date, query.start_of_week);
                let entry = current.insert((from, to, date, key));
                (entry.2, &entry.3)
            }
        };
        if !query.contains(date) {
            continue;
        }
        match groups.get_mut(key) {
            Some(group) => group.add(&bucket.model, &bucket.sums),
            None => {
                let mut group = ByModel::default();
                group.add(&bucket.model, &bucket.sums);
                groups.insert(key.clone(), group);
            }
        }
    }
    let mut totals = Totals::default();
    let usage: Vec<PeriodUsage> = groups
        .into_iter()
        .map(|(key, by_model)| {
            let usage = by_model.finish(key, query.mode);
            totals.input_tokens += usage.totals.input_tokens;
            totals.output_tokens += usage.totals.output_tokens;
            totals.cache_creation_tokens += usage.totals.cache_creation_tokens;
            totals.cache_read_tokens += usage.totals.cache_read_tokens;
            totals.total_tokens += usage.totals.total_tokens;
            totals.total_cost += usage.totals.total_cost;
            usage
        })
        .collect();
    (usage, totals)
}

/// One session's usage, as ccusage's `sessions[]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionUsage {
    /// Claude Code's session id (the transcript's file name).
    pub session_id: String,
    /// The project folder's name under `projects/` (Claude Code's encoding of the cwd).
    pub project_path: String,
    /// The working directory the transcript names, where it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The first response's time, RFC 3339.
    pub first_activity: String,
    /// The last response's time, RFC 3339.
    pub last_activity: String,
    /// The last response's time, for sorting and filtering (not in the JSON).
    #[serde(skip)]
    pub last_ms: i64,
    /// The session's totals (flattened into the row).
    #[serde(flatten)]
    pub totals: Totals,
    /// The models used, in order of first use.
    pub models_used: Vec<String>,
    /// Each model's share.
    pub model_breakdowns: Vec<ModelBreakdown>,
}

/// Usage per session, most recent first. `since`/`until` filter on the last activity's date.
pub fn sessions(
    ledger: &Ledger,
    query: &Query,
) -> Result<(Vec<SessionUsage>, Totals), LedgerError> {
    let rows = ledger.sessions()?;
    Ok(group_sessions(rows, query))
}

fn group_sessions(rows: Vec<SessionRow>, query: &Query) -> (Vec<SessionUsage>, Totals) {
    let mut by_session: BTreeMap<(String, String), Vec<SessionRow>> = BTreeMap::new();
    for row in rows {
        by_session
            .entry((row.project.clone(), row.session.clone()))
            .or_default()
            .push(row);
    }
    let mut out = Vec::new();
    let mut totals = Totals::default();
    for ((project, session), mut rows) in by_session {
        rows.sort_by_key(|r| r.first_ms);
        let first = rows.iter().map(|r| r.first_ms).min().unwrap_or_default();
        let last = rows.iter().map(|r| r.last_ms).max().unwrap_or_default();
        if !query.contains(query.zone.date_of(last)) {
            continue;
        }
        let cwd = rows.iter().find_map(|r| r.cwd.clone());
        let mut by_model = ByModel::default();
        for row in &rows {
            by_model.add(&row.model, &row.sums);
        }
        let usage = by_model.finish(String::new(), query.mode);
        totals.input_tokens += usage.totals.input_tokens;
        totals.output_tokens += usage.totals.output_tokens;
        totals.cache_creation_tokens += usage.totals.cache_creation_tokens;
        totals.cache_read_tokens += usage.totals.cache_read_tokens;
        totals.total_tokens += usage.totals.total_tokens;
        totals.total_cost += usage.totals.total_cost;
        out.push(SessionUsage {
            session_id: session,
            project_path: project,
            cwd,
            first_activity: iso_ms(first),
            last_activity: iso_ms(last),
            last_ms: last,
            totals: usage.totals,
            models_used: usage.models_used,
            model_breakdowns: usage.model_breakdowns,
        });
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.last_ms));
    (out, totals)
}

/// One project's usage over all its sessions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectUsage {
    /// The project folder's name under `projects/` (Claude Code's encoding of the cwd).
    pub project_path: String,
    /// The working directory one of its transcripts names, where one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// How many sessions it has in the report.
    pub sessions: u64,
    /// The newest session's last response time, RFC 3339.
    pub last_activity: String,
    /// The project's totals over those sessions (flattened into the row).
    #[serde(flatten)]
    pub totals: Totals,
    /// The models used, in order of first use.
    pub models_used: Vec<String>,
    /// Each model's share.
    pub model_breakdowns: Vec<ModelBreakdown>,
}

/// Usage per project, most expensive first.
pub fn projects(
    ledger: &Ledger,
    query: &Query,
) -> Result<(Vec<ProjectUsage>, Totals), LedgerError> {
    let (sessions, totals) = sessions(ledger, query)?;
    let mut by_project: BTreeMap<String, (Option<String>, u64, i64, ByModel)> = BTreeMap::new();
    for session in sessions {
        let entry = by_project
            .entry(session.project_path.clone())
            .or_insert_with(|| (None, 0, i64::MIN, ByModel::default()));
        entry.0 = entry.0.take().or(session.cwd);
        entry.1 += 1;
        entry.2 = entry.2.max(session.last_ms);
        for b in &session.model_breakdowns {
            // Rebuild sums from the breakdown (cost already picked by mode).
            let sums = Sums {
                entries: 0,
                input: b.input_tokens,
                output: b.output_tokens,
                cache_write: b.cache_creation_tokens,
                cache_read: b.cache_read_tokens,
                calc_cost: b.cost,
                auto_cost: b.cost,
                display_cost: b.cost,
            };
            entry.3.add(&b.model_name, &sums);
        }
    }
    let mut out: Vec<ProjectUsage> = by_project
        .into_iter()
        .map(|(project, (cwd, count, last, by_model))| {
            let usage = by_model.finish(String::new(), CostMode::Calculate);
            ProjectUsage {
                project_path: project,
                cwd,
                sessions: count,
                last_activity: iso_ms(last),
                totals: usage.totals,
                models_used: usage.models_used,
                model_breakdowns: usage.model_breakdowns,
            }
        })
        .collect();
    out.sort_by(|a, b| b.totals.total_cost.total_cmp(&a.totals.total_cost));
    Ok((out, totals))
}

/// `2026-11-20T14:03:05.123Z`, as ccusage prints times.
pub fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests;
