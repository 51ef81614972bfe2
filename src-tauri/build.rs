//! Declares the app's own commands so that `capabilities/` can grant them per window: a
//! command not listed here cannot be called from any page.

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(&[
        "get_overview",
        "get_settings",
        "save_settings",
        "set_spending_cap",
        "enable_extra_usage",
        "open_account_settings",
        "prepare_extra_usage",
        "apply_extra_usage",
        "check_cap",
        "check_extra_usage_amount",
        "read_extra_usage",
        "get_sources",
        "install_statusline",
        "set_claude_ai_session_key",
        "clear_claude_ai_session_key",
        "send_test_notification",
        "refresh_now",
        "snooze_alerts",
        "resume_alerts",
        "set_autostart",
    ]);
    if let Err(e) = tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)) {
        // build scripts report failures by panicking; the message is what cargo shows.
        panic!("tauri build configuration: {e:#}");
    }
}
