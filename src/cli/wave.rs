//! `samla wave dry-run WAVE`: what a wave will send and change, before anything is written.
//!
//! Refuses (exit 1) what must not run: a stale wave, blocking findings of the map run (a
//! privacy violation, keys of one person that disagree), a name the target would refuse.
//! Writes the exact Graph requests (JSON lines, one request a line, and the `$batch` bodies),
//! the shared AD's LDIF change records and a CSV of the changes per municipality.

use super::Failure;
use super::plan::{Loaded, load, waves_dir};
use crate::config::Config;
use crate::model::names;
use crate::model::unified::{Anchor, Group, Person};
use crate::plan::files::{self, WaveFile};
use crate::plan::make;
use crate::render::{WaveContent, content, graph, ldap};
use crate::state::State;
use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Per-municipality counts of a dry-run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MunicipalityCounts {
    pub people: usize,
    pub groups: usize,
    pub memberships: usize,
    pub manager_links: usize,
    pub graph_requests: usize,
    pub ldap_operations: usize,
}

/// What `samla wave dry-run --json` prints.
#[derive(Debug, Serialize)]
pub struct DryRun {
    pub wave: u32,
    pub name: String,
    pub file: PathBuf,
    pub municipalities: BTreeMap<String, MunicipalityCounts>,
    pub graph: graph::WriteCount,
    pub ldap_operations: usize,
    /// What the tenant cannot take and is left out (nested groups in Microsoft 365 groups...).
    pub skipped: Vec<graph::Skipped>,
    pub outputs: BTreeMap<&'static str, PathBuf>,
    /// Against a target: per system and municipality, what would change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<BTreeMap<String, super::run::Counts>>,
    /// Against a target: whether it already holds the whole wave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nothing_to_do: Option<bool>,
    /// Against a target: per municipality, what the thresholds weigh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<BTreeMap<String, crate::execute::Impact>>,
    /// Against a target: why `wave run` would refuse (`[thresholds]`); empty when it would not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beyond_thresholds: Option<Vec<String>>,
}

/// Finds a wave by number, name or file stem.
pub fn find<'a>(files: &'a [WaveFile], wave: &str) -> Result<&'a WaveFile, Failure> {
    let stem = |f: &WaveFile| f.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    files
        .iter()
        .find(|f| wave.parse::<u32>().is_ok_and(|n| n == f.number) || f.name == wave || stem(f) == wave)
        .ok_or_else(|| {
            let known: Vec<String> = files.iter().map(|f| format!("{} ({})", f.number, f.name)).collect();
            Failure::usage(format!("no wave {wave:?}; the waves are {}", known.join(", ")))
        })
}

/// Everything a dry-run (and later a run) needs: the loaded plan inputs, the wave's file and
/// its content, after every check that must stop a wave.
pub struct Prepared {
    pub file: WaveFile,
    pub targets: crate::model::settings::TargetSettings,
    pub content: WaveContent,
    /// People per municipality in the unified directory (what threshold shares are of).
    pub population: BTreeMap<String, u64>,
}

/// Loads the plan and the wave, refusing a stale wave, blocking findings and names the target
/// would refuse.
pub fn prepare(config: &Config, wave: &str) -> Result<Prepared, Failure> {
    prepare_checked(config, wave, true)
}

/// Loads the wave for a rollback or its report: the journal says what to undo, the wave only
/// which objects to look at, so a wave gone stale since it ran is still rolled back.
pub fn prepare_for_rollback(config: &Config, wave: &str) -> Result<Prepared, Failure> {
    prepare_checked(config, wave, false)
}

fn prepare_checked(config: &Config, wave: &str, checks: bool) -> Result<Prepared, Failure> {
    let loaded = load(config)?;
    let waves = waves_dir(config);
    let files = files::read_dir(&waves).map_err(Failure::usage)?;
    if files.is_empty() {
        return Err(Failure::usage(format!("no wave files in {}: run `samla plan` first", waves.display())));
    }
    let file = find(&files, wave)?.clone();
    let slots = make::current_slots(&loaded.dir, &loaded.settings);
    let stale = make::staleness(&file, &loaded.current, &slots);
    if checks && !stale.is_empty() {
        return Err(Failure::work(format!(
            "wave {} is stale: {}; re-plan with `samla plan` and review the wave again",
            file.number,
            stale.join("; ")
        )));
    }
    if checks && loaded.run.blocking > 0 {
        return Err(Failure::work(blocking_findings(config, &loaded)?));
    }
    let plan = make::from_files(&loaded.dir, &loaded.settings, &files).map_err(Failure::usage)?;
    let (people_needed, groups_needed) = content::needed(&plan, &loaded.dir, file.number);
    let state = State::open(&config.state_path).map_err(Failure::work)?;
    let mut people: HashMap<Anchor, Person> = HashMap::default();
    let wanted = |key: &str, set: &std::collections::BTreeSet<Anchor>| {
        crate::model::ObjectGuid::parse(key).is_ok_and(|g| set.contains(&Anchor(g)))
    };
    state
        .for_each_unified_row(loaded.run.id, "person", |key, json| {
            if wanted(key, &people_needed) {
                let p: Person = serde_json::from_str(json).map_err(|e| format!("stored person {key}: {e}"))?;
                people.insert(p.anchor, p);
            }
            Ok(())
        })
        .map_err(Failure::work)?;
    let mut groups: HashMap<Anchor, Group> = HashMap::default();
    state
        .for_each_unified_row(loaded.run.id, "group", |key, json| {
            if wanted(key, &groups_needed) {
                let g: Group = serde_json::from_str(json).map_err(|e| format!("stored group {key}: {e}"))?;
                groups.insert(g.anchor, g);
            }
            Ok(())
        })
        .map_err(Failure::work)?;
    let mut population: BTreeMap<String, u64> = BTreeMap::new();
    for p in &loaded.dir.people {
        let m =
            loaded.dir.unit_municipality.get(p.unit as usize).and_then(|i| loaded.dir.municipalities.get(*i as usize));
        *population.entry(m.cloned().unwrap_or_default()).or_default() += 1;
    }
    let targets = loaded.target.targets;
    let content = content::build(&plan, &loaded.dir, file.number, &people, &groups, &targets).map_err(Failure::work)?;
    if checks {
        refused_names(&content, &loaded.target.verified_domains)?;
    }
    Ok(Prepared { file, targets, content, population })
}

/// The map run's blocking findings, counted by municipality and category.
fn blocking_findings(config: &Config, loaded: &Loaded) -> Result<String, Failure> {
    let state = State::open(&config.state_path).map_err(Failure::work)?;
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    state
        .for_each_unified_row(loaded.run.id, "finding", |_, json| {
            let f: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
            if f["severity"] == "blocking" {
                let key = (
                    f["municipality"].as_str().unwrap_or("").to_string(),
                    f["category"].as_str().unwrap_or("").to_string(),
                );
                *counts.entry(key).or_default() += 1;
            }
            Ok(())
        })
        .map_err(Failure::work)?;
    let list: Vec<String> = counts.iter().map(|((m, c), n)| format!("{m}: {n} {c}")).collect();
    Ok(format!(
        "the map run has {} blocking finding(s) ({}): resolve them (conflict reports in reports/map) and map again",
        loaded.run.blocking,
        list.join(", ")
    ))
}

/// Names Graph or AD would refuse, checked before anything is rendered.
fn refused_names(content: &WaveContent, verified: &[String]) -> Result<(), Failure> {
    let mut problems = Vec::new();
    for p in &content.people {
        if let Err(e) = names::validate_upn(&p.user_principal_name, verified) {
            problems.push(format!("{}: userPrincipalName {}: {e}", p.anchor.0, p.user_principal_name));
        }
        if let Err(e) = names::validate_mail_nickname(&p.mail_nickname) {
            problems.push(format!("{}: mailNickname {}: {e}", p.anchor.0, p.mail_nickname));
        }
        if let Err(e) = names::validate_sam_account_name(&p.sam_account_name) {
            problems.push(format!("{}: sAMAccountName {}: {e}", p.anchor.0, p.sam_account_name));
        }
        if p.display_name.chars().count() > 256 || p.display_name.trim().is_empty() {
            problems.push(format!("{}: displayName {:?} is empty or longer than 256", p.anchor.0, p.display_name));
        }
        // A NUL or other control character in a name is corrupt data, not a name: AD and
        // Graph handle it differently (a DN escape, a JSON escape, a refusal), so it stops here.
        let control = [("displayName", &p.display_name), ("cn", &p.cn)]
            .into_iter()
            .find_map(|(what, value)| value.chars().find(|c| c.is_control()).map(|c| (what, value, c)));
        if let Some((what, value, c)) = control {
            let source = p.affiliations.first().map(|a| a.dn.to_string()).unwrap_or_default();
            problems.push(format!(
                "{} ({source}): {what} {value:?} contains the control character U+{:04X}",
                p.anchor.0, c as u32
            ));
        }
    }
    for g in &content.groups {
        if let Some(c) = g.name.chars().find(|c| c.is_control()) {
            problems.push(format!("group {:?}: the name contains the control character U+{:04X}", g.name, c as u32));
        }
        if let Err(e) = names::validate_mail_nickname(&g.mail_nickname) {
            problems.push(format!("group {}: mailNickname {}: {e}", g.name, g.mail_nickname));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let shown: Vec<&String> = problems.iter().take(20).collect();
    Err(Failure::work(format!(
        "{} name(s) the targets would refuse: {}{}",
        problems.len(),
        shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; "),
        if problems.len() > 20 { "; ..." } else { "" }
    )))
}

/// `samla wave dry-run WAVE [--out DIR]`.
pub fn dry_run(
    config: &Config,
    wave: &str,
    out: Option<&Path>,
    target: Option<&str>,
    json: bool,
) -> Result<DryRun, Failure> {
    let started = std::time::Instant::now();
    let prepared = prepare(config, wave)?;
    let comparison = target.map(|t| super::run::dry_run_against(config, &prepared, t)).transpose()?;
    tracing::info!("dry-run: prepared after {:.2} s", started.elapsed().as_secs_f64());
    let targets = &prepared.targets;
    let content = &prepared.content;
    let rendering = graph::render_wave(content, targets);
    // Against a target, the requests are what it still needs.
    let requests = match comparison.as_ref().and_then(|c| c.tenant.as_ref()) {
        Some(t) => t.requests.iter().map(|(_, r)| r.clone()).collect(),
        None => rendering.requests,
    };
    let batches = graph::batches(&requests);
    let writes = graph::count_batched(&requests, &batches);
    let ops = match comparison.as_ref().and_then(|c| c.shared_ad.as_ref()) {
        Some(a) => a.ops.iter().map(|(_, o)| o.clone()).collect(),
        None => ldap::render(content, targets).map_err(Failure::work)?,
    };
    tracing::info!("dry-run: rendered after {:.2} s", started.elapsed().as_secs_f64());
    let stem = prepared.file.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| config.file.parent().unwrap_or(Path::new(".")).join("reports/waves").join(&stem));
    std::fs::create_dir_all(&dir).map_err(|e| Failure::work(format!("{}: {e}", dir.display())))?;
    let write = |name: &str, text: &str| -> Result<PathBuf, Failure> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| Failure::work(format!("{}: {e}", path.display())))?;
        Ok(path)
    };
    let mut outputs = BTreeMap::new();
    let mut jsonl = String::new();
    for r in &requests {
        jsonl.push_str(&serde_json::to_string(r).map_err(Failure::work)?);
        jsonl.push('\n');
    }
    outputs.insert("graph_requests", write("graph-requests.jsonl", &jsonl)?);
    outputs.insert(
        "graph_batches",
        write("graph-batches.json", &serde_json::to_string_pretty(&batches).map_err(Failure::work)?)?,
    );
    outputs.insert("shared_ad_ldif", write("shared-ad.ldif", &ldap::to_ldif(&ops))?);
    let changes = dir.join("changes.csv");
    crate::report::csv_excel::write(
        &changes,
        &["municipality", "target", "change", "object", "attribute", "before", "after"],
        match &comparison {
            Some(c) => c.rows(),
            None => change_rows(content),
        },
    )
    .map_err(Failure::work)?;
    outputs.insert("changes_csv", changes);

    let mut municipalities: BTreeMap<String, MunicipalityCounts> = BTreeMap::new();
    let municipality_of = |a: &Anchor| content.refs.get(a).map(|r| r.municipality.clone()).unwrap_or_default();
    for p in &content.people {
        municipalities.entry(municipality_of(&p.anchor)).or_default().people += 1;
    }
    for g in &content.groups {
        municipalities.entry(municipality_of(&g.anchor)).or_default().groups += 1;
    }
    for (_, m) in &content.memberships {
        municipalities.entry(municipality_of(&m.anchor())).or_default().memberships += 1;
    }
    for (p, _) in &content.manager_links {
        municipalities.entry(municipality_of(p)).or_default().manager_links += 1;
    }
    for r in &requests {
        municipalities.entry(r.municipality.clone()).or_default().graph_requests += 1;
    }
    for o in &ops {
        municipalities.entry(o.municipality().to_string()).or_default().ldap_operations += 1;
    }
    let impact = comparison.as_ref().map(super::run::Comparison::impact);
    let result = DryRun {
        wave: prepared.file.number,
        name: prepared.file.name.clone(),
        file: prepared.file.path.clone(),
        municipalities,
        graph: writes,
        ldap_operations: ops.len(),
        skipped: rendering.skipped,
        outputs,
        comparison: comparison
            .as_ref()
            .map(|c| c.counts().into_iter().map(|((s, m), n)| (format!("{s}/{m}"), n)).collect()),
        nothing_to_do: comparison.as_ref().map(super::run::Comparison::nothing_to_do),
        impact: impact.clone(),
        beyond_thresholds: impact
            .as_ref()
            .map(|i| crate::execute::over_thresholds(i, &prepared.population, &config.thresholds)),
    };
    tracing::info!("dry-run: written after {:.2} s", started.elapsed().as_secs_f64());
    if json {
        super::print_json(&result)?;
    } else {
        print_summary(&result);
        if let Some(c) = &comparison {
            println!("\nCompared with target {}:", target.unwrap_or_default());
            super::run::print_comparison(c);
        }
        for reason in result.beyond_thresholds.iter().flatten() {
            println!("`wave run` would refuse, beyond [thresholds]: {reason}");
        }
    }
    Ok(result)
}

/// One CSV row per attribute of every object the wave creates, and per link it adds. Without a
/// target to compare against, "before" is empty: everything is new.
fn change_rows(content: &WaveContent) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let municipality = |a: &Anchor| content.refs.get(a).map(|r| r.municipality.clone()).unwrap_or_default();
    let name = |a: &Anchor| content.refs.get(a).map(|r| r.cloud_name.clone()).unwrap_or_else(|| a.0.to_string());
    let mut row = |m: String, target: &str, change: &str, object: String, attribute: &str, after: String| {
        rows.push(vec![m, target.into(), change.into(), object, attribute.into(), String::new(), after]);
    };
    for p in &content.people {
        let m = municipality(&p.anchor);
        let upn = p.user_principal_name.clone();
        for (target, attrs) in [("tenant", &p.cloud), ("shared AD", &p.on_premises)] {
            row(m.clone(), target, "create user", upn.clone(), "userPrincipalName", upn.clone());
            row(m.clone(), target, "create user", upn.clone(), "immutable anchor", p.immutable_id.clone());
            for (k, v) in attrs {
                row(m.clone(), target, "create user", upn.clone(), k, v.clone());
            }
        }
        row(m.clone(), "shared AD", "create user", upn.clone(), "sAMAccountName", p.sam_account_name.clone());
        row(m, "tenant", "create user", upn, "licence", p.licence.clone());
    }
    for g in &content.groups {
        let m = municipality(&g.anchor);
        for target in ["tenant", "shared AD"] {
            row(m.clone(), target, "create group", g.name.clone(), "mailNickname", g.mail_nickname.clone());
        }
    }
    for (g, member) in &content.memberships {
        for target in ["tenant", "shared AD"] {
            row(municipality(&member.anchor()), target, "add member", name(g), "member", name(&member.anchor()));
        }
    }
    for (p, m) in &content.manager_links {
        for target in ["tenant", "shared AD"] {
            row(municipality(p), target, "set manager", name(p), "manager", name(m));
        }
    }
    rows
}

fn print_summary(r: &DryRun) {
    println!("Wave {} ({}): dry-run, nothing was written. {}\n", r.wave, r.name, r.file.display());
    println!(
        "{:<14} {:>7} {:>7} {:>12} {:>9} {:>15} {:>13}",
        "municipality", "people", "groups", "memberships", "managers", "graph requests", "ldap changes"
    );
    for (m, c) in &r.municipalities {
        let m = if m.is_empty() { "(shared)" } else { m };
        println!(
            "{:<14} {:>7} {:>7} {:>12} {:>9} {:>15} {:>13}",
            m, c.people, c.groups, c.memberships, c.manager_links, c.graph_requests, c.ldap_operations
        );
    }
    let g = &r.graph;
    println!(
        "\nGraph: {} writes in {} $batch requests (one request per change would take {}); at the tenant's \
         write budget (3,000 per 150 s) about {:.0} s.",
        g.writes, g.batches, g.naive, g.seconds_at_budget
    );
    println!("Shared AD: {} LDAP operations.", r.ldap_operations);
    if !r.skipped.is_empty() {
        println!("Left out ({}), see the JSON output for each:", r.skipped.len());
        let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
        for s in &r.skipped {
            *by_reason.entry(format!("{:?}", s.reason)).or_default() += 1;
        }
        for (reason, n) in by_reason {
            println!("  {reason}: {n}");
        }
    }
    println!("Written:");
    for (what, path) in &r.outputs {
        println!("  {what}: {}", path.display());
    }
}
