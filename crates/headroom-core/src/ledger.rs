//! The ledger: an embedded SQLite database (WAL) that keeps every deduplicated API response
//! Headroom has seen, so history survives Claude Code deleting old transcripts and later runs
//! read only what was appended.
//!
//! Tables (schema versioned with `PRAGMA user_version`, see `MIGRATIONS`):
//! - `key_sets`: the 64-bit hash of every stored response's dedup key (`message.id` +
//!   `requestId`; two real responses collide about once in 10^8 for a million responses),
//!   as 4,096 sorted arrays by the hash's top 12 bits. One SQLite row per key would cost a
//!   cold ingest a B-tree insert per response; a few thousand blobs cost little, and a commit
//!   rewrites only the arrays that gained keys (measured: more, smaller arrays cost more);
//! - `entries`: one row per response, appended in arrival order with no other index, so a
//!   cold ingest of a gigabyte writes each page once instead of rewriting a random-keyed tree;
//! - `files`: per-transcript ingest state (identity, size, committed offset);
//! - `quarter_hours` and `session_totals`: aggregates kept in the same transaction as the
//!   entries they sum, so reports read a few thousand rows instead of every response.
//!   Quarter hours (not hours) so that days in any time zone, including +05:30 and +05:45,
//!   are exact sums of buckets, and 5-hour blocks (which start on the hour) are built from
//!   buckets with their first and last message times, never from single responses.
//!
//! Every write happens in a transaction that also advances the file offsets it consumed: a
//! process killed at any moment loses nothing committed and never counts a response twice.
//!
//! Several processes share the ledger (the tray, `headroom watch`, the statusline on every
//! render of Claude Code, any command):
//! - each holds a shared advisory lock on `<ledger>.lock` while it has the ledger open, and
//!   `headroom ledger rebuild` takes it exclusively, so it never moves files under another
//!   process's open connection (see [`rebuild`]);
//! - a process waits at most its busy timeout for another's write transaction
//!   ([`BUSY_TIMEOUT`], or less with [`Ledger::open_waiting`]), then gets
//!   [`LedgerError::Locked`], which callers treat as "try again", not as a failure;
//! - migrations run inside one `BEGIN IMMEDIATE` that reads `user_version` again, so two
//!   processes opening a new ledger at once never both run them.
//!
//! The ledger, its `-wal` and `-shm` and the lock file are 0600, and their folder 0700, on
//! Unix (they name every project and hold spend figures); [`Ledger::open`] mends the modes of
//! an install made before this rule.
//!
//! Token counts are stored as i64: values convert with saturation (`num`), aggregates add
//! with saturation in SQL (SQLite would otherwise store a REAL that no read accepts), and a
//! response with a count above [`MAX_TOKENS_PER_FIELD`] is never stored or summed.

use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction};
use rustc_hash::FxHashMap;

use crate::num::{count_from_sql, count_to_sql, floor_to_u64};
use crate::pricing::PriceTable;
use crate::transcript::Tokens;

/// Keys are already uniform 64-bit hashes: hashing them again is wasted work.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_i64(&mut self, key: i64) {
        self.0 = key.cast_unsigned();
    }
}

pub type KeyHash = std::hash::BuildHasherDefault<KeyHasher>;

/// Width of an aggregate bucket.
pub const BUCKET_MS: i64 = 15 * 60 * 1000;

/// How long a process waits for another one's write transaction (or for a rebuild to end)
/// before [`LedgerError::Locked`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// No real response has more tokens than this in any field: the transcript parser's bound
/// ([`crate::transcript::MAX_TOKENS`]), which counts a line above it as bad. The ledger never
/// stores or sums one either, whoever calls it, and `ledger rebuild` deletes those an older
/// version stored.
pub const MAX_TOKENS_PER_FIELD: u64 = crate::transcript::MAX_TOKENS;

/// Schema migrations, in order; `user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: the first release.
    r"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE models (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        project TEXT NOT NULL,
        session TEXT NOT NULL,
        cwd TEXT,
        UNIQUE (project, session)
    );
    CREATE TABLE files (
        path TEXT PRIMARY KEY,
        device INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        size INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        head_hash INTEGER NOT NULL,
        bad_lines INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE TABLE key_sets (bucket INTEGER PRIMARY KEY, keys BLOB NOT NULL);
    CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        key INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        model INTEGER NOT NULL REFERENCES models (id),
        session INTEGER NOT NULL REFERENCES sessions (id),
        input INTEGER NOT NULL,
        output INTEGER NOT NULL,
        cache_write INTEGER NOT NULL,
        cache_write_5m INTEGER NOT NULL,
        cache_write_1h INTEGER NOT NULL,
        cache_read INTEGER NOT NULL,
        cost_usd REAL,
        calc_cost REAL NOT NULL
    );
    CREATE TABLE quarter_hours (
        start INTEGER NOT NULL,
        model INTEGER NOT NULL,
        entries INTEGER NOT NULL,
        input INTEGER NOT NULL,
        output INTEGER NOT NULL,
        cache_write INTEGER NOT NULL,
        cache_read INTEGER NOT NULL,
        calc_cost REAL NOT NULL,
        auto_cost REAL NOT NULL,
        display_cost REAL NOT NULL,
        first_ts INTEGER NOT NULL,
        last_ts INTEGER NOT NULL,
        PRIMARY KEY (start, model)
    ) WITHOUT ROWID;
    CREATE TABLE session_totals (
        session INTEGER NOT NULL,
        model INTEGER NOT NULL,
        entries INTEGER NOT NULL,
        input INTEGER NOT NULL,
        output INTEGER NOT NULL,
        cache_write INTEGER NOT NULL,
        cache_read INTEGER NOT NULL,
        calc_cost REAL NOT NULL,
        auto_cost REAL NOT NULL,
        display_cost REAL NOT NULL,
        first_ts INTEGER NOT NULL,
        last_ts INTEGER NOT NULL,
        PRIMARY KEY (session, model)
    ) WITHOUT ROWID;
    ",
    // 2: alerts (`alerts::store`): the engine's state (one JSON row) and the alert history.
    r"
    CREATE TABLE alert_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        state TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE alert_history (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        level TEXT NOT NULL,
        window TEXT,
        instance TEXT,
        threshold INTEGER,
        value REAL,
        resets_at_ms INTEGER,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        delivery TEXT NOT NULL
    );
    ",
    // 3: account usage (`account::store`): readings of the statusline feed, the OAuth usage
    // endpoint and claude.ai, and each source's polling state (cool-down shared by processes).
    r"
    CREATE TABLE account_samples (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        observed_ms INTEGER NOT NULL,
        seen_ms INTEGER NOT NULL,
        digest INTEGER NOT NULL
    );
    CREATE INDEX account_samples_by_source ON account_samples (source, seen_ms);
    CREATE TABLE account_windows (
        sample INTEGER NOT NULL REFERENCES account_samples (id) ON DELETE CASCADE,
        window_id TEXT NOT NULL,
        label TEXT NOT NULL,
        kind TEXT NOT NULL,
        utilization REAL NOT NULL,
        resets_at_ms INTEGER,
        PRIMARY KEY (sample, window_id)
    ) WITHOUT ROWID;
    CREATE INDEX account_windows_by_window ON account_windows (window_id, sample);
    CREATE TABLE account_extra_usage (
        sample INTEGER PRIMARY KEY REFERENCES account_samples (id) ON DELETE CASCADE,
        enabled INTEGER,
        monthly_limit REAL,
        used REAL,
        currency TEXT NOT NULL,
        balance REAL,
        disabled_reason TEXT
    );
    CREATE TABLE account_poll_state (
        source TEXT PRIMARY KEY,
        last_attempt_ms INTEGER,
        last_success_ms INTEGER,
        next_poll_ms INTEGER,
        cooldown_until_ms INTEGER,
        failures INTEGER NOT NULL DEFAULT 0,
        rate_limited INTEGER NOT NULL DEFAULT 0,
        last_failure TEXT,
        last_error TEXT,
        credential_fingerprint INTEGER
    ) WITHOUT ROWID;
    ",
    // 4: models whose responses had no known rate under the prices in force (`unpriced`).
    r"
    CREATE TABLE unpriced_models (
        model INTEGER PRIMARY KEY REFERENCES models (id),
        reason TEXT NOT NULL
    );
    ",
];

/// What can go wrong with the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the ledger {path} is damaged ({detail}); run `headroom ledger rebuild` to rebuild it from your transcripts (the damaged file is kept beside it)")]
    Corrupt { path: PathBuf, detail: String },
    #[error("the ledger {path} is locked by another process; try again, or stop the other Headroom process")]
    Locked { path: PathBuf },
    #[error("another Headroom process has the ledger {path} open (the tray app, `headroom watch`, or a command still running); quit it and run `headroom ledger rebuild` again. Nothing was changed.")]
    InUse { path: PathBuf },
    #[error("the ledger {path} was written by a newer Headroom (schema {found}, this one knows {known}); update Headroom")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("cannot open the ledger {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ledger {path}: {source}")]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

/// Identity and progress of one transcript file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileState {
    pub device: u64,
    pub inode: u64,
    pub size: u64,
    /// Bytes consumed: always just past a newline.
    pub offset: u64,
    /// Hash of the file's first bytes (up to 4 KiB), to notice a file replaced in place.
    pub head_hash: u64,
    pub bad_lines: u64,
}

/// One deduplicated response, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry<'a> {
    pub key: i64,
    pub ts_ms: i64,
    pub model: &'a str,
    pub project: &'a str,
    pub session: &'a str,
    pub cwd: Option<&'a str>,
    pub tokens: Tokens,
    pub cost_usd: Option<f64>,
    /// Cost at API rates, 0 for an unknown model.
    pub calc_cost: f64,
}

/// Sums of a set of responses.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    pub entries: u64,
    pub input: u64,
    pub output: u64,
    pub cache_write: u64,
    pub cache_read: u64,
    pub calc_cost: f64,
    pub auto_cost: f64,
    pub display_cost: f64,
}

// Counts add with saturation: a sum that reached u64::MAX is wrong either way, but it must
// not panic (debug) or wrap to a small number (release).
impl Sums {
    fn add_entry(&mut self, e: &NewEntry<'_>) {
        self.entries = self.entries.saturating_add(1);
        self.input = self.input.saturating_add(e.tokens.input);
        self.output = self.output.saturating_add(e.tokens.output);
        self.cache_write = self.cache_write.saturating_add(e.tokens.cache_write);
        self.cache_read = self.cache_read.saturating_add(e.tokens.cache_read);
        let (cost_usd, calc_cost) = finite_costs(e);
        self.calc_cost += calc_cost;
        self.auto_cost += cost_usd.unwrap_or(calc_cost);
        self.display_cost += cost_usd.unwrap_or(0.0);
    }

    pub fn add(&mut self, other: &Sums) {
        self.entries = self.entries.saturating_add(other.entries);
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.cache_write = self.cache_write.saturating_add(other.cache_write);
        self.cache_read = self.cache_read.saturating_add(other.cache_read);
        self.calc_cost += other.calc_cost;
        self.auto_cost += other.auto_cost;
        self.display_cost += other.display_cost;
    }

    pub fn total_tokens(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.cache_write)
            .saturating_add(self.cache_read)
    }
}

/// The costs as stored: SQLite turns NaN into NULL (which `calc_cost NOT NULL` refuses, and
/// every later ingest would fail), and an infinity would make every sum infinite.
fn finite_costs(e: &NewEntry<'_>) -> (Option<f64>, f64) {
    let calc_cost = if e.calc_cost.is_finite() {
        e.calc_cost
    } else {
        0.0
    };
    (e.cost_usd.filter(|c| c.is_finite()), calc_cost)
}

/// Whether a response's counts can be real (see [`MAX_TOKENS_PER_FIELD`]).
fn plausible(t: &Tokens) -> bool {
    [
        t.input,
        t.output,
        t.cache_write,
        t.cache_write_5m,
        t.cache_write_1h,
        t.cache_read,
    ]
    .iter()
    .all(|&n| n <= MAX_TOKENS_PER_FIELD)
}

/// [`plausible`] in SQL, over the columns of `entries`.
fn plausible_sql() -> String {
    [
        "input",
        "output",
        "cache_write",
        "cache_write_5m",
        "cache_write_1h",
        "cache_read",
    ]
    .map(|c| format!("{c} BETWEEN 0 AND {MAX_TOKENS_PER_FIELD}"))
    .join(" AND ")
}

/// `column = column + excluded.column` for an upsert, saturating at i64::MAX: past it SQLite
/// would store a REAL, and every later read of the row would fail. A REAL left by an older
/// version compares as a number and is replaced by an integer here.
fn saturating_add_sql(column: &str) -> String {
    let max = i64::MAX;
    format!(
        "{column} = CASE WHEN {column} > {max} - excluded.{column} THEN {max} \
         ELSE {column} + excluded.{column} END"
    )
}

/// Responses of one model whose cost is not (fully) known.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unpriced {
    pub model: String,
    /// "no known price", or "no fast-mode multiplier" (then priced at standard rates).
    pub reason: String,
    pub responses: u64,
    pub tokens: u64,
}

/// One quarter hour of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketRow {
    pub start_ms: i64,
    pub model: String,
    pub sums: Sums,
    /// Times of the first and last response in the bucket.
    pub first_ms: i64,
    pub last_ms: i64,
}

/// One session's use of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub project: String,
    pub session: String,
    pub cwd: Option<String>,
    pub model: String,
    pub sums: Sums,
    pub first_ms: i64,
    pub last_ms: i64,
}

pub struct Ledger {
    conn: Connection,
    path: PathBuf,
    keys: KeyCache,
    /// Held for as long as the connection is open: tells `rebuild` this process uses the
    /// ledger. Declared after `conn`, so it is released after the connection closes.
    _peers: PeerLock,
}

/// The advisory lock on `<ledger>.lock` (`flock` on Unix, `LockFileEx` on Windows, through
/// std): shared while a process has the ledger open, exclusive during `ledger rebuild`.
/// A lock file rather than `BEGIN EXCLUSIVE` on the database: an idle process holds no SQLite
/// lock at all, yet its connection would still write into a file renamed under it.
#[derive(Clone)]
struct PeerLock {
    /// Never read: the lock lasts as long as the file is open. `None` where the file
    /// system has no advisory locks.
    _held: Option<Arc<File>>,
}

impl PeerLock {
    fn holding(file: File) -> PeerLock {
        PeerLock {
            _held: Some(Arc::new(file)),
        }
    }

    fn file(ledger: &Path) -> Result<File, LedgerError> {
        let path = PathBuf::from(format!("{}.lock", ledger.display()));
        let file = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| LedgerError::Open {
                path: path.clone(),
                source,
            })?;
        make_private(&path, 0o600);
        Ok(file)
    }

    /// Waits up to `wait` while a rebuild holds the lock exclusively.
    fn shared(ledger: &Path, wait: Duration) -> Result<PeerLock, LedgerError> {
        let file = PeerLock::file(ledger)?;
        let started = Instant::now();
        loop {
            match file.try_lock_shared() {
                Ok(()) => return Ok(PeerLock::holding(file)),
                Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(LedgerError::Locked {
                        path: ledger.to_owned(),
                    })
                }
                // A file system without advisory locks (some network mounts): the ledger
                // still works; only `rebuild` loses its check for peers.
                Err(TryLockError::Error(e)) => {
                    tracing::debug!("no advisory lock on {}: {e}", ledger.display());
                    return Ok(PeerLock { _held: None });
                }
            }
        }
    }

    /// Never waits: another process holding the ledger is [`LedgerError::InUse`].
    fn exclusive(ledger: &Path) -> Result<PeerLock, LedgerError> {
        let file = PeerLock::file(ledger)?;
        match file.try_lock() {
            Ok(()) => Ok(PeerLock::holding(file)),
            Err(TryLockError::WouldBlock) => Err(LedgerError::InUse {
                path: ledger.to_owned(),
            }),
            Err(TryLockError::Error(e)) => {
                tracing::warn!(
                    "cannot tell whether another Headroom process has {} open ({e}); make sure none runs",
                    ledger.display()
                );
                Ok(PeerLock { _held: None })
            }
        }
    }
}

/// Options that create a file readable by its owner only (Unix).
fn private_options() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Takes group and other permissions off `path` if it has any (Unix; elsewhere a no-op). A
/// failure (a file someone else owns) is logged: the ledger still works.
fn make_private(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
                tracing::warn!("cannot make {} private: {e}", path.display());
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

/// Creates the ledger's folder (0700) and mends the modes of an existing one.
fn prepare_folder(ledger: &Path) -> Result<(), LedgerError> {
    let Some(parent) = ledger.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(parent).map_err(|source| LedgerError::Open {
        path: ledger.to_owned(),
        source,
    })?;
    make_private(parent, 0o700);
    Ok(())
}

/// The database and its side files, as SQLite names them.
fn side_file(ledger: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", ledger.display()))
}

/// Key arrays loaded from `key_sets`, valid while no other connection has written.
#[derive(Default)]
struct KeyCache {
    /// `PRAGMA data_version` when the cache was last known to match the database.
    data_version: Option<i64>,
    /// Whether `sets` holds every array of the database.
    loaded: bool,
    sets: FxHashMap<u16, KeySet>,
}

struct KeySet {
    /// Sorted.
    keys: Vec<i64>,
    dirty: bool,
}

fn key_bucket(key: i64) -> u16 {
    // The top 12 bits: always fits.
    u16::try_from(key.cast_unsigned() >> 52).unwrap_or(u16::MAX)
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("path", &self.path).finish()
    }
}

impl Ledger {
    /// Opens (creating if needed) and migrates the ledger at `path`, waiting up to
    /// [`BUSY_TIMEOUT`] for other processes' locks.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        Ledger::open_waiting(path, BUSY_TIMEOUT)
    }

    /// [`Ledger::open`] for a process that must not wait long (the statusline, run on every
    /// render of Claude Code): every lock it meets, now or in later statements, gives
    /// [`LedgerError::Locked`] after `wait`.
    pub fn open_waiting(path: &Path, wait: Duration) -> Result<Ledger, LedgerError> {
        prepare_folder(path)?;
        let peers = PeerLock::shared(path, wait)?;
        Ledger::open_locked(path, peers, wait)
    }

    fn open_locked(path: &Path, peers: PeerLock, wait: Duration) -> Result<Ledger, LedgerError> {
        // Created 0600 before SQLite opens it, so no other user can open it in between;
        // SQLite gives `-wal` and `-shm` the database's mode.
        private_options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|source| LedgerError::Open {
                path: path.to_owned(),
                source,
            })?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| classify(path, e))?;
        let mut ledger = Ledger {
            conn,
            path: path.to_owned(),
            keys: KeyCache::default(),
            _peers: peers,
        };
        ledger.configure(wait).map_err(|e| classify(path, e))?;
        // Side files an older version left world-readable (the WAL holds recent rows).
        for suffix in ["", "-wal", "-shm"] {
            make_private(&side_file(path, suffix), 0o600);
        }
        ledger.migrate()?;
        Ok(ledger)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&mut self, wait: Duration) -> rusqlite::Result<()> {
        self.conn.busy_timeout(wait)?;
        // WAL: readers (tray, statusline) never block the ingester. NORMAL sync in WAL mode
        // keeps every committed transaction across a process kill (only power loss can lose
        // the last ones, never corrupt the file).
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        self.conn.pragma_update(None, "cache_size", -16_000)?;
        Ok(())
    }

    /// Applies the missing migrations. The version is read first without a lock (an
    /// up-to-date ledger, the usual case, costs no write lock), then again inside the
    /// `BEGIN IMMEDIATE` that applies them: another process may have migrated in between.
    fn migrate(&mut self) -> Result<(), LedgerError> {
        let path = self.path.clone();
        let sql = |e| classify(&path, e);
        if applied_migrations(&self.conn, &path)? == MIGRATIONS.len() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let applied = applied_migrations(&tx, &path)?;
        for migration in &MIGRATIONS[applied..] {
            tx.execute_batch(migration).map_err(sql)?;
        }
        tx.pragma_update(None, "user_version", MIGRATIONS.len())
            .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    fn err(&self, e: rusqlite::Error) -> LedgerError {
        classify(&self.path, e)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, LedgerError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), LedgerError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Ingest state of every known file, by path (as text: hashing `Path`s component by
    /// component costs more than the rest of a warm run's bookkeeping).
    pub fn file_states(&self) -> Result<FxHashMap<String, FileState>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, device, inode, size, offset, head_hash, bad_lines FROM files")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    // Device, inode and hash are bit patterns stored as i64; the others counts.
                    FileState {
                        device: row.get::<_, i64>(1)?.cast_unsigned(),
                        inode: row.get::<_, i64>(2)?.cast_unsigned(),
                        size: count_at(row, 3)?,
                        offset: count_at(row, 4)?,
                        head_hash: row.get::<_, i64>(5)?.cast_unsigned(),
                        bad_lines: count_at(row, 6)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Starts a write transaction. Dropping the batch without [`Batch::commit`] rolls back.
    pub fn batch(&mut self) -> Result<Batch<'_>, LedgerError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| classify(&path, e))?;
        // Another process may have stored keys since our last commit: then forget the cache.
        let version: i64 = tx
            .pragma_query_value(None, "data_version", |row| row.get(0))
            .map_err(|e| classify(&path, e))?;
        if self.keys.data_version != Some(version) {
            self.keys.sets.clear();
            self.keys.loaded = false;
        }
        // Unknown until this batch commits: a batch dropped half-way leaves keys in the cache
        // that the database never got, and the next batch must not trust them.
        self.keys.data_version = None;
        Ok(Batch {
            tx,
            keys: &mut self.keys,
            data_version: version,
            path,
            models: FxHashMap::default(),
            sessions: FxHashMap::default(),
            buckets: FxHashMap::default(),
            session_sums: FxHashMap::default(),
            inserted: 0,
        })
    }

    /// Number of stored responses.
    pub fn entry_count(&self) -> Result<u64, LedgerError> {
        self.conn
            .query_row("SELECT count(*) FROM entries", [], |row| count_at(row, 0))
            .map_err(|e| self.err(e))
    }

    /// Quarter-hour buckets with `from_ms <= start < to_ms`.
    pub fn buckets(&self, from_ms: i64, to_ms: i64) -> Result<Vec<BucketRow>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT q.start, m.name, q.entries, q.input, q.output, q.cache_write,
                        q.cache_read, q.calc_cost, q.auto_cost, q.display_cost, q.first_ts, q.last_ts
                 FROM quarter_hours q JOIN models m ON m.id = q.model
                 WHERE q.start >= ?1 AND q.start < ?2 ORDER BY q.start",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([from_ms, to_ms], |row| {
                Ok(BucketRow {
                    start_ms: row.get(0)?,
                    model: row.get(1)?,
                    sums: sums_from(row, 2)?,
                    first_ms: row.get(10)?,
                    last_ms: row.get(11)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Every session's totals per model.
    pub fn sessions(&self) -> Result<Vec<SessionRow>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.project, s.session, s.cwd, m.name, t.entries, t.input, t.output,
                        t.cache_write, t.cache_read, t.calc_cost, t.auto_cost, t.display_cost,
                        t.first_ts, t.last_ts
                 FROM session_totals t
                 JOIN sessions s ON s.id = t.session
                 JOIN models m ON m.id = t.model",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok(SessionRow {
                    project: row.get(0)?,
                    session: row.get(1)?,
                    cwd: row.get(2)?,
                    model: row.get(3)?,
                    sums: sums_from(row, 4)?,
                    first_ms: row.get(12)?,
                    last_ms: row.get(13)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Lines skipped as bad in the transcripts as they are now (for `status`).
    pub fn skipped_lines(&self) -> Result<u64, LedgerError> {
        // total(), not sum(): it cannot fail with "integer overflow" on saturated counts.
        self.conn
            .query_row("SELECT total(bad_lines) FROM files", [], |row| {
                row.get::<_, f64>(0)
            })
            .map(|n| floor_to_u64(n).unwrap_or(0))
            .map_err(|e| self.err(e))
    }

    /// Time of the newest stored response.
    pub fn latest_entry_ms(&self) -> Result<Option<i64>, LedgerError> {
        self.conn
            .query_row("SELECT max(ts) FROM entries", [], |row| row.get(0))
            .map_err(|e| self.err(e))
    }

    /// Recomputes every stored cost with `prices` when they were computed with other prices,
    /// then rebuilds the aggregates. Returns whether anything changed.
    pub fn reprice(&mut self, prices: &PriceTable) -> Result<bool, LedgerError> {
        const KEY: &str = "price_table";
        if self.meta(KEY)?.as_deref() == Some(prices.fingerprint()) {
            return Ok(false);
        }
        let path = self.path.clone();
        let sql = |e| classify(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        {
            let mut read = tx
                .prepare(
                    "SELECT e.id, m.name, e.input, e.output, e.cache_write, e.cache_write_5m,
                            e.cache_write_1h, e.cache_read
                     FROM entries e JOIN models m ON m.id = e.model",
                )
                .map_err(sql)?;
            let mut write = tx
                .prepare("UPDATE entries SET calc_cost = ?2 WHERE id = ?1")
                .map_err(sql)?;
            let mut rows = read.query([]).map_err(sql)?;
            while let Some(row) = rows.next().map_err(sql)? {
                let key: i64 = row.get(0).map_err(sql)?;
                let model: String = row.get(1).map_err(sql)?;
                let tokens = tokens_at(row, 2).map_err(sql)?;
                let cost = prices.cost(&model, &tokens).unwrap_or(0.0);
                write.execute(params![key, cost]).map_err(sql)?;
            }
        }
        rebuild_aggregates(&tx).map_err(sql)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [KEY, prices.fingerprint()],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(true)
    }

    /// Records which stored models have no complete price under `prices` (their responses
    /// count as $0, or at standard rates for fast mode without a known multiplier), so every
    /// reader can say what its costs leave out. A few dozen models: cheap on every ingest.
    pub fn record_unpriced(&mut self, prices: &PriceTable) -> Result<(), LedgerError> {
        let path = self.path.clone();
        let sql = |e| classify(&path, e);
        let tx = self.conn.transaction().map_err(sql)?;
        {
            let mut models = tx.prepare("SELECT id, name FROM models").map_err(sql)?;
            let rows = models
                .query_map([], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(sql)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql)?;
            tx.execute("DELETE FROM unpriced_models", []).map_err(sql)?;
            let mut insert = tx
                .prepare("INSERT INTO unpriced_models (model, reason) VALUES (?1, ?2)")
                .map_err(sql)?;
            for (id, name) in rows {
                if crate::pricing::is_placeholder_model(&name) {
                    continue;
                }
                let reason = match prices.resolve(&name) {
                    crate::pricing::Priced::Known(_) => continue,
                    crate::pricing::Priced::FastUnknown(_) => "no fast-mode multiplier",
                    crate::pricing::Priced::Unknown => "no known price",
                };
                insert.execute(params![id, reason]).map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)
    }

    /// Responses with `from_ms <= time < to_ms` (by quarter hour) of models without a
    /// complete price, per model.
    pub fn unpriced(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Unpriced>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT m.name, u.reason, sum(q.entries),
                        sum(q.input + q.output + q.cache_write + q.cache_read)
                 FROM quarter_hours q JOIN unpriced_models u ON u.model = q.model
                 JOIN models m ON m.id = q.model
                 WHERE q.start >= ?1 AND q.start < ?2
                 GROUP BY m.name, u.reason ORDER BY sum(q.entries) DESC, m.name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([from_ms, to_ms], |row| {
                Ok(Unpriced {
                    model: row.get(0)?,
                    reason: row.get(1)?,
                    responses: row.get::<_, i64>(2)? as u64,
                    tokens: row.get::<_, i64>(3)? as u64,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Recomputes the aggregate tables from `entries`.
    pub fn rebuild_aggregates(&mut self) -> Result<(), LedgerError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
        rebuild_aggregates(&tx).map_err(|e| classify(&path, e))?;
        tx.commit().map_err(|e| classify(&path, e))
    }

    /// Deletes the stored responses with counts no real response has (an older version
    /// stored them; see [`MAX_TOKENS_PER_FIELD`]). Returns how many.
    fn delete_implausible(&mut self) -> Result<u64, LedgerError> {
        self.conn
            .execute(
                &format!("DELETE FROM entries WHERE NOT ({})", plausible_sql()),
                [],
            )
            .map(|n| u64::try_from(n).unwrap_or(u64::MAX))
            .map_err(|e| self.err(e))
    }

    /// Forgets every file's progress, so the next ingest reads all transcripts again
    /// (deduplication keeps counts right).
    pub fn forget_files(&mut self) -> Result<(), LedgerError> {
        self.conn
            .execute("DELETE FROM files", [])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Runs SQLite's own consistency check.
    pub fn check(&self) -> Result<(), LedgerError> {
        let result: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(|e| self.err(e))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(LedgerError::Corrupt {
                path: self.path.clone(),
                detail: result,
            })
        }
    }

    /// The raw connection, for the modules that own other tables.
    #[allow(dead_code)] // for the account and alert stores
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// How many of [`MIGRATIONS`] the database has; a newer schema is refused.
fn applied_migrations(conn: &Connection, path: &Path) -> Result<usize, LedgerError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| classify(path, e))?;
    let known = MIGRATIONS.len();
    match usize::try_from(version) {
        Ok(applied) if applied <= known => Ok(applied),
        Ok(_) => Err(LedgerError::TooNew {
            path: path.to_owned(),
            found: version,
            known: i64::try_from(known).unwrap_or(i64::MAX),
        }),
        // Headroom never writes a negative version: this is not its database.
        Err(_) => Err(LedgerError::Corrupt {
            path: path.to_owned(),
            detail: format!("schema version {version}"),
        }),
    }
}

/// What `headroom ledger rebuild` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebuilt {
    /// The ledger was sound: aggregates were recomputed and transcripts will be read again,
    /// after deleting the `implausible` responses an older version stored (see
    /// [`MAX_TOKENS_PER_FIELD`]).
    Refreshed { implausible: u64 },
    /// The ledger was damaged: it was moved to `moved_to` and a new one made, with the
    /// `salvaged` responses that could still be read from the old one.
    Replaced { moved_to: PathBuf, salvaged: u64 },
}

/// Rebuilds the ledger at `path` without losing history that can still be read.
///
/// - Refused ([`LedgerError::InUse`]) while another process has the ledger open: moving
///   the files would leave its connection writing into the old inode. The returned ledger
///   keeps the lock exclusive until it is dropped, so nobody opens the ledger half-rebuilt.
/// - Only a damaged database ([`LedgerError::Corrupt`]) is moved aside; any other failure to
///   open (a newer schema, a permission, a full disk) is returned and nothing is moved.
pub fn rebuild(path: &Path, now_unix_s: i64) -> Result<(Ledger, Rebuilt), LedgerError> {
    prepare_folder(path)?;
    let peers = PeerLock::exclusive(path)?;
    let refreshed = Ledger::open_locked(path, peers.clone(), BUSY_TIMEOUT).and_then(|mut l| {
        l.check()?;
        let implausible = l.delete_implausible()?;
        l.rebuild_aggregates()?;
        l.forget_files()?;
        Ok((l, Rebuilt::Refreshed { implausible }))
    });
    match refreshed {
        Err(LedgerError::Corrupt { detail, .. }) => {
            tracing::warn!("{}: {detail}; moving it aside", path.display());
        }
        other => return other,
    }
    // The connection above is closed by now: SQLite never writes to the files moved below.
    let moved_to = move_aside(path, now_unix_s)?;
    let mut ledger = Ledger::open_locked(path, peers, BUSY_TIMEOUT)?;
    let salvaged = salvage(&moved_to, &mut ledger).unwrap_or(0);
    Ok((ledger, Rebuilt::Replaced { moved_to, salvaged }))
}

/// Renames the database and its side files to `<path>.damaged-<time>[-n]`, a name none of
/// them has yet (two rebuilds in one second keep both), and returns the new database path.
fn move_aside(path: &Path, now_unix_s: i64) -> Result<PathBuf, LedgerError> {
    const FILES: [&str; 3] = ["", "-wal", "-shm"];
    let moved_to = (0u32..=u32::MAX)
        .map(|n| match n {
            0 => side_file(path, &format!(".damaged-{now_unix_s}")),
            n => side_file(path, &format!(".damaged-{now_unix_s}-{n}")),
        })
        .find(|candidate| {
            FILES
                .iter()
                .all(|suffix| !side_file(candidate, suffix).exists())
        })
        .unwrap_or_else(|| side_file(path, ".damaged"));
    // The WAL first, the database last: a crash in between must never leave the old WAL
    // beside a database created anew, which SQLite would replay it into.
    for suffix in ["-wal", "-shm", ""] {
        let from = side_file(path, suffix);
        if from.exists() {
            std::fs::rename(&from, side_file(&moved_to, suffix)).map_err(|source| {
                LedgerError::Open {
                    path: from.clone(),
                    source,
                }
            })?;
        }
    }
    Ok(moved_to)
}

/// One response read back from a damaged ledger.
struct Salvaged {
    key: i64,
    ts_ms: i64,
    model: String,
    project: String,
    session: String,
    cwd: Option<String>,
    tokens: Tokens,
    cost_usd: Option<f64>,
    calc_cost: f64,
}

/// Copies every response that can still be read from a damaged ledger.
fn salvage(damaged: &Path, into: &mut Ledger) -> Result<u64, LedgerError> {
    let old = Connection::open_with_flags(damaged, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| classify(damaged, e))?;
    let mut stmt = old
        .prepare(
            "SELECT e.key, e.ts, m.name, s.project, s.session, s.cwd, e.input, e.output,
                    e.cache_write, e.cache_write_5m, e.cache_write_1h, e.cache_read,
                    e.cost_usd, e.calc_cost
             FROM entries e JOIN models m ON m.id = e.model JOIN sessions s ON s.id = e.session",
        )
        .map_err(|e| classify(damaged, e))?;
    let mut rows = stmt.query([]).map_err(|e| classify(damaged, e))?;
    let mut batch = into.batch()?;
    // Read row by row and stop at the first unreadable page: what came before is kept.
    while let Ok(Some(row)) = rows.next() {
        let read = || -> rusqlite::Result<Salvaged> {
            Ok(Salvaged {
                key: row.get(0)?,
                ts_ms: row.get(1)?,
                model: row.get(2)?,
                project: row.get(3)?,
                session: row.get(4)?,
                cwd: row.get(5)?,
                tokens: tokens_at(row, 6)?,
                cost_usd: row.get(12)?,
                calc_cost: row.get(13)?,
            })
        };
        let Ok(r) = read() else {
            continue;
        };
        batch.insert(&NewEntry {
            key: r.key,
            ts_ms: r.ts_ms,
            model: &r.model,
            project: &r.project,
            session: &r.session,
            cwd: r.cwd.as_deref(),
            tokens: r.tokens,
            cost_usd: r.cost_usd,
            calc_cost: r.calc_cost,
        })?;
    }
    batch.commit()
}

/// Recomputes the aggregates from the plausible entries only: like the incremental path,
/// which never stores the others. With every count at most [`MAX_TOKENS_PER_FIELD`], `sum()`
/// would need 9 billion responses in one bucket to overflow.
fn rebuild_aggregates(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let plausible = plausible_sql();
    tx.execute_batch(&format!(
        "DELETE FROM quarter_hours;
         DELETE FROM session_totals;
         INSERT INTO quarter_hours
            SELECT ts - (ts % {BUCKET_MS} + {BUCKET_MS}) % {BUCKET_MS} AS start, model, count(*),
                   sum(input), sum(output), sum(cache_write), sum(cache_read), sum(calc_cost),
                   sum(coalesce(cost_usd, calc_cost)), sum(coalesce(cost_usd, 0)), min(ts), max(ts)
            FROM entries WHERE {plausible} GROUP BY start, model;
         INSERT INTO session_totals
            SELECT session, model, count(*), sum(input), sum(output), sum(cache_write),
                   sum(cache_read), sum(calc_cost), sum(coalesce(cost_usd, calc_cost)),
                   sum(coalesce(cost_usd, 0)), min(ts), max(ts)
            FROM entries WHERE {plausible} GROUP BY session, model;"
    ))
}

/// A count from an integer column, tolerant of what older versions could leave there: a REAL
/// (an aggregate pushed past i64 by `input + excluded.input`) or a negative number (a count
/// above i64::MAX cast with `as`, read as 0).
fn count_at(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<u64> {
    match row.get_ref(index)? {
        ValueRef::Integer(n) => Ok(count_from_sql(n)),
        ValueRef::Real(f) => Ok(floor_to_u64(f).unwrap_or(0)),
        ValueRef::Null => Ok(0),
        other => Err(rusqlite::Error::InvalidColumnType(
            index,
            String::new(),
            other.data_type(),
        )),
    }
}

/// The six token columns of `entries`, from `first` on, in table order.
fn tokens_at(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Tokens> {
    Ok(Tokens {
        input: count_at(row, first)?,
        output: count_at(row, first + 1)?,
        cache_write: count_at(row, first + 2)?,
        cache_write_5m: count_at(row, first + 3)?,
        cache_write_1h: count_at(row, first + 4)?,
        cache_read: count_at(row, first + 5)?,
    })
}

fn sums_from(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Sums> {
    Ok(Sums {
        entries: count_at(row, first)?,
        input: count_at(row, first + 1)?,
        output: count_at(row, first + 2)?,
        cache_write: count_at(row, first + 3)?,
        cache_read: count_at(row, first + 4)?,
        calc_cost: row.get(first + 5)?,
        auto_cost: row.get(first + 6)?,
        display_cost: row.get(first + 7)?,
    })
}

pub(crate) fn classify(path: &Path, e: rusqlite::Error) -> LedgerError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => LedgerError::Corrupt {
            path: path.to_owned(),
            detail: e.to_string(),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => LedgerError::Locked {
            path: path.to_owned(),
        },
        _ => LedgerError::Sql {
            path: path.to_owned(),
            source: e,
        },
    }
}

/// A write transaction: entries, their aggregates and file offsets commit together.
pub struct Batch<'l> {
    tx: Transaction<'l>,
    keys: &'l mut KeyCache,
    data_version: i64,
    path: PathBuf,
    // Fx hashing: these maps are hit once per stored response during a cold ingest.
    models: FxHashMap<String, i64>,
    sessions: FxHashMap<String, FxHashMap<String, i64>>,
    buckets: FxHashMap<(i64, i64), (Sums, i64, i64)>,
    session_sums: FxHashMap<(i64, i64), (Sums, i64, i64)>,
    inserted: u64,
}

impl Batch<'_> {
    fn err(&self, e: rusqlite::Error) -> LedgerError {
        classify(&self.path, e)
    }

    /// The key array of `bucket`. The first use in a session loads every array at once: one
    /// sequential read (about 2.5 MB per 300,000 responses) instead of a query per array.
    fn key_set(&mut self, bucket: u16) -> Result<&mut KeySet, LedgerError> {
        if !self.keys.loaded {
            let mut stmt = self
                .tx
                .prepare_cached("SELECT bucket, keys FROM key_sets")
                .map_err(|e| classify(&self.path, e))?;
            let mut rows = stmt.query([]).map_err(|e| classify(&self.path, e))?;
            while let Some(row) = rows.next().map_err(|e| classify(&self.path, e))? {
                let bucket: u16 = row.get(0).map_err(|e| classify(&self.path, e))?;
                let blob = row
                    .get_ref(1)
                    .and_then(|v| v.as_blob().map_err(Into::into))
                    .map_err(|e| classify(&self.path, e))?;
                let keys = blob
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect();
                self.keys.sets.insert(bucket, KeySet { keys, dirty: false });
            }
            self.keys.loaded = true;
        }
        Ok(self.keys.sets.entry(bucket).or_insert_with(|| KeySet {
            keys: Vec::new(),
            dirty: false,
        }))
    }

    fn model_id(&mut self, name: &str) -> Result<i64, LedgerError> {
        if let Some(id) = self.models.get(name) {
            return Ok(*id);
        }
        let id = self
            .tx
            .query_row(
                "INSERT INTO models (name) VALUES (?1)
                 ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
                [name],
                |row| row.get(0),
            )
            .map_err(|e| self.err(e))?;
        self.models.insert(name.to_owned(), id);
        Ok(id)
    }

    fn session_id(
        &mut self,
        project: &str,
        session: &str,
        cwd: Option<&str>,
    ) -> Result<i64, LedgerError> {
        if let Some(id) = self.sessions.get(project).and_then(|s| s.get(session)) {
            return Ok(*id);
        }
        let id = self
            .tx
            .query_row(
                "INSERT INTO sessions (project, session, cwd) VALUES (?1, ?2, ?3)
                 ON CONFLICT (project, session)
                 DO UPDATE SET cwd = coalesce(sessions.cwd, excluded.cwd) RETURNING id",
                params![project, session, cwd],
                |row| row.get(0),
            )
            .map_err(|e| self.err(e))?;
        self.sessions
            .entry(project.to_owned())
            .or_default()
            .insert(session.to_owned(), id);
        Ok(id)
    }

    /// Stores a response unless one with the same key is stored. Returns whether it was new.
    pub fn insert(&mut self, entry: &NewEntry<'_>) -> Result<bool, LedgerError> {
        Ok(self.insert_many(&mut [entry.clone()])? == 1)
    }

    /// Stores the responses whose keys are not stored yet; returns how many were new.
    ///
    /// Written for the cold ingest of a gigabyte of transcripts, where SQLite's per-statement
    /// cost dominates: keys are checked in memory against the key arrays, and rows are written
    /// many per statement.
    pub fn insert_many(&mut self, entries: &mut [NewEntry<'_>]) -> Result<u64, LedgerError> {
        const ROWS_PER_STATEMENT: usize = 100;
        const COLUMNS: usize = 12;
        entries.sort_unstable_by_key(|e| e.key);
        let path = self.path.clone();
        let sql = |e| classify(&path, e);

        let mut fresh: HashSet<i64, KeyHash> =
            HashSet::with_capacity_and_hasher(entries.len(), KeyHash::default());
        for entry in entries.iter() {
            if !plausible(&entry.tokens) {
                tracing::warn!(
                    "not storing a response of {} with more than {MAX_TOKENS_PER_FIELD} tokens in a field",
                    entry.ts_ms
                );
                continue;
            }
            let set = self.key_set(key_bucket(entry.key))?;
            if let Err(at) = set.keys.binary_search(&entry.key) {
                set.keys.insert(at, entry.key);
                set.dirty = true;
                fresh.insert(entry.key);
            }
        }
        let mut new_rows: Vec<(&NewEntry<'_>, i64, i64)> = Vec::with_capacity(fresh.len());
        for entry in entries.iter() {
            if fresh.remove(&entry.key) {
                let model = self.model_id(entry.model)?;
                let session = self.session_id(entry.project, entry.session, entry.cwd)?;
                new_rows.push((entry, model, session));
            }
        }
        for chunk in new_rows.chunks(ROWS_PER_STATEMENT) {
            let placeholders = format!("({})", ["?"; COLUMNS].join(","));
            let text = format!(
                "INSERT INTO entries (key, ts, model, session, input, output, cache_write,
                    cache_write_5m, cache_write_1h, cache_read, cost_usd, calc_cost) VALUES {}",
                vec![placeholders.as_str(); chunk.len()].join(",")
            );
            let mut stmt = self.tx.prepare_cached(&text).map_err(sql)?;
            for (row, (entry, model, session)) in chunk.iter().enumerate() {
                let t = &entry.tokens;
                let at = row * COLUMNS;
                stmt.raw_bind_parameter(at + 1, entry.key).map_err(sql)?;
                stmt.raw_bind_parameter(at + 2, entry.ts_ms).map_err(sql)?;
                stmt.raw_bind_parameter(at + 3, model).map_err(sql)?;
                stmt.raw_bind_parameter(at + 4, session).map_err(sql)?;
                let counts = [
                    t.input,
                    t.output,
                    t.cache_write,
                    t.cache_write_5m,
                    t.cache_write_1h,
                    t.cache_read,
                ];
                for (column, count) in (at + 5..).zip(counts) {
                    stmt.raw_bind_parameter(column, count_to_sql(count))
                        .map_err(sql)?;
                }
                let (cost_usd, calc_cost) = finite_costs(entry);
                stmt.raw_bind_parameter(at + 11, cost_usd).map_err(sql)?;
                stmt.raw_bind_parameter(at + 12, calc_cost).map_err(sql)?;
            }
            stmt.raw_execute().map_err(sql)?;
        }
        for (entry, model, session) in &new_rows {
            let start = entry.ts_ms - entry.ts_ms.rem_euclid(BUCKET_MS);
            for (sums, first, last) in [
                self.buckets.entry((start, *model)).or_insert((
                    Sums::default(),
                    i64::MAX,
                    i64::MIN,
                )),
                self.session_sums.entry((*session, *model)).or_insert((
                    Sums::default(),
                    i64::MAX,
                    i64::MIN,
                )),
            ] {
                sums.add_entry(entry);
                *first = (*first).min(entry.ts_ms);
                *last = (*last).max(entry.ts_ms);
            }
        }
        let inserted = u64::try_from(new_rows.len()).unwrap_or(u64::MAX);
        self.inserted += inserted;
        Ok(inserted)
    }

    /// Records how far a file has been consumed.
    pub fn set_file_state(&mut self, path: &Path, state: &FileState) -> Result<(), LedgerError> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO files (path, device, inode, size, offset, head_hash, bad_lines)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (path) DO UPDATE SET device = excluded.device,
                    inode = excluded.inode, size = excluded.size, offset = excluded.offset,
                    head_hash = excluded.head_hash, bad_lines = excluded.bad_lines",
            )
            .map_err(|e| classify(&self.path, e))?;
        stmt.execute(params![
            path.to_string_lossy(),
            state.device.cast_signed(),
            state.inode.cast_signed(),
            count_to_sql(state.size),
            count_to_sql(state.offset),
            state.head_hash.cast_signed(),
            count_to_sql(state.bad_lines),
        ])
        .map(|_| ())
        .map_err(|e| classify(&self.path, e))
    }

    /// Responses newly stored in this batch.
    pub fn inserted(&self) -> u64 {
        self.inserted
    }

    /// Folds the batch's sums into the aggregates and commits everything at once.
    pub fn commit(self) -> Result<u64, LedgerError> {
        let path = self.path;
        let sql = |e| classify(&path, e);
        {
            let mut save = self
                .tx
                .prepare_cached("INSERT OR REPLACE INTO key_sets (bucket, keys) VALUES (?1, ?2)")
                .map_err(sql)?;
            for (bucket, set) in self.keys.sets.iter_mut().filter(|(_, s)| s.dirty) {
                let blob: Vec<u8> = set.keys.iter().flat_map(|k| k.to_le_bytes()).collect();
                save.execute(params![bucket, blob]).map_err(sql)?;
                set.dirty = false;
            }
            let counts = ["entries", "input", "output", "cache_write", "cache_read"]
                .map(saturating_add_sql)
                .join(", ");
            let mut bucket = self
                .tx
                .prepare_cached(&format!(
                    "INSERT INTO quarter_hours
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT (start, model) DO UPDATE SET
                        first_ts = min(first_ts, excluded.first_ts),
                        last_ts = max(last_ts, excluded.last_ts),
                        {counts},
                        calc_cost = calc_cost + excluded.calc_cost,
                        auto_cost = auto_cost + excluded.auto_cost,
                        display_cost = display_cost + excluded.display_cost"
                ))
                .map_err(sql)?;
            for ((start, model), (s, first, last)) in &self.buckets {
                bucket
                    .execute(params![
                        start,
                        model,
                        count_to_sql(s.entries),
                        count_to_sql(s.input),
                        count_to_sql(s.output),
                        count_to_sql(s.cache_write),
                        count_to_sql(s.cache_read),
                        s.calc_cost,
                        s.auto_cost,
                        s.display_cost,
                        first,
                        last
                    ])
                    .map_err(sql)?;
            }
            let mut session = self
                .tx
                .prepare_cached(&format!(
                    "INSERT INTO session_totals
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT (session, model) DO UPDATE SET
                        {counts},
                        calc_cost = calc_cost + excluded.calc_cost,
                        auto_cost = auto_cost + excluded.auto_cost,
                        display_cost = display_cost + excluded.display_cost,
                        first_ts = min(first_ts, excluded.first_ts),
                        last_ts = max(last_ts, excluded.last_ts)"
                ))
                .map_err(sql)?;
            for ((id, model), (s, first, last)) in &self.session_sums {
                session
                    .execute(params![
                        id,
                        model,
                        count_to_sql(s.entries),
                        count_to_sql(s.input),
                        count_to_sql(s.output),
                        count_to_sql(s.cache_write),
                        count_to_sql(s.cache_read),
                        s.calc_cost,
                        s.auto_cost,
                        s.display_cost,
                        first,
                        last
                    ])
                    .map_err(sql)?;
            }
        }
        self.tx.commit().map_err(sql)?;
        self.keys.data_version = Some(self.data_version);
        Ok(self.inserted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: i64, ts_ms: i64, input: u64) -> NewEntry<'static> {
        NewEntry {
            key,
            ts_ms,
            model: "claude-sonnet-4-5",
            project: "-home-dev-api",
            session: "s1",
            cwd: Some("/home/dev/api"),
            tokens: Tokens {
                input,
                ..Tokens::default()
            },
            cost_usd: None,
            calc_cost: input as f64 * 3e-6,
        }
    }

    #[test]
    fn duplicates_are_stored_once_and_aggregates_follow() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
        let mut batch = ledger.batch().unwrap();
        assert!(batch.insert(&entry(1, 1_000, 10)).unwrap());
        assert!(!batch.insert(&entry(1, 1_000, 10)).unwrap());
        assert!(batch.insert(&entry(2, BUCKET_MS + 5, 20)).unwrap());
        assert_eq!(batch.commit().unwrap(), 2);
        let mut batch = ledger.batch().unwrap();
        assert!(!batch.insert(&entry(2, BUCKET_MS + 5, 20)).unwrap());
        assert!(batch.insert(&entry(3, 2_000, 5)).unwrap());
        batch.commit().unwrap();

        let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
        assert_eq!(buckets.len(), 2);
        assert_eq!((buckets[0].start_ms, buckets[0].sums.input), (0, 15));
        assert_eq!(buckets[0].sums.entries, 2);
        assert_eq!(
            (buckets[1].start_ms, buckets[1].sums.input),
            (BUCKET_MS, 20)
        );
        let sessions = ledger.sessions().unwrap();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].sums.input, 35);
        assert_eq!(
            (sessions[0].first_ms, sessions[0].last_ms),
            (1_000, BUCKET_MS + 5)
        );
        assert_eq!(ledger.entry_count().unwrap(), 3);

        // Rebuilding from entries gives the same aggregates as the incremental path.
        ledger.rebuild_aggregates().unwrap();
        assert_eq!(ledger.buckets(i64::MIN, i64::MAX).unwrap(), buckets);
        assert_eq!(ledger.sessions().unwrap(), sessions);
    }

    #[test]
    fn keys_stored_by_another_process_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        let mut a = Ledger::open(&path).unwrap();
        let mut b = Ledger::open(&path).unwrap();
        // b loads (and caches) the key array that key 1 falls in.
        let mut batch = b.batch().unwrap();
        assert!(batch.insert(&entry(2, 1_000, 1)).unwrap());
        batch.commit().unwrap();
        let mut batch = a.batch().unwrap();
        assert!(batch.insert(&entry(1, 1_000, 10)).unwrap());
        batch.commit().unwrap();
        let mut batch = b.batch().unwrap();
        assert!(
            !batch.insert(&entry(1, 1_000, 10)).unwrap(),
            "a's key must be seen"
        );
        batch.commit().unwrap();
        assert_eq!(b.entry_count().unwrap(), 2);
    }

    #[test]
    fn keys_of_a_rolled_back_batch_are_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
        {
            let mut batch = ledger.batch().unwrap();
            assert!(batch.insert(&entry(1, 1_000, 10)).unwrap());
        }
        let mut batch = ledger.batch().unwrap();
        assert!(batch.insert(&entry(1, 1_000, 10)).unwrap());
        batch.commit().unwrap();
        assert_eq!(ledger.entry_count().unwrap(), 1);
        // And the keys survive a reopen.
        drop(ledger);
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
        let mut batch = ledger.batch().unwrap();
        assert!(!batch.insert(&entry(1, 1_000, 10)).unwrap());
    }

    #[test]
    fn an_uncommitted_batch_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        let mut ledger = Ledger::open(&path).unwrap();
        {
            let mut batch = ledger.batch().unwrap();
            batch.insert(&entry(1, 1_000, 10)).unwrap();
            let state = FileState {
                device: 1,
                inode: 2,
                size: 3,
                offset: 3,
                head_hash: 4,
                bad_lines: 0,
            };
            batch.set_file_state(Path::new("/x.jsonl"), &state).unwrap();
        }
        assert_eq!(ledger.entry_count().unwrap(), 0);
        assert!(ledger.file_states().unwrap().is_empty());
    }

    #[test]
    fn reopening_keeps_history_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        {
            let mut ledger = Ledger::open(&path).unwrap();
            let mut batch = ledger.batch().unwrap();
            batch.insert(&entry(7, 1_000, 10)).unwrap();
            batch.commit().unwrap();
        }
        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(ledger.entry_count().unwrap(), 1);
        ledger.check().unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused_not_clobbered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        drop(Ledger::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        assert!(matches!(
            Ledger::open(&path),
            Err(LedgerError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn a_file_that_is_not_a_database_is_reported_as_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        std::fs::write(&path, vec![b'x'; 8192]).unwrap();
        let err = Ledger::open(&path).unwrap_err();
        assert!(matches!(err, LedgerError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("headroom ledger rebuild"));
    }

    #[test]
    fn rebuilding_a_damaged_ledger_keeps_it_aside_and_salvages_what_it_can() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        std::fs::write(&path, vec![b'x'; 8192]).unwrap();
        let (ledger, rebuilt) = rebuild(&path, 42).unwrap();
        let Rebuilt::Replaced { moved_to, salvaged } = rebuilt else {
            panic!("expected a replacement");
        };
        assert_eq!(salvaged, 0);
        assert_eq!(std::fs::read(&moved_to).unwrap(), vec![b'x'; 8192]);
        assert_eq!(ledger.entry_count().unwrap(), 0);

        // A sound ledger is refreshed in place, history intact.
        let mut ledger = ledger;
        let mut batch = ledger.batch().unwrap();
        batch.insert(&entry(1, 1_000, 10)).unwrap();
        batch.commit().unwrap();
        drop(ledger);
        let (ledger, rebuilt) = rebuild(&path, 43).unwrap();
        assert_eq!(rebuilt, Rebuilt::Refreshed { implausible: 0 });
        assert_eq!(ledger.entry_count().unwrap(), 1);
    }

    #[test]
    fn salvage_copies_history_from_an_old_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let old_path = dir.path().join("old.sqlite3");
        {
            let mut old = Ledger::open(&old_path).unwrap();
            let mut batch = old.batch().unwrap();
            batch.insert(&entry(1, 1_000, 10)).unwrap();
            batch.insert(&entry(2, 2_000, 20)).unwrap();
            batch.commit().unwrap();
        }
        let mut new = Ledger::open(&dir.path().join("new.sqlite3")).unwrap();
        assert_eq!(salvage(&old_path, &mut new).unwrap(), 2);
        assert_eq!(new.sessions().unwrap()[0].sums.input, 30);
    }

    #[test]
    fn repricing_recomputes_costs_and_aggregates() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
        let mut batch = ledger.batch().unwrap();
        let mut e = entry(1, 1_000, 100_000);
        e.calc_cost = 99.0;
        batch.insert(&e).unwrap();
        batch.commit().unwrap();
        assert!(ledger.reprice(&PriceTable::embedded()).unwrap());
        assert!(!ledger.reprice(&PriceTable::embedded()).unwrap());
        let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
        assert!((buckets[0].sums.calc_cost - 0.3).abs() < 1e-9);
    }

    #[test]
    fn many_processes_opening_a_new_ledger_at_once_all_succeed() {
        // Threads with their own connections contend for SQLite's file locks exactly as
        // processes do. Several rounds: the race is a matter of timing.
        for round in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("l.sqlite3");
            let start = std::sync::Arc::new(std::sync::Barrier::new(8));
            let openers: Vec<_> = (0..8)
                .map(|_| {
                    let (path, start) = (path.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        Ledger::open(&path).map(|_| ())
                    })
                })
                .collect();
            for opener in openers {
                let result = opener.join().unwrap();
                assert!(result.is_ok(), "round {round}: {result:?}");
            }
            let ledger = Ledger::open(&path).unwrap();
            let version: i64 = ledger
                .conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
            assert_eq!(usize::try_from(version).unwrap(), MIGRATIONS.len());
        }
    }

    fn tokens(n: u64) -> Tokens {
        Tokens {
            input: n,
            output: n,
            cache_write: n,
            cache_write_5m: n,
            cache_write_1h: 0,
            cache_read: n,
        }
    }

    #[test]
    fn huge_token_counts_neither_overflow_nor_poison_the_aggregates() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
        let mut batch = ledger.batch().unwrap();
        for (key, n) in [(1, u64::MAX), (2, 1 << 63), (3, MAX_TOKENS_PER_FIELD + 1)] {
            let mut e = entry(key, 1_000, 0);
            e.tokens = tokens(n);
            assert!(!batch.insert(&e).unwrap(), "{n} tokens is not a response");
        }
        let mut e = entry(4, 2_000, 0);
        e.tokens = tokens(MAX_TOKENS_PER_FIELD);
        assert!(batch.insert(&e).unwrap());
        assert!(batch.insert(&entry(5, 3_000, 10)).unwrap());
        batch.commit().unwrap();

        let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
        assert_eq!(buckets.len(), 1);
        assert_eq!(buckets[0].sums.entries, 2);
        assert_eq!(buckets[0].sums.input, MAX_TOKENS_PER_FIELD + 10);
        let kind: String = ledger
            .conn
            .query_row("SELECT typeof(input) FROM quarter_hours", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kind, "integer");
        ledger.rebuild_aggregates().unwrap();
        assert_eq!(ledger.buckets(i64::MIN, i64::MAX).unwrap(), buckets);
    }

    #[test]
    fn sums_saturate() {
        let mut a = Sums {
            entries: u64::MAX,
            input: u64::MAX - 1,
            output: u64::MAX,
            ..Sums::default()
        };
        a.add(&a.clone());
        assert_eq!(
            (a.entries, a.input, a.output),
            (u64::MAX, u64::MAX, u64::MAX)
        );
        assert_eq!(a.total_tokens(), u64::MAX);
    }

    /// What an older Headroom left after two responses of 9 * 10^18 input tokens in one
    /// quarter hour: the entries as i64, the aggregates turned REAL by `input + excluded.input`.
    fn poison_the_old_way(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            "INSERT INTO entries (key, ts, model, session, input, output, cache_write,
                cache_write_5m, cache_write_1h, cache_read, cost_usd, calc_cost)
             SELECT 100 + n, 1500, model, session, 9000000000000000000, 0, 0, 0, 0, 0, NULL, 0
             FROM entries, (SELECT 1 AS n UNION SELECT 2) LIMIT 2;
             UPDATE quarter_hours SET input = input + 9000000000000000000;
             UPDATE quarter_hours SET input = input + 9000000000000000000;
             UPDATE session_totals SET input = input + 9000000000000000000;
             UPDATE session_totals SET input = input + 9000000000000000000;",
        )
        .unwrap();
        let kind: String = conn
            .query_row("SELECT typeof(input) FROM quarter_hours", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kind, "real", "the poisoned ledger as the old code made it");
    }

    fn a_sound_ledger_with_10_input_tokens(path: &Path) {
        let mut ledger = Ledger::open(path).unwrap();
        let mut batch = ledger.batch().unwrap();
        batch.insert(&entry(1, 1_000, 10)).unwrap();
        batch.commit().unwrap();
    }

    #[test]
    fn a_ledger_poisoned_by_an_older_version_can_be_read_and_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        a_sound_ledger_with_10_input_tokens(&path);
        poison_the_old_way(&path);
        let mut ledger = Ledger::open(&path).unwrap();
        let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
        assert!(buckets[0].sums.input > 1 << 63, "read, although wrong");
        assert!(ledger.sessions().is_ok());
        // A later batch adding to that bucket saturates to an integer instead of failing.
        let mut batch = ledger.batch().unwrap();
        batch.insert(&entry(2, 1_200, 5)).unwrap();
        batch.commit().unwrap();
        let (kind, input): (String, i64) = ledger
            .conn
            .query_row("SELECT typeof(input), input FROM quarter_hours", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((kind.as_str(), input), ("integer", i64::MAX));
    }

    #[test]
    fn repricing_a_poisoned_ledger_recovers_sane_totals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        a_sound_ledger_with_10_input_tokens(&path);
        poison_the_old_way(&path);
        let mut ledger = Ledger::open(&path).unwrap();
        assert!(ledger.reprice(&PriceTable::embedded()).unwrap());
        let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
        assert_eq!((buckets[0].sums.entries, buckets[0].sums.input), (1, 10));
        assert_eq!(ledger.sessions().unwrap()[0].sums.input, 10);
    }

    #[test]
    fn rebuilding_a_poisoned_ledger_deletes_the_impossible_responses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        a_sound_ledger_with_10_input_tokens(&path);
        poison_the_old_way(&path);
        let (ledger, rebuilt) = rebuild(&path, 42).unwrap();
        assert_eq!(rebuilt, Rebuilt::Refreshed { implausible: 2 });
        assert_eq!(ledger.entry_count().unwrap(), 1);
        let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
        assert_eq!((buckets[0].sums.entries, buckets[0].sums.input), (1, 10));
        assert_eq!(ledger.sessions().unwrap()[0].sums.input, 10);
    }

    #[test]
    fn rebuild_refuses_while_another_process_has_the_ledger_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        a_sound_ledger_with_10_input_tokens(&path);
        let peer = Ledger::open(&path).unwrap();
        let err = rebuild(&path, 42).unwrap_err();
        assert!(matches!(err, LedgerError::InUse { .. }), "{err:?}");
        assert!(err.to_string().contains("quit it"), "{err}");
        assert_eq!(peer.file_states().unwrap().len(), 0);
        drop(peer);
        // And while a rebuild runs, others wait for it instead of opening a half-made ledger.
        let (rebuilding, _) = rebuild(&path, 42).unwrap();
        let err = Ledger::open_waiting(&path, Duration::from_millis(20)).unwrap_err();
        assert!(matches!(err, LedgerError::Locked { .. }), "{err:?}");
        drop(rebuilding);
        assert_eq!(Ledger::open(&path).unwrap().entry_count().unwrap(), 1);
    }

    #[test]
    fn rebuild_moves_nothing_when_the_ledger_is_not_damaged_but_too_new() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        a_sound_ledger_with_10_input_tokens(&path);
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = rebuild(&path, 42).unwrap_err();
        assert!(matches!(err, LedgerError::TooNew { .. }), "{err:?}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains("damaged")), "{names:?}");
        let conn = Connection::open(&path).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "history kept in place");
    }

    #[test]
    fn damaged_ledgers_are_moved_under_names_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        let mut moved = Vec::new();
        for attempt in 0..2u8 {
            std::fs::write(&path, vec![b'x' + attempt; 8192]).unwrap();
            // The same second both times.
            let (ledger, rebuilt) = rebuild(&path, 42).unwrap();
            drop(ledger);
            let Rebuilt::Replaced { moved_to, .. } = rebuilt else {
                panic!("expected a replacement: {rebuilt:?}");
            };
            moved.push((attempt, moved_to));
        }
        assert_ne!(moved[0].1, moved[1].1);
        for (attempt, moved_to) in &moved {
            assert_eq!(std::fs::read(moved_to).unwrap(), vec![b'x' + attempt; 8192]);
        }
        assert_eq!(Ledger::open(&path).unwrap().entry_count().unwrap(), 0);
    }

    #[test]
    fn the_side_files_move_with_the_database_and_no_name_is_reused() {
        // (Opening a damaged database lets SQLite fold or drop its WAL on close, so the
        // side files are put here by hand.)
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        let mut moved = Vec::new();
        for attempt in 0..3u8 {
            for (suffix, len) in [("", 50), ("-wal", 100), ("-shm", 10)] {
                std::fs::write(side_file(&path, suffix), vec![attempt; len]).unwrap();
            }
            moved.push(move_aside(&path, 42).unwrap());
        }
        let names: HashSet<&PathBuf> = moved.iter().collect();
        assert_eq!(names.len(), 3, "{moved:?}");
        for (attempt, moved_to) in (0u8..).zip(&moved) {
            for (suffix, len) in [("", 50), ("-wal", 100), ("-shm", 10)] {
                let file = side_file(moved_to, suffix);
                assert_eq!(std::fs::read(&file).unwrap(), vec![attempt; len]);
                assert!(!side_file(&path, suffix).exists());
            }
        }
        // A WAL left alone by a crash between two renames still claims its name.
        std::fs::write(side_file(&path, ".damaged-43-wal"), b"wal").unwrap();
        std::fs::write(&path, b"db").unwrap();
        let next = move_aside(&path, 43).unwrap();
        assert_eq!(next, side_file(&path, ".damaged-43-1"));
    }

    #[cfg(unix)]
    #[test]
    fn the_folder_and_the_ledger_files_are_private_and_old_installs_are_mended() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let set = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("data/headroom");
        let path = folder.join("ledger.sqlite3");
        let files = ["", "-wal", "-shm", ".lock"].map(|s| side_file(&path, s));

        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(mode(&folder), 0o700);
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        drop(ledger);

        // An install made before: 0755 and 0644, with a connection open so that the WAL
        // and shared-memory files stay.
        let old = Connection::open(&path).unwrap();
        old.execute_batch("INSERT INTO meta VALUES ('k', 'v')")
            .unwrap();
        set(&folder, 0o755);
        for file in &files {
            set(file, 0o644);
        }
        let _ledger = Ledger::open(&path).unwrap();
        assert_eq!(mode(&folder), 0o700);
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        drop(old);
    }
}
