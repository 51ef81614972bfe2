//! `headroom extra-usage`: Extra Usage's real state; `enable`, `cap` and `disable`, which
//! change it on the account directly (`account::overage`: confirmed, verified, recorded);
//! `history`, the record of those changes; and `enable --browser`, the older flow that opens
//! claude.ai's settings page and watches the account until it reports Extra Usage on.
//!
//! A write needs the user's confirmation: on a terminal a prompt (typing the amount again for
//! a cap over $1,000 or no cap); in scripts `--yes` (and `--confirm-amount`). Without a
//! terminal and without `--yes` nothing is written: the command says how to confirm and
//! exits at once. Exit codes: 0 done and verified, 1 refused or failed (the reason and the
//! browser flow are printed), 2 bad input.
//!
//! `browser.rs` has the browser flow (`enable --browser`, `cap --browser`, `disable --browser`).

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use clap::{Args, Subcommand};
use headroom_core::account::extra_usage;
use headroom_core::account::overage::{self, CapChoice, Change, Confirmation};
use headroom_core::account::status_json::StatusJson;
use headroom_core::account::Mode;
use headroom_core::ledger::Ledger;
use headroom_core::settings::Cap;
use headroom_core::snapshot::ExtraUsage;

use crate::context::now_ms;
use crate::context::{Context, Failure};
use crate::table::{Align, Style, Table};

mod browser;
use browser::{browser_only, enable};

/// How long a write command waits for a ledger another process keeps busy (a long ingest)
/// before giving up: a few tries, like `watch`'s round, but bounded (a person is waiting).
const LEDGER_TRIES: u32 = 4;
const LEDGER_RETRY: Duration = Duration::from_secs(2);

#[derive(Debug, Args)]
pub(crate) struct ExtraUsageArgs {
    #[command(subcommand)]
    pub action: Option<ExtraUsageAction>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ExtraUsageAction {
    /// Whether Extra Usage is on, its cap, this month's spend and the prepaid balance.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Turn Extra Usage on with a monthly cap, on your account, after you confirm; then
    /// read the account back and say what it reports. `--browser`: open claude.ai's settings
    /// instead and wait until the account reports it on.
    #[command(after_help = EXIT_CODES)]
    Enable(EnableArgs),
    /// Set Extra Usage's monthly cap (`cap 75`, or `cap --no-cap`); Extra Usage is on after.
    #[command(after_help = EXIT_CODES)]
    Cap(CapArgs),
    /// Turn Extra Usage off, after you confirm.
    #[command(after_help = EXIT_CODES)]
    Disable(DisableArgs),
    /// Every change Headroom made or tried: when, what was asked, what the account said
    /// after, the error.
    History {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// How many to list, newest first.
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: usize,
    },
}

const EXIT_CODES: &str = "Exit codes: 0 done and confirmed by the account; 1 not confirmed, refused or failed (the reason is printed, with the browser flow); 2 bad input (a cap like \"-5\", \"abc\", \"1e9\" or \"0.001\").\n\nThe endpoint is Anthropic's undocumented OAuth account API (the one Claude Code's /usage-credits uses); if it changes, Headroom says so and the browser flow (--browser, https://claude.ai/settings/usage) still works. Only `PUT overage_spend_limit` and, the first time, `POST setup_overage_billing` are ever written; prepaid credits are never bought.";

/// How a write is confirmed without a prompt.
#[derive(Debug, Args)]
pub(crate) struct ConfirmArgs {
    /// Confirm without a prompt (for scripts). Never the default.
    #[arg(long)]
    pub yes: bool,
    /// The amount again, for a cap over $1,000 (`--confirm-amount 1500`) or no cap
    /// (`--confirm-amount "no cap"`).
    #[arg(long, value_name = "AMOUNT", allow_hyphen_values = true)]
    pub confirm_amount: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EnableArgs {
    /// The monthly cap, in dollars (e.g. 50 or 12.50); without it, the cap chosen before in
    /// Headroom.
    #[arg(long, value_name = "DOLLARS", allow_hyphen_values = true)]
    pub cap: Option<String>,
    /// No monthly cap at all (needs the amount confirmed: `--confirm-amount "no cap"`).
    #[arg(long, conflicts_with = "cap")]
    pub no_cap: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
    /// The older way: open claude.ai's usage settings and wait until the account reports
    /// Extra Usage on (nothing is written by Headroom).
    #[arg(long)]
    pub browser: bool,
    /// The browser flow, printing the address instead of opening a browser (also
    /// `HEADROOM_NO_BROWSER=1` with `--browser`).
    #[arg(long)]
    pub no_browser: bool,
    /// With `--browser`: give up waiting after this long: `10m`, `1h`, `90s`.
    #[arg(long, value_name = "DURATION", default_value = "15m")]
    pub timeout: String,
}

#[derive(Debug, Args)]
pub(crate) struct CapArgs {
    /// The monthly cap, in dollars (e.g. 75 or 12.50).
    #[arg(
        value_name = "DOLLARS",
        allow_hyphen_values = true,
        required_unless_present = "no_cap"
    )]
    pub cap: Option<String>,
    /// No monthly cap at all (needs `--confirm-amount "no cap"` without a prompt).
    #[arg(long, conflicts_with = "cap")]
    pub no_cap: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
    /// Open claude.ai's usage settings instead (nothing is written by Headroom).
    #[arg(long)]
    pub browser: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DisableArgs {
    #[command(flatten)]
    pub confirm: ConfirmArgs,
    /// Open claude.ai's usage settings instead (nothing is written by Headroom).
    #[arg(long)]
    pub browser: bool,
}

pub(crate) fn run(ctx: &Context, args: &ExtraUsageArgs) -> Result<(), Failure> {
    match &args.action {
        None => status(ctx, false),
        Some(ExtraUsageAction::Status { json }) => status(ctx, *json),
        // `--no-browser` only means something in the browser flow: it asks for it.
        Some(ExtraUsageAction::Enable(e)) if e.browser || e.no_browser => enable(ctx, e),
        Some(ExtraUsageAction::Enable(e)) => {
            let cap = match (&e.cap, e.no_cap) {
                (_, true) => CapChoice::NoCap,
                (Some(text), false) => CapChoice::Cap(parse_cap(text)?),
                (None, false) => match ctx.settings()?.extra_usage.chosen_cap {
                    Some(cap) => CapChoice::Cap(cap),
                    None => {
                        return Err(Failure::new(
                            2,
                            "choose the monthly cap: `headroom extra-usage enable --cap 50` (or --no-cap)",
                        ))
                    }
                },
            };
            write(ctx, Change::Enable(cap), &e.confirm)
        }
        Some(ExtraUsageAction::Cap(c)) => {
            let cap = match (&c.cap, c.no_cap) {
                (_, true) => CapChoice::NoCap,
                (Some(text), false) => CapChoice::Cap(parse_cap(text)?),
                (None, false) => {
                    return Err(Failure::new(
                        2,
                        "give the cap: `headroom extra-usage cap 75` (or --no-cap)",
                    ))
                }
            };
            if c.browser {
                return browser_only(Change::SetCap(cap));
            }
            write(ctx, Change::SetCap(cap), &c.confirm)
        }
        Some(ExtraUsageAction::Disable(d)) if d.browser => browser_only(Change::Disable),
        Some(ExtraUsageAction::Disable(d)) => write(ctx, Change::Disable, &d.confirm),
        Some(ExtraUsageAction::History { json, limit }) => history(ctx, *json, *limit),
    }
}

fn parse_cap(text: &str) -> Result<Cap, Failure> {
    Cap::parse(text).map_err(|e| Failure::new(2, format!("invalid cap {text:?}: {e}")))
}

/// Runs `step` again, a few times, while it fails on a ledger another process keeps busy.
fn patiently<T>(mut step: impl FnMut() -> Result<T, Failure>) -> Result<T, Failure> {
    let mut tries = 0;
    loop {
        match step() {
            Err(f) if f.busy && tries + 1 < LEDGER_TRIES => {
                tries += 1;
                eprintln!(
                    "note: {}; trying again in {} s",
                    f.message,
                    LEDGER_RETRY.as_secs()
                );
                std::thread::sleep(LEDGER_RETRY);
            }
            other => return other,
        }
    }
}

/// Opens the ledger, trying again for a few seconds while another process keeps it busy
/// (a long ingest, the tray's refresh): a person is waiting, so briefly, then the usual
/// "try again" message.
fn open_ledger_patiently(ctx: &Context) -> Result<Ledger, Failure> {
    patiently(|| Ok(Ledger::open(&ctx.state.ledger())?))
}

/// The browser flow's words, after a failure or for `--browser`.
fn browser_offer() -> String {
    format!(
        "You can still do it in your browser: {} (or `headroom extra-usage enable --browser`, which waits until your account reports it on).",
        extra_usage::SETTINGS_URL
    )
}

/// `enable`, `cap`, `disable`: confirm, write, verify, report.
fn write(ctx: &Context, change: Change, confirm: &ConfirmArgs) -> Result<(), Failure> {
    let settings = ctx.settings()?;
    let refresher = ctx.refresher(&settings)?;
    let config = refresher.config().clone();
    if let Err(e) = overage::availability(&config, now_ms()) {
        println!("{}", browser_offer());
        return Err(Failure::new(
            1,
            format!("Headroom cannot change Extra Usage itself: {}", e.reason),
        ));
    }
    let mut ledger = open_ledger_patiently(ctx)?;
    // What the account said last decides the question's words and whether the allowance
    // must be set up first: a routine poll when one is due, else the ledger's reading.
    let snapshot =
        patiently(|| Ok(refresher.refresh_blocking(&mut ledger, now_ms(), Mode::Auto)?))?;
    let current = snapshot.extra_usage.clone();
    let question = overage::confirmation(&change, current.as_ref());
    if !confirmed(&question, confirm)? {
        return Err(Failure::new(1, "nothing was changed"));
    }
    // A busy ledger refuses before anything is sent, so trying again cannot write twice.
    let applied = patiently(|| {
        Ok(overage::apply_blocking(
            &refresher,
            &mut ledger,
            &change,
            current.as_ref(),
            now_ms,
        )?)
    })?;
    match &applied.result {
        Ok(v) => {
            println!("{}", v.summary);
            if let Change::Enable(CapChoice::Cap(cap)) | Change::SetCap(CapChoice::Cap(cap)) =
                change
            {
                // The cap asked for is the one the mismatch warning compares with from now on.
                if let Err(f) = ctx.update_settings(|s| s.extra_usage.chosen_cap = Some(cap)) {
                    eprintln!(
                        "warning: cannot record the chosen cap in the settings: {}",
                        f.message
                    );
                }
            }
            match &v.difference {
                None => Ok(()),
                Some(d) => {
                    println!("{}", browser_offer());
                    Err(Failure::new(
                        1,
                        format!("the account does not say what was asked: {d}"),
                    ))
                }
            }
        }
        Err(e) => {
            if e.may_have_changed {
                println!("Your account may have changed: check with `headroom extra-usage`.");
            }
            if e.offer_browser {
                println!("{}", browser_offer());
            }
            Err(Failure::new(1, e.reason.clone()))
        }
    }
}

/// Asks, or reads the flags. `Ok(false)`: the user said no (or could not be asked).
fn confirmed(question: &Confirmation, flags: &ConfirmArgs) -> Result<bool, Failure> {
    println!("{}", question.text);
    let terminal = std::io::stdin().is_terminal();
    if let Some(typed) = &flags.confirm_amount {
        if question.retype.is_some() && !overage::amount_confirmed(question, typed) {
            return Err(Failure::new(
                2,
                format!(
                    "--confirm-amount {typed:?} does not repeat the amount ({}); nothing was changed",
                    question.retype_hint.as_deref().unwrap_or("")
                ),
            ));
        }
    }
    let amount_given = question.retype.is_none() || flags.confirm_amount.is_some();
    if flags.yes && amount_given {
        return Ok(true);
    }
    if !terminal {
        let how = match (&question.retype, flags.yes) {
            (Some(c), _) => format!("--yes --confirm-amount {:?}", retype_text(*c)),
            (None, _) => "--yes".to_owned(),
        };
        println!("Nothing was changed: no terminal to ask on. To confirm, run the command again with {how}.");
        return Ok(false);
    }
    let stdin = std::io::stdin();
    let mut line = String::new();
    match &question.retype {
        Some(_) => {
            print!(
                "{}: ",
                capitalize(
                    question
                        .retype_hint
                        .as_deref()
                        .unwrap_or("type the amount to confirm")
                )
            );
            let _ = std::io::stdout().flush();
            stdin
                .lock()
                .read_line(&mut line)
                .map_err(|e| Failure::new(1, e.to_string()))?;
            if overage::amount_confirmed(question, &line) {
                return Ok(true);
            }
            println!("That is not the amount; nothing was changed.");
            Ok(false)
        }
        None => {
            print!("Type yes to confirm: ");
            let _ = std::io::stdout().flush();
            stdin
                .lock()
                .read_line(&mut line)
                .map_err(|e| Failure::new(1, e.to_string()))?;
            let answer = line.trim().to_ascii_lowercase();
            Ok(answer == "yes" || answer == "y")
        }
    }
}

fn retype_text(c: CapChoice) -> String {
    match c {
        CapChoice::Cap(cap) => cap.plain(),
        CapChoice::NoCap => "no cap".to_owned(),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `headroom extra-usage history`.
fn history(ctx: &Context, json: bool, limit: usize) -> Result<(), Failure> {
    let settings = ctx.settings()?;
    let ledger = open_ledger_patiently(ctx)?;
    let entries = overage::history(&ledger, limit)?;
    if json {
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "schema_version": headroom_core::account::status_json::SCHEMA_VERSION,
            "writes": entries,
        }))
        .map_err(|e| Failure::new(1, e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    if entries.is_empty() {
        println!("Headroom has not changed Extra Usage yet.");
        return Ok(());
    }
    let now = now_ms();
    let zone = settings.zone();
    let style = Style::detect(false);
    let mut table = Table::new(&[
        ("When", Align::Left),
        ("Asked", Align::Left),
        ("Outcome", Align::Left),
        ("Account said after", Align::Left),
        ("Error", Align::Left),
    ]);
    for e in &entries {
        table.row(vec![
            headroom_core::text::clock(e.at_ms, now, zone),
            e.asked.clone(),
            e.outcome.clone(),
            e.account_after.clone().unwrap_or_default(),
            e.error.clone().unwrap_or_default(),
        ]);
    }
    print!("{}", table.render(&style));
    Ok(())
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
    let trap = extra_usage::trap(&snap, &settings.alerts);
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
        format!("{} ago", headroom_core::text::duration(age.max(0)))
    };
    format!(
        "{}   [{}, {when}]",
        extra_usage::describe(eu),
        eu.source.label()
    )
}
