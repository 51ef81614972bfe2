//! The `/metrics` endpoint: hyper's HTTP/1 server on a small tokio runtime of its own (one
//! thread), so one slow or stuck client never delays a scrape, and an exporter nobody scrapes
//! costs no CPU (the thread waits in the runtime's poll, no timer ticks). Each request is
//! answered from the frame already built, never by reading the ledger, so a scrape costs the
//! same at any history size.
//!
//! The limits (docs/metrics.md):
//! - a request head must arrive within [`HEAD_TIMEOUT`] of the connection, and a whole
//!   connection ends after [`CONNECTION_TIMEOUT`]; at most [`MAX_CONNECTIONS`] at once;
//! - only `GET`/`HEAD` of `/metrics` and `/` are answered, one request per connection;
//! - only to a `Host` that names this machine by address or `localhost` ([`host_allowed`]),
//!   so a web page cannot read the figures through DNS rebinding.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::model::Frame;
use crate::prometheus;

/// The conventional port (Prometheus's exporter range), on loopback: anything else must be
/// asked for by an explicit address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// How long a client may take to send its request head, counted from the connection (not
/// per read: a client sending one byte at a time is cut off all the same). A scrape's head is
/// a few hundred bytes sent at once.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one connection may last in all, reading the answer included.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the listen backlog. Each slow one ends within
/// [`HEAD_TIMEOUT`], so even this many cannot keep a scrape out for long.
pub const MAX_CONNECTIONS: usize = 64;
/// The longest request head read (hyper's smallest buffer); a scrape's is a few hundred bytes.
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

/// Called after each `/metrics` answer (the CLI reads new transcript lines then).
pub type OnScrape = Arc<dyn Fn() + Send + Sync>;

/// A running endpoint; dropping it stops it and closes the port before `drop` returns.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What every connection's answers need.
struct Shared {
    latest: Arc<Latest>,
    on_scrape: OnScrape,
    bound: SocketAddr,
    /// The machine's name, accepted as a `Host` when the endpoint listens beyond loopback
    /// (a team's Prometheus names its targets so).
    host_name: Option<String>,
}

impl Server {
    /// Listens on `addr` and serves `latest` until dropped. `on_scrape` runs after each
    /// `/metrics` answer (the CLI uses it to read new transcript lines for the next scrape).
    pub fn start(
        addr: SocketAddr,
        latest: Arc<Latest>,
        on_scrape: OnScrape,
    ) -> Result<Server, ServeError> {
        let bind_error = |source| ServeError::Bind { addr, source };
        // Bound here, on the caller's thread, so a taken port is said at once.
        let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(bind_error)?;
        let shared = Arc::new(Shared {
            latest,
            on_scrape,
            bound,
            host_name: (!bound.ip().is_loopback())
                .then(crate::otlp::host_name)
                .flatten(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("headroom-metrics".into())
            .spawn(move || {
                runtime.block_on(serve(listener, shared, stopped));
                // Dropping the runtime ends every connection still open (their tasks are
                // dropped): nothing outlives the server.
                drop(runtime);
            })
            .map_err(bind_error)?;
        Ok(Server {
            addr: bound,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where it listens (the port chosen, when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The accept loop ends on this message (no connection to ourselves to wake it, which
        // an address like 0.0.0.0 would not take), and the thread ends right after with the
        // listener closed: once `drop` returns the port is free to bind again.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::warn!("metrics: the endpoint's thread panicked");
            }
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!("metrics: cannot serve: {e}");
            return;
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        // One request per connection: a scraper reconnects (cheap on loopback), and an idle
        // connection holds nothing.
        .keep_alive(false);
    loop {
        let slot = tokio::select! {
            _ = &mut stopped => return,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
        };
        let (stream, _) = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::debug!("metrics: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let local_ip = stream.local_addr().ok().map(|a| a.ip());
        let shared = shared.clone();
        let connection = http.serve_connection(
            TokioIo::new(stream),
            service_fn(move |request| {
                let response = answer(&request, &shared, local_ip);
                async move { Ok::<_, Infallible>(response) }
            }),
        );
        tokio::spawn(async move {
            if let Err(e) = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await {
                tracing::debug!("metrics: connection closed after {e}");
            }
            drop(slot);
        });
    }
}

/// The answer to one request.
fn answer(
    request: &Request<Incoming>,
    shared: &Shared,
    local_ip: Option<IpAddr>,
) -> Response<Full<Bytes>> {
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| request.headers().get(HOST).and_then(|h| h.to_str().ok()));
    if !host.is_some_and(|h| host_allowed(h, shared.bound, local_ip, shared.host_name.as_deref())) {
        return plain(
            StatusCode::MISDIRECTED_REQUEST,
            "this endpoint answers only to its own address or localhost\n",
        );
    }
    let head_only = request.method() == Method::HEAD;
    if request.method() != Method::GET && !head_only {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
        response
            .headers_mut()
            .insert("allow", HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    // A query string (`?name[]=…`, which some scrapers add) does not change the page.
    let mut response = match request.uri().path() {
        "/metrics" => {
            let page = prometheus::render(shared.latest.get());
            let mut response = Response::new(Full::new(Bytes::from(page)));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(prometheus::CONTENT_TYPE),
            );
            (shared.on_scrape)();
            response
        }
        "/" => plain(StatusCode::OK, "Headroom's metrics are at /metrics\n"),
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    };
    if head_only {
        // hyper sends no body for HEAD, but keeps the length the GET would have.
        *response.body_mut() = Full::new(Bytes::new());
    }
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Whether a request naming `host` (a `Host` header: a name or an address, with or without
/// a port) is for this endpoint: `localhost`, a loopback address, the address it listens on,
/// the address the client reached (for an endpoint on `0.0.0.0`), or the machine's own name
/// when it listens beyond loopback. A page that rebinds its own name to 127.0.0.1 still sends
/// that name, and is refused.
pub fn host_allowed(
    host: &str,
    bound: SocketAddr,
    local_ip: Option<IpAddr>,
    host_name: Option<&str>,
) -> bool {
    let name = strip_port(host);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return ip.is_loopback() || ip == bound.ip() || Some(ip) == local_ip;
    }
    host_name.is_some_and(|own| name.eq_ignore_ascii_case(own))
}

/// `host` without its `:port` (an IPv6 address keeps its brackets).
fn strip_port(host: &str) -> &str {
    let host = host.trim();
    match host.rfind(':') {
        // `[::1]:9464` or `name:9464`; a bare IPv6 address has colons but no port after `]`.
        Some(i) if host[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            let head = &host[..i];
            if head.starts_with('[') || !head.contains(':') {
                head
            } else {
                host
            }
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machines_names_are_hosts() {
        let loopback: SocketAddr = "127.0.0.1:9464".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:9464".parse().unwrap();
        let lan: IpAddr = "10.0.0.12".parse().unwrap();
        for ok in [
            "localhost",
            "LOCALHOST:9464",
            "127.0.0.1",
            "127.0.0.1:9464",
            "[::1]",
            "[::1]:9464",
        ] {
            assert!(host_allowed(ok, loopback, None, None), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:9464",
            "localhost.evil.example",
            "10.0.0.12:9464",
            "",
            "[::1",
        ] {
            assert!(!host_allowed(refused, loopback, None, None), "{refused}");
        }
        // On 0.0.0.0: the address the client reached, and the machine's own name.
        assert!(host_allowed("10.0.0.12:9464", any, Some(lan), Some("box")));
        assert!(host_allowed("BOX:9464", any, Some(lan), Some("box")));
        assert!(!host_allowed("10.0.0.13:9464", any, Some(lan), Some("box")));
        assert!(!host_allowed("evil.example", any, Some(lan), Some("box")));
    }
}
