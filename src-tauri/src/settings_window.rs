//! The settings window, and the process it runs in.
//!
//! The tray process starts the window as a process of its own (`headroom-app --settings`)
//! that ends when the window is closed: a webview, once used, leaves a WebKit network process
//! and ~90 MiB of touched WebKit pages behind in the process that hosted it, so closing the
//! window would not give the memory back otherwise. The tray process never loads a page and
//! stays at ~70 MiB. Both processes share the ledger and the settings file, as the CLI does;
//! the tray watches the settings file for the window's saves.
//!
//! Here: [`show`] (the tray's side: spawn the window's process, or ask the running one to come
//! forward and replace it when it does not answer), [`Process`] (the child, reaped and
//! killed), and [`open`] (the window's side: the webview itself).

use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tauri::{AppHandle, Manager, Runtime};

use crate::{env, window_request, AppState, SETTINGS_WINDOW};

/// The settings window's own process, while it runs (tray mode), and when it started.
#[derive(Default)]
pub struct Process(Mutex<Option<(Child, Instant)>>);

impl Process {
    /// `None` when a thread panicked holding it: the callers then leave the window alone
    /// rather than act on a child whose state is unknown.
    fn lock(&self) -> Option<MutexGuard<'_, Option<(Child, Instant)>>> {
        self.0.lock().ok()
    }

    /// Forgets the window's process once it has ended (reaping it).
    pub(crate) fn reap(&self) {
        if let Some(mut child) = self.lock() {
            if child
                .as_mut()
                .is_some_and(|(c, _)| !matches!(c.try_wait(), Ok(None)))
            {
                *child = None;
            }
        }
    }

    /// Ends the window's process: the settings window goes with the app.
    pub(crate) fn kill(&self) {
        if let Some(mut child) = self.lock() {
            if let Some((mut c, _)) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Shows the settings window: in its own process from the tray (see the module's comment),
/// in this one when this is the window's process.
pub fn show<R: Runtime>(app: &AppHandle<R>) {
    show_at(app, None)
}

/// [`show`], at one of the pane's sections ([`env::SECTIONS`]).
pub fn show_at<R: Runtime>(app: &AppHandle<R>, section: Option<&'static str>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    if state.env.open_settings {
        // This is the window's process (also what tauri-driver launches in the tests).
        open(app, section);
        return;
    }
    let Some(mut child) = state.settings_process.lock() else {
        return;
    };
    if let Some((running, started)) = child.as_mut() {
        if matches!(running.try_wait(), Ok(None)) {
            // Open already, in its own process: ask it to come forward at the section.
            if let Err(e) = window_request::send(&state.env.state.dir, section) {
                tracing::warn!("cannot ask the settings window to come forward: {e}");
            }
            let (app, pid, answer_by) = (app.clone(), running.id(), answer_by(*started));
            std::thread::spawn(move || replace_if_unanswered(&app, pid, answer_by, section));
            return;
        }
    }
    spawn(&mut child, section);
}

/// When a window started at `started` must have taken a request sent now: within
/// 2 s, or 20 s after its start while it is still starting (WebKit on a loaded machine
/// takes seconds before the window listens; it takes a request then, or drops it at start
/// as one it does not need, since it opens anyway).
fn answer_by(started: Instant) -> Instant {
    let now = Instant::now();
    (now + Duration::from_secs(2)).max(started + Duration::from_secs(20))
}

/// Opens a new window when the window process `pid` has not taken the tray's request by
/// `answer_by`. Its process can look alive and not listen: a window being closed cannot be
/// reaped until WebKit's threads are gone (a click right after closing the window met
/// exactly that, and the click did nothing), or it hangs. The old process is ended, so
/// there are never two windows.
fn replace_if_unanswered<R: Runtime>(
    app: &AppHandle<R>,
    pid: u32,
    answer_by: Instant,
    section: Option<&'static str>,
) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let request = window_request::path(&state.env.state.dir);
    while Instant::now() < answer_by {
        if !request.exists() {
            // Taken: the window answered.
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if std::fs::remove_file(&request).is_err() {
        return;
    }
    let Some(mut child) = state.settings_process.lock() else {
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
    spawn(&mut child, section);
}

/// Starts `headroom-app --settings [--section S]` and keeps its process in `child`.
fn spawn(child: &mut Option<(Child, Instant)>, section: Option<&str>) {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            tracing::error!("cannot find this program to open the settings window: {e}");
            return;
        }
    };
    let mut command = Command::new(exe);
    command.arg(env::SETTINGS_FLAG);
    if let Some(section) = section {
        command.args(["--section", section]);
    }
    match command.stdin(Stdio::null()).spawn() {
        Ok(c) => *child = Some((c, Instant::now())),
        Err(e) => tracing::error!("cannot open the settings window: {e}"),
    }
}

/// Opens the settings window in this process (at `section`, else at Now), or brings it
/// forward if it is open, showing `section` if one is named. It is destroyed on close.
pub fn open<R: Runtime, M: Manager<R>>(manager: &M, section: Option<&str>) {
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
