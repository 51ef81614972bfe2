//! API prices of Claude models and the cost of one response.
//!
//! The embedded table is versioned ([`PRICE_TABLE_VERSION`]); a user override file (JSON, see
//! [`PriceTable::with_overrides`]) can add models or replace prices. Model ids are matched
//! with their date, provider prefix or `[1m]` suffix removed, so `claude-sonnet-4-5-20250929`,
//! `anthropic/claude-sonnet-4-5` and `us.anthropic.claude-sonnet-4-5-20250929-v1:0` all find
//! `claude-sonnet-4-5`. An unknown model costs zero and is reported, never an error.
//!
//! Figures agree with ccusage 20 (which uses LiteLLM's table): cache writes are priced by
//! their TTL (5-minute at 1.25x input, 1-hour at 2x input, reads at 0.1x), and models with a
//! long-context tier price each token kind's tokens above 200k in one response at that tier.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::transcript::Tokens;

/// Bumped whenever the embedded prices change; stored costs are recomputed when it does.
pub const PRICE_TABLE_VERSION: &str = "2026-11-01";

/// Dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    pub input: f64,
    pub output: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    pub cache_read: f64,
}

impl Rates {
    /// Rates derived from the input and output price with Anthropic's cache multipliers.
    pub const fn standard(input: f64, output: f64) -> Self {
        Rates {
            input,
            output,
            cache_write_5m: input * 1.25,
            cache_write_1h: input * 2.0,
            cache_read: input * 0.1,
        }
    }
}

/// The price of one model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    #[serde(flatten)]
    pub base: Rates,
    /// Rates for tokens above [`LONG_CONTEXT_THRESHOLD`] of one kind in one response.
    #[serde(default)]
    pub long_context: Option<Rates>,
}

/// Tokens of one kind in one response beyond which the long-context rates apply.
pub const LONG_CONTEXT_THRESHOLD: u64 = 200_000;

const fn price(input: f64, output: f64) -> ModelPrice {
    ModelPrice {
        base: Rates::standard(input, output),
        long_context: None,
    }
}

const fn with_long_context(input: f64, output: f64) -> ModelPrice {
    ModelPrice {
        base: Rates::standard(input, output),
        long_context: Some(Rates::standard(input * 2.0, output * 1.5)),
    }
}

/// Current and recent models, by normalized id.
const EMBEDDED: &[(&str, ModelPrice)] = &[
    ("claude-opus-4-8", price(5.0, 25.0)),
    ("claude-opus-4-7", price(5.0, 25.0)),
    ("claude-opus-4-6", price(5.0, 25.0)),
    ("claude-opus-4-5", price(5.0, 25.0)),
    ("claude-opus-4-1", price(15.0, 75.0)),
    ("claude-opus-4", price(15.0, 75.0)),
    ("claude-sonnet-4-6", price(3.0, 15.0)),
    ("claude-sonnet-4-5", with_long_context(3.0, 15.0)),
    ("claude-sonnet-4", with_long_context(3.0, 15.0)),
    ("claude-haiku-4-5", price(1.0, 5.0)),
    ("claude-3-7-sonnet", price(3.0, 15.0)),
    ("claude-3-5-sonnet", price(3.0, 15.0)),
    ("claude-3-5-haiku", price(0.8, 4.0)),
    ("claude-3-opus", price(15.0, 75.0)),
    ("claude-3-sonnet", price(3.0, 15.0)),
    (
        "claude-3-haiku",
        ModelPrice {
            base: Rates {
                input: 0.25,
                output: 1.25,
                cache_write_5m: 0.30,
                cache_write_1h: 0.50,
                cache_read: 0.03,
            },
            long_context: None,
        },
    ),
];

/// Errors reading a price override file.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("cannot read price overrides {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("price overrides {path} are not valid: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("price overrides {path}: {model} has a negative or non-finite rate")]
    BadRate { path: String, model: String },
}

/// The override file: `{"models": {"claude-foo-5": {"input": 3, "output": 15, ...}}}`.
#[derive(Debug, Deserialize)]
struct OverrideFile {
    models: BTreeMap<String, OverridePrice>,
}

/// Cache rates default to Anthropic's multipliers of `input`.
#[derive(Debug, Deserialize)]
struct OverridePrice {
    input: f64,
    output: f64,
    cache_write_5m: Option<f64>,
    cache_write_1h: Option<f64>,
    cache_read: Option<f64>,
    long_context: Option<Rates>,
}

/// The prices in force: the embedded table plus any overrides.
#[derive(Debug, Clone)]
pub struct PriceTable {
    models: BTreeMap<String, ModelPrice>,
    /// Identifies the table, so stored costs can be recomputed when it changes.
    fingerprint: String,
}

impl Default for PriceTable {
    fn default() -> Self {
        Self::embedded()
    }
}

impl PriceTable {
    pub fn embedded() -> Self {
        PriceTable {
            models: EMBEDDED
                .iter()
                .map(|(id, price)| ((*id).to_owned(), *price))
                .collect(),
            fingerprint: PRICE_TABLE_VERSION.to_owned(),
        }
    }

    /// The embedded table with the overrides of `path` applied; a missing file is no error.
    pub fn with_overrides(path: &Path) -> Result<Self, PricingError> {
        let mut table = Self::embedded();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(table),
            Err(source) => {
                return Err(PricingError::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let file: OverrideFile =
            serde_json::from_str(&text).map_err(|source| PricingError::Parse {
                path: path.display().to_string(),
                source,
            })?;
        for (model, o) in file.models {
            let rates = Rates {
                input: o.input,
                output: o.output,
                cache_write_5m: o.cache_write_5m.unwrap_or(o.input * 1.25),
                cache_write_1h: o.cache_write_1h.unwrap_or(o.input * 2.0),
                cache_read: o.cache_read.unwrap_or(o.input * 0.1),
            };
            let all = [Some(rates), o.long_context];
            let valid = all.iter().flatten().all(|r| {
                [
                    r.input,
                    r.output,
                    r.cache_write_5m,
                    r.cache_write_1h,
                    r.cache_read,
                ]
                .iter()
                .all(|v| v.is_finite() && *v >= 0.0)
            });
            if !valid {
                return Err(PricingError::BadRate {
                    path: path.display().to_string(),
                    model,
                });
            }
            table.models.insert(
                normalize_model(&model).to_owned(),
                ModelPrice {
                    base: rates,
                    long_context: o.long_context,
                },
            );
        }
        let digest = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        table.fingerprint = format!("{PRICE_TABLE_VERSION}+{digest:016x}");
        Ok(table)
    }

    /// Changes whenever any price changes.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The price of a model id as Claude Code records it, if known.
    pub fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        let id = normalize_model(model);
        if let Some(price) = self.models.get(id) {
            return Some(price);
        }
        // "claude-opus-4-5-thinking" and the like: the longest known id it starts with.
        self.models
            .iter()
            .filter(|(known, _)| {
                id.starts_with(known.as_str()) && id.as_bytes().get(known.len()) == Some(&b'-')
            })
            .max_by_key(|(known, _)| known.len())
            .map(|(_, price)| price)
    }

    /// Cost in dollars of one response, or `None` when the model is unknown.
    pub fn cost(&self, model: &str, tokens: &Tokens) -> Option<f64> {
        self.lookup(model).map(|price| price.cost(tokens))
    }

    /// Every known model with its price, for display.
    pub fn models(&self) -> impl Iterator<Item = (&str, &ModelPrice)> {
        self.models.iter().map(|(id, price)| (id.as_str(), price))
    }
}

impl ModelPrice {
    pub fn cost(&self, tokens: &Tokens) -> f64 {
        let tier = |count: u64, base: f64, long: Option<f64>| -> f64 {
            match long {
                Some(long) if count > LONG_CONTEXT_THRESHOLD => {
                    (LONG_CONTEXT_THRESHOLD as f64 * base
                        + (count - LONG_CONTEXT_THRESHOLD) as f64 * long)
                        / 1e6
                }
                _ => count as f64 * base / 1e6,
            }
        };
        let long = self.long_context;
        let b = &self.base;
        tier(tokens.input, b.input, long.map(|l| l.input))
            + tier(tokens.output, b.output, long.map(|l| l.output))
            + tier(
                tokens.cache_write_5m,
                b.cache_write_5m,
                long.map(|l| l.cache_write_5m),
            )
            + tier(
                tokens.cache_write_1h,
                b.cache_write_1h,
                long.map(|l| l.cache_write_1h),
            )
            + tier(tokens.cache_read, b.cache_read, long.map(|l| l.cache_read))
    }
}

/// `us.anthropic.claude-sonnet-4-5-20250929-v1:0` → `claude-sonnet-4-5`.
pub fn normalize_model(model: &str) -> &str {
    let mut id = model.trim();
    if let Some(pos) = id.rfind('/') {
        id = &id[pos + 1..];
    }
    if let Some(pos) = id.find("claude-") {
        id = &id[pos..];
    }
    for suffix in ["[1m]", "-latest"] {
        id = id.strip_suffix(suffix).unwrap_or(id);
    }
    // Bedrock "-v1:0", Vertex "@20250929".
    if let Some(pos) = id.find(['@', ':']) {
        id = &id[..pos];
    }
    if let Some(stripped) = strip_version_suffix(id) {
        id = stripped;
    }
    if let Some(stripped) = strip_date_suffix(id) {
        id = stripped;
    }
    id
}

fn strip_version_suffix(id: &str) -> Option<&str> {
    let pos = id.rfind("-v")?;
    let rest = &id[pos + 2..];
    (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())).then(|| &id[..pos])
}

fn strip_date_suffix(id: &str) -> Option<&str> {
    let pos = id.rfind('-')?;
    let rest = &id[pos + 1..];
    (rest.len() == 8 && rest.bytes().all(|b| b.is_ascii_digit())).then(|| &id[..pos])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(kind: &str, count: u64) -> Tokens {
        let mut t = Tokens::default();
        match kind {
            "input" => t.input = count,
            "output" => t.output = count,
            "5m" => {
                t.cache_write = count;
                t.cache_write_5m = count;
            }
            "1h" => {
                t.cache_write = count;
                t.cache_write_1h = count;
            }
            "read" => t.cache_read = count,
            _ => unreachable!(),
        }
        t
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Figures measured from ccusage 20.0.24 (`--offline`) on one-line transcripts.
    #[test]
    fn agrees_with_ccusage_on_a_million_tokens_of_each_kind() {
        let table = PriceTable::embedded();
        let cases: &[(&str, [f64; 4])] = &[
            ("claude-sonnet-4-5-20250929", [5.4, 21.0, 6.75, 0.54]),
            ("claude-opus-4-5-20251101", [5.0, 25.0, 6.25, 0.5]),
            ("claude-haiku-4-5-20251001", [1.0, 5.0, 1.25, 0.1]),
            ("claude-opus-4-1-20250805", [15.0, 75.0, 18.75, 1.5]),
            ("claude-sonnet-4-20250514", [5.4, 21.0, 6.75, 0.54]),
            ("claude-3-5-haiku-20241022", [0.8, 4.0, 1.0, 0.08]),
            ("claude-3-haiku-20240307", [0.25, 1.25, 0.3, 0.03]),
            ("claude-sonnet-4-6", [3.0, 15.0, 3.75, 0.3]),
            ("claude-opus-4-7", [5.0, 25.0, 6.25, 0.5]),
        ];
        for (model, expected) in cases {
            for (kind, want) in ["input", "output", "5m", "read"].iter().zip(expected) {
                let got = table.cost(model, &one(kind, 1_000_000)).unwrap();
                assert!(close(got, *want), "{model} {kind}: {got} != {want}");
            }
        }
    }

    #[test]
    fn one_hour_cache_writes_cost_twice_the_input_rate() {
        let table = PriceTable::embedded();
        let sonnet = "claude-sonnet-4-5-20250929";
        assert!(close(table.cost(sonnet, &one("1h", 100_000)).unwrap(), 0.6));
        assert!(close(
            table.cost(sonnet, &one("5m", 100_000)).unwrap(),
            0.375
        ));
        // Each TTL is tiered on its own (ccusage: 1.4625 for 150k + 150k).
        let mixed = Tokens {
            cache_write: 300_000,
            cache_write_5m: 150_000,
            cache_write_1h: 150_000,
            ..Tokens::default()
        };
        assert!(close(table.cost(sonnet, &mixed).unwrap(), 1.4625));
        assert!(close(table.cost(sonnet, &one("1h", 300_000)).unwrap(), 2.4));
    }

    #[test]
    fn model_ids_are_matched_in_every_spelling() {
        let table = PriceTable::embedded();
        for id in [
            "claude-sonnet-4-5-20250929",
            "claude-sonnet-4-5",
            "anthropic/claude-sonnet-4-5",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-sonnet-4-5@20250929",
            "claude-sonnet-4-5-20250929[1m]",
        ] {
            assert_eq!(normalize_model(id), "claude-sonnet-4-5", "{id}");
            assert!(table.lookup(id).is_some(), "{id}");
        }
        assert_eq!(normalize_model("claude-opus-4-20250514"), "claude-opus-4");
        assert!(table.lookup("claude-opus-4-5-thinking").is_some());
    }

    #[test]
    fn unknown_models_cost_nothing_and_say_so() {
        let table = PriceTable::embedded();
        assert_eq!(table.cost("<synthetic>", &one("input", 10)), None);
        assert_eq!(table.cost("claude-haiku-4-6", &one("input", 10)), None);
        assert_eq!(table.cost("gpt-5", &one("input", 10)), None);
    }

    #[test]
    fn overrides_add_and_replace_models() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prices.json");
        assert_eq!(
            PriceTable::with_overrides(&path).unwrap().fingerprint(),
            PRICE_TABLE_VERSION
        );
        std::fs::write(
            &path,
            r#"{"models":{"claude-next-5":{"input":2,"output":10},"claude-opus-4-5":{"input":1,"output":1,"cache_read":0}}}"#,
        )
        .unwrap();
        let table = PriceTable::with_overrides(&path).unwrap();
        assert_ne!(table.fingerprint(), PRICE_TABLE_VERSION);
        assert!(close(
            table
                .cost("claude-next-5-20270101", &one("1h", 1_000_000))
                .unwrap(),
            4.0
        ));
        assert!(close(
            table
                .cost("claude-opus-4-5", &one("read", 1_000_000))
                .unwrap(),
            0.0
        ));
        std::fs::write(&path, r#"{"models":{"x":{"input":-5,"output":1}}}"#).unwrap();
        assert!(matches!(
            PriceTable::with_overrides(&path),
            Err(PricingError::BadRate { .. })
        ));
        std::fs::write(&path, "not json").unwrap();
        assert!(matches!(
            PriceTable::with_overrides(&path),
            Err(PricingError::Parse { .. })
        ));
    }
}
