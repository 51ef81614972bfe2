//! Headroom's tray app: a thin shell over `headroom-core`.
//!
//! One refresh task owns the data (see [`refresh`]): it ingests transcripts, polls the
//! account sources, evaluates alerts, and publishes each new view to the tray, the settings
//! window and the commands. The tray ([`tray`]) and the commands ([`commands`]) only read
//! that view and send requests to the task.

use tauri::{Manager, Runtime};

/// The settings window's label; `capabilities/settings.json` grants commands to it alone.
pub const SETTINGS_WINDOW: &str = "settings";

/// Why the app cannot start here, if it cannot: on Linux without `DISPLAY` or
/// `WAYLAND_DISPLAY` GTK would abort. Checked before anything touches GTK.
pub fn missing_display() -> Option<&'static str> {
    if !cfg!(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    )) {
        return None;
    }
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") {
        None
    } else {
        Some("headroom-app needs a graphical session; for terminals and servers use `headroom watch`")
    }
}

/// The app's plugins, commands and set-up, shared by `main` and the tests (which pass
/// Tauri's mock builder).
pub fn builder<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            // A second launch means "show me Headroom": open (or focus) the settings window.
            open_settings(app);
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .plugin(tauri_plugin_opener::init())
}

/// Opens the settings window, or brings it forward if it is open. It is created on demand
/// and destroyed on close, so that the webview's memory goes back while the app sits in the
/// tray.
pub fn open_settings<R: Runtime, M: Manager<R>>(manager: &M) {
    if let Some(window) = manager.get_webview_window(SETTINGS_WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        return;
    }
    let built = tauri::WebviewWindowBuilder::new(
        manager,
        SETTINGS_WINDOW,
        tauri::WebviewUrl::App("index.html".into()),
    )
    .title("Headroom")
    .inner_size(760.0, 560.0)
    .min_inner_size(560.0, 420.0)
    .build();
    if let Err(e) = built {
        tracing::error!("cannot open the settings window: {e}");
    }
}

/// Runs the app until Quit; returns the exit status.
pub fn run() -> i32 {
    let app = match builder(tauri::Builder::default()).build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("headroom-app: cannot start: {e}");
            return 1;
        }
    };
    app.run(|_app, event| {
        // Closing the settings window must not end a tray app: only Quit (an explicit
        // `exit`, which carries a code) does.
        if let tauri::RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            api.prevent_exit();
        }
    });
    0
}
