//! Repair and recomputation: SQLite's consistency check, `headroom ledger rebuild` (recompute
//! a sound ledger, or move a damaged one aside and salvage what can still be read), and the
//! costs recomputed when the price table changes.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};

use super::batch::{plausible_sql, NewEntry};
use super::queries::tokens_at;
use super::{
    classify, prepare_folder, side_file, Ledger, LedgerError, PeerLock, BUCKET_MS, BUSY_TIMEOUT,
};
use crate::pricing::PriceTable;
use crate::transcript::Tokens;

impl Ledger {
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
        // Another process may have repriced since the check above.
        let stored: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [KEY], |row| {
                row.get(0)
            })
            .optional()
            .map_err(sql)?;
        if stored.as_deref() == Some(prices.fingerprint()) {
            return Ok(false);
        }
        {
            let mut read = tx
                .prepare(
                    "SELECT e.id, m.name, e.input, e.output, e.cache_write, e.cache_write_5m,
                            e.cache_write_1h, e.cache_read, e.us_only
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
                let us_only: bool = row.get(8).map_err(sql)?;
                let cost = prices
                    .response_cost(&model, &tokens, us_only)
                    .unwrap_or(0.0);
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
        // Immediate: it reads, then writes (see the module's notes on locks).
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
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
                    crate::pricing::Priced::FastUnknown(_) => "no fast-mode multiplier".to_owned(),
                    crate::pricing::Priced::Unknown => "no known price".to_owned(),
                    // Counted, at the family's newest rates: said as an estimate.
                    crate::pricing::Priced::Estimated(_) => {
                        crate::report::estimated_reason(prices.estimate_basis(&name).unwrap_or("?"))
                    }
                };
                insert.execute(params![id, reason]).map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)
    }

    /// Recomputes the aggregate tables from `entries`.
    pub fn rebuild_aggregates(&mut self) -> Result<(), LedgerError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| classify(&path, e))?;
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
}

/// What `headroom ledger rebuild` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebuilt {
    /// The ledger was sound: aggregates were recomputed and transcripts will be read again,
    /// after deleting the `implausible` responses an older version stored (see
    /// [`MAX_TOKENS_PER_FIELD`](super::MAX_TOKENS_PER_FIELD)).
    Refreshed {
        /// Responses deleted as implausible.
        implausible: u64,
    },
    /// The ledger was damaged: it was moved to `moved_to` and a new one made, with the
    /// `salvaged` responses that could still be read from the old one.
    Replaced {
        /// Where the damaged file was moved.
        moved_to: PathBuf,
        /// Responses copied from it into the new one.
        salvaged: u64,
    },
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
pub(super) fn move_aside(path: &Path, now_unix_s: i64) -> Result<PathBuf, LedgerError> {
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
    us_only: bool,
}

/// Copies every response that can still be read from a damaged ledger.
pub(super) fn salvage(damaged: &Path, into: &mut Ledger) -> Result<u64, LedgerError> {
    let old = Connection::open_with_flags(damaged, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| classify(damaged, e))?;
    // A ledger from before migration 5 has no `us_only`: its responses read as global.
    let has_geo = old
        .query_row(
            "SELECT count(*) FROM pragma_table_info('entries') WHERE name = 'us_only'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .is_ok_and(|n| n > 0);
    let us_only = if has_geo { "e.us_only" } else { "0" };
    let mut stmt = old
        .prepare(&format!(
            "SELECT e.key, e.ts, m.name, s.project, s.session, s.cwd, e.input, e.output,
                    e.cache_write, e.cache_write_5m, e.cache_write_1h, e.cache_read,
                    e.cost_usd, e.calc_cost, {us_only}
             FROM entries e JOIN models m ON m.id = e.model JOIN sessions s ON s.id = e.session"
        ))
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
                us_only: row.get(14)?,
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
            us_only: r.us_only,
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
