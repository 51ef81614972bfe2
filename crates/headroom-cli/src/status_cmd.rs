//! `headroom status`: the merged usage snapshot, for people or as stable JSON.
//!
//! Reads what is new in the transcripts, then asks the account sources within the poll
//! policy (`--refresh` forces one request, `--offline` sends none) and prints every figure
//! with where it came from and how old it is. Offline, rate limited or signed out is not a
//! failure: the newest figures on record are shown with the problem, and the exit code is 0.

use clap::Args;
use headroom_core::account::status_json::StatusJson;
use headroom_core::account::{extra_usage, Mode};
use headroom_core::ingest::SkippedEntry;
use headroom_core::report::Zone;
use headroom_core::settings::Settings;
use headroom_core::snapshot::{ForecastBasis, Source, UsageSnapshot, Window};
use headroom_core::text;

use crate::context::{now_ms, Context, Failure};

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print the stable JSON documented in docs/account.md.
    #[arg(long)]
    pub json: bool,
    /// Ask the account now, even between polls (never more than once a minute).
    #[arg(long, conflicts_with = "offline")]
    pub refresh: bool,
    /// Send no request; show what the ledger holds.
    #[arg(long)]
    pub offline: bool,
}

pub(crate) fn run(ctx: &Context, args: &StatusArgs) -> Result<(), Failure> {
    let settings = ctx.settings()?;
    let mut ledger = ctx.open_ledger()?;
    let mode = if args.offline {
        Mode::Never
    } else if args.refresh {
        Mode::Force
    } else {
        Mode::Auto
    };
    let now = now_ms();
    let (snap, ingested) = ctx.snapshot_and_ingest(&mut ledger, &settings, now, mode)?;
    // Today's responses whose cost the figures leave out (no known price).
    let day = settings.zone();
    let unpriced = ledger.unpriced(day.start_of(day.date_of(now)), now + 1)?;
    if args.json {
        let mut value = serde_json::to_value(StatusJson::from_snapshot(&snap))
            .map_err(|e| Failure::new(1, e.to_string()))?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert(
                "unpriced".into(),
                serde_json::to_value(&unpriced).map_err(|e| Failure::new(1, e.to_string()))?,
            );
        }
        let json =
            serde_json::to_string_pretty(&value).map_err(|e| Failure::new(1, e.to_string()))?;
        println!("{json}");
        return Ok(());
    }
    let skipped = ledger.skipped_lines()?;
    print!("{}", human(&snap, &settings, settings.zone(), skipped));
    if let Some(report) = &ingested {
        print!("{}", not_read(&report.skipped));
    }
    let notes = [
        headroom_core::report::estimated_note(None, &unpriced),
        headroom_core::report::unpriced_note(&unpriced),
    ];
    for note in notes.into_iter().flatten() {
        println!("{note}");
    }
    Ok(())
}

/// The entries under the transcript folders that were passed over, one line each.
fn not_read(skipped: &[SkippedEntry]) -> String {
    skipped
        .iter()
        .filter(|entry| entry.is_problem())
        .map(|entry| {
            format!(
                "note: not read: {} ({})\n",
                entry.path.display(),
                entry.reason
            )
        })
        .collect()
}

fn age(observed_ms: i64, now: i64) -> String {
    let ms = now - observed_ms;
    if ms < 60_000 {
        "just now".to_owned()
    } else {
        format!("{} ago", text::duration(ms))
    }
}

fn window_line(w: &Window, now: i64, zone: Zone) -> String {
    let reset = match w.resets_at_ms {
        Some(at) if at > now => format!(
            "resets {} (in {})",
            text::clock(at, now, zone),
            text::duration(at - now)
        ),
        Some(_) => "resetting now".to_owned(),
        None => "not started".to_owned(),
    };
    let origin = if w.source == Source::LocalEstimate {
        "local estimate from Claude Code transcripts".to_owned()
    } else {
        format!("{}, {}", w.source.label(), age(w.observed_at_ms, now))
    };
    format!(
        "  {:<22} {:>6}   {:<36} [{origin}]\n",
        w.label,
        text::percent(w.utilization),
        reset
    )
}

/// The text `headroom status` prints.
pub(crate) fn human(snap: &UsageSnapshot, settings: &Settings, zone: Zone, skipped: u64) -> String {
    let now = snap.taken_at_ms;
    let mut out = String::new();
    if snap.windows.is_empty() {
        out.push_str("No usage figures yet: no account source has answered and there is no recent Claude Code activity.\n");
        out.push_str("  Set up the no-network feed with `headroom statusline --install`, or sign in with `claude`.\n");
    } else {
        out.push_str("Limits\n");
        for w in &snap.windows {
            out.push_str(&window_line(w, now, zone));
        }
    }
    if snap
        .session
        .as_ref()
        .is_some_and(|s| s.source == Source::LocalEstimate)
    {
        out.push_str("  The session figure is Headroom's estimate from local transcripts (no account figure yet): the share of your largest recent 5-hour block.\n");
    } else if snap.stale && !snap.windows.is_empty() {
        out.push_str("  These figures are not current (no account source answered recently).\n");
    }

    if let Some(eu) = &snap.extra_usage {
        out.push_str(&format!(
            "Extra Usage: {}   [{}, {}]\n",
            extra_usage::describe(eu),
            eu.source.label(),
            age(eu.observed_at_ms, now)
        ));
        if let Some(w) = extra_usage::cap_mismatch(settings.extra_usage.chosen_cap, eu) {
            out.push_str(&format!("  warning: {w}\n"));
        }
    }
    if let Some(trap) = extra_usage::trap(snap, &settings.alerts) {
        out.push_str(&format!("warning: {trap}\n"));
    }

    if let Some(b) = &snap.local_block {
        let mut line = format!(
            "Local 5-hour block: {} tokens, {}",
            group(b.total_tokens),
            text::money(b.cost_usd, "USD")
        );
        if let Some(rate) = b.cost_per_hour {
            line.push_str(&format!(", {}/h", text::money(rate, "USD")));
        }
        line.push_str(&format!(
            ", ends {} [local estimate]\n",
            text::clock(b.end_ms, now, zone)
        ));
        out.push_str(&line);
    }
    match (snap.forecast.session_full_at_ms, snap.forecast.basis) {
        (Some(at), basis) => {
            let from = match basis {
                Some(ForecastBasis::AccountHistory) => "from the account's recent figures",
                _ => "from local token pace",
            };
            out.push_str(&format!(
                "Forecast: the session window fills {} (in {}) at the current pace ({from})\n",
                text::at_clock(at, now, zone),
                text::duration(at - now)
            ));
        }
        (None, Some(_)) => out.push_str(
            "Forecast: at the current pace the session window does not fill before it resets\n",
        ),
        (None, None) => {}
    }
    for e in &snap.errors {
        out.push_str(&format!("note: {e}\n"));
    }
    if skipped > 0 {
        out.push_str(&format!(
            "note: {skipped} transcript lines were skipped as unreadable (`headroom daily --verbose` lists them)\n"
        ));
    }
    out
}

fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
