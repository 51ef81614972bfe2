//! What the account tests share: a loopback HTTP server that answers like Anthropic's
//! endpoints (canned responses chosen per request, every request recorded, optional delay),
//! the real `headroom` binary, and a user's folders (Claude Code's with its credentials file,
//! Headroom's) in a temp dir.
//!
//! The server is std only: one thread accepts, each connection is answered on its own thread
//! (so a deliberately slow answer does not hold up the next request), `connection: close`.
#![allow(dead_code)]

use headroom_tests::EnvClearKeepClock;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A canned answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Wait this long before answering (a slow server).
    pub delay: Duration,
}

impl Response {
    pub fn json(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn html(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn not_found() -> Response {
        Response::json(
            404,
            r#"{"type":"error","error":{"type":"not_found_error"}}"#,
        )
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> Response {
        self.delay = delay;
        self
    }
}

type Handler = dyn Fn(&Request, usize) -> Response + Send + Sync;

/// A loopback server. The handler sees each request and how many requests came before it.
pub struct Server {
    pub base: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    pub fn start(handler: impl Fn(&Request, usize) -> Response + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<Request>>> = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let handler: Arc<Handler> = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = log.clone();
                let handler = handler.clone();
                std::thread::spawn(move || serve_one(stream, &log, &*handler));
            }
        });
        Server { base, requests }
    }

    /// Answers every request for `path` with `response`, anything else with 404.
    pub fn fixed(path: &'static str, response: Response) -> Server {
        Server::start(move |r, _| {
            if r.path == path {
                response.clone()
            } else {
                Response::not_found()
            }
        })
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests asked for `path` (query ignored).
    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }
}

fn serve_one(mut stream: std::net::TcpStream, log: &Mutex<Vec<Request>>, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim().to_owned();
            if name == "content-length" {
                content_length = value.parse().unwrap_or(0);
            }
            headers.push((name, value));
        }
    }
    let mut sink = vec![0; content_length];
    let _ = reader.read_exact(&mut sink);
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("");
    let path = target.split('?').next().unwrap_or("").to_owned();
    let request = Request {
        method,
        path,
        headers,
    };
    let index = {
        let mut log = log.lock().unwrap();
        log.push(request.clone());
        log.len() - 1
    };
    let response = handler(&request, index);
    if !response.delay.is_zero() {
        std::thread::sleep(response.delay);
    }
    let reason = match response.status {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", response.status);
    for (n, v) in &response.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        response.body.len()
    ));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(response.body.as_bytes());
    let _ = stream.flush();
}

pub use headroom_tests::headroom_bin;

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
    let utc = headroom_core::report::Zone::Named(chrono_tz::UTC);
    let mut texts = vec![headroom_core::alerts::text::clock(at_ms, from_ms, utc)];
    let later = headroom_core::alerts::text::clock(at_ms, to_ms, utc);
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
        let scopes: Vec<String> = scopes.iter().map(|s| format!("{s:?}")).collect();
        std::fs::write(
            self.credentials_path(),
            format!(
                r#"{{"claudeAiOauth":{{"accessToken":"{TOKEN}","refreshToken":"{REFRESH_TOKEN}","expiresAt":{expires_at_ms},"scopes":[{}],"subscriptionType":"max","rateLimitTier":"default_claude_max_20x"}}}}"#,
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
