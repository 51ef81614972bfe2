//! Delivers the alert engine's [`Notification`]s as desktop notifications, for both front ends
//! (`headroom watch` and the tray app).
//!
//! Contract:
//! - [`Notifier::deliver`] shows one notification: the summary, the body, the app name and
//!   icon, and an urgency that grows with the alert level (info → low, warning → normal,
//!   critical → critical). It never panics and never blocks longer than the configured
//!   timeout; no notification server is [`NotifyError::NoServer`], for the caller to log.
//! - On Linux (freedesktop notifications over D-Bus, through notify-rust's pure-Rust zbus
//!   backend: no libdbus), the buttons ("Enable Extra Usage", "Snooze 1 h", "Open settings")
//!   are sent only when the server advertises the `actions` capability and the notifier was
//!   built with `actions: true`; otherwise the same text is sent without buttons. A clicked
//!   button arrives on the [`Clicked`] receiver [`Notifier::new`] returns. The body is
//!   escaped when the server renders markup, so text from the account shows as written.
//! - Elsewhere (macOS, Windows) the notification is shown without buttons.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use headroom_core::alerts::store::DeliveryOutcome;

pub use headroom_core::alerts::{Action, Level, Notification};

/// The app icon shipped with Headroom (PNG, 128×128).
pub const ICON_PNG: &[u8] = include_bytes!("../assets/headroom.png");

/// How a [`Notifier`] presents itself.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// The application name servers show (and group by).
    pub app_name: String,
    /// An icon: an absolute path to an image, or an icon-theme name.
    pub icon: Option<String>,
    /// Offer buttons (only where someone stays to receive the click: not `watch --once`).
    pub actions: bool,
    /// The longest one delivery may take before it is given up.
    pub timeout: Duration,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            app_name: "Headroom".to_owned(),
            icon: None,
            actions: true,
            timeout: Duration::from_secs(10),
        }
    }
}

/// A delivered notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The server's id for it (0 where the platform has none).
    pub id: u32,
    /// Whether it carries buttons (false: the plain fallback).
    pub with_actions: bool,
}

/// A button the user clicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clicked {
    pub notification_id: u32,
    pub action: Action,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// No session bus, or nothing serving `org.freedesktop.Notifications` on it.
    #[error("no notification server is running ({0})")]
    NoServer(String),
    #[error("the notification could not be shown: {0}")]
    Failed(String),
    #[error("the notification server did not answer within {0:?}")]
    TimedOut(Duration),
}

/// Shows notifications; cheap to keep for the life of the process.
#[derive(Debug)]
pub struct Notifier {
    config: NotifierConfig,
    clicks: Sender<Clicked>,
}

impl Notifier {
    /// A notifier and the receiver of the buttons users click on its notifications.
    pub fn new(config: NotifierConfig) -> (Notifier, Receiver<Clicked>) {
        let (clicks, receiver) = mpsc::channel();
        (Notifier { config, clicks }, receiver)
    }

    pub fn config(&self) -> &NotifierConfig {
        &self.config
    }

    /// Shows `notification`. Runs on a helper thread so a hung server costs at most the
    /// configured timeout.
    pub fn deliver(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
        let (done, result) = mpsc::sync_channel(1);
        let config = self.config.clone();
        let clicks = self.clicks.clone();
        let notification = notification.clone();
        std::thread::Builder::new()
            .name("headroom-notify".to_owned())
            .spawn(move || {
                let _ = done.send(platform::deliver(&config, &notification, clicks));
            })
            .map_err(|e| NotifyError::Failed(format!("cannot start a thread: {e}")))?;
        match result.recv_timeout(self.config.timeout) {
            Ok(outcome) => outcome,
            Err(_) => Err(NotifyError::TimedOut(self.config.timeout)),
        }
    }
}

impl Notifier {
    /// Delivers, and says how it went as the alert history keeps it, for `headroom watch` and
    /// the tray alike. The error, if any,
    /// comes back for the caller to report its own way (once, for a missing server).
    pub fn deliver_for_history(
        &self,
        notification: &Notification,
    ) -> (DeliveryOutcome, Option<NotifyError>) {
        match self.deliver(notification) {
            // "No actions" only when buttons were wanted and the server cannot show them.
            Ok(d) if d.with_actions || !self.config.actions || notification.actions.is_empty() => {
                (DeliveryOutcome::Delivered, None)
            }
            Ok(_) => (DeliveryOutcome::DeliveredWithoutButtons, None),
            Err(e @ NotifyError::NoServer(_)) => (DeliveryOutcome::NoServer, Some(e)),
            Err(e) => (DeliveryOutcome::Failed(e.to_string()), Some(e)),
        }
    }
}

/// Writes the app icon to `dir/headroom.png` (if it is not there already) and returns its
/// path, for front ends without an installed icon theme entry (`headroom watch`).
pub fn install_icon(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join("headroom.png");
    if std::fs::read(&path).ok().as_deref() != Some(ICON_PNG) {
        std::fs::create_dir_all(dir)?;
        headroom_core::fs::write_atomic(&path, ICON_PNG)?;
    }
    Ok(path)
}

/// Escapes the characters freedesktop body markup gives meaning to.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(all(unix, not(target_os = "macos")))]
mod platform {
    use super::*;
    use notify_rust::{Hint, Timeout, Urgency};

    /// Whether an error means "nobody is there" rather than "it went wrong".
    fn is_absent(message: &str) -> bool {
        [
            "ServiceUnknown",
            "NameHasNoOwner",
            "not provided by any .service",
            "DBus.Error.Spawn",
            "DBUS_SESSION_BUS_ADDRESS",
            "No such file or directory",
            "Connection refused",
            "Address",
        ]
        .iter()
        .any(|needle| message.contains(needle))
    }

    pub(super) fn deliver(
        config: &NotifierConfig,
        n: &Notification,
        clicks: Sender<Clicked>,
    ) -> Result<Delivered, NotifyError> {
        // Asking for the capabilities first also tells "no server" apart from a failure.
        let capabilities = notify_rust::get_capabilities().map_err(|e| {
            let message = e.to_string();
            if is_absent(&message) {
                NotifyError::NoServer(message)
            } else {
                NotifyError::Failed(message)
            }
        })?;
        let has = |cap: &str| capabilities.iter().any(|c| c == cap);
        let with_actions = config.actions && has("actions") && !n.actions.is_empty();
        let body = if has("body-markup") {
            escape_markup(&n.body)
        } else {
            n.body.clone()
        };

        let mut out = notify_rust::Notification::new();
        out.appname(&config.app_name)
            .summary(&n.summary)
            .body(&body)
            .hint(Hint::DesktopEntry("headroom".to_owned()))
            .urgency(match n.level {
                Level::Info => Urgency::Low,
                Level::Warning => Urgency::Normal,
                Level::Critical => Urgency::Critical,
            })
            .timeout(match n.level {
                // Work stops: stay until dismissed.
                Level::Critical => Timeout::Never,
                _ => Timeout::Default,
            });
        if let Some(icon) = &config.icon {
            out.icon(icon);
        }
        if with_actions {
            for action in &n.actions {
                out.action(action.id(), action.label());
            }
        }
        let handle = out.show().map_err(|e| {
            let message = e.to_string();
            if is_absent(&message) {
                NotifyError::NoServer(message)
            } else {
                NotifyError::Failed(message)
            }
        })?;
        let id = handle.id();
        if with_actions {
            // One waiter per notification with buttons; it ends when the notification closes.
            let spawned = std::thread::Builder::new()
                .name(format!("headroom-notify-{id}"))
                .spawn(move || {
                    handle.wait_for_action(|key| {
                        if let Some(action) = Action::from_id(key) {
                            let _ = clicks.send(Clicked {
                                notification_id: id,
                                action,
                            });
                        }
                    })
                });
            if let Err(e) = spawned {
                tracing::warn!("cannot wait for clicks on notification {id}: {e}");
            }
        }
        Ok(Delivered { id, with_actions })
    }
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
mod platform {
    use super::*;

    pub(super) fn deliver(
        config: &NotifierConfig,
        n: &Notification,
        _clicks: Sender<Clicked>,
    ) -> Result<Delivered, NotifyError> {
        // macOS files a notification under an application's name and icon: Headroom.app's
        // when it is installed, else notify-rust's stand-in (Finder). Chosen once a process.
        #[cfg(target_os = "macos")]
        {
            static APPLICATION: std::sync::Once = std::sync::Once::new();
            APPLICATION.call_once(|| {
                let bundle = notify_rust::get_bundle_identifier_or_default(&config.app_name);
                if let Err(e) = notify_rust::set_application(&bundle) {
                    tracing::debug!("notifications on behalf of {bundle}: {e}");
                }
            });
        }
        let mut out = notify_rust::Notification::new();
        out.appname(&config.app_name)
            .summary(&n.summary)
            .body(&n.body);
        out.show()
            .map(|_| Delivered {
                id: 0,
                with_actions: false,
            })
            .map_err(|e| NotifyError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_and_the_icon_installs_once() {
        assert_eq!(escape_markup("a <b> & c"), "a &lt;b&gt; &amp; c");
        let dir = tempfile::tempdir().unwrap();
        let path = install_icon(dir.path()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), ICON_PNG);
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(install_icon(dir.path()).unwrap(), path);
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
    }
}
