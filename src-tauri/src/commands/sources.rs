//! The **Sources** section: how each source of figures is set up, the status line's install,
//! and the claude.ai session key.

use std::path::Path;

use headroom_core::account::{
    credentials, session_key_from_paste, statusline, CLAUDE_AI_SESSION_KEY,
};
use serde::Serialize;
use tauri::State;

use super::now_ms;
use super::overview::latest;
use super::settings::update_settings;
use crate::cli_path::cli_command;
use crate::error::{CmdResult, CommandError, ErrorCode};
use crate::AppState;

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct StatuslineView {
    pub installed: bool,
    pub settings_path: Option<String>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Found {
    pub found: bool,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ClaudeAiView {
    pub key_stored: bool,
    pub enabled: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Folder {
    pub path: String,
    pub exists: bool,
}

/// What `get_sources` answers: how each source of figures is set up, for the Sources section.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Sources {
    pub statusline: StatuslineView,
    pub credentials: Found,
    pub claude_ai: ClaudeAiView,
    pub transcript_dirs: Vec<Folder>,
    pub last_refresh_ms: Option<i64>,
    pub sources: Vec<headroom_core::snapshot::SourceStatus>,
    pub errors: Vec<String>,
    pub settings_notice: Option<String>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct InstallResult {
    pub changed: bool,
    pub summary: String,
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct KeyState {
    pub key_stored: bool,
}

/// Claude Code's `settings.json` at `path` runs Headroom's status line. Any file that cannot
/// be read or parsed runs none.
fn statusline_installed(path: Option<&Path>) -> bool {
    let Some(path) = path else { return false };
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get("statusLine")?
                .get("command")?
                .as_str()
                .map(str::to_owned)
        })
        .is_some_and(|c| c.contains("headroom") && c.contains(statusline::COMMAND_MARKER))
}

/// How each source is set up, from the newest view and the files on disk.
pub(crate) async fn sources(state: &AppState) -> CmdResult<Sources> {
    let p = latest(state).await?;
    let settings_file = state.env.claude_settings_file();
    let (key_stored, error) = match state.secrets.get(CLAUDE_AI_SESSION_KEY) {
        Ok(key) => (key.is_some_and(|k| !k.is_empty()), None),
        Err(e) => (false, Some(e.to_string())),
    };
    Ok(Sources {
        statusline: StatuslineView {
            installed: statusline_installed(settings_file.as_deref()),
            settings_path: settings_file.map(|p| p.display().to_string()),
        },
        credentials: Found {
            found: credentials::present(
                state.env.env.claude_settings_dir().as_deref(),
                Some(state.env.env.claude_keychain_item()),
            ),
        },
        claude_ai: ClaudeAiView {
            key_stored,
            enabled: p.settings.sources.claude_ai,
            error,
        },
        transcript_dirs: state
            .env
            .env
            .transcript_roots(&p.settings)
            .into_iter()
            .map(|d| Folder {
                exists: d.is_dir(),
                path: d.display().to_string(),
            })
            .collect(),
        last_refresh_ms: Some(p.refreshed_at_ms),
        sources: p.snapshot.sources.clone(),
        errors: p.snapshot.errors.clone(),
        settings_notice: p.settings_notice.clone(),
    })
}

/// Puts Headroom's status line into Claude Code's `settings.json`, keeping a line it replaces
/// where `headroom statusline --uninstall` finds it.
pub(crate) fn install(state: &AppState) -> CmdResult<InstallResult> {
    let path = state.env.claude_settings_file().ok_or_else(|| {
        CommandError::new(
            ErrorCode::Statusline,
            "cannot find Claude Code's folder: set CLAUDE_CONFIG_DIR or HOME",
        )
    })?;
    let command = cli_command(&state.env.state.dir)?;
    // The same file the CLI keeps a replaced status line in, so `headroom statusline
    // --uninstall` undoes what the app did.
    let saved = state.env.state.dir.join("statusline-previous.json");
    let installed = statusline::install(&path, &command, false, &saved, now_ms())
        .map_err(|e| CommandError::new(ErrorCode::Statusline, e.to_string()))?;
    let shown = path.display();
    Ok(match installed {
        statusline::Installed::AlreadyThere => InstallResult {
            changed: false,
            summary: format!("Headroom's status line is already in {shown}."),
            changes: Vec::new(),
        },
        statusline::Installed::Added { backup } => InstallResult {
            changed: true,
            summary: format!("Added Headroom's status line to {shown}; Claude Code shows it from its next render."),
            changes: std::iter::once(format!("{shown}: statusLine set to `{command}`"))
                .chain(backup.map(|b| format!("{}: a copy of the file as it was", b.display())))
                .collect(),
        },
        statusline::Installed::Replaced { saved_to, backup } => InstallResult {
            changed: true,
            summary: format!("Replaced the status line in {shown}."),
            changes: std::iter::once(format!("{shown}: statusLine set to `{command}`"))
                .chain(backup.map(|b| format!("{}: a copy of the file as it was", b.display())))
                .chain(std::iter::once(format!(
                    "{}: the previous status line",
                    saved_to.display()
                )))
                .collect(),
        },
    })
}

/// Stores a pasted session key in the keychain and turns the claude.ai source on.
pub(crate) async fn store_session_key(state: &AppState, pasted: &str) -> CmdResult<KeyState> {
    // The same rule as `headroom claude-ai login`: a copied `sessionKey=…;` cookie is
    // stored as the key alone.
    let key = session_key_from_paste(pasted)
        .map_err(|e| CommandError::new(ErrorCode::InvalidKey, e.to_string()))?;
    state.secrets.set(CLAUDE_AI_SESSION_KEY, &key)?;
    update_settings(state, |s| s.sources.claude_ai = true).await?;
    Ok(KeyState { key_stored: true })
}

/// Forgets the session key and turns the claude.ai source off.
pub(crate) async fn forget_session_key(state: &AppState) -> CmdResult<KeyState> {
    state.secrets.delete(CLAUDE_AI_SESSION_KEY)?;
    update_settings(state, |s| s.sources.claude_ai = false).await?;
    Ok(KeyState { key_stored: false })
}

#[tauri::command]
pub async fn get_sources(state: State<'_, AppState>) -> CmdResult<Sources> {
    sources(&state).await
}

#[tauri::command]
pub async fn install_statusline(state: State<'_, AppState>) -> CmdResult<InstallResult> {
    install(&state)
}

#[tauri::command]
pub async fn set_claude_ai_session_key(
    state: State<'_, AppState>,
    key: String,
) -> CmdResult<KeyState> {
    store_session_key(&state, &key).await
}

#[tauri::command]
pub async fn clear_claude_ai_session_key(state: State<'_, AppState>) -> CmdResult<KeyState> {
    forget_session_key(&state).await
}
