//! What the desktop must provide before the app can start, checked before anything touches
//! GTK: a display to open, and a rendering mode that does not load the GPU driver for a
//! tray icon.

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

/// The display is set but cannot be opened: GTK panicked while the app was built.
#[derive(Debug, thiserror::Error)]
#[error("headroom-app cannot open the display {display:?}; for terminals and servers use `headroom watch`")]
pub(crate) struct DisplayUnavailable {
    /// `WAYLAND_DISPLAY`, else `DISPLAY`, as the environment names it.
    pub(crate) display: String,
}

/// Runs `build` (the app's build, where GTK starts) and turns a panic into
/// [`DisplayUnavailable`]. GTK panics (inside tao) when `DISPLAY` is set but the display
/// cannot be opened (gone, or not ours: no X authority). That is the user's environment, not
/// a bug: the caller says it in one line, as for no display at all, instead of a panic
/// message and a backtrace hint.
pub(crate) fn guard_display<T>(build: impl FnOnce() -> T) -> Result<T, DisplayUnavailable> {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(build));
    std::panic::set_hook(default_hook);
    built.map_err(|_| DisplayUnavailable {
        display: std::env::var("WAYLAND_DISPLAY")
            .or_else(|_| std::env::var("DISPLAY"))
            .unwrap_or_default(),
    })
}
