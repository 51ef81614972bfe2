//! A small W3C WebDriver client over plain HTTP/1.1 on loopback: enough to open a session on
//! `tauri-driver`, find elements, type, click, read text, run a script and take a screenshot.
//! No client crate: the protocol is a dozen JSON requests, and std's `TcpStream` plus
//! `serde_json` keep the test package's dependencies (and the shared lockfile) as they are.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

#[derive(Debug)]
pub struct WdError(pub String);

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One request: method, path, optional JSON body; returns the response's `value`.
///
/// A request that comes back with no response at all is sent again (three tries):
/// tauri-driver forwards over pooled keep-alive connections to WebKitWebDriver, which closes
/// idle ones; a request that lands on a connection just closed is reset before WebKitWebDriver
/// reads it (tauri-driver logs "Connection reset by peer" and answers with an empty body).
/// WebDriver errors (`{"value": {"error": ...}}`) are never retried.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, WdError> {
    let mut tries = 0;
    loop {
        match request_once(addr, method, path, body) {
            Err(Transport(e)) if tries < 2 => {
                tries += 1;
                eprintln!("webdriver: {e}; sending it again");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(Transport(e)) | Err(Protocol(e)) => return Err(e),
            Ok(v) => return Ok(v),
        }
    }
}

enum Failure {
    /// No answer: connection refused or reset, empty body.
    Transport(WdError),
    /// An answer that says no.
    Protocol(WdError),
}
use Failure::{Protocol, Transport};

fn request_once(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, Failure> {
    let err = |what: &str, e: &dyn std::fmt::Display| {
        Transport(WdError(format!("{method} {path}: {what}: {e}")))
    };
    let mut stream = TcpStream::connect(addr).map_err(|e| err("connect", &e))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(90)))
        .map_err(|e| err("timeout", &e))?;
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{payload}",
        payload.len()
    )
    .map_err(|e| err("write", &e))?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).map_err(|e| err("read", &e))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| err("read", &e))? == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok();
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut raw = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).map_err(|e| err("read", &e))?;
            let n = usize::from_str_radix(size.trim(), 16)
                .map_err(|e| Protocol(WdError(format!("{method} {path}: chunk: {e}"))))?;
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).map_err(|e| err("read", &e))?;
            raw.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = length {
        raw.resize(n, 0);
        reader.read_exact(&mut raw).map_err(|e| err("read", &e))?;
    } else {
        reader.read_to_end(&mut raw).map_err(|e| err("read", &e))?;
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(err("empty response", &status.trim()));
    }
    let value: Value = serde_json::from_slice(&raw)
        .map_err(|e| Protocol(WdError(format!("{method} {path}: json: {e}"))))?;
    let value = value.get("value").cloned().unwrap_or(Value::Null);
    if let Some(code) = value.get("error").and_then(Value::as_str) {
        let message = value.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(Protocol(WdError(format!(
            "{method} {path}: {code}: {message}"
        ))));
    }
    Ok(value)
}

/// Waits until `GET /status` answers ready.
pub fn wait_ready(addr: &str, timeout: Duration) -> Result<(), WdError> {
    let start = Instant::now();
    loop {
        match request(addr, "GET", "/status", None) {
            Ok(v) if v.get("ready").and_then(Value::as_bool) != Some(false) => return Ok(()),
            other if start.elapsed() > timeout => {
                return Err(WdError(format!("WebDriver at {addr} not ready: {other:?}")))
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

pub struct Session {
    addr: String,
    id: String,
}

impl Session {
    /// Starts the app through tauri-driver: `application` is the app binary.
    pub fn start_tauri(addr: &str, application: &str, args: &[&str]) -> Result<Session, WdError> {
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "wry",
                "tauri:options": { "application": application, "args": args }
            }}
        });
        let v = request(addr, "POST", "/session", Some(&caps))?;
        let id = v
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| WdError(format!("no sessionId in {v}")))?
            .to_owned();
        Ok(Session {
            addr: addr.to_owned(),
            id,
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        request(
            &self.addr,
            method,
            &format!("/session/{}{path}", self.id),
            body.as_ref(),
        )
    }

    pub fn find(&self, css: &str) -> Result<Element<'_>, WdError> {
        let v = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        let id = v
            .get(ELEMENT)
            .and_then(Value::as_str)
            .ok_or_else(|| WdError(format!("no element reference for {css}: {v}")))?;
        Ok(Element {
            session: self,
            id: id.to_owned(),
            css: css.to_owned(),
        })
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn execute(&self, script: &str, args: Value) -> Result<Value, WdError> {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// The text of the element matching `css`, or `None` when there is none. Read by script so
    /// that hidden elements read as empty, like a person would see them.
    pub fn text_of(&self, css: &str) -> Result<Option<String>, WdError> {
        let v = self.execute(
            "const e = document.querySelector(arguments[0]); if (!e) return null; \
             return (e.hidden || e.closest('[hidden]')) ? '' : e.textContent;",
            json!([css]),
        )?;
        Ok(v.as_str().map(str::to_owned))
    }

    /// Polls `check` until it returns `Some`, or fails with what was last seen.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Session) -> Result<Option<T>, WdError>,
    ) -> Result<T, WdError> {
        let start = Instant::now();
        let mut last = String::new();
        loop {
            match check(self) {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => last = e.to_string(),
            }
            if start.elapsed() > timeout {
                return Err(WdError(format!(
                    "timed out after {:?} waiting for {what} {last}",
                    timeout
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the element's visible text satisfies `pred`; returns that text.
    pub fn wait_text(
        &self,
        css: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, WdError> {
        let mut seen = String::new();
        let r = self.wait_for(css, timeout, |s| {
            let t = s.text_of(css)?.unwrap_or_default();
            seen = t.clone();
            Ok(pred(&t).then_some(t))
        });
        r.map_err(|e| WdError(format!("{e} (last text: {seen:?})")))
    }

    /// PNG bytes of the window.
    pub fn screenshot(&self) -> Result<Vec<u8>, WdError> {
        let v = self.call("GET", "/screenshot", None)?;
        let b64 = v
            .as_str()
            .ok_or_else(|| WdError("screenshot is not a string".into()))?;
        base64_decode(b64).ok_or_else(|| WdError("screenshot is not base64".into()))
    }

    pub fn set_window_size(&self, width: u32, height: u32) -> Result<(), WdError> {
        self.call(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .map(|_| ())
    }

    pub fn close(self) -> Result<(), WdError> {
        self.end()
    }

    /// Ends the session (and the app with it), for a holder that cannot give the session up.
    pub fn end(&self) -> Result<(), WdError> {
        self.call("DELETE", "", None).map(|_| ())
    }
}

pub struct Element<'a> {
    session: &'a Session,
    id: String,
    css: String,
}

impl Element<'_> {
    pub fn click(&self) -> Result<(), WdError> {
        self.session
            .call(
                "POST",
                &format!("/element/{}/click", self.id),
                Some(json!({})),
            )
            .map(|_| ())
            .map_err(|e| WdError(format!("click {}: {e}", self.css)))
    }

    pub fn clear(&self) -> Result<(), WdError> {
        self.session
            .call(
                "POST",
                &format!("/element/{}/clear", self.id),
                Some(json!({})),
            )
            .map(|_| ())
    }

    pub fn send_keys(&self, text: &str) -> Result<(), WdError> {
        self.session
            .call(
                "POST",
                &format!("/element/{}/value", self.id),
                Some(json!({"text": text})),
            )
            .map(|_| ())
            .map_err(|e| WdError(format!("type into {}: {e}", self.css)))
    }

    pub fn property(&self, name: &str) -> Result<Value, WdError> {
        self.session.call(
            "GET",
            &format!("/element/{}/property/{name}", self.id),
            None,
        )
    }
}

/// Standard base64 (with padding, ignoring whitespace).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let take = chunk.len().saturating_sub(1);
        out.extend_from_slice(&n.to_be_bytes()[1..1 + take]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_round_trips_known_values() {
        assert_eq!(super::base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(super::base64_decode("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(super::base64_decode("aGk=").unwrap(), b"hi");
        assert!(super::base64_decode("a$==").is_none());
    }
}
