//! The record of every write in the ledger (`extra_usage_writes`, at most [`HISTORY_LIMIT`]
//! rows): begun before the first request, finished with what the account said, and, when the
//! outcome was not known, settled by the next reading of the account.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::plan::Plan;
use super::reading::Reading;
use super::words::summary;
use super::{Change, Verified, WriteError, HISTORY_LIMIT};
use crate::account::AccountConfig;
use crate::ledger::{Ledger, LedgerError};

/// A write in progress longer than this was interrupted (Ctrl-C, a crash, the window closed):
/// longer than any write takes (three requests at their 20 s timeout, the pause, a reading).
pub const STALE_PENDING_MS: i64 = 5 * 60_000;

/// What became of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Started, not finished yet (or the process is still sending it).
    Pending,
    /// The account, read after the write, says what was asked.
    Verified,
    /// The account, read after the write, says something else.
    Differs,
    /// Certainly not made: refused, not sent, or sent nowhere.
    Failed,
    /// May or may not have been made, and no reading has told yet.
    Unknown,
}

impl Outcome {
    /// The word the ledger stores and `history --json` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Verified => "verified",
            Outcome::Differs => "differs",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
        }
    }

    /// The stored word back; an unknown word (a newer Headroom's) is read as not known.
    pub fn parse(word: &str) -> Outcome {
        match word {
            "pending" => Outcome::Pending,
            "verified" => Outcome::Verified,
            "differs" => Outcome::Differs,
            "failed" => Outcome::Failed,
            _ => Outcome::Unknown,
        }
    }

    /// For a person: `may or may not have been made` for [`Outcome::Unknown`].
    pub fn words(self) -> &'static str {
        match self {
            Outcome::Pending => "in progress",
            Outcome::Verified => "verified",
            Outcome::Differs => "account says otherwise",
            Outcome::Failed => "not made",
            Outcome::Unknown => "may or may not have been made",
        }
    }
}

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
    /// "turn on, cap €50.00".
    pub asked: String,
    /// The organization billed, by name, when known.
    pub organization: Option<String>,
    /// The requests sent, e.g. "GET /api/oauth/usage, PUT .../overage_spend_limit".
    pub requests: String,
    /// What became of it.
    pub outcome: Outcome,
    /// What the account said after ("Extra Usage is on · cap €50.00 · confirmed ...").
    pub account_after: Option<String>,
    /// Why it failed, or why its outcome is not known.
    pub error: Option<String>,
}

pub(super) fn begin(ledger: &Ledger, plan: &Plan, at_ms: i64) -> Result<i64, LedgerError> {
    let change_json = serde_json::to_string(&plan.change).ok();
    ledger.write(|tx| {
        tx.execute(
            "INSERT INTO extra_usage_writes (at_ms, action, asked, requests, outcome, change_json, currency, organization)
             VALUES (?1, ?2, ?3, '', 'pending', ?4, ?5, ?6)",
            params![
                at_ms,
                plan.change.action(),
                plan.change.describe(&plan.currency),
                change_json,
                plan.currency,
                plan.billed.organization_name,
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "DELETE FROM extra_usage_writes WHERE id <= (SELECT id FROM extra_usage_writes ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            [HISTORY_LIMIT],
        )?;
        Ok(id)
    })
}

pub(super) fn finish(
    ledger: &Ledger,
    id: i64,
    requests: &[String],
    result: &Result<Verified, WriteError>,
) -> Result<(), LedgerError> {
    let (outcome, after, error) = match result {
        Ok(v) if v.matches => (Outcome::Verified, Some(v.summary.clone()), None),
        Ok(v) => (
            Outcome::Differs,
            Some(v.summary.clone()),
            v.difference.clone(),
        ),
        Err(e) if e.may_have_changed => (Outcome::Unknown, None, Some(e.reason.clone())),
        Err(e) => (Outcome::Failed, None, Some(e.reason.clone())),
    };
    // Paths name the organization; the history keeps only their last part.
    let requests: Vec<String> = requests.iter().map(|r| redact_request(r)).collect();
    ledger.write(|tx| {
        tx.execute(
            "UPDATE extra_usage_writes SET requests = ?1, outcome = ?2, account_after = ?3, error = ?4 WHERE id = ?5",
            params![requests.join(", "), outcome.as_str(), after, error, id],
        )
    })?;
    Ok(())
}

/// Marks writes left `pending` for longer than [`STALE_PENDING_MS`] as `unknown`: the process
/// that sent them stopped before it could record their outcome (Ctrl-C, a crash, a closed
/// window), so they may or may not have been made. Returns how many.
pub fn settle_interrupted(ledger: &Ledger, now_ms: i64) -> Result<usize, LedgerError> {
    ledger.write(|tx| {
        tx.execute(
            "UPDATE extra_usage_writes SET outcome = 'unknown',
                 error = 'Headroom stopped before the account answered, so the change may or may not have been made'
             WHERE outcome = 'pending' AND at_ms < ?1",
            [now_ms.saturating_sub(STALE_PENDING_MS)],
        )
    })
}

/// Settles every write of unknown outcome made before `reading` by what it says: `verified`
/// when the account is as asked, `differs` otherwise (the write was not made, or something
/// changed it since).
pub(super) fn settle(
    ledger: &Ledger,
    reading: &Reading,
    config: &AccountConfig,
) -> Result<(), LedgerError> {
    settle_interrupted(ledger, reading.read_at_ms)?;
    let Some(account) = &reading.extra_usage else {
        return Ok(());
    };
    let unknown: Vec<(i64, Option<String>, Option<String>)> = ledger.read(|conn| {
        let mut stmt = conn.prepare(
            "SELECT id, change_json, error FROM extra_usage_writes
             WHERE outcome = 'unknown' AND at_ms <= ?1",
        )?;
        let rows = stmt.query_map([reading.read_at_ms], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect()
    })?;
    if unknown.is_empty() {
        return Ok(());
    }
    let after = summary(account, reading.read_at_ms, reading.read_at_ms, config);
    ledger.write(|tx| {
        for (id, change_json, error) in &unknown {
            let Some(change) = change_json
                .as_deref()
                .and_then(|j| serde_json::from_str::<Change>(j).ok())
            else {
                continue;
            };
            let outcome = if reading.shows(&change) {
                Outcome::Verified
            } else {
                Outcome::Differs
            };
            let note = format!(
                "{} (settled by a later reading of the account)",
                error.as_deref().unwrap_or("the outcome was not known")
            );
            tx.execute(
                "UPDATE extra_usage_writes SET outcome = ?1, account_after = ?2, error = ?3 WHERE id = ?4",
                params![outcome.as_str(), after, note, id],
            )?;
        }
        Ok(())
    })
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
            "SELECT id, at_ms, action, asked, organization, requests, outcome, account_after, error
             FROM extra_usage_writes ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(HistoryEntry {
                id: r.get(0)?,
                at_ms: r.get(1)?,
                action: r.get(2)?,
                asked: r.get(3)?,
                organization: r.get(4)?,
                requests: r.get(5)?,
                outcome: Outcome::parse(&r.get::<_, String>(6)?),
                account_after: r.get(7)?,
                error: r.get(8)?,
            })
        })?;
        rows.collect()
    })
}

/// The newest write, if any (the pane's "last change").
pub fn last_write(ledger: &Ledger) -> Result<Option<HistoryEntry>, LedgerError> {
    Ok(history(ledger, 1)?.into_iter().next())
}

/// The newest write whose outcome is not known yet (pending or unknown), if any: while there
/// is one, no front end advises turning Extra Usage on.
pub fn unsettled_since(ledger: &Ledger, since_ms: i64) -> Result<Option<i64>, LedgerError> {
    ledger.read(|conn| {
        conn.query_row(
            "SELECT max(at_ms) FROM extra_usage_writes
             WHERE outcome IN ('pending', 'unknown') AND at_ms >= ?1",
            [since_ms],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()
        .map(Option::flatten)
    })
}
