//! Why the account gave no figures: [`AccountError`] for what stops a refresh (only the
//! ledger, in practice), [`SourceError`] for one source, with its failure kind and the words
//! the poll state keeps.

use super::client::{self, FetchError};
use super::policy::{FailureKind, Outcome};
use super::usage::UsageParseError;
use super::{credentials, SecretStoreError};
use crate::ledger::LedgerError;
use crate::snapshot::Source;

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
    pub(super) fn kind(&self) -> FailureKind {
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
    pub(super) fn message(&self, source: Source) -> String {
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

    pub(super) fn outcome(&self, source: Source) -> Outcome {
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
