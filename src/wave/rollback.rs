//! Rolling a wave back in a target ([`crate::rollback`] has the rules): the journal's entries
//! of the wave's runs, a live look at the target, and the plan that compares them. It then
//! goes like a wave run in reverse: it shows the plan, weighs the thresholds (deletes and
//! restores per municipality), asks, journals a run of kind `rollback` and sends the inverses,
//! tenant first, then the shared AD. Running it again resumes it: the next plan sees what is
//! undone already. The reports are written before and after.

use super::connect::{connect, runtime, same_target};
use super::dependencies::dependents_in_target;
use super::error::WaveError;
use super::operator::{Operator, Preview};
use super::prepare::{Prepared, Purpose, prepare};
use super::report::{reports_dir, write_reports};
use super::rollback_plan::{inputs, plan};
use super::run::{run_start, within_thresholds};
use crate::client::graph::GraphClient;
use crate::client::ldap::SharedAdClient;
use crate::config::Config;
use crate::execute::{self, Journal, Progress, RETRY_PASSES, graph as tenant, graph_pass, serde_name};
use crate::journal::{Completion, Intent, OpState, RunKind, System, TargetIdentity};
use crate::render::graph::GraphRequest;
use crate::rollback::shared_ad::AdInverse;
use crate::rollback::{Scope, Undo};
use crate::state::State;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

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
    /// The later waves `--cascade` rolled back first, newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cascaded: Vec<RollbackSummary>,
}

impl RollbackSummary {
    /// The summary when everything was undone (or nothing was to be sent), the cascaded
    /// waves' too, else why not.
    pub fn completed(self) -> Result<RollbackSummary, WaveError> {
        match self.cascaded.iter().find(|c| !c.ok) {
            Some(c) => Err(WaveError::RollbackIncomplete { wave: c.wave }),
            None if !self.ok => Err(WaveError::RollbackIncomplete { wave: self.wave }),
            None => Ok(self),
        }
    }
}

/// What a rollback is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct RollbackRequest<'a> {
    /// The wave: its number, name or file name.
    pub wave: &'a str,
    pub target: &'a str,
    /// Only this municipality's people and groups (shared groups keep the others' members).
    pub municipality: Option<&'a str>,
    /// Show the plan and write the reports; change nothing.
    pub dry_run: bool,
    /// Later waves that refer to this wave's objects, to roll back first (newest first):
    /// without them, a rollback such waves depend on is refused.
    pub cascade: &'a [u32],
}

/// Rolls a wave back in a target: memberships, managers and licences removed, changed values
/// restored, created groups, users and OUs deleted, in that order. What someone changed since
/// the wave (drift) is reported and left alone. Refused when later waves in the target refer
/// to the wave's objects, unless `request.cascade` names them all: they are then rolled back
/// first, newest first, each journaled as its own rollback.
pub fn rollback(
    config: &Config,
    state: &mut State,
    request: RollbackRequest<'_>,
    operator: &mut dyn Operator,
) -> Result<RollbackSummary, WaveError> {
    let prepared = prepare(config, state, request.wave, Purpose::Undo)?;
    let target_config = config.target(request.target)?;
    let identity = same_target(state, target_config)?;
    if !request.dry_run {
        state.backup(config.state_backups)?;
    }
    // Every wave to roll back, with the waves in the target that refer to it: each of those
    // must be rolled back too, before it.
    let number = prepared.file.number;
    let dependents = dependents_in_target(state, &prepared.referrers, request.target)?;
    let mut waves = vec![(prepared, dependents)];
    for &w in request.cascade.iter().filter(|&&w| w != number) {
        let p = prepare(config, state, &w.to_string(), Purpose::Undo)?;
        let dependents = dependents_in_target(state, &p.referrers, request.target)?;
        waves.push((p, dependents));
    }
    for (p, dependents) in &waves {
        let missing: Vec<u32> =
            dependents.keys().copied().filter(|w| *w != number && !request.cascade.contains(w)).collect();
        if !missing.is_empty() {
            let mut cascade: Vec<u32> = request.cascade.iter().copied().chain(missing.iter().copied()).collect();
            cascade.retain(|&w| w != number);
            cascade.sort_unstable();
            cascade.dedup();
            let shown: Vec<String> = missing.iter().map(|w| format!("wave {w} ({})", dependents[w])).collect();
            let cascade: Vec<String> = cascade.iter().map(u32::to_string).collect();
            return Err(WaveError::DependentWaves {
                wave: p.file.number,
                target: request.target.to_string(),
                dependents: shown.join(", "),
                cascade: cascade.join(","),
            });
        }
    }
    let (first, _) = waves.remove(0);
    // Newest first: the wave whose newest run came last goes first.
    let mut order = Vec::with_capacity(waves.len());
    for (p, _) in waves {
        let newest = state.runs(p.file.number, Some(request.target))?.last().map_or(0, |r| r.id);
        order.push((newest, p));
    }
    order.sort_by_key(|(newest, _)| std::cmp::Reverse(*newest));
    let mut cascaded = Vec::with_capacity(order.len());
    for (_, p) in order {
        match rollback_one(config, state, p, request, identity.clone(), operator) {
            Ok(s) if s.ok || s.dry_run => cascaded.push(s),
            // A cascaded wave not (fully) undone: the wave it depends on stays.
            Ok(s) => return s.completed(),
            Err(WaveError::NothingToRollBack { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let mut summary = rollback_one(config, state, first, request, identity, operator)?;
    summary.cascaded = cascaded;
    Ok(summary)
}

/// Rolls one prepared wave back (see [`rollback`]).
fn rollback_one(
    config: &Config,
    state: &mut State,
    prepared: Prepared,
    request: RollbackRequest<'_>,
    identity: TargetIdentity,
    operator: &mut dyn Operator,
) -> Result<RollbackSummary, WaveError> {
    let RollbackRequest { target, municipality, dry_run, .. } = request;
    let mut inputs = inputs(state, &prepared, target)?;
    let target_config = config.target(target)?;
    let scope = Scope(municipality);
    let number = prepared.file.number;
    if inputs.entries.is_empty() {
        return Err(WaveError::NothingToRollBack { wave: number, target: target.to_string() });
    }
    let dir = reports_dir(config, &prepared, target);
    let hidden = operator.hides_progress();
    runtime()?.block_on(async {
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
            cascaded: Vec::new(),
        };
        operator.preview(Preview::Rollback { wave: &prepared.file, target, municipality, plan: &first });
        if dry_run || first.pending() == 0 && first.unverified().is_empty() {
            summary.after = summary.before.clone();
            clients.close().await;
            return Ok(summary);
        }
        within_thresholds(config, &first.impact(), &prepared.population)?;
        operator.approve(&format!("Roll back wave {number} in target {target}?"))?;
        let start = run_start(&prepared, target, identity)?;
        let run = state.start_run(&start, RunKind::Rollback)?;
        summary.run = Some(run);
        // A cutover of the wave is undone first: its passes deleted, its accounts disabled (in the
        // tenant and in the shared AD).
        let mut cutover_failures = Vec::new();
        if let Some(client) = &clients.tenant {
            let (sent, failures) = super::cutover::undo(state, client, run, target, number, municipality).await?;
            summary.sent += sent;
            cutover_failures = failures;
        }
        if let Some(client) = &mut clients.shared_ad {
            let (sent, failures) = super::cutover_ad::undo(state, client, run, target, number, municipality).await?;
            summary.sent += sent;
            cutover_failures.extend(failures);
        }
        let mut journal = Journal { state: &mut *state, run, target: target.to_string(), wave: number, pass: 1 };
        let names = tenant::Names::new(&prepared.content, &prepared.targets);
        let mut current = first;
        let result: Result<(), WaveError> = async {
            for pass in 1..=1 + RETRY_PASSES {
                if pass > 1 {
                    tokio::time::sleep(execute::wait_before(pass - 1)).await;
                    inputs.context.deleted = journal.state.rolled_back_deletes(target, number)?;
                    current = plan(&inputs, Some(&mut clients), scope).await?;
                }
                summary.passes = pass;
                journal.pass = pass;
                summary.failures.clear();
                summary.kept.clear();
                if current.pending() == 0 {
                    // What is not visible yet may be replication lag: look again, within the
                    // passes, before calling it anything.
                    if current.unverified().is_empty() {
                        break;
                    }
                    continue;
                }
                if let (Some(client), Some(t)) = (&clients.tenant, &target_config.tenant) {
                    let (sent, failures) =
                        undo_tenant(client, &mut journal, &names, &current.tenant, t.max_concurrency, hidden).await?;
                    summary.sent += sent;
                    summary.failures.extend(failures);
                }
                if let Some(client) = &mut clients.shared_ad {
                    let (sent, failures, kept) =
                        undo_shared_ad(client, &mut journal, &current.shared_ad, hidden).await?;
                    summary.sent += sent;
                    summary.failures.extend(failures);
                    summary.kept.extend(kept);
                }
                if summary.failures.is_empty() && current.unverified().is_empty() {
                    break;
                }
            }
            Ok(())
        }
        .await;
        inputs.context.deleted = state.rolled_back_deletes(target, number)?;
        let last = plan(&inputs, Some(&mut clients), scope).await;
        if let Ok(last) = &last {
            // A change the rollback cannot see undone is not called undone.
            summary.failures.extend(last.unverified());
            summary.after = last.counts();
            summary.reports = write_reports(&dir, &inputs, target, last)?;
        }
        summary.failures.extend(cutover_failures);
        summary.ok = result.is_ok() && summary.failures.is_empty();
        let mut as_json = serde_json::to_value(&summary).unwrap_or_default();
        if let Err(e) = &result {
            as_json["error"] = serde_json::Value::String(e.to_string());
        }
        state.finish_run(run, summary.ok, &as_json)?;
        clients.close().await;
        result?;
        last.map(|_| summary)
    })
}

/// Sends the tenant's inverses; returns how many were sent and what failed. An object or link
/// already gone (404) counts as undone.
async fn undo_tenant(
    client: &GraphClient,
    journal: &mut Journal<'_>,
    names: &tenant::Names,
    plan: &[Undo<GraphRequest>],
    max_in_flight: usize,
    hidden: bool,
) -> Result<(u64, Vec<String>), WaveError> {
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
    let outcome = graph_pass::send(&sender, journal, requests, &mut ids).await?;
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
    client: &mut SharedAdClient,
    journal: &mut Journal<'_>,
    plan: &[Undo<AdInverse>],
    hidden: bool,
) -> Result<(u64, Vec<String>, Vec<String>), WaveError> {
    let ops: Vec<(&Undo<AdInverse>, &AdInverse)> = plan.iter().filter_map(|u| u.op.as_ref().map(|o| (u, o))).collect();
    let totals = execute::municipality_totals(ops.iter().map(|(u, _)| u.municipality.as_str()));
    let progress = Progress::new("shared AD", &totals, hidden);
    let (mut failures, mut kept) = (Vec::new(), Vec::new());
    for chunk in ops.chunks(50) {
        let intents = chunk
            .iter()
            .map(|(u, op)| -> Result<Intent, WaveError> {
                Ok(Intent {
                    system: System::SharedAd,
                    pass: journal.pass,
                    op_key: op.dn().key(),
                    action: op.action(),
                    municipality: u.municipality.clone(),
                    anchor: None,
                    object: op.dn().as_str().to_string(),
                    intent: match op {
                        AdInverse::Delete(dn) => {
                            serde_json::json!({"changetype": "delete", "dn": dn.as_str()}).to_string()
                        }
                        AdInverse::Modify(_, change) => serde_json::to_string(change)?,
                    },
                    before: Some(serde_json::json!({"before": u.item.before, "after": u.item.after}).to_string()),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rows = journal.record_intents(&intents)?;
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
                state: if ok { OpState::Done } else { OpState::Failed },
                status: Some(0),
                result: text,
                object_id: Some(op.dn().as_str().to_string()),
            });
        }
        journal.record_completions(&completions)?;
    }
    progress.finish();
    Ok((ops.len() as u64, failures, kept))
}
