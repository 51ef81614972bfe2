//! `headroom watch`: the sources, the alert engine and desktop notifications in the
//! foreground, for people without a tray; and `headroom alerts`: what the engine said.
//!
//! `watch` (and `serve`, with the metrics added) runs the tray's own round: the service's
//! task (`headroom_service::task`) with [`Role::Headless`], so it reads new transcript lines
//! as the file watcher sees them, asks the account as the poll policy allows, evaluates and
//! records the alerts in one ledger transaction (the tray may share the ledger; neither
//! repeats the other's alerts), delivers at most one notification, and retries a ledger
//! another process keeps busy. This front end only prints: the status line when it changes
//! or at each poll interval, each problem when it appears, the alerts as they are delivered.
//! `--once` does one round and exits. Ctrl-C (or SIGTERM) ends the loop after the round in
//! progress and exits 0. No notification server is a warning; the alert is still recorded
//! and printed.

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use headroom_core::account::Mode;
use headroom_core::alerts::store::{self, DeliveryOutcome, HistoryEntry, PrintedBy};
use headroom_core::alerts::{self, Action, Evaluation, Level, EXTRA_USAGE_SETTINGS_URL};
use headroom_core::environment::Edge;
use headroom_core::ledger::Ledger;
use headroom_core::report::Zone;
use headroom_core::settings;
use headroom_core::snapshot::UsageSnapshot;
use headroom_core::text;
use headroom_service::deliver::Notifications;
use headroom_service::task::BUSY_RETRY_MS;
use headroom_service::{Published, Request, Role, ServiceEnv};

use crate::context::{now_ms, Context, Failure};
use crate::table::{Align, Style, Table};

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Evaluate once, deliver what is new, and exit.
    #[arg(long)]
    pub once: bool,
    /// Minutes between account polls (default: `sources.poll_minutes` in settings, 5).
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub interval: Option<u32>,
    /// Print alerts only; send no desktop notification.
    #[arg(long)]
    pub no_notify: bool,
}

#[derive(Debug, Args)]
pub(crate) struct AlertsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// How many alerts to list, newest first.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
    /// Hold notifications back: a duration (`1h`, `30m`, `2h30m`), `reset` (until the
    /// session window resets) or `off`. Alerts are still recorded.
    #[arg(long, value_name = "FOR")]
    pub snooze: Option<String>,
}

/// What wakes the command's main thread.
pub(crate) enum Event {
    Stop,
    /// A round was published (and printed).
    Round,
    Click(Action),
    /// Someone read the metrics (`headroom serve`): read new transcript lines, so the next
    /// scrape has them.
    Scraped,
}

/// How the loop runs: `headroom watch` and `headroom serve` differ only in these and in what
/// they do with each round's figures ([`RoundHook`]).
pub(crate) struct LoopOptions {
    /// The command, for what the loop prints (`watch`, `serve`).
    pub name: &'static str,
    /// Which command prints alerts when notifications are off (the history says so).
    pub printed_by: PrintedBy,
    pub once: bool,
    pub interval: Option<u32>,
    pub notify: bool,
}

/// What a front end does with each round's figures, with the ledger the round used; on the
/// task's thread.
pub(crate) trait RoundHook: Send + Sync + 'static {
    fn after_round(&self, ledger: &Ledger, published: &Published);
}

/// `headroom watch` only prints.
struct PrintOnly;

impl RoundHook for PrintOnly {
    fn after_round(&self, _: &Ledger, _: &Published) {}
}

/// The shortest time between two transcript reads a scrape asks for: a scraper polling every
/// second does not make the loop read the transcripts more often than that.
const SCRAPE_REFRESH_MIN: Duration = Duration::from_secs(1);

pub(crate) fn watch(ctx: &Context, args: &WatchArgs) -> Result<(), Failure> {
    let options = LoopOptions {
        name: "watch",
        printed_by: PrintedBy::WatchWithoutNotify,
        once: args.once,
        interval: args.interval,
        notify: !args.no_notify,
    };
    let (events, inbox) = mpsc::channel::<Event>();
    run_loop(ctx, &options, events, inbox, PrintOnly)
}

/// The service's task with hooks that print: the one loop behind `headroom watch` and
/// `headroom serve`. `events` is the sender the caller may have handed out (to the metrics
/// endpoint); the loop ends on Ctrl-C, after `--once`'s round, or when every sender is gone.
pub(crate) fn run_loop(
    ctx: &Context,
    options: &LoopOptions,
    events: mpsc::Sender<Event>,
    inbox: mpsc::Receiver<Event>,
    hook: impl RoundHook,
) -> Result<(), Failure> {
    // A ledger that cannot be opened at all (damaged, a folder it cannot write) stops the
    // command here with the message every command gives; one another process keeps busy is
    // the task's to retry.
    match ctx.open_ledger() {
        Err(f) if !f.busy => return Err(f),
        _ => {}
    }
    let notifications = if options.notify {
        // Buttons need someone to receive the click: not with --once.
        Notifications::On {
            buttons: !options.once,
        }
    } else {
        Notifications::Off {
            printed_by: options.printed_by,
        }
    };
    let edge = Edge {
        paths: ctx.env.clone(),
        state: ctx.state.clone(),
        account: ctx.account.clone(),
    };
    let role = Role::Headless {
        notifications,
        instead: "alerts are printed and recorded",
    };
    let env = ServiceEnv {
        poll_minutes: options.interval,
        ..ServiceEnv::new(edge, role)
    };
    if !options.once {
        let stop = events.clone();
        ctrlc::set_handler(move || {
            let _ = stop.send(Event::Stop);
        })
        .map_err(|e| Failure::new(1, format!("cannot handle Ctrl-C: {e}")))?;
    }
    let printer = Printer {
        events,
        state: Mutex::new(PrintState::default()),
        hook,
    };
    let handle = headroom_service::start(env, ctx.secrets(), Arc::new(printer));

    let mut last_scrape_read: Option<Instant> = None;
    let ended = loop {
        match inbox.recv() {
            Ok(Event::Round) if options.once => break Ok(()),
            Ok(Event::Round) => {}
            Ok(Event::Click(action)) => {
                if let Err(f) = on_click(ctx, action) {
                    break Err(f);
                }
            }
            Ok(Event::Scraped) => {
                if last_scrape_read.is_none_or(|at| at.elapsed() >= SCRAPE_REFRESH_MIN) {
                    handle.send(Request::Transcripts);
                    last_scrape_read = Some(Instant::now());
                }
            }
            Ok(Event::Stop) | Err(_) => {
                eprintln!("headroom {}: stopped", options.name);
                break Ok(());
            }
        }
    };
    handle.stop();
    ended
}

/// The task's hooks for a terminal.
struct Printer<H> {
    /// To the command's main thread.
    events: mpsc::Sender<Event>,
    state: Mutex<PrintState>,
    hook: H,
}

/// What was printed, so that only what changed is printed again.
#[derive(Default)]
struct PrintState {
    /// The alerts of the round being published, printed under its status line.
    alerts: Vec<String>,
    /// The figures of the last status line printed ([`figures_key`]), and when.
    line: Option<(String, Instant)>,
    /// The problems of the last round: each is printed when it appears.
    problems: Vec<String>,
    /// The last round's busy note, printed when the ledger first turns busy.
    busy: Option<String>,
    /// When the task's last failure that was printed happened: each is printed once.
    failure_at_ms: Option<i64>,
}

impl<H: RoundHook> headroom_service::Hooks for Printer<H> {
    fn published(&self, p: &Arc<Published>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = p.refreshed_at_ms;
        let zone = p.zone();
        for problem in &p.snapshot.errors {
            if !state.problems.contains(problem) {
                eprintln!("warning: {problem}");
            }
        }
        state.problems = p.snapshot.errors.clone();
        if let Some(failure) = &p.failure {
            if state.failure_at_ms != Some(failure.failed_at_ms) {
                eprintln!("warning: the round failed: {}", failure.message);
                state.failure_at_ms = Some(failure.failed_at_ms);
            }
        }
        match &p.busy {
            Some(why) => {
                if state.busy.is_none() {
                    let secs = BUSY_RETRY_MS / 1000;
                    eprintln!("warning: {why}; trying again in {secs} s");
                }
                state.busy = Some(why.clone());
            }
            None => {
                state.busy = None;
                // The status line when it says something new, and at each poll interval.
                let key = figures_key(&p.snapshot);
                let minutes = u64::from(p.settings.sources.poll_minutes.max(1));
                let heartbeat = Duration::from_secs(minutes * 60);
                let due = match &state.line {
                    None => true,
                    Some((last, at)) => *last != key || at.elapsed() >= heartbeat,
                };
                if due || !state.alerts.is_empty() {
                    let figures = status_figures(&p.snapshot, now, zone);
                    println!("{}  {figures}", text::clock(now, now, zone));
                    state.line = Some((key, Instant::now()));
                }
            }
        }
        for alert in state.alerts.drain(..) {
            println!("{alert}");
        }
        drop(state);
        let _ = self.events.send(Event::Round);
    }

    fn after_round(&self, ledger: &Ledger, published: &Published) {
        self.hook.after_round(ledger, published);
    }

    fn alerted(&self, evaluation: &Evaluation, outcome: &DeliveryOutcome, zone: Zone) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .alerts
            .extend(alert_lines(evaluation, outcome, now_ms(), zone));
    }

    fn clicked(&self, action: Action) {
        let _ = self.events.send(Event::Click(action));
    }
}

/// What a click on a notification button does, headless.
fn on_click(ctx: &Context, action: Action) -> Result<(), Failure> {
    match action {
        Action::Snooze1h => {
            let now = now_ms();
            let until = now + 3_600_000;
            set_snooze(ctx, Some(until))?;
            let settings = ctx.settings()?;
            println!(
                "Notifications snoozed until {}.",
                text::clock(until, now, settings.zone())
            );
        }
        Action::EnableExtraUsage => {
            println!("Turn on Extra Usage at {EXTRA_USAGE_SETTINGS_URL}");
            open(EXTRA_USAGE_SETTINGS_URL);
        }
        Action::OpenSettings => {
            // Headless there is no settings pane: open the settings file itself.
            let path = ctx.state.settings();
            settings::create_if_missing(&path).map_err(|e| Failure::new(1, e.to_string()))?;
            println!("Settings: {}", path.display());
            open(&path.display().to_string());
        }
    }
    Ok(())
}

/// Opens a URL or file with the desktop's handler; failure is only a warning. Nothing with
/// `HEADROOM_NO_BROWSER` set: the caller has printed the target already.
fn open(target: &str) {
    if crate::context::no_browser() {
        return;
    }
    let command = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(command)
        .arg(target)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        tracing::warn!("cannot run {command}: {e}");
    }
}

fn set_snooze(ctx: &Context, until: Option<i64>) -> Result<(), Failure> {
    ctx.update_settings(|s| s.alerts.snoozed_until_ms = until)
        .map(drop)
}

/// `session 91 % (resets at 11:10 (in 1 h 8 min)) · weekly 40 % · Extra Usage off`, which the
/// loop prints after the clock.
fn status_figures(snapshot: &UsageSnapshot, now: i64, zone: Zone) -> String {
    let mut parts = Vec::new();
    for w in [&snapshot.session, &snapshot.weekly].into_iter().flatten() {
        let part = format!(
            "{} {}",
            w.label.to_lowercase(),
            text::percent(w.utilization)
        );
        match w.resets_at_ms {
            Some(at) if at > now => {
                parts.push(format!("{part} (resets {})", text::at_clock(at, now, zone)))
            }
            _ => parts.push(part),
        }
    }
    if let Some(eu) = &snapshot.extra_usage {
        parts.push(match eu.enabled {
            Some(true) => "Extra Usage on".to_owned(),
            Some(false) => "Extra Usage off".to_owned(),
            None => "Extra Usage unknown".to_owned(),
        });
    }
    if parts.is_empty() {
        parts.push("no usage figures".to_owned());
    }
    if snapshot.stale {
        parts.push("stale".to_owned());
    }
    parts.join(" · ")
}

/// What the status line says, without the countdowns that change every minute: a new line is
/// printed when this changes.
fn figures_key(snapshot: &UsageSnapshot) -> String {
    let windows: Vec<String> = [&snapshot.session, &snapshot.weekly]
        .into_iter()
        .flatten()
        .map(|w| format!("{} {} {:?}", w.label, w.utilization, w.resets_at_ms))
        .collect();
    let extra = snapshot.extra_usage.as_ref().map(|eu| eu.enabled);
    format!("{windows:?} {extra:?} {}", snapshot.stale)
}

/// Each alert as two printed lines: the clock, level, title and outcome, then the body.
fn alert_lines(
    evaluation: &Evaluation,
    outcome: &DeliveryOutcome,
    now: i64,
    zone: Zone,
) -> Vec<String> {
    let mut lines = Vec::new();
    for a in &evaluation.alerts {
        lines.push(format!(
            "{}  {}: {} [{}]",
            text::clock(now, now, zone),
            a.level.as_str(),
            a.title,
            outcome
        ));
        lines.push(format!("       {}", a.body));
    }
    lines
}

pub(crate) fn alerts(ctx: &Context, args: &AlertsArgs) -> Result<(), Failure> {
    let now = now_ms();
    if let Some(snooze) = &args.snooze {
        return snooze_cmd(ctx, snooze, now);
    }
    let ledger = ctx.open_ledger()?;
    let history = store::recent(&ledger, args.limit)?;
    if args.json {
        let text = serde_json::to_string_pretty(&history)
            .map_err(|e| Failure::new(1, format!("cannot write JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    let settings = ctx.settings()?;
    let zone = settings.zone();
    if history.is_empty() {
        println!("No alerts yet.");
    } else {
        print_history(&history, now, zone);
    }
    if let Some(until) = settings.alerts.snoozed_until_ms.filter(|&u| u > now) {
        println!(
            "\nNotifications are snoozed until {} (`headroom alerts --snooze off` to resume).",
            text::clock(until, now, zone)
        );
    }
    Ok(())
}

fn print_history(history: &[HistoryEntry], now: i64, zone: Zone) {
    let style = Style::detect(false);
    let mut table = Table::new(&[
        ("When", Align::Left),
        ("Level", Align::Left),
        ("Alert", Align::Left),
        ("Delivery", Align::Left),
    ]);
    for h in history {
        let name = h.level.as_str();
        let level = match h.level {
            Level::Critical => style.red(name),
            Level::Warning => style.yellow(name),
            Level::Info => name.to_owned(),
        };
        let delivery = h.delivery.to_string();
        table.styled_row(vec![
            (
                text::clock(h.at_ms, now, zone),
                text::clock(h.at_ms, now, zone),
            ),
            (name.to_owned(), level),
            (h.title.clone(), h.title.clone()),
            (delivery.clone(), style.dim(&delivery)),
        ]);
    }
    print!("{}", table.render(&style));
}

fn snooze_cmd(ctx: &Context, snooze: &str, now: i64) -> Result<(), Failure> {
    let settings = ctx.settings()?;
    let zone = settings.zone();
    let until = match snooze.trim().to_ascii_lowercase().as_str() {
        "off" | "none" | "0" => None,
        "reset" => {
            let mut ledger = ctx.open_ledger()?;
            let snapshot = ctx.snapshot(&mut ledger, &settings, now, Mode::Auto)?;
            Some(alerts::snooze_until_reset(&snapshot, now).ok_or_else(|| {
                Failure::new(
                    1,
                    "the session window's reset time is not known; snooze for a duration instead (like 1h)",
                )
            })?)
        }
        other => Some(now.saturating_add(text::parse_duration_ms(other).ok_or_else(|| {
            Failure::new(
                2,
                format!("{other:?} is not a snooze: use a duration like 1h or 30m (at most 7 days), reset, or off"),
            )
        })?)),
    };
    set_snooze(ctx, until)?;
    match until {
        Some(until) => println!(
            "Notifications snoozed until {}; alerts are still recorded.",
            text::clock(until, now, zone)
        ),
        None => println!("Notifications resumed."),
    }
    Ok(())
}
