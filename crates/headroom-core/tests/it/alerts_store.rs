//! The alert store on a real ledger file: restarts never repeat an alert, two processes
//! sharing a ledger never both announce one, history lists newest first with the delivery
//! outcome, and an unreadable state row is survived.

use crate::support_alerts::*;
use headroom_core::alerts::store::{self, DeliveryOutcome};
use headroom_core::alerts::{AlertKind, Delivery};
use headroom_core::ledger::Ledger;
use headroom_core::settings::AlertSettings;

fn at_91(now: i64) -> headroom_core::snapshot::UsageSnapshot {
    snapshot(
        now,
        vec![session(91.0, now + HOUR, now)],
        Some(extra(Some(false), None, None, now)),
    )
}

#[test]
fn a_restart_never_repeats_an_alert_and_history_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    let settings = AlertSettings::default();
    {
        let ledger = Ledger::open(&path).unwrap();
        let rec = store::evaluate_and_record(&ledger, &at_91(T0), &settings, T0, utc()).unwrap();
        assert_eq!(rec.evaluation.alerts.len(), 2);
        assert_eq!(rec.ids.len(), 2);
        assert!(matches!(rec.evaluation.delivery, Delivery::Deliver { .. }));
        store::record_delivery(&ledger, &rec.ids, &DeliveryOutcome::Delivered).unwrap();
    }
    // A new process: the same figures say nothing.
    let ledger = Ledger::open(&path).unwrap();
    let rec =
        store::evaluate_and_record(&ledger, &at_91(T0 + MIN), &settings, T0 + MIN, utc()).unwrap();
    assert!(rec.evaluation.alerts.is_empty());
    assert!(rec.ids.is_empty());

    // Later: the limit, recorded as suppressed while snoozed.
    let snoozed = AlertSettings {
        snoozed_until_ms: Some(T0 + 2 * HOUR),
        ..AlertSettings::default()
    };
    let mut s = at_91(T0 + 2 * MIN);
    s.windows[0].utilization = 100.0;
    s.session = Some(s.windows[0].clone());
    let rec = store::evaluate_and_record(&ledger, &s, &snoozed, T0 + 2 * MIN, utc()).unwrap();
    assert_eq!(rec.evaluation.alerts.len(), 1);

    let history = store::recent(&ledger, 10).unwrap();
    let rows: Vec<_> = history
        .iter()
        .map(|h| (h.kind, h.threshold, h.delivery.clone(), h.at_ms))
        .collect();
    assert_eq!(
        rows,
        [
            (
                AlertKind::Threshold,
                Some(100),
                DeliveryOutcome::Snoozed,
                T0 + 2 * MIN
            ),
            (
                AlertKind::Threshold,
                Some(90),
                DeliveryOutcome::Delivered,
                T0
            ),
            (
                AlertKind::ExtraUsageTrap,
                Some(90),
                DeliveryOutcome::Delivered,
                T0
            ),
        ]
    );
    assert_eq!(history[2].title, "Session at 91 % and Extra Usage is off");
    assert_eq!(history[1].window_id.as_deref(), Some("session"));
    assert_eq!(history[1].value, Some(91.0));
    assert_eq!(store::recent(&ledger, 1).unwrap().len(), 1);
    assert_eq!(
        store::load_state(&ledger).unwrap().windows["session"].threshold,
        Some(100)
    );
}

#[test]
fn two_processes_sharing_a_ledger_announce_each_alert_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    Ledger::open(&path).unwrap();
    let settings = AlertSettings::default();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            let settings = settings.clone();
            std::thread::spawn(move || {
                let ledger = Ledger::open(&path).unwrap();
                let rec =
                    store::evaluate_and_record(&ledger, &at_91(T0), &settings, T0, utc()).unwrap();
                rec.evaluation.alerts.len()
            })
        })
        .collect();
    let mut counts: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    counts.sort_unstable();
    assert_eq!(counts, [0, 0, 0, 2]);
    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(store::recent(&ledger, 100).unwrap().len(), 2);
}

#[test]
fn an_unreadable_state_row_is_replaced_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    let ledger = Ledger::open(&path).unwrap();
    store::evaluate_and_record(&ledger, &at_91(T0), &AlertSettings::default(), T0, utc()).unwrap();
    drop(ledger);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE alert_state SET state = '{not json' WHERE id = 1",
        [],
    )
    .unwrap();
    drop(conn);
    let ledger = Ledger::open(&path).unwrap();
    // Fresh state: the alert is said again (better than never), and the row is sound again.
    let rec = store::evaluate_and_record(
        &ledger,
        &at_91(T0 + MIN),
        &AlertSettings::default(),
        T0 + MIN,
        utc(),
    )
    .unwrap();
    assert_eq!(rec.evaluation.alerts[0].kind, AlertKind::ExtraUsageTrap);
    assert!(store::load_state(&ledger)
        .unwrap()
        .windows
        .contains_key("session"));
    // History is intact.
    assert_eq!(store::recent(&ledger, 100).unwrap().len(), 4);
}
