//! The one owner of the data: a task on its own thread (a current-thread tokio runtime, so a
//! long first ingest or a slow SQLite write never stalls the UI's runtime) that
//!
//! - reads new transcript lines into the ledger: at start, and 200 ms after the file watcher
//!   (`notify`) sees a `.jsonl` change, so a new line reaches the tray within a second;
//! - asks the account sources as the core's `PollPolicy` allows (`Refresher::refresh`), and
//!   otherwise sleeps until the next poll is due, a window resets, or at most a minute passes
//!   (the minute keeps "2 min ago" and staleness true and picks up statusline samples other
//!   processes wrote); requests and watcher events wake it at once;
//! - evaluates alerts with the same engine and ledger records as `headroom watch`
//!   (`alerts::store::evaluate_and_record`), so the two never repeat each other, and delivers
//!   them through `headroom-notify`;
//! - publishes each new view on a `watch` channel and calls the front end's [`Hooks`] (the
//!   tray: menu, icon, window events, `/metrics`).
//!
//! Refreshes are single-flight by construction: there is one loop. No Tauri here: the tests
//! of this crate run the loop itself, on real ledgers and loopback servers.

use std::sync::Arc;
use std::time::Duration;

use headroom_core::account::extra_usage::{EnableWatch, WatchStep};
use headroom_core::account::{self, AccountError, Mode, Refresher, SecretStore};
use headroom_core::ingest;
use headroom_core::ledger::{Ledger, LedgerError};
use headroom_core::pricing::{update, PriceTable};
use headroom_core::settings::{self, Settings};
use headroom_core::snapshot::UsageSnapshot;
use tokio::sync::{mpsc, oneshot, watch};

use crate::deliver::{self, Deliverer};
use crate::env::ServiceEnv;
use crate::supervise::{self, TaskFailure};
use crate::watcher::Watcher;

pub use crate::handle::{ExtraUsageState, Handle, Hooks, Published, Request, WatchState};

/// How long the watcher waits for more changes before reading: Claude Code writes a
/// response as several lines in quick succession.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// The longest sleep: ages in the menu, staleness, and other processes' statusline samples.
const MAX_SLEEP_MS: i64 = 60_000;
/// A round another process kept the ledger busy for (a long ingest) is tried again this soon,
/// showing the last figures meanwhile rather than an empty snapshot.
pub const BUSY_RETRY_MS: i64 = 5_000;
/// How long the Extra Usage watch waits for the account to confirm.
const EXTRA_USAGE_WATCH_MS: i64 = 15 * 60_000;

/// Starts the task. `secrets` is the OS keychain in the app, a memory store in tests.
pub fn start(env: ServiceEnv, secrets: Arc<dyn SecretStore>, hooks: Arc<dyn Hooks>) -> Handle {
    let (requests, inbox) = mpsc::unbounded_channel();
    let (publish, latest) = watch::channel(None);
    let thread = Arc::new(std::sync::Mutex::new(None));
    let handle = Handle {
        requests,
        latest,
        thread: thread.clone(),
    };
    let wake = handle.requests.clone();
    let spawned = std::thread::Builder::new()
        .name("headroom-refresh".into())
        .spawn(move || {
            let clicks = hooks.clone();
            // The settings window's process evaluates no alerts: it has no deliverer.
            let deliverer = env.role.delivery().map(|(notifications, instead)| {
                Deliverer::new(
                    &env.edge.state.dir,
                    notifications,
                    instead,
                    Arc::new(move |click| clicks.clicked(click.action)),
                )
            });
            let task = Task {
                env,
                secrets,
                hooks,
                publish,
                wake,
                deliverer,
                watcher: Watcher::new(),
                refresher: None,
                failure: None,
                rounds: 0,
                pending: Pending::default(),
            };
            supervised(task, inbox);
        });
    match spawned {
        Ok(joined) => *thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(joined),
        Err(e) => tracing::error!("cannot start the refresh thread: {e}"),
    }
    handle
}

/// Runs the task until the inbox closes, and again after each panic (see [`supervise`]):
/// the panic is logged and published with the last view, and the task starts over on a
/// fresh runtime after a back-off, keeping its inbox (requests sent meanwhile wait there),
/// its front-end hooks and its notifier. Its caches (watcher, account sources) are rebuilt.
fn supervised(mut task: Task, mut inbox: mpsc::UnboundedReceiver<Request>) {
    let mut failures_in_a_row = 0u32;
    loop {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!("cannot start the refresh task: {e}");
                return;
            }
        };
        task.rounds = 0;
        // AssertUnwindSafe: after a panic only the caches that `forget_caches` drops, the
        // failure and the published view are used again; the round's own state is gone.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(task.run(&mut inbox))
        }));
        drop(runtime);
        let payload = match ran {
            Ok(()) => return,
            Err(payload) => payload,
        };
        failures_in_a_row = if task.rounds > 0 {
            1
        } else {
            failures_in_a_row.saturating_add(1)
        };
        let delay = supervise::restart_delay(failures_in_a_row);
        let message = supervise::panic_message(&*payload);
        tracing::error!(
            "the refresh task failed: {message}; restarting it in {} s (failure {failures_in_a_row} in a row)",
            delay.as_secs()
        );
        let now = now_ms();
        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        task.failure = Some(TaskFailure {
            message,
            failed_at_ms: now,
            restart_at_ms: now.saturating_add(delay_ms),
        });
        task.forget_caches();
        task.republish_failure();
        std::thread::sleep(delay);
        if let Some(f) = task.failure.as_mut() {
            f.restart_at_ms = now_ms();
        }
    }
}

struct Task {
    env: ServiceEnv,
    secrets: Arc<dyn SecretStore>,
    hooks: Arc<dyn Hooks>,
    publish: watch::Sender<Option<Arc<Published>>>,
    /// To the task's own inbox: the file watcher's events.
    wake: mpsc::UnboundedSender<Request>,
    /// Kept across restarts, like the hooks: its "no server" warning is said once. `None` for
    /// a role that evaluates no alerts ([`Role::delivery`]).
    deliverer: Option<Deliverer>,
    watcher: Watcher,
    /// Rebuilt only when the source settings change.
    refresher: Option<(headroom_core::settings::SourceSettings, Refresher)>,
    /// The last panic, kept for the front ends (see [`supervise`]).
    failure: Option<TaskFailure>,
    /// Rounds finished since the last (re)start.
    rounds: u64,
    /// What the current round owes its askers; kept in the task, not the round, so that a
    /// round that panics is done again (and answered) by the restarted task.
    pending: Pending,
}

#[derive(Default)]
struct Pending {
    force: bool,
    replies: Vec<oneshot::Sender<()>>,
}

/// The settings for a round, and what to tell the user about them. A file that cannot be read
/// at all (a hand edit gone wrong, or one still being written once `settings::load` has let
/// it settle) keeps the settings of the round before, and says so: nothing here moves or
/// rewrites the file; only a save does. A notice is logged when it first appears.
fn reload_settings(path: &std::path::Path, last: Option<&Published>) -> (Settings, Option<String>) {
    let kept = || last.map(|p| p.settings.clone()).unwrap_or_default();
    let (settings, notice) = match settings::load(path) {
        Ok(loaded) => match (&loaded.unreadable, last) {
            (Some(why), Some(_)) => (
                kept(),
                Some(format!(
                    "{why} Until then Headroom keeps the settings it had."
                )),
            ),
            _ => {
                let notice = loaded.notice();
                (loaded.settings, notice)
            }
        },
        Err(e) => (kept(), Some(e.to_string())),
    };
    if notice.is_some() && notice != last.and_then(|p| p.settings_notice.clone()) {
        tracing::warn!("{}", notice.as_deref().unwrap_or_default());
    }
    (settings, notice)
}

/// Another process held the ledger past the busy timeout: what the ledger said.
struct Busy(String);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Task {
    /// After a panic: what may have been left half-built is built again.
    fn forget_caches(&mut self) {
        self.watcher = Watcher::new();
        self.refresher = None;
    }

    /// Publishes the last view (or an empty one) with the failure, at once: the restart may
    /// be minutes away.
    fn republish_failure(&self) {
        let now = now_ms();
        let last = self.publish.borrow().clone();
        let published = Arc::new(match last {
            Some(p) => Published {
                failure: self.failure.clone(),
                ..(*p).clone()
            },
            None => Published {
                snapshot: UsageSnapshot {
                    taken_at_ms: now,
                    ..UsageSnapshot::default()
                },
                refreshed_at_ms: now,
                settings: Settings::default(),
                settings_notice: None,
                failure: self.failure.clone(),
                busy: None,
            },
        });
        self.publish.send_replace(Some(published.clone()));
        // Outside the supervised run: a front end that panics on this view too must not take
        // the supervisor down with it.
        let shown = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.hooks.published(&published)
        }));
        if shown.is_err() {
            tracing::error!("the front end failed to show the refresh task's failure");
        }
    }

    async fn run(&mut self, inbox: &mut mpsc::UnboundedReceiver<Request>) {
        let mut ledger: Option<Ledger> = None;
        let mut ingest_due = true;
        let mut extra: Option<EnableWatch> = None;
        loop {
            supervise::test_fault(self.env.test_fault_file.as_deref());
            let now = now_ms();
            let last = self.publish.borrow().clone();
            let state = &self.env.edge.state;
            let (mut settings, notice) = reload_settings(&state.settings(), last.as_deref());
            if let Some(minutes) = self.env.poll_minutes {
                settings.sources.poll_minutes = minutes;
            }
            self.watcher.ensure(
                self.env.transcript_roots(&settings),
                &state.dir,
                state.settings(),
                &self.wake,
            );
            // prices.auto_update, as the CLI does before a command (the same core function):
            // at most one attempt a day; a new table is read, and the ledger repriced, by this
            // round's ingest.
            if settings.prices.auto_update && self.update_prices().await {
                ingest_due = true;
            }
            if ledger.is_none() {
                match Ledger::open(&self.env.edge.state.ledger()) {
                    Ok(l) => ledger = Some(l),
                    Err(e) => tracing::error!("{e}"),
                }
            }
            let mut problems = Vec::new();
            let mut busy: Option<String> = None;
            let snapshot = match ledger.as_mut() {
                None => {
                    problems.push(format!(
                        "cannot open the ledger {}; run `headroom ledger check`",
                        self.env.edge.state.ledger().display()
                    ));
                    UsageSnapshot {
                        taken_at_ms: now,
                        ..UsageSnapshot::default()
                    }
                }
                Some(l) => {
                    if ingest_due || self.watcher.unwatched() {
                        match self.ingest(l, &settings) {
                            // Still due: read on the retry.
                            Err(Busy(why)) => busy = Some(why),
                            Ok(Some(problem)) => {
                                problems.push(problem);
                                ingest_due = false;
                            }
                            Ok(None) => ingest_due = false,
                        }
                    }
                    // A forced refresh that a panic interrupted is done by the restarted task:
                    // `pending` is cleared only once the round is published.
                    let mode = if self.pending.force || extra.is_some() {
                        Mode::Force
                    } else {
                        Mode::Auto
                    };
                    match self.refresher(&settings) {
                        Ok(r) => match r.refresh(l, now, mode).await {
                            Ok(s) => s,
                            Err(AccountError::Ledger(e @ LedgerError::Locked { .. })) => {
                                tracing::info!("{e}; trying again in {BUSY_RETRY_MS} ms");
                                busy = Some(e.to_string());
                                self.publish
                                    .borrow()
                                    .as_ref()
                                    .map(|p| p.snapshot.clone())
                                    .unwrap_or_else(|| UsageSnapshot {
                                        taken_at_ms: now,
                                        ..UsageSnapshot::default()
                                    })
                            }
                            Err(e) => {
                                problems.push(e.to_string());
                                UsageSnapshot {
                                    taken_at_ms: now,
                                    ..UsageSnapshot::default()
                                }
                            }
                        },
                        Err(e) => {
                            problems.push(e);
                            UsageSnapshot {
                                taken_at_ms: now,
                                ..UsageSnapshot::default()
                            }
                        }
                    }
                }
            };
            let mut snapshot = snapshot;
            snapshot.errors.extend(problems);
            if let Some(l) = &ledger {
                self.alerts(l, &snapshot, &settings, now);
            }
            if let Some(w) = &extra {
                if self.extra_usage_progress(w, &snapshot, &settings, now) {
                    extra = None;
                }
            }
            let published = Arc::new(Published {
                snapshot,
                refreshed_at_ms: now,
                settings,
                settings_notice: notice,
                failure: self.failure.clone().filter(|f| f.shown_at(now)),
                busy: busy.clone(),
            });
            self.publish.send_replace(Some(published.clone()));
            self.hooks.published(&published);
            if let Some(l) = ledger.as_ref() {
                self.hooks.after_round(l, &published);
            }
            for reply in self.pending.replies.drain(..) {
                let _ = reply.send(());
            }
            self.pending.force = false;
            self.rounds += 1;

            let mut wake_at = self.next_wake(ledger.as_ref(), &published, extra.as_ref(), now);
            if busy.is_some() {
                wake_at = wake_at.min(now.saturating_add(BUSY_RETRY_MS));
            }
            let sleep = Duration::from_millis(u64::try_from(wake_at - now_ms()).unwrap_or(0));
            tokio::select! {
                request = inbox.recv() => {
                    let Some(first) = request else { return };
                    let mut pending = vec![first];
                    // A settings file is written in steps too: an editor truncates it first.
                    if matches!(pending[0], Request::Transcripts | Request::SettingsChanged) {
                        tokio::time::sleep(DEBOUNCE).await;
                    }
                    while let Ok(more) = inbox.try_recv() {
                        pending.push(more);
                    }
                    if pending.iter().any(|r| matches!(r, Request::Stop)) {
                        return;
                    }
                    for request in pending {
                        match request {
                            Request::Refresh { force: f, reply } => {
                                ingest_due = true;
                                self.pending.force |= f;
                                self.pending.replies.extend(reply);
                            }
                            Request::Transcripts => ingest_due = true,
                            Request::SettingsChanged => self.refresher = None,
                            Request::WatchExtraUsage => {
                                let now = now_ms();
                                extra = Some(EnableWatch::new(now, EXTRA_USAGE_WATCH_MS));
                            }
                            Request::Stop => {}
                        }
                    }
                }
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// The daily price update (`prices.auto_update`), when due; whether a new table was kept.
    /// A failure is logged and waits a day, as in the CLI.
    async fn update_prices(&self) -> bool {
        let path = self.env.edge.state.downloaded_prices();
        let url = self
            .env
            .edge
            .account
            .prices_url
            .as_ref()
            .map_or(update::DEFAULT_URL.to_owned(), |u| u.to_string());
        let attempt = update::auto_update(
            &url,
            &path,
            &update::auto_update_stamp(&path),
            std::time::SystemTime::now(),
            &chrono::Utc::now().format("%Y-%m-%d").to_string(),
        )
        .await;
        match attempt {
            None => false,
            Some(Ok(file)) => {
                tracing::info!(
                    "prices updated from {url}: {} Claude models",
                    file.models.len()
                );
                true
            }
            Some(Err(e)) => {
                tracing::warn!("automatic price update (prices.auto_update): {e}");
                false
            }
        }
    }

    /// New transcript lines into the ledger; returns a problem worth showing, or [`Busy`].
    fn ingest(&self, ledger: &mut Ledger, settings: &Settings) -> Result<Option<String>, Busy> {
        let prices = match PriceTable::load(
            &self.env.edge.state.downloaded_prices(),
            &self.env.edge.state.price_overrides(),
        ) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("{e}; using the embedded prices");
                PriceTable::embedded()
            }
        };
        let roots = self.env.transcript_roots(settings);
        let files = match ingest::discover(&roots) {
            Ok(files) => files,
            // No transcripts is normal for a chat-only user: account figures still count.
            Err(ingest::IngestError::NoTranscripts { .. }) => return Ok(None),
            Err(e) => return Ok(Some(e.to_string())),
        };
        match ingest::ingest(ledger, &files, &prices) {
            Ok(report) => {
                for (path, reason) in &report.unreadable {
                    tracing::warn!("cannot read {}: {reason}", path.display());
                }
                for model in &report.unknown_models {
                    tracing::warn!(
                        "no complete price known for model {model:?}; its cost is left out (run `headroom prices update`, or add it to {})",
                        self.env.edge.state.price_overrides().display()
                    );
                }
                if report.new_entries > 0 {
                    tracing::debug!("ingest: {} new responses", report.new_entries);
                }
                Ok(None)
            }
            Err(ingest::IngestError::Ledger(e @ LedgerError::Locked { .. })) => {
                tracing::info!("ingest: {e}; trying again in {BUSY_RETRY_MS} ms");
                Err(Busy(e.to_string()))
            }
            Err(e) => Ok(Some(e.to_string())),
        }
    }

    fn refresher(&mut self, settings: &Settings) -> Result<&Refresher, String> {
        let stale = match &self.refresher {
            Some((sources, _)) => *sources != settings.sources,
            None => true,
        };
        if stale {
            let config = self.env.account_config(settings);
            let refresher =
                Refresher::new(config, self.secrets.clone()).map_err(|e| e.to_string())?;
            self.refresher = Some((settings.sources.clone(), refresher));
        }
        match &self.refresher {
            Some((_, r)) => Ok(r),
            None => Err("the account sources are not set up".to_owned()),
        }
    }

    /// The alert step (shared with `headroom watch`); a ledger error is logged, and the
    /// next round evaluates again.
    /// The alert step, for a role that has a deliverer (none for the settings window).
    fn alerts(&mut self, ledger: &Ledger, snapshot: &UsageSnapshot, settings: &Settings, now: i64) {
        let Some(deliverer) = &mut self.deliverer else {
            return;
        };
        match deliver::alert_round(
            ledger,
            snapshot,
            &settings.alerts,
            now,
            settings.zone(),
            deliverer,
        ) {
            Ok(round) => {
                if let Some(outcome) = &round.outcome {
                    self.hooks
                        .alerted(&round.evaluation, outcome, settings.zone());
                }
            }
            Err(e) => tracing::warn!("alerts: {e}"),
        }
    }

    /// Reports the Extra Usage watch; returns true when it is over.
    fn extra_usage_progress(
        &self,
        w: &EnableWatch,
        snapshot: &UsageSnapshot,
        settings: &Settings,
        now: i64,
    ) -> bool {
        let eu = snapshot.extra_usage.clone();
        let (state, done, message) = match w.step(snapshot, now) {
            WatchStep::NoSource => (
                WatchState::NoSource,
                true,
                Some("Headroom cannot see your account: sign in to Claude Code (run `claude`) or add a claude.ai session key in Sources.".to_owned()),
            ),
            WatchStep::Enabled(on) => (
                WatchState::Enabled,
                true,
                account::extra_usage::cap_mismatch(settings.extra_usage.chosen_cap, &on),
            ),
            WatchStep::TimedOut => (
                WatchState::TimedOut,
                true,
                Some("Your account has not reported Extra Usage on yet; Headroom keeps checking at its usual pace.".to_owned()),
            ),
            WatchStep::Waiting => (WatchState::Waiting, false, None),
        };
        self.hooks.extra_usage(ExtraUsageState {
            state,
            extra_usage: eu,
            message,
        });
        done
    }

    /// When to wake without a request: the next poll due, the next window reset, or a
    /// minute, whichever comes first.
    fn next_wake(
        &self,
        ledger: Option<&Ledger>,
        published: &Published,
        extra: Option<&EnableWatch>,
        now: i64,
    ) -> i64 {
        let mut next = now + MAX_SLEEP_MS;
        if let (Some(ledger), Some((_, refresher))) = (ledger, &self.refresher) {
            let mode = if extra.is_some() {
                Mode::Force
            } else {
                Mode::Auto
            };
            if let Some(due) = refresher.next_due_ms(ledger, now, mode) {
                next = next.min(due);
            }
        }
        for w in &published.snapshot.windows {
            if let Some(reset) = w.resets_at_ms.filter(|&r| r > now) {
                next = next.min(reset.saturating_add(1000));
            }
        }
        next.max(now + 1000)
    }
}
