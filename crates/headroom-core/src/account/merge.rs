//! Builds the one [`UsageSnapshot`] from the newest readings of every source, the local
//! block, and history for the forecast. Pure: everything, `now` included, comes in.
//!
//! - Per window id the most recently seen figure wins, whichever source it came from; a
//!   window whose reset time has passed is dropped (its figure is from the previous window).
//! - When the newest answer of any source reports no session window (Ultra has none; Pro and
//!   Max leave it out while no session runs), there is no session figure, no session forecast
//!   and `session_absent` says why.
//! - With no account answer at all, the local estimate stands in: the active local block's
//!   tokens against the largest block of recent weeks, labelled `local-estimate`.
//! - Extra Usage: the newest reading of any source; a prepaid balance from claude.ai is kept
//!   even when a newer reading without one wins.
//! - The forecast comes from the account's own session percentages when there are enough
//!   (two readings 10 minutes apart in the current window), from local token pace otherwise.
//! - `stale` is set when no live source (statusline, account, claude.ai) answered within
//!   `fresh_ms`; Claude Code's cached answer is never current.

use super::store::{HistoryPoint, StoredSample};
use crate::num::round_to_i64;
use crate::snapshot::{
    ExtraUsage, Forecast, ForecastBasis, LocalBlock, Plan, SessionAbsence, Source, SourceStatus,
    UsageSnapshot, Window, WindowKind,
};

const HOUR_MS: f64 = 3_600_000.0;
/// Two readings must be this far apart to make a trend.
const MIN_SPAN_MS: i64 = 10 * 60_000;
/// Reset times within this of each other are the same window instance (they jitter).
const SAME_RESET_MS: i64 = 5 * 60_000;
/// Readings newer than this feed the account-history forecast: the pace of the last two
/// hours, not of the whole session window (the chart's span, `Window::session_span`), so an
/// hour idle at the window's start does not slow the forecast down.
pub(super) const HISTORY_MS: i64 = 2 * 3_600_000;
/// Below this rate (percent per hour) a history is flat: least squares over equal
/// non-integer readings (42.7 % three times) returns rounding noise like 1e-30, not 0, and
/// would forecast a fill thousands of years away, or an overflow.
const FLAT_PER_HOUR: f64 = 1e-6;

/// Everything a snapshot is made from.
#[derive(Debug, Clone, Default)]
pub(super) struct MergeInputs {
    pub now_ms: i64,
    /// The account's plan (from the ledger's meta).
    pub plan: Plan,
    /// The newest reading of each source.
    pub samples: Vec<StoredSample>,
    /// The newest Extra Usage reading (from whatever sample had one).
    pub extra_usage: Option<ExtraUsage>,
    /// The newest prepaid balance seen (claude.ai): amount in major units and currency.
    pub balance: Option<(f64, String)>,
    /// Session window readings of the last hours, oldest first.
    pub session_history: Vec<HistoryPoint>,
    pub local_block: Option<LocalBlock>,
    /// The largest block of recent weeks, in tokens: the local estimate's 100 %.
    pub local_limit_tokens: Option<u64>,
    pub sources: Vec<SourceStatus>,
    pub errors: Vec<String>,
    /// Account figures older than this make the snapshot stale.
    pub fresh_ms: i64,
}

pub(super) fn merge(inputs: MergeInputs) -> UsageSnapshot {
    let now = inputs.now_ms;
    let mut windows: Vec<Window> = Vec::new();
    for sample in &inputs.samples {
        for w in &sample.windows {
            if w.resets_at_ms.is_some_and(|at| at <= now) {
                continue;
            }
            match windows.iter_mut().find(|x| x.id == w.id) {
                Some(existing) if existing.observed_at_ms >= w.observed_at_ms => {}
                Some(existing) => *existing = w.clone(),
                None => windows.push(w.clone()),
            }
        }
    }
    // The newest answer decides whether there is a session window: when it reports none
    // (Ultra never has one; Pro and Max leave it out while no session runs), a session
    // figure another source gave before it is over.
    let newest_answer = inputs.samples.iter().max_by_key(|s| s.seen_ms);
    if let Some(answer) =
        newest_answer.filter(|a| !a.windows.iter().any(|w| w.kind == WindowKind::Session))
    {
        windows.retain(|w| w.kind != WindowKind::Session || w.observed_at_ms >= answer.seen_ms);
    }
    // Fresh means a live source answered lately: Claude Code's cached answer never makes the
    // figures current, and an Enterprise answer carries spend, not windows.
    let newest_live = inputs
        .samples
        .iter()
        .filter(|s| s.source.is_live_account())
        .map(|s| s.seen_ms)
        .max();
    let stale = newest_live.is_none_or(|seen| now - seen > inputs.fresh_ms);
    let answered = !inputs.samples.is_empty();

    let local_percent = match (&inputs.local_block, inputs.local_limit_tokens) {
        (Some(b), Some(limit)) if limit > 0 => Some(b.total_tokens as f64 / limit as f64 * 100.0),
        _ => None,
    };
    let has_session = windows.iter().any(|w| w.kind == WindowKind::Session);
    // The local estimate stands in only when no account source has answered at all: an
    // answer without a session window means there is none to estimate.
    let session_absent = match (has_session, answered) {
        (false, true) if inputs.plan.has_no_session_limit() => Some(SessionAbsence::NoLimitOnPlan),
        (false, true) => Some(SessionAbsence::NotRunning),
        _ => None,
    };
    if !has_session && !answered {
        if let (Some(block), Some(pct)) = (&inputs.local_block, local_percent) {
            windows.push(super::usage::make_window(
                WindowKind::Session,
                pct,
                Some(block.end_ms),
                Source::LocalEstimate,
                now,
            ));
        }
    }
    windows.sort_by(|a, b| rank(&a.kind).cmp(&rank(&b.kind)).then(a.id.cmp(&b.id)));

    let mut extra_usage = inputs.extra_usage.clone();
    if let (Some(eu), Some((amount, currency))) = (extra_usage.as_mut(), &inputs.balance) {
        if eu.balance.is_none() && (eu.currency == *currency || eu.used.is_none()) {
            eu.balance = Some(*amount);
        }
    }

    let session = windows
        .iter()
        .find(|w| w.kind == WindowKind::Session)
        .cloned();
    let weekly = windows
        .iter()
        .find(|w| w.kind == WindowKind::Weekly)
        .cloned();
    // No session window, no session forecast; and Claude Code's cached figure is no pace.
    let forecast = if session_absent.is_some()
        || session
            .as_ref()
            .is_some_and(|s| s.source == Source::ClaudeCodeCache)
    {
        Forecast::default()
    } else {
        forecast(
            session.as_ref(),
            &inputs.session_history,
            inputs.local_block.as_ref(),
            local_percent,
            inputs.local_limit_tokens,
            now,
        )
    };
    UsageSnapshot {
        taken_at_ms: now,
        session,
        weekly,
        windows,
        extra_usage,
        local_block: inputs.local_block,
        forecast,
        stale,
        sources: inputs.sources,
        errors: inputs.errors,
        plan: inputs.plan,
        session_absent,
    }
}

fn rank(kind: &WindowKind) -> u8 {
    match kind {
        WindowKind::Session => 0,
        WindowKind::Weekly => 1,
        WindowKind::WeeklyModel { .. } => 2,
        WindowKind::Other { .. } => 3,
    }
}

/// When the session window fills at the current pace.
pub(super) fn forecast(
    session: Option<&Window>,
    history: &[HistoryPoint],
    block: Option<&LocalBlock>,
    local_percent: Option<f64>,
    local_limit_tokens: Option<u64>,
    now_ms: i64,
) -> Forecast {
    if let Some(s) = session.filter(|s| s.source != Source::LocalEstimate) {
        let same: Vec<&HistoryPoint> = history
            .iter()
            .filter(|p| match (p.resets_at_ms, s.resets_at_ms) {
                (Some(a), Some(b)) => a.abs_diff(b) <= SAME_RESET_MS.unsigned_abs(),
                (None, None) => true,
                _ => false,
            })
            .filter(|p| p.seen_ms <= now_ms && now_ms.saturating_sub(p.seen_ms) <= HISTORY_MS)
            .collect();
        if let (Some(first), Some(last)) = (same.first(), same.last()) {
            if last.seen_ms.saturating_sub(first.seen_ms) >= MIN_SPAN_MS {
                let per_hour = slope_per_hour(&same);
                let mut f = Forecast {
                    session_full_at_ms: None,
                    basis: Some(ForecastBasis::AccountHistory),
                    percent_per_hour: Some(per_hour),
                };
                if last.utilization < 100.0 {
                    if let Some(at) = fills_at(last.seen_ms, last.utilization, per_hour) {
                        if s.resets_at_ms.is_none_or(|reset| at < reset) {
                            f.session_full_at_ms = Some(at.max(now_ms));
                        }
                    }
                }
                return f;
            }
        }
    }
    if let (Some(b), Some(pct), Some(limit)) = (block, local_percent, local_limit_tokens) {
        if let Some(tpm) = b.tokens_per_minute.filter(|t| *t > 0.0 && limit > 0) {
            let per_hour = tpm * 60.0 / limit as f64 * 100.0;
            let mut f = Forecast {
                session_full_at_ms: None,
                basis: Some(ForecastBasis::LocalTokens),
                percent_per_hour: Some(per_hour),
            };
            if pct < 100.0 {
                if let Some(at) = fills_at(now_ms, pct, per_hour) {
                    if at < b.end_ms {
                        f.session_full_at_ms = Some(at);
                    }
                }
            }
            return f;
        }
    }
    Forecast::default()
}

/// When a window at `percent` at `from_ms` reaches 100 % at `per_hour`: `None` for a flat or
/// falling rate, or a time past what an i64 of milliseconds holds.
fn fills_at(from_ms: i64, percent: f64, per_hour: f64) -> Option<i64> {
    if per_hour.is_nan() || per_hour < FLAT_PER_HOUR {
        return None;
    }
    let after_ms = round_to_i64((100.0 - percent) / per_hour * HOUR_MS)?;
    from_ms.checked_add(after_ms)
}

/// Least-squares slope of utilization over time, in percent per hour; 0 for a flat history
/// (see [`FLAT_PER_HOUR`]).
fn slope_per_hour(points: &[&HistoryPoint]) -> f64 {
    let n = points.len() as f64;
    let t0 = points[0].seen_ms;
    let xs: Vec<f64> = points
        .iter()
        .map(|p| p.seen_ms.saturating_sub(t0) as f64 / HOUR_MS)
        .collect();
    let mx = xs.iter().sum::<f64>() / n;
    let my = points.iter().map(|p| p.utilization).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (x, p) in xs.iter().zip(points) {
        num += (x - mx) * (p.utilization - my);
        den += (x - mx) * (x - mx);
    }
    let slope = if den > 0.0 { num / den } else { 0.0 };
    if slope.abs() < FLAT_PER_HOUR {
        0.0
    } else {
        slope
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::usage::make_window;

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    fn sample(source: Source, seen: i64, windows: Vec<Window>) -> StoredSample {
        StoredSample {
            id: 1,
            source,
            observed_ms: seen,
            seen_ms: seen,
            windows,
            extra_usage: None,
        }
    }

    fn block(tokens: u64, tpm: f64, end: i64) -> LocalBlock {
        LocalBlock {
            start_ms: end - 5 * H,
            end_ms: end,
            total_tokens: tokens,
            cost_usd: 1.0,
            tokens_per_minute: Some(tpm),
            cost_per_hour: None,
            projected_tokens: None,
            projected_cost_usd: None,
        }
    }

    #[test]
    fn the_freshest_figure_per_window_wins_and_reset_windows_drop() {
        let now = 10 * H;
        let sl = sample(
            Source::Statusline,
            now - M,
            vec![make_window(
                WindowKind::Session,
                40.0,
                Some(now + H),
                Source::Statusline,
                now - M,
            )],
        );
        let acc = sample(
            Source::Account,
            now - 5 * M,
            vec![
                make_window(
                    WindowKind::Session,
                    35.0,
                    Some(now + H),
                    Source::Account,
                    now - 5 * M,
                ),
                make_window(
                    WindowKind::Weekly,
                    20.0,
                    Some(now - 1),
                    Source::Account,
                    now - 5 * M,
                ),
                make_window(
                    WindowKind::WeeklyModel {
                        model: "Opus".into(),
                    },
                    5.0,
                    Some(now + 50 * H),
                    Source::Account,
                    now - 5 * M,
                ),
            ],
        );
        let s = merge(MergeInputs {
            now_ms: now,
            samples: vec![sl, acc],
            fresh_ms: 15 * M,
            ..MergeInputs::default()
        });
        let session = s.session.unwrap();
        assert_eq!(
            (session.utilization, session.source),
            (40.0, Source::Statusline)
        );
        assert_eq!(s.weekly, None, "its reset time passed");
        assert_eq!(s.windows.len(), 2);
        assert_eq!(s.windows[1].label, "Weekly (Opus)");
        assert!(!s.stale);
    }

    /// An account answer with no session window (Ultra; Pro or Max between sessions): no
    /// session figure, no local estimate in its place, no forecast, and the reason.
    #[test]
    fn an_answer_without_a_session_window_means_no_session_and_says_why() {
        let now = 10 * H;
        let weekly = make_window(
            WindowKind::Weekly,
            20.0,
            Some(now + 50 * H),
            Source::Account,
            now - M,
        );
        for (plan, why) in [
            (Plan::Ultra, SessionAbsence::NoLimitOnPlan),
            (Plan::Enterprise, SessionAbsence::NoLimitOnPlan),
            (Plan::Pro, SessionAbsence::NotRunning),
            (Plan::Max, SessionAbsence::NotRunning),
            (Plan::Unknown, SessionAbsence::NotRunning),
        ] {
            let s = merge(MergeInputs {
                now_ms: now,
                plan,
                samples: vec![sample(Source::Account, now - M, vec![weekly.clone()])],
                // A busy local block that would otherwise stand in and forecast a fill.
                local_block: Some(block(150_000, 5_000.0, now + 2 * H)),
                local_limit_tokens: Some(200_000),
                fresh_ms: 15 * M,
                ..MergeInputs::default()
            });
            assert_eq!(s.session, None, "{plan:?}");
            assert!(s.windows.iter().all(|w| w.kind != WindowKind::Session));
            assert_eq!(s.session_absent, Some(why), "{plan:?}");
            assert_eq!(s.forecast, Forecast::default(), "{plan:?}");
            assert_eq!(s.plan, plan);
            assert!(s.local_block.is_some(), "the block's pace is still shown");
            assert!(!s.stale);
        }
        // Enterprise answers with spend only: still an answer.
        let s = merge(MergeInputs {
            now_ms: now,
            plan: Plan::Enterprise,
            samples: vec![sample(Source::Account, now - M, vec![])],
            local_block: Some(block(150_000, 5_000.0, now + 2 * H)),
            local_limit_tokens: Some(200_000),
            fresh_ms: 15 * M,
            ..MergeInputs::default()
        });
        assert_eq!(s.session, None);
        assert_eq!(s.session_absent, Some(SessionAbsence::NoLimitOnPlan));
        assert!(!s.stale, "a fresh answer, with no windows");
    }

    /// The statusline's figure from before the newest answer does not outlive an answer
    /// that has no session window; a newer one does.
    #[test]
    fn a_session_figure_older_than_an_answer_without_one_is_over() {
        let now = 10 * H;
        let session = |seen| {
            sample(
                Source::Statusline,
                seen,
                vec![make_window(
                    WindowKind::Session,
                    61.0,
                    Some(now + H),
                    Source::Statusline,
                    seen,
                )],
            )
        };
        let weekly_only = sample(
            Source::Account,
            now - 2 * M,
            vec![make_window(
                WindowKind::Weekly,
                20.0,
                Some(now + 50 * H),
                Source::Account,
                now - 2 * M,
            )],
        );
        let s = merge(MergeInputs {
            now_ms: now,
            plan: Plan::Ultra,
            samples: vec![session(now - 10 * M), weekly_only.clone()],
            fresh_ms: 15 * M,
            ..MergeInputs::default()
        });
        assert_eq!(s.session, None);
        assert_eq!(s.session_absent, Some(SessionAbsence::NoLimitOnPlan));
        let s = merge(MergeInputs {
            now_ms: now,
            plan: Plan::Pro,
            samples: vec![session(now - M), weekly_only],
            fresh_ms: 15 * M,
            ..MergeInputs::default()
        });
        assert_eq!(s.session.map(|w| w.utilization), Some(61.0));
        assert_eq!(s.session_absent, None);
    }

    /// Claude Code's cached answer is shown, but never current and never a pace.
    #[test]
    fn claude_codes_cached_answer_is_never_current_nor_a_forecast() {
        let now = 10 * H;
        let reset = now + H;
        let cached = sample(
            Source::ClaudeCodeCache,
            now - 2 * M,
            vec![make_window(
                WindowKind::Session,
                61.0,
                Some(reset),
                Source::ClaudeCodeCache,
                now - 2 * M,
            )],
        );
        let history: Vec<HistoryPoint> = [(now - 30 * M, 40.0), (now - 2 * M, 61.0)]
            .into_iter()
            .map(|(t, u)| HistoryPoint {
                seen_ms: t,
                utilization: u,
                resets_at_ms: Some(reset),
            })
            .collect();
        let s = merge(MergeInputs {
            now_ms: now,
            samples: vec![cached],
            session_history: history,
            local_block: Some(block(150_000, 5_000.0, now + 2 * H)),
            local_limit_tokens: Some(200_000),
            fresh_ms: 15 * M,
            ..MergeInputs::default()
        });
        let session = s.session.unwrap();
        assert_eq!(session.source, Source::ClaudeCodeCache);
        assert!(
            s.stale,
            "a cached answer two minutes old is still not current"
        );
        assert_eq!(s.forecast, Forecast::default());
    }

    #[test]
    fn local_estimate_stands_in_and_is_labelled() {
        let now = 10 * H;
        let s = merge(MergeInputs {
            now_ms: now,
            local_block: Some(block(50_000, 1_000.0, now + 2 * H)),
            local_limit_tokens: Some(200_000),
            fresh_ms: 15 * M,
            ..MergeInputs::default()
        });
        let session = s.session.unwrap();
        assert_eq!(session.source, Source::LocalEstimate);
        assert_eq!(session.utilization, 25.0);
        assert_eq!(session.resets_at_ms, Some(now + 2 * H));
        assert!(s.stale);
        // 1,000 tokens/min of 200,000 = 30 %/h; 75 % left → 2.5 h, after the block ends.
        assert_eq!(s.forecast.basis, Some(ForecastBasis::LocalTokens));
        assert_eq!(s.forecast.percent_per_hour, Some(30.0));
        assert_eq!(s.forecast.session_full_at_ms, None);
        let s = merge(MergeInputs {
            now_ms: now,
            local_block: Some(block(50_000, 1_000.0, now + 3 * H)),
            local_limit_tokens: Some(200_000),
            ..MergeInputs::default()
        });
        assert_eq!(s.forecast.session_full_at_ms, Some(now + 150 * M));
    }

    #[test]
    fn forecast_from_account_history() {
        let now = 10 * H;
        let reset = now + 2 * H;
        let history: Vec<HistoryPoint> = [(now - 30 * M, 40.0), (now - 15 * M, 50.0), (now, 60.0)]
            .into_iter()
            .map(|(t, u)| HistoryPoint {
                seen_ms: t,
                utilization: u,
                resets_at_ms: Some(reset),
            })
            .collect();
        let w = make_window(WindowKind::Session, 60.0, Some(reset), Source::Account, now);
        let f = forecast(Some(&w), &history, None, None, None, now);
        assert_eq!(f.basis, Some(ForecastBasis::AccountHistory));
        assert!((f.percent_per_hour.unwrap() - 40.0).abs() < 1e-9);
        assert_eq!(f.session_full_at_ms, Some(now + 60 * M));
        // Too slow to fill before the reset: no time, still a forecast basis.
        let slow: Vec<HistoryPoint> = history
            .iter()
            .map(|p| HistoryPoint {
                utilization: 58.0 + (p.seen_ms - now + 30 * M) as f64 / (15 * M) as f64,
                ..*p
            })
            .collect();
        let w = make_window(WindowKind::Session, 60.0, Some(reset), Source::Account, now);
        assert_eq!(
            forecast(Some(&w), &slow, None, None, None, now).session_full_at_ms,
            None
        );
        // Readings of the previous window do not count.
        let old: Vec<HistoryPoint> = history
            .iter()
            .map(|p| HistoryPoint {
                resets_at_ms: Some(now - H),
                ..*p
            })
            .collect();
        assert_eq!(
            forecast(Some(&w), &old, None, None, None, now),
            Forecast::default()
        );
    }

    fn history(now: i64, reset: Option<i64>, readings: &[(i64, f64)]) -> Vec<HistoryPoint> {
        readings
            .iter()
            .map(|&(ago, u)| HistoryPoint {
                seen_ms: now - ago,
                utilization: u,
                resets_at_ms: reset,
            })
            .collect()
    }

    #[test]
    fn a_flat_history_of_a_non_integer_percent_forecasts_nothing() {
        // 42.7 % from the statusline and twice from the OAuth poll: least squares gives
        // rounding noise (about 1e-30 % per hour), which used to overflow the fill time.
        let now = 1_764_000_000_000;
        let reset = now + 2 * H;
        for pct in [42.7, 0.1, 33.3, 99.9] {
            for reset in [Some(reset), None] {
                let h = history(now, reset, &[(40 * M, pct), (35 * M, pct), (0, pct)]);
                let w = make_window(WindowKind::Session, pct, reset, Source::Account, now);
                let f = forecast(Some(&w), &h, None, None, None, now);
                assert_eq!(f.session_full_at_ms, None, "{pct} % flat, reset {reset:?}");
                assert_eq!(f.percent_per_hour, Some(0.0));
            }
        }
        // Falling: none either.
        let h = history(now, Some(reset), &[(40 * M, 50.0), (0, 40.0)]);
        let w = make_window(WindowKind::Session, 40.0, Some(reset), Source::Account, now);
        assert_eq!(
            forecast(Some(&w), &h, None, None, None, now).session_full_at_ms,
            None
        );
    }

    #[test]
    fn extreme_times_and_rates_never_overflow() {
        let extremes = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for &now in &extremes {
            for &reset in &extremes {
                for &seen in &extremes {
                    let h: Vec<HistoryPoint> = [(seen, 1.0), (now, 50.0)]
                        .map(|(seen_ms, utilization)| HistoryPoint {
                            seen_ms,
                            utilization,
                            resets_at_ms: Some(reset),
                        })
                        .to_vec();
                    let w =
                        make_window(WindowKind::Session, 50.0, Some(seen), Source::Account, now);
                    let _ = forecast(Some(&w), &h, None, None, None, now);
                    for (tpm, pct, limit) in [(1e-300, 1e-300, u64::MAX), (f64::MAX, -1e300, 1)] {
                        let b = LocalBlock {
                            end_ms: reset,
                            ..block(1, tpm, 0)
                        };
                        let _ = forecast(None, &[], Some(&b), Some(pct), Some(limit), now);
                    }
                }
            }
        }
    }

    #[test]
    fn balance_is_kept_from_claude_ai() {
        let eu = ExtraUsage {
            enabled: Some(false),
            monthly_limit: None,
            used: None,
            currency: "USD".into(),
            balance: None,
            disabled_reason: None,
            source: Source::Account,
            observed_at_ms: 0,
        };
        let s = merge(MergeInputs {
            extra_usage: Some(eu),
            balance: Some((12.5, "USD".into())),
            ..MergeInputs::default()
        });
        assert_eq!(s.extra_usage.unwrap().balance, Some(12.5));
    }
}
