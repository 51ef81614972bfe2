//! The browser flow of `headroom extra-usage`, from before Headroom could write: `enable
//! --browser` opens claude.ai's settings page and watches the account until it reports
//! Extra Usage on; `cap --browser` and `disable --browser` open the page and say what to do.
//!
//! The watch polls with `Mode::Force`, which the poll policy still holds to one request a
//! minute, and asks the core's `extra_usage::EnableWatch` (the tray's watch too) after each
//! snapshot whether to go on; the loop is here so that Ctrl-C ends the wait at once instead
//! of after the next poll.

use std::sync::mpsc;
use std::time::Duration;

use headroom_core::account::extra_usage::{self, WatchStep};
use headroom_core::account::overage::Change;
use headroom_core::account::Mode;
use headroom_core::settings::{Cap, Settings};

use super::{describe, open_ledger_patiently, patiently, EnableArgs};
use crate::context::{now_ms, Context, Failure};

/// `cap --browser`, `disable --browser`: opens claude.ai's settings and says what to do there.
pub(super) fn browser_only(change: Change) -> Result<(), Failure> {
    let url = extra_usage::SETTINGS_URL;
    let what = match change {
        Change::SetCap(c) => format!("set Extra Usage's monthly cap to {}", c.canonical()),
        Change::Disable => "turn off Extra Usage".to_owned(),
        Change::Enable(c) => format!("turn on Extra Usage with {}", c.canonical()),
    };
    open_or_print(url, &what, false);
    Ok(())
}

fn open_or_print(url: &str, what: &str, no_browser: bool) {
    let no_browser =
        no_browser || std::env::var("HEADROOM_NO_BROWSER").is_ok_and(|v| !v.is_empty() && v != "0");
    if no_browser {
        println!("Open {url} and {what}.");
        return;
    }
    match opener::open_browser(url) {
        Ok(()) => println!("Opened {url} in your browser: {what} there."),
        Err(e) => {
            tracing::debug!("cannot open a browser: {e}");
            println!("Could not open a browser; open {url} and {what}.");
        }
    }
}

/// `90s`, `10m`, `1h`, `1h30m`; a bare number is minutes (the one duration grammar, at most
/// a day).
fn parse_timeout(text: &str) -> Option<Duration> {
    headroom_core::text::parse_duration_within(text, 86_400_000)
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
}

/// `enable --browser`: the flow from before Headroom could write.
pub(super) fn enable(ctx: &Context, args: &EnableArgs) -> Result<(), Failure> {
    // Everything the user typed is checked before anything is saved or opened.
    let cap = match &args.cap {
        Some(text) => Some(
            Cap::parse(text)
                .map_err(|e| Failure::new(2, format!("invalid --cap {text:?}: {e}")))?,
        ),
        None => None,
    };
    let timeout = parse_timeout(&args.timeout).ok_or_else(|| {
        Failure::new(
            2,
            format!(
                "invalid --timeout {:?}: use a duration like 90s, 10m or 1h (at most 24h)",
                args.timeout
            ),
        )
    })?;
    let no_browser = args.no_browser;

    let settings: Settings = match cap {
        Some(cap) => {
            let saved = ctx.update_settings(|s| s.extra_usage.chosen_cap = Some(cap))?;
            println!("Recorded your monthly cap: {cap}.");
            saved
        }
        None => ctx.settings()?,
    };
    let chosen = settings.extra_usage.chosen_cap;

    let mut ledger = open_ledger_patiently(ctx)?;
    let refresher = ctx.refresher(&settings)?;
    let started = now_ms();
    // A ledger another process keeps busy is waited for briefly, not a failure.
    let first = patiently(|| Ok(refresher.refresh_blocking(&mut ledger, started, Mode::Force)?))?;
    if let Some(eu) = first
        .extra_usage
        .as_ref()
        .filter(|eu| eu.enabled == Some(true))
    {
        println!(
            "Extra Usage is already on: {}",
            describe(eu, first.taken_at_ms)
        );
        if let Some(m) = extra_usage::cap_mismatch(chosen, eu) {
            println!("warning: {m}");
        }
        return Ok(());
    }

    let what = match chosen {
        Some(cap) => format!("turn on Extra Usage and set its monthly spending cap to {cap}"),
        None => "turn on Extra Usage and choose a monthly spending cap".to_owned(),
    };
    let url = extra_usage::SETTINGS_URL;
    open_or_print(url, &what, no_browser);
    let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
    let watch = extra_usage::EnableWatch::new(started, timeout_ms);
    let no_source = || {
        Failure::new(
            1,
            "Headroom cannot see your account to confirm the change: sign in with `claude` (Claude Code), or paste a claude.ai session key with `headroom claude-ai login`, then run `headroom extra-usage` to check",
        )
    };
    if watch.step(&first, started) == WatchStep::NoSource {
        return Err(no_source());
    }

    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .map_err(|e| Failure::new(1, format!("cannot handle Ctrl-C: {e}")))?;
    // The policy allows one request a minute; checking more often only re-reads the ledger,
    // where another process (the tray) may have recorded the change already.
    let every = Duration::from_millis(
        u64::try_from(refresher.config().policy.min_interval_ms.clamp(100, 15_000))
            .unwrap_or(15_000),
    );
    println!(
        "Waiting for your account to report Extra Usage on (up to {}; Ctrl-C to stop)...",
        headroom_core::text::duration(timeout_ms)
    );
    let mut shown_errors: Vec<String> = Vec::new();
    loop {
        match stop_rx.recv_timeout(every) {
            Ok(()) => {
                println!("Stopped waiting. Run `headroom extra-usage` later to check.");
                return Err(Failure::new(130, "interrupted"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
        }
        // While waiting, a busy ledger only skips this look; the next one tries again.
        let now = now_ms();
        let snap = match refresher.refresh_blocking(&mut ledger, now, Mode::Force) {
            Ok(snap) => snap,
            Err(e) => {
                let f = Failure::from(e);
                if !f.busy {
                    return Err(f);
                }
                eprintln!("note: {}; trying again", f.message);
                continue;
            }
        };
        for e in &snap.errors {
            if !shown_errors.contains(e) {
                eprintln!("note: {e}");
                shown_errors.push(e.clone());
            }
        }
        match watch.step(&snap, now) {
            WatchStep::Waiting => {}
            WatchStep::Enabled(eu) => {
                println!("Extra Usage is on: {}", describe(&eu, snap.taken_at_ms));
                if let Some(m) = extra_usage::cap_mismatch(chosen, &eu) {
                    println!("warning: {m}");
                }
                return Ok(());
            }
            WatchStep::TimedOut => {
                return Err(Failure::new(
                    1,
                    format!(
                        "the account still reports Extra Usage off after {}; once you have turned it on at {url}, run `headroom extra-usage` to check",
                        headroom_core::text::duration(timeout_ms)
                    ),
                ));
            }
            // The login went away while waiting (a `claude logout`, a removed key).
            WatchStep::NoSource => return Err(no_source()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_timeout("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_timeout("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_timeout("5"), Some(Duration::from_secs(300)));
        assert_eq!(parse_timeout("0"), None);
        assert_eq!(parse_timeout("-1m"), None);
        assert_eq!(parse_timeout("soon"), None);
        assert_eq!(parse_timeout("25h"), None);
    }
}
