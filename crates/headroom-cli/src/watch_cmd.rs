//! `headroom watch`: the sources, the alert engine and desktop notifications in the
//! foreground, for people without a tray; and `headroom alerts`: what the engine said.
//!
//! Each round reads the settings again (so a snooze set elsewhere applies), takes a snapshot,
//! runs the tray's alert step on it (`headroom_service::deliver`: evaluated and recorded in
//! one ledger transaction, so the tray may share the ledger and neither repeats the other's
//! alerts; at most one notification delivered, and how it went recorded), and prints what it
//! found.
//! `--once` does one round and exits. Ctrl-C (or SIGTERM) ends the loop between rounds, or
//! interrupts the wait, and exits 0. No notification server is a warning; the alert is still
//! recorded and printed. A ledger another process keeps busy past the busy timeout (a long
//! ingest, a rebuild) is a warning too: the round is tried again [`BUSY_RETRY`] later.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use clap::Args;
use headroom_core::account::Mode;
use headroom_core::alerts::store::{self, HistoryEntry};
use headroom_core::alerts::{self, text, Action, Evaluation, EXTRA_USAGE_SETTINGS_URL};
use headroom_core::ledger::Ledger;
use headroom_core::report::Zone;
use headroom_core::settings::{self, Settings};
use headroom_core::snapshot::UsageSnapshot;
use headroom_notify::Clicked;
use headroom_service::deliver::{self, Deliverer, Notifications};

use crate::context::{now_ms, Context, Failure};
use crate::table::{Align, Style, Table};

/// How soon a round the ledger was too busy for is tried again (the interval when shorter).
const BUSY_RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Evaluate once, deliver what is new, and exit.
    #[arg(long)]
    pub once: bool,
    /// Minutes between rounds (default: `sources.poll_minutes` in settings, 5).
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub interval: Option<u32>,
    /// Print alerts only; send no desktop notification.
    #[arg(long)]
    pub no_notify: bool,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
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

/// Everything a round needs that lives longer than the round.
struct Watcher<'a> {
    ctx: &'a Context,
    /// Opened by the first round that can (a rebuild may hold it).
    ledger: Option<Ledger>,
    deliverer: Deliverer,
}

/// What wakes the loop between rounds.
pub enum Event {
    Stop,
    Click(Clicked),
    /// Someone read the metrics (`headroom serve`): read new transcript lines, without asking
    /// the account, so the next scrape has them.
    Scraped,
}

/// How the loop runs: `headroom watch` and `headroom serve` differ only in these and in what
/// they do with each round's figures ([`RoundHook`]).
pub struct LoopOptions {
    /// The command, for what the loop prints (`watch`, `serve`).
    pub name: &'static str,
    /// How an alert delivered without notifications is recorded.
    pub printed_only: &'static str,
    pub once: bool,
    pub interval: Option<u32>,
    pub notify: bool,
}

/// What a front end does with each round's snapshot, with the ledger the round used.
pub trait RoundHook {
    fn after_round(
        &mut self,
        ledger: &Ledger,
        snapshot: &UsageSnapshot,
        settings: &Settings,
        now: i64,
    );
}

/// `headroom watch` only prints.
struct PrintOnly;

impl RoundHook for PrintOnly {
    fn after_round(&mut self, _: &Ledger, _: &UsageSnapshot, _: &Settings, _: i64) {}
}

/// The shortest time between two local refreshes a scrape asks for: a scraper polling every
/// second does not make the loop read the transcripts more often than that.
const SCRAPE_REFRESH_MIN: Duration = Duration::from_secs(1);

pub fn watch(ctx: &Context, args: &WatchArgs) -> Result<(), Failure> {
    let options = LoopOptions {
        name: "watch",
        printed_only: "printed only (--no-notify)",
        once: args.once,
        interval: args.interval,
        notify: !args.no_notify,
    };
    let (events, inbox) = mpsc::channel::<Event>();
    run_loop(ctx, &options, events, inbox, &mut PrintOnly)
}

/// The round, again and again: the one loop behind `headroom watch` and `headroom serve`.
/// `events` is the sender the caller may have handed out (to the metrics endpoint); the loop
/// ends when every sender is gone or on Ctrl-C.
pub fn run_loop(
    ctx: &Context,
    options: &LoopOptions,
    events: mpsc::Sender<Event>,
    inbox: mpsc::Receiver<Event>,
    hook: &mut dyn RoundHook,
) -> Result<(), Failure> {
    let notifications = if options.notify {
        // Buttons need someone to receive the click: not with --once.
        Notifications::On {
            buttons: !options.once,
        }
    } else {
        Notifications::Off {
            recorded_as: options.printed_only,
        }
    };
    let forward = events.clone();
    let deliverer = Deliverer::new(
        &ctx.state.dir,
        notifications,
        "alerts are printed and recorded",
        std::sync::Arc::new(move |click| {
            let _ = forward.send(Event::Click(click));
        }),
    );
    if !options.once {
        let stop = events.clone();
        ctrlc::set_handler(move || {
            let _ = stop.send(Event::Stop);
        })
        .map_err(|e| Failure::new(1, format!("cannot handle Ctrl-C: {e}")))?;
    }
    drop(events);

    let mut w = Watcher {
        ctx,
        ledger: None,
        deliverer,
    };
    let mut last: Option<Settings> = None;
    loop {
        // A settings file caught broken (a hand edit) does not reset a running watch.
        let settings = ctx.settings_or(last.as_ref())?;
        let busy = match w.round(&settings, hook) {
            Ok(()) => false,
            Err(f) if f.busy && !options.once => {
                eprintln!(
                    "warning: {}; trying again in {} s",
                    f.message,
                    BUSY_RETRY.as_secs()
                );
                true
            }
            Err(f) => return Err(f),
        };
        last = Some(settings.clone());
        if options.once {
            return Ok(());
        }
        let minutes = options
            .interval
            .unwrap_or(settings.sources.poll_minutes)
            .max(1);
        let mut wait = Duration::from_secs(u64::from(minutes) * 60);
        if busy {
            wait = wait.min(BUSY_RETRY);
        }
        let deadline = std::time::Instant::now() + wait;
        let mut last_local = std::time::Instant::now();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match inbox.recv_timeout(left) {
                Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    eprintln!("headroom {}: stopped", options.name);
                    return Ok(());
                }
                Ok(Event::Click(click)) => on_click(ctx, click.action)?,
                Ok(Event::Scraped) if last_local.elapsed() >= SCRAPE_REFRESH_MIN => {
                    w.local_refresh(&settings, hook);
                    last_local = std::time::Instant::now();
                }
                Ok(Event::Scraped) => {}
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
    }
}

impl Watcher<'_> {
    /// New transcript lines and the snapshot the ledger gives, without asking the account
    /// or evaluating alerts (the next full round does both). A failure is a warning: the
    /// figures already published stay.
    fn local_refresh(&mut self, settings: &Settings, hook: &mut dyn RoundHook) {
        let Some(ledger) = self.ledger.as_mut() else {
            return;
        };
        let now = now_ms();
        match self.ctx.snapshot(ledger, settings, now, Mode::Never) {
            Ok(snapshot) => hook.after_round(ledger, &snapshot, settings, now),
            Err(f) => tracing::warn!("{}", f.message),
        }
    }

    fn round(&mut self, settings: &Settings, hook: &mut dyn RoundHook) -> Result<(), Failure> {
        let now = now_ms();
        let zone = settings.zone();
        let ledger = match &mut self.ledger {
            Some(ledger) => ledger,
            None => self.ledger.insert(self.ctx.open_ledger()?),
        };
        let snapshot = self.ctx.snapshot(ledger, settings, now, Mode::Auto)?;
        for problem in &snapshot.errors {
            eprintln!("warning: {problem}");
        }
        let round = deliver::alert_round(
            ledger,
            &snapshot,
            &settings.alerts,
            now,
            zone,
            &mut self.deliverer,
        )?;
        hook.after_round(ledger, &snapshot, settings, now);
        println!("{}", status_line(&snapshot, now, zone));
        if let Some(outcome) = &round.outcome {
            print_alerts(&round.evaluation, outcome, now, zone);
        }
        Ok(())
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

/// Opens a URL or file with the desktop's handler; failure is only a warning.
fn open(target: &str) {
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

/// `10:02  session 91 % (resets at 11:10 (in 1 h 8 min)) · weekly 40 % · Extra Usage off`
fn status_line(snapshot: &UsageSnapshot, now: i64, zone: Zone) -> String {
    let mut parts = Vec::new();
    for w in [&snapshot.session, &snapshot.weekly].into_iter().flatten() {
        let part = format!(
            "{} {}",
            w.label.to_lowercase(),
            text::percent(w.utilization)
        );
        match w.resets_at_ms {
            Some(at) if at > now => {
                parts.push(format!("{part} (resets at {})", text::clock(at, now, zone)))
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
    format!("{}  {}", text::clock(now, now, zone), parts.join(" · "))
}

fn print_alerts(evaluation: &Evaluation, outcome: &str, now: i64, zone: Zone) {
    for a in &evaluation.alerts {
        println!(
            "{}  {}: {} [{}]",
            text::clock(now, now, zone),
            a.level.as_str(),
            a.title,
            outcome
        );
        println!("       {}", a.body);
    }
}

pub fn alerts(ctx: &Context, args: &AlertsArgs) -> Result<(), Failure> {
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
        let level = match h.level.as_str() {
            "critical" => style.red(&h.level),
            "warning" => style.yellow(&h.level),
            _ => h.level.clone(),
        };
        table.styled_row(vec![
            (
                text::clock(h.at_ms, now, zone),
                text::clock(h.at_ms, now, zone),
            ),
            (h.level.clone(), level),
            (h.title.clone(), h.title.clone()),
            (h.delivery.clone(), style.dim(&h.delivery)),
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
