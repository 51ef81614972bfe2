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
//! which provides all of them: `cargo nextest run -p headroom-tests --run-ignored only -E
//! 'test(/^settings_webdriver::/)'`. The test starts `tauri-driver` itself, because tauri-driver hands the
//! app no per-session environment and the app reads its folders and API base from it.
//!
//! The app binary: `$HEADROOM_APP_BIN` if set, else built here with the cargo that runs the
//! tests (a no-op when up to date). The Extra Usage writes from the pane are
//! `extra_usage_webdriver.rs`; what both share is `headroom_tests::pane`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use headroom_tests::account::authorized;
use headroom_tests::pane::*;
use headroom_tests::webdriver::Session;
use headroom_tests::{app_bin, free_port, metrics_page};
use serde_json::json;

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
    let driver = start_driver(
        &home,
        &api.server.base,
        &artefacts.join("tauri-driver.log"),
        &[],
    );

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
            Err(e) if attempt < 120 && launched.elapsed() < SESSION_START => {
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
    // The source as every front end names it (the overview's `source_label`), not its id.
    let fresh = s.text_of("#freshness").unwrap().unwrap_or_default();
    assert!(fresh.starts_with("Anthropic account · "), "{fresh}");
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
        // The core reads the amount (`set_spending_cap`), so its answer arrives after the
        // click: wait for this amount's words, not for the last one's.
        let shown = s
            .wait_text("#cap-error", WAIT, |t| t.to_lowercase().contains(expected))
            .unwrap();
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

    // 50 and the switch. This login has no organization on record (no `.claude.json`) and
    // the OAuth profile does not name one either (404 here), so the direct way fails before
    // any question is asked (the question names the organization billed, and there is none
    // to name): no dialog, the pane says why and offers the browser flow, which still works:
    // the cap is on disk, the account page opened, the pane waits.
    input.clear().unwrap();
    input.send_keys("50").unwrap();
    s.find("label.switch").unwrap().click().unwrap();
    let why = s
        .wait_text("#extra-usage-error-text", WAIT, |t| !t.is_empty())
        .unwrap();
    println!("without an organization: {why}");
    assert!(why.contains("organization"), "{why}");
    assert!(
        api.server.requests().iter().all(|r| r.method == "GET"),
        "something was written: {:?}",
        api.server.requests()
    );
    s.find("#extra-usage-browser").unwrap().click().unwrap();
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
        &api.server.base,
        &artefacts.join("tauri-driver-sources.log"),
        &[("HEADROOM_TEST_FAULT_FILE", fault.to_str().unwrap())],
    );
    // As the tray starts it on a first launch and for "Connect an account source…".
    let s = open_at_section(&driver, "sources");
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

    // Open already, the window comes to the section the tray asks for (the tray's side:
    // tray_desktop's enable_extra_usage test). The request is the file the tray writes,
    // written as it writes it; the window takes it.
    let request = home.path("headroom/settings-window-request");
    let tmp = home.path("headroom/.settings-window-request.test.tmp");
    std::fs::write(&tmp, "extra").unwrap();
    std::fs::rename(&tmp, &request).unwrap();
    s.wait_for("the Extra Usage section at the tray's request", WAIT, |s| {
        let v = s.execute(
            "return [document.getElementById('tab-extra').getAttribute('aria-selected'), \
             document.getElementById('panel-extra').hidden, \
             document.getElementById('panel-sources').hidden, \
             document.activeElement.id]",
            json!([]),
        )?;
        Ok((v == json!(["true", false, true, "tab-extra"])).then_some(()))
    })
    .unwrap();
    assert!(!request.exists(), "the window left the request behind");
    let _ = s.close();
}

#[test]
#[ignore = "needs Xvfb, a D-Bus session, tauri-driver and WebKitWebDriver: run scripts/ci-gui.sh"]
/// The pane saves **Serve metrics**; the tray's process serves the page (tray_desktop's
/// `the_tray_serves_metrics_once_the_settings_say_so_and_stops_when_they_do_not`). The settings
/// window's own process never does (audit N7: only one process exports), which this shows: after
/// the save, and after the window's process has seen it, nothing listens on the address.
fn serve_metrics_in_general_is_saved_and_the_window_itself_serves_nothing() {
    let home = Home::new();
    let port = free_port();
    std::fs::create_dir_all(home.path("headroom")).unwrap();
    std::fs::write(
        home.settings_file(),
        json!({"metrics": {"address": format!("127.0.0.1:{port}")}}).to_string(),
    )
    .unwrap();
    let api = serve_api(usage_body(
        62.0,
        41.0,
        json!({"is_enabled": false, "monthly_limit": null, "used_credits": null}),
    ));
    let driver = start_driver(
        &home,
        &api.server.base,
        &artefacts_dir().join("tauri-driver-metrics.log"),
        &[],
    );
    let s = open_at_section(&driver, "general");
    let address = format!("127.0.0.1:{port}");
    s.wait_text("#metrics-address", WAIT, |t| t == address)
        .unwrap();
    assert_eq!(
        s.execute(
            "return document.getElementById('metrics-serve').checked",
            json!([])
        )
        .unwrap(),
        json!(false)
    );
    assert!(metrics_page(port).is_none(), "served while off");

    // On: saved, and the page is served with the account's figures (62 % of the session).
    s.find("#metrics-serve").unwrap().click().unwrap();
    s.wait_for("the setting saved", WAIT, |_| {
        Ok(
            (settings_json(&home).map(|v| v["metrics"]["serve"].clone()) == Some(json!(true)))
                .then_some(()),
        )
    })
    .unwrap();
    // The window's process reloads the settings on the save; give it rounds to (wrongly) start.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        metrics_page(port).is_none(),
        "the settings window's process serves /metrics"
    );

    // Off again: saved.
    s.find("#metrics-serve").unwrap().click().unwrap();
    s.wait_for("the setting saved off", WAIT, |_| {
        Ok(
            (settings_json(&home).map(|v| v["metrics"]["serve"].clone()) == Some(json!(false)))
                .then_some(()),
        )
    })
    .unwrap();
    let _ = s.close();
}
