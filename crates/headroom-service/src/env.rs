//! What the service reads from the edge: the core's [`Edge`] (paths, data folder, account
//! overrides), read once by the front end, plus the task's own switches.

use std::path::PathBuf;

use headroom_core::account::{AccountConfig, FrontEnd};
use headroom_core::environment::Edge;
use headroom_core::settings::Settings;

use crate::deliver::Notifications;

/// Which process runs the task. All of them read transcripts and ask the account (the
/// ledger's transactions make several safe); the tray and `headroom watch`/`serve` evaluate
/// alerts and deliver them, and share the ledger's alert records, so neither repeats the
/// other's. The settings window's own process (`headroom-app --settings`) never does: it
/// would repeat or pre-empt the tray's notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The tray: alerts as notifications with buttons.
    Tray,
    /// The settings window's process: figures only.
    Window,
    /// `headroom watch` and `headroom serve`: alerts delivered as the command line says.
    Headless {
        notifications: Notifications,
        /// How the "no notification server" warning ends ("alerts are printed and recorded").
        instead: &'static str,
    },
}

impl Role {
    /// Whose words a source's problem is shown in: the app's for the tray and its pane,
    /// the CLI's for `watch` and `serve`.
    pub fn front_end(self) -> FrontEnd {
        match self {
            Role::Tray | Role::Window => FrontEnd::App,
            Role::Headless { .. } => FrontEnd::Cli,
        }
    }

    /// How this process delivers alerts, and how its "no notification server" warning ends;
    /// `None` when it does not evaluate them.
    pub fn delivery(self) -> Option<(Notifications, &'static str)> {
        match self {
            Role::Tray => Some((Notifications::On { buttons: true }, "alerts are recorded")),
            Role::Window => None,
            Role::Headless {
                notifications,
                instead,
            } => Some((notifications, instead)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServiceEnv {
    pub edge: Edge,
    pub role: Role,
    /// `HEADROOM_TEST_FAULT_FILE`, debug builds only: a round panics once when the file exists
    /// (`supervise::test_fault`). Release builds never read it.
    pub test_fault_file: Option<PathBuf>,
    /// Minutes between account polls instead of `sources.poll_minutes` (`watch --interval`).
    pub poll_minutes: Option<u32>,
}

impl ServiceEnv {
    /// The tray's environment, with no test fault.
    pub fn new(edge: Edge, role: Role) -> ServiceEnv {
        ServiceEnv {
            edge,
            role,
            test_fault_file: None,
            poll_minutes: None,
        }
    }

    /// The account sources as the user set them up (same rules as the CLI's
    /// `Context::refresher`).
    pub fn account_config(&self, settings: &Settings) -> AccountConfig {
        self.edge
            .account
            .config(self.edge.paths.claude_settings_dir(), &settings.sources)
            .with_zone(settings.zone())
            .with_front_end(self.role.front_end())
    }

    /// Claude Code's config folders plus the extra transcript folders from settings.
    pub fn transcript_roots(&self, settings: &Settings) -> Vec<PathBuf> {
        self.edge.paths.transcript_roots(settings)
    }
}
