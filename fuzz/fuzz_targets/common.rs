//! Helpers the targets share for their round-trip checks.

use chrono::{DateTime, Datelike};
use serde_json::{json, Value};

/// Equal, or a couple of representable values apart: serde_json's default float parsing may
/// be a unit in the last place off, so a float written and read back need not be identical.
pub fn same_f64(a: f64, b: f64) -> bool {
    a == b || a.to_bits().abs_diff(b.to_bits()) <= 2
}

pub fn same_option_f64(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_f64(a, b),
        _ => false,
    }
}

/// A reset time in a form `usage::time_ms` reads back as the same milliseconds: epoch
/// milliseconds from 10^11 up, epoch seconds below, RFC 3339 for times before 1970; `None`
/// for a time before year 0, which neither form can carry.
pub fn reset_value(at_ms: i64) -> Option<Value> {
    if at_ms >= 100_000_000_000 {
        Some(json!(at_ms))
    } else if at_ms > 0 {
        Some(json!(at_ms as f64 / 1000.0))
    } else {
        let at = DateTime::from_timestamp_millis(at_ms)?;
        (0..=9999)
            .contains(&at.year())
            .then(|| json!(at.to_rfc3339()))
    }
}
