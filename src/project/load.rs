//! What planning and every wave operation read first: plan.toml, the newest map run and its
//! directory, and the hashes of the inputs a wave file was planned from (a wave planned from
//! other inputs is stale).

use super::error::ProjectError;
use super::{mappings_dir, waves_dir};
use crate::config::Config;
use crate::mapping::spec;
use crate::plan::directory::{PlanDirectory, StoredGroup, StoredPerson};
use crate::plan::files::{self, PlanInputs, WaveFile};
use crate::plan::settings::{self, PlanSettings};
use crate::state::State;
use crate::state::unified::{RowError, UnifiedRun};
use std::collections::BTreeMap;

/// Everything planning reads.
pub struct Loaded {
    pub settings: PlanSettings,
    pub run: UnifiedRun,
    pub dir: PlanDirectory,
    /// The inputs of the newest map run (what a plan made now records).
    pub planned_from: PlanInputs,
    /// The inputs as they are now: the newest accepted snapshots and the mapping files on disk.
    pub current: PlanInputs,
    /// target.toml as on disk (domains, and what waves become for the targets).
    pub target: spec::TargetSpec,
}

/// Reads plan.toml, the newest map run and its directory, and the inputs' hashes.
pub fn load(config: &Config, state: &State) -> Result<Loaded, ProjectError> {
    let started = std::time::Instant::now();
    let mappings_dir = mappings_dir(config);
    let settings = settings::load(&mappings_dir)?;
    let names: Vec<String> = config.sources.iter().map(|s| s.name.clone()).collect();
    let mappings = spec::load(&mappings_dir, &names)?;
    let run = state.latest_unified()?.ok_or(ProjectError::NothingMapped)?;
    let all = state.snapshots()?;
    let run_snapshots: BTreeMap<String, String> = all
        .iter()
        .filter(|s| run.snapshots.contains(&s.id))
        .map(|s| (s.municipality.clone(), s.content_hash.clone()))
        .collect();
    let mut latest = BTreeMap::new();
    for name in &names {
        if let Some(s) = state.latest_snapshot(name)? {
            latest.insert(name.clone(), s.content_hash);
        }
    }
    let planned_from = PlanInputs {
        unified: run.content_hash.clone(),
        mappings: run.mappings_hash.clone(),
        plan_settings: settings.hash.clone(),
        snapshots: run_snapshots,
    };
    let current = PlanInputs { mappings: mappings.hash, snapshots: latest, ..planned_from.clone() };
    let mut people = Vec::new();
    state.for_each_unified_row(run.id, "person", |key, json| {
        people.push(serde_json::from_str::<StoredPerson>(json).map_err(RowError::decode("person", key))?);
        Ok(())
    })?;
    let mut groups = Vec::new();
    state.for_each_unified_row(run.id, "group", |key, json| {
        groups.push(serde_json::from_str::<StoredGroup>(json).map_err(RowError::decode("group", key))?);
        Ok(())
    })?;
    tracing::info!(
        "plan: {} people, {} groups read in {:.2} s",
        people.len(),
        groups.len(),
        started.elapsed().as_secs_f64()
    );
    let dir = PlanDirectory::build(people, groups);
    tracing::info!("plan: directory built after {:.2} s", started.elapsed().as_secs_f64());
    Ok(Loaded { settings, run, dir, planned_from, current, target: mappings.target })
}

/// The wave files of the project, refusing a project without any.
pub fn wave_files(config: &Config) -> Result<Vec<WaveFile>, ProjectError> {
    let dir = waves_dir(config);
    let files = files::read_dir(&dir)?;
    if files.is_empty() {
        return Err(ProjectError::NoWaveFiles { dir });
    }
    Ok(files)
}
