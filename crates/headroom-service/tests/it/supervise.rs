//! The refresh task under supervision, with no display: the real task on a real ledger, a
//! panic injected with the test-only fault hook, and the views it publishes read from its
//! `watch` channel. The panic is published with the last view at once ("restarting at"),
//! the task comes back after the first back-off ("restarted at") and answers requests again.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{recording_hooks, service_env};
use headroom_core::account::MemoryStore;
use headroom_service::{supervise, Published, Request, Role};

fn next(rx: &mpsc::Receiver<Arc<Published>>, what: &str) -> Arc<Published> {
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("no view published ({what}): {e}"))
}

#[test]
fn a_panicking_round_is_published_and_the_task_restarts() {
    if headroom_tests::ran_in_own_process(
        "supervise::a_panicking_round_is_published_and_the_task_restarts",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let claude = dir.path().join("claude");
    std::fs::create_dir_all(claude.join("projects")).unwrap();
    let mut env = service_env(dir.path(), None, Role::Tray);
    let fault = dir.path().join("panic-next-round");
    env.test_fault_file = Some(fault.clone());
    // The very first round fails.
    std::fs::write(&fault, "").unwrap();

    let (hooks, rx, _) = recording_hooks();
    let started = Instant::now();
    let handle = headroom_service::start(env, Arc::new(MemoryStore::default()), hooks);

    let failed = next(&rx, "the failure");
    let failure = failed.failure.clone().expect("the failure is published");
    assert!(
        failure.message.starts_with("test fault from"),
        "{failure:?}"
    );
    assert!(!fault.exists());
    assert!(
        failure.restart_at_ms > failed.refreshed_at_ms,
        "published before the restart"
    );
    assert!(failed
        .failure
        .as_ref()
        .unwrap()
        .describe(failed.refreshed_at_ms, headroom_core::report::Zone::Local)
        .contains("restarting at"));

    let restarted = next(&rx, "the restarted task's first round");
    let elapsed = started.elapsed();
    let failure = restarted
        .failure
        .clone()
        .expect("still said after the restart");
    assert!(failure.restart_at_ms <= restarted.refreshed_at_ms);
    assert!(
        elapsed >= supervise::FIRST_DELAY,
        "restarted after {elapsed:?}, before the back-off"
    );

    // It answers requests again.
    handle.send(Request::Refresh {
        force: true,
        reply: None,
    });
    let later = next(&rx, "a requested round");
    assert!(later.refreshed_at_ms >= restarted.refreshed_at_ms);
}
