//! The one error the page sees: `{code, message}`. `code` is one of [`ErrorCode`], stable,
//! for the page to branch on; `message` is a sentence to show. Neither ever holds a secret:
//! messages come from the core's errors, which are written never to include one.

use serde::Serialize;

/// What went wrong, for the page to branch on (the message says it in words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The cap is empty, not a number, ≤ 0, more than two decimals, under $1 or over $100,000.
    InvalidCap,
    /// `save_settings` got something that is not a settings object, or an unknown time zone.
    InvalidSettings,
    /// `snooze_alerts` without minutes (1–10080) or `untilReset`.
    InvalidSnooze,
    /// `snooze_alerts({untilReset: true})` while the session's reset time is not known.
    ResetUnknown,
    /// `set_claude_ai_session_key` with an empty or malformed key.
    InvalidKey,
    /// The OS keychain did not answer (the message says how to fix it).
    Keychain,
    /// Claude Code's `settings.json` has another status line, or cannot be edited (the
    /// message says what is there and how to chain it).
    Statusline,
    /// `install_statusline` cannot find the `headroom` CLI to point Claude Code at.
    CliMissing,
    /// `send_test_notification`: no notification server, or it failed.
    Notification,
    /// The login item could not be changed.
    Autostart,
    /// The browser could not be opened, or the page is not one Headroom opens.
    Opener,
    /// `prepare_extra_usage` with an action other than `enable`, `disable`, `cap`.
    InvalidChange,
    /// `apply_extra_usage` without the token of the last dialog.
    NotConfirmed,
    /// `apply_extra_usage` more than five minutes after `prepare_extra_usage`.
    ConfirmationExpired,
    /// `apply_extra_usage` for a cap over $1,000, or no cap, without the amount typed again.
    ConfirmationMismatch,
    /// No Claude Code login, or no organization on record.
    ExtraUsageUnavailable,
    /// A Team or Enterprise member (the admin decides), or a 403.
    ExtraUsageNotAllowed,
    /// The account refused the change (400, 409, 422); the message is the server's own when
    /// it gave one meant for people.
    ExtraUsageRefused,
    /// The write was accepted but the account could not be read back.
    ExtraUsageNotVerified,
    /// 401, 404, 5xx, a timeout, offline, an answer Headroom does not understand.
    ExtraUsageFailed,
    /// A 429, or the shared cool-down is on: nothing was sent.
    RateLimited,
    /// A cap change while Extra Usage is off (it would turn it on): the page asks the "Turn
    /// on" question instead.
    ExtraUsageOff,
    /// The account changed between the question and the write: nothing was sent; the page
    /// asks the new question.
    AccountChanged,
    /// The settings file cannot be read or written.
    Settings,
    /// The ledger cannot be read.
    Ledger,
    /// The refresh task is gone (the app is quitting) or still reading the history.
    Busy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, ts_rs::TS)]
#[error("{message}")]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
    /// Set when the user's account page can do what the app could not (the Extra Usage
    /// writes' fallback): the page offers it as a link.
    #[serde(skip_serializing_if = "Option::is_none")]
    // Absent rather than null when unset (ts-rs marks it so only with `serde(default)`).
    #[ts(optional)]
    pub browser_url: Option<&'static str>,
    /// The change may or may not have been made (its answer was lost and no reading could
    /// tell): the page says so and offers no advice that assumes either.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[ts(as = "Option<bool>", optional)]
    pub may_have_changed: bool,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> CommandError {
        CommandError {
            code,
            message: message.into(),
            browser_url: None,
            may_have_changed: false,
        }
    }

    /// Offers the account's Extra Usage page in the browser as the way out.
    pub fn with_browser(mut self) -> CommandError {
        self.browser_url = Some(crate::commands::extra_usage::EXTRA_USAGE_URL);
        self
    }
}

impl From<headroom_core::settings::CapError> for CommandError {
    fn from(e: headroom_core::settings::CapError) -> Self {
        CommandError::new(ErrorCode::InvalidCap, e.to_string())
    }
}

impl From<headroom_core::settings::SettingsError> for CommandError {
    fn from(e: headroom_core::settings::SettingsError) -> Self {
        CommandError::new(ErrorCode::Settings, e.to_string())
    }
}

impl From<headroom_core::ledger::LedgerError> for CommandError {
    fn from(e: headroom_core::ledger::LedgerError) -> Self {
        CommandError::new(ErrorCode::Ledger, e.to_string())
    }
}

impl From<headroom_core::account::SecretStoreError> for CommandError {
    fn from(e: headroom_core::account::SecretStoreError) -> Self {
        CommandError::new(ErrorCode::Keychain, e.to_string())
    }
}

pub type CmdResult<T> = Result<T, CommandError>;
