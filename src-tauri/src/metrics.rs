//! The tray's `/metrics` endpoint and OTLP push (docs/metrics.md), from the refresh task's rounds:
//! the same model and servers as `headroom serve` (`headroom-metrics`), switched by the
//! settings' `metrics` section (off by default) and the `OTEL_EXPORTER_OTLP_*` variables the
//! app was started with.
//!
//! Off, it costs nothing: no thread, no frame built. On, each round builds one frame (a few
//! dozen values from the snapshot and the ledger's per-model sums) and the endpoint's thread
//! waits on `accept`, so an exporter nobody scrapes costs no CPU.

use std::net::SocketAddr;

use headroom_core::ledger::Ledger;
use headroom_core::settings::Settings;
use headroom_core::snapshot::UsageSnapshot;
use headroom_metrics::{Exporter, Frame, Latest, OtlpConfig, Server};

/// The OTEL variables, read once when the app starts (the edge).
#[derive(Debug, Clone, Default)]
pub struct OtelEnv(Vec<(String, String)>);

impl OtelEnv {
    pub fn from_process() -> OtelEnv {
        OtelEnv(
            std::env::vars()
                .filter(|(k, _)| k.starts_with("OTEL_"))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

#[derive(Default)]
pub struct Exposure {
    env: OtelEnv,
    latest: std::sync::Arc<Latest>,
    server: Option<(SocketAddr, Server)>,
    /// The address that failed to bind, so the warning is said once, not every round.
    failed_addr: Option<SocketAddr>,
    exporter: Option<(OtlpConfig, Exporter)>,
    failed_otlp: Option<String>,
}

impl Exposure {
    pub fn new(env: OtelEnv) -> Exposure {
        Exposure {
            env,
            ..Exposure::default()
        }
    }

    /// After each round: start or stop what the settings ask for, then publish the frame.
    pub fn after_round(
        &mut self,
        ledger: &Ledger,
        snapshot: &UsageSnapshot,
        settings: &Settings,
        now: i64,
    ) {
        self.reconcile(settings);
        if self.server.is_none() && self.exporter.is_none() {
            return;
        }
        let user = settings.metrics.user.as_ref().map(|u| u.as_str());
        match Frame::collect(snapshot, ledger, now, user) {
            Ok(frame) => self.latest.publish(frame),
            Err(e) => tracing::warn!("metrics not updated: {e}"),
        }
    }

    fn reconcile(&mut self, settings: &Settings) {
        let want = settings.metrics.serve.then_some(settings.metrics.address);
        if self.server.as_ref().map(|(a, _)| *a) != want {
            self.server = None;
            if let Some(addr) = want.filter(|a| self.failed_addr != Some(*a)) {
                match Server::start(addr, self.latest.clone(), Box::new(|| {})) {
                    Ok(server) => {
                        tracing::info!("metrics at http://{}/metrics", server.addr());
                        self.server = Some((addr, server));
                        self.failed_addr = None;
                    }
                    Err(e) => {
                        tracing::warn!("{e}");
                        self.failed_addr = Some(addr);
                    }
                }
            }
        }
        let env = &self.env;
        let otlp = OtlpConfig::resolve(
            |name| env.get(name),
            settings.metrics.otlp_endpoint.as_deref(),
            settings.metrics.user.as_ref().map(|u| u.as_str()),
        );
        let want = match otlp {
            Ok(config) => config,
            Err(e) => {
                let said = e.to_string();
                if self.failed_otlp.as_deref() != Some(said.as_str()) {
                    tracing::warn!("{said}");
                    self.failed_otlp = Some(said);
                }
                None
            }
        };
        if self.exporter.as_ref().map(|(c, _)| c) != want.as_ref() {
            self.exporter = None;
            if let Some(config) = want {
                match Exporter::start(&config, self.latest.clone()) {
                    Ok(exporter) => self.exporter = Some((config, exporter)),
                    Err(e) => tracing::warn!("{e}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn scrape(addr: SocketAddr) -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")?;
        let mut page = String::new();
        s.read_to_string(&mut page)?;
        Ok(page)
    }

    #[test]
    fn the_setting_starts_and_stops_the_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.sqlite3")).unwrap();
        let snapshot = UsageSnapshot {
            stale: true,
            ..UsageSnapshot::default()
        };
        let mut settings = Settings::default();
        let mut exposure = Exposure::new(OtelEnv::default());

        // Off by default: nothing listens, no frame is built.
        exposure.after_round(&ledger, &snapshot, &settings, 1_000);
        assert!(exposure.server.is_none() && exposure.exporter.is_none());

        settings.metrics.serve = true;
        settings.metrics.address = "127.0.0.1:0".parse().unwrap();
        exposure.after_round(&ledger, &snapshot, &settings, 2_000);
        let addr = exposure.server.as_ref().map(|(_, s)| s.addr()).unwrap();
        let page = scrape(addr).unwrap();
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains("\nheadroom_figures_stale{} 1.0\n"), "{page}");

        settings.metrics.serve = false;
        exposure.after_round(&ledger, &snapshot, &settings, 3_000);
        assert!(exposure.server.is_none());
        // The listener is closed once the thread has seen the stop (at most a moment).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while scrape(addr).is_ok() {
            assert!(std::time::Instant::now() < deadline, "still serving");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
