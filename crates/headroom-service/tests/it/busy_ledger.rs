//! The refresh task meets a ledger that another process keeps busy past its patience (a
//! cold ingest, a `headroom ledger rebuild` check): the real task on a real ledger, the write
//! lock held by another connection, the views read from its `watch` channel. No view shows
//! the lock as an error, and once the lock is gone the task reads the transcripts again on its
//! own (no file changes, no request) and the figures appear.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{recording_hooks, service_env};
use headroom_core::account::MemoryStore;
use headroom_core::ledger::{Ledger, BUSY_TIMEOUT, PATIENCE};
use headroom_service::{Published, Role};
use headroom_tests::transcript_line;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[test]
fn a_ledger_busy_past_the_timeout_is_retried_and_its_figures_appear() {
    if headroom_tests::ran_in_own_process(
        "busy_ledger::a_ledger_busy_past_the_timeout_is_retried_and_its_figures_appear",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let claude = dir.path().join("claude");
    let project = claude.join("projects/-home-dev-app");
    std::fs::create_dir_all(&project).unwrap();
    // Three responses in the last half hour: the current block holds them all.
    let now = now_ms();
    let lines: String = (0..3)
        .map(|i| transcript_line(now - (30 - 10 * i) * 60_000, usize::try_from(i).unwrap()))
        .collect();
    std::fs::write(project.join("s1.jsonl"), lines).unwrap();
    let env = service_env(dir.path(), None, Role::Tray);

    // Another process's long write transaction, from before the task starts until a round
    // has said the ledger was busy: the ingest waits patiently (`Ledger::patiently`, PATIENCE
    // busy timeouts with no commit from anyone, half a minute) before it gives up, so a
    // shorter hold would never reach the retry this test is about.
    let mut other = Ledger::open(&env.edge.state.ledger()).unwrap();
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let longest_hold = BUSY_TIMEOUT * (PATIENCE + 6);
    let holder = std::thread::spawn(move || {
        let batch = other.batch().unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(longest_hold);
        drop(batch);
    });
    locked_rx.recv().unwrap();

    let (hooks, rx, _) = recording_hooks();
    let _handle = headroom_service::start(env, Arc::new(MemoryStore::default()), hooks);

    let mut views: Vec<Arc<Published>> = Vec::new();
    let deadline = Instant::now() + longest_hold + Duration::from_secs(30);
    let figures = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let view = rx.recv_timeout(left).unwrap_or_else(|e| {
            panic!(
                "no figures after the lock was released ({e}); views: {:#?}",
                views.iter().map(|v| &v.snapshot).collect::<Vec<_>>()
            )
        });
        for error in &view.snapshot.errors {
            let lower = error.to_lowercase();
            assert!(
                !lower.contains("lock") && !lower.contains("ledger"),
                "a busy ledger shown as an error: {error}"
            );
        }
        if let Some(block) = view.snapshot.local_block.clone() {
            break block;
        }
        if view.busy.is_some() {
            // The round said so: the other process ends its transaction.
            let _ = release_tx.send(());
        }
        views.push(view);
    };
    holder.join().unwrap();
    // The round before the figures met the lock and said so: the retry is what brought them.
    assert!(
        views.iter().any(|v| v.busy.is_some()),
        "no round met the busy ledger; views: {:#?}",
        views
            .iter()
            .map(|v| (&v.busy, &v.snapshot.errors))
            .collect::<Vec<_>>()
    );
    assert_eq!(figures.total_tokens, 3 * 1_500);
}
