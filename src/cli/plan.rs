//! `samla plan` and `samla waves`: the edge around [`crate::plan`]. Reads the newest unified
//! directory from the state, plan.toml and the wave files; writes the wave files and reports.

use super::Failure;
use crate::config::Config;
use crate::plan::directory::PlanDirectory;
use crate::plan::files::{self};
use crate::plan::make::{self, Plan};
use crate::plan::waves::Slot;
use crate::report::plan::{PlanReport, UnitRow, WaveRow};
use crate::state::State;
use crate::wave::project::{Loaded, load, project_dir, waves_dir};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `samla plan [--explain UNIT] [--report]`.
pub fn run(config: &Config, explain: Option<&str>, report: bool, json: bool) -> Result<(), Failure> {
    let state = State::open(&config.state_path).map_err(Failure::work)?;
    let loaded = load(config, &state)?;
    if let Some(unit) = explain {
        return explain_unit(&loaded, unit, json);
    }
    if loaded.current != loaded.planned_from {
        let why = make::input_changes(&loaded.planned_from, &loaded.current);
        return Err(Failure::usage(format!(
            "the newest map run is out of date ({}): run `samla map` first",
            why.join("; ")
        )));
    }
    let waves = waves_dir(config);
    let existing = files::read_dir(&waves).map_err(Failure::usage)?;
    let started = std::time::Instant::now();
    let plan = make::make(&loaded.dir, &loaded.settings, &loaded.planned_from, &existing).map_err(Failure::usage)?;
    tracing::info!("plan: planned in {:.2} s", started.elapsed().as_secs_f64());
    let planned_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let drafts = plan.drafts(&loaded.dir, &loaded.planned_from, &planned_at);
    let written = files::write_dir(&waves, &drafts).map_err(Failure::work)?;
    let rows = wave_rows(&plan, &loaded.dir, |_| "planned".to_string());
    let report_path = if report {
        let out = project_dir(config).join("reports/plan");
        let r = plan_report(&plan, &loaded, rows.clone(), &planned_at);
        Some(crate::report::plan::write(&r, &out).map_err(Failure::work)?)
    } else {
        None
    };
    if json {
        let value = serde_json::json!({
            "inputs": loaded.planned_from,
            "waves": rows,
            "files": written,
            "notices": plan.notices,
            "unplanned": {
                "groups": plan.schedule.unplanned_groups,
                "memberships": plan.schedule.unplanned_memberships,
                "manager_links": plan.schedule.unplanned_manager_links,
            },
            "report": report_path,
        });
        return super::print_json(&value);
    }
    print_wave_table(&rows, &loaded.dir.municipalities);
    for n in &plan.notices {
        println!("note: {n}");
    }
    let s = &plan.schedule;
    if s.unplanned_groups + s.unplanned_memberships + s.unplanned_manager_links > 0 {
        println!(
            "not in any wave (they depend on excluded units): {} groups, {} memberships, {} manager links",
            s.unplanned_groups, s.unplanned_memberships, s.unplanned_manager_links
        );
    }
    println!("{} wave files in {}", written.len(), waves.display());
    if let Some(p) = report_path {
        println!("report: {}", p.display());
    }
    if loaded.run.blocking > 0 {
        println!(
            "warning: the map run has {} blocking finding(s): no wave runs until they are resolved",
            loaded.run.blocking
        );
    }
    Ok(())
}

fn explain_unit(loaded: &Loaded, unit: &str, json: bool) -> Result<(), Failure> {
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
        return Err(Failure::usage(format!(
            "no unit {unit:?}; units are written municipality/unit{}",
            if close.is_empty() { String::new() } else { format!(", e.g. {}", close.join(", ")) }
        )));
    };
    let impacts = crate::plan::impact::all(&loaded.dir, &loaded.settings);
    let impact = &impacts[i as usize];
    if json {
        return super::print_json(impact);
    }
    let rank = impacts.iter().filter(|x| x.score < impact.score).count() + 1;
    println!(
        "{}: impact {} ({} accounts; {} of {} units by ascending impact)\n",
        impact.unit,
        impact.score,
        impact.counts.accounts,
        rank,
        impacts.len()
    );
    println!("{:<34} {:>9} {:>8} {:>9}  why", "factor", "quantity", "weight", "points");
    for f in &impact.factors {
        println!("{:<34} {:>9} {:>8} {:>9}  {}", f.name, f.quantity, f.weight, f.points, f.why);
    }
    println!("{:<34} {:>9} {:>8} {:>9}", "impact", "", "", impact.score);
    println!("\nWeights: {}", loaded.settings.file.display());
    Ok(())
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

fn print_wave_table(rows: &[WaveRow], municipalities: &[String]) {
    let mut header = format!("{:>4}  {:<24} {:<8}", "wave", "name", "status");
    for m in municipalities {
        header.push_str(&format!(" {:>11}", truncate(m, 11)));
    }
    header.push_str(&format!(
        " {:>8} {:>5} {:>6} {:>11} {:>8} {:>8}",
        "accounts", "units", "groups", "memberships", "managers", "impact"
    ));
    println!("{header}");
    for r in rows {
        let mut line = format!("{:>4}  {:<24} {:<8}", r.number, truncate(&r.name, 24), truncate(&r.status, 8));
        for m in municipalities {
            line.push_str(&format!(" {:>11}", r.accounts.get(m).copied().unwrap_or(0)));
        }
        let total: usize = r.accounts.values().sum();
        line.push_str(&format!(
            " {:>8} {:>5} {:>6} {:>11} {:>8} {:>8.1}",
            total, r.units, r.groups_created, r.memberships, r.manager_links, r.impact
        ));
        println!("{line}");
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).chain(['…']).collect() }
}

/// One wave file's status for `samla waves`.
#[derive(Debug, serde::Serialize)]
struct WaveStatus {
    number: u32,
    name: String,
    file: PathBuf,
    status: &'static str,
    stale_because: Vec<String>,
    accounts: BTreeMap<String, usize>,
    units: usize,
    pinned: usize,
    excluded: usize,
}

/// `samla waves`: every wave file with its counts per municipality and its status.
pub fn list(config: &Config, json: bool) -> Result<(), Failure> {
    let waves = waves_dir(config);
    let files = files::read_dir(&waves).map_err(Failure::usage)?;
    if files.is_empty() {
        return Err(Failure::usage(format!("no wave files in {}: run `samla plan` first", waves.display())));
    }
    let state = State::open(&config.state_path).map_err(Failure::work)?;
    let loaded = load(config, &state)?;
    let current_slots = make::current_slots(&loaded.dir, &loaded.settings);
    let mut statuses = Vec::new();
    for f in &files {
        if f.inputs == loaded.current {
            files::check_units(std::slice::from_ref(f), &|s: &Slot| current_slots.contains_key(s))
                .map_err(Failure::usage)?;
        }
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
    if json {
        return super::print_json(&statuses);
    }
    let municipalities = &loaded.dir.municipalities;
    let mut header = format!("{:>4}  {:<24} {:<8}", "wave", "name", "status");
    for m in municipalities {
        header.push_str(&format!(" {:>11}", truncate(m, 11)));
    }
    header.push_str(&format!(" {:>8} {:>5} {:>6} {:>8}  file", "accounts", "units", "pinned", "excluded"));
    println!("{header}");
    for s in &statuses {
        let mut line = format!("{:>4}  {:<24} {:<8}", s.number, truncate(&s.name, 24), s.status);
        for m in municipalities {
            line.push_str(&format!(" {:>11}", s.accounts.get(m).copied().unwrap_or(0)));
        }
        let total: usize = s.accounts.values().sum();
        let file = s.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        line.push_str(&format!(" {:>8} {:>5} {:>6} {:>8}  {file}", total, s.units, s.pinned, s.excluded));
        println!("{line}");
    }
    for s in statuses.iter().filter(|s| !s.stale_because.is_empty()) {
        println!("\nwave {} is stale: {}", s.number, s.stale_because.join("; "));
    }
    if statuses.iter().any(|s| !s.stale_because.is_empty()) {
        println!("\nRe-plan with `samla plan` (it keeps what was pinned, moved or excluded).");
    }
    Ok(())
}
