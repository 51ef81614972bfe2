//! What the service's tests share: an environment of temporary folders
//! (and optionally a loopback account server) for the task, and hooks that hand every
//! published view to the test.

use std::ffi::OsString;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use headroom_core::environment::Edge;
use headroom_service::{ExtraUsageState, Hooks, Published, Role, ServiceEnv};

/// The task's environment: Claude Code's folder `claude` and Headroom's `headroom` under
/// `dir`, the account at `api` (nothing listens at 127.0.0.1:9), claude.ai nowhere.
pub(crate) fn service_env(dir: &Path, api: Option<&str>, role: Role) -> ServiceEnv {
    let vars: Vec<(&str, OsString)> = vec![
        ("CLAUDE_CONFIG_DIR", dir.join("claude").into()),
        ("HEADROOM_HOME", dir.join("headroom").into()),
        (
            "HEADROOM_ANTHROPIC_API",
            api.unwrap_or("http://127.0.0.1:9").into(),
        ),
        ("HEADROOM_CLAUDE_AI", "http://127.0.0.1:9".into()),
    ];
    let edge = Edge::read(
        |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        },
        Some(dir.join("home")),
        None,
    )
    .unwrap();
    // Notifications go nowhere: no session bus (the outcome is "no notification server").
    // Process-wide: every test calling this runs alone in its process
    // (`headroom_tests::ran_in_own_process`), so no other thread reads the environment.
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/headroom-service-tests",
    );
    ServiceEnv::new(edge, role)
}

/// Hooks that send every published view (and Extra Usage step) to the test.
pub(crate) struct Recording {
    views: Sender<Arc<Published>>,
    extra_usage: Sender<ExtraUsageState>,
}

impl Hooks for Recording {
    fn published(&self, published: &Arc<Published>) {
        let _ = self.views.send(published.clone());
    }

    fn extra_usage(&self, state: ExtraUsageState) {
        let _ = self.extra_usage.send(state);
    }
}

/// [`Recording`] hooks and the receivers of what they record.
pub(crate) fn recording_hooks() -> (
    Arc<Recording>,
    Receiver<Arc<Published>>,
    Receiver<ExtraUsageState>,
) {
    let (views, views_rx) = mpsc::channel();
    let (extra_usage, extra_rx) = mpsc::channel();
    let hooks = Arc::new(Recording { views, extra_usage });
    (hooks, views_rx, extra_rx)
}

/// The first view `rx` gets within `within` that `wanted` accepts; panics with the last view
/// otherwise.
pub(crate) fn view_where(
    rx: &Receiver<Arc<Published>>,
    within: Duration,
    what: &str,
    wanted: impl Fn(&Published) -> bool,
) -> Arc<Published> {
    let deadline = std::time::Instant::now() + within;
    let mut last = None;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(view) if wanted(&view) => return view,
            Ok(view) => last = Some(view),
            Err(e) => panic!(
                "no view with {what} ({e}); the last: {:#?}",
                last.map(|v| v.snapshot.clone())
            ),
        }
    }
}
