//! An ingest sharing the ledger with other writers, as a second `headroom daily` beside the
//! tray's ingest does: it waits while they make progress however long that takes, and gives
//! up only on a lock held with no progress for six of its busy timeouts.
//!
//! The other writer is a second connection in this process, which SQLite treats as it treats
//! another process. Its lock is held 40 ms at a time with microseconds between (as an
//! ingester committing batch after batch does), and the ingest's busy timeout is 100 ms: SQLite
//! gives no waiter a turn, so a waiter that only counts on its busy timeout fails.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use headroom_core::ingest::{discover, ingest, IngestError};
use headroom_core::ledger::{Ledger, LedgerError};
use headroom_core::pricing::PriceTable;

const WAIT: Duration = Duration::from_millis(100);

fn transcripts(root: &Path) {
    let dir = root.join("projects/-home-dev-api");
    fs::create_dir_all(&dir).unwrap();
    let lines: String = (0..50)
        .map(|i| {
            format!(
                r#"{{"cwd":"/home/dev/api","sessionId":"s","message":{{"id":"m{i}","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","usage":{{"input_tokens":3,"output_tokens":{i}}}}},"requestId":"r{i}","type":"assistant","timestamp":"2026-11-20T10:00:00.000Z"}}"#
            ) + "\n"
        })
        .collect();
    fs::write(dir.join("s.jsonl"), lines).unwrap();
}

/// Another writer on `path`: while `running`, holds the write lock `hold` at a time, commits
/// a change when `commits`, and takes the lock again after `gap`. It holds the lock before
/// this returns.
fn other_writer(
    path: &Path,
    hold: Duration,
    gap: Duration,
    commits: bool,
    running: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    std::thread::spawn(move || {
        let mut rounds = 0;
        loop {
            std::thread::sleep(hold);
            if commits {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('other', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [rounds.to_string()],
                )
                .unwrap();
            }
            conn.execute_batch("COMMIT").unwrap();
            rounds += 1;
            if !running.load(Ordering::SeqCst) {
                return rounds;
            }
            std::thread::sleep(gap);
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        }
    })
}

#[test]
fn an_ingest_waits_for_another_writer_committing_batch_after_batch() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    transcripts(&root);
    let path = dir.path().join("ledger.sqlite3");
    let mut ledger = Ledger::open_waiting(&path, WAIT).unwrap();

    let running = Arc::new(AtomicBool::new(true));
    let other = other_writer(
        &path,
        Duration::from_millis(40),
        Duration::ZERO,
        true,
        running.clone(),
    );
    let stop = {
        let running = running.clone();
        std::thread::spawn(move || {
            // Ten busy timeouts of the ingest.
            std::thread::sleep(WAIT * 10);
            running.store(false, Ordering::SeqCst);
        })
    };
    let files = discover(std::slice::from_ref(&root)).unwrap();
    let report = ingest(&mut ledger, &files, &PriceTable::embedded());
    stop.join().unwrap();
    let rounds = other.join().unwrap();
    let report = report.expect("the ingest waited for the other writer");
    assert_eq!(report.new_entries, 50);
    assert!(
        rounds >= 10,
        "the other writer held the lock {rounds} times"
    );
}

#[test]
fn an_ingest_gives_up_on_a_lock_held_without_progress() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    transcripts(&root);
    let path = dir.path().join("ledger.sqlite3");
    let mut ledger = Ledger::open_waiting(&path, WAIT).unwrap();

    // Holds the lock for 3 s, commits nothing: the ingest gives up after six of its busy
    // timeouts (0.6 s).
    let running = Arc::new(AtomicBool::new(false));
    let other = other_writer(
        &path,
        Duration::from_secs(3),
        Duration::ZERO,
        false,
        running,
    );
    let started = Instant::now();
    let files = discover(std::slice::from_ref(&root)).unwrap();
    let result = ingest(&mut ledger, &files, &PriceTable::embedded());
    let took = started.elapsed();
    other.join().unwrap();
    assert!(
        matches!(result, Err(IngestError::Ledger(LedgerError::Locked { .. }))),
        "{result:?}"
    );
    assert!(took >= WAIT * 6, "gave up after {took:?}");
    assert!(took < Duration::from_secs(2), "waited {took:?}");
}

#[test]
fn recording_unpriced_models_does_not_fail_when_another_process_commits_meanwhile() {
    // A transaction that reads, then writes, started deferred gets SQLITE_BUSY_SNAPSHOT at
    // once (no busy timeout) when another connection commits between the two.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    let mut ledger = Ledger::open(&path).unwrap();
    let running = Arc::new(AtomicBool::new(true));
    // Short commits with room between them: no waiter starves, only a deferred read-then-write
    // meets a commit in its middle.
    let other = other_writer(
        &path,
        Duration::ZERO,
        Duration::from_micros(200),
        true,
        running.clone(),
    );
    let prices = PriceTable::embedded();
    let mut failures = Vec::new();
    for _ in 0..500 {
        if let Err(e) = ledger.record_unpriced(&prices) {
            failures.push(e.to_string());
        }
    }
    running.store(false, Ordering::SeqCst);
    other.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        failures.first()
    );
}
