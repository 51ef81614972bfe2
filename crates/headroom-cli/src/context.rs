//! The edge: reads the environment once, opens the ledger and brings it up to date.

use std::sync::Arc;

use headroom_core::account::{AccountError, Mode, Refresher, SecretStore};
use headroom_core::environment::{AccountEnv, Edge};
use headroom_core::ingest::{self, IngestError, IngestReport};
use headroom_core::ledger::{Ledger, LedgerError};
use headroom_core::paths::{Environment, StateFiles};
use headroom_core::pricing::PriceTable;
use headroom_core::settings::{Loaded, Settings};
use headroom_core::snapshot::UsageSnapshot;

/// A failure with the exit code it deserves.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: u8,
    pub message: String,
    /// Another process held the ledger past the busy timeout: worth trying again.
    pub busy: bool,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            busy: false,
        }
    }
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Failure {
        Failure {
            busy: matches!(e, LedgerError::Locked { .. }),
            ..Failure::new(1, e.to_string())
        }
    }
}

impl From<AccountError> for Failure {
    fn from(e: AccountError) -> Failure {
        match e {
            AccountError::Ledger(e) => e.into(),
            e => Failure::new(1, e.to_string()),
        }
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

/// Each thing loading the settings found worth saying, on stderr.
fn warn_about(loaded: &Loaded) {
    for line in loaded.unreadable.iter().chain(&loaded.warnings) {
        eprintln!("warning: {line}");
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) struct Context {
    pub env: Environment,
    pub state: StateFiles,
    pub account: AccountEnv,
    pub prices: PriceTable,
}

impl Context {
    pub(crate) fn from_env() -> Result<Context, Failure> {
        let Edge {
            paths: env,
            state,
            account,
        } = Edge::from_process().map_err(|e| Failure::new(2, e.to_string()))?;
        let prices = PriceTable::load(&state.downloaded_prices(), &state.price_overrides())
            .map_err(|e| Failure::new(1, e.to_string()))?;
        Ok(Context {
            env,
            state,
            account,
            prices,
        })
    }

    pub(crate) fn open_ledger(&self) -> Result<Ledger, Failure> {
        Ok(Ledger::open(&self.state.ledger())?)
    }

    /// The account sources as the user set them up (see `headroom_core::environment` for
    /// the variables that point them elsewhere).
    pub(crate) fn refresher(&self, settings: &Settings) -> Result<Refresher, Failure> {
        let config = self
            .account
            .config(self.env.claude_settings_dir(), &settings.sources)
            .with_zone(settings.zone());
        Refresher::new(config, self.secrets()).map_err(|e| Failure::new(1, e.to_string()))
    }

    /// The user's settings. What loading had to say (a field reset to its default, a file
    /// that cannot be read) goes to stderr; the file itself is never moved by a read.
    pub(crate) fn settings(&self) -> Result<Settings, Failure> {
        self.settings_or(None)
    }

    /// As [`Context::settings`], without printing what is wrong with the file: for a command
    /// that goes on to run the service's task (`serve`), whose first round says it (it would
    /// otherwise be said twice, once here and once by the task).
    pub(crate) fn settings_unsaid(&self) -> Result<Settings, Failure> {
        self.load_settings().map(|loaded| loaded.settings)
    }

    /// The settings file read, with what reading it had to say.
    fn load_settings(&self) -> Result<Loaded, Failure> {
        headroom_core::settings::load(&self.state.settings())
            .map_err(|e| Failure::new(1, e.to_string()))
    }

    /// As [`Context::settings`], but a file that cannot be read at all gives `last` (what a
    /// long-running command used so far) instead of the defaults.
    pub(crate) fn settings_or(&self, last: Option<&Settings>) -> Result<Settings, Failure> {
        let loaded = self.load_settings()?;
        warn_about(&loaded);
        Ok(match (&loaded.unreadable, last) {
            (Some(_), Some(last)) => {
                eprintln!("warning: keeping the settings in use until the file can be read");
                last.clone()
            }
            _ => loaded.settings,
        })
    }

    /// Changes the settings as one step under the settings lock, saving only the fields
    /// `change` sets (another process's save in between is kept). Returns what was saved.
    pub(crate) fn update_settings(
        &self,
        change: impl FnOnce(&mut Settings),
    ) -> Result<Settings, Failure> {
        let now_s = chrono::Utc::now().timestamp();
        let saved = headroom_core::settings::update(&self.state.settings(), now_s, change)
            .map_err(|e| Failure::new(1, e.to_string()))?;
        warn_about(&saved);
        Ok(saved.settings)
    }

    /// Where the claude.ai session key is kept: the OS keychain, and nowhere else. Nothing is
    /// asked of it until a claude.ai source is used, so commands that never touch claude.ai
    /// work on machines without a keychain service.
    pub(crate) fn secrets(&self) -> Arc<dyn SecretStore> {
        Arc::new(headroom_keychain::KeychainStore::new())
    }

    /// Ingests new transcript lines, then takes the snapshot from the account sources in
    /// `mode`. No transcripts at all is normal for a chat-only user: the account figures
    /// still count.
    pub(crate) fn snapshot(
        &self,
        ledger: &mut Ledger,
        settings: &Settings,
        now: i64,
        mode: Mode,
    ) -> Result<UsageSnapshot, Failure> {
        self.snapshot_and_ingest(ledger, settings, now, mode)
            .map(|(snapshot, _)| snapshot)
    }

    /// [`Context::snapshot`], with what the ingest found (none without transcripts).
    pub(crate) fn snapshot_and_ingest(
        &self,
        ledger: &mut Ledger,
        settings: &Settings,
        now: i64,
        mode: Mode,
    ) -> Result<(UsageSnapshot, Option<IngestReport>), Failure> {
        let report = match self.refresh(ledger, settings, false) {
            Ok(report) => Some(report),
            Err(f) if f.code == 2 => {
                tracing::debug!("{}", f.message);
                None
            }
            Err(f) => return Err(f),
        };
        let snapshot = self
            .refresher(settings)?
            .refresh_blocking(ledger, now, mode)?;
        Ok((snapshot, report))
    }

    /// Reads what is new in the transcripts, in Claude Code's folders and the extra ones in
    /// `settings`. Warnings (unreadable files, unknown models) go to stderr; `verbose` adds
    /// the run's counts.
    pub(crate) fn refresh(
        &self,
        ledger: &mut Ledger,
        settings: &Settings,
        verbose: bool,
    ) -> Result<IngestReport, Failure> {
        let roots = self.env.transcript_roots(settings);
        let files = ingest::discover(&roots)?;
        let report = ingest::ingest(ledger, &files, &self.prices)?;
        for (path, reason) in &report.unreadable {
            eprintln!("warning: cannot read {}: {reason}", path.display());
        }
        for model in &report.unknown_models {
            eprintln!(
                "warning: no complete price known for model {model:?}; its cost is left out (run `headroom prices update`, or add it to {})",
                self.state.price_overrides().display()
            );
        }
        if verbose {
            eprintln!(
                "ingest: {} files, {} read ({} bytes), {} new responses, {} given their final usage, {} skipped lines",
                report.files_seen,
                report.files_read,
                report.bytes_read,
                report.new_entries,
                report.updated_entries,
                report.bad_line_total()
            );
            for (kind, count) in &report.bad_lines {
                eprintln!("  skipped {count} lines: {kind}");
            }
            for entry in &report.skipped {
                eprintln!("  not read: {}: {}", entry.path.display(), entry.reason);
            }
        }
        Ok(report)
    }
}

/// `HEADROOM_NO_BROWSER` is set (to anything but empty or `0`): open no browser and no file
/// with the desktop's handler; say the address instead (docs/environment.md).
pub(crate) fn no_browser() -> bool {
    std::env::var("HEADROOM_NO_BROWSER").is_ok_and(|v| !v.is_empty() && v != "0")
}
