//! A loopback HTTP server for tests, answering like Anthropic's endpoints: canned responses
//! chosen per request by a handler, every request recorded, an optional delay per answer.
//!
//! std only: one thread accepts, each connection is answered on its own thread (so a
//! deliberately slow answer does not hold up the next request), `connection: close`. Shared by
//! the tests of every package (through [`crate::account`]) and the tray app's (`src-tauri/tests`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body, as text (empty for none).
    pub body: String,
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
    /// Send the head and half the body, then drop the connection (a proxy that died
    /// mid-answer): the client cannot read a whole answer.
    pub cut_off: bool,
}

impl Response {
    pub fn json(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
            cut_off: false,
        }
    }

    pub fn html(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            body: body.into(),
            delay: Duration::ZERO,
            cut_off: false,
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

    /// The same answer, cut off halfway through its body.
    pub fn cut_off(mut self) -> Response {
        self.cut_off = true;
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
        body: String::from_utf8_lossy(&sink).into_owned(),
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
        405 => "Method Not Allowed",
        409 => "Conflict",
        502 => "Bad Gateway",
        422 => "Unprocessable Entity",
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
    if response.cut_off {
        let half = response.body.len() / 2;
        let _ = stream.write_all(&response.body.as_bytes()[..half]);
        let _ = stream.flush();
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return;
    }
    let _ = stream.write_all(response.body.as_bytes());
    let _ = stream.flush();
}
