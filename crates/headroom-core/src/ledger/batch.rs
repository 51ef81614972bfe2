//! The write path: a [`Batch`] is one immediate transaction that stores new responses
//! (deduplicated against the key arrays of `keys`), folds them into the aggregates and
//! advances the file offsets they came from, all committed together. Written for the cold
//! ingest of a gigabyte of transcripts, where SQLite's per-statement cost dominates.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use rustc_hash::FxHashMap;

use super::keys::{key_bucket, KeyCache, KeyHash, KeySet};
use super::queries::{FileState, Sums};
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
            inserted: 0,
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
    inserted: u64,
}

impl Batch<'_> {
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
        const COLUMNS: usize = 13;
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
                    cache_write_5m, cache_write_1h, cache_read, cost_usd, calc_cost, us_only)
                 VALUES {}",
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
                stmt.raw_bind_parameter(at + 13, entry.us_only)
                    .map_err(sql)?;
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
