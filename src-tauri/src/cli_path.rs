//! Which `headroom` CLI Claude Code's status line should run: the app only installs the line,
//! the CLI prints it on every render.

use headroom_core::account::statusline;

use crate::error::{CmdResult, CommandError, ErrorCode};

/// The status line's command for the `headroom` CLI next to this app (as built and as
/// packaged), else the one on PATH.
pub(crate) fn cli_command() -> CmdResult<String> {
    let name = if cfg!(windows) {
        "headroom.exe"
    } else {
        "headroom"
    };
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file());
    let on_path = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    };
    let path = beside.or_else(on_path).ok_or_else(|| {
        CommandError::new(
            ErrorCode::CliMissing,
            "the `headroom` command is not installed, and Claude Code's status line runs it: install it with `cargo install --path crates/headroom-cli`, then try again",
        )
    })?;
    Ok(statusline::command_for(&path.display().to_string()))
}
