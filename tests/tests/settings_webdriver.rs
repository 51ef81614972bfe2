//! The settings pane end to end, in the real webview: the built tray app (`headroom-app`)
//! under `tauri-driver` and WebKitWebDriver, inside Xvfb and a D-Bus session, against a
//! loopback server answering like Anthropic's OAuth usage endpoint, with a temporary
//! `HEADROOM_HOME` and a Claude Code folder holding credentials and transcripts.
//!
//! As a person would use it: the gauges show the server's numbers; "-5" (and "abc", "1e9",
//! nothing) as the cap shows an error and leaves the settings file alone; 50 and the switch
//! save the cap to disk, open the account page in the "browser" and wait; the server then
//! reports Extra Usage on and the pane confirms; a transcript line appended on disk moves the
//! block's figures. A screenshot of the pane goes to the artefacts folder (and, with
//! `HEADROOM_DOCS_SCREENSHOT=1`, to `docs/img/settings.png`).
//!
//! Needs a display, a session bus, `tauri-driver` and `WebKitWebDriver`, so it is `#[ignore]`d
//! in a plain `cargo test` (listed as skipped, with the reason) and run by `scripts/ci-gui.sh`,
//! which provides all of them: `cargo nextest run -p headroom-tests --test settings_webdriver
//! --run-ignored only`. The test starts `tauri-driver` itself, because tauri-driver hands the
//! app no per-session environment and the app reads its folders and API base from it.
//!
//! The app binary: `$HEADROOM_APP_BIN` if set, else built here with the cargo that runs the
//! tests (a no-op when up to date).

mod support_http;
mod support_webdriver;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use headroom_tests::{app_bin, EnvClearKeepClock};
use serde_json::{json, Value};
use support_http::{authorized, usage_server_shared, Server, TOKEN};
use support_webdriver::{wait_ready, Session};

const WAIT: Duration = Duration::from_secs(20);

/// The loopback usage API; `body` can be changed while it runs.
struct Api {
    server: Server,
    body: Arc<Mutex<String>>,
}

fn serve_api(body: String) -> Api {
    let body = Arc::new(Mutex::new(body));
    Api {
        server: usage_server_shared(body.clone()),
        body,
    }
}

fn api_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

fn usage_body(session: f64, weekly: f64, extra_usage: Value) -> String {
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
fn transcript_line(at: DateTime<Utc>, n: usize, input: u64, output: u64) -> String {
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
struct Home {
    dir: tempfile::TempDir,
    transcript: PathBuf,
}

impl Home {
    fn new() -> Home {
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

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn settings_file(&self) -> PathBuf {
        self.path("headroom/settings.json")
    }

    /// A stand-in for `xdg-open`: records the URL the app asked to open.
    fn fake_browser(&self) -> PathBuf {
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
struct Driver {
    child: Child,
    addr: String,
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `tauri-driver` with the user's environment, plus `extra` (passed on to the app).
fn start_driver(home: &Home, api: &Api, log: &Path, extra: &[(&str, &str)]) -> Driver {
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
    .env("HEADROOM_ANTHROPIC_API", &api.server.base)
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
    wait_ready(&driver.addr, Duration::from_secs(20)).unwrap();
    driver
}

fn artefacts_dir() -> PathBuf {
    let dir = std::env::var_os("HEADROOM_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/gui-artifacts"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn settings_json(home: &Home) -> Option<Value> {
    let text = std::fs::read_to_string(home.settings_file()).ok()?;
    serde_json::from_str(&text).ok()
}

#[test]
#[ignore = "needs Xvfb, a D-Bus session, tauri-driver and WebKitWebDriver: run scripts/ci-gui.sh"]
fn settings_pane_end_to_end() {
    assert!(
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some(),
        "no display: run this test through scripts/ci-gui.sh (Xvfb + D-Bus + tauri-driver)"
    );
    let app = app_bin();
    let home = Home::new();
    let extra_off = json!({"is_enabled": false, "monthly_limit": null, "used_credits": null, "utilization": null});
    let api = serve_api(usage_body(42.0, 17.0, extra_off));
    let artefacts = artefacts_dir();
    let driver = start_driver(&home, &api, &artefacts.join("tauri-driver.log"), &[]);

    // Launch to the first paint with the server's numbers.
    let launched = Instant::now();
    // tauri-driver answers /status before WebKitWebDriver behind it listens: a first
    // session request can be cut off. Retried briefly; any other failure is reported.
    let mut attempt = 0;
    // Through a wrapper that keeps the app's own stderr (WebKitWebDriver drops it).
    let wrapper = home.path("bin/headroom-app-logged");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n'{app}' \"$@\" 2>>'{log}'\necho \"headroom-app exited with status $?\" >>'{log}'\n",
            app = app.display(),
            log = artefacts.join("app.log").display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let _ = std::fs::remove_file(artefacts.join("app.log"));
    let s = loop {
        match Session::start_tauri(&driver.addr, wrapper.to_str().unwrap(), &[]) {
            Ok(s) => break s,
            Err(e) if attempt < 20 && launched.elapsed() < Duration::from_secs(10) => {
                attempt += 1;
                eprintln!("session not started yet: {e}");
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => panic!("cannot start a WebDriver session: {e}"),
        }
    };
    let session_started = launched.elapsed();
    let _ = s.set_window_size(760, 560);
    s.wait_text("#session-percent", WAIT, |t| t == "42 %")
        .unwrap();
    let first_data = launched.elapsed();
    let page_first_data = s
        .execute(
            "return document.body.dataset.firstDataMs || null",
            json!([]),
        )
        .unwrap();
    assert_eq!(
        s.text_of("#weekly-percent").unwrap().as_deref(),
        Some("17 %")
    );
    let reset = s.text_of("#session-reset").unwrap().unwrap_or_default();
    assert!(reset.starts_with("resets in 2 h 1"), "{reset}");
    assert!(
        api.server
            .requests()
            .iter()
            .any(|r| r.path == "/api/oauth/usage" && authorized(r)),
        "the app never asked the API"
    );
    s.wait_text("#extra-usage-state", WAIT, |t| t.starts_with("Off"))
        .unwrap();
    // The local block from the transcript: a pace and a total.
    let block_before = s
        .wait_text("#block-total", WAIT, |t| t.contains("tokens"))
        .unwrap();
    // The 30-day chart has one bar per day.
    let bars = s
        .execute(
            "return document.querySelectorAll('#daily-chart rect.bar').length",
            json!([]),
        )
        .unwrap();
    assert_eq!(bars.as_u64(), Some(30), "daily bars");
    println!(
        "timing: session created after {} ms, first data painted after {} ms (page: {page_first_data} ms after navigation start)",
        session_started.as_millis(),
        first_data.as_millis()
    );

    // Keyboard: the nav is a tab list; ArrowDown moves to the next section and focuses it.
    s.find("#tab-now").unwrap().send_keys("\u{E015}").unwrap();
    let selected = s
        .execute(
            "return [document.activeElement.id, \
             document.getElementById('tab-extra').getAttribute('aria-selected'), \
             document.getElementById('panel-extra').hidden, \
             document.getElementById('panel-now').hidden]",
            json!([]),
        )
        .unwrap();
    assert_eq!(
        selected,
        json!(["tab-extra", "true", false, true]),
        "arrow key in the nav"
    );
    s.find("#tab-extra").unwrap().send_keys("\u{E013}").unwrap();
    s.wait_for("the Now tab again", WAIT, |s| {
        let v = s.execute("return document.activeElement.id", json!([]))?;
        Ok((v == json!("tab-now")).then_some(()))
    })
    .unwrap();

    // Bad caps: an inline error, nothing saved.
    s.find("#tab-extra").unwrap().click().unwrap();
    let before = std::fs::read(home.settings_file()).ok();
    let input = s.find("#cap-input").unwrap();
    for (bad, expected) in [
        ("-5", "more than zero"),
        ("abc", "is not an amount"),
        ("1e9", "is not an amount"),
        ("", "enter an amount"),
    ] {
        input.clear().unwrap();
        if !bad.is_empty() {
            input.send_keys(bad).unwrap();
        }
        s.find("#cap-save").unwrap().click().unwrap();
        let shown = s.wait_text("#cap-error", WAIT, |t| !t.is_empty()).unwrap();
        assert!(shown.to_lowercase().contains(expected), "{bad:?}: {shown}");
        assert_eq!(
            std::fs::read(home.settings_file()).ok(),
            before,
            "{bad:?} changed the settings file"
        );
        let invalid = s
            .execute(
                "return document.getElementById('cap-input').getAttribute('aria-invalid')",
                json!([]),
            )
            .unwrap();
        assert_eq!(
            invalid,
            json!("true"),
            "{bad:?}: the box is not marked invalid"
        );
    }
    let switched_on = s
        .execute(
            "return document.getElementById('extra-usage-switch').checked",
            json!([]),
        )
        .unwrap();
    assert_eq!(switched_on, json!(false));
    s.screenshot()
        .map(|png| std::fs::write(artefacts.join("settings-cap-error.png"), png).unwrap())
        .unwrap();

    // 50 and the switch: the cap is on disk, the account page opened, the pane waits.
    input.clear().unwrap();
    input.send_keys("50").unwrap();
    s.find("label.switch").unwrap().click().unwrap();
    s.wait_for("the cap in settings.json", WAIT, |_| {
        Ok(settings_json(&home)
            .and_then(|v| v["extra_usage"]["chosen_cap"].as_f64())
            .filter(|cap| (cap - 50.0).abs() < 1e-9))
    })
    .unwrap();
    assert_eq!(s.text_of("#cap-error").unwrap().as_deref(), Some(""));
    // The file is written by the command; the pane shows it once the answer is back.
    s.wait_text("#chosen-cap", WAIT, |t| t == "$50.00").unwrap();
    s.wait_text("#extra-usage-status", WAIT, |t| {
        t.to_lowercase()
            .contains("waiting for your account to confirm")
    })
    .unwrap();
    let opened = s
        .wait_for("the account page opened", WAIT, |_| {
            Ok(std::fs::read_to_string(home.path("opened.txt")).ok())
        })
        .unwrap();
    assert!(opened.contains("https://claude.ai/settings/"), "{opened}");

    // The account reports Extra Usage on with the same cap: the pane confirms.
    *api.body.lock().unwrap() = usage_body(
        42.0,
        17.0,
        json!({"is_enabled": true, "monthly_limit": 5000, "used_credits": 0, "utilization": 0, "currency": "USD"}),
    );
    let confirmed = s
        .wait_text("#extra-usage-status", Duration::from_secs(90), |t| {
            t.contains("confirmed")
        })
        .unwrap();
    println!("extra usage: {confirmed}");
    assert_eq!(
        s.text_of("#account-cap").unwrap().as_deref(),
        Some("$50.00")
    );
    assert_eq!(s.text_of("#cap-mismatch").unwrap().as_deref(), Some(""));
    assert_eq!(
        s.execute(
            "return document.getElementById('extra-usage-switch').checked",
            json!([])
        )
        .unwrap(),
        json!(true)
    );
    s.screenshot()
        .map(|png| std::fs::write(artefacts.join("settings-extra-usage.png"), png).unwrap())
        .unwrap();

    // A transcript line appended on disk moves the block's figures, live.
    s.find("#tab-now").unwrap().click().unwrap();
    let appended = Instant::now();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&home.transcript)
        .unwrap();
    f.write_all(transcript_line(Utc::now(), 10_000, 400_000, 20_000).as_bytes())
        .unwrap();
    drop(f);
    let block_after = s
        .wait_text("#block-total", WAIT, |t| {
            t.contains("tokens") && t != block_before
        })
        .unwrap();
    println!(
        "live: block figures moved {} ms after the append: {block_before:?} -> {block_after:?}",
        appended.elapsed().as_millis()
    );
    assert_eq!(
        s.text_of("#extra-usage-state")
            .unwrap()
            .as_deref()
            .map(|t| t.starts_with("On")),
        Some(true)
    );

    let png = s.screenshot().unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    std::fs::write(artefacts.join("settings.png"), &png).unwrap();
    if std::env::var_os("HEADROOM_DOCS_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/img");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("settings.png"), &png).unwrap();
    }
    println!("screenshots in {}", artefacts.display());
    let _ = s.close();
}

#[test]
#[ignore = "needs Xvfb, a D-Bus session, tauri-driver and WebKitWebDriver: run scripts/ci-gui.sh"]
fn the_pane_opens_at_sources_and_says_what_to_connect() {
    assert!(
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some(),
        "no display: run this test through scripts/ci-gui.sh (Xvfb + D-Bus + tauri-driver)"
    );
    // A new user: Claude Code's folder, but no login.
    let home = Home::new();
    std::fs::remove_file(home.path("claude/.credentials.json")).unwrap();
    let api = serve_api(usage_body(
        1.0,
        1.0,
        json!({"is_enabled": false, "monthly_limit": null, "used_credits": null}),
    ));
    let artefacts = artefacts_dir();
    // And its first round panics (the debug build's fault hook): the pane says so in a banner
    // once the task has restarted.
    let fault = home.path("panic-first-round");
    std::fs::write(&fault, "").unwrap();
    let driver = start_driver(
        &home,
        &api,
        &artefacts.join("tauri-driver-sources.log"),
        &[("HEADROOM_TEST_FAULT_FILE", fault.to_str().unwrap())],
    );
    let app = app_bin();
    // As the tray starts it on a first launch and for "Connect an account source…".
    let started = Instant::now();
    let s = loop {
        match Session::start_tauri(
            &driver.addr,
            app.to_str().unwrap(),
            &["--settings", "--section", "sources"],
        ) {
            Ok(s) => break s,
            Err(e) if started.elapsed() < Duration::from_secs(10) => {
                eprintln!("session not started yet: {e}");
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => panic!("cannot start a WebDriver session: {e}"),
        }
    };
    let _ = s.set_window_size(760, 560);
    s.wait_for("the Sources section", WAIT, |s| {
        let v = s.execute(
            "return [document.getElementById('tab-sources').getAttribute('aria-selected'), \
             document.getElementById('panel-sources').hidden, \
             document.getElementById('panel-now').hidden]",
            json!([]),
        )?;
        Ok((v == json!(["true", false, true])).then_some(()))
    })
    .unwrap();
    let empty = s
        .wait_text("#sources-empty", WAIT, |t| t.contains("no source"))
        .unwrap();
    for way in [
        "Claude Code's login",
        "headroom statusline --install",
        "headroom claude-ai login",
    ] {
        assert!(empty.contains(way), "{way:?} not in {empty:?}");
    }
    s.wait_text("#credentials-state", WAIT, |t| t.starts_with("not found"))
        .unwrap();
    let banner = s
        .wait_text("#refresh-failure", WAIT, |t| t.contains("restarted at"))
        .unwrap();
    assert!(
        banner.starts_with(&format!(
            "Refresh failed: test fault from {}",
            fault.display()
        )),
        "{banner}"
    );
    assert!(!fault.exists(), "the fault hook did not fire");
    let png = s.screenshot().unwrap();
    std::fs::write(artefacts.join("settings-sources-first-run.png"), &png).unwrap();
    let _ = s.close();
}
