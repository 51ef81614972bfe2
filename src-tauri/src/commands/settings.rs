//! Loading and saving the settings, and the one way every command changes them
//! (`update_settings`).

use headroom_core::settings::{self, Loaded, Patch, Settings};
use serde::Serialize;
use tauri::State;

use super::now_ms;
use crate::error::{CmdResult, CommandError, ErrorCode};
use crate::refresh::Request;
use crate::AppState;

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct SettingsView {
    pub settings: Settings,
    /// What loading or saving has to tell the user, as one paragraph (a field reset to its
    /// default and why, a file that cannot be read, a broken file kept aside); else `None`.
    pub notice: Option<String>,
    /// The same, one sentence each.
    pub warnings: Vec<String>,
}

impl From<Loaded> for SettingsView {
    fn from(loaded: Loaded) -> Self {
        SettingsView {
            notice: loaded.notice(),
            warnings: loaded
                .unreadable
                .iter()
                .chain(&loaded.warnings)
                .cloned()
                .collect(),
            settings: loaded.settings,
        }
    }
}

/// Runs settings file work off the async runtime's threads: a save may wait for another
/// process's lock, and a load for a file caught in the middle of a write to settle.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, settings::SettingsError> + Send + 'static,
) -> CmdResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| CommandError::new(ErrorCode::Settings, e.to_string()))?
        .map_err(CommandError::from)
}

/// Changes the settings as one step (`settings::update`: under the cross-process lock, only
/// the changed fields written), then tells the refresh task.
pub(crate) async fn update_settings(
    state: &AppState,
    change: impl FnOnce(&mut Settings) + Send + 'static,
) -> CmdResult<SettingsView> {
    // The file lock serialises processes; this keeps this process's commands from each
    // holding a blocking thread while they wait for it.
    let _guard = state.settings_lock.lock().await;
    let path = state.env.state.settings();
    let saved = blocking(move || settings::update(&path, now_ms() / 1000, change)).await?;
    state.refresh.send(Request::SettingsChanged);
    state.refresh.send(Request::Refresh {
        force: false,
        reply: None,
    });
    Ok(saved.into())
}

/// The settings file as it is now, with what loading it has to say.
pub(crate) async fn load(state: &AppState) -> CmdResult<SettingsView> {
    let path = state.env.state.settings();
    Ok(blocking(move || settings::load(&path)).await?.into())
}

/// Saves `incoming`. With `base`, the settings the pane last loaded, only the fields that
/// differ between `base` and `incoming` are saved, so that another process's save since then
/// (a snooze from the tray, `headroom claude-ai login`) is kept. Without it, `incoming`
/// replaces the file's settings as a whole.
pub(crate) async fn save(
    state: &AppState,
    incoming: Settings,
    base: Option<Settings>,
) -> CmdResult<SettingsView> {
    let patch = match base {
        Some(base) => Some(Patch::between(&base, &incoming).map_err(invalid_settings)?),
        None => None,
    };
    update_settings(state, move |s| match patch {
        Some(patch) => patch.apply(s),
        None => *s = incoming,
    })
    .await
}

fn invalid_settings(e: impl std::fmt::Display) -> CommandError {
    CommandError::new(
        ErrorCode::InvalidSettings,
        format!("these settings cannot be saved: {e}"),
    )
}

/// The page's settings, parsed here rather than by Tauri so that a bad shape gets our code
/// and a sentence. Only an object: serde would also take a list as the struct's fields in
/// order. A time zone that does not exist is refused by the type (`TimeZoneName`), a blank
/// one is the system's.
fn parse(value: serde_json::Value) -> CmdResult<Settings> {
    if !value.is_object() {
        return Err(invalid_settings("expected an object of settings"));
    }
    serde_json::from_value::<Settings>(value).map_err(invalid_settings)
}

#[tauri::command]
pub async fn get_settings(state: State<'_, AppState>) -> CmdResult<SettingsView> {
    load(&state).await
}

/// Saves what the pane changed (`save`).
#[tauri::command]
pub async fn save_settings(
    state: State<'_, AppState>,
    settings: serde_json::Value,
    base: Option<serde_json::Value>,
) -> CmdResult<SettingsView> {
    let incoming = parse(settings)?;
    let base = base.map(parse).transpose()?;
    save(&state, incoming, base).await
}
