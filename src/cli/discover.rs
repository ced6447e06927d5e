//! `samla discover`: reads the selected sources into new snapshots ([`crate::source`]);
//! `samla snapshots accept`: accepts one that was held.

use super::output::Failure;
use crate::config::Config;
use crate::config::operator::who;
use crate::project::open_state_for_writing;
use crate::source::{OnShrink, SourceOutcome, discover};
use crate::state::{SnapshotId, SnapshotSummary, State, WriterLock};

/// Opens the state (the caller holds its lock) and reads the selected sources; `accept_shrink`
/// accepts a snapshot that shrank beyond its source's limit at once, in the operator's name.
pub fn run_discover(
    config: &Config,
    lock: &WriterLock,
    names: &[String],
    accept_shrink: bool,
    progress: bool,
) -> Result<Vec<SourceOutcome>, Failure> {
    let selected = config.select(names)?;
    if selected.is_empty() {
        return Err(Failure::usage(format!("{} defines no sources", config.file.display())));
    }
    let state = open_state_for_writing(config, lock)?;
    let on_shrink = if accept_shrink { OnShrink::AcceptBy(who().0) } else { OnShrink::Hold };
    Ok(discover(state, &selected, &on_shrink, progress)?)
}

/// Accepts a held snapshot in the operator's name.
pub fn accept(state: &mut State, id: i64) -> Result<SnapshotSummary, Failure> {
    Ok(state.accept_snapshot(SnapshotId(id), &who().0)?)
}
