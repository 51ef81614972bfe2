//! The user's settings: a typed, versioned struct in `settings.json` under Headroom's folder.
//!
//! Every field has a default (`#[serde(default)]`), so an older or partial file loads; values
//! are validated and clamped after load. Writes are atomic (temporary file, fsync, rename,
//! fsync of the folder) with 0600 permissions. A file that cannot be parsed is moved aside,
//! never overwritten, and defaults load with a notice for the user.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    /// An invalid cap in the file (hand-edited to -5, say) is dropped, not fatal.
    #[serde(deserialize_with = "lenient_cap")]
    pub chosen_cap: Option<Cap>,
}

fn lenient_cap<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cap>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(match value {
        serde_json::Value::Null => None,
        other => match serde_json::from_value::<Cap>(other) {
            Ok(cap) => Some(cap),
            Err(e) => {
                tracing::warn!("ignoring the spending cap in settings: {e}");
                None
            }
        },
    })
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
}

/// What loading found.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub settings: Settings,
    /// Set when the file was unreadable as settings: where it was moved and why. Show it.
    pub notice: Option<String>,
}

/// Loads settings; a missing file gives defaults, a corrupt one is moved aside.
pub fn load(path: &Path, now_unix_s: i64) -> Result<Loaded, SettingsError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded {
                settings: Settings::default(),
                notice: None,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => String::new(),
        Err(source) => {
            return Err(SettingsError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    match serde_json::from_str::<Settings>(&text) {
        Ok(mut settings) => {
            settings.clamp();
            Ok(Loaded {
                settings,
                notice: None,
            })
        }
        Err(err) => {
            let aside = PathBuf::from(format!("{}.corrupt-{now_unix_s}", path.display()));
            fs::rename(path, &aside).map_err(|source| SettingsError::Write {
                path: aside.clone(),
                source,
            })?;
            Ok(Loaded {
                settings: Settings::default(),
                notice: Some(format!(
                    "Your settings file could not be read ({err}); it was moved to {} and defaults are in use.",
                    aside.display()
                )),
            })
        }
    }
}

/// Saves settings atomically with owner-only permissions.
pub fn save(path: &Path, settings: &Settings) -> Result<(), SettingsError> {
    let text = serde_json::to_string_pretty(settings).map_err(|e| SettingsError::Write {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    write_atomically(path, text.as_bytes()).map_err(|source| SettingsError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Writes `bytes` to `path` so that a reader sees the old or the new content, never a mix:
/// a temporary file beside it, fsync, rename over, fsync the folder. Owner-only on Unix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "settings".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        #[cfg(unix)]
        File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
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

    #[test]
    fn round_trip_and_partial_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        assert_eq!(load(&path, 0).unwrap().settings, Settings::default());
        let mut s = Settings::default();
        s.extra_usage.chosen_cap = Some(Cap::parse("50").unwrap());
        s.alerts.session_thresholds = vec![80];
        save(&path, &s).unwrap();
        assert_eq!(load(&path, 0).unwrap().settings, s);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(
            &path,
            r#"{"alerts":{"session_thresholds":[90,0,250,75,90]}}"#,
        )
        .unwrap();
        let loaded = load(&path, 0).unwrap();
        assert_eq!(loaded.settings.alerts.session_thresholds, [75, 90]);
        assert_eq!(loaded.settings.sources, SourceSettings::default());
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_defaults_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        fs::write(&path, "{ not json").unwrap();
        let loaded = load(&path, 7).unwrap();
        assert_eq!(loaded.settings, Settings::default());
        assert!(loaded.notice.unwrap().contains("moved"));
        assert_eq!(
            fs::read_to_string(dir.path().join("settings.json.corrupt-7")).unwrap(),
            "{ not json"
        );
        assert!(!path.exists());
        // A cap of -5 or "abc" in the file is no cap at all; the other settings stay.
        for cap in ["-5", r#""abc""#, "1e9", "12.345"] {
            fs::write(
                &path,
                format!(
                    r#"{{"extra_usage":{{"chosen_cap":{cap}}},"sources":{{"poll_minutes":9}}}}"#
                ),
            )
            .unwrap();
            let loaded = load(&path, 8).unwrap();
            assert_eq!(loaded.notice, None, "{cap}");
            assert_eq!(loaded.settings.extra_usage.chosen_cap, None, "{cap}");
            assert_eq!(loaded.settings.sources.poll_minutes, 9);
        }
    }
}
