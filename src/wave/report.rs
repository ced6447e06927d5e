//! The rollback reports of a wave, per municipality: every change the wave's runs made in a
//! target, its inverse, the order the inverses run in, and whether the target still shows it
//! or has drifted. Read live when the target can be reached; otherwise written and marked not
//! verified, and never over verified ones: those stay, and the unverified reports go beside
//! them into `unverified/`. Written after every run and rollback, and by `samla report rollback`.

use super::connect::{Connected, connect, runtime, same_target};
use super::error::WaveError;
use super::prepare::{Prepared, Purpose, prepare};
use super::rollback_plan::{RollbackInputs, RollbackPlan, inputs, plan};
use crate::config::Config;
use crate::project::project_dir;
use crate::report::rollback::{RollbackReport, UndoItem};
use crate::rollback::Scope;
use crate::state::State;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `samla report rollback --json` prints.
#[derive(Debug, Serialize)]
pub struct ReportSummary {
    pub wave: u32,
    pub target: String,
    pub verified_live: bool,
    pub counts: BTreeMap<&'static str, usize>,
    pub reports: Vec<PathBuf>,
    /// Why the target was not read (the reports are then not verified).
    #[serde(skip)]
    pub unverified_because: Option<String>,
    /// The verified reports (JSON) left in place because the target could not be read: the
    /// unverified ones were written beside them, in `unverified/`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept_verified: Vec<PathBuf>,
}

/// The reports in `dir` that were verified against the target (their JSON says so).
pub fn verified_reports(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut verified: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| {
            std::fs::read_to_string(p)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .is_some_and(|v| v["verified_live"] == serde_json::Value::Bool(true))
        })
        .collect();
    verified.sort();
    verified
}

/// `reports/rollback/<wave file>/<target>` next to samla.toml.
pub fn reports_dir(config: &Config, prepared: &Prepared, target: &str) -> PathBuf {
    let stem = prepared.file.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    project_dir(config).join("reports/rollback").join(stem).join(target)
}

/// Writes one report per municipality (and one for shared objects); returns the HTML paths.
pub fn write_reports(
    dir: &Path,
    inputs: &RollbackInputs<'_>,
    target: &str,
    plan: &RollbackPlan,
) -> Result<Vec<PathBuf>, WaveError> {
    let mut by_municipality: BTreeMap<&str, Vec<UndoItem>> = BTreeMap::new();
    for (m, i) in plan.items() {
        by_municipality.entry(m).or_default().push(i.clone());
    }
    let cutover = crate::rollback::cutover::items(&inputs.cutover);
    for (m, i) in &cutover {
        by_municipality.entry(m.as_str()).or_default().push(i.clone());
    }
    let generated_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut written = Vec::new();
    for (m, items) in by_municipality {
        let report = RollbackReport {
            wave: inputs.prepared.file.number,
            wave_name: inputs.prepared.file.name.clone(),
            target: target.to_string(),
            municipality: m.to_string(),
            generated_at: generated_at.clone(),
            verified_live: plan.live,
            runs: inputs.runs.clone(),
            items,
        };
        let paths = crate::report::rollback::write(&report, dir)?;
        written.extend(paths.into_iter().take(1));
    }
    Ok(written)
}

/// The target to report on: the one named, or the only one the wave ran against.
fn target_of(state: &State, wave: u32, target: Option<&str>) -> Result<String, WaveError> {
    if let Some(t) = target {
        return Ok(t.to_string());
    }
    let mut names: Vec<String> = state.runs(wave, None)?.into_iter().map(|r| r.target).collect();
    names.sort();
    names.dedup();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(WaveError::NeverRun { wave }),
        many => Err(WaveError::WhichTarget { wave, targets: many.join(", ") }),
    }
}

/// Writes the rollback reports of `prepared`'s wave against `target`, reading the target
/// through `clients` (None: it could not be reached, and the reports say the changes are not
/// verified).
pub async fn write_reports_with(
    config: &Config,
    state: &State,
    prepared: &Prepared,
    target: &str,
    clients: Option<&mut Connected>,
) -> Result<ReportSummary, WaveError> {
    let dir = reports_dir(config, prepared, target);
    let summary = write_reports_into(&dir, state, prepared, target, clients).await?;
    // Verified reports supersede the unverified ones an unreachable target left beside them.
    let stale = dir.join("unverified");
    if summary.verified_live && stale.is_dir() {
        std::fs::remove_dir_all(&stale).map_err(|source| WaveError::File { path: stale.clone(), source })?;
    }
    Ok(summary)
}

/// [`write_reports_with`] into `dir`.
async fn write_reports_into(
    dir: &Path,
    state: &State,
    prepared: &Prepared,
    target: &str,
    clients: Option<&mut Connected>,
) -> Result<ReportSummary, WaveError> {
    let inputs = inputs(state, prepared, target)?;
    let plan = plan(&inputs, clients, Scope(None)).await?;
    let reports = write_reports(dir, &inputs, target, &plan)?;
    Ok(ReportSummary {
        wave: prepared.file.number,
        target: target.to_string(),
        verified_live: plan.live,
        counts: plan.counts(),
        reports,
        unverified_because: None,
        kept_verified: Vec::new(),
    })
}

/// `samla report rollback WAVE [--target NAME] [--municipality NAME]`: the reports of the
/// wave, live when the target can be read. When it cannot, the reports are written marked not
/// verified (`verified_live` false, `unverified_because` says why), and if verified reports
/// are already there they are kept and the unverified ones go into `unverified/` beside them
/// (`kept_verified` lists them).
pub fn report(
    config: &Config,
    state: &State,
    wave: &str,
    target: Option<&str>,
    municipality: Option<&str>,
) -> Result<ReportSummary, WaveError> {
    let prepared = prepare(config, state, wave, Purpose::Undo)?;
    let number = prepared.file.number;
    let target = target_of(state, number, target)?;
    let target_config = config.target(&target)?;
    same_target(state, target_config)?;
    let mut summary = runtime()?.block_on(async {
        match connect(target_config).await {
            Ok(mut clients) => {
                let written = write_reports_with(config, state, &prepared, &target, Some(&mut clients)).await;
                clients.close().await;
                written
            }
            Err(e) => {
                let dir = reports_dir(config, &prepared, &target);
                let kept = verified_reports(&dir);
                let into = if kept.is_empty() { dir } else { dir.join("unverified") };
                let mut written = write_reports_into(&into, state, &prepared, &target, None).await?;
                written.unverified_because = Some(e.to_string());
                written.kept_verified = kept;
                Ok(written)
            }
        }
    })?;
    if let Some(m) = municipality {
        summary.reports.retain(|p| p.file_stem().is_some_and(|s| s == m));
        summary.kept_verified.retain(|p| p.file_stem().is_some_and(|s| s == m));
        if summary.reports.is_empty() {
            return Err(WaveError::NothingOfMunicipality { wave: number, municipality: m.to_string(), target });
        }
    }
    Ok(summary)
}
