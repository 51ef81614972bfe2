//! Secrets that cannot be printed by accident, and where the claude.ai session key is kept.
//!
//! [`Secret`] wraps a token or session key: its `Debug` and `Display` print `[redacted]`, so
//! a secret inside an error, a struct or a `tracing` field never reaches a log. The only way
//! to read it is [`Secret::expose`], used where a request header is built.
//!
//! [`SecretStore`] is where the claude.ai session key lives. The core defines the trait and
//! an in-memory store (for tests); the OS keychain adapter lives outside the core
//! (`headroom-keychain`, on the `keyring` crate) so the core builds and tests on a machine
//! without D-Bus or a keychain.

use std::collections::HashMap;
use std::sync::Mutex;

/// A token or key. Never printed; compare and read it only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from a file, the keychain or a paste.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for building a request. Do not log or store the result.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty or white space only: no credential at all.
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// A short non-reversible fingerprint (32 bits of a hash), to notice that a credential
    /// changed without keeping it.
    pub fn fingerprint(&self) -> u32 {
        (xxhash_rust::xxh3::xxh3_64(self.0.as_bytes()) >> 32) as u32
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The keychain entry name of the claude.ai session key.
pub const CLAUDE_AI_SESSION_KEY: &str = "claude.ai session key";

/// The longest session key accepted from a paste. claude.ai's keys are about a hundred
/// characters; anything near this is a paste of something else (and a keychain item, on
/// some platforms, has a size limit of its own).
pub(super) const MAX_SESSION_KEY_BYTES: usize = 4096;

/// Why a pasted session key was refused. The words never repeat the paste: it may still be
/// most of a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Nothing left once the cookie's decoration is removed.
    #[error("no session key was given: paste the value of the `sessionKey` cookie of claude.ai")]
    Empty,
    /// White space, a control character or a `;` inside.
    #[error("that does not look like a session key (it has spaces, control characters or a `;` in it); copy only the value of the `sessionKey` cookie of claude.ai")]
    NotOneToken,
    /// Longer than any session key (4 KiB).
    #[error("that is too long for a session key (over {MAX_SESSION_KEY_BYTES} bytes); copy only the value of the `sessionKey` cookie of claude.ai")]
    TooLong,
}

/// The claude.ai session key in what a person pasted (into `headroom claude-ai login` or the
/// settings pane): surrounding whitespace, a copied `sessionKey=` cookie prefix and one
/// trailing `;` (as a browser's cookie view copies it) are removed. What is left must be one
/// printable token: a space, a control character or a `;` inside means a paste of several
/// cookies or a line gone wrong, and is refused rather than stored.
pub fn session_key_from_paste(paste: &str) -> Result<Secret, KeyError> {
    let key = paste.trim();
    let key = key.strip_prefix("sessionKey=").unwrap_or(key).trim_start();
    let key = key.strip_suffix(';').unwrap_or(key).trim_end();
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_SESSION_KEY_BYTES {
        return Err(KeyError::TooLong);
    }
    if key
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == ';')
    {
        return Err(KeyError::NotOneToken);
    }
    Ok(Secret::new(key))
}

/// A keychain problem, in words a person can act on (never containing the secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("the system keychain is not available: {0}")]
pub struct SecretStoreError(pub String);

/// Where secrets Headroom owns are kept (only the claude.ai session key today).
/// Claude Code's own OAuth credentials are never written by Headroom, so they are not here.
pub trait SecretStore: Send + Sync {
    /// The secret called `name`, if one is stored.
    fn get(&self, name: &str) -> Result<Option<Secret>, SecretStoreError>;
    /// Stores `secret` as `name`, replacing any.
    fn set(&self, name: &str, secret: &Secret) -> Result<(), SecretStoreError>;
    /// Deleting what is not there is not an error.
    fn delete(&self, name: &str) -> Result<(), SecretStoreError>;
}

/// A store in memory: for tests, and for front ends that run with no keychain.
#[derive(Debug, Default)]
pub struct MemoryStore {
    items: Mutex<HashMap<String, Secret>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl SecretStore for MemoryStore {
    fn get(&self, name: &str) -> Result<Option<Secret>, SecretStoreError> {
        let items = self
            .items
            .lock()
            .map_err(|_| SecretStoreError("the in-memory store was poisoned".into()))?;
        Ok(items.get(name).cloned())
    }

    fn set(&self, name: &str, secret: &Secret) -> Result<(), SecretStoreError> {
        let mut items = self
            .items
            .lock()
            .map_err(|_| SecretStoreError("the in-memory store was poisoned".into()))?;
        items.insert(name.to_owned(), secret.clone());
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), SecretStoreError> {
        let mut items = self
            .items
            .lock()
            .map_err(|_| SecretStoreError("the in-memory store was poisoned".into()))?;
        items.remove(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("sk-ant-oat01-abc");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret([redacted]))");
        assert_eq!(s.expose(), "sk-ant-oat01-abc");
        assert_ne!(s.fingerprint(), Secret::new("other").fingerprint());
    }

    #[test]
    fn a_pasted_key_loses_its_cookie_prefix_and_trailing_semicolon() {
        for paste in [
            "sk-ant-sid01-abc",
            "  sk-ant-sid01-abc\n",
            "sessionKey=sk-ant-sid01-abc",
            "sessionKey= sk-ant-sid01-abc ;",
            "\tsessionKey=sk-ant-sid01-abc;\r\n",
            "sk-ant-sid01-abc;",
        ] {
            assert_eq!(
                session_key_from_paste(paste).map(|k| k.expose().to_owned()),
                Ok("sk-ant-sid01-abc".to_owned()),
                "{paste:?}"
            );
        }
    }

    #[test]
    fn a_paste_that_is_not_one_key_is_refused_without_repeating_it() {
        for (paste, why) in [
            ("", KeyError::Empty),
            ("   \n", KeyError::Empty),
            ("sessionKey=", KeyError::Empty),
            ("sessionKey=;", KeyError::Empty),
            (";", KeyError::Empty),
            ("sk-ant-sid01-abc sk-ant-sid01-abc", KeyError::NotOneToken),
            (
                "sessionKey=sk-ant-sid01-abc; lastActiveOrg=x",
                KeyError::NotOneToken,
            ),
            ("sk-ant-sid01-abc;;", KeyError::NotOneToken),
            ("sk-ant\u{7}-sid01", KeyError::NotOneToken),
            ("sk-ant\u{a0}sid01", KeyError::NotOneToken),
        ] {
            let err = session_key_from_paste(paste).unwrap_err();
            assert_eq!(err, why, "{paste:?}");
            assert!(!err.to_string().contains("sk-ant"), "{err}");
        }
        let long = "k".repeat(MAX_SESSION_KEY_BYTES + 1);
        assert_eq!(session_key_from_paste(&long), Err(KeyError::TooLong));
        let longest = "k".repeat(MAX_SESSION_KEY_BYTES);
        assert!(session_key_from_paste(&longest).is_ok());
    }

    #[test]
    fn memory_store_round_trip() {
        let store = MemoryStore::new();
        assert_eq!(store.get("k").unwrap(), None);
        store.set("k", &Secret::new("v")).unwrap();
        assert_eq!(store.get("k").unwrap().unwrap().expose(), "v");
        store.delete("k").unwrap();
        store.delete("k").unwrap();
        assert_eq!(store.get("k").unwrap(), None);
    }
}
