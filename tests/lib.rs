//! What the tests of every package share: the built binaries, the loopback HTTP server
//! ([`http`]), a user's folders and the `headroom` CLI run in them, with the loopback account
//! ([`account`]), a private D-Bus bus with a recording notification server ([`dbus`]), a
//! WebDriver client ([`webdriver`]), and what the settings pane's and the tray's desktop tests
//! share ([`pane`], [`tray`]), and a transcript line ([`transcript_line`]). The tests themselves are `tests/it/` (one binary).

pub mod account;
pub mod dbus;
pub mod http;
pub mod pane;
pub mod tray;
pub mod webdriver;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// A loopback port free at the time of asking (for a program the test starts, which binds it
/// itself: tauri-driver, `headroom serve`, Prometheus).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `headroom` CLI: `$HEADROOM_BIN` if set, else built (see [`built_binary`]).
/// `GET /metrics` on loopback `port`: the page, or `None` while nothing serves it (the
/// metrics tests of the pane and the tray).
pub fn metrics_page(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.starts_with("HTTP/1.1 200").then_some(text)
}

pub fn headroom_bin() -> PathBuf {
    built_binary("headroom-cli", "headroom", "HEADROOM_BIN")
}

/// The tray app: `$HEADROOM_APP_BIN` if set, else built (see [`built_binary`]).
pub fn app_bin() -> PathBuf {
    built_binary("headroom-app", "headroom-app", "HEADROOM_APP_BIN")
}

/// Binary `bin` of `package`: the path in `$override_var` if set, else built with the cargo
/// that runs the tests, into the same target folder and profile (a no-op when up to date), so
/// a test never runs a stale binary. Built once per test process.
///
/// Panics (these are tests) when the build fails or the test runs from an unexpected place.
pub fn built_binary(package: &str, bin: &str, override_var: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    if let Some(path) = std::env::var_os(override_var) {
        return PathBuf::from(path);
    }
    // Held while building: two tests of one process asking at once build it once.
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get_or_insert_with(HashMap::new).get(bin) {
        return path.clone();
    }
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<bin>
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps")
        .to_owned();
    let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "-p", package, "--bin", bin])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("running cargo build");
    assert!(status.success(), "building {bin} failed");
    let path = profile_dir.join(bin);
    built
        .get_or_insert_with(HashMap::new)
        .insert(bin.to_owned(), path.clone());
    path
}

/// `Command::env_clear`, keeping what carries a faked clock into the child.
///
/// `scripts/test-clock.sh` runs the tests under libfaketime (`LD_PRELOAD` and `FAKETIME*`);
/// a child started with a clean environment would read the real clock while the test and its
/// loopback servers read the faked one. Outside such a run there is nothing to keep.
pub trait EnvClearKeepClock {
    fn env_clear_keep_clock(&mut self) -> &mut Command;
}

impl EnvClearKeepClock for Command {
    fn env_clear_keep_clock(&mut self) -> &mut Command {
        self.env_clear();
        for (name, value) in std::env::vars_os() {
            let keep = name
                .to_str()
                .is_some_and(|n| n == "LD_PRELOAD" || n.starts_with("FAKETIME"));
            if keep {
                self.env(name, value);
            }
        }
        self
    }
}

/// One assistant response at `at_ms` as Claude Code writes it (Sonnet 4.5, 1,000 input and 500
/// output tokens), with ids made from `n`; ends with a newline. The service's and the app's
/// tests append it to a transcript while the task runs.
pub fn transcript_line(at_ms: i64, n: usize) -> String {
    let at = chrono::DateTime::from_timestamp_millis(at_ms).unwrap();
    serde_json::json!({
        "type": "assistant",
        "timestamp": at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "sessionId": "s1",
        "requestId": format!("req_{n}"),
        "message": {"id": format!("msg_{n}"), "model": "claude-sonnet-4-5-20250929",
                    "usage": {"input_tokens": 1000, "output_tokens": 500}}
    })
    .to_string()
        + "\n"
}

/// Whether test `test` (its full name, `area::name`) has just run, and passed, in a process
/// where no other test runs: a test that sets process-wide environment variables (`set_var`,
/// unsound while another thread reads the environment) begins with
/// `if headroom_tests::ran_in_own_process("area::name") { return; }`.
///
/// Under nextest (one process per test, `NEXTEST_EXECUTION_MODE=process-per-test`) this
/// process is already the test's own: `false`, and the test runs here. Under `cargo test`
/// (every test a thread of one process, as in the macOS and Windows jobs) the test binary runs
/// again in a child that runs only `test`; this fails unless the child ran exactly that test and
/// it passed (a wrong name fails, it never passes without running), then says `true`. In that
/// child it says `false`.
pub fn ran_in_own_process(test: &str) -> bool {
    const CHILD: &str = "HEADROOM_TEST_OWN_PROCESS";
    let alone = std::env::var_os("NEXTEST_EXECUTION_MODE").is_some_and(|m| m == "process-per-test")
        || std::env::var_os(CHILD).is_some_and(|t| t == test);
    if alone {
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .expect("running the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test} in a process of its own: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    true
}
