//! The tray app on a D-Bus session bus of the test's own (`crate::dbus::Bus`): started with
//! the user's folders and a loopback API, its StatusNotifierItem and dbusmenu read and
//! clicked with `busctl --address`, its child processes found in `/proc`. A private bus per
//! test lets tests run side by side: the app is single-instance per bus.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{app_bin, EnvClearKeepClock};
use serde_json::Value;

/// Only ever waited for something to appear: generous for a fresh CI machine (cold WebKit, 2 cores).
pub const WAIT: Duration = Duration::from_secs(60);

/// A process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `busctl --address=<bus>`; stdout on success.
pub fn busctl(bus: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("busctl")
        .arg(format!("--address={bus}"))
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits for `probe`, panicking with `log`'s contents after [`WAIT`].
pub fn wait_for<T>(what: &str, log: &Path, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if start.elapsed() > WAIT {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("timed out waiting for {what}; the app's log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts Debian's `status-notifier-watcher` on `bus` and registers a host with it, as a
/// panel does (the watcher alone says `IsStatusNotifierHostRegistered` false: nothing would
/// show the icon).
pub fn start_tray_host(bus: &str) -> Proc {
    let child = Command::new("status-notifier-watcher")
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("status-notifier-watcher (Debian: haskell-status-notifier-item-utils)");
    let p = Proc(child);
    let start = Instant::now();
    while busctl(bus, &["status", "org.kde.StatusNotifierWatcher"]).is_none() {
        assert!(
            start.elapsed() < WAIT,
            "the StatusNotifierWatcher never came"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    register_host(bus);
    p
}

/// Tells the watcher on `bus` that a host (a panel) shows items.
pub fn register_host(bus: &str) {
    let registered = busctl(
        bus,
        &[
            "call",
            "org.kde.StatusNotifierWatcher",
            "/StatusNotifierWatcher",
            "org.kde.StatusNotifierWatcher",
            "RegisterStatusNotifierHost",
            "s",
            "org.kde.StatusNotifierHost-headroom-tests",
        ],
    );
    assert!(registered.is_some(), "RegisterStatusNotifierHost failed");
}

/// The user's folders and the app's environment.
pub struct App {
    pub bus: String,
    pub claude: PathBuf,
    pub headroom: PathBuf,
    pub log: PathBuf,
    pub home: PathBuf,
}

impl App {
    pub fn new(root: &Path, bus: &str) -> App {
        let app = App {
            bus: bus.to_owned(),
            claude: root.join("claude"),
            headroom: root.join("headroom"),
            log: root.join("app.log"),
            home: root.to_owned(),
        };
        std::fs::create_dir_all(&app.claude).unwrap();
        app
    }

    /// The built `headroom-app` with only this user's environment; `api` is the OAuth base.
    pub fn command(&self, api: &str) -> Command {
        let mut c = Command::new(app_bin());
        c.env_clear_keep_clock()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DISPLAY", std::env::var_os("DISPLAY").unwrap_or_default())
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .env(
                "XAUTHORITY",
                std::env::var_os("XAUTHORITY").unwrap_or_default(),
            )
            .env("HOME", &self.home)
            .env("XDG_RUNTIME_DIR", &self.home)
            .env("CLAUDE_CONFIG_DIR", &self.claude)
            .env("HEADROOM_HOME", &self.headroom)
            .env("HEADROOM_ANTHROPIC_API", api)
            .env("HEADROOM_CLAUDE_AI", "http://127.0.0.1:9")
            .env("HEADROOM_NO_BROWSER", "1")
            .env("HEADROOM_TEST_POLL_FLOOR_MS", "0")
            .env("HEADROOM_LOG", "info")
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&self.log).unwrap());
        c
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the app's StatusNotifierItem: (bus name, object path).
    pub fn item(&self) -> (String, String) {
        wait_for("the StatusNotifierItem", &self.log, || item(&self.bus))
    }

    /// Every menu item as (id, label, enabled), depth first.
    pub fn menu(&self, item: &(String, String)) -> Vec<(i64, String, bool)> {
        menu(&self.bus, &item.0, &item.1)
    }

    pub fn labels(&self, item: &(String, String)) -> Vec<String> {
        self.menu(item).into_iter().map(|(_, l, _)| l).collect()
    }

    /// Waits until some row satisfies `want`; returns the menu then.
    pub fn wait_row(
        &self,
        item: &(String, String),
        what: &str,
        want: impl Fn(&str) -> bool,
    ) -> Vec<(i64, String, bool)> {
        wait_for(what, &self.log, || {
            let items = self.menu(item);
            items.iter().any(|(_, l, _)| want(l)).then_some(items)
        })
    }

    /// Clicks the item whose label is `label` (or starts with it).
    pub fn click(&self, item: &(String, String), label: &str) {
        let id = self
            .menu(item)
            .into_iter()
            .find(|(_, l, _)| l.starts_with(label))
            .map(|(id, _, _)| id)
            .unwrap_or_else(|| panic!("no menu item {label:?}"));
        click_id(&self.bus, &item.0, &item.1, id);
    }
}

/// Clicks the menu item `id` of the item (`name`, `path`), as a panel does.
pub fn click_id(bus: &str, name: &str, path: &str, id: i64) {
    let ok = busctl(
        bus,
        &[
            "call",
            name,
            &format!("{path}/Menu"),
            "com.canonical.dbusmenu",
            "Event",
            "isvu",
            &id.to_string(),
            "clicked",
            "i",
            "0",
            "0",
        ],
    );
    assert!(ok.is_some(), "clicking menu item {id} failed");
}

/// The newest registered item as (bus name, object path).
pub fn item(bus: &str) -> Option<(String, String)> {
    let out = busctl(
        bus,
        &[
            "--json=short",
            "get-property",
            "org.kde.StatusNotifierWatcher",
            "/StatusNotifierWatcher",
            "org.kde.StatusNotifierWatcher",
            "RegisteredStatusNotifierItems",
        ],
    )?;
    let v: Value = serde_json::from_str(&out).ok()?;
    // The newest: an app started again in the same session registers after the old one.
    let entry = v["data"].as_array()?.last()?.as_str()?.to_owned();
    let (name, path) = match entry.find('/') {
        Some(i) => (entry[..i].to_owned(), entry[i..].to_owned()),
        None => (entry.clone(), String::new()),
    };
    if !path.is_empty() {
        return Some((name, path));
    }
    let tree = busctl(bus, &["tree", &name, "--list"])?;
    let path = tree
        .lines()
        .map(str::trim)
        .find(|l| l.contains("NotificationItem/") && !l.ends_with("/Menu"))?
        .to_owned();
    Some((name, path))
}

/// Every menu item of the item (`name`, `path`) as (id, label, enabled), depth first.
pub fn menu(bus: &str, name: &str, path: &str) -> Vec<(i64, String, bool)> {
    let Some(out) = busctl(
        bus,
        &[
            "--json=short",
            "call",
            name,
            &format!("{path}/Menu"),
            "com.canonical.dbusmenu",
            "GetLayout",
            "iias",
            "--",
            "0",
            "-1",
            "0",
        ],
    ) else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    let mut items = Vec::new();
    fn walk(node: &Value, items: &mut Vec<(i64, String, bool)>) {
        // (id, {properties}, [children as variants])
        let id = node[0].as_i64().unwrap_or(-1);
        let props = &node[1];
        if let Some(label) = props["label"]["data"].as_str() {
            let enabled = props["enabled"]["data"].as_bool().unwrap_or(true);
            items.push((id, label.replace('_', ""), enabled));
        }
        if let Some(children) = node[2].as_array() {
            for child in children {
                walk(&child["data"], items);
            }
        }
    }
    walk(&v["data"][1], &mut items);
    items
}

/// The arguments of `parent`'s live child processes (zombies left out).
pub fn children(parent: u32) -> Vec<(u32, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let mut after = stat.rsplit(')').next()?.split_whitespace();
            let state = after.next()?;
            let ppid: u32 = after.next()?.parse().ok()?;
            if ppid != parent || state == "Z" {
                return None;
            }
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args = cmdline
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some((pid, args))
        })
        .collect()
}

/// The settings window's process started by the tray `parent`, with its arguments.
pub fn settings_window(parent: u32) -> Option<(u32, Vec<String>)> {
    children(parent)
        .into_iter()
        .find(|(_, args)| args.iter().any(|a| a == "--settings"))
}
