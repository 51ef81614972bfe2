//! [`AccountConfig`]: where and how to reach the account sources, built at the edge.

use std::path::PathBuf;

use reqwest::Url;

use super::client::Service;
use super::{credentials, FrontEnd, PollPolicy, Timeouts};
use crate::report::Zone;
use crate::settings::SourceSettings;

/// Where and how to reach the account sources. Build it at the edge.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// Base of the OAuth usage endpoint (`https://api.anthropic.com`).
    pub anthropic_api: Url,
    /// Base of claude.ai (`https://claude.ai`).
    pub claude_ai: Url,
    /// Claude Code's config folder (`.credentials.json`), from `Environment::claude_settings_dir`.
    pub claude_dir: Option<PathBuf>,
    /// Claude Code's account file (`.claude.json`, naming the organization), from
    /// `Environment::claude_account_file`; only Extra Usage writes read it ([`super::overage`]).
    pub claude_account_file: Option<PathBuf>,
    /// The macOS Keychain item read before the file (ignored elsewhere); `None`: the file only.
    pub macos_keychain: Option<credentials::KeychainItem>,
    /// Poll the OAuth usage endpoint (settings: `sources.account`).
    pub account_enabled: bool,
    /// Poll claude.ai (settings: `sources.claude_ai`); off by default, as it needs a pasted key.
    pub claude_ai_enabled: bool,
    /// The claude.ai organization to read; `None`: the one with chat, if there is one.
    pub claude_ai_organization: Option<String>,
    /// When the sources may be polled.
    pub policy: PollPolicy,
    /// The HTTP timeouts.
    pub timeouts: Timeouts,
    /// The zone of the clock times in messages ("rate limited by Anthropic until 14:05"):
    /// the user's `general.timezone`, set by the front end with [`AccountConfig::with_zone`].
    pub zone: Zone,
    /// Whose words a source's problem is shown in: the remedy for the same problem is a
    /// command in the CLI and a box in the pane ([`super::Remedy::hint`]). Set by the app with
    /// [`AccountConfig::with_front_end`]; the CLI's is the default.
    pub front_end: FrontEnd,
}

impl AccountConfig {
    /// The defaults: Anthropic's official hosts, the account source on and claude.ai off, Claude
    /// Code's credentials in `claude_dir` (and the default Keychain item), the default policy and
    /// timeouts, local time.
    pub fn new(claude_dir: Option<PathBuf>) -> AccountConfig {
        AccountConfig {
            anthropic_api: Service::AnthropicApi.official_url().clone(),
            claude_ai: Service::ClaudeAi.official_url().clone(),
            claude_dir,
            claude_account_file: None,
            macos_keychain: Some(credentials::KeychainItem::DEFAULT),
            account_enabled: true,
            claude_ai_enabled: false,
            claude_ai_organization: None,
            policy: PollPolicy::default(),
            timeouts: Timeouts::default(),
            zone: Zone::Local,
            front_end: FrontEnd::Cli,
        }
    }

    /// The zone messages give clock times in.
    pub fn with_zone(mut self, zone: Zone) -> AccountConfig {
        self.zone = zone;
        self
    }

    /// Whose words problems are shown in.
    pub fn with_front_end(mut self, front_end: FrontEnd) -> AccountConfig {
        self.front_end = front_end;
        self
    }

    /// Where Claude Code's account file is (see [`super::overage::account_file_path`]).
    pub fn with_account_file(mut self, path: Option<PathBuf>) -> AccountConfig {
        self.claude_account_file = path;
        self
    }

    /// Applies the user's source settings (toggles, organization, poll interval).
    pub fn with_settings(mut self, s: &SourceSettings) -> AccountConfig {
        self.account_enabled = s.account;
        self.claude_ai_enabled = s.claude_ai;
        self.claude_ai_organization = s.claude_ai_organization.clone();
        self.policy = PollPolicy::with_interval_minutes(s.poll_minutes);
        self
    }

    /// Account figures older than this make a snapshot stale: three poll intervals, at
    /// least 15 minutes.
    pub fn fresh_ms(&self) -> i64 {
        (3 * self.policy.interval_ms).max(15 * 60_000)
    }
}
