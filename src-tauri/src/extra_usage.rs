//! The settings pane's direct Extra Usage changes (docs/ipc.md, `prepare_extra_usage`), over
//! the core's one flow (`account::overage`); the commands are adapters in
//! `commands/extra_usage.rs`.
//!
//! Two steps, so that nothing is written without the dialog:
//! - `prepare` (after `parse_change`) asks the core for a plan: the core reads the account
//!   just then and builds the question (amount, currency, the account billed) from that
//!   reading; the pane gets the question and a one-time token;
//! - `apply` writes only with that token (once, while the plan is good: five minutes) and
//!   the amount typed again where the plan asks for it, both checked by the core's
//!   `Plan::confirm`. The core then reads the account again, writes only if nothing the
//!   person confirmed changed, and settles the outcome by reading it back.
//!
//! The token does not defend against a hostile page (the page is ours and could ask for a
//! token itself); it binds a confirmation to the exact plan the dialog showed, so that a
//! page bug, a stale dialog or a second click cannot write something the user did not read.
//! No token, session key or organization UUID comes near the page.

use std::hash::BuildHasher;
use std::sync::Mutex;

use headroom_core::account::overage::{
    self, CapChoice, Change, Confirmed, ConfirmedBy, Plan as CorePlan, WriteError, WriteErrorKind,
};
use headroom_core::account::Refresher;
use headroom_core::ledger::Ledger;
use headroom_core::settings::{Cap, Settings};
use headroom_core::snapshot::ExtraUsage;
use serde::Serialize;

use crate::commands::now_ms;
use crate::commands::overview::latest;
use crate::commands::settings::update_settings;
use crate::error::{CmdResult, CommandError, ErrorCode};
use crate::refresh::Request;
use crate::AppState;

/// The one plan the pane may be showing.
struct Pending {
    token: String,
    plan: CorePlan,
}

/// The plans handed out; one at a time (a new dialog replaces an old one).
#[derive(Default)]
pub struct Confirmations {
    pending: Mutex<Option<Pending>>,
}

/// 128 bits from std's per-process random hash keys: unguessable enough for a token whose
/// job is binding, not secrecy (see the module's comment), with no new dependency.
fn new_token(now_ms: i64) -> String {
    let a = std::hash::RandomState::new().hash_one(now_ms);
    let b = std::hash::RandomState::new().hash_one((now_ms, a));
    format!("{a:016x}{b:016x}")
}

fn not_confirmed() -> CommandError {
    CommandError::new(
        ErrorCode::NotConfirmed,
        "Nothing was changed: confirm the change in the dialog first.",
    )
}

impl Confirmations {
    fn issue(&self, plan: CorePlan) -> String {
        let token = new_token(plan.made_at_ms);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        *pending = Some(Pending {
            token: token.clone(),
            plan,
        });
        token
    }

    /// The plan `token` names, confirmed by the core with `typed` (the amount typed again, or
    /// nothing). Used up when confirmed or expired; a wrong amount leaves it in place, so the
    /// dialog can say so and stay open.
    fn take(&self, token: &str, typed: Option<&str>, now_ms: i64) -> CmdResult<Confirmed> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let found = match pending.take() {
            Some(p) if p.token == token => p,
            other => {
                // Someone else's token leaves the real dialog's plan in place.
                *pending = other;
                return Err(not_confirmed());
            }
        };
        if now_ms > found.plan.expires_at_ms {
            return Err(CommandError::new(
                ErrorCode::ConfirmationExpired,
                "Nothing was changed: that question is more than five minutes old. Try again to see your account as it is now.",
            ));
        }
        match found.plan.clone().confirm(ConfirmedBy::Pane, typed, now_ms) {
            Ok(confirmed) => Ok(confirmed),
            Err(e) => {
                *pending = Some(found);
                Err(CommandError::new(
                    ErrorCode::ConfirmationMismatch,
                    sentence(&e.reason),
                ))
            }
        }
    }

    /// Whether `typed` confirms the plan `token` names, by the core's rule, without using it
    /// up: the dialog asks before it closes.
    fn check(&self, token: &str, typed: Option<&str>, now_ms: i64) -> CmdResult<bool> {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match pending.as_ref() {
            Some(p) if p.token == token => Ok(p
                .plan
                .clone()
                .confirm(ConfirmedBy::Pane, typed, now_ms)
                .is_ok()),
            _ => Err(not_confirmed()),
        }
    }
}

/// The kind of change a dialog is about, as `prepare_extra_usage`'s `action` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Enable,
    Disable,
    Cap,
}

/// What `prepare_extra_usage` answers: the dialog's words and the one-time token that
/// `apply_extra_usage` needs.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Plan {
    pub token: String,
    pub action: Action,
    pub title: String,
    /// What will happen, with the amount, the currency and the account billed: the core's
    /// question, built from a reading of the account taken just now.
    pub text: String,
    pub confirm_label: String,
    /// The amount (or "no cap") must be typed again.
    pub typed_required: bool,
    /// What to type, in the canonical form the core compares (`1500.00`, `no cap`).
    pub typed_expected: Option<String>,
    pub typed_label: Option<String>,
    /// What the pane says while the write runs.
    pub progress: String,
    pub expires_ms: i64,
}

/// What `check_cap` answers: the amount as the core reads it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct CapCheck {
    /// `1250.50`: what the core will use, in the form the field shows.
    pub canonical: String,
}

/// What `apply_extra_usage` answers: what the account says after the write.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Applied {
    /// What the account says now: "Extra Usage is on · cap $50.00 · confirmed by your account
    /// at 14:05".
    pub message: String,
    /// The account says something other than what was asked, in a sentence; else `None`.
    pub difference: Option<String>,
    /// The write's own answer was lost (a cut connection, a 5xx, a timeout), so `message` is
    /// from a reading taken afterwards; why, in a sentence.
    pub answer_lost: Option<String>,
    /// The account's Extra Usage as read back after the write.
    pub extra_usage: ExtraUsage,
    pub confirmed_at_ms: i64,
    /// The settings with the cap just written as the chosen one (as `get_settings`'s
    /// `settings`); `None` when the change set no cap or the file could not be saved.
    pub settings: Option<Settings>,
}

/// The change the page asks for, parsed; bad input gets `invalid_cap` (or
/// `invalid_change`) and nothing else happens.
pub(crate) fn parse_change(action: &str, cap: Option<&str>, no_cap: bool) -> CmdResult<Change> {
    let choice = || -> CmdResult<CapChoice> {
        if no_cap {
            return Ok(CapChoice::NoCap);
        }
        Ok(CapChoice::Cap(Cap::parse(cap.unwrap_or(""))?))
    };
    match action {
        "enable" => Ok(Change::Enable(choice()?)),
        "cap" => Ok(Change::SetCap(choice()?)),
        "disable" => Ok(Change::Disable),
        other => Err(CommandError::new(
            ErrorCode::InvalidChange,
            format!("{other:?} is not a change Headroom makes: enable, disable or cap"),
        )),
    }
}

/// The core's reading of a typed cap, for the field (the pane keeps no parser of its own).
pub(crate) fn check_cap(input: &str) -> CmdResult<CapCheck> {
    Ok(CapCheck {
        canonical: Cap::parse(input)?.plain(),
    })
}

fn action_of(change: Change) -> Action {
    match change {
        Change::Enable(_) => Action::Enable,
        Change::Disable => Action::Disable,
        Change::SetCap(_) => Action::Cap,
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.trim().chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A sentence for the page: capital first, full stop last (the core's reasons are clauses).
fn sentence(s: &str) -> String {
    let mut out = capitalised(s);
    if out.is_empty() {
        return out;
    }
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// The core's refusal as the page's error: its one sentence (the server's own words when it
/// gave them, verbatim), whether the account may have changed, and the browser flow when the
/// core offers it and the outcome is not in doubt.
fn write_error(e: WriteError) -> CommandError {
    let code = match e.kind {
        WriteErrorKind::NoLogin | WriteErrorKind::NoOrganization => {
            ErrorCode::ExtraUsageUnavailable
        }
        WriteErrorKind::NotAllowed => ErrorCode::ExtraUsageNotAllowed,
        WriteErrorKind::Refused => ErrorCode::ExtraUsageRefused,
        WriteErrorKind::RateLimited => ErrorCode::RateLimited,
        WriteErrorKind::NotVerified => ErrorCode::ExtraUsageNotVerified,
        WriteErrorKind::IsOff => ErrorCode::ExtraUsageOff,
        WriteErrorKind::Changed => ErrorCode::AccountChanged,
        WriteErrorKind::NotConfirmed => ErrorCode::ConfirmationMismatch,
        _ => ErrorCode::ExtraUsageFailed,
    };
    // A server's message is kept exactly as written.
    let message = match &e.server_message {
        Some(m) if *m == e.reason => m.clone(),
        _ => sentence(&e.reason),
    };
    let mut error = CommandError::new(code, message);
    error.may_have_changed = e.may_have_changed;
    if e.offer_browser && !e.may_have_changed {
        error.with_browser()
    } else {
        error
    }
}

/// The dialog's words around the core's question.
fn plan(plan: &CorePlan, token: String) -> Plan {
    let amount = plan.amount().unwrap_or_default();
    let (title, confirm_label, progress) = match plan.change {
        Change::Enable(c) => (
            "Turn on Extra Usage?".to_owned(),
            match c {
                CapChoice::Cap(_) => format!("Turn on, cap {amount}"),
                CapChoice::NoCap => "Turn on with no cap".to_owned(),
            },
            "Turning Extra Usage on, then reading your account back…",
        ),
        Change::Disable => (
            "Turn off Extra Usage?".to_owned(),
            "Turn off".to_owned(),
            "Turning Extra Usage off, then reading your account back…",
        ),
        Change::SetCap(c) => (
            "Change the monthly cap?".to_owned(),
            match c {
                CapChoice::Cap(_) => format!("Set cap {amount}"),
                CapChoice::NoCap => "Remove the cap".to_owned(),
            },
            "Changing the cap, then reading your account back…",
        ),
    };
    Plan {
        token,
        action: action_of(plan.change),
        title,
        text: plan.question.clone(),
        confirm_label,
        typed_required: plan.retype.is_some(),
        typed_expected: plan.retype.clone(),
        typed_label: plan.retype_hint.as_deref().map(capitalised),
        progress: progress.to_owned(),
        expires_ms: plan.expires_at_ms,
    }
}

/// Runs `step` with a refresher and the ledger on a thread of its own: the core's blocking
/// entries hold the ledger (not `Sync`) across their requests.
async fn with_account<T: Send + 'static>(
    state: &AppState,
    step: impl FnOnce(&Refresher, &mut Ledger) -> CmdResult<T> + Send + 'static,
) -> CmdResult<T> {
    let p = latest(state).await?;
    let config = state.env.account_config(&p.settings);
    let secrets = state.secrets.clone();
    let ledger_path = state.env.state.ledger();
    tokio::task::spawn_blocking(move || {
        let refresher = Refresher::new(config, secrets).map_err(|e| {
            CommandError::new(ErrorCode::ExtraUsageFailed, sentence(&e.to_string()))
        })?;
        let mut ledger = Ledger::open(&ledger_path)?;
        step(&refresher, &mut ledger)
    })
    .await
    .map_err(|e| CommandError::new(ErrorCode::ExtraUsageFailed, e.to_string()))?
}

/// The dialog for `change`: refused at once when the direct way is not available for this
/// login, else the core's question, built from the account read just now, with a one-time
/// token for `apply`.
pub(crate) async fn prepare(state: &AppState, change: Change) -> CmdResult<Plan> {
    let p = latest(state).await?;
    // Nobody confirms a write that cannot happen: no login, no organization, a member whose
    // admin decides. Local files only.
    overage::availability(&state.env.account_config(&p.settings), now_ms()).map_err(write_error)?;
    let core = with_account(state, move |refresher, ledger| {
        overage::plan_blocking(refresher, ledger, change, now_ms).map_err(write_error)
    })
    .await?;
    // The reading is in the ledger: the tray and the pane show it on this round.
    state.refresh.send(Request::Refresh {
        force: false,
        reply: None,
    });
    let token = state.extra_confirmations.issue(core.clone());
    Ok(plan(&core, token))
}

/// The account's Extra Usage read just now (one request, outside the poll cadence, inside the
/// 429 cool-down), after a change whose outcome was not known: the reading settles it.
pub(crate) async fn read_now(state: &AppState) -> CmdResult<Option<ExtraUsage>> {
    let reading = with_account(state, move |refresher, ledger| {
        overage::read_blocking(refresher, ledger, now_ms).map_err(write_error)
    })
    .await?;
    state.refresh.send(Request::Refresh {
        force: false,
        reply: None,
    });
    Ok(reading.extra_usage)
}

/// Whether `typed_amount` confirms the dialog's plan (the core's rule), without writing.
pub(crate) fn check_amount(state: &AppState, token: &str, typed_amount: &str) -> CmdResult<bool> {
    let typed = Some(typed_amount).filter(|t| !t.trim().is_empty());
    state.extra_confirmations.check(token, typed, now_ms())
}

/// Writes the plan `token` names, when `typed_amount` confirms it (or the dialog asked for
/// nothing), and answers with what the account says now.
pub(crate) async fn apply(state: &AppState, token: &str, typed_amount: &str) -> CmdResult<Applied> {
    let typed = Some(typed_amount).filter(|t| !t.trim().is_empty());
    let confirmed = state.extra_confirmations.take(token, typed, now_ms())?;
    let change = confirmed.plan().change;
    let applied = with_account(state, move |refresher, ledger| {
        overage::execute_blocking(refresher, ledger, confirmed, now_ms)
            .map_err(|e| CommandError::new(ErrorCode::Ledger, sentence(&e.to_string())))
    })
    .await?;
    // The read-back is in the ledger already: the tray and the pane show it on this round.
    state.refresh.send(Request::Refresh {
        force: false,
        reply: None,
    });
    let verified = applied.result.map_err(write_error)?;
    // The cap written is the cap chosen, so the pane's mismatch warning compares against it.
    let mut settings = None;
    if let (true, Some(choice)) = (verified.matches, change.cap()) {
        let chosen = match choice {
            CapChoice::Cap(cap) => Some(cap),
            CapChoice::NoCap => None,
        };
        match update_settings(state, move |s| s.extra_usage.chosen_cap = chosen).await {
            Ok(saved) => settings = Some(saved.settings),
            Err(e) => tracing::warn!("cannot save the chosen cap: {e}"),
        }
    }
    Ok(Applied {
        message: verified.summary,
        difference: verified.difference.as_deref().map(sentence),
        answer_lost: verified.answer_lost.as_deref().map(sentence),
        extra_usage: verified.account,
        confirmed_at_ms: verified.confirmed_at_ms,
        settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use headroom_core::account::overage::{Billed, Reading};
    use serde_json::json;

    fn cap(s: &str) -> CapChoice {
        CapChoice::Cap(Cap::parse(s).unwrap())
    }

    fn core_plan(change: Change, made_at_ms: i64) -> CorePlan {
        let body = json!({"extra_usage": {"is_enabled": change == Change::Disable || matches!(change, Change::SetCap(_)), "monthly_limit": 5000, "currency": "EUR"}});
        let reading = Reading::from_usage(body.as_object().unwrap(), None, made_at_ms);
        let billed = Billed {
            email: Some("dev@example.com".into()),
            organization_name: None,
        };
        overage::plan_from(change, reading, billed, "org".into(), made_at_ms).unwrap()
    }

    fn plan_of(change: Change) -> Plan {
        plan(&core_plan(change, 0), "t".into())
    }

    #[test]
    fn the_dialog_asks_for_the_amount_again_only_where_the_core_says_in_the_accounts_currency() {
        let small = plan_of(Change::Enable(cap("50")));
        assert!(!small.typed_required && small.typed_expected.is_none());
        assert!(small.text.contains("€50.00"), "{}", small.text);
        assert!(small.text.contains("dev@example.com"), "{}", small.text);
        // Audit N9: the button said "$50.00" under a question in euros.
        assert_eq!(small.confirm_label, "Turn on, cap €50.00");
        let big = plan_of(Change::Enable(cap("1500")));
        assert!(big.typed_required);
        assert_eq!(big.typed_expected.as_deref(), Some("1500.00"));
        assert_eq!(big.typed_label.as_deref(), Some("Type 1500.00 to confirm"));
        let none = plan_of(Change::SetCap(CapChoice::NoCap));
        assert!(none.typed_required);
        assert_eq!(none.typed_expected.as_deref(), Some("no cap"));
        assert!(!plan_of(Change::Disable).typed_required);
    }

    #[test]
    fn a_token_confirms_once_and_only_its_own_plan() {
        let c = Confirmations::default();
        let token = c.issue(core_plan(Change::Disable, 1_000));
        assert_eq!(
            c.take("made-up", None, 1_001).unwrap_err().code,
            ErrorCode::NotConfirmed
        );
        // The real one survives a wrong guess, and works once.
        assert_eq!(
            c.take(&token, None, 1_002).unwrap().plan().change,
            Change::Disable
        );
        assert_eq!(
            c.take(&token, None, 1_003).unwrap_err().code,
            ErrorCode::NotConfirmed
        );
        // A newer dialog replaces an older one.
        let fifty = Change::Enable(cap("50"));
        let old = c.issue(core_plan(Change::Disable, 2_000));
        let new = c.issue(core_plan(fifty, 2_001));
        assert_ne!(old, new);
        assert_eq!(
            c.take(&old, None, 2_002).unwrap_err().code,
            ErrorCode::NotConfirmed
        );
        assert_eq!(c.take(&new, None, 2_003).unwrap().plan().change, fifty);
        // And one left too long is refused.
        let late = c.issue(core_plan(Change::Disable, 3_000));
        assert_eq!(
            c.take(&late, None, 3_001 + overage::PLAN_LIFETIME_MS)
                .unwrap_err()
                .code,
            ErrorCode::ConfirmationExpired
        );
    }

    #[test]
    fn a_wrong_amount_leaves_the_dialog_open_and_the_core_decides() {
        let c = Confirmations::default();
        let token = c.issue(core_plan(Change::Enable(cap("1500")), 1_000));
        assert!(!c.check(&token, Some("150"), 1_001).unwrap());
        // Audit N3: "1.500,00" or "15,00" never stand for 1500.00.
        assert!(!c.check(&token, Some("1.500,00"), 1_001).unwrap());
        assert_eq!(
            c.take(&token, Some("15,00"), 1_002).unwrap_err().code,
            ErrorCode::ConfirmationMismatch
        );
        assert!(c.check(&token, Some("1,500"), 1_003).unwrap());
        assert!(c.take(&token, Some("1500.00"), 1_004).is_ok());
    }

    #[test]
    fn bad_input_is_refused_before_anything_else() {
        for bad in ["-5", "abc", "1e9", "0.001", "", "12,50", "9,99"] {
            let err = parse_change("enable", Some(bad), false).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidCap, "{bad:?}");
            assert_eq!(
                check_cap(bad).unwrap_err().code,
                ErrorCode::InvalidCap,
                "{bad:?}"
            );
        }
        assert_eq!(check_cap(" $1,250.5 ").unwrap().canonical, "1250.50");
        assert_eq!(
            parse_change("buy-credits", None, false).unwrap_err().code,
            ErrorCode::InvalidChange
        );
        assert_eq!(
            parse_change("enable", None, true).unwrap(),
            Change::Enable(CapChoice::NoCap)
        );
    }

    #[test]
    fn a_servers_words_are_kept_and_an_unknown_outcome_is_said_without_a_way_round() {
        let server = "Your payment method was declined";
        let refused = WriteError {
            kind: WriteErrorKind::Refused,
            reason: server.into(),
            server_message: Some(server.into()),
            status: Some(400),
            offer_browser: true,
            may_have_changed: false,
            retry_at_ms: None,
        };
        let e = write_error(refused.clone());
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::ExtraUsageRefused, server)
        );
        assert_eq!(
            e.browser_url,
            Some(crate::commands::extra_usage::EXTRA_USAGE_URL)
        );
        assert!(!e.may_have_changed);
        // Audit N2: the pane never learned that a change may have been made.
        let unknown = WriteError {
            kind: WriteErrorKind::NotVerified,
            reason: "the change may or may not have been made".into(),
            server_message: None,
            may_have_changed: true,
            ..refused
        };
        let e = write_error(unknown);
        assert_eq!(e.message, "The change may or may not have been made.");
        assert!(e.may_have_changed);
        assert_eq!(e.browser_url, None);
    }
}
