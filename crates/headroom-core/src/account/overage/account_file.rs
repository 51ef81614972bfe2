//! Claude Code's account file (`.claude.json`): the organization a write goes to, and the
//! user's role in it, read from local files only.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ACCOUNT_FILE_NAME;

/// What Claude Code's account file (`.claude.json`) says about the organization.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountFile {
    /// `oauthAccount.organizationUuid`, when it is a UUID.
    pub organization_uuid: Option<String>,
    /// `oauthAccount.organizationRole` (`admin`, `user`, ...), as Claude Code wrote it.
    pub organization_role: Option<String>,
    /// `oauthAccount.organizationName`: whose payment method a write spends, in the question.
    pub organization_name: Option<String>,
    /// `oauthAccount.emailAddress`: whose login it is, in the question.
    pub email: Option<String>,
    /// The file's path, for messages.
    pub origin: String,
}

/// Reads `oauthAccount.organizationUuid` and `.organizationRole` from Claude Code's account
/// file. A missing, unreadable or odd file, or a UUID that is not one, gives `None`: the
/// organization is never guessed.
pub fn read_account_file(path: Option<&Path>) -> AccountFile {
    let Some(path) = path else {
        return AccountFile::default();
    };
    let origin = path.display().to_string();
    // The file holds Claude Code's whole state (projects, history settings): read it only to
    // this size, and keep nothing but these fields.
    let bytes = match read_capped(path, 16 << 20) {
        Some(b) => b,
        None => {
            return AccountFile {
                origin,
                ..AccountFile::default()
            }
        }
    };
    let value: Option<Value> = serde_json::from_slice(&bytes).ok();
    let account = value.as_ref().and_then(|v| v.get("oauthAccount"));
    let field = |name: &str| {
        account
            .and_then(|a| a.get(name))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    AccountFile {
        organization_uuid: field("organizationUuid").filter(|u| is_uuid(u)),
        organization_role: field("organizationRole"),
        organization_name: field("organizationName").map(|n| printable(&n)),
        email: field("emailAddress").map(|e| printable(&e)),
        origin,
    }
}

/// At most 200 characters, without control characters or bidi overrides (the one rule,
/// `text::printable`): these names are printed in the question.
fn printable(s: &str) -> String {
    crate::text::printable(s).chars().take(200).collect()
}

fn read_capped(path: &Path, max: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= max).then_some(bytes)
}

/// Claude Code's account file for a config folder: `$CLAUDE_CONFIG_DIR/.claude.json` when
/// that variable is set, else `~/.claude.json` (beside, not inside, `~/.claude`).
pub fn account_file_path(claude_config_dir: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    match claude_config_dir {
        Some(dir) => Some(dir.join(ACCOUNT_FILE_NAME)),
        None => home.map(|h| h.join(ACCOUNT_FILE_NAME)),
    }
}

/// An RFC 4122-shaped UUID (8-4-4-4-12 hex digits).
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}
