//! Unit tests of the ledger as a whole (open, batches, repair, concurrent opening, privacy):
//! one file over 600 lines because they share one set of helpers and each test reads alone.

use std::collections::HashSet;

use super::repair::{move_aside, salvage};
use super::*;
use crate::pricing::PriceTable;
use crate::transcript::Tokens;

fn entry(key: i64, ts_ms: i64, input: u64) -> NewEntry<'static> {
    NewEntry {
        key,
        ts_ms,
        model: "claude-sonnet-4-5",
        project: "-home-dev-api",
        session: "s1",
        cwd: Some("/home/dev/api"),
        tokens: Tokens {
            input,
            ..Tokens::default()
        },
        cost_usd: None,
        calc_cost: input as f64 * 3e-6,
        us_only: false,
    }
}

#[test]
fn duplicates_are_stored_once_and_aggregates_follow() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    let mut batch = ledger.batch().unwrap();
    assert!(batch.insert(&entry(1, 1_000, 10)).unwrap());
    assert!(!batch.insert(&entry(1, 1_000, 10)).unwrap());
    assert!(batch.insert(&entry(2, BUCKET_MS + 5, 20)).unwrap());
    assert_eq!(batch.commit().unwrap(), 2);
    let mut batch = ledger.batch().unwrap();
    assert!(!batch.insert(&entry(2, BUCKET_MS + 5, 20)).unwrap());
    assert!(batch.insert(&entry(3, 2_000, 5)).unwrap());
    batch.commit().unwrap();

    let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
    assert_eq!(buckets.len(), 2);
    assert_eq!((buckets[0].start_ms, buckets[0].sums.input), (0, 15));
    assert_eq!(buckets[0].sums.entries, 2);
    assert_eq!(
        (buckets[1].start_ms, buckets[1].sums.input),
        (BUCKET_MS, 20)
    );
    let sessions = ledger.sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].sums.input, 35);
    assert_eq!(
        (sessions[0].first_ms, sessions[0].last_ms),
        (1_000, BUCKET_MS + 5)
    );
    assert_eq!(ledger.entry_count().unwrap(), 3);

    // Rebuilding from entries gives the same aggregates as the incremental path.
    ledger.rebuild_aggregates().unwrap();
    assert_eq!(ledger.buckets(i64::MIN, i64::MAX).unwrap(), buckets);
    assert_eq!(ledger.sessions().unwrap(), sessions);
}

#[test]
fn keys_stored_by_another_process_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    let mut a = Ledger::open(&path).unwrap();
    let mut b = Ledger::open(&path).unwrap();
    // b loads (and caches) the key array that key 1 falls in.
    let mut batch = b.batch().unwrap();
    assert!(batch.insert(&entry(2, 1_000, 1)).unwrap());
    batch.commit().unwrap();
    let mut batch = a.batch().unwrap();
    assert!(batch.insert(&entry(1, 1_000, 10)).unwrap());
    batch.commit().unwrap();
    let mut batch = b.batch().unwrap();
    assert!(
        !batch.insert(&entry(1, 1_000, 10)).unwrap(),
        "a's key must be seen"
    );
    batch.commit().unwrap();
    assert_eq!(b.entry_count().unwrap(), 2);
}

#[test]
fn keys_of_a_rolled_back_batch_are_not_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    {
        let mut batch = ledger.batch().unwrap();
        assert!(batch.insert(&entry(1, 1_000, 10)).unwrap());
    }
    let mut batch = ledger.batch().unwrap();
    assert!(batch.insert(&entry(1, 1_000, 10)).unwrap());
    batch.commit().unwrap();
    assert_eq!(ledger.entry_count().unwrap(), 1);
    // And the keys survive a reopen.
    drop(ledger);
    let mut ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    let mut batch = ledger.batch().unwrap();
    assert!(!batch.insert(&entry(1, 1_000, 10)).unwrap());
}

#[test]
fn an_uncommitted_batch_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    let mut ledger = Ledger::open(&path).unwrap();
    {
        let mut batch = ledger.batch().unwrap();
        batch.insert(&entry(1, 1_000, 10)).unwrap();
        let state = FileState {
            device: 1,
            inode: 2,
            size: 3,
            offset: 3,
            head_hash: 4,
            bad_lines: 0,
        };
        batch.set_file_state(Path::new("/x.jsonl"), &state).unwrap();
    }
    assert_eq!(ledger.entry_count().unwrap(), 0);
    assert!(ledger.file_states().unwrap().is_empty());
}

#[test]
fn foreign_key_checks_are_back_on_after_a_batch_committed_or_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    let checks_on = |ledger: &Ledger| -> bool {
        ledger
            .conn
            .pragma_query_value(None, "foreign_keys", |row| row.get(0))
            .unwrap()
    };
    let mut batch = ledger.batch().unwrap();
    batch.insert(&entry(1, 1_000, 10)).unwrap();
    batch.commit().unwrap();
    assert!(checks_on(&ledger));
    {
        let mut batch = ledger.batch().unwrap();
        batch.insert(&entry(2, 2_000, 10)).unwrap();
    }
    assert!(checks_on(&ledger));
    // And they are really enforced: a response of a model that does not exist is refused.
    let orphan = ledger.conn.execute(
        "INSERT INTO entries (key, ts, model, session, input, output, cache_write,
            cache_write_5m, cache_write_1h, cache_read, calc_cost)
         VALUES (9, 9, 999, 999, 0, 0, 0, 0, 0, 0, 0)",
        [],
    );
    assert!(orphan.is_err(), "{orphan:?}");
    assert_eq!(ledger.entry_count().unwrap(), 1);
}

#[test]
fn reopening_keeps_history_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    {
        let mut ledger = Ledger::open(&path).unwrap();
        let mut batch = ledger.batch().unwrap();
        batch.insert(&entry(7, 1_000, 10)).unwrap();
        batch.commit().unwrap();
    }
    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(ledger.entry_count().unwrap(), 1);
    ledger.check().unwrap();
}

#[test]
fn a_newer_schema_is_refused_not_clobbered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    drop(Ledger::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(
        Ledger::open(&path),
        Err(LedgerError::TooNew { found: 99, .. })
    ));
}

#[test]
fn a_file_that_is_not_a_database_is_reported_as_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let err = Ledger::open(&path).unwrap_err();
    assert!(matches!(err, LedgerError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("headroom ledger rebuild"));
}

#[test]
fn rebuilding_a_damaged_ledger_keeps_it_aside_and_salvages_what_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let (ledger, rebuilt) = rebuild(&path, 42).unwrap();
    let Rebuilt::Replaced { moved_to, salvaged } = rebuilt else {
        panic!("expected a replacement");
    };
    assert_eq!(salvaged, 0);
    assert_eq!(std::fs::read(&moved_to).unwrap(), vec![b'x'; 8192]);
    assert_eq!(ledger.entry_count().unwrap(), 0);

    // A sound ledger is refreshed in place, history intact.
    let mut ledger = ledger;
    let mut batch = ledger.batch().unwrap();
    batch.insert(&entry(1, 1_000, 10)).unwrap();
    batch.commit().unwrap();
    drop(ledger);
    let (ledger, rebuilt) = rebuild(&path, 43).unwrap();
    assert_eq!(rebuilt, Rebuilt::Refreshed { implausible: 0 });
    assert_eq!(ledger.entry_count().unwrap(), 1);
}

#[test]
fn a_us_only_response_keeps_its_premium_through_a_reprice_and_a_salvage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    let mut ledger = Ledger::open(&path).unwrap();
    let mut batch = ledger.batch().unwrap();
    for (key, us_only) in [(1, false), (2, true)] {
        let mut e = entry(key, 1_000 * key, 1_000_000);
        e.model = "claude-opus-4-6";
        e.us_only = us_only;
        batch.insert(&e).unwrap();
    }
    batch.commit().unwrap();
    assert!(ledger.reprice(&PriceTable::embedded()).unwrap());
    fn column<T: rusqlite::types::FromSql>(ledger: &Ledger, name: &str) -> Vec<T> {
        let sql = format!("SELECT {name} FROM entries ORDER BY key");
        let mut stmt = ledger.conn.prepare(&sql).unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }
    // 1M input tokens of Opus 4.6: $5, and $5.50 US-only (1.1x).
    let costs: Vec<f64> = column(&ledger, "calc_cost");
    assert_eq!(costs.len(), 2);
    assert!((costs[0] - 5.0).abs() < 1e-9, "{costs:?}");
    assert!((costs[1] - 5.5).abs() < 1e-9, "{costs:?}");
    drop(ledger);

    let mut new = Ledger::open(&dir.path().join("new.sqlite3")).unwrap();
    assert_eq!(salvage(&path, &mut new).unwrap(), 2);
    assert_eq!(column::<bool>(&new, "us_only"), [false, true]);
}

#[test]
fn salvage_copies_history_from_an_old_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let old_path = dir.path().join("old.sqlite3");
    {
        let mut old = Ledger::open(&old_path).unwrap();
        let mut batch = old.batch().unwrap();
        batch.insert(&entry(1, 1_000, 10)).unwrap();
        batch.insert(&entry(2, 2_000, 20)).unwrap();
        batch.commit().unwrap();
    }
    let mut new = Ledger::open(&dir.path().join("new.sqlite3")).unwrap();
    assert_eq!(salvage(&old_path, &mut new).unwrap(), 2);
    assert_eq!(new.sessions().unwrap()[0].sums.input, 30);
}

#[test]
fn repricing_recomputes_costs_and_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    let mut batch = ledger.batch().unwrap();
    let mut e = entry(1, 1_000, 100_000);
    e.calc_cost = 99.0;
    batch.insert(&e).unwrap();
    batch.commit().unwrap();
    assert!(ledger.reprice(&PriceTable::embedded()).unwrap());
    assert!(!ledger.reprice(&PriceTable::embedded()).unwrap());
    let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
    assert!((buckets[0].sums.calc_cost - 0.3).abs() < 1e-9);
}

#[test]
fn many_processes_opening_a_new_ledger_at_once_all_succeed() {
    // Threads with their own connections contend for SQLite's file locks exactly as
    // processes do. Several rounds: the race is a matter of timing.
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        let start = std::sync::Arc::new(std::sync::Barrier::new(8));
        let openers: Vec<_> = (0..8)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    Ledger::open(&path).map(|_| ())
                })
            })
            .collect();
        for opener in openers {
            let result = opener.join().unwrap();
            assert!(result.is_ok(), "round {round}: {result:?}");
        }
        let ledger = Ledger::open(&path).unwrap();
        let version: i64 = ledger
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(usize::try_from(version).unwrap(), MIGRATIONS.len());
    }
}

#[test]
fn opening_a_new_ledger_waits_for_another_opener_switching_it_to_wal() {
    // Another process in the middle of its first open of the same new ledger holds the
    // write lock of the still rollback-journal file (as its WAL switch or migration
    // does); this open must wait for it, not fail at once, and give up after its wait.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let short = Ledger::open_waiting(&path, Duration::from_millis(100));
    assert!(
        matches!(short, Err(LedgerError::Locked { .. })),
        "{short:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "gave up at once"
    );

    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
    });
    let ledger = Ledger::open(&path);
    release.join().unwrap();
    let ledger = ledger.unwrap();
    let mode: String = ledger
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(
        applied_migrations(&ledger.conn, &path).unwrap(),
        MIGRATIONS.len()
    );
}

fn tokens(n: u64) -> Tokens {
    Tokens {
        input: n,
        output: n,
        cache_write: n,
        cache_write_5m: n,
        cache_write_1h: 0,
        cache_read: n,
    }
}

#[test]
fn huge_token_counts_neither_overflow_nor_poison_the_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    let mut batch = ledger.batch().unwrap();
    for (key, n) in [(1, u64::MAX), (2, 1 << 63), (3, MAX_TOKENS_PER_FIELD + 1)] {
        let mut e = entry(key, 1_000, 0);
        e.tokens = tokens(n);
        assert!(!batch.insert(&e).unwrap(), "{n} tokens is not a response");
    }
    let mut e = entry(4, 2_000, 0);
    e.tokens = tokens(MAX_TOKENS_PER_FIELD);
    assert!(batch.insert(&e).unwrap());
    assert!(batch.insert(&entry(5, 3_000, 10)).unwrap());
    batch.commit().unwrap();

    let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
    assert_eq!(buckets.len(), 1);
    assert_eq!(buckets[0].sums.entries, 2);
    assert_eq!(buckets[0].sums.input, MAX_TOKENS_PER_FIELD + 10);
    let kind: String = ledger
        .conn
        .query_row("SELECT typeof(input) FROM quarter_hours", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kind, "integer");
    ledger.rebuild_aggregates().unwrap();
    assert_eq!(ledger.buckets(i64::MIN, i64::MAX).unwrap(), buckets);
}

#[test]
fn sums_saturate() {
    let mut a = Sums {
        entries: u64::MAX,
        input: u64::MAX - 1,
        output: u64::MAX,
        ..Sums::default()
    };
    a.add(&a.clone());
    assert_eq!(
        (a.entries, a.input, a.output),
        (u64::MAX, u64::MAX, u64::MAX)
    );
    assert_eq!(a.total_tokens(), u64::MAX);
}

/// What an older Headroom left after two responses of 9 * 10^18 input tokens in one
/// quarter hour: the entries as i64, the aggregates turned REAL by `input + excluded.input`.
fn poison_the_old_way(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "INSERT INTO entries (key, ts, model, session, input, output, cache_write,
            cache_write_5m, cache_write_1h, cache_read, cost_usd, calc_cost)
         SELECT 100 + n, 1500, model, session, 9000000000000000000, 0, 0, 0, 0, 0, NULL, 0
         FROM entries, (SELECT 1 AS n UNION SELECT 2) LIMIT 2;
         UPDATE quarter_hours SET input = input + 9000000000000000000;
         UPDATE quarter_hours SET input = input + 9000000000000000000;
         UPDATE session_totals SET input = input + 9000000000000000000;
         UPDATE session_totals SET input = input + 9000000000000000000;",
    )
    .unwrap();
    let kind: String = conn
        .query_row("SELECT typeof(input) FROM quarter_hours", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kind, "real", "the poisoned ledger as the old code made it");
}

fn a_sound_ledger_with_10_input_tokens(path: &Path) {
    let mut ledger = Ledger::open(path).unwrap();
    let mut batch = ledger.batch().unwrap();
    batch.insert(&entry(1, 1_000, 10)).unwrap();
    batch.commit().unwrap();
}

#[test]
fn a_ledger_poisoned_by_an_older_version_can_be_read_and_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    a_sound_ledger_with_10_input_tokens(&path);
    poison_the_old_way(&path);
    let mut ledger = Ledger::open(&path).unwrap();
    let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
    assert!(buckets[0].sums.input > 1 << 63, "read, although wrong");
    assert!(ledger.sessions().is_ok());
    // A later batch adding to that bucket saturates to an integer instead of failing.
    let mut batch = ledger.batch().unwrap();
    batch.insert(&entry(2, 1_200, 5)).unwrap();
    batch.commit().unwrap();
    let (kind, input): (String, i64) = ledger
        .conn
        .query_row("SELECT typeof(input), input FROM quarter_hours", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((kind.as_str(), input), ("integer", i64::MAX));
}

#[test]
fn repricing_a_poisoned_ledger_recovers_sane_totals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    a_sound_ledger_with_10_input_tokens(&path);
    poison_the_old_way(&path);
    let mut ledger = Ledger::open(&path).unwrap();
    assert!(ledger.reprice(&PriceTable::embedded()).unwrap());
    let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
    assert_eq!((buckets[0].sums.entries, buckets[0].sums.input), (1, 10));
    assert_eq!(ledger.sessions().unwrap()[0].sums.input, 10);
}

#[test]
fn rebuilding_a_poisoned_ledger_deletes_the_impossible_responses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    a_sound_ledger_with_10_input_tokens(&path);
    poison_the_old_way(&path);
    let (ledger, rebuilt) = rebuild(&path, 42).unwrap();
    assert_eq!(rebuilt, Rebuilt::Refreshed { implausible: 2 });
    assert_eq!(ledger.entry_count().unwrap(), 1);
    let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
    assert_eq!((buckets[0].sums.entries, buckets[0].sums.input), (1, 10));
    assert_eq!(ledger.sessions().unwrap()[0].sums.input, 10);
}

#[test]
fn rebuild_refuses_while_another_process_has_the_ledger_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    a_sound_ledger_with_10_input_tokens(&path);
    let peer = Ledger::open(&path).unwrap();
    let err = rebuild(&path, 42).unwrap_err();
    assert!(matches!(err, LedgerError::InUse { .. }), "{err:?}");
    assert!(err.to_string().contains("quit it"), "{err}");
    assert_eq!(peer.file_states().unwrap().len(), 0);
    drop(peer);
    // And while a rebuild runs, others wait for it instead of opening a half-made ledger.
    let (rebuilding, _) = rebuild(&path, 42).unwrap();
    let err = Ledger::open_waiting(&path, Duration::from_millis(20)).unwrap_err();
    assert!(matches!(err, LedgerError::Locked { .. }), "{err:?}");
    drop(rebuilding);
    assert_eq!(Ledger::open(&path).unwrap().entry_count().unwrap(), 1);
}

#[test]
fn rebuild_moves_nothing_when_the_ledger_is_not_damaged_but_too_new() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    a_sound_ledger_with_10_input_tokens(&path);
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = rebuild(&path, 42).unwrap_err();
    assert!(matches!(err, LedgerError::TooNew { .. }), "{err:?}");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("damaged")), "{names:?}");
    let conn = Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1, "history kept in place");
}

#[test]
fn damaged_ledgers_are_moved_under_names_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    let mut moved = Vec::new();
    for attempt in 0..2u8 {
        std::fs::write(&path, vec![b'x' + attempt; 8192]).unwrap();
        // The same second both times.
        let (ledger, rebuilt) = rebuild(&path, 42).unwrap();
        drop(ledger);
        let Rebuilt::Replaced { moved_to, .. } = rebuilt else {
            panic!("expected a replacement: {rebuilt:?}");
        };
        moved.push((attempt, moved_to));
    }
    assert_ne!(moved[0].1, moved[1].1);
    for (attempt, moved_to) in &moved {
        assert_eq!(std::fs::read(moved_to).unwrap(), vec![b'x' + attempt; 8192]);
    }
    assert_eq!(Ledger::open(&path).unwrap().entry_count().unwrap(), 0);
}

#[test]
fn the_side_files_move_with_the_database_and_no_name_is_reused() {
    // (Opening a damaged database lets SQLite fold or drop its WAL on close, so the
    // side files are put here by hand.)
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    let mut moved = Vec::new();
    for attempt in 0..3u8 {
        for (suffix, len) in [("", 50), ("-wal", 100), ("-shm", 10)] {
            std::fs::write(side_file(&path, suffix), vec![attempt; len]).unwrap();
        }
        moved.push(move_aside(&path, 42).unwrap());
    }
    let names: HashSet<&PathBuf> = moved.iter().collect();
    assert_eq!(names.len(), 3, "{moved:?}");
    for (attempt, moved_to) in (0u8..).zip(&moved) {
        for (suffix, len) in [("", 50), ("-wal", 100), ("-shm", 10)] {
            let file = side_file(moved_to, suffix);
            assert_eq!(std::fs::read(&file).unwrap(), vec![attempt; len]);
            assert!(!side_file(&path, suffix).exists());
        }
    }
    // A WAL left alone by a crash between two renames still claims its name.
    std::fs::write(side_file(&path, ".damaged-43-wal"), b"wal").unwrap();
    std::fs::write(&path, b"db").unwrap();
    let next = move_aside(&path, 43).unwrap();
    assert_eq!(next, side_file(&path, ".damaged-43-1"));
}

#[cfg(unix)]
#[test]
fn the_folder_and_the_ledger_files_are_private_and_old_installs_are_mended() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let set =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("data/headroom");
    let path = folder.join("ledger.sqlite3");
    let files = ["", "-wal", "-shm", ".lock"].map(|s| side_file(&path, s));

    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(mode(&folder), 0o700);
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    drop(ledger);

    // An install made before: 0755 and 0644, with a connection open so that the WAL
    // and shared-memory files stay.
    let old = Connection::open(&path).unwrap();
    old.execute_batch("INSERT INTO meta VALUES ('k', 'v')")
        .unwrap();
    set(&folder, 0o755);
    for file in &files {
        set(file, 0o644);
    }
    let _ledger = Ledger::open(&path).unwrap();
    assert_eq!(mode(&folder), 0o700);
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    drop(old);
}

/// A response's counts, with `output` its only growing field (as in a streaming snapshot).
fn streaming(key: i64, ts_ms: i64, output: u64) -> NewEntry<'static> {
    NewEntry {
        tokens: Tokens {
            input: 10,
            output,
            cache_read: 1_000,
            ..Tokens::default()
        },
        calc_cost: 10.0 * 3e-6 + output as f64 * 15e-6 + 1_000.0 * 0.3e-6,
        ..entry(key, ts_ms, 10)
    }
}

#[test]
fn a_later_row_with_larger_usage_updates_the_stored_response_and_its_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    let mut batch = ledger.batch().unwrap();
    batch.insert(&streaming(1, 1_000, 2)).unwrap();
    batch.insert(&streaming(2, 5_000, 50)).unwrap();
    assert_eq!(batch.commit().unwrap(), 2);

    // The final row arrives in a later batch, a second later, and another snapshot too.
    let mut batch = ledger.batch().unwrap();
    assert!(!batch.insert(&streaming(1, 2_000, 300)).unwrap());
    assert!(!batch.insert(&streaming(1, 2_500, 40)).unwrap(), "smaller");
    assert!(
        !batch.insert(&streaming(2, 6_000, 50)).unwrap(),
        "identical"
    );
    assert_eq!(batch.updated(), 1);
    batch.commit().unwrap();

    let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
    assert_eq!(buckets.len(), 1);
    let sums = buckets[0].sums;
    assert_eq!((sums.entries, sums.input, sums.output), (2, 20, 350));
    assert!(
        (sums.calc_cost - streaming(1, 0, 300).calc_cost - streaming(2, 0, 50).calc_cost).abs()
            < 1e-12
    );
    // The response keeps the time of its first row.
    assert_eq!((buckets[0].first_ms, buckets[0].last_ms), (1_000, 5_000));
    let sessions = ledger.sessions().unwrap();
    assert_eq!(
        (sessions[0].sums.entries, sessions[0].sums.output),
        (2, 350)
    );
    assert_eq!(ledger.entry_count().unwrap(), 2);
    // The incremental path agrees with a rebuild from the entries (costs: but for the
    // rounding of a subtraction).
    ledger.rebuild_aggregates().unwrap();
    let rounded = |mut s: Sums| {
        for cost in [&mut s.calc_cost, &mut s.auto_cost, &mut s.display_cost] {
            *cost = (*cost * 1e9).round();
        }
        s
    };
    let rebuilt = ledger.buckets(i64::MIN, i64::MAX).unwrap();
    assert_eq!(rebuilt.len(), 1);
    assert_eq!(rounded(rebuilt[0].sums), rounded(sums));
    assert_eq!((rebuilt[0].first_ms, rebuilt[0].last_ms), (1_000, 5_000));
    let rebuilt = ledger.sessions().unwrap();
    assert_eq!(rounded(rebuilt[0].sums), rounded(sessions[0].sums));
}

#[test]
fn rows_of_one_response_in_one_batch_keep_the_superseding_usage() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    let mut batch = ledger.batch().unwrap();
    let mut rows = [
        streaming(7, 1_000, 1),
        streaming(7, 1_100, 120),
        streaming(7, 1_200, 9),
    ];
    assert_eq!(batch.insert_many(&mut rows).unwrap(), 1);
    batch.commit().unwrap();
    let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
    assert_eq!((buckets[0].sums.entries, buckets[0].sums.output), (1, 120));
    assert_eq!(buckets[0].first_ms, 1_000);
}

#[test]
fn a_ledger_from_before_entry_ids_updates_its_old_responses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    {
        // A ledger as version 8 left it: keys as bare arrays, one file read to its end.
        let conn = rusqlite::Connection::open(&path).unwrap();
        for migration in &schema::MIGRATIONS[..8] {
            conn.execute_batch(migration).unwrap();
        }
        conn.pragma_update(None, "user_version", 8).unwrap();
        conn.execute_batch(
            "INSERT INTO models VALUES (1, 'claude-sonnet-4-5');
             INSERT INTO sessions VALUES (1, '-home-dev-api', 's1', NULL);
             INSERT INTO entries (id, key, ts, model, session, input, output, cache_write,
                 cache_write_5m, cache_write_1h, cache_read, cost_usd, calc_cost)
                 VALUES (1, 1, 1000, 1, 1, 10, 2, 0, 0, 0, 1000, NULL, 0.00033);
             INSERT INTO quarter_hours VALUES (0, 1, 1, 10, 2, 0, 1000, 0.00033, 0.00033, 0,
                 1000, 1000);
             INSERT INTO session_totals VALUES (1, 1, 1, 10, 2, 0, 1000, 0.00033, 0.00033, 0,
                 1000, 1000);
             INSERT INTO files VALUES ('/t/s1.jsonl', 1, 1, 100, 100, 0, 0);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO key_sets VALUES (0, ?1)",
            [1i64.to_le_bytes().to_vec()],
        )
        .unwrap();
    }
    let mut ledger = Ledger::open(&path).unwrap();
    // Every transcript is read again from its start, so old snapshots get their final usage.
    assert!(ledger.file_states().unwrap().is_empty());
    let mut batch = ledger.batch().unwrap();
    assert!(!batch.insert(&streaming(1, 1_500, 300)).unwrap());
    assert!(batch.insert(&streaming(2, 1_600, 5)).unwrap());
    batch.commit().unwrap();
    let buckets = ledger.buckets(i64::MIN, i64::MAX).unwrap();
    assert_eq!((buckets[0].sums.entries, buckets[0].sums.output), (2, 305));
    assert_eq!(ledger.entry_count().unwrap(), 2);
    // The arrays built from `entries` were saved: another connection finds both keys.
    drop(ledger);
    let mut ledger = Ledger::open(&path).unwrap();
    let mut batch = ledger.batch().unwrap();
    assert!(!batch.insert(&streaming(2, 1_600, 5)).unwrap());
    assert!(!batch.insert(&streaming(1, 1_600, 300)).unwrap());
    assert_eq!(batch.updated(), 0);
}
