//! `samla discover`: reads the selected sources into new snapshots ([`crate::source`]).

use super::output::Failure;
use crate::config::Config;
use crate::project::open_state_for_writing;
use crate::source::{SourceOutcome, discover};
use crate::state::WriterLock;

/// Opens the state (the caller holds its lock) and reads the selected sources.
pub fn run_discover(
    config: &Config,
    lock: &WriterLock,
    names: &[String],
    progress: bool,
) -> Result<Vec<SourceOutcome>, Failure> {
    let selected = config.select(names)?;
    if selected.is_empty() {
        return Err(Failure::usage(format!("{} defines no sources", config.file.display())));
    }
    let state = open_state_for_writing(config, lock)?;
    Ok(discover(state, &selected, progress)?)
}
