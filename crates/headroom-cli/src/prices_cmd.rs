//! `headroom prices`: the price table in use; `headroom prices update`: fetch LiteLLM's
//! current one (the only request Headroom sends to a host other than Anthropic's).

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;

use headroom_core::pricing::{update, PriceTable};

use crate::context::{Context, Failure};

#[derive(Debug, Args)]
pub(crate) struct PricesArgs {
    #[command(subcommand)]
    pub action: Option<PricesAction>,
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PricesAction {
    /// Fetch LiteLLM's current price data (the URL ccusage uses), check it, and use it from
    /// now on; every stored cost is recomputed. The one request Headroom sends to a host other
    /// than Anthropic's, and only when asked.
    Update {
        /// A LiteLLM price file (model_prices_and_context_window.json), as a path or URL.
        #[arg(long, value_name = "FILE|URL", default_value = update::DEFAULT_URL)]
        from: String,
    },
}

pub(crate) fn run(ctx: &Context, args: &PricesArgs) -> Result<(), Failure> {
    match &args.action {
        None => show(&ctx.prices, args.json),
        Some(PricesAction::Update { from }) => run_update(ctx, from),
    }
}

fn show(table: &PriceTable, as_json: bool) -> Result<(), Failure> {
    let info = table.info();
    if as_json {
        let models: serde_json::Map<String, serde_json::Value> = table
            .models()
            .map(|(id, price)| {
                let mut v = serde_json::to_value(price).unwrap_or_default();
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("from".into(), json!(table.origin(id)));
                }
                (id.to_owned(), v)
            })
            .collect();
        let out = json!({
            "source": info.source,
            "version": info.version,
            "date": info.date,
            "unit": "USD per million tokens",
            "models": models,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| Failure::new(1, e.to_string()))?
        );
        return Ok(());
    }
    println!(
        "Prices: {} (version {}, {})",
        info.source, info.version, info.date
    );
    println!("USD per million tokens; cache writes by TTL; tier: every token of a request whose prompt is above it.");
    for (id, p) in table.models() {
        let b = &p.base;
        let mut line = format!(
            "{id:<28} in {:>7} out {:>7} write 5m {:>7} 1h {:>7} read {:>7}",
            b.input, b.output, b.cache_write_5m, b.cache_write_1h, b.cache_read
        );
        if let Some(t) = &p.tier {
            line.push_str(&format!(
                "  >{}k: in {} out {}",
                t.threshold / 1000,
                t.rates.input,
                t.rates.output
            ));
        }
        if let Some(m) = p.fast_multiplier {
            line.push_str(&format!("  fast x{m}"));
        }
        if let Some(m) = p.us_multiplier {
            line.push_str(&format!("  US-only x{m}"));
        }
        if let Some(origin) = table.origin(id).filter(|o| o.starts_with("override")) {
            line.push_str(&format!("  [{origin}]"));
        }
        println!("{line}");
    }
    Ok(())
}

/// `prices.auto_update`: at most one attempt a day, before the command runs, so that it
/// prices with the new table (the tray's service does the same in its round: both call
/// `update::auto_update`). A failure is a warning; the command goes on with the old table.
pub(crate) fn auto_update(mut ctx: Context) -> Context {
    let Ok(loaded) = headroom_core::settings::load(&ctx.state.settings()) else {
        return ctx;
    };
    if !loaded.settings.prices.auto_update {
        return ctx;
    }
    let path = ctx.state.downloaded_prices();
    // HEADROOM_PRICES_URL points it elsewhere (tests: a loopback server); checked at start.
    let url = ctx
        .account
        .prices_url
        .as_ref()
        .map_or(update::DEFAULT_URL.to_owned(), |u| u.to_string());
    let attempt = update::auto_update_blocking(
        &url,
        &path,
        &update::auto_update_stamp(&path),
        std::time::SystemTime::now(),
        &chrono::Utc::now().format("%Y-%m-%d").to_string(),
    );
    match attempt {
        None => {}
        Some(Ok(_)) => match PriceTable::load(&path, &ctx.state.price_overrides()) {
            Ok(table) => ctx.prices = table,
            Err(e) => eprintln!("warning: {e}"),
        },
        Some(Err(e)) => eprintln!("warning: automatic price update (prices.auto_update): {e}"),
    }
    ctx
}

fn run_update(ctx: &Context, from: &str) -> Result<(), Failure> {
    let fail = |e: update::UpdateError| Failure::new(1, e.to_string());
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let path = ctx.state.downloaded_prices();
    let file =
        update::fetch_and_install(from, &path, &today, Duration::from_secs(30)).map_err(fail)?;
    let table = PriceTable::load(&path, &ctx.state.price_overrides())
        .map_err(|e| Failure::new(1, e.to_string()))?;
    // Every stored cost follows the new table now, not at the next report.
    let mut ledger = ctx.open_ledger()?;
    let changed = ledger.reprice(&table)?;
    ledger.record_unpriced(&table)?;
    println!(
        "Prices updated from {from}: {} Claude models, kept in {}{}.",
        file.models.len(),
        path.display(),
        if changed {
            "; stored costs recomputed"
        } else {
            ""
        }
    );
    Ok(())
}
