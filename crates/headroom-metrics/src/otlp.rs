//! The same families pushed over OTLP/HTTP (protobuf bodies) to the collector the user names,
//! as Claude Code's own telemetry is configured: `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (used
//! as it is), else `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/metrics`), else the settings'
//! `metrics.otlp_endpoint`; `OTEL_EXPORTER_OTLP_HEADERS` (read by the exporter itself, never
//! logged: it usually holds a key); `OTEL_METRIC_EXPORT_INTERVAL` in milliseconds, 60 s by
//! default.
//!
//! The SDK's periodic reader exports on a thread of its own with reqwest's blocking client,
//! reading the latest [`Frame`] through observable instruments: the round only swaps the
//! frame, so a collector that is down or slow costs a log line on that thread and a retry at
//! the next interval, never a stalled round, and the ledger is never involved.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::{AsyncInstrument, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::Resource;

use crate::model::{Frame, Kind, Sample, FAMILIES};
use crate::server::Latest;

/// The spec's default export interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("{name} is not a number of milliseconds: {value:?}")]
    Interval { name: &'static str, value: String },
    #[error("the OTLP endpoint {endpoint:?} is not an http:// or https:// URL")]
    Endpoint { endpoint: String },
    #[error("cannot set up the OTLP exporter: {0}")]
    Build(String),
}

/// Where and how often to push.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    /// The full URL metrics are POSTed to.
    pub endpoint: String,
    pub interval: Duration,
    /// `service.instance.id`-like name the user chose (the settings' `metrics.user`).
    pub user: Option<String>,
    pub host_name: Option<String>,
}

impl OtlpConfig {
    /// The configuration the variables (read through `var`, at the edge) and the settings'
    /// endpoint give; `None` when no endpoint is set anywhere (nothing is sent then).
    pub fn resolve(
        var: impl Fn(&str) -> Option<String>,
        settings_endpoint: Option<&str>,
        user: Option<&str>,
    ) -> Result<Option<OtlpConfig>, OtlpError> {
        let set = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let endpoint = if let Some(full) = set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
            full
        } else if let Some(base) = set("OTEL_EXPORTER_OTLP_ENDPOINT") {
            format!("{}/v1/metrics", base.trim_end_matches('/'))
        } else if let Some(full) = settings_endpoint.map(str::trim).filter(|s| !s.is_empty()) {
            full.to_owned()
        } else {
            return Ok(None);
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(OtlpError::Endpoint { endpoint });
        }
        let interval = match set("OTEL_METRIC_EXPORT_INTERVAL") {
            None => DEFAULT_INTERVAL,
            Some(v) => match v.parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    return Err(OtlpError::Interval {
                        name: "OTEL_METRIC_EXPORT_INTERVAL",
                        value: v,
                    })
                }
            },
        };
        Ok(Some(OtlpConfig {
            endpoint,
            interval,
            user: user
                .filter(|u| crate::model::valid_user_label(u))
                .map(str::to_owned),
            host_name: host_name(),
        }))
    }
}

/// The machine's name for `host.name`.
fn host_name() -> Option<String> {
    gethostname::gethostname()
        .into_string()
        .ok()
        .filter(|h| !h.is_empty())
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
            .with_endpoint(config.endpoint.clone())
            .with_headers(Default::default())
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
                Kind::Counter => {
                    meter
                        .f64_observable_counter(family.name)
                        .with_description(family.help)
                        .with_unit(family.unit.ucum())
                        .with_callback(observe)
                        .build();
                }
            }
        }
        tracing::info!(
            "pushing metrics to {} every {:?}",
            redact_url(&config.endpoint),
            config.interval
        );
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

    #[test]
    fn endpoints_resolve_as_the_spec_says() {
        let none = OtlpConfig::resolve(vars(&[]), None, None).unwrap();
        assert_eq!(none, None);
        let base = OtlpConfig::resolve(
            vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")]),
            Some("http://ignored"),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(base.endpoint, "http://c:4318/v1/metrics");
        assert_eq!(base.interval, DEFAULT_INTERVAL);
        let full = OtlpConfig::resolve(
            vars(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9/x"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
            ]),
            None,
            Some("alice"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(full.endpoint, "http://m:9/x");
        assert_eq!(full.interval, Duration::from_millis(1500));
        assert_eq!(full.user.as_deref(), Some("alice"));
        let setting = OtlpConfig::resolve(vars(&[]), Some("https://c/v1/metrics"), None)
            .unwrap()
            .unwrap();
        assert_eq!(setting.endpoint, "https://c/v1/metrics");
    }

    #[test]
    fn bad_values_are_refused_with_their_name() {
        let e = OtlpConfig::resolve(
            vars(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "soon"),
            ]),
            None,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("OTEL_METRIC_EXPORT_INTERVAL"), "{e}");
        let e = OtlpConfig::resolve(
            vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4318")]),
            None,
            None,
        )
        .unwrap_err();
        assert!(matches!(e, OtlpError::Endpoint { .. }), "{e}");
    }

    #[test]
    fn urls_lose_their_credentials_in_logs() {
        assert_eq!(redact_url("https://u:p@c:4318/v1"), "https://…@c:4318/v1");
        assert_eq!(redact_url("http://c:4318/v1"), "http://c:4318/v1");
    }
}
