//! Why the account gave no figures: [`AccountError`] for what stops a refresh (only the
//! ledger, in practice), [`SourceError`] for one source, with its failure kind, kept as is by the
//! poll state; [`Remedy`] for what the user can do about it, worded per [`FrontEnd`].

use super::client::{self, FetchError};
use super::policy::{FailureKind, Outcome};
use super::usage::UsageParseError;
use super::{credentials, SecretStoreError};
use crate::ledger::LedgerError;
use crate::snapshot::Source;

/// What stops a refresh as a whole; a source that fails is not one of them (see [`SourceError`]).
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The ledger cannot be read or written.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The HTTP client cannot be set up.
    #[error(transparent)]
    Client(#[from] client::ClientError),
    /// A blocking call's runtime cannot be started.
    #[error("cannot start the network runtime: {0}")]
    Runtime(String),
    /// A source's failure, where a call is about that source alone (the claude.ai login).
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Why one source gave no figures: the problem only, in [`std::fmt::Display`] and
/// [`SourceError::problem`]. What the user can do about it is [`SourceError::remedy`], worded
/// by the front end that shows it ([`Remedy::hint`]), so the pane never shows the CLI's advice.
/// The poll state keeps this value itself (as JSON), not a sentence: words are written when
/// they are read, in the reader's front end.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum SourceError {
    /// Claude Code's login cannot be used.
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    /// The request failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The answer gave no figures.
    #[error(transparent)]
    Parse(#[from] UsageParseError),
    /// No claude.ai session key is stored.
    #[error("no claude.ai session key is stored")]
    NoSessionKey,
    /// The keychain cannot be read.
    #[error(transparent)]
    Keychain(#[from] SecretStoreError),
    /// The key sees no organization with chat.
    #[error("the claude.ai session key has no organization with chat")]
    NoOrganization,
    /// The key sees several, and none is chosen: their `uuid name`.
    #[error("the claude.ai session key has several organizations ({})", .0.join(", "))]
    ChooseOrganization(Vec<String>),
}

/// Which front end words a remedy: the same problem is fixed with a command in a terminal
/// or with a box in the settings pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FrontEnd {
    /// `headroom …` in a terminal.
    #[default]
    Cli,
    /// The tray and its settings pane.
    App,
}

/// What the user can do about a source's problem, kept apart from the problem (uv's `Hint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// No Claude Code login at all.
    SignInToClaudeCode,
    /// Claude Code's login was revoked, or is in a form Headroom does not know.
    SignInAgainToClaudeCode,
    /// Claude Code's login has expired: Claude Code refreshes it when it next runs.
    RefreshClaudeCodeLogin,
    /// The login lacks `user:profile` (an old login, or one made with a narrower scope).
    LoginWithProfileScope,
    /// No claude.ai session key is stored.
    PasteSessionKey,
    /// claude.ai refused the stored key.
    PasteNewSessionKey,
    /// The key sees several organizations with chat.
    ChooseOrganization,
}

impl Remedy {
    /// The advice, as a clause to follow the problem after "; ". Claude Code's login is only
    /// ever made in a terminal, so both front ends say `claude`; the claude.ai key has a box
    /// under Sources in the pane. The pane has no organization chooser, so it names the
    /// command too, saying where to type it.
    pub fn hint(self, front_end: FrontEnd) -> &'static str {
        match (self, front_end) {
            (Remedy::SignInToClaudeCode, _) => "sign in with `claude` once to show account figures",
            (Remedy::SignInAgainToClaudeCode, _) => "run `claude` once to sign in again",
            (Remedy::RefreshClaudeCodeLogin, _) => {
                "run `claude` once to refresh it (Headroom never refreshes it itself)"
            }
            (Remedy::LoginWithProfileScope, _) => "sign in again with `claude` (run `/login`)",
            (Remedy::PasteSessionKey, FrontEnd::Cli) => "paste one with `headroom claude-ai login`",
            (Remedy::PasteSessionKey, FrontEnd::App) => "paste one under Sources",
            (Remedy::PasteNewSessionKey, FrontEnd::Cli) => {
                "paste a new one with `headroom claude-ai login`"
            }
            (Remedy::PasteNewSessionKey, FrontEnd::App) => "paste a new one under Sources",
            (Remedy::ChooseOrganization, FrontEnd::Cli) => {
                "choose one with `headroom claude-ai orgs --use <uuid>`"
            }
            (Remedy::ChooseOrganization, FrontEnd::App) => {
                "choose one in a terminal with `headroom claude-ai orgs --use <uuid>`"
            }
        }
    }
}

impl SourceError {
    pub(super) fn kind(&self) -> FailureKind {
        match self {
            SourceError::Credentials(_)
            | SourceError::NoSessionKey
            | SourceError::NoOrganization
            | SourceError::ChooseOrganization(_) => FailureKind::Auth,
            SourceError::Fetch(
                FetchError::Offline(_) | FetchError::Timeout(_) | FetchError::Interrupted,
            ) => FailureKind::Offline,
            SourceError::Fetch(FetchError::RateLimited { .. }) => FailureKind::RateLimited,
            SourceError::Fetch(FetchError::Unauthorized | FetchError::Forbidden { .. }) => {
                FailureKind::Auth
            }
            SourceError::Parse(UsageParseError::Html) => FailureKind::Auth,
            SourceError::Keychain(_) => FailureKind::Auth,
            _ => FailureKind::Server,
        }
    }

    /// The problem, as `source` met it, with no advice.
    pub fn problem(&self, source: Source) -> String {
        match (self, source) {
            (SourceError::Fetch(FetchError::Unauthorized), Source::ClaudeAi)
            | (SourceError::Parse(UsageParseError::Html), Source::ClaudeAi) => {
                "claude.ai refused the session key (signed out or expired)".to_owned()
            }
            (SourceError::Fetch(FetchError::Unauthorized), _) => {
                "Anthropic refused Claude Code's login (expired or revoked)".to_owned()
            }
            (SourceError::Fetch(FetchError::Forbidden { .. }), Source::Account) => {
                "Claude Code's login may not read usage (403: the `user:profile` scope is missing)"
                    .to_owned()
            }
            (SourceError::Parse(UsageParseError::Html), _) => {
                "Anthropic answered with a login page instead of usage figures".to_owned()
            }
            (SourceError::Fetch(FetchError::Offline(why)), _) => format!("offline ({why})"),
            (SourceError::Fetch(FetchError::Timeout(s)), _) => {
                format!("offline (no answer within {s} s)")
            }
            (e, _) => e.to_string(),
        }
    }

    /// What the user can do about it, if anything they do helps.
    pub fn remedy(&self, source: Source) -> Option<Remedy> {
        match (self, source) {
            (SourceError::Fetch(FetchError::Unauthorized), Source::ClaudeAi)
            | (SourceError::Parse(UsageParseError::Html), Source::ClaudeAi) => {
                Some(Remedy::PasteNewSessionKey)
            }
            (SourceError::Fetch(FetchError::Unauthorized), _)
            | (SourceError::Parse(UsageParseError::Html), _) => {
                Some(Remedy::SignInAgainToClaudeCode)
            }
            (SourceError::Fetch(FetchError::Forbidden { .. }), Source::Account) => {
                Some(Remedy::LoginWithProfileScope)
            }
            (SourceError::Credentials(e), _) => e.remedy(),
            (SourceError::NoSessionKey, _) => Some(Remedy::PasteSessionKey),
            (SourceError::ChooseOrganization(_), _) => Some(Remedy::ChooseOrganization),
            _ => None,
        }
    }

    /// The problem and, after "; ", the remedy in `front_end`'s words.
    pub fn describe(&self, source: Source, front_end: FrontEnd) -> String {
        let problem = self.problem(source);
        match self.remedy(source) {
            Some(remedy) => format!("{problem}; {}", remedy.hint(front_end)),
            None => problem,
        }
    }

    pub(super) fn outcome(&self) -> Outcome {
        match self {
            SourceError::Fetch(FetchError::RateLimited { retry_after_s }) => Outcome::RateLimited {
                retry_after_s: *retry_after_s,
            },
            e => Outcome::Failed(e.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::credentials::CredentialsError;

    fn every_error() -> Vec<SourceError> {
        vec![
            CredentialsError::Missing {
                looked: vec!["~/.claude/.credentials.json".into()],
            }
            .into(),
            CredentialsError::Unreadable {
                path: "/x/.credentials.json".into(),
                reason: "permission denied".into(),
            }
            .into(),
            CredentialsError::Malformed {
                origin: "file".into(),
                detail: "no accessToken".into(),
            }
            .into(),
            CredentialsError::Expired { at_ms: 5 }.into(),
            CredentialsError::MissingScope.into(),
            FetchError::Offline("dns error".into()).into(),
            FetchError::Timeout(20).into(),
            FetchError::Unauthorized.into(),
            FetchError::Forbidden {
                missing_scope: true,
            }
            .into(),
            FetchError::RateLimited {
                retry_after_s: Some(30),
            }
            .into(),
            FetchError::Server(502).into(),
            FetchError::Status(418).into(),
            FetchError::TooLarge.into(),
            UsageParseError::Html.into(),
            UsageParseError::NotJson("eof".into()).into(),
            SourceError::NoSessionKey,
            SecretStoreError("locked".into()).into(),
            SourceError::NoOrganization,
            SourceError::ChooseOrganization(vec!["a Team".into(), "b Personal".into()]),
        ]
    }

    /// The poll state keeps the value: every kind of problem reads back as it was written.
    #[test]
    fn every_problem_survives_the_poll_state_as_json() {
        for e in every_error() {
            let json = serde_json::to_string(&e).unwrap();
            let back: SourceError = serde_json::from_str(&json).unwrap();
            assert_eq!(back, e, "{json}");
        }
    }

    /// The pane never shows the CLI's commands for what it has a box for, and no problem is
    /// worded with advice: the advice is the remedy's, after "; ".
    #[test]
    fn the_remedy_is_the_front_ends_and_the_problem_has_none() {
        for e in every_error() {
            for source in [Source::Account, Source::ClaudeAi] {
                let problem = e.problem(source);
                for advice in [
                    "run `claude`",
                    "headroom claude-ai",
                    "paste",
                    "sign in with",
                ] {
                    assert!(!problem.contains(advice), "{problem}");
                }
                let app = e.describe(source, FrontEnd::App);
                assert!(!app.contains("headroom claude-ai login"), "{app}");
                match e.remedy(source) {
                    Some(r) => {
                        assert_eq!(app, format!("{problem}; {}", r.hint(FrontEnd::App)));
                        assert_eq!(
                            e.describe(source, FrontEnd::Cli),
                            format!("{problem}; {}", r.hint(FrontEnd::Cli))
                        );
                    }
                    None => assert_eq!(app, problem),
                }
            }
        }
        let refused = SourceError::Fetch(FetchError::Unauthorized);
        assert_eq!(
            refused.describe(Source::ClaudeAi, FrontEnd::App),
            "claude.ai refused the session key (signed out or expired); paste a new one under Sources"
        );
        assert_eq!(
            refused.describe(Source::ClaudeAi, FrontEnd::Cli),
            "claude.ai refused the session key (signed out or expired); paste a new one with `headroom claude-ai login`"
        );
        assert_eq!(
            refused.describe(Source::Account, FrontEnd::App),
            "Anthropic refused Claude Code's login (expired or revoked); run `claude` once to sign in again"
        );
    }
}
