//! The **Alerts** section: snoozing and resuming notifications (the tray's Snooze item and
//! the notifications' button too), and a test notification.

use headroom_core::alerts::{self, Level, Notification};
use headroom_notify::{Notifier, NotifierConfig};
use serde::Serialize;
use tauri::State;

use super::now_ms;
use super::overview::latest;
use super::settings::{update_settings, SettingsView};
use crate::error::{CmdResult, CommandError, ErrorCode};
use crate::AppState;

/// The longest snooze, in minutes: seven days.
const MAX_SNOOZE_MINUTES: u32 = 10_080;

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct TestNotification {
    pub delivered: bool,
    pub message: String,
}

/// How long notifications stay quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Snooze {
    /// 1 to [`MAX_SNOOZE_MINUTES`]; anything else is refused.
    Minutes(u32),
    /// Until the session window resets, when its reset time is known.
    UntilReset,
}

fn invalid_snooze() -> CommandError {
    CommandError::new(
        ErrorCode::InvalidSnooze,
        "snooze for 1 minute to 7 days, or until the session resets",
    )
}

/// Silences notifications for `length`.
pub(crate) async fn snooze(state: &AppState, length: Snooze) -> CmdResult<SettingsView> {
    let now = now_ms();
    let until = match length {
        Snooze::UntilReset => {
            let p = latest(state).await?;
            alerts::snooze_until_reset(&p.snapshot, now).ok_or_else(|| {
                CommandError::new(
                    ErrorCode::ResetUnknown,
                    "the session window's reset time is not known yet; snooze for a while instead",
                )
            })?
        }
        Snooze::Minutes(m @ 1..=MAX_SNOOZE_MINUTES) => now + i64::from(m) * 60_000,
        Snooze::Minutes(_) => return Err(invalid_snooze()),
    };
    update_settings(state, move |s| s.alerts.snoozed_until_ms = Some(until)).await
}

/// Lets notifications through again.
pub(crate) async fn resume(state: &AppState) -> CmdResult<SettingsView> {
    update_settings(state, |s| s.alerts.snoozed_until_ms = None).await
}

/// Shows what an alert looks like, through the notification server alerts use.
pub(crate) async fn test_notification(state: &AppState) -> CmdResult<TestNotification> {
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
pub async fn send_test_notification(state: State<'_, AppState>) -> CmdResult<TestNotification> {
    test_notification(&state).await
}

/// `{minutes}` or `{untilReset: true}` (which wins when both are given).
#[tauri::command]
pub async fn snooze_alerts(
    state: State<'_, AppState>,
    minutes: Option<u32>,
    until_reset: Option<bool>,
) -> CmdResult<SettingsView> {
    let length = match (until_reset, minutes) {
        (Some(true), _) => Snooze::UntilReset,
        (_, Some(m)) => Snooze::Minutes(m),
        (_, None) => return Err(invalid_snooze()),
    };
    snooze(&state, length).await
}

#[tauri::command]
pub async fn resume_alerts(state: State<'_, AppState>) -> CmdResult<SettingsView> {
    resume(&state).await
}
