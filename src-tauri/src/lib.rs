//! Headroom's tray app: a thin shell over `headroom-core`.
//!
//! One refresh task owns the data ([`refresh`], run by `headroom-service`, the round
//! `headroom watch` shares): it ingests transcripts, polls the account sources, evaluates
//! alerts and publishes each new view. The tray ([`tray`]) and the
//! settings window's commands ([`commands`]) only read that view and send requests to the
//! task; the settings window gets `usage-updated` events while it is open.

pub mod commands;
pub mod env;
pub mod error;
pub mod extra_usage;
pub mod icon;
pub mod ipc_types;
pub mod metrics;
pub mod refresh;
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
    pub settings_lock: tokio::sync::Mutex<()>,
    /// The settings window's own process, while it runs (tray mode), and when it started.
    pub settings_process: std::sync::Mutex<Option<(std::process::Child, std::time::Instant)>>,
    /// The first-launch check ran (see `first_launch`).
    pub first_launch_checked: std::sync::atomic::AtomicBool,
    /// The Extra Usage dialog's one-time confirmation (`extra_usage`).
    pub extra_confirmations: extra_usage::Confirmations,
}

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

/// Keeps GL out of a process that mostly sits in the tray. On Linux, GTK opens a GL context
/// as it starts, which loads the whole GPU driver (with software rendering, Mesa's llvmpipe
/// and LLVM: about 50 MiB resident) for a tray icon that never draws with GL. Without it the
/// idle app stays under 100 MiB; the settings pane, a small page of text and SVG, renders in
/// software just as well (WebKit is told so too, so that its processes skip GL as well).
/// `HEADROOM_GPU=1`, or the user's own `GDK_GL`, leaves GL on. Call before GTK starts, while
/// the process has one thread.
pub fn prefer_software_rendering() {
    if !cfg!(target_os = "linux") || std::env::var_os("HEADROOM_GPU").is_some_and(|v| v != "0") {
        return;
    }
    for (name, value) in [
        ("GDK_GL", "disable"),
        ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
    ] {
        if std::env::var_os(name).is_none() {
            std::env::set_var(name, value);
        }
    }
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
        .invoke_handler(tauri::generate_handler![
            commands::get_overview,
            commands::get_settings,
            commands::save_settings,
            commands::set_spending_cap,
            commands::enable_extra_usage,
            commands::open_account_settings,
            extra_usage::prepare_extra_usage,
            extra_usage::apply_extra_usage,
            commands::get_sources,
            commands::install_statusline,
            commands::set_claude_ai_session_key,
            commands::clear_claude_ai_session_key,
            commands::send_test_notification,
            commands::refresh_now,
            commands::snooze_alerts,
            commands::resume_alerts,
            commands::set_autostart,
        ])
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
        settings_process: std::sync::Mutex::new(None),
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
            Action::EnableExtraUsage => show_settings_at(&c, Some("extra")),
            Action::OpenSettings => show_settings(&c),
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
        if let Ok(mut child) = state.settings_process.lock() {
            if child
                .as_mut()
                .is_some_and(|(c, _)| !matches!(c.try_wait(), Ok(None)))
            {
                *child = None;
            }
        }
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
        show_settings_at(app, Some("sources"));
    }
}

/// Snoozes notifications for an hour, or resumes them when they are snoozed and `snooze`
/// is false (the tray item toggles).
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
            commands::resume_alerts(state).await
        } else {
            commands::snooze_alerts(app.state::<AppState>(), Some(60), None).await
        };
        if let Err(e) = result {
            tracing::warn!("snooze: {e}");
        }
    });
}

/// What a tray menu item does.
pub fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    match id {
        tray::OPEN_SETTINGS => show_settings(app),
        tray::CONNECT => show_settings_at(app, Some("sources")),
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
        tray::ENABLE_EXTRA => show_settings_at(app, Some("extra")),
        tray::QUIT => {
            // The settings window goes with the app.
            if let Some(state) = app.try_state::<AppState>() {
                if let Ok(mut child) = state.settings_process.lock() {
                    if let Some((mut c, _)) = child.take() {
                        let _ = c.kill();
                        let _ = c.wait();
                    }
                }
            }
            app.exit(0)
        }
        _ => {}
    }
}

/// Shows the settings window. The tray process starts it as a process of its own
/// (`headroom-app --settings`) that ends when the window is closed: a webview, once used,
/// leaves a WebKit network process and ~90 MiB of touched WebKit pages behind in the process
/// that hosted it, so closing the window would not give the memory back otherwise. The tray
/// process never loads a page and stays at ~70 MiB. Both processes share the ledger and the
/// settings file, as the CLI does; the tray watches the settings file for the window's saves.
pub fn show_settings<R: Runtime>(app: &AppHandle<R>) {
    show_settings_at(app, None)
}

/// [`show_settings`], at one of the pane's sections ([`env::SECTIONS`]).
pub fn show_settings_at<R: Runtime>(app: &AppHandle<R>, section: Option<&'static str>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    if state.env.open_settings {
        // This is the window's process (also what tauri-driver launches in the tests).
        open_settings(app, section);
        return;
    }
    let Ok(mut child) = state.settings_process.lock() else {
        return;
    };
    if let Some((running, started)) = child.as_mut() {
        if matches!(running.try_wait(), Ok(None)) {
            // Open already, in its own process: ask it to come forward at the section.
            if let Err(e) = window_request::send(&state.env.state.dir, section) {
                tracing::warn!("cannot ask the settings window to come forward: {e}");
            }
            let (app, pid, answer_by) = (app.clone(), running.id(), window_answer_by(*started));
            std::thread::spawn(move || replace_if_unanswered(&app, pid, answer_by, section));
            return;
        }
    }
    spawn_settings_window(&mut child, section);
}

/// When a window started at `started` must have taken a request sent now: within
/// 2 s, or 20 s after its start while it is still starting (WebKit on a loaded machine
/// takes seconds before the window listens; it takes a request then, or drops it at start
/// as one it does not need, since it opens anyway).
fn window_answer_by(started: std::time::Instant) -> std::time::Instant {
    let now = std::time::Instant::now();
    (now + std::time::Duration::from_secs(2)).max(started + std::time::Duration::from_secs(20))
}

/// Opens a new window when the window process `pid` has not taken the tray's request by
/// `answer_by`. Its process can look alive and not listen: a window being closed cannot be
/// reaped until WebKit's threads are gone (a click right after closing the window met
/// exactly that, and the click did nothing), or it hangs. The old process is ended, so
/// there are never two windows.
fn replace_if_unanswered<R: Runtime>(
    app: &AppHandle<R>,
    pid: u32,
    answer_by: std::time::Instant,
    section: Option<&'static str>,
) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let request = window_request::path(&state.env.state.dir);
    while std::time::Instant::now() < answer_by {
        if !request.exists() {
            // Taken: the window answered.
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if std::fs::remove_file(&request).is_err() {
        return;
    }
    let Ok(mut child) = state.settings_process.lock() else {
        return;
    };
    match child.take() {
        Some((mut old, _)) if old.id() == pid => {
            tracing::warn!("the settings window did not answer the tray; opening a new one");
            let _ = old.kill();
            let _ = old.wait();
        }
        // Replaced meanwhile (another click opened a new one): leave it be.
        Some(other) => {
            *child = Some(other);
            return;
        }
        // Ended and reaped meanwhile: the click still gets its window.
        None => {}
    }
    spawn_settings_window(&mut child, section);
}

/// Starts `headroom-app --settings [--section S]` and keeps its process in `child`.
fn spawn_settings_window(
    child: &mut Option<(std::process::Child, std::time::Instant)>,
    section: Option<&str>,
) {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            tracing::error!("cannot find this program to open the settings window: {e}");
            return;
        }
    };
    let mut command = std::process::Command::new(exe);
    command.arg("--settings");
    if let Some(section) = section {
        command.args(["--section", section]);
    }
    match command.stdin(std::process::Stdio::null()).spawn() {
        Ok(c) => *child = Some((c, std::time::Instant::now())),
        Err(e) => tracing::error!("cannot open the settings window: {e}"),
    }
}

/// Opens the settings window in this process (at `section`, else at Now), or brings it
/// forward if it is open, showing `section` if one is named. It is destroyed on close.
pub fn open_settings<R: Runtime, M: Manager<R>>(manager: &M, section: Option<&str>) {
    if let Some(window) = manager.get_webview_window(SETTINGS_WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        if let Some(section) = section.and_then(|s| env::SECTIONS.iter().find(|k| **k == s)) {
            // A name from SECTIONS, so the script is one of five fixed strings.
            let script =
                format!("window.headroomShowSection && window.headroomShowSection({section:?})");
            if let Err(e) = window.eval(&script) {
                tracing::warn!("settings window: cannot show {section}: {e}");
            }
        }
        return;
    }
    let built = tauri::WebviewWindowBuilder::new(
        manager,
        SETTINGS_WINDOW,
        // The page selects the section named by its fragment.
        tauri::WebviewUrl::App(match section {
            Some(s) => format!("index.html#{s}").into(),
            None => "index.html".into(),
        }),
    )
    .title("Headroom")
    .inner_size(760.0, 560.0)
    .min_inner_size(560.0, 420.0)
    .build();
    if let Err(e) = built {
        tracing::error!("cannot open the settings window: {e}");
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
        None => return show_settings(app),
    };
    if let Err(e) = delivered {
        tracing::warn!("cannot say so in a notification: {e}");
    }
    show_settings(app);
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
    // `--settings` (or HEADROOM_OPEN_SETTINGS=1): only the settings window, no tray; the
    // process ends when the window closes. The tray starts it that way (see `show_settings`).
    let window_only = std::env::args().skip(1).any(|a| a == "--settings")
        || std::env::var("HEADROOM_OPEN_SETTINGS").is_ok_and(|v| !v.is_empty() && v != "0");
    let base = if window_only {
        tauri::Builder::default()
    } else {
        // First plugin, as its docs require: a second launch opens the first one's window.
        tauri::Builder::default().plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            show_settings(app)
        }))
    };
    // GTK panics (inside tao) when DISPLAY is set but the display cannot be opened (gone, or
    // not ours: no X authority). That is the user's environment, not a bug: say it in one
    // line, as for no display at all, instead of a panic message and a backtrace hint.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        builder(base).build(tauri::generate_context!())
    }));
    std::panic::set_hook(default_hook);
    let app = match built {
        Ok(Ok(app)) => app,
        Ok(Err(e)) => {
            eprintln!("headroom-app: cannot start: {e}");
            return 1;
        }
        Err(_) => {
            let display = std::env::var("WAYLAND_DISPLAY")
                .or_else(|_| std::env::var("DISPLAY"))
                .unwrap_or_default();
            eprintln!("headroom-app cannot open the display {display:?}; for terminals and servers use `headroom watch`");
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
        open_settings(app.handle(), section);
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
