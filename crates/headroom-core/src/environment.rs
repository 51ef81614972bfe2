//! The environment variables every front end (the `headroom` CLI, the tray app) reads, and
//! what they mean, in one place so the CLI and the app always agree on the data folder and
//! on where the account sources are.
//!
//! The variables come in through a closure ([`Edge::read`]), so the rules are tested without
//! touching the process environment; the front ends call [`Edge::from_process`] once at start,
//! and nothing else in the core reads the environment.
//!
//! - `HEADROOM_HOME`: Headroom's data folder (else the platform's data folder).
//! - `CLAUDE_CONFIG_DIR`: Claude Code's config folders, comma-separated.
//! - `HEADROOM_ANTHROPIC_API`, `HEADROOM_CLAUDE_AI`: base URLs of the account sources, for
//!   tests that point them at a local server. Each accepts only its official origin
//!   (`https://api.anthropic.com`, `https://claude.ai`) or a loopback address; anything else
//!   refuses to start, naming the variable (see `account::client::base_url`).
//! - `HEADROOM_PRICES_URL`: where `prices.auto_update` fetches LiteLLM's price data from, for
//!   tests. Accepted only on the default's host over https (`raw.githubusercontent.com`) or on
//!   loopback; anything else refuses to start, as above.
//! - `HEADROOM_TEST_POLL_FLOOR_MS`: lowers the one-request-a-minute floor, and only when
//!   every enabled source is on loopback.

use std::ffi::OsString;
use std::path::PathBuf;

use reqwest::Url;

use crate::account::client::{self, is_loopback, Service};
use crate::account::credentials::KeychainItem;
use crate::account::AccountConfig;
use crate::paths::{Environment, StateFiles};
use crate::settings::{Settings, SourceSettings};

/// What the front ends read from the environment at start.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Where Claude Code's and Headroom's files are.
    pub paths: Environment,
    /// The files in Headroom's state folder.
    pub state: StateFiles,
    /// The account sources' overrides.
    pub account: AccountEnv,
}

/// The account sources' overrides, checked when read: a URL that could send a credential
/// anywhere but Anthropic or this machine stops every front end at start, where the user
/// sees it, rather than being reported (or ignored) later.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountEnv {
    /// `HEADROOM_ANTHROPIC_API`.
    pub anthropic_api: Option<Url>,
    /// `HEADROOM_CLAUDE_AI`.
    pub claude_ai: Option<Url>,
    /// `HEADROOM_PRICES_URL`: where the daily price update (`prices.auto_update`) fetches
    /// from instead of [`crate::pricing::update::DEFAULT_URL`]. Kept here, with the account
    /// sources' overrides, as every front end carries these.
    pub prices_url: Option<Url>,
    /// `HEADROOM_TEST_POLL_FLOOR_MS`, when it is a whole number.
    pub test_poll_floor_ms: Option<i64>,
    /// Claude Code's account file (`Environment::claude_account_file`), for Extra Usage
    /// writes: it names the organization.
    pub claude_account_file: Option<PathBuf>,
    /// Claude Code's macOS Keychain item (`Environment::claude_keychain_item`).
    pub claude_keychain_item: KeychainItem,
}

/// Why a front end cannot start: the environment names no data folder, or an override is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvironmentError {
    /// Neither `HEADROOM_HOME` nor the platform names a data folder.
    #[error("cannot find a folder for Headroom's data: set HEADROOM_HOME")]
    NoDataFolder,
    /// A base-URL override Headroom will not send a credential to.
    #[error("{variable} is set to {value:?}, which Headroom refuses: {why}. It would receive your {credential}; unset {variable} (it is meant for tests on this machine)")]
    RefusedOverride {
        /// The variable.
        variable: &'static str,
        /// What it is set to.
        value: String,
        /// Why it is refused.
        why: String,
        /// The credential it would receive ("Claude Code login", "claude.ai session key").
        credential: &'static str,
    },
    /// `HEADROOM_PRICES_URL` names a host other than LiteLLM's file's, or plain http off
    /// this machine: a price table from there could make every cost wrong.
    #[error("HEADROOM_PRICES_URL is set to {value:?}, which Headroom refuses: {why}. Unset it (it is meant for tests on this machine)")]
    RefusedPricesUrl {
        /// What it is set to.
        value: String,
        /// Why it is refused.
        why: String,
    },
}

/// `HEADROOM_PRICES_URL`'s rule: https on the default source's host, or loopback.
fn prices_url(value: &str) -> Result<Url, EnvironmentError> {
    let refused = |why: String| EnvironmentError::RefusedPricesUrl {
        value: value.to_owned(),
        why,
    };
    let url = Url::parse(value.trim()).map_err(|e| refused(format!("not a URL ({e})")))?;
    crate::pricing::update::check_url(&url).map_err(refused)?;
    let default_host = Url::parse(crate::pricing::update::DEFAULT_URL)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    if is_loopback(&url) || url.host_str().map(str::to_owned) == default_host {
        Ok(url)
    } else {
        Err(refused(format!(
            "only {} or a loopback address is accepted",
            default_host.unwrap_or_default()
        )))
    }
}

impl Edge {
    /// What this process was started with: its environment, the user's home and the
    /// platform's data folder for Headroom.
    pub fn from_process() -> Result<Edge, EnvironmentError> {
        Edge::read(
            |name| std::env::var_os(name),
            directories::BaseDirs::new().map(|b| b.home_dir().to_owned()),
            // The local data folder: the same as the data folder on Linux and macOS; on
            // Windows %LOCALAPPDATA%, not the roaming profile, which a domain copies to a
            // server at every logout (the ledger grows to hundreds of MB).
            directories::ProjectDirs::from("", "", "headroom")
                .map(|p| p.data_local_dir().to_owned()),
        )
    }

    /// Reads the variables through `var`. `home` and `platform_data_dir` are the user's home
    /// and the platform data folder for Headroom (from the `directories` crate, at the edge).
    pub fn read(
        var: impl Fn(&str) -> Option<OsString>,
        home: Option<PathBuf>,
        platform_data_dir: Option<PathBuf>,
    ) -> Result<Edge, EnvironmentError> {
        let paths = Environment {
            claude_config_dir: var("CLAUDE_CONFIG_DIR"),
            headroom_home: var("HEADROOM_HOME"),
            home,
            platform_data_dir,
        };
        let dir = paths
            .headroom_home()
            .ok_or(EnvironmentError::NoDataFolder)?;
        // A URL that is not UTF-8 cannot be valid; kept lossy so the error names what was set.
        let text = |name: &str| var(name).map(|v| v.to_string_lossy().into_owned());
        let base = |variable: &'static str, service: Service, credential: &'static str| {
            // An empty variable keeps the default (a shell's `VAR=` is not a URL).
            match text(variable).filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(value) => client::base_url(&value, service).map(Some).map_err(|e| {
                    EnvironmentError::RefusedOverride {
                        variable,
                        why: match e {
                            client::ClientError::BadUrl { why, .. } => why,
                            other => other.to_string(),
                        },
                        value,
                        credential,
                    }
                }),
            }
        };
        let claude_account_file = paths.claude_account_file();
        let claude_keychain_item = paths.claude_keychain_item();
        Ok(Edge {
            paths,
            state: StateFiles::new(dir),
            account: AccountEnv {
                anthropic_api: base(
                    "HEADROOM_ANTHROPIC_API",
                    Service::AnthropicApi,
                    "Claude Code login (OAuth token)",
                )?,
                claude_ai: base(
                    "HEADROOM_CLAUDE_AI",
                    Service::ClaudeAi,
                    "claude.ai session key",
                )?,
                prices_url: text("HEADROOM_PRICES_URL")
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| prices_url(&v))
                    .transpose()?,
                test_poll_floor_ms: text("HEADROOM_TEST_POLL_FLOOR_MS")
                    .and_then(|v| v.trim().parse::<i64>().ok()),
                claude_account_file,
                claude_keychain_item,
            },
        })
    }

    /// The folders transcripts are read from, the extra ones in `settings` included (see
    /// [`Environment::transcript_roots`]).
    pub fn transcript_roots(&self, settings: &Settings) -> Vec<PathBuf> {
        self.paths.transcript_roots(settings)
    }

    /// The account sources as the user set them up, with this environment's overrides.
    pub fn account_config(&self, sources: &SourceSettings) -> AccountConfig {
        self.account
            .config(self.paths.claude_settings_dir(), sources)
    }
}

impl AccountEnv {
    /// The account sources as the user set them up: `claude_dir` holds Claude Code's
    /// credentials, `sources` the user's toggles and poll interval.
    pub fn config(&self, claude_dir: Option<PathBuf>, sources: &SourceSettings) -> AccountConfig {
        let mut config = AccountConfig::new(claude_dir)
            .with_settings(sources)
            .with_account_file(self.claude_account_file.clone());
        config.macos_keychain = Some(self.claude_keychain_item);
        if let Some(url) = &self.anthropic_api {
            config.anthropic_api = url.clone();
        }
        if let Some(url) = &self.claude_ai {
            config.claude_ai = url.clone();
        }
        // The one-request-a-minute floor protects Anthropic. A test server on loopback is not
        // Anthropic, and the end-to-end tests (the Extra Usage watch) would otherwise wait
        // minutes: there, and only there, the floor may be lowered (never raised).
        if let Some(floor) = self.test_poll_floor_ms {
            if is_loopback(&config.anthropic_api)
                && (!config.claude_ai_enabled || is_loopback(&config.claude_ai))
            {
                config.policy.min_interval_ms = floor.clamp(0, config.policy.min_interval_ms);
            }
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Edge, EnvironmentError> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Edge::read(
            |name| map.get(name).cloned(),
            Some("/home/u".into()),
            Some("/home/u/.local/share/headroom".into()),
        )
    }

    fn default_floor() -> i64 {
        AccountConfig::new(None).policy.min_interval_ms
    }

    #[test]
    fn folders_come_from_the_variables_or_the_platform() {
        let edge = read(&[]).unwrap();
        assert_eq!(
            edge.state.dir,
            PathBuf::from("/home/u/.local/share/headroom")
        );
        assert_eq!(
            edge.paths.claude_settings_dir(),
            Some(PathBuf::from("/home/u/.claude"))
        );
        assert_eq!(
            edge.account,
            AccountEnv {
                claude_account_file: Some(PathBuf::from("/home/u/.claude.json")),
                ..AccountEnv::default()
            }
        );

        let edge = read(&[
            ("HEADROOM_HOME", "/tmp/h"),
            ("CLAUDE_CONFIG_DIR", "/c1,/c2"),
        ])
        .unwrap();
        assert_eq!(edge.state.dir, PathBuf::from("/tmp/h"));
        assert_eq!(
            edge.account_config(&SourceSettings::default()).claude_dir,
            Some(PathBuf::from("/c1"))
        );
    }

    #[test]
    fn the_macos_keychain_item_is_the_config_folders_own() {
        let config = |vars: &[(&str, &str)]| {
            read(vars)
                .unwrap()
                .account_config(&SourceSettings::default())
        };
        let service = |vars: &[(&str, &str)]| config(vars).macos_keychain.map(|i| i.service());
        assert_eq!(service(&[]).as_deref(), Some("Claude Code-credentials"));
        assert_eq!(
            service(&[("CLAUDE_CONFIG_DIR", "")]).as_deref(),
            Some("Claude Code-credentials")
        );
        // The folder the credentials file is read from; digits: printf %s /c1 | sha256sum
        assert_eq!(
            service(&[("CLAUDE_CONFIG_DIR", "/c1,/c2")]).as_deref(),
            Some("Claude Code-credentials-3d7e645e")
        );
    }

    #[test]
    fn no_data_folder_is_a_clear_error() {
        let err = Edge::read(|_| None, None, None).unwrap_err();
        assert_eq!(err, EnvironmentError::NoDataFolder);
        assert!(err.to_string().contains("HEADROOM_HOME"));
    }

    #[test]
    fn base_urls_are_overridden_on_loopback_only() {
        let edge = read(&[
            ("HEADROOM_ANTHROPIC_API", "http://127.0.0.1:9"),
            ("HEADROOM_CLAUDE_AI", "http://[::1]:8"),
        ])
        .unwrap();
        let config = edge.account_config(&SourceSettings::default());
        assert_eq!(config.anthropic_api.as_str(), "http://127.0.0.1:9/");
        assert_eq!(config.claude_ai.as_str(), "http://[::1]:8/");

        // An empty variable keeps the default (a shell's `VAR=` is not a URL).
        let edge = read(&[("HEADROOM_ANTHROPIC_API", " ")]).unwrap();
        let config = edge.account_config(&SourceSettings::default());
        assert_eq!(config.anthropic_api.as_str(), "https://api.anthropic.com/");

        // The official hosts, written out, are accepted.
        let edge = read(&[
            ("HEADROOM_ANTHROPIC_API", "https://api.anthropic.com"),
            ("HEADROOM_CLAUDE_AI", "https://claude.ai/"),
        ])
        .unwrap();
        let config = edge.account_config(&SourceSettings::default());
        assert_eq!(config.anthropic_api.as_str(), "https://api.anthropic.com/");
        assert_eq!(config.claude_ai.as_str(), "https://claude.ai/");
    }

    #[test]
    fn a_foreign_host_is_refused_naming_the_variable() {
        for (variable, credential) in [
            ("HEADROOM_ANTHROPIC_API", "OAuth token"),
            ("HEADROOM_CLAUDE_AI", "session key"),
        ] {
            for value in [
                "https://attacker.example",
                "http://example.com",
                "http://localhost:8",
            ] {
                let err = read(&[(variable, value)]).unwrap_err();
                assert!(
                    matches!(&err, EnvironmentError::RefusedOverride { variable: v, .. } if *v == variable),
                    "{err:?}"
                );
                let text = err.to_string();
                assert!(text.starts_with(variable), "{text}");
                assert!(text.contains(value), "{text}");
                assert!(text.contains(credential), "{text}");
            }
        }
    }

    #[test]
    fn poll_floor_is_lowered_only_on_loopback() {
        let sources = SourceSettings::default();
        let floor = |vars: &[(&str, &str)], sources: &SourceSettings| {
            read(vars)
                .unwrap()
                .account_config(sources)
                .policy
                .min_interval_ms
        };
        let local = ("HEADROOM_ANTHROPIC_API", "http://127.0.0.1:9");
        assert_eq!(
            floor(&[local, ("HEADROOM_TEST_POLL_FLOOR_MS", "250")], &sources),
            250
        );
        // Negative means zero; it never raises the floor; junk is ignored.
        assert_eq!(
            floor(&[local, ("HEADROOM_TEST_POLL_FLOOR_MS", "-5")], &sources),
            0
        );
        assert_eq!(
            floor(
                &[local, ("HEADROOM_TEST_POLL_FLOOR_MS", "999999999999")],
                &sources
            ),
            default_floor()
        );
        assert_eq!(
            floor(&[local, ("HEADROOM_TEST_POLL_FLOOR_MS", "soon")], &sources),
            default_floor()
        );
        // Anthropic itself keeps its floor.
        assert_eq!(
            floor(&[("HEADROOM_TEST_POLL_FLOOR_MS", "250")], &sources),
            default_floor()
        );
        // With claude.ai on, both sources must be on loopback.
        let with_claude_ai = SourceSettings {
            claude_ai: true,
            ..SourceSettings::default()
        };
        assert_eq!(
            floor(
                &[local, ("HEADROOM_TEST_POLL_FLOOR_MS", "250")],
                &with_claude_ai
            ),
            default_floor()
        );
        assert_eq!(
            floor(
                &[
                    local,
                    ("HEADROOM_CLAUDE_AI", "http://[::1]:8"),
                    ("HEADROOM_TEST_POLL_FLOOR_MS", "250")
                ],
                &with_claude_ai
            ),
            250
        );
    }

    #[test]
    fn the_prices_url_is_litellms_host_or_loopback() {
        let edge = read(&[("HEADROOM_PRICES_URL", "http://127.0.0.1:9/p.json")]).unwrap();
        assert_eq!(
            edge.account.prices_url.unwrap().as_str(),
            "http://127.0.0.1:9/p.json"
        );
        let edge = read(&[(
            "HEADROOM_PRICES_URL",
            "https://raw.githubusercontent.com/BerriAI/litellm/v1/model_prices_and_context_window.json",
        )])
        .unwrap();
        assert!(edge.account.prices_url.is_some());
        assert_eq!(
            read(&[("HEADROOM_PRICES_URL", " ")])
                .unwrap()
                .account
                .prices_url,
            None
        );
        for bad in [
            "https://evil.example/p.json",
            "http://raw.githubusercontent.com/p.json",
            "http://localhost:9/p.json",
            "file:///tmp/p.json",
        ] {
            let err = read(&[("HEADROOM_PRICES_URL", bad)]).unwrap_err();
            assert!(
                matches!(err, EnvironmentError::RefusedPricesUrl { .. }),
                "{bad}: {err}"
            );
        }
    }
}
