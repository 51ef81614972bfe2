//! `headroom extra-usage`: Extra Usage's real state; `enable`, `cap` and `disable`, which
//! change it on the account directly (`account::overage`: confirmed, verified, recorded);
//! `history`, the record of those changes; and `enable --browser`, the older flow that opens
//! claude.ai's settings page and watches the account until it reports Extra Usage on.
//!
//! The flow is the core's (`account::overage`: a plan from a fresh reading, the answer checked
//! against it, the write after a second reading, the outcome settled by a third); this file
//! shows the question and returns the answer. A write needs a person's confirmation: on a
//! terminal a prompt (typing the amount again for a cap over 1,000 or no cap). Without a
//! terminal, `--yes` works only within the maximum cap the user allowed scripts from a
//! terminal (`allow-scripts`), never for "no cap"; the refusal never spells out a bypass.
//! Inside Claude Code's shell (`CLAUDECODE` set) nothing is written. Exit codes: 0 done and
//! verified, 1 refused or failed (nothing changed), 2 bad input, 3 the change may or may not
//! have been made.
//!
//! `browser.rs` has the browser flow (`enable --browser`, `cap --browser`, `disable --browser`).

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use clap::{Args, Subcommand};
use headroom_core::account::extra_usage;
use headroom_core::account::overage::{
    self, CapChoice, Change, ConfirmedBy, Plan, WriteError, WriteErrorKind,
};
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
    /// Set the monthly cap of Extra Usage that is on (`cap 75`, or `cap --no-cap`); while it is
    /// off this is refused (use `enable --cap`).
    #[command(after_help = EXIT_CODES)]
    Cap(CapArgs),
    /// Turn Extra Usage off, after you confirm.
    #[command(after_help = EXIT_CODES)]
    Disable(DisableArgs),
    /// Allow scripts (no terminal, `--yes`) to set caps up to an amount; only from a terminal.
    AllowScripts(AllowScriptsArgs),
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

const EXIT_CODES: &str = "Exit codes: 0 done and confirmed by the account; 1 not confirmed, refused or failed, nothing changed (the reason is printed, with the browser flow); 2 bad input (a cap like \"-5\", \"abc\", \"12,50\", \"1e9\" or \"0.001\"); 3 the change may or may not have been made (check the account before trying again).\n\nThe endpoint is Anthropic's undocumented OAuth account API (the one Claude Code's /usage-credits uses); if it changes, Headroom says so and the browser flow (--browser, https://claude.ai/settings/usage) still works. Only `PUT overage_spend_limit` and, the first time, `POST setup_overage_billing` are ever written; prepaid credits are never bought.";

/// How a write is confirmed without a prompt.
#[derive(Debug, Args)]
pub(crate) struct ConfirmArgs {
    /// Confirm without a prompt. Without a terminal, only within the maximum cap allowed to
    /// scripts (`allow-scripts`), and never for no cap.
    #[arg(long)]
    pub yes: bool,
    /// The amount again, for a cap over 1,000 (`--confirm-amount 1500`); checked whenever
    /// given.
    #[arg(long, value_name = "AMOUNT", allow_hyphen_values = true)]
    pub confirm_amount: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EnableArgs {
    /// The monthly cap, in your account's currency (e.g. 50 or 12.50: a dot for cents); without
    /// it, on a terminal, the cap chosen before in Headroom.
    #[arg(long, value_name = "DOLLARS", allow_hyphen_values = true)]
    pub cap: Option<String>,
    /// No monthly cap at all (on a terminal only, typing "no cap" to confirm).
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
    /// The monthly cap, in your account's currency (e.g. 75 or 12.50: a dot for cents).
    #[arg(
        value_name = "DOLLARS",
        allow_hyphen_values = true,
        required_unless_present = "no_cap"
    )]
    pub cap: Option<String>,
    /// No monthly cap at all (on a terminal only, typing "no cap" to confirm).
    #[arg(long, conflicts_with = "cap")]
    pub no_cap: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
    /// Open claude.ai's usage settings instead (nothing is written by Headroom).
    #[arg(long)]
    pub browser: bool,
}

#[derive(Debug, Args)]
pub(crate) struct AllowScriptsArgs {
    /// The largest cap a script may set (e.g. 50), in your account's currency.
    #[arg(
        long,
        value_name = "AMOUNT",
        allow_hyphen_values = true,
        conflicts_with = "off"
    )]
    pub max_cap: Option<String>,
    /// Scripts may not change Extra Usage at all (the default).
    #[arg(long)]
    pub off: bool,
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
                // With --yes the amount must be on the command line a script's author wrote,
                // never one remembered in the settings (audit N13).
                (None, false) if e.confirm.yes => {
                    return Err(Failure::new(
                        2,
                        "with --yes, name the cap: `headroom extra-usage enable --cap 50 --yes`",
                    ))
                }
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
        Some(ExtraUsageAction::AllowScripts(a)) => allow_scripts(ctx, a),
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

/// The core's refusal or failure as the CLI says it: its sentence, with the CLI's own advice
/// where the core leaves the remedy to the front end.
fn refusal(e: &WriteError, change: Change) -> Failure {
    let mut message = e.reason.clone();
    if e.kind == WriteErrorKind::IsOff {
        let cap = change
            .cap()
            .map(CapChoice::canonical)
            .map_or_else(|| "50".to_owned(), |c| c.replace("no cap", "50"));
        message = format!(
            "Extra Usage is off; `headroom extra-usage enable --cap {cap}` turns it on (changing the cap never does)"
        );
    }
    Failure::new(if e.may_have_changed { 3 } else { 1 }, message)
}

/// `enable`, `cap`, `disable`: the core's plan, the person's answer, the write, the outcome.
fn write(ctx: &Context, change: Change, confirm: &ConfirmArgs) -> Result<(), Failure> {
    let agent = std::env::var_os(overage::AGENT_SHELL_VARIABLE);
    overage::refuse_in_agent_shell(agent.as_deref()).map_err(|e| Failure::new(1, e.reason))?;
    let terminal = std::io::stdin().is_terminal();
    if !terminal && !confirm.yes {
        // No bypass is spelled out (audit N4): whoever reads this without a terminal may be a
        // script or an agent, and the answer must not teach it how to spend money.
        return Err(Failure::new(
            1,
            "nothing was changed: there is no terminal to ask on. Run it in a terminal, or use Headroom's settings pane",
        ));
    }
    let settings = ctx.settings()?;
    let by = if terminal {
        ConfirmedBy::Terminal
    } else {
        ConfirmedBy::Script {
            allowed_up_to: settings.extra_usage.scripts_max_cap,
        }
    };
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
    // One more question when the account changed between the question and the write: the
    // person then answers the new one (a script does not get a second go).
    for attempt in 0..2 {
        let plan =
            overage::plan_blocking(&refresher, &mut ledger, change, now_ms).map_err(|e| {
                if e.offer_browser {
                    println!("{}", browser_offer());
                }
                refusal(&e, change)
            })?;
        let Some(typed) = answer(&plan, confirm, terminal)? else {
            return Err(Failure::new(1, "nothing was changed"));
        };
        let confirmed = plan
            .confirm(by, typed.as_deref(), now_ms())
            .map_err(|e| refusal(&e, change))?;
        // A busy ledger refuses before anything is sent, so trying again cannot write twice.
        let applied = patiently(|| {
            Ok(overage::execute_blocking(
                &refresher,
                &mut ledger,
                confirmed.clone(),
                now_ms,
            )?)
        })?;
        match &applied.result {
            Err(e) if e.kind == WriteErrorKind::Changed && terminal && attempt == 0 => {
                println!("{}.", e.reason);
                continue;
            }
            result => return report(ctx, change, result),
        }
    }
    Err(Failure::new(
        1,
        "your account kept changing while Headroom asked; nothing was changed",
    ))
}

/// What the account says now, as the CLI prints it; the chosen cap recorded when verified.
fn report(
    ctx: &Context,
    change: Change,
    result: &Result<overage::Verified, WriteError>,
) -> Result<(), Failure> {
    match result {
        Ok(v) => {
            if let Some(lost) = &v.answer_lost {
                println!("{lost}; your account, read again, says:");
            }
            println!("{}", v.summary);
            if let (
                true,
                Change::Enable(CapChoice::Cap(cap)) | Change::SetCap(CapChoice::Cap(cap)),
            ) = (v.matches, change)
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
            if e.offer_browser && !e.may_have_changed {
                println!("{}", browser_offer());
            }
            Err(refusal(e, change))
        }
    }
}

/// The person's answer to `plan`'s question: `Ok(None)` when they said no; `Ok(Some(typed))`
/// with the amount typed again (or `--confirm-amount`), which the core checks.
fn answer(
    plan: &Plan,
    flags: &ConfirmArgs,
    terminal: bool,
) -> Result<Option<Option<String>>, Failure> {
    println!("{}", plan.question);
    if flags.yes || flags.confirm_amount.is_some() && !terminal {
        return Ok(Some(flags.confirm_amount.clone()));
    }
    let stdin = std::io::stdin();
    let mut line = String::new();
    let mut ask = |prompt: &str| -> Result<String, Failure> {
        print!("{prompt}: ");
        let _ = std::io::stdout().flush();
        line.clear();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::new(1, e.to_string()))?;
        Ok(line.trim().to_owned())
    };
    match (&plan.retype_hint, &flags.confirm_amount) {
        (Some(hint), None) => {
            let typed = ask(&capitalize(hint))?;
            Ok(Some(Some(typed)))
        }
        (_, given) => {
            let yes = ask("Type yes to confirm")?.to_ascii_lowercase();
            Ok((yes == "yes" || yes == "y").then(|| given.clone()))
        }
    }
}

/// `headroom extra-usage allow-scripts --max-cap 50 | --off`: only where a person is.
fn allow_scripts(ctx: &Context, args: &AllowScriptsArgs) -> Result<(), Failure> {
    let agent = std::env::var_os(overage::AGENT_SHELL_VARIABLE);
    overage::refuse_in_agent_shell(agent.as_deref()).map_err(|e| Failure::new(1, e.reason))?;
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            1,
            "nothing was changed: what scripts may spend is set only from a terminal or Headroom's settings pane",
        ));
    }
    let max = match (&args.max_cap, args.off) {
        (_, true) => None,
        (Some(text), false) => Some(parse_cap(text)?),
        (None, false) => {
            return Err(Failure::new(
                2,
                "give the largest cap scripts may set (`--max-cap 50`), or `--off`",
            ))
        }
    };
    ctx.update_settings(|s| s.extra_usage.scripts_max_cap = max)?;
    match max {
        Some(cap) => println!(
            "Scripts may now set Extra Usage caps up to {} (never no cap).",
            cap.plain()
        ),
        None => println!("Scripts may not change Extra Usage."),
    }
    Ok(())
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
    // A write left pending by a process that stopped (Ctrl-C, a crash) is not in progress.
    if let Err(e) = overage::settle_interrupted(&ledger, now_ms()) {
        eprintln!("note: cannot update the history: {e}");
    }
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
        ("Organization", Align::Left),
        ("Outcome", Align::Left),
        ("Account said after", Align::Left),
        ("Error", Align::Left),
    ]);
    for e in &entries {
        table.row(vec![
            headroom_core::text::clock(e.at_ms, now, zone),
            e.asked.clone(),
            e.organization.clone().unwrap_or_default(),
            e.outcome.words().to_owned(),
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
    // The account read now, outside the poll cadence (inside the 429 cool-down), so that
    // right after a change this never shows a reading from before it as current (audit N2).
    let mut direct_problem = None;
    let refresher = ctx.refresher(&settings)?;
    // One request to the account, not two: after the direct reading (answered or not), the
    // snapshot is built from the ledger without another poll.
    let mut mode = Mode::Auto;
    let mut read_now = false;
    if overage::availability(refresher.config(), now_ms()).is_ok() {
        mode = Mode::Never;
        match overage::read_blocking(&refresher, &mut ledger, now_ms) {
            Ok(_) => read_now = true,
            Err(e) => direct_problem = Some(e.reason),
        }
    }
    let snap = ctx.snapshot(&mut ledger, &settings, now_ms(), mode)?;
    let now = now_ms();
    // A reading settles the history itself (interrupted writes included); without one, the
    // interrupted writes are marked here.
    if !read_now {
        if let Err(e) = overage::settle_interrupted(&ledger, now) {
            eprintln!("note: cannot update the history: {e}");
        }
    }
    // A change whose outcome is not known, made after the reading shown: the reading is from
    // before it, so it is not the account's state, and no advice may build on it.
    let unsettled = overage::unsettled_since(&ledger, now - overage::STALE_PENDING_MS * 12)?
        .filter(|at| {
            snap.extra_usage
                .as_ref()
                .is_none_or(|eu| eu.enabled.is_none() || eu.observed_at_ms <= *at)
        });
    let chosen = settings.extra_usage.chosen_cap;
    let mismatch = snap
        .extra_usage
        .as_ref()
        .and_then(|eu| extra_usage::cap_mismatch(chosen, eu));
    let trap = extra_usage::trap(&snap, &settings.alerts).filter(|_| unsettled.is_none());
    if json {
        let value = serde_json::json!({
            "schema_version": headroom_core::account::status_json::SCHEMA_VERSION,
            "extra_usage": StatusJson::from_snapshot(&snap).extra_usage,
            "chosen_cap": chosen.map(Cap::dollars),
            "cap_mismatch": mismatch,
            "trap": trap,
            "settings_url": extra_usage::SETTINGS_URL,
            "unsettled_change_at_ms": unsettled,
            "read_now_problem": direct_problem,
            "errors": snap.errors,
        });
        let text =
            serde_json::to_string_pretty(&value).map_err(|e| Failure::new(1, e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    match (&snap.extra_usage, unsettled) {
        (_, Some(at)) => println!(
            "Extra Usage: not known: your change at {} may or may not have been made, and the account has not been read since; check {}",
            headroom_core::text::clock(at, now, settings.zone()),
            extra_usage::SETTINGS_URL
        ),
        (Some(eu), None) => println!("Extra Usage: {}", describe(eu, now)),
        (None, None) => println!(
            "Extra Usage: unknown (no account source has reported it; sign in with `claude`, or `headroom claude-ai login`)"
        ),
    }
    if let Some(p) = &direct_problem {
        println!("note: the account could not be read just now: {p}");
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
