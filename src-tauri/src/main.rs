//! `headroom-app`: the tray app. Everything but the no-display check lives in the library so
//! that tests build the same app with Tauri's mock runtime.

// No console window behind the tray app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    if let Some(message) = headroom_app::platform::missing_display() {
        // Before GTK initialises: without a display it would abort with a long Gtk-WARNING.
        eprintln!("{message}");
        std::process::exit(2);
    }
    headroom_app::platform::prefer_software_rendering();
    std::process::exit(headroom_app::run());
}
