//! A body from Anthropic's usage endpoints: the OAuth `/api/oauth/usage` and claude.ai's
//! `/usage`, `/overage_spend_limit`, `/prepaid/credits` and `/organizations`. Every parser
//! reads every input, as a confused server could send any body to any of them.
//!
//! Beyond "never panics": figures are finite, window ids unique and in display order, and
//! what was read says the same when written back as a newer-style (`limits[]`, `spend`)
//! response. The statusline formats what was read without panicking.
#![no_main]

use headroom_core::account::statusline::{format_line, Colors, LineFacts};
use headroom_core::account::{
    parse_organizations, parse_overage, parse_prepaid, parse_usage, ParsedUsage,
};
use headroom_core::snapshot::{ExtraUsage, Source, WindowKind};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

mod common;
use common::{reset_value, same_f64, same_option_f64};

const OBSERVED_AT_MS: i64 = 1_795_183_385_123;

fuzz_target!(|data: &[u8]| {
    for source in [Source::Account, Source::ClaudeAi] {
        if let Ok(parsed) = parse_usage(data, source, OBSERVED_AT_MS) {
            check_parsed(&parsed, source);
        }
    }
    if let Ok(Some(extra)) = parse_overage(data, Source::ClaudeAi, OBSERVED_AT_MS) {
        check_extra(&extra);
    }
    if let Ok(Some((balance, currency))) = parse_prepaid(data) {
        assert!(balance.is_finite(), "balance {balance}");
        assert!(!currency.is_empty());
    }
    if let Ok(organizations) = parse_organizations(data) {
        for o in organizations {
            assert!(!o.uuid.is_empty() && o.uuid.trim() == o.uuid, "{o:?}");
        }
    }
});

fn check_parsed(parsed: &ParsedUsage, source: Source) {
    let windows = &parsed.windows;
    for (i, w) in windows.iter().enumerate() {
        assert!(w.utilization.is_finite(), "{w:?}");
        assert_eq!((w.source, w.observed_at_ms), (source, OBSERVED_AT_MS));
        assert!(
            windows[..i].iter().all(|earlier| earlier.id != w.id),
            "window id {:?} twice",
            w.id
        );
        if i > 0 {
            let previous = &windows[i - 1];
            assert!(
                (rank(&previous.kind), &previous.id) < (rank(&w.kind), &w.id),
                "{previous:?} before {w:?}"
            );
        }
    }
    if let Some(extra) = &parsed.extra_usage {
        check_extra(extra);
    }
    let facts = LineFacts {
        session: windows
            .iter()
            .find(|w| w.kind == WindowKind::Session)
            .cloned(),
        weekly: windows
            .iter()
            .find(|w| w.kind == WindowKind::Weekly)
            .cloned(),
        today_cost_usd: parsed.extra_usage.as_ref().and_then(|e| e.used),
        extra_usage: parsed.extra_usage.clone(),
        ..LineFacts::default()
    };
    // Clock times a machine can have (the clock is not input): the epoch and the observation.
    for now in [0, OBSERVED_AT_MS] {
        let _ = format_line(&facts, now, Colors(true));
    }
    if let Some(body) = rewrite(parsed) {
        let again = parse_usage(body.to_string().as_bytes(), source, OBSERVED_AT_MS)
            .unwrap_or_else(|e| panic!("{body} no longer parses: {e}"));
        assert_eq!(again.windows.len(), windows.len(), "rewritten as {body}");
        for (a, b) in windows.iter().zip(&again.windows) {
            let same = a.id == b.id
                && a.label == b.label
                && a.kind == b.kind
                && a.resets_at_ms == b.resets_at_ms
                && same_f64(a.utilization, b.utilization);
            assert!(same, "{a:?} read back as {b:?} from {body}");
        }
        match (&parsed.extra_usage, &again.extra_usage) {
            (None, None) => {}
            (Some(a), Some(b)) => assert!(
                a.enabled == b.enabled
                    && a.currency == b.currency
                    && a.disabled_reason == b.disabled_reason
                    && same_option_f64(a.used, b.used)
                    && same_option_f64(a.monthly_limit, b.monthly_limit),
                "{a:?} read back as {b:?} from {body}"
            ),
            other => panic!("Extra Usage {other:?} from {body}"),
        }
    }
}

fn check_extra(extra: &ExtraUsage) {
    for amount in [extra.used, extra.monthly_limit, extra.balance]
        .into_iter()
        .flatten()
    {
        assert!(amount.is_finite(), "{extra:?}");
    }
    assert!(!extra.currency.is_empty(), "{extra:?}");
}

/// The display order `usage` promises: session, weekly, per model, others.
fn rank(kind: &WindowKind) -> u8 {
    match kind {
        WindowKind::Session => 0,
        WindowKind::Weekly => 1,
        WindowKind::WeeklyModel { .. } => 2,
        WindowKind::Other { .. } => 3,
    }
}

/// The parsed response as a newer-style body, or `None` where that shape cannot say the same
/// (a window key that `limits[]` reads as one of its own kinds, a reset time outside
/// RFC 3339's years that no number can carry either).
fn rewrite(parsed: &ParsedUsage) -> Option<Value> {
    let mut limits = Vec::new();
    for w in &parsed.windows {
        let mut entry = match &w.kind {
            WindowKind::Session => json!({ "kind": "session" }),
            WindowKind::Weekly => json!({ "kind": "weekly_all" }),
            WindowKind::WeeklyModel { model } => json!({
                "kind": "weekly_scoped",
                "scope": { "model": { "display_name": model } },
            }),
            WindowKind::Other { key } => {
                if key.trim().is_empty()
                    || ["session", "weekly_all", "weekly_scoped"].contains(&key.as_str())
                {
                    return None;
                }
                json!({ "kind": key })
            }
        };
        entry["percent"] = json!(w.utilization);
        if let Some(at) = w.resets_at_ms {
            entry["resets_at"] = reset_value(at)?;
        }
        limits.push(entry);
    }
    let mut body = json!({ "limits": limits });
    if let Some(extra) = &parsed.extra_usage {
        let money = |amount: f64| json!({ "amount_minor": amount, "exponent": 0, "currency": extra.currency });
        let mut spend = json!({ "currency": extra.currency });
        if let Some(enabled) = extra.enabled {
            spend["enabled"] = json!(enabled);
        }
        if let Some(used) = extra.used {
            spend["used"] = money(used);
        }
        if let Some(limit) = extra.monthly_limit {
            spend["limit"] = money(limit);
        }
        if let Some(reason) = &extra.disabled_reason {
            spend["disabled_reason"] = json!(reason);
        }
        body["spend"] = spend;
    }
    Some(body)
}
