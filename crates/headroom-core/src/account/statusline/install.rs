//! Installing Headroom as Claude Code's `statusLine` command, and removing it again: the
//! rules in the module above ([`super`]).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::settings::write_atomically;

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

/// Why the statusline could not be installed or removed; the messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Another statusLine is set and `--force` was not given.
    #[error("{path} already has a status line: {existing}\nHeadroom left it as it is. To replace it run `headroom statusline --install --force` (the old one is kept and comes back with --uninstall); to show both, make the statusLine command a script that passes its input to each, for example:\n  sh -c 'in=$(cat); printf %s \"$in\" | {existing_command}; printf %s \"$in\" | {ours}'")]
    Occupied {
        /// Claude Code's `settings.json`.
        path: PathBuf,
        /// The statusLine as it is, in JSON.
        existing: String,
        /// Its command, for the chaining example.
        existing_command: String,
        /// The command Headroom would write.
        ours: String,
    },
    #[error(
        "{path} is not a JSON object Headroom can edit ({detail}); fix or move it, then try again"
    )]
    /// The settings file is not a JSON object: left alone.
    NotAnObject {
        /// Claude Code's `settings.json`.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// Reading or writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// Added; `backup` holds the file as it was (none when there was no file).
    Added {
        /// The file as it was.
        backup: Option<PathBuf>,
    },
    /// Headroom's command was there already: nothing written.
    AlreadyThere,
    /// Replaced another statusLine (forced); the old one was saved to `saved_to`.
    Replaced {
        /// Where the other statusLine was saved, for [`uninstall`] to restore.
        saved_to: PathBuf,
        /// The file as it was.
        backup: Option<PathBuf>,
    },
}

/// What [`uninstall`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uninstalled {
    /// Headroom's statusLine was removed.
    Removed,
    /// The statusLine that `--force` replaced was put back.
    Restored,
    /// No statusLine was set: nothing written.
    NotInstalled,
    /// The statusLine is someone else's: left alone.
    NotOurs {
        /// The statusLine as it is, in JSON.
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
