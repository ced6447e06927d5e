//! `samla waves`: every wave file with its status (planned, stale; [`crate::project::plan`])
//! and, per target, where the wave stands there as the journal tells it: run (or failed),
//! cut over (or failed), rolled back, and when.

use super::dependencies::{Presence, presence_in};
use super::error::WaveError;
use crate::config::Config;
use crate::journal::{RunKind, RunRow, RunStatus};
use crate::project::plan::WaveStatus;
use crate::state::State;
use serde::Serialize;
use std::collections::BTreeMap;

/// Where a wave stands in one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Its newest run (or cutover, or rollback) has not finished.
    Running,
    /// Run there, not cut over.
    Run,
    RunFailed,
    /// Cut over after its newest run.
    CutOver,
    CutoverFailed,
    /// Rolled back (the whole wave) after its newest run.
    RolledBack,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Running => "running",
            Stage::Run => "run",
            Stage::RunFailed => "run failed",
            Stage::CutOver => "cut over",
            Stage::CutoverFailed => "cutover failed",
            Stage::RolledBack => "rolled back",
        })
    }
}

/// A wave in one target: its stage, the run that put it there, and when that run ended.
#[derive(Debug, Clone, Serialize)]
pub struct InTarget {
    pub target: String,
    pub stage: Stage,
    pub run: i64,
    /// When the run ended (when it started, while it runs).
    pub at: String,
    /// The one municipality the run was limited to, if it was.
    pub municipality: Option<String>,
}

impl std::fmt::Display for InTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.target, self.stage)?;
        if let Some(m) = &self.municipality {
            write!(f, " ({m})")?;
        }
        write!(f, " {}", self.at)
    }
}

/// One wave file for `samla waves`: its status and where it stands in each target it was run in.
#[derive(Debug, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub wave: WaveStatus,
    pub targets: Vec<InTarget>,
}

/// Where a wave stands in one target, from that target's runs of it (oldest first); None when
/// it was never run there.
pub fn stage_in(runs: &[RunRow]) -> Option<InTarget> {
    let at = |r: &RunRow, stage: Stage| InTarget {
        target: r.target.clone(),
        stage: if r.status == RunStatus::Running { Stage::Running } else { stage },
        run: r.id,
        at: r.finished_at.clone().unwrap_or_else(|| r.started_at.clone()),
        municipality: r.summary.as_ref().and_then(|s| s["municipality"].as_str()).map(str::to_string),
    };
    let failed = |r: &RunRow| r.status == RunStatus::Failed;
    match presence_in(runs) {
        Presence::NeverRun => None,
        Presence::RolledBack { run } => runs.iter().find(|r| r.id == run).map(|r| at(r, Stage::RolledBack)),
        Presence::In { run } => {
            let i = runs.iter().position(|r| r.id == run)?;
            match runs[i + 1..].iter().rev().find(|r| r.kind == RunKind::Cutover) {
                Some(c) => Some(at(c, if failed(c) { Stage::CutoverFailed } else { Stage::CutOver })),
                None => Some(at(&runs[i], if failed(&runs[i]) { Stage::RunFailed } else { Stage::Run })),
            }
        }
    }
}

/// Every wave file with its status and its stage in each target, and the municipalities in order.
pub fn waves(config: &Config, state: &State) -> Result<(Vec<Listed>, Vec<String>), WaveError> {
    let (statuses, municipalities) = crate::project::plan::statuses(config, state)?;
    let mut listed = Vec::new();
    for wave in statuses {
        let mut by_target: BTreeMap<String, Vec<RunRow>> = BTreeMap::new();
        for r in state.runs(wave.number, None)? {
            by_target.entry(r.target.clone()).or_default().push(r);
        }
        let targets = by_target.values().filter_map(|runs| stage_in(runs)).collect();
        listed.push(Listed { wave, targets });
    }
    Ok((listed, municipalities))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, kind: RunKind, status: RunStatus, municipality: Option<&str>) -> RunRow {
        RunRow {
            id,
            wave: 1,
            wave_name: "pilot".into(),
            wave_hash: String::new(),
            target: "prod".into(),
            kind,
            operator: String::new(),
            host: String::new(),
            command: String::new(),
            started_at: format!("start {id}"),
            finished_at: (status != RunStatus::Running).then(|| format!("end {id}")),
            status,
            summary: Some(serde_json::json!({ "municipality": municipality })),
            identity: None,
            operations: Vec::new(),
        }
    }

    #[test]
    fn the_newest_run_cutover_or_whole_rollback_decides_and_says_when() {
        use {RunKind::*, RunStatus::*};
        let stage = |runs: &[RunRow]| stage_in(runs).map(|t| (t.stage, t.run, t.at, t.municipality));
        assert_eq!(stage(&[]), None);
        assert_eq!(stage(&[row(1, Run, Failed, None)]), Some((Stage::RunFailed, 1, "end 1".into(), None)));
        assert_eq!(stage(&[row(1, Run, Running, None)]), Some((Stage::Running, 1, "start 1".into(), None)));
        let cut = [row(1, Run, Completed, None), row(2, Cutover, Completed, Some("bjuv"))];
        assert_eq!(stage(&cut), Some((Stage::CutOver, 2, "end 2".into(), Some("bjuv".into()))));
        // A rollback of one municipality leaves the wave (and its cutover) in the target.
        let partial = [cut[0].clone(), cut[1].clone(), row(3, Rollback, Completed, Some("bjuv"))];
        assert_eq!(stage(&partial).map(|s| s.0), Some(Stage::CutOver));
        let whole = [cut[0].clone(), cut[1].clone(), row(3, Rollback, Completed, None)];
        assert_eq!(stage(&whole), Some((Stage::RolledBack, 3, "end 3".into(), None)));
        // Run again after the rollback: run, not cut over (the old cutover came before it).
        let again = [whole[0].clone(), whole[1].clone(), whole[2].clone(), row(4, Run, Completed, None)];
        assert_eq!(stage(&again).map(|s| s.0), Some(Stage::Run));
        let failed = [row(1, Run, Completed, None), row(2, Cutover, Failed, None)];
        assert_eq!(stage(&failed).map(|s| s.0), Some(Stage::CutoverFailed));
    }
}
