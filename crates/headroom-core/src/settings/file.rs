//! Reading and saving `settings.json`: the lenient per-field parse, the settling read that
//! never moves a file, and the locked update that writes only what changed (the rules are in
//! the [parent module](super)'s documentation). Split from the model so that each file has
//! one reason to change: a new setting touches `mod.rs`, a change in how the file is handled
//! touches this one.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::*;

/// Why settings could not be read or saved (as opposed to read leniently: see [`Unreadable`]).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file exists but cannot be read.
    #[error("cannot read settings {path}: {source}")]
    Read {
        /// The settings file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file cannot be written (or its temporary file, or the folder synced).
    #[error("cannot save settings {path}: {source}")]
    Write {
        /// The settings file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// `settings.lock` cannot be opened or locked.
    #[error("cannot lock settings {path}: {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Another process has held the lock for longer than a save takes.
    #[error("another Headroom process has been saving {path} for {} s; try again", LOCK_WAIT.as_secs())]
    Busy {
        /// The settings file.
        path: PathBuf,
    },
}

/// Why a settings file as a whole cannot be read; every field is its default then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    /// Nothing but white space.
    #[error("the file is empty")]
    Empty,
    /// Bytes that are not UTF-8.
    #[error("the file is not UTF-8 text")]
    NotText,
    /// Text that is not JSON: the parser's words.
    #[error("it is not valid JSON ({0})")]
    NotJson(String),
    /// JSON, but not an object.
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
    /// The settings: the file's, with defaults for what it lacks or got wrong.
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
    pub(super) fn defaults() -> Loaded {
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

    /// Whether nothing changed.
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

// Moved to `crate::fs` (it serves more than settings); the old name stays for the callers.
pub use crate::fs::write_atomic as write_atomically;
