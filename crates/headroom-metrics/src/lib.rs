//! Headroom's figures beyond one machine: a Prometheus `/metrics` endpoint and an OTLP/HTTP
//! push, both from one metric model ([`model`]) built from a snapshot and the ledger.
//!
//! A crate of its own rather than a module of `headroom-core`: the exporters bring an HTTP
//! stack for OTLP (reqwest's blocking client), protobuf (prost) and the OpenTelemetry SDK,
//! which the core's other users (the statusline on every render of Claude Code, the fuzz
//! targets, every test) have no use for. No Tauri here either: the CLI's `headroom serve` and
//! the tray app both build on it.
//!
//! The one outside host: OTLP sends to the collector the user names (the `OTEL_EXPORTER_OTLP_*`
//! variables or `metrics.otlp_endpoint`), and nowhere without one. The endpoint only answers.

pub mod model;
pub mod otlp;
pub mod prometheus;
pub mod server;

pub use model::{Frame, FAMILIES};
pub use otlp::{Exporter, OtlpConfig};
pub use server::{Latest, Server, DEFAULT_ADDR};
