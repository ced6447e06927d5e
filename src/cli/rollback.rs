//! `samla report rollback WAVE` and `samla wave rollback WAVE`: the per-municipality rollback
//! reports, and undoing a wave ([`crate::rollback`] has the rules).
//!
//! Both start the same way: the journal's entries of the wave's runs against the target, a
//! live look at the target (the report goes on without one, marked not verified, when the
//! target cannot be reached), and the plan that compares them. The rollback then goes like a
//! wave run, in reverse: it shows the plan, checks the thresholds (deletes and restores per
//! municipality), asks for confirmation, journals a run of kind `rollback` and sends the
//! inverses, tenant first, then the shared AD. Running it again resumes it: the next plan
//! sees what is undone already. Reports are written before and after.

use super::Failure;
use super::run::{Connected, confirm, connect, run_start, runtime, within_thresholds};
use super::wave::{Prepared, prepare_for_rollback};
use crate::config::Config;
use crate::execute::graph as tenant;
use crate::execute::{self, Journal, Progress, RETRY_PASSES, graph_pass, serde_name};
use crate::journal::{Completion, Entry, Intent, RunKind, System};
use crate::render::graph::{self, GraphRequest};
use crate::render::ldap;
use crate::report::rollback::{RollbackReport, RunLine, UndoItem, Verification};
use crate::rollback::graph::Context;
use crate::rollback::shared_ad::AdInverse;
use crate::rollback::{Scope, Undo};
use crate::state::State;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A rollback plan for both systems of a target.
#[derive(Debug, Default)]
pub struct Plan {
    pub tenant: Vec<Undo<GraphRequest>>,
    pub shared_ad: Vec<Undo<AdInverse>>,
    /// Whether the target was read (else every change is unverified and nothing is sent).
    pub live: bool,
}

impl Plan {
    fn items(&self) -> impl Iterator<Item = (&str, &UndoItem)> {
        let t = self.tenant.iter().map(|u| (u.municipality.as_str(), &u.item));
        let a = self.shared_ad.iter().map(|u| (u.municipality.as_str(), &u.item));
        t.chain(a)
    }

    /// Inverses to send.
    pub fn pending(&self) -> usize {
        self.tenant.iter().filter(|u| u.op.is_some()).count() + self.shared_ad.iter().filter(|u| u.op.is_some()).count()
    }

    /// Changes per verification.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for (_, i) in self.items() {
            *out.entry(i.verification.as_str()).or_default() += 1;
        }
        out
    }

    fn impact(&self) -> BTreeMap<String, execute::Impact> {
        use crate::render::graph::Action;
        let mut out =
            crate::rollback::impact(&self.tenant, |r| matches!(r.action, Action::DeleteUser | Action::DeleteGroup));
        for (m, i) in crate::rollback::impact(&self.shared_ad, |o| matches!(o, AdInverse::Delete(_))) {
            let e = out.entry(m).or_default();
            e.deletes += i.deletes;
            e.updates += i.updates;
        }
        out
    }
}

/// Everything a plan is made from.
struct Inputs<'a> {
    prepared: &'a Prepared,
    entries: Vec<Entry>,
    context: Context,
    runs: Vec<RunLine>,
}

fn inputs<'a>(state: &State, prepared: &'a Prepared, target: &str) -> Result<Inputs<'a>, Failure> {
    let number = prepared.file.number;
    let entries = state.wave_entries(target, number).map_err(Failure::work)?;
    let runs = state
        .runs(number, Some(target))
        .map_err(Failure::work)?
        .into_iter()
        .map(|r| RunLine {
            id: r.id,
            kind: r.kind,
            operator: r.operator,
            host: r.host,
            command: r.command,
            started_at: r.started_at,
            status: r.status,
            wave_hash: r.wave_hash,
        })
        .collect();
    let refs = &prepared.content.refs;
    let context = Context {
        municipality_of: refs.iter().map(|(a, r)| (a.0.to_string(), r.municipality.clone())).collect(),
        name_of: refs.iter().map(|(a, r)| (a.0.to_string(), r.cloud_name.clone())).collect(),
    };
    Ok(Inputs { prepared, entries, context, runs })
}

/// Looks at the target and plans (see [`crate::rollback`]).
async fn plan(inputs: &Inputs<'_>, clients: Option<&mut Connected>, scope: Scope<'_>) -> Result<Plan, Failure> {
    let p = inputs.prepared;
    let mut out = Plan { live: clients.is_some(), ..Plan::default() };
    let (tenant_view, ad_view) = match clients {
        Some(c) => {
            let tv = match &c.tenant {
                Some(client) => {
                    let names = tenant::Names::new(&p.content, &p.targets);
                    let rendered: Vec<(usize, GraphRequest)> =
                        graph::render_wave(&p.content, &p.targets).requests.into_iter().enumerate().collect();
                    Some(
                        tenant::observe(client, &rendered, &p.content, &names, &HashMap::new())
                            .await
                            .map_err(|e| Failure::work(format!("the tenant: {e}")))?,
                    )
                }
                None => None,
            };
            let av = match &mut c.shared_ad {
                Some(client) => {
                    let ops: Vec<(usize, ldap::LdapOp)> =
                        ldap::render(&p.content, &p.targets).map_err(Failure::work)?.into_iter().enumerate().collect();
                    Some(
                        execute::shared_ad::observe(client, &ops)
                            .await
                            .map_err(|e| Failure::work(format!("the shared AD: {e}")))?,
                    )
                }
                None => None,
            };
            (tv, av)
        }
        None => (None, None),
    };
    let has = |system: System| inputs.entries.iter().any(|e| e.system == system);
    if has(System::Tenant) {
        out.tenant = crate::rollback::graph::plan(&inputs.entries, tenant_view.as_ref(), &inputs.context, scope)
            .map_err(Failure::work)?;
    }
    if has(System::SharedAd) {
        out.shared_ad = crate::rollback::shared_ad::plan(&inputs.entries, ad_view.as_ref(), &inputs.context, scope)
            .map_err(Failure::work)?;
    }
    Ok(out)
}

fn reports_dir(config: &Config, inputs: &Inputs<'_>, target: &str) -> PathBuf {
    let stem = inputs.prepared.file.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    config.file.parent().unwrap_or(Path::new(".")).join("reports/rollback").join(stem).join(target)
}

/// Writes one report per municipality (and one for shared objects); returns the HTML paths.
fn write_reports(dir: &Path, inputs: &Inputs<'_>, target: &str, plan: &Plan) -> Result<Vec<PathBuf>, Failure> {
    let mut by_municipality: BTreeMap<&str, Vec<UndoItem>> = BTreeMap::new();
    for (m, i) in plan.items() {
        by_municipality.entry(m).or_default().push(i.clone());
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
        let paths = crate::report::rollback::write(&report, dir).map_err(Failure::work)?;
        written.extend(paths.into_iter().take(1));
    }
    Ok(written)
}

/// What `samla report rollback --json` prints.
#[derive(Debug, Serialize)]
pub struct ReportSummary {
    pub wave: u32,
    pub target: String,
    pub verified_live: bool,
    pub counts: BTreeMap<&'static str, usize>,
    pub reports: Vec<PathBuf>,
}

/// The target to report on: the one named, or the only one the wave ran against.
fn target_of(state: &State, wave: u32, target: Option<&str>) -> Result<String, Failure> {
    if let Some(t) = target {
        return Ok(t.to_string());
    }
    let mut names: Vec<String> = state.runs(wave, None).map_err(Failure::work)?.into_iter().map(|r| r.target).collect();
    names.sort();
    names.dedup();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Failure::usage(format!("wave {wave} has not been run against any target: nothing to report"))),
        many => Err(Failure::usage(format!("wave {wave} ran against {}: say which with --target", many.join(", ")))),
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
) -> Result<ReportSummary, Failure> {
    let inputs = inputs(state, prepared, target)?;
    let plan = plan(&inputs, clients, Scope(None)).await?;
    let dir = reports_dir(config, &inputs, target);
    let reports = write_reports(&dir, &inputs, target, &plan)?;
    Ok(ReportSummary {
        wave: prepared.file.number,
        target: target.to_string(),
        verified_live: plan.live,
        counts: plan.counts(),
        reports,
    })
}

/// `samla report rollback WAVE [--target NAME] [--municipality NAME]`.
pub fn report(
    config: &Config,
    wave: &str,
    target: Option<&str>,
    municipality: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let prepared = prepare_for_rollback(config, wave)?;
    let number = prepared.file.number;
    let state = State::open(&config.state_path).map_err(Failure::work)?;
    let target = target_of(&state, number, target)?;
    let target_config = config.target(&target).map_err(Failure::usage)?;
    let mut summary = runtime()?.block_on(async {
        match connect(target_config).await {
            Ok(mut clients) => {
                let written = write_reports_with(config, &state, &prepared, &target, Some(&mut clients)).await;
                if let Some(ad) = clients.shared_ad {
                    ad.unbind().await;
                }
                written
            }
            Err(f) => {
                if !json {
                    eprintln!("warning: {}; the reports are written without verification", f.message);
                }
                write_reports_with(config, &state, &prepared, &target, None).await
            }
        }
    })?;
    if let Some(m) = municipality {
        summary.reports.retain(|p| p.file_stem().is_some_and(|s| s == m));
        if summary.reports.is_empty() {
            return Err(Failure::usage(format!(
                "wave {number} changed nothing of municipality {m} in target {target}"
            )));
        }
    }
    if json {
        return super::print_json(&summary);
    }
    print_summary(&summary);
    Ok(())
}

fn print_summary(s: &ReportSummary) {
    let how = if s.verified_live { "verified against the target" } else { "NOT verified (target not read)" };
    println!("Rollback reports of wave {} against {} ({how}):", s.wave, s.target);
    for (v, n) in &s.counts {
        println!("  {v:<12} {n}");
    }
    for r in &s.reports {
        println!("  {}", r.display());
    }
}

/// What `samla wave rollback --json` prints.
#[derive(Debug, Serialize)]
pub struct RollbackSummary {
    pub run: Option<i64>,
    pub wave: u32,
    pub target: String,
    pub municipality: Option<String>,
    pub dry_run: bool,
    pub ok: bool,
    /// Changes per verification, before the rollback.
    pub before: BTreeMap<&'static str, usize>,
    /// ... and after it.
    pub after: BTreeMap<&'static str, usize>,
    pub sent: u64,
    pub passes: u32,
    /// Inverses that did not go through, with the reason.
    pub failures: Vec<String>,
    /// OUs left because something else is in them.
    pub kept: Vec<String>,
    pub reports: Vec<PathBuf>,
}

fn print_plan(plan: &Plan) {
    println!("{:<10} {:<14} {:<22} {:<20} {:>6}", "target", "municipality", "change", "verification", "count");
    let mut rows: BTreeMap<(&str, &str, &str, &str), usize> = BTreeMap::new();
    for (m, i) in plan.items() {
        let m = if m.is_empty() { "(shared)" } else { m };
        *rows.entry((i.system.as_str(), m, i.change.as_str(), i.verification.label())).or_default() += 1;
    }
    for ((s, m, c, v), n) in rows {
        println!("{s:<10} {m:<14} {c:<22} {v:<20} {n:>6}");
    }
    for (_, i) in plan.items().filter(|(_, i)| i.verification == Verification::Drifted) {
        println!("DRIFTED {} {} {}: {} (left alone)", i.system, i.change, i.object, i.note);
    }
}

/// `samla wave rollback WAVE --target NAME [--municipality NAME] [--dry-run] [--yes]`.
pub fn rollback(
    config: &Config,
    wave: &str,
    target: &str,
    municipality: Option<&str>,
    dry_run: bool,
    yes: bool,
    json: bool,
) -> Result<RollbackSummary, Failure> {
    let prepared = prepare_for_rollback(config, wave)?;
    let mut state = State::open(&config.state_path).map_err(Failure::work)?;
    let inputs = inputs(&state, &prepared, target)?;
    let target_config = config.target(target).map_err(Failure::usage)?;
    let scope = Scope(municipality);
    let number = inputs.prepared.file.number;
    if inputs.entries.is_empty() {
        return Err(Failure::usage(format!(
            "wave {number} has not changed anything in target {target}: nothing to roll back"
        )));
    }
    let dir = reports_dir(config, &inputs, target);
    let summary = runtime()?.block_on(async {
        let mut clients = connect(target_config).await?;
        let first = plan(&inputs, Some(&mut clients), scope).await?;
        let mut summary = RollbackSummary {
            run: None,
            wave: number,
            target: target.to_string(),
            municipality: municipality.map(str::to_string),
            dry_run,
            ok: true,
            before: first.counts(),
            after: BTreeMap::new(),
            sent: 0,
            passes: 0,
            failures: Vec::new(),
            kept: Vec::new(),
            reports: write_reports(&dir, &inputs, target, &first)?,
        };
        if !json {
            println!(
                "Rolling back wave {number} ({}) in target {target}{}:",
                inputs.prepared.file.name,
                municipality.map(|m| format!(", municipality {m}")).unwrap_or_default()
            );
            print_plan(&first);
        }
        if dry_run || first.pending() == 0 {
            summary.after = summary.before.clone();
            if !json {
                println!("{}", if dry_run { "Dry run: nothing was changed." } else { "Nothing to roll back." });
            }
            if let Some(ad) = clients.shared_ad {
                ad.unbind().await;
            }
            return Ok(summary);
        }
        within_thresholds(config, &first.impact(), &inputs.prepared.population)?;
        if !yes {
            confirm(&format!("Roll back wave {number} in target {target}?"))?;
        }
        let start = run_start(inputs.prepared, target)?;
        let run = state.start_run(&start, RunKind::Rollback).map_err(Failure::work)?;
        summary.run = Some(run);
        let mut journal = Journal { state: &mut state, run, target: target.to_string(), wave: number, pass: 1 };
        let names = tenant::Names::new(&inputs.prepared.content, &inputs.prepared.targets);
        let mut current = first;
        let result: Result<(), Failure> = async {
            for pass in 1..=1 + RETRY_PASSES {
                if pass > 1 {
                    tokio::time::sleep(execute::wait_before(pass - 1)).await;
                    current = plan(&inputs, Some(&mut clients), scope).await?;
                }
                summary.passes = pass;
                journal.pass = pass;
                summary.failures.clear();
                summary.kept.clear();
                if current.pending() == 0 {
                    break;
                }
                if let (Some(client), Some(t)) = (&clients.tenant, &target_config.tenant) {
                    let undo = &current.tenant;
                    let (sent, failures) =
                        undo_tenant(client, &mut journal, &names, undo, t.max_concurrency, json).await?;
                    summary.sent += sent;
                    summary.failures.extend(failures);
                }
                if let Some(client) = &mut clients.shared_ad {
                    let (sent, failures, kept) = undo_shared_ad(client, &mut journal, &current.shared_ad, json).await?;
                    summary.sent += sent;
                    summary.failures.extend(failures);
                    summary.kept.extend(kept);
                }
                if summary.failures.is_empty() {
                    break;
                }
            }
            Ok(())
        }
        .await;
        let last = plan(&inputs, Some(&mut clients), scope).await;
        if let Ok(last) = &last {
            summary.after = last.counts();
            summary.reports = write_reports(&dir, &inputs, target, last)?;
        }
        summary.ok = result.is_ok() && summary.failures.is_empty();
        let mut as_json = serde_json::to_value(&summary).unwrap_or_default();
        if let Err(f) = &result {
            as_json["error"] = serde_json::Value::String(f.message.clone());
        }
        state.finish_run(run, summary.ok, &as_json).map_err(Failure::work)?;
        if let Some(ad) = clients.shared_ad {
            ad.unbind().await;
        }
        result?;
        last.map(|_| summary)
    })?;
    if json {
        super::print_json(&summary)?;
    } else {
        print_rollback(&summary);
    }
    if summary.ok {
        Ok(summary)
    } else {
        Err(Failure::work(format!("the rollback of wave {number} did not complete; run it again to resume")))
    }
}

fn print_rollback(s: &RollbackSummary) {
    if let Some(run) = s.run {
        println!("\nRollback run {run}: {} inverse(s) sent in {} pass(es).", s.sent, s.passes);
    }
    for (v, n) in &s.after {
        println!("  {v:<12} {n}");
    }
    for k in &s.kept {
        println!("  KEPT {k}");
    }
    for f in s.failures.iter().take(50) {
        println!("  FAILED {f}");
    }
    for r in &s.reports {
        println!("  report: {}", r.display());
    }
}

/// Sends the tenant's inverses; returns how many were sent and what failed. An object or link
/// already gone (404) counts as undone.
async fn undo_tenant(
    client: &crate::client::graph::GraphClient,
    journal: &mut Journal<'_>,
    names: &tenant::Names,
    plan: &[Undo<GraphRequest>],
    max_in_flight: usize,
    hidden: bool,
) -> Result<(u64, Vec<String>), Failure> {
    let requests: Vec<(usize, GraphRequest)> = plan.iter().filter_map(|u| u.op.clone()).enumerate().collect();
    if requests.is_empty() {
        return Ok((0, Vec::new()));
    }
    let totals = execute::municipality_totals(requests.iter().map(|(_, r)| r.municipality.as_str()));
    let progress = Progress::new("tenant", &totals, hidden);
    let skus = HashMap::new();
    let before = HashMap::new();
    let sender = graph_pass::Sender { client, names, skus: &skus, progress: &progress, max_in_flight, before: &before };
    let sent = requests.len() as u64;
    let mut ids = HashMap::new();
    let outcome = graph_pass::send(&sender, journal, requests, &mut ids).await.map_err(Failure::work)?;
    progress.finish();
    let failures = outcome
        .failed
        .iter()
        .filter(|f| f.status != 404)
        .map(|f| {
            format!("tenant {} {} {}: {}", serde_name(f.request.action), names.of(&f.request), f.request.url, f.reason)
        })
        .collect();
    Ok((sent, failures))
}

/// Applies the shared AD's inverses in order, each chunk journaled first. An entry or value
/// already gone counts as undone; an OU with something else in it is kept.
async fn undo_shared_ad(
    client: &mut crate::client::ldap::SharedAdClient,
    journal: &mut Journal<'_>,
    plan: &[Undo<AdInverse>],
    hidden: bool,
) -> Result<(u64, Vec<String>, Vec<String>), Failure> {
    let ops: Vec<(&Undo<AdInverse>, &AdInverse)> = plan.iter().filter_map(|u| u.op.as_ref().map(|o| (u, o))).collect();
    let totals = execute::municipality_totals(ops.iter().map(|(u, _)| u.municipality.as_str()));
    let progress = Progress::new("shared AD", &totals, hidden);
    let (mut failures, mut kept) = (Vec::new(), Vec::new());
    for chunk in ops.chunks(50) {
        let intents: Vec<Intent> = chunk
            .iter()
            .map(|(u, op)| Intent {
                system: System::SharedAd,
                pass: journal.pass,
                op_key: op.dn().key(),
                action: op.action(),
                municipality: u.municipality.clone(),
                anchor: None,
                object: op.dn().as_str().to_string(),
                intent: match op {
                    AdInverse::Delete(dn) => serde_json::json!({"changetype": "delete", "dn": dn.as_str()}).to_string(),
                    AdInverse::Modify(_, change) => serde_json::to_string(change).unwrap_or_default(),
                },
                before: Some(serde_json::json!({"before": u.item.before, "after": u.item.after}).to_string()),
            })
            .collect();
        let rows = journal.record_intents(&intents).map_err(Failure::work)?;
        let mut completions = Vec::with_capacity(rows.len());
        for (row, (u, op)) in rows.into_iter().zip(chunk) {
            progress.tick(&u.municipality);
            let result = match op {
                AdInverse::Delete(dn) => client.delete(dn).await,
                AdInverse::Modify(_, change) => client.apply(change).await,
            };
            let (ok, text) = match result {
                Ok(()) => (true, "ok".to_string()),
                // 32 no such object, 16 no such attribute: already undone.
                Err(e) if matches!(e.code(), Some(32 | 16)) => (true, format!("already undone: {e}")),
                Err(e) if e.code() == Some(66) => {
                    kept.push(format!("{}: not empty, kept", op.dn().as_str()));
                    (false, format!("kept: {e}"))
                }
                Err(e) => {
                    failures.push(format!("shared AD {} {}: {e}", u.item.change, op.dn().as_str()));
                    (false, e.to_string())
                }
            };
            completions.push(Completion {
                row,
                ok,
                status: Some(0),
                result: text,
                object_id: Some(op.dn().as_str().to_string()),
            });
        }
        journal.record_completions(&completions).map_err(Failure::work)?;
    }
    progress.finish();
    Ok((ops.len() as u64, failures, kept))
}
