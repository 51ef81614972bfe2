//! Claude Code's own last usage answer: it keeps the whole `/api/oauth/usage` body in its
//! account file (`$CLAUDE_CONFIG_DIR/.claude.json`, else `~/.claude.json`) as
//! `cachedUsageUtilization: { fetchedAtMs, utilization: { five_hour, seven_day, limits,
//! extra_usage, spend, … } }` (the shape several public readers of the file agree on).
//!
//! It can be days old. The snapshot shows it only when nothing fresher exists (first launch,
//! offline, a 429), as [`Source::ClaudeCodeCache`], with its age and never as current; the
//! alert engine never starts an alert from it. It is read, never written, and never recorded
//! in the ledger (it is Claude Code's reading, not Headroom's history).

use std::path::Path;

use serde_json::Value;

use super::store::StoredSample;
use super::usage;
use crate::snapshot::Source;

/// The account file holds Claude Code's whole state (projects, history settings): it is read
/// only up to this size.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// Claude Code's cached usage answer in `account_file`, as a sample of
/// [`Source::ClaudeCodeCache`] observed when Claude Code fetched it; `None` when the file,
/// the key or its time is missing or odd, or the answer is from the future (a clock Headroom
/// cannot trust).
pub(super) fn read(account_file: &Path, now_ms: i64) -> Option<StoredSample> {
    let bytes = crate::fs::read_capped(account_file, MAX_FILE_BYTES)?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    parse(&value, now_ms)
}

fn parse(file: &Value, now_ms: i64) -> Option<StoredSample> {
    let cached = file.get("cachedUsageUtilization")?;
    let fetched_ms = cached.get("fetchedAtMs").and_then(|v| match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().and_then(crate::num::round_to_i64)),
        _ => None,
    })?;
    if fetched_ms <= 0 || fetched_ms > now_ms {
        return None;
    }
    let body = cached.get("utilization")?.as_object()?;
    let parsed = usage::usage_from_object(body, Source::ClaudeCodeCache, fetched_ms);
    if parsed.windows.is_empty() && parsed.extra_usage.is_none() {
        return None;
    }
    Some(StoredSample {
        id: 0,
        source: Source::ClaudeCodeCache,
        observed_ms: fetched_ms,
        seen_ms: fetched_ms,
        windows: parsed.windows,
        extra_usage: parsed.extra_usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::WindowKind;

    const NOW: i64 = 1_780_000_000_000;

    #[test]
    fn reads_the_whole_usage_body_with_its_fetch_time() {
        let file = serde_json::json!({
            "numStartups": 3,
            "cachedUsageUtilization": {
                "fetchedAtMs": NOW - 3_600_000,
                "accountUuid": "a",
                "utilization": {
                    "five_hour": {"utilization": 46, "resets_at": "2026-08-20T04:49:59.665316+00:00", "limit_dollars": null},
                    "seven_day": {"utilization": 20, "resets_at": null},
                    "extra_usage": {"is_enabled": false, "disabled_reason": "user_disabled"}
                }
            }
        });
        let s = parse(&file, NOW).unwrap();
        assert_eq!(s.source, Source::ClaudeCodeCache);
        assert_eq!(s.seen_ms, NOW - 3_600_000);
        assert_eq!(s.windows.len(), 2);
        assert_eq!(s.windows[0].kind, WindowKind::Session);
        assert_eq!(s.windows[0].utilization, 46.0);
        assert!(s
            .windows
            .iter()
            .all(|w| w.source == Source::ClaudeCodeCache && w.observed_at_ms == NOW - 3_600_000));
        let eu = s.extra_usage.unwrap();
        assert_eq!(eu.enabled, Some(false));
        assert_eq!(eu.source, Source::ClaudeCodeCache);
    }

    #[test]
    fn odd_or_missing_caches_are_none() {
        for file in [
            serde_json::json!({}),
            serde_json::json!({"cachedUsageUtilization": null}),
            serde_json::json!({"cachedUsageUtilization": {"utilization": {"seven_day": {"utilization": 1}}}}),
            serde_json::json!({"cachedUsageUtilization": {"fetchedAtMs": "soon", "utilization": {"seven_day": {"utilization": 1}}}}),
            serde_json::json!({"cachedUsageUtilization": {"fetchedAtMs": NOW + 60_000, "utilization": {"seven_day": {"utilization": 1}}}}),
            serde_json::json!({"cachedUsageUtilization": {"fetchedAtMs": NOW - 1, "utilization": {}}}),
            serde_json::json!({"cachedUsageUtilization": {"fetchedAtMs": NOW - 1, "utilization": [1]}}),
        ] {
            assert_eq!(parse(&file, NOW), None, "{file}");
        }
    }

    #[test]
    fn a_missing_or_unreadable_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(&dir.path().join(".claude.json"), NOW), None);
        let path = dir.path().join(".claude.json");
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(read(&path, NOW), None);
    }
}
