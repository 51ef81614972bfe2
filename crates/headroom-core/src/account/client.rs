//! The one HTTP client of the account sources: Anthropic's OAuth usage endpoint and claude.ai.
//!
//! - Base URLs are passed in (the front ends read `HEADROOM_ANTHROPIC_API` and
//!   `HEADROOM_CLAUDE_AI` once, see `environment`); each is its official origin or a loopback
//!   address ([`base_url`]), so a credential goes only to Anthropic or to this machine.
//! - Requests to loopback bypass any configured proxy (`HTTP_PROXY`, `ALL_PROXY`): a test
//!   server's bearer token must not travel, in cleartext, to a proxy.
//! - Timeouts are always set (reqwest has none by default): 5 s to connect, 20 s in all.
//! - `Authorization` and `Cookie` headers are marked sensitive, and no error text here ever
//!   includes a header or a response body (a body can echo what was sent).
//! - Redirects are not followed: a redirect to a login page is a login problem, and a
//!   credential must never travel to another host.
//! - Bodies over 2 MiB are refused.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, RETRY_AFTER,
};
pub(crate) use reqwest::Method;
use reqwest::{StatusCode, Url};

use super::secret::Secret;

pub(crate) const DEFAULT_ANTHROPIC_API: &str = "https://api.anthropic.com";
pub(crate) const DEFAULT_CLAUDE_AI: &str = "https://claude.ai";
pub(crate) const OAUTH_USAGE: [&str; 3] = ["api", "oauth", "usage"];
pub(crate) const OAUTH_BETA: &str = "oauth-2025-04-20";
const MAX_BODY: usize = 2 << 20;

pub(crate) fn user_agent() -> String {
    format!(
        "headroom/{} (+https://github.com/headroom-app/headroom)",
        env!("CARGO_PKG_VERSION")
    )
}

/// The HTTP timeouts: reqwest has none by default, so every client here sets both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To connect (5 s by default).
    pub connect: Duration,
    /// For the whole request, body included (20 s by default).
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(20),
        }
    }
}

/// Why the client could not be set up or a base URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// A base URL that is not an official origin or loopback
    /// ([`AccountEnv`](crate::environment::AccountEnv) overrides are checked at the edge).
    #[error("{url:?} is not a usable address: {why}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why it is refused, and what is allowed.
        why: String,
    },
    /// The TLS backend or client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

/// The service a base URL is for: each may point only at its own official origin, or at
/// this machine (test servers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// The OAuth usage endpoint; gets Claude Code's bearer token.
    AnthropicApi,
    /// claude.ai; gets the session key as a cookie.
    ClaudeAi,
}

/// The official bases, parsed once: [`AccountConfig::new`](super::AccountConfig::new)'s
/// defaults and what [`base_url`] compares with.
static OFFICIAL_ANTHROPIC_API: LazyLock<Url> =
    LazyLock::new(|| constant_url(DEFAULT_ANTHROPIC_API));
static OFFICIAL_CLAUDE_AI: LazyLock<Url> = LazyLock::new(|| constant_url(DEFAULT_CLAUDE_AI));

// The lint is on outside tests only (lib.rs), so the expectation is too.
#[cfg_attr(
    not(test),
    expect(
        clippy::expect_used,
        reason = "parses a constant of this file; the test official_urls_parse says it does"
    )
)]
fn constant_url(text: &'static str) -> Url {
    Url::parse(text).expect("constant URL")
}

impl Service {
    pub(crate) fn official(self) -> &'static str {
        match self {
            Service::AnthropicApi => DEFAULT_ANTHROPIC_API,
            Service::ClaudeAi => DEFAULT_CLAUDE_AI,
        }
    }

    /// [`Service::official`], parsed.
    pub(crate) fn official_url(self) -> &'static Url {
        match self {
            Service::AnthropicApi => &OFFICIAL_ANTHROPIC_API,
            Service::ClaudeAi => &OFFICIAL_CLAUDE_AI,
        }
    }
}

/// Checks a base URL for `service`: exactly its official origin (`https://api.anthropic.com`
/// or `https://claude.ai`, no other port or path), or http(s) on a loopback address
/// (127.0.0.0/8, `[::1]`), where a path prefix is kept. Nothing else: the credential sent to
/// it is the user's login, and an environment the user did not write (a project's env block,
/// a shell profile) must not be able to send it elsewhere.
///
/// The name `localhost` is refused rather than trusted: it is resolved by the system
/// (`/etc/hosts`, NSS), which is outside Headroom's view, and a test can as well write
/// `127.0.0.1`.
pub(crate) fn base_url(text: &str, service: Service) -> Result<Url, ClientError> {
    let official = service.official();
    let bad = |why: String| ClientError::BadUrl {
        url: text.to_owned(),
        why,
    };
    let allowed = || {
        format!("only {official} or a loopback address (http://127.0.0.1:<port>, http://[::1]:<port>) is allowed")
    };
    let url = Url::parse(text.trim()).map_err(|e| bad(format!("{e}; {}", allowed())))?;
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad(
            "it must not carry a user, a password, a query or a fragment".into(),
        ));
    }
    let official_url = service.official_url();
    if url.scheme() == "https"
        && url.host() == official_url.host()
        && url.port().is_none()
        && url.path() == "/"
    {
        return Ok(url);
    }
    if matches!(url.scheme(), "http" | "https") && is_loopback(&url) {
        return Ok(url);
    }
    if matches!(url.host(), Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost")) {
        return Err(bad(format!(
            "the name localhost is not trusted (the system resolves it); write 127.0.0.1 or [::1] instead; {}",
            allowed()
        )));
    }
    Err(bad(allowed()))
}

/// Whether `url`'s host is a loopback address (127.0.0.0/8, `::1`): test servers. A name is
/// never loopback here, `localhost` included (see [`base_url`]).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(_)) | None => false,
    }
}

/// Why a request gave no figures. Messages never contain a secret or a response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum FetchError {
    /// No connection (name lookup, refused, reset): the innermost cause, in one short line.
    #[error("offline or unreachable ({0})")]
    Offline(String),
    /// No answer within the total timeout (seconds).
    #[error("no answer within {0} s")]
    Timeout(u64),
    /// The connection broke after the request was sent, or the answer was cut short: unlike
    /// [`FetchError::Offline`], the server may have received (and carried out) the request.
    #[error("the connection broke before the answer was complete")]
    Interrupted,
    /// 401.
    #[error("the login was refused (401)")]
    Unauthorized,
    /// 403.
    #[error("access denied (403{})", if *.missing_scope { ", the login lacks a needed scope" } else { "" })]
    Forbidden {
        /// Whether the answer said the login lacks a scope.
        missing_scope: bool,
    },
    /// 429: a cool-down follows, honouring `Retry-After`.
    #[error("rate limited by Anthropic (429)")]
    RateLimited {
        /// `Retry-After` in seconds, when the server sent it.
        retry_after_s: Option<u64>,
    },
    /// A 5xx status.
    #[error("Anthropic's server failed ({0})")]
    Server(u16),
    /// Any other unexpected status.
    #[error("unexpected answer (HTTP {0})")]
    Status(u16),
    /// A body over 2 MiB.
    #[error("the answer was too large")]
    TooLarge,
    /// The request could not be built.
    #[error("cannot build the request: {0}")]
    Request(String),
}

/// An answer [`Http::send`] hands back: its status and body (at most 2 MiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// How a request proves who it is.
pub(crate) enum Auth<'a> {
    /// OAuth: `Authorization: Bearer …` and the OAuth beta header.
    Bearer(&'a Secret),
    /// claude.ai: the `sessionKey` cookie.
    SessionKey(&'a Secret),
}

#[derive(Debug, Clone)]
pub(crate) struct Http {
    /// For Anthropic's hosts: honours the system's proxy settings.
    client: reqwest::Client,
    /// For loopback bases: never through a proxy. reqwest applies `HTTP_PROXY` to loopback
    /// as well (it has no implicit localhost exception), which would hand a test server's
    /// bearer token to the proxy in cleartext.
    direct: reqwest::Client,
    timeouts: Timeouts,
}

impl Http {
    pub(crate) fn new(timeouts: Timeouts) -> Result<Http, ClientError> {
        let builder = || {
            reqwest::Client::builder()
                .user_agent(user_agent())
                .connect_timeout(timeouts.connect)
                .timeout(timeouts.total)
                .redirect(reqwest::redirect::Policy::none())
                // One request every few minutes: nothing to gain from idle connections, and
                // a pooled connection must not outlive the runtime of a blocking caller.
                .pool_max_idle_per_host(0)
        };
        let setup = |e: reqwest::Error| ClientError::Setup(e.to_string());
        Ok(Http {
            client: builder().build().map_err(setup)?,
            direct: builder().no_proxy().build().map_err(setup)?,
            timeouts,
        })
    }

    /// GETs `url` and returns the body of a 2xx answer.
    pub(crate) async fn get(&self, url: Url, auth: Auth<'_>) -> Result<Vec<u8>, FetchError> {
        let answer = self.send(Method::GET, url, auth, &[], None).await?;
        match answer.status {
            200..=299 => Ok(answer.body),
            401 => Err(FetchError::Unauthorized),
            403 => {
                let text = String::from_utf8_lossy(&answer.body).to_ascii_lowercase();
                Err(FetchError::Forbidden {
                    missing_scope: text.contains("scope"),
                })
            }
            s @ 500..=599 => Err(FetchError::Server(s)),
            s => Err(FetchError::Status(s)),
        }
    }

    /// Sends one request and returns the answer of any status but two: a 429 is
    /// [`FetchError::RateLimited`] (the shared cool-down's business) and a redirect is
    /// [`FetchError::Unauthorized`] (where a login page would send us). `extra` headers are
    /// added as given; `body`, when there is one, goes as JSON. The answer's body is the
    /// caller's to read (an account write's refusal carries the reason in it) and is never
    /// put in an error here.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        auth: Auth<'_>,
        extra: &[(&'static str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        match auth {
            Auth::Bearer(token) => {
                let mut v =
                    HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                        FetchError::Request("the token has characters a header cannot carry".into())
                    })?;
                v.set_sensitive(true);
                headers.insert(AUTHORIZATION, v);
                headers.insert("anthropic-beta", HeaderValue::from_static(OAUTH_BETA));
            }
            Auth::SessionKey(key) => {
                let mut v = HeaderValue::from_str(&format!("sessionKey={}", key.expose()))
                    .map_err(|_| {
                        FetchError::Request(
                            "the session key has characters a header cannot carry".into(),
                        )
                    })?;
                v.set_sensitive(true);
                headers.insert(COOKIE, v);
            }
        }
        for (name, value) in extra {
            let v = HeaderValue::from_str(value).map_err(|_| {
                FetchError::Request(format!("the {name} header cannot carry its value"))
            })?;
            headers.insert(*name, v);
        }
        let payload = match body {
            Some(json) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Some(
                    serde_json::to_vec(json)
                        .map_err(|e| FetchError::Request(format!("cannot encode the body: {e}")))?,
                )
            }
            None => None,
        };
        let path = url.path().to_owned();
        let client = if is_loopback(&url) {
            &self.direct
        } else {
            &self.client
        };
        let method_name = method.as_str().to_owned();
        let mut request = client.request(method, url).headers(headers);
        if let Some(payload) = payload {
            request = request.body(payload);
        }
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        let status = response.status();
        tracing::debug!(method = %method_name, %path, status = status.as_u16(), "account request");
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after_s = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after);
            return Err(FetchError::RateLimited { retry_after_s });
        }
        let body = read_limited(response)
            .await
            .map_err(|e| self.transport_or(e))?;
        if status.is_redirection() {
            return Err(FetchError::Unauthorized);
        }
        Ok(Answer {
            status: status.as_u16(),
            body,
        })
    }

    fn transport(&self, e: &reqwest::Error) -> FetchError {
        if e.is_timeout() {
            FetchError::Timeout(self.timeouts.total.as_secs().max(1))
        } else if e.is_connect() {
            FetchError::Offline(connect_reason(e))
        } else if e.is_builder() {
            FetchError::Request(connect_reason(e))
        } else {
            // Connected, so the request may have reached the server: a reset while sending or
            // reading, a body cut short, a malformed answer.
            FetchError::Interrupted
        }
    }

    fn transport_or(&self, e: ReadError) -> FetchError {
        match e {
            ReadError::TooLarge => FetchError::TooLarge,
            ReadError::Transport(e) => self.transport(&e),
        }
    }
}

enum ReadError {
    TooLarge,
    Transport(reqwest::Error),
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The innermost cause of a connection error (e.g. "Connection refused"), which names no
/// secret: requests carry credentials only in headers.
fn connect_reason(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    let reason = last.unwrap_or_else(|| "cannot connect".to_owned());
    // Keep it short and single-line.
    reason
        .lines()
        .next()
        .unwrap_or("cannot connect")
        .chars()
        .take(120)
        .collect()
}

/// `Retry-After`: seconds, or an HTTP date (then relative to this machine's clock).
pub(crate) fn retry_after(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(s) = text.parse::<u64>() {
        return Some(s);
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let delta = at.timestamp() - chrono::Utc::now().timestamp();
    Some(delta.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_official_host_or_loopback() {
        let api = Service::AnthropicApi;
        assert_eq!(
            base_url("https://api.anthropic.com", api).unwrap().as_str(),
            "https://api.anthropic.com/"
        );
        assert!(base_url("https://api.anthropic.com/", api).is_ok());
        assert!(base_url("https://API.anthropic.com:443", api).is_ok());
        assert!(base_url("https://claude.ai", Service::ClaudeAi).is_ok());
        for loopback in [
            "http://127.0.0.1:8080",
            "http://127.5.0.1",
            "http://[::1]:9",
            "https://127.0.0.1:9",
            "http://127.0.0.1:9/prefix/",
        ] {
            assert!(base_url(loopback, api).is_ok(), "{loopback}");
            assert!(base_url(loopback, Service::ClaudeAi).is_ok(), "{loopback}");
        }
        for foreign in [
            "https://attacker.example",
            "https://api.anthropic.com.attacker.example",
            "https://api.anthropic.com:8443",
            "https://api.anthropic.com/elsewhere",
            "https://claude.ai",
            "https://10.0.0.1",
            "https://[::ffff:127.0.0.1]",
            "http://api.anthropic.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "https://u:p@api.anthropic.com",
            "https://api.anthropic.com/?q=1",
            "not a url",
            // The name is resolved by the system, which the environment can redirect.
            "http://localhost:1",
        ] {
            assert!(base_url(foreign, api).is_err(), "{foreign}");
        }
        assert!(base_url("https://api.anthropic.com", Service::ClaudeAi).is_err());
        let why = base_url("https://attacker.example", api)
            .unwrap_err()
            .to_string();
        assert!(why.contains("https://api.anthropic.com"), "{why}");
        let why = base_url("http://localhost:1", api).unwrap_err().to_string();
        assert!(why.contains("127.0.0.1"), "{why}");
    }

    #[test]
    fn official_urls_parse() {
        assert_eq!(
            Service::AnthropicApi.official_url().as_str(),
            "https://api.anthropic.com/"
        );
        assert_eq!(
            Service::ClaudeAi.official_url().as_str(),
            "https://claude.ai/"
        );
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after("120"), Some(120));
        assert_eq!(retry_after(" 0 "), Some(0));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        assert_eq!(retry_after("soon"), None);
    }
}
