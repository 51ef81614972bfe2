//! The `/metrics` endpoint: one std thread on a blocking listener, so an exporter nobody
//! scrapes costs no CPU at all (no runtime, no timer). Requests are parsed by `httparse`
//! (hyper's parser) and answered with `connection: close`; each is answered from the frame
//! already built, never by reading the ledger, so a scrape costs the same at any history size.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::model::Frame;
use crate::prometheus;

/// The conventional port (Prometheus's exporter range), on loopback: anything else must be
/// asked for by an explicit address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// How long a client may take to send its request: a stuck client must not hold the one
/// serving thread for long.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest request head read; a scrape's is a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The latest frame, shared by the round (which replaces it) and the endpoint and the OTLP
/// exporter (which read it).
#[derive(Debug, Default)]
pub struct Latest {
    frame: RwLock<Arc<Frame>>,
}

impl Latest {
    pub fn new() -> Arc<Latest> {
        Arc::new(Latest::default())
    }

    pub fn publish(&self, frame: Frame) {
        // A poisoned lock only means a reader panicked mid-clone of an Arc: the value is fine.
        let mut slot = self.frame.write().unwrap_or_else(|p| p.into_inner());
        *slot = Arc::new(frame);
    }

    pub fn get(&self) -> Arc<Frame> {
        self.frame.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A running endpoint; dropping it stops it.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Listens on `addr` and serves `latest` until dropped. `on_scrape` runs after each
    /// `/metrics` answer (the CLI uses it to read new transcript lines for the next scrape).
    pub fn start(
        addr: SocketAddr,
        latest: Arc<Latest>,
        on_scrape: Box<dyn Fn() + Send>,
    ) -> Result<Server, ServeError> {
        let listener =
            TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::Builder::new()
            .name("headroom-metrics".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stopping.load(Ordering::Acquire) {
                        break;
                    }
                    match conn {
                        Ok(stream) => {
                            if answer(stream, &latest) {
                                on_scrape();
                            }
                        }
                        Err(e) => tracing::debug!("metrics: accept failed: {e}"),
                    }
                }
            })
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Server { addr, stop })
    }

    /// Where it listens (the port chosen, when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocking accept so the thread sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// Answers one connection; says whether it was a scrape of `/metrics`.
fn answer(mut stream: TcpStream, latest: &Latest) -> bool {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let (method, path) = loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                break (
                    req.method.unwrap_or("").to_owned(),
                    req.path.unwrap_or("").to_owned(),
                )
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            _ => {
                let _ = respond(
                    &mut stream,
                    "400 Bad Request",
                    "text/plain",
                    b"bad request\n",
                    true,
                );
                return false;
            }
        }
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        let _ = respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"GET only\n",
            true,
        );
        return false;
    }
    // A query string (`?name[]=…`, which some scrapers add) does not change the page.
    match path.split('?').next().unwrap_or("") {
        "/metrics" => {
            let body = prometheus::render(latest.get());
            let _ = respond(
                &mut stream,
                "200 OK",
                prometheus::CONTENT_TYPE,
                body.as_bytes(),
                !head_only,
            );
            true
        }
        "/" => {
            let body = b"Headroom's metrics are at /metrics\n";
            let _ = respond(
                &mut stream,
                "200 OK",
                "text/plain; charset=utf-8",
                body,
                !head_only,
            );
            false
        }
        _ => {
            let _ = respond(
                &mut stream,
                "404 Not Found",
                "text/plain",
                b"not found\n",
                !head_only,
            );
            false
        }
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if with_body {
        stream.write_all(body)?;
    }
    stream.flush()
}
