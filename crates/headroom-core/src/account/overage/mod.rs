//! Extra Usage switched on or off, and its monthly cap set, from Headroom itself: one flow,
//! owned here, that both front ends (the CLI's `headroom extra-usage enable|cap|disable` and
//! the settings pane) only drive. They show the question and return the answer; every money
//! rule below holds in this module.
//!
//! Claude Code's own `/usage-credits` (formerly `/extra-usage`) does this with the login
//! Headroom already reads, through an **undocumented** part of Anthropic's OAuth API (see
//! docs/account.md for the public sources). Only these two writes are ever sent, both under
//! `{anthropic_api}/api/oauth/organizations/{org}/`:
//!
//! - `PUT overage_spend_limit` with `{"is_enabled": false}` (off), or
//!   `{"is_enabled": true, "monthly_credit_limit": <minor units or null>, "currency": <the
//!   account's own>}` (on, with a cap or with none);
//! - `POST setup_overage_billing` with `{"org_monthly_spend_limit": <minor units>}`, once, for
//!   an account whose allowance was never set up (`disabled_reason` `overage_not_provisioned`,
//!   or the PUT says so), followed by the PUT. The two are not atomic.
//!
//! The only read is `GET /api/oauth/usage` (its `extra_usage` or `spend`), plus
//! `GET /api/oauth/profile` when Claude Code's account file does not name the organization.
//! `GET overage_spend_limit` is not used: public reports say it answers 405 over OAuth, so
//! nothing may depend on it. Prepaid credits, auto-reload and every other billing path are
//! never requested (a test proves it from the server's request log).
//!
//! # The flow
//!
//! ```no_run
//! # use headroom_core::account::{overage::{self, CapChoice, Change, ConfirmedBy}, Refresher};
//! # use headroom_core::{ledger::Ledger, settings::Cap};
//! # fn demo(refresher: &Refresher, ledger: &mut Ledger, now: fn() -> i64) -> Result<(), Box<dyn std::error::Error>> {
//! let change = Change::Enable(CapChoice::Cap(Cap::parse("50")?));
//! // 1. A plan from a fresh reading of the account (one GET, outside the poll cadence):
//! //    the question names the amount, the currency and the account that will be billed.
//! let plan = overage::plan_blocking(refresher, ledger, change, now)?;
//! println!("{}", plan.question);
//! // 2. The person's answer, checked against the plan (expiry, the amount typed again,
//! //    the limits on scripts):
//! let confirmed = plan.confirm(ConfirmedBy::Terminal, Some("50"), now())?;
//! // 3. Read again, write only if nothing the person confirmed has changed, then settle
//! //    the outcome by reading the account back (also after a lost answer).
//! let applied = overage::execute_blocking(refresher, ledger, confirmed, now)?;
//! match &applied.result {
//!     Ok(settled) => println!("{}", settled.summary),
//!     Err(e) if e.may_have_changed => println!("may or may not have changed: {}", e.reason),
//!     Err(e) => println!("nothing changed: {}", e.reason),
//! }
//! # Ok(()) }
//! ```
//!
//! The rules, each kept here:
//! - The question is built from a reading taken just before it; the write reads again and
//!   sends nothing when anything the person confirmed changed (on or off, the cap, the
//!   currency, set up or not): [`WriteErrorKind::Changed`], ask again.
//! - Changing the cap never turns Extra Usage on: while it is off, a cap change is refused
//!   ([`WriteErrorKind::IsOff`]) and the front end offers the "Turn on" question.
//! - Amounts are in the account's own currency; with none stated, nothing is written.
//! - The question names the account (e-mail) and the organization that will be billed.
//! - Anything that can happen after a request may have left (a reset, a cut-off body, a 5xx, a
//!   timeout) is "may or may not have been made": the account is read back after
//!   [`SETTLE_PAUSE_MS`] and its answer reported; the history keeps `unknown` until a reading
//!   settles it.
//! - A script (no terminal) writes only within the user's own limit for scripts, never "no
//!   cap"; the amount typed again is always checked when given.
//!
//! A 429 on any request starts the shared cool-down (the Account source's poll state in the
//! ledger, as a poll's would); while it lasts nothing is sent, and the error says when to try
//! again. There is no retry loop.
//!
//! claude.ai session-key users keep the browser flow: no public code shows claude.ai's write
//! (method, path and body) with enough certainty to spend someone's money on it.
//!
//! Beside this file: `reading` (what one direct reading says, strictly), `plan` (the question
//! and its confirmation), `requests` (the HTTP reads and writes and what each answer means),
//! `account_file` (the organization and e-mail from `.claude.json`), `history` (the ledger
//! table) and `words` (what the account says after a write).

use serde::Serialize;

use super::{AccountConfig, AccountError, Refresher};
use crate::ledger::Ledger;
use crate::settings::Cap;

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
/// (20.00). The PUT that follows removes the cap; should it fail, the account is left with
/// this small cap rather than none.
pub const SETUP_DEFAULT_CENTS: u64 = 2_000;
/// How many writes the history keeps.
pub const HISTORY_LIMIT: i64 = 500;
/// How long a question stays good: longer than anyone reads it, short enough that the account
/// it describes is still the account (the write reads it again anyway).
pub const PLAN_LIFETIME_MS: i64 = 5 * 60_000;
/// The pause before reading the account back after a write whose answer was lost: the
/// account may still be applying it.
pub const SETTLE_PAUSE_MS: u64 = 1_500;
/// The environment variable Claude Code sets in the shells it runs commands in: an agent's
/// shell, where Headroom writes nothing to the account.
pub const AGENT_SHELL_VARIABLE: &str = "CLAUDECODE";

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
    /// `€50.00` in `currency`, or `no cap`.
    pub fn describe(self, currency: &str) -> String {
        match self {
            CapChoice::Cap(c) => money_cents(c.cents(), currency),
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

    /// What a person types to confirm it: `1500.00` (the canonical form [`Cap::parse`] reads
    /// back), or `no cap`.
    pub fn canonical(self) -> String {
        match self {
            CapChoice::Cap(c) => c.plain(),
            CapChoice::NoCap => "no cap".to_owned(),
        }
    }
}

/// What the user asks of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "cap_cents")]
pub enum Change {
    /// Turn Extra Usage on with this cap (setting the allowance up first if it never was).
    #[serde(with = "cap_cents")]
    Enable(CapChoice),
    /// Set the monthly cap of an Extra Usage that is on (refused while it is off: changing the
    /// cap never turns it on).
    #[serde(with = "cap_cents")]
    SetCap(CapChoice),
    /// Turn Extra Usage off.
    Disable,
}

/// The history stores a change as `{"action": "enable", "cap_cents": 5000}` (`null`: no cap).
mod cap_cents {
    use super::{Cap, CapChoice};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(c: &CapChoice, s: S) -> Result<S::Ok, S::Error> {
        match c.cents() {
            Some(cents) => s.serialize_some(&cents),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CapChoice, D::Error> {
        match Option::<u64>::deserialize(d)? {
            Some(cents) => Cap::from_cents(cents)
                .map(CapChoice::Cap)
                .map_err(serde::de::Error::custom),
            None => Ok(CapChoice::NoCap),
        }
    }
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

    /// `turn on, cap €50.00`, `set no cap`, `turn off`: the history's "asked".
    pub fn describe(self, currency: &str) -> String {
        let phrase = |c: CapChoice| match c {
            CapChoice::Cap(_) => format!("cap {}", c.describe(currency)),
            CapChoice::NoCap => "no cap".to_owned(),
        };
        match self {
            Change::Enable(c) => format!("turn on, {}", phrase(c)),
            Change::SetCap(c) => format!("set {}", phrase(c)),
            Change::Disable => "turn off".to_owned(),
        }
    }

    /// `enable`, `cap`, `disable`: the history's action and the CLI's word.
    pub fn action(self) -> &'static str {
        match self {
            Change::Enable(_) => "enable",
            Change::SetCap(_) => "cap",
            Change::Disable => "disable",
        }
    }
}

/// Why a write was not made, failed, or could not be settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteErrorKind {
    /// No Claude Code login, or it expired, or it lacks the profile scope.
    NoLogin,
    /// Claude Code's files do not name the organization (never guessed).
    NoOrganization,
    /// A Team or Enterprise member: the organization's admin decides (also a 403).
    NotAllowed,
    /// A cap change asked while Extra Usage is off: it would turn it on, which the person did
    /// not ask. Nothing sent; the front end offers the "Turn on" question instead.
    IsOff,
    /// The account did not state something the question needs (its currency, whether Extra
    /// Usage is on) or states amounts Headroom does not write (not in cents).
    NotStated,
    /// The account changed between the question and the write: nothing sent; ask again.
    Changed,
    /// The question is too old, or the amount typed again does not match: nothing sent.
    NotConfirmed,
    /// Without a terminal, beyond what the user allowed scripts; or inside an agent's shell.
    ScriptNotAllowed,
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
    /// The connection broke after the request was sent, or the answer was cut short.
    Interrupted,
    /// An answer Headroom does not understand (another status, an HTML page, bad JSON).
    UnexpectedAnswer,
    /// 429, or the shared cool-down is still on: nothing sent until `until_ms`.
    RateLimited,
    /// The write may have been made, and the account could not be read back to tell.
    NotVerified,
    /// The ledger could not be read before the write: nothing sent.
    NotRecorded,
    /// Headroom itself could not run the request (its async runtime would not start).
    Internal,
}

/// A write that did not happen, failed, or whose outcome is not known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{reason}")]
pub struct WriteError {
    /// What kind of failure.
    pub kind: WriteErrorKind,
    /// One sentence for a person: the server's user-facing message verbatim when it gave
    /// one, else Headroom's. Never a token or a raw body, never a command of one front end.
    pub reason: String,
    /// The server's `error.message` when `error.details.error_visibility` is `user_facing`.
    pub server_message: Option<String>,
    /// The HTTP status that ended it, when there was one.
    pub status: Option<u16>,
    /// Offer the browser flow (`SETTINGS_URL`): always, today; a front end may hide it only
    /// when this is false.
    pub offer_browser: bool,
    /// The change may or may not have been made (a request may have left and its answer was
    /// lost, and no reading could settle it): say so, and give no advice that assumes either.
    pub may_have_changed: bool,
    /// For `RateLimited`: no request before this (epoch ms), when known.
    pub retry_at_ms: Option<i64>,
}

impl WriteError {
    pub(crate) fn new(kind: WriteErrorKind, reason: impl Into<String>) -> WriteError {
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

/// What the account says after a write, read back from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verified {
    /// The account's Extra Usage as read back from the usage response.
    pub account: crate::snapshot::ExtraUsage,
    /// When it was read (epoch ms).
    pub confirmed_at_ms: i64,
    /// "Extra Usage is on · cap €50.00 · confirmed by your account at 14:05".
    pub summary: String,
    /// Whether the account now says what was asked.
    pub matches: bool,
    /// When not: "you asked for a cap of €50.00, but the account reports €20.00".
    pub difference: Option<String>,
    /// When the write's own answer was lost (a cut connection, a 5xx, a timeout), why; the
    /// outcome then rests on this reading alone.
    pub answer_lost: Option<String>,
}

/// The outcome of [`execute`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applied {
    /// The change asked for.
    pub change: Change,
    /// The requests sent, in order (`GET /api/oauth/usage`, `PUT overage_spend_limit`, ...),
    /// for the history and for a person.
    pub requests: Vec<String>,
    /// What the account says after, or why the change was not made (`may_have_changed`
    /// false: certainly not) or is not known (`may_have_changed` true).
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
    Ok(Target {
        organization_from: match account.organization_uuid {
            Some(_) => account.origin,
            None => "profile".to_owned(),
        },
        subscription_type: creds.subscription_type,
    })
}

/// Where a write would go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Where the organization's id comes from: Claude Code's account file, or the profile.
    pub organization_from: String,
    /// The plan from Claude Code's credentials (`pro`, `max`, `team`, ...), when known.
    pub subscription_type: Option<String>,
}

/// Inside an agent's shell (Claude Code sets [`AGENT_SHELL_VARIABLE`] in the shells it runs
/// commands in), Headroom writes nothing to the account: a prompt injection the agent read
/// must not be able to turn on pay-as-you-go billing. `variable` is that variable's value.
pub fn refuse_in_agent_shell(variable: Option<&std::ffi::OsStr>) -> Result<(), WriteError> {
    match variable {
        Some(v) if !v.is_empty() => Err(WriteError {
            offer_browser: false,
            ..WriteError::new(
                WriteErrorKind::ScriptNotAllowed,
                "Headroom does not change Extra Usage from inside Claude Code's shell (CLAUDECODE is set): an agent must not be able to spend your money. Run it in your own terminal, or use Headroom's settings pane",
            )
        }),
        _ => Ok(()),
    }
}

/// [`plan`] for synchronous callers (the CLI, the pane's blocking thread). Do not call it
/// inside a tokio runtime.
pub fn plan_blocking(
    refresher: &Refresher,
    ledger: &mut Ledger,
    change: Change,
    clock: impl Fn() -> i64,
) -> Result<Plan, WriteError> {
    super::runtime()
        .map_err(|e| WriteError::new(WriteErrorKind::Internal, e.to_string()))?
        .block_on(plan(refresher, ledger, change, clock))
}

/// Reads the account (one `GET /api/oauth/usage`, outside the poll cadence, inside the shared
/// 429 cool-down), records the reading as a poll would, and builds the question for
/// `change` from it. `Err` when the change cannot be asked at all (no login, off for a cap
/// change, an unstated currency, a cool-down, ...): nothing was written.
pub async fn plan(
    refresher: &Refresher,
    ledger: &mut Ledger,
    change: Change,
    clock: impl Fn() -> i64,
) -> Result<Plan, WriteError> {
    let mut session = Session::new(refresher, ledger, &clock)?;
    let target = session.target().await?;
    let before = session.reading().await?;
    plan::build(change, before, target, clock())
}

/// The plan for `change` on an account as `before` reads it, billed to `billed` in
/// `organization`: [`plan`]'s pure step, without the request (for tests and front ends that
/// hold a reading already; the write reads again anyway).
pub fn plan_from(
    change: Change,
    before: Reading,
    billed: Billed,
    organization: String,
    now_ms: i64,
) -> Result<Plan, WriteError> {
    plan::build(change, before, (billed, organization), now_ms)
}

/// [`execute`] for synchronous callers. Do not call it inside a tokio runtime.
pub fn execute_blocking(
    refresher: &Refresher,
    ledger: &mut Ledger,
    confirmed: Confirmed,
    clock: impl Fn() -> i64,
) -> Result<Applied, AccountError> {
    super::runtime()?.block_on(execute(refresher, ledger, confirmed, clock))
}

/// Writes a confirmed plan: records it in the history first, reads the account again and
/// sends nothing when anything the person confirmed changed, then writes and settles the
/// outcome by reading the account back. `Err` only for a ledger that cannot record the write
/// beforehand (busy past its timeout, damaged): then nothing was sent and the call can be
/// repeated with a new plan. Every other outcome is in `Applied::result`.
pub async fn execute(
    refresher: &Refresher,
    ledger: &mut Ledger,
    confirmed: Confirmed,
    clock: impl Fn() -> i64,
) -> Result<Applied, AccountError> {
    let plan = confirmed.into_plan();
    let started = clock();
    // Nothing is sent that cannot be recorded: a ledger that cannot be written now (busy,
    // damaged) is the caller's `Err`, with no request made, so trying again is safe.
    let history_id = history::begin(ledger, &plan, started)?;
    let (requests, result) = match Session::new(refresher, ledger, &clock) {
        Ok(mut session) => {
            let result = session.write(&plan).await;
            (session.requests, result)
        }
        Err(e) => (Vec::new(), Err(e)),
    };
    // The request went out: its outcome is the user's to see even if the record fails.
    if let Err(e) = history::finish(ledger, history_id, &requests, &result) {
        tracing::warn!("cannot record the outcome of the Extra Usage change: {e}");
    }
    Ok(Applied {
        change: plan.change,
        requests,
        result,
        history_id: Some(history_id),
    })
}

/// A direct reading of the account's Extra Usage (one `GET /api/oauth/usage`, outside the poll
/// cadence, inside the shared cool-down), recorded in the ledger as a poll's would be; it also
/// settles the history's writes of unknown outcome. `headroom extra-usage` shows this, so
/// that right after a write it never shows a reading from before it.
pub fn read_blocking(
    refresher: &Refresher,
    ledger: &mut Ledger,
    clock: impl Fn() -> i64,
) -> Result<Reading, WriteError> {
    super::runtime()
        .map_err(|e| WriteError::new(WriteErrorKind::Internal, e.to_string()))?
        .block_on(async {
            let mut session = Session::new(refresher, ledger, &clock)?;
            session.reading().await
        })
}

mod account_file;
mod history;
mod plan;
mod reading;
mod requests;
#[cfg(test)]
mod tests;
mod words;

pub use account_file::{account_file_path, is_uuid, read_account_file, AccountFile};
pub use history::{
    history, last_write, settle_interrupted, unsettled_since, HistoryEntry, Outcome,
    STALE_PENDING_MS,
};
pub use plan::{Billed, Confirmed, ConfirmedBy, Plan};
pub use reading::{CapState, Reading};
pub use requests::{put_body, user_facing_message};
pub use words::{difference, summary, verified};

use requests::{login, refuse_members, Session};
use words::money_cents;
