//! The alert engine's memory in the ledger: its state (one JSON row in `alert_state`) and every
//! alert it raised (`alert_history`), so a restart never repeats an alert and `headroom alerts`
//! can list them.
//!
//! [`evaluate_and_record`] loads the state, evaluates, writes the new state and the history
//! rows in ONE immediate (write-locked) transaction: the tray and `headroom watch` may share a
//! ledger, and whichever evaluates second sees what the first announced. Delivery happens
//! after the commit and its outcome is written back with [`record_delivery`]; a crash in
//! between loses a notification rather than repeating one.
//!
//! A state row that cannot be read (written by hand, or by a newer Headroom) is logged and
//! replaced by a fresh state: at worst a few alerts are said again, never a failure to alert.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{engine, Delivery, EngineState, Evaluation};
use crate::ledger::{Ledger, LedgerError};
use crate::report::Zone;
use crate::settings::AlertSettings;
use crate::snapshot::UsageSnapshot;

/// How many history rows are kept (the newest).
pub const HISTORY_LIMIT: i64 = 1000;

/// Delivery outcomes as the history stores them.
pub mod outcome {
    /// Recorded, not delivered yet.
    pub const PENDING: &str = "pending";
    /// Shown by the notification server.
    pub const DELIVERED: &str = "delivered";
    /// Delivered without buttons (the server does not advertise `actions`).
    pub const DELIVERED_PLAIN: &str = "delivered (no actions)";
    /// Held back by quiet hours.
    pub const QUIET_HOURS: &str = "quiet hours";
    /// Held back by a snooze.
    pub const SNOOZED: &str = "snoozed";
    /// No notification server to show it (no session bus, say).
    pub const NO_SERVER: &str = "no notification server";
    /// The server refused it; the history adds its words (`failed: …`).
    pub const FAILED: &str = "failed";
}

/// One recorded alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// The history row's id.
    pub id: i64,
    /// When it was recorded.
    pub at_ms: i64,
    /// Its kind ([`AlertKind::as_str`](crate::alerts::AlertKind::as_str)).
    pub kind: String,
    /// Its level ([`Level::as_str`](crate::alerts::Level::as_str)).
    pub level: String,
    /// The window it concerns, if any.
    pub window_id: Option<String>,
    /// The window instance it belongs to, if any.
    pub instance: Option<String>,
    /// The threshold crossed, if any.
    pub threshold: Option<u32>,
    /// The figure that crossed it.
    pub value: Option<f64>,
    /// When the window resets, if known.
    pub resets_at_ms: Option<i64>,
    /// The notification's summary line.
    pub title: String,
    /// The notification's text.
    pub body: String,
    /// `pending`, `delivered`, `quiet hours`, `snoozed`, `no notification server`, `failed: …`.
    pub delivery: String,
}

/// An evaluation and the history rows its alerts were written to.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The evaluation.
    pub evaluation: Evaluation,
    /// History row ids, in the order of `evaluation.alerts`.
    pub ids: Vec<i64>,
}

fn read_state(conn: &rusqlite::Connection) -> rusqlite::Result<EngineState> {
    let text: Option<String> = conn
        .query_row("SELECT state FROM alert_state WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(match text {
        None => EngineState::default(),
        Some(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!("the alert state in the ledger is unreadable ({e}); starting afresh");
            EngineState::default()
        }),
    })
}

fn write_state(
    conn: &rusqlite::Connection,
    state: &EngineState,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let text = serde_json::to_string(state)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.execute(
        "INSERT INTO alert_state (id, state, updated_ms) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms",
        params![text, now_ms],
    )?;
    Ok(())
}

/// The engine state as last saved (a fresh state if none).
pub fn load_state(ledger: &Ledger) -> Result<EngineState, LedgerError> {
    ledger.read(read_state)
}

/// Saves the engine state (tests, and front ends that evaluate by hand).
pub fn save_state(ledger: &Ledger, state: &EngineState, now_ms: i64) -> Result<(), LedgerError> {
    ledger.write(|tx| write_state(tx, state, now_ms))
}

/// Evaluates `snapshot` against the saved state and records the result, atomically.
pub fn evaluate_and_record(
    ledger: &Ledger,
    snapshot: &UsageSnapshot,
    settings: &AlertSettings,
    now_ms: i64,
    zone: Zone,
) -> Result<Recorded, LedgerError> {
    ledger.write(|tx| {
        let previous = read_state(tx)?;
        let evaluation = engine::evaluate(snapshot, &previous, settings, now_ms, zone);
        let delivery = match &evaluation.delivery {
            Delivery::Deliver { .. } | Delivery::Nothing => outcome::PENDING,
            Delivery::Suppressed { why } => why.as_str(),
        };
        let mut ids = Vec::with_capacity(evaluation.alerts.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO alert_history (at_ms, kind, level, window, instance, threshold, value,
                     resets_at_ms, title, body, delivery)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for a in &evaluation.alerts {
                insert.execute(params![
                    now_ms,
                    a.kind.as_str(),
                    a.level.as_str(),
                    a.window_id,
                    a.instance,
                    a.threshold,
                    a.value.filter(|v| v.is_finite()),
                    a.resets_at_ms,
                    a.title,
                    a.body,
                    delivery,
                ])?;
                ids.push(tx.last_insert_rowid());
            }
        }
        if !evaluation.alerts.is_empty() {
            tx.execute(
                "DELETE FROM alert_history WHERE id <= (SELECT id FROM alert_history ORDER BY id DESC LIMIT 1 OFFSET ?1)",
                [HISTORY_LIMIT],
            )?;
        }
        if evaluation.state != previous {
            write_state(tx, &evaluation.state, now_ms)?;
        }
        Ok(Recorded { evaluation, ids })
    })
}

/// Writes what became of a delivery (`outcome::DELIVERED`, `outcome::NO_SERVER`, ...).
pub fn record_delivery(ledger: &Ledger, ids: &[i64], outcome: &str) -> Result<(), LedgerError> {
    ledger.write(|tx| {
        let mut update =
            tx.prepare_cached("UPDATE alert_history SET delivery = ?1 WHERE id = ?2")?;
        for id in ids {
            update.execute(params![outcome, id])?;
        }
        Ok(())
    })
}

/// The newest `limit` alerts, newest first.
pub fn recent(ledger: &Ledger, limit: usize) -> Result<Vec<HistoryEntry>, LedgerError> {
    ledger.read(|conn| {
        let mut stmt = conn.prepare(
            "SELECT id, at_ms, kind, level, window, instance, threshold, value, resets_at_ms,
                    title, body, delivery
             FROM alert_history ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(HistoryEntry {
                id: r.get(0)?,
                at_ms: r.get(1)?,
                kind: r.get(2)?,
                level: r.get(3)?,
                window_id: r.get(4)?,
                instance: r.get(5)?,
                threshold: r.get(6)?,
                value: r.get(7)?,
                resets_at_ms: r.get(8)?,
                title: r.get(9)?,
                body: r.get(10)?,
                delivery: r.get(11)?,
            })
        })?;
        rows.collect()
    })
}
