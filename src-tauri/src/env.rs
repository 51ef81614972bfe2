//! The edge: the environment, read once at start. The variables the `headroom` CLI reads too
//! (`HEADROOM_HOME`, `CLAUDE_CONFIG_DIR`, `HEADROOM_ANTHROPIC_API`, `HEADROOM_CLAUDE_AI`,
//! `HEADROOM_TEST_POLL_FLOOR_MS`) go through `headroom_core::environment`, so that the app
//! and the CLI share one data folder and tests can point both at temporary folders and a
//! loopback server. The app's own: `HEADROOM_NO_BROWSER`, `HEADROOM_OPEN_SETTINGS`,
//! `HEADROOM_TRAY_THEME`, and in debug builds `HEADROOM_TEST_FAULT_FILE`.

use std::path::PathBuf;

use headroom_core::account::AccountConfig;
use headroom_core::environment::{AccountEnv, Edge};
use headroom_core::paths::{Environment, StateFiles};
use headroom_core::settings::Settings;
use headroom_service::{Role, ServiceEnv};

use crate::icon::Theme;

#[derive(Debug, Clone)]
pub struct AppEnv {
    pub env: Environment,
    pub state: StateFiles,
    pub account: AccountEnv,
    /// `HEADROOM_NO_BROWSER=1`: never open a browser (tests, remote sessions).
    pub no_browser: bool,
    /// `--settings` or `HEADROOM_OPEN_SETTINGS=1`: open the settings window at start.
    pub open_settings: bool,
    /// `--section <name>`: the pane's section the window opens at (one of [`SECTIONS`]).
    pub open_section: Option<&'static str>,
    pub tray_theme: Theme,
    /// `HEADROOM_TEST_FAULT_FILE`, debug builds only: a round panics once when the file exists
    /// (`supervise::test_fault`). Release builds never read it.
    pub test_fault_file: Option<PathBuf>,
}

fn flag(name: &str) -> bool {
    std::env::var(name)
        .map(|v| !v.trim().is_empty() && v.trim() != "0")
        .unwrap_or(false)
}

/// The argument that makes a process the settings window alone (no tray), as the tray starts
/// it (`settings_window`).
pub const SETTINGS_FLAG: &str = "--settings";

/// `--settings` or `HEADROOM_OPEN_SETTINGS=1`: this process is only the settings window, no
/// tray; it ends when the window closes. The one reading of it: `run` needs it before the app
/// is built (no single-instance lock for the window), [`AppEnv`] for everything after.
pub fn window_only() -> bool {
    flag("HEADROOM_OPEN_SETTINGS") || std::env::args().skip(1).any(|a| a == SETTINGS_FLAG)
}

/// The settings pane's sections, as `index.html#<name>` and `--section <name>` name them.
pub const SECTIONS: [&str; 5] = ["now", "extra", "alerts", "sources", "general"];

/// `--section <name>` or `--section=<name>`, if it names a section (anything else is ignored:
/// the pane then opens at Now).
pub fn section_arg(args: impl IntoIterator<Item = String>) -> Option<&'static str> {
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--section") {
            Some("") => args.next(),
            Some(rest) => rest.strip_prefix('=').map(str::to_owned),
            None => continue,
        };
        return value.and_then(|v| SECTIONS.iter().copied().find(|s| *s == v));
    }
    None
}

impl AppEnv {
    pub fn from_process() -> Result<AppEnv, String> {
        let Edge {
            paths: env,
            state,
            account,
        } = Edge::from_process().map_err(|e| e.to_string())?;
        let theme = match std::env::var("HEADROOM_TRAY_THEME").as_deref() {
            Ok("light") => Theme::Light,
            // Panels and task bars are dark by default on GNOME, KDE, Windows 11 and most
            // macOS setups; without the desktop portal (dropped to save the idle wakeups,
            // see docs/tray.md) the app cannot ask, so dark it is unless told.
            _ => Theme::Dark,
        };
        Ok(AppEnv {
            env,
            state,
            account,
            no_browser: flag("HEADROOM_NO_BROWSER"),
            open_settings: window_only(),
            open_section: section_arg(std::env::args().skip(1)),
            tray_theme: theme,
            test_fault_file: if cfg!(debug_assertions) {
                std::env::var_os("HEADROOM_TEST_FAULT_FILE")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            } else {
                None
            },
        })
    }

    /// What the refresh task reads: the edge, and the role of this process (the settings
    /// window's own process, `--settings`, delivers no alerts: the tray does).
    pub fn service(&self) -> ServiceEnv {
        let edge = Edge {
            paths: self.env.clone(),
            state: self.state.clone(),
            account: self.account.clone(),
        };
        let role = if self.open_settings {
            Role::Window
        } else {
            Role::Tray
        };
        ServiceEnv {
            test_fault_file: self.test_fault_file.clone(),
            ..ServiceEnv::new(edge, role)
        }
    }

    /// The account sources as the user set them up (the refresh task's rules).
    pub fn account_config(&self, settings: &Settings) -> AccountConfig {
        self.service().account_config(settings)
    }

    /// Claude Code's `settings.json` (where the statusline goes).
    pub fn claude_settings_file(&self) -> Option<PathBuf> {
        self.env
            .claude_settings_dir()
            .map(|d| d.join("settings.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn the_section_comes_from_either_spelling_and_only_from_the_list() {
        assert_eq!(
            section_arg(args(&["--settings", "--section", "sources"])),
            Some("sources")
        );
        assert_eq!(section_arg(args(&["--section=alerts"])), Some("alerts"));
        assert_eq!(section_arg(args(&["--section", "../../etc"])), None);
        assert_eq!(section_arg(args(&["--section"])), None);
        assert_eq!(section_arg(args(&["--settings"])), None);
    }
}
