//! The same families pushed over OTLP/HTTP (protobuf bodies) to the collector the user names.
//!
//! Who may start a push (docs/metrics.md, "Who pushes"):
//! - `headroom serve` is configured as every OpenTelemetry SDK is:
//!   `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (used as it is), else `OTEL_EXPORTER_OTLP_ENDPOINT`
//!   (+ `/v1/metrics`), else the settings' `metrics.otlp_endpoint`. Starting `serve` with a
//!   variable set is the choice.
//! - The tray pushes only to `metrics.otlp_endpoint`: a variable the app inherited (set for
//!   Claude Code's telemetry, say) neither starts a push nor moves it elsewhere
//!   ([`EnvEndpoint::Ignored`]).
//!
//! `OTEL_EXPORTER_OTLP_HEADERS` (usually an API key, never logged) goes only to the collector
//! the variables themselves name, never to another host: not to a settings endpoint elsewhere,
//! and not after a redirect (redirects are not followed). `https://` collectors are verified
//! against the Mozilla roots plus, when set, the PEM file `OTEL_EXPORTER_OTLP_CERTIFICATE`
//! names. `OTEL_METRIC_EXPORT_INTERVAL` is in milliseconds, 60 s by default, at least
//! [`MIN_INTERVAL`].
//!
//! The SDK's periodic reader exports on a thread of its own, reading the latest [`Frame`]
//! through observable instruments: the round only swaps the frame, so a collector that is
//! down or slow costs a log line on that thread and a retry at the next interval, never a
//! stalled round, and the ledger is never involved.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::metrics::{AsyncInstrument, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::Resource;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};

use crate::model::{Frame, Kind, Sample, FAMILIES};
use crate::server::Latest;

/// The spec's default export interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest interval honoured: `OTEL_METRIC_EXPORT_INTERVAL=1` would otherwise mean a
/// thousand requests a second to the collector. A shorter value is raised to this.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The spec's default export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest collector answer read (an OTLP answer is a few bytes).
const MAX_ANSWER: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("{name} is not a number of milliseconds: {value:?}")]
    Interval { name: &'static str, value: String },
    #[error("the OTLP endpoint {endpoint:?} is not an http:// or https:// URL")]
    Endpoint { endpoint: String },
    /// The value is not repeated: it usually holds a key.
    #[error("{name} is not a list of key=value pairs that HTTP headers can carry")]
    Headers { name: &'static str },
    #[error("cannot read the certificate {path} ({name}): {reason}")]
    Certificate {
        name: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("cannot set up the OTLP exporter: {0}")]
    Build(String),
}

/// Whether an endpoint in the `OTEL_EXPORTER_OTLP_*` variables starts a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvEndpoint {
    /// `headroom serve`: the variables are the user's choice for this run, as for any OTel
    /// SDK, and win over the settings.
    Counts,
    /// The tray: only `metrics.otlp_endpoint` starts a push; the variables may still give
    /// the interval, the timeout, a CA file, and headers for that same collector.
    Ignored,
}

/// Where and how to push.
#[derive(Clone, PartialEq)]
pub struct OtlpConfig {
    /// The full URL metrics are POSTed to.
    pub endpoint: String,
    /// What named it: a variable's name or `metrics.otlp_endpoint`.
    pub named_by: &'static str,
    pub interval: Duration,
    /// How long one export may take.
    pub timeout: Duration,
    /// Sent with each export; from the variables, for the collector they name only.
    headers: Vec<(String, String)>,
    /// Set when the variables had headers that are not sent (their collector is not this
    /// one), so the user can be told once.
    pub headers_withheld: bool,
    /// A PEM file of certificates to trust besides the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// `service.instance.id`-like name the user chose (the settings' `metrics.user`).
    pub user: Option<String>,
    pub host_name: Option<String>,
}

impl std::fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The header values usually hold a key: only their names are shown.
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtlpConfig")
            .field("endpoint", &redact_url(&self.endpoint))
            .field("named_by", &self.named_by)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("headers", &header_names)
            .field("headers_withheld", &self.headers_withheld)
            .field("ca_file", &self.ca_file)
            .field("user", &self.user)
            .field("host_name", &self.host_name)
            .finish()
    }
}

impl OtlpConfig {
    /// The configuration the variables (read through `var`, at the edge) and the settings'
    /// endpoint give; `None` when nothing asks for a push (nothing is sent then).
    pub fn resolve(
        var: impl Fn(&str) -> Option<String>,
        settings_endpoint: Option<&str>,
        user: Option<&str>,
        env_endpoint: EnvEndpoint,
    ) -> Result<Option<OtlpConfig>, OtlpError> {
        let set = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let from_env = if let Some(full) = set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
            Some((full, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))
        } else {
            set("OTEL_EXPORTER_OTLP_ENDPOINT").map(|base| {
                (
                    format!("{}/v1/metrics", base.trim_end_matches('/')),
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                )
            })
        };
        let from_settings = settings_endpoint
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| (s.to_owned(), "metrics.otlp_endpoint"));
        let chosen = match env_endpoint {
            EnvEndpoint::Counts => from_env.clone().or(from_settings),
            EnvEndpoint::Ignored => from_settings,
        };
        let Some((endpoint, named_by)) = chosen else {
            return Ok(None);
        };
        let url = http_url(&endpoint)?;
        let (header_var, header_list) = match set("OTEL_EXPORTER_OTLP_METRICS_HEADERS") {
            Some(list) => ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", Some(list)),
            None => (
                "OTEL_EXPORTER_OTLP_HEADERS",
                set("OTEL_EXPORTER_OTLP_HEADERS"),
            ),
        };
        // The headers were set for the collector the variables name: they go there, and to
        // nothing else (a settings endpoint on another host would receive the team's key).
        let env_origin = match &from_env {
            Some((env_url, _)) => http_url(env_url).ok().map(|u| u.origin()),
            None => None,
        };
        let same_collector = env_origin.is_some_and(|o| o == url.origin());
        let (headers, headers_withheld) = match header_list {
            Some(list) if same_collector => (parse_headers(&list, header_var)?, false),
            Some(_) => (Vec::new(), true),
            None => (Vec::new(), false),
        };
        let millis = |name: &'static str, default: Duration| -> Result<Duration, OtlpError> {
            match set(name) {
                None => Ok(default),
                Some(v) => match v.parse::<u64>() {
                    Ok(ms) => Ok(Duration::from_millis(ms).max(MIN_INTERVAL)),
                    Err(_) => Err(OtlpError::Interval { name, value: v }),
                },
            }
        };
        let interval = millis("OTEL_METRIC_EXPORT_INTERVAL", DEFAULT_INTERVAL)?;
        let timeout = match set("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT") {
            Some(_) => millis("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", DEFAULT_TIMEOUT)?,
            None => millis("OTEL_EXPORTER_OTLP_TIMEOUT", DEFAULT_TIMEOUT)?,
        };
        let ca_file = set("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE")
            .or_else(|| set("OTEL_EXPORTER_OTLP_CERTIFICATE"))
            .map(PathBuf::from);
        Ok(Some(OtlpConfig {
            endpoint,
            named_by,
            interval,
            timeout,
            headers,
            headers_withheld,
            ca_file,
            user: user
                .filter(|u| crate::model::valid_user_label(u))
                .map(str::to_owned),
            host_name: host_name(),
        }))
    }
}

/// `endpoint` as an http(s) URL with a host.
fn http_url(endpoint: &str) -> Result<reqwest::Url, OtlpError> {
    reqwest::Url::parse(endpoint)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| OtlpError::Endpoint {
            endpoint: redact_url(endpoint),
        })
}

/// `key=value,key2=value2` as the OTel spec writes headers (values percent-encoded).
fn parse_headers(list: &str, name: &'static str) -> Result<Vec<(String, String)>, OtlpError> {
    let mut headers = Vec::new();
    for pair in list.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = pair.split_once('=').ok_or(OtlpError::Headers { name })?;
        let key = key.trim().to_ascii_lowercase();
        let value = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .map_err(|_| OtlpError::Headers { name })?
            .into_owned();
        if HeaderName::from_bytes(key.as_bytes()).is_err() || HeaderValue::from_str(&value).is_err()
        {
            return Err(OtlpError::Headers { name });
        }
        headers.push((key, value));
    }
    Ok(headers)
}

/// The machine's name for `host.name`.
pub(crate) fn host_name() -> Option<String> {
    gethostname::gethostname()
        .into_string()
        .ok()
        .filter(|h| !h.is_empty())
}

/// The HTTP client the exporter sends with: reqwest with rustls (the Mozilla roots, plus the
/// configured CA file), no redirects (a 3xx is a failed export, so the body and the headers
/// never reach a host the user did not name), no proxy for a loopback collector, and only
/// the headers chosen here: the OTLP exporter adds `OTEL_EXPORTER_OTLP_HEADERS` from the
/// process's environment by itself, which the tray must not send to its own collector.
///
/// The SDK calls it on its export thread, outside any async runtime, so it runs each
/// request to the end on a one-thread runtime of its own.
struct Client {
    http: reqwest::Client,
    runtime: Option<tokio::runtime::Runtime>,
    headers: HeaderMap,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("otlp::Client")
    }
}

impl Client {
    fn new(config: &OtlpConfig) -> Result<Client, OtlpError> {
        let build = |e: &dyn std::fmt::Display| OtlpError::Build(e.to_string());
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("headroom/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)));
        let loopback = reqwest::Url::parse(&config.endpoint)
            .ok()
            .and_then(|u| match u.host()? {
                url::Host::Domain(d) => Some(d.eq_ignore_ascii_case("localhost")),
                url::Host::Ipv4(ip) => Some(ip.is_loopback()),
                url::Host::Ipv6(ip) => Some(ip.is_loopback()),
            })
            .unwrap_or(false);
        if loopback {
            // reqwest applies HTTP_PROXY to loopback too, which would hand the body and the
            // headers to the proxy.
            builder = builder.no_proxy();
        }
        if let Some(path) = &config.ca_file {
            let name = "OTEL_EXPORTER_OTLP_CERTIFICATE";
            let fail = |reason: String| OtlpError::Certificate {
                name,
                path: path.clone(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
            let certificates =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(e.to_string()))?;
            if certificates.is_empty() {
                return Err(fail("no PEM certificate in it".into()));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let mut headers = HeaderMap::new();
        for (k, v) in &config.headers {
            // Checked by `parse_headers`; a value that became invalid is left out.
            if let (Ok(k), Ok(mut v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                v.set_sensitive(true);
                headers.insert(k, v);
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| build(&e))?;
        Ok(Client {
            http: builder.build().map_err(|e| build(&e))?,
            runtime: Some(runtime),
            headers,
        })
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // The last owner may be a thread inside the tray's runtime, where dropping a runtime
        // the ordinary way panics.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for Client {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or("the OTLP client is shut down")?;
        let (parts, body) = request.into_parts();
        let mut headers = self.headers.clone();
        for name in [CONTENT_TYPE, CONTENT_ENCODING] {
            if let Some(v) = parts.headers.get(&name) {
                headers.insert(name, v.clone());
            }
        }
        let request = self
            .http
            .request(parts.method, parts.uri.to_string())
            .headers(headers)
            .body(body);
        runtime.block_on(async move {
            let mut answer = request.send().await?;
            let mut response = Response::builder().status(answer.status());
            if let Some(retry_after) = answer.headers().get("retry-after") {
                response = response.header("retry-after", retry_after.clone());
            }
            let mut body = Vec::new();
            while let Some(chunk) = answer.chunk().await? {
                if body.len() + chunk.len() > MAX_ANSWER {
                    return Err(
                        Box::new(opentelemetry_http::ResponseBodyTooLarge::new()) as HttpError
                    );
                }
                body.extend_from_slice(&chunk);
            }
            Ok(response.body(Bytes::from(body))?)
        })
    }
}

/// A running OTLP push; dropping it stops the export thread (after at most one last export).
pub struct Exporter {
    provider: SdkMeterProvider,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exporter")
    }
}

impl Exporter {
    /// Starts pushing `latest` as `config` says.
    pub fn start(config: &OtlpConfig, latest: Arc<Latest>) -> Result<Exporter, OtlpError> {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            // Given here, it wins over the variables the exporter would read by itself.
            .with_endpoint(config.endpoint.clone())
            .with_timeout(config.timeout)
            .with_http_client(Client::new(config)?)
            .build()
            .map_err(|e| OtlpError::Build(e.to_string()))?;
        let reader = PeriodicReader::builder(exporter)
            .with_interval(config.interval)
            .build();
        let mut resource = Resource::builder_empty().with_service_name("headroom");
        if let Some(host) = &config.host_name {
            resource = resource.with_attribute(KeyValue::new("host.name", host.clone()));
        }
        if let Some(user) = &config.user {
            resource = resource.with_attribute(KeyValue::new("user.name", user.clone()));
        }
        resource =
            resource.with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
        let provider = SdkMeterProvider::builder()
            .with_resource(resource.build())
            .with_reader(reader)
            .build();
        let meter = provider.meter("headroom");
        for (index, family) in FAMILIES.iter().enumerate() {
            let latest = latest.clone();
            let observe = move |observer: &dyn AsyncInstrument<f64>| {
                let frame = latest.get();
                for sample in &frame.samples[index] {
                    observer.observe(sample.value, &attributes(sample, &frame));
                }
            };
            // The instruments live as long as the provider: their callbacks are kept by it.
            match family.kind {
                Kind::Gauge => {
                    meter
                        .f64_observable_gauge(family.name)
                        .with_description(family.help)
                        .with_unit(family.unit.ucum())
                        .with_callback(observe)
                        .build();
                }
                // Non-monotonic: a reprice or a ledger rebuild restates it (see [`Kind`]).
                Kind::Total => {
                    meter
                        .f64_observable_up_down_counter(family.name)
                        .with_description(family.help)
                        .with_unit(family.unit.ucum())
                        .with_callback(observe)
                        .build();
                }
            }
        }
        tracing::info!(
            "pushing metrics to {} ({}) every {:?}",
            redact_url(&config.endpoint),
            config.named_by,
            config.interval
        );
        if config.headers_withheld {
            tracing::info!(
                "the OTEL_EXPORTER_OTLP_HEADERS are not sent to {}: they are for the collector the OTEL_EXPORTER_OTLP_ENDPOINT variables name",
                redact_url(&config.endpoint)
            );
        }
        Ok(Exporter { provider })
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        // One last export (the collector may be down: that is a log line, not a hang past
        // the exporter's timeout).
        if let Err(e) = self.provider.shutdown() {
            tracing::debug!("OTLP exporter shutdown: {e}");
        }
    }
}

fn attributes(sample: &Sample, frame: &Frame) -> Vec<KeyValue> {
    sample
        .labels
        .iter()
        .chain(&frame.common)
        .map(|(k, v)| KeyValue::new(*k, v.clone()))
        .collect()
}

/// The endpoint without any user:password part, for logs.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) if !host.contains('/') || rest.find('@') < rest.find('/') => {
                format!("{scheme}://…@{host}")
            }
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn serve(pairs: &[(&str, &str)], setting: Option<&str>) -> Option<OtlpConfig> {
        OtlpConfig::resolve(vars(pairs), setting, None, EnvEndpoint::Counts).unwrap()
    }

    fn tray(pairs: &[(&str, &str)], setting: Option<&str>) -> Option<OtlpConfig> {
        OtlpConfig::resolve(vars(pairs), setting, None, EnvEndpoint::Ignored).unwrap()
    }

    #[test]
    fn endpoints_resolve_as_the_spec_says_for_serve() {
        assert_eq!(serve(&[], None), None);
        let base = serve(
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")],
            Some("http://ignored"),
        )
        .unwrap();
        assert_eq!(base.endpoint, "http://c:4318/v1/metrics");
        assert_eq!(base.named_by, "OTEL_EXPORTER_OTLP_ENDPOINT");
        assert_eq!(base.interval, DEFAULT_INTERVAL);
        assert_eq!(base.timeout, DEFAULT_TIMEOUT);
        let full = OtlpConfig::resolve(
            vars(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9/x"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
            ]),
            None,
            Some("alice"),
            EnvEndpoint::Counts,
        )
        .unwrap()
        .unwrap();
        assert_eq!(full.endpoint, "http://m:9/x");
        assert_eq!(full.interval, Duration::from_millis(1500));
        assert_eq!(full.user.as_deref(), Some("alice"));
        let setting = serve(&[], Some("https://c/v1/metrics")).unwrap();
        assert_eq!(setting.endpoint, "https://c/v1/metrics");
        assert_eq!(setting.named_by, "metrics.otlp_endpoint");
    }

    #[test]
    fn the_tray_pushes_only_where_its_setting_says() {
        // A variable alone (set for Claude Code's telemetry, say) starts nothing,
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://company:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=company-key"),
        ];
        assert_eq!(tray(&env, None), None);
        // and does not move the setting's push elsewhere, nor give it the company's key.
        let own = tray(&env, Some("http://127.0.0.1:4318/v1/metrics")).unwrap();
        assert_eq!(own.endpoint, "http://127.0.0.1:4318/v1/metrics");
        assert!(own.headers.is_empty());
        assert!(own.headers_withheld);
        // The same collector as the variables name: their headers are for it.
        let same = tray(&env, Some("http://company:4318/v1/metrics")).unwrap();
        assert_eq!(
            same.headers,
            vec![("x-api-key".to_owned(), "company-key".to_owned())]
        );
    }

    #[test]
    fn headers_go_only_to_the_collector_the_variables_name() {
        let with_env = serve(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318"),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "x-api-key=k%20ey, authorization=Bearer%20t",
                ),
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            with_env.headers,
            vec![
                ("x-api-key".to_owned(), "k ey".to_owned()),
                ("authorization".to_owned(), "Bearer t".to_owned()),
            ]
        );
        // Without an endpoint variable, the headers' collector is unknown: not sent.
        let setting = serve(
            &[("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k")],
            Some("https://elsewhere:4318/v1/metrics"),
        )
        .unwrap();
        assert!(setting.headers.is_empty() && setting.headers_withheld);
        // The key never shows in a debug print.
        assert!(!format!("{with_env:?}").contains("k ey"));
    }

    #[test]
    fn the_interval_has_a_floor() {
        let fast = serve(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(fast.interval, MIN_INTERVAL);
        let zero = serve(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(zero.interval, MIN_INTERVAL);
    }

    #[test]
    fn bad_values_are_refused_with_their_name() {
        let resolve = |pairs: &[(&str, &str)]| {
            OtlpConfig::resolve(vars(pairs), None, None, EnvEndpoint::Counts).unwrap_err()
        };
        let e = resolve(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "soon"),
        ]);
        assert!(e.to_string().contains("OTEL_METRIC_EXPORT_INTERVAL"), "{e}");
        let e = resolve(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4318")]);
        assert!(matches!(e, OtlpError::Endpoint { .. }), "{e}");
        let e = resolve(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "secret-without-a-key"),
        ]);
        assert!(e.to_string().contains("OTEL_EXPORTER_OTLP_HEADERS"), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn urls_lose_their_credentials_in_logs() {
        assert_eq!(redact_url("https://u:p@c:4318/v1"), "https://…@c:4318/v1");
        assert_eq!(redact_url("http://c:4318/v1"), "http://c:4318/v1");
    }
}
