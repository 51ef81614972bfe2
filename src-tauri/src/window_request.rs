//! The tray asks an open settings window to come forward, at a section.
//!
//! The window is a process of its own (see [`crate::settings_window`]), so the tray cannot call
//! into it. It writes the section to a small file in the state folder instead (atomically:
//! the window reads the old request or the new one, never half of one), and the window
//! process, watching the folder, reads the file, removes it, comes forward and selects the
//! section. Without this, "Enable Extra Usage…" and the trap notification's button did
//! nothing while the window was open elsewhere on the desk.
//!
//! A file rather than a pipe to the child's stdin: it needs no handle kept in the tray, works
//! the same on every platform, and a test can play either side of it (write the request to a
//! window under WebDriver; see the tray's request in the folder).

use std::path::{Path, PathBuf};

use tauri::{AppHandle, Manager, Runtime};

use crate::env::SECTIONS;

/// The request's file name in the state folder.
pub const FILE_NAME: &str = "settings-window-request";

/// What the request says for "come forward where you are".
const SHOW: &str = "show";

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// Asks the running window to come forward, at `section` if one is named.
pub fn send(state_dir: &Path, section: Option<&str>) -> std::io::Result<()> {
    headroom_core::settings::write_atomically(&path(state_dir), section.unwrap_or(SHOW).as_bytes())
}

/// What a request's text asks for: `Some(None)` to come forward where it is, `Some(section)`
/// to show that section too, `None` for text that names nothing known (ignored).
pub fn parse(text: &str) -> Option<Option<&'static str>> {
    match text.trim() {
        SHOW | "" => Some(None),
        name => SECTIONS.iter().copied().find(|s| *s == name).map(Some),
    }
}

/// Keeps the folder watched for as long as the window process runs.
pub struct Listener {
    _watcher: notify::RecommendedWatcher,
}

/// Watches `state_dir` for requests and answers each on the main thread with
/// [`crate::settings_window::open`]. A request left from an earlier window is removed first: it was
/// meant for a window that is gone. (One the tray writes while this window is still starting
/// goes with it; the window is coming forward anyway, at the section it was started for.)
pub fn listen<R: Runtime>(app: &AppHandle<R>, state_dir: &Path) -> notify::Result<Listener> {
    use notify::Watcher as _;
    let file = path(state_dir);
    let _ = std::fs::remove_file(&file);
    let handle = app.clone();
    let watched = file.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() || event.kind.is_remove() || !event.paths.contains(&watched) {
            return;
        }
        // Gone already: an earlier event for the same request took it.
        let Ok(text) = std::fs::read_to_string(&watched) else {
            return;
        };
        let _ = std::fs::remove_file(&watched);
        let Some(section) = parse(&text) else {
            tracing::warn!("settings window: ignoring a request for {:?}", text.trim());
            return;
        };
        let app = handle.clone();
        let shown = handle.run_on_main_thread(move || {
            crate::settings_window::open(&app, section);
            tracing::info!(
                "settings window: brought forward at the tray's request ({})",
                section.unwrap_or("where it was")
            );
        });
        if let Err(e) = shown {
            tracing::warn!("settings window: cannot come forward: {e}");
        }
    })?;
    std::fs::create_dir_all(state_dir)?;
    watcher.watch(state_dir, notify::RecursiveMode::NonRecursive)?;
    Ok(Listener { _watcher: watcher })
}

/// The window process's answer to a request, as [`listen`] runs it.
pub fn manage<R: Runtime>(app: &AppHandle<R>, state_dir: &Path) {
    match listen(app, state_dir) {
        Ok(listener) => {
            tracing::info!("settings window: listening for the tray's requests");
            app.manage(listener);
        }
        Err(e) => tracing::warn!(
            "settings window: cannot watch {} for the tray's requests ({e}); the tray cannot bring it forward",
            state_dir.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_a_section_or_none() {
        assert_eq!(parse("extra"), Some(Some("extra")));
        assert_eq!(parse(" sources\n"), Some(Some("sources")));
        assert_eq!(parse("show"), Some(None));
        assert_eq!(parse(""), Some(None));
        assert_eq!(parse("../../etc"), None);
        assert_eq!(parse("Extra"), None);
    }

    #[test]
    fn what_is_sent_is_what_is_read() {
        let dir = tempfile::tempdir().unwrap();
        send(dir.path(), Some("extra")).unwrap();
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert_eq!(parse(&text), Some(Some("extra")));
        send(dir.path(), None).unwrap();
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert_eq!(parse(&text), Some(None));
    }
}
