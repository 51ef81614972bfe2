//! `headroom serve`: the round `headroom watch` runs (the same sources, ledger and alert
//! records; notifications only with `--notify`), with each round's figures served at
//! `/metrics` for Prometheus and pushed over OTLP when a collector is configured: here an
//! `OTEL_EXPORTER_OTLP_*` endpoint variable counts as the user's choice, as for any
//! OpenTelemetry SDK (the tray, which inherits its environment, only follows its setting).
//!
//! A scrape is answered from the figures of the last round, so it costs the same at any
//! history size; it also asks the task to read new transcript lines (at most once a second;
//! the account only when the poll policy says it is due), so the next scrape has them.

use std::net::SocketAddr;
use std::sync::{mpsc, Arc};

use clap::Args;
use headroom_core::alerts::store::PrintedBy;
use headroom_core::ledger::Ledger;
use headroom_metrics::otlp::EnvEndpoint;
use headroom_metrics::{Exporter, Frame, Latest, OtlpConfig, Server};
use headroom_service::Published;

use crate::context::{Context, Failure};
use crate::watch_cmd::{self, Event, LoopOptions, RoundHook};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics. Without ADDR: `metrics.address` in
    /// settings (127.0.0.1:9464). Anything but loopback has to be written out.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "")]
    pub metrics: Option<String>,
    /// Also send desktop notifications, as `headroom watch` does.
    #[arg(long)]
    pub notify: bool,
    /// Minutes between rounds (default: `sources.poll_minutes` in settings, 5).
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub interval: Option<u32>,
}

/// Publishes each round's frame to the endpoint and the exporter.
struct Publish {
    latest: Arc<Latest>,
}

impl RoundHook for Publish {
    fn after_round(&self, ledger: &Ledger, published: &Published) {
        let settings = &published.settings;
        let user = settings.metrics.user.as_ref().map(|u| u.as_str());
        let started = std::time::Instant::now();
        match Frame::collect(&published.snapshot, ledger, published.refreshed_at_ms, user) {
            Ok(frame) => {
                self.latest.publish(frame);
                // scripts/bench-metrics.sh reads this line.
                tracing::debug!(
                    "metrics frame built in {:.1} ms",
                    started.elapsed().as_secs_f64() * 1000.0
                );
            }
            // The last frame stays up: a busy ledger now is figures a minute old, not none.
            Err(e) => tracing::warn!("metrics not updated: {e}"),
        }
    }
}

pub(crate) fn run(ctx: &Context, args: &ServeArgs) -> Result<(), Failure> {
    // What is wrong with the file is the task's to say, on its first round.
    let settings = ctx.settings_unsaid()?;
    let latest = Latest::new();
    let (events, inbox) = mpsc::channel::<Event>();

    let _server = match &args.metrics {
        None => None,
        Some(addr) => {
            let addr: SocketAddr = if addr.trim().is_empty() {
                settings.metrics.address
            } else {
                addr.trim().parse().map_err(|_| {
                    Failure::new(
                        2,
                        format!("{addr:?} is not an address to listen on: use host:port, like 127.0.0.1:9464"),
                    )
                })?
            };
            let scraped = events.clone();
            let on_scrape = Arc::new(move || {
                let _ = scraped.send(Event::Scraped);
            });
            let server = Server::start(addr, latest.clone(), on_scrape)
                .map_err(|e| Failure::new(1, e.to_string()))?;
            eprintln!(
                "headroom serve: metrics at http://{}/metrics",
                server.addr()
            );
            Some(server)
        }
    };

    // The OTEL_* variables are read here, at the edge, once.
    let otlp = OtlpConfig::resolve(
        |name| std::env::var(name).ok(),
        settings.metrics.otlp_endpoint.as_deref(),
        settings.metrics.user.as_ref().map(|u| u.as_str()),
        EnvEndpoint::Counts,
    )
    .map_err(|e| Failure::new(2, e.to_string()))?;
    let _exporter = match &otlp {
        Some(config) => {
            let exporter = Exporter::start(config, latest.clone())
                .map_err(|e| Failure::new(1, e.to_string()))?;
            eprintln!(
                "headroom serve: pushing OTLP metrics to {} ({}) every {} s",
                headroom_metrics::otlp::redact_url(&config.endpoint),
                config.named_by,
                config.interval.as_secs_f64()
            );
            if config.headers_withheld {
                eprintln!(
                    "headroom serve: OTEL_EXPORTER_OTLP_HEADERS not sent: they are for the collector an OTEL_EXPORTER_OTLP_ENDPOINT variable names"
                );
            }
            Some(exporter)
        }
        None => None,
    };
    if _server.is_none() && _exporter.is_none() {
        return Err(Failure::new(
            2,
            "nothing to serve: pass --metrics [ADDR], or name an OTLP collector with OTEL_EXPORTER_OTLP_ENDPOINT (or metrics.otlp_endpoint in settings)",
        ));
    }

    let options = LoopOptions {
        name: "serve",
        printed_by: PrintedBy::ServeWithoutNotify,
        once: false,
        interval: args.interval,
        notify: args.notify,
    };
    watch_cmd::run_loop(ctx, &options, events, inbox, Publish { latest })
}
