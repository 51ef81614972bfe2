//! The settings pane's direct Extra Usage changes (docs/ipc.md, `prepare_extra_usage`), over
//! the core's `account::overage`; the commands are adapters in `commands/extra_usage.rs`.
//!
//! Two steps, so that nothing is written without the dialog:
//! - `prepare` (after `parse_change`) asks the core whether the direct way is
//!   available for this login (local files only, no request), and answers with the core's
//!   confirmation text, whether the amount must be typed again, and a one-time token;
//! - `apply` writes only with that token (once, within [`TOKEN_LIFETIME_MS`]) and,
//!   where the core asks for the amount typed again (a cap over $1,000, or no cap), only with
//!   that amount, checked here by the core's rule rather than trusted from the page. The core
//!   then writes, reads the account back and records both; the answer is what the account
//!   now says.
//!
//! The token does not defend against a hostile page (the page is ours and could ask for a
//! token itself); it binds a confirmation to the exact change the dialog showed, so that a
//! page bug, a stale dialog or a second click cannot write something the user did not read.
//! No token, session key or organization UUID comes near the page.

use std::hash::BuildHasher;
use std::sync::Mutex;

use headroom_core::account::overage::{
    self, CapChoice, Change, Confirmation, WriteError, WriteErrorKind,
};
use headroom_core::account::Refresher;
use headroom_core::ledger::Ledger;
use headroom_core::settings::{Cap, Settings};
use headroom_core::snapshot::ExtraUsage;
use headroom_core::text;
use serde::Serialize;

use crate::commands::now_ms;
use crate::commands::overview::latest;
use crate::commands::settings::update_settings;
use crate::error::{CmdResult, CommandError, ErrorCode};
use crate::refresh::Request;
use crate::AppState;

/// How long a dialog's confirmation stays good: longer than anyone reads a dialog, shorter
/// than a window left open over lunch.
pub const TOKEN_LIFETIME_MS: i64 = 5 * 60_000;

/// The one confirmation the pane may be showing.
struct Pending {
    token: String,
    change: Change,
    confirmation: Confirmation,
    created_ms: i64,
}

/// The confirmations handed out; one at a time (a new dialog replaces an old one).
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

impl Confirmations {
    fn issue(&self, change: Change, confirmation: Confirmation, now_ms: i64) -> String {
        let token = new_token(now_ms);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        *pending = Some(Pending {
            token: token.clone(),
            change,
            confirmation,
            created_ms: now_ms,
        });
        token
    }

    /// The change `token` confirms and its confirmation, used up whatever happens next.
    fn take(&self, token: &str, now_ms: i64) -> CmdResult<(Change, Confirmation)> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let found = match pending.take() {
            Some(p) if p.token == token => p,
            other => {
                // Someone else's token leaves the real dialog's confirmation in place.
                *pending = other;
                return Err(CommandError::new(
                    ErrorCode::NotConfirmed,
                    "Nothing was changed: confirm the change in the dialog first.",
                ));
            }
        };
        if now_ms.saturating_sub(found.created_ms) > TOKEN_LIFETIME_MS {
            return Err(CommandError::new(
                ErrorCode::ConfirmationExpired,
                "Nothing was changed: that confirmation is more than five minutes old. Try again.",
            ));
        }
        Ok((found.change, found.confirmation))
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
    /// What will happen, with the amount: the core's confirmation text.
    pub text: String,
    pub confirm_label: String,
    /// The amount (or "no cap") must be typed again.
    pub typed_required: bool,
    pub typed_expected: Option<String>,
    pub typed_label: Option<String>,
    /// What the pane says while the write runs.
    pub progress: String,
    pub expires_ms: i64,
}

/// What `apply_extra_usage` answers: what the account says after the write.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Applied {
    /// What the account says now: "Extra Usage is on · cap $50.00 · confirmed by your account
    /// at 14:05".
    pub message: String,
    /// The account says something other than what was asked, in a sentence; else `None`.
    pub difference: Option<String>,
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

fn action_of(change: Change) -> Action {
    match change {
        Change::Enable(_) => Action::Enable,
        Change::Disable => Action::Disable,
        Change::SetCap(_) => Action::Cap,
    }
}

/// `$1,500.00` or `no cap`, as the dialog names the amount to type.
fn amount_words(choice: CapChoice) -> String {
    match choice {
        CapChoice::Cap(cap) => text::money(cap.dollars(), "USD"),
        CapChoice::NoCap => "no cap".to_owned(),
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
/// gave them, verbatim) and the browser flow when the core offers it.
fn write_error(e: WriteError) -> CommandError {
    let code = match e.kind {
        WriteErrorKind::NoLogin | WriteErrorKind::NoOrganization => {
            ErrorCode::ExtraUsageUnavailable
        }
        WriteErrorKind::NotAllowed => ErrorCode::ExtraUsageNotAllowed,
        WriteErrorKind::Refused => ErrorCode::ExtraUsageRefused,
        WriteErrorKind::RateLimited => ErrorCode::RateLimited,
        WriteErrorKind::NotVerified => ErrorCode::ExtraUsageNotVerified,
        _ => ErrorCode::ExtraUsageFailed,
    };
    // A server's message is kept exactly as written.
    let message = match &e.server_message {
        Some(m) if *m == e.reason => m.clone(),
        _ => sentence(&e.reason),
    };
    let error = CommandError::new(code, message);
    if e.offer_browser {
        error.with_browser()
    } else {
        error
    }
}

/// The dialog's words around the core's confirmation text.
fn plan(change: Change, confirmation: &Confirmation, token: String, now_ms: i64) -> Plan {
    let (title, confirm_label, progress) = match change {
        Change::Enable(c) => (
            "Turn on Extra Usage?".to_owned(),
            match c {
                CapChoice::Cap(_) => format!("Turn on, cap {}", amount_words(c)),
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
                CapChoice::Cap(_) => format!("Set cap {}", amount_words(c)),
                CapChoice::NoCap => "Remove the cap".to_owned(),
            },
            "Changing the cap, then reading your account back…",
        ),
    };
    Plan {
        token,
        action: action_of(change),
        title,
        text: confirmation.text.clone(),
        confirm_label,
        typed_required: confirmation.retype.is_some(),
        typed_expected: confirmation.retype.map(amount_words),
        typed_label: confirmation.retype_hint.as_deref().map(capitalised),
        progress: progress.to_owned(),
        expires_ms: now_ms + TOKEN_LIFETIME_MS,
    }
}

/// The dialog for `change`: refused at once when the direct way is not available for this
/// login, else the core's confirmation text with a one-time token for `apply`.
pub(crate) async fn prepare(state: &AppState, change: Change) -> CmdResult<Plan> {
    let p = latest(state).await?;
    let now = now_ms();
    // Nobody confirms a write that cannot happen: no login, no organization, a member whose
    // admin decides. Local files only.
    overage::availability(&state.env.account_config(&p.settings), now).map_err(write_error)?;
    let confirmation = overage::confirmation(&change, p.snapshot.extra_usage.as_ref());
    let token = state
        .extra_confirmations
        .issue(change, confirmation.clone(), now);
    Ok(plan(change, &confirmation, token, now))
}

/// Writes the change `token` confirms, when `typed_amount` is what the dialog asked to be
/// typed again (or the dialog asked for nothing), and answers with what the account says now.
pub(crate) async fn apply(state: &AppState, token: &str, typed_amount: &str) -> CmdResult<Applied> {
    let (change, confirmation) = state.extra_confirmations.take(token, now_ms())?;
    if !overage::amount_confirmed(&confirmation, typed_amount) {
        return Err(CommandError::new(
            ErrorCode::ConfirmationMismatch,
            "Nothing was changed: the amount typed again does not match. Try again.",
        ));
    }
    let p = latest(state).await?;
    let config = state.env.account_config(&p.settings);
    let secrets = state.secrets.clone();
    let ledger_path = state.env.state.ledger();
    let current = p.snapshot.extra_usage.clone();
    // The core's blocking entry on a thread of its own: the write holds the ledger (not
    // `Sync`) across its requests.
    let applied = tokio::task::spawn_blocking(move || {
        let refresher = Refresher::new(config, secrets).map_err(|e| {
            CommandError::new(ErrorCode::ExtraUsageFailed, sentence(&e.to_string()))
        })?;
        let mut ledger = Ledger::open(&ledger_path)?;
        overage::apply_blocking(&refresher, &mut ledger, &change, current.as_ref(), now_ms)
            .map_err(|e| CommandError::new(ErrorCode::Ledger, sentence(&e.to_string())))
    })
    .await
    .map_err(|e| CommandError::new(ErrorCode::ExtraUsageFailed, e.to_string()))??;
    // The read-back is in the ledger already: the tray and the pane show it on this round.
    state.refresh.send(Request::Refresh {
        force: false,
        reply: None,
    });
    let verified = applied.result.map_err(write_error)?;
    // The cap written is the cap chosen, so the pane's mismatch warning compares against it.
    let mut settings = None;
    if let Some(choice) = change.cap() {
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
        extra_usage: verified.account,
        confirmed_at_ms: verified.confirmed_at_ms,
        settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(s: &str) -> CapChoice {
        CapChoice::Cap(Cap::parse(s).unwrap())
    }

    fn plan_of(change: Change) -> Plan {
        plan(change, &overage::confirmation(&change, None), "t".into(), 0)
    }

    #[test]
    fn the_dialog_asks_for_the_amount_again_only_where_the_core_says() {
        let small = plan_of(Change::Enable(cap("50")));
        assert!(!small.typed_required && small.typed_expected.is_none());
        assert!(small.text.contains("$50.00"), "{}", small.text);
        assert_eq!(small.confirm_label, "Turn on, cap $50.00");
        let big = plan_of(Change::Enable(cap("1500")));
        assert!(big.typed_required);
        assert_eq!(big.typed_expected.as_deref(), Some("$1,500.00"));
        assert_eq!(big.typed_label.as_deref(), Some("Type 1500.00 to confirm"));
        let none = plan_of(Change::SetCap(CapChoice::NoCap));
        assert!(none.typed_required);
        assert_eq!(none.typed_expected.as_deref(), Some("no cap"));
        assert!(!plan_of(Change::Disable).typed_required);
    }

    #[test]
    fn a_token_confirms_once_and_only_its_own_change() {
        let c = Confirmations::default();
        let conf = |ch: Change| overage::confirmation(&ch, None);
        let token = c.issue(Change::Disable, conf(Change::Disable), 1_000);
        assert_eq!(
            c.take("made-up", 1_001).unwrap_err().code,
            ErrorCode::NotConfirmed
        );
        // The real one survives a wrong guess, and works once.
        assert_eq!(c.take(&token, 1_002).unwrap().0, Change::Disable);
        assert_eq!(
            c.take(&token, 1_003).unwrap_err().code,
            ErrorCode::NotConfirmed
        );
        // A newer dialog replaces an older one.
        let fifty = Change::Enable(cap("50"));
        let old = c.issue(Change::Disable, conf(Change::Disable), 2_000);
        let new = c.issue(fifty, conf(fifty), 2_001);
        assert_ne!(old, new);
        assert_eq!(
            c.take(&old, 2_002).unwrap_err().code,
            ErrorCode::NotConfirmed
        );
        assert_eq!(c.take(&new, 2_003).unwrap().0, fifty);
        // And one left too long is refused.
        let late = c.issue(Change::Disable, conf(Change::Disable), 3_000);
        assert_eq!(
            c.take(&late, 3_000 + TOKEN_LIFETIME_MS + 1)
                .unwrap_err()
                .code,
            ErrorCode::ConfirmationExpired
        );
    }

    #[test]
    fn bad_input_is_refused_before_anything_else() {
        for bad in ["-5", "abc", "1e9", "0.001", ""] {
            let err = parse_change("enable", Some(bad), false).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidCap, "{bad:?}");
        }
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
    fn a_servers_words_are_kept_and_ours_become_a_sentence_with_the_browser_flow() {
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
        let ours = WriteError {
            kind: WriteErrorKind::Server,
            reason: "anthropic's server failed (HTTP 500); nothing is known to have changed".into(),
            server_message: None,
            offer_browser: false,
            ..refused
        };
        let e = write_error(ours);
        assert_eq!(
            e.message,
            "Anthropic's server failed (HTTP 500); nothing is known to have changed."
        );
        assert_eq!(e.browser_url, None);
    }
}
