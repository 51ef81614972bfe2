//! What the service reads from the edge: the core's [`Edge`] (paths, data folder, account
//! overrides), read once by the front end, plus the task's own switches.

use std::path::PathBuf;

use headroom_core::account::AccountConfig;
use headroom_core::environment::Edge;
use headroom_core::settings::Settings;

/// Which process runs the task. Both read transcripts and ask the account (the ledger's
/// transactions make two of them safe); only the tray evaluates alerts and delivers them,
/// so that the settings window's own process (`headroom-app --settings`) never repeats or
/// pre-empts the tray's notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The tray, or any front end that owns the alerts.
    Tray,
    /// The settings window's process: figures only.
    Window,
}

#[derive(Debug, Clone)]
pub struct ServiceEnv {
    pub edge: Edge,
    pub role: Role,
    /// `HEADROOM_TEST_FAULT_FILE`, debug builds only: a round panics once when the file exists
    /// (`supervise::test_fault`). Release builds never read it.
    pub test_fault_file: Option<PathBuf>,
}

impl ServiceEnv {
    /// The tray's environment, with no test fault.
    pub fn new(edge: Edge, role: Role) -> ServiceEnv {
        ServiceEnv {
            edge,
            role,
            test_fault_file: None,
        }
    }

    /// The account sources as the user set them up (same rules as the CLI's
    /// `Context::refresher`).
    pub fn account_config(&self, settings: &Settings) -> AccountConfig {
        self.edge
            .account
            .config(self.edge.paths.claude_settings_dir(), &settings.sources)
            .with_zone(settings.zone())
    }

    /// Claude Code's config folders plus the extra transcript folders from settings.
    pub fn transcript_roots(&self, settings: &Settings) -> Vec<PathBuf> {
        self.edge.paths.transcript_roots(settings)
    }
}
