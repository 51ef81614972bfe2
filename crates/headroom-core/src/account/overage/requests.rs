//! The requests: the writes (`PUT overage_spend_limit`, `POST setup_overage_billing`), the
//! read-back that verifies them, the organization from the OAuth profile, and what each
//! answer means as a [`WriteError`].

use serde_json::{json, Value};

use super::account_file::{is_uuid, read_account_file, AccountFile};
use super::words::{lower_first, verified};
use super::{
    currency_of, not_provisioned, CapChoice, Change, Verified, WriteError, WriteErrorKind,
    ANTHROPIC_VERSION, SETUP_DEFAULT_CENTS,
};
use crate::account::client::{Answer, Auth, FetchError, Method};
use crate::account::credentials::{self, OAuthCredentials};
use crate::account::policy::{self, Outcome};
use crate::account::usage::{self, UsageParseError};
use crate::account::{endpoint, store, AccountConfig, Refresher, Secret};
use crate::ledger::{Ledger, LedgerError};
use crate::snapshot::{ExtraUsage, Source};
use crate::text;

/// The longest server message shown (a message is one sentence; more is not for a person).
const MAX_SERVER_MESSAGE: usize = 300;

const OVERAGE_PATH: &str = "overage_spend_limit";
const SETUP_PATH: &str = "setup_overage_billing";
const PROFILE: [&str; 3] = ["api", "oauth", "profile"];

pub(super) struct Run<'a, C: Fn() -> i64> {
    pub(super) refresher: &'a Refresher,
    pub(super) ledger: &'a Ledger,
    /// Every request sent, for the history.
    pub(super) requests: Vec<String>,
    pub(super) clock: &'a C,
}

impl<C: Fn() -> i64> Run<'_, C> {
    pub(super) async fn go(
        &mut self,
        change: &Change,
        current: Option<&ExtraUsage>,
    ) -> Result<Verified, WriteError> {
        let config = self.refresher.config();
        let now = (self.clock)();
        self.cooldown(now)?;
        let creds = login(config, now)?;
        let account = read_account_file(config.claude_account_file.as_deref());
        refuse_members(&creds, &account)?;
        let token = &creds.access_token;
        let org = match account.organization_uuid {
            Some(org) => org,
            None => self.profile_organization(token).await?,
        };
        let currency = currency_of(current);
        let mut set_up = false;
        if change.enabled() && not_provisioned(current) {
            self.setup(token, &org, change).await?;
            set_up = true;
        }
        match self.put(token, &org, change, &currency).await {
            Ok(()) => {}
            Err(e) if !set_up && e.kind == WriteErrorKind::Refused && e.not_provisioned => {
                self.setup(token, &org, change).await?;
                self.put(token, &org, change, &currency)
                    .await
                    .map_err(|e| e.error(true))?;
            }
            Err(e) => return Err(e.error(set_up)),
        }
        self.verify(token, &org, change).await
    }

    /// Refuses while the shared 429 cool-down is on (nothing is sent).
    fn cooldown(&self, now: i64) -> Result<(), WriteError> {
        let state = store::poll_state(self.ledger, Source::Account).map_err(not_recorded)?;
        match state.cooldown_until_ms {
            Some(until)
                if until > now && state.last_failure == Some(policy::FailureKind::RateLimited) =>
            {
                Err(rate_limited(Some(until), now, self.refresher.config()))
            }
            _ => Ok(()),
        }
    }

    fn url(&self, org: &str, leaf: &str) -> reqwest::Url {
        endpoint(
            &self.refresher.config().anthropic_api,
            &["api", "oauth", "organizations", org, leaf],
        )
    }

    async fn send(
        &mut self,
        method: Method,
        url: reqwest::Url,
        token: &Secret,
        org: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, FetchError> {
        self.requests
            .push(format!("{} {}", method.as_str(), url.path()));
        let mut extra: Vec<(&'static str, &str)> = vec![("anthropic-version", ANTHROPIC_VERSION)];
        if let Some(org) = org {
            extra.push(("x-organization-uuid", org));
        }
        self.refresher
            .http
            .send(method, url, Auth::Bearer(token), &extra, body)
            .await
    }

    /// The organization from `GET /api/oauth/profile` (`organization.uuid`), when Claude
    /// Code's account file does not name it.
    async fn profile_organization(&mut self, token: &Secret) -> Result<String, WriteError> {
        let url = endpoint(&self.refresher.config().anthropic_api, &PROFILE);
        let answer = self.send(Method::GET, url, token, None, None).await;
        let answer = self.answered(answer, false)?;
        let org = (answer.status == 200)
            .then(|| usage::parse_json(&answer.body).ok())
            .flatten()
            .and_then(|v| {
                v.get("organization")
                    .and_then(|o| o.get("uuid"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .filter(|u| is_uuid(u));
        org.ok_or_else(no_organization)
    }

    async fn setup(
        &mut self,
        token: &Secret,
        org: &str,
        change: &Change,
    ) -> Result<(), WriteError> {
        let cents = change
            .cap()
            .and_then(CapChoice::cents)
            .unwrap_or(SETUP_DEFAULT_CENTS);
        let body = json!({ "org_monthly_spend_limit": cents });
        let url = self.url(org, SETUP_PATH);
        let answer = self
            .send(Method::POST, url, token, Some(org), Some(&body))
            .await;
        let answer = self.answered(answer, false)?;
        write_answer(&answer, token).map_err(|e| e.error(false))
    }

    async fn put(
        &mut self,
        token: &Secret,
        org: &str,
        change: &Change,
        currency: &str,
    ) -> Result<(), Refusal> {
        let body = put_body(change, currency);
        let url = self.url(org, OVERAGE_PATH);
        let answer = self
            .send(Method::PUT, url, token, Some(org), Some(&body))
            .await;
        let answer = self.answered(answer, false).map_err(Refusal::from)?;
        write_answer(&answer, token)
    }

    /// Reads the account back: the usage response (recorded as a poll of the account would
    /// be) and `overage_spend_limit` (best effort: it may not answer GET).
    async fn verify(
        &mut self,
        token: &Secret,
        org: &str,
        change: &Change,
    ) -> Result<Verified, WriteError> {
        let not_read = |e: WriteError| {
            WriteError {
            kind: if e.kind == WriteErrorKind::RateLimited {
                e.kind
            } else {
                WriteErrorKind::NotVerified
            },
            reason: format!(
                "The change was accepted, but Headroom could not read your account back to confirm it: {}",
                lower_first(&e.reason)
            ),
            may_have_changed: true,
            ..e
        }
        };
        let url = endpoint(
            &self.refresher.config().anthropic_api,
            &crate::account::client::OAUTH_USAGE,
        );
        let answer = self.send(Method::GET, url, token, None, None).await;
        let answer = self.answered(answer, true).map_err(not_read)?;
        let now = (self.clock)();
        if answer.status != 200 {
            return Err(not_read(status_error(&answer, token)));
        }
        let parsed = usage::parse_usage(&answer.body, Source::Account, now)
            .map_err(|e| not_read(unexpected(&e)))?;
        self.record_poll(&parsed, now);
        let mut account = parsed.extra_usage.clone().ok_or_else(|| {
            not_read(WriteError::new(
                WriteErrorKind::UnexpectedAnswer,
                "the usage response does not mention Extra Usage",
            ))
        })?;
        let url = self.url(org, OVERAGE_PATH);
        let answer = self.send(Method::GET, url, token, Some(org), None).await;
        match answer {
            Ok(a) if a.status == 200 => {
                if let Ok(Some(setting)) = usage::parse_overage(&a.body, Source::Account, now) {
                    // The setting itself says on/off and the cap; the usage response keeps
                    // what was spent.
                    if setting.enabled.is_some() {
                        account.enabled = setting.enabled;
                        account.monthly_limit = setting.monthly_limit;
                    }
                    if setting.disabled_reason.is_some() {
                        account.disabled_reason = setting.disabled_reason;
                    }
                }
            }
            Ok(a) => tracing::debug!(status = a.status, "overage_spend_limit read back"),
            Err(FetchError::RateLimited { retry_after_s }) => {
                self.save_rate_limited(retry_after_s, now);
            }
            Err(e) => tracing::debug!("overage_spend_limit read back: {e}"),
        }
        Ok(verified(change, account, now, self.refresher.config()))
    }

    /// A transport error as a [`WriteError`]; a 429 also starts the shared cool-down.
    fn answered(
        &mut self,
        answer: Result<Answer, FetchError>,
        after_write: bool,
    ) -> Result<Answer, WriteError> {
        match answer {
            Ok(a) => Ok(a),
            Err(FetchError::RateLimited { retry_after_s }) => {
                let now = (self.clock)();
                let until = self.save_rate_limited(retry_after_s, now);
                let mut e = rate_limited(until, now, self.refresher.config());
                e.may_have_changed = after_write;
                Err(e)
            }
            Err(e) => Err(fetch_error(&e)),
        }
    }

    /// Starts the shared cool-down as a poll's 429 would. Returns its end.
    fn save_rate_limited(&self, retry_after_s: Option<u64>, now: i64) -> Option<i64> {
        let config = self.refresher.config();
        let before = store::poll_state(self.ledger, Source::Account).unwrap_or_default();
        let state = policy::after(
            &config.policy,
            &before,
            &Outcome::RateLimited { retry_after_s },
            before.credential_fingerprint,
            now,
            fastrand::f64(),
        );
        let until = state.cooldown_until_ms;
        if let Err(e) = store::save_poll_state(self.ledger, Source::Account, &state) {
            tracing::warn!("cannot record the cool-down: {e}");
        }
        until
    }

    /// The read-back is a reading of the account like any poll: recorded, so every front end
    /// shows it at once.
    fn record_poll(&self, parsed: &usage::ParsedUsage, now: i64) {
        let config = self.refresher.config();
        let recorded = store::record(
            self.ledger,
            Source::Account,
            &parsed.windows,
            parsed.extra_usage.as_ref(),
            now,
        )
        .and_then(|_| {
            let before = store::poll_state(self.ledger, Source::Account)?;
            let state = policy::after(
                &config.policy,
                &before,
                &Outcome::Success,
                before.credential_fingerprint,
                now,
                fastrand::f64(),
            );
            store::save_poll_state(self.ledger, Source::Account, &state)
        });
        if let Err(e) = recorded {
            tracing::warn!("cannot record the account's answer: {e}");
        }
    }
}

/// A write's refusal, with whether it says the allowance was never set up.
struct Refusal {
    error: WriteError,
    not_provisioned: bool,
}

impl Refusal {
    fn error(self, may_have_changed: bool) -> WriteError {
        WriteError {
            may_have_changed: self.error.may_have_changed || may_have_changed,
            ..self.error
        }
    }
}

impl From<WriteError> for Refusal {
    fn from(error: WriteError) -> Refusal {
        Refusal {
            error,
            not_provisioned: false,
        }
    }
}

impl std::ops::Deref for Refusal {
    type Target = WriteError;
    fn deref(&self) -> &WriteError {
        &self.error
    }
}

/// The PUT's body for `change`.
pub fn put_body(change: &Change, currency: &str) -> Value {
    match change {
        Change::Disable => json!({ "is_enabled": false }),
        Change::Enable(c) | Change::SetCap(c) => json!({
            "is_enabled": true,
            "monthly_credit_limit": c.cents(),
            "currency": currency,
        }),
    }
}

/// A write's answer: 2xx is done (the body is not needed); anything else is a refusal.
fn write_answer(answer: &Answer, token: &Secret) -> Result<(), Refusal> {
    if (200..=299).contains(&answer.status) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&answer.body).to_ascii_lowercase();
    Err(Refusal {
        error: status_error(answer, token),
        not_provisioned: text.contains("not_provisioned") || text.contains("not provisioned"),
    })
}

/// The error for a non-2xx answer: the server's user-facing message when there is one.
fn status_error(answer: &Answer, token: &Secret) -> WriteError {
    let server_message = user_facing_message(&answer.body, token);
    let (kind, ours) = match answer.status {
        401 => (
            WriteErrorKind::Unauthorized,
            "Anthropic refused Claude Code's login (expired or revoked); run `claude` once to sign in again".to_owned(),
        ),
        403 => (
            WriteErrorKind::NotAllowed,
            "Your account may not change Extra Usage (403): on a Team or Enterprise plan the organization's admin decides".to_owned(),
        ),
        404 => (
            WriteErrorKind::NotFound,
            "Anthropic did not find this account setting (404); the undocumented endpoint may have changed".to_owned(),
        ),
        400 | 409 | 422 => (
            WriteErrorKind::Refused,
            format!("Anthropic refused the change (HTTP {})", answer.status),
        ),
        s @ 500..=599 => (
            WriteErrorKind::Server,
            format!("Anthropic's server failed (HTTP {s}); nothing is known to have changed"),
        ),
        s => (
            WriteErrorKind::UnexpectedAnswer,
            format!("Anthropic answered with an unexpected HTTP {s}"),
        ),
    };
    WriteError {
        reason: server_message.clone().unwrap_or(ours),
        server_message,
        status: Some(answer.status),
        ..WriteError::new(kind, String::new())
    }
}

/// `error.message` when `error.details.error_visibility` is `user_facing`, as the server
/// wrote it: one line, at most 300 characters, and never if it contains the token.
pub fn user_facing_message(body: &[u8], token: &Secret) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let visible = error
        .get("details")
        .and_then(|d| d.get("error_visibility"))
        .and_then(Value::as_str)
        == Some("user_facing");
    if !visible {
        return None;
    }
    let message = error.get("message").and_then(Value::as_str)?;
    let line = message.split(['\n', '\r']).next().unwrap_or("").trim();
    if line.is_empty() || (!token.is_empty() && line.contains(token.expose())) {
        return None;
    }
    Some(line.chars().take(MAX_SERVER_MESSAGE).collect())
}

fn fetch_error(e: &FetchError) -> WriteError {
    let (kind, reason) = match e {
        FetchError::Offline(why) => (
            WriteErrorKind::Offline,
            format!("Headroom could not reach Anthropic ({why})"),
        ),
        FetchError::Timeout(s) => (
            WriteErrorKind::Timeout,
            format!("Anthropic did not answer within {s} s; the change may or may not have been made, so check your account before trying again"),
        ),
        FetchError::Unauthorized => (
            WriteErrorKind::Unauthorized,
            "Anthropic refused Claude Code's login (expired or revoked); run `claude` once to sign in again".to_owned(),
        ),
        FetchError::TooLarge => (
            WriteErrorKind::UnexpectedAnswer,
            "Anthropic's answer was too large to be what Headroom expects".to_owned(),
        ),
        other => (WriteErrorKind::UnexpectedAnswer, other.to_string()),
    };
    WriteError {
        // A request that timed out may have been carried out.
        may_have_changed: matches!(e, FetchError::Timeout(_)),
        ..WriteError::new(kind, reason)
    }
}

fn unexpected(e: &UsageParseError) -> WriteError {
    WriteError::new(WriteErrorKind::UnexpectedAnswer, e.to_string())
}

fn rate_limited(until_ms: Option<i64>, now_ms: i64, config: &AccountConfig) -> WriteError {
    let reason = match until_ms {
        Some(until) => format!(
            "Anthropic is rate limiting requests from this login; try again after {}",
            text::clock(until, now_ms, config.zone)
        ),
        None => "Anthropic is rate limiting requests from this login; try again in a few minutes"
            .to_owned(),
    };
    WriteError {
        retry_at_ms: until_ms,
        status: Some(429),
        ..WriteError::new(WriteErrorKind::RateLimited, reason)
    }
}

fn no_organization() -> WriteError {
    WriteError::new(
        WriteErrorKind::NoOrganization,
        "Headroom cannot tell which organization your Claude Code login belongs to (Claude Code's .claude.json does not name it); run `claude` once so it records it",
    )
}

fn not_recorded(e: LedgerError) -> WriteError {
    WriteError::new(
        WriteErrorKind::NotRecorded,
        format!("Headroom could not read its ledger, so nothing was sent ({e})"),
    )
}

/// Claude Code's login, usable at `now_ms`.
pub(super) fn login(config: &AccountConfig, now_ms: i64) -> Result<OAuthCredentials, WriteError> {
    if !config.account_enabled {
        return Err(WriteError::new(
            WriteErrorKind::NoLogin,
            "the Claude Code login source is turned off in Headroom's settings (Sources), so Headroom does not use it",
        ));
    }
    let creds = credentials::load(config.claude_dir.as_deref(), config.macos_keychain)
        .map_err(|e| WriteError::new(WriteErrorKind::NoLogin, e.to_string()))?;
    creds
        .check(now_ms)
        .map_err(|e| WriteError::new(WriteErrorKind::NoLogin, e.to_string()))?;
    Ok(creds)
}

/// A Team or Enterprise member whose role Claude Code recorded as neither admin nor owner:
/// the organization's admin decides, so nothing is sent.
pub(super) fn refuse_members(
    creds: &OAuthCredentials,
    account: &AccountFile,
) -> Result<(), WriteError> {
    let plan = creds
        .subscription_type
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    let organization_plan = plan.contains("team") || plan.contains("enterprise");
    let Some(role) = account.organization_role.as_deref() else {
        return Ok(());
    };
    let role = role.to_ascii_lowercase();
    let decides = role.contains("admin") || role.contains("owner") || role.contains("billing");
    if organization_plan && !decides {
        return Err(WriteError::new(
            WriteErrorKind::NotAllowed,
            "On a Team or Enterprise plan, Extra Usage is your organization's admin's decision; ask them, or see claude.ai's settings",
        ));
    }
    Ok(())
}
