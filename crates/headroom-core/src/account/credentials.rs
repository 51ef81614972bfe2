//! Claude Code's OAuth credentials, read-only.
//!
//! On macOS Claude Code's Keychain item comes first (the file can be stale there): `Claude
//! Code-credentials`, or one of its own per config folder when `CLAUDE_CONFIG_DIR` is set
//! ([`KeychainItem`]); elsewhere, and as a fallback, `.credentials.json` in Claude Code's
//! config folder (`$CLAUDE_CONFIG_DIR` or `~/.claude`, passed in). The JSON is
//! `{ "claudeAiOauth": { accessToken, refreshToken, expiresAt (ms), scopes, subscriptionType,
//! rateLimitTier } }`.
//!
//! Headroom never writes these, never logs the token and never runs the refresh-token flow:
//! Claude Code rotates refresh tokens, and a second client refreshing logs the user out.
//! An expired token or a missing `user:profile` scope is a clear message to run `claude`.
//! Error messages never include the file's content.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::errors::Remedy;
use super::secret::Secret;

/// Claude Code's credentials file in its config folder.
pub const FILE_NAME: &str = ".credentials.json";
/// The scope the usage endpoint needs.
pub const PROFILE_SCOPE: &str = "user:profile";
/// The service name of Claude Code's Keychain item for its default config folder (`~/.claude`).
pub const KEYCHAIN_SERVICE: &str = "Claude Code-credentials";

/// Which macOS Keychain item holds Claude Code's login. Claude Code keeps one per config
/// folder: with `CLAUDE_CONFIG_DIR` unset, [`KEYCHAIN_SERVICE`]; with it set, that name, a
/// `-`, and the first 8 hex digits of the SHA-256 of the folder as written in the variable
/// (so `~/.claude-work` and `~/.claude` are two logins, and reading the plain item would show
/// the other account's figures).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeychainItem {
    /// The 8 hex digits of a non-default config folder; `None` for the default one.
    folder_hash: Option<[u8; 8]>,
}

impl KeychainItem {
    /// The item of Claude Code's default config folder.
    pub const DEFAULT: KeychainItem = KeychainItem { folder_hash: None };

    /// The item for `CLAUDE_CONFIG_DIR` = `config_dir`, or the default item when unset.
    pub fn for_config_dir(config_dir: Option<&Path>) -> KeychainItem {
        use sha2::Digest;
        let Some(dir) = config_dir else {
            return KeychainItem::DEFAULT;
        };
        let digest = sha2::Sha256::digest(dir.to_string_lossy().as_bytes());
        let mut hash = [0u8; 8];
        for (i, byte) in digest.iter().take(4).enumerate() {
            let hex = |n: u8| b"0123456789abcdef"[usize::from(n)];
            hash[2 * i] = hex(byte >> 4);
            hash[2 * i + 1] = hex(byte & 0x0f);
        }
        KeychainItem {
            folder_hash: Some(hash),
        }
    }

    /// The item's service name, as `security find-generic-password -s` takes it.
    pub fn service(&self) -> String {
        match &self.folder_hash {
            None => KEYCHAIN_SERVICE.to_owned(),
            Some(hash) => format!("{KEYCHAIN_SERVICE}-{}", String::from_utf8_lossy(hash)),
        }
    }
}

/// Claude Code's OAuth login.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthCredentials {
    /// The OAuth access token, sent as the bearer to the usage endpoint.
    pub access_token: Secret,
    /// When it expires, if the file says.
    pub expires_at_ms: Option<i64>,
    /// `None` when the file does not list scopes (older logins): then not checked.
    pub scopes: Option<Vec<String>>,
    /// `subscriptionType`: the plan (`pro`, `max`), as Claude Code wrote it.
    pub subscription_type: Option<String>,
    /// `rateLimitTier`, as Claude Code wrote it.
    pub rate_limit_tier: Option<String>,
    /// Where they were read from (a file path, or the Keychain item's name).
    pub origin: String,
}

impl OAuthCredentials {
    /// Whether they can be used at `now_ms`: not expired, with the profile scope.
    pub fn check(&self, now_ms: i64) -> Result<(), CredentialsError> {
        if let Some(at) = self.expires_at_ms {
            if at <= now_ms {
                return Err(CredentialsError::Expired { at_ms: at });
            }
        }
        if let Some(scopes) = &self.scopes {
            if !scopes.iter().any(|s| s == PROFILE_SCOPE) {
                return Err(CredentialsError::MissingScope);
            }
        }
        Ok(())
    }
}

/// What is wrong with Claude Code's login, stating the problem only: what to do about it is
/// [`CredentialsError::remedy`], worded by each front end.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum CredentialsError {
    /// No login anywhere Headroom looks: the source is not set up, not failing.
    #[error("no Claude Code login found (looked for {})", .looked.join(", "))]
    Missing {
        /// Where it looked (files, the Keychain item).
        looked: Vec<String>,
    },
    /// The file exists but cannot be read.
    #[error("cannot read Claude Code's credentials {path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// The file or item is not JSON Headroom understands.
    #[error("Claude Code's credentials {origin} are not in a form Headroom knows ({detail})")]
    Malformed {
        /// Where they were read from.
        origin: String,
        /// What is wrong.
        detail: String,
    },
    /// The token has expired; Claude Code refreshes it, Headroom never does.
    #[error("Claude Code's login has expired")]
    Expired {
        /// When it expired.
        at_ms: i64,
    },
    /// The token lacks [`PROFILE_SCOPE`].
    #[error("Claude Code's login lacks the `user:profile` scope that usage figures need")]
    MissingScope,
}

impl CredentialsError {
    /// What the user can do about it; `None` when it is not theirs to fix by signing in (a
    /// file Headroom may not read).
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            CredentialsError::Missing { .. } => Some(Remedy::SignInToClaudeCode),
            CredentialsError::Unreadable { .. } => None,
            CredentialsError::Malformed { .. } => Some(Remedy::SignInAgainToClaudeCode),
            CredentialsError::Expired { .. } => Some(Remedy::RefreshClaudeCodeLogin),
            CredentialsError::MissingScope => Some(Remedy::LoginWithProfileScope),
        }
    }
}

/// Reads the credentials: the macOS Keychain item `keychain` first (when there is one), then
/// the file in `claude_dir`.
pub fn load(
    claude_dir: Option<&Path>,
    keychain: Option<KeychainItem>,
) -> Result<OAuthCredentials, CredentialsError> {
    let mut looked = Vec::new();
    #[cfg(target_os = "macos")]
    if let Some(item) = keychain {
        let service = item.service();
        looked.push(format!("the Keychain item {service:?}"));
        if let Some(text) = keychain_text(&service) {
            match parse(text.as_bytes(), &format!("Keychain item {service:?}")) {
                Ok(c) => return Ok(c),
                Err(e) => tracing::warn!("{e}; trying the credentials file"),
            }
        }
    }
    #[cfg(not(target_os = "macos"))]
    let _ = keychain;
    if let Some(dir) = claude_dir {
        let path = dir.join(FILE_NAME);
        match std::fs::read(&path) {
            Ok(bytes) => return parse(&bytes, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                looked.push(path.display().to_string())
            }
            Err(e) => {
                return Err(CredentialsError::Unreadable {
                    path,
                    reason: e.to_string(),
                })
            }
        }
    }
    Err(CredentialsError::Missing { looked })
}

/// Whether credentials seem to be there, without reading the secret (for "configured").
/// On macOS the Keychain item is looked up by its attributes only: reading its password
/// (`-w`), as `load` does, can make macOS ask the user for permission, and this runs on every
/// round of the tray (about once a minute) just to learn whether a login exists.
pub fn present(claude_dir: Option<&Path>, keychain: Option<KeychainItem>) -> bool {
    let _ = keychain;
    claude_dir.is_some_and(|d| d.join(FILE_NAME).is_file()) || {
        #[cfg(target_os = "macos")]
        {
            keychain.is_some_and(|item| keychain_has_item(&item.service()))
        }
        #[cfg(not(target_os = "macos"))]
        {
            false
        }
    }
}

/// `security find-generic-password`'s arguments for the item `service`: with `-w` to print
/// its password, without to look it up by its attributes alone (no password is read, so the
/// item's access list is not consulted and no prompt is raised).
#[cfg(any(target_os = "macos", test))]
fn security_args(service: &str, with_password: bool) -> Vec<&str> {
    let mut args = vec!["find-generic-password", "-s", service];
    if with_password {
        args.push("-w");
    }
    args
}

/// Whether the Keychain has the item (its attributes only; see `security_args`).
#[cfg(target_os = "macos")]
fn keychain_has_item(service: &str) -> bool {
    std::process::Command::new("/usr/bin/security")
        .args(security_args(service, false))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The Keychain item's password, through Apple's `security` tool (no keychain crate in the
/// core: it must build and test anywhere). `None` when absent or denied.
#[cfg(target_os = "macos")]
fn keychain_text(service: &str) -> Option<String> {
    let out = std::process::Command::new("/usr/bin/security")
        .args(security_args(service, true))
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Parses the credentials JSON. `origin` names where it came from, for messages.
pub fn parse(bytes: &[u8], origin: &str) -> Result<OAuthCredentials, CredentialsError> {
    let malformed = |detail: &str| CredentialsError::Malformed {
        origin: origin.to_owned(),
        detail: detail.to_owned(),
    };
    // serde's error text can quote a piece of the input: only its category is kept.
    let value: Value = serde_json::from_slice(bytes).map_err(|_| malformed("not JSON"))?;
    let oauth = value
        .get("claudeAiOauth")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("no claudeAiOauth object"))?;
    let token = oauth
        .get("accessToken")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| malformed("no accessToken"))?;
    let expires_at_ms = oauth.get("expiresAt").and_then(|v| match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().and_then(crate::num::round_to_i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let scopes = match oauth.get("scopes") {
        Some(Value::Array(list)) => Some(
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        // Some versions store scopes as one space-separated string.
        Some(Value::String(s)) => Some(s.split_whitespace().map(str::to_owned).collect()),
        _ => None,
    };
    let text = |key: &str| oauth.get(key).and_then(Value::as_str).map(str::to_owned);
    Ok(OAuthCredentials {
        access_token: Secret::new(token),
        expires_at_ms,
        scopes,
        subscription_type: text("subscriptionType"),
        rate_limit_tier: text("rateLimitTier"),
        origin: origin.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // `present` ran `security … -w` (the password) once a minute just to say "configured",
    // which can raise Keychain prompts; only `load` may read the password.
    #[test]
    fn the_keychain_is_asked_for_the_password_only_when_it_is_read() {
        let service = "Claude Code-credentials";
        assert_eq!(
            security_args(service, false),
            ["find-generic-password", "-s", service]
        );
        assert_eq!(
            security_args(service, true),
            ["find-generic-password", "-s", service, "-w"]
        );
    }

    #[test]
    fn the_keychain_item_follows_claude_codes_config_folder() {
        assert_eq!(
            KeychainItem::for_config_dir(None).service(),
            "Claude Code-credentials"
        );
        // Expected digits from coreutils: printf %s /Users/me/.claude-work | sha256sum
        assert_eq!(
            KeychainItem::for_config_dir(Some(Path::new("/Users/me/.claude-work"))).service(),
            "Claude Code-credentials-1e91dd84"
        );
        // Set explicitly to the default folder is still a folder of its own to Claude Code.
        assert_eq!(
            KeychainItem::for_config_dir(Some(Path::new("/Users/me/.claude"))).service(),
            "Claude Code-credentials-0bd83d07"
        );
    }

    #[test]
    fn reads_claude_codes_shape_and_checks_it() {
        let c = parse(
            br#"{"claudeAiOauth":{"accessToken":"sk-ant-oat01-x","refreshToken":"r","expiresAt":2000,
                 "scopes":["user:inference","user:profile"],"subscriptionType":"max","rateLimitTier":"default_claude_max_20x"}}"#,
            "f",
        )
        .unwrap();
        assert_eq!(c.access_token.expose(), "sk-ant-oat01-x");
        assert_eq!(c.subscription_type.as_deref(), Some("max"));
        assert_eq!(c.check(1999), Ok(()));
        assert_eq!(
            c.check(2000),
            Err(CredentialsError::Expired { at_ms: 2000 })
        );
        let c = parse(
            br#"{"claudeAiOauth":{"accessToken":"t","scopes":"user:inference"}}"#,
            "f",
        )
        .unwrap();
        assert_eq!(c.check(0), Err(CredentialsError::MissingScope));
    }

    #[test]
    fn malformed_messages_never_quote_the_file() {
        for bad in [
            &br#"{"claudeAiOauth":{"accessToken":"sk-ant-secret""#[..],
            br#"{"claudeAiOauth":{"accessToken":""}}"#,
            br#"{"other":"sk-ant-secret"}"#,
            b"sk-ant-secret",
        ] {
            let e = parse(bad, "f").unwrap_err();
            assert!(matches!(e, CredentialsError::Malformed { .. }), "{e}");
            assert!(!e.to_string().contains("secret"), "{e}");
            assert!(!format!("{e:?}").contains("secret"), "{e:?}");
        }
    }
}
