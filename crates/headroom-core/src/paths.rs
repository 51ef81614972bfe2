//! Where transcripts are and where Headroom keeps its state.
//!
//! The environment is read once, by the front end calling
//! [`crate::environment::Edge::from_process`], into [`Environment`]; nothing deeper in the core
//! looks at environment variables, so tests pass paths in directly.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::settings::Settings;

/// The few environment values that decide paths.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `CLAUDE_CONFIG_DIR`: one folder, or several separated by commas.
    pub claude_config_dir: Option<OsString>,
    /// `HEADROOM_HOME`: Headroom's own state folder.
    pub headroom_home: Option<OsString>,
    /// The user's home folder.
    pub home: Option<PathBuf>,
    /// The platform's data folder for Headroom (from the `directories` crate, at start).
    pub platform_data_dir: Option<PathBuf>,
}

impl Environment {
    /// Claude Code's config folders, in order: `$CLAUDE_CONFIG_DIR` (comma-separated) if set,
    /// else `~/.config/claude` and `~/.claude`.
    pub fn claude_roots(&self) -> Vec<PathBuf> {
        if let Some(dirs) = self.claude_config_dir.as_ref().filter(|d| !d.is_empty()) {
            return dirs
                .to_string_lossy()
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .collect();
        }
        match &self.home {
            Some(home) => vec![home.join(".config").join("claude"), home.join(".claude")],
            None => Vec::new(),
        }
    }

    /// Every folder transcripts are read from: [`Environment::claude_roots`], then the user's
    /// `sources.extra_transcript_dirs`, each folder once. The one rule for every front end
    /// (the CLI's reports, `watch` and `serve`, and the tray), so that a folder added in the
    /// settings counts wherever usage is read.
    pub fn transcript_roots(&self, settings: &Settings) -> Vec<PathBuf> {
        let mut roots = self.claude_roots();
        for extra in &settings.sources.extra_transcript_dirs {
            if !roots.contains(extra) {
                roots.push(extra.clone());
            }
        }
        roots
    }

    /// The folder Claude Code's `settings.json` and `.credentials.json` live in: the first
    /// `$CLAUDE_CONFIG_DIR` entry, else `~/.claude`.
    pub fn claude_settings_dir(&self) -> Option<PathBuf> {
        if let Some(dirs) = self.claude_config_dir.as_ref().filter(|d| !d.is_empty()) {
            return dirs
                .to_string_lossy()
                .split(',')
                .map(str::trim)
                .find(|d| !d.is_empty())
                .map(PathBuf::from);
        }
        self.home.as_ref().map(|h| h.join(".claude"))
    }

    /// Claude Code's macOS Keychain item for this environment: its own per folder when
    /// `CLAUDE_CONFIG_DIR` is set (the first entry, the one [`Self::claude_settings_dir`] names).
    pub fn claude_keychain_item(&self) -> crate::account::credentials::KeychainItem {
        let explicit = self
            .claude_config_dir
            .as_ref()
            .filter(|d| !d.is_empty())
            .and(self.claude_settings_dir());
        crate::account::credentials::KeychainItem::for_config_dir(explicit.as_deref())
    }

    /// Claude Code's account file (`.claude.json`, with `oauthAccount.organizationUuid`): in
    /// the first `$CLAUDE_CONFIG_DIR` entry when that is set, else in the home folder.
    pub fn claude_account_file(&self) -> Option<PathBuf> {
        let config_dir = self
            .claude_config_dir
            .as_ref()
            .filter(|d| !d.is_empty())
            .and(self.claude_settings_dir());
        crate::account::overage::account_file_path(config_dir.as_deref(), self.home.as_deref())
    }

    /// Headroom's state folder: `$HEADROOM_HOME`, else the platform data folder.
    pub fn headroom_home(&self) -> Option<PathBuf> {
        self.headroom_home
            .as_ref()
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| self.platform_data_dir.clone())
    }
}

/// The files inside Headroom's state folder.
#[derive(Debug, Clone)]
pub struct StateFiles {
    /// The folder: `HEADROOM_HOME`, or the platform's data folder.
    pub dir: PathBuf,
}

impl StateFiles {
    /// The files in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        StateFiles { dir }
    }
    /// The usage ledger ([`Ledger`](crate::ledger::Ledger)).
    pub fn ledger(&self) -> PathBuf {
        self.dir.join("ledger.sqlite3")
    }
    /// The user's settings ([`settings`](crate::settings)).
    pub fn settings(&self) -> PathBuf {
        self.dir.join("settings.json")
    }
    /// The user's own prices, over the table's.
    pub fn price_overrides(&self) -> PathBuf {
        self.dir.join("prices.json")
    }
    /// LiteLLM's Claude prices as `headroom prices update` last fetched them.
    pub fn downloaded_prices(&self) -> PathBuf {
        self.dir.join("prices-litellm.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_config_dir_may_list_several_folders() {
        let env = Environment {
            claude_config_dir: Some("/a, /b,,".into()),
            home: Some("/home/u".into()),
            ..Environment::default()
        };
        assert_eq!(
            env.claude_roots(),
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(env.claude_settings_dir(), Some(PathBuf::from("/a")));
    }

    #[test]
    fn transcript_roots_add_the_extra_folders_once_after_claude_codes() {
        let env = Environment {
            claude_config_dir: Some("/a,/b".into()),
            ..Environment::default()
        };
        let mut settings = Settings::default();
        assert_eq!(env.transcript_roots(&settings), env.claude_roots());
        settings.sources.extra_transcript_dirs =
            vec!["/x".into(), "/b".into(), "/y".into(), "/x".into()];
        assert_eq!(
            env.transcript_roots(&settings),
            ["/a", "/b", "/x", "/y"].map(PathBuf::from)
        );
    }

    #[test]
    fn defaults_are_under_home() {
        let env = Environment {
            home: Some("/home/u".into()),
            platform_data_dir: Some("/home/u/.local/share/headroom".into()),
            ..Environment::default()
        };
        assert_eq!(
            env.claude_roots(),
            [
                PathBuf::from("/home/u/.config/claude"),
                PathBuf::from("/home/u/.claude")
            ]
        );
        assert_eq!(
            env.headroom_home(),
            Some(PathBuf::from("/home/u/.local/share/headroom"))
        );
        let env = Environment {
            headroom_home: Some("/tmp/h".into()),
            ..env
        };
        assert_eq!(env.headroom_home(), Some(PathBuf::from("/tmp/h")));
    }
}
