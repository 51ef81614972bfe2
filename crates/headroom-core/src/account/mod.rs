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
//! Every reading is written to the ledger (`store`, read back with [`newest`] and
//! [`poll_state`]); polling follows the pure `policy` ([`PollPolicy`]) with its state
//! (cool-down included) in the ledger, so every process respects it. Those modules, the HTTP
//! client, the parsers and the merge are private: the front ends get what they use through
//! the re-exports here.
//!
//! # API for front ends (tray, `watch`, CLI)
//!
//! ```no_run
//! use std::sync::Arc;
//! use headroom_core::account::{self, FrontEnd, MemoryStore, Mode, Refresher};
//! use headroom_core::environment::Edge;
//! use headroom_core::ledger::Ledger;
//! use headroom_core::settings::Settings;
//! use headroom_core::snapshot::UsageSnapshot;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The environment, read and checked once at start; the settings as loaded.
//! let edge = Edge::from_process()?;
//! let settings = Settings::default();
//! // Claude Code's folder, the base URLs, the user's toggles and poll minutes, the zone the
//! // words use and the front end they are worded for (as `headroom_service::ServiceEnv` and
//! // the CLI's `Context::refresher` build it).
//! let config = edge
//!     .account
//!     .config(edge.paths.claude_settings_dir(), &settings.sources)
//!     .with_zone(settings.zone())
//!     .with_front_end(FrontEnd::Cli);
//! let refresher = Refresher::new(config, Arc::new(MemoryStore::new()))?; // or the keychain
//! let mut ledger = Ledger::open(&edge.state.ledger())?;
//! let now_ms = chrono::Utc::now().timestamp_millis();
//! // From async code (tokio), `refresher.refresh(&mut ledger, now_ms, Mode::Auto).await`: the
//! // future is Send (it holds only `&mut Ledger`). From sync code (CLI, `watch`), this builds
//! // a current-thread runtime for the call:
//! let snap: UsageSnapshot = refresher.refresh_blocking(&mut ledger, now_ms, Mode::Auto)?;
//! // No network at all (tray redraws, statusline, `--offline`):
//! let offline = account::snapshot_from_ledger(&ledger, refresher.config(), now_ms)?;
//! # let _ = (snap, offline);
//! # Ok(())
//! # }
//! ```
//!
//! - [`Refresher::refresh`] reads the newest samples and poll state from the ledger, asks
//!   the policy whether each source may be polled (a fresh statusline sample means no request;
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

mod cached;
pub(crate) mod client;
mod config;
pub mod credentials;
mod errors;
pub mod extra_usage;
mod merge;
pub mod overage;
mod plan;
mod policy;
mod secret;
pub mod status_json;
pub mod statusline;
mod store;
mod usage;
mod view;

use std::sync::Arc;

use reqwest::Url;

pub use client::{ClientError, FetchError, Timeouts};
pub use config::AccountConfig;
pub use errors::{AccountError, FrontEnd, Remedy, SourceError};
pub use policy::{FailureKind, Mode, PollPolicy, PollState, WaitReason};
pub use secret::{
    session_key_from_paste, KeyError, MemoryStore, Secret, SecretStore, SecretStoreError,
    CLAUDE_AI_SESSION_KEY,
};
// The ledger's account samples and poll states, for the front ends that read them without a
// refresh (the statusline command records its own sample; the tray's chart, the metrics).
pub use store::{
    newest, newest_all, newest_extra_usage, poll_state, record, window_history, HistoryPoint,
    StoredSample,
};
// The parsers of Anthropic's answers: the claude.ai login lists organizations, and the fuzz
// target feeds them any body.
pub use usage::{
    parse_organizations, parse_overage, parse_prepaid, parse_usage, Organization, ParsedUsage,
    UsageParseError,
};
// The plan from a login's or a profile's codes.
pub use plan::{plan_from_codes, plan_from_profile};
pub use view::{local_estimate, rate_limited_text, snapshot_from_ledger, wait_reason_text};

use crate::ledger::Ledger;
use crate::snapshot::{ExtraUsage, Plan, Source, UsageSnapshot};
use client::{Auth, Http};
use policy::{Decision, Outcome};

/// How far back the local estimate looks for the largest block (its 100 %).
const LOCAL_LIMIT_LOOKBACK_MS: i64 = 30 * 24 * 3_600_000;
/// Ledger meta key of the claude.ai organization chosen automatically.
const META_CLAUDE_AI_ORG: &str = "account.claude_ai.organization";

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
    /// A refresher with its own HTTP client (the timeouts of `config`); fails only when the client
    /// cannot be set up.
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

    /// What it was built with.
    pub fn config(&self) -> &AccountConfig {
        &self.config
    }

    /// Where the claude.ai session key is kept (the login commands store it there).
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
        let login_plan = creds.as_ref().ok().map(|c| {
            plan::plan_from_codes(c.subscription_type.as_deref(), c.rate_limit_tier.as_deref())
        });
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
        // The plan the login names is local knowledge: kept whether or not the request is
        // answered, so an offline snapshot names it too. Written only on a round that polls
        // (the claim just wrote, so the ledger is not busy): a busy ledger is never waited
        // for twice.
        if let Some(p) = login_plan {
            plan::remember(ledger, p);
        }
        let result = match creds {
            Err(e) => Err(SourceError::from(e)),
            Ok(c) => match c.check(now_ms) {
                Err(e) => Err(e.into()),
                Ok(()) => {
                    let result = self.fetch_account(&c.access_token, now_ms).await;
                    if result.is_ok() && login_plan == Some(Plan::Unknown) {
                        self.ask_profile_once(ledger, &c.access_token).await;
                    }
                    result
                }
            },
        };
        // Only a request counts for the one-a-minute floor; a login problem found locally
        // sent nothing.
        let sent = !matches!(result, Err(SourceError::Credentials(_)));
        self.finish(ledger, source, &before, result, fingerprint, now_ms)?;
        Ok(sent)
    }

    /// The plan from Anthropic's profile, when the login does not name one Headroom knows:
    /// asked once per token (a new login asks again), and only after a usage request
    /// succeeded, so it never adds a request to an offline or rate-limited round.
    async fn ask_profile_once(&self, ledger: &Ledger, token: &Secret) {
        let asked_key = format!("{}.{}", plan::META_PROFILE_ASKED, token.fingerprint());
        if matches!(ledger.meta(&asked_key), Ok(Some(_))) {
            return;
        }
        let url = endpoint(&self.config.anthropic_api, &client::OAUTH_PROFILE);
        match self.http.get(url, Auth::Bearer(token)).await {
            Ok(body) => plan::remember(ledger, plan::plan_from_profile(&body)),
            Err(e) => tracing::debug!("profile: {e}"),
        }
        if let Err(e) = ledger.set_meta(&asked_key, "1") {
            tracing::debug!("cannot remember that the profile was asked: {e}");
        }
    }

    async fn fetch_account(&self, token: &Secret, now_ms: i64) -> Result<ParsedUsage, SourceError> {
        let url = endpoint(&self.config.anthropic_api, &client::OAUTH_USAGE);
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
        let url = endpoint(&self.config.claude_ai, &["api", "organizations"]);
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
        let at = |leaf: &[&str]| {
            let mut segments = vec!["api", "organizations", org.as_str()];
            segments.extend_from_slice(leaf);
            endpoint(&self.config.claude_ai, &segments)
        };
        let body = self.http.get(at(&["usage"]), Auth::SessionKey(key)).await?;
        let mut parsed = usage::parse_usage(&body, Source::ClaudeAi, now_ms)?;
        // The spend limit and the balance are extras: their failure (other than a 429, which
        // must stop all requests) leaves the usage figures standing.
        match self
            .http
            .get(at(&["overage_spend_limit"]), Auth::SessionKey(key))
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
            .get(at(&["prepaid", "credits"]), Auth::SessionKey(key))
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
                    e.problem(source)
                );
                e.outcome()
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

/// `base` with `segments` appended to its path, each percent-encoded as one segment by `Url`
/// (an organization id from a server or a file cannot add a path or a query of its own); a
/// path prefix of the base is kept (a test server's, a proxy's).
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    // Only a base that cannot have a path (`data:`) fails, and the edge accepts http(s) only.
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_a_base_path_and_encode_each_segment() {
        let base = Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        assert_eq!(
            endpoint(&base, &client::OAUTH_USAGE).as_str(),
            "http://127.0.0.1:9/prefix/api/oauth/usage"
        );
        let base = Url::parse("https://api.anthropic.com").unwrap();
        assert_eq!(
            endpoint(&base, &client::OAUTH_USAGE).as_str(),
            "https://api.anthropic.com/api/oauth/usage"
        );
        // An id is one segment whatever it holds: no other path, no query.
        for (id, encoded) in [("ab-1/x?y#z", "ab-1%2Fx%3Fy%23z"), ("a b", "a%20b")] {
            assert_eq!(
                endpoint(&base, &["api", "organizations", id, "usage"]).as_str(),
                format!("https://api.anthropic.com/api/organizations/{encoded}/usage")
            );
        }
        let climbing = endpoint(&base, &["api", "organizations", "..", "usage"]);
        assert!(
            climbing.path().starts_with("/api/organizations/"),
            "{climbing}"
        );
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
