//! The requests: the writes (`PUT overage_spend_limit`, `POST setup_overage_billing`), the
//! read-back that verifies them, the organization from the OAuth profile, and what each
//! answer means as a [`WriteError`].

use serde_json::{json, Value};

use super::account_file::{is_uuid, read_account_file, AccountFile};
use super::history;
use super::plan::{Billed, Plan};
use super::reading::Reading;
use super::words::{lower_first, verified};
use super::{
    CapChoice, Change, Verified, WriteError, WriteErrorKind, ANTHROPIC_VERSION, SETTINGS_URL,
    SETTLE_PAUSE_MS, SETUP_DEFAULT_CENTS,
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

/// One conversation with the account for a write: the login and the organization, checked
/// once, and every request sent, for the history.
pub(super) struct Session<'a, C: Fn() -> i64> {
    refresher: &'a Refresher,
    ledger: &'a Ledger,
    /// Every request sent, for the history.
    pub(super) requests: Vec<String>,
    clock: &'a C,
    creds: OAuthCredentials,
    account: AccountFile,
}

impl<'a, C: Fn() -> i64> Session<'a, C> {
    /// The login and the account file, from local files only: nothing is sent.
    pub(super) fn new(
        refresher: &'a Refresher,
        ledger: &'a Ledger,
        clock: &'a C,
    ) -> Result<Self, WriteError> {
        let config = refresher.config();
        let creds = login(config, clock())?;
        let account = read_account_file(config.claude_account_file.as_deref());
        refuse_members(&creds, &account)?;
        Ok(Session {
            refresher,
            ledger,
            requests: Vec::new(),
            clock,
            creds,
            account,
        })
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Who will be billed and the organization the write goes to: Claude Code's account file,
    /// else `GET /api/oauth/profile`.
    pub(super) async fn target(&mut self) -> Result<(Billed, String), WriteError> {
        let mut billed = Billed {
            email: self.account.email.clone(),
            organization_name: self.account.organization_name.clone(),
        };
        let organization = match self.account.organization_uuid.clone() {
            Some(org) => org,
            None => {
                let profile = self.profile().await?;
                let text = |v: Option<&Value>| {
                    v.and_then(Value::as_str)
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                };
                let org = profile.get("organization");
                billed.email = billed
                    .email
                    .or_else(|| text(profile.get("account").and_then(|a| a.get("email"))));
                billed.organization_name = billed
                    .organization_name
                    .or_else(|| text(org.and_then(|o| o.get("name"))));
                text(org.and_then(|o| o.get("uuid")))
                    .filter(|u| is_uuid(u))
                    .ok_or_else(no_organization)?
            }
        };
        Ok((billed, organization))
    }

    /// Refuses while the shared 429 cool-down is on (nothing is sent). A cool-down further
    /// ahead than the policy could have set (the clock went back) is not obeyed (audit N15).
    fn cooldown(&self, now: i64) -> Result<(), WriteError> {
        let config = self.refresher.config();
        let state = store::poll_state(self.ledger, Source::Account).map_err(not_recorded)?;
        match policy::active_cooldown(&config.policy, &state, now) {
            Some(until) if state.last_failure == Some(policy::FailureKind::RateLimited) => {
                Err(rate_limited(Some(until), now, config))
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
            .send(
                method,
                url,
                Auth::Bearer(&self.creds.access_token),
                &extra,
                body,
            )
            .await
    }

    /// `GET /api/oauth/profile`, as a JSON value.
    async fn profile(&mut self) -> Result<Value, WriteError> {
        let url = endpoint(&self.refresher.config().anthropic_api, &PROFILE);
        let answer = self.send(Method::GET, url, None, None).await;
        let answer = self.answered(answer, Sent::Read)?;
        if answer.status != 200 {
            return Err(no_organization());
        }
        usage::parse_json(&answer.body).map_err(|_| no_organization())
    }

    /// One direct reading of the account (`GET /api/oauth/usage`), recorded as a poll of the
    /// account would be, so that every front end shows it at once; it also settles the
    /// history's writes of unknown outcome.
    pub(super) async fn reading(&mut self) -> Result<Reading, WriteError> {
        self.cooldown(self.now())?;
        let url = endpoint(
            &self.refresher.config().anthropic_api,
            &crate::account::client::OAUTH_USAGE,
        );
        let answer = self.send(Method::GET, url, None, None).await;
        let answer = self.answered(answer, Sent::Read)?;
        let now = self.now();
        if answer.status != 200 {
            return Err(status_error(&answer, &self.creds.access_token, Sent::Read));
        }
        let value = usage::parse_json(&answer.body).map_err(|e| unexpected(&e))?;
        let object = value
            .as_object()
            .ok_or_else(|| unexpected(&usage::UsageParseError::NotObject))?;
        let parsed = usage::usage_from_object(object, Source::Account, now);
        self.record_poll(&parsed, now);
        let reading = Reading::from_usage(object, parsed.extra_usage, now);
        if let Err(e) = history::settle(self.ledger, &reading, self.refresher.config()) {
            tracing::warn!("cannot settle the Extra Usage history: {e}");
        }
        Ok(reading)
    }

    /// Writes `plan` after reading the account again; settles the outcome by a reading.
    pub(super) async fn write(&mut self, plan: &Plan) -> Result<Verified, WriteError> {
        let (billed, organization) = self.target().await?;
        if organization != plan.organization || billed != plan.billed {
            return Err(changed(
                "Claude Code's login now names another account or organization",
            ));
        }
        let now = self.reading().await?;
        if let Some(what) = now.changed_since(&plan.before) {
            return Err(changed(&what));
        }
        let org = plan.organization.clone();
        let outcome = self.send_change(plan, &org).await;
        match outcome {
            Ok(()) => self.settle(plan, None).await,
            Err(e) if e.may_have_changed => {
                // The account may be applying it still: give it a moment before reading.
                tokio::time::sleep(std::time::Duration::from_millis(SETTLE_PAUSE_MS)).await;
                self.settle(plan, Some(e)).await
            }
            Err(e) => Err(e),
        }
    }

    /// The setup (when the account was never set up) and the PUT. `Err` with
    /// `may_have_changed` when a request may have been carried out.
    async fn send_change(&mut self, plan: &Plan, org: &str) -> Result<(), WriteError> {
        let mut set_up = false;
        if plan.sets_up {
            self.setup(org, &plan.change).await?;
            set_up = true;
        }
        match self.put(org, &plan.change, &plan.currency).await {
            Ok(()) => Ok(()),
            Err(e) if !set_up && e.kind == WriteErrorKind::Refused && e.not_provisioned => {
                self.setup(org, &plan.change).await?;
                self.put(org, &plan.change, &plan.currency)
                    .await
                    .map_err(|e| e.error(true))
            }
            Err(e) => Err(e.error(set_up)),
        }
    }

    /// What the account says after a write. `lost`: the write's own answer was lost (or a
    /// step of it failed after another was made), so this reading alone tells the outcome.
    async fn settle(
        &mut self,
        plan: &Plan,
        lost: Option<WriteError>,
    ) -> Result<Verified, WriteError> {
        match self.reading().await {
            Ok(reading) => {
                let now = self.now();
                let account = reading.extra_usage.clone().ok_or_else(|| {
                    self.unsettled(
                        lost.as_ref(),
                        "the account's answer does not mention Extra Usage",
                    )
                })?;
                let mut v = verified(&plan.change, account, now, self.refresher.config());
                if plan.change.enabled() && reading.currency.as_deref() != Some(&plan.currency) {
                    // Amounts in another currency are not the amount asked (audit N9).
                    v.matches = false;
                    v.difference = Some(format!(
                        "you asked for amounts in {}, but the account now states {}",
                        plan.currency,
                        reading.currency.as_deref().unwrap_or("no currency")
                    ));
                }
                v.answer_lost = lost.map(|e| e.reason);
                Ok(v)
            }
            Err(e) => Err(self.unsettled(lost.as_ref(), &e.reason)),
        }
    }

    /// The write may have been made and no reading tells: the ledger forgets its reading of
    /// Extra Usage (every front end then shows it as not known, and gives no "turn it on"
    /// advice) until the next reading.
    fn unsettled(&self, lost: Option<&WriteError>, why: &str) -> WriteError {
        forget_extra_usage(self.ledger, self.now());
        // Each lost answer's reason says "so the change may or may not have been made" already.
        let head = match lost {
            Some(e) if e.may_have_changed => e.reason.clone(),
            Some(e) => format!(
                "The change may or may not have been made ({})",
                lower_first(&e.reason)
            ),
            None => "The change was accepted".to_owned(),
        };
        WriteError {
            may_have_changed: true,
            retry_at_ms: lost.and_then(|e| e.retry_at_ms),
            ..WriteError::new(
                WriteErrorKind::NotVerified,
                format!(
                    "{head}, and Headroom could not read your account back to tell ({why}); check {SETTINGS_URL} before trying again"
                ),
            )
        }
    }

    async fn setup(&mut self, org: &str, change: &Change) -> Result<(), WriteError> {
        let cents = change
            .cap()
            .and_then(CapChoice::cents)
            .unwrap_or(SETUP_DEFAULT_CENTS);
        let body = json!({ "org_monthly_spend_limit": cents });
        let url = self.url(org, SETUP_PATH);
        let answer = self.send(Method::POST, url, Some(org), Some(&body)).await;
        let answer = self.answered(answer, Sent::Write)?;
        write_answer(&answer, &self.creds.access_token).map_err(|e| e.error(false))
    }

    async fn put(&mut self, org: &str, change: &Change, currency: &str) -> Result<(), Refusal> {
        let body = put_body(change, currency);
        let url = self.url(org, OVERAGE_PATH);
        let answer = self.send(Method::PUT, url, Some(org), Some(&body)).await;
        let answer = self.answered(answer, Sent::Write).map_err(Refusal::from)?;
        write_answer(&answer, &self.creds.access_token)
    }

    /// A transport error as a [`WriteError`]; a 429 also starts the shared cool-down.
    fn answered(
        &mut self,
        answer: Result<Answer, FetchError>,
        sent: Sent,
    ) -> Result<Answer, WriteError> {
        match answer {
            Ok(a) => Ok(a),
            Err(FetchError::RateLimited { retry_after_s }) => {
                let now = self.now();
                let until = self.save_rate_limited(retry_after_s, now);
                Err(rate_limited(until, now, self.refresher.config()))
            }
            Err(e) => Err(fetch_error(&e, sent)),
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

    /// A reading of the account is a reading like any poll: recorded, so every front end
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

/// Records that Extra Usage is not known as of `now` (the account's windows as last read):
/// after a write of unknown outcome, no front end may show the reading from before it as
/// current, nor advise turning on what may be on.
fn forget_extra_usage(ledger: &Ledger, now: i64) {
    let last = match store::newest(ledger, Source::Account) {
        Ok(last) => last,
        Err(e) => {
            tracing::warn!("cannot read the account's last reading: {e}");
            return;
        }
    };
    let (windows, currency) = match &last {
        Some(s) => (
            s.windows.clone(),
            s.extra_usage
                .as_ref()
                .map(|e| e.currency.clone())
                .unwrap_or_default(),
        ),
        None => (Vec::new(), String::new()),
    };
    let unknown = ExtraUsage {
        enabled: None,
        monthly_limit: None,
        used: None,
        currency,
        balance: None,
        disabled_reason: None,
        source: Source::Account,
        observed_at_ms: now,
    };
    if let Err(e) = store::record(ledger, Source::Account, &windows, Some(&unknown), now) {
        tracing::warn!("cannot mark Extra Usage as not known: {e}");
    }
}

fn changed(what: &str) -> WriteError {
    WriteError {
        offer_browser: false,
        ..WriteError::new(
            WriteErrorKind::Changed,
            format!("Your account changed since the question ({what}), so nothing was sent; ask again to see the new question"),
        )
    }
}

/// Whether a request could have changed the account: a read cannot; a write can, once it may
/// have left this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sent {
    Read,
    Write,
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
        error: status_error(answer, token, Sent::Write),
        not_provisioned: text.contains("not_provisioned") || text.contains("not provisioned"),
    })
}

/// The error for a non-2xx answer: the server's user-facing message when there is one. A 5xx
/// to a write may come from a proxy in front of an origin that carried the write out: it may
/// have changed the account (audit N2).
fn status_error(answer: &Answer, token: &Secret, sent: Sent) -> WriteError {
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
        s @ 500..=599 if sent == Sent::Write => (
            WriteErrorKind::Server,
            format!("Anthropic's server failed (HTTP {s}) after the change was sent, so it may or may not have been made"),
        ),
        s @ 500..=599 => (
            WriteErrorKind::Server,
            format!("Anthropic's server failed (HTTP {s})"),
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
        may_have_changed: sent == Sent::Write && answer.status >= 500,
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
    // Shown on terminals and stored in the history: no escape sequences or bidi overrides
    // from a server reach either (audit N18).
    Some(
        crate::text::printable(line)
            .chars()
            .take(MAX_SERVER_MESSAGE)
            .collect(),
    )
}

/// A request that got no usable answer. For a write, anything after the request may have
/// left this machine (a timeout, a connection cut after sending, a body cut short) may have
/// changed the account; only a failure to connect, or to build the request, certainly did not.
fn fetch_error(e: &FetchError, sent: Sent) -> WriteError {
    let may_have_changed = sent == Sent::Write
        && matches!(
            e,
            FetchError::Timeout(_)
                | FetchError::Interrupted
                | FetchError::TooLarge
                | FetchError::Server(_)
                | FetchError::Status(_)
        );
    let (kind, reason) = match e {
        FetchError::Offline(why) => (
            WriteErrorKind::Offline,
            format!("Headroom could not reach Anthropic ({why}), so nothing was sent"),
        ),
        FetchError::Timeout(s) if may_have_changed => (
            WriteErrorKind::Timeout,
            format!("Anthropic did not answer within {s} s, so the change may or may not have been made"),
        ),
        FetchError::Timeout(s) => (
            WriteErrorKind::Timeout,
            format!("Anthropic did not answer within {s} s"),
        ),
        FetchError::Interrupted if may_have_changed => (
            WriteErrorKind::Interrupted,
            "The connection broke before Anthropic's answer was complete, so the change may or may not have been made".to_owned(),
        ),
        FetchError::Interrupted => (
            WriteErrorKind::Interrupted,
            "The connection broke before Anthropic's answer was complete".to_owned(),
        ),
        FetchError::Unauthorized => (
            WriteErrorKind::Unauthorized,
            "Anthropic refused Claude Code's login (expired or revoked); sign in again with `claude`".to_owned(),
        ),
        FetchError::TooLarge => (
            WriteErrorKind::UnexpectedAnswer,
            "Anthropic's answer was too large to be what Headroom expects".to_owned(),
        ),
        other => (WriteErrorKind::UnexpectedAnswer, other.to_string()),
    };
    WriteError {
        may_have_changed,
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
