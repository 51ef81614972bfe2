//! What the ledger holds, read back: per-file ingest state, the quarter-hour and session
//! aggregates, counts, and the models without a complete price. Every read goes through
//! `Ledger::read`, so errors are classified in one place.

use rusqlite::types::ValueRef;
use rustc_hash::FxHashMap;

use super::{Ledger, LedgerError};
use crate::num::{count_from_sql, floor_to_u64};
use crate::transcript::Tokens;

/// Identity and progress of one transcript file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileState {
    /// The file system's device id.
    pub device: u64,
    /// The file's inode: with `device`, a file renamed or replaced is told apart.
    pub inode: u64,
    /// The file's size when last read; a smaller one means it was truncated.
    pub size: u64,
    /// Bytes consumed: always just past a newline.
    pub offset: u64,
    /// Hash of the file's first bytes (up to 4 KiB), to notice a file replaced in place.
    pub head_hash: u64,
    /// Lines that could not be read as a transcript entry, so far.
    pub bad_lines: u64,
}

/// Sums of a set of responses.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    /// How many responses.
    pub entries: u64,
    /// Input tokens, not cached.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Input tokens written to the prompt cache.
    pub cache_write: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read: u64,
    /// Cost calculated from tokens at the price table's rates
    /// ([`CostMode::Calculate`](crate::report::CostMode::Calculate)).
    pub calc_cost: f64,
    /// Claude Code's recorded `costUSD` where present, else calculated
    /// ([`CostMode::Auto`](crate::report::CostMode::Auto)).
    pub auto_cost: f64,
    /// Recorded `costUSD` only ([`CostMode::Display`](crate::report::CostMode::Display)).
    pub display_cost: f64,
}

// Counts add with saturation: a sum that reached u64::MAX is wrong either way, but it must
// not panic (debug) or wrap to a small number (release).
impl Sums {
    /// Adds `other` to these sums.
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

    /// All four token counts together.
    pub fn total_tokens(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.cache_write)
            .saturating_add(self.cache_read)
    }
}

/// Responses of one model whose cost is not (fully) known.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Unpriced {
    /// The model id.
    pub model: String,
    /// "no known price", or "no fast-mode multiplier" (then priced at standard rates).
    pub reason: String,
    /// How many of its responses.
    pub responses: u64,
    /// Their tokens.
    pub tokens: u64,
    /// Their calculated cost in dollars (nonzero for an estimate or standard-rate fast mode).
    pub cost: f64,
}

/// One quarter hour of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketRow {
    /// The quarter hour's start.
    pub start_ms: i64,
    /// The model id.
    pub model: String,
    /// Its responses' sums.
    pub sums: Sums,
    /// Times of the first and last response in the bucket.
    pub first_ms: i64,
    /// See `first_ms`.
    pub last_ms: i64,
}

/// One session's use of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    /// The project folder's name under `projects/`.
    pub project: String,
    /// The session id.
    pub session: String,
    /// The working directory its transcript names, where it does.
    pub cwd: Option<String>,
    /// The model id.
    pub model: String,
    /// Its responses' sums.
    pub sums: Sums,
    /// Its first response's time.
    pub first_ms: i64,
    /// Its last response's time.
    pub last_ms: i64,
}

impl Ledger {
    /// Ingest state of every known file, by path (as text: hashing `Path`s component by
    /// component costs more than the rest of a warm run's bookkeeping).
    pub fn file_states(&self) -> Result<FxHashMap<String, FileState>, LedgerError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT path, device, inode, size, offset, head_hash, bad_lines FROM files",
            )?;
            let rows = stmt.query_map([], |row| {
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
            })?;
            rows.collect()
        })
    }

    /// Number of stored responses.
    pub fn entry_count(&self) -> Result<u64, LedgerError> {
        self.read(|conn| conn.query_row("SELECT count(*) FROM entries", [], |row| count_at(row, 0)))
    }

    /// Quarter-hour buckets with `from_ms <= start < to_ms`.
    pub fn buckets(&self, from_ms: i64, to_ms: i64) -> Result<Vec<BucketRow>, LedgerError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT q.start, m.name, q.entries, q.input, q.output, q.cache_write,
                        q.cache_read, q.calc_cost, q.auto_cost, q.display_cost, q.first_ts, q.last_ts
                 FROM quarter_hours q JOIN models m ON m.id = q.model
                 WHERE q.start >= ?1 AND q.start < ?2 ORDER BY q.start",
            )?;
            let rows = stmt.query_map([from_ms, to_ms], |row| {
                Ok(BucketRow {
                    start_ms: row.get(0)?,
                    model: row.get(1)?,
                    sums: sums_from(row, 2)?,
                    first_ms: row.get(10)?,
                    last_ms: row.get(11)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Every session's totals per model.
    pub fn sessions(&self) -> Result<Vec<SessionRow>, LedgerError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT s.project, s.session, s.cwd, m.name, t.entries, t.input, t.output,
                        t.cache_write, t.cache_read, t.calc_cost, t.auto_cost, t.display_cost,
                        t.first_ts, t.last_ts
                 FROM session_totals t
                 JOIN sessions s ON s.id = t.session
                 JOIN models m ON m.id = t.model",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(SessionRow {
                    project: row.get(0)?,
                    session: row.get(1)?,
                    cwd: row.get(2)?,
                    model: row.get(3)?,
                    sums: sums_from(row, 4)?,
                    first_ms: row.get(12)?,
                    last_ms: row.get(13)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Lines skipped as bad in the transcripts as they are now (for `status`).
    pub fn skipped_lines(&self) -> Result<u64, LedgerError> {
        // total(), not sum(): it cannot fail with "integer overflow" on saturated counts.
        self.read(|conn| {
            conn.query_row("SELECT total(bad_lines) FROM files", [], |row| {
                row.get::<_, f64>(0)
            })
        })
        .map(|n| floor_to_u64(n).unwrap_or(0))
    }

    /// Time of the newest stored response.
    pub fn latest_entry_ms(&self) -> Result<Option<i64>, LedgerError> {
        self.read(|conn| conn.query_row("SELECT max(ts) FROM entries", [], |row| row.get(0)))
    }

    /// Responses with `from_ms <= time < to_ms` (by quarter hour) of models without a
    /// complete price, per model.
    pub fn unpriced(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Unpriced>, LedgerError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT m.name, u.reason, sum(q.entries),
                        sum(q.input + q.output + q.cache_write + q.cache_read), sum(q.calc_cost)
                 FROM quarter_hours q JOIN unpriced_models u ON u.model = q.model
                 JOIN models m ON m.id = q.model
                 WHERE q.start >= ?1 AND q.start < ?2
                 GROUP BY m.name, u.reason ORDER BY sum(q.entries) DESC, m.name",
            )?;
            let rows = stmt.query_map([from_ms, to_ms], |row| {
                Ok(Unpriced {
                    model: row.get(0)?,
                    reason: row.get(1)?,
                    responses: row.get::<_, i64>(2)? as u64,
                    tokens: row.get::<_, i64>(3)? as u64,
                    cost: row.get::<_, Option<f64>>(4)?.unwrap_or(0.0),
                })
            })?;
            rows.collect()
        })
    }
}

/// A count from an integer column, tolerant of what older versions could leave there: a REAL
/// (an aggregate pushed past i64 by `input + excluded.input`) or a negative number (a count
/// above i64::MAX cast with `as`, read as 0).
pub(super) fn count_at(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<u64> {
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
pub(super) fn tokens_at(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Tokens> {
    Ok(Tokens {
        input: count_at(row, first)?,
        output: count_at(row, first + 1)?,
        cache_write: count_at(row, first + 2)?,
        cache_write_5m: count_at(row, first + 3)?,
        cache_write_1h: count_at(row, first + 4)?,
        cache_read: count_at(row, first + 5)?,
    })
}

pub(super) fn sums_from(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Sums> {
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
