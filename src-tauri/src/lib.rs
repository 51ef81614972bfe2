//! Headroom's tray app: a thin shell over `headroom-core`.
//!
//! One refresh task owns the data ([`refresh`], run by `headroom-service`, the round
//! `headroom watch` shares): it ingests transcripts, polls the account sources, evaluates
//! alerts and publishes each new view. The tray ([`tray`]) and the
//! settings window's commands ([`commands`]) only read that view and send requests to the
//! task; the settings window gets `usage-updated` events while it is open.
//!
//! This file builds the app ([`builder`], [`start`], [`run`]) and holds the task's hooks and
//! the tray's menu handlers. The settings window and its own process are
//! [`settings_window`]'s; what the desktop must provide before GTK starts, [`platform`]'s.

mod cli_path;
pub mod commands;
pub mod env;
pub mod error;
pub mod extra_usage;
pub mod icon;
pub mod ipc_types;
pub mod metrics;
pub mod platform;
pub mod refresh;
pub mod settings_window;
pub mod tray;
#[cfg(target_os = "linux")]
pub mod tray_host;
pub mod view;
pub mod window_request;

/// The refresh task's supervision, now the service's (kept at this path for the front end).
pub use headroom_service::supervise;

use std::sync::Arc;

use headroom_core::account::SecretStore;
use headroom_core::alerts::Action;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::commands::alerts::{self, Snooze};
use crate::env::AppEnv;
use crate::refresh::{Hooks, Published, Request};

/// The settings window's label; `capabilities/settings.json` grants commands to it alone.
pub const SETTINGS_WINDOW: &str = "settings";

/// What the commands share.
pub struct AppState {
    pub env: AppEnv,
    pub secrets: Arc<dyn SecretStore>,
    pub refresh: refresh::Handle,
    /// Serialises read-change-save of `settings.json` between commands.
    pub(crate) settings_lock: tokio::sync::Mutex<()>,
    /// The settings window's own process, while it runs (tray mode).
    pub(crate) settings_process: settings_window::Process,
    /// The first-launch check ran (see `first_launch`).
    pub(crate) first_launch_checked: std::sync::atomic::AtomicBool,
    /// The Extra Usage dialog's one-time confirmation (`extra_usage`).
    pub(crate) extra_confirmations: extra_usage::Confirmations,
}

/// The app's plugins and commands, shared by `main` and the tests (which pass Tauri's mock
/// builder). After `build`, [`start`] brings the data side up.
pub fn builder<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(commands::handler())
}

/// Reads the environment, starts the refresh task and makes the state the commands use.
/// `secrets` is the OS keychain in the app; tests pass a memory store, since a test machine
/// has no keychain to spare.
pub fn start<R: Runtime>(app: &AppHandle<R>, secrets: Arc<dyn SecretStore>) -> Result<(), String> {
    let env = AppEnv::from_process()?;
    let refresh = refresh::start(env.clone(), secrets.clone(), hooks(app));
    app.manage(AppState {
        env,
        secrets,
        refresh,
        settings_lock: tokio::sync::Mutex::new(()),
        settings_process: settings_window::Process::default(),
        first_launch_checked: std::sync::atomic::AtomicBool::new(false),
        extra_confirmations: extra_usage::Confirmations::default(),
    });
    Ok(())
}

fn hooks<R: Runtime>(app: &AppHandle<R>) -> Hooks {
    let (a, b, c) = (app.clone(), app.clone(), app.clone());
    Hooks {
        published: Box::new(move |p| on_published(&a, p)),
        extra_usage: Box::new(move |state| {
            if let Err(e) = b.emit_to(SETTINGS_WINDOW, "extra-usage-state", state) {
                tracing::debug!("extra-usage-state: {e}");
            }
        }),
        clicked: Arc::new(move |action| match action {
            Action::Snooze1h => toggle_snooze(&c, true),
            Action::EnableExtraUsage => settings_window::show_at(&c, Some("extra")),
            Action::OpenSettings => settings_window::show(&c),
        }),
    }
}

/// A new view: the tray, and the settings window if it is open.
fn on_published<R: Runtime>(app: &AppHandle<R>, p: &Arc<Published>) {
    if let Some(tray) = app.try_state::<tray::Tray<R>>() {
        tray.show(p, p.refreshed_at_ms);
    }
    // Reap a settings window's process that has ended (within a minute: every round).
    if let Some(state) = app.try_state::<AppState>() {
        state.settings_process.reap();
        // Only where there is a tray (not in the window's process, nor in tests on the mock
        // runtime); `run` checks too, should the first view come before the tray.
        if app.try_state::<tray::Tray<R>>().is_some() {
            first_launch(app, &state, p);
        }
    }
    if app.get_webview_window(SETTINGS_WINDOW).is_none() {
        return;
    }
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    match view::overview(&state.env, p) {
        Ok(overview) => {
            if let Err(e) = app.emit_to(SETTINGS_WINDOW, "usage-updated", overview) {
                tracing::debug!("usage-updated: {e}");
            }
        }
        Err(e) => tracing::warn!("usage-updated: {e}"),
    }
}

/// The name of the file in the data folder that says the tray has been launched before.
pub const LAUNCHED_MARKER: &str = "launched";

/// On the tray's very first launch (no [`LAUNCHED_MARKER`] in the data folder yet), once the
/// first round has run: with no source set up, the pane opens at Sources, so that a new user
/// sees what to connect instead of a menu of "no figures yet". Runs once per process; the
/// marker is written whatever the outcome, so it happens once per install.
fn first_launch<R: Runtime>(app: &AppHandle<R>, state: &AppState, p: &Published) {
    use std::sync::atomic::Ordering;
    // Not in the window's own process, and not on a view republished after a failure (it
    // holds no sources).
    if state.env.open_settings || p.failure.is_some() {
        return;
    }
    if state.first_launch_checked.swap(true, Ordering::SeqCst) {
        return;
    }
    let marker = state.env.state.dir.join(LAUNCHED_MARKER);
    if marker.exists() {
        return;
    }
    let written = std::fs::create_dir_all(&state.env.state.dir)
        .and_then(|()| std::fs::write(&marker, "The Headroom tray has been launched here.\n"));
    if let Err(e) = written {
        tracing::warn!("cannot write {}: {e}", marker.display());
    }
    if !headroom_core::first_run::has_source(&p.snapshot) {
        tracing::info!("first launch with no source: opening the settings at Sources");
        settings_window::show_at(app, Some("sources"));
    }
}

/// Snoozes notifications for an hour, or resumes them when they are snoozed and
/// `always_snooze` is false (the tray item toggles; the notification's button only snoozes).
/// The same functions as the pane's `snooze_alerts` and `resume_alerts`.
fn toggle_snooze<R: Runtime>(app: &AppHandle<R>, always_snooze: bool) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let now = chrono::Utc::now().timestamp_millis();
        let snoozed = state
            .refresh
            .latest
            .borrow()
            .as_ref()
            .and_then(|p| p.settings.alerts.snoozed_until_ms)
            .is_some_and(|u| u > now);
        let result = if snoozed && !always_snooze {
            alerts::resume(&state).await
        } else {
            alerts::snooze(&state, Snooze::Minutes(60)).await
        };
        if let Err(e) = result {
            tracing::warn!("snooze: {e}");
        }
    });
}

/// What a tray menu item does.
pub fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    match id {
        tray::OPEN_SETTINGS => settings_window::show(app),
        tray::CONNECT => settings_window::show_at(app, Some("sources")),
        tray::REFRESH => {
            if let Some(state) = app.try_state::<AppState>() {
                state.refresh.send(Request::Refresh {
                    force: true,
                    reply: None,
                });
            }
        }
        tray::SNOOZE => toggle_snooze(app, false),
        // The pane's Extra Usage section, where the switch, the cap and the confirmation are:
        // the browser is only its fallback link now.
        tray::ENABLE_EXTRA => settings_window::show_at(app, Some("extra")),
        tray::QUIT => {
            if let Some(state) = app.try_state::<AppState>() {
                state.settings_process.kill();
            }
            app.exit(0)
        }
        _ => {}
    }
}

/// No tray host: said in the log and in a notification, and the settings window opens so
/// that the app is seen at all (see [`tray_host`]).
#[cfg(target_os = "linux")]
fn no_tray_host<R: Runtime>(app: &AppHandle<R>, host: tray_host::TrayHost) {
    let Some(text) = host.explain() else {
        return;
    };
    tracing::warn!("{text}");
    let notification = headroom_core::alerts::Notification {
        summary: "Headroom has no tray to show its icon".to_owned(),
        body: text,
        level: headroom_core::alerts::Level::Warning,
        actions: Vec::new(),
    };
    let delivered = match app.try_state::<AppState>() {
        Some(state) => headroom_service::deliver::notify_plain(&state.env.state.dir, &notification),
        // Not reached: `run` manages the state before it watches the tray host.
        None => return settings_window::show(app),
    };
    if let Err(e) = delivered {
        tracing::warn!("cannot say so in a notification: {e}");
    }
    settings_window::show(app);
}

/// Runs the app until Quit; returns the exit status.
pub fn run() -> i32 {
    tracing_subscriber::fmt()
        .with_env_filter(
            // As the CLI: `HEADROOM_LOG=debug`, or `RUST_LOG`; warnings by default.
            tracing_subscriber::EnvFilter::try_from_env("HEADROOM_LOG")
                .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Only the settings window, no tray: the tray starts it that way (`settings_window`).
    let window_only = env::window_only();
    let base = if window_only {
        tauri::Builder::default()
    } else {
        // First plugin, as its docs require: a second launch opens the first one's window.
        tauri::Builder::default().plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            settings_window::show(app)
        }))
    };
    let built = platform::guard_display(|| builder(base).build(tauri::generate_context!()));
    let app = match built {
        Ok(Ok(app)) => app,
        Ok(Err(e)) => {
            eprintln!("headroom-app: cannot start: {e}");
            return 1;
        }
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    if let Err(e) = start(
        app.handle(),
        Arc::new(headroom_keychain::KeychainStore::new()),
    ) {
        eprintln!("headroom-app: {e}");
        return 1;
    }
    if window_only {
        let state = app.try_state::<AppState>();
        let section = state.as_ref().and_then(|s| s.env.open_section);
        if let Some(state) = state {
            window_request::manage(app.handle(), &state.env.state.dir);
        }
        settings_window::open(app.handle(), section);
        app.run(|_, _| {});
        return 0;
    }
    // A tray app on macOS lives in the menu bar: no Dock icon and no app menu. The settings
    // window is its own process (above), which stays a regular app that comes to the front.
    #[cfg(target_os = "macos")]
    let app = {
        let mut app = app;
        app.set_activation_policy(tauri::ActivationPolicy::Accessory);
        app
    };
    let theme = match app.try_state::<AppState>() {
        Some(s) => s.env.tray_theme,
        None => icon::Theme::Dark,
    };
    match tray::Tray::create(app.handle(), theme) {
        Ok(tray) => {
            app.manage(tray);
            // The task may have published before the tray existed.
            if let (Some(state), Some(tray)) = (
                app.try_state::<AppState>(),
                app.try_state::<tray::Tray<tauri::Wry>>(),
            ) {
                let latest = state.refresh.latest.borrow().clone();
                if let Some(p) = latest {
                    tray.show(&p, p.refreshed_at_ms);
                    first_launch(app.handle(), &state, &p);
                }
            }
        }
        Err(e) => eprintln!("headroom-app: cannot create the tray icon: {e}"),
    }
    #[cfg(target_os = "linux")]
    {
        let handle = app.handle().clone();
        tray_host::watch(move |host| no_tray_host(&handle, host));
    }
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
