//! Running a wave against a target: compare, weigh against the thresholds, ask, journal who
//! started it and from which wave file, then converge the shared AD and the tenant
//! ([`crate::execute`]). The shared AD goes first: it is where a later Entra Connect reads
//! everyone from. The rollback reports are written after every run, whatever its outcome.

use super::compare::{Comparison, compare, own_deleted};
use super::connect::{connect, runtime, same_target};
use super::dependencies::required_in_target;
use super::error::WaveError;
use super::operator::{Operator, Preview};
use super::prepare::{Prepared, Purpose, prepare};
use super::report;
use crate::config::Config;
use crate::config::operator::who;
use crate::execute::{self, Impact, Journal, SystemResult, graph as tenant};
use crate::journal::{RunKind, RunStart, TargetIdentity};
use crate::model::settings::NewAccounts;
use crate::render::{graph, ldap};
use crate::state::State;
use serde::Serialize;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a run did: `samla wave run --json` prints it.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub run: i64,
    pub wave: u32,
    pub target: String,
    pub ok: bool,
    pub shared_ad: Option<SystemResult>,
    pub tenant: Option<SystemResult>,
    /// What the comparison before the run found, per `system/municipality` (as a dry-run's
    /// `comparison`): what the run set out to do.
    pub compared: BTreeMap<String, super::compare::Counts>,
    /// The rollback reports written at the end of the run (HTML, one per municipality).
    pub rollback_reports: Vec<PathBuf>,
    /// Why the rollback reports could not be written, when they could not.
    #[serde(skip)]
    pub reports_not_written: Option<String>,
}

impl RunSummary {
    /// The summary when every operation went through, else why the wave is not complete.
    pub fn completed(self) -> Result<RunSummary, WaveError> {
        if self.ok { Ok(self) } else { Err(WaveError::Incomplete { wave: self.wave }) }
    }
}

/// Who starts an operation on `prepared`'s wave against `target` (whose systems are
/// `identity`), from where, with which wave file (its SHA-256, so the journal says exactly
/// what was run).
pub fn run_start(prepared: &Prepared, target: &str, identity: TargetIdentity) -> Result<RunStart, WaveError> {
    let wave_hash = std::fs::read(&prepared.file.path)
        .map(|b| hex::encode(sha2::Sha256::digest(&b)))
        .map_err(|source| WaveError::File { path: prepared.file.path.clone(), source })?;
    let (operator, host) = who();
    Ok(RunStart {
        wave: prepared.file.number,
        wave_name: prepared.file.name.clone(),
        wave_file: prepared.file.path.display().to_string(),
        wave_hash,
        target: target.to_string(),
        operator,
        host,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        identity,
    })
}

/// Refuses when any municipality's impact goes beyond its thresholds, naming them all.
pub fn within_thresholds(
    config: &Config,
    impact: &BTreeMap<String, Impact>,
    population: &BTreeMap<String, u64>,
) -> Result<(), WaveError> {
    let over = execute::over_thresholds(impact, population, &config.thresholds);
    if over.is_empty() {
        return Ok(());
    }
    Err(WaveError::BeyondThresholds { config: config.file.clone(), reasons: over.join("; ") })
}

/// Runs the wave named `wave` (number, name or file name) against `target`. Safe to run again: finished work is seen in the
/// target and not repeated. Returns the summary also when operations failed (`ok` false, see
/// [`RunSummary::completed`]); an error when the run could not start or stopped early.
pub fn run(
    config: &Config,
    state: &mut State,
    wave: &str,
    target: &str,
    operator: &mut dyn Operator,
) -> Result<RunSummary, WaveError> {
    let prepared = &prepare(config, state, wave, Purpose::Send)?;
    let target = config.target(target)?;
    let start = run_start(prepared, &target.name, same_target(state, target)?)?;
    required_in_target(state, &prepared.content, &target.name)?;
    let own = own_deleted(state, &target.name)?;
    state.backup(config.state_backups)?;
    let hidden = operator.hides_progress();
    runtime()?.block_on(async {
        let mut clients = connect(target).await?;
        let mut comparison: Comparison = compare(prepared, &mut clients, &own).await?;
        if !comparison.preflight.is_empty() {
            return Err(WaveError::Preflight {
                wave: prepared.file.number,
                target: target.name.clone(),
                findings: std::mem::take(&mut comparison.preflight),
            });
        }
        operator.preview(Preview::Run { wave: &prepared.file, target: &target.name, comparison: &comparison });
        within_thresholds(config, &comparison.impact(), &prepared.population)?;
        operator.approve(&format!("Run wave {} against target {}?", prepared.file.number, target.name))?;
        let run = state.start_run(&start, RunKind::Run)?;
        let mut journal =
            Journal { state: &mut *state, run, target: target.name.clone(), wave: prepared.file.number, pass: 1 };
        let random_passwords = prepared.targets.shared_ad.new_accounts == NewAccounts::RandomPassword;
        let mut summary = RunSummary {
            run,
            wave: prepared.file.number,
            target: target.name.clone(),
            ok: true,
            shared_ad: None,
            tenant: None,
            compared: comparison.counts().into_iter().map(|((s, m), n)| (format!("{s}/{m}"), n)).collect(),
            rollback_reports: Vec::new(),
            reports_not_written: None,
        };
        let result: Result<(), WaveError> = async {
            if let Some(client) = &mut clients.shared_ad {
                let ops = ldap::render(&prepared.content, &prepared.targets)?;
                let first_look = comparison.shared_ad_view.take();
                let r = execute::converge_shared_ad(client, &mut journal, ops, first_look, random_passwords, hidden)
                    .await?;
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
                    &own,
                    t.max_concurrency,
                    hidden,
                )
                .await?;
                summary.tenant = Some(r);
            }
            Ok(())
        }
        .await;
        summary.ok = result.is_ok()
            && summary.shared_ad.as_ref().is_none_or(SystemResult::ok)
            && summary.tenant.as_ref().is_none_or(SystemResult::ok);
        let mut as_json = serde_json::to_value(&summary).unwrap_or_default();
        if let Err(e) = &result {
            as_json["error"] = serde_json::Value::String(e.to_string());
        }
        state.finish_run(run, summary.ok, &as_json)?;
        // What this run did, and how to undo it, per municipality: written after every run.
        match report::write_reports_with(config, state, prepared, &target.name, Some(&mut clients)).await {
            Ok(r) => summary.rollback_reports = r.reports,
            Err(e) => summary.reports_not_written = Some(e.to_string()),
        }
        clients.close().await;
        result.map(|()| summary)
    })
}
