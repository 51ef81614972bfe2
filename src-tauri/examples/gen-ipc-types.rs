//! Writes `ui/ipc-types.d.ts`, the settings pane's generated contract (see
//! `headroom_app::ipc_types`). `scripts/test.sh` runs it and fails when the file changed.

fn main() {
    let path = headroom_app::ipc_types::path();
    if let Err(e) = std::fs::write(&path, headroom_app::ipc_types::declarations()) {
        eprintln!("gen-ipc-types: cannot write {}: {e}", path.display());
        std::process::exit(1);
    }
}
