//! `samla plan` and `samla waves`: prints what [`crate::project::plan`] made and found.

use super::output::{Failure, print_json};
use crate::config::Config;
use crate::project::open_state_for_reading;
use crate::project::plan::{Explained, Planned, WaveStatus};
use crate::report::plan::WaveRow;
use crate::wave::listing::Listed;

/// `samla plan [--explain UNIT] [--report]`.
pub fn run(config: &Config, explain: Option<&str>, report: bool, json: bool) -> Result<(), Failure> {
    let state = open_state_for_reading(config)?;
    if let Some(unit) = explain {
        return print_explained(&crate::project::plan::explain(config, &state, unit)?, json);
    }
    let planned = crate::project::plan::plan(config, &state, report)?;
    if json {
        return print_json(&planned);
    }
    let Planned { waves, files, notices, unplanned: u, report, waves_dir, municipalities, blocking, .. } = &planned;
    print_wave_table(waves, municipalities);
    for n in notices {
        println!("note: {n}");
    }
    if u.groups + u.memberships + u.manager_links > 0 {
        println!(
            "not in any wave (they depend on excluded units): {} groups, {} memberships, {} manager links",
            u.groups, u.memberships, u.manager_links
        );
        const SHOWN: usize = 10;
        if !u.group_names.is_empty() {
            let more = u.group_names.len().saturating_sub(SHOWN);
            let tail = if more > 0 { format!(" and {more} more (samla plan --json lists all)") } else { String::new() };
            println!("  groups not in any wave: {}{tail}", u.group_names[..u.group_names.len().min(SHOWN)].join(", "));
        }
    }
    println!("{} wave files in {}", files.len(), waves_dir.display());
    if let Some(p) = report {
        println!("report: {}", p.display());
    }
    if *blocking > 0 {
        println!("warning: the map run has {blocking} blocking finding(s): no wave runs until they are resolved");
    }
    Ok(())
}

fn print_explained(e: &Explained, json: bool) -> Result<(), Failure> {
    let impact = &e.impact;
    if json {
        return print_json(impact);
    }
    println!(
        "{}: impact {} ({} accounts; {} of {} units by ascending impact)\n",
        impact.unit, impact.score, impact.counts.accounts, e.rank, e.units
    );
    println!("{:<34} {:>9} {:>8} {:>9}  why", "factor", "quantity", "weight", "points");
    for f in &impact.factors {
        println!("{:<34} {:>9} {:>8} {:>9}  {}", f.name, f.quantity, f.weight, f.points, f.why);
    }
    println!("{:<34} {:>9} {:>8} {:>9}", "impact", "", "", impact.score);
    println!("\nWeights: {}", e.weights.display());
    Ok(())
}

fn print_wave_table(rows: &[WaveRow], municipalities: &[String]) {
    println!(
        "Per municipality: people planned, each once in the municipality of their primary affiliation (the map's\n\
         accounts count a person matched across municipalities in each; its people column matches these totals)."
    );
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

/// `samla waves`: every wave file with its counts per municipality, its status, and where it
/// stands in each target.
pub fn list(config: &Config, json: bool) -> Result<(), Failure> {
    let state = open_state_for_reading(config)?;
    let (listed, municipalities) = crate::wave::listing::waves(config, &state)?;
    if json {
        return print_json(&listed);
    }
    let mut header = format!("{:>4}  {:<24} {:<8}", "wave", "name", "status");
    for m in &municipalities {
        header.push_str(&format!(" {:>11}", truncate(m, 11)));
    }
    header.push_str(&format!(
        " {:>8} {:>5} {:>6} {:>8}  {:<16}  targets",
        "accounts", "units", "pinned", "excluded", "file"
    ));
    println!("{header}");
    for Listed { wave: s, targets } in &listed {
        let mut line = format!("{:>4}  {:<24} {:<8}", s.number, truncate(&s.name, 24), s.status);
        for m in &municipalities {
            line.push_str(&format!(" {:>11}", s.accounts.get(m).copied().unwrap_or(0)));
        }
        let total: usize = s.accounts.values().sum();
        let file = s.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let targets: Vec<String> = targets.iter().map(ToString::to_string).collect();
        let targets = if targets.is_empty() { "-".to_string() } else { targets.join("; ") };
        line.push_str(&format!(
            " {:>8} {:>5} {:>6} {:>8}  {file:<16}  {targets}",
            total, s.units, s.pinned, s.excluded
        ));
        println!("{line}");
    }
    let stale: Vec<&WaveStatus> = listed.iter().map(|l| &l.wave).filter(|s| !s.stale_because.is_empty()).collect();
    for s in &stale {
        println!("\nwave {} is stale: {}", s.number, s.stale_because.join("; "));
    }
    if !stale.is_empty() {
        println!("\nRe-plan with `samla plan` (it keeps what was pinned, moved or excluded).");
    }
    Ok(())
}
