//! Extra Usage switched on or off, and its monthly cap set, from Headroom itself: confirmed
//! before, verified after, recorded always, and never anything but these two writes.
//!
//! Claude Code's own `/usage-credits` (formerly `/extra-usage`) does this with the login
//! Headroom already reads, through an **undocumented** part of Anthropic's OAuth API (see
//! docs/account.md for the public sources). Only these two writes are ever sent, both under
//! `{anthropic_api}/api/oauth/organizations/{org}/`:
//!
//! - `PUT overage_spend_limit` with `{"is_enabled": false}` (off), or
//!   `{"is_enabled": true, "monthly_credit_limit": <cents or null>, "currency": "USD"}` (on,
//!   with a cap or with none);
//! - `POST setup_overage_billing` with `{"org_monthly_spend_limit": <cents>}`, once, for an
//!   account whose allowance was never set up (`disabled_reason` `overage_not_provisioned`,
//!   or the PUT says so), followed by the PUT. The two are not atomic.
//!
//! plus reads: `GET /api/oauth/usage` and `GET overage_spend_limit` after every write (the
//! verification), and `GET /api/oauth/profile` only when Claude Code's account file does
//! not name the organization. Prepaid credits, auto-reload and every other billing path are
//! never requested (a test proves it from the server's request log).
//!
//! Headers: `Authorization: Bearer <Claude Code's token>` (sensitive), `anthropic-beta:
//! oauth-2025-04-20`, `anthropic-version: 2023-06-01`, `Content-Type: application/json`,
//! `x-organization-uuid: <org>`. Base URL, timeouts and host rules are the account client's
//! (`account::client`): only Anthropic's host or loopback ever gets the token.
//!
//! # API for front ends (CLI `headroom extra-usage enable|cap|disable|history`, the pane)
//!
//! ```text
//! // 1. What the user asks (amounts through `Cap::parse`, the one strict money parser):
//! let change = Change::Enable(CapChoice::Cap(cap));   // SetCap(CapChoice::NoCap), Disable
//! // 2. Can Headroom write at all? Local files only, no request (the pane's switch or link):
//! let where_to = overage::availability(refresher.config(), now_ms);  // Err(e): e.reason, browser
//! // 3. The confirmation, from what the account said last (`snapshot.extra_usage`):
//! let c = overage::confirmation(&change, snapshot.extra_usage.as_ref());
//! //    c.text: the question, naming the amount; c.retype: Some(choice) when the amount must
//! //    be typed again (cap over $1,000, or no cap): check with `overage::amount_confirmed`.
//! // 4. Only after the user confirmed (nothing here asks):
//! let applied = overage::apply_blocking(&refresher, &mut ledger, &change,
//!                                       snapshot.extra_usage.as_ref(), clock)?;
//! //    `Err` only for a ledger that cannot record the write first (nothing was sent: safe
//! //    to try again, e.g. when busy). Otherwise `applied.result` is
//! //    Ok(Verified { summary, matches, difference, account, .. }): what the account says
//! //    now ("Extra Usage is on · cap $50.00 · confirmed by your account at 14:05"), or
//! //    Err(WriteError { kind, reason, offer_browser, may_have_changed, .. }): one sentence
//! //    (the server's own user-facing message when it gave one) and whether to offer the
//! //    browser flow (`SETTINGS_URL`, always true today).
//! // 5. The record of every write: overage::history(&ledger, 50)
//! ```
//!
//! A 429 on any of these requests starts the shared cool-down (the Account source's poll
//! state in the ledger, as a poll's would); while it lasts nothing is sent, and the error
//! says when to try again. There is no retry loop.
//!
//! claude.ai session-key users keep the browser flow: no public code shows claude.ai's write
//! (method, path and body) with enough certainty to spend someone's money on it.
//!
//! This file holds the API; beside it: `requests` (the HTTP writes, the read-back and what
//! each answer means), `account_file` (the organization from `.claude.json`), `history` (the
//! ledger table) and `words` (what the account says after a write).

use serde::Serialize;

use super::{AccountConfig, AccountError, Refresher};
use crate::ledger::Ledger;
use crate::settings::Cap;
use crate::snapshot::ExtraUsage;
use crate::text;

pub use crate::alerts::EXTRA_USAGE_SETTINGS_URL as SETTINGS_URL;

/// The `anthropic-version` header Claude Code sends with these requests.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Claude Code's account file inside `$CLAUDE_CONFIG_DIR` (or, without it, in the home
/// folder): `oauthAccount.organizationUuid` names the organization.
pub const ACCOUNT_FILE_NAME: &str = ".claude.json";
/// The `disabled_reason` of an account whose Extra Usage was never set up.
pub const NOT_PROVISIONED: &str = "overage_not_provisioned";
/// Caps above this (in cents), and "no cap", need the amount typed again.
pub const RETYPE_ABOVE_CENTS: u64 = 100_000;
/// What `setup_overage_billing` gets when the user chose no cap: Claude Code's own default
/// ($20.00). The PUT that follows removes the cap; should it fail, the account is left with
/// this small cap rather than none.
pub const SETUP_DEFAULT_CENTS: u64 = 2_000;
/// How many writes the history keeps.
pub const HISTORY_LIMIT: i64 = 500;

/// A monthly cap, or none at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "dollars")]
pub enum CapChoice {
    /// A monthly cap.
    Cap(Cap),
    /// No monthly cap.
    NoCap,
}

impl CapChoice {
    /// `$50.00`, or `no cap`.
    pub fn describe(self) -> String {
        match self {
            CapChoice::Cap(c) => c.to_string(),
            CapChoice::NoCap => "no cap".to_owned(),
        }
    }

    /// The cap in cents, `None` for no cap.
    pub fn cents(self) -> Option<u64> {
        match self {
            CapChoice::Cap(c) => Some(c.cents()),
            CapChoice::NoCap => None,
        }
    }

    /// Whether the amount must be typed again before it is written.
    pub fn needs_retype(self) -> bool {
        match self {
            CapChoice::Cap(c) => c.cents() > RETYPE_ABOVE_CENTS,
            CapChoice::NoCap => true,
        }
    }
}

/// What the user asks of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "cap")]
pub enum Change {
    /// Turn Extra Usage on with this cap (setting the allowance up first if it never was).
    Enable(CapChoice),
    /// Set the monthly cap; Extra Usage is on afterwards (the write is the same as `Enable`'s,
    /// the confirmation differs).
    SetCap(CapChoice),
    /// Turn Extra Usage off.
    Disable,
}

impl Change {
    /// Whether Extra Usage is on after the change.
    pub fn enabled(self) -> bool {
        !matches!(self, Change::Disable)
    }

    /// The cap the change sets, `None` for `Disable` (which leaves the cap alone).
    pub fn cap(self) -> Option<CapChoice> {
        match self {
            Change::Enable(c) | Change::SetCap(c) => Some(c),
            Change::Disable => None,
        }
    }

    /// `turn on, cap $50.00`, `set cap to no cap`, `turn off`: the history's "asked".
    pub fn describe(self) -> String {
        match self {
            Change::Enable(c) => format!("turn on, {}", cap_phrase(c)),
            Change::SetCap(c) => format!("set {}", cap_phrase(c)),
            Change::Disable => "turn off".to_owned(),
        }
    }

    fn action(self) -> &'static str {
        match self {
            Change::Enable(_) => "enable",
            Change::SetCap(_) => "cap",
            Change::Disable => "disable",
        }
    }
}

fn cap_phrase(c: CapChoice) -> String {
    match c {
        CapChoice::Cap(c) => format!("cap {c}"),
        CapChoice::NoCap => "no cap".to_owned(),
    }
}

/// The question asked before a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confirmation {
    /// The question, naming what will happen and the amount: "Turn on Extra Usage with a
    /// monthly cap of $50.00? Usage past your plan's limits is billed to your payment method
    /// at API rates, up to $50.00 a month."
    pub text: String,
    /// When set, the amount must be typed again (a cap over $1,000, or no cap): the pane
    /// asks for it, the CLI wants `--confirm-amount`. Check with [`amount_confirmed`].
    pub retype: Option<CapChoice>,
    /// What to type, in words: "type 1500.00 to confirm" / "type no cap to confirm".
    pub retype_hint: Option<String>,
    /// Whether the allowance will be set up first (`setup_overage_billing`).
    pub sets_up: bool,
}

/// The confirmation for `change`, given what the account said last (`current`; `None`
/// when unknown).
pub fn confirmation(change: &Change, current: Option<&ExtraUsage>) -> Confirmation {
    let on = current.and_then(|eu| eu.enabled) == Some(true);
    let sets_up = change.enabled() && not_provisioned(current);
    let currency = currency_of(current);
    let billed = |c: CapChoice| {
        match c {
        CapChoice::Cap(cap) => format!(
            "Usage past your plan's limits is billed to your payment method at API rates, up to {} a month.",
            money_cents(cap.cents(), &currency)
        ),
        CapChoice::NoCap => "Usage past your plan's limits is billed to your payment method at API rates, with no monthly limit.".to_owned(),
    }
    };
    let with = |c: CapChoice| match c {
        CapChoice::Cap(cap) => format!("a monthly cap of {}", money_cents(cap.cents(), &currency)),
        CapChoice::NoCap => "no monthly cap".to_owned(),
    };
    let mut text = match change {
        Change::Enable(c) => format!("Turn on Extra Usage with {}? {}", with(*c), billed(*c)),
        Change::SetCap(c) if on => {
            let from = match current.and_then(|eu| eu.monthly_limit) {
                Some(limit) => text::money(limit, &currency),
                None => "no cap".to_owned(),
            };
            let to = match c {
                CapChoice::Cap(cap) => money_cents(cap.cents(), &currency),
                CapChoice::NoCap => "no cap".to_owned(),
            };
            format!(
                "Change Extra Usage's monthly cap from {from} to {to}? {}",
                billed(*c)
            )
        }
        // Setting a cap while Extra Usage is off turns it on: say so.
        Change::SetCap(c) => format!("Turn on Extra Usage with {}? {}", with(*c), billed(*c)),
        Change::Disable => "Turn off Extra Usage? Work stops when a plan limit is reached, until the window resets, and nothing past your plan's limits is billed.".to_owned(),
    };
    if sets_up {
        text.push_str(
            " Extra Usage was never set up on this account: Headroom sets it up first (a one-time step), then turns it on.",
        );
    }
    let retype = change.cap().filter(|c| c.needs_retype());
    Confirmation {
        text,
        retype,
        retype_hint: retype.map(|c| match c {
            CapChoice::Cap(cap) => format!(
                "type {}.{:02} to confirm",
                cap.cents() / 100,
                cap.cents() % 100
            ),
            CapChoice::NoCap => "type no cap to confirm".to_owned(),
        }),
        sets_up,
    }
}

/// Whether `typed` repeats the amount `confirmation` asks for: the same cap by
/// [`Cap::parse`] (so `1500`, `1,500.00` and `$1500` all match $1,500.00), or, for no cap,
/// `no cap` / `none` / `unlimited` in any case. True when no retype is needed.
pub fn amount_confirmed(confirmation: &Confirmation, typed: &str) -> bool {
    match confirmation.retype {
        None => true,
        Some(CapChoice::Cap(cap)) => Cap::parse(typed).is_ok_and(|t| t == cap),
        Some(CapChoice::NoCap) => {
            let t = typed.trim().to_ascii_lowercase();
            matches!(
                t.as_str(),
                "no cap" | "nocap" | "no-cap" | "none" | "unlimited"
            )
        }
    }
}

/// Where a write would go: the organization and whose login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The organization the write is for.
    pub organization_uuid: String,
    /// Where the UUID came from: Claude Code's account file, or the OAuth profile.
    pub organization_from: String,
    /// The plan from Claude Code's credentials (`pro`, `max`, `team`, ...), when known.
    pub subscription_type: Option<String>,
}

/// Why a write was not made, failed, or could not be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteErrorKind {
    /// No Claude Code login, or it expired, or it lacks the profile scope.
    NoLogin,
    /// Claude Code's files do not name the organization (never guessed).
    NoOrganization,
    /// A Team or Enterprise member: the organization's admin decides (also a 403).
    NotAllowed,
    /// 401: the login was refused.
    Unauthorized,
    /// 404: the endpoint or the organization is not there (the API may have changed).
    NotFound,
    /// 400, 409, 422: the account refused the change.
    Refused,
    /// 5xx.
    Server,
    /// No answer in time.
    Timeout,
    /// No connection.
    Offline,
    /// An answer Headroom does not understand (another status, an HTML page, bad JSON).
    UnexpectedAnswer,
    /// 429, or the shared cool-down is still on: nothing sent until `until_ms`.
    RateLimited,
    /// The write was accepted but the account could not be read back.
    NotVerified,
    /// The ledger could not be read before the write: nothing sent.
    NotRecorded,
}

/// A write that did not happen, failed, or was not confirmed by the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{reason}")]
pub struct WriteError {
    /// What kind of failure.
    pub kind: WriteErrorKind,
    /// One sentence for a person: the server's user-facing message verbatim when it gave
    /// one, else Headroom's. Never a token or a raw body.
    pub reason: String,
    /// The server's `error.message` when `error.details.error_visibility` is `user_facing`.
    pub server_message: Option<String>,
    /// The HTTP status that ended it, when there was one.
    pub status: Option<u16>,
    /// Offer the browser flow (`SETTINGS_URL`): always, today; a front end may hide it only
    /// when this is false.
    pub offer_browser: bool,
    /// A write was accepted before the failure (setup done but the PUT failed, or the
    /// change was accepted but not read back): the account may differ from before.
    pub may_have_changed: bool,
    /// For `RateLimited`: no request before this (epoch ms), when known.
    pub retry_at_ms: Option<i64>,
}

impl WriteError {
    fn new(kind: WriteErrorKind, reason: impl Into<String>) -> WriteError {
        WriteError {
            kind,
            reason: reason.into(),
            server_message: None,
            status: None,
            offer_browser: true,
            may_have_changed: false,
            retry_at_ms: None,
        }
    }
}

/// What the account says after a write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verified {
    /// The account's Extra Usage as read back (the usage response, with
    /// `overage_spend_limit`'s on/off and cap when that read answered).
    pub account: ExtraUsage,
    /// When it was read (epoch ms).
    pub confirmed_at_ms: i64,
    /// "Extra Usage is on · cap $50.00 · confirmed by your account at 14:05".
    pub summary: String,
    /// Whether the account now says what was asked.
    pub matches: bool,
    /// When not: "you asked for a cap of $50.00, but the account reports $20.00".
    pub difference: Option<String>,
}

/// The outcome of [`apply`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applied {
    /// The change asked for.
    pub change: Change,
    /// The requests sent, in order (`POST setup_overage_billing`, `PUT overage_spend_limit`,
    /// `GET /api/oauth/usage`, ...), for the history and for a person.
    pub requests: Vec<String>,
    /// What the account says after, or why the change failed.
    pub result: Result<Verified, WriteError>,
    /// The history row (see [`history`]).
    pub history_id: Option<i64>,
}

/// Whether Headroom can write at all, from local files only (no request): the Claude Code
/// login and the organization's UUID. `Err` says why not in one sentence; the front end then
/// shows the browser flow. The organization may still come from the OAuth profile at write
/// time when the account file lacks it: that is `Ok` with `organization_from` "profile".
pub fn availability(config: &AccountConfig, now_ms: i64) -> Result<Target, WriteError> {
    let creds = login(config, now_ms)?;
    let account = read_account_file(config.claude_account_file.as_deref());
    refuse_members(&creds, &account)?;
    Ok(match account.organization_uuid {
        Some(org) => Target {
            organization_uuid: org,
            organization_from: account.origin,
            subscription_type: creds.subscription_type,
        },
        None => Target {
            organization_uuid: String::new(),
            organization_from: "profile".to_owned(),
            subscription_type: creds.subscription_type,
        },
    })
}

/// Sends `change` (after the user confirmed it), verifies it and records both in the
/// ledger. `current` is what the account said last (decides whether the allowance must be
/// set up first); `clock` gives epoch ms. `Err` only for a ledger that cannot record the
/// write beforehand (busy past its timeout, damaged): then nothing was sent and the call can
/// be repeated. Every other failure is in `Applied::result`.
pub async fn apply(
    refresher: &Refresher,
    ledger: &mut Ledger,
    change: &Change,
    current: Option<&ExtraUsage>,
    clock: impl Fn() -> i64,
) -> Result<Applied, AccountError> {
    let started = clock();
    // Nothing is sent that cannot be recorded: a ledger that cannot be written now (busy,
    // damaged) is the caller's `Err`, with no request made, so trying again is safe.
    let history_id = begin_history(ledger, change, started)?;
    let mut run = Run {
        refresher,
        ledger,
        requests: Vec::new(),
        clock: &clock,
    };
    let result = run.go(change, current).await;
    let requests = run.requests;
    // The request went out: its outcome is the user's to see even if the record fails.
    if let Err(e) = finish_history(ledger, history_id, &requests, &result) {
        tracing::warn!("cannot record the outcome of the Extra Usage change: {e}");
    }
    Ok(Applied {
        change: *change,
        requests,
        result,
        history_id: Some(history_id),
    })
}

/// [`apply`] for synchronous callers (the CLI). Do not call it inside a tokio runtime.
pub fn apply_blocking(
    refresher: &Refresher,
    ledger: &mut Ledger,
    change: &Change,
    current: Option<&ExtraUsage>,
    clock: impl Fn() -> i64,
) -> Result<Applied, AccountError> {
    super::runtime()?.block_on(apply(refresher, ledger, change, current, clock))
}

fn not_provisioned(current: Option<&ExtraUsage>) -> bool {
    current
        .and_then(|eu| eu.disabled_reason.as_deref())
        .is_some_and(|r| r == NOT_PROVISIONED)
}

fn currency_of(current: Option<&ExtraUsage>) -> String {
    current
        .map(|eu| eu.currency.trim().to_ascii_uppercase())
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .unwrap_or_else(|| "USD".to_owned())
}

mod account_file;
mod history;
mod requests;
#[cfg(test)]
mod tests;
mod words;

pub use account_file::{account_file_path, is_uuid, read_account_file, AccountFile};
pub use history::{history, last_write, HistoryEntry};
pub use requests::{put_body, user_facing_message};
pub use words::{difference, summary, verified};

use history::{begin_history, finish_history};
use requests::{login, refuse_members, Run};
use words::money_cents;
