//! `samla wave run WAVE --target NAME`, `samla wave status WAVE` and the comparison that
//! `samla wave dry-run WAVE --target NAME` shows.
//!
//! A run shows what it will change (the comparison with the target), refuses what must not
//! run (a stale wave and blocking findings, through [`super::wave::prepare`]; a municipality
//! beyond its thresholds), asks for confirmation unless `--yes`, journals who started it and
//! from which wave file, and then converges the shared AD and the tenant ([`crate::execute`]).
//! The shared AD goes first: it is where a later Entra Connect reads everyone from.

use super::Failure;
use super::wave::{Prepared, prepare};
use crate::client::graph::GraphClient;
use crate::client::ldap::SharedAdClient;
use crate::config::Config;
use crate::config::target::TargetConfig;
use crate::execute::graph as tenant;
use crate::execute::{self, Impact, Journal, SystemResult, serde_name, shared_ad};
use crate::journal::{OpState, RunKind, RunStart};
use crate::render::graph;
use crate::render::ldap;
use crate::state::State;
use serde::Serialize;
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, IsTerminal, Write};

/// What a target holds compared with what the wave needs.
#[derive(Debug, Default)]
pub struct Comparison {
    pub tenant: Option<tenant::Reconciled>,
    pub shared_ad: Option<shared_ad::Reconciled>,
    /// What the comparison read, which a run's first pass starts from instead of reading it
    /// again.
    pub tenant_view: Option<tenant::TenantView>,
    pub shared_ad_view: Option<shared_ad::AdView>,
}

/// Per municipality and system: creates, updates, unchanged, member additions, managers,
/// licences, left alone.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub create: u64,
    pub update: u64,
    pub unchanged: u64,
    pub add_members: u64,
    pub set_manager: u64,
    pub assign_licence: u64,
    pub left_alone: u64,
}

impl Comparison {
    /// (system, municipality) -> counts of objects by kind of change.
    pub fn counts(&self) -> BTreeMap<(&'static str, String), Counts> {
        use tenant::ChangeKind as K;
        let mut out: BTreeMap<(&'static str, String), Counts> = BTreeMap::new();
        let mut add = |system: &'static str,
                       m: &str,
                       object: &str,
                       kind: K,
                       seen: &mut std::collections::HashSet<(String, K)>| {
            if !seen.insert((object.to_string(), kind)) {
                return;
            }
            let c = out.entry((system, m.to_string())).or_default();
            match kind {
                K::Create => c.create += 1,
                K::Update => c.update += 1,
                K::Unchanged => c.unchanged += 1,
                K::AddMembers => c.add_members += 1,
                K::SetManager => c.set_manager += 1,
                K::AssignLicence => c.assign_licence += 1,
            }
        };
        let systems = [
            ("tenant", self.tenant.as_ref().map(|t| &t.changes)),
            ("shared AD", self.shared_ad.as_ref().map(|a| &a.changes)),
        ];
        for (system, changes) in systems {
            let mut seen = std::collections::HashSet::new();
            for c in changes.into_iter().flatten() {
                add(system, &c.municipality, &c.object, c.change, &mut seen);
            }
        }
        if let Some(a) = &self.shared_ad {
            for (_, op, _) in &a.refused {
                out.entry(("shared AD", op.municipality.clone())).or_default().left_alone += 1;
            }
        }
        out
    }

    /// Creates and updates per municipality (the larger of the two systems), for thresholds.
    pub fn impact(&self) -> BTreeMap<String, Impact> {
        let mut out: BTreeMap<String, Impact> = BTreeMap::new();
        for ((_, m), c) in self.counts() {
            let i = out.entry(m).or_default();
            i.creates = i.creates.max(c.create);
            i.updates = i.updates.max(c.update);
        }
        for accounts in self.accounts_created() {
            for (m, n) in accounts {
                let i = out.entry(m.to_string()).or_default();
                i.accounts_created = i.accounts_created.max(n);
            }
        }
        out
    }

    /// Per system, the accounts it still needs created, by municipality.
    fn accounts_created(&self) -> [BTreeMap<&str, u64>; 2] {
        use crate::render::graph::Action;
        use crate::render::ldap::{Change as LdapChange, OpKind};
        let mut tenant: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, r) in self.tenant.iter().flat_map(|t| &t.requests).filter(|(_, r)| r.action == Action::CreateUser) {
            *tenant.entry(r.municipality.as_str()).or_default() += 1;
        }
        let mut shared_ad: BTreeMap<&str, u64> = BTreeMap::new();
        let adds = self
            .shared_ad
            .iter()
            .flat_map(|a| &a.ops)
            .filter(|(_, o)| o.kind == OpKind::CreateUser && matches!(o.change, LdapChange::Add { .. }));
        for (_, o) in adds {
            *shared_ad.entry(o.municipality.as_str()).or_default() += 1;
        }
        [tenant, shared_ad]
    }

    /// Whether the target already holds everything.
    pub fn nothing_to_do(&self) -> bool {
        self.tenant.as_ref().is_none_or(|t| t.requests.is_empty())
            && self.shared_ad.as_ref().is_none_or(|a| a.ops.is_empty() && a.refused.is_empty())
    }

    /// CSV rows: municipality, target, change, object, attribute, before, after.
    pub fn rows(&self) -> Vec<Vec<String>> {
        let tenant = self.tenant.iter().flat_map(|t| &t.changes).map(|c| ("tenant", c));
        let shared_ad = self.shared_ad.iter().flat_map(|a| &a.changes).map(|c| ("shared AD", c));
        let mut rows: Vec<Vec<String>> = tenant
            .chain(shared_ad)
            .map(|(target, c)| {
                vec![
                    c.municipality.clone(),
                    target.into(),
                    serde_name(c.change),
                    c.object.clone(),
                    c.attribute.clone(),
                    c.before.clone(),
                    c.after.clone(),
                ]
            })
            .collect();
        for (_, op, why) in self.shared_ad.iter().flat_map(|a| &a.refused) {
            rows.push(vec![
                op.municipality.clone(),
                "shared AD".into(),
                "left_alone".into(),
                op.dn().as_str().to_string(),
                String::new(),
                String::new(),
                why.clone(),
            ]);
        }
        rows
    }
}

/// The target's clients, connected and logged in.
pub struct Connected {
    pub tenant: Option<GraphClient>,
    pub shared_ad: Option<SharedAdClient>,
}

pub async fn connect(target: &TargetConfig) -> Result<Connected, Failure> {
    let tenant = match &target.tenant {
        Some(t) => Some(
            GraphClient::connect(t)
                .await
                .map_err(|e| Failure::work(format!("target {}: the tenant: {e}", target.name)))?,
        ),
        None => None,
    };
    let shared_ad = match &target.shared_ad {
        Some(l) => Some(
            SharedAdClient::connect(l)
                .await
                .map_err(|e| Failure::work(format!("target {}: the shared AD: {e}", target.name)))?,
        ),
        None => None,
    };
    Ok(Connected { tenant, shared_ad })
}

/// Compares the wave with what the target holds.
pub async fn compare(prepared: &Prepared, clients: &mut Connected) -> Result<Comparison, Failure> {
    let mut out = Comparison::default();
    if let Some(client) = &clients.tenant {
        let names = tenant::Names::new(&prepared.content, &prepared.targets);
        let rendered: Vec<(usize, graph::GraphRequest)> =
            graph::render_wave(&prepared.content, &prepared.targets).requests.into_iter().enumerate().collect();
        let view = tenant::observe(client, &rendered, &prepared.content, &names, &HashMap::new())
            .await
            .map_err(|e| Failure::work(format!("the tenant: {e}")))?;
        out.tenant = Some(tenant::reconcile(&rendered, &view, &names));
        out.tenant_view = Some(view);
    }
    if let Some(client) = &mut clients.shared_ad {
        let ops: Vec<(usize, ldap::LdapOp)> = ldap::render(&prepared.content, &prepared.targets)
            .map_err(Failure::work)?
            .into_iter()
            .enumerate()
            .collect();
        let view = shared_ad::observe(client, &ops).await.map_err(|e| Failure::work(format!("the shared AD: {e}")))?;
        out.shared_ad = Some(shared_ad::reconcile(&ops, &view));
        out.shared_ad_view = Some(view);
    }
    Ok(out)
}

/// Prints the comparison per system and municipality.
pub fn print_comparison(c: &Comparison) {
    println!(
        "{:<10} {:<14} {:>7} {:>7} {:>10} {:>12} {:>9} {:>9} {:>11}",
        "target", "municipality", "create", "update", "unchanged", "add members", "managers", "licences", "left alone"
    );
    for ((system, m), n) in c.counts() {
        let m = if m.is_empty() { "(shared)".to_string() } else { m };
        println!(
            "{:<10} {:<14} {:>7} {:>7} {:>10} {:>12} {:>9} {:>9} {:>11}",
            system, m, n.create, n.update, n.unchanged, n.add_members, n.set_manager, n.assign_licence, n.left_alone
        );
    }
    if c.nothing_to_do() {
        println!("Nothing to do: the target already holds this wave.");
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(Failure::work)
}

/// `samla wave dry-run WAVE --target NAME`: the comparison only (nothing is written to the target).
pub fn dry_run_against(config: &Config, prepared: &Prepared, target: &str) -> Result<Comparison, Failure> {
    let target = config.target(target).map_err(Failure::usage)?;
    runtime()?.block_on(async {
        let mut clients = connect(target).await?;
        let c = compare(prepared, &mut clients).await;
        if let Some(ad) = clients.shared_ad {
            ad.unbind().await;
        }
        c
    })
}

/// What `samla wave run --json` prints.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub run: i64,
    pub wave: u32,
    pub target: String,
    pub ok: bool,
    pub shared_ad: Option<SystemResult>,
    pub tenant: Option<SystemResult>,
    /// The rollback reports written at the end of the run (HTML, one per municipality).
    pub rollback_reports: Vec<std::path::PathBuf>,
}

/// Who starts a run of `prepared`'s wave against `target`, from where, with which wave file.
pub fn run_start(prepared: &Prepared, target: &str) -> Result<RunStart, Failure> {
    let wave_hash = std::fs::read(&prepared.file.path)
        .map(|b| hex::encode(sha2::Sha256::digest(&b)))
        .map_err(|e| Failure::work(format!("{}: {e}", prepared.file.path.display())))?;
    let (operator, host) = operator();
    Ok(RunStart {
        wave: prepared.file.number,
        wave_name: prepared.file.name.clone(),
        wave_file: prepared.file.path.display().to_string(),
        wave_hash,
        target: target.to_string(),
        operator,
        host,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    })
}

fn operator() -> (String, String) {
    let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into());
    (user, host)
}

/// Refuses when any municipality's impact goes beyond its thresholds, naming them all.
pub fn within_thresholds(
    config: &Config,
    impact: &BTreeMap<String, Impact>,
    population: &BTreeMap<String, u64>,
) -> Result<(), Failure> {
    let over = execute::over_thresholds(impact, population, &config.thresholds);
    if over.is_empty() {
        return Ok(());
    }
    Err(Failure::work(format!(
        "refused, beyond the thresholds in {} ([thresholds]): {}",
        config.file.display(),
        over.join("; ")
    )))
}

/// Asks `question`; only "yes" goes on.
pub fn confirm(question: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage("not a terminal: give --yes to run without being asked"));
    }
    print!("{question} Type yes: ");
    std::io::stdout().flush().map_err(Failure::work)?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(Failure::work)?;
    if line.trim() == "yes" { Ok(()) } else { Err(Failure::work("not confirmed; nothing was written")) }
}

/// `samla wave run WAVE --target NAME [--yes]`.
pub fn run(config: &Config, wave: &str, target: &str, yes: bool, json: bool) -> Result<RunSummary, Failure> {
    let prepared = prepare(config, wave)?;
    let target = config.target(target).map_err(Failure::usage)?;
    let mut state = State::open(&config.state_path).map_err(Failure::work)?;
    let start = run_start(&prepared, &target.name)?;
    let rt = runtime()?;
    let summary = rt.block_on(async {
        let mut clients = connect(target).await?;
        let mut comparison = compare(&prepared, &mut clients).await?;
        if !json {
            println!("Wave {} ({}) against target {}:", prepared.file.number, prepared.file.name, target.name);
            print_comparison(&comparison);
        }
        within_thresholds(config, &comparison.impact(), &prepared.population)?;
        if !yes {
            confirm(&format!("Run wave {} against target {}?", prepared.file.number, target.name))?;
        }
        let run = state.start_run(&start, RunKind::Run).map_err(Failure::work)?;
        let mut journal =
            Journal { state: &mut state, run, target: target.name.clone(), wave: prepared.file.number, pass: 1 };
        let random_passwords =
            prepared.targets.shared_ad.new_accounts == crate::model::settings::NewAccounts::RandomPassword;
        let mut summary = RunSummary {
            run,
            wave: prepared.file.number,
            target: target.name.clone(),
            ok: true,
            shared_ad: None,
            tenant: None,
            rollback_reports: Vec::new(),
        };
        let result: Result<(), Failure> = async {
            if let Some(client) = &mut clients.shared_ad {
                let ops = ldap::render(&prepared.content, &prepared.targets).map_err(Failure::work)?;
                let first_look = comparison.shared_ad_view.take();
                let r = execute::converge_shared_ad(client, &mut journal, ops, first_look, random_passwords, json)
                    .await
                    .map_err(Failure::work)?;
                summary.shared_ad = Some(r);
            }
            if let (Some(client), Some(t)) = (&clients.tenant, &target.tenant) {
                let names = tenant::Names::new(&prepared.content, &prepared.targets);
                let requests = graph::render_wave(&prepared.content, &prepared.targets).requests;
                let r = execute::converge_tenant(
                    client,
                    &mut journal,
                    &prepared.content,
                    &names,
                    requests,
                    comparison.tenant_view.take(),
                    t.max_concurrency,
                    json,
                )
                .await
                .map_err(Failure::work)?;
                summary.tenant = Some(r);
            }
            Ok(())
        }
        .await;
        summary.ok = result.is_ok()
            && summary.shared_ad.as_ref().is_none_or(SystemResult::ok)
            && summary.tenant.as_ref().is_none_or(SystemResult::ok);
        let mut as_json = serde_json::to_value(&summary).unwrap_or_default();
        if let Err(f) = &result {
            as_json["error"] = serde_json::Value::String(f.message.clone());
        }
        state.finish_run(run, summary.ok, &as_json).map_err(Failure::work)?;
        // What this run did, and how to undo it, per municipality: written after every run.
        let written =
            super::rollback::write_reports_with(config, &state, &prepared, &target.name, Some(&mut clients)).await;
        match written {
            Ok(r) => summary.rollback_reports = r.reports,
            Err(f) => eprintln!("warning: the rollback reports were not written: {}", f.message),
        }
        if let Some(ad) = clients.shared_ad {
            ad.unbind().await;
        }
        result.map(|()| summary)
    })?;
    if json {
        super::print_json(&summary)?;
    } else {
        print_run(&summary);
    }
    if summary.ok {
        Ok(summary)
    } else {
        Err(Failure::work(format!(
            "wave {} did not complete; see the failures above and `samla wave status {}`",
            summary.wave, summary.wave
        )))
    }
}

fn print_run(s: &RunSummary) {
    for (system, r) in [("shared AD", &s.shared_ad), ("tenant", &s.tenant)] {
        let Some(r) = r else { continue };
        println!("\n{system}: {} pass(es), {:.1} s", r.passes, r.seconds);
        println!(
            "  {:<14} {:>7} {:>7} {:>10} {:>12} {:>9} {:>9} {:>7}",
            "municipality", "created", "updated", "unchanged", "add members", "managers", "licences", "failed"
        );
        for (m, t) in &r.municipalities {
            let m = if m.is_empty() { "(shared)" } else { m };
            println!(
                "  {:<14} {:>7} {:>7} {:>10} {:>12} {:>9} {:>9} {:>7}",
                m, t.created, t.updated, t.unchanged, t.member_additions, t.managers_set, t.licences_assigned, t.failed
            );
        }
        if let Some(g) = &r.graph {
            println!(
                "  Graph: {} writes in {} $batch requests, {} throttled (429), {} unavailable (503), {} resent after a lost connection",
                g.writes_sent, g.batches_sent, g.throttled, g.unavailable, g.transport_retries
            );
        }
        for f in r.failures.iter().take(50) {
            println!("  FAILED {} {} {}: {}", f.municipality, f.action, f.object, f.reason);
        }
        if r.failures.len() > 50 {
            println!("  ... and {} more (samla wave status)", r.failures.len() - 50);
        }
    }
    println!("\nJournal: run {} (samla wave status {}).", s.run, s.wave);
    if let Some(first) = s.rollback_reports.first() {
        let dir = first.parent().unwrap_or(first);
        println!("Rollback reports (what this wave changed and how to undo it): {}", dir.display());
    }
}

/// `samla wave status WAVE [--target NAME]`: the journal's runs of a wave.
pub fn status(config: &Config, wave: &str, target: Option<&str>, json: bool) -> Result<(), Failure> {
    let number = match wave.parse::<u32>() {
        Ok(n) => n,
        Err(_) => {
            let files = crate::plan::files::read_dir(&super::plan::waves_dir(config)).map_err(Failure::usage)?;
            super::wave::find(&files, wave)?.number
        }
    };
    let state = State::open(&config.state_path).map_err(Failure::work)?;
    let runs = state.runs(number, target).map_err(Failure::work)?;
    if json {
        return super::print_json(&runs);
    }
    if runs.is_empty() {
        println!("Wave {number} has not been run{}.", target.map(|t| format!(" against {t}")).unwrap_or_default());
        return Ok(());
    }
    for r in &runs {
        println!(
            "run {} of wave {} ({}) against {}: {} — started {} by {}@{}, finished {}",
            r.id,
            r.wave,
            r.wave_name,
            r.target,
            r.status,
            r.started_at,
            r.operator,
            r.host,
            r.finished_at.as_deref().unwrap_or("-")
        );
        println!("  wave file sha256 {}; command: {}", r.wave_hash, r.command);
        for (system, st, n) in &r.operations {
            println!("  {system:<10} {st:<9} {n}");
        }
        let failed = state.operations(r.id).map_err(Failure::work)?;
        for op in failed.iter().filter(|o| matches!(o.state, OpState::Failed | OpState::InDoubt)).take(20) {
            println!(
                "  {} {} {} {}: {}",
                op.state,
                op.municipality,
                op.action,
                op.object,
                op.result.as_deref().unwrap_or("(in flight when the run stopped; settled by the next run)")
            );
        }
    }
    Ok(())
}
