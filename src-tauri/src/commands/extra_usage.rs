//! The **Extra Usage** section: the chosen cap, the browser flow, and the direct writes
//! (their confirmations and the writes themselves are [`crate::extra_usage`]'s).

use headroom_core::account;
use headroom_core::settings::Cap;
use serde::Serialize;
use tauri::{AppHandle, Runtime, State};

use super::settings::{update_settings, SettingsView};
use crate::error::{CmdResult, CommandError, ErrorCode};
use crate::extra_usage::{self as direct, Applied, Plan};
use crate::refresh::{Request, WatchState};
use crate::AppState;

/// The one page Headroom opens for Extra Usage.
pub const EXTRA_USAGE_URL: &str = account::extra_usage::SETTINGS_URL;
/// Where links may go: Anthropic's settings pages, nothing else.
const ALLOWED_URLS: [&str; 2] = [
    "https://claude.ai/settings/",
    "https://console.anthropic.com/settings/",
];

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct EnableStarted {
    /// Always `waiting`: the watch's first step (its next ones come as `extra-usage-state`).
    pub state: WatchState,
    pub cap: f64,
    pub url: &'static str,
    pub opened: bool,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Opened {
    pub url: &'static str,
    pub opened: bool,
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

/// Keeps `cap` as the chosen one (what the pane warns against when the account differs).
pub(crate) async fn choose_cap(state: &AppState, cap: Cap) -> CmdResult<SettingsView> {
    update_settings(state, move |s| s.extra_usage.chosen_cap = Some(cap)).await
}

/// The browser flow: keeps `cap`, opens the account's page, and has the refresh task watch
/// the account until Extra Usage is on (`extra-usage-state` events).
pub(crate) async fn enable_in_browser<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    cap: Cap,
) -> CmdResult<EnableStarted> {
    choose_cap(state, cap).await?;
    let opened = open_url(app, state, EXTRA_USAGE_URL)?;
    state.refresh.send(Request::WatchExtraUsage);
    Ok(EnableStarted {
        state: WatchState::Waiting,
        cap: cap.dollars(),
        url: EXTRA_USAGE_URL,
        opened,
    })
}

/// Opens the account's Extra Usage page.
pub(crate) fn open_account_page<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
) -> CmdResult<Opened> {
    let opened = open_url(app, state, EXTRA_USAGE_URL)?;
    Ok(Opened {
        url: EXTRA_USAGE_URL,
        opened,
    })
}

#[tauri::command]
pub async fn set_spending_cap(
    state: State<'_, AppState>,
    input: String,
) -> CmdResult<SettingsView> {
    // Parsed before the file is touched: a refused cap leaves it as it was.
    choose_cap(&state, Cap::parse(&input)?).await
}

#[tauri::command]
pub async fn enable_extra_usage<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    cap: String,
) -> CmdResult<EnableStarted> {
    enable_in_browser(&app, &state, Cap::parse(&cap)?).await
}

#[tauri::command]
pub async fn open_account_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> CmdResult<Opened> {
    open_account_page(&app, &state)
}

/// The dialog for a direct change (`extra_usage::prepare`).
#[tauri::command]
pub async fn prepare_extra_usage(
    state: State<'_, AppState>,
    action: String,
    cap: Option<String>,
    no_cap: Option<bool>,
) -> CmdResult<Plan> {
    let change = direct::parse_change(&action, cap.as_deref(), no_cap == Some(true))?;
    direct::prepare(&state, change).await
}

/// The core's reading of a typed cap (`extra_usage::check_cap`): the pane has no parser.
#[tauri::command]
pub async fn check_cap(input: String) -> CmdResult<direct::CapCheck> {
    direct::check_cap(&input)
}

/// Whether the amount typed in the dialog confirms its plan (`extra_usage::check_amount`).
#[tauri::command]
pub async fn check_extra_usage_amount(
    state: State<'_, AppState>,
    token: String,
    typed_amount: String,
) -> CmdResult<bool> {
    direct::check_amount(&state, &token, &typed_amount)
}

/// The account's Extra Usage read now, outside the poll cadence (`extra_usage::read_now`).
#[tauri::command]
pub async fn read_extra_usage(
    state: State<'_, AppState>,
) -> CmdResult<Option<headroom_core::snapshot::ExtraUsage>> {
    direct::read_now(&state).await
}

/// The confirmed direct change (`extra_usage::apply`).
#[tauri::command]
pub async fn apply_extra_usage(
    state: State<'_, AppState>,
    token: String,
    typed_amount: Option<String>,
) -> CmdResult<Applied> {
    direct::apply(&state, &token, typed_amount.as_deref().unwrap_or("")).await
}
