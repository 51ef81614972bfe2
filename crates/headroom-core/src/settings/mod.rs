//! The user's settings: a typed, versioned struct in `settings.json` under Headroom's folder.
//!
//! The tray, the settings window and the CLI are separate processes that all read and save
//! this file, and people edit it by hand. So:
//!
//! - **Reading is lenient per field** ([`parse`]): every field has a default, a missing one
//!   takes it, and a wrongly typed one (`"poll_minutes": 5.5`) is reset to it alone, with a
//!   warning naming it; values are clamped into range after.
//! - **Reading never moves a file** ([`load`]): a file caught empty or half-written (an
//!   editor truncates first, then writes) is read again once it has settled; one still broken
//!   gives the defaults and a notice, and stays where it is. Only a save, an explicit user
//!   action, replaces a broken file, keeping it aside first when it has any content.
//! - **Saving is one locked step that writes only what changed** ([`update`]): under an
//!   advisory lock on `settings.lock` it loads, applies the change, and writes the changed
//!   fields into the file as it is on disk, so concurrent saves of different fields are all
//!   kept, and so are keys this version does not know.
//! - Writes are atomic (a fresh temporary file, fsync, rename, fsync of the folder) with 0600
//!   permissions ([`write_atomically`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::report::Zone;

/// The `version` this build writes: loading sets every file to it.
pub const SETTINGS_VERSION: u32 = 1;

/// A monthly spending cap in cents: positive, at most two decimals, $1 to $100,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
// As serde writes it: the dollars, a plain number.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "number"))]
pub struct Cap {
    cents: u64,
}

/// Why a cap was refused; the message is shown next to the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    /// Nothing typed.
    #[error("enter an amount, like 50 or 12.50")]
    Empty,
    /// A comma that is not a thousands separator (`12,50`): cents take a dot.
    #[error("use a dot for cents: 12.50 (a comma only separates thousands, as in 1,250.00)")]
    CommaForCents,
    /// Not digits: what was typed.
    #[error("{0:?} is not an amount: use digits, like 50 or 12.50")]
    NotANumber(String),
    /// Zero or less.
    #[error("the cap must be more than zero")]
    NotPositive,
    /// Smaller than a cent.
    #[error("use at most two decimals (cents)")]
    TooPrecise,
    /// Below [`Cap::MIN_CENTS`].
    #[error("the cap must be at least 1.00")]
    TooSmall,
    /// Above [`Cap::MAX_CENTS`].
    #[error("the cap can be at most 100,000.00")]
    TooLarge,
}

impl Cap {
    /// The smallest cap: $1.
    pub const MIN_CENTS: u64 = 100;
    /// The largest cap: $100,000, far above any plan's spend, so a typo's extra zeros are caught.
    pub const MAX_CENTS: u64 = 10_000_000;

    /// Parses what a person types: `50`, `12.5`, `$1,000.00`, `1,250.50`. Exponents, signs,
    /// `NaN` and the like are refused.
    ///
    /// A comma is read only as a thousands separator, in well-formed groups of three
    /// (`1,250`, `12,500.50`); anything else with a comma (`9,99`, `12,50`, `1,5`) is refused
    /// with "use a dot for cents". Much of Europe writes `12,50` for twelve-fifty: reading it
    /// as 1,250 (as this parser once did) turned a small cap into a hundred times larger one,
    /// and the "type the amount again" check, which uses this same parser, could not catch it.
    pub fn parse(input: &str) -> Result<Cap, CapError> {
        let trimmed = input.trim();
        let text = ['$', '€', '£']
            .iter()
            .find_map(|sign| trimmed.strip_prefix(*sign))
            .unwrap_or(trimmed)
            .trim();
        if text.is_empty() {
            return Err(CapError::Empty);
        }
        let not_a_number = || CapError::NotANumber(trimmed.to_owned());
        if text.starts_with('-')
            && text[1..]
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        {
            return Err(CapError::NotPositive);
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if fraction.contains(',') {
            return Err(CapError::CommaForCents);
        }
        let whole = if whole.contains(',') {
            ungroup(whole).ok_or(CapError::CommaForCents)?
        } else {
            whole.to_owned()
        };
        if (whole.is_empty() && fraction.is_empty()) || !digits(&whole) || !digits(fraction) {
            return Err(not_a_number());
        }
        if fraction.len() > 2 {
            return Err(CapError::TooPrecise);
        }
        if whole.trim_start_matches('0').len() > 9 {
            return Err(CapError::TooLarge);
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| not_a_number())?
        };
        let cents_part: u64 = format!("{fraction:0<2}")
            .parse()
            .map_err(|_| not_a_number())?;
        Cap::from_cents(whole * 100 + cents_part)
    }

    /// A cap of `cents`, within [`Cap::MIN_CENTS`]..=[`Cap::MAX_CENTS`].
    pub fn from_cents(cents: u64) -> Result<Cap, CapError> {
        match cents {
            0 => Err(CapError::NotPositive),
            c if c < Self::MIN_CENTS => Err(CapError::TooSmall),
            c if c > Self::MAX_CENTS => Err(CapError::TooLarge),
            cents => Ok(Cap { cents }),
        }
    }

    /// The cap in cents: exact, for comparisons and the ledger.
    pub fn cents(self) -> u64 {
        self.cents
    }

    /// The cap in dollars, as the account and the settings file write it.
    pub fn dollars(self) -> f64 {
        self.cents as f64 / 100.0
    }

    /// The amount as [`Cap::parse`] reads it back and a command line takes it: "1500.00",
    /// no currency sign, no thousands separator.
    pub fn plain(self) -> String {
        format!("{}.{:02}", self.cents / 100, self.cents % 100)
    }
}

/// `1,250` → `1250`, when every group after the first has exactly three digits and the first
/// one to three; `None` for any other use of the comma (`9,99`, `12,50`, `1,5`, `,500`).
fn ungroup(whole: &str) -> Option<String> {
    let mut groups = whole.split(',');
    let first = groups.next()?;
    let is_digits = |g: &str| g.chars().all(|c| c.is_ascii_digit());
    if first.is_empty() || first.len() > 3 || !is_digits(first) {
        return None;
    }
    let mut out = first.to_owned();
    for g in groups {
        if g.len() != 3 || !is_digits(g) {
            return None;
        }
        out.push_str(g);
    }
    Some(out)
}

impl TryFrom<f64> for Cap {
    type Error = CapError;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        if !value.is_finite() {
            return Err(CapError::NotANumber(value.to_string()));
        }
        if value <= 0.0 {
            return Err(CapError::NotPositive);
        }
        let cents = (value * 100.0).round();
        if (cents - value * 100.0).abs() > 1e-6 {
            return Err(CapError::TooPrecise);
        }
        if cents > Self::MAX_CENTS as f64 {
            return Err(CapError::TooLarge);
        }
        Cap::from_cents(cents as u64)
    }
}

impl From<Cap> for f64 {
    fn from(cap: Cap) -> f64 {
        cap.dollars()
    }
}

impl std::fmt::Display for Cap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${}.{:02}", self.cents / 100, self.cents % 100)
    }
}

/// A time of day, `HH:MM`, for quiet hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
// As serde writes it: "HH:MM".
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct TimeOfDay {
    /// Minutes after midnight, 0–1439.
    pub minutes: u16,
}

impl TryFrom<String> for TimeOfDay {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let (h, m) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is not a time: use HH:MM"))?;
        let h: u16 = h
            .parse()
            .map_err(|_| format!("{s:?} is not a time: use HH:MM"))?;
        let m: u16 = m
            .parse()
            .map_err(|_| format!("{s:?} is not a time: use HH:MM"))?;
        if h > 23 || m > 59 {
            return Err(format!("{s:?} is not a time of day"));
        }
        Ok(TimeOfDay {
            minutes: h * 60 + m,
        })
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> String {
        format!("{:02}:{:02}", t.minutes / 60, t.minutes % 60)
    }
}

/// Quiet hours: notifications are held back (and still recorded) between `start` and `end`,
/// local time; `start > end` spans midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct QuietHours {
    /// When they begin.
    pub start: TimeOfDay,
    /// When they end (not included).
    pub end: TimeOfDay,
}

impl QuietHours {
    /// Whether a minute of the day (0–1439) falls inside.
    pub fn contains(&self, minute_of_day: u16) -> bool {
        let (s, e) = (self.start.minutes, self.end.minutes);
        if s <= e {
            (s..e).contains(&minute_of_day)
        } else {
            minute_of_day >= s || minute_of_day < e
        }
    }
}

/// Which alerts fire, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AlertSettings {
    /// Percent thresholds of the session window.
    pub session_thresholds: Vec<u8>,
    /// Percent thresholds of the weekly window.
    pub weekly_thresholds: Vec<u8>,
    /// Percent thresholds of per-model weekly windows.
    pub model_weekly_thresholds: Vec<u8>,
    /// Warn when the pace fills the session window before it resets.
    pub forecast: bool,
    /// Announce a forecast only when it fills the window this many minutes before the reset.
    pub forecast_lead_minutes: u32,
    /// Re-announce a forecast only when it moves by more than this.
    pub forecast_margin_minutes: u32,
    /// Warn when a window is near the limit while Extra Usage is off.
    pub extra_usage_trap: bool,
    /// The session or weekly percent at which the Extra Usage trap warns (1–100).
    pub trap_percent: u8,
    /// Percent of the Extra Usage cap at which to warn.
    pub cap_percents: Vec<u8>,
    /// Without a cap, warn at every multiple of this many dollars spent.
    pub spend_step_dollars: u32,
    /// Extra Usage turned on or off, or its cap changed; "now running on Extra Usage".
    pub extra_usage_changes: bool,
    /// Say when the session window has reset after an alert.
    pub reset_session: bool,
    /// Say when the weekly window has reset after an alert.
    pub reset_weekly: bool,
    /// Warn when account figures have failed for this long while usage was high.
    pub stale_after_minutes: u32,
    /// Hours in which delivery is held back; `None`: never.
    pub quiet_hours: Option<QuietHours>,
    /// Delivery is held back until this time (epoch ms); alerts are still recorded.
    pub snoozed_until_ms: Option<i64>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            session_thresholds: vec![75, 90, 100],
            weekly_thresholds: vec![75, 90, 100],
            model_weekly_thresholds: vec![75, 90, 100],
            forecast: true,
            forecast_lead_minutes: 20,
            forecast_margin_minutes: 15,
            extra_usage_trap: true,
            trap_percent: 90,
            cap_percents: vec![50, 80, 100],
            spend_step_dollars: 25,
            extra_usage_changes: true,
            reset_session: true,
            reset_weekly: false,
            stale_after_minutes: 30,
            quiet_hours: None,
            snoozed_until_ms: None,
        }
    }
}

/// What Headroom keeps about Extra Usage (the account keeps the rest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExtraUsageSettings {
    /// The monthly cap the user chose in Headroom; Headroom warns while the account's differs.
    /// An invalid cap in the file (hand-edited to -5, say) is reset to none with a warning,
    /// like any other wrongly typed field (see [`parse`]).
    pub chosen_cap: Option<Cap>,
    /// The largest cap a script may set without a terminal (`headroom extra-usage … --yes`);
    /// `None`, the default: scripts may not turn Extra Usage on or change its cap at all, and
    /// "no cap" is never a script's. Set from a terminal
    /// (`headroom extra-usage allow-scripts --max-cap 50`) or the settings pane, where a person
    /// is; the reason is audit N4: an agent's shell has no terminal either.
    pub scripts_max_cap: Option<Cap>,
}

/// Where usage figures come from, and how often the account is asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SourceSettings {
    /// Read the OAuth usage endpoint with Claude Code's credentials.
    pub account: bool,
    /// Read claude.ai with a pasted session key (kept in the OS keychain).
    pub claude_ai: bool,
    /// The claude.ai organization to read, when the key has several.
    pub claude_ai_organization: Option<String>,
    /// Minutes between account polls (at least 1; 5 by default).
    pub poll_minutes: u32,
    /// Transcript folders besides Claude Code's defaults.
    pub extra_transcript_dirs: Vec<PathBuf>,
}

impl Default for SourceSettings {
    fn default() -> Self {
        SourceSettings {
            account: true,
            claude_ai: false,
            claude_ai_organization: None,
            poll_minutes: 5,
            extra_transcript_dirs: Vec::new(),
        }
    }
}

/// The app's own behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GeneralSettings {
    /// Start the tray app when the user logs in.
    pub start_at_login: bool,
    /// IANA zone for days and reset times; `None` for the system's. A name that is not a
    /// zone never gets this far: loading resets it with a warning, a save refuses it.
    #[serde(deserialize_with = "blank_is_none")]
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub timezone: Option<TimeZoneName>,
}

/// The name of a time zone that exists (an IANA name such as `Europe/Berlin`, `UTC`, or
/// `local`), kept as the user wrote it so that a save writes it back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZoneName {
    name: String,
    zone: Zone,
}

impl TimeZoneName {
    /// The zone the name stands for.
    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// The name as the user wrote it (trimmed).
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = String;
    fn try_from(name: String) -> Result<TimeZoneName, String> {
        let zone = Zone::parse(name.trim())?;
        Ok(TimeZoneName {
            name: name.trim().to_owned(),
            zone,
        })
    }
}

impl std::str::FromStr for TimeZoneName {
    type Err = String;
    fn from_str(name: &str) -> Result<TimeZoneName, String> {
        TimeZoneName::try_from(name.to_owned())
    }
}

impl From<TimeZoneName> for String {
    fn from(name: TimeZoneName) -> String {
        name.name
    }
}

/// `"timezone": ""` (a cleared input) is the system's zone, like `null`.
fn blank_is_none<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TimeZoneName>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        Some(name) if !name.trim().is_empty() => TimeZoneName::try_from(name)
            .map(Some)
            .map_err(serde::de::Error::custom),
        _ => Ok(None),
    }
}

/// `prices`: where API prices come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PriceSettings {
    /// Fetch LiteLLM's current prices at most daily without being asked. Off by default:
    /// then the one request to a host other than Anthropic's is sent only by
    /// `headroom prices update`.
    pub auto_update: bool,
}

/// `metrics`: Headroom's figures for Prometheus and OpenTelemetry (docs/metrics.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MetricsSettings {
    /// The tray app serves `/metrics` at `address` (`headroom serve --metrics` does it
    /// without a tray). Off by default.
    pub serve: bool,
    /// Where `/metrics` listens: loopback unless the user writes another address here.
    pub address: std::net::SocketAddr,
    /// A `user` label on every metric (and `user.name` on OTLP), to tell machines or people
    /// apart on a team's dashboard: letters, digits, `.`, `-`, `_`, at most 64.
    pub user: Option<MetricsUser>,
    /// Push over OTLP/HTTP to this URL (the whole URL, `…/v1/metrics`). The tray pushes only
    /// here: `OTEL_EXPORTER_OTLP_*` variables in its environment never start a push or move it
    /// (`headroom serve` follows them, and this when they name no collector). The one request
    /// to a host other than Anthropic's that this section sends, and only when set.
    pub otlp_endpoint: Option<String>,
}

/// The default `/metrics` address: loopback, on the conventional exporter port.
pub const DEFAULT_METRICS_ADDRESS: std::net::SocketAddr = std::net::SocketAddr::V4(
    std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 9464),
);

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            serve: false,
            address: DEFAULT_METRICS_ADDRESS,
            user: None,
            otlp_endpoint: None,
        }
    }
}

/// A name for the metrics' `user` label: a plain name, so a label can never carry an email,
/// a path or anything a query would have to escape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct MetricsUser(String);

impl MetricsUser {
    /// Whether `name` may label the metrics: 1–64 ASCII letters, digits, `.`, `-` or `_`.
    pub fn valid(name: &str) -> bool {
        (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MetricsUser {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        if MetricsUser::valid(&name) {
            Ok(MetricsUser(name))
        } else {
            Err(format!(
                "{name:?} is not a plain name (letters, digits, '.', '-', '_', at most 64)"
            ))
        }
    }
}

impl From<MetricsUser> for String {
    fn from(user: MetricsUser) -> String {
        user.0
    }
}

/// Headroom's `settings.json`: typed, versioned, every field defaulted; see the module
/// documentation for how it is read and written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Settings {
    /// The file's format version ([`SETTINGS_VERSION`]).
    pub version: u32,
    /// Which alerts fire, and when.
    pub alerts: AlertSettings,
    /// Extra Usage.
    pub extra_usage: ExtraUsageSettings,
    /// Where figures come from.
    pub sources: SourceSettings,
    /// The app's own behaviour.
    pub general: GeneralSettings,
    /// Price table overrides and updates.
    pub prices: PriceSettings,
    /// The metrics export.
    pub metrics: MetricsSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            version: SETTINGS_VERSION,
            alerts: AlertSettings::default(),
            extra_usage: ExtraUsageSettings::default(),
            sources: SourceSettings::default(),
            general: GeneralSettings::default(),
            prices: PriceSettings::default(),
            metrics: MetricsSettings::default(),
        }
    }
}

impl Settings {
    /// The zone days and times are shown in: `general.timezone`, else the system's.
    pub fn zone(&self) -> Zone {
        self.general
            .timezone
            .as_ref()
            .map_or(Zone::Local, TimeZoneName::zone)
    }

    /// Brings every value into its allowed range (thresholds 1–200 %, sorted and unique;
    /// poll at least every minute...).
    pub fn clamp(&mut self) {
        fn percents(list: &mut Vec<u8>, max: u8) {
            list.retain(|p| (1..=max).contains(p));
            list.sort_unstable();
            list.dedup();
        }
        let a = &mut self.alerts;
        percents(&mut a.session_thresholds, 200);
        percents(&mut a.weekly_thresholds, 200);
        percents(&mut a.model_weekly_thresholds, 200);
        percents(&mut a.cap_percents, 200);
        a.forecast_lead_minutes = a.forecast_lead_minutes.min(300);
        a.trap_percent = a.trap_percent.clamp(1, 100);
        a.forecast_margin_minutes = a.forecast_margin_minutes.clamp(1, 300);
        a.spend_step_dollars = a.spend_step_dollars.clamp(1, 100_000);
        a.stale_after_minutes = a.stale_after_minutes.clamp(5, 24 * 60);
        self.sources.poll_minutes = self.sources.poll_minutes.clamp(1, 24 * 60);
        self.version = SETTINGS_VERSION;
    }
}

mod file;
pub use file::*;

#[cfg(test)]
mod tests;
