//! Account usage from every source Anthropic gives, merged into one [`UsageSnapshot`].
//!
//! Sources, cheapest first:
//! 1. **statusline**: Claude Code pipes a JSON payload with `rate_limits` to
//!    `headroom statusline` on every render ([`statusline`]); no network at all.
//! 2. **account**: `GET {HEADROOM_ANTHROPIC_API}/api/oauth/usage` with Claude Code's own OAuth
//!    token ([`credentials`], read-only; never refreshed by Headroom).
//! 3. **claude.ai**: claude.ai's organization endpoints with a pasted session key kept in the
//!    OS keychain (behind [`SecretStore`]; the keyring adapter lives outside the core).
//! 4. **local-estimate**: the active 5-hour block from local transcripts, when no account
//!    figure exists.
//!
//! Every reading is written to the ledger ([`store`]); polling follows [`policy`] with its
//! state (cool-down included) in the ledger, so every process respects it.
//!
//! # API for front ends (tray, `watch`, CLI)
//!
//! ```text
//! // Paths, toggles, poll minutes and the base URLs checked at start (`environment::Edge`):
//! let config = edge.account_config(&settings.sources);
//! let refresher = Refresher::new(config, Arc::new(keychain_store))?;  // or MemoryStore
//! // Async (tokio); the future is Send (holds only `&mut Ledger`):
//! let snap: UsageSnapshot = refresher.refresh(&mut ledger, now_ms, Mode::Auto).await?;
//! // From sync code (CLI, `watch`): builds a current-thread runtime for the call.
//! let snap = refresher.refresh_blocking(&mut ledger, now_ms, Mode::Auto)?;
//! // No network at all (tray redraws, statusline, `--offline`):
//! let snap = account::snapshot_from_ledger(&ledger, refresher.config(), now_ms)?;
//! ```
//!
//! - [`Refresher::refresh`] reads the newest samples and poll state from the ledger, asks
//!   [`policy`] whether each source may be polled (a fresh statusline sample means no request;
//!   429 cool-down and backoff are honoured), polls what is allowed, records the readings
//!   and returns the merged snapshot. `Mode::Force` (`--refresh`, Refresh now, the Extra
//!   Usage watch) asks now unless a request went out less than a minute ago or a 429
//!   cool-down is on; `Mode::Never` is [`snapshot_from_ledger`].
//! - Offline, rate limited, signed out: never an `Err`. They appear in
//!   `snapshot.sources[].error` and `snapshot.errors` (words a person can act on, never a
//!   secret) and the newest figures on record are shown with their age. `Err` is only for a
//!   ledger that cannot be read or written.
//! - Transcripts are the caller's to ingest (`ingest::ingest`) before asking, so the local
//!   block is current.
//! - [`extra_usage`] has the Extra Usage helpers: the trap, the cap mismatch, and the
//!   browser flow's watch; [`overage`] turns Extra Usage on or off and sets its cap
//!   directly (confirmed, verified, recorded).

pub mod client;
pub mod credentials;
pub mod extra_usage;
pub mod merge;
pub mod overage;
pub mod policy;
pub mod secret;
pub mod status_json;
pub mod statusline;
pub mod store;
pub mod usage;

use std::path::PathBuf;
use std::sync::Arc;

use reqwest::Url;

pub use client::{FetchError, Timeouts};
pub use policy::{Mode, PollPolicy};
pub use secret::{
    session_key_from_paste, KeyError, MemoryStore, Secret, SecretStore, SecretStoreError,
    CLAUDE_AI_SESSION_KEY,
};

use crate::blocks::{self, Block};
use crate::ledger::{Ledger, LedgerError};
use crate::report::{CostMode, Zone};
use crate::settings::SourceSettings;
use crate::snapshot::{ExtraUsage, LocalBlock, Source, SourceStatus, UsageSnapshot};
use client::{Auth, Http};
use policy::{Decision, FailureKind, Outcome, PollState, WaitReason};
use usage::{Organization, ParsedUsage, UsageParseError};

/// How far back the local estimate looks for the largest block (its 100 %).
const LOCAL_LIMIT_LOOKBACK_MS: i64 = 30 * 24 * 3_600_000;
/// Ledger meta key of the claude.ai organization chosen automatically.
const META_CLAUDE_AI_ORG: &str = "account.claude_ai.organization";

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
    /// `Environment::claude_account_file`; only Extra Usage writes read it ([`overage`]).
    pub claude_account_file: Option<PathBuf>,
    /// The macOS Keychain item read before the file (ignored elsewhere); `None`: the file only.
    pub macos_keychain: Option<credentials::KeychainItem>,
    pub account_enabled: bool,
    pub claude_ai_enabled: bool,
    pub claude_ai_organization: Option<String>,
    pub policy: PollPolicy,
    pub timeouts: Timeouts,
    /// The zone of the clock times in messages ("rate limited by Anthropic until 14:05"):
    /// the user's `general.timezone`, set by the front end with [`AccountConfig::with_zone`].
    pub zone: Zone,
}

impl AccountConfig {
    pub fn new(claude_dir: Option<PathBuf>) -> AccountConfig {
        AccountConfig {
            // Constants: they parse (the unit tests say so).
            anthropic_api: Url::parse(client::DEFAULT_ANTHROPIC_API).expect("constant URL"),
            claude_ai: Url::parse(client::DEFAULT_CLAUDE_AI).expect("constant URL"),
            claude_dir,
            claude_account_file: None,
            macos_keychain: Some(credentials::KeychainItem::DEFAULT),
            account_enabled: true,
            claude_ai_enabled: false,
            claude_ai_organization: None,
            policy: PollPolicy::default(),
            timeouts: Timeouts::default(),
            zone: Zone::Local,
        }
    }

    /// The zone messages give clock times in.
    pub fn with_zone(mut self, zone: Zone) -> AccountConfig {
        self.zone = zone;
        self
    }

    /// Where Claude Code's account file is (see [`overage::account_file_path`]).
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

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Client(#[from] client::ClientError),
    #[error("cannot start the network runtime: {0}")]
    Runtime(String),
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Why one source gave no figures, for messages and the poll state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Parse(#[from] UsageParseError),
    #[error("no claude.ai session key is stored; paste one with `headroom claude-ai login`")]
    NoSessionKey,
    #[error(transparent)]
    Keychain(#[from] SecretStoreError),
    #[error("the claude.ai session key has no organization with chat")]
    NoOrganization,
    #[error("the claude.ai session key has several organizations ({}); choose one with `headroom claude-ai orgs --use <uuid>`", .0.join(", "))]
    ChooseOrganization(Vec<String>),
}

impl SourceError {
    fn kind(&self) -> FailureKind {
        match self {
            SourceError::Credentials(_)
            | SourceError::NoSessionKey
            | SourceError::NoOrganization
            | SourceError::ChooseOrganization(_) => FailureKind::Auth,
            SourceError::Fetch(FetchError::Offline(_) | FetchError::Timeout(_)) => {
                FailureKind::Offline
            }
            SourceError::Fetch(FetchError::RateLimited { .. }) => FailureKind::RateLimited,
            SourceError::Fetch(FetchError::Unauthorized | FetchError::Forbidden { .. }) => {
                FailureKind::Auth
            }
            SourceError::Parse(UsageParseError::Html) => FailureKind::Auth,
            SourceError::Keychain(_) => FailureKind::Auth,
            _ => FailureKind::Server,
        }
    }

    /// The message for a person, with what to do about it.
    fn message(&self, source: Source) -> String {
        match (self, source) {
            (SourceError::Fetch(FetchError::Unauthorized), Source::ClaudeAi)
            | (SourceError::Parse(UsageParseError::Html), Source::ClaudeAi) => {
                "claude.ai refused the session key (signed out or expired); paste a new one with `headroom claude-ai login`".to_owned()
            }
            (SourceError::Fetch(FetchError::Unauthorized), _) => {
                "Anthropic refused Claude Code's login (expired or revoked); run `claude` once to sign in again".to_owned()
            }
            (SourceError::Fetch(FetchError::Forbidden { .. }), Source::Account) => {
                "Claude Code's login may not read usage (403: the `user:profile` scope is missing); run `claude` and `/login` again".to_owned()
            }
            (SourceError::Parse(UsageParseError::Html), _) => {
                "Anthropic answered with a login page instead of usage figures; run `claude` once to sign in again".to_owned()
            }
            (SourceError::Fetch(FetchError::Offline(why)), _) => format!("offline ({why})"),
            (SourceError::Fetch(FetchError::Timeout(s)), _) => {
                format!("offline (no answer within {s} s)")
            }
            (e, _) => e.to_string(),
        }
    }

    fn outcome(&self, source: Source) -> Outcome {
        match self {
            SourceError::Fetch(FetchError::RateLimited { retry_after_s }) => Outcome::RateLimited {
                retry_after_s: *retry_after_s,
            },
            e => Outcome::Failed {
                kind: e.kind(),
                message: e.message(source),
            },
        }
    }
}

/// Polls the account sources within the policy and merges the snapshot. See the module
/// documentation for the contract.
pub struct Refresher {
    config: AccountConfig,
    http: Http,
    secrets: Arc<dyn SecretStore>,
}

impl std::fmt::Debug for Refresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresher")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Refresher {
    pub fn new(
        config: AccountConfig,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Refresher, AccountError> {
        let http = Http::new(config.timeouts)?;
        Ok(Refresher {
            config,
            http,
            secrets,
        })
    }

    pub fn config(&self) -> &AccountConfig {
        &self.config
    }

    pub fn secrets(&self) -> &Arc<dyn SecretStore> {
        &self.secrets
    }

    /// Polls what the policy allows, records it, and returns the merged snapshot.
    pub async fn refresh(
        &self,
        ledger: &mut Ledger,
        now_ms: i64,
        mode: Mode,
    ) -> Result<UsageSnapshot, AccountError> {
        if mode != Mode::Never {
            if self.config.account_enabled {
                self.poll_account(ledger, now_ms, mode).await?;
            }
            if self.config.claude_ai_enabled {
                self.poll_claude_ai(ledger, now_ms, mode).await?;
            }
        }
        snapshot_from_ledger(ledger, &self.config, now_ms)
    }

    /// [`Refresher::refresh`] for synchronous callers: runs it on a current-thread runtime.
    /// Do not call it from inside a tokio runtime.
    pub fn refresh_blocking(
        &self,
        ledger: &mut Ledger,
        now_ms: i64,
        mode: Mode,
    ) -> Result<UsageSnapshot, AccountError> {
        if mode == Mode::Never {
            return snapshot_from_ledger(ledger, &self.config, now_ms);
        }
        runtime()?.block_on(self.refresh(ledger, now_ms, mode))
    }

    /// When the next [`Refresher::refresh`] in `mode` would send a request: the earliest time
    /// an enabled source's policy waits for, as the ledger's poll states say. `None` when no
    /// enabled source is waiting: either none is enabled, or one would poll now, which right
    /// after a round means it declined by itself (no credentials, no session key) and only a
    /// change on disk brings it back. A poll state the ledger cannot give (busy) is skipped:
    /// a front end's own minute wake looks again. Reads no clock.
    pub fn next_due_ms(&self, ledger: &Ledger, now_ms: i64, mode: Mode) -> Option<i64> {
        let statusline = store::newest_seen_ms(ledger, Source::Statusline)
            .ok()
            .flatten();
        [
            (Source::Account, self.config.account_enabled),
            (Source::ClaudeAi, self.config.claude_ai_enabled),
        ]
        .into_iter()
        .filter(|&(_, enabled)| enabled)
        .filter_map(|(source, _)| store::poll_state(ledger, source).ok())
        .filter_map(|state| {
            match policy::decide(&self.config.policy, &state, statusline, None, mode, now_ms) {
                Decision::Wait { until_ms, .. } => Some(until_ms),
                Decision::Poll => None,
            }
        })
        .min()
    }

    /// Polls the OAuth usage endpoint if the policy allows. Returns whether a request was sent.
    pub async fn poll_account(
        &self,
        ledger: &mut Ledger,
        now_ms: i64,
        mode: Mode,
    ) -> Result<bool, AccountError> {
        let source = Source::Account;
        let creds = credentials::load(
            self.config.claude_dir.as_deref(),
            self.config.macos_keychain,
        );
        let creds = match creds {
            Err(credentials::CredentialsError::Missing { .. }) => return Ok(false),
            other => other,
        };
        let fingerprint = creds.as_ref().ok().map(|c| c.access_token.fingerprint());
        let (decision, before) = store::claim(
            ledger,
            source,
            &self.config.policy,
            fingerprint,
            mode,
            now_ms,
        )?;
        if decision != Decision::Poll {
            return Ok(false);
        }
        let result = match creds {
            Err(e) => Err(SourceError::from(e)),
            Ok(c) => match c.check(now_ms) {
                Err(e) => Err(e.into()),
                Ok(()) => self.fetch_account(&c.access_token, now_ms).await,
            },
        };
        // Only a request counts for the one-a-minute floor; a login problem found locally
        // sent nothing.
        let sent = !matches!(result, Err(SourceError::Credentials(_)));
        self.finish(ledger, source, &before, result, fingerprint, now_ms)?;
        Ok(sent)
    }

    async fn fetch_account(&self, token: &Secret, now_ms: i64) -> Result<ParsedUsage, SourceError> {
        let url = join(&self.config.anthropic_api, client::OAUTH_USAGE_PATH);
        let body = self.http.get(url, Auth::Bearer(token)).await?;
        Ok(usage::parse_usage(&body, Source::Account, now_ms)?)
    }

    /// Polls claude.ai if the policy allows. Returns whether requests were sent.
    pub async fn poll_claude_ai(
        &self,
        ledger: &mut Ledger,
        now_ms: i64,
        mode: Mode,
    ) -> Result<bool, AccountError> {
        let source = Source::ClaudeAi;
        let key = match self.secrets.get(CLAUDE_AI_SESSION_KEY) {
            Ok(Some(key)) if !key.is_empty() => Ok(key),
            Ok(_) => Err(SourceError::NoSessionKey),
            Err(e) => Err(SourceError::Keychain(e)),
        };
        let fingerprint = key.as_ref().ok().map(Secret::fingerprint);
        let (decision, before) = store::claim(
            ledger,
            source,
            &self.config.policy,
            fingerprint,
            mode,
            now_ms,
        )?;
        if decision != Decision::Poll {
            return Ok(false);
        }
        let result = match &key {
            Err(e) => Err(e.clone()),
            Ok(key) => self.fetch_claude_ai(ledger, key, now_ms).await,
        };
        self.finish(ledger, source, &before, result, fingerprint, now_ms)?;
        Ok(key.is_ok())
    }

    /// The claude.ai organizations the session key can see.
    pub async fn organizations(&self, key: &Secret) -> Result<Vec<Organization>, SourceError> {
        let url = join(&self.config.claude_ai, "/api/organizations");
        let body = self.http.get(url, Auth::SessionKey(key)).await?;
        Ok(usage::parse_organizations(&body)?)
    }

    /// [`Refresher::organizations`] for synchronous callers (`headroom claude-ai login`).
    pub fn organizations_blocking(&self, key: &Secret) -> Result<Vec<Organization>, AccountError> {
        Ok(runtime()?.block_on(self.organizations(key))?)
    }

    async fn organization(&self, ledger: &Ledger, key: &Secret) -> Result<String, SourceError> {
        if let Some(org) = self.config.claude_ai_organization.clone() {
            return Ok(org);
        }
        let cache_key = format!("{META_CLAUDE_AI_ORG}.{}", key.fingerprint());
        if let Ok(Some(org)) = ledger.meta(&cache_key) {
            return Ok(org);
        }
        let orgs = self.organizations(key).await?;
        let chat: Vec<&Organization> = orgs.iter().filter(|o| o.has_chat()).collect();
        let chosen = match chat.as_slice() {
            [] => return Err(SourceError::NoOrganization),
            [one] => one.uuid.clone(),
            several => {
                return Err(SourceError::ChooseOrganization(
                    several
                        .iter()
                        .map(|o| format!("{} {}", o.uuid, o.name))
                        .collect(),
                ))
            }
        };
        if let Err(e) = ledger.set_meta(&cache_key, &chosen) {
            tracing::warn!("cannot remember the claude.ai organization: {e}");
        }
        Ok(chosen)
    }

    async fn fetch_claude_ai(
        &self,
        ledger: &Ledger,
        key: &Secret,
        now_ms: i64,
    ) -> Result<ParsedUsage, SourceError> {
        let org = self.organization(ledger, key).await?;
        let base = format!("/api/organizations/{}", urlencode(&org));
        let body = self
            .http
            .get(
                join(&self.config.claude_ai, &format!("{base}/usage")),
                Auth::SessionKey(key),
            )
            .await?;
        let mut parsed = usage::parse_usage(&body, Source::ClaudeAi, now_ms)?;
        // The spend limit and the balance are extras: their failure (other than a 429, which
        // must stop all requests) leaves the usage figures standing.
        match self
            .http
            .get(
                join(
                    &self.config.claude_ai,
                    &format!("{base}/overage_spend_limit"),
                ),
                Auth::SessionKey(key),
            )
            .await
        {
            Ok(body) => match usage::parse_overage(&body, Source::ClaudeAi, now_ms) {
                Ok(Some(eu)) => parsed.extra_usage = Some(eu),
                Ok(None) => {}
                Err(e) => tracing::debug!("claude.ai spend limit unreadable: {e}"),
            },
            Err(e @ FetchError::RateLimited { .. }) => return Err(e.into()),
            Err(e) => tracing::debug!("claude.ai spend limit: {e}"),
        }
        match self
            .http
            .get(
                join(&self.config.claude_ai, &format!("{base}/prepaid/credits")),
                Auth::SessionKey(key),
            )
            .await
        {
            Ok(body) => match usage::parse_prepaid(&body) {
                Ok(Some((amount, currency))) => {
                    let eu = parsed.extra_usage.get_or_insert_with(|| ExtraUsage {
                        enabled: None,
                        monthly_limit: None,
                        used: None,
                        currency: currency.clone(),
                        balance: None,
                        disabled_reason: None,
                        source: Source::ClaudeAi,
                        observed_at_ms: now_ms,
                    });
                    eu.balance = Some(amount);
                }
                Ok(None) => {}
                Err(e) => tracing::debug!("claude.ai prepaid credits unreadable: {e}"),
            },
            Err(e @ FetchError::RateLimited { .. }) => return Err(e.into()),
            Err(e) => tracing::debug!("claude.ai prepaid credits: {e}"),
        }
        Ok(parsed)
    }

    /// Records a poll's readings and the new poll state.
    fn finish(
        &self,
        ledger: &Ledger,
        source: Source,
        before: &PollState,
        result: Result<ParsedUsage, SourceError>,
        fingerprint: Option<u32>,
        now_ms: i64,
    ) -> Result<(), AccountError> {
        let outcome = match &result {
            Ok(parsed) => {
                store::record(
                    ledger,
                    source,
                    &parsed.windows,
                    parsed.extra_usage.as_ref(),
                    now_ms,
                )?;
                Outcome::Success
            }
            Err(e) => {
                tracing::info!(
                    source = source.as_str(),
                    "account source: {}",
                    e.message(source)
                );
                e.outcome(source)
            }
        };
        let state = policy::after(
            &self.config.policy,
            before,
            &outcome,
            fingerprint,
            now_ms,
            fastrand::f64(),
        );
        store::save_poll_state(ledger, source, &state)?;
        Ok(())
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, AccountError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AccountError::Runtime(e.to_string()))
}

/// `base` + an absolute path, keeping any path prefix of the base.
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}{path}"));
    url
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The snapshot from what the ledger holds, with no network at all.
pub fn snapshot_from_ledger(
    ledger: &Ledger,
    config: &AccountConfig,
    now_ms: i64,
) -> Result<UsageSnapshot, AccountError> {
    let samples = store::newest_all(ledger)?;
    let extra_usage = store::newest_extra_usage(ledger)?;
    let balance = store::newest_balance(ledger)?;
    // Only what the forecast reads (its own span, shorter than the chart's).
    let session_history =
        store::window_history(ledger, "session", now_ms.saturating_sub(merge::HISTORY_MS))?;
    let (local_block, local_limit_tokens) = local_estimate(ledger, now_ms)?;

    let mut sources = Vec::new();
    let mut errors = Vec::new();
    let newest_seen = |source: Source| {
        samples
            .iter()
            .find(|s| s.source == source)
            .map(|s| s.seen_ms)
    };
    if let Some(seen) = newest_seen(Source::Statusline) {
        sources.push(SourceStatus {
            source: Source::Statusline,
            configured: true,
            last_success_ms: Some(seen),
            cooldown_until_ms: None,
            error: None,
        });
    }
    let account_configured = config.account_enabled
        && credentials::present(config.claude_dir.as_deref(), config.macos_keychain);
    for (source, enabled, configured) in [
        (Source::Account, config.account_enabled, account_configured),
        (
            Source::ClaudeAi,
            config.claude_ai_enabled,
            config.claude_ai_enabled,
        ),
    ] {
        if !enabled {
            continue;
        }
        let state = store::poll_state(ledger, source)?;
        if !configured && state.last_attempt_ms.is_none() {
            continue;
        }
        let figures_seen = newest_seen(source);
        let error = state
            .last_failure
            .map(|kind| describe_failure(kind, &state, figures_seen, now_ms, config.zone));
        if let Some(e) = &error {
            errors.push(format!("{}: {e}", source_name(source)));
        }
        sources.push(SourceStatus {
            source,
            configured,
            last_success_ms: state.last_success_ms,
            cooldown_until_ms: state.cooldown_until_ms.filter(|&u| u > now_ms),
            error,
        });
    }
    Ok(merge::merge(merge::MergeInputs {
        now_ms,
        samples,
        extra_usage,
        balance,
        session_history,
        local_block,
        local_limit_tokens,
        sources,
        errors,
        fresh_ms: config.fresh_ms(),
    }))
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::Statusline => "statusline",
        Source::Account => "account",
        Source::ClaudeAi => "claude.ai",
        Source::LocalEstimate => "local estimate",
    }
}

/// "offline (…), showing figures from 12 min ago"; for a 429, when the next request is
/// allowed: "rate limited by Anthropic until 14:05; figures from 13:40", in `zone`.
fn describe_failure(
    kind: FailureKind,
    state: &PollState,
    figures_seen_ms: Option<i64>,
    now_ms: i64,
    zone: Zone,
) -> String {
    if kind == FailureKind::RateLimited {
        return rate_limited_text(
            state.cooldown_until_ms.filter(|&u| u > now_ms),
            figures_seen_ms,
            now_ms,
            zone,
        );
    }
    let message = state.last_error.as_deref().unwrap_or(match kind {
        FailureKind::Offline => "offline",
        FailureKind::RateLimited => "rate limited by Anthropic",
        FailureKind::Auth => "signed out",
        FailureKind::Server => "the server failed",
    });
    let showing = match figures_seen_ms {
        Some(seen) => format!(
            "showing figures from {} ago",
            crate::text::duration(now_ms - seen)
        ),
        None => "no account figures yet".to_owned(),
    };
    match kind {
        FailureKind::Auth => message.to_owned(),
        _ => format!("{message}, {showing}"),
    }
}

/// "rate limited by Anthropic until 14:05; figures from 13:40" (clock times by
/// `text::clock`, so a time on another day says so). Without an active cool-down the
/// "until" is left out; without figures, "no account figures yet".
pub fn rate_limited_text(
    until_ms: Option<i64>,
    figures_seen_ms: Option<i64>,
    now_ms: i64,
    zone: Zone,
) -> String {
    let clock = |ms| crate::text::clock(ms, now_ms, zone);
    let head = match until_ms {
        Some(until) => format!("rate limited by Anthropic until {}", clock(until)),
        None => "rate limited by Anthropic".to_owned(),
    };
    match figures_seen_ms {
        Some(seen) => format!("{head}; figures from {}", clock(seen)),
        None => format!("{head}; no account figures yet"),
    }
}

/// The active local block and the largest complete block of recent weeks (the local
/// estimate's 100 %).
pub fn local_estimate(
    ledger: &Ledger,
    now_ms: i64,
) -> Result<(Option<LocalBlock>, Option<u64>), LedgerError> {
    let buckets = ledger.buckets(now_ms - LOCAL_LIMIT_LOOKBACK_MS, now_ms + 1)?;
    let all = blocks::blocks(&buckets, now_ms, CostMode::Auto);
    let limit = all
        .iter()
        .filter(|b| !b.is_gap && !b.is_active)
        .map(|b| b.tokens.total())
        .max()
        .filter(|&t| t > 0);
    let active = all.iter().rev().find(|b| b.is_active).map(local_block);
    Ok((active, limit))
}

fn local_block(b: &Block) -> LocalBlock {
    LocalBlock {
        start_ms: b.start_ms,
        end_ms: b.end_ms,
        total_tokens: b.tokens.total(),
        cost_usd: b.cost,
        tokens_per_minute: b.burn_rate.map(|r| r.tokens_per_minute),
        cost_per_hour: b.burn_rate.map(|r| r.cost_per_hour),
        projected_tokens: b.projection.map(|p| p.total_tokens),
        projected_cost_usd: b.projection.map(|p| p.total_cost),
    }
}

/// Why a source is waiting, in words (for `--refresh` refused within the minute, say).
pub fn wait_reason_text(why: WaitReason) -> &'static str {
    match why {
        WaitReason::TooSoon => "asked less than a minute ago",
        WaitReason::NotDue => "asked recently",
        WaitReason::StatuslineFresh => "Claude Code's statusline feed is current",
        WaitReason::RateLimited => "rate limited by Anthropic",
        WaitReason::Backoff => "backing off after failures",
        WaitReason::Auth => "waiting for a new login",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_a_base_path() {
        let base = Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        assert_eq!(
            join(&base, "/api/oauth/usage").as_str(),
            "http://127.0.0.1:9/prefix/api/oauth/usage"
        );
        let base = Url::parse("https://api.anthropic.com").unwrap();
        assert_eq!(
            join(&base, "/api/oauth/usage").as_str(),
            "https://api.anthropic.com/api/oauth/usage"
        );
        assert_eq!(urlencode("ab-1/..?"), "ab-1%2F..%3F");
    }

    /// A refresher over a real ledger file, both sources on; the ledger's poll states are
    /// what the test writes.
    fn refresher_and_ledger(dir: &std::path::Path) -> (Refresher, Ledger) {
        let mut config = AccountConfig::new(None);
        config.claude_ai_enabled = true;
        let refresher = Refresher::new(config, Arc::new(MemoryStore::default())).unwrap();
        let ledger = Ledger::open(&dir.join("ledger.sqlite")).unwrap();
        (refresher, ledger)
    }

    fn waiting_until(next_poll_ms: i64, last_attempt_ms: i64) -> PollState {
        PollState {
            last_attempt_ms: Some(last_attempt_ms),
            last_success_ms: Some(last_attempt_ms),
            next_poll_ms: Some(next_poll_ms),
            ..PollState::default()
        }
    }

    #[test]
    fn next_due_is_the_earliest_wait_of_the_enabled_sources() {
        let dir = tempfile::tempdir().unwrap();
        let (refresher, ledger) = refresher_and_ledger(dir.path());
        let now = 1_000_000_000;
        // Never polled: both would poll now, so nothing is due later.
        assert_eq!(refresher.next_due_ms(&ledger, now, Mode::Auto), None);
        store::save_poll_state(
            &ledger,
            Source::Account,
            &waiting_until(now + 240_000, now - 60_000),
        )
        .unwrap();
        store::save_poll_state(
            &ledger,
            Source::ClaudeAi,
            &waiting_until(now + 90_000, now - 60_000),
        )
        .unwrap();
        assert_eq!(
            refresher.next_due_ms(&ledger, now, Mode::Auto),
            Some(now + 90_000)
        );
        // A forced round only waits for the one-a-minute floor.
        store::save_poll_state(
            &ledger,
            Source::Account,
            &waiting_until(now + 240_000, now - 20_000),
        )
        .unwrap();
        assert_eq!(
            refresher.next_due_ms(&ledger, now, Mode::Force),
            Some(now + 40_000)
        );
        assert_eq!(
            refresher.next_due_ms(&ledger, now, Mode::Never),
            Some(i64::MAX)
        );
    }

    #[test]
    fn next_due_ignores_a_disabled_source() {
        let dir = tempfile::tempdir().unwrap();
        let (mut refresher, ledger) = refresher_and_ledger(dir.path());
        let now = 1_000_000_000;
        store::save_poll_state(
            &ledger,
            Source::ClaudeAi,
            &waiting_until(now + 90_000, now - 60_000),
        )
        .unwrap();
        refresher.config.claude_ai_enabled = false;
        assert_eq!(refresher.next_due_ms(&ledger, now, Mode::Auto), None);
    }
}
