//! The edge: the environment, read once at start, exactly as the `headroom` CLI reads it
//! (`crates/headroom-cli/src/context.rs`), so that the app and the CLI share one data folder
//! and tests can point both at temporary folders and a loopback server.
//!
//! `HEADROOM_HOME`, `CLAUDE_CONFIG_DIR`, `HEADROOM_ANTHROPIC_API`, `HEADROOM_CLAUDE_AI`,
//! `HEADROOM_NO_BROWSER`, `HEADROOM_TEST_POLL_FLOOR_MS` (loopback only), plus the app's own
//! `HEADROOM_OPEN_SETTINGS` and `HEADROOM_TRAY_THEME`.

use std::path::PathBuf;

use headroom_core::account::{AccountConfig, AccountError};
use headroom_core::paths::{Environment, StateFiles};
use headroom_core::settings::Settings;

use crate::icon::Theme;

#[derive(Debug, Clone)]
pub struct AppEnv {
    pub env: Environment,
    pub state: StateFiles,
    pub anthropic_api: Option<String>,
    pub claude_ai: Option<String>,
    /// `HEADROOM_NO_BROWSER=1`: never open a browser (tests, remote sessions).
    pub no_browser: bool,
    /// `HEADROOM_TEST_POLL_FLOOR_MS`: lowers the one-request-a-minute floor, for loopback
    /// servers only (as the CLI does).
    pub test_poll_floor_ms: Option<i64>,
    /// `--settings` or `HEADROOM_OPEN_SETTINGS=1`: open the settings window at start.
    pub open_settings: bool,
    pub tray_theme: Theme,
}

fn flag(name: &str) -> bool {
    std::env::var(name)
        .map(|v| !v.trim().is_empty() && v.trim() != "0")
        .unwrap_or(false)
}

impl AppEnv {
    pub fn from_process() -> Result<AppEnv, String> {
        let env = Environment {
            claude_config_dir: std::env::var_os("CLAUDE_CONFIG_DIR"),
            headroom_home: std::env::var_os("HEADROOM_HOME"),
            home: directories::BaseDirs::new().map(|b| b.home_dir().to_owned()),
            platform_data_dir: directories::ProjectDirs::from("", "", "headroom")
                .map(|p| p.data_dir().to_owned()),
        };
        let dir: PathBuf = env
            .headroom_home()
            .ok_or("cannot find a folder for Headroom's data: set HEADROOM_HOME")?;
        let theme = match std::env::var("HEADROOM_TRAY_THEME").as_deref() {
            Ok("light") => Theme::Light,
            // Panels and task bars are dark by default on GNOME, KDE, Windows 11 and most
            // macOS setups; without the desktop portal (dropped to save the idle wakeups,
            // see docs/tray.md) the app cannot ask, so dark it is unless told.
            _ => Theme::Dark,
        };
        Ok(AppEnv {
            env,
            state: StateFiles::new(dir),
            anthropic_api: std::env::var("HEADROOM_ANTHROPIC_API").ok(),
            claude_ai: std::env::var("HEADROOM_CLAUDE_AI").ok(),
            no_browser: flag("HEADROOM_NO_BROWSER"),
            test_poll_floor_ms: std::env::var("HEADROOM_TEST_POLL_FLOOR_MS")
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok()),
            open_settings: flag("HEADROOM_OPEN_SETTINGS")
                || std::env::args().skip(1).any(|a| a == "--settings"),
            tray_theme: theme,
        })
    }

    /// The account sources as the user set them up (same rules as the CLI's
    /// `Context::refresher`).
    pub fn account_config(&self, settings: &Settings) -> Result<AccountConfig, AccountError> {
        let mut config = AccountConfig::new(self.env.claude_settings_dir())
            .with_settings(&settings.sources)
            .with_anthropic_api(self.anthropic_api.as_deref())?
            .with_claude_ai(self.claude_ai.as_deref())?;
        if let Some(floor) = self.test_poll_floor_ms {
            let loopback = |host: Option<&str>| {
                host.is_some_and(|h| h == "localhost" || h.starts_with("127.") || h == "[::1]")
            };
            if loopback(config.anthropic_api.host_str())
                && (!config.claude_ai_enabled || loopback(config.claude_ai.host_str()))
            {
                config.policy.min_interval_ms = floor.clamp(0, config.policy.min_interval_ms);
            }
        }
        Ok(config)
    }

    /// Claude Code's config folders plus the extra transcript folders from settings.
    pub fn transcript_roots(&self, settings: &Settings) -> Vec<PathBuf> {
        let mut roots = self.env.claude_roots();
        for extra in &settings.sources.extra_transcript_dirs {
            if !roots.contains(extra) {
                roots.push(extra.clone());
            }
        }
        roots
    }

    /// Claude Code's `settings.json` (where the statusline goes).
    pub fn claude_settings_file(&self) -> Option<PathBuf> {
        self.env
            .claude_settings_dir()
            .map(|d| d.join("settings.json"))
    }
}
