//! `daily`, `weekly`, `monthly`, `session`, `projects` and `blocks`.

use std::path::PathBuf;

use chrono::Weekday;
use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};

use headroom_core::blocks::{self, BlockJson};
use headroom_core::first_run;
use headroom_core::ledger::Ledger;
use headroom_core::report::{
    self, CostMode, ModelBreakdown, Period, PeriodUsage, Query, Totals, Zone,
};

use crate::context::{Context, Failure};
use crate::table::{dollars, short, terminal_width, thousands, Align, Style, Table};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Order {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Mode {
    Auto,
    Calculate,
    Display,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Print JSON (the same shape as ccusage's).
    #[arg(short, long)]
    pub json: bool,
    /// First date to include: YYYYMMDD or YYYY-MM-DD.
    #[arg(short, long)]
    pub since: Option<String>,
    /// Last date to include: YYYYMMDD or YYYY-MM-DD.
    #[arg(short, long)]
    pub until: Option<String>,
    /// Time zone for dates (an IANA name such as Europe/Berlin, or UTC); default: the
    /// settings' `general.timezone`, else local.
    #[arg(short = 'z', long)]
    pub timezone: Option<String>,
    /// Cost: recorded costUSD where present (auto), always from tokens (calculate), or only recorded (display).
    #[arg(short, long, value_enum, default_value = "auto")]
    pub mode: Mode,
    /// Sort order by date.
    #[arg(short, long, value_enum, default_value = "asc")]
    pub order: Order,
    /// Show a row per model under each period.
    #[arg(short, long)]
    pub breakdown: bool,
    /// First day of a week (weekly report).
    #[arg(short = 'w', long, default_value = "sunday", value_parser = parse_weekday)]
    pub start_of_week: Weekday,
    /// Narrow table whatever the terminal's width.
    #[arg(long)]
    pub compact: bool,
    /// Report what ingestion read and skipped (on stderr).
    #[arg(short, long)]
    pub verbose: bool,
    /// No colour, even on a terminal.
    #[arg(long)]
    pub no_color: bool,
}

fn parse_weekday(s: &str) -> Result<Weekday, String> {
    s.parse::<Weekday>()
        .map_err(|_| format!("unknown day {s:?}: use sunday, monday, ..."))
}

impl ReportArgs {
    /// The query these options ask for; `settings_zone` (`general.timezone`, else the
    /// system's) unless `-z` names one.
    pub(crate) fn query(&self, settings_zone: Zone) -> Result<Query, Failure> {
        let bad = |m: String| Failure::new(2, m);
        Ok(Query {
            zone: match &self.timezone {
                Some(name) => Zone::parse(name).map_err(bad)?,
                None => settings_zone,
            },
            since: self
                .since
                .as_deref()
                .map(report::parse_date)
                .transpose()
                .map_err(bad)?,
            until: self
                .until
                .as_deref()
                .map(report::parse_date)
                .transpose()
                .map_err(bad)?,
            mode: match self.mode {
                Mode::Auto => CostMode::Auto,
                Mode::Calculate => CostMode::Calculate,
                Mode::Display => CostMode::Display,
            },
            start_of_week: self.start_of_week,
        })
    }
}

pub(crate) fn periods(ctx: &Context, args: &ReportArgs, period: Period) -> Result<(), Failure> {
    let (query, ledger, roots) = prepare(ctx, args)?;
    let (mut rows, totals) = report::periods(&ledger, period, &query)?;
    if matches!(args.order, Order::Desc) {
        rows.reverse();
    }
    let (list_key, item_key, title) = match period {
        Period::Day => ("daily", "date", "Date"),
        Period::Week => ("weekly", "week", "Week"),
        Period::Month => ("monthly", "month", "Month"),
    };
    if args.json {
        let items: Vec<Value> = rows
            .iter()
            .map(|row| with_key(row, item_key, &row.period))
            .collect();
        print_json(&with_estimates(
            json!({ list_key: items, "totals": totals }),
            &ledger,
            query.covered_ms(),
        )?);
        unpriced_footer(&ledger, query.covered_ms(), true, Some(totals.total_cost))?;
        return Ok(());
    }
    let style = Style::detect(args.no_color);
    if rows.is_empty() {
        nothing_found(&roots, args, "usage");
        return Ok(());
    }
    let labelled: Vec<(String, &PeriodUsage)> =
        rows.iter().map(|r| (r.period.clone(), r)).collect();
    print!("{}", usage_table(title, &labelled, &totals, args, &style));
    unpriced_footer(&ledger, query.covered_ms(), false, Some(totals.total_cost))?;
    Ok(())
}

/// Says below a report what the costs of its time range (`from_ms..to_ms`) leave out, and
/// what part of its `total` is estimated; on stderr under JSON, whose shape is ccusage's.
fn unpriced_footer(
    ledger: &headroom_core::ledger::Ledger,
    (from, to): (i64, i64),
    json: bool,
    total: Option<f64>,
) -> Result<(), Failure> {
    let unpriced = ledger.unpriced(from, to)?;
    let notes = [
        report::estimated_note(total, &unpriced),
        report::unpriced_note(&unpriced),
    ];
    for note in notes.into_iter().flatten() {
        if json {
            eprintln!("note: {note}");
        } else {
            println!("\n{note}");
        }
    }
    Ok(())
}

/// A report's JSON with what its `totals` hold at estimated rates, when anything: ccusage's
/// shape is kept, two fields are added (`estimatedCost`, the part of `totalCost` that is an
/// estimate, and `estimated`, by model: `model`, `reason` ("estimated at Fable 5.2's rates"), `cost`).
fn with_estimates(
    mut value: Value,
    ledger: &headroom_core::ledger::Ledger,
    (from, to): (i64, i64),
) -> Result<Value, Failure> {
    let unpriced = ledger.unpriced(from, to)?;
    let estimated = report::estimated(&unpriced);
    if estimated.is_empty() {
        return Ok(value);
    }
    if let Some(totals) = value.get_mut("totals").and_then(Value::as_object_mut) {
        totals.insert(
            "estimatedCost".into(),
            json!(estimated.iter().map(|u| u.cost).sum::<f64>()),
        );
        let by_model: Vec<Value> = estimated
            .iter()
            .map(|u| json!({ "model": u.model, "reason": u.reason, "cost": u.cost }))
            .collect();
        totals.insert("estimated".into(), Value::Array(by_model));
    }
    Ok(value)
}

/// What every report does first: its query (the zone from `-z`, else `general.timezone`,
/// else the system's), then the ledger with new transcript lines read in, from Claude Code's
/// folders and the extra ones in the settings, and those folders. Claude Code's folder
/// without a `projects` folder (a new install that has not answered a prompt yet) is no
/// usage, not an error; no transcript folder at all still is (exit 2, naming where it looked).
fn prepare(ctx: &Context, args: &ReportArgs) -> Result<(Query, Ledger, Vec<PathBuf>), Failure> {
    let settings = ctx.settings()?;
    let query = args.query(settings.zone())?;
    let mut ledger = ctx.open_ledger()?;
    let roots = ctx.env.transcript_roots(&settings);
    match ctx.refresh(&mut ledger, &settings, args.verbose) {
        Ok(_) => {}
        Err(f) if f.code == 2 && roots.iter().any(|r| r.is_dir()) => {
            tracing::debug!("{}", f.message);
        }
        Err(f) => return Err(f),
    }
    Ok((query, ledger, roots))
}

/// "No usage found." and, when nothing at all was asked to be left out (no date range), what
/// to do about it: the folders read (`roots`) and the ways to add a source.
fn nothing_found(roots: &[PathBuf], args: &ReportArgs, what: &str) {
    println!("No {what} found{}.", range_note(args));
    if args.since.is_none() && args.until.is_none() {
        let folders = first_run::transcript_folders(roots);
        for line in first_run::no_usage_help(&folders) {
            println!("{line}");
        }
    }
}

fn range_note(args: &ReportArgs) -> String {
    match (&args.since, &args.until) {
        (None, None) => String::new(),
        (s, u) => format!(
            " between {} and {}",
            s.as_deref().unwrap_or("the start"),
            u.as_deref().unwrap_or("now")
        ),
    }
}

fn with_key<T: serde::Serialize>(row: &T, key: &str, value: &str) -> Value {
    let mut map = match serde_json::to_value(row) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    map.insert(key.to_owned(), Value::String(value.to_owned()));
    Value::Object(map)
}

pub(crate) fn print_json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot format JSON: {e}"),
    }
}

fn usage_table(
    title: &str,
    rows: &[(String, &PeriodUsage)],
    totals: &Totals,
    args: &ReportArgs,
    style: &Style,
) -> String {
    let wide = !args.compact && terminal_width() >= 110;
    let mut table = if wide {
        Table::new(&[
            (title, Align::Left),
            ("Models", Align::Left),
            ("Input", Align::Right),
            ("Output", Align::Right),
            ("Cache write", Align::Right),
            ("Cache read", Align::Right),
            ("Total tokens", Align::Right),
            ("Cost (USD)", Align::Right),
        ])
    } else {
        Table::new(&[
            (title, Align::Left),
            ("Input", Align::Right),
            ("Output", Align::Right),
            ("Total", Align::Right),
            ("Cost", Align::Right),
        ])
    };
    let cells = |label: String, models: String, t: &Totals| -> Vec<String> {
        if wide {
            vec![
                label,
                models,
                thousands(t.input_tokens),
                thousands(t.output_tokens),
                thousands(t.cache_creation_tokens),
                thousands(t.cache_read_tokens),
                thousands(t.total_tokens),
                dollars(t.total_cost),
            ]
        } else {
            vec![
                label,
                short(t.input_tokens),
                short(t.output_tokens),
                short(t.total_tokens),
                dollars(t.total_cost),
            ]
        }
    };
    for (label, usage) in rows {
        let models = usage
            .models_used
            .iter()
            .map(|m| short_model(m))
            .collect::<Vec<_>>()
            .join(", ");
        table.row(cells(label.clone(), models, &usage.totals));
        if args.breakdown {
            for b in &usage.model_breakdowns {
                let t = breakdown_totals(b);
                let mut row = cells(
                    format!("  └ {}", short_model(&b.model_name)),
                    String::new(),
                    &t,
                );
                for cell in row.iter_mut() {
                    *cell = cell.clone();
                }
                table.styled_row(
                    row.into_iter()
                        .map(|c| (c.clone(), style.dim(&c)))
                        .collect(),
                );
            }
        }
    }
    table.rule();
    let total_row = cells("Total".into(), String::new(), totals);
    table.styled_row(
        total_row
            .into_iter()
            .map(|c| (c.clone(), style.bold(&c)))
            .collect(),
    );
    table.render(style)
}

fn breakdown_totals(b: &ModelBreakdown) -> Totals {
    Totals {
        input_tokens: b.input_tokens,
        output_tokens: b.output_tokens,
        cache_creation_tokens: b.cache_creation_tokens,
        cache_read_tokens: b.cache_read_tokens,
        total_tokens: b.input_tokens
            + b.output_tokens
            + b.cache_creation_tokens
            + b.cache_read_tokens,
        total_cost: b.cost,
    }
}

/// `claude-sonnet-4-5-20250929` → `sonnet-4-5`.
pub(crate) fn short_model(model: &str) -> String {
    let id = headroom_core::pricing::normalize_model(model);
    id.strip_prefix("claude-").unwrap_or(id).to_owned()
}

pub(crate) fn sessions(ctx: &Context, args: &ReportArgs) -> Result<(), Failure> {
    let (query, ledger, roots) = prepare(ctx, args)?;
    let (mut rows, totals) = report::sessions(&ledger, &query)?;
    if matches!(args.order, Order::Asc) {
        rows.reverse();
    }
    if args.json {
        print_json(&with_estimates(
            json!({ "sessions": rows, "totals": totals }),
            &ledger,
            query.covered_ms(),
        )?);
        unpriced_footer(&ledger, query.covered_ms(), true, Some(totals.total_cost))?;
        return Ok(());
    }
    let style = Style::detect(args.no_color);
    if rows.is_empty() {
        nothing_found(&roots, args, "sessions");
        return Ok(());
    }
    let labelled: Vec<(String, PeriodUsage)> = rows
        .iter()
        .map(|s| {
            let project = s.cwd.clone().unwrap_or_else(|| s.project_path.clone());
            let short_id: String = s.session_id.chars().take(8).collect();
            (
                format!("{} {} {}", &s.last_activity[..10], project, short_id),
                PeriodUsage {
                    period: String::new(),
                    totals: s.totals.clone(),
                    models_used: s.models_used.clone(),
                    model_breakdowns: s.model_breakdowns.clone(),
                },
            )
        })
        .collect();
    let refs: Vec<(String, &PeriodUsage)> = labelled.iter().map(|(l, u)| (l.clone(), u)).collect();
    print!("{}", usage_table("Session", &refs, &totals, args, &style));
    unpriced_footer(&ledger, query.covered_ms(), false, Some(totals.total_cost))?;
    Ok(())
}

pub(crate) fn projects(ctx: &Context, args: &ReportArgs) -> Result<(), Failure> {
    let (query, ledger, roots) = prepare(ctx, args)?;
    let (rows, totals) = report::projects(&ledger, &query)?;
    if args.json {
        print_json(&with_estimates(
            json!({ "projects": rows, "totals": totals }),
            &ledger,
            query.covered_ms(),
        )?);
        unpriced_footer(&ledger, query.covered_ms(), true, Some(totals.total_cost))?;
        return Ok(());
    }
    let style = Style::detect(args.no_color);
    if rows.is_empty() {
        nothing_found(&roots, args, "projects");
        return Ok(());
    }
    let labelled: Vec<(String, PeriodUsage)> = rows
        .iter()
        .map(|p| {
            (
                p.cwd.clone().unwrap_or_else(|| p.project_path.clone()),
                PeriodUsage {
                    period: String::new(),
                    totals: p.totals.clone(),
                    models_used: p.models_used.clone(),
                    model_breakdowns: p.model_breakdowns.clone(),
                },
            )
        })
        .collect();
    let refs: Vec<(String, &PeriodUsage)> = labelled.iter().map(|(l, u)| (l.clone(), u)).collect();
    print!("{}", usage_table("Project", &refs, &totals, args, &style));
    unpriced_footer(&ledger, query.covered_ms(), false, Some(totals.total_cost))?;
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct BlocksArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// Only the active block.
    #[arg(short, long)]
    pub active: bool,
    /// Only blocks of the last 3 days.
    #[arg(short, long)]
    pub recent: bool,
}

pub(crate) fn blocks(ctx: &Context, args: &BlocksArgs) -> Result<(), Failure> {
    let (query, ledger, _) = prepare(ctx, &args.report)?;
    let now = chrono::Utc::now().timestamp_millis();
    let from = if args.recent {
        now - 3 * 86_400_000
    } else {
        i64::MIN
    };
    let buckets = ledger.buckets(from, i64::MAX)?;
    let mut all = blocks::blocks(&buckets, now, query.mode);
    all.retain(|b| {
        let date = query.zone.date_of(b.start_ms);
        query.since.is_none_or(|s| date >= s) && query.until.is_none_or(|u| date <= u)
    });
    if args.active {
        all.retain(|b| b.is_active);
    }
    if matches!(args.report.order, Order::Desc) {
        all.reverse();
    }
    // The footer speaks for the blocks shown.
    let shown = (
        all.iter().map(|b| b.start_ms).min().unwrap_or(0),
        all.iter().map(|b| b.end_ms).max().unwrap_or(0),
    );
    if args.report.json {
        let items: Vec<BlockJson> = all.iter().map(BlockJson::from).collect();
        print_json(&json!({ "blocks": items }));
        unpriced_footer(&ledger, shown, true, None)?;
        return Ok(());
    }
    let style = Style::detect(args.report.no_color);
    if all.is_empty() {
        println!(
            "{}",
            if args.active {
                "No active block."
            } else {
                "No blocks found."
            }
        );
        return Ok(());
    }
    let mut active_note = None;
    let mut table = Table::new(&[
        ("Block start", Align::Left),
        ("Duration", Align::Left),
        ("Models", Align::Left),
        ("Tokens", Align::Right),
        ("Cost", Align::Right),
    ]);
    for b in &all {
        let start = chrono::DateTime::from_timestamp_millis(b.start_ms)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default();
        if b.is_gap {
            let hours = (b.end_ms - b.start_ms) as f64 / 3.6e6;
            table.styled_row(vec![
                (start.clone(), style.dim(&start)),
                (
                    format!("gap {hours:.1} h"),
                    style.dim(&format!("gap {hours:.1} h")),
                ),
                (String::new(), String::new()),
                (String::new(), String::new()),
                (String::new(), String::new()),
            ]);
            continue;
        }
        let minutes = (b.actual_end_ms.unwrap_or(b.start_ms)
            - b.first_entry_ms.unwrap_or(b.start_ms))
            / 60_000;
        let duration = if b.is_active {
            format!("ACTIVE {}h{:02}m", minutes / 60, minutes % 60)
        } else {
            format!("{}h{:02}m", minutes / 60, minutes % 60)
        };
        let models = b
            .models
            .iter()
            .map(|m| short_model(m))
            .collect::<Vec<_>>()
            .join(", ");
        let tokens = thousands(b.tokens.total());
        let cost = dollars(b.cost);
        let duration_styled = if b.is_active {
            style.green(&duration)
        } else {
            duration.clone()
        };
        table.styled_row(vec![
            (start.clone(), start),
            (duration, duration_styled),
            (models.clone(), models),
            (tokens.clone(), tokens),
            (cost.clone(), cost),
        ]);
        if let (Some(rate), Some(p)) = (b.burn_rate, b.projection) {
            active_note = Some(format!(
                "Active block: burning {} tokens/min, {}/h; at this pace {} tokens and {} by its end ({} min left).",
                thousands(rate.tokens_per_minute.round() as u64),
                dollars(rate.cost_per_hour),
                thousands(p.total_tokens),
                dollars(p.total_cost),
                p.remaining_minutes
            ));
        }
    }
    print!("{}", table.render(&style));
    if let Some(note) = active_note {
        println!("{}", style.green(&note));
    }
    unpriced_footer(&ledger, shown, false, None)?;
    Ok(())
}
