//! The write path: a [`Batch`] is one immediate transaction that stores new responses
//! (deduplicated against the key arrays of `keys`), updates the stored responses that a later
//! row supersedes (see [`Tokens::supersedes`]), folds both into the aggregates and advances the
//! file offsets they came from, all committed together. Written for the cold ingest of a
//! gigabyte of transcripts, where SQLite's per-statement cost dominates.
//!
//! An update keeps the response's time and session (those of the row first stored: the time
//! its answer began, the session that first had it) and takes the later row's counts, costs
//! and model: so a response never moves to another quarter hour, day, block or session, and
//! the aggregates change by the difference alone (see [`Batch::commit`]).

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use rustc_hash::FxHashMap;

use super::keys::{key_bucket, KeyCache, KeySet};
use super::queries::{tokens_at, FileState, Sums};
use super::{classify, Ledger, LedgerError, BUCKET_MS, MAX_TOKENS_PER_FIELD};
use crate::num::count_to_sql;
use crate::transcript::Tokens;

/// One deduplicated response, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry<'a> {
    /// The response's dedup key hash (`message.id` with `requestId`).
    pub key: i64,
    /// When it was answered.
    pub ts_ms: i64,
    /// The model id.
    pub model: &'a str,
    /// The project folder's name under `projects/`.
    pub project: &'a str,
    /// The session id.
    pub session: &'a str,
    /// The working directory the transcript names, where it does.
    pub cwd: Option<&'a str>,
    /// Its token counts.
    pub tokens: Tokens,
    /// Claude Code's recorded `costUSD`, where present.
    pub cost_usd: Option<f64>,
    /// Cost at API rates, 0 for an unknown model.
    pub calc_cost: f64,
    /// Ran US-only (data residency): kept so that a reprice applies the premium again.
    pub us_only: bool,
}

// Counts add with saturation: a sum that reached u64::MAX is wrong either way, but it must
// not panic (debug) or wrap to a small number (release).
impl Sums {
    pub(super) fn add_entry(&mut self, e: &NewEntry<'_>) {
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

impl<'a> NewEntry<'a> {
    /// Takes the usage of a later row of the same response (`later`), which supersedes this
    /// one's: its counts, costs and model. The time and session stay this row's.
    pub fn take_usage(&mut self, later: &NewEntry<'a>) {
        self.model = later.model;
        self.tokens = later.tokens;
        self.cost_usd = later.cost_usd;
        self.calc_cost = later.calc_cost;
        self.us_only = later.us_only;
    }
}

/// The start of the quarter hour that holds `ts_ms`.
fn bucket_start(ts_ms: i64) -> i64 {
    ts_ms - ts_ms.rem_euclid(BUCKET_MS)
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
pub(super) fn plausible_sql() -> String {
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

impl Ledger {
    /// Starts a write transaction. Dropping the batch without [`Batch::commit`] rolls back.
    pub fn batch(&mut self) -> Result<Batch<'_>, LedgerError> {
        let path = self.path.clone();
        // A batch only stores entries whose model and session ids it looked up or inserted
        // itself in the same transaction, so their foreign keys hold by construction; checking
        // them opened two b-tree cursors per stored response (about a quarter of the cost of
        // an insert). The setting cannot change inside a transaction: it is turned off before
        // `BEGIN` and back on once the transaction is over (`ForeignKeysBack`).
        self.conn
            .pragma_update(None, "foreign_keys", false)
            .map_err(|e| classify(&path, e))?;
        let foreign_keys_back = ForeignKeysBack(&self.conn);
        let tx = Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
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
            foreign_keys_back,
            keys: &mut self.keys,
            data_version: version,
            path,
            models: FxHashMap::default(),
            sessions: FxHashMap::default(),
            buckets: FxHashMap::default(),
            session_sums: FxHashMap::default(),
            bucket_removals: FxHashMap::default(),
            session_removals: FxHashMap::default(),
            next_id: None,
            inserted: 0,
            updated: 0,
        })
    }
}

/// Turns foreign-key checks back on when dropped (see [`Ledger::batch`]).
struct ForeignKeysBack<'l>(&'l Connection);

impl Drop for ForeignKeysBack<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.pragma_update(None, "foreign_keys", true) {
            tracing::warn!(error = %e, "cannot turn foreign-key checks back on");
        }
    }
}

/// A write transaction: entries, their aggregates and file offsets commit together.
pub struct Batch<'l> {
    tx: Transaction<'l>,
    /// Declared after `tx`, so dropped after it: the checks come back once the transaction
    /// is committed or rolled back.
    #[expect(dead_code, reason = "never read: held for its `Drop`")]
    foreign_keys_back: ForeignKeysBack<'l>,
    keys: &'l mut KeyCache,
    data_version: i64,
    path: PathBuf,
    // Fx hashing: these maps are hit once per stored response during a cold ingest.
    models: FxHashMap<String, i64>,
    sessions: FxHashMap<String, FxHashMap<String, i64>>,
    buckets: FxHashMap<(i64, i64), (Sums, i64, i64)>,
    session_sums: FxHashMap<(i64, i64), (Sums, i64, i64)>,
    /// What updated responses counted before, to take out of the aggregates at commit.
    bucket_removals: FxHashMap<(i64, i64), Sums>,
    session_removals: FxHashMap<(i64, i64), Sums>,
    /// The id the next new entry gets; read once per batch (the write lock is held, so no
    /// other process appends meanwhile).
    next_id: Option<i64>,
    inserted: u64,
    updated: u64,
}

/// A stored response, as an update needs it.
struct Stored {
    ts_ms: i64,
    model: i64,
    session: i64,
    tokens: Tokens,
    cost_usd: Option<f64>,
    calc_cost: f64,
}

impl Batch<'_> {
    /// The key array of `bucket`. The first use in a session loads every array at once: one
    /// sequential read (about 4.7 MB per 300,000 responses) instead of a query per array.
    fn key_set(&mut self, bucket: u16) -> Result<&mut KeySet, LedgerError> {
        if !self.keys.loaded {
            self.load_key_sets()?;
        }
        Ok(self.keys.sets.entry(bucket).or_default())
    }

    fn load_key_sets(&mut self) -> Result<(), LedgerError> {
        let path = &self.path;
        let sql = |e| classify(path, e);
        let mut stmt = self
            .tx
            .prepare_cached("SELECT bucket, pairs FROM entry_keys")
            .map_err(sql)?;
        let mut rows = stmt.query([]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let bucket: u16 = row.get(0).map_err(sql)?;
            let blob = row
                .get_ref(1)
                .and_then(|v| v.as_blob().map_err(Into::into))
                .map_err(sql)?;
            self.keys.sets.insert(bucket, KeySet::from_blob(blob));
        }
        drop(rows);
        drop(stmt);
        if self.keys.sets.is_empty() {
            // A ledger migrated from before the ids were kept (migration 9): the arrays are
            // built once from `entries`, and written by this batch's commit.
            let mut stmt = self
                .tx
                .prepare("SELECT key, id FROM entries")
                .map_err(sql)?;
            let mut rows = stmt.query([]).map_err(sql)?;
            while let Some(row) = rows.next().map_err(sql)? {
                let (key, id): (i64, i64) = (row.get(0).map_err(sql)?, row.get(1).map_err(sql)?);
                let set = self.keys.sets.entry(key_bucket(key)).or_default();
                set.keys.push(key);
                set.ids.push(id);
            }
            for set in self.keys.sets.values_mut() {
                set.sort();
                set.dirty = true;
            }
        }
        self.keys.loaded = true;
        Ok(())
    }

    /// The id for a new entry.
    fn take_id(&mut self) -> Result<i64, LedgerError> {
        let next = match self.next_id {
            Some(next) => next,
            None => self
                .tx
                .query_row("SELECT coalesce(max(id), 0) + 1 FROM entries", [], |row| {
                    row.get(0)
                })
                .map_err(|e| classify(&self.path, e))?,
        };
        self.next_id = Some(next + 1);
        Ok(next)
    }

    /// The stored response with entry id `id`, if there is one.
    fn stored(&mut self, id: i64) -> Result<Option<Stored>, LedgerError> {
        self.tx
            .prepare_cached(
                "SELECT ts, model, session, input, output, cache_write, cache_write_5m,
                        cache_write_1h, cache_read, cost_usd, calc_cost
                 FROM entries WHERE id = ?1",
            )
            .map_err(|e| classify(&self.path, e))?
            .query_row([id], |row| {
                Ok(Stored {
                    ts_ms: row.get(0)?,
                    model: row.get(1)?,
                    session: row.get(2)?,
                    tokens: tokens_at(row, 3)?,
                    cost_usd: row.get(9)?,
                    calc_cost: row.get(10)?,
                })
            })
            .optional()
            .map_err(|e| classify(&self.path, e))
    }

    // The id lookups below are cached statements, a plain SELECT then (once per name) an
    // INSERT: an upsert with `RETURNING` is prepared afresh by `query_row` and buffers its
    // row in a temporary b-tree, which measured 5-10 % of a cold ingest's CPU (one per
    // session, 4,661 for 1 GB).
    fn model_id(&mut self, name: &str) -> Result<i64, LedgerError> {
        if let Some(id) = self.models.get(name) {
            return Ok(*id);
        }
        let path = &self.path;
        let sql = |e| classify(path, e);
        let found = self
            .tx
            .prepare_cached("SELECT id FROM models WHERE name = ?1")
            .map_err(sql)?
            .query_row([name], |row| row.get(0))
            .optional()
            .map_err(sql)?;
        let id = match found {
            Some(id) => id,
            None => {
                self.tx
                    .prepare_cached("INSERT INTO models (name) VALUES (?1)")
                    .map_err(sql)?
                    .execute([name])
                    .map_err(sql)?;
                self.tx.last_insert_rowid()
            }
        };
        self.models.insert(name.to_owned(), id);
        Ok(id)
    }

    /// The session's id; a session first stored without a `cwd` gets the first one seen.
    fn session_id(
        &mut self,
        project: &str,
        session: &str,
        cwd: Option<&str>,
    ) -> Result<i64, LedgerError> {
        if let Some(id) = self.sessions.get(project).and_then(|s| s.get(session)) {
            return Ok(*id);
        }
        let path = &self.path;
        let sql = |e| classify(path, e);
        let found: Option<(i64, bool)> = self
            .tx
            .prepare_cached(
                "SELECT id, cwd IS NULL FROM sessions WHERE project = ?1 AND session = ?2",
            )
            .map_err(sql)?
            .query_row([project, session], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(sql)?;
        let id = match found {
            Some((id, no_cwd)) => {
                if no_cwd && cwd.is_some() {
                    self.tx
                        .prepare_cached("UPDATE sessions SET cwd = ?2 WHERE id = ?1")
                        .map_err(sql)?
                        .execute(params![id, cwd])
                        .map_err(sql)?;
                }
                id
            }
            None => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO sessions (project, session, cwd) VALUES (?1, ?2, ?3)",
                    )
                    .map_err(sql)?
                    .execute(params![project, session, cwd])
                    .map_err(sql)?;
                self.tx.last_insert_rowid()
            }
        };
        self.sessions
            .entry(project.to_owned())
            .or_default()
            .insert(session.to_owned(), id);
        Ok(id)
    }

    /// Stores a response, or updates the stored one with the same key when this one
    /// supersedes it. Returns whether it was new.
    pub fn insert(&mut self, entry: &NewEntry<'_>) -> Result<bool, LedgerError> {
        Ok(self.insert_many(&mut [entry.clone()])? == 1)
    }

    /// Stores the responses whose keys are not stored yet, and updates the stored ones that
    /// a response here supersedes ([`Tokens::supersedes`]; of several with one key, the later
    /// in `entries` counts as the later row). Returns how many were new.
    ///
    /// Written for the cold ingest of a gigabyte of transcripts, where SQLite's per-statement
    /// cost dominates: keys are checked in memory against the key arrays, and rows are written
    /// many per statement. A stored response is read back (by its id, kept in the key arrays)
    /// only when a row with its key arrives again.
    pub fn insert_many(&mut self, entries: &mut [NewEntry<'_>]) -> Result<u64, LedgerError> {
        const ROWS_PER_STATEMENT: usize = 100;
        const COLUMNS: usize = 14;
        // Stable: rows with one key keep their order, which decides a tie.
        entries.sort_by_key(|e| e.key);
        let path = self.path.clone();
        let sql = |e| classify(&path, e);

        let mut unique: Vec<NewEntry<'_>> = Vec::with_capacity(entries.len());
        for entry in entries.iter() {
            if !plausible(&entry.tokens) {
                tracing::warn!(
                    "not storing a response of {} with more than {MAX_TOKENS_PER_FIELD} tokens in a field",
                    entry.ts_ms
                );
                continue;
            }
            match unique.last_mut() {
                Some(kept) if kept.key == entry.key => {
                    if entry.tokens.supersedes(&kept.tokens) {
                        kept.take_usage(entry);
                    }
                }
                _ => unique.push(entry.clone()),
            }
        }
        let mut new_rows: Vec<(&NewEntry<'_>, i64, i64, i64)> = Vec::with_capacity(unique.len());
        let mut again: Vec<(&NewEntry<'_>, i64)> = Vec::new();
        for entry in &unique {
            let bucket = key_bucket(entry.key);
            let found = {
                let set = self.key_set(bucket)?;
                set.keys.binary_search(&entry.key)
            };
            match found {
                Ok(at) => again.push((entry, self.key_set(bucket)?.ids[at])),
                Err(at) => {
                    let id = self.take_id()?;
                    let set = self.key_set(bucket)?;
                    set.keys.insert(at, entry.key);
                    set.ids.insert(at, id);
                    set.dirty = true;
                    let model = self.model_id(entry.model)?;
                    let session = self.session_id(entry.project, entry.session, entry.cwd)?;
                    new_rows.push((entry, id, model, session));
                }
            }
        }
        for chunk in new_rows.chunks(ROWS_PER_STATEMENT) {
            let placeholders = format!("({})", ["?"; COLUMNS].join(","));
            let text = format!(
                "INSERT INTO entries (id, key, ts, model, session, input, output, cache_write,
                    cache_write_5m, cache_write_1h, cache_read, cost_usd, calc_cost, us_only)
                 VALUES {}",
                vec![placeholders.as_str(); chunk.len()].join(",")
            );
            let mut stmt = self.tx.prepare_cached(&text).map_err(sql)?;
            for (row, (entry, id, model, session)) in chunk.iter().enumerate() {
                let at = row * COLUMNS;
                stmt.raw_bind_parameter(at + 1, id).map_err(sql)?;
                stmt.raw_bind_parameter(at + 2, entry.key).map_err(sql)?;
                stmt.raw_bind_parameter(at + 3, entry.ts_ms).map_err(sql)?;
                stmt.raw_bind_parameter(at + 4, model).map_err(sql)?;
                stmt.raw_bind_parameter(at + 5, session).map_err(sql)?;
                for (column, count) in (at + 6..).zip(entry.tokens.fields()) {
                    stmt.raw_bind_parameter(column, count_to_sql(count))
                        .map_err(sql)?;
                }
                let (cost_usd, calc_cost) = finite_costs(entry);
                stmt.raw_bind_parameter(at + 12, cost_usd).map_err(sql)?;
                stmt.raw_bind_parameter(at + 13, calc_cost).map_err(sql)?;
                stmt.raw_bind_parameter(at + 14, entry.us_only)
                    .map_err(sql)?;
            }
            stmt.raw_execute().map_err(sql)?;
        }
        for (entry, _, model, session) in &new_rows {
            self.add_to_sums(entry, entry.ts_ms, *model, *session);
        }
        for (entry, id) in again {
            self.update(entry, id)?;
        }
        let inserted = u64::try_from(new_rows.len()).unwrap_or(u64::MAX);
        self.inserted += inserted;
        Ok(inserted)
    }

    /// Gives the stored response `id` the counts of `entry` if they supersede its own.
    fn update(&mut self, entry: &NewEntry<'_>, id: i64) -> Result<(), LedgerError> {
        let Some(stored) = self.stored(id)? else {
            // A key whose response was deleted (an implausible one, by `ledger rebuild`).
            return Ok(());
        };
        if !entry.tokens.supersedes(&stored.tokens) {
            return Ok(());
        }
        let model = self.model_id(entry.model)?;
        let (cost_usd, calc_cost) = finite_costs(entry);
        let path = &self.path;
        let sql = |e| classify(path, e);
        let t = entry.tokens.fields().map(count_to_sql);
        self.tx
            .prepare_cached(
                "UPDATE entries SET model = ?2, input = ?3, output = ?4, cache_write = ?5,
                    cache_write_5m = ?6, cache_write_1h = ?7, cache_read = ?8, cost_usd = ?9,
                    calc_cost = ?10, us_only = ?11
                 WHERE id = ?1",
            )
            .map_err(sql)?
            .execute(params![
                id,
                model,
                t[0],
                t[1],
                t[2],
                t[3],
                t[4],
                t[5],
                cost_usd,
                calc_cost,
                entry.us_only
            ])
            .map_err(sql)?;
        let before = NewEntry {
            tokens: stored.tokens,
            cost_usd: stored.cost_usd,
            calc_cost: stored.calc_cost,
            ..entry.clone()
        };
        let start = bucket_start(stored.ts_ms);
        self.bucket_removals
            .entry((start, stored.model))
            .or_default()
            .add_entry(&before);
        self.session_removals
            .entry((stored.session, stored.model))
            .or_default()
            .add_entry(&before);
        self.add_to_sums(entry, stored.ts_ms, model, stored.session);
        self.updated += 1;
        Ok(())
    }

    /// Counts `entry`, at `ts_ms`, in the batch's sums of its quarter hour and session.
    fn add_to_sums(&mut self, entry: &NewEntry<'_>, ts_ms: i64, model: i64, session: i64) {
        for (sums, first, last) in [
            self.buckets.entry((bucket_start(ts_ms), model)).or_insert((
                Sums::default(),
                i64::MAX,
                i64::MIN,
            )),
            self.session_sums.entry((session, model)).or_insert((
                Sums::default(),
                i64::MAX,
                i64::MIN,
            )),
        ] {
            sums.add_entry(entry);
            *first = (*first).min(ts_ms);
            *last = (*last).max(ts_ms);
        }
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

    /// Stored responses that this batch gave a later row's larger usage.
    pub fn updated(&self) -> u64 {
        self.updated
    }

    /// Folds the batch's sums into the aggregates and commits everything at once. The sums of
    /// updated responses are added first and what they counted before taken out after, so an
    /// aggregate row never reaches zero on the way; one that does at the end (its only
    /// response moved to another model) is deleted. A quarter hour's or session's first and
    /// last times are not narrowed by an update: the response keeps its time, and only a
    /// change of model (never seen within one response) could leave them wider than the
    /// responses they hold.
    pub fn commit(self) -> Result<u64, LedgerError> {
        let path = self.path;
        let sql = |e| classify(&path, e);
        {
            let mut save = self
                .tx
                .prepare_cached("INSERT OR REPLACE INTO entry_keys (bucket, pairs) VALUES (?1, ?2)")
                .map_err(sql)?;
            for (bucket, set) in self.keys.sets.iter_mut().filter(|(_, s)| s.dirty) {
                save.execute(params![bucket, set.to_blob()]).map_err(sql)?;
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
            for (table, key, removals) in [
                ("quarter_hours", "start", &self.bucket_removals),
                ("session_totals", "session", &self.session_removals),
            ] {
                if removals.is_empty() {
                    continue;
                }
                let take = ["entries", "input", "output", "cache_write", "cache_read"]
                    .iter()
                    .zip(3..)
                    .map(|(c, at)| format!("{c} = max({c} - ?{at}, 0)"))
                    .chain(
                        ["calc_cost", "auto_cost", "display_cost"]
                            .iter()
                            .zip(8..)
                            .map(|(c, at)| format!("{c} = max({c} - ?{at}, 0.0)")),
                    )
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut subtract = self
                    .tx
                    .prepare_cached(&format!(
                        "UPDATE {table} SET {take} WHERE {key} = ?1 AND model = ?2"
                    ))
                    .map_err(sql)?;
                let mut empty = self
                    .tx
                    .prepare_cached(&format!(
                        "DELETE FROM {table} WHERE {key} = ?1 AND model = ?2 AND entries <= 0"
                    ))
                    .map_err(sql)?;
                for ((at, model), s) in removals {
                    subtract
                        .execute(params![
                            at,
                            model,
                            count_to_sql(s.entries),
                            count_to_sql(s.input),
                            count_to_sql(s.output),
                            count_to_sql(s.cache_write),
                            count_to_sql(s.cache_read),
                            s.calc_cost,
                            s.auto_cost,
                            s.display_cost,
                        ])
                        .map_err(sql)?;
                    empty.execute(params![at, model]).map_err(sql)?;
                }
            }
        }
        self.tx.commit().map_err(sql)?;
        self.keys.data_version = Some(self.data_version);
        Ok(self.inserted)
    }
}
