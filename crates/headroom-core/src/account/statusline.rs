//! Claude Code's statusline feed: the JSON it pipes to its `statusLine` command on every
//! render, the one line Headroom prints back, and installing Headroom as that command.
//!
//! On Pro/Max plans, after a session's first response, the payload carries
//! `rate_limits: { five_hour: { used_percentage, resets_at }, seven_day: { … } }` (percent
//! 0–100, may exceed 100; `resets_at` epoch seconds, RFC 3339 accepted too). Every key may be
//! absent; [`parse`] never fails on a JSON object and tells garbage apart so the caller can
//! print a plain line and exit 0: the status bar must never break.
//!
//! [`install`] adds `statusLine` to Claude Code's `settings.json`: idempotent, every other key
//! kept, a backup written first, the file replaced atomically; a different existing
//! statusLine is kept unless forced (the error says what is there and how to chain it).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::usage::{make_window, time_ms};
use crate::alerts::text;
use crate::settings::write_atomically;
use crate::snapshot::{ExtraUsage, Source, Window, WindowKind};

/// What Headroom uses from one statusline payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Payload {
    pub session_id: Option<String>,
    pub transcript_path: Option<PathBuf>,
    pub model: Option<String>,
    pub current_dir: Option<String>,
    /// This Claude Code session's cost so far.
    pub session_cost_usd: Option<f64>,
    pub context_used_percentage: Option<f64>,
    /// `(percent, resets_at_ms)` of the five-hour window.
    pub five_hour: Option<(f64, Option<i64>)>,
    pub seven_day: Option<(f64, Option<i64>)>,
}

impl Payload {
    /// The account windows the payload carries (none before the session's first response,
    /// or off Pro/Max).
    pub fn windows(&self, observed_at_ms: i64) -> Vec<Window> {
        let mut out = Vec::new();
        if let Some((p, r)) = self.five_hour {
            out.push(make_window(
                WindowKind::Session,
                p,
                r,
                Source::Statusline,
                observed_at_ms,
            ));
        }
        if let Some((p, r)) = self.seven_day {
            out.push(make_window(
                WindowKind::Weekly,
                p,
                r,
                Source::Statusline,
                observed_at_ms,
            ));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("no statusline input")]
    Empty,
    #[error("the statusline input is not a JSON object")]
    NotJson,
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn text_at(o: &Value, path: &[&str]) -> Option<String> {
    let mut v = o;
    for key in path {
        v = v.get(key)?;
    }
    v.as_str().map(str::to_owned).filter(|s| !s.is_empty())
}

fn window(limits: &Map<String, Value>, key: &str) -> Option<(f64, Option<i64>)> {
    let w = limits.get(key)?.as_object()?;
    let percent = num(w.get("used_percentage")).or_else(|| num(w.get("utilization")))?;
    Some((percent, w.get("resets_at").and_then(time_ms)))
}

/// Parses a payload. Only empty input and non-objects are errors.
pub fn parse(input: &[u8]) -> Result<Payload, PayloadError> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(PayloadError::Empty);
    }
    let value: Value = serde_json::from_slice(input).map_err(|_| PayloadError::NotJson)?;
    if !value.is_object() {
        return Err(PayloadError::NotJson);
    }
    let limits = value.get("rate_limits").and_then(Value::as_object);
    Ok(Payload {
        session_id: text_at(&value, &["session_id"]),
        transcript_path: text_at(&value, &["transcript_path"]).map(PathBuf::from),
        model: text_at(&value, &["model", "display_name"])
            .or_else(|| text_at(&value, &["model", "id"])),
        current_dir: text_at(&value, &["workspace", "current_dir"])
            .or_else(|| text_at(&value, &["cwd"])),
        session_cost_usd: num(value.get("cost").and_then(|c| c.get("total_cost_usd"))),
        context_used_percentage: num(value
            .get("context_window")
            .and_then(|c| c.get("used_percentage"))),
        five_hour: limits.and_then(|l| window(l, "five_hour")),
        seven_day: limits.and_then(|l| window(l, "seven_day")),
    })
}

/// What the line shows besides the payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineFacts {
    /// Session and weekly windows to show (from the payload, else the ledger's newest).
    pub session: Option<Window>,
    pub weekly: Option<Window>,
    /// Cost of today's Claude Code use from the ledger (local estimate).
    pub today_cost_usd: Option<f64>,
    /// Part of today's responses have no known price: the cost shows as `$12.30+`.
    pub today_cost_partial: bool,
    pub extra_usage: Option<ExtraUsage>,
}

/// ANSI colouring for the line (Claude Code renders ANSI colours in its status bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colors(pub bool);

impl Colors {
    fn paint(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    fn level(self, percent: f64, s: &str) -> String {
        let code = if percent >= 90.0 {
            "31"
        } else if percent >= 75.0 {
            "33"
        } else {
            "32"
        };
        self.paint(code, s)
    }
}

/// Compact `1h12m`, `45m`, `2d3h`, `<1m`.
fn short_duration(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match (minutes / 1440, (minutes % 1440) / 60, minutes % 60) {
        (0, 0, 0) => "<1m".to_owned(),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h{m:02}m"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

/// `Session 42 % (1h12m) · Weekly 18 % · Today $3.21 · Extra Usage off`
pub fn format_line(facts: &LineFacts, now_ms: i64, colors: Colors) -> String {
    let mut parts = Vec::new();
    for (w, show_reset) in [(&facts.session, true), (&facts.weekly, false)] {
        let Some(w) = w else { continue };
        let mut part = format!(
            "{} {}",
            w.label,
            colors.level(w.utilization, &text::percent(w.utilization))
        );
        if show_reset {
            if let Some(at) = w.resets_at_ms.filter(|&at| at > now_ms) {
                part.push_str(&format!(" ({})", short_duration(at - now_ms)));
            }
        }
        parts.push(part);
    }
    if let Some(cost) = facts.today_cost_usd {
        let more = if facts.today_cost_partial { "+" } else { "" };
        parts.push(format!("Today {}{more}", text::money(cost, "USD")));
    }
    if let Some(eu) = &facts.extra_usage {
        let part = match eu.enabled {
            Some(true) => match (eu.used, eu.monthly_limit) {
                (Some(used), Some(limit)) => format!(
                    "Extra Usage {}/{}",
                    text::money(used, &eu.currency),
                    text::money(limit, &eu.currency)
                ),
                (Some(used), None) => {
                    format!("Extra Usage {} (no cap)", text::money(used, &eu.currency))
                }
                _ => "Extra Usage on".to_owned(),
            },
            Some(false) => {
                let at_risk = facts
                    .session
                    .as_ref()
                    .is_some_and(|s| s.utilization >= 90.0);
                let s = "Extra Usage off";
                if at_risk {
                    colors.paint("31", s)
                } else {
                    colors.paint("2", s)
                }
            }
            None => String::new(),
        };
        if !part.is_empty() {
            parts.push(part);
        }
    }
    parts.join(" · ")
}

/// The command Headroom installs, and how it recognises its own entry.
pub const COMMAND_MARKER: &str = "statusline";

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{path} already has a status line: {existing}\nHeadroom left it as it is. To replace it run `headroom statusline --install --force` (the old one is kept and comes back with --uninstall); to show both, make the statusLine command a script that passes its input to each, for example:\n  sh -c 'in=$(cat); printf %s \"$in\" | {existing_command}; printf %s \"$in\" | {ours}'")]
    Occupied {
        path: PathBuf,
        existing: String,
        existing_command: String,
        ours: String,
    },
    #[error(
        "{path} is not a JSON object Headroom can edit ({detail}); fix or move it, then try again"
    )]
    NotAnObject { path: PathBuf, detail: String },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    Added,
    AlreadyThere,
    /// Replaced another statusLine (forced); the old one was saved to the given file.
    Replaced {
        saved_to: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uninstalled {
    Removed,
    /// The statusLine that `--force` replaced was put back.
    Restored,
    NotInstalled,
    /// The statusLine is someone else's: left alone.
    NotOurs {
        existing: String,
    },
}

fn read_object(path: &Path) -> Result<Map<String, Value>, InstallError> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(InstallError::NotAnObject {
                path: path.to_owned(),
                detail: "not an object".into(),
            }),
            Err(e) => Err(InstallError::NotAnObject {
                path: path.to_owned(),
                detail: format!("line {}, column {}", e.line(), e.column()),
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(source) => Err(InstallError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn is_ours(entry: &Value) -> bool {
    entry
        .get("command")
        .and_then(Value::as_str)
        .is_some_and(|c| c.contains("headroom") && c.contains(COMMAND_MARKER))
}

fn write(path: &Path, map: &Map<String, Value>, backup: bool) -> Result<(), InstallError> {
    let io = |source| InstallError::Io {
        path: path.to_owned(),
        source,
    };
    if backup && path.exists() {
        let backup_path = PathBuf::from(format!("{}.headroom-backup", path.display()));
        std::fs::copy(path, &backup_path).map_err(io)?;
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(map.clone()))
        .map_err(|e| io(std::io::Error::other(e)))?;
    text.push('\n');
    write_atomically(path, text.as_bytes()).map_err(io)
}

/// Adds Headroom's `statusLine` to `settings_path`. `saved_previous` is where a replaced
/// statusLine is kept for [`uninstall`].
pub fn install(
    settings_path: &Path,
    command: &str,
    force: bool,
    saved_previous: &Path,
) -> Result<Installed, InstallError> {
    let mut map = read_object(settings_path)?;
    let entry = serde_json::json!({ "type": "command", "command": command, "padding": 0 });
    let mut outcome = Installed::Added;
    if let Some(existing) = map.get("statusLine") {
        if existing.get("command").and_then(Value::as_str) == Some(command) {
            return Ok(Installed::AlreadyThere);
        }
        if !is_ours(existing) {
            if !force {
                let existing_command = existing
                    .get("command")
                    .and_then(Value::as_str)
                    .unwrap_or("…")
                    .to_owned();
                return Err(InstallError::Occupied {
                    path: settings_path.to_owned(),
                    existing: existing.to_string(),
                    existing_command,
                    ours: command.to_owned(),
                });
            }
            let text = serde_json::to_string_pretty(existing).map_err(|e| InstallError::Io {
                path: saved_previous.to_owned(),
                source: std::io::Error::other(e),
            })?;
            write_atomically(saved_previous, text.as_bytes()).map_err(|source| {
                InstallError::Io {
                    path: saved_previous.to_owned(),
                    source,
                }
            })?;
            outcome = Installed::Replaced {
                saved_to: saved_previous.to_owned(),
            };
        }
    }
    map.insert("statusLine".to_owned(), entry);
    write(settings_path, &map, true)?;
    Ok(outcome)
}

/// Removes Headroom's `statusLine`, putting back the one `--force` replaced.
pub fn uninstall(settings_path: &Path, saved_previous: &Path) -> Result<Uninstalled, InstallError> {
    let mut map = read_object(settings_path)?;
    match map.get("statusLine") {
        None => return Ok(Uninstalled::NotInstalled),
        Some(existing) if !is_ours(existing) => {
            return Ok(Uninstalled::NotOurs {
                existing: existing.to_string(),
            })
        }
        Some(_) => {}
    }
    let previous = std::fs::read(saved_previous)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter(Value::is_object);
    let outcome = match previous {
        Some(prev) => {
            map.insert("statusLine".to_owned(), prev);
            Uninstalled::Restored
        }
        None => {
            map.remove("statusLine");
            Uninstalled::Removed
        }
    };
    write(settings_path, &map, true)?;
    if outcome == Uninstalled::Restored {
        let _ = std::fs::remove_file(saved_previous);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(72 * 60_000 + 5_000), "1h12m");
        assert_eq!(short_duration(45 * 60_000), "45m");
        assert_eq!(short_duration(20_000), "<1m");
        assert_eq!(short_duration(51 * 3_600_000), "2d3h");
    }

    #[test]
    fn a_cost_that_leaves_responses_out_says_so() {
        let mut facts = LineFacts {
            today_cost_usd: Some(12.3),
            ..LineFacts::default()
        };
        let full = format_line(&facts, 0, Colors(false));
        assert!(full.contains(&format!("Today {}", text::money(12.3, "USD"))));
        assert!(!full.contains('+'));
        facts.today_cost_partial = true;
        let partial = format_line(&facts, 0, Colors(false));
        assert!(partial.contains(&format!("Today {}+", text::money(12.3, "USD"))));
    }

    #[test]
    fn garbage_and_empty_are_told_apart() {
        assert_eq!(parse(b""), Err(PayloadError::Empty));
        assert_eq!(parse(b" \n"), Err(PayloadError::Empty));
        assert_eq!(parse(b"{not json"), Err(PayloadError::NotJson));
        assert_eq!(parse(b"[1,2]"), Err(PayloadError::NotJson));
        assert_eq!(parse(b"{}"), Ok(Payload::default()));
    }
}
