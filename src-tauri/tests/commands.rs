//! The settings pane's commands through Tauri's real IPC path (serialization, the ACL from
//! `capabilities/`, argument names) on the mock runtime: no display, no D-Bus. Each app gets
//! a temporary `HEADROOM_HOME` and Claude Code folder, a real SQLite ledger, and a loopback
//! server answering like Anthropic's OAuth usage endpoint.
//!
//! Over 600 lines: one test per command family on one fixture (the app, its folders, the
//! server); the fixture is the file's first 100 lines and every test reads alone.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use headroom_core::account::{MemoryStore, SecretStore, CLAUDE_AI_SESSION_KEY};
use headroom_tests::http::{Response, Server};
use headroom_tests::transcript_line;
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

const TOKEN: &str = "sk-ant-oat01-commands-test-SECRET-token";
const SESSION_KEY: &str = "sk-ant-sid01-commands-test-SECRET-key";

/// The environment is process-wide and the app reads it while it is built: each test runs in
/// a process of its own (`headroom_tests::ran_in_own_process`; the apps' threads outlive the
/// lock), and the lock orders the steps within one.
static ENV: Mutex<()> = Mutex::new(());

struct Fixture {
    dir: tempfile::TempDir,
    app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    /// When the transcript's five responses happened (the last hour).
    lines_at_ms: Vec<i64>,
    /// The loopback API, with every request it saw.
    api: Server,
    /// The app's keychain.
    secrets: Arc<MemoryStore>,
    /// What the loopback API answers `/api/oauth/usage` with.
    usage: Arc<Mutex<String>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn api_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

/// Answers `/api/oauth/usage` (with the right token) with `body` as it is at the time,
/// anything else with 401.
fn usage_api(body: Arc<Mutex<String>>) -> Server {
    Server::start(move |request, _| {
        let authorized = request
            .header("authorization")
            .is_some_and(|value| value.contains(TOKEN));
        if request.path == "/api/oauth/usage" && authorized {
            Response::json(200, body.lock().unwrap().clone())
        } else {
            Response::json(401, r#"{"error":{}}"#)
        }
    })
}

fn usage(session: f64) -> String {
    let now = now_ms();
    json!({
        "five_hour": {"utilization": session, "resets_at": api_time(now + 2 * 3_600_000)},
        "seven_day": {"utilization": 41.0, "resets_at": api_time(now + 3 * 86_400_000)},
        "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null, "currency": "USD"},
    })
    .to_string()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let claude = dir.path().join("claude");
    let project = claude.join("projects/-home-dev-app");
    std::fs::create_dir_all(&project).unwrap();
    let expires = now_ms() + 8 * 3_600_000;
    std::fs::write(
        claude.join(".credentials.json"),
        format!(
            r#"{{"claudeAiOauth":{{"accessToken":"{TOKEN}","refreshToken":"sk-ant-ort01-SECRET-refresh","expiresAt":{expires},"scopes":["user:inference","user:profile"]}}}}"#
        ),
    )
    .unwrap();
    // Claude Code's account file: the organization an Extra Usage write is for, and whose.
    std::fs::write(
        claude.join(".claude.json"),
        r#"{"oauthAccount":{"emailAddress":"dev@example.com","organizationName":"Dev","organizationUuid":"4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b"}}"#,
    )
    .unwrap();
    let now = now_ms();
    let lines_at_ms: Vec<i64> = (0..5).map(|i| now - (50 - i * 10) * 60_000).collect();
    let lines: String = lines_at_ms
        .iter()
        .enumerate()
        .map(|(i, at)| transcript_line(*at, i))
        .collect();
    std::fs::write(project.join("s1.jsonl"), lines).unwrap();
    let usage_body = Arc::new(Mutex::new(usage(62.0)));
    let api = usage_api(usage_body.clone());

    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    std::env::set_var("HEADROOM_HOME", dir.path().join("headroom"));
    std::env::set_var("CLAUDE_CONFIG_DIR", &claude);
    std::env::set_var("HEADROOM_ANTHROPIC_API", &api.base);
    std::env::set_var("HEADROOM_CLAUDE_AI", "http://127.0.0.1:9");
    std::env::set_var("HEADROOM_NO_BROWSER", "1");
    std::env::set_var("HEADROOM_TEST_POLL_FLOOR_MS", "0");
    // No keychain and no notification server from here.
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/headroom-tests",
    );
    let app = headroom_app::builder(mock_builder())
        .build(tauri::generate_context!())
        .unwrap();
    let secrets = Arc::new(MemoryStore::new());
    headroom_app::start(app.handle(), secrets.clone()).unwrap();
    let window = WebviewWindowBuilder::new(&app, headroom_app::SETTINGS_WINDOW, Default::default())
        .build()
        .unwrap();
    Fixture {
        dir,
        app,
        window,
        lines_at_ms,
        api,
        secrets,
        usage: usage_body,
    }
}

/// The origin the pane is served from, as Tauri serves its own scheme on this platform
/// (`tauri::protocol::origin`, crate-private): the ACL allows the settings commands from that
/// local origin only. On Windows (and Android) WebView2 cannot serve a custom scheme, so it is
/// `http://tauri.localhost`; a request from `tauri://localhost` is refused there.
const PANE_ORIGIN: &str = if cfg!(any(windows, target_os = "android")) {
    "http://tauri.localhost"
} else {
    "tauri://localhost"
};

fn call(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: PANE_ORIGIN.parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().unwrap())
}

impl Fixture {
    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        call(&self.window, cmd, args)
    }

    fn settings_file(&self) -> PathBuf {
        self.dir.path().join("headroom/settings.json")
    }
}

fn read(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

#[test]
fn a_foreign_base_url_stops_the_tray_at_start_naming_the_variable() {
    if headroom_tests::ran_in_own_process(
        "a_foreign_base_url_stops_the_tray_at_start_naming_the_variable",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for variable in ["HEADROOM_ANTHROPIC_API", "HEADROOM_CLAUDE_AI"] {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        std::env::set_var("HEADROOM_HOME", dir.path().join("headroom"));
        std::env::set_var("CLAUDE_CONFIG_DIR", dir.path().join("claude"));
        std::env::set_var("HEADROOM_ANTHROPIC_API", "http://127.0.0.1:9");
        std::env::set_var("HEADROOM_CLAUDE_AI", "http://127.0.0.1:9");
        std::env::set_var(variable, "https://attacker.example");
        let app = headroom_app::builder(mock_builder())
            .build(tauri::generate_context!())
            .unwrap();
        let err = headroom_app::start(app.handle(), Arc::new(MemoryStore::new())).unwrap_err();
        assert!(err.contains(variable), "{err}");
        assert!(err.contains("https://attacker.example"), "{err}");
        // Put back what the other tests expect to overwrite anyway.
        std::env::set_var(variable, "http://127.0.0.1:9");
    }
}

#[test]
fn bad_caps_are_refused_and_the_settings_file_is_untouched() {
    if headroom_tests::ran_in_own_process("bad_caps_are_refused_and_the_settings_file_is_untouched")
    {
        return;
    }
    let f = fixture();
    // A file with a cap already in it: a refused cap must leave it byte for byte.
    let saved = f.call("set_spending_cap", json!({"input": "20"})).unwrap();
    assert_eq!(saved["settings"]["extra_usage"]["chosen_cap"], json!(20.0));
    let before = read(&f.settings_file()).unwrap();
    for bad in ["-5", "abc", "1e9", "", "  ", "12.345", "0", "NaN"] {
        let err = f
            .call("set_spending_cap", json!({"input": bad}))
            .expect_err(bad);
        assert_eq!(err["code"], "invalid_cap", "{bad:?}: {err}");
        let message = err["message"].as_str().unwrap();
        assert!(message.len() > 10, "{bad:?}: {message:?}");
        // The same check guards the Extra Usage switch: nothing saved, no browser.
        let err = f
            .call("enable_extra_usage", json!({"cap": bad}))
            .expect_err(bad);
        assert_eq!(err["code"], "invalid_cap");
        assert_eq!(
            read(&f.settings_file()).unwrap(),
            before,
            "{bad:?} changed the file"
        );
    }
    // The messages say what is wrong.
    let msg = |input: &str| {
        f.call("set_spending_cap", json!({"input": input}))
            .unwrap_err()["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(msg("-5").contains("more than zero"), "{}", msg("-5"));
    assert!(msg("").contains("enter an amount"));
    assert!(msg("1e9").contains("not an amount"));
    // A missing argument is refused by Tauri itself, and also saves nothing.
    assert!(f.call("set_spending_cap", json!({})).is_err());
    assert_eq!(read(&f.settings_file()).unwrap(), before);
}

#[test]
fn a_good_cap_is_saved_to_disk() {
    if headroom_tests::ran_in_own_process("a_good_cap_is_saved_to_disk") {
        return;
    }
    let f = fixture();
    assert_eq!(read(&f.settings_file()), None);
    let r = f
        .call("set_spending_cap", json!({"input": "$1,250.50"}))
        .unwrap();
    assert_eq!(r["settings"]["extra_usage"]["chosen_cap"], json!(1250.5));
    let on_disk: Value = serde_json::from_slice(&read(&f.settings_file()).unwrap()).unwrap();
    assert_eq!(on_disk["extra_usage"]["chosen_cap"], json!(1250.5));
    assert_eq!(on_disk["version"], json!(1));
    // Enabling Extra Usage saves the cap too, and starts waiting (no browser in tests).
    let r = f.call("enable_extra_usage", json!({"cap": "50"})).unwrap();
    assert_eq!(r["state"], "waiting");
    assert_eq!(r["cap"], json!(50.0));
    assert_eq!(r["opened"], json!(false));
    assert_eq!(r["url"], "https://claude.ai/settings/usage");
    let on_disk: Value = serde_json::from_slice(&read(&f.settings_file()).unwrap()).unwrap();
    assert_eq!(on_disk["extra_usage"]["chosen_cap"], json!(50.0));
    // And get_settings reads it back.
    let s = f.call("get_settings", json!({})).unwrap();
    assert_eq!(s["settings"]["extra_usage"]["chosen_cap"], json!(50.0));
    assert_eq!(s["notice"], Value::Null);
}

#[test]
fn the_overview_has_the_servers_numbers_and_the_ledgers_series() {
    if headroom_tests::ran_in_own_process(
        "the_overview_has_the_servers_numbers_and_the_ledgers_series",
    ) {
        return;
    }
    let f = fixture();
    let o = f.call("refresh_now", json!({})).unwrap();
    let s = &o["snapshot"];
    assert_eq!(s["session"]["utilization"], json!(62.0), "{o:#}");
    assert_eq!(s["session"]["source"], "account");
    assert_eq!(s["weekly"]["utilization"], json!(41.0));
    assert_eq!(s["extra_usage"]["enabled"], json!(false));
    // The transcript's five responses of the last hour: an active block with a pace.
    assert_eq!(
        s["local_block"]["total_tokens"],
        json!(5 * 1500),
        "{:#}",
        s["local_block"]
    );
    assert!(s["local_block"]["tokens_per_minute"].as_f64().unwrap() > 0.0);
    let daily = o["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 30);
    assert!(daily
        .windows(2)
        .all(|w| w[0]["date"].as_str() < w[1]["date"].as_str()));
    // Each response on the day it happened in the app's zone (the machine's, here): all five
    // today, or some yesterday when the test runs just after midnight.
    let mut expected = std::collections::BTreeMap::<String, u64>::new();
    for at in &f.lines_at_ms {
        let day = headroom_core::report::Zone::Local.date_of(*at).to_string();
        *expected.entry(day).or_default() += 1500;
    }
    for day in daily {
        let tokens = day["total_tokens"].as_u64().unwrap();
        let want = expected.get(day["date"].as_str().unwrap()).copied();
        assert_eq!(tokens, want.unwrap_or(0), "{day}");
        assert_eq!(
            day["cost_usd"].as_f64().unwrap() > 0.0,
            want.is_some(),
            "{day}"
        );
    }
    // The series ends today (the day of the refresh, which lies between these two).
    let last = daily.last().unwrap()["date"].as_str().unwrap().to_owned();
    let today = |ms| headroom_core::report::Zone::Local.date_of(ms).to_string();
    assert!(
        [today(f.lines_at_ms[4] + 10 * 60_000), today(now_ms())].contains(&last),
        "{last}"
    );
    let history = o["session_history"].as_array().unwrap();
    assert!(
        history.iter().any(|p| p["utilization"] == json!(62.0)),
        "{history:?}"
    );
    for key in ["chosen_cap", "cap_mismatch", "snoozed_until_ms", "timezone"] {
        assert!(o.get(key).is_some(), "no {key}");
    }
    assert_eq!(o["extra_usage_text"], "off");
    // The core's band and source name for each window: the pane decides neither (it drew
    // its own 75/90 % bands and printed the source's id, `local-estimate`).
    let windows = o["windows"].as_array().unwrap();
    let session = windows.iter().find(|w| w["id"] == "session").unwrap();
    assert_eq!(session["band"], "ok", "{session}");
    assert_eq!(session["source_label"], "Anthropic account", "{session}");
    assert!(o["last_refresh_ms"].as_i64().unwrap() > 0);
    // get_overview gives the same view without asking again.
    let again = f.call("get_overview", json!({})).unwrap();
    assert_eq!(again["snapshot"]["session"]["utilization"], json!(62.0));
    // Every response was priced: the charts leave nothing out.
    assert_eq!(o["unpriced_note"], Value::Null);
}

/// The overview carries the trap sentence the core writes by the alert settings (the pane
/// no longer works it out itself): the session at 62 % with Extra Usage off is in the trap at
/// `trap_percent` 60, not at the default 90, and never with the warning switched off.
#[test]
fn the_overview_carries_the_trap_by_the_alert_settings() {
    if headroom_tests::ran_in_own_process("the_overview_carries_the_trap_by_the_alert_settings") {
        return;
    }
    let f = fixture();
    let trap_with = |alerts: Value| {
        f.call("save_settings", json!({"settings": {"alerts": alerts}}))
            .unwrap();
        f.call("refresh_now", json!({})).unwrap()["trap"].clone()
    };
    let trap = trap_with(json!({"trap_percent": 60}));
    assert!(
        trap.as_str()
            .is_some_and(|t| t.starts_with("Session is at 62 % and Extra Usage is off")),
        "{trap}"
    );
    assert_eq!(trap_with(json!({"trap_percent": 90})), Value::Null);
    assert_eq!(
        trap_with(json!({"trap_percent": 60, "extra_usage_trap": false})),
        Value::Null
    );
}

/// The overview says which per-model weekly windows are in use, by the tray's rule
/// (`Window::in_use`: a figure or a reset time; a window at 0 % with no reset is dormant), and
/// the span of the session chart: the 5 hours up to the session's reset, with every reading
/// inside it.
#[test]
fn the_overview_says_which_windows_are_in_use_and_the_session_charts_span() {
    if headroom_tests::ran_in_own_process(
        "the_overview_says_which_windows_are_in_use_and_the_session_charts_span",
    ) {
        return;
    }
    let f = fixture();
    let reset = now_ms() + 2 * 3_600_000;
    let mut body: Value = serde_json::from_str(&usage(62.0)).unwrap();
    body["five_hour"]["resets_at"] = json!(api_time(reset));
    body["seven_day_opus"] =
        json!({"utilization": 0.0, "resets_at": api_time(now_ms() + 86_400_000)});
    body["seven_day_sonnet"] = json!({"utilization": 0.0, "resets_at": null});
    *f.usage.lock().unwrap() = body.to_string();
    let o = f.call("refresh_now", json!({})).unwrap();
    let ids: Vec<&str> = o["snapshot"]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["id"].as_str())
        .collect();
    assert!(ids.contains(&"weekly:sonnet"), "{ids:?}");
    assert_eq!(o["model_windows_in_use"], json!(["weekly:opus"]), "{o:#}");

    // The API's reset has microseconds; the span is the snapshot's reset to the millisecond.
    let reset_ms = o["snapshot"]["session"]["resets_at_ms"].as_i64().unwrap();
    assert!((reset_ms - reset).abs() < 1000, "{reset_ms} vs {reset}");
    assert_eq!(
        o["session_span"],
        json!({"start_ms": reset_ms - 5 * 3_600_000, "end_ms": reset_ms})
    );
    let history = o["session_history"].as_array().unwrap();
    assert!(!history.is_empty());
    for p in history {
        let at = p["at_ms"].as_i64().unwrap();
        assert!((reset_ms - 5 * 3_600_000..=reset_ms).contains(&at), "{p}");
    }
}

#[test]
fn the_overview_says_what_its_costs_leave_out() {
    if headroom_tests::ran_in_own_process("the_overview_says_what_its_costs_leave_out") {
        return;
    }
    let f = fixture();
    // Two responses of a model no price table knows, appended to the transcript.
    let transcript = f.dir.path().join("claude/projects/-home-dev-app/s1.jsonl");
    let unknown: String = [5, 6]
        .iter()
        .map(|&n| {
            transcript_line(f.lines_at_ms[4] + 60_000, n)
                .replace("claude-sonnet-4-5-20250929", "claude-foo-6")
        })
        .collect();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&transcript)
        .unwrap();
    file.write_all(unknown.as_bytes()).unwrap();
    drop(file);
    let o = f.call("refresh_now", json!({})).unwrap();
    assert_eq!(
        o["unpriced_note"],
        json!("Costs leave out 2 responses of claude-foo-6 with no known price: run `headroom prices update`"),
        "{o:#}"
    );
    // Their tokens still count.
    let tokens: u64 = o["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["total_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(tokens, 7 * 1500);
}

#[test]
fn no_response_carries_a_secret() {
    if headroom_tests::ran_in_own_process("no_response_carries_a_secret") {
        return;
    }
    let f = fixture();
    let stored = f
        .call("set_claude_ai_session_key", json!({"key": SESSION_KEY}))
        .unwrap();
    assert_eq!(stored, json!({"key_stored": true}));
    let mut seen = vec![stored];
    let calls: &[(&str, Value)] = &[
        ("refresh_now", json!({})),
        ("get_overview", json!({})),
        ("get_settings", json!({})),
        ("get_sources", json!({})),
        ("set_spending_cap", json!({"input": "30"})),
        ("snooze_alerts", json!({"minutes": 60})),
        ("resume_alerts", json!({})),
        ("enable_extra_usage", json!({"cap": "30"})),
        ("open_account_settings", json!({})),
        (
            "prepare_extra_usage",
            json!({"action": "enable", "cap": "30"}),
        ),
        ("apply_extra_usage", json!({"token": "made-up"})),
        ("check_cap", json!({"input": "1,250.50"})),
        (
            "check_extra_usage_amount",
            json!({"token": "made-up", "typedAmount": "30"}),
        ),
        ("read_extra_usage", json!({})),
        (
            "save_settings",
            json!({"settings": {"sources": {"claude_ai": true}}}),
        ),
    ];
    for (cmd, args) in calls {
        let r = f.call(cmd, args.clone());
        seen.push(r.unwrap_or_else(|e| e));
    }
    // A confirmed write that the (loopback) account refuses: its error carries no secret.
    let plan = f
        .call(
            "prepare_extra_usage",
            json!({"action": "enable", "cap": "30"}),
        )
        .unwrap();
    let refused = f
        .call("apply_extra_usage", json!({"token": plan["token"]}))
        .unwrap_err();
    assert!(refused["browser_url"].is_string(), "{refused}");
    seen.push(plan);
    seen.push(refused);
    let sources = f.call("get_sources", json!({})).unwrap();
    assert_eq!(sources["credentials"], json!({"found": true}));
    assert_eq!(sources["claude_ai"]["key_stored"], json!(true));
    // The key is refused when it is not one token; the refusal does not echo it.
    let err = f
        .call(
            "set_claude_ai_session_key",
            json!({"key": format!("{SESSION_KEY} {SESSION_KEY}")}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_key");
    seen.push(err);
    seen.push(sources);
    seen.push(f.call("clear_claude_ai_session_key", json!({})).unwrap());
    for v in &seen {
        let text = v.to_string();
        assert!(!text.contains("SECRET"), "a secret in {text}");
    }
    // And none was written to Headroom's folder: only the keychain (here, memory) has it.
    for entry in walk(&f.dir.path().join("headroom")) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("SECRET"), "a secret in {}", entry.display());
    }
}

/// A key pasted as the cookie it was copied from is stored as the key alone, as
/// `headroom claude-ai login` stores it; a paste that is not one key is refused and keeps the
/// key stored before.
#[test]
fn a_pasted_cookie_is_stored_as_the_bare_key() {
    if headroom_tests::ran_in_own_process("a_pasted_cookie_is_stored_as_the_bare_key") {
        return;
    }
    let f = fixture();
    let stored = || {
        f.secrets
            .get(CLAUDE_AI_SESSION_KEY)
            .unwrap()
            .map(|k| k.expose().to_owned())
    };
    for paste in [
        format!("sessionKey={SESSION_KEY}"),
        format!("  sessionKey={SESSION_KEY};\n"),
        format!("{SESSION_KEY}; "),
    ] {
        f.secrets.delete(CLAUDE_AI_SESSION_KEY).unwrap();
        let r = f
            .call("set_claude_ai_session_key", json!({ "key": paste }))
            .unwrap();
        assert_eq!(r, json!({"key_stored": true}));
        assert_eq!(stored().as_deref(), Some(SESSION_KEY), "{paste:?}");
    }
    for paste in [
        "sessionKey=".to_owned(),
        "sessionKey=;".to_owned(),
        format!("sessionKey={SESSION_KEY}; lastActiveOrg=abc"),
        format!("{SESSION_KEY};{SESSION_KEY}"),
        "k".repeat(5000),
    ] {
        let err = f
            .call("set_claude_ai_session_key", json!({ "key": paste }))
            .unwrap_err();
        assert_eq!(err["code"], "invalid_key", "{paste:?}");
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert_eq!(stored().as_deref(), Some(SESSION_KEY), "{paste:?}");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn other_inputs_are_checked_too() {
    if headroom_tests::ran_in_own_process("other_inputs_are_checked_too") {
        return;
    }
    let f = fixture();
    let before = read(&f.settings_file());
    let err = f
        .call(
            "save_settings",
            json!({"settings": {"general": {"timezone": "Mars/Olympus"}}}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_settings");
    let err = f
        .call("save_settings", json!({"settings": [1, 2]}))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_settings");
    assert_eq!(read(&f.settings_file()), before);
    for args in [json!({}), json!({"minutes": 0}), json!({"minutes": 20_000})] {
        let err = f.call("snooze_alerts", args.clone()).unwrap_err();
        assert_eq!(err["code"], "invalid_snooze", "{args}");
    }
    assert_eq!(
        f.call("set_claude_ai_session_key", json!({"key": "  "}))
            .unwrap_err()["code"],
        "invalid_key"
    );
    // Out-of-range values are clamped, not refused.
    let r = f
        .call(
            "save_settings",
            json!({"settings": {"alerts": {"session_thresholds": [0, 90, 75, 75, 250]}, "sources": {"poll_minutes": 0}}}),
        )
        .unwrap();
    assert_eq!(
        r["settings"]["alerts"]["session_thresholds"],
        json!([75, 90])
    );
    assert_eq!(r["settings"]["sources"]["poll_minutes"], json!(1));
    let snoozed = f.call("snooze_alerts", json!({"minutes": 60})).unwrap();
    let until = snoozed["settings"]["alerts"]["snoozed_until_ms"]
        .as_i64()
        .unwrap();
    assert!((until - now_ms() - 3_600_000).abs() < 60_000);
    let _ = &f.app;
}

#[test]
fn only_the_settings_window_may_call() {
    if headroom_tests::ran_in_own_process("only_the_settings_window_may_call") {
        return;
    }
    let f = fixture();
    let other = WebviewWindowBuilder::new(&f.app, "other", Default::default())
        .build()
        .unwrap();
    let err = call(&other, "get_settings", json!({})).unwrap_err();
    assert!(err.to_string().contains("not allowed"), "{err}");
    assert!(call(&other, "set_spending_cap", json!({"input": "50"})).is_err());
    assert_eq!(read(&f.settings_file()), None);
    // And a command that does not exist is refused for the settings window too.
    assert!(f.call("plugin:shell|execute", json!({})).is_err());
}

#[test]
fn the_pane_saves_only_what_it_changed() {
    if headroom_tests::ran_in_own_process("the_pane_saves_only_what_it_changed") {
        return;
    }
    let f = fixture();
    let base = f.call("get_settings", json!({})).unwrap()["settings"].clone();
    // Meanwhile another process (the tray's snooze, the CLI) saves other fields.
    headroom_core::settings::update(&f.settings_file(), 0, |s| {
        s.alerts.snoozed_until_ms = Some(4_102_444_800_000);
        s.alerts.reset_weekly = true;
    })
    .unwrap();
    let mut next = base.clone();
    next["alerts"]["session_thresholds"] = json!([80]);
    let r = f
        .call("save_settings", json!({"settings": next, "base": base}))
        .unwrap();
    let on_disk: Value = serde_json::from_slice(&read(&f.settings_file()).unwrap()).unwrap();
    for saved in [&r["settings"], &on_disk] {
        assert_eq!(saved["alerts"]["session_thresholds"], json!([80]));
        assert_eq!(
            saved["alerts"]["snoozed_until_ms"],
            json!(4_102_444_800_000_i64)
        );
        assert_eq!(saved["alerts"]["reset_weekly"], json!(true));
    }
    assert_eq!(r["warnings"], json!([]));
    assert_eq!(r["notice"], Value::Null);
    // A base that is not settings is refused like the settings themselves.
    let err = f
        .call("save_settings", json!({"settings": next, "base": [1]}))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_settings");
}

#[test]
fn the_tray_keeps_its_settings_while_the_file_is_being_written() {
    if headroom_tests::ran_in_own_process(
        "the_tray_keeps_its_settings_while_the_file_is_being_written",
    ) {
        return;
    }
    use tauri::Manager;
    let f = fixture();
    let published = || {
        f.app
            .state::<headroom_app::AppState>()
            .refresh
            .latest
            .borrow()
            .clone()
            .unwrap()
    };
    f.call(
        "save_settings",
        json!({"settings": {"sources": {"poll_minutes": 9}}}),
    )
    .unwrap();
    f.call("refresh_now", json!({})).unwrap();
    assert_eq!(published().settings.sources.poll_minutes, 9);

    // As nano or a shell's `>` do: truncate, then write through the open descriptor.
    let mut editor = std::fs::File::create(f.settings_file()).unwrap();
    f.call("refresh_now", json!({})).unwrap();
    let p = published();
    assert_eq!(
        p.settings.sources.poll_minutes, 9,
        "the tray lost its settings"
    );
    let notice = p.settings_notice.clone().unwrap_or_default();
    assert!(notice.contains("empty"), "{notice}");
    assert!(notice.contains("keeps the settings it had"), "{notice}");
    let names: Vec<String> = std::fs::read_dir(f.settings_file().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("corrupt")),
        "moved aside: {names:?}"
    );
    editor
        .write_all(br#"{"sources": {"poll_minutes": 7}}"#)
        .unwrap();
    drop(editor);
    f.call("refresh_now", json!({})).unwrap();
    let p = published();
    assert_eq!(p.settings.sources.poll_minutes, 7);
    assert_eq!(p.settings_notice, None);
}

#[test]
fn nothing_is_written_without_the_dialogs_token_and_the_amount_typed_again() {
    if headroom_tests::ran_in_own_process(
        "nothing_is_written_without_the_dialogs_token_and_the_amount_typed_again",
    ) {
        return;
    }
    let f = fixture();
    let writes = || {
        f.api
            .requests()
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    };
    // No token, a made-up one: refused, nothing sent.
    assert!(f.call("apply_extra_usage", json!({})).is_err());
    let err = f
        .call("apply_extra_usage", json!({"token": "0123456789abcdef"}))
        .unwrap_err();
    assert_eq!(err["code"], "not_confirmed");
    // A cap over $1,000: the plan asks for the amount again, and the app checks it.
    let plan = f
        .call(
            "prepare_extra_usage",
            json!({"action": "enable", "cap": "1500"}),
        )
        .unwrap();
    assert_eq!(plan["typed_required"], json!(true), "{plan}");
    assert!(
        plan["text"].as_str().unwrap().contains("$1,500.00"),
        "{plan}"
    );
    for typed in [json!(null), json!("150"), json!("abc")] {
        let plan = f
            .call(
                "prepare_extra_usage",
                json!({"action": "enable", "cap": "1500"}),
            )
            .unwrap();
        let err = f
            .call(
                "apply_extra_usage",
                json!({"token": plan["token"], "typedAmount": typed}),
            )
            .unwrap_err();
        assert_eq!(err["code"], "confirmation_mismatch", "{typed}: {err}");
        // The dialog stays open on a wrong amount: the core tells it which is right.
        let check = |typed: &str| {
            f.call(
                "check_extra_usage_amount",
                json!({"token": plan["token"], "typedAmount": typed}),
            )
            .unwrap()
        };
        assert_eq!(check("15,00"), json!(false));
        assert_eq!(check("1,500"), json!(true));
        // A newer dialog replaces it: the old token no longer works, even with the amount.
        let newer = f
            .call(
                "prepare_extra_usage",
                json!({"action": "enable", "cap": "20"}),
            )
            .unwrap();
        assert_ne!(newer["token"], plan["token"]);
        let again = f
            .call(
                "apply_extra_usage",
                json!({"token": plan["token"], "typedAmount": "1500"}),
            )
            .unwrap_err();
        assert_eq!(again["code"], "not_confirmed");
    }
    // "No cap" is typed again too.
    let plan = f
        .call(
            "prepare_extra_usage",
            json!({"action": "enable", "noCap": true}),
        )
        .unwrap();
    assert_eq!(plan["typed_expected"], json!("no cap"));
    let err = f
        .call(
            "apply_extra_usage",
            json!({"token": plan["token"], "typedAmount": "50"}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "confirmation_mismatch");
    // Bad caps never get a plan; a comma is only a thousands separator (audit N3).
    for bad in ["-5", "abc", "1e9", "0.001", "12,50", "9,99"] {
        let err = f
            .call(
                "prepare_extra_usage",
                json!({"action": "enable", "cap": bad}),
            )
            .unwrap_err();
        assert_eq!(err["code"], "invalid_cap", "{bad}");
    }
    assert_eq!(writes(), Vec::<String>::new());
}
