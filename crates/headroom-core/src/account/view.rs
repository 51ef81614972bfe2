//! The snapshot from what the ledger holds, with no network at all (the tray's redraws, the
//! statusline, `--offline`), and the words for a source's state in it.

use super::policy::{FailureKind, PollState, WaitReason};
use super::{
    cached, credentials, merge, plan, store, AccountConfig, AccountError, LOCAL_LIMIT_LOOKBACK_MS,
};
use crate::blocks::{self, Block};
use crate::ledger::{Ledger, LedgerError};
use crate::report::{CostMode, Zone};
use crate::snapshot::{LocalBlock, Source, SourceStatus, UsageSnapshot, WindowKind};

/// The snapshot from what the ledger holds, with no network at all.
pub fn snapshot_from_ledger(
    ledger: &Ledger,
    config: &AccountConfig,
    now_ms: i64,
) -> Result<UsageSnapshot, AccountError> {
    let mut samples = store::newest_all(ledger)?;
    let mut extra_usage = store::newest_extra_usage(ledger)?;
    let balance = store::newest_balance(ledger)?;
    // Only what the forecast reads (its own span, shorter than the chart's).
    let session_history = store::window_history(
        ledger,
        &WindowKind::Session.id(),
        now_ms.saturating_sub(merge::HISTORY_MS),
    )?;
    let (local_block, local_limit_tokens) = local_estimate(ledger, now_ms)?;

    let mut sources = Vec::new();
    let mut errors = Vec::new();
    let newest_seen = |source: Source| {
        samples
            .iter()
            .find(|s| s.source == source)
            .map(|s| s.seen_ms)
    };
    if let Some(seen) = newest_seen(Source::Statusline) {
        sources.push(SourceStatus {
            source: Source::Statusline,
            configured: true,
            last_success_ms: Some(seen),
            cooldown_until_ms: None,
            error: None,
        });
    }
    let account_configured = config.account_enabled
        && credentials::present(config.claude_dir.as_deref(), config.macos_keychain);
    for (source, enabled, configured) in [
        (Source::Account, config.account_enabled, account_configured),
        (
            Source::ClaudeAi,
            config.claude_ai_enabled,
            config.claude_ai_enabled,
        ),
    ] {
        if !enabled {
            continue;
        }
        let state = store::poll_state(ledger, source)?;
        if !configured && state.last_attempt_ms.is_none() {
            continue;
        }
        let figures_seen = newest_seen(source);
        let error = state
            .last_failure
            .map(|kind| describe_failure(kind, source, &state, figures_seen, now_ms, config));
        if let Some(e) = &error {
            errors.push(format!("{}: {e}", source.label()));
        }
        sources.push(SourceStatus {
            source,
            configured,
            last_success_ms: state.last_success_ms,
            cooldown_until_ms: state.cooldown_until_ms.filter(|&u| u > now_ms),
            error,
        });
    }
    // Claude Code's cached answer, only when nothing fresher is on record (first launch,
    // offline, a 429): read from its file, never recorded, shown with its age.
    let newest_live = samples.iter().map(|s| s.seen_ms).max();
    if newest_live.is_none_or(|seen| now_ms.saturating_sub(seen) > config.fresh_ms()) {
        if let Some(cache) = config
            .claude_account_file
            .as_deref()
            .and_then(|path| cached::read(path, now_ms))
            .filter(|c| newest_live.is_none_or(|seen| c.seen_ms > seen))
        {
            if let Some(eu) = &cache.extra_usage {
                if extra_usage
                    .as_ref()
                    .is_none_or(|mine| mine.observed_at_ms < eu.observed_at_ms)
                {
                    extra_usage = Some(eu.clone());
                }
            }
            samples.push(cache);
        }
    }
    Ok(merge::merge(merge::MergeInputs {
        now_ms,
        plan: plan::recorded(ledger),
        samples,
        extra_usage,
        balance,
        session_history,
        local_block,
        local_limit_tokens,
        sources,
        errors,
        fresh_ms: config.fresh_ms(),
    }))
}

/// "offline (…), showing figures from 12 min ago"; for a 429, when the next request is
/// allowed: "rate limited by Anthropic until 14:05; figures from 13:40", in `zone`.
/// The words are written here, when read, for `config.front_end`: the poll state keeps the
/// problem as a value.
fn describe_failure(
    kind: FailureKind,
    source: Source,
    state: &PollState,
    figures_seen_ms: Option<i64>,
    now_ms: i64,
    config: &AccountConfig,
) -> String {
    let zone = config.zone;
    if kind == FailureKind::RateLimited {
        return rate_limited_text(
            state.cooldown_until_ms.filter(|&u| u > now_ms),
            figures_seen_ms,
            now_ms,
            zone,
        );
    }
    let message = match &state.last_problem {
        Some(problem) => problem.describe(source, config.front_end),
        None => match kind {
            FailureKind::Offline => "offline",
            FailureKind::RateLimited => "rate limited by Anthropic",
            FailureKind::Auth => "signed out",
            FailureKind::Server => "the server failed",
        }
        .to_owned(),
    };
    let showing = match figures_seen_ms {
        Some(seen) => format!(
            "showing figures from {} ago",
            crate::text::duration(now_ms - seen)
        ),
        None => "no account figures yet".to_owned(),
    };
    match kind {
        FailureKind::Auth => message,
        _ => format!("{message}, {showing}"),
    }
}

/// "rate limited by Anthropic until 14:05; figures from 13:40" (clock times by
/// `text::clock`, so a time on another day says so). Without an active cool-down the
/// "until" is left out; without figures, "no account figures yet".
pub fn rate_limited_text(
    until_ms: Option<i64>,
    figures_seen_ms: Option<i64>,
    now_ms: i64,
    zone: Zone,
) -> String {
    let clock = |ms| crate::text::clock(ms, now_ms, zone);
    let head = match until_ms {
        Some(until) => format!("rate limited by Anthropic until {}", clock(until)),
        None => "rate limited by Anthropic".to_owned(),
    };
    match figures_seen_ms {
        Some(seen) => format!("{head}; figures from {}", clock(seen)),
        None => format!("{head}; no account figures yet"),
    }
}

/// The active local block and the largest complete block of recent weeks (the local
/// estimate's 100 %).
pub fn local_estimate(
    ledger: &Ledger,
    now_ms: i64,
) -> Result<(Option<LocalBlock>, Option<u64>), LedgerError> {
    let buckets = ledger.buckets(now_ms - LOCAL_LIMIT_LOOKBACK_MS, now_ms + 1)?;
    let all = blocks::blocks(&buckets, now_ms, CostMode::Auto);
    let limit = all
        .iter()
        .filter(|b| !b.is_gap && !b.is_active)
        .map(|b| b.tokens.total())
        .max()
        .filter(|&t| t > 0);
    let active = all.iter().rev().find(|b| b.is_active).map(local_block);
    Ok((active, limit))
}

fn local_block(b: &Block) -> LocalBlock {
    LocalBlock {
        start_ms: b.start_ms,
        end_ms: b.end_ms,
        total_tokens: b.tokens.total(),
        cost_usd: b.cost,
        tokens_per_minute: b.burn_rate.map(|r| r.tokens_per_minute),
        cost_per_hour: b.burn_rate.map(|r| r.cost_per_hour),
        projected_tokens: b.projection.map(|p| p.total_tokens),
        projected_cost_usd: b.projection.map(|p| p.total_cost),
    }
}

/// Why a source is waiting, in words (for `--refresh` refused within the minute, say).
pub fn wait_reason_text(why: WaitReason) -> &'static str {
    match why {
        WaitReason::TooSoon => "asked less than a minute ago",
        WaitReason::NotDue => "asked recently",
        WaitReason::StatuslineFresh => "Claude Code's statusline feed is current",
        WaitReason::RateLimited => "rate limited by Anthropic",
        WaitReason::Backoff => "backing off after failures",
        WaitReason::Auth => "waiting for a new login",
    }
}
