//! Writes `ui/ipc-types.d.ts`, the settings pane's generated contract (see
//! `headroom_app::ipc_types`). `scripts/check-ui.sh` runs it and fails when the file changed.
//! An example, not a `src/bin` target: Tauri's bundler ships every bin target of the app's
//! package, and this is a developer's tool.

fn main() {
    let path = headroom_app::ipc_types::path();
    if let Err(e) = std::fs::write(&path, headroom_app::ipc_types::declarations()) {
        eprintln!("gen-ipc-types: cannot write {}: {e}", path.display());
        std::process::exit(1);
    }
}
