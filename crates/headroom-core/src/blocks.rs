//! 5-hour billing blocks, as Claude's session limit counts them and as ccusage reports them.
//!
//! A block starts at its first message, floored to the (UTC) hour, and ends five hours later.
//! A message after the block's end, or more than five hours after the previous message,
//! starts a new block; a pause longer than five hours is shown as a gap block. The active
//! block (the one `now` falls in) has a burn rate and a projection to its end.
//!
//! Blocks are built from the ledger's quarter-hour buckets (with their first and last message
//! times), not from single responses: a block starts and ends on the hour, so bucket edges
//! line up with block edges and no pause longer than five hours fits inside a bucket. The one
//! case this cannot split is a response at exactly the millisecond a block ends; ccusage keeps
//! it in the old block and so does Headroom, together with the rest of its quarter hour.
//!
//! Everything here is pure: `now` is an argument.

use serde::Serialize;

use crate::ledger::{BucketRow, Ledger, LedgerError};
use crate::num::floor_to_u64;
use crate::report::{iso_ms, CostMode};

/// How long a block lasts: five hours, like the session limit it stands for.
pub const BLOCK_MS: i64 = 5 * 3_600_000;
const HOUR_MS: i64 = 3_600_000;

/// Token counts of a block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenCounts {
    /// Input tokens, not cached.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_creation_input_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read_input_tokens: u64,
}

impl TokenCounts {
    /// All four counts together.
    pub fn total(&self) -> u64 {
        self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
    }
}

/// Pace of the active block over its activity so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BurnRate {
    /// All tokens per minute, between the block's first and last message.
    pub tokens_per_minute: f64,
    /// Input and output tokens only (cache reads dominate the total and swamp the signal).
    pub tokens_per_minute_for_indicator: f64,
    /// Cost per hour, same basis.
    pub cost_per_hour: f64,
}

/// Where the active block ends up if the pace holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    /// Tokens at the block's end.
    pub total_tokens: u64,
    /// Cost at the block's end, rounded to the cent.
    pub total_cost: f64,
    /// Minutes from `now` to the block's end, rounded.
    pub remaining_minutes: i64,
}

/// One 5-hour block, or a gap between two (no activity for longer than five hours).
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Its start: the first message's hour (the previous block's end, for a gap).
    pub start_ms: i64,
    /// Its end: five hours after the start (the next block's start, for a gap).
    pub end_ms: i64,
    /// The last message's time (none for a gap).
    pub actual_end_ms: Option<i64>,
    /// The first message's time (none for a gap).
    pub first_entry_ms: Option<i64>,
    /// Whether `now` falls inside it: the block a burn rate and a projection are given for.
    pub is_active: bool,
    /// Whether it is a pause between blocks rather than a block.
    pub is_gap: bool,
    /// Responses counted in it.
    pub entries: u64,
    /// Their tokens.
    pub tokens: TokenCounts,
    /// Their cost, in the [`CostMode`] asked for.
    pub cost: f64,
    /// The models used, in the order first seen (without Claude Code's `<synthetic>`).
    pub models: Vec<String>,
    /// Pace so far, for the active block only.
    pub burn_rate: Option<BurnRate>,
    /// Where the pace leads by the end, for the active block only.
    pub projection: Option<Projection>,
}

/// Splits activity (any order) into blocks, oldest first.
pub fn blocks(buckets: &[BucketRow], now_ms: i64, mode: CostMode) -> Vec<Block> {
    let mut sorted: Vec<&BucketRow> = buckets.iter().filter(|b| b.sums.entries > 0).collect();
    sorted.sort_by_key(|b| (b.first_ms, b.last_ms));
    let mut out = Vec::new();
    let mut current: Vec<&BucketRow> = Vec::new();
    let mut start = 0;
    let mut last = i64::MIN;
    for bucket in sorted {
        if !current.is_empty() {
            let since_start = bucket.first_ms - start;
            let since_last = bucket.first_ms - last;
            if since_start > BLOCK_MS || since_last > BLOCK_MS {
                out.push(make_block(start, &current, now_ms, mode));
                if since_last > BLOCK_MS {
                    out.push(gap_block(last, bucket.first_ms));
                }
                current.clear();
            }
        }
        if current.is_empty() {
            start = bucket.first_ms - bucket.first_ms.rem_euclid(HOUR_MS);
            last = i64::MIN;
        }
        last = last.max(bucket.last_ms);
        current.push(bucket);
    }
    if !current.is_empty() {
        out.push(make_block(start, &current, now_ms, mode));
    }
    out
}

fn gap_block(last_ms: i64, next_ms: i64) -> Block {
    Block {
        start_ms: last_ms + BLOCK_MS,
        end_ms: next_ms,
        actual_end_ms: None,
        first_entry_ms: None,
        is_active: false,
        is_gap: true,
        entries: 0,
        tokens: TokenCounts::default(),
        cost: 0.0,
        models: Vec::new(),
        burn_rate: None,
        projection: None,
    }
}

fn make_block(start_ms: i64, buckets: &[&BucketRow], now_ms: i64, mode: CostMode) -> Block {
    let end_ms = start_ms + BLOCK_MS;
    let first = buckets.iter().map(|b| b.first_ms).min();
    let last = buckets.iter().map(|b| b.last_ms).max().unwrap_or(start_ms);
    let mut tokens = TokenCounts::default();
    let mut cost = 0.0;
    let mut entries = 0;
    let mut models: Vec<String> = Vec::new();
    for b in buckets {
        entries += b.sums.entries;
        tokens.input_tokens += b.sums.input;
        tokens.output_tokens += b.sums.output;
        tokens.cache_creation_input_tokens += b.sums.cache_write;
        tokens.cache_read_input_tokens += b.sums.cache_read;
        cost += mode.pick(&b.sums);
        if b.model != "<synthetic>" && b.model != "unknown" && !models.contains(&b.model) {
            models.push(b.model.clone());
        }
    }
    let is_active = now_ms - last < BLOCK_MS && now_ms < end_ms;
    let burn_rate = if is_active {
        burn_rate(first.unwrap_or(start_ms), last, &tokens, cost)
    } else {
        None
    };
    let projection = burn_rate.map(|rate| {
        let remaining_ms = end_ms.saturating_sub(now_ms).max(0);
        let remaining_minutes = remaining_ms as f64 / 60_000.0;
        let total_tokens = tokens.total() as f64 + rate.tokens_per_minute * remaining_minutes;
        Projection {
            total_tokens: floor_to_u64(total_tokens.round()).unwrap_or(u64::MAX),
            total_cost: ((cost + rate.cost_per_hour / 60.0 * remaining_minutes) * 100.0).round()
                / 100.0,
            // Whole minutes of an i64 of milliseconds: always in range.
            remaining_minutes: remaining_ms.saturating_add(30_000) / 60_000,
        }
    });
    Block {
        start_ms,
        end_ms,
        actual_end_ms: Some(last),
        first_entry_ms: first,
        is_active,
        is_gap: false,
        entries,
        tokens,
        cost,
        models,
        burn_rate,
        projection,
    }
}

fn burn_rate(first_ms: i64, last_ms: i64, tokens: &TokenCounts, cost: f64) -> Option<BurnRate> {
    let minutes = (last_ms - first_ms) as f64 / 60_000.0;
    if minutes <= 0.0 {
        return None;
    }
    Some(BurnRate {
        tokens_per_minute: tokens.total() as f64 / minutes,
        tokens_per_minute_for_indicator: (tokens.input_tokens + tokens.output_tokens) as f64
            / minutes,
        cost_per_hour: cost / minutes * 60.0,
    })
}

/// The block `now` falls in, if any. Reads only recent history: it goes back until a pause of
/// more than five hours, where a block necessarily starts.
pub fn active_block(
    ledger: &Ledger,
    now_ms: i64,
    mode: CostMode,
) -> Result<Option<Block>, LedgerError> {
    let mut window = 24 * HOUR_MS;
    loop {
        let from = now_ms - window;
        let buckets = ledger.buckets(from, now_ms + 1)?;
        let mut times: Vec<(i64, i64)> = buckets.iter().map(|b| (b.first_ms, b.last_ms)).collect();
        times.sort_unstable();
        let reaches_a_pause = match times.first() {
            None => return Ok(None),
            Some(&(first, _)) => {
                first - from > BLOCK_MS || times.windows(2).any(|w| w[1].0 - w[0].1 > BLOCK_MS)
            }
        };
        if reaches_a_pause || window > 400 * 24 * HOUR_MS {
            return Ok(blocks(&buckets, now_ms, mode)
                .into_iter()
                .rev()
                .find(|b| b.is_active));
        }
        window *= 4;
    }
}

/// ccusage's JSON shape of a block.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockJson {
    /// The start time, prefixed `gap-` for a gap.
    pub id: String,
    /// Its start, RFC 3339.
    pub start_time: String,
    /// Its end, RFC 3339.
    pub end_time: String,
    /// The last message's time, RFC 3339.
    pub actual_end_time: Option<String>,
    /// See [`Block::is_active`].
    pub is_active: bool,
    /// See [`Block::is_gap`].
    pub is_gap: bool,
    /// See [`Block::entries`].
    pub entries: u64,
    /// See [`Block::tokens`].
    pub token_counts: TokenCounts,
    /// All four token counts together.
    pub total_tokens: u64,
    /// See [`Block::cost`].
    #[serde(rename = "costUSD")]
    pub cost_usd: f64,
    /// See [`Block::models`].
    pub models: Vec<String>,
    /// See [`Block::burn_rate`].
    pub burn_rate: Option<BurnRate>,
    /// See [`Block::projection`].
    pub projection: Option<Projection>,
}

impl From<&Block> for BlockJson {
    fn from(b: &Block) -> Self {
        let start = iso_ms(b.start_ms);
        BlockJson {
            id: if b.is_gap {
                format!("gap-{start}")
            } else {
                start.clone()
            },
            start_time: start,
            end_time: iso_ms(b.end_ms),
            actual_end_time: b.actual_end_ms.map(iso_ms),
            is_active: b.is_active,
            is_gap: b.is_gap,
            entries: b.entries,
            token_counts: b.tokens,
            total_tokens: b.tokens.total(),
            cost_usd: b.cost,
            models: b.models.clone(),
            burn_rate: b.burn_rate,
            projection: b.projection,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Sums;

    const MIN: i64 = 60_000;
    const H: i64 = HOUR_MS;

    /// One response at `ts_ms`, as its own bucket.
    fn e(ts_ms: i64, output: u64, cost: f64) -> BucketRow {
        BucketRow {
            start_ms: ts_ms - ts_ms.rem_euclid(15 * MIN),
            model: "claude-sonnet-4-5".into(),
            sums: Sums {
                entries: 1,
                output,
                calc_cost: cost,
                auto_cost: cost,
                ..Sums::default()
            },
            first_ms: ts_ms,
            last_ms: ts_ms,
        }
    }

    #[test]
    fn a_block_starts_at_the_hour_of_its_first_message_and_lasts_five_hours() {
        let t0 = 100 * H + 37 * MIN;
        let entries = [
            e(t0, 10, 1.0),
            e(t0 + 4 * H, 10, 1.0),
            e(t0 + 5 * H, 10, 1.0),
        ];
        let b = blocks(&entries, 1_000 * H, CostMode::Auto);
        // 100:00 to 105:00; the third message (105:37) is past the end: a new block at 105:00.
        assert_eq!(b.len(), 2);
        assert_eq!(
            (b[0].start_ms, b[0].end_ms, b[0].entries),
            (100 * H, 105 * H, 2)
        );
        assert_eq!((b[1].start_ms, b[1].entries), (105 * H, 1));
        assert!(!b[0].is_gap && !b[1].is_gap);
    }

    #[test]
    fn a_pause_of_more_than_five_hours_is_a_gap() {
        let entries = [e(0, 1, 0.0), e(6 * H, 1, 0.0)];
        let b = blocks(&entries, 1_000 * H, CostMode::Auto);
        assert_eq!(b.len(), 3);
        assert!(b[1].is_gap);
        assert_eq!((b[1].start_ms, b[1].end_ms), (5 * H, 6 * H));
        // Exactly five hours since the last message is not a pause; past the block's end is.
        let b = blocks(&[e(0, 1, 0.0), e(5 * H, 1, 0.0)], 1_000 * H, CostMode::Auto);
        assert_eq!(b.len(), 1);
        let b = blocks(
            &[e(0, 1, 0.0), e(4 * H, 1, 0.0), e(5 * H + 1, 1, 0.0)],
            1_000 * H,
            CostMode::Auto,
        );
        assert_eq!(b.len(), 2);
        assert!(!b[1].is_gap);
    }

    #[test]
    fn the_active_block_has_a_burn_rate_and_projection() {
        let entries = [e(10 * H, 600, 1.0), e(10 * H + 60 * MIN, 600, 1.0)];
        let now = 10 * H + 90 * MIN;
        let b = blocks(&entries, now, CostMode::Auto);
        let active = &b[0];
        assert!(active.is_active);
        let rate = active.burn_rate.unwrap();
        assert!((rate.tokens_per_minute - 20.0).abs() < 1e-9);
        assert!((rate.cost_per_hour - 2.0).abs() < 1e-9);
        let p = active.projection.unwrap();
        assert_eq!(p.remaining_minutes, 210);
        assert_eq!(p.total_tokens, 1200 + 20 * 210);
        assert!((p.total_cost - 9.0).abs() < 1e-9);
        // Five hours after the last message nothing is active.
        assert!(!blocks(&entries, 16 * H, CostMode::Auto)[0].is_active);
    }

    #[test]
    fn json_matches_ccusage_names() {
        let b = blocks(&[e(0, 1, 0.5)], 1_000 * H, CostMode::Auto);
        let json = serde_json::to_value(BlockJson::from(&b[0])).unwrap();
        assert_eq!(json["id"], "1970-01-01T00:00:00.000Z");
        assert_eq!(json["endTime"], "1970-01-01T05:00:00.000Z");
        assert_eq!(json["tokenCounts"]["outputTokens"], 1);
        assert_eq!(json["costUSD"], 0.5);
        assert_eq!(json["burnRate"], serde_json::Value::Null);
    }
}
