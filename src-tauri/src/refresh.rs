//! The tray's side of the refresh task. The task itself (the loop, the file watcher, alert
//! delivery, wake scheduling) is `headroom-service`'s, the same round `headroom watch` runs;
//! this file gives it the app's hooks: the tray's menu and icon, the settings window's events,
//! notification clicks, and `/metrics` with the OTLP push ([`crate::metrics`]).

use std::sync::{Arc, Mutex};

use headroom_core::account::SecretStore;
use headroom_core::alerts::Action;
use headroom_core::ledger::Ledger;

pub use headroom_service::task::{ExtraUsageState, Handle, Published, Request, WatchState};

use crate::env::AppEnv;
use crate::metrics::{Exposure, OtelEnv};

/// Called with each new view.
pub type OnPublished = Box<dyn Fn(&Arc<Published>) + Send + Sync>;

/// What the front end does with the task's results. Called on the task's thread.
pub struct Hooks {
    pub published: OnPublished,
    pub extra_usage: Box<dyn Fn(ExtraUsageState) + Send + Sync>,
    /// A notification button was clicked (its own thread).
    pub clicked: Arc<dyn Fn(Action) + Send + Sync>,
}

/// The app's hooks as the service calls them, with the metrics exposure the rounds feed.
struct AppHooks {
    hooks: Hooks,
    /// Only the task's thread locks it, once a round. `None` in the settings window's own
    /// process: the tray exports (see [`Exposure::for_role`]).
    metrics: Option<Mutex<Exposure>>,
}

impl headroom_service::Hooks for AppHooks {
    fn published(&self, published: &Arc<Published>) {
        (self.hooks.published)(published)
    }

    fn after_round(&self, ledger: &Ledger, published: &Published) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        // A panic in an earlier round poisoned nothing worth keeping out: go on with it.
        let mut metrics = metrics.lock().unwrap_or_else(|e| e.into_inner());
        metrics.after_round(
            ledger,
            &published.snapshot,
            &published.settings,
            published.refreshed_at_ms,
        );
    }

    fn extra_usage(&self, state: ExtraUsageState) {
        (self.hooks.extra_usage)(state)
    }

    fn clicked(&self, action: Action) {
        (self.hooks.clicked)(action)
    }
}

/// Starts the task. `secrets` is the OS keychain in the app, a memory store in tests.
pub fn start(env: AppEnv, secrets: Arc<dyn SecretStore>, hooks: Hooks) -> Handle {
    let service = env.service();
    let hooks = AppHooks {
        hooks,
        metrics: Exposure::for_role(&service.role, OtelEnv::from_process()).map(Mutex::new),
    };
    headroom_service::start(service, secrets, Arc::new(hooks))
}
