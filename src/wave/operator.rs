//! The person (or script) an operation answers to. An operation that writes to a target shows
//! what it is about to do and asks before the first write; how that is shown and asked (a
//! terminal, `--yes`, JSON for machines) is the front end's business, not the operation's.

use super::compare::Comparison;
use super::cutover_plan::CutoverOutcome;
use super::error::WaveError;
use super::rollback_plan::RollbackPlan;
use crate::plan::files::WaveFile;

/// What an operation shows before it asks.
pub enum Preview<'a> {
    /// A run: what the target holds compared with the wave.
    Run { wave: &'a WaveFile, target: &'a str, comparison: &'a Comparison },
    /// A rollback: every change of the wave, its inverse and whether the target still shows it.
    Rollback { wave: &'a WaveFile, target: &'a str, municipality: Option<&'a str>, plan: &'a RollbackPlan },
    /// A cutover: per municipality, the accounts to enable and the passes to issue.
    Cutover { wave: &'a WaveFile, outcome: &'a CutoverOutcome },
}

pub trait Operator {
    /// Shown what the operation will do, before thresholds are weighed.
    fn preview(&mut self, what: Preview<'_>);
    /// Asked whether to go on; an error stops the operation with nothing written.
    fn approve(&mut self, question: &str) -> Result<(), WaveError>;
    /// Whether progress bars stay hidden (machine-readable output, scripts).
    fn hides_progress(&self) -> bool;
}
