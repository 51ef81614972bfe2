//! Is anyone showing the tray icon? On Linux the icon is a StatusNotifierItem, and it appears
//! only where a host (a panel) has registered with a `org.kde.StatusNotifierWatcher` on the
//! session bus. GNOME without the "AppIndicator and KStatusNotifierItem Support" extension,
//! and some Wayland desktops, have none: the icon never appears and, with the app living in
//! the tray, the user would see nothing at all.
//!
//! So the tray process asks the bus at start (is the watcher's name owned, and does it say
//! `IsStatusNotifierHostRegistered`), and again whenever the watcher's name changes hands
//! (`NameOwnerChanged`, e.g. the panel quit). A missing host is said once per run, after a
//! grace period for a panel that is still starting: in the log, in a desktop notification
//! with the fix, and by opening the settings window so that the app is visible.
//!
//! A thread of its own that sleeps on the bus between changes: no timer, no polling.
//! Linux only; other platforms always have a tray.

use std::time::Duration;

use futures_util::StreamExt;

pub const WATCHER: &str = "org.kde.StatusNotifierWatcher";
const WATCHER_PATH: &str = "/StatusNotifierWatcher";
/// A panel started at login with the app may take a few seconds to register.
pub const GRACE: Duration = Duration::from_secs(4);

/// What the session bus says about the tray.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayHost {
    Present,
    /// Nobody owns `org.kde.StatusNotifierWatcher`.
    NoWatcher,
    /// A watcher runs, but no host registered with it.
    NoHost,
}

impl TrayHost {
    /// The log line and the notification's body: what is wrong, and the two ways out.
    pub fn explain(self) -> Option<String> {
        let what = match self {
            TrayHost::Present => return None,
            TrayHost::NoWatcher => {
                "nothing on this desktop shows tray icons (no StatusNotifierWatcher on the session bus)"
            }
            TrayHost::NoHost => {
                "nothing on this desktop shows tray icons (a StatusNotifierWatcher runs, but no panel registered with it)"
            }
        };
        Some(format!(
            "Headroom's tray icon cannot appear: {what}. On GNOME, install and enable the \
             extension \"AppIndicator and KStatusNotifierItem Support\"; or use `headroom watch` \
             in a terminal for the same alerts. The settings window is open meanwhile."
        ))
    }
}

async fn check(conn: &zbus::Connection) -> zbus::Result<TrayHost> {
    let bus = zbus::fdo::DBusProxy::new(conn).await?;
    let name = zbus::names::BusName::try_from(WATCHER)?;
    if !bus.name_has_owner(name).await? {
        return Ok(TrayHost::NoWatcher);
    }
    let watcher: zbus::Proxy<'_> = zbus::proxy::Builder::new(conn)
        .destination(WATCHER)
        .path(WATCHER_PATH)
        .interface(WATCHER)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?;
    Ok(
        match watcher
            .get_property::<bool>("IsStatusNotifierHostRegistered")
            .await
        {
            Ok(true) => TrayHost::Present,
            Ok(false) => TrayHost::NoHost,
            // A watcher without the property (an old or odd one): trust that it shows icons
            // rather than open a window on every start.
            Err(e) => {
                tracing::debug!("tray host: {e}");
                TrayHost::Present
            }
        },
    )
}

/// Watches for the rest of the run; calls `missing` once, the first time no host is found
/// (after [`GRACE`]). Returns at once, or when the bus cannot be reached (said in the log).
pub fn watch(missing: impl FnOnce(TrayHost) + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name("headroom-tray-host".into())
        .spawn(move || {
            if let Err(e) = zbus::block_on(run(missing)) {
                tracing::warn!("cannot ask the session bus whether a tray is shown: {e}");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch for a tray host: {e}");
    }
}

async fn run(missing: impl FnOnce(TrayHost)) -> zbus::Result<()> {
    let conn = zbus::Connection::session().await?;
    let bus = zbus::fdo::DBusProxy::new(&conn).await?;
    // Subscribed before the first check, so that a change in between is not missed.
    let mut changes = bus
        .receive_name_owner_changed_with_args(&[(0, WATCHER)])
        .await?;
    loop {
        if check(&conn).await? != TrayHost::Present {
            // Blocking is fine: this thread has nothing else to do.
            std::thread::sleep(GRACE);
            let host = check(&conn).await?;
            if host != TrayHost::Present {
                missing(host);
                // Said once per run; nothing left to watch for.
                return Ok(());
            }
        }
        // Until the watcher's name changes hands (the panel quits or restarts).
        if changes.next().await.is_none() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_explanation_names_the_fix() {
        assert_eq!(TrayHost::Present.explain(), None);
        for host in [TrayHost::NoWatcher, TrayHost::NoHost] {
            let text = host.explain().unwrap();
            assert!(text.contains("AppIndicator and KStatusNotifierItem Support"));
            assert!(text.contains("`headroom watch`"));
        }
    }
}
