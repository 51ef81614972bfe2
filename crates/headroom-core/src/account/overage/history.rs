//! The record of every write in the ledger (`extra_usage_writes`, at most [`HISTORY_LIMIT`]
//! rows): begun before the first request, finished with what the account said.

use rusqlite::params;
use serde::Serialize;

use super::{Change, Verified, WriteError, HISTORY_LIMIT};
use crate::ledger::{Ledger, LedgerError};

/// One write, as the history keeps it. No secret is ever stored: the organization's UUID
/// and the token stay out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// The history row's id.
    pub id: i64,
    /// When the write began.
    pub at_ms: i64,
    /// `enable`, `cap`, `disable`.
    pub action: String,
    /// "turn on, cap $50.00".
    pub asked: String,
    /// The requests sent, e.g. "PUT .../overage_spend_limit, GET /api/oauth/usage".
    pub requests: String,
    /// `pending` (started, never finished: the process ended), `verified`, `differs`,
    /// `failed`.
    pub outcome: String,
    /// What the account said after ("Extra Usage is on · cap $50.00 · confirmed ...").
    pub account_after: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

pub(super) fn begin_history(
    ledger: &Ledger,
    change: &Change,
    at_ms: i64,
) -> Result<i64, LedgerError> {
    ledger.write(|tx| {
        tx.execute(
            "INSERT INTO extra_usage_writes (at_ms, action, asked, requests, outcome)
             VALUES (?1, ?2, ?3, '', 'pending')",
            params![at_ms, change.action(), change.describe()],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "DELETE FROM extra_usage_writes WHERE id <= (SELECT id FROM extra_usage_writes ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            [HISTORY_LIMIT],
        )?;
        Ok(id)
    })
}

pub(super) fn finish_history(
    ledger: &Ledger,
    id: i64,
    requests: &[String],
    result: &Result<Verified, WriteError>,
) -> Result<(), LedgerError> {
    let (outcome, after, error) = match result {
        Ok(v) if v.matches => ("verified", Some(v.summary.clone()), None),
        Ok(v) => ("differs", Some(v.summary.clone()), v.difference.clone()),
        Err(e) => ("failed", None, Some(e.reason.clone())),
    };
    // Paths name the organization; the history keeps only their last part.
    let requests: Vec<String> = requests.iter().map(|r| redact_request(r)).collect();
    ledger.write(|tx| {
        tx.execute(
            "UPDATE extra_usage_writes SET requests = ?1, outcome = ?2, account_after = ?3, error = ?4 WHERE id = ?5",
            params![requests.join(", "), outcome, after, error, id],
        )
    })?;
    Ok(())
}

/// `PUT /api/oauth/organizations/<uuid>/overage_spend_limit` → `PUT .../overage_spend_limit`.
pub(super) fn redact_request(r: &str) -> String {
    match r.split_once(" /api/oauth/organizations/") {
        Some((method, rest)) => {
            let leaf = rest.rsplit('/').next().unwrap_or("");
            format!("{method} .../{leaf}")
        }
        None => r.to_owned(),
    }
}

/// The newest `limit` writes, newest first.
pub fn history(ledger: &Ledger, limit: usize) -> Result<Vec<HistoryEntry>, LedgerError> {
    ledger.read(|conn| {
        let mut stmt = conn.prepare(
            "SELECT id, at_ms, action, asked, requests, outcome, account_after, error
             FROM extra_usage_writes ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(HistoryEntry {
                id: r.get(0)?,
                at_ms: r.get(1)?,
                action: r.get(2)?,
                asked: r.get(3)?,
                requests: r.get(4)?,
                outcome: r.get(5)?,
                account_after: r.get(6)?,
                error: r.get(7)?,
            })
        })?;
        rows.collect()
    })
}

/// The newest write, if any (the pane's "last change").
pub fn last_write(ledger: &Ledger) -> Result<Option<HistoryEntry>, LedgerError> {
    Ok(history(ledger, 1)?.into_iter().next())
}
