//! The OS keychain as Headroom's [`SecretStore`]: the macOS Keychain, the Windows Credential
//! Manager, or the Secret Service on Linux (gnome-keyring, KeePassXC, KWallet), through the
//! `keyring` crate with its platform features enabled explicitly.
//!
//! The API is [`KeychainStore::new`] and the core's trait, nothing else: the CLI and the
//! tray app hand an `Arc<KeychainStore>` to `account::Refresher`.
//!
//! When no keychain service answers (no Secret Service on the session bus, a locked or
//! absent keychain) every call fails with a [`SecretStoreError`] that says so and how to fix
//! it. Nothing falls back to a file or to memory: a session key must never land in a plain
//! file, and silently keeping it in memory would lose it at exit while claiming success.
//! Error texts come from the platform (D-Bus error names, OS error codes) and never contain
//! the secret: it is only ever passed to `set_password`.

use headroom_core::account::{Secret, SecretStore, SecretStoreError};

// keyring 3 without a platform feature silently keeps secrets in memory (its mock store): on a
// platform Cargo.toml gives no back end, refuse to build rather than lose the key at exit.
#[cfg(not(any(
    target_os = "macos",
    target_os = "windows",
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd"
)))]
compile_error!("headroom-keychain has no keychain back end for this platform (see its Cargo.toml)");

/// The keychain "service" every Headroom secret is filed under; the secret's name (for
/// example [`headroom_core::account::CLAUDE_AI_SESSION_KEY`]) is the entry's user/account.
pub const SERVICE: &str = "Headroom";

/// The OS keychain.
#[derive(Debug, Clone, Default)]
pub struct KeychainStore {
    service: String,
}

impl KeychainStore {
    /// The keychain of the logged-in user. Creating it touches nothing; the first call does.
    pub fn new() -> KeychainStore {
        KeychainStore {
            service: SERVICE.to_owned(),
        }
    }

    fn entry(&self, name: &str) -> Result<keyring::Entry, SecretStoreError> {
        keyring::Entry::new(&self.service, name).map_err(explain)
    }
}

impl SecretStore for KeychainStore {
    fn get(&self, name: &str) -> Result<Option<Secret>, SecretStoreError> {
        match self.entry(name)?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(explain(e)),
        }
    }

    fn set(&self, name: &str, secret: &Secret) -> Result<(), SecretStoreError> {
        self.entry(name)?
            .set_password(secret.expose())
            .map_err(explain)
    }

    fn delete(&self, name: &str) -> Result<(), SecretStoreError> {
        match self.entry(name)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(explain(e)),
        }
    }
}

/// What to do when the platform's keychain does not answer.
#[cfg(target_os = "macos")]
const HOW_TO_FIX: &str = "unlock the login keychain (Keychain Access) and try again";
#[cfg(target_os = "windows")]
const HOW_TO_FIX: &str = "check that the Credential Manager service is running and try again";
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const HOW_TO_FIX: &str = "Headroom keeps secrets only in a Secret Service keychain on the session D-Bus; \
install and start one (for example `sudo apt install gnome-keyring`, then log in to a desktop session, \
or run `gnome-keyring-daemon --start --components=secrets` inside your D-Bus session) and unlock it";

/// A keyring error in words a person can act on. The platform detail is kept (it names the
/// D-Bus or OS failure, never the secret).
fn explain(e: keyring::Error) -> SecretStoreError {
    let detail = match &e {
        keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
            inner.to_string()
        }
        other => other.to_string(),
    };
    let detail: String = detail
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    let message = match e {
        keyring::Error::NoStorageAccess(_) | keyring::Error::PlatformFailure(_) => {
            format!("no keychain service answered ({detail}); {HOW_TO_FIX}")
        }
        keyring::Error::TooLong(..) | keyring::Error::Invalid(..) => {
            format!("the keychain refused the entry ({detail})")
        }
        keyring::Error::BadEncoding(_) => {
            "the keychain entry is not text; remove it and store it again".to_owned()
        }
        keyring::Error::Ambiguous(_) => {
            format!("the keychain holds several entries named {SERVICE:?}; remove the extra ones in your keychain app")
        }
        other => format!("{other}; {HOW_TO_FIX}"),
    };
    tracing::debug!("keychain: {message}");
    SecretStoreError(message)
}
