//! The tray's `/metrics` endpoint and OTLP push (docs/metrics.md), from the refresh task's rounds:
//! the same model and servers as `headroom serve` (`headroom-metrics`), switched by the
//! settings' `metrics` section only (off by default). An `OTEL_EXPORTER_OTLP_*` endpoint the
//! app inherited starts nothing here ([`EnvEndpoint::Ignored`]): it was set for another
//! program, and the push carries the user's spend off the machine.
//!
//! Only the tray's process exports: the settings window's own process (`--settings`) runs
//! rounds too, and would otherwise push the same series twice and fight over the port
//! ([`Exposure::for_role`]).
//!
//! Off, it costs nothing: no thread, no frame built. On, each round builds one frame (a few
//! dozen values from the snapshot and the ledger's per-model sums) and the endpoint's thread
//! sleeps in its runtime until a client connects, so an exporter nobody scrapes costs no CPU.

use std::net::SocketAddr;

use headroom_core::ledger::Ledger;
use headroom_core::settings::Settings;
use headroom_core::snapshot::UsageSnapshot;
use headroom_metrics::otlp::EnvEndpoint;
use headroom_metrics::{Exporter, Frame, Latest, OtlpConfig, Server};
use headroom_service::Role;

/// The first wait after a failed bind (a port briefly taken, another program on it); it
/// doubles after each failure up to [`BIND_RETRY_MAX_MS`]. Tried again at the first round
/// after it (the tray's rounds come every few minutes at most).
const BIND_RETRY_FIRST_MS: i64 = 5_000;
const BIND_RETRY_MAX_MS: i64 = 5 * 60_000;

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

/// A bind that failed, and when to try it again.
#[derive(Debug, Clone, Copy, PartialEq)]
struct BindRetry {
    addr: SocketAddr,
    failures: u32,
    next_try_ms: i64,
}

impl BindRetry {
    fn due(&self, now_ms: i64) -> bool {
        // A clock set back must not postpone the retry past the longest wait.
        now_ms >= self.next_try_ms || self.next_try_ms - now_ms > BIND_RETRY_MAX_MS
    }
}

#[derive(Default)]
pub struct Exposure {
    env: OtelEnv,
    latest: std::sync::Arc<Latest>,
    server: Option<(SocketAddr, Server)>,
    /// The address that failed to bind: retried with back-off, its warning said once.
    bind_retry: Option<BindRetry>,
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

    /// The exposure a process of `role` runs: the tray's only. The settings window's process
    /// serves nothing and pushes nothing (the tray does both, from the same ledger).
    pub fn for_role(role: &Role, env: OtelEnv) -> Option<Exposure> {
        matches!(role, Role::Tray).then(|| Exposure::new(env))
    }

    /// After each round: start or stop what the settings ask for, then publish the frame.
    pub fn after_round(
        &mut self,
        ledger: &Ledger,
        snapshot: &UsageSnapshot,
        settings: &Settings,
        now: i64,
    ) {
        self.reconcile(settings, now);
        if self.server.is_none() && self.exporter.is_none() {
            return;
        }
        let user = settings.metrics.user.as_ref().map(|u| u.as_str());
        match Frame::collect(snapshot, ledger, now, user) {
            Ok(frame) => self.latest.publish(frame),
            Err(e) => tracing::warn!("metrics not updated: {e}"),
        }
    }

    fn reconcile(&mut self, settings: &Settings, now_ms: i64) {
        let want = settings.metrics.serve.then_some(settings.metrics.address);
        if self.server.as_ref().map(|(a, _)| *a) != want {
            // Dropping the server closes its port before this returns, so turning the box
            // off frees the address at once.
            self.server = None;
        }
        match want {
            None => self.bind_retry = None,
            Some(addr) if self.server.is_none() => self.bind(addr, now_ms),
            Some(_) => {}
        }
        let env = &self.env;
        let otlp = OtlpConfig::resolve(
            |name| env.get(name),
            settings.metrics.otlp_endpoint.as_deref(),
            settings.metrics.user.as_ref().map(|u| u.as_str()),
            EnvEndpoint::Ignored,
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

    /// Listens on `addr` unless an earlier failure's back-off is still running.
    fn bind(&mut self, addr: SocketAddr, now_ms: i64) {
        let retry = self.bind_retry.filter(|r| r.addr == addr);
        if retry.is_some_and(|r| !r.due(now_ms)) {
            return;
        }
        match Server::start(addr, self.latest.clone(), std::sync::Arc::new(|| {})) {
            Ok(server) => {
                tracing::info!("metrics at http://{}/metrics", server.addr());
                self.server = Some((addr, server));
                self.bind_retry = None;
            }
            Err(e) => {
                let failures = retry.map_or(1, |r| r.failures.saturating_add(1));
                let wait = BIND_RETRY_FIRST_MS
                    .saturating_mul(1 << failures.saturating_sub(1).min(10))
                    .min(BIND_RETRY_MAX_MS);
                if failures == 1 {
                    tracing::warn!("{e}; trying again in a while");
                } else {
                    tracing::debug!("{e} (try {failures})");
                }
                self.bind_retry = Some(BindRetry {
                    addr,
                    failures,
                    next_try_ms: now_ms.saturating_add(wait),
                });
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
        s.write_all(b"GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")?;
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

    fn fixture() -> (tempfile::TempDir, Ledger, UsageSnapshot) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.sqlite3")).unwrap();
        (dir, ledger, UsageSnapshot::default())
    }

    #[test]
    fn turning_metrics_off_frees_the_port_at_once() {
        let (_dir, ledger, snapshot) = fixture();
        let mut settings = Settings::default();
        settings.metrics.serve = true;
        settings.metrics.address = "127.0.0.1:0".parse().unwrap();
        let mut exposure = Exposure::new(OtelEnv::default());
        exposure.after_round(&ledger, &snapshot, &settings, 1_000);
        let addr = exposure.server.as_ref().map(|(_, s)| s.addr()).unwrap();
        // A connection that never sends its request is open while the box is turned off.
        let _idle = std::net::TcpStream::connect(addr).unwrap();
        assert!(scrape(addr).unwrap().starts_with("HTTP/1.1 200 OK"));

        settings.metrics.serve = false;
        exposure.after_round(&ledger, &snapshot, &settings, 2_000);
        // No wait: the port is free when the round returns.
        std::net::TcpListener::bind(addr).expect("the port is released");
    }

    #[test]
    fn a_failed_bind_is_tried_again_after_a_back_off() {
        let (_dir, ledger, snapshot) = fixture();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let mut settings = Settings::default();
        settings.metrics.serve = true;
        settings.metrics.address = addr;
        let mut exposure = Exposure::new(OtelEnv::default());
        exposure.after_round(&ledger, &snapshot, &settings, 10_000);
        assert!(exposure.server.is_none());

        drop(taken);
        // Within the back-off, no new try;
        exposure.after_round(
            &ledger,
            &snapshot,
            &settings,
            10_000 + BIND_RETRY_FIRST_MS - 1,
        );
        assert!(exposure.server.is_none());
        // after it, the address is tried again and served.
        exposure.after_round(&ledger, &snapshot, &settings, 10_000 + BIND_RETRY_FIRST_MS);
        let served = exposure.server.as_ref().map(|(_, s)| s.addr());
        assert_eq!(served, Some(addr));
        assert!(scrape(addr).unwrap().starts_with("HTTP/1.1 200 OK"));
    }

    #[test]
    fn an_inherited_otel_variable_starts_no_push_in_the_tray() {
        let (_dir, ledger, snapshot) = fixture();
        let env = OtelEnv(vec![(
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            "http://127.0.0.1:9".to_owned(),
        )]);
        let settings = Settings::default();
        let mut exposure = Exposure::new(env.clone());
        exposure.after_round(&ledger, &snapshot, &settings, 1_000);
        assert!(exposure.exporter.is_none(), "a variable alone pushed");

        // The setting starts it, to the setting's collector, not the variable's.
        let mut settings = Settings::default();
        settings.metrics.otlp_endpoint = Some("http://127.0.0.1:8/v1/metrics".to_owned());
        let mut exposure = Exposure::new(env);
        exposure.after_round(&ledger, &snapshot, &settings, 1_000);
        let endpoint = exposure.exporter.as_ref().map(|(c, _)| c.endpoint.clone());
        assert_eq!(endpoint.as_deref(), Some("http://127.0.0.1:8/v1/metrics"));
    }

    #[test]
    fn only_the_trays_process_exports() {
        assert!(Exposure::for_role(&Role::Tray, OtelEnv::default()).is_some());
        assert!(Exposure::for_role(&Role::Window, OtelEnv::default()).is_none());
    }
}
