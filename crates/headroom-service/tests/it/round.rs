//! The round the tray and `headroom watch` share, run by the real task with no display: a
//! real ledger file, the account on a loopback server, notifications to a session bus that is
//! not there. The tray's task polls the account, records the alert it evaluates with how the
//! delivery went, and publishes the figures; the settings window's process (`Role::Window`)
//! publishes the same figures and leaves the alerts to the tray.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{recording_hooks, service_env, view_where};
use headroom_core::account::MemoryStore;
use headroom_core::alerts::store;
use headroom_core::ledger::Ledger;
use headroom_service::task::WatchState;
use headroom_service::{Published, Request, Role};
use headroom_tests::account::{now_ms, usage_server, usage_server_shared, Home};

/// The account's answer: the session window at `session` %, resetting in two hours.
fn usage(session: f64) -> String {
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339()
    };
    let now = now_ms();
    serde_json::json!({
        "five_hour": {"utilization": session, "resets_at": iso(now + 2 * 3_600_000)},
        "seven_day": {"utilization": 41.0, "resets_at": iso(now + 3 * 86_400_000)},
        "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null},
    })
    .to_string()
}

fn session_at(p: &Published, percent: f64) -> bool {
    p.snapshot
        .session
        .as_ref()
        .is_some_and(|w| w.utilization == percent)
}

#[test]
fn the_tray_round_polls_records_the_alert_with_its_delivery_and_publishes() {
    if headroom_tests::ran_in_own_process(
        "round::the_tray_round_polls_records_the_alert_with_its_delivery_and_publishes",
    ) {
        return;
    }
    let home = Home::new();
    let server = usage_server(usage(92.0));
    let env = service_env(home.dir.path(), Some(&server.base), Role::Tray);
    let ledger_path = env.edge.state.ledger();
    let (hooks, rx, _) = recording_hooks();
    let handle = headroom_service::start(env, Arc::new(MemoryStore::default()), hooks);

    let view = view_where(&rx, Duration::from_secs(30), "the account's figures", |p| {
        session_at(p, 92.0)
    });
    assert_eq!(server.count("/api/oauth/usage"), 1);
    assert!(
        view.snapshot.errors.is_empty(),
        "{:?}",
        view.snapshot.errors
    );
    // Recorded before the view was published: 75 % and 90 % crossed, one notification.
    let ledger = Ledger::open(&ledger_path).unwrap();
    let history = store::recent(&ledger, 10).unwrap();
    assert!(!history.is_empty(), "no alert recorded");
    // Where notifications go over D-Bus, a session bus pointing nowhere means "no server".
    // macOS and Windows deliver through the system, which needs no bus: there the alert is
    // recorded with whatever the runner's system did with it.
    #[cfg(all(unix, not(target_os = "macos")))]
    for entry in &history {
        assert_eq!(
            entry.delivery,
            store::DeliveryOutcome::NoServer,
            "{entry:?}"
        );
    }

    // A second round right away asks nobody (the policy) and repeats no alert.
    let before = history.len();
    let _ = rx.try_iter().count();
    handle.send(Request::Refresh {
        force: false,
        reply: None,
    });
    view_where(&rx, Duration::from_secs(30), "a second round", |p| {
        p.refreshed_at_ms > view.refreshed_at_ms
    });
    assert_eq!(server.count("/api/oauth/usage"), 1);
    assert_eq!(store::recent(&ledger, 10).unwrap().len(), before);
}

#[test]
fn the_settings_windows_process_publishes_the_figures_and_leaves_the_alerts_to_the_tray() {
    if headroom_tests::ran_in_own_process("round::the_settings_windows_process_publishes_the_figures_and_leaves_the_alerts_to_the_tray") {
        return;
    }
    let home = Home::new();
    let server = usage_server(usage(92.0));
    let env = service_env(home.dir.path(), Some(&server.base), Role::Window);
    let ledger_path = env.edge.state.ledger();
    let (hooks, rx, _) = recording_hooks();
    let _handle = headroom_service::start(env, Arc::new(MemoryStore::default()), hooks);

    view_where(&rx, Duration::from_secs(30), "the account's figures", |p| {
        session_at(p, 92.0)
    });
    let ledger = Ledger::open(&ledger_path).unwrap();
    assert_eq!(store::recent(&ledger, 10).unwrap(), Vec::new());
}

/// The account's answer with Extra Usage `on` or off, the session at 50 %.
fn usage_with_extra_usage(on: bool) -> String {
    let mut body: serde_json::Value = serde_json::from_str(&usage(50.0)).unwrap();
    body["extra_usage"]["is_enabled"] = on.into();
    body.to_string()
}

#[test]
fn the_extra_usage_watch_waits_for_the_account_to_say_on() {
    if headroom_tests::ran_in_own_process(
        "round::the_extra_usage_watch_waits_for_the_account_to_say_on",
    ) {
        return;
    }
    let home = Home::new();
    let body = Arc::new(std::sync::Mutex::new(usage_with_extra_usage(false)));
    let server = usage_server_shared(body.clone());
    let mut env = service_env(home.dir.path(), Some(&server.base), Role::Tray);
    // Forced polls at most every 200 ms (loopback only), not once a minute.
    env.edge.account.test_poll_floor_ms = Some(200);
    let (hooks, rx, steps) = recording_hooks();
    let handle = headroom_service::start(env, Arc::new(MemoryStore::default()), hooks);
    view_where(&rx, Duration::from_secs(30), "the first round", |p| {
        session_at(p, 50.0)
    });

    handle.send(Request::WatchExtraUsage);
    let first = steps.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(first.state, WatchState::Waiting, "{first:?}");
    *body.lock().unwrap() = usage_with_extra_usage(true);
    let end = loop {
        let step = steps.recv_timeout(Duration::from_secs(30)).unwrap();
        if step.state != WatchState::Waiting {
            break step;
        }
    };
    assert_eq!(end.state, WatchState::Enabled, "{end:?}");
    assert_eq!(end.extra_usage.and_then(|eu| eu.enabled), Some(true));
}

#[test]
fn the_extra_usage_watch_ends_at_once_without_a_login() {
    if headroom_tests::ran_in_own_process(
        "round::the_extra_usage_watch_ends_at_once_without_a_login",
    ) {
        return;
    }
    let home = Home::bare();
    let env = service_env(home.dir.path(), None, Role::Tray);
    let (hooks, rx, steps) = recording_hooks();
    let handle = headroom_service::start(env, Arc::new(MemoryStore::default()), hooks);
    view_where(&rx, Duration::from_secs(30), "the first round", |_| true);
    handle.send(Request::WatchExtraUsage);
    let step = steps.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(step.state, WatchState::NoSource, "{step:?}");
    assert!(step
        .message
        .is_some_and(|m| m.contains("sign in to Claude Code")));
}

/// A refused claude.ai key is shown by the tray and its pane with the pane's remedy, and by the
/// CLI, reading the same ledger row, with the CLI's: the poll state keeps the problem, and the
/// words are written by whoever reads it. (The row used to hold the poller's sentence, so the
/// pane showed "`headroom claude-ai login`" beside its own paste box.)
#[test]
fn a_refused_claude_ai_key_is_worded_for_the_front_end_that_reads_it() {
    if headroom_tests::ran_in_own_process(
        "round::a_refused_claude_ai_key_is_worded_for_the_front_end_that_reads_it",
    ) {
        return;
    }
    use headroom_core::account::{
        snapshot_from_ledger, FrontEnd, Secret, SecretStore, CLAUDE_AI_SESSION_KEY,
    };
    use headroom_core::snapshot::Source;
    use headroom_tests::http::{Response, Server};

    let home = Home::bare();
    let claude_ai = Server::start(|_, _| Response::json(401, r#"{"error":"unauthorized"}"#));
    let mut env = service_env(home.dir.path(), None, Role::Tray);
    env.edge.account.claude_ai = Some(claude_ai.base.parse().unwrap());
    std::fs::create_dir_all(&env.edge.state.dir).unwrap();
    std::fs::write(
        env.edge.state.settings(),
        r#"{"sources": {"claude_ai": true}}"#,
    )
    .unwrap();
    let secrets = Arc::new(MemoryStore::default());
    secrets
        .set(
            CLAUDE_AI_SESSION_KEY,
            &Secret::new("sk-ant-sid01-refused-key"),
        )
        .unwrap();
    let ledger_path = env.edge.state.ledger();
    let (hooks, rx, _) = recording_hooks();
    let _handle = headroom_service::start(env.clone(), secrets, hooks);

    let error_of = |snapshot: &headroom_core::snapshot::UsageSnapshot| {
        snapshot
            .sources
            .iter()
            .find(|s| s.source == Source::ClaudeAi)
            .and_then(|s| s.error.clone())
    };
    let view = view_where(&rx, Duration::from_secs(30), "claude.ai's refusal", |p| {
        error_of(&p.snapshot).is_some()
    });
    let in_app = error_of(&view.snapshot).unwrap();
    assert!(
        in_app.starts_with("claude.ai refused the session key (signed out or expired); ")
            && in_app.contains("paste a new one under Sources"),
        "{in_app}"
    );
    assert!(!in_app.contains("headroom claude-ai"), "{in_app}");

    let settings = headroom_core::settings::load(&env.edge.state.settings())
        .unwrap()
        .settings;
    let cli_config = env.account_config(&settings).with_front_end(FrontEnd::Cli);
    let ledger = Ledger::open(&ledger_path).unwrap();
    let in_cli = error_of(&snapshot_from_ledger(&ledger, &cli_config, now_ms()).unwrap()).unwrap();
    assert!(
        in_cli.contains("paste a new one with `headroom claude-ai login`"),
        "{in_cli}"
    );
}
