//! A wave's status: the journal's runs of it (who ran it, when, from which wave file, what
//! happened), with the operations of each run that failed or were in flight when it stopped.

use super::error::WaveError;
use super::prepare::wave_number;
use crate::config::Config;
use crate::journal::{Entry, OpState, RunRow};
use crate::state::State;

/// How many failed operations of a run are listed.
pub const FAILURES_SHOWN: usize = 20;

/// One run and the first of its operations that failed or are in doubt.
pub struct RunStatus {
    pub run: RunRow,
    pub unsettled: Vec<Entry>,
}

/// The wave's number and its runs against `target` (every target when None), oldest first.
pub fn status(
    config: &Config,
    state: &State,
    wave: &str,
    target: Option<&str>,
) -> Result<(u32, Vec<RunStatus>), WaveError> {
    let number = wave_number(config, wave)?;
    let mut out = Vec::new();
    for run in state.runs(number, target)? {
        let unsettled = state
            .operations(run.id)?
            .into_iter()
            .filter(|o| matches!(o.state, OpState::Failed | OpState::InDoubt))
            .take(FAILURES_SHOWN)
            .collect();
        out.push(RunStatus { run, unsettled });
    }
    Ok((number, out))
}
