//! `/metrics` in the OpenMetrics text format (which Prometheus scrapes natively), written by
//! the Prometheus project's `prometheus-client` from a [`Frame`].

use std::sync::Arc;

use std::fmt::Write as _;

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelValue, LabelValueEncoder};
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
            // A restatable total is a gauge here: see [`Kind`].
            let metric_type = match family.kind {
                Kind::Gauge | Kind::Total => MetricType::Gauge,
            };
            let mut metric =
                encoder.encode_descriptor(family.name, family.help, unit.as_ref(), metric_type)?;
            for sample in samples {
                let labels: Vec<(&str, Escaped)> = sample
                    .labels
                    .iter()
                    .chain(&self.0.common)
                    .map(|(k, v)| (*k, Escaped(v)))
                    .collect();
                let mut one = metric.encode_family(&labels)?;
                one.encode_gauge(&sample.value)?;
            }
        }
        Ok(())
    }
}

/// A label value as the exposition format spells it: `\\`, `\"` and `\n` escaped.
/// prometheus-client 0.24 writes a `&str` value verbatim, so a model name with a quote and a
/// newline (from any transcript) could close the label, add samples of its own and end the
/// page with `# EOF`. The model bounds values and replaces control characters already
/// ([`crate::model::label_value`]); this escapes what the format itself needs, whatever the
/// value.
struct Escaped<'a>(&'a str);

impl EncodeLabelValue for Escaped<'_> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sample;

    /// A frame whose one local-token sample carries `model` as given (as a frame built from
    /// another source than [`Frame::collect`] could).
    fn page_with_model(model: &str) -> String {
        let mut frame = Frame::default();
        frame.samples[crate::model::Id::LocalTokens as usize].push(Sample {
            labels: vec![("kind", "input".to_owned()), ("model", model.to_owned())],
            value: 1.0,
        });
        render(Arc::new(frame))
    }

    #[test]
    fn label_values_are_escaped_so_a_model_name_cannot_add_samples() {
        let hostile = "claude-x\"} 1\nheadroom_extra_usage_enabled{injected=\"yes\"} 1\n# EOF\n";
        let page = page_with_model(hostile);
        assert_eq!(page.lines().filter(|l| *l == "# EOF").count(), 1, "{page}");
        assert!(page.ends_with("# EOF\n"), "{page}");
        assert!(
            !page.contains("\nheadroom_extra_usage_enabled{injected"),
            "{page}"
        );
        assert!(
            page.contains(r#"model="claude-x\"} 1\nheadroom_extra_usage_enabled{injected=\"yes\"} 1\n# EOF\n""#),
            "{page}"
        );
        let page = page_with_model(r"C:\models\x");
        assert!(page.contains(r#"model="C:\\models\\x""#), "{page}");
    }
}
