//! The ledger's schema: every table, as migrations applied in order (`PRAGMA user_version` is
//! the number applied). One list for every module that owns tables (`alerts::store`,
//! `account::store`, `account::overage`), so one version number says what a file holds.
//!
//! The usage tables (migration 1):
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
//! The SQL is in `schema/NNN_*.sql`, one file per migration, each headed by what it adds. A
//! migration is never edited once released: a change is a new file at the end of the list.

use std::path::Path;

use rusqlite::Connection;

use super::{classify, LedgerError};

/// Schema migrations, in order; `user_version` is the number applied.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("schema/001_usage.sql"),
    include_str!("schema/002_alerts.sql"),
    include_str!("schema/003_account.sql"),
    include_str!("schema/004_unpriced.sql"),
    include_str!("schema/005_us_only.sql"),
    include_str!("schema/006_extra_usage_writes.sql"),
    include_str!("schema/007_poll_problem.sql"),
    include_str!("schema/008_extra_usage_settling.sql"),
];

/// How many of [`MIGRATIONS`] the database has; a newer schema is refused.
pub(super) fn applied_migrations(conn: &Connection, path: &Path) -> Result<usize, LedgerError> {
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
