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

use super::{engine, AlertKind, Delivery, EngineState, Evaluation, Level, Suppression};
use crate::ledger::{Ledger, LedgerError};
use crate::report::Zone;
use crate::settings::AlertSettings;
use crate::snapshot::UsageSnapshot;

/// How many history rows are kept (the newest).
pub const HISTORY_LIMIT: i64 = 1000;

/// What became of an alert's notification, as the history keeps it. Stored as its words
/// ([`Display`](std::fmt::Display)), which `headroom alerts` shows and its `--json` carries;
/// [`DeliveryOutcome::parse`] reads them back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Recorded, not delivered yet (the delivery follows the commit).
    Pending,
    /// Shown by the notification server.
    Delivered,
    /// Shown without its buttons: the server does not advertise `actions`.
    DeliveredWithoutButtons,
    /// Held back by quiet hours.
    QuietHours,
    /// Held back by a snooze.
    Snoozed,
    /// No notification server to show it (no session bus, say).
    NoServer,
    /// Notifications are off in the command that raised it, which printed it instead.
    PrintedOnly(PrintedBy),
    /// The server refused it, in its words.
    Failed(String),
    /// Words this Headroom does not know (a newer one wrote them): shown as they are.
    Unrecognised(String),
}

/// The command that printed an alert instead of showing it, and the flag that made it so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintedBy {
    /// `headroom watch --no-notify`.
    WatchWithoutNotify,
    /// `headroom serve` (notifications only with `--notify`).
    ServeWithoutNotify,
}

impl DeliveryOutcome {
    const FAILED_PREFIX: &'static str = "failed: ";

    /// The outcomes that carry no words of their own; [`Display`](std::fmt::Display) spells
    /// them and [`DeliveryOutcome::parse`] reads them back by that one spelling.
    const FIXED: [DeliveryOutcome; 8] = [
        DeliveryOutcome::Pending,
        DeliveryOutcome::Delivered,
        DeliveryOutcome::DeliveredWithoutButtons,
        DeliveryOutcome::QuietHours,
        DeliveryOutcome::Snoozed,
        DeliveryOutcome::NoServer,
        DeliveryOutcome::PrintedOnly(PrintedBy::WatchWithoutNotify),
        DeliveryOutcome::PrintedOnly(PrintedBy::ServeWithoutNotify),
    ];

    /// The outcome written as `text` by [`Display`](std::fmt::Display); words it does not
    /// know are kept as [`DeliveryOutcome::Unrecognised`], never an error.
    pub fn parse(text: &str) -> DeliveryOutcome {
        if let Some(fixed) = Self::FIXED.iter().find(|o| o.to_string() == text) {
            return fixed.clone();
        }
        match text.strip_prefix(Self::FAILED_PREFIX) {
            Some(detail) => DeliveryOutcome::Failed(detail.to_owned()),
            None => DeliveryOutcome::Unrecognised(text.to_owned()),
        }
    }

    /// Whether the delivery is still to come.
    pub fn is_pending(&self) -> bool {
        *self == DeliveryOutcome::Pending
    }
}

impl std::fmt::Display for DeliveryOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeliveryOutcome::Pending => "pending",
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::DeliveredWithoutButtons => "delivered (no actions)",
            DeliveryOutcome::QuietHours => "quiet hours",
            DeliveryOutcome::Snoozed => "snoozed",
            DeliveryOutcome::NoServer => "no notification server",
            DeliveryOutcome::PrintedOnly(PrintedBy::WatchWithoutNotify) => {
                "printed only (--no-notify)"
            }
            DeliveryOutcome::PrintedOnly(PrintedBy::ServeWithoutNotify) => {
                "printed only (serve without --notify)"
            }
            DeliveryOutcome::Failed(detail) => {
                return write!(f, "{}{detail}", Self::FAILED_PREFIX);
            }
            DeliveryOutcome::Unrecognised(text) => text,
        })
    }
}

impl From<Suppression> for DeliveryOutcome {
    fn from(why: Suppression) -> DeliveryOutcome {
        match why {
            Suppression::QuietHours => DeliveryOutcome::QuietHours,
            Suppression::Snoozed { .. } => DeliveryOutcome::Snoozed,
        }
    }
}

/// As its words: the JSON of `headroom alerts --json` reads as the table does.
impl Serialize for DeliveryOutcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One recorded alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// The history row's id.
    pub id: i64,
    /// When it was recorded.
    pub at_ms: i64,
    /// What it is about.
    pub kind: AlertKind,
    /// How loud it was.
    pub level: Level,
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
    /// What became of its notification.
    pub delivery: DeliveryOutcome,
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
            Delivery::Deliver { .. } | Delivery::Nothing => DeliveryOutcome::Pending,
            Delivery::Suppressed { why } => DeliveryOutcome::from(*why),
        }
        .to_string();
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

/// Writes what became of a delivery.
pub fn record_delivery(
    ledger: &Ledger,
    ids: &[i64],
    outcome: &DeliveryOutcome,
) -> Result<(), LedgerError> {
    let outcome = outcome.to_string();
    ledger.write(|tx| {
        let mut update =
            tx.prepare_cached("UPDATE alert_history SET delivery = ?1 WHERE id = ?2")?;
        for id in ids {
            update.execute(params![outcome, id])?;
        }
        Ok(())
    })
}

/// The newest `limit` alerts, newest first. A row of a kind or level this Headroom does not
/// know (a newer one wrote it) is left out, with a warning, rather than failing the list.
pub fn recent(ledger: &Ledger, limit: usize) -> Result<Vec<HistoryEntry>, LedgerError> {
    ledger.read(|conn| {
        let mut stmt = conn.prepare(
            "SELECT id, at_ms, kind, level, window, instance, threshold, value, resets_at_ms,
                    title, body, delivery
             FROM alert_history ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            let id: i64 = r.get(0)?;
            let kind: String = r.get(2)?;
            let level: String = r.get(3)?;
            let (Some(kind), Some(level)) = (AlertKind::parse(&kind), Level::parse(&level)) else {
                tracing::warn!(
                    "alert history row {id} has a kind ({kind}) or level ({level}) this \
                     Headroom does not know; it is left out of the list"
                );
                return Ok(None);
            };
            Ok(Some(HistoryEntry {
                id,
                at_ms: r.get(1)?,
                kind,
                level,
                window_id: r.get(4)?,
                instance: r.get(5)?,
                threshold: r.get(6)?,
                value: r.get(7)?,
                resets_at_ms: r.get(8)?,
                title: r.get(9)?,
                body: r.get(10)?,
                delivery: DeliveryOutcome::parse(&r.get::<_, String>(11)?),
            }))
        })?;
        rows.filter_map(Result::transpose).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_reads_back_as_written() {
        let all = [
            DeliveryOutcome::Pending,
            DeliveryOutcome::Delivered,
            DeliveryOutcome::DeliveredWithoutButtons,
            DeliveryOutcome::QuietHours,
            DeliveryOutcome::Snoozed,
            DeliveryOutcome::NoServer,
            DeliveryOutcome::PrintedOnly(PrintedBy::WatchWithoutNotify),
            DeliveryOutcome::PrintedOnly(PrintedBy::ServeWithoutNotify),
            DeliveryOutcome::Failed("org.freedesktop.DBus.Error.NoReply".to_owned()),
        ];
        for outcome in all {
            assert_eq!(DeliveryOutcome::parse(&outcome.to_string()), outcome);
        }
        // The words the history has always stored.
        assert_eq!(
            DeliveryOutcome::NoServer.to_string(),
            "no notification server"
        );
        assert_eq!(
            serde_json::to_value(DeliveryOutcome::Failed("timed out".into())).unwrap(),
            "failed: timed out"
        );
        assert_eq!(
            DeliveryOutcome::parse("sent by pigeon"),
            DeliveryOutcome::Unrecognised("sent by pigeon".to_owned())
        );
    }

    /// A newer Headroom may write kinds, levels and outcomes this one cannot name: the list
    /// leaves those rows out (or shows the words as they are) instead of failing.
    #[test]
    fn rows_of_a_newer_headroom_neither_fail_the_list_nor_hide_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.sqlite3")).unwrap();
        ledger
            .write(|tx| {
                let mut insert = tx.prepare(
                    "INSERT INTO alert_history (at_ms, kind, level, title, body, delivery)
                     VALUES (?1, ?2, ?3, 't', 'b', ?4)",
                )?;
                insert.execute(params![1, "threshold", "warning", "delivered"])?;
                insert.execute(params![2, "solar_flare", "warning", "delivered"])?;
                insert.execute(params![3, "reset", "deafening", "delivered"])?;
                insert.execute(params![4, "reset", "info", "sent by pigeon"])?;
                Ok(())
            })
            .unwrap();
        let listed: Vec<_> = recent(&ledger, 10)
            .unwrap()
            .into_iter()
            .map(|h| (h.at_ms, h.kind, h.level, h.delivery))
            .collect();
        assert_eq!(
            listed,
            [
                (
                    4,
                    AlertKind::Reset,
                    Level::Info,
                    DeliveryOutcome::Unrecognised("sent by pigeon".to_owned())
                ),
                (
                    1,
                    AlertKind::Threshold,
                    Level::Warning,
                    DeliveryOutcome::Delivered
                ),
            ]
        );
    }
}
