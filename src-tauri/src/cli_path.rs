//! Which `headroom` CLI Claude Code's status line should run: the app only installs the line,
//! the CLI prints it on every render.

use std::path::{Path, PathBuf};

use headroom_core::account::statusline;

use crate::error::{CmdResult, CommandError, ErrorCode};

/// The CLI's file name on this platform.
const CLI_NAME: &str = if cfg!(windows) {
    "headroom.exe"
} else {
    "headroom"
};

/// The status line's command for the `headroom` CLI next to this app, else the one on PATH.
/// Every bundle ships the CLI beside the app (Tauri's `externalBin` sidecar, added by
/// `scripts/bundle.sh`: `/usr/bin/headroom` in the .deb, `Headroom.app/Contents/MacOS/headroom`,
/// `headroom.exe` in the Windows install folder), and a development build has it beside
/// `target/debug/headroom-app`. `state_dir` is Headroom's data folder, where an AppImage's CLI
/// is copied (see [`lasting_path`]).
pub(crate) fn cli_command(state_dir: &Path) -> CmdResult<String> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(CLI_NAME)))
        .filter(|p| p.is_file());
    let on_path = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(CLI_NAME))
                .find(|p| p.is_file())
        })
    };
    let path = match beside {
        Some(beside) => {
            let appdir = std::env::var_os("APPDIR").map(PathBuf::from);
            lasting_path(&beside, appdir.as_deref(), state_dir).map_err(|e| {
                CommandError::new(
                    ErrorCode::Statusline,
                    format!("cannot copy the `headroom` command out of the AppImage into {}: {e}", state_dir.display()),
                )
            })?
        }
        None => on_path().ok_or_else(|| {
            CommandError::new(
                ErrorCode::CliMissing,
                "the `headroom` command is neither beside this app (where its installers put it) nor on PATH, and Claude Code's status line runs it: reinstall Headroom, or install the command with `cargo install --path crates/headroom-cli`, then try again",
            )
        })?,
    };
    Ok(statusline::command_for(&path.display().to_string()))
}

/// A path to the CLI `beside` that still works after this app has quit. An AppImage runs from
/// a mount (`APPDIR`, under /tmp) that disappears when the app quits, so a status line pointing
/// into it would fail on the next render: the CLI is copied to `state_dir/bin/` instead (again
/// at every install, so that a newer AppImage brings its CLI along). Anywhere else the CLI
/// beside the app is where it stays.
fn lasting_path(
    beside: &Path,
    appdir: Option<&Path>,
    state_dir: &Path,
) -> std::io::Result<PathBuf> {
    if !appdir.is_some_and(|appdir| beside.starts_with(appdir)) {
        return Ok(beside.to_owned());
    }
    let dir = state_dir.join("bin");
    std::fs::create_dir_all(&dir)?;
    let copy = dir.join(CLI_NAME);
    // Through a temporary name: a status line running the old copy never sees half a file.
    let partial = dir.join(format!("{CLI_NAME}.partial"));
    std::fs::copy(beside, &partial)?;
    std::fs::rename(&partial, &copy)?;
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_beside_an_installed_app_is_used_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let beside = dir.path().join("usr/bin").join(CLI_NAME);
        std::fs::create_dir_all(beside.parent().unwrap()).unwrap();
        std::fs::write(&beside, b"cli").unwrap();
        let state = dir.path().join("state");
        assert_eq!(lasting_path(&beside, None, &state).unwrap(), beside);
        let elsewhere = dir.path().join("tmp/.mount_Headroom");
        assert_eq!(
            lasting_path(&beside, Some(&elsewhere), &state).unwrap(),
            beside
        );
        assert!(!state.exists(), "nothing copied");
    }

    #[test]
    fn the_cli_inside_an_appimage_is_copied_out_of_its_mount() {
        let dir = tempfile::tempdir().unwrap();
        let appdir = dir.path().join("tmp/.mount_Headroom");
        let beside = appdir.join("usr/bin").join(CLI_NAME);
        std::fs::create_dir_all(beside.parent().unwrap()).unwrap();
        std::fs::write(&beside, b"new cli").unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(state.join("bin")).unwrap();
        std::fs::write(state.join("bin").join(CLI_NAME), b"old").unwrap();
        let lasting = lasting_path(&beside, Some(&appdir), &state).unwrap();
        assert_eq!(lasting, state.join("bin").join(CLI_NAME));
        assert_eq!(
            std::fs::read(&lasting).unwrap(),
            b"new cli",
            "replaced by the newer one"
        );
    }
}
