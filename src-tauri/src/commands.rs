//! The settings pane's commands (docs/ipc.md). Each one validates, calls the core, and
//! returns typed data or a [`CommandError`]. None returns a secret: the session key goes in
//! and never comes back; the credentials file is only ever reported as found or not.

use std::path::PathBuf;
use std::time::Duration;

use headroom_core::account::{
    self, credentials, session_key_from_paste, statusline, CLAUDE_AI_SESSION_KEY,
};
use headroom_core::alerts::{self, Level, Notification};
use headroom_core::settings::{self, Cap, Loaded, Patch, Settings};
use headroom_notify::{Notifier, NotifierConfig};
use serde::Serialize;
use tauri::{AppHandle, Runtime, State};

use crate::error::{CmdResult, CommandError, ErrorCode};
use crate::refresh::{Published, Request, WatchState};
use crate::view::{self, Overview};
use crate::AppState;

/// The one page Headroom opens for Extra Usage.
pub const EXTRA_USAGE_URL: &str = account::extra_usage::SETTINGS_URL;
/// Where links may go: Anthropic's settings pages, nothing else.
const ALLOWED_URLS: [&str; 2] = [
    "https://claude.ai/settings/",
    "https://console.anthropic.com/settings/",
];

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

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The newest published view; waits for the first one after start (the first round reads
/// all transcripts, which can take a second on a large history).
pub(crate) async fn latest(state: &AppState) -> CmdResult<std::sync::Arc<Published>> {
    let mut rx = state.refresh.latest.clone();
    let waited = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(Option::is_some)).await;
    match waited {
        Ok(Ok(v)) => v.clone().ok_or(().into()),
        Ok(Err(_)) => Err(().into()),
        Err(_) => Err(CommandError::new(
            ErrorCode::Busy,
            "Headroom is still reading your history; try again in a moment",
        )),
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

#[tauri::command]
pub async fn get_overview(state: State<'_, AppState>) -> CmdResult<Overview> {
    let p = latest(&state).await?;
    view::overview(&state.env, &p)
}

#[tauri::command]
pub async fn get_settings(state: State<'_, AppState>) -> CmdResult<SettingsView> {
    let path = state.env.state.settings();
    Ok(blocking(move || settings::load(&path)).await?.into())
}

fn invalid_settings(e: impl std::fmt::Display) -> CommandError {
    CommandError::new(
        ErrorCode::InvalidSettings,
        format!("these settings cannot be saved: {e}"),
    )
}

/// Saves what the pane changed. With `base`, the settings the pane last loaded, only the
/// fields that differ between `base` and `settings` are saved, so that another process's
/// save since then (a snooze from the tray, `headroom claude-ai login`) is kept. Without it,
/// `settings` replace the file's as a whole.
#[tauri::command]
pub async fn save_settings(
    state: State<'_, AppState>,
    settings: serde_json::Value,
    base: Option<serde_json::Value>,
) -> CmdResult<SettingsView> {
    // Parsed here rather than by Tauri so that a bad shape gets our code and a sentence. Only
    // an object: serde would also take a list as the struct's fields in order.
    let parse = |value: serde_json::Value| {
        if !value.is_object() {
            return Err(invalid_settings("expected an object of settings"));
        }
        serde_json::from_value::<Settings>(value).map_err(invalid_settings)
    };
    // A time zone that does not exist is refused by the type (`TimeZoneName`), a blank one is
    // the system's.
    let incoming = parse(settings)?;
    let patch = match base {
        Some(base) => Some(Patch::between(&parse(base)?, &incoming).map_err(invalid_settings)?),
        None => None,
    };
    update_settings(&state, move |s| match patch {
        Some(patch) => patch.apply(s),
        None => *s = incoming,
    })
    .await
}

#[tauri::command]
pub async fn set_spending_cap(
    state: State<'_, AppState>,
    input: String,
) -> CmdResult<SettingsView> {
    // Parsed before the file is touched: a refused cap leaves it as it was.
    let cap = Cap::parse(&input)?;
    update_settings(&state, move |s| s.extra_usage.chosen_cap = Some(cap)).await
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct EnableStarted {
    /// Always `waiting`: the watch's first step (its next ones come as `extra-usage-state`).
    pub state: WatchState,
    pub cap: f64,
    pub url: &'static str,
    pub opened: bool,
}

#[tauri::command]
pub async fn enable_extra_usage<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    cap: String,
) -> CmdResult<EnableStarted> {
    let parsed = Cap::parse(&cap)?;
    update_settings(&state, move |s| s.extra_usage.chosen_cap = Some(parsed)).await?;
    let opened = open_url(&app, &state, EXTRA_USAGE_URL)?;
    state.refresh.send(Request::WatchExtraUsage);
    Ok(EnableStarted {
        state: WatchState::Waiting,
        cap: parsed.dollars(),
        url: EXTRA_USAGE_URL,
        opened,
    })
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Opened {
    pub url: &'static str,
    pub opened: bool,
}

#[tauri::command]
pub async fn open_account_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> CmdResult<Opened> {
    let opened = open_url(&app, &state, EXTRA_USAGE_URL)?;
    Ok(Opened {
        url: EXTRA_USAGE_URL,
        opened,
    })
}

/// Opens one of Anthropic's settings pages in the browser; false when browsers are off
/// (`HEADROOM_NO_BROWSER`).
pub fn open_url<R: Runtime>(app: &AppHandle<R>, state: &AppState, url: &str) -> CmdResult<bool> {
    if !ALLOWED_URLS.iter().any(|allowed| url.starts_with(allowed)) {
        return Err(CommandError::new(
            ErrorCode::Opener,
            format!("Headroom opens only Anthropic's settings pages, not {url}"),
        ));
    }
    if state.env.no_browser {
        tracing::info!("not opening {url} (HEADROOM_NO_BROWSER)");
        return Ok(false);
    }
    use tauri::Manager;
    use tauri_plugin_opener::OpenerExt;
    if app.try_state::<tauri_plugin_opener::Opener<R>>().is_none() {
        return Err(CommandError::new(
            ErrorCode::Opener,
            format!("cannot open a browser here; visit {url}"),
        ));
    }
    app.opener().open_url(url, None::<&str>).map_err(|e| {
        CommandError::new(
            ErrorCode::Opener,
            format!("cannot open the browser ({e}); visit {url}"),
        )
    })?;
    Ok(true)
}

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

fn statusline_installed(path: Option<&PathBuf>) -> bool {
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

#[tauri::command]
pub async fn get_sources(state: State<'_, AppState>) -> CmdResult<Sources> {
    let p = latest(&state).await?;
    let settings_file = state.env.claude_settings_file();
    let (key_stored, error) = match state.secrets.get(CLAUDE_AI_SESSION_KEY) {
        Ok(key) => (key.is_some_and(|k| !k.is_empty()), None),
        Err(e) => (false, Some(e.to_string())),
    };
    Ok(Sources {
        statusline: StatuslineView {
            installed: statusline_installed(settings_file.as_ref()),
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

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct InstallResult {
    pub changed: bool,
    pub summary: String,
    pub changes: Vec<String>,
}

/// The `headroom` CLI that Claude Code should run: next to this app (as built and as
/// packaged), else on PATH.
fn cli_command() -> CmdResult<String> {
    let name = if cfg!(windows) {
        "headroom.exe"
    } else {
        "headroom"
    };
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file());
    let on_path = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    };
    let path = beside.or_else(on_path).ok_or_else(|| {
        CommandError::new(
            ErrorCode::CliMissing,
            "the `headroom` command is not installed, and Claude Code's status line runs it: install it with `cargo install --path crates/headroom-cli`, then try again",
        )
    })?;
    Ok(statusline::command_for(&path.display().to_string()))
}

#[tauri::command]
pub async fn install_statusline(state: State<'_, AppState>) -> CmdResult<InstallResult> {
    let path = state.env.claude_settings_file().ok_or_else(|| {
        CommandError::new(
            ErrorCode::Statusline,
            "cannot find Claude Code's folder: set CLAUDE_CONFIG_DIR or HOME",
        )
    })?;
    let command = cli_command()?;
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

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct KeyState {
    pub key_stored: bool,
}

#[tauri::command]
pub async fn set_claude_ai_session_key(
    state: State<'_, AppState>,
    key: String,
) -> CmdResult<KeyState> {
    // The same rule as `headroom claude-ai login`: a copied `sessionKey=…;` cookie is
    // stored as the key alone.
    let key = session_key_from_paste(&key)
        .map_err(|e| CommandError::new(ErrorCode::InvalidKey, e.to_string()))?;
    state.secrets.set(CLAUDE_AI_SESSION_KEY, &key)?;
    update_settings(&state, |s| s.sources.claude_ai = true).await?;
    Ok(KeyState { key_stored: true })
}

#[tauri::command]
pub async fn clear_claude_ai_session_key(state: State<'_, AppState>) -> CmdResult<KeyState> {
    state.secrets.delete(CLAUDE_AI_SESSION_KEY)?;
    update_settings(&state, |s| s.sources.claude_ai = false).await?;
    Ok(KeyState { key_stored: false })
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct TestNotification {
    pub delivered: bool,
    pub message: String,
}

#[tauri::command]
pub async fn send_test_notification(state: State<'_, AppState>) -> CmdResult<TestNotification> {
    let icon = headroom_notify::install_icon(&state.env.state.dir.join("icons"))
        .ok()
        .map(|p| p.display().to_string());
    let notification = Notification {
        summary: "Headroom test notification".to_owned(),
        body: "Alerts look like this. Nothing is wrong with your usage.".to_owned(),
        level: Level::Info,
        actions: Vec::new(),
    };
    // Its own notifier without buttons: nobody waits for a click on a test.
    let delivered = tokio::task::spawn_blocking(move || {
        let (notifier, _clicks) = Notifier::new(NotifierConfig {
            icon,
            actions: false,
            ..NotifierConfig::default()
        });
        notifier.deliver(&notification)
    })
    .await
    .map_err(|e| CommandError::new(ErrorCode::Notification, e.to_string()))?;
    match delivered {
        Ok(_) => Ok(TestNotification {
            delivered: true,
            message: "Sent.".to_owned(),
        }),
        Err(e) => Err(CommandError::new(ErrorCode::Notification, e.to_string())),
    }
}

#[tauri::command]
pub async fn refresh_now(state: State<'_, AppState>) -> CmdResult<Overview> {
    let p = state.refresh.refresh(true).await?;
    view::overview(&state.env, &p)
}

#[tauri::command]
pub async fn snooze_alerts(
    state: State<'_, AppState>,
    minutes: Option<u32>,
    until_reset: Option<bool>,
) -> CmdResult<SettingsView> {
    let now = now_ms();
    let until = if until_reset == Some(true) {
        let p = latest(&state).await?;
        alerts::snooze_until_reset(&p.snapshot, now).ok_or_else(|| {
            CommandError::new(
                ErrorCode::ResetUnknown,
                "the session window's reset time is not known yet; snooze for a while instead",
            )
        })?
    } else {
        match minutes {
            Some(m @ 1..=10_080) => now + i64::from(m) * 60_000,
            _ => {
                return Err(CommandError::new(
                    ErrorCode::InvalidSnooze,
                    "snooze for 1 minute to 7 days, or until the session resets",
                ))
            }
        }
    };
    update_settings(&state, move |s| s.alerts.snoozed_until_ms = Some(until)).await
}

#[tauri::command]
pub async fn resume_alerts(state: State<'_, AppState>) -> CmdResult<SettingsView> {
    update_settings(&state, |s| s.alerts.snoozed_until_ms = None).await
}

#[tauri::command]
pub async fn set_autostart<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
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
    update_settings(&state, move |s| s.general.start_at_login = enabled).await
}
