//! `headroom`: Claude usage, limits and cost in the terminal, on the same core as the tray app.

mod claude_ai_cmd;
mod context;
mod extra_usage_cmd;
mod ledger_cmd;
mod prices_cmd;
mod reports;
mod serve_cmd;
mod status_cmd;
mod statusline_cmd;
mod table;
mod watch_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use headroom_core::report::Period;

use context::{Context, Failure};

#[derive(Debug, Parser)]
#[command(name = "headroom", version, about = "Never hit a Claude usage limit by surprise.", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Usage and cost per day.
    Daily(reports::ReportArgs),
    /// Usage and cost per week.
    Weekly(reports::ReportArgs),
    /// Usage and cost per month.
    Monthly(reports::ReportArgs),
    /// Usage and cost per Claude Code session.
    Session(reports::ReportArgs),
    /// Usage and cost per project.
    Projects(reports::ReportArgs),
    /// 5-hour billing blocks, with the active block's burn rate and projection.
    Blocks(reports::BlocksArgs),
    /// The ledger Headroom keeps of your usage.
    Ledger {
        #[command(subcommand)]
        action: ledger_cmd::LedgerAction,
    },
    /// Watch usage in the foreground and send desktop notifications before a limit.
    Watch(watch_cmd::WatchArgs),
    /// `watch`'s round with its figures for Prometheus (`--metrics [ADDR]`) and OTLP
    /// (`OTEL_EXPORTER_OTLP_ENDPOINT`); notifications only with `--notify`.
    Serve(serve_cmd::ServeArgs),
    /// Recent alerts (and `--snooze` to hold notifications back).
    Alerts(watch_cmd::AlertsArgs),
    /// Session and weekly limits, Extra Usage and the forecast, each with its source and age.
    Status(status_cmd::StatusArgs),
    /// Claude Code's status line: reads its JSON on stdin, prints one line (`--install` sets it up).
    Statusline(statusline_cmd::StatuslineArgs),
    /// Extra Usage: its state; `enable --cap 50`, `cap 75`, `disable` change it on your
    /// account after you confirm; `history` lists those changes.
    ExtraUsage(extra_usage_cmd::ExtraUsageArgs),
    /// The optional claude.ai source: `login` (session key into the keychain), `logout`, `orgs`.
    #[command(name = "claude-ai")]
    ClaudeAi(claude_ai_cmd::ClaudeAiArgs),
    /// The API prices in use (source, version, each model's rates); `update` fetches
    /// LiteLLM's current ones, the only request sent to a host other than Anthropic's.
    Prices(prices_cmd::PricesArgs),
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    // Claude Code runs the status line on every render: whatever happens, exit 0 and print
    // a line or nothing (see statusline_cmd).
    if let Command::Statusline(args) = &cli.command {
        if !args.install && !args.uninstall {
            let _ = std::panic::catch_unwind(|| statusline_cmd::render(Context::from_env(), args));
            return ExitCode::SUCCESS;
        }
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("headroom: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Logs go to stderr, warnings by default (`HEADROOM_LOG=debug`, or `RUST_LOG`, for more).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HEADROOM_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_env("RUST_LOG"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}

fn run(cli: Cli) -> Result<(), Failure> {
    let ctx = Context::from_env()?;
    let ctx = match cli.command {
        // The statusline never sends a request; `prices update` does its own; `watch` and
        // `serve` run the service's task, whose round does it (daily while they run).
        Command::Statusline(_) | Command::Prices(_) | Command::Watch(_) | Command::Serve(_) => ctx,
        _ => prices_cmd::auto_update(ctx),
    };
    match cli.command {
        Command::Daily(args) => reports::periods(&ctx, &args, Period::Day),
        Command::Weekly(args) => reports::periods(&ctx, &args, Period::Week),
        Command::Monthly(args) => reports::periods(&ctx, &args, Period::Month),
        Command::Session(args) => reports::sessions(&ctx, &args),
        Command::Projects(args) => reports::projects(&ctx, &args),
        Command::Blocks(args) => reports::blocks(&ctx, &args),
        Command::Ledger { action } => ledger_cmd::run(&ctx, action),
        Command::Watch(args) => watch_cmd::watch(&ctx, &args),
        Command::Serve(args) => serve_cmd::run(&ctx, &args),
        Command::Alerts(args) => watch_cmd::alerts(&ctx, &args),
        Command::Status(args) => status_cmd::run(&ctx, &args),
        Command::Statusline(args) => statusline_cmd::install(&ctx, &args),
        Command::ExtraUsage(args) => extra_usage_cmd::run(&ctx, &args),
        Command::ClaudeAi(args) => claude_ai_cmd::run(&ctx, &args),
        Command::Prices(args) => prices_cmd::run(&ctx, &args),
    }
}
