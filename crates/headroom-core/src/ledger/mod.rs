//! The ledger: an embedded SQLite database (WAL) that keeps every deduplicated API response
//! Headroom has seen, so history survives Claude Code deleting old transcripts and later runs
//! read only what was appended.
//!
//! The module by job: `schema` (every table, as migrations), `keys` (the dedup key arrays),
//! `batch` (the write path of an ingest), `queries` (reads), `repair` (check, rebuild,
//! reprice). The modules that own other tables (`alerts::store`, `account::store`,
//! `account::overage`) go through `Ledger::write` and `Ledger::read`.
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
//!   [`LedgerError::Locked`], which callers treat as "try again", not as a failure; an
//!   ingest, which has its data in hand, tries again itself while others keep committing
//!   ([`Ledger::patiently`]);
//! - every transaction that writes starts `IMMEDIATE`: a deferred one that reads first
//!   gets `SQLITE_BUSY_SNAPSHOT` at once, without waiting, when another process commits
//!   between its read and its first write;
//! - migrations run inside one `BEGIN IMMEDIATE` that reads `user_version` again, so two
//!   processes opening a new ledger at once never both run them; the switch of a new ledger
//!   to WAL, for which SQLite returns "busy" at once instead of waiting, is retried within the
//!   same wait (see `Ledger::switch_to_wal`).
//!
//! The ledger, its `-wal` and `-shm` and the lock file are 0600, and their folder 0700, on
//! Unix (they name every project and hold spend figures); [`Ledger::open`] mends the modes of
//! an install made before this rule.
//!
//! Token counts are stored as i64: values convert with saturation (`num`), aggregates add
//! with saturation in SQL (SQLite would otherwise store a REAL that no read accepts), and a
//! response with a count above [`MAX_TOKENS_PER_FIELD`] is never stored or summed.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction};

mod batch;
mod keys;
mod queries;
mod repair;
mod schema;
#[cfg(test)]
mod tests;

pub use batch::{Batch, NewEntry};
pub use keys::{KeyHash, KeyHasher};
pub use queries::{BucketRow, FileState, SessionRow, Sums, Unpriced};
pub use repair::{rebuild, Rebuilt};

use keys::KeyCache;
use schema::{applied_migrations, MIGRATIONS};

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

/// What can go wrong with the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// SQLite finds the file damaged or not a database: a rebuild mends it.
    #[error("the ledger {path} is damaged ({detail}); run `headroom ledger rebuild` to rebuild it from your transcripts (the damaged file is kept beside it)")]
    Corrupt {
        /// The ledger file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// Another process held its lock for longer than the busy timeout.
    #[error("the ledger {path} is locked by another process; try again, or stop the other Headroom process")]
    Locked {
        /// The ledger file.
        path: PathBuf,
    },
    /// A rebuild needs the ledger to itself and another process has it open.
    #[error("another Headroom process has the ledger {path} open (the tray app, `headroom watch`, or a command still running); quit it and run `headroom ledger rebuild` again. Nothing was changed.")]
    InUse {
        /// The ledger file.
        path: PathBuf,
    },
    /// A newer Headroom wrote the file: this one does not touch it.
    #[error("the ledger {path} was written by a newer Headroom (schema {found}, this one knows {known}); update Headroom")]
    TooNew {
        /// The ledger file.
        path: PathBuf,
        /// The file's schema version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// The file or its folder cannot be opened or created.
    #[error("cannot open the ledger {path}: {source}")]
    Open {
        /// The ledger file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Any other SQLite error.
    #[error("ledger {path}: {source}")]
    Sql {
        /// The ledger file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
}

/// How many busy timeouts [`Ledger::patiently`] waits with no commit from anyone.
pub const PATIENCE: u32 = 6;

/// The usage ledger: one SQLite file every Headroom process reads and writes (see the module
/// documentation).
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
    /// The busy timeout: how long one statement waits for another process's lock.
    wait: Duration,
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
    #[cfg_attr(
        not(unix),
        expect(unused_mut, reason = "only Unix sets a mode on the options")
    )]
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
            wait,
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

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&mut self, wait: Duration) -> rusqlite::Result<()> {
        self.conn.busy_timeout(wait)?;
        // WAL: readers (tray, statusline) never block the ingester. NORMAL sync in WAL mode
        // keeps every committed transaction across a process kill (only power loss can lose
        // the last ones, never corrupt the file).
        self.switch_to_wal(wait)?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        self.conn.pragma_update(None, "cache_size", -16_000)?;
        Ok(())
    }

    /// Puts the database in WAL mode (persistent: only the first open of a new ledger
    /// changes anything). The switch upgrades a read lock to an exclusive one, and SQLite
    /// skips the busy handler for such an upgrade when another connection holds the write
    /// lock, since waiting could deadlock (<https://www.sqlite.org/c3ref/busy_handler.html>):
    /// a process opening a new ledger while another one switches or migrates it gets
    /// `SQLITE_BUSY` at once. So the switch is retried here, with back-off, until `wait` has
    /// passed, as the busy handler would have waited. (An exclusive `<ledger>.lock` cannot
    /// serialize first opens instead: every open process holds that file shared for its
    /// whole life.)
    fn switch_to_wal(&self, wait: Duration) -> rusqlite::Result<()> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match self.conn.pragma_update(None, "journal_mode", "WAL") {
                Err(e)
                    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                        && started.elapsed() < wait =>
                {
                    std::thread::sleep(pause.min(wait.saturating_sub(started.elapsed())));
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                done => return done,
            }
        }
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

    /// A value of the `meta` table (small state kept with the ledger: a chosen organization, say).
    pub fn meta(&self, key: &str) -> Result<Option<String>, LedgerError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Writes a value of the `meta` table.
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

    /// Runs `f` in an immediate (write-locked) transaction and commits it; an error from `f`
    /// rolls it back. Immediate, so a read-then-write (a claim, a state update) never meets
    /// another process's write half-way: the second one waits for the first to commit.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        // `new_unchecked`: the stores hold `&Ledger`, and a `Batch` (the one other open
        // transaction) needs `&mut`, so none can be open here.
        let run = || {
            let tx =
                Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        };
        run().map_err(|e| self.err(e))
    }

    /// Runs `write` (one or more write transactions) and runs it again for as long as it
    /// fails with [`LedgerError::Locked`] while other processes keep committing; gives up
    /// with that error once [`PATIENCE`] busy timeouts pass with no commit from anyone.
    ///
    /// For a writer that has its data in hand (an ingest): SQLite's lock is not fair, so a
    /// second ingester can wait longer than its busy timeout behind another one committing
    /// batch after batch, and on a loaded machine one batch of another ingester can itself
    /// take longer than the timeout. Failing then would lose the work for no reason; a lock
    /// held with no progress for that long (a hung process) still ends the wait. `write` must
    /// be safe to run again after a failure: each of its transactions commits whole or not
    /// at all.
    pub fn patiently<T>(
        &mut self,
        mut write: impl FnMut(&mut Ledger) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let mut seen = self.data_version()?;
        let mut progress = Instant::now();
        loop {
            match write(self) {
                Err(locked @ LedgerError::Locked { .. }) => {
                    let now = self.data_version()?;
                    if now != seen {
                        seen = now;
                        progress = Instant::now();
                    } else if progress.elapsed() >= self.wait * PATIENCE {
                        return Err(locked);
                    }
                    tracing::debug!(ledger = %self.path.display(), "the ledger is busy with another process; trying again");
                }
                done => return done,
            }
        }
    }

    /// Changes whenever another connection commits (SQLite's `data_version`); costs no lock.
    fn data_version(&self) -> Result<i64, LedgerError> {
        self.conn
            .pragma_query_value(None, "data_version", |row| row.get(0))
            .map_err(|e| self.err(e))
    }

    /// Runs `f` on the connection, outside any transaction (one statement sees one
    /// snapshot), with the ledger's error mapping.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        f(&self.conn).map_err(|e| self.err(e))
    }
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
