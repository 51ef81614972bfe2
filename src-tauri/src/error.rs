//! The one error the page sees: `{code, message}`. `code` is stable (docs/ipc.md lists them);
//! `message` is a sentence to show. Neither ever holds a secret: messages come from the
//! core's errors, which are written never to include one.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    pub code: &'static str,
    pub message: String,
}

impl CommandError {
    pub fn new(code: &'static str, message: impl Into<String>) -> CommandError {
        CommandError {
            code,
            message: message.into(),
        }
    }
}

impl From<headroom_core::settings::CapError> for CommandError {
    fn from(e: headroom_core::settings::CapError) -> Self {
        CommandError::new("invalid_cap", e.to_string())
    }
}

impl From<headroom_core::settings::SettingsError> for CommandError {
    fn from(e: headroom_core::settings::SettingsError) -> Self {
        CommandError::new("settings", e.to_string())
    }
}

impl From<headroom_core::ledger::LedgerError> for CommandError {
    fn from(e: headroom_core::ledger::LedgerError) -> Self {
        CommandError::new("ledger", e.to_string())
    }
}

impl From<headroom_core::account::SecretStoreError> for CommandError {
    fn from(e: headroom_core::account::SecretStoreError) -> Self {
        CommandError::new("keychain", e.to_string())
    }
}

pub type CmdResult<T> = Result<T, CommandError>;
