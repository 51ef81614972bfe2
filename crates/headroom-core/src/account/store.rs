//! Account figures and polling state in the ledger (tables of migration 3, see
//! `ledger::schema`), so history survives restarts and every process shares one
//! cool-down.
//!
//! - `account_samples`: one row per distinct reading of one source: when it was first
//!   observed and last seen. A reading identical to the source's newest one (the statusline
//!   repeats itself on every render) only moves `seen_ms`, so the table grows with changes,
//!   not with renders.
//! - `account_windows`: the sample's windows; `account_extra_usage`: its Extra Usage state.
//! - `account_poll_state`: per source, the [`PollState`] of `account::policy`.
//!
//! [`claim`] decides and records the attempt in ONE immediate (write-locked) transaction:
//! two processes that refresh at the same moment never both send a request.

use rusqlite::{params, OptionalExtension};

use super::policy::{self, Decision, FailureKind, Mode, PollPolicy, PollState};
use crate::ledger::{Ledger, LedgerError};
use crate::snapshot::{ExtraUsage, Source, Window, WindowKind};

/// One stored reading of one source.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSample {
    /// The sample's row id.
    pub id: i64,
    /// The source that gave it.
    pub source: Source,
    /// When these figures were first observed.
    pub observed_ms: i64,
    /// Last time the same figures were seen; the windows' `observed_at_ms` is this.
    pub seen_ms: i64,
    /// The windows it reported.
    pub windows: Vec<Window>,
    /// Extra Usage, when it reported it.
    pub extra_usage: Option<ExtraUsage>,
}

/// A point of a window's history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryPoint {
    /// When it was seen.
    pub seen_ms: i64,
    /// The window's percent then.
    pub utilization: f64,
    /// Its reset time then, if known.
    pub resets_at_ms: Option<i64>,
}

fn digest(windows: &[Window], extra: Option<&ExtraUsage>) -> i64 {
    let mut text = String::new();
    let mut sorted: Vec<&Window> = windows.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for w in sorted {
        text.push_str(&format!(
            "{}|{}|{:?}|{:?};",
            w.id, w.label, w.utilization, w.resets_at_ms
        ));
    }
    if let Some(e) = extra {
        text.push_str(&format!(
            "eu|{:?}|{:?}|{:?}|{}|{:?}|{:?}",
            e.enabled, e.monthly_limit, e.used, e.currency, e.balance, e.disabled_reason
        ));
    }
    xxhash_rust::xxh3::xxh3_64(text.as_bytes()) as i64
}

/// Records a reading. Returns the sample's id (an existing one when nothing changed).
pub fn record(
    ledger: &Ledger,
    source: Source,
    windows: &[Window],
    extra: Option<&ExtraUsage>,
    now_ms: i64,
) -> Result<i64, LedgerError> {
    ledger.write(|tx| {
    let hash = digest(windows, extra);
    let newest: Option<(i64, i64)> = tx
        .query_row(
            "SELECT id, digest FROM account_samples WHERE source = ?1 ORDER BY seen_ms DESC, id DESC LIMIT 1",
            [source.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let id = match newest {
        Some((id, d)) if d == hash => {
            tx.execute(
                "UPDATE account_samples SET seen_ms = max(seen_ms, ?2) WHERE id = ?1",
                params![id, now_ms],
            )?;
            id
        }
        _ => {
            tx.execute(
                "INSERT INTO account_samples (source, observed_ms, seen_ms, digest) VALUES (?1, ?2, ?2, ?3)",
                params![source.as_str(), now_ms, hash],
            )?;
            let id = tx.last_insert_rowid();
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT OR REPLACE INTO account_windows (sample, window_id, label, kind, utilization, resets_at_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?;
                for w in windows.iter().filter(|w| w.utilization.is_finite()) {
                    let kind = serde_json::to_string(&w.kind)
                        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                    insert
                        .execute(params![
                            id,
                            w.id,
                            w.label,
                            kind,
                            w.utilization,
                            w.resets_at_ms
                        ])?;
                }
            }
            if let Some(e) = extra {
                tx.execute(
                    "INSERT INTO account_extra_usage (sample, enabled, monthly_limit, used, currency, balance, disabled_reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        id,
                        e.enabled,
                        e.monthly_limit.filter(|v| v.is_finite()),
                        e.used.filter(|v| v.is_finite()),
                        e.currency,
                        e.balance.filter(|v| v.is_finite()),
                        e.disabled_reason
                    ],
                )?;
            }
            id
        }
    };
    Ok(id)
    })
}

fn load_sample(
    conn: &rusqlite::Connection,
    id: i64,
    source: Source,
    observed_ms: i64,
    seen_ms: i64,
) -> rusqlite::Result<StoredSample> {
    let mut stmt = conn.prepare_cached(
        "SELECT window_id, label, kind, utilization, resets_at_ms FROM account_windows WHERE sample = ?1",
    )?;
    let rows = stmt.query_map([id], |r| {
        let kind_text: String = r.get(2)?;
        let id: String = r.get(0)?;
        // A kind this build cannot read (a newer Headroom wrote it) degrades to "other".
        let kind = serde_json::from_str::<WindowKind>(&kind_text)
            .unwrap_or_else(|_| WindowKind::Other { key: id.clone() });
        Ok(Window {
            id,
            label: r.get(1)?,
            kind,
            utilization: r.get(3)?,
            resets_at_ms: r.get(4)?,
            source,
            observed_at_ms: seen_ms,
        })
    })?;
    let mut windows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    windows.sort_by_key(|w| {
        (
            match w.kind {
                WindowKind::Session => 0,
                WindowKind::Weekly => 1,
                WindowKind::WeeklyModel { .. } => 2,
                WindowKind::Other { .. } => 3,
            },
            w.id.clone(),
        )
    });
    let extra_usage = conn
        .query_row(
            "SELECT enabled, monthly_limit, used, currency, balance, disabled_reason
             FROM account_extra_usage WHERE sample = ?1",
            [id],
            |r| {
                Ok(ExtraUsage {
                    enabled: r.get(0)?,
                    monthly_limit: r.get(1)?,
                    used: r.get(2)?,
                    currency: r.get(3)?,
                    balance: r.get(4)?,
                    disabled_reason: r.get(5)?,
                    source,
                    observed_at_ms: seen_ms,
                })
            },
        )
        .optional()?;
    Ok(StoredSample {
        id,
        source,
        observed_ms,
        seen_ms,
        windows,
        extra_usage,
    })
}

/// The newest reading of `source`.
pub fn newest(ledger: &Ledger, source: Source) -> Result<Option<StoredSample>, LedgerError> {
    ledger.read(|conn| {
        let row: Option<(i64, i64, i64)> = conn
            .query_row(
                "SELECT id, observed_ms, seen_ms FROM account_samples WHERE source = ?1
             ORDER BY seen_ms DESC, id DESC LIMIT 1",
                [source.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((id, observed, seen)) => load_sample(conn, id, source, observed, seen).map(Some),
        }
    })
}

/// When `source` was last seen (cheaper than [`newest`]).
pub(super) fn newest_seen_ms(ledger: &Ledger, source: Source) -> Result<Option<i64>, LedgerError> {
    ledger.read(|conn| {
        conn.query_row(
            "SELECT max(seen_ms) FROM account_samples WHERE source = ?1",
            [source.as_str()],
            |r| r.get(0),
        )
    })
}

/// The newest reading of every account source (statusline, account, claude.ai).
pub fn newest_all(ledger: &Ledger) -> Result<Vec<StoredSample>, LedgerError> {
    let mut out = Vec::new();
    for source in [Source::Statusline, Source::Account, Source::ClaudeAi] {
        if let Some(s) = newest(ledger, source)? {
            out.push(s);
        }
    }
    Ok(out)
}

/// The newest Extra Usage reading of any source (the statusline has none, so the newest
/// sample overall may lack it).
pub fn newest_extra_usage(ledger: &Ledger) -> Result<Option<ExtraUsage>, LedgerError> {
    ledger.read(|conn| {
        let row: Option<(i64, String, i64, i64)> = conn
            .query_row(
                "SELECT s.id, s.source, s.observed_ms, s.seen_ms FROM account_samples s
             JOIN account_extra_usage e ON e.sample = s.id
             ORDER BY s.seen_ms DESC, s.id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((id, source, observed, seen)) = row else {
            return Ok(None);
        };
        let Some(source) = Source::parse(&source) else {
            return Ok(None);
        };
        Ok(load_sample(conn, id, source, observed, seen)?.extra_usage)
    })
}

/// The newest prepaid balance any source gave (claude.ai), with its currency.
pub(super) fn newest_balance(ledger: &Ledger) -> Result<Option<(f64, String)>, LedgerError> {
    ledger.read(|conn| {
        conn.query_row(
            "SELECT e.balance, e.currency FROM account_samples s
             JOIN account_extra_usage e ON e.sample = s.id
             WHERE e.balance IS NOT NULL ORDER BY s.seen_ms DESC, s.id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
    })
}

/// Readings of one window (all sources) seen since `since_ms`, oldest first. Each sample
/// gives two points when it was seen over a span (first observed and last seen).
/// `window_id` is the window's [`WindowKind::id`](crate::snapshot::WindowKind::id).
pub fn window_history(
    ledger: &Ledger,
    window_id: &str,
    since_ms: i64,
) -> Result<Vec<HistoryPoint>, LedgerError> {
    ledger.read(|conn| {
        let mut stmt = conn.prepare_cached(
            "SELECT s.observed_ms, s.seen_ms, w.utilization, w.resets_at_ms
             FROM account_samples s JOIN account_windows w ON w.sample = s.id
             WHERE w.window_id = ?1 AND s.seen_ms >= ?2 ORDER BY s.observed_ms, s.id",
        )?;
        let rows = stmt.query_map(params![window_id, since_ms], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, f64>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?;
        let mut points = Vec::new();
        for row in rows {
            let (observed, seen, utilization, resets_at_ms) = row?;
            points.push(HistoryPoint {
                seen_ms: observed,
                utilization,
                resets_at_ms,
            });
            if seen > observed {
                points.push(HistoryPoint {
                    seen_ms: seen,
                    utilization,
                    resets_at_ms,
                });
            }
        }
        points.sort_by_key(|p| p.seen_ms);
        Ok(points)
    })
}

fn read_state(conn: &rusqlite::Connection, source: Source) -> rusqlite::Result<PollState> {
    Ok(conn
        .query_row(
            "SELECT last_attempt_ms, last_success_ms, next_poll_ms, cooldown_until_ms, failures,
                    rate_limited, last_failure, last_problem, credential_fingerprint
             FROM account_poll_state WHERE source = ?1",
            [source.as_str()],
            |r| {
                Ok(PollState {
                    last_attempt_ms: r.get(0)?,
                    last_success_ms: r.get(1)?,
                    next_poll_ms: r.get(2)?,
                    cooldown_until_ms: r.get(3)?,
                    failures: r.get::<_, i64>(4)?.clamp(0, i64::from(u32::MAX)) as u32,
                    rate_limited: r.get::<_, i64>(5)?.clamp(0, i64::from(u32::MAX)) as u32,
                    last_failure: r
                        .get::<_, Option<String>>(6)?
                        .as_deref()
                        .and_then(FailureKind::parse),
                    // A value this version cannot read (a newer one's) is no problem to show:
                    // the failure kind still is.
                    last_problem: r
                        .get::<_, Option<String>>(7)?
                        .and_then(|json| serde_json::from_str(&json).ok()),
                    credential_fingerprint: r
                        .get::<_, Option<i64>>(8)?
                        .and_then(|f| u32::try_from(f).ok()),
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

fn write_state(conn: &rusqlite::Connection, source: Source, s: &PollState) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO account_poll_state (source, last_attempt_ms, last_success_ms, next_poll_ms,
             cooldown_until_ms, failures, rate_limited, last_failure, last_problem, credential_fingerprint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (source) DO UPDATE SET last_attempt_ms = excluded.last_attempt_ms,
             last_success_ms = excluded.last_success_ms, next_poll_ms = excluded.next_poll_ms,
             cooldown_until_ms = excluded.cooldown_until_ms, failures = excluded.failures,
             rate_limited = excluded.rate_limited, last_failure = excluded.last_failure,
             last_problem = excluded.last_problem, credential_fingerprint = excluded.credential_fingerprint",
        params![
            source.as_str(),
            s.last_attempt_ms,
            s.last_success_ms,
            s.next_poll_ms,
            s.cooldown_until_ms,
            i64::from(s.failures),
            i64::from(s.rate_limited),
            s.last_failure.map(FailureKind::as_str),
            s.last_problem
                .as_ref()
                .and_then(|p| serde_json::to_string(p).ok()),
            s.credential_fingerprint.map(i64::from),
        ],
    )?;
    Ok(())
}

/// The polling state of `source` (a fresh one if it never polled).
pub fn poll_state(ledger: &Ledger, source: Source) -> Result<PollState, LedgerError> {
    ledger.read(|conn| read_state(conn, source))
}

pub(super) fn save_poll_state(
    ledger: &Ledger,
    source: Source,
    state: &PollState,
) -> Result<(), LedgerError> {
    ledger.write(|tx| write_state(tx, source, state))
}

/// Decides whether `source` may be asked now and, if so, records the attempt in the same
/// write transaction, so another process deciding at the same moment sees it and waits.
/// Returns the decision and the state before the attempt.
pub(super) fn claim(
    ledger: &Ledger,
    source: Source,
    policy: &PollPolicy,
    credential_fingerprint: Option<u32>,
    mode: Mode,
    now_ms: i64,
) -> Result<(Decision, PollState), LedgerError> {
    ledger.write(|tx| {
        let state = read_state(tx, source)?;
        let statusline: Option<i64> = tx.query_row(
            "SELECT max(seen_ms) FROM account_samples WHERE source = 'statusline'",
            [],
            |r| r.get(0),
        )?;
        let decision = policy::decide(
            policy,
            &state,
            statusline,
            credential_fingerprint,
            mode,
            now_ms,
        );
        if decision == Decision::Poll {
            let mut claimed = state.clone();
            claimed.last_attempt_ms = Some(now_ms);
            write_state(tx, source, &claimed)?;
        }
        Ok((decision, state))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::policy::{after, Outcome, WaitReason};

    /// The claim every forced poll goes through: `status --refresh`, the Extra Usage watch,
    /// and the tray's Refresh now (its refresh task calls `Refresher::refresh` with
    /// `Mode::Force`, which claims here before any request).
    #[test]
    fn a_forced_claim_during_a_429_cool_down_sends_nothing_and_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.sqlite")).unwrap();
        // The tests' lowered floor: nothing but the cool-down holds a forced poll back.
        let policy = PollPolicy {
            min_interval_ms: 0,
            ..PollPolicy::default()
        };
        let now = 1_800_000_000_000;
        let (first, before) =
            claim(&ledger, Source::Account, &policy, Some(7), Mode::Auto, now).unwrap();
        assert_eq!(first, Decision::Poll);
        // Anthropic answers 429 with `Retry-After: 0`: the policy's own 5 min.
        let limited = after(
            &policy,
            &before,
            &Outcome::RateLimited {
                retry_after_s: Some(0),
            },
            Some(7),
            now,
            0.5,
        );
        save_poll_state(&ledger, Source::Account, &limited).unwrap();
        let until = limited.cooldown_until_ms.unwrap();
        assert_eq!(until, now + 5 * 60_000);

        for later in [now + 1, now + 60_000, until - 1] {
            let (decision, _) = claim(
                &ledger,
                Source::Account,
                &policy,
                Some(7),
                Mode::Force,
                later,
            )
            .unwrap();
            assert_eq!(
                decision,
                Decision::Wait {
                    until_ms: until,
                    why: WaitReason::RateLimited
                },
                "forced at {later}"
            );
        }
        // Refused claims leave no trace: the state is the one the 429 left.
        assert_eq!(poll_state(&ledger, Source::Account).unwrap(), limited);
        let (decision, _) = claim(
            &ledger,
            Source::Account,
            &policy,
            Some(7),
            Mode::Force,
            until,
        )
        .unwrap();
        assert_eq!(decision, Decision::Poll, "once the cool-down is over");
    }
}
