//! `samla discover`: reads the selected sources into new snapshots ([`crate::source`]).

use super::output::Failure;
use crate::config::Config;
use crate::source::{SourceOutcome, discover};
use crate::state::State;

/// Opens the state and reads the selected sources.
pub fn run_discover(config: &Config, names: &[String], progress: bool) -> Result<Vec<SourceOutcome>, Failure> {
    let selected = config.select(names)?;
    if selected.is_empty() {
        return Err(Failure::usage(format!("{} defines no sources", config.file.display())));
    }
    let state = State::open(&config.state_path)?;
    Ok(discover(state, &selected, progress)?)
}
