//! The claude.ai source for chat-only users, end to end and honest: the session key goes
//! through `headroom claude-ai login` on stdin into a real Secret Service keychain
//! (Debian's `gnome-keyring-daemon` on a private `dbus-daemon`, as on a desktop), and
//! `headroom status` reads it back from there to ask a loopback server shaped like claude.ai.
//! Without a keychain, login refuses and stores nothing anywhere.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use headroom_tests::account::*;
use headroom_tests::dbus::Bus;
use serde_json::Value;

const SESSION_KEY: &str = "sk-ant-sid01-claude-ai-tests-SECRET-session-key";
const ORG: &str = "11111111-2222-3333-4444-555555555555";

/// gnome-keyring serving `org.freedesktop.secrets` on `bus`, its keyrings under `dir`.
struct Keyring {
    child: Child,
}

impl Keyring {
    fn start(bus: &Bus, dir: &std::path::Path) -> Keyring {
        let mut child = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("share"))
            .env("XDG_RUNTIME_DIR", dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start gnome-keyring-daemon ({e}): install Debian's `gnome-keyring` (scripts/setup.sh does)"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"keyring-password")
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let out = Command::new("dbus-send")
                .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("boolean true") {
                break;
            }
            assert!(Instant::now() < deadline, "gnome-keyring did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Keyring { child }
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// claude.ai's endpoints, answering only requests with the right `sessionKey` cookie.
fn claude_ai() -> Server {
    Server::start(|r, _| {
        let cookie_ok = r
            .header("cookie")
            .is_some_and(|c| c.contains(&format!("sessionKey={SESSION_KEY}")));
        if !cookie_ok {
            return Response::json(
                401,
                r#"{"type":"error","error":{"type":"authentication_error"}}"#,
            );
        }
        let base = format!("/api/organizations/{ORG}");
        match r.path.as_str() {
            "/api/organizations" => Response::json(200, fixture("claude_ai_organizations.json")),
            p if p == format!("{base}/usage") => {
                Response::json(200, fixture("claude_ai_usage.json"))
            }
            p if p == format!("{base}/overage_spend_limit") => {
                Response::json(200, fixture("claude_ai_overage.json"))
            }
            p if p == format!("{base}/prepaid/credits") => {
                Response::json(200, fixture("claude_ai_prepaid.json"))
            }
            _ => Response::not_found(),
        }
    })
}

fn command(home: &Home, server: &Server, bus: &str) -> Command {
    // No Claude Code login (Home::bare): claude.ai is the only account source.
    let mut c = home.command(None);
    c.env("HEADROOM_CLAUDE_AI", &server.base)
        .env("DBUS_SESSION_BUS_ADDRESS", bus);
    c
}

fn all_output(out: &std::process::Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

#[test]
fn login_keeps_the_key_in_the_keychain_and_status_reads_claude_ai() {
    let bus = Bus::start();
    let keyring_dir = tempfile::tempdir().unwrap();
    let _keyring = Keyring::start(&bus, keyring_dir.path());
    let server = claude_ai();
    let home = Home::bare();

    // A wrong key is refused by claude.ai and not stored.
    let mut c = command(&home, &server, &bus.address);
    c.args(["claude-ai", "login"]);
    let out = run_with_stdin(c, b"sk-ant-sid01-wrong\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("claude.ai refused this session key"),
        "{}",
        stderr(&out)
    );
    assert!(!all_output(&out).contains("sk-ant-sid01-wrong"));
    let mut c = command(&home, &server, &bus.address);
    c.args(["claude-ai", "orgs"]);
    let out = output(c);
    assert!(
        stderr(&out).contains("no claude.ai session key is stored"),
        "{}",
        stderr(&out)
    );

    // The right one, pasted as the cookie: validated, stored, organization chosen.
    let mut c = command(&home, &server, &bus.address);
    c.args(["claude-ai", "login"]);
    let out = run_with_stdin(c, format!("sessionKey={SESSION_KEY}\n").as_bytes());
    assert!(out.status.success(), "{}", all_output(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Stored the claude.ai session key in your system keychain"),
        "{text}"
    );
    assert!(text.contains(&format!("\"Personal\" ({ORG})")), "{text}");

    let mut c = command(&home, &server, &bus.address);
    c.args(["status", "--json"]);
    let out = run(c);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["session"]["source"], "claude.ai", "{j:#}");
    assert_eq!(j["session"]["utilization"].as_f64(), Some(44.0));
    assert_eq!(j["weekly"]["utilization"].as_f64(), Some(18.0));
    let eu = &j["extra_usage"];
    assert_eq!(eu["enabled"], true, "{eu}");
    assert_eq!(
        eu["monthly_limit"].as_f64(),
        Some(20.0),
        "older monthly_credit_limit"
    );
    assert_eq!(eu["used"].as_f64(), Some(3.5));
    assert_eq!(eu["balance"].as_f64(), Some(15.75), "prepaid balance");
    assert_eq!(j["errors"].as_array().unwrap().len(), 0, "{j:#}");

    let mut c = command(&home, &server, &bus.address);
    c.args(["claude-ai", "orgs"]);
    let text = stdout(&run(c));
    assert!(text.contains(&format!("* {ORG}  Personal")), "{text}");
    assert!(text.contains("API workspace  (no chat)"), "{text}");

    // The key never reached an output, Headroom's files or a request other than claude.ai's.
    let mut everything = all_output(&out);
    for entry in walk(&home.dir.path().join("headroom")) {
        everything.push_str(&String::from_utf8_lossy(&std::fs::read(entry).unwrap()));
    }
    assert!(!everything.contains("SECRET"), "the session key leaked");
    assert!(server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/"))
        .all(|r| r.header("authorization").is_none()));

    // Logout removes it from the keychain; claude.ai is no longer read.
    let mut c = command(&home, &server, &bus.address);
    c.args(["claude-ai", "logout"]);
    assert!(stdout(&run(c)).contains("Removed the claude.ai session key"));
    let before = server.requests().len();
    let mut c = command(&home, &server, &bus.address);
    c.args(["status", "--json", "--refresh"]);
    run(c);
    assert_eq!(
        server.requests().len(),
        before,
        "no claude.ai request after logout"
    );
    let mut c = command(&home, &server, &bus.address);
    c.args(["claude-ai", "orgs"]);
    assert!(stderr(&output(c)).contains("no claude.ai session key is stored"));
}

#[test]
fn several_organizations_are_listed_to_choose_from() {
    let bus = Bus::start();
    let keyring_dir = tempfile::tempdir().unwrap();
    let _keyring = Keyring::start(&bus, keyring_dir.path());
    let server = Server::start(|r, _| match r.path.as_str() {
        "/api/organizations" => {
            Response::json(200, fixture("claude_ai_organizations_several.json"))
        }
        p if p.ends_with("/usage") && p.contains("bbbbbbbb") => {
            Response::json(200, fixture("claude_ai_usage.json"))
        }
        _ => Response::not_found(),
    });
    let home = Home::bare();
    let mut c = command(&home, &server, &bus.address);
    c.args(["claude-ai", "login"]);
    let out = run_with_stdin(c, SESSION_KEY.as_bytes());
    assert!(out.status.success(), "{}", all_output(&out));
    let text = stdout(&out);
    assert!(text.contains("several organizations"), "{text}");
    assert!(
        text.contains("bbbbbbbb-0000-0000-0000-000000000002  Team"),
        "{text}"
    );

    let mut c = command(&home, &server, &bus.address);
    c.args(["status", "--json"]);
    let j: Value = serde_json::from_slice(&run(c).stdout).unwrap();
    assert!(
        j["errors"][0]
            .as_str()
            .unwrap()
            .contains("claude-ai orgs --use"),
        "{j:#}"
    );

    let mut c = command(&home, &server, &bus.address);
    c.args(["claude-ai", "orgs", "--use", "nope"]);
    assert_eq!(output(c).status.code(), Some(2));
    let mut c = command(&home, &server, &bus.address);
    c.args([
        "claude-ai",
        "orgs",
        "--use",
        "bbbbbbbb-0000-0000-0000-000000000002",
    ]);
    assert!(stdout(&run(c)).contains("\"Team\""));
    let mut c = command(&home, &server, &bus.address);
    c.args(["status", "--json", "--refresh"]);
    c.env("HEADROOM_TEST_POLL_FLOOR_MS", "0");
    let j: Value = serde_json::from_slice(&run(c).stdout).unwrap();
    assert_eq!(j["session"]["source"], "claude.ai", "{j:#}");
}

#[test]
fn without_a_keychain_login_stores_nothing_anywhere() {
    let server = claude_ai();
    let home = Home::bare();
    // A bus with no Secret Service on it.
    let bus = Bus::start();
    let mut c = command(&home, &server, &bus.address);
    c.args(["claude-ai", "login"]);
    let out = run_with_stdin(c, SESSION_KEY.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no keychain service answered"), "{err}");
    assert!(err.contains("gnome-keyring"), "how to fix it: {err}");
    assert!(err.contains("The session key was not stored"), "{err}");
    assert!(!all_output(&out).contains("SECRET"));
    for entry in walk(home.dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(6).any(|w| w == b"SECRET"),
            "written to {}",
            entry.display()
        );
    }
}

#[test]
fn the_key_is_never_taken_from_the_command_line() {
    let home = Home::bare();
    let mut c = home.command(None);
    c.args(["claude-ai", "login", SESSION_KEY]);
    let out = output(c);
    assert_eq!(out.status.code(), Some(2), "clap refuses an argument");
    let mut c = home.command(None);
    c.args(["claude-ai", "login"]);
    let out = run_with_stdin(c, b"  \n");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no session key was given"));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
