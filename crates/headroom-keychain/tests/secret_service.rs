//! The keychain store against a real Secret Service: Debian's `gnome-keyring-daemon` on a
//! private `dbus-daemon`, and the same calls with no Secret Service (a bus without one, and
//! no bus at all), which must fail with a message that says how to fix it.
//!
//! Linux only. The D-Bus address is process-wide (libdbus reads `DBUS_SESSION_BUS_ADDRESS`),
//! so the scenarios run one at a time behind a lock.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use headroom_core::account::{Secret, SecretStore, CLAUDE_AI_SESSION_KEY};
use headroom_keychain::KeychainStore;

static ENV: Mutex<()> = Mutex::new(());

/// A private session bus with no service directories: nothing is activated behind the test's
/// back (Debian's gnome-keyring is D-Bus-activatable on a normal session bus).
struct Bus {
    child: Child,
    address: String,
    dir: tempfile::TempDir,
}

impl Bus {
    fn start() -> Bus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("session.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.path().display()
            ),
        )
        .unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1", "--nopidfile"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start dbus-daemon ({e}): install Debian's `dbus` package")
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        Bus {
            child,
            address,
            dir,
        }
    }

    fn has_owner(&self, name: &str) -> bool {
        let out = Command::new("dbus-send")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
            ])
            .arg(format!("string:{name}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("boolean true")
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `gnome-keyring-daemon` serving the Secret Service on `bus`, its keyrings in a temp folder,
/// the login keyring created and unlocked with a password on stdin.
struct GnomeKeyring {
    child: Child,
}

impl GnomeKeyring {
    fn start(bus: &Bus, data: &Path) -> GnomeKeyring {
        let mut child = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("HOME", data)
            .env("XDG_DATA_HOME", data.join("share"))
            .env("XDG_RUNTIME_DIR", data)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start gnome-keyring-daemon ({e}): install Debian's `gnome-keyring` (scripts/setup.sh does)")
            });
        {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(b"test-password").unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while !bus.has_owner("org.freedesktop.secrets") {
            assert!(
                Instant::now() < deadline,
                "gnome-keyring-daemon did not take org.freedesktop.secrets"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        GnomeKeyring { child }
    }
}

impl Drop for GnomeKeyring {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn with_bus_address<T>(address: &str, f: impl FnOnce() -> T) -> T {
    let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", address);
    f()
}

#[test]
fn round_trip_through_gnome_keyring() {
    let bus = Bus::start();
    let _keyring = GnomeKeyring::start(&bus, bus.dir.path());
    with_bus_address(&bus.address, || {
        let store = KeychainStore::new();
        assert_eq!(store.get(CLAUDE_AI_SESSION_KEY).unwrap(), None);
        store
            .set(
                CLAUDE_AI_SESSION_KEY,
                &Secret::new("sk-ant-sid01-keychain-test"),
            )
            .unwrap();
        let got = store.get(CLAUDE_AI_SESSION_KEY).unwrap().unwrap();
        assert_eq!(got.expose(), "sk-ant-sid01-keychain-test");

        // A second store (another process would do the same) sees it: it is in the daemon,
        // not in this object.
        let other = KeychainStore::new();
        assert_eq!(
            other.get(CLAUDE_AI_SESSION_KEY).unwrap().unwrap().expose(),
            "sk-ant-sid01-keychain-test"
        );

        // Replacing keeps one entry.
        store
            .set(CLAUDE_AI_SESSION_KEY, &Secret::new("sk-ant-sid01-second"))
            .unwrap();
        assert_eq!(
            other.get(CLAUDE_AI_SESSION_KEY).unwrap().unwrap().expose(),
            "sk-ant-sid01-second"
        );

        store.delete(CLAUDE_AI_SESSION_KEY).unwrap();
        assert_eq!(store.get(CLAUDE_AI_SESSION_KEY).unwrap(), None);
        // Deleting what is not there is fine.
        store.delete(CLAUDE_AI_SESSION_KEY).unwrap();
    });
    // The secret went to the daemon's keyring file, encrypted: never in plain text on disk.
    let mut plain = Vec::new();
    for entry in walk(bus.dir.path()) {
        if std::fs::read(&entry)
            .map(|b| {
                b.windows(b"keychain-test".len())
                    .any(|w| w == b"keychain-test")
            })
            .unwrap_or(false)
        {
            plain.push(entry);
        }
    }
    assert!(plain.is_empty(), "secret in plain text in {plain:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    out
}

fn assert_explains(e: &headroom_core::account::SecretStoreError) {
    let text = e.to_string();
    eprintln!("{text}");
    assert!(
        text.contains("no keychain service answered"),
        "says what is wrong: {text}"
    );
    assert!(text.contains("gnome-keyring"), "says how to fix it: {text}");
    assert!(!text.contains("sk-ant"), "never the secret: {text}");
}

#[test]
fn a_bus_without_a_secret_service_is_a_clear_error_and_nothing_is_kept() {
    let bus = Bus::start();
    with_bus_address(&bus.address, || {
        let store = KeychainStore::new();
        let e = store
            .set(CLAUDE_AI_SESSION_KEY, &Secret::new("sk-ant-sid01-nowhere"))
            .unwrap_err();
        assert_explains(&e);
        assert_explains(&store.get(CLAUDE_AI_SESSION_KEY).unwrap_err());
        assert_explains(&store.delete(CLAUDE_AI_SESSION_KEY).unwrap_err());
        // Not silently kept in memory: a fresh store cannot read it either, and the same
        // store still fails.
        assert!(store.get(CLAUDE_AI_SESSION_KEY).is_err());
    });
}

#[test]
fn no_session_bus_at_all_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:path={}", dir.path().join("no-bus").display());
    with_bus_address(&address, || {
        let store = KeychainStore::new();
        assert_explains(
            &store
                .set(CLAUDE_AI_SESSION_KEY, &Secret::new("sk-ant-sid01-nowhere"))
                .unwrap_err(),
        );
        assert_explains(&store.get(CLAUDE_AI_SESSION_KEY).unwrap_err());
    });
}
