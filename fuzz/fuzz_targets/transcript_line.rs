//! One line of a Claude Code transcript, as `ingest` hands it to `transcript::parse_line`.
//!
//! Beyond "never panics": a line counted as usage says the same when written back in Claude
//! Code's own shape, and every timestamp the strict RFC 3339 parser accepts means the same
//! instant to chrono.
#![no_main]

use chrono::{DateTime, Datelike, SecondsFormat};
use headroom_core::transcript::{parse_line, parse_rfc3339_ms, LineOutcome, UsageLine};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

fuzz_target!(|data: &[u8]| {
    if let LineOutcome::Usage(usage) = parse_line(data) {
        check_usage(&usage);
    }
    // The corpus also holds bare timestamps: the same bytes exercise both parsers.
    if let Ok(text) = std::str::from_utf8(data) {
        check_timestamp(text);
    }
});

fn check_usage(usage: &UsageLine<'_>) {
    let t = usage.tokens;
    // `total` saturates rather than wrapping.
    let total = t.total();
    for part in [t.input, t.output, t.cache_write, t.cache_read] {
        assert!(total >= part, "total {total} below a part {part}: {t:?}");
    }
    if let Some(cost) = usage.cost_usd {
        assert!(cost.is_finite(), "costUSD {cost} is not finite");
    }
    let Some(line) = rewrite(usage) else { return };
    match parse_line(line.as_bytes()) {
        LineOutcome::Usage(again) => {
            // serde_json's default float parsing may be a unit in the last place off: the
            // cost is compared apart, by its distance in representable values.
            let (mut a, mut b) = (usage.clone(), again.clone());
            let (cost_a, cost_b) = (a.cost_usd.take(), b.cost_usd.take());
            assert_eq!(a, b, "rewritten as {line}");
            match (cost_a, cost_b) {
                (None, None) => {}
                (Some(x), Some(y)) => assert!(
                    x == y || x.to_bits().abs_diff(y.to_bits()) <= 2,
                    "cost {x} read back as {y}"
                ),
                other => panic!("cost {other:?} after rewriting as {line}"),
            }
        }
        other => panic!("{usage:?} rewritten as {line} reads back as {other:?}"),
    }
}

/// The line as Claude Code would write it, or `None` for a time outside RFC 3339's
/// four-digit years (an offset can move 0000-01-01 into year -1).
fn rewrite(usage: &UsageLine<'_>) -> Option<String> {
    let at = DateTime::from_timestamp_millis(usage.timestamp_ms)?;
    if !(0..=9999).contains(&at.year()) {
        return None;
    }
    let t = usage.tokens;
    let mut message = Map::new();
    if let Some(id) = &usage.message_id {
        message.insert("id".into(), json!(id));
    }
    if let Some(model) = &usage.model {
        message.insert("model".into(), json!(model));
    }
    message.insert(
        "usage".into(),
        json!({
            "input_tokens": t.input,
            "output_tokens": t.output,
            "cache_creation_input_tokens": t.cache_write,
            "cache_read_input_tokens": t.cache_read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": t.cache_write_5m,
                "ephemeral_1h_input_tokens": t.cache_write_1h,
            },
        }),
    );
    let mut line = Map::new();
    line.insert("type".into(), json!("assistant"));
    line.insert(
        "timestamp".into(),
        json!(at.to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    line.insert("message".into(), Value::Object(message));
    for (key, value) in [
        ("requestId", &usage.request_id),
        ("sessionId", &usage.session_id),
        ("cwd", &usage.cwd),
    ] {
        if let Some(value) = value {
            line.insert(key.into(), json!(value));
        }
    }
    if let Some(cost) = usage.cost_usd {
        line.insert("costUSD".into(), json!(cost));
    }
    Some(Value::Object(line).to_string())
}

fn check_timestamp(text: &str) {
    let Some(ms) = parse_rfc3339_ms(text) else {
        return;
    };
    let theirs = DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} accepted as {ms} ms, refused by chrono: {e}"));
    assert_eq!(ms, theirs.timestamp_millis(), "{text:?}");
}
