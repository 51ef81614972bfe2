//! The edge: reads the environment once, opens the ledger and brings it up to date.

use std::path::PathBuf;

use std::sync::Arc;

use headroom_core::account::{AccountConfig, Refresher, SecretStore};
use headroom_core::ingest::{self, IngestError, IngestReport};
use headroom_core::ledger::{Ledger, LedgerError};
use headroom_core::paths::{Environment, StateFiles};
use headroom_core::pricing::PriceTable;
use headroom_core::settings::Settings;

/// A failure with the exit code it deserves.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Failure {
        Failure::new(1, e.to_string())
    }
}

impl From<IngestError> for Failure {
    fn from(e: IngestError) -> Failure {
        match e {
            IngestError::NoTranscripts { .. } => Failure::new(2, e.to_string()),
            IngestError::Ledger(e) => e.into(),
        }
    }
}

pub struct Context {
    pub env: Environment,
    pub state: StateFiles,
    pub prices: PriceTable,
}

impl Context {
    pub fn from_env() -> Result<Context, Failure> {
        let env = Environment {
            claude_config_dir: std::env::var_os("CLAUDE_CONFIG_DIR"),
            headroom_home: std::env::var_os("HEADROOM_HOME"),
            home: directories::BaseDirs::new().map(|b| b.home_dir().to_owned()),
            platform_data_dir: directories::ProjectDirs::from("", "", "headroom")
                .map(|p| p.data_dir().to_owned()),
        };
        let dir: PathBuf = env.headroom_home().ok_or_else(|| {
            Failure::new(
                2,
                "cannot find a folder for Headroom's data: set HEADROOM_HOME",
            )
        })?;
        let state = StateFiles::new(dir);
        let prices = PriceTable::with_overrides(&state.price_overrides())
            .map_err(|e| Failure::new(1, e.to_string()))?;
        Ok(Context { env, state, prices })
    }

    pub fn open_ledger(&self) -> Result<Ledger, Failure> {
        Ok(Ledger::open(&self.state.ledger())?)
    }

    /// The account sources as the user set them up. Base URLs come from
    /// `HEADROOM_ANTHROPIC_API` / `HEADROOM_CLAUDE_AI` (tests point them at loopback).
    pub fn refresher(&self, settings: &Settings) -> Result<Refresher, Failure> {
        let bad = |e: headroom_core::account::AccountError| Failure::new(2, e.to_string());
        let api = std::env::var("HEADROOM_ANTHROPIC_API").ok();
        let claude_ai = std::env::var("HEADROOM_CLAUDE_AI").ok();
        let mut config = AccountConfig::new(self.env.claude_settings_dir())
            .with_settings(&settings.sources)
            .with_anthropic_api(api.as_deref())
            .map_err(bad)?
            .with_claude_ai(claude_ai.as_deref())
            .map_err(bad)?;
        // The one-request-a-minute floor protects Anthropic. A test server on loopback is not
        // Anthropic, and the end-to-end tests (the Extra Usage watch) would otherwise wait
        // minutes: there, and only there, `HEADROOM_TEST_POLL_FLOOR_MS` lowers it.
        if let Some(floor) = std::env::var("HEADROOM_TEST_POLL_FLOOR_MS")
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
        {
            let loopback = |host: Option<&str>| {
                host.is_some_and(|h| h == "localhost" || h.starts_with("127.") || h == "[::1]")
            };
            if loopback(config.anthropic_api.host_str())
                && (!config.claude_ai_enabled || loopback(config.claude_ai.host_str()))
            {
                config.policy.min_interval_ms = floor.clamp(0, config.policy.min_interval_ms);
            }
        }
        Refresher::new(config, self.secrets()).map_err(|e| Failure::new(1, e.to_string()))
    }

    /// The user's settings; a file moved aside as corrupt is said on stderr.
    pub fn settings(&self) -> Result<Settings, Failure> {
        let now_s = chrono::Utc::now().timestamp();
        let loaded = headroom_core::settings::load(&self.state.settings(), now_s)
            .map_err(|e| Failure::new(1, e.to_string()))?;
        if let Some(notice) = loaded.notice {
            eprintln!("warning: {notice}");
        }
        Ok(loaded.settings)
    }

    /// Saves the settings atomically.
    pub fn save_settings(&self, settings: &Settings) -> Result<(), Failure> {
        headroom_core::settings::save(&self.state.settings(), settings)
            .map_err(|e| Failure::new(1, e.to_string()))
    }

    /// Where the claude.ai session key is kept: the OS keychain, and nowhere else. Nothing is
    /// asked of it until a claude.ai source is used, so commands that never touch claude.ai
    /// work on machines without a keychain service.
    pub fn secrets(&self) -> Arc<dyn SecretStore> {
        Arc::new(headroom_keychain::KeychainStore::new())
    }

    /// Reads what is new in the transcripts. Warnings (unreadable files, unknown models) go
    /// to stderr; `verbose` adds the run's counts.
    pub fn refresh(&self, ledger: &mut Ledger, verbose: bool) -> Result<IngestReport, Failure> {
        let roots = self.env.claude_roots();
        let files = ingest::discover(&roots)?;
        let report = ingest::ingest(ledger, &files, &self.prices)?;
        for (path, reason) in &report.unreadable {
            eprintln!("warning: cannot read {}: {reason}", path.display());
        }
        for model in &report.unknown_models {
            eprintln!(
                "warning: no price known for model {model:?}; its cost counts as $0 (add it to {})",
                self.state.price_overrides().display()
            );
        }
        if verbose {
            eprintln!(
                "ingest: {} files, {} read ({} bytes), {} new responses, {} skipped lines",
                report.files_seen,
                report.files_read,
                report.bytes_read,
                report.new_entries,
                report.bad_line_total()
            );
            for (kind, count) in &report.bad_lines {
                eprintln!("  skipped {count} lines: {kind}");
            }
        }
        Ok(report)
    }
}
