//! `headroom statusline`: Claude Code's `statusLine` command. Claude Code pipes a JSON payload
//! to it on every render; Headroom records the account windows it carries (source
//! `statusline`) and prints one short line back.
//!
//! It must never break Claude Code's status bar, so this path:
//! - always exits 0 and never sends a request; empty, garbage or partial input prints the
//!   line from what the ledger already holds, without colour (or nothing at all when even
//!   the ledger cannot be read);
//! - is cheap: it opens the ledger, writes one small transaction, and reads the newest
//!   samples and today's quarter-hour totals. It does not ingest transcripts (the tray,
//!   `watch` or `status` do) nor compute blocks, so it costs the same with years of history;
//! - never waits more than [`LEDGER_WAIT`] for another process's lock: while an ingest
//!   writes, the reading is dropped (a warning says so; the next render carries the same
//!   figures and records them) and the line is printed from what the ledger holds (WAL
//!   readers do not wait for writers).
//!
//! Colour: Claude Code renders ANSI colours in its status bar although our stdout is a pipe,
//! so colour is on unless `NO_COLOR` is set, `TERM=dumb`, or `--no-color` is given.
//!
//! `--install` / `--uninstall` edit Claude Code's `settings.json` through the core's
//! `statusline::install` / `uninstall`.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use headroom_core::account;
use headroom_core::account::statusline::{self, Colors, Installed, LineFacts, Uninstalled};
use headroom_core::ledger::{Ledger, LedgerError};
use headroom_core::report::{CostMode, Zone};
use headroom_core::snapshot::{Source, Window, WindowKind};

use crate::context::{Context, Failure};

/// Claude Code's payloads are a few kilobytes; anything past this is not one.
const MAX_INPUT: u64 = 1 << 20;
const SAVED_PREVIOUS: &str = "statusline-previous.json";
/// Claude Code waits for the line on every render: a busy ledger costs at most this.
const LEDGER_WAIT: Duration = Duration::from_millis(50);

#[derive(Debug, Args)]
pub(crate) struct StatuslineArgs {
    /// Add `headroom statusline` as the statusLine command in Claude Code's settings.json.
    #[arg(long, conflicts_with = "uninstall")]
    pub install: bool,
    /// With --install: replace a different existing statusLine (it is kept, and comes back
    /// with --uninstall).
    #[arg(long, requires = "install")]
    pub force: bool,
    /// Remove Headroom's statusLine (putting back one that --force replaced).
    #[arg(long)]
    pub uninstall: bool,
    /// No ANSI colours in the line.
    #[arg(long)]
    pub no_color: bool,
}

/// The render path. Never fails: whatever goes wrong, the status bar gets a line or nothing.
pub(crate) fn render(ctx: Result<Context, Failure>, args: &StatuslineArgs) {
    let mut input = Vec::new();
    // A read error is treated like empty input: the line comes from the ledger.
    let _ = std::io::stdin().take(MAX_INPUT).read_to_end(&mut input);
    let now = chrono::Utc::now().timestamp_millis();
    let payload = statusline::parse(&input);
    let colors = Colors(
        payload.is_ok()
            && !args.no_color
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::env::var("TERM").map_or(true, |t| t != "dumb"),
    );
    let payload = match payload {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!("statusline: {e}");
            Default::default()
        }
    };
    let windows = payload.windows(now);
    let facts = match ctx {
        Ok(ctx) => match facts_from_ledger(&ctx, &windows, now) {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!("statusline: {e}");
                from_payload(&windows)
            }
        },
        Err(f) => {
            tracing::debug!("statusline: {}", f.message);
            from_payload(&windows)
        }
    };
    let line = statusline::format_line(&facts, now, colors);
    if !line.is_empty() {
        println!("{line}");
    }
}

fn from_payload(windows: &[Window]) -> LineFacts {
    LineFacts {
        session: windows
            .iter()
            .find(|w| w.kind == WindowKind::Session)
            .cloned(),
        weekly: windows
            .iter()
            .find(|w| w.kind == WindowKind::Weekly)
            .cloned(),
        ..LineFacts::default()
    }
}

fn facts_from_ledger(
    ctx: &Context,
    windows: &[Window],
    now: i64,
) -> Result<LineFacts, LedgerError> {
    let dropped = |e: &LedgerError| {
        if !windows.is_empty() {
            tracing::warn!("statusline: {e}; this reading was not recorded (the next render's is)");
        }
    };
    let ledger = Ledger::open_waiting(&ctx.state.ledger(), LEDGER_WAIT).inspect_err(dropped)?;
    if !windows.is_empty() {
        match account::record(&ledger, Source::Statusline, windows, None, now) {
            Ok(_) => {}
            Err(e @ LedgerError::Locked { .. }) => dropped(&e),
            Err(e) => return Err(e),
        }
    }
    let mut facts = from_payload(windows);
    if facts.session.is_none() || facts.weekly.is_none() {
        // Before a session's first response the payload has no rate_limits: show the newest
        // figures any source left in the ledger, unless their window has reset since.
        let mut newest: Vec<Window> = account::newest_all(&ledger)?
            .into_iter()
            .flat_map(|s| s.windows)
            .filter(|w| w.resets_at_ms.is_none_or(|at| at > now))
            .collect();
        newest.sort_by_key(|w| std::cmp::Reverse(w.observed_at_ms));
        let pick = |kind: WindowKind| newest.iter().find(|w| w.kind == kind).cloned();
        facts.session = facts.session.or_else(|| pick(WindowKind::Session));
        facts.weekly = facts.weekly.or_else(|| pick(WindowKind::Weekly));
    }
    facts.extra_usage = account::newest_extra_usage(&ledger)?;
    // Today in the machine's zone (TZ); reading settings for a configured zone would cost
    // a file read on every render for a rarely set option.
    let zone = Zone::Local;
    let midnight = zone.start_of(zone.date_of(now));
    let cost: f64 = ledger
        .buckets(midnight, now + 1)?
        .iter()
        .map(|b| CostMode::Auto.pick(&b.sums))
        .sum();
    facts.today_cost_usd = Some(cost);
    facts.today_cost_partial = !ledger.unpriced(midnight, now + 1)?.is_empty();
    Ok(facts)
}

fn settings_path(ctx: &Context) -> Result<PathBuf, Failure> {
    ctx.env
        .claude_settings_dir()
        .map(|d| d.join("settings.json"))
        .ok_or_else(|| {
            Failure::new(
                2,
                "cannot find Claude Code's folder: set CLAUDE_CONFIG_DIR or HOME",
            )
        })
}

/// The command Claude Code will run: this binary, quoted for the shell when needed.
fn our_command() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned))
        .unwrap_or_else(|| "headroom".to_owned());
    statusline::command_for(&exe)
}

fn backup_note(backup: &Option<PathBuf>) -> String {
    match backup {
        Some(b) => format!(
            " (the previous file is kept as {}; the last {} such copies are kept)",
            b.display(),
            statusline::BACKUPS_KEPT
        ),
        None => String::new(),
    }
}

pub(crate) fn install(ctx: &Context, args: &StatuslineArgs) -> Result<(), Failure> {
    let path = settings_path(ctx)?;
    let saved = ctx.state.dir.join(SAVED_PREVIOUS);
    let now = chrono::Utc::now().timestamp_millis();
    let result = if args.uninstall {
        statusline::uninstall(&path, &saved, now).map(|u| match u {
            Uninstalled::Removed => {
                format!("Removed Headroom's status line from {}.", path.display())
            }
            Uninstalled::Restored => format!(
                "Removed Headroom's status line from {} and put back the one it had replaced.",
                path.display()
            ),
            Uninstalled::NotInstalled => {
                format!("{} has no status line; nothing to do.", path.display())
            }
            Uninstalled::NotOurs { existing } => format!(
                "The status line in {} is not Headroom's ({existing}); left it as it is.",
                path.display()
            ),
        })
    } else {
        statusline::install(&path, &our_command(), args.force, &saved, now).map(|i| match i {
            Installed::Added { backup } => format!(
                "Added Headroom's status line to {}{}. Claude Code shows it from its next render.",
                path.display(),
                backup_note(&backup)
            ),
            Installed::AlreadyThere => format!("Headroom's status line is already in {}.", path.display()),
            Installed::Replaced { saved_to, backup } => format!(
                "Replaced the status line in {}{}; the old status line is saved in {} and comes back with `headroom statusline --uninstall`.",
                path.display(),
                backup_note(&backup),
                saved_to.display()
            ),
        })
    };
    match result {
        Ok(message) => {
            println!("{message}");
            Ok(())
        }
        // Occupied says what is there and how to chain it; all are exit 1.
        Err(e) => Err(Failure::new(1, e.to_string())),
    }
}
