//! `headroom extra-usage`: Extra Usage's real state, and `enable`, which makes turning it on
//! painless. Anthropic offers no API to switch it on or set its cap, so `enable` records the
//! cap the user chose, opens claude.ai's settings page, and watches the account until it
//! reports Extra Usage on, warning while the account's cap differs from the chosen one.
//!
//! The watch polls with `Mode::Force`, which the poll policy still holds to one request a
//! minute; it is written here rather than with `extra_usage::watch_until_enabled` so that
//! Ctrl-C ends the wait at once instead of after the next poll.

use std::sync::mpsc;
use std::time::Duration;

use clap::{Args, Subcommand};
use headroom_core::account::status_json::StatusJson;
use headroom_core::account::{extra_usage, Mode};
use headroom_core::settings::{Cap, Settings};
use headroom_core::snapshot::ExtraUsage;

use crate::context::now_ms;
use crate::context::{Context, Failure};
use crate::status_cmd;

#[derive(Debug, Args)]
pub struct ExtraUsageArgs {
    #[command(subcommand)]
    pub action: Option<ExtraUsageAction>,
}

#[derive(Debug, Subcommand)]
pub enum ExtraUsageAction {
    /// Whether Extra Usage is on, its cap, this month's spend and the prepaid balance.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Open claude.ai's usage settings to turn Extra Usage on, and wait until the account
    /// reports it on.
    Enable(EnableArgs),
}

#[derive(Debug, Args)]
pub struct EnableArgs {
    /// The monthly spending cap you will set, in dollars (e.g. 50 or 12.50). Headroom
    /// records it and warns while the account's cap differs.
    #[arg(long, value_name = "DOLLARS", allow_hyphen_values = true)]
    pub cap: Option<String>,
    /// Print the address instead of opening a browser (also `HEADROOM_NO_BROWSER=1`).
    #[arg(long)]
    pub no_browser: bool,
    /// Give up waiting after this long: `10m`, `1h`, `90s`.
    #[arg(long, value_name = "DURATION", default_value = "15m")]
    pub timeout: String,
}

pub fn run(ctx: &Context, args: &ExtraUsageArgs) -> Result<(), Failure> {
    match &args.action {
        None => status(ctx, false),
        Some(ExtraUsageAction::Status { json }) => status(ctx, *json),
        Some(ExtraUsageAction::Enable(e)) => enable(ctx, e),
    }
}

fn status(ctx: &Context, json: bool) -> Result<(), Failure> {
    let settings = ctx.settings()?;
    let mut ledger = ctx.open_ledger()?;
    let snap = ctx.snapshot(&mut ledger, &settings, now_ms(), Mode::Auto)?;
    let chosen = settings.extra_usage.chosen_cap;
    let mismatch = snap
        .extra_usage
        .as_ref()
        .and_then(|eu| extra_usage::cap_mismatch(chosen, eu));
    let trap = extra_usage::trap(&snap);
    if json {
        let value = serde_json::json!({
            "schema_version": headroom_core::account::status_json::SCHEMA_VERSION,
            "extra_usage": StatusJson::from_snapshot(&snap).extra_usage,
            "chosen_cap": chosen.map(Cap::dollars),
            "cap_mismatch": mismatch,
            "trap": trap,
            "settings_url": extra_usage::SETTINGS_URL,
            "errors": snap.errors,
        });
        let text =
            serde_json::to_string_pretty(&value).map_err(|e| Failure::new(1, e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    match &snap.extra_usage {
        Some(eu) => println!("Extra Usage: {}", describe(eu, snap.taken_at_ms)),
        None => println!(
            "Extra Usage: unknown (no account source has reported it; sign in with `claude`, or `headroom claude-ai login`)"
        ),
    }
    if let Some(cap) = chosen {
        println!("Cap chosen in Headroom: {cap}");
    }
    if let Some(m) = mismatch {
        println!("warning: {m}");
    }
    if let Some(t) = trap {
        println!("warning: {t}");
    }
    for e in &snap.errors {
        println!("note: {e}");
    }
    Ok(())
}

fn describe(eu: &ExtraUsage, now: i64) -> String {
    let age = now - eu.observed_at_ms;
    let when = if age < 60_000 {
        "just now".to_owned()
    } else {
        format!("{} ago", headroom_core::alerts::text::duration(age.max(0)))
    };
    format!(
        "{}   [{}, {when}]",
        extra_usage::describe(eu),
        status_cmd::source_label(eu.source)
    )
}

/// `90s`, `10m`, `1h`, `1h30m`; a bare number is minutes.
fn parse_timeout(text: &str) -> Option<Duration> {
    let t = text.trim().to_ascii_lowercase();
    if let Ok(minutes) = t.parse::<u64>() {
        return (minutes > 0).then(|| Duration::from_secs(minutes * 60));
    }
    let (mut total, mut number) = (0u64, String::new());
    for c in t.chars() {
        match c {
            '0'..='9' => number.push(c),
            's' | 'm' | 'h' if !number.is_empty() => {
                let n: u64 = number.parse().ok()?;
                total = total.checked_add(n.checked_mul(match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                })?)?;
                number.clear();
            }
            _ => return None,
        }
    }
    (number.is_empty() && total > 0 && total <= 24 * 3600).then(|| Duration::from_secs(total))
}

fn enable(ctx: &Context, args: &EnableArgs) -> Result<(), Failure> {
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
    let no_browser = args.no_browser
        || std::env::var("HEADROOM_NO_BROWSER").is_ok_and(|v| !v.is_empty() && v != "0");

    let settings: Settings = match cap {
        Some(cap) => {
            let saved = ctx.update_settings(|s| s.extra_usage.chosen_cap = Some(cap))?;
            println!("Recorded your monthly cap: {cap}.");
            saved
        }
        None => ctx.settings()?,
    };
    let chosen = settings.extra_usage.chosen_cap;

    let mut ledger = ctx.open_ledger()?;
    let refresher = ctx.refresher(&settings)?;
    let started = now_ms();
    let first = refresher
        .refresh_blocking(&mut ledger, started, Mode::Force)
        .map_err(|e| Failure::new(1, e.to_string()))?;
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
    if no_browser {
        println!("Open {url} and {what}.");
    } else {
        match opener::open_browser(url) {
            Ok(()) => println!("Opened {url} in your browser: {what} there."),
            Err(e) => {
                tracing::debug!("cannot open a browser: {e}");
                println!("Could not open a browser; open {url} and {what}.");
            }
        }
    }
    if !extra_usage::can_report(&first) {
        return Err(Failure::new(
            1,
            "Headroom cannot see your account to confirm the change: sign in with `claude` (Claude Code), or paste a claude.ai session key with `headroom claude-ai login`, then run `headroom extra-usage` to check",
        ));
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
        headroom_core::alerts::text::duration(
            i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX)
        )
    );
    let deadline = std::time::Instant::now() + timeout;
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
        let snap = refresher
            .refresh_blocking(&mut ledger, now_ms(), Mode::Force)
            .map_err(|e| Failure::new(1, e.to_string()))?;
        for e in &snap.errors {
            if !shown_errors.contains(e) {
                eprintln!("note: {e}");
                shown_errors.push(e.clone());
            }
        }
        if let Some(eu) = extra_usage::enabled_since(&snap, started) {
            println!("Extra Usage is on: {}", describe(eu, snap.taken_at_ms));
            if let Some(m) = extra_usage::cap_mismatch(chosen, eu) {
                println!("warning: {m}");
            }
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(Failure::new(
                1,
                format!(
                    "the account still reports Extra Usage off after {}; once you have turned it on at {url}, run `headroom extra-usage` to check",
                    headroom_core::alerts::text::duration(
                        i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX)
                    )
                ),
            ));
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
