//! Planning: the edge around [`crate::plan`]. Reads the newest unified directory from the
//! state, plan.toml and the wave files; writes the wave files (keeping what people pinned,
//! moved or excluded) and, if asked, the plan report. Also how one unit's impact was reached,
//! and every wave file's status.

use super::error::ProjectError;
use super::load::{Loaded, load, wave_files};
use super::{project_dir, waves_dir};
use crate::config::Config;
use crate::plan::directory::PlanDirectory;
use crate::plan::files::{self, PlanInputs};
use crate::plan::impact::Impact;
use crate::plan::make::{self, Plan};
use crate::report::plan::{PlanReport, UnitRow, WaveRow};
use crate::state::State;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What depends on excluded units and is in no wave.
#[derive(Debug, Clone, Serialize)]
pub struct Unplanned {
    pub groups: usize,
    /// Those groups by name, sorted: each one is named, never skipped silently.
    pub group_names: Vec<String>,
    pub memberships: usize,
    pub manager_links: usize,
}

/// What `samla plan` made: `samla plan --json` prints it.
#[derive(Debug, Serialize)]
pub struct Planned {
    pub inputs: PlanInputs,
    pub waves: Vec<WaveRow>,
    pub files: Vec<PathBuf>,
    pub notices: Vec<String>,
    pub unplanned: Unplanned,
    pub report: Option<PathBuf>,
    #[serde(skip)]
    pub waves_dir: PathBuf,
    #[serde(skip)]
    pub municipalities: Vec<String>,
    /// Blocking findings of the map run (no wave runs until they are resolved).
    #[serde(skip)]
    pub blocking: u64,
}

/// Plans the waves into waves/ and, with `report`, writes the plan report into reports/plan.
pub fn plan(config: &Config, state: &State, report: bool) -> Result<Planned, ProjectError> {
    let loaded = load(config, state)?;
    if loaded.current != loaded.planned_from {
        let why = make::input_changes(&loaded.planned_from, &loaded.current);
        return Err(ProjectError::MapOutOfDate { changes: why.join("; ") });
    }
    let waves = waves_dir(config);
    let existing = files::read_dir(&waves)?;
    let started = std::time::Instant::now();
    let plan = make::make(&loaded.dir, &loaded.settings, &loaded.planned_from, &existing)?;
    tracing::info!("plan: planned in {:.2} s", started.elapsed().as_secs_f64());
    let planned_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let drafts = plan.drafts(&loaded.dir, &loaded.planned_from, &planned_at);
    let written = files::write_dir(&waves, &drafts)?;
    let rows = wave_rows(&plan, &loaded.dir, |_| "planned".to_string());
    let report = if report {
        let out = project_dir(config).join("reports/plan");
        let r = plan_report(&plan, &loaded, rows.clone(), &planned_at);
        Some(crate::report::plan::write(&r, &out)?)
    } else {
        None
    };
    let s = &plan.schedule;
    Ok(Planned {
        inputs: loaded.planned_from.clone(),
        waves: rows,
        files: written,
        unplanned: Unplanned {
            groups: s.unplanned_groups,
            group_names: {
                let mut names: Vec<String> = (s.group_wave.iter().zip(&loaded.dir.groups))
                    .filter(|(wave, _)| wave.is_none())
                    .map(|(_, g)| g.name.clone())
                    .collect();
                names.sort_unstable();
                names
            },
            memberships: s.unplanned_memberships,
            manager_links: s.unplanned_manager_links,
        },
        notices: plan.notices,
        report,
        waves_dir: waves,
        municipalities: loaded.dir.municipalities.clone(),
        blocking: loaded.run.blocking,
    })
}

/// How one unit's impact score was reached.
pub struct Explained {
    pub impact: Impact,
    /// Its place among all units by ascending impact (1 = smallest), and how many there are.
    pub rank: usize,
    pub units: usize,
    /// The file the weights come from.
    pub weights: PathBuf,
}

/// Explains the impact of `unit` ("municipality/unit"); writes nothing.
pub fn explain(config: &Config, state: &State, unit: &str) -> Result<Explained, ProjectError> {
    let loaded = load(config, state)?;
    let Some(i) = loaded.dir.unit_index(unit) else {
        let lower = unit.to_lowercase();
        let municipality = lower.split('/').next().unwrap_or_default();
        let like = |u: &&str| u.to_lowercase().contains(&lower);
        let same_municipality = |u: &&str| u.to_lowercase().starts_with(&format!("{municipality}/"));
        let units = || loaded.dir.units.iter().map(|u| u.0.as_str());
        let mut close: Vec<&str> = units().filter(like).take(10).collect();
        if close.is_empty() {
            close = units().filter(same_municipality).take(30).collect();
        }
        let examples = if close.is_empty() { String::new() } else { format!(", e.g. {}", close.join(", ")) };
        return Err(ProjectError::NoSuchUnit { unit: unit.to_string(), examples });
    };
    let mut impacts = crate::plan::impact::all(&loaded.dir, &loaded.settings);
    let units = impacts.len();
    let impact = impacts.swap_remove(i as usize);
    let rank = impacts.iter().filter(|x| x.score < impact.score).count() + 1;
    Ok(Explained { impact, rank, units, weights: loaded.settings.file.clone() })
}

/// The waves as report rows; `status` gives each wave's status.
fn wave_rows(plan: &Plan, dir: &PlanDirectory, status: impl Fn(u32) -> String) -> Vec<WaveRow> {
    plan.waves
        .iter()
        .map(|w| {
            let c = plan.counts(w, dir);
            WaveRow {
                number: w.number,
                name: w.name.clone(),
                status: status(w.number),
                accounts: c.accounts_by_municipality,
                units: c.units,
                groups_created: c.groups_created,
                memberships: c.memberships,
                manager_links: c.manager_links,
                impact: c.impact,
            }
        })
        .collect()
}

fn plan_report(plan: &Plan, loaded: &Loaded, waves: Vec<WaveRow>, planned_at: &str) -> PlanReport {
    let i = &loaded.planned_from;
    let mut inputs = vec![
        ("unified directory".to_string(), i.unified.clone()),
        ("mappings".to_string(), i.mappings.clone()),
        ("plan.toml".to_string(), i.plan_settings.clone()),
    ];
    inputs.extend(i.snapshots.iter().map(|(m, h)| (format!("snapshot {m}"), h.clone())));
    let mut units = plan
        .slots
        .iter()
        .zip(&plan.assignment.places)
        .map(|(s, place)| UnitRow {
            wave: place.wave,
            unit: s.slot.to_string(),
            municipality: loaded.dir.municipalities[s.municipality as usize].clone(),
            accounts: s.people.len(),
            impact: s.impact,
            note: match place.kept {
                Some(crate::plan::waves::Kept::Pinned) => "pinned",
                Some(crate::plan::waves::Kept::Moved) => "moved",
                Some(crate::plan::waves::Kept::Excluded) => "excluded",
                None => "",
            }
            .to_string(),
        })
        .collect::<Vec<_>>();
    units.sort_by(|a, b| a.wave.cmp(&b.wave).then(a.impact.total_cmp(&b.impact)).then(a.unit.cmp(&b.unit)));
    PlanReport {
        planned_at: planned_at.to_string(),
        inputs,
        municipalities: loaded.dir.municipalities.clone(),
        waves,
        units,
    }
}

/// One wave file's status for `samla waves`.
#[derive(Debug, Serialize)]
pub struct WaveStatus {
    pub number: u32,
    pub name: String,
    pub file: PathBuf,
    pub status: &'static str,
    pub stale_because: Vec<String>,
    pub accounts: BTreeMap<String, usize>,
    pub units: usize,
    pub pinned: usize,
    pub excluded: usize,
}

/// Every wave file with its counts per municipality and its status (planned, stale), and the
/// municipalities in order.
pub fn statuses(config: &Config, state: &State) -> Result<(Vec<WaveStatus>, Vec<String>), ProjectError> {
    let files = wave_files(config)?;
    let loaded = load(config, state)?;
    let current_slots = make::current_slots(&loaded.dir, &loaded.settings);
    let mut statuses = Vec::new();
    for f in &files {
        make::check_current_units(f, &loaded.current, &current_slots)?;
        let why = make::staleness(f, &loaded.current, &current_slots);
        let mut accounts: BTreeMap<String, usize> = loaded.dir.municipalities.iter().map(|m| (m.clone(), 0)).collect();
        for u in f.units.iter().filter(|u| !u.exclude) {
            *accounts.entry(u.slot.unit.municipality().to_string()).or_default() += u.accounts;
        }
        statuses.push(WaveStatus {
            number: f.number,
            name: f.name.clone(),
            file: f.path.clone(),
            status: if why.is_empty() { "planned" } else { "stale" },
            stale_because: why,
            accounts,
            units: f.units.iter().filter(|u| !u.exclude).count(),
            pinned: f.units.iter().filter(|u| u.pinned).count(),
            excluded: f.units.iter().filter(|u| u.exclude).count(),
        });
    }
    Ok((statuses, loaded.dir.municipalities))
}
