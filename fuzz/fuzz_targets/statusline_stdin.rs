//! What Claude Code pipes to `headroom statusline` on every render (`statusline::parse`),
//! and the line printed back (`statusline::format_line`).
//!
//! Beyond "never panics": only empty input and non-objects are refused, figures are finite,
//! and a payload written back in Claude Code's shape reads the same.
#![no_main]

use headroom_core::account::statusline::{
    format_line, parse, Colors, LineFacts, Payload, PayloadError,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

mod common;
use common::{reset_value, same_f64, same_option_f64};

const OBSERVED_AT_MS: i64 = 1_795_183_385_123;

fuzz_target!(|data: &[u8]| {
    let payload = match parse(data) {
        Ok(payload) => payload,
        Err(PayloadError::Empty) => {
            assert!(data.iter().all(u8::is_ascii_whitespace));
            return;
        }
        Err(PayloadError::NotJson) => {
            let value = serde_json::from_slice::<Value>(data);
            assert!(!matches!(value, Ok(Value::Object(_))), "an object refused");
            return;
        }
    };
    for figure in [payload.session_cost_usd, payload.context_used_percentage]
        .into_iter()
        .chain([payload.five_hour, payload.seven_day].map(|w| w.map(|w| w.0)))
        .flatten()
    {
        assert!(figure.is_finite(), "{payload:?}");
    }
    let windows = payload.windows(OBSERVED_AT_MS);
    let expected =
        usize::from(payload.five_hour.is_some()) + usize::from(payload.seven_day.is_some());
    assert_eq!(windows.len(), expected);
    let facts = LineFacts {
        session: windows
            .first()
            .filter(|_| payload.five_hour.is_some())
            .cloned(),
        weekly: windows
            .last()
            .filter(|_| payload.seven_day.is_some())
            .cloned(),
        today_cost_usd: payload.session_cost_usd,
        extra_usage: None,
        ..LineFacts::default()
    };
    // Clock times a machine can have (the clock is not input): the epoch and the observation.
    for now in [0, OBSERVED_AT_MS] {
        for colors in [Colors(true), Colors(false)] {
            let _ = format_line(&facts, now, colors);
        }
    }
    if let Some(body) = rewrite(&payload) {
        let again = parse(body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{body} no longer parses: {e}"));
        let same = payload.session_id == again.session_id
            && payload.transcript_path == again.transcript_path
            && payload.model == again.model
            && payload.current_dir == again.current_dir
            && same_option_f64(payload.session_cost_usd, again.session_cost_usd)
            && same_option_f64(
                payload.context_used_percentage,
                again.context_used_percentage,
            )
            && same_window(payload.five_hour, again.five_hour)
            && same_window(payload.seven_day, again.seven_day);
        assert!(same, "{payload:?} read back as {again:?} from {body}");
    }
});

fn same_window(a: Option<(f64, Option<i64>)>, b: Option<(f64, Option<i64>)>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_f64(a.0, b.0) && a.1 == b.1,
        _ => false,
    }
}

/// The payload in Claude Code's shape, or `None` for a reset time no JSON form carries.
fn rewrite(p: &Payload) -> Option<Value> {
    let mut body = json!({});
    if let Some(id) = &p.session_id {
        body["session_id"] = json!(id);
    }
    if let Some(path) = &p.transcript_path {
        body["transcript_path"] = json!(path.to_str()?);
    }
    if let Some(model) = &p.model {
        body["model"] = json!({ "display_name": model });
    }
    if let Some(dir) = &p.current_dir {
        body["workspace"] = json!({ "current_dir": dir });
    }
    if let Some(cost) = p.session_cost_usd {
        body["cost"] = json!({ "total_cost_usd": cost });
    }
    if let Some(used) = p.context_used_percentage {
        body["context_window"] = json!({ "used_percentage": used });
    }
    let mut limits = json!({});
    for (key, window) in [("five_hour", p.five_hour), ("seven_day", p.seven_day)] {
        let Some((percent, resets_at)) = window else {
            continue;
        };
        let mut w = json!({ "used_percentage": percent });
        if let Some(at) = resets_at {
            w["resets_at"] = reset_value(at)?;
        }
        limits[key] = w;
    }
    body["rate_limits"] = limits;
    Some(body)
}
