//! The settings pane's commands (docs/ipc.md), one file per section of the pane.
//!
//! Each file holds two layers. Plain functions over [`AppState`](crate::AppState) do the work: validate, call
//! the core, tell the refresh task, return typed data or a [`CommandError`]. The
//! `#[tauri::command]`s below them are adapters: they take Tauri's `State` and the page's
//! arguments, turn the arguments into types, and call one plain function. The tray's menu and
//! notification clicks call the same plain functions (`crate::toggle_snooze`), never a
//! command, so the tray and the pane cannot drift apart.
//!
//! None returns a secret: the session key goes in and never comes back; the credentials file
//! is only ever reported as found or not.
//!
//! A command added here is also named in `build.rs` (so that `capabilities/` can grant it) and
//! its result type in `ipc_types.rs`.
//!
//! [`CommandError`]: crate::error::CommandError

pub mod alerts;
pub mod extra_usage;
pub mod general;
pub mod overview;
pub mod settings;
pub mod sources;

use tauri::ipc::Invoke;
use tauri::Runtime;

/// Every command the pane may call, for [`tauri::Builder::invoke_handler`].
pub fn handler<R: Runtime>() -> impl Fn(Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        overview::get_overview,
        settings::get_settings,
        settings::save_settings,
        extra_usage::set_spending_cap,
        extra_usage::enable_extra_usage,
        extra_usage::open_account_settings,
        extra_usage::prepare_extra_usage,
        extra_usage::apply_extra_usage,
        extra_usage::check_cap,
        extra_usage::check_extra_usage_amount,
        extra_usage::read_extra_usage,
        sources::get_sources,
        sources::install_statusline,
        sources::set_claude_ai_session_key,
        sources::clear_claude_ai_session_key,
        alerts::send_test_notification,
        overview::refresh_now,
        alerts::snooze_alerts,
        alerts::resume_alerts,
        general::set_autostart,
    ]
}

/// The clock the commands read (the core's rules take `now` as an argument).
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
