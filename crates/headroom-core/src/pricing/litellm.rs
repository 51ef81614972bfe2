//! LiteLLM's price table as Headroom reads it: which of its entries carry Anthropic's list
//! prices, how an entry's fields become a [`ModelPrice`], and the bounds that refuse a table
//! with an implausible rate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::names::normalize_model;
use super::{
    ModelPrice, PriceTable, PricingError, Rates, TableInfo, Tier, FAST_SUFFIX, MAX_MULTIPLIER,
    MAX_RATE_PER_TOKEN, MIN_RATE_PER_TOKEN,
};

/// A table file: LiteLLM's entries (its own field names) with where they come from.
#[derive(Debug, Serialize, Deserialize)]
pub struct TableFile {
    /// Where the entries come from, and Headroom's additions.
    pub headroom: TableHeader,
    /// LiteLLM's entries, by model id, as LiteLLM writes them.
    pub models: BTreeMap<String, serde_json::Value>,
}

/// The `headroom` header of a table file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableHeader {
    /// Its source, version and date.
    #[serde(flatten)]
    pub info: TableInfo,
    /// Headroom's overrides (`data/price-overrides.json`): rates Anthropic publishes that
    /// LiteLLM lacks, by model id, each with its `source` and `date`. One fills only the
    /// fields the data lacks, or adds the model whole when the data has no entry for it.
    #[serde(default)]
    pub additions: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

/// Which LiteLLM entries carry Anthropic's list prices, best first; others (regional
/// endpoints with markups, resellers) are not used. `None`: not used.
pub(super) fn source_priority(key: &str, entry: &serde_json::Value) -> Option<u8> {
    let provider = entry.get("litellm_provider").and_then(|p| p.as_str());
    let rank = if key.starts_with("global.anthropic.") {
        2
    } else if key.starts_with("anthropic.") {
        1
    } else if key.starts_with("vertex_ai/") {
        3
    } else if provider == Some("anthropic") {
        0
    } else {
        1
    };
    is_candidate(key).then_some(rank)
}

/// Whether a LiteLLM key may be a Claude model Headroom prices, from the key alone (so a
/// download's other thousands of entries are skipped unread).
pub(super) fn is_candidate(key: &str) -> bool {
    let rest = ["global.anthropic.", "anthropic.", "vertex_ai/"]
        .iter()
        .find_map(|prefix| key.strip_prefix(prefix))
        .unwrap_or(key);
    !key.ends_with(FAST_SUFFIX) && is_model_family(rest)
}

/// `claude-opus-…`, `claude-3-…`; not `claude-v2` or `claude-instant-v1`, which would match
/// every id by prefix.
fn is_model_family(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("claude-") else {
        return false;
    };
    rest.starts_with(|c: char| c.is_ascii_digit())
        || ["opus", "sonnet", "haiku", "fable", "mythos"]
            .iter()
            .any(|family| rest.starts_with(family))
}

/// One LiteLLM entry's rates: the fields Headroom reads, every other one skipped unread.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct LiteEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    litellm_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_cost_per_token: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_cost_per_token: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_creation_input_token_cost: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_creation_input_token_cost_above_1hr: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_read_input_token_cost: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_cost_per_token_above_200k_tokens: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_cost_per_token_above_200k_tokens: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_creation_input_token_cost_above_200k_tokens: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_creation_input_token_cost_above_1hr_above_200k_tokens: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_read_input_token_cost_above_200k_tokens: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_cost_per_token_above_100k_tokens: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_cost_per_token_above_100k_tokens: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_creation_input_token_cost_above_100k_tokens: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_creation_input_token_cost_above_1hr_above_100k_tokens: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_read_input_token_cost_above_100k_tokens: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_specific_entry: Option<Multipliers>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, Serialize)]
struct Multipliers {
    #[serde(skip_serializing_if = "Option::is_none")]
    fast: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    us: Option<f64>,
}

/// A downloaded entry as `prices update` keeps it.
pub(super) type KeptEntry = LiteEntry;

impl LiteEntry {
    /// Its first rate that is not a finite number, if any.
    pub(super) fn non_finite(&self) -> Option<(&'static str, f64)> {
        self.rates().into_iter().find(|(_, v)| !v.is_finite())
    }

    /// The entry as JSON to keep, or `None` for one without an input rate (not a price).
    pub(super) fn into_value(self) -> Option<serde_json::Value> {
        self.input_cost_per_token?;
        serde_json::to_value(self).ok()
    }
}

impl LiteEntry {
    /// Fills the fields this entry lacks from `other` (an entry of the same model).
    fn fill_from(&mut self, other: &LiteEntry) {
        macro_rules! fill {
            ($($field:ident),*) => { $( if self.$field.is_none() { self.$field = other.$field; } )* };
        }
        fill!(
            cache_creation_input_token_cost,
            cache_creation_input_token_cost_above_1hr,
            cache_read_input_token_cost,
            input_cost_per_token_above_200k_tokens,
            output_cost_per_token_above_200k_tokens,
            cache_creation_input_token_cost_above_200k_tokens,
            cache_creation_input_token_cost_above_1hr_above_200k_tokens,
            cache_read_input_token_cost_above_200k_tokens,
            input_cost_per_token_above_100k_tokens,
            output_cost_per_token_above_100k_tokens,
            cache_creation_input_token_cost_above_100k_tokens,
            cache_creation_input_token_cost_above_1hr_above_100k_tokens,
            cache_read_input_token_cost_above_100k_tokens
        );
        let mine = self.provider_specific_entry.unwrap_or_default();
        let theirs = other.provider_specific_entry.unwrap_or_default();
        self.provider_specific_entry = Some(Multipliers {
            fast: mine.fast.or(theirs.fast),
            us: mine.us.or(theirs.us),
        });
    }

    fn same_base(&self, other: &LiteEntry) -> bool {
        self.input_cost_per_token == other.input_cost_per_token
            && self.output_cost_per_token == other.output_cost_per_token
    }

    /// Every rate present, for validation, with its field name: all fifteen, the
    /// long-context ones included (each is used for every token of a long request).
    fn rates(&self) -> Vec<(&'static str, f64)> {
        macro_rules! named {
            ($($field:ident),*) => { [$((stringify!($field), self.$field)),*] };
        }
        named!(
            input_cost_per_token,
            output_cost_per_token,
            cache_creation_input_token_cost,
            cache_creation_input_token_cost_above_1hr,
            cache_read_input_token_cost,
            input_cost_per_token_above_200k_tokens,
            output_cost_per_token_above_200k_tokens,
            cache_creation_input_token_cost_above_200k_tokens,
            cache_creation_input_token_cost_above_1hr_above_200k_tokens,
            cache_read_input_token_cost_above_200k_tokens,
            input_cost_per_token_above_100k_tokens,
            output_cost_per_token_above_100k_tokens,
            cache_creation_input_token_cost_above_100k_tokens,
            cache_creation_input_token_cost_above_1hr_above_100k_tokens,
            cache_read_input_token_cost_above_100k_tokens
        )
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| (name, v)))
        .collect()
    }

    /// A tier with an input rate and no output rate (or the reverse) would silently price
    /// long requests at the standard rates: the field it lacks, if any.
    fn half_tier(&self) -> Option<&'static str> {
        match (
            self.input_cost_per_token_above_200k_tokens,
            self.output_cost_per_token_above_200k_tokens,
            self.input_cost_per_token_above_100k_tokens,
            self.output_cost_per_token_above_100k_tokens,
        ) {
            (Some(_), None, _, _) => Some("output_cost_per_token_above_200k_tokens"),
            (None, Some(_), _, _) => Some("input_cost_per_token_above_200k_tokens"),
            (_, _, Some(_), None) => Some("output_cost_per_token_above_100k_tokens"),
            (_, _, None, Some(_)) => Some("input_cost_per_token_above_100k_tokens"),
            _ => None,
        }
    }

    /// The price, or `None` without input and output rates.
    fn price(&self) -> Option<ModelPrice> {
        let input = self.input_cost_per_token?;
        let output = self.output_cost_per_token?;
        let per_m = |v: f64| v * 1e6;
        let rates = |input: f64,
                     output: f64,
                     write_5m: Option<f64>,
                     write_1h: Option<f64>,
                     read: Option<f64>| Rates {
            input: per_m(input),
            output: per_m(output),
            // Anthropic's multipliers of the input rate where the data has no cache rate.
            cache_write_5m: per_m(write_5m.unwrap_or(input * 1.25)),
            cache_write_1h: per_m(write_1h.unwrap_or(input * 2.0)),
            cache_read: per_m(read.unwrap_or(input * 0.1)),
        };
        let base = rates(
            input,
            output,
            self.cache_creation_input_token_cost,
            self.cache_creation_input_token_cost_above_1hr,
            self.cache_read_input_token_cost,
        );
        let tier = match (
            self.input_cost_per_token_above_200k_tokens,
            self.output_cost_per_token_above_200k_tokens,
            self.input_cost_per_token_above_100k_tokens,
            self.output_cost_per_token_above_100k_tokens,
        ) {
            (Some(i), Some(o), _, _) => Some(Tier {
                threshold: 200_000,
                rates: rates(
                    i,
                    o,
                    self.cache_creation_input_token_cost_above_200k_tokens,
                    self.cache_creation_input_token_cost_above_1hr_above_200k_tokens,
                    self.cache_read_input_token_cost_above_200k_tokens,
                ),
            }),
            (_, _, Some(i), Some(o)) => Some(Tier {
                threshold: 100_000,
                rates: rates(
                    i,
                    o,
                    self.cache_creation_input_token_cost_above_100k_tokens,
                    self.cache_creation_input_token_cost_above_1hr_above_100k_tokens,
                    self.cache_read_input_token_cost_above_100k_tokens,
                ),
            }),
            _ => None,
        };
        let multipliers = self.provider_specific_entry.unwrap_or_default();
        Some(ModelPrice {
            base,
            tier,
            fast_multiplier: multipliers.fast,
            us_multiplier: multipliers.us,
        })
    }
}

/// The models of a LiteLLM table (its own key → entry map), by normalized id, each from its
/// best source, with where its price comes from.
fn select(
    origin: &str,
    entries: &BTreeMap<String, serde_json::Value>,
    additions: &BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
) -> Result<BTreeMap<String, (ModelPrice, String)>, PricingError> {
    let mut best: BTreeMap<String, Vec<(u8, &str, LiteEntry)>> = BTreeMap::new();
    for (key, value) in entries {
        let Some(rank) = source_priority(key, value) else {
            continue;
        };
        let Ok(entry) = serde_json::from_value::<LiteEntry>(value.clone()) else {
            return Err(PricingError::NotATable {
                origin: origin.to_owned(),
                detail: format!("the entry {key} has rates that are not numbers"),
            });
        };
        if entry.input_cost_per_token.is_none() {
            continue;
        }
        validate_fields(origin, key, &entry)?;
        best.entry(normalize_model(key).to_owned())
            .or_default()
            .push((rank, key, entry));
    }
    let mut out = BTreeMap::new();
    for (id, mut candidates) in best {
        // Best source first; among equals, the shortest key (`claude-x` before its aliases),
        // then the latest dated one (LiteLLM lists a bogus `claude-3-7-sonnet-20240620`).
        candidates
            .sort_by_key(|(rank, key, _)| (*rank, key.len(), std::cmp::Reverse(key.to_string())));
        let mut iter = candidates.into_iter();
        let Some((_, key, mut chosen)) = iter.next() else {
            continue;
        };
        // Other sources may fill rates the best one lacks (long-context tiers of retired
        // models), but only when they agree on the base price.
        for (_, _, other) in iter {
            if chosen.same_base(&other) {
                chosen.fill_from(&other);
            }
        }
        if let Some(addition) = additions.get(&id) {
            chosen.fill_from(&addition_entry(origin, &id, addition)?);
        }
        // Checked once filled: an addition's figures are held to the same bounds.
        validate_fields(origin, key, &chosen)?;
        if let Some(price) = chosen.price() {
            price
                .check()
                .map_err(|bad| PricingError::implausible(origin, key, bad))?;
            out.insert(id, (price, key.to_owned()));
        }
    }
    // Headroom's overrides of models the data does not have at all (released since): whole
    // entries, each naming its public source and date. The data's own entry always wins.
    for (id, addition) in additions {
        if out.contains_key(id) {
            continue;
        }
        let entry = addition_entry(origin, id, addition)?;
        validate_fields(origin, id, &entry)?;
        if let Some(price) = entry.price() {
            price
                .check()
                .map_err(|bad| PricingError::implausible(origin, id, bad))?;
            let text = |field: &str| addition.get(field).and_then(|v| v.as_str()).unwrap_or("?");
            let from = format!(
                "Headroom's overrides ({}, {})",
                text("source"),
                text("date")
            );
            out.insert(id.clone(), (price, from));
        }
    }
    Ok(out)
}

fn addition_entry(
    origin: &str,
    id: &str,
    addition: &serde_json::Map<String, serde_json::Value>,
) -> Result<LiteEntry, PricingError> {
    serde_json::from_value(serde_json::Value::Object(addition.clone())).map_err(|e| {
        PricingError::NotATable {
            origin: origin.to_owned(),
            detail: format!("the override of {id} is not valid: {e}"),
        }
    })
}

/// Each field on its own: a number within the per-token bounds, and no half of a tier.
/// ([`ModelPrice::check`] then holds the rates to their proportions.)
fn validate_fields(origin: &str, key: &str, entry: &LiteEntry) -> Result<(), PricingError> {
    let bad = |field: &str, value: f64, why: String| PricingError::Implausible {
        origin: origin.to_owned(),
        model: key.to_owned(),
        field: field.to_owned(),
        value,
        why,
    };
    for (field, value) in entry.rates() {
        if !(value.is_finite() && (MIN_RATE_PER_TOKEN..=MAX_RATE_PER_TOKEN).contains(&value)) {
            return Err(bad(
                field,
                value,
                format!("not between {MIN_RATE_PER_TOKEN:e} and {MAX_RATE_PER_TOKEN:e} dollars per token"),
            ));
        }
    }
    if let Some(missing) = entry.half_tier() {
        return Err(PricingError::NotATable {
            origin: origin.to_owned(),
            detail: format!("{key} has a long-context tier without {missing}"),
        });
    }
    let m = entry.provider_specific_entry.unwrap_or_default();
    for (field, value) in [("fast multiplier", m.fast), ("us multiplier", m.us)] {
        if let Some(v) = value {
            if !(v.is_finite() && (1.0..=MAX_MULTIPLIER).contains(&v)) {
                return Err(bad(field, v, format!("not between 1 and {MAX_MULTIPLIER}")));
            }
        }
    }
    Ok(())
}

/// Parses a table file (the embedded one, or one `prices update` wrote).
pub fn parse_table_file(origin: &str, text: &str) -> Result<PriceTable, PricingError> {
    let file: TableFile = serde_json::from_str(text).map_err(|e| PricingError::NotATable {
        origin: origin.to_owned(),
        detail: e.to_string(),
    })?;
    let selected = select(origin, &file.models, &file.headroom.additions)?;
    let mut table = PriceTable {
        models: BTreeMap::new(),
        origins: BTreeMap::new(),
        info: file.headroom.info,
        fingerprint: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes())),
    };
    for (id, (price, key)) in selected {
        table.models.insert(id.clone(), price);
        table.origins.insert(id, key);
    }
    Ok(table)
}
