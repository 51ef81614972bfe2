//! Claude Code's statusline feed: the JSON it pipes to its `statusLine` command on every
//! render, the one line Headroom prints back, and installing Headroom as that command.
//!
//! On Pro/Max plans, after a session's first response, the payload carries
//! `rate_limits: { five_hour: { used_percentage, resets_at }, seven_day: { … } }` (percent
//! 0–100, may exceed 100; `resets_at` epoch seconds, RFC 3339 accepted too). Ultra has no
//! 5-hour limit, so its payload has no `five_hour`; Pro and Max leave it out while no session
//! runs. `rate_limits.spend_limit` (Claude apps' gateway, may exceed 100) and `prompt_cache`
//! are not limit windows Headroom shows and are ignored. Every key may be absent; [`parse`] never fails on a JSON object and tells garbage apart so the caller can
//! print a plain line and exit 0: the status bar must never break.
//!
//! [`install`] adds `statusLine` to Claude Code's `settings.json` without losing anything:
//! idempotent; every other key kept in its order; a timestamped backup written first (the
//! last [`BACKUPS_KEPT`] kept); the file replaced atomically, through a symlink (the link
//! stays) and with its mode kept. A different existing statusLine is kept unless forced (the
//! error says what is there and how to chain it); only the exact command Headroom writes
//! ([`is_headroom_command`]) counts as its own.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::usage::{make_window, time_ms};
use crate::snapshot::{Band, ExtraUsage, Source, Window, WindowKind};
use crate::text;

mod install;
pub use install::{
    command_for, install, is_headroom_command, uninstall, InstallError, Installed, Uninstalled,
    BACKUPS_KEPT, COMMAND_MARKER,
};

/// What Headroom uses from one statusline payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Payload {
    /// Claude Code's session id.
    pub session_id: Option<String>,
    /// The session's transcript file.
    pub transcript_path: Option<PathBuf>,
    /// The model's display name (else its id).
    pub model: Option<String>,
    /// The workspace's folder (else `cwd`).
    pub current_dir: Option<String>,
    /// This Claude Code session's cost so far.
    pub session_cost_usd: Option<f64>,
    /// How full the context window is, in percent.
    pub context_used_percentage: Option<f64>,
    /// `(percent, resets_at_ms)` of the five-hour window.
    pub five_hour: Option<(f64, Option<i64>)>,
    /// `(percent, resets_at_ms)` of the weekly window.
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

/// Why a payload gave nothing: the caller prints a plain line and exits 0 all the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Nothing but white space on stdin.
    #[error("no statusline input")]
    Empty,
    /// Not a JSON object.
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
    /// The weekly window to show (same sources).
    pub weekly: Option<Window>,
    /// Cost of today's Claude Code use from the ledger (local estimate).
    pub today_cost_usd: Option<f64>,
    /// Part of today's responses have no known price: the cost shows as `$12.30+`.
    pub today_cost_partial: bool,
    /// Extra Usage: its spend while on, a warning while off near the limit.
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
        let code = match Band::of(percent) {
            Band::Bad => "31",
            Band::Warn => "33",
            Band::Ok => "32",
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
    fn the_command_is_quoted_for_posix_shells() {
        assert_eq!(
            command_for("/usr/local/bin/headroom"),
            "/usr/local/bin/headroom statusline"
        );
        assert_eq!(
            command_for("/home/me/My Apps/headroom"),
            "'/home/me/My Apps/headroom' statusline"
        );
        // A backslash is an escape to a shell: it must be inside quotes.
        assert_eq!(
            command_for(r"/opt/we\ird/headroom"),
            r"'/opt/we\ird/headroom' statusline"
        );
        assert_eq!(
            command_for(r"C:\Users\me\headroom.exe"),
            r"'C:\Users\me\headroom.exe' statusline"
        );
        assert_eq!(
            command_for("/tmp/it's/headroom"),
            r"'/tmp/it'\''s/headroom' statusline"
        );
    }

    /// What a shell makes of the command: the real `sh` runs it, and the program it starts
    /// prints the path it was started as and its argument.
    #[cfg(unix)]
    #[test]
    fn a_shell_runs_the_command_as_written() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for folder in [r"back\slash", "it's here", "$HOME `x` \"q\"", "plain"] {
            let bin_dir = dir.path().join(folder);
            std::fs::create_dir_all(&bin_dir).unwrap();
            let exe = bin_dir.join("headroom");
            std::fs::write(&exe, "#!/bin/sh\nprintf '%s|%s' \"$0\" \"$1\"\n").unwrap();
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
            let exe = exe.to_str().unwrap().to_owned();
            let command = command_for(&exe);
            let out = std::process::Command::new("sh")
                .args(["-c", &command])
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                format!("{exe}|statusline"),
                "{command}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(is_headroom_command(&command), "{command}");
        }
    }

    #[test]
    fn only_the_exact_command_headroom_writes_is_ours() {
        for ours in [
            "/usr/local/bin/headroom statusline",
            "/home/me/.cargo/bin/headroom statusline",
            "headroom statusline",
            "'/home/me/My Apps/headroom' statusline",
            r"'C:\Users\me\headroom.exe' statusline",
            &command_for("/tmp/it's/headroom"),
        ] {
            assert!(is_headroom_command(ours), "{ours}");
        }
        for theirs in [
            "~/bin/headroom-statusline.sh",
            "/home/me/bin/headroom statusline --extra",
            "/home/me/bin/my-headroom statusline",
            "/home/me/bin/headroom statusline; rm -rf ~",
            "sh -c 'headroom statusline'",
            "headroom  statusline",
            "'/usr/bin/headroom statusline'",
            // Quoted although it needs no quotes: not how Headroom writes it.
            "'/usr/local/bin/headroom' statusline",
            // Unquoted though it would need quotes.
            r"/opt/we\ird/headroom statusline",
            "/opt/my apps/headroom statusline",
            "statusline",
            "",
        ] {
            assert!(!is_headroom_command(theirs), "{theirs}");
        }
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

    /// Ultra's payload has no `five_hour`; Claude apps' gateway adds `spend_limit` (past 100
    /// at times) and Claude Code a `prompt_cache` object: read or ignored, never an error.
    #[test]
    fn ultra_payloads_with_spend_limit_and_prompt_cache_are_read() {
        let p = parse(
            br#"{"session_id":"s","model":{"id":"claude-fable-5-2"},
                "rate_limits":{"seven_day":{"used_percentage":18,"resets_at":1767261600},
                               "spend_limit":{"used_percentage":134.5,"resets_at":1767261600,"limit_usd":200}},
                "prompt_cache":{"hit_ratio":0.93,"read_tokens":120000,"ttl":"1h"}}"#,
        )
        .unwrap();
        assert_eq!(p.five_hour, None);
        assert_eq!(p.seven_day, Some((18.0, Some(1_767_261_600_000))));
        let windows = p.windows(1_000);
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].kind, WindowKind::Weekly);
        // Odd shapes of both are ignored too.
        let p = parse(br#"{"rate_limits":{"spend_limit":"lots","five_hour":{"used_percentage":5}},"prompt_cache":[1]}"#)
            .unwrap();
        assert_eq!(p.five_hour, Some((5.0, None)));
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
