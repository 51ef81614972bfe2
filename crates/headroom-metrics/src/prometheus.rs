//! `/metrics` in the OpenMetrics text format (which Prometheus scrapes natively), written by
//! the Prometheus project's `prometheus-client` from a [`Frame`].

use std::sync::Arc;

use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit as PromUnit};

use crate::model::{Frame, Kind, FAMILIES};

/// What `/metrics` answers with: OpenMetrics 1.0 text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The frame as one scrape's body.
pub fn render(frame: Arc<Frame>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(FrameCollector(frame)));
    let mut out = String::with_capacity(8 * 1024);
    // Writing to a String cannot fail; an encoder error would be a bug in the catalogue
    // (a bad name), and an empty body is what a scrape then gets rather than a panic.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::error!("cannot write the metrics page: {e}");
        out.clear();
    }
    out
}

#[derive(Debug)]
struct FrameCollector(Arc<Frame>);

impl prometheus_client::collector::Collector for FrameCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (family, samples) in FAMILIES.iter().zip(&self.0.samples) {
            let unit = family
                .unit
                .prometheus_suffix()
                .map(|s| PromUnit::Other(s.to_owned()));
            let metric_type = match family.kind {
                Kind::Gauge => MetricType::Gauge,
                Kind::Counter => MetricType::Counter,
            };
            let mut metric =
                encoder.encode_descriptor(family.name, family.help, unit.as_ref(), metric_type)?;
            for sample in samples {
                let labels: Vec<(&str, &str)> = sample
                    .labels
                    .iter()
                    .chain(&self.0.common)
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect();
                let mut one = metric.encode_family(&labels)?;
                match family.kind {
                    Kind::Gauge => one.encode_gauge(&sample.value)?,
                    Kind::Counter => {
                        one.encode_counter::<NoLabelSet, f64, f64>(&sample.value, None)?
                    }
                }
            }
        }
        Ok(())
    }
}
