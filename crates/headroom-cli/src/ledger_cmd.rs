//! `headroom ledger`: where it is, check it, rebuild it.

use clap::Subcommand;
use headroom_core::ledger::{self, Rebuilt};

use crate::context::{Context, Failure};

#[derive(Debug, Subcommand)]
pub(crate) enum LedgerAction {
    /// Print the ledger's path.
    Path,
    /// Check the ledger for damage and print what it holds.
    Check,
    /// Rebuild the ledger: recompute totals and read all transcripts again. A damaged ledger
    /// is kept beside the new one and the history that can still be read is copied over.
    Rebuild,
}

pub(crate) fn run(ctx: &Context, action: LedgerAction) -> Result<(), Failure> {
    let path = ctx.state.ledger();
    match action {
        LedgerAction::Path => println!("{}", path.display()),
        LedgerAction::Check => {
            let ledger = ctx.open_ledger()?;
            ledger.check()?;
            println!(
                "{}: ok, {} responses recorded",
                path.display(),
                ledger.entry_count()?
            );
        }
        LedgerAction::Rebuild => {
            let now = chrono::Utc::now().timestamp();
            let (mut ledger, rebuilt) = ledger::rebuild(&path, now)?;
            match rebuilt {
                Rebuilt::Refreshed { implausible: 0 } => {
                    println!("Ledger sound; recomputing from transcripts.")
                }
                Rebuilt::Refreshed { implausible } => println!(
                    "Ledger sound; deleted {implausible} responses with impossible token counts (over {} in a field); recomputing from transcripts.",
                    ledger::MAX_TOKENS_PER_FIELD
                ),
                Rebuilt::Replaced { moved_to, salvaged } => println!(
                    "The damaged ledger was moved to {}; {salvaged} responses were salvaged from it.",
                    moved_to.display()
                ),
            }
            let report = ctx.refresh(&mut ledger, &ctx.settings()?, true)?;
            println!(
                "Rebuilt: {} responses recorded ({} from transcripts).",
                ledger.entry_count()?,
                report.new_entries
            );
        }
    }
    Ok(())
}
