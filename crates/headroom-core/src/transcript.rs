//! One line of a Claude Code transcript (`projects/**/*.jsonl`) into a usage record.
//!
//! Claude Code writes one JSON object per line. Only assistant lines carry `message.usage`,
//! and one API response is written once per content block (`apiBlockIndex` 0, 1, 2…), all
//! rows sharing `message.id` and `requestId`. Current versions write a snapshot of the usage
//! taken while the response was still streaming into the earlier rows (`output_tokens` often
//! 1 or 2) and the final usage into the last one, so the caller deduplicates on
//! [`UsageLine::dedup_key`] and keeps the row that [`Tokens::supersedes`] the others.
//!
//! Other record types (`user`, `summary`, `cost-state` — Claude Code's running cost
//! estimate, cumulative per session and never usage of one response) carry no usage: they
//! are never counted and never a bad line.
//!
//! Validation follows ccusage 20 so that both tools count the same lines: a line that fails
//! validation is dropped whole (and so does not claim its dedup key). Required: an RFC 3339
//! `timestamp` and `message.usage.{input,output}_tokens` as non-negative integers. Optional
//! fields must have the right type when present (`null` is not "absent"). `cwd` is informative
//! only and never invalidates a line.
//!
//! Parsing borrows from the line buffer: no allocation for the common case.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};

/// Tokens of one API response, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// `input_tokens`: input not read from or written to the cache.
    pub input: u64,
    /// `output_tokens`.
    pub output: u64,
    /// `cache_creation_input_tokens`: what reports show as cache-creation tokens.
    pub cache_write: u64,
    /// 5-minute cache writes. Equals `cache_write` when the line has no TTL breakdown.
    pub cache_write_5m: u64,
    /// 1-hour cache writes (priced at twice the input rate).
    pub cache_write_1h: u64,
    /// `cache_read_input_tokens`.
    pub cache_read: u64,
}

impl Tokens {
    /// Every field, for checks that apply to all of them.
    pub fn fields(&self) -> [u64; 6] {
        [
            self.input,
            self.output,
            self.cache_write,
            self.cache_write_5m,
            self.cache_write_1h,
            self.cache_read,
        ]
    }

    /// Input, output, cache writes and cache reads together (the TTL split counted once).
    pub fn total(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.cache_write)
            .saturating_add(self.cache_read)
    }

    /// Whether a later row of a response, carrying these counts, replaces the row kept so
    /// far (`kept`): the larger [`Tokens::total`] wins, as in ccusage 20 (which measures
    /// "largest" the same way); with equal totals and other counts, the later row wins.
    /// Identical counts keep the row kept: nothing would change but the time, by the
    /// milliseconds between two rows (ccusage keeps the first there too).
    pub fn supersedes(&self, kept: &Tokens) -> bool {
        let (mine, theirs) = (self.total(), kept.total());
        mine > theirs || (mine == theirs && self != kept)
    }
}

/// A validated assistant line with usage.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageLine<'a> {
    /// Milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: i64,
    /// `message.model`.
    pub model: Option<Cow<'a, str>>,
    /// `message.id`, half of the dedup key.
    pub message_id: Option<Cow<'a, str>>,
    /// `requestId`, the other half.
    pub request_id: Option<Cow<'a, str>>,
    /// `sessionId`.
    pub session_id: Option<Cow<'a, str>>,
    /// `forkedFrom.sessionId`: the row is a copy that a forked session took from that
    /// session (only a plausible session id is kept, see [`plausible_session_id`]).
    pub forked_from: Option<Cow<'a, str>>,
    /// `cwd`: the working directory of the session.
    pub cwd: Option<Cow<'a, str>>,
    /// Cost Claude Code itself recorded (older versions only).
    pub cost_usd: Option<f64>,
    /// `message.usage`.
    pub tokens: Tokens,
    /// `message.usage.speed == "fast"`: fast mode, billed at a multiple of the rates.
    pub fast: bool,
    /// `message.usage.inference_geo == "us"`: US-only inference (data residency), billed at
    /// a multiple of the rates. The API writes `"global"` otherwise, and Claude Code
    /// `"not_available"` where it has no value.
    pub us_only: bool,
    /// Advisor calls of this response (`message.usage.iterations[]` entries of type
    /// `advisor_message`): separate API calls on their own model, not in `tokens`.
    pub advisors: Vec<AdvisorCall>,
}

/// One advisor sub-inference recorded in a response's `usage.iterations`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdvisorCall {
    /// The advisor's model.
    pub model: String,
    /// Its tokens.
    pub tokens: Tokens,
}

impl UsageLine<'_> {
    /// The key one API response is deduplicated on: `message.id` with `requestId`.
    /// Lines without a message id are never merged with others (as in ccusage).
    pub fn dedup_key(&self) -> Option<(&str, &str)> {
        let message_id = self.message_id.as_deref()?;
        Some((message_id, self.request_id.as_deref().unwrap_or("")))
    }
}

/// What became of a line.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "returned by value once per line and never stored: boxing the usage would allocate per line"
)]
pub enum LineOutcome<'a> {
    /// An assistant response with usage.
    Usage(UsageLine<'a>),
    /// A valid line that carries no usage (user prompt, summary, another type).
    NoUsage,
    /// A line that is not valid JSON or fails validation; counted and reported.
    Invalid(InvalidLine),
}

/// Why a line was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidLine {
    /// An empty line.
    Empty,
    /// Not JSON at all, or truncated.
    NotJson,
    /// JSON with a usage object whose fields have the wrong type or are missing, or a model
    /// name no model has (see [`plausible_model_name`]).
    BadFields,
    /// A `timestamp` that is not RFC 3339.
    BadTimestamp,
    /// A token count above [`MAX_TOKENS`]: no response is that large, and such a value
    /// would overflow the ledger's sums.
    TooManyTokens,
    /// A `costUSD` that is negative (or not finite).
    BadCost,
    /// A line longer than the ingester's cap (64 MiB).
    TooLong,
}

impl fmt::Display for InvalidLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidLine::Empty => "empty line",
            InvalidLine::NotJson => "not valid JSON",
            InvalidLine::BadFields => "usage fields missing or of the wrong type",
            InvalidLine::BadTimestamp => "timestamp is not RFC 3339",
            InvalidLine::TooManyTokens => "a token count above 1,000,000,000",
            InvalidLine::BadCost => "costUSD negative or not finite",
            InvalidLine::TooLong => "line longer than 64 MiB",
        })
    }
}

/// The byte pattern every usage line contains. Inside a JSON string a quote is always
/// escaped, so this sequence can only be an object key: lines without it are skipped
/// without parsing, which is most of a transcript's bytes (tool output).
pub const USAGE_KEY: &[u8] = b"\"usage\":";

/// The most tokens one response may report in any field. The largest context windows hold
/// about 10^6 tokens; 10^9 leaves room for any model to come while keeping the sum of
/// 10^9 responses inside `i64` (a larger count is a corrupt or forged line, see
/// [`InvalidLine::TooManyTokens`]).
pub const MAX_TOKENS: u64 = 1_000_000_000;

/// The longest model name accepted: real ids are under 40 characters.
pub const MAX_MODEL_NAME: usize = 128;

/// Whether `name` can be a model id: at most [`MAX_MODEL_NAME`] bytes, and no control or
/// bidirectional-formatting character. A model name is shown in tables, menus and
/// notifications: an escape sequence in it would drive the terminal that prints it
/// (audit N18), and a bidi override would make it read as another model.
pub fn plausible_model_name(name: &str) -> bool {
    name.len() <= MAX_MODEL_NAME && !name.chars().any(crate::text::is_unsafe_char)
}

/// Whether `id` can be a Claude Code session id (a UUID; letters, digits, `-` and `_`, at
/// most 128 bytes): one taken from `forkedFrom` names a session in reports.
pub fn plausible_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses one line (without its newline).
pub fn parse_line(line: &[u8]) -> LineOutcome<'_> {
    let line = trim_ascii(line);
    if line.is_empty() {
        return LineOutcome::Invalid(InvalidLine::Empty);
    }
    let raw: RawLine<'_> = match serde_json::from_slice(line) {
        Ok(raw) => raw,
        Err(err) if err.is_data() => {
            // Valid JSON of the wrong shape: only lines that claim to carry usage count as bad.
            return if memchr::memmem::find(line, USAGE_KEY).is_some() {
                LineOutcome::Invalid(InvalidLine::BadFields)
            } else {
                LineOutcome::NoUsage
            };
        }
        Err(_) => return LineOutcome::Invalid(InvalidLine::NotJson),
    };
    validate(raw)
}

/// Parses one whole line read from `reader` (without its newline) that contains
/// [`USAGE_KEY`], without holding the line in memory: for lines too long for the ingester's
/// buffer. The fields kept are copied; everything else (content blocks, tool output) is
/// skipped as it streams by.
pub fn parse_line_from(reader: impl std::io::Read) -> LineOutcome<'static> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let parsed = RawLine::<'static>::deserialize(&mut deserializer)
        .and_then(|raw| deserializer.end().map(|()| raw));
    match parsed {
        Ok(raw) => validate(raw),
        Err(err) if err.is_data() => LineOutcome::Invalid(InvalidLine::BadFields),
        Err(_) => LineOutcome::Invalid(InvalidLine::NotJson),
    }
}

/// The checks of a line that is valid JSON (see the module's notes).
fn validate(raw: RawLine<'_>) -> LineOutcome<'_> {
    if raw.kind.as_ref().is_some_and(|kind| kind.0 != "assistant") {
        return LineOutcome::NoUsage;
    }
    let Some(message) = raw.message else {
        return LineOutcome::NoUsage;
    };
    let Some(usage) = message.usage else {
        return LineOutcome::NoUsage;
    };
    let Some(timestamp) = raw.timestamp else {
        return LineOutcome::Invalid(InvalidLine::BadTimestamp);
    };
    let Some(timestamp_ms) = parse_rfc3339_ms(&timestamp.0) else {
        return LineOutcome::Invalid(InvalidLine::BadTimestamp);
    };
    let cache_write = usage.cache_creation_input_tokens.unwrap_or(0);
    let (cache_write_5m, cache_write_1h) = match usage.cache_creation {
        Some(ttl) => (
            ttl.ephemeral_5m_input_tokens.unwrap_or(0),
            ttl.ephemeral_1h_input_tokens.unwrap_or(0),
        ),
        None => (cache_write, 0),
    };
    let tokens = Tokens {
        input: usage.input_tokens,
        output: usage.output_tokens,
        cache_write,
        cache_write_5m,
        cache_write_1h,
        cache_read: usage.cache_read_input_tokens.unwrap_or(0),
    };
    if tokens.fields().iter().any(|&n| n > MAX_TOKENS) {
        return LineOutcome::Invalid(InvalidLine::TooManyTokens);
    }
    if raw.cost_usd.is_some_and(|c| !c.is_finite() || c < 0.0) {
        return LineOutcome::Invalid(InvalidLine::BadCost);
    }
    if message
        .model
        .as_ref()
        .is_some_and(|model| !plausible_model_name(&model.0))
    {
        return LineOutcome::Invalid(InvalidLine::BadFields);
    }
    LineOutcome::Usage(UsageLine {
        timestamp_ms,
        model: message.model.map(|s| s.0),
        message_id: message.id.map(|s| s.0),
        request_id: raw.request_id.map(|s| s.0),
        session_id: raw.session_id.map(|s| s.0),
        forked_from: raw
            .forked_from
            .and_then(|fork| fork.session_id)
            .filter(|id| plausible_session_id(id)),
        cwd: raw.cwd.and_then(|cwd| cwd.0),
        cost_usd: raw.cost_usd,
        tokens,
        fast: usage.speed.is_some_and(|speed| speed.0 == "fast"),
        us_only: usage
            .inference_geo
            .is_some_and(|geo| geo.0.as_deref() == Some("us")),
        advisors: usage
            .iterations
            .as_ref()
            .map_or_else(Vec::new, advisor_calls),
    })
}

/// The advisor calls of `usage.iterations` (Anthropic's advisor tool: entries
/// `{"type": "advisor_message", "model": …, "input_tokens": …, …}`; the top-level usage
/// counts the executor's tokens only). Entries of another shape are passed over: ccusage
/// ignores the field, so it must never make a line invalid.
fn advisor_calls(iterations: &serde_json::Value) -> Vec<AdvisorCall> {
    let Some(list) = iterations.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter(|it| it.get("type").and_then(|t| t.as_str()) == Some("advisor_message"))
        .filter_map(|it| {
            let count = |key: &str| it.get(key).and_then(serde_json::Value::as_u64);
            let model = it
                .get("model")?
                .as_str()
                .filter(|name| plausible_model_name(name))?
                .to_owned();
            let cache_write = count("cache_creation_input_tokens").unwrap_or(0);
            let ttl = it.get("cache_creation");
            let ttl_count = |key: &str| {
                ttl.and_then(|t| t.get(key))
                    .and_then(serde_json::Value::as_u64)
            };
            let (cache_write_5m, cache_write_1h) = match ttl {
                Some(_) => (
                    ttl_count("ephemeral_5m_input_tokens").unwrap_or(0),
                    ttl_count("ephemeral_1h_input_tokens").unwrap_or(0),
                ),
                None => (cache_write, 0),
            };
            Some(AdvisorCall {
                model,
                tokens: Tokens {
                    input: count("input_tokens")?,
                    output: count("output_tokens")?,
                    cache_write,
                    cache_write_5m,
                    cache_write_1h,
                    cache_read: count("cache_read_input_tokens").unwrap_or(0),
                },
            })
        })
        .collect()
}

fn trim_ascii(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes {
        if first.is_ascii_whitespace() {
            bytes = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = bytes {
        if last.is_ascii_whitespace() {
            bytes = rest;
        } else {
            break;
        }
    }
    bytes
}

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(rename = "type", default, borrow, deserialize_with = "present")]
    kind: Option<Str<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    timestamp: Option<Str<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    message: Option<RawMessage<'a>>,
    #[serde(rename = "requestId", default, borrow, deserialize_with = "present")]
    request_id: Option<Str<'a>>,
    #[serde(rename = "sessionId", default, borrow, deserialize_with = "present")]
    session_id: Option<Str<'a>>,
    #[serde(default, borrow)]
    cwd: Option<AnyStr<'a>>,
    #[serde(rename = "costUSD", default, deserialize_with = "present")]
    cost_usd: Option<f64>,
    /// Any JSON (ccusage does not read it, so it never fails a line).
    #[serde(rename = "forkedFrom", default, borrow)]
    forked_from: Option<ForkedFrom<'a>>,
    #[serde(default, deserialize_with = "present")]
    #[expect(
        dead_code,
        reason = "validated for parity with ccusage, otherwise unused"
    )]
    version: Option<IgnoredStr>,
}

#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<Str<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    model: Option<Str<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    usage: Option<RawUsage<'a>>,
}

#[derive(Deserialize)]
struct RawUsage<'a> {
    input_tokens: u64,
    output_tokens: u64,
    #[serde(default, deserialize_with = "present")]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    cache_read_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    cache_creation: Option<RawCacheCreation>,
    /// Validated as ccusage does (a string; `null` fails the line).
    #[serde(default, borrow, deserialize_with = "present")]
    speed: Option<Str<'a>>,
    /// Any JSON: read leniently by [`advisor_calls`].
    #[serde(default)]
    iterations: Option<serde_json::Value>,
    /// Any JSON (ccusage does not read it, so it never fails a line); only `"us"` counts.
    #[serde(default, borrow)]
    inference_geo: Option<AnyStr<'a>>,
}

#[derive(Deserialize)]
struct RawCacheCreation {
    #[serde(default, deserialize_with = "present")]
    ephemeral_5m_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    ephemeral_1h_input_tokens: Option<u64>,
}

/// `forkedFrom`, read leniently: the source session's id when it is an object with a string
/// `sessionId`, nothing otherwise.
struct ForkedFrom<'a> {
    session_id: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for ForkedFrom<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ForkedFrom<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ForkedFrom<'de>, A::Error> {
                let mut session_id = None;
                while let Some(key) = map.next_key::<Str<'de>>()? {
                    if key.0 == "sessionId" && session_id.is_none() {
                        session_id = map.next_value::<AnyStr<'de>>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(ForkedFrom { session_id })
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ForkedFrom<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ForkedFrom { session_id: None })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<ForkedFrom<'de>, E> {
                Ok(ForkedFrom { session_id: None })
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<ForkedFrom<'de>, E> {
                Ok(ForkedFrom { session_id: None })
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<ForkedFrom<'de>, E> {
                Ok(ForkedFrom { session_id: None })
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<ForkedFrom<'de>, E> {
                Ok(ForkedFrom { session_id: None })
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<ForkedFrom<'de>, E> {
                Ok(ForkedFrom { session_id: None })
            }
            fn visit_unit<E: de::Error>(self) -> Result<ForkedFrom<'de>, E> {
                Ok(ForkedFrom { session_id: None })
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// An optional field that, when present, must hold a `T`: `null` fails the line, as in ccusage.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A JSON string, borrowed from the line when it has no escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A string whose content is not needed (validated for type only).
struct IgnoredStr;

impl<'de> Deserialize<'de> for IgnoredStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IgnoredStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<IgnoredStr, E> {
                Ok(IgnoredStr)
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Any JSON value, keeping it only when it is a string.
struct AnyStr<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for AnyStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<AnyStr<'de>, E> {
                Ok(AnyStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AnyStr<'de>, E> {
                Ok(AnyStr(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<AnyStr<'de>, E> {
                Ok(AnyStr(Some(Cow::Owned(v))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<AnyStr<'de>, E> {
                Ok(AnyStr(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<AnyStr<'de>, E> {
                Ok(AnyStr(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<AnyStr<'de>, E> {
                Ok(AnyStr(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<AnyStr<'de>, E> {
                Ok(AnyStr(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<AnyStr<'de>, E> {
                Ok(AnyStr(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<AnyStr<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(AnyStr(None))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<AnyStr<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AnyStr(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Strict RFC 3339 (`2026-11-20T14:03:05.123Z`, or with a `±hh:mm` offset) to epoch ms.
/// Uppercase `T` and `Z` only, as ccusage accepts; fractions past milliseconds are truncated.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let mut value = 0i64;
        for &c in b.get(range)? {
            if !c.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(c - b'0');
        }
        Some(value)
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(i..)? {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let hours = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
            let minutes = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'-' {
                -total
            } else {
                total
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
