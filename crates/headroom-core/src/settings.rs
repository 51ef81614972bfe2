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

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const SETTINGS_VERSION: u32 = 1;

/// A monthly spending cap in cents: positive, at most two decimals, $1 to $100,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Cap {
    cents: u64,
}

/// Why a cap was refused; the message is shown next to the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    #[error("enter an amount in dollars, like 50 or 12.50")]
    Empty,
    #[error("{0:?} is not an amount: use digits, like 50 or 12.50")]
    NotANumber(String),
    #[error("the cap must be more than zero")]
    NotPositive,
    #[error("use at most two decimals (cents)")]
    TooPrecise,
    #[error("the cap must be at least $1")]
    TooSmall,
    #[error("the cap can be at most $100,000")]
    TooLarge,
}

impl Cap {
    pub const MIN_CENTS: u64 = 100;
    pub const MAX_CENTS: u64 = 10_000_000;

    /// Parses what a person types: `50`, `12.5`, `$1,000.00`. Exponents, signs, `NaN` and
    /// the like are refused.
    pub fn parse(input: &str) -> Result<Cap, CapError> {
        let text = input.trim();
        let text = text
            .strip_prefix('$')
            .unwrap_or(text)
            .trim()
            .replace(',', "");
        if text.is_empty() {
            return Err(CapError::Empty);
        }
        if text.starts_with('-') && text[1..].chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(CapError::NotPositive);
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text.as_str(), ""),
        };
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
            return Err(CapError::NotANumber(input.trim().to_owned()));
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
            whole
                .parse()
                .map_err(|_| CapError::NotANumber(input.trim().to_owned()))?
        };
        let cents_part: u64 = format!("{fraction:0<2}")
            .parse()
            .map_err(|_| CapError::NotANumber(input.trim().to_owned()))?;
        Cap::from_cents(whole * 100 + cents_part)
    }

    pub fn from_cents(cents: u64) -> Result<Cap, CapError> {
        match cents {
            0 => Err(CapError::NotPositive),
            c if c < Self::MIN_CENTS => Err(CapError::TooSmall),
            c if c > Self::MAX_CENTS => Err(CapError::TooLarge),
            cents => Ok(Cap { cents }),
        }
    }

    pub fn cents(self) -> u64 {
        self.cents
    }

    pub fn dollars(self) -> f64 {
        self.cents as f64 / 100.0
    }
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
pub struct TimeOfDay {
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
pub struct QuietHours {
    pub start: TimeOfDay,
    pub end: TimeOfDay,
}

impl QuietHours {
    pub fn contains(&self, minute_of_day: u16) -> bool {
        let (s, e) = (self.start.minutes, self.end.minutes);
        if s <= e {
            (s..e).contains(&minute_of_day)
        } else {
            minute_of_day >= s || minute_of_day < e
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertSettings {
    /// Percent thresholds of the session window.
    pub session_thresholds: Vec<u8>,
    /// Percent thresholds of the weekly window.
    pub weekly_thresholds: Vec<u8>,
    /// Percent thresholds of per-model weekly windows.
    pub model_weekly_thresholds: Vec<u8>,
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
    pub reset_session: bool,
    pub reset_weekly: bool,
    /// Warn when account figures have failed for this long while usage was high.
    pub stale_after_minutes: u32,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ExtraUsageSettings {
    /// The monthly cap the user chose in Headroom; Headroom warns while the account's differs.
    /// An invalid cap in the file (hand-edited to -5, say) is reset to none with a warning,
    /// like any other wrongly typed field (see [`parse`]).
    pub chosen_cap: Option<Cap>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct GeneralSettings {
    pub start_at_login: bool,
    /// IANA zone for days and reset times; `None` for the system's.
    pub timezone: Option<String>,
}

/// `prices`: where API prices come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PriceSettings {
    /// Fetch LiteLLM's current prices at most daily without being asked. Off by default:
    /// then the one request to a host other than Anthropic's is sent only by
    /// `headroom prices update`.
    pub auto_update: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub version: u32,
    pub alerts: AlertSettings,
    pub extra_usage: ExtraUsageSettings,
    pub sources: SourceSettings,
    pub general: GeneralSettings,
    pub prices: PriceSettings,
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
        }
    }
}

impl Settings {
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

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot save settings {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock settings {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another Headroom process has been saving {path} for {} s; try again", LOCK_WAIT.as_secs())]
    Busy { path: PathBuf },
}

/// Why a settings file as a whole cannot be read; every field is its default then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not UTF-8 text")]
    NotText,
    #[error("it is not valid JSON ({0})")]
    NotJson(String),
    #[error("it is not a JSON object")]
    NotAnObject,
}

/// A field of the file that was reset to its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldWarning {
    /// Its path, like `sources.poll_minutes`.
    pub field: String,
    /// What is wrong with it, as serde says it (`invalid type: floating point `5.5`, expected u32`).
    pub reason: String,
    /// The default now in use, as JSON.
    pub default: String,
}

impl std::fmt::Display for FieldWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is not valid ({}); using the default, {}",
            self.field, self.reason, self.default
        )
    }
}

/// What [`parse`] found in a settings file's text.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// Every valid field as written (clamped into range), the default for every other one.
    pub settings: Settings,
    /// The fields that were present but wrongly typed or out of their domain, one each.
    pub warnings: Vec<FieldWarning>,
}

/// Parses the text of a settings file, leniently per field: a wrongly typed field is reset to
/// its default (and named in `warnings`), every other field is kept. Only a text that is not a
/// JSON object at all is refused. Pure: no I/O, no clock (the settings fuzz target's entry).
pub fn parse(text: &str) -> Result<Parsed, Unreadable> {
    Ok(from_object(&object(text)?))
}

fn object(text: &str) -> Result<Value, Unreadable> {
    if text.trim().is_empty() {
        return Err(Unreadable::Empty);
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| Unreadable::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(Unreadable::NotAnObject);
    }
    Ok(value)
}

fn from_object(raw: &Value) -> Parsed {
    let (mut settings, warnings) = match Settings::deserialize(raw) {
        Ok(settings) => (settings, Vec::new()),
        Err(_) => field_by_field(raw),
    };
    settings.clamp();
    Parsed { settings, warnings }
}

/// The slow path, for a file that does not deserialize as a whole: starting from the
/// defaults, each value of the file is put in its place in turn and kept only if the whole
/// still deserializes. Any type's rules (a cap's range, `HH:MM`, `u8`) apply without a list
/// of fields to keep in step with the structs: the defaults give the shape.
fn field_by_field(raw: &Value) -> (Settings, Vec<FieldWarning>) {
    let Ok(defaults) = serde_json::to_value(Settings::default()) else {
        return (Settings::default(), Vec::new());
    };
    let mut candidate = defaults.clone();
    let mut warnings = Vec::new();
    merge_valid(
        &defaults,
        raw,
        &mut candidate,
        &mut Vec::new(),
        &mut warnings,
    );
    // The candidate deserialized after every step, so this cannot fail; defaults if it did.
    let settings = Settings::deserialize(&candidate).unwrap_or_default();
    (settings, warnings)
}

fn merge_valid<'a>(
    defaults: &'a Value,
    raw: &Value,
    candidate: &mut Value,
    path: &mut Vec<&'a str>,
    warnings: &mut Vec<FieldWarning>,
) {
    let (Value::Object(defaults), Value::Object(raw)) = (defaults, raw) else {
        return;
    };
    for (key, default) in defaults {
        let Some(value) = raw.get(key) else { continue };
        path.push(key);
        if default.is_object() && value.is_object() {
            merge_valid(default, value, candidate, path, warnings);
        } else {
            let pointer = format!("/{}", path.join("/"));
            if let Some(slot) = candidate.pointer_mut(&pointer) {
                let previous = std::mem::replace(slot, value.clone());
                if let Err(e) = Settings::deserialize(&*candidate) {
                    if let Some(slot) = candidate.pointer_mut(&pointer) {
                        *slot = previous;
                    }
                    warnings.push(FieldWarning {
                        field: path.join("."),
                        reason: e.to_string(),
                        default: match default {
                            Value::Null => "none".to_owned(),
                            Value::Object(_) => "its defaults".to_owned(),
                            other => other.to_string(),
                        },
                    });
                }
            }
        }
        path.pop();
    }
}

/// What loading found.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub settings: Settings,
    /// One sentence per field reset to its default (which, why, and the default), and after
    /// a save, one if a broken file was moved aside. Show them.
    pub warnings: Vec<String>,
    /// The file as a whole could not be read as settings, even once it had settled: a
    /// sentence saying why. `settings` are the defaults then, and the file is left as it is
    /// (a background reload never moves a file; only a save does, see [`update`]).
    pub unreadable: Option<String>,
}

impl Loaded {
    fn defaults() -> Loaded {
        Loaded {
            settings: Settings::default(),
            warnings: Vec::new(),
            unreadable: None,
        }
    }

    /// Everything the user should be told, as one paragraph; `None` when all is well.
    pub fn notice(&self) -> Option<String> {
        let parts: Vec<&str> = self
            .unreadable
            .iter()
            .chain(&self.warnings)
            .map(String::as_str)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// How long a broken file is given to settle before it counts as broken. Editors and shell
/// redirections (`nano`, `cat x > settings.json`) truncate first and write after, so a reader
/// can catch an empty or half-written file; the tray reloads on the watcher's first event.
pub const SETTLE: Duration = Duration::from_millis(250);
/// How many times a file that keeps changing is read again before loading gives up on it.
const SETTLE_READS: u32 = 8;
/// How long a save waits for another process's save (which takes milliseconds) to finish.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// What the file holds now.
struct Current {
    /// The file's JSON object, when it has one.
    raw: Option<Value>,
    /// Why the file as a whole could not be read, when it exists and could not.
    broken: Option<Unreadable>,
    loaded: Loaded,
}

/// Loads settings: a missing file gives the defaults, a wrongly typed field its default (with
/// a warning), and a file that cannot be read at all, once it has settled, the defaults with
/// [`Loaded::unreadable`] set. Never moves, changes or creates a file, so that a reload in
/// the middle of a hand edit cannot lose it.
pub fn load(path: &Path) -> Result<Loaded, SettingsError> {
    load_settling(path, SETTLE)
}

/// [`load`] with the given settling time (tests use a long one to make their timing safe).
pub fn load_settling(path: &Path, settle: Duration) -> Result<Loaded, SettingsError> {
    Ok(read_settled(path, settle)?.loaded)
}

fn read_bytes(path: &Path) -> Result<Option<Vec<u8>>, SettingsError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SettingsError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The file's new content once it differs from `seen`, or `None` if it stays the same for
/// `settle` (polled often, so that a reload waits no longer than the writer takes).
fn changed_within(
    path: &Path,
    seen: &Option<Vec<u8>>,
    settle: Duration,
) -> Result<Option<Option<Vec<u8>>>, SettingsError> {
    const POLL: Duration = Duration::from_millis(25);
    let started = Instant::now();
    loop {
        let left = settle.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ok(None);
        }
        std::thread::sleep(left.min(POLL));
        let now = read_bytes(path)?;
        if now != *seen {
            return Ok(Some(now));
        }
    }
}

fn read_settled(path: &Path, settle: Duration) -> Result<Current, SettingsError> {
    let mut bytes = read_bytes(path)?;
    let mut reads = 1;
    loop {
        let Some(b) = &bytes else {
            return Ok(Current {
                raw: None,
                broken: None,
                loaded: Loaded::defaults(),
            });
        };
        let parsed = std::str::from_utf8(b)
            .map_err(|_| Unreadable::NotText)
            .and_then(object);
        let why = match parsed {
            Ok(raw) => {
                let Parsed { settings, warnings } = from_object(&raw);
                return Ok(Current {
                    raw: Some(raw),
                    broken: None,
                    loaded: Loaded {
                        settings,
                        warnings: warnings
                            .iter()
                            .map(|w| format!("In {}, {w}.", path.display()))
                            .collect(),
                        unreadable: None,
                    },
                });
            }
            Err(why) => why,
        };
        // Broken: maybe caught in the middle of a write. Read again when it changes; the
        // same bytes for all of `settle` is a file that is really broken.
        if reads <= SETTLE_READS {
            reads += 1;
            if let Some(changed) = changed_within(path, &bytes, settle)? {
                bytes = changed;
                continue;
            }
        }
        return Ok(Current {
            raw: None,
            loaded: Loaded {
                unreadable: Some(format!(
                    "Headroom cannot read its settings file {} ({why}); fix it, or save a setting to replace it (a file with content is kept aside).",
                    path.display()
                )),
                ..Loaded::defaults()
            },
            broken: Some(why),
        });
    }
}

/// The fields that one change sets, with their new values: what a save writes into the file,
/// leaving every other field, and keys Headroom does not know, as they are on disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patch {
    changes: Vec<(Vec<String>, Value)>,
}

impl Patch {
    /// The fields that differ between `before` and `after` (nested structs field by field;
    /// lists and optional values as a whole).
    pub fn between(before: &Settings, after: &Settings) -> Result<Patch, serde_json::Error> {
        let mut changes = Vec::new();
        diff(
            &serde_json::to_value(before)?,
            &serde_json::to_value(after)?,
            &mut Vec::new(),
            &mut changes,
        );
        Ok(Patch { changes })
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The changed fields' paths, like `alerts.snoozed_until_ms`.
    pub fn fields(&self) -> Vec<String> {
        self.changes
            .iter()
            .map(|(path, _)| path.join("."))
            .collect()
    }

    /// Sets the patch's fields in `settings`.
    pub fn apply(&self, settings: &mut Settings) {
        let Ok(mut value) = serde_json::to_value(&*settings) else {
            return;
        };
        self.apply_to_json(&mut value);
        // A patch made by `between` holds values of the same types, so this holds.
        if let Ok(patched) = Settings::deserialize(&value) {
            *settings = patched;
        }
    }

    fn apply_to_json(&self, root: &mut Value) {
        for (path, value) in &self.changes {
            set_path(root, path, value.clone());
        }
    }
}

fn diff(
    before: &Value,
    after: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, Value)>,
) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, new) in a {
                path.push(key.clone());
                match b.get(key) {
                    Some(old) => diff(old, new, path, out),
                    None => out.push((path.clone(), new.clone())),
                }
                path.pop();
            }
        }
        _ if before != after => out.push((path.clone(), after.clone())),
        _ => {}
    }
}

/// Sets `value` at `path`, making objects on the way (a non-object in the way, such as a
/// hand-written `"alerts": 5`, is replaced: it could not be read anyway).
fn set_path(root: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *root = value;
        return;
    };
    let mut node = root;
    for key in parents {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else { return };
        node = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    if let Value::Object(map) = node {
        map.insert(last.clone(), value);
    }
}

/// An advisory lock on `settings.lock` beside the settings file, held for one
/// read-modify-write: the tray, the settings window and the CLI are separate processes, and
/// without it whichever saved last would revert the others. Readers take no lock (saves are
/// atomic renames). The lock file is never removed: removing it would let two processes hold
/// locks on two different files. Released when dropped (or when the process dies).
struct SettingsLock {
    _file: File,
}

impl SettingsLock {
    fn acquire(settings: &Path) -> Result<SettingsLock, SettingsError> {
        let path = settings.with_extension("lock");
        let lock_error = |source| SettingsError::Lock {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(lock_error)?;
        }
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(lock_error)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(SettingsLock { _file: file }),
                Err(TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(SettingsError::Busy {
                        path: settings.to_owned(),
                    })
                }
                // A file system without locks (some network mounts): save as before, unlocked.
                Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
                    tracing::warn!("cannot lock {}: {e}; saving without a lock", path.display());
                    return Ok(SettingsLock { _file: file });
                }
                Err(TryLockError::Error(source)) => return Err(lock_error(source)),
            }
        }
    }
}

/// Changes the settings as one step under the cross-process lock: loads the file (as
/// [`load`]), applies `change`, clamps, and writes only the fields that changed into the file
/// as it is on disk, so that keys Headroom does not know and other fields' hand-written values
/// stay. Nothing is written when nothing changed. Returns the settings as saved.
///
/// A save is an explicit user action, so it is the one place a broken file is replaced: one
/// with content is first moved aside to `settings.json.corrupt-<now_unix_s>` and named in the
/// returned warnings; an empty one holds nothing to keep and is simply replaced.
pub fn update(
    path: &Path,
    now_unix_s: i64,
    change: impl FnOnce(&mut Settings),
) -> Result<Loaded, SettingsError> {
    let write_error = |source| SettingsError::Write {
        path: path.to_owned(),
        source,
    };
    let _lock = SettingsLock::acquire(path)?;
    let current = read_settled(path, SETTLE)?;
    let before = current.loaded.settings.clone();
    let mut after = before.clone();
    change(&mut after);
    after.clamp();
    let patch =
        Patch::between(&before, &after).map_err(|e| write_error(std::io::Error::other(e)))?;
    if patch.is_empty() {
        return Ok(current.loaded);
    }
    let mut raw = match current.raw {
        Some(raw) => raw,
        // No file (or a broken one): write every field, so that a hand edit sees them all.
        None => serde_json::to_value(&before).map_err(|e| write_error(std::io::Error::other(e)))?,
    };
    let mut moved = None;
    if let Some(why) = current.broken.filter(|why| *why != Unreadable::Empty) {
        let aside = free_aside_path(path, now_unix_s);
        fs::rename(path, &aside).map_err(|source| SettingsError::Write {
            path: aside.clone(),
            source,
        })?;
        moved = Some(format!(
            "Your settings file could not be read ({why}); it was kept as {} and a new one was saved.",
            aside.display()
        ));
    }
    patch.apply_to_json(&mut raw);
    let text =
        serde_json::to_string_pretty(&raw).map_err(|e| write_error(std::io::Error::other(e)))?;
    write_atomically(path, text.as_bytes()).map_err(write_error)?;
    let Parsed { settings, warnings } = from_object(&raw);
    Ok(Loaded {
        settings,
        warnings: moved
            .into_iter()
            .chain(
                warnings
                    .iter()
                    .map(|w| format!("In {}, {w}.", path.display())),
            )
            .collect(),
        unreadable: None,
    })
}

/// Writes the default settings when there is no settings file yet (to open it for editing);
/// an existing file is left alone.
pub fn create_if_missing(path: &Path) -> Result<(), SettingsError> {
    let _lock = SettingsLock::acquire(path)?;
    if path.exists() {
        return Ok(());
    }
    let text =
        serde_json::to_string_pretty(&Settings::default()).map_err(|e| SettingsError::Write {
            path: path.to_owned(),
            source: std::io::Error::other(e),
        })?;
    write_atomically(path, text.as_bytes()).map_err(|source| SettingsError::Write {
        path: path.to_owned(),
        source,
    })
}

/// `settings.json.corrupt-<now>`, or `-2`, `-3`… when that is taken (rename would replace it).
fn free_aside_path(path: &Path, now_unix_s: i64) -> PathBuf {
    let base = format!("{}.corrupt-{now_unix_s}", path.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 2;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    candidate
}

/// Writes `bytes` to `path` so that a reader sees the old or the new content, never a mix: a
/// temporary file beside it, fsync, rename over, fsync the folder. The temporary file has an
/// unpredictable name and is created exclusively (`tempfile`), so a planted symlink is not
/// followed and two writers in one process never share one; it is owner-only (0600) from
/// creation on Unix, and removed if anything fails.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "settings".into());
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{name}.");
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_people_type() {
        assert_eq!(Cap::parse("50").unwrap().cents(), 5000);
        assert_eq!(Cap::parse(" $12.5 ").unwrap().cents(), 1250);
        assert_eq!(Cap::parse("1,000.00").unwrap().cents(), 100_000);
        assert_eq!(Cap::parse("0.99"), Err(CapError::TooSmall));
        assert_eq!(Cap::parse("-5"), Err(CapError::NotPositive));
        assert_eq!(Cap::parse("0"), Err(CapError::NotPositive));
        assert_eq!(Cap::parse(""), Err(CapError::Empty));
        assert_eq!(Cap::parse("  "), Err(CapError::Empty));
        assert!(matches!(Cap::parse("abc"), Err(CapError::NotANumber(_))));
        assert!(matches!(Cap::parse("1e9"), Err(CapError::NotANumber(_))));
        assert!(matches!(Cap::parse("NaN"), Err(CapError::NotANumber(_))));
        assert!(matches!(Cap::parse("."), Err(CapError::NotANumber(_))));
        assert_eq!(Cap::parse("12.345"), Err(CapError::TooPrecise));
        assert_eq!(Cap::parse("100001"), Err(CapError::TooLarge));
        assert_eq!(
            Cap::parse("99999999999999999999999"),
            Err(CapError::TooLarge)
        );
        assert_eq!(Cap::parse("50").unwrap().to_string(), "$50.00");
    }

    #[test]
    fn quiet_hours_may_span_midnight() {
        let q = QuietHours {
            start: TimeOfDay::try_from("22:00".to_owned()).unwrap(),
            end: TimeOfDay::try_from("07:30".to_owned()).unwrap(),
        };
        assert!(q.contains(23 * 60));
        assert!(q.contains(60));
        assert!(!q.contains(7 * 60 + 30));
        assert!(!q.contains(12 * 60));
        assert!(TimeOfDay::try_from("24:00".to_owned()).is_err());
    }

    /// Short: these tests' broken files are broken for good.
    const QUICK: Duration = Duration::from_millis(10);

    fn raw(path: &Path) -> Value {
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn round_trip_and_partial_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        assert_eq!(load(&path).unwrap(), Loaded::defaults());
        let saved = update(&path, 0, |s| {
            s.extra_usage.chosen_cap = Some(Cap::parse("50").unwrap());
            s.alerts.session_thresholds = vec![80];
        })
        .unwrap();
        let mut expected = Settings::default();
        expected.extra_usage.chosen_cap = Some(Cap::parse("50").unwrap());
        expected.alerts.session_thresholds = vec![80];
        assert_eq!(saved.settings, expected);
        assert_eq!(load(&path).unwrap().settings, expected);
        // A first save writes every field, for whoever opens the file to edit it.
        assert_eq!(raw(&path)["sources"]["poll_minutes"], 5);
        #[cfg(unix)]
        for file in ["settings.json", "settings.lock"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        fs::write(
            &path,
            r#"{"alerts":{"session_thresholds":[90,0,250,75,90]}}"#,
        )
        .unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.settings.alerts.session_thresholds, [75, 90]);
        assert_eq!(loaded.settings.sources, SourceSettings::default());
        assert_eq!(loaded.notice(), None);
    }

    fn corrupt_files(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("corrupt"))
            .collect()
    }

    #[test]
    fn one_wrongly_typed_field_resets_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let defaults = serde_json::to_value(Settings::default()).unwrap();
        for (section, field, bad) in [
            ("alerts", "session_thresholds", serde_json::json!([75, 300])),
            ("sources", "poll_minutes", serde_json::json!(-1)),
            ("sources", "poll_minutes", serde_json::json!(5.5)),
            ("general", "timezone", serde_json::json!(7)),
            (
                "alerts",
                "quiet_hours",
                serde_json::json!({"start": "25:00", "end": "07:00"}),
            ),
            ("extra_usage", "chosen_cap", serde_json::json!(-5)),
            ("extra_usage", "chosen_cap", serde_json::json!("abc")),
            ("extra_usage", "chosen_cap", serde_json::json!(1e9)),
            ("extra_usage", "chosen_cap", serde_json::json!(12.345)),
        ] {
            let mut file = serde_json::json!({
                "alerts": {"trap_percent": 80},
                "extra_usage": {"chosen_cap": 50},
                "sources": {"claude_ai": true, "claude_ai_organization": "org-1"},
                "general": {"start_at_login": true},
            });
            file[section][field] = bad.clone();
            fs::write(&path, file.to_string()).unwrap();
            let loaded = load(&path).unwrap();
            let s = &loaded.settings;
            assert!(path.exists(), "{bad}: the file was moved");
            assert!(corrupt_files(dir.path()).is_empty(), "{bad}");
            if field != "chosen_cap" {
                assert_eq!(
                    s.extra_usage.chosen_cap,
                    Some(Cap::parse("50").unwrap()),
                    "{bad}"
                );
            }
            assert!(s.sources.claude_ai, "{bad}");
            assert_eq!(
                s.sources.claude_ai_organization.as_deref(),
                Some("org-1"),
                "{bad}"
            );
            assert_eq!(s.alerts.trap_percent, 80, "{bad}");
            assert!(s.general.start_at_login, "{bad}");
            // The bad field has its default, and the user is told which and why.
            let now = serde_json::to_value(s).unwrap();
            assert_eq!(now[section][field], defaults[section][field], "{bad}");
            assert_eq!(loaded.unreadable, None);
            assert_eq!(loaded.warnings.len(), 1, "{bad}: {:?}", loaded.warnings);
            let warning = &loaded.warnings[0];
            assert!(
                warning.contains(&format!("{section}.{field} is not valid (")),
                "{warning}"
            );
            assert!(warning.contains(&path.display().to_string()), "{warning}");
            assert!(warning.contains("using the default"), "{warning}");
        }
        // A whole section of the wrong type costs that section only.
        fs::write(&path, r#"{"alerts": 5, "sources": {"poll_minutes": 9}}"#).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.settings.alerts, AlertSettings::default());
        assert_eq!(loaded.settings.sources.poll_minutes, 9);
        assert!(
            loaded.warnings[0].contains("alerts is not valid"),
            "{:?}",
            loaded.warnings
        );
    }

    #[test]
    fn an_empty_or_half_written_file_is_not_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let text = r#"{"sources":{"claude_ai":true,"poll_minutes":9}}"#;
        // As nano or a shell's `>` do: truncate, then write through the open descriptor.
        let mut editor = File::create(&path).unwrap();
        let loaded = load_settling(&path, QUICK).unwrap();
        assert!(path.exists(), "the empty file was moved aside");
        assert!(loaded.unreadable.unwrap().contains("empty"));
        editor.write_all(&text.as_bytes()[..20]).unwrap();
        editor.flush().unwrap();
        let loaded = load_settling(&path, QUICK).unwrap();
        assert!(path.exists(), "the half-written file was moved aside");
        assert!(loaded.notice().unwrap().contains("not valid JSON"));
        assert_eq!(loaded.settings, Settings::default());
        assert!(corrupt_files(dir.path()).is_empty());
        editor.write_all(&text.as_bytes()[20..]).unwrap();
        drop(editor);
        let s = load(&path).unwrap().settings;
        assert!(s.sources.claude_ai);
        assert_eq!(s.sources.poll_minutes, 9);
    }

    #[test]
    fn a_file_caught_in_the_middle_of_a_write_is_read_once_it_settles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        fs::write(&path, "").unwrap();
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                fs::write(&path, r#"{"sources":{"poll_minutes":9}}"#).unwrap();
            })
        };
        // Settling for far longer than the writer needs keeps this test safe on a busy machine.
        let loaded = load_settling(&path, Duration::from_secs(3)).unwrap();
        writer.join().unwrap();
        assert_eq!(loaded.unreadable, None);
        assert_eq!(loaded.settings.sources.poll_minutes, 9);
    }

    #[test]
    fn a_broken_file_stays_until_a_save_keeps_it_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        fs::write(&path, "{ not json").unwrap();
        let loaded = load_settling(&path, QUICK).unwrap();
        assert_eq!(loaded.settings, Settings::default());
        assert!(loaded.notice().unwrap().contains("not valid JSON"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "{ not json");
        // A save is the user's own act: the broken file is kept aside, the change is saved.
        let saved = update(&path, 7, |s| s.alerts.snoozed_until_ms = Some(42)).unwrap();
        assert_eq!(saved.settings.alerts.snoozed_until_ms, Some(42));
        assert!(
            saved.warnings[0].contains("corrupt-7"),
            "{:?}",
            saved.warnings
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("settings.json.corrupt-7")).unwrap(),
            "{ not json"
        );
        assert_eq!(
            load(&path).unwrap().settings.alerts.snoozed_until_ms,
            Some(42)
        );
        // A second broken file in the same second does not replace the first one kept.
        fs::write(&path, "[1, 2]").unwrap();
        update(&path, 7, |s| s.alerts.snoozed_until_ms = Some(43)).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("settings.json.corrupt-7-2")).unwrap(),
            "[1, 2]"
        );
        // An empty file holds nothing to keep: it is replaced, not moved.
        fs::write(&path, "").unwrap();
        let saved = update(&path, 8, |s| s.alerts.snoozed_until_ms = Some(44)).unwrap();
        assert_eq!(saved.warnings, Vec::<String>::new());
        assert_eq!(corrupt_files(dir.path()).len(), 2);
        // And a save that changes nothing writes nothing.
        fs::write(&path, "{ not json").unwrap();
        let unchanged = update(&path, 9, |_| {}).unwrap();
        assert!(unchanged.unreadable.is_some());
        assert_eq!(fs::read_to_string(&path).unwrap(), "{ not json");
    }

    #[test]
    fn a_save_writes_only_the_fields_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let file = serde_json::json!({
            "from_a_newer_version": {"kept": true},
            "alerts": {"session_thresholds": [90, 0, 250], "reset_weekly": true},
            "sources": {"poll_minutes": 5.5, "claude_ai": true},
        });
        fs::write(&path, file.to_string()).unwrap();
        let saved = update(&path, 0, |s| s.alerts.snoozed_until_ms = Some(42)).unwrap();
        let mut expected = file.clone();
        expected["alerts"]["snoozed_until_ms"] = 42.into();
        assert_eq!(raw(&path), expected);
        assert_eq!(saved.settings.alerts.snoozed_until_ms, Some(42));
        assert_eq!(saved.settings.alerts.session_thresholds, [90]);
        assert!(saved.settings.sources.claude_ai);
        // The hand-written bad value is still the user's to fix, and still named.
        assert!(
            saved.warnings[0].contains("sources.poll_minutes"),
            "{:?}",
            saved.warnings
        );
    }

    #[test]
    fn a_patch_holds_the_changed_fields_only() {
        let before = Settings::default();
        let mut after = before.clone();
        after.alerts.quiet_hours = Some(QuietHours {
            start: TimeOfDay { minutes: 60 },
            end: TimeOfDay { minutes: 120 },
        });
        after.sources.claude_ai = true;
        let patch = Patch::between(&before, &after).unwrap();
        assert_eq!(patch.fields(), ["alerts.quiet_hours", "sources.claude_ai"]);
        assert!(Patch::between(&after, &after).unwrap().is_empty());
        let mut other = Settings::default();
        other.general.start_at_login = true;
        patch.apply(&mut other);
        assert_eq!(other.alerts.quiet_hours, after.alerts.quiet_hours);
        assert!(other.sources.claude_ai);
        assert!(other.general.start_at_login);
    }

    #[test]
    fn parse_refuses_only_what_is_not_a_settings_object() {
        assert_eq!(parse(""), Err(Unreadable::Empty));
        assert_eq!(parse(" \n"), Err(Unreadable::Empty));
        assert_eq!(parse("[1, 2]"), Err(Unreadable::NotAnObject));
        assert_eq!(parse("null"), Err(Unreadable::NotAnObject));
        assert!(matches!(parse("{\"alerts\":"), Err(Unreadable::NotJson(_))));
        assert_eq!(parse("{}").unwrap().settings, Settings::default());
        let parsed = parse(r#"{"version": "one", "unknown": 1}"#).unwrap();
        assert_eq!(parsed.settings, Settings::default());
        assert_eq!(parsed.warnings.len(), 1);
        assert_eq!(parsed.warnings[0].field, "version");
    }
}
