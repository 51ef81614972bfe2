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
//! - publishes each new view on a `watch` channel and calls the front end's hooks (tray,
//!   settings window).
//!
//! Refreshes are single-flight by construction: there is one loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use headroom_core::account::{self, policy, store, Mode, Refresher, SecretStore};
use headroom_core::alerts::store::{self as alert_store, outcome};
use headroom_core::alerts::{Action, Delivery, Notification};
use headroom_core::ingest;
use headroom_core::ledger::Ledger;
use headroom_core::pricing::PriceTable;
use headroom_core::report::Zone;
use headroom_core::settings::{self, Settings};
use headroom_core::snapshot::{ExtraUsage, Source, UsageSnapshot};
use headroom_notify::{Notifier, NotifierConfig, NotifyError};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

use crate::env::AppEnv;

/// How long the watcher waits for more changes before reading: Claude Code writes a
/// response as several lines in quick succession.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// The longest sleep: ages in the menu, staleness, and other processes' statusline samples.
const MAX_SLEEP_MS: i64 = 60_000;
/// How long the Extra Usage watch waits for the account to confirm.
const EXTRA_USAGE_WATCH_MS: i64 = 15 * 60_000;

/// What one round produced; shared read-only with the tray and the commands.
#[derive(Debug, Clone)]
pub struct Published {
    pub snapshot: UsageSnapshot,
    /// When this round ran.
    pub refreshed_at_ms: i64,
    /// The settings this round used (zone, snooze, chosen cap).
    pub settings: Settings,
    /// Set when the settings file was corrupt and moved aside.
    pub settings_notice: Option<String>,
}

impl Published {
    pub fn zone(&self) -> Zone {
        zone(&self.settings)
    }
}

pub fn zone(settings: &Settings) -> Zone {
    settings
        .general
        .timezone
        .as_deref()
        .and_then(|name| Zone::parse(name).ok())
        .unwrap_or(Zone::Local)
}

pub enum Request {
    /// Read transcripts and ask the account; `force` asks now (within the one-a-minute
    /// floor). `reply` is answered once the new view is published.
    Refresh {
        force: bool,
        reply: Option<oneshot::Sender<()>>,
    },
    /// The watcher saw a transcript change.
    Transcripts,
    /// Settings changed on disk (by a command): reload, rebuild the sources.
    SettingsChanged,
    /// Poll until the account reports Extra Usage on.
    WatchExtraUsage,
}

/// The Extra Usage watch's progress, as the `extra-usage-state` event carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtraUsageState {
    /// `waiting`, `enabled`, `timed_out`, `no_source` or `error`.
    pub state: &'static str,
    pub extra_usage: Option<ExtraUsage>,
    pub message: Option<String>,
}

/// Called with each new view.
pub type OnPublished = Box<dyn Fn(&Arc<Published>) + Send>;

/// What the front end does with the task's results. Called on the task's thread.
pub struct Hooks {
    pub published: OnPublished,
    pub extra_usage: Box<dyn Fn(ExtraUsageState) + Send>,
    /// A notification button was clicked (its own thread).
    pub clicked: Arc<dyn Fn(Action) + Send + Sync>,
}

/// The front end's side of the task.
#[derive(Clone)]
pub struct Handle {
    pub requests: mpsc::UnboundedSender<Request>,
    pub latest: watch::Receiver<Option<Arc<Published>>>,
}

impl Handle {
    /// Asks for a refresh and waits until its view is published.
    pub async fn refresh(&self, force: bool) -> Result<Arc<Published>, ()> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Refresh {
                force,
                reply: Some(tx),
            })
            .map_err(|_| ())?;
        rx.await.map_err(|_| ())?;
        self.latest.borrow().clone().ok_or(())
    }

    pub fn send(&self, request: Request) {
        // The task only ends with the process.
        let _ = self.requests.send(request);
    }
}

/// Starts the task. `secrets` is the OS keychain in the app, a memory store in tests.
pub fn start(env: AppEnv, secrets: Arc<dyn SecretStore>, hooks: Hooks) -> Handle {
    let (requests, inbox) = mpsc::unbounded_channel();
    let (publish, latest) = watch::channel(None);
    let handle = Handle { requests, latest };
    let wake = handle.requests.clone();
    let spawned = std::thread::Builder::new()
        .name("headroom-refresh".into())
        .spawn(move || {
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
            let task = Task {
                env,
                secrets,
                hooks,
                publish,
                wake,
                notifier: None,
                warned_no_server: false,
                watcher: None,
                watched_roots: Vec::new(),
                unwatched: true,
                refresher: None,
            };
            runtime.block_on(task.run(inbox));
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the refresh thread: {e}");
    }
    handle
}

struct Task {
    env: AppEnv,
    secrets: Arc<dyn SecretStore>,
    hooks: Hooks,
    publish: watch::Sender<Option<Arc<Published>>>,
    /// To the task's own inbox: the file watcher's events.
    wake: mpsc::UnboundedSender<Request>,
    notifier: Option<Notifier>,
    warned_no_server: bool,
    watcher: Option<notify::RecommendedWatcher>,
    watched_roots: Vec<PathBuf>,
    /// Some transcript root could not be watched: read on every wake instead.
    unwatched: bool,
    /// Rebuilt only when the source settings change.
    refresher: Option<(headroom_core::settings::SourceSettings, Refresher)>,
}

struct ExtraWatch {
    started_ms: i64,
    deadline_ms: i64,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Task {
    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Request>) {
        let mut ledger: Option<Ledger> = None;
        let mut ingest_due = true;
        let mut force = false;
        let mut replies: Vec<oneshot::Sender<()>> = Vec::new();
        let mut extra: Option<ExtraWatch> = None;
        loop {
            let now = now_ms();
            let loaded = settings::load(&self.env.state.settings(), now / 1000);
            let (settings, notice) = match loaded {
                Ok(l) => (l.settings, l.notice),
                Err(e) => (Settings::default(), Some(e.to_string())),
            };
            self.ensure_watcher(&settings);
            if ledger.is_none() {
                match Ledger::open(&self.env.state.ledger()) {
                    Ok(l) => ledger = Some(l),
                    Err(e) => tracing::error!("{e}"),
                }
            }
            let mut problems = Vec::new();
            let snapshot = match ledger.as_mut() {
                None => {
                    problems.push(format!(
                        "cannot open the ledger {}; run `headroom ledger check`",
                        self.env.state.ledger().display()
                    ));
                    UsageSnapshot {
                        taken_at_ms: now,
                        ..UsageSnapshot::default()
                    }
                }
                Some(l) => {
                    if ingest_due || self.unwatched {
                        if let Some(problem) = self.ingest(l, &settings) {
                            problems.push(problem);
                        }
                        ingest_due = false;
                    }
                    let mode = if force || extra.is_some() {
                        Mode::Force
                    } else {
                        Mode::Auto
                    };
                    force = false;
                    match self.refresher(&settings) {
                        Ok(r) => match r.refresh(l, now, mode).await {
                            Ok(s) => s,
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
            if let Some(l) = ledger.as_ref() {
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
            });
            self.publish.send_replace(Some(published.clone()));
            (self.hooks.published)(&published);
            for reply in replies.drain(..) {
                let _ = reply.send(());
            }

            let wake_at = self.next_wake(ledger.as_ref(), &published, extra.as_ref(), now);
            let sleep = Duration::from_millis(u64::try_from(wake_at - now_ms()).unwrap_or(0));
            tokio::select! {
                request = inbox.recv() => {
                    let Some(first) = request else { return };
                    let mut pending = vec![first];
                    if matches!(pending[0], Request::Transcripts) {
                        tokio::time::sleep(DEBOUNCE).await;
                    }
                    while let Ok(more) = inbox.try_recv() {
                        pending.push(more);
                    }
                    for request in pending {
                        match request {
                            Request::Refresh { force: f, reply } => {
                                ingest_due = true;
                                force |= f;
                                replies.extend(reply);
                            }
                            Request::Transcripts => ingest_due = true,
                            Request::SettingsChanged => self.refresher = None,
                            Request::WatchExtraUsage => {
                                let now = now_ms();
                                extra = Some(ExtraWatch {
                                    started_ms: now,
                                    deadline_ms: now + EXTRA_USAGE_WATCH_MS,
                                });
                            }
                        }
                    }
                }
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// New transcript lines into the ledger; returns a problem worth showing.
    fn ingest(&self, ledger: &mut Ledger, settings: &Settings) -> Option<String> {
        let prices = match PriceTable::load(
            &self.env.state.downloaded_prices(),
            &self.env.state.price_overrides(),
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
            Err(ingest::IngestError::NoTranscripts { .. }) => return None,
            Err(e) => return Some(e.to_string()),
        };
        match ingest::ingest(ledger, &files, &prices) {
            Ok(report) => {
                for (path, reason) in &report.unreadable {
                    tracing::warn!("cannot read {}: {reason}", path.display());
                }
                if report.new_entries > 0 {
                    tracing::debug!("ingest: {} new responses", report.new_entries);
                }
                None
            }
            Err(e) => Some(e.to_string()),
        }
    }

    fn refresher(&mut self, settings: &Settings) -> Result<&Refresher, String> {
        let stale = match &self.refresher {
            Some((sources, _)) => *sources != settings.sources,
            None => true,
        };
        if stale {
            let config = self
                .env
                .account_config(settings)
                .map_err(|e| e.to_string())?;
            let refresher =
                Refresher::new(config, self.secrets.clone()).map_err(|e| e.to_string())?;
            self.refresher = Some((settings.sources.clone(), refresher));
        }
        match &self.refresher {
            Some((_, r)) => Ok(r),
            None => Err("the account sources are not set up".to_owned()),
        }
    }

    /// Watches the transcript roots (their `projects` folders) for new lines.
    fn ensure_watcher(&mut self, settings: &Settings) {
        use notify::Watcher as _;
        let roots = self.env.transcript_roots(settings);
        if self.watcher.is_some() && roots == self.watched_roots {
            return;
        }
        let wake = self.wake.clone();
        let settings_file = self.env.state.settings();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // The settings window runs as a process of its own: its saves reach the tray
            // through the file.
            if let Ok(e) = &event {
                if !e.kind.is_access() && e.paths.contains(&settings_file) {
                    let _ = wake.send(Request::SettingsChanged);
                    let _ = wake.send(Request::Refresh {
                        force: false,
                        reply: None,
                    });
                    return;
                }
            }
            let relevant = match &event {
                Ok(e) => {
                    !e.kind.is_access()
                        && e.paths
                            .iter()
                            .any(|p| p.extension().is_some_and(|x| x == "jsonl") || p.is_dir())
                }
                // Lost events (queue overflow): read everything to be sure.
                Err(_) => true,
            };
            if relevant {
                let _ = wake.send(Request::Transcripts);
            }
        });
        let mut watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!("cannot watch transcripts ({e}); reading them every minute");
                self.unwatched = true;
                return;
            }
        };
        let mut all = true;
        for root in &roots {
            let projects = root.join("projects");
            let target = if projects.is_dir() {
                projects
            } else {
                root.clone()
            };
            if !target.is_dir() {
                // Claude Code may create it later; the minute wake reads it then.
                all = false;
                continue;
            }
            if let Err(e) = watcher.watch(&target, notify::RecursiveMode::Recursive) {
                tracing::warn!("cannot watch {}: {e}", target.display());
                all = false;
            }
        }
        let state_dir = &self.env.state.dir;
        if std::fs::create_dir_all(state_dir).is_ok() {
            if let Err(e) = watcher.watch(state_dir, notify::RecursiveMode::NonRecursive) {
                tracing::warn!("cannot watch {}: {e}", state_dir.display());
            }
        }
        self.unwatched = !all;
        self.watcher = Some(watcher);
        self.watched_roots = roots;
    }

    fn alerts(&mut self, ledger: &Ledger, snapshot: &UsageSnapshot, settings: &Settings, now: i64) {
        let recorded = match alert_store::evaluate_and_record(
            ledger,
            snapshot,
            &settings.alerts,
            now,
            zone(settings),
        ) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("alerts: {e}");
                return;
            }
        };
        let outcome = match &recorded.evaluation.delivery {
            Delivery::Nothing | Delivery::Suppressed { .. } => return,
            Delivery::Deliver { notification } => self.deliver(notification),
        };
        if outcome != outcome::PENDING {
            if let Err(e) = alert_store::record_delivery(ledger, &recorded.ids, &outcome) {
                tracing::warn!("alerts: {e}");
            }
        }
    }

    fn notifier(&mut self) -> &Notifier {
        let env = &self.env;
        let clicked = self.hooks.clicked.clone();
        self.notifier.get_or_insert_with(|| {
            let icon = headroom_notify::install_icon(&env.state.dir.join("icons"))
                .map_err(|e| tracing::warn!("cannot write the notification icon: {e}"))
                .ok()
                .map(|p| p.display().to_string());
            let (notifier, clicks) = Notifier::new(NotifierConfig {
                icon,
                actions: true,
                ..NotifierConfig::default()
            });
            std::thread::spawn(move || {
                for click in clicks {
                    clicked(click.action);
                }
            });
            notifier
        })
    }

    /// Delivers and says how it went, in the words the alert history keeps (as `watch`).
    fn deliver(&mut self, notification: &Notification) -> String {
        let (outcome, error) = self.notifier().deliver_for_history(notification);
        match error {
            Some(NotifyError::NoServer(detail)) if !self.warned_no_server => {
                tracing::warn!("no notification server is running ({detail}); alerts are recorded (see `headroom alerts`)");
                self.warned_no_server = true;
            }
            Some(NotifyError::NoServer(_)) => {}
            Some(e) => tracing::warn!("{e}"),
            None => {}
        }
        outcome
    }

    /// Reports the Extra Usage watch; returns true when it is over.
    fn extra_usage_progress(
        &self,
        w: &ExtraWatch,
        snapshot: &UsageSnapshot,
        settings: &Settings,
        now: i64,
    ) -> bool {
        let eu = snapshot.extra_usage.clone();
        let (state, done, message) = if !account::extra_usage::can_report(snapshot) {
            (
                "no_source",
                true,
                Some("Headroom cannot see your account: sign in to Claude Code (run `claude`) or add a claude.ai session key in Sources.".to_owned()),
            )
        } else if let Some(on) = account::extra_usage::enabled_since(snapshot, w.started_ms) {
            (
                "enabled",
                true,
                account::extra_usage::cap_mismatch(settings.extra_usage.chosen_cap, on),
            )
        } else if now >= w.deadline_ms {
            (
                "timed_out",
                true,
                Some("Your account has not reported Extra Usage on yet; Headroom keeps checking at its usual pace.".to_owned()),
            )
        } else {
            ("waiting", false, None)
        };
        (self.hooks.extra_usage)(ExtraUsageState {
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
        extra: Option<&ExtraWatch>,
        now: i64,
    ) -> i64 {
        let mut next = now + MAX_SLEEP_MS;
        if let (Some(ledger), Some((_, refresher))) = (ledger, &self.refresher) {
            let config = refresher.config();
            let statusline = store::newest_seen_ms(ledger, Source::Statusline)
                .ok()
                .flatten();
            let mode = if extra.is_some() {
                Mode::Force
            } else {
                Mode::Auto
            };
            let sources = [
                (Source::Account, config.account_enabled),
                (Source::ClaudeAi, config.claude_ai_enabled),
            ];
            for (source, enabled) in sources {
                if !enabled {
                    continue;
                }
                let Ok(state) = store::poll_state(ledger, source) else {
                    continue;
                };
                // `Poll` right after a round means the source declined by itself (no
                // credentials): the minute wake looks again.
                if let policy::Decision::Wait { until_ms, .. } =
                    policy::decide(&config.policy, &state, statusline, None, mode, now)
                {
                    next = next.min(until_ms);
                }
            }
        }
        for w in &published.snapshot.windows {
            if let Some(reset) = w.resets_at_ms.filter(|&r| r > now) {
                next = next.min(reset + 1000);
            }
        }
        next.max(now + 1000)
    }
}
