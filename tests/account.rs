//! What the account tests share: the loopback HTTP server that answers like Anthropic's
//! endpoints ([`crate::http`], re-exported here), the real `headroom` binary, and a user's
//! folders (Claude Code's with its credentials file, Headroom's) in a temp dir. The account
//! behind Extra Usage, on loopback, is [`extra_usage`].

pub mod extra_usage;

use crate::EnvClearKeepClock;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

pub use crate::http::{Request, Response, Server};

pub use crate::headroom_bin;

pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/account")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub const TOKEN: &str = "sk-ant-oat01-account-tests-SECRET-token-0123456789";
pub const REFRESH_TOKEN: &str = "sk-ant-ort01-account-tests-SECRET-refresh";

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every way the app can have written the clock time `at_ms` while a test ran from `from_ms`
/// to `to_ms`, in the children's zone (`TZ=UTC`), with the core's own formatter: "14:05",
/// "tomorrow 00:05" and so on. Two texts when the run spans midnight, so no test depends on
/// the hour it runs at (a reset three hours ahead reads "tomorrow" every evening).
pub fn clock_texts(at_ms: i64, from_ms: i64, to_ms: i64) -> Vec<String> {
    texts_between(headroom_core::text::clock, at_ms, from_ms, to_ms)
}

/// As [`clock_texts`], as the time reads after a verb: "at 14:05", "tomorrow at 00:05"
/// ([`headroom_core::text::at_clock`]).
pub fn at_clock_texts(at_ms: i64, from_ms: i64, to_ms: i64) -> Vec<String> {
    texts_between(headroom_core::text::at_clock, at_ms, from_ms, to_ms)
}

fn texts_between(
    write: fn(i64, i64, headroom_core::report::Zone) -> String,
    at_ms: i64,
    from_ms: i64,
    to_ms: i64,
) -> Vec<String> {
    let utc = headroom_core::report::Zone::Named(chrono_tz::UTC);
    let mut texts = vec![write(at_ms, from_ms, utc)];
    let later = write(at_ms, to_ms, utc);
    if !texts.contains(&later) {
        texts.push(later);
    }
    texts
}

/// A user's folders: Claude Code's (credentials, an empty `projects`) and Headroom's.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    /// With a valid Claude Code login.
    #[expect(
        clippy::new_without_default,
        reason = "a Home writes folders and files on disk; `Home::new()` says it makes one, a `Default` would not"
    )]
    pub fn new() -> Home {
        let home = Home::bare();
        home.write_credentials(
            now_ms() + 8 * 3_600_000,
            &["user:inference", "user:profile"],
        );
        home
    }

    /// No credentials at all.
    pub fn bare() -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("claude/projects")).unwrap();
        Home { dir }
    }

    pub fn claude_dir(&self) -> PathBuf {
        self.dir.path().join("claude")
    }

    pub fn headroom_home(&self) -> PathBuf {
        self.dir.path().join("headroom")
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.claude_dir().join(".credentials.json")
    }

    pub fn write_credentials(&self, expires_at_ms: i64, scopes: &[&str]) {
        self.write_credentials_for_plan(expires_at_ms, scopes, "max");
    }

    /// Claude Code's account file (`$CLAUDE_CONFIG_DIR/.claude.json`) naming the organization
    /// and the user's role in it.
    pub fn write_account_file(&self, organization: &str, role: Option<&str>) {
        let role = role
            .map(|r| format!(r#","organizationRole":"{r}""#))
            .unwrap_or_default();
        std::fs::write(
            self.claude_dir().join(".claude.json"),
            format!(
                r#"{{"numStartups":3,"oauthAccount":{{"accountUuid":"1a2b3c4d-0000-4000-8000-000000000001","emailAddress":"user@example.com","organizationName":"Acme","organizationUuid":"{organization}"{role}}},"projects":{{}}}}"#
            ),
        )
        .unwrap();
    }

    pub fn write_credentials_for_plan(&self, expires_at_ms: i64, scopes: &[&str], plan: &str) {
        let scopes: Vec<String> = scopes.iter().map(|s| format!("{s:?}")).collect();
        std::fs::write(
            self.credentials_path(),
            format!(
                r#"{{"claudeAiOauth":{{"accessToken":"{TOKEN}","refreshToken":"{REFRESH_TOKEN}","expiresAt":{expires_at_ms},"scopes":[{}],"subscriptionType":"{plan}","rateLimitTier":"default_claude_max_20x"}}}}"#,
                scopes.join(",")
            ),
        )
        .unwrap();
    }

    /// `headroom` with only this user's environment; `api` is the OAuth API base (a server
    /// that is not listening when `None`, so nothing can reach the real one).
    pub fn command(&self, api: Option<&str>) -> Command {
        let mut c = Command::new(headroom_bin());
        c.env_clear_keep_clock()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("CLAUDE_CONFIG_DIR", self.claude_dir())
            .env("HEADROOM_HOME", self.headroom_home())
            // Port 9 on loopback: nothing listens there, so a request fails fast as offline
            // and can never reach Anthropic.
            .env(
                "HEADROOM_ANTHROPIC_API",
                api.unwrap_or("http://127.0.0.1:9"),
            )
            .env("HEADROOM_CLAUDE_AI", "http://127.0.0.1:9")
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .env("TZ", "UTC")
            .env("NO_COLOR", "1")
            .env("HEADROOM_NO_BROWSER", "1")
            .env("HEADROOM_LOG", "warn")
            // No keychain unless a test provides one.
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/headroom-tests",
            )
            .stdin(Stdio::null());
        c
    }
}

/// Runs and returns the output, whatever the exit status.
pub fn output(mut command: Command) -> Output {
    command.output().unwrap()
}

/// Runs, asserts success, returns the output.
pub fn run(command: Command) -> Output {
    let out = output(command);
    assert!(
        out.status.success(),
        "headroom failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs with `input` on stdin.
pub fn run_with_stdin(mut command: Command, input: &[u8]) -> Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(input);
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `headroom status --json` (plus `extra` arguments), parsed.
pub fn status_json(home: &Home, api: Option<&str>, extra: &[&str]) -> serde_json::Value {
    let mut c = home.command(api);
    c.args(["status", "--json"]).args(extra);
    let out = run(c);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", stdout(&out)))
}

/// Serves `/api/oauth/usage` with `body` (200) to requests carrying the test token, 401
/// otherwise.
pub fn usage_server(body: String) -> Server {
    usage_server_shared(Arc::new(Mutex::new(body)))
}

/// As [`usage_server`], answering with what `body` holds when each request arrives, so a test
/// can change the account's figures while the app runs.
pub fn usage_server_shared(body: Arc<Mutex<String>>) -> Server {
    Server::start(move |r, _| {
        if r.path != "/api/oauth/usage" {
            return Response::not_found();
        }
        if authorized(r) {
            Response::json(200, body.lock().unwrap().clone())
        } else {
            Response::json(401, fixture("unauthorized.json"))
        }
    })
}

/// Whether the request carried the test token.
pub fn authorized(r: &Request) -> bool {
    r.header("authorization") == Some(&format!("Bearer {TOKEN}"))
}
