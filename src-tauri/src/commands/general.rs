//! The **General** section: starting at login (the other general settings are plain
//! `save_settings`).

use tauri::{AppHandle, Runtime, State};

use super::settings::{update_settings, SettingsView};
use crate::error::{CmdResult, CommandError, ErrorCode};
use crate::AppState;

/// Adds or removes the OS login item, then records the choice. The login item first: a
/// setting that says "on" while the OS says "off" would be a lie.
pub(crate) async fn start_at_login<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    enabled: bool,
) -> CmdResult<SettingsView> {
    use tauri::Manager;
    use tauri_plugin_autostart::ManagerExt;
    if app
        .try_state::<tauri_plugin_autostart::AutoLaunchManager>()
        .is_none()
    {
        return Err(CommandError::new(
            ErrorCode::Autostart,
            "start at login is not available here",
        ));
    }
    let manager = app.autolaunch();
    let result = if enabled {
        manager.enable()
    } else {
        manager.disable()
    };
    result.map_err(|e| {
        CommandError::new(
            ErrorCode::Autostart,
            format!("cannot change the login item: {e}"),
        )
    })?;
    update_settings(state, move |s| s.general.start_at_login = enabled).await
}

#[tauri::command]
pub async fn set_autostart<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    enabled: bool,
) -> CmdResult<SettingsView> {
    start_at_login(&app, &state, enabled).await
}
