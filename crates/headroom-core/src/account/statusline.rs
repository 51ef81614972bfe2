//! Claude Code's statusline feed: the JSON it pipes to its `statusLine` command on every
//! render, the one line Headroom prints back, and installing Headroom as that command.
//!
//! On Pro/Max plans, after a session's first response, the payload carries
//! `rate_limits: { five_hour: { used_percentage, resets_at }, seven_day: { … } }` (percent
//! 0–100, may exceed 100; `resets_at` epoch seconds, RFC 3339 accepted too). Every key may be
//! absent; [`parse`] never fails on a JSON object and tells garbage apart so the caller can
//! print a plain line and exit 0: the status bar must never break.
//!
//! [`install`] adds `statusLine` to Claude Code's `settings.json` without losing anything:
//! idempotent; every other key kept in its order; a timestamped backup written first (the
//! last [`BACKUPS_KEPT`] kept); the file replaced atomically, through a symlink (the link
//! stays) and with its mode kept. A different existing statusLine is kept unless forced (the
//! error says what is there and how to chain it); only the exact command Headroom writes
//! ([`is_headroom_command`]) counts as its own.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::usage::{make_window, time_ms};
use crate::settings::write_atomically;
use crate::snapshot::{Band, ExtraUsage, Source, Window, WindowKind};
use crate::text;

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

/// The subcommand Claude Code runs: `<headroom> statusline`.
pub const COMMAND_MARKER: &str = "statusline";
/// How many timestamped backups of Claude Code's `settings.json` are kept beside it.
pub const BACKUPS_KEPT: usize = 5;
/// Backups are `settings.json.headroom-backup-<UTC time>`, beside the file (beside the link
/// when it is a symlink, so a dotfiles repository does not fill with them).
const BACKUP_INFIX: &str = ".headroom-backup-";

/// The command Headroom installs for the `headroom` binary at `exe`: `<exe> statusline`, the
/// path single-quoted for POSIX shells (Claude Code runs the command through a shell, Git
/// Bash on Windows) unless every character is one no shell treats specially. `\` is not one
/// of those: unquoted, a shell would take it as an escape.
pub fn command_for(exe: &str) -> String {
    format!("{} {COMMAND_MARKER}", shell_quote(exe))
}

fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The reverse of [`shell_quote`], for what it writes and nothing else.
fn shell_unquote(text: &str) -> Option<String> {
    let inner = match text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        Some(inner) => inner.replace(r"'\''", "'"),
        None => text.to_owned(),
    };
    (shell_quote(&inner) == text).then_some(inner)
}

/// Whether `command` is exactly what [`command_for`] writes for a binary named `headroom`
/// (wherever it is installed: the CLI and the tray may find it in different places, and an
/// upgrade may move it). A command that merely mentions headroom and statusline, such as a
/// user's own `~/bin/headroom-statusline.sh`, is not ours.
pub fn is_headroom_command(command: &str) -> bool {
    let Some(program) = command.strip_suffix(&format!(" {COMMAND_MARKER}")) else {
        return false;
    };
    let Some(path) = shell_unquote(program) else {
        return false;
    };
    let name = path.rsplit(['/', '\\']).next().unwrap_or("");
    name == "headroom" || name == "headroom.exe"
}

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
    /// Added; `backup` holds the file as it was (none when there was no file).
    Added {
        backup: Option<PathBuf>,
    },
    AlreadyThere,
    /// Replaced another statusLine (forced); the old one was saved to `saved_to`.
    Replaced {
        saved_to: PathBuf,
        backup: Option<PathBuf>,
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
        .is_some_and(is_headroom_command)
}

/// The file a symlink chain at `path` ends at (which need not exist yet); `path` itself when
/// it is not a link. Dotfile managers link `~/.claude/settings.json` into a repository:
/// the edit goes to that file, and the link stays.
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_owned();
    // As the kernel's limit on symlink hops (ELOOP).
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&current)?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!(
        "{} is a loop of symbolic links",
        path.display()
    )))
}

/// `settings.json.headroom-backup-20261201T221500.123Z`: sorts by time.
fn backup_path(path: &Path, now_ms: i64) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "settings.json".into());
    let stamp = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%S%.3fZ");
    let dir = path.parent().unwrap_or(Path::new("."));
    let first = dir.join(format!("{name}{BACKUP_INFIX}{stamp}"));
    if !first.exists() {
        return first;
    }
    // Two writes within a millisecond (or a clock set back): a suffix, never an overwrite.
    (2..)
        .map(|n| dir.join(format!("{name}{BACKUP_INFIX}{stamp}-{n}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Deletes all but the newest [`BACKUPS_KEPT`] backups of `path` (by their time stamps).
fn prune_backups(path: &Path) -> std::io::Result<()> {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(());
    };
    let prefix = format!("{name}{BACKUP_INFIX}");
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut backups: Vec<(String, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let stamp = file.strip_prefix(&prefix)?.to_owned();
            Some((stamp, e.path()))
        })
        .collect();
    // "…Z" sorts before "…Z-2": the suffixed one is the later write.
    backups.sort();
    let excess = backups.len().saturating_sub(BACKUPS_KEPT);
    for (_, old) in backups.into_iter().take(excess) {
        std::fs::remove_file(old)?;
    }
    Ok(())
}

/// Replaces `target`'s content atomically (a fresh temporary file beside it, fsync, rename
/// over, fsync the folder), keeping its permissions; a new file is owner-only.
fn replace_keeping_mode(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let permissions = match std::fs::metadata(target) {
        Ok(m) => Some(m.permissions()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    // A random name opened with O_EXCL, created 0600.
    let mut tmp = tempfile::Builder::new()
        .prefix(".headroom-settings-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if let Some(permissions) = permissions {
        tmp.as_file().set_permissions(permissions)?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Writes `map` to Claude Code's settings file at `path`, through a symlink if it is one,
/// in the key order it was read in. With `backup`, the file as it was is first copied to a
/// timestamped backup beside `path`, of which the last [`BACKUPS_KEPT`] are kept.
fn write(
    path: &Path,
    map: &Map<String, Value>,
    backup: bool,
    now_ms: i64,
) -> Result<Option<PathBuf>, InstallError> {
    let io = |at: &Path| {
        let at = at.to_owned();
        move |source| InstallError::Io { path: at, source }
    };
    let target = resolve_links(path).map_err(io(path))?;
    let mut saved = None;
    if backup && target.exists() {
        let backup_path = backup_path(path, now_ms);
        std::fs::copy(&target, &backup_path).map_err(io(&backup_path))?;
        if let Err(e) = prune_backups(path) {
            tracing::warn!("cannot remove old backups of {}: {e}", path.display());
        }
        saved = Some(backup_path);
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(map.clone()))
        .map_err(|e| io(path)(std::io::Error::other(e)))?;
    text.push('\n');
    replace_keeping_mode(&target, text.as_bytes()).map_err(io(&target))?;
    Ok(saved)
}

/// Adds Headroom's `statusLine` to `settings_path`. `saved_previous` is where a replaced
/// statusLine is kept for [`uninstall`]; `now_ms` names the backup.
pub fn install(
    settings_path: &Path,
    command: &str,
    force: bool,
    saved_previous: &Path,
    now_ms: i64,
) -> Result<Installed, InstallError> {
    let mut map = read_object(settings_path)?;
    let entry = serde_json::json!({ "type": "command", "command": command, "padding": 0 });
    let mut replaced = None;
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
            replaced = Some(saved_previous.to_owned());
        }
    }
    // An existing key keeps its place (serde_json's `preserve_order`); a new one goes last.
    map.insert("statusLine".to_owned(), entry);
    let backup = write(settings_path, &map, true, now_ms)?;
    Ok(match replaced {
        Some(saved_to) => Installed::Replaced { saved_to, backup },
        None => Installed::Added { backup },
    })
}

/// Removes Headroom's `statusLine`, putting back the one `--force` replaced.
pub fn uninstall(
    settings_path: &Path,
    saved_previous: &Path,
    now_ms: i64,
) -> Result<Uninstalled, InstallError> {
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
            // `shift_remove`, not `remove`: with `preserve_order` the latter moves the last
            // key into the gap.
            map.shift_remove("statusLine");
            Uninstalled::Removed
        }
    };
    write(settings_path, &map, true, now_ms)?;
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

    #[test]
    fn garbage_and_empty_are_told_apart() {
        assert_eq!(parse(b""), Err(PayloadError::Empty));
        assert_eq!(parse(b" \n"), Err(PayloadError::Empty));
        assert_eq!(parse(b"{not json"), Err(PayloadError::NotJson));
        assert_eq!(parse(b"[1,2]"), Err(PayloadError::NotJson));
        assert_eq!(parse(b"{}"), Ok(Payload::default()));
    }
}
