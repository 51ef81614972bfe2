//! The alert step of a round, the same for the tray and `headroom watch`: evaluate the
//! snapshot and record the alerts in one ledger transaction
//! (`alerts::store::evaluate_and_record`, so two front ends on one ledger never repeat each
//! other), deliver the notification the engine chose, and record how the delivery went.
//!
//! [`Deliverer`] is the notifier with its icon (written to the data folder on first use, for
//! front ends without an installed icon-theme entry), the buttons' clicks handed to the front
//! end, and the "no notification server" warning said once per process, not every round.

use std::path::PathBuf;
use std::sync::Arc;

use headroom_core::alerts::store::{self, DeliveryOutcome, PrintedBy};
use headroom_core::alerts::{Delivery, Evaluation, Notification};
use headroom_core::ledger::{Ledger, LedgerError};
use headroom_core::report::Zone;
use headroom_core::settings::AlertSettings;
use headroom_core::snapshot::UsageSnapshot;
use headroom_notify::{Clicked, Notifier, NotifierConfig, NotifyError};

/// Whether alerts become desktop notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notifications {
    /// None at all (`watch --no-notify`, `serve` without `--notify`): the command prints the
    /// alert, and the history says so.
    Off { printed_by: PrintedBy },
    /// Notifications, with buttons when someone stays to receive their clicks (not
    /// `watch --once`).
    On { buttons: bool },
}

/// What a front end does with a click on a notification's button (on a thread of its own).
pub type OnClick = Arc<dyn Fn(Clicked) + Send + Sync>;

/// Delivers the notifications of one process.
pub struct Deliverer {
    icon_dir: PathBuf,
    notifications: Notifications,
    on_click: OnClick,
    /// What the warning about a missing server says happens to the alerts instead.
    instead: &'static str,
    /// Built on the first delivery: most rounds deliver nothing.
    notifier: Option<Notifier>,
    warned_no_server: bool,
}

impl Deliverer {
    /// `state_dir` is the data folder (the icon goes to `icons/` in it); `instead` ends the
    /// "no notification server" warning ("alerts are recorded").
    pub fn new(
        state_dir: &std::path::Path,
        notifications: Notifications,
        instead: &'static str,
        on_click: OnClick,
    ) -> Deliverer {
        Deliverer {
            icon_dir: state_dir.join("icons"),
            notifications,
            on_click,
            instead,
            notifier: None,
            warned_no_server: false,
        }
    }

    /// Whether the "no notification server" warning has been said.
    pub fn warned_no_server(&self) -> bool {
        self.warned_no_server
    }

    fn notifier(&mut self, buttons: bool) -> &Notifier {
        let (icon_dir, on_click) = (&self.icon_dir, &self.on_click);
        self.notifier.get_or_insert_with(|| {
            let icon = headroom_notify::install_icon(icon_dir)
                .map_err(|e| tracing::warn!("cannot write the notification icon: {e}"))
                .ok()
                .map(|p| p.display().to_string());
            let (notifier, clicks) = Notifier::new(NotifierConfig {
                icon,
                actions: buttons,
                ..NotifierConfig::default()
            });
            let on_click = on_click.clone();
            // Ends when the notifier (which holds the sending side) is dropped.
            std::thread::spawn(move || {
                for click in clicks {
                    on_click(click);
                }
            });
            notifier
        })
    }

    /// Delivers and says how it went, as the alert history keeps it.
    pub fn deliver(&mut self, notification: &Notification) -> DeliveryOutcome {
        let buttons = match self.notifications {
            Notifications::Off { printed_by } => return DeliveryOutcome::PrintedOnly(printed_by),
            Notifications::On { buttons } => buttons,
        };
        let (outcome, error) = self.notifier(buttons).deliver_for_history(notification);
        match error {
            Some(NotifyError::NoServer(detail)) if !self.warned_no_server => {
                tracing::warn!(
                    "no notification server is running ({detail}); {} (see `headroom alerts`)",
                    self.instead
                );
                self.warned_no_server = true;
            }
            Some(NotifyError::NoServer(_)) => {}
            Some(e) => tracing::warn!("{e}"),
            None => {}
        }
        outcome
    }
}

/// Shows one notification without buttons (nobody waits for a click): the app's own notices,
/// like "no tray to show its icon". The icon is the one [`Deliverer`] uses, in `state_dir`.
pub fn notify_plain(
    state_dir: &std::path::Path,
    notification: &Notification,
) -> Result<headroom_notify::Delivered, NotifyError> {
    let icon = headroom_notify::install_icon(&state_dir.join("icons"))
        .map_err(|e| tracing::warn!("cannot write the notification icon: {e}"))
        .ok()
        .map(|p| p.display().to_string());
    let (notifier, _clicks) = Notifier::new(NotifierConfig {
        icon,
        actions: false,
        ..NotifierConfig::default()
    });
    notifier.deliver(notification)
}

/// What the alert step of a round did.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRound {
    pub evaluation: Evaluation,
    /// How the alerts were delivered, as the history keeps it: `None` when the engine chose
    /// to deliver nothing; the reason when it held them back (quiet hours, a snooze).
    pub outcome: Option<DeliveryOutcome>,
}

/// Evaluates `snapshot`, records its alerts, delivers the notification and records how that
/// went. A ledger error comes back for the front end to report its own way.
pub fn alert_round(
    ledger: &Ledger,
    snapshot: &UsageSnapshot,
    settings: &AlertSettings,
    now_ms: i64,
    zone: Zone,
    deliverer: &mut Deliverer,
) -> Result<AlertRound, LedgerError> {
    let recorded = store::evaluate_and_record(ledger, snapshot, settings, now_ms, zone)?;
    let outcome = match &recorded.evaluation.delivery {
        Delivery::Nothing => None,
        // Recorded so by `evaluate_and_record` already.
        Delivery::Suppressed { why } => Some(DeliveryOutcome::from(*why)),
        Delivery::Deliver { notification } => {
            let outcome = deliver_and_record(ledger, &recorded.ids, notification, deliverer)?;
            Some(outcome)
        }
    };
    Ok(AlertRound {
        evaluation: recorded.evaluation,
        outcome,
    })
}

fn deliver_and_record(
    ledger: &Ledger,
    ids: &[i64],
    notification: &Notification,
    deliverer: &mut Deliverer,
) -> Result<DeliveryOutcome, LedgerError> {
    let outcome = deliverer.deliver(notification);
    if !outcome.is_pending() {
        store::record_delivery(ledger, ids, &outcome)?;
    }
    Ok(outcome)
}

// Freedesktop notifications only (the cfg of headroom-notify's D-Bus path): elsewhere there
// is no "no server", and a real notification would be shown (Windows' toasts, macOS's
// notification centre).
#[cfg(all(test, unix, not(target_os = "macos")))]
mod tests {
    use super::*;
    use headroom_core::alerts::Level;

    #[test]
    fn a_plain_notice_writes_the_icon_and_says_when_no_server_is_there() {
        let dir = tempfile::tempdir().unwrap();
        // No session bus at that address (every test of this binary sets the same value).
        std::env::set_var(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/headroom-service-tests",
        );
        let notice = Notification {
            summary: "Headroom has no tray to show its icon".to_owned(),
            body: "Install a tray host.".to_owned(),
            level: Level::Warning,
            actions: Vec::new(),
        };
        let delivered = notify_plain(dir.path(), &notice);
        assert!(
            matches!(delivered, Err(NotifyError::NoServer(_))),
            "{delivered:?}"
        );
        assert_eq!(
            std::fs::read(dir.path().join("icons/headroom.png")).unwrap(),
            headroom_notify::ICON_PNG
        );
    }
}
