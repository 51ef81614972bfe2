//! Tolerant parsing of Anthropic's usage responses into [`Window`]s and [`ExtraUsage`].
//!
//! The OAuth usage endpoint (`/api/oauth/usage`) and claude.ai's
//! (`/api/organizations/{uuid}/usage`) answer the same undocumented, changing shape. Every
//! field is optional; a field of the wrong type is treated as absent; one odd window is
//! skipped, never the whole response. Only a body that is not a JSON object is an error.
//!
//! - Newer `limits[]` entries (`kind`: `session`, `weekly_all`, `weekly_scoped`, other) win
//!   over the legacy keys (`five_hour`, `seven_day`, `seven_day_opus`, ...) for the same
//!   window: right after a reset the legacy ones can be stale. Legacy windows that `limits[]`
//!   does not cover are kept; unknown legacy keys are kept under their own key.
//! - Percentages are 0–100 and may exceed 100 (`1.0` is 1 %, never 100 %).
//! - Extra Usage: newer `spend` wins over legacy `extra_usage`. Amounts are minor units,
//!   divided by `10^exponent` (new) or `10^decimal_places` (legacy, default 2). A `null`
//!   limit while enabled means no cap. Currency defaults to USD.
//! - claude.ai extras: `overage_spend_limit` (`monthly_limit` or older
//!   `monthly_credit_limit`, minor units) and `prepaid/credits` (`amount`: the balance).

use serde_json::{Map, Value};

use crate::num::round_to_i64;
use crate::snapshot::{ExtraUsage, Source, Window, WindowKind};

/// What one usage response says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedUsage {
    /// Every window it reports, in display order.
    pub windows: Vec<Window>,
    /// Extra Usage, when it reports it.
    pub extra_usage: Option<ExtraUsage>,
}

/// Why a body gave no figures. The words never quote the body (it may echo what was sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum UsageParseError {
    /// The body is HTML: almost always a login or challenge page instead of the API.
    #[error("the server answered with a web page instead of usage figures (signed out, or blocked by a login or challenge page)")]
    Html,
    /// Not JSON: the kind of fault (`syntax error`, `cut short`), never the content.
    #[error("the usage response is not JSON ({0})")]
    NotJson(String),
    /// JSON of the wrong shape (not an object, or not a list for the organizations).
    #[error("the usage response is not a JSON object")]
    NotObject,
}

/// Parses a body as a JSON value, telling an HTML page apart from other garbage.
pub(super) fn parse_json(body: &[u8]) -> Result<Value, UsageParseError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(e) => {
            let head = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
            let head = head.trim_start();
            if head.starts_with("<!doctype html")
                || head.starts_with("<html")
                || head.contains("<body")
            {
                Err(UsageParseError::Html)
            } else {
                // serde's message names a position and a category, never the content.
                Err(UsageParseError::NotJson(e.classify_str().to_owned()))
            }
        }
    }
}

trait ClassifyStr {
    fn classify_str(&self) -> &'static str;
}

impl ClassifyStr for serde_json::Error {
    fn classify_str(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

/// Parses a usage response body (`/api/oauth/usage` or claude.ai's `/usage`).
pub fn parse_usage(
    body: &[u8],
    source: Source,
    observed_at_ms: i64,
) -> Result<ParsedUsage, UsageParseError> {
    let value = parse_json(body)?;
    let object = value.as_object().ok_or(UsageParseError::NotObject)?;
    Ok(usage_from_object(object, source, observed_at_ms))
}

/// The same, from an already parsed object.
pub(super) fn usage_from_object(
    object: &Map<String, Value>,
    source: Source,
    observed_at_ms: i64,
) -> ParsedUsage {
    let mut windows: Vec<Window> = Vec::new();
    if let Some(limits) = object.get("limits").and_then(Value::as_array) {
        for entry in limits {
            if let Some(w) = limit_window(entry, source, observed_at_ms) {
                if !windows.iter().any(|x| x.id == w.id) {
                    windows.push(w);
                }
            }
        }
    }
    for (key, value) in object {
        let Some(kind) = legacy_kind(key, value) else {
            continue;
        };
        let Some(w) = value.as_object() else { continue };
        let Some(utilization) = w.get("utilization").and_then(number) else {
            continue;
        };
        let window = make_window(
            kind,
            utilization,
            w.get("resets_at").and_then(time_ms),
            source,
            observed_at_ms,
        );
        if !windows.iter().any(|x| x.id == window.id) {
            windows.push(window);
        }
    }
    windows.sort_by(|a, b| order(&a.kind).cmp(&order(&b.kind)).then(a.id.cmp(&b.id)));

    let extra_usage = object
        .get("spend")
        .and_then(Value::as_object)
        .and_then(|s| spend(s, source, observed_at_ms))
        .or_else(|| {
            object
                .get("extra_usage")
                .and_then(Value::as_object)
                .and_then(|e| legacy_extra(e, source, observed_at_ms))
        });
    ParsedUsage {
        windows,
        extra_usage,
    }
}

fn order(kind: &WindowKind) -> u8 {
    match kind {
        WindowKind::Session => 0,
        WindowKind::Weekly => 1,
        WindowKind::WeeklyModel { .. } => 2,
        WindowKind::Other { .. } => 3,
    }
}

/// Keys of the response that are not windows.
const NOT_WINDOWS: &[&str] = &["limits", "spend", "extra_usage"];

fn legacy_kind(key: &str, value: &Value) -> Option<WindowKind> {
    if NOT_WINDOWS.contains(&key) || !value.is_object() {
        return None;
    }
    // Only objects that look like a window (have a utilization) are windows; other objects
    // the response may grow are not ours to show.
    value.get("utilization")?;
    Some(match key {
        "five_hour" => WindowKind::Session,
        "seven_day" => WindowKind::Weekly,
        "seven_day_opus" => WindowKind::WeeklyModel {
            model: "Opus".into(),
        },
        "seven_day_sonnet" => WindowKind::WeeklyModel {
            model: "Sonnet".into(),
        },
        other => WindowKind::Other { key: other.into() },
    })
}

fn limit_window(entry: &Value, source: Source, observed_at_ms: i64) -> Option<Window> {
    let entry = entry.as_object()?;
    let percent = entry
        .get("percent")
        .and_then(number)
        .or_else(|| entry.get("utilization").and_then(number))?;
    let kind = match entry.get("kind").and_then(Value::as_str)? {
        "session" => WindowKind::Session,
        "weekly_all" => WindowKind::Weekly,
        "weekly_scoped" => {
            let model = entry
                .get("scope")
                .and_then(|s| s.get("model"))
                .and_then(|m| {
                    m.get("display_name")
                        .and_then(Value::as_str)
                        .filter(|s| !s.trim().is_empty())
                        .or_else(|| m.get("id").and_then(Value::as_str))
                })
                .map(str::trim)
                .filter(|s| !s.is_empty())?;
            WindowKind::WeeklyModel {
                model: model.to_owned(),
            }
        }
        other if !other.trim().is_empty() => {
            let key = match entry.get("group").and_then(Value::as_str) {
                Some(group) if !group.is_empty() && group != other => format!("{group}:{other}"),
                _ => other.to_owned(),
            };
            WindowKind::Other { key }
        }
        _ => return None,
    };
    Some(make_window(
        kind,
        percent,
        entry.get("resets_at").and_then(time_ms),
        source,
        observed_at_ms,
    ))
}

/// Builds a window with its stable id and label.
pub(super) fn make_window(
    kind: WindowKind,
    utilization: f64,
    resets_at_ms: Option<i64>,
    source: Source,
    observed_at_ms: i64,
) -> Window {
    let label = match &kind {
        WindowKind::Session => "Session".to_owned(),
        WindowKind::Weekly => "Weekly".to_owned(),
        WindowKind::WeeklyModel { model } => format!("Weekly ({model})"),
        WindowKind::Other { key } => other_label(key),
    };
    Window {
        id: kind.id(),
        label,
        kind,
        utilization,
        resets_at_ms,
        source,
        observed_at_ms,
    }
}

/// `seven_day_oauth_apps` → "Weekly (OAuth apps)"; anything else by its key.
fn other_label(key: &str) -> String {
    match key {
        "seven_day_oauth_apps" => "Weekly (OAuth apps)".to_owned(),
        other => other.to_owned(),
    }
}

/// A finite number, or a numeric string.
fn number(v: &Value) -> Option<f64> {
    let n = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(round_to_i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A reset time: RFC 3339 text, or epoch seconds (or milliseconds, when that large).
pub(super) fn time_ms(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return Some(t.timestamp_millis());
            }
            s.parse::<f64>().ok().and_then(epoch_ms)
        }
        Value::Number(n) => n.as_f64().and_then(epoch_ms),
        _ => None,
    }
}

fn epoch_ms(n: f64) -> Option<i64> {
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    // Epoch seconds stay below 10^11 until the year 5138; milliseconds are above 10^12.
    // A time past i64 milliseconds (1e300) is no time at all, not i64::MAX.
    round_to_i64(if n >= 1e11 { n } else { n * 1000.0 })
}

/// An amount in minor units, divided by `10^exponent`.
fn minor(amount: f64, exponent: i64) -> f64 {
    amount / 10f64.powi(exponent.clamp(0, 6) as i32)
}

fn currency(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_uppercase)
}

/// `{ amount_minor, currency, exponent }`.
fn money(v: &Value) -> Option<(f64, Option<String>)> {
    let m = v.as_object()?;
    let amount = m.get("amount_minor").and_then(number)?;
    let exponent = m.get("exponent").and_then(integer).unwrap_or(2);
    Some((minor(amount, exponent), currency(m.get("currency"))))
}

fn spend(s: &Map<String, Value>, source: Source, observed_at_ms: i64) -> Option<ExtraUsage> {
    let enabled = s.get("enabled").and_then(Value::as_bool);
    let used = s.get("used").and_then(money);
    let limit = s.get("limit").and_then(money);
    if enabled.is_none() && used.is_none() && limit.is_none() {
        return None;
    }
    let currency = used
        .as_ref()
        .and_then(|u| u.1.clone())
        .or_else(|| limit.as_ref().and_then(|l| l.1.clone()))
        .or_else(|| currency(s.get("currency")))
        .unwrap_or_else(|| "USD".to_owned());
    Some(ExtraUsage {
        enabled,
        monthly_limit: limit.map(|l| l.0),
        used: used.map(|u| u.0),
        currency,
        balance: None,
        disabled_reason: s
            .get("disabled_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        source,
        observed_at_ms,
    })
}

fn legacy_extra(e: &Map<String, Value>, source: Source, observed_at_ms: i64) -> Option<ExtraUsage> {
    let enabled = e
        .get("is_enabled")
        .or_else(|| e.get("enabled"))
        .and_then(Value::as_bool);
    let places = e.get("decimal_places").and_then(integer).unwrap_or(2);
    let limit = e
        .get("monthly_limit")
        .or_else(|| e.get("monthly_credit_limit"))
        .and_then(number)
        .map(|n| minor(n, places));
    let used = e
        .get("used_credits")
        .and_then(number)
        .map(|n| minor(n, places));
    if enabled.is_none() && limit.is_none() && used.is_none() {
        return None;
    }
    Some(ExtraUsage {
        enabled,
        monthly_limit: limit,
        used,
        currency: currency(e.get("currency")).unwrap_or_else(|| "USD".to_owned()),
        balance: None,
        disabled_reason: e
            .get("disabled_reason")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        source,
        observed_at_ms,
    })
}

/// claude.ai's `/api/organizations/{uuid}/overage_spend_limit`.
pub fn parse_overage(
    body: &[u8],
    source: Source,
    observed_at_ms: i64,
) -> Result<Option<ExtraUsage>, UsageParseError> {
    let value = parse_json(body)?;
    let object = value.as_object().ok_or(UsageParseError::NotObject)?;
    Ok(legacy_extra(object, source, observed_at_ms))
}

/// claude.ai's `/api/organizations/{uuid}/prepaid/credits`: the balance in major units and
/// its currency.
pub fn parse_prepaid(body: &[u8]) -> Result<Option<(f64, String)>, UsageParseError> {
    let value = parse_json(body)?;
    let object = value.as_object().ok_or(UsageParseError::NotObject)?;
    let places = object.get("decimal_places").and_then(integer).unwrap_or(2);
    Ok(object.get("amount").and_then(number).map(|a| {
        (
            minor(a, places),
            currency(object.get("currency")).unwrap_or_else(|| "USD".to_owned()),
        )
    }))
}

/// One claude.ai organization.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Organization {
    /// Its id, which the usage endpoints are under.
    pub uuid: String,
    /// Its name, for a person to choose by.
    pub name: String,
    /// What it offers (`chat`, `api`, ...).
    pub capabilities: Vec<String>,
}

impl Organization {
    /// Whether it has chat: the organizations whose usage limits Headroom shows.
    pub fn has_chat(&self) -> bool {
        self.capabilities.iter().any(|c| c == "chat")
    }
}

/// claude.ai's `/api/organizations`: every entry with a uuid.
pub fn parse_organizations(body: &[u8]) -> Result<Vec<Organization>, UsageParseError> {
    let value = parse_json(body)?;
    let list = value.as_array().ok_or(UsageParseError::NotObject)?;
    Ok(list
        .iter()
        .filter_map(|o| {
            let o = o.as_object()?;
            let uuid = o.get("uuid").and_then(Value::as_str)?.trim();
            if uuid.is_empty() {
                return None;
            }
            Some(Organization {
                uuid: uuid.to_owned(),
                name: o
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                capabilities: o
                    .get("capabilities")
                    .and_then(Value::as_array)
                    .map(|c| {
                        c.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_past_what_an_i64_holds_are_no_time() {
        assert_eq!(time_ms(&serde_json::json!(1e300)), None);
        assert_eq!(time_ms(&serde_json::json!("9.3e18")), None);
        assert_eq!(
            time_ms(&serde_json::json!(1_764_000_000)),
            Some(1_764_000_000_000)
        );
        assert_eq!(integer(&serde_json::json!(1e300)), None);
        assert_eq!(integer(&serde_json::json!(2.6)), Some(3));
    }

    fn parse(text: &str) -> ParsedUsage {
        parse_usage(text.as_bytes(), Source::Account, 1_000).unwrap()
    }

    #[test]
    fn one_means_one_percent_and_times_take_both_forms() {
        let p = parse(
            r#"{"five_hour":{"utilization":1.0,"resets_at":"2026-01-01T10:00:00.123+00:00"},
                "seven_day":{"utilization":"250","resets_at":1767261600}}"#,
        );
        assert_eq!(p.windows[0].utilization, 1.0);
        assert_eq!(p.windows[0].resets_at_ms, Some(1_767_261_600_123));
        assert_eq!(p.windows[1].utilization, 250.0);
        assert_eq!(p.windows[1].resets_at_ms, Some(1_767_261_600_000));
        assert_eq!(
            time_ms(&Value::from(1_767_261_600_000i64)),
            Some(1_767_261_600_000)
        );
        assert_eq!(time_ms(&Value::from("soon")), None);
    }

    #[test]
    fn wrong_types_are_absent_not_fatal() {
        let p = parse(
            r#"{"five_hour":{"utilization":"lots"},"seven_day":[1,2],"extra_usage":"yes",
                "limits":{"kind":"session"},"seven_day_opus":{"utilization":null}}"#,
        );
        assert!(p.windows.is_empty());
        assert_eq!(p.extra_usage, None);
        assert_eq!(
            parse_usage(b"[1]", Source::Account, 0),
            Err(UsageParseError::NotObject)
        );
    }

    #[test]
    fn minor_units() {
        assert_eq!(minor(5000.0, 2), 50.0);
        assert_eq!(minor(5000.0, 0), 5000.0);
        assert_eq!(minor(5000.0, 3), 5.0);
    }
}
