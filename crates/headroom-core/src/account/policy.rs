//! When to ask Anthropic again: the poll cadence, backoff and rate-limit cool-down, as pure
//! functions of the stored [`PollState`], the policy and `now` (no clock is read here).
//!
//! Rules (what keeps Headroom a polite client of Anthropic's endpoints; the numbers are
//! [`PollPolicy::default`]'s):
//! - poll at most every `interval` (5 min) with ±10 % jitter, never more than once per
//!   `min_interval` (1 min), not even when forced;
//! - while a fresh statusline sample exists (younger than `interval`), session and weekly
//!   figures need no request: poll only every `with_statusline_interval` (30 min), since the
//!   feed carries neither Extra Usage nor per-model windows;
//! - a failure (offline, timeout, 5xx, garbage) backs off exponentially with jitter, from
//!   1 min doubling up to 1 h;
//! - a 429 honours a positive `Retry-After` (capped at 6 h); absent or 0, it cools down
//!   5 min, doubling on each further 429 up to 1 h;
//! - a login problem (401, 403, expired) is not retried until the credentials change (their
//!   fingerprint differs) or an hour has passed;
//! - forcing (`status --refresh`, the tray's Refresh now, the Extra Usage watch) skips the
//!   cadence, the backoff and the login wait, but neither `min_interval` nor an active 429
//!   cool-down: Anthropic said to wait, and asking anyway with the user's own token risks a
//!   longer throttle of the account.
//!
//! The state is kept in the ledger (`account::store`) so every process (CLI, `watch`, tray)
//! respects the same cool-down. Jitter is an argument in `[0, 1)`, drawn by the caller.

use serde::{Deserialize, Serialize};

use super::{FetchError, SourceError};

pub(super) const MINUTE_MS: i64 = 60_000;

/// When a source may be polled: its cadence, the one-a-minute floor, backoff and cool-downs. Pure
/// data: [`Mode`] and the ledger's [`PollState`] decide with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollPolicy {
    /// The routine interval (the user's poll minutes, 5 by default).
    pub interval_ms: i64,
    /// The floor: never two requests less than this apart, forced or not.
    pub min_interval_ms: i64,
    /// The interval while a fresh statusline sample carries the figures.
    pub with_statusline_interval_ms: i64,
    /// Fraction of a delay added or removed at random (0.1: ±10 %).
    pub jitter: f64,
    /// The first wait after a failure; it doubles with each one after.
    pub backoff_base_ms: i64,
    /// The longest backoff.
    pub backoff_max_ms: i64,
    /// The first cool-down after a 429 without `Retry-After`; it doubles with each one after.
    pub rate_limit_base_ms: i64,
    /// The longest such cool-down.
    pub rate_limit_max_ms: i64,
    /// The longest `Retry-After` honoured.
    pub retry_after_max_ms: i64,
    /// The wait after a login problem, unless the credentials change.
    pub auth_retry_ms: i64,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            interval_ms: 5 * MINUTE_MS,
            min_interval_ms: MINUTE_MS,
            with_statusline_interval_ms: 30 * MINUTE_MS,
            jitter: 0.1,
            backoff_base_ms: MINUTE_MS,
            backoff_max_ms: 60 * MINUTE_MS,
            rate_limit_base_ms: 5 * MINUTE_MS,
            rate_limit_max_ms: 60 * MINUTE_MS,
            retry_after_max_ms: 6 * 60 * MINUTE_MS,
            auth_retry_ms: 60 * MINUTE_MS,
        }
    }
}

impl PollPolicy {
    /// The default policy with the user's poll interval (minutes, at least 1).
    pub fn with_interval_minutes(minutes: u32) -> PollPolicy {
        let interval_ms = i64::from(minutes.max(1)) * MINUTE_MS;
        PollPolicy {
            interval_ms,
            with_statusline_interval_ms: (30 * MINUTE_MS).max(interval_ms),
            ..PollPolicy::default()
        }
    }
}

/// Why the last attempt failed, as the state remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No connection, DNS failure or timeout: a normal state, not an error dialog.
    Offline,
    /// 429 from Anthropic.
    RateLimited,
    /// 401/403/expired/missing scope: needs the user (run `claude` to sign in again).
    Auth,
    /// 5xx, an HTML page, garbage.
    Server,
}

impl FailureKind {
    /// The kind's id in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Offline => "offline",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Auth => "auth",
            FailureKind::Server => "server",
        }
    }

    /// The kind of an id written by [`FailureKind::as_str`].
    pub fn parse(s: &str) -> Option<FailureKind> {
        [
            FailureKind::Offline,
            FailureKind::RateLimited,
            FailureKind::Auth,
            FailureKind::Server,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One source's polling memory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PollState {
    /// When the last request went out.
    pub last_attempt_ms: Option<i64>,
    /// When a request last gave figures.
    pub last_success_ms: Option<i64>,
    /// No routine poll before this (the jittered interval, fixed when the last poll ended).
    pub next_poll_ms: Option<i64>,
    /// No request at all before this, unless forced (backoff or rate-limit cool-down).
    pub cooldown_until_ms: Option<i64>,
    /// Failures in a row (any kind).
    pub failures: u32,
    /// 429s in a row.
    pub rate_limited: u32,
    /// Why the last attempt failed, if it did.
    pub last_failure: Option<FailureKind>,
    /// The last problem as a value (its words are written when read, for the reader's front
    /// end: [`SourceError::describe`]); never contains a secret.
    pub last_problem: Option<SourceError>,
    /// Fingerprint of the credentials of the last attempt, to retry a login problem as
    /// soon as they change.
    pub credential_fingerprint: Option<u32>,
}

/// Whether to ask now.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Decision {
    Poll,
    Wait { until_ms: i64, why: WaitReason },
}

/// Why [`Refresher::refresh`](super::Refresher::refresh) did not ask a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// Asked less than `min_interval` ago.
    TooSoon,
    /// The routine interval has not passed.
    NotDue,
    /// A fresh statusline sample carries session and weekly figures.
    StatuslineFresh,
    /// Rate limited by Anthropic.
    RateLimited,
    /// Backing off after failures.
    Backoff,
    /// A login problem that only the user can fix.
    Auth,
}

/// How a caller asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Follow the cadence.
    #[default]
    Auto,
    /// Ask now unless asked less than `min_interval` ago or a 429 cool-down is on
    /// (`--refresh`, Refresh now, the Extra Usage watch).
    Force,
    /// Never ask (`snapshot_from_ledger`, `--offline`).
    Never,
}

/// Decides whether to poll now. `newest_statusline_ms` is when the newest statusline sample
/// was seen; `credential_fingerprint` that of the credentials at hand.
pub(super) fn decide(
    policy: &PollPolicy,
    state: &PollState,
    newest_statusline_ms: Option<i64>,
    credential_fingerprint: Option<u32>,
    mode: Mode,
    now_ms: i64,
) -> Decision {
    if mode == Mode::Never {
        return Decision::Wait {
            until_ms: i64::MAX,
            why: WaitReason::NotDue,
        };
    }
    if let Some(last) = state.last_attempt_ms {
        // A clock that went backwards must not block polling forever.
        if last <= now_ms && now_ms - last < policy.min_interval_ms {
            return Decision::Wait {
                until_ms: last + policy.min_interval_ms,
                why: WaitReason::TooSoon,
            };
        }
    }
    // Times further ahead than the policy could have set mean the clock went backwards:
    // they are ignored rather than obeyed for hours.
    let plausible = |t: i64, max: i64| t > now_ms && t - now_ms <= max;
    let cooldown = active_cooldown(policy, state, now_ms);
    if mode == Mode::Force {
        return match (cooldown, state.last_failure) {
            (Some(until_ms), Some(FailureKind::RateLimited)) => Decision::Wait {
                until_ms,
                why: WaitReason::RateLimited,
            },
            _ => Decision::Poll,
        };
    }
    if let Some(until) = cooldown {
        let why = match state.last_failure {
            Some(FailureKind::RateLimited) => WaitReason::RateLimited,
            Some(FailureKind::Auth) => {
                if credential_fingerprint.is_some()
                    && credential_fingerprint != state.credential_fingerprint
                {
                    return Decision::Poll;
                }
                WaitReason::Auth
            }
            _ => WaitReason::Backoff,
        };
        return Decision::Wait {
            until_ms: until,
            why,
        };
    }
    if let Some(next) = state
        .next_poll_ms
        .filter(|&n| plausible(n, 2 * policy.interval_ms))
    {
        return Decision::Wait {
            until_ms: next,
            why: WaitReason::NotDue,
        };
    }
    if let Some(seen) = newest_statusline_ms {
        if now_ms - seen < policy.interval_ms {
            let since_attempt = state
                .last_attempt_ms
                .map_or(i64::MAX, |last| now_ms.saturating_sub(last));
            if since_attempt < policy.with_statusline_interval_ms {
                return Decision::Wait {
                    until_ms: now_ms - since_attempt + policy.with_statusline_interval_ms,
                    why: WaitReason::StatuslineFresh,
                };
            }
        }
    }
    Decision::Poll
}

/// What a poll came to.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    Success,
    RateLimited {
        retry_after_s: Option<u64>,
    },
    /// Its [`FailureKind`] is the problem's own ([`SourceError::kind`]).
    Failed(SourceError),
}

fn jittered(policy: &PollPolicy, ms: i64, jitter: f64) -> i64 {
    let j = jitter.clamp(0.0, 1.0) * 2.0 - 1.0; // [-1, 1)
    crate::num::round_clamped(ms as f64 * (1.0 + policy.jitter * j), i64::MIN, i64::MAX)
        .unwrap_or(ms)
}

/// The state after a poll that started at `now_ms`.
pub(super) fn after(
    policy: &PollPolicy,
    state: &PollState,
    outcome: &Outcome,
    credential_fingerprint: Option<u32>,
    now_ms: i64,
    jitter: f64,
) -> PollState {
    let mut next = state.clone();
    next.last_attempt_ms = Some(now_ms);
    next.credential_fingerprint = credential_fingerprint;
    next.next_poll_ms =
        Some(now_ms + jittered(policy, policy.interval_ms, jitter).max(policy.min_interval_ms));
    match outcome {
        Outcome::Success => {
            next.last_success_ms = Some(now_ms);
            next.cooldown_until_ms = None;
            next.failures = 0;
            next.rate_limited = 0;
            next.last_failure = None;
            next.last_problem = None;
        }
        Outcome::RateLimited { retry_after_s } => {
            next.failures = state.failures.saturating_add(1);
            next.rate_limited = state.rate_limited.saturating_add(1);
            next.last_failure = Some(FailureKind::RateLimited);
            next.last_problem = Some(SourceError::Fetch(FetchError::RateLimited {
                retry_after_s: *retry_after_s,
            }));
            let wait = match retry_after_s.filter(|&s| s > 0) {
                Some(s) => (i64::try_from(s)
                    .unwrap_or(i64::MAX / 2)
                    .saturating_mul(1000))
                .min(policy.retry_after_max_ms),
                None => doubling(
                    policy.rate_limit_base_ms,
                    next.rate_limited,
                    policy.rate_limit_max_ms,
                ),
            };
            next.cooldown_until_ms = Some(now_ms + wait.max(policy.min_interval_ms));
        }
        Outcome::Failed(problem) => {
            let kind = problem.kind();
            next.failures = state.failures.saturating_add(1);
            next.rate_limited = 0;
            next.last_failure = Some(kind);
            next.last_problem = Some(problem.clone());
            let wait = match kind {
                FailureKind::Auth => policy.auth_retry_ms,
                _ => jittered(
                    policy,
                    doubling(policy.backoff_base_ms, next.failures, policy.backoff_max_ms),
                    jitter,
                ),
            };
            next.cooldown_until_ms = Some(now_ms + wait.max(policy.min_interval_ms));
        }
    }
    next
}

/// `base * 2^(n-1)`, at most `max`.
fn doubling(base: i64, n: u32, max: i64) -> i64 {
    let shift = n.saturating_sub(1).min(30);
    base.saturating_mul(1i64 << shift).min(max)
}

/// The cool-down `state` still imposes at `now_ms`, if any. One further ahead than the policy
/// could have set means the clock went backwards: it is ignored rather than obeyed for hours
/// (or days). Polls and the Extra Usage writes (audit N15) both read it here.
pub(crate) fn active_cooldown(policy: &PollPolicy, state: &PollState, now_ms: i64) -> Option<i64> {
    let max = policy.retry_after_max_ms.max(policy.auth_retry_ms);
    state
        .cooldown_until_ms
        .filter(|&u| u > now_ms && u - now_ms <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = MINUTE_MS;

    fn p() -> PollPolicy {
        PollPolicy::default()
    }

    #[test]
    fn first_poll_then_every_interval_with_jitter() {
        let s = PollState::default();
        assert_eq!(decide(&p(), &s, None, None, Mode::Auto, 0), Decision::Poll);
        let s = after(&p(), &s, &Outcome::Success, None, 0, 0.0);
        assert_eq!(s.next_poll_ms, Some(4 * M + 30_000)); // -10 %
        let s2 = after(
            &p(),
            &PollState::default(),
            &Outcome::Success,
            None,
            0,
            0.999_999,
        );
        assert!((s2.next_poll_ms.unwrap() - 5 * M - 30_000).abs() <= 1); // +10 %
        assert!(matches!(
            decide(&p(), &s, None, None, Mode::Auto, 4 * M),
            Decision::Wait {
                why: WaitReason::NotDue,
                ..
            }
        ));
        assert_eq!(
            decide(&p(), &s, None, None, Mode::Auto, 5 * M),
            Decision::Poll
        );
    }

    #[test]
    fn never_more_than_once_a_minute_even_forced() {
        let s = after(&p(), &PollState::default(), &Outcome::Success, None, 0, 0.5);
        assert_eq!(
            decide(&p(), &s, None, None, Mode::Force, 59_999),
            Decision::Wait {
                until_ms: M,
                why: WaitReason::TooSoon
            }
        );
        assert_eq!(decide(&p(), &s, None, None, Mode::Force, M), Decision::Poll);
        assert!(matches!(
            decide(&p(), &PollState::default(), None, None, Mode::Never, 0),
            Decision::Wait { .. }
        ));
    }

    #[test]
    fn a_fresh_statusline_sample_slows_polling() {
        let s = after(&p(), &PollState::default(), &Outcome::Success, None, 0, 0.5);
        let now = 10 * M;
        assert!(matches!(
            decide(&p(), &s, Some(now - M), None, Mode::Auto, now),
            Decision::Wait { why: WaitReason::StatuslineFresh, until_ms } if until_ms == 30 * M
        ));
        // An old statusline sample does not count.
        assert_eq!(
            decide(&p(), &s, Some(now - 6 * M), None, Mode::Auto, now),
            Decision::Poll
        );
        assert_eq!(
            decide(&p(), &s, Some(31 * M), None, Mode::Auto, 31 * M),
            Decision::Poll
        );
    }

    #[test]
    fn rate_limits_cool_down_doubling_or_as_told() {
        let rl = Outcome::RateLimited {
            retry_after_s: None,
        };
        let s1 = after(&p(), &PollState::default(), &rl, None, 0, 0.5);
        assert_eq!(s1.cooldown_until_ms, Some(5 * M));
        assert!(matches!(
            decide(&p(), &s1, None, None, Mode::Auto, 4 * M),
            Decision::Wait {
                why: WaitReason::RateLimited,
                ..
            }
        ));
        let s2 = after(
            &p(),
            &s1,
            &Outcome::RateLimited {
                retry_after_s: Some(0),
            },
            None,
            5 * M,
            0.5,
        );
        assert_eq!(s2.cooldown_until_ms, Some(15 * M));
        let mut s = s2;
        for _ in 0..10 {
            s = after(&p(), &s, &rl, None, 0, 0.5);
        }
        assert_eq!(s.cooldown_until_ms, Some(60 * M));
        let told = after(
            &p(),
            &s,
            &Outcome::RateLimited {
                retry_after_s: Some(120),
            },
            None,
            0,
            0.5,
        );
        assert_eq!(told.cooldown_until_ms, Some(2 * M));
        let silly = after(
            &p(),
            &s,
            &Outcome::RateLimited {
                retry_after_s: Some(u64::MAX),
            },
            None,
            0,
            0.5,
        );
        assert_eq!(silly.cooldown_until_ms, Some(6 * 60 * M));
        let ok = after(&p(), &told, &Outcome::Success, None, 3 * M, 0.5);
        assert_eq!(
            (ok.cooldown_until_ms, ok.rate_limited, ok.failures),
            (None, 0, 0)
        );
    }

    #[test]
    fn forcing_skips_the_backoff_but_never_a_rate_limit_cool_down() {
        // The tests' lowered floor: only the cool-down can hold a forced poll back.
        let policy = PollPolicy {
            min_interval_ms: 0,
            ..p()
        };
        for retry_after_s in [None, Some(0), Some(1800)] {
            let s = after(
                &policy,
                &PollState::default(),
                &Outcome::RateLimited { retry_after_s },
                None,
                0,
                0.5,
            );
            let until = s.cooldown_until_ms.unwrap();
            assert!(until >= 5 * M, "{retry_after_s:?}: {until}");
            for now in [1, M, until - 1] {
                assert_eq!(
                    decide(&policy, &s, None, None, Mode::Force, now),
                    Decision::Wait {
                        until_ms: until,
                        why: WaitReason::RateLimited
                    },
                    "{retry_after_s:?} at {now}"
                );
            }
            assert_eq!(
                decide(&policy, &s, None, None, Mode::Force, until),
                Decision::Poll
            );
        }
        // A backoff after an ordinary failure is skipped when forced.
        let fail = Outcome::Failed(SourceError::Fetch(FetchError::Server(500)));
        let mut s = PollState::default();
        for _ in 0..4 {
            s = after(&policy, &s, &fail, None, 0, 0.5);
        }
        assert!(s.cooldown_until_ms.unwrap() > 4 * M);
        assert_eq!(
            decide(&policy, &s, None, None, Mode::Force, M),
            Decision::Poll
        );
        assert!(matches!(
            decide(&policy, &s, None, None, Mode::Auto, M),
            Decision::Wait {
                why: WaitReason::Backoff,
                ..
            }
        ));
    }

    #[test]
    fn failures_back_off_and_login_problems_wait_for_new_credentials() {
        let fail = Outcome::Failed(SourceError::Fetch(FetchError::Offline("no route".into())));
        let mut s = PollState::default();
        let mut waits = Vec::new();
        for _ in 0..8 {
            s = after(&p(), &s, &fail, None, 0, 0.5);
            waits.push(s.cooldown_until_ms.unwrap() / M);
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);

        let auth = Outcome::Failed(SourceError::Fetch(FetchError::Unauthorized));
        let s = after(&p(), &PollState::default(), &auth, Some(7), 0, 0.5);
        assert!(matches!(
            decide(&p(), &s, None, Some(7), Mode::Auto, 10 * M),
            Decision::Wait {
                why: WaitReason::Auth,
                ..
            }
        ));
        assert_eq!(
            decide(&p(), &s, None, Some(8), Mode::Auto, 10 * M),
            Decision::Poll
        );
        assert_eq!(
            decide(&p(), &s, None, Some(7), Mode::Force, 10 * M),
            Decision::Poll
        );
    }

    #[test]
    fn a_clock_gone_backwards_does_not_block_forever() {
        let s = after(
            &p(),
            &PollState::default(),
            &Outcome::Success,
            None,
            100 * M,
            0.5,
        );
        // The next poll looks 55 min away to a clock set back 50 min: not believed.
        assert_eq!(
            decide(&p(), &s, None, None, Mode::Auto, 50 * M),
            Decision::Poll
        );
        assert_eq!(
            decide(&p(), &s, None, None, Mode::Force, 50 * M),
            Decision::Poll
        );
    }
}
