//! `headroom watch`: the sources, the alert engine and desktop notifications in the
//! foreground, for people without a tray; and `headroom alerts`: what the engine said.
//!
//! Each round reads the settings again (so a snooze set elsewhere applies), takes a snapshot,
//! evaluates and records it in one ledger transaction (the tray may share the ledger; neither
//! repeats the other's alerts), prints what it found and delivers at most one notification.
//! `--once` does one round and exits. Ctrl-C (or SIGTERM) ends the loop between rounds, or
//! interrupts the wait, and exits 0. No notification server is a warning; the alert is still
//! recorded and printed. A ledger another process keeps busy past the busy timeout (a long
//! ingest, a rebuild) is a warning too: the round is tried again [`BUSY_RETRY`] later.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use clap::Args;
use headroom_core::account::Mode;
use headroom_core::alerts::store::{self, outcome, HistoryEntry};
use headroom_core::alerts::{
    self, text, Action, Delivery, Evaluation, Notification, EXTRA_USAGE_SETTINGS_URL,
};
use headroom_core::ledger::Ledger;
use headroom_core::report::Zone;
use headroom_core::settings::{self, Settings};
use headroom_core::snapshot::UsageSnapshot;
use headroom_notify::{Clicked, Notifier, NotifierConfig, NotifyError};

use crate::context::{now_ms, zone, Context, Failure};
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
    notifier: Option<Notifier>,
    /// Warn about a missing notification server once, not every round.
    warned_no_server: bool,
}

enum Event {
    Stop,
    Click(Clicked),
}

pub fn watch(ctx: &Context, args: &WatchArgs) -> Result<(), Failure> {
    let (events, inbox) = mpsc::channel::<Event>();
    let notifier = if args.no_notify {
        None
    } else {
        let icon = headroom_notify::install_icon(&ctx.state.dir.join("icons"))
            .map_err(|e| tracing::warn!("cannot write the notification icon: {e}"))
            .ok()
            .map(|p| p.display().to_string());
        let (notifier, clicks) = Notifier::new(NotifierConfig {
            icon,
            // Buttons need someone to receive the click: not with --once.
            actions: !args.once,
            ..NotifierConfig::default()
        });
        let forward = events.clone();
        std::thread::spawn(move || {
            for click in clicks {
                if forward.send(Event::Click(click)).is_err() {
                    break;
                }
            }
        });
        Some(notifier)
    };
    if !args.once {
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
        notifier,
        warned_no_server: false,
    };
    let mut last: Option<Settings> = None;
    loop {
        // A settings file caught broken (a hand edit) does not reset a running watch.
        let settings = ctx.settings_or(last.as_ref())?;
        let busy = match w.round(&settings) {
            Ok(()) => false,
            Err(f) if f.busy && !args.once => {
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
        if args.once {
            return Ok(());
        }
        let minutes = args
            .interval
            .unwrap_or(settings.sources.poll_minutes)
            .max(1);
        let mut wait = Duration::from_secs(u64::from(minutes) * 60);
        if busy {
            wait = wait.min(BUSY_RETRY);
        }
        let deadline = std::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match inbox.recv_timeout(left) {
                Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    eprintln!("headroom watch: stopped");
                    return Ok(());
                }
                Ok(Event::Click(click)) => on_click(ctx, click.action)?,
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
    }
}

impl Watcher<'_> {
    fn round(&mut self, settings: &Settings) -> Result<(), Failure> {
        let now = now_ms();
        let zone = zone(settings);
        let ledger = match &mut self.ledger {
            Some(ledger) => ledger,
            None => self.ledger.insert(self.ctx.open_ledger()?),
        };
        let snapshot = self.ctx.snapshot(ledger, settings, now, Mode::Auto)?;
        for problem in &snapshot.errors {
            eprintln!("warning: {problem}");
        }
        let recorded = store::evaluate_and_record(ledger, &snapshot, &settings.alerts, now, zone)?;
        println!("{}", status_line(&snapshot, now, zone));
        let outcome = match &recorded.evaluation.delivery {
            Delivery::Nothing => return Ok(()),
            Delivery::Suppressed { why } => why.as_str().to_owned(),
            Delivery::Deliver { notification } => self.deliver(notification),
        };
        if let Some(ledger) = self.ledger.as_ref().filter(|_| outcome != outcome::PENDING) {
            store::record_delivery(ledger, &recorded.ids, &outcome)?;
        }
        print_alerts(&recorded.evaluation, &outcome, now, zone);
        Ok(())
    }

    /// Delivers and says how it went, in the words the history keeps.
    fn deliver(&mut self, notification: &Notification) -> String {
        let Some(notifier) = &self.notifier else {
            return "printed only (--no-notify)".to_owned();
        };
        let (outcome, error) = notifier.deliver_for_history(notification);
        match error {
            Some(NotifyError::NoServer(detail)) if !self.warned_no_server => {
                tracing::warn!("no notification server is running ({detail}); alerts are printed and recorded (see `headroom alerts`)");
                self.warned_no_server = true;
            }
            Some(NotifyError::NoServer(_)) => {}
            Some(e) => tracing::warn!("{e}"),
            None => {}
        }
        outcome
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
                text::clock(until, now, zone(&settings))
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

/// Parses `1h`, `30m`, `2h30m`, `90` (minutes).
fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    if let Ok(minutes) = s.parse::<i64>() {
        return (minutes > 0).then_some(minutes * 60_000);
    }
    let (mut total, mut number) = (0i64, String::new());
    for c in s.chars() {
        match c {
            '0'..='9' => number.push(c),
            'h' | 'm' | 'd' if !number.is_empty() => {
                let n: i64 = number.parse().ok()?;
                total += n * match c {
                    'd' => 86_400_000,
                    'h' => 3_600_000,
                    _ => 60_000,
                };
                number.clear();
            }
            ' ' => {}
            _ => return None,
        }
    }
    (number.is_empty() && total > 0 && total <= 7 * 86_400_000).then_some(total)
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
    let zone = zone(&settings);
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
    let zone = zone(&settings);
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
        other => Some(now + parse_duration_ms(other).ok_or_else(|| {
            Failure::new(
                2,
                format!("{other:?} is not a snooze: use a duration like 1h or 30m (at most 7 days), reset, or off"),
            )
        })?),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snooze_durations() {
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
        assert_eq!(parse_duration_ms("30m"), Some(1_800_000));
        assert_eq!(parse_duration_ms("2h30m"), Some(9_000_000));
        assert_eq!(parse_duration_ms("90"), Some(5_400_000));
        assert_eq!(parse_duration_ms("1d"), Some(86_400_000));
        assert_eq!(parse_duration_ms("8d"), None);
        assert_eq!(parse_duration_ms("h"), None);
        assert_eq!(parse_duration_ms("1x"), None);
        assert_eq!(parse_duration_ms("-5"), None);
        assert_eq!(parse_duration_ms("5h3"), None);
    }
}
