//! The front end's side of the task ([`crate::task`]): the [`Request`]s it sends, the views
//! it gets ([`Published`], on a `watch` channel), the [`Hooks`] it implements, and the
//! [`Handle`] that holds them.

use std::sync::Arc;

use headroom_core::alerts::store::DeliveryOutcome;
use headroom_core::alerts::{Action, Evaluation};
use headroom_core::ledger::Ledger;
use headroom_core::report::Zone;
use headroom_core::settings::Settings;
use headroom_core::snapshot::{ExtraUsage, UsageSnapshot};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

use crate::supervise::TaskFailure;

/// What one round produced; shared read-only with the tray and the commands.
#[derive(Debug, Clone)]
pub struct Published {
    pub snapshot: UsageSnapshot,
    /// When this round ran.
    pub refreshed_at_ms: i64,
    /// The settings this round used (zone, snooze, chosen cap).
    pub settings: Settings,
    /// What loading the settings file had to tell the user (fields reset to their
    /// defaults, a file that cannot be read), as `settings::Loaded::notice`.
    pub settings_notice: Option<String>,
    /// The task failed (a panic) and was restarted, within the last hour.
    pub failure: Option<TaskFailure>,
    /// Another process kept the ledger busy past the busy timeout this round (a long ingest,
    /// a rebuild): what it said. The round is tried again
    /// [`BUSY_RETRY_MS`](crate::task::BUSY_RETRY_MS) later; the
    /// snapshot is the last one meanwhile.
    pub busy: Option<String>,
}

impl Published {
    pub fn zone(&self) -> Zone {
        self.settings.zone()
    }
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
    /// End the task once the round in progress is done (`headroom watch` on Ctrl-C, or after
    /// `--once`'s round). See [`Handle::stop`].
    Stop,
}

/// Where the Extra Usage watch is (the browser flow, after `enable_extra_usage`), as the
/// `extra-usage-state` event names it: the core's [`WatchStep`](headroom_core::account::extra_usage::WatchStep) without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum WatchState {
    /// Still polling: the account has not reported Extra Usage on yet.
    Waiting,
    /// The account reports it on (since the watch started); the watch ends.
    Enabled,
    /// The watch gave up; the usual polling carries on.
    TimedOut,
    /// No source that reports Extra Usage is set up; the watch ends.
    NoSource,
}

/// The Extra Usage watch's progress, as the `extra-usage-state` event carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExtraUsageState {
    pub state: WatchState,
    pub extra_usage: Option<ExtraUsage>,
    pub message: Option<String>,
}

/// What the front end does with the task's results: the tray updates its menu, icon and
/// window; a test records them. Called on the task's thread, except [`Hooks::clicked`].
pub trait Hooks: Send + Sync + 'static {
    /// Each new view, and the last one again with a failure (see [`supervise`](crate::supervise)).
    fn published(&self, published: &Arc<Published>);
    /// After each round that had a ledger, once the view is published (`/metrics`).
    fn after_round(&self, _ledger: &Ledger, _published: &Published) {}
    /// The Extra Usage watch's progress ([`Request::WatchExtraUsage`]).
    fn extra_usage(&self, _state: ExtraUsageState) {}
    /// What the alert step of a round found and how its delivery went, before the round's
    /// view is published (`headroom watch` prints it). Only when it found something new.
    fn alerted(&self, _evaluation: &Evaluation, _outcome: &DeliveryOutcome, _zone: Zone) {}
    /// A notification button was clicked (on the notifier's own thread).
    fn clicked(&self, _action: Action) {}
}

/// The front end's side of the task.
#[derive(Clone)]
pub struct Handle {
    pub requests: mpsc::UnboundedSender<Request>,
    pub latest: watch::Receiver<Option<Arc<Published>>>,
    /// The task's thread, for [`Handle::stop`] (taken by the first call).
    pub(crate) thread: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
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
        // The task only ends with the process or on `stop`.
        let _ = self.requests.send(request);
    }

    /// Ends the task after the round in progress and waits for its thread: the ledger is
    /// closed and the last notification handed over when this returns.
    pub fn stop(&self) {
        self.send(Request::Stop);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("the refresh thread ended with a panic");
            }
        }
    }
}
