//! The file watcher that wakes the task: a `.jsonl` change under a transcript root's
//! `projects` folder (a new line reaches the front end within a second, after the task's
//! debounce), and a save of `settings.json` in the data folder (the settings window runs as a
//! process of its own: its saves reach the tray through the file).

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use crate::task::Request;

/// The watcher and what it watches; rebuilt when the roots change.
#[derive(Default)]
pub struct Watcher {
    watcher: Option<notify::RecommendedWatcher>,
    roots: Vec<PathBuf>,
    /// Some transcript root could not be watched: the task reads on every wake instead.
    unwatched: bool,
}

impl Watcher {
    /// A watcher that watches nothing yet (and so counts as "unwatched").
    pub fn new() -> Watcher {
        Watcher {
            unwatched: true,
            ..Watcher::default()
        }
    }

    /// Whether some transcript root is not watched, so transcripts must be read every wake.
    pub fn unwatched(&self) -> bool {
        self.unwatched
    }

    /// Watches `roots` (their `projects` folders) and `state_dir`, unless it already does.
    /// Events go to `wake`: [`Request::Transcripts`], or for `settings_file`
    /// [`Request::SettingsChanged`] and a refresh.
    pub fn ensure(
        &mut self,
        roots: Vec<PathBuf>,
        state_dir: &Path,
        settings_file: PathBuf,
        wake: &mpsc::UnboundedSender<Request>,
    ) {
        use notify::Watcher as _;
        if self.watcher.is_some() && roots == self.roots {
            return;
        }
        let wake = wake.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(e) = &event {
                if !e.kind.is_access() && e.paths.contains(&settings_file) {
                    let _ = wake.send(Request::SettingsChanged);
                    let _ = wake.send(Request::Refresh {
                        force: false,
                        reply: None,
                    });
                    return;
                }
            }
            let relevant = match &event {
                Ok(e) => {
                    !e.kind.is_access()
                        && e.paths
                            .iter()
                            .any(|p| p.extension().is_some_and(|x| x == "jsonl") || p.is_dir())
                }
                // Lost events (queue overflow): read everything to be sure.
                Err(_) => true,
            };
            if relevant {
                let _ = wake.send(Request::Transcripts);
            }
        });
        let mut watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!("cannot watch transcripts ({e}); reading them every minute");
                self.unwatched = true;
                return;
            }
        };
        let mut all = true;
        for root in &roots {
            let projects = root.join("projects");
            let target = if projects.is_dir() {
                projects
            } else {
                root.clone()
            };
            if !target.is_dir() {
                // Claude Code may create it later; the minute wake reads it then.
                all = false;
                continue;
            }
            if let Err(e) = watcher.watch(&target, notify::RecursiveMode::Recursive) {
                tracing::warn!("cannot watch {}: {e}", target.display());
                all = false;
            }
        }
        if std::fs::create_dir_all(state_dir).is_ok() {
            if let Err(e) = watcher.watch(state_dir, notify::RecursiveMode::NonRecursive) {
                tracing::warn!("cannot watch {}: {e}", state_dir.display());
            }
        }
        self.unwatched = !all;
        self.watcher = Some(watcher);
        self.roots = roots;
    }
}
