//! The **Now** section: the published view with the charts' series, and a refresh on demand.

use std::sync::Arc;
use std::time::Duration;

use tauri::State;

use crate::error::{CmdResult, CommandError, ErrorCode};
use crate::refresh::Published;
use crate::view::{self, Overview};
use crate::AppState;

/// The newest published view; waits for the first one after start (the first round reads
/// all transcripts, which can take a second on a large history).
pub(crate) async fn latest(state: &AppState) -> CmdResult<Arc<Published>> {
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

/// What the Now section shows, from the newest view.
pub(crate) async fn overview(state: &AppState) -> CmdResult<Overview> {
    let p = latest(state).await?;
    view::overview(&state.env, &p)
}

/// Runs a round now, whatever the poll policy says, and shows its result.
pub(crate) async fn refresh(state: &AppState) -> CmdResult<Overview> {
    let p = state.refresh.refresh(true).await?;
    view::overview(&state.env, &p)
}

#[tauri::command]
pub async fn get_overview(state: State<'_, AppState>) -> CmdResult<Overview> {
    overview(&state).await
}

#[tauri::command]
pub async fn refresh_now(state: State<'_, AppState>) -> CmdResult<Overview> {
    refresh(&state).await
}
