//! What the settings pane's WebDriver tests share (`settings_webdriver`, `extra_usage_webdriver`):
//! the user's folders, `tauri-driver` started with the app's environment, a session opened
//! at a section, the loopback usage API, and the waits a fresh machine needs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{app_bin, free_port, EnvClearKeepClock};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::account::{usage_server_shared, Server, TOKEN};
use crate::webdriver::{wait_ready, Session};

// Generous: a fresh CI machine starts WebKit cold (no caches, a new HOME per test) on 2
// cores. Only ever waited for something to appear, so a long limit costs nothing when green.
pub const WAIT: Duration = Duration::from_secs(60);
/// How long a WebDriver session may keep failing to start (tauri-driver not listening yet,
/// WebKitWebDriver still starting) before the test gives up.
pub const SESSION_START: Duration = Duration::from_secs(60);

/// The loopback usage API; `body` can be changed while it runs.
pub struct Api {
    pub server: Server,
    pub body: Arc<Mutex<String>>,
}

pub fn serve_api(body: String) -> Api {
    let body = Arc::new(Mutex::new(body));
    Api {
        server: usage_server_shared(body.clone()),
        body,
    }
}

pub fn api_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

pub fn usage_body(session: f64, weekly: f64, extra_usage: Value) -> String {
    let now = Utc::now();
    json!({
        "five_hour": { "utilization": session, "resets_at": api_time(now + chrono::Duration::minutes(134)) },
        "seven_day": { "utilization": weekly, "resets_at": api_time(now + chrono::Duration::hours(77)) },
        "seven_day_opus": { "utilization": 9.0, "resets_at": api_time(now + chrono::Duration::hours(77)) },
        "extra_usage": extra_usage,
    })
    .to_string()
}

/// One assistant response as Claude Code writes it.
pub fn transcript_line(at: DateTime<Utc>, n: usize, input: u64, output: u64) -> String {
    json!({
        "type": "assistant",
        "timestamp": at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "sessionId": "e2e-session",
        "requestId": format!("req_e2e_{n}"),
        "cwd": "/home/dev/src/headroom",
        "version": "2.0.50",
        "message": {
            "id": format!("msg_e2e_{n}"),
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "ok"}],
            "usage": {
                "input_tokens": input,
                "output_tokens": output,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": input * 4
            }
        }
    })
    .to_string()
        + "\n"
}

/// The user's folders: Claude Code's (credentials and 30 days of transcripts) and Headroom's.
pub struct Home {
    pub dir: tempfile::TempDir,
    pub transcript: PathBuf,
}

impl Home {
    #[expect(
        clippy::new_without_default,
        reason = "a Home writes folders and files on disk; `Home::new()` says it makes one, a `Default` would not"
    )]
    pub fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let claude = dir.path().join("claude");
        let project = claude.join("projects/-home-dev-src-headroom");
        std::fs::create_dir_all(&project).unwrap();
        let expires = Utc::now().timestamp_millis() + 8 * 3_600_000;
        std::fs::write(
            claude.join(".credentials.json"),
            format!(
                r#"{{"claudeAiOauth":{{"accessToken":"{TOKEN}","refreshToken":"sk-ant-ort01-unused","expiresAt":{expires},"scopes":["user:inference","user:profile"],"subscriptionType":"max"}}}}"#
            ),
        )
        .unwrap();
        // A month of work with a weekly rhythm, so the daily chart has something to show,
        // and the last hour busy, so there is an active block with a pace.
        let now = Utc::now();
        let mut text = String::new();
        let mut n = 0;
        for day in (1..30).rev() {
            let per_day = [3, 8, 11, 9, 12, 2, 0][day % 7];
            for i in 0..per_day {
                let at =
                    now - chrono::Duration::days(day as i64) + chrono::Duration::minutes(i * 7);
                n += 1;
                text.push_str(&transcript_line(at, n, 9_000 + 700 * i as u64, 2_500));
            }
        }
        for i in 0..12 {
            let at = now - chrono::Duration::minutes(60 - 5 * i);
            n += 1;
            text.push_str(&transcript_line(at, n, 12_000, 3_000));
        }
        let transcript = project.join("e2e-session.jsonl");
        std::fs::write(&transcript, text).unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::create_dir_all(dir.path().join("home/.config")).unwrap();
        Home { dir, transcript }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn settings_file(&self) -> PathBuf {
        self.path("headroom/settings.json")
    }

    /// A stand-in for `xdg-open`: records the URL the app asked to open.
    pub fn fake_browser(&self) -> PathBuf {
        let script = self.path("bin/xdg-open");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$@\" >> '{}'\n",
                self.path("opened.txt").display()
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        script
    }
}

/// `tauri-driver`, killed when dropped.
pub struct Driver {
    pub child: Child,
    pub addr: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole process group: tauri-driver does not stop the WebKitWebDriver it
        // started, which would otherwise outlive the test (and hold its port).
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tauri-driver` with the user's environment, plus `extra` (passed on to the app).
pub fn start_driver(home: &Home, api: &str, log: &Path, extra: &[(&str, &str)]) -> Driver {
    let log = std::fs::File::create(log).unwrap();
    let (port, native) = (free_port(), free_port());
    let browser = home.fake_browser();
    let path = format!(
        "{}:{}",
        browser.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("tauri-driver");
    c.args([
        "--port",
        &port.to_string(),
        "--native-port",
        &native.to_string(),
    ])
    .env_clear_keep_clock()
    .env("PATH", path)
    .env("HOME", home.path("home"))
    .env("XDG_CONFIG_HOME", home.path("home/.config"))
    .env("XDG_DATA_HOME", home.path("home/.local/share"))
    .env("CLAUDE_CONFIG_DIR", home.path("claude"))
    .env("HEADROOM_HOME", home.path("headroom"))
    .env("HEADROOM_ANTHROPIC_API", api)
    .env("HEADROOM_OPEN_SETTINGS", "1")
    // The enable flow asks the account at most once a minute; the loopback server can
    // take more (the app honours this only for loopback API bases).
    .env("HEADROOM_TEST_POLL_FLOOR_MS", "2000")
    .env("HEADROOM_LOG", "info")
    .env("RUST_BACKTRACE", "1")
    .env("BROWSER", &browser)
    .env("TZ", "UTC")
    .env("LANG", "C.UTF-8")
    .stdin(Stdio::null())
    .stdout(Stdio::from(log.try_clone().unwrap()))
    .stderr(Stdio::from(log));
    c.envs(extra.iter().copied());
    // The display, the session bus and X authority come from the wrapper (scripts/ci-gui.sh).
    for keep in [
        "DISPLAY",
        "WAYLAND_DISPLAY",
        "XAUTHORITY",
        "DBUS_SESSION_BUS_ADDRESS",
        "XDG_RUNTIME_DIR",
    ] {
        if let Some(v) = std::env::var_os(keep) {
            c.env(keep, v);
        }
    }
    // Its own process group, so that Drop can stop it with everything it started.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    let child = c
        .spawn()
        .expect("tauri-driver is not installed: cargo install tauri-driver --locked");
    let driver = Driver {
        child,
        addr: format!("127.0.0.1:{port}"),
    };
    wait_ready(&driver.addr, SESSION_START).unwrap();
    driver
}

pub fn artefacts_dir() -> PathBuf {
    let dir = std::env::var_os("HEADROOM_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/gui-artifacts"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn settings_json(home: &Home) -> Option<Value> {
    let text = std::fs::read_to_string(home.settings_file()).ok()?;
    serde_json::from_str(&text).ok()
}

/// The app's settings window at `section` (`--settings --section <section>`, as the tray
/// starts it), at the pane's size. tauri-driver answers before WebKitWebDriver behind it
/// listens, so a first session request may be cut off: retried for ten seconds.
pub fn open_at_section(driver: &Driver, section: &str) -> Session {
    let app = app_bin();
    let started = Instant::now();
    let s = loop {
        match Session::start_tauri(
            &driver.addr,
            app.to_str().unwrap(),
            &["--settings", "--section", section],
        ) {
            Ok(s) => break s,
            Err(e) if started.elapsed() < SESSION_START => {
                eprintln!("session not started yet: {e}");
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => panic!("cannot start a WebDriver session: {e}"),
        }
    };
    let _ = s.set_window_size(760, 560);
    s
}

/// Whether the Extra Usage confirmation dialog is open.
pub fn dialog_open(s: &Session) -> Value {
    s.execute(
        "return document.getElementById('extra-usage-dialog').open",
        json!([]),
    )
    .unwrap()
}
