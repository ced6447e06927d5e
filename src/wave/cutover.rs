//! Cutover day (`samla wave cutover`): the people of a wave that ran move. In the tenant each
//! cloud user the wave created is enabled and given a first sign-in, a Temporary Access Pass
//! (lifetime and one-time use from samla.toml's `[cutover]`, within the tenant's policy), and
//! the service desk gets a handout per municipality ([`crate::report::handout`]).
//!
//! - Refused (nothing written) unless the wave's newest run against the target completed and
//!   was not rolled back since, and when the tenant's pass policy is off or samla.toml's
//!   lifetime lies outside its bounds.
//! - Only the users samla created for this wave in this target (`target_objects`), one
//!   municipality at a time with `--municipality`.
//! - Journaled like a run (kind `cutover`): every enable and every pass is journaled before it
//!   is sent, the enable with its before-image. The pass itself is known only from Graph's
//!   create answer and goes to the handout alone: its row is written and synced to disk as soon
//!   as the pass is issued, then the journal records the issue (method id, start, lifetime).
//! - Graph keeps one usable pass per user, and a new one replaces the current one, so it looks
//!   before it issues: a user whose usable pass is the one the journal recorded and the handout
//!   holds keeps it; a pass the handout lacks (an answer lost, or a kill before the row was
//!   written) is deleted and a new one issued. Run again after a failure or a kill to resume.
//! - A person whose source account was disabled or expired when mapped is left disabled.
//! - Undone by `samla wave rollback` first ([`undo`]): passes deleted, accounts disabled again.
//!
//! - In the shared AD the wave's accounts are enabled too, each with an initial password that
//!   must be changed at first sign-in, in the handout beside the pass ([`super::cutover_ad`]).
//!
//! Not done here: the old accounts in the municipalities' ADs are not closed: the handout
//! lists each one to close.

use super::connect::{Connected, connect, runtime, same_target};
use super::cutover_ad::{self, AdStep, User};
pub use super::cutover_plan::{CutoverOutcome, MunicipalityCutover};
use super::dependencies::{Presence, presence_in};
use super::error::WaveError;
use super::operator::{Operator, Preview};
use super::prepare::{Prepared, Purpose, prepare};
use super::run::{run_start, within_thresholds};
use crate::client::graph::{ClientError, GraphClient, IssuedTap, TapMethod, TapPolicy, TapRemoval, tap_methods_path};
use crate::client::ldap::SharedAdClient;
use crate::config::{Config, CutoverSettings};
use crate::execute::Impact;
use crate::journal::{Action, Completion, Intent, OpState, RunKind, RunStatus, System, TargetKind};
use crate::model::unified::SourceState;
use crate::project::project_dir;
use crate::report::handout;
use crate::state::State;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// What a cutover is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct CutoverRequest<'a> {
    /// The wave: its number, name or file name.
    pub wave: &'a str,
    pub target: &'a str,
    /// Only this municipality's people.
    pub municipality: Option<&'a str>,
    /// Show per municipality what it would do; write nothing.
    pub dry_run: bool,
}

/// What one user needs.
struct Step {
    enable: bool,
    /// A usable pass the handout lacks, deleted before a new one is issued.
    delete: Option<TapMethod>,
    issue: bool,
    /// The pass kept (its method id).
    kept: Option<String>,
}

/// Refused unless the wave's newest run against `target` completed and was not rolled back
/// since, saying what is missing.
fn ready(state: &State, wave: u32, target: &str) -> Result<(), WaveError> {
    let runs = state.runs(wave, Some(target))?;
    let missing = match presence_in(&runs) {
        Presence::NeverRun => "it has not run there".to_string(),
        Presence::RolledBack { run } => format!("it was rolled back (run {run})"),
        Presence::In { run } => match runs.iter().find(|r| r.id == run).map(|r| r.status) {
            Some(RunStatus::Completed) => return Ok(()),
            Some(RunStatus::Running) => format!("its run {run} is still running"),
            _ => format!("its newest run {run} did not complete"),
        },
    };
    Err(WaveError::NotRunYet { wave, target: target.to_string(), missing })
}

/// Refused when the tenant's policy does not allow the passes samla.toml asks for, with every
/// reason.
fn allowed(policy: &TapPolicy, settings: CutoverSettings, target: &str) -> Result<(), WaveError> {
    let mut reasons = Vec::new();
    if !policy.enabled {
        reasons.push("it is disabled".to_string());
    }
    let (min, max) = (policy.minimum_lifetime_minutes, policy.maximum_lifetime_minutes);
    if !(min..=max).contains(&settings.tap_lifetime_minutes) {
        reasons.push(format!(
            "[cutover] tap_lifetime_minutes = {} is outside its bounds ({min} to {max} minutes)",
            settings.tap_lifetime_minutes
        ));
    }
    if policy.usable_once && !settings.tap_usable_once {
        reasons.push("it allows one-time passes only; set [cutover] tap_usable_once = true".to_string());
    }
    if reasons.is_empty() {
        return Ok(());
    }
    Err(WaveError::PassesRefused { target: target.to_string(), reasons: reasons.join("; ") })
}

/// The accounts the wave created in `target`'s `system`, of `municipality` when given, whose
/// source account may sign in; and per municipality how many were left out because it may not.
fn users_of(
    state: &State,
    prepared: &Prepared,
    target: &str,
    system: System,
    municipality: Option<&str>,
) -> Result<(Vec<User>, BTreeMap<String, usize>), WaveError> {
    let created = state.created_objects(target, system, prepared.file.number, TargetKind::User)?;
    let refs: HashMap<String, &crate::render::ObjectRef> =
        prepared.content.refs.iter().map(|(a, r)| (a.0.to_string(), r)).collect();
    let people: HashMap<String, &crate::model::unified::Person> =
        prepared.content.people.iter().map(|p| (p.anchor.0.to_string(), p)).collect();
    let mut out = Vec::new();
    let mut left = BTreeMap::new();
    for (anchor, id) in created {
        let Some(r) = refs.get(&anchor) else { continue };
        if municipality.is_some_and(|m| m != r.municipality) {
            continue;
        }
        let person = people.get(&anchor);
        // A person whose old account was disabled or expired does not move with the unit.
        if person.is_some_and(|p| p.source_state != SourceState::Enabled) {
            *left.entry(r.municipality.clone()).or_default() += 1;
            continue;
        }
        let old_dn = person
            .and_then(|p| p.affiliations.iter().find(|a| a.municipality == r.municipality).or(p.affiliations.first()))
            .map(|a| a.dn.as_str().to_string())
            .unwrap_or_default();
        out.push(User {
            name: person.map(|p| p.display_name.clone()).unwrap_or_else(|| r.cn.clone()),
            upn: r.cloud_name.clone(),
            unit: r.unit.clone(),
            municipality: r.municipality.clone(),
            old_dn,
            anchor,
            id,
        });
    }
    Ok((out, left))
}

/// The handout CSV of `municipality`.
fn handout_path(config: &Config, prepared: &Prepared, target: &str, municipality: &str) -> PathBuf {
    let stem = prepared.file.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    project_dir(config).join("reports/cutover").join(stem).join(target).join(format!("{municipality}.csv"))
}

/// Each user's accountEnabled and passes, read 20 per `$batch`.
async fn look(client: &GraphClient, users: &[User]) -> Result<Vec<(bool, Vec<TapMethod>)>, WaveError> {
    let paths: Vec<String> = users.iter().map(|u| format!("/users/{}?$select=id,accountEnabled", u.id)).collect();
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    let enabled = client.get_many(&paths).await;
    let taps = client.list_taps_of(&ids).await;
    let mut out = Vec::with_capacity(users.len());
    for ((u, e), t) in users.iter().zip(enabled).zip(taps) {
        let e = e.map_err(|e| WaveError::tenant(format!("{}: {e}", u.upn)))?;
        let t = t.map_err(|e| WaveError::tenant(format!("{}: {e}", u.upn)))?;
        out.push((e["accountEnabled"] == json!(true), t));
    }
    Ok(out)
}

/// How an operation that failed ended: refused by Graph (nothing happened), or in doubt.
fn failed(row: i64, e: &ClientError) -> Completion {
    let (state, status) = match e {
        ClientError::Graph { status, .. } => (OpState::Failed, Some(*status)),
        _ => (OpState::InDoubt, None),
    };
    Completion { row, state, status, result: e.to_string(), object_id: None }
}

fn done(row: i64, status: u16, result: String, object_id: Option<String>) -> Completion {
    Completion { row, state: OpState::Done, status: Some(status), result, object_id }
}

/// Cuts the wave over in the target (see the module docs). Returns the outcome also when
/// operations failed (`ok` false, see [`CutoverOutcome::completed`]).
pub fn cutover(
    config: &Config,
    state: &mut State,
    request: CutoverRequest<'_>,
    operator: &mut dyn Operator,
) -> Result<CutoverOutcome, WaveError> {
    let prepared = &prepare(config, state, request.wave, Purpose::Undo)?;
    let number = prepared.file.number;
    let target = config.target(request.target)?;
    let identity = same_target(state, target)?;
    ready(state, number, &target.name)?;
    let (users, left_disabled) = users_of(state, prepared, &target.name, System::Tenant, request.municipality)?;
    let accounts = match target.shared_ad {
        Some(_) => users_of(state, prepared, &target.name, System::SharedAd, request.municipality)?.0,
        None => Vec::new(),
    };
    if let (Some(m), true) = (request.municipality, users.is_empty() && accounts.is_empty() && left_disabled.is_empty())
    {
        return Err(WaveError::NothingOfMunicipality {
            wave: number,
            municipality: m.to_string(),
            target: target.name.clone(),
        });
    }
    let settings = config.cutover;
    let mut outcome = CutoverOutcome {
        run: None,
        wave: number,
        target: target.name.clone(),
        municipality: request.municipality.map(str::to_string),
        dry_run: request.dry_run,
        ok: true,
        tap_lifetime_minutes: settings.tap_lifetime_minutes,
        tap_usable_once: settings.tap_usable_once,
        municipalities: BTreeMap::new(),
        handouts: Vec::new(),
        failures: Vec::new(),
        notes: Vec::new(),
    };
    for (m, n) in left_disabled {
        outcome.municipalities.entry(m).or_default().left_disabled = n;
    }
    outcome.notes.push("the old accounts are not closed: each handout lists the ones to close".to_string());
    if target.tenant.is_none() {
        return Err(WaveError::tenant(format!("target {} has no tenant to give first sign-ins in", target.name)));
    }
    runtime()?.block_on(async {
        let mut clients = connect(target).await?;
        let accounts = Accounts { users: &users, shared_ad: &accounts };
        let result =
            cut_over(config, state, prepared, request, &mut clients, identity, accounts, &mut outcome, operator).await;
        clients.close().await;
        result.map(|()| outcome)
    })
}

/// The wave's accounts a cutover enables: its cloud users and its shared-AD accounts.
#[derive(Clone, Copy)]
struct Accounts<'a> {
    users: &'a [User],
    shared_ad: &'a [User],
}

#[allow(clippy::too_many_arguments)]
async fn cut_over(
    config: &Config,
    state: &mut State,
    prepared: &Prepared,
    request: CutoverRequest<'_>,
    clients: &mut Connected,
    identity: crate::journal::TargetIdentity,
    accounts: Accounts<'_>,
    outcome: &mut CutoverOutcome,
    operator: &mut dyn Operator,
) -> Result<(), WaveError> {
    let users = accounts.users;
    let Connected { tenant, shared_ad } = clients;
    let Some(client) = tenant.as_ref() else { return Ok(()) };
    let settings = config.cutover;
    let target = outcome.target.clone();
    let policy = client.tap_policy().await.map_err(WaveError::tenant)?;
    allowed(&policy, settings, &target)?;

    // Look before issuing: what each user has, what the journal and the handouts say.
    let seen = look(client, users).await?;
    let journaled: HashMap<String, String> = state
        .kind_entries(&target, prepared.file.number, RunKind::Cutover)?
        .into_iter()
        .filter(|e| e.action == Action::IssuePass && e.state == OpState::Done)
        .filter_map(|e| Some((e.anchor?, e.object_id?)))
        .collect();
    let mut handed: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut steps = Vec::with_capacity(users.len());
    for (u, (enabled, taps)) in users.iter().zip(seen) {
        if !handed.contains_key(&u.municipality) {
            let path = handout_path(config, prepared, &target, &u.municipality);
            handed.insert(u.municipality.clone(), handout::pass_ids(&path)?);
        }
        let in_handout = handed.get(&u.municipality).and_then(|h| h.get(&u.upn));
        let usable = taps.into_iter().find(|t| t.usable);
        let keep = usable
            .as_ref()
            .is_some_and(|t| journaled.get(&u.anchor) == Some(&t.method_id) && in_handout == Some(&t.method_id));
        let m = outcome.municipalities.entry(u.municipality.clone()).or_default();
        m.users += 1;
        m.close += usize::from(!u.old_dn.is_empty());
        m.enable += usize::from(!enabled);
        let step = if keep {
            m.keep += 1;
            Step { enable: !enabled, delete: None, issue: false, kept: usable.map(|t| t.method_id) }
        } else {
            m.issue += 1;
            m.replace += usize::from(usable.is_some());
            Step { enable: !enabled, delete: usable, issue: true, kept: None }
        };
        steps.push(step);
    }
    let mut ad_steps = Vec::new();
    if let Some(ad) = shared_ad.as_mut() {
        let journaled = cutover_ad::journaled(state, &target, prepared.file.number)?;
        let mut passwords: HashMap<&str, std::collections::BTreeSet<String>> = HashMap::new();
        for u in accounts.shared_ad {
            if !passwords.contains_key(u.municipality.as_str()) {
                let path = handout_path(config, prepared, &target, &u.municipality);
                passwords.insert(&u.municipality, cutover_ad::passwords_in(&path)?);
            }
        }
        let with_password = |u: &User| -> Result<bool, WaveError> {
            Ok(passwords.get(u.municipality.as_str()).is_some_and(|p| p.contains(&u.upn)))
        };
        ad_steps = cutover_ad::look(ad, accounts.shared_ad, &journaled, &with_password).await?;
        for (u, step) in accounts.shared_ad.iter().zip(&ad_steps) {
            let m = outcome.municipalities.entry(u.municipality.clone()).or_default();
            match step {
                AdStep::Enable { .. } => m.ad_enable += 1,
                AdStep::AlreadyEnabled => m.ad_already_enabled += 1,
                AdStep::Done | AdStep::Gone => {}
            }
        }
        let already: usize = outcome.municipalities.values().map(|m| m.ad_already_enabled).sum();
        if already > 0 {
            outcome.notes.push(format!(
                "{already} shared-AD account(s) were enabled when the run created them (new_accounts = \"random-password\"): left as they are, no initial password in the handout"
            ));
        }
    }
    operator.preview(Preview::Cutover { wave: &prepared.file, outcome });
    if request.dry_run {
        return Ok(());
    }
    // The people cut over are weighed like the accounts the wave's run created (the creates'
    // limits): a cutover touches only those, and never more than the run was allowed to make.
    let impact: BTreeMap<String, Impact> = outcome
        .municipalities
        .iter()
        .map(|(m, c)| {
            let people = c.enable.max(c.issue).max(c.ad_enable) as u64;
            (m.clone(), Impact { creates: people, accounts_created: people, ..Impact::default() })
        })
        .collect();
    within_thresholds(config, &impact, &prepared.population)?;
    let nothing =
        steps.iter().all(|s| !s.enable && !s.issue) && ad_steps.iter().all(|s| !matches!(s, AdStep::Enable { .. }));
    if !nothing {
        operator.approve(&format!("Cut wave {} over in target {target}?", prepared.file.number))?;
    }
    state.backup(config.state_backups)?;
    let run = state.start_run(&run_start(prepared, &target, identity)?, RunKind::Cutover)?;
    outcome.run = Some(run);
    let ad = shared_ad.as_mut().map(|client| (client, AdWork { accounts: accounts.shared_ad, steps: &ad_steps }));
    let result = send(config, state, prepared, client, ad, run, users, &steps, outcome).await;
    outcome.ok = result.is_ok() && outcome.failures.is_empty();
    let mut summary = serde_json::to_value(&*outcome)?;
    if let Err(e) = &result {
        summary["error"] = serde_json::Value::String(e.to_string());
    }
    state.finish_run(run, outcome.ok, &summary)?;
    result
}

/// The shared AD's accounts and what each needs.
struct AdWork<'a> {
    accounts: &'a [User],
    steps: &'a [AdStep],
}

/// Per municipality: the shared AD's enables (each password written to the handout, then
/// journaled), the tenant's enables, the deletes of passes the handout lacks, the passes issued
/// (each written to the handout, then journaled), and the handout finished.
#[allow(clippy::too_many_arguments)]
async fn send(
    config: &Config,
    state: &mut State,
    prepared: &Prepared,
    client: &GraphClient,
    mut ad: Option<(&mut SharedAdClient, AdWork<'_>)>,
    run: i64,
    users: &[User],
    steps: &[Step],
    outcome: &mut CutoverOutcome,
) -> Result<(), WaveError> {
    let settings = config.cutover;
    let target = outcome.target.clone();
    let mut municipalities: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, u) in users.iter().enumerate() {
        municipalities.entry(u.municipality.as_str()).or_default().push(i);
    }
    if let Some((_, work)) = &ad {
        for u in work.accounts {
            municipalities.entry(u.municipality.as_str()).or_default();
        }
    }
    for (municipality, members) in municipalities {
        let path = handout_path(config, prepared, &target, municipality);
        // The shared AD: each account enabled with an initial password, the handout first.
        if let Some((ad_client, work)) = ad.as_mut() {
            for (u, step) in work.accounts.iter().zip(work.steps) {
                let AdStep::Enable { before } = step else { continue };
                if u.municipality != municipality {
                    continue;
                }
                let enabled =
                    cutover_ad::enable(ad_client, state, run, u, *before, &path, &mut outcome.failures).await?;
                if let (true, Some(m)) = (enabled, outcome.municipalities.get_mut(municipality)) {
                    m.ad_enabled += 1;
                }
            }
        }
        let intent = |u: &User, action: Action, intent: serde_json::Value, before: Option<serde_json::Value>| Intent {
            system: System::Tenant,
            pass: 1,
            op_key: format!("cutover:{action}:{}", u.anchor),
            action,
            municipality: u.municipality.clone(),
            anchor: Some(u.anchor.clone()),
            object: u.upn.clone(),
            intent: intent.to_string(),
            before: before.map(|b| b.to_string()),
        };

        // Enable.
        let enabling: Vec<usize> = members.iter().copied().filter(|&i| steps[i].enable).collect();
        let body = json!({"accountEnabled": true});
        let intents: Vec<Intent> = enabling
            .iter()
            .map(|&i| {
                let u = &users[i];
                let request = json!({"method": "PATCH", "url": format!("/users/{}", u.id), "body": body});
                intent(u, Action::EnableUser, request, Some(json!({"accountEnabled": false})))
            })
            .collect();
        let rows = state.record_intents(run, &intents)?;
        let mut tasks = tokio::task::JoinSet::new();
        for (k, &i) in enabling.iter().enumerate() {
            let (client, url, body) = (client.clone(), format!("/users/{}", users[i].id), body.clone());
            tasks.spawn(async move { (k, client.patch(&url, &body).await) });
        }
        let mut completions = Vec::new();
        while let Some(Ok((k, r))) = tasks.join_next().await {
            let (row, u) = (rows[k], &users[enabling[k]]);
            match r {
                Ok(()) => {
                    completions.push(done(row, 204, "enabled".into(), Some(u.id.clone())));
                    if let Some(m) = outcome.municipalities.get_mut(municipality) {
                        m.enabled += 1;
                    }
                }
                Err(e) => {
                    outcome.failures.push(format!("{}: enable: {e}", u.upn));
                    completions.push(failed(row, &e));
                }
            }
        }
        state.record_completions(&completions)?;

        // Passes the handout lacks: deleted before new ones are issued.
        for &i in members.iter().filter(|&&i| steps[i].delete.is_some()) {
            let (u, Some(old)) = (&users[i], &steps[i].delete) else { continue };
            let url = format!("{}/{}", tap_methods_path(&u.id), old.method_id);
            let before = json!({"id": old.method_id, "startDateTime": old.start.to_rfc3339(),
                "lifetimeInMinutes": old.lifetime_minutes, "isUsableOnce": old.usable_once});
            let row = state.record_intent(
                run,
                &intent(u, Action::DeletePass, json!({"method": "DELETE", "url": url}), Some(before)),
            )?;
            let c = match client.delete_tap(&u.id, &old.method_id).await {
                Ok(TapRemoval::Deleted) => done(row, 204, "deleted".into(), Some(old.method_id.clone())),
                Ok(TapRemoval::NotThere) => done(row, 404, "not there".into(), Some(old.method_id.clone())),
                Err(e) => {
                    outcome.failures.push(format!("{}: delete a pass the handout lacks: {e}", u.upn));
                    failed(row, &e)
                }
            };
            state.record_completions(&[c])?;
        }

        // Issue: the intents first, then each pass to the handout, then to the journal.
        let issuing: Vec<usize> = members.iter().copied().filter(|&i| steps[i].issue).collect();
        let body =
            json!({"lifetimeInMinutes": settings.tap_lifetime_minutes, "isUsableOnce": settings.tap_usable_once});
        let intents: Vec<Intent> = issuing
            .iter()
            .map(|&i| {
                let u = &users[i];
                let request = json!({"method": "POST", "url": tap_methods_path(&u.id), "body": body});
                intent(u, Action::IssuePass, request, None)
            })
            .collect();
        let rows = state.record_intents(run, &intents)?;
        let ids: Vec<&str> = issuing.iter().map(|&i| users[i].id.as_str()).collect();
        let issued = client.issue_taps(&ids, settings.tap_lifetime_minutes, settings.tap_usable_once).await;
        let mut current: HashMap<String, String> =
            members.iter().filter_map(|&i| Some((users[i].upn.clone(), steps[i].kept.clone()?))).collect();
        for ((&i, row), r) in issuing.iter().zip(rows).zip(issued) {
            let u = &users[i];
            let c = match r {
                Ok(tap) => {
                    write_row(&path, u, &tap)?;
                    current.insert(u.upn.clone(), tap.method_id.clone());
                    if let Some(m) = outcome.municipalities.get_mut(municipality) {
                        m.issued += 1;
                    }
                    let result = json!({"id": tap.method_id, "startDateTime": tap.start.to_rfc3339(),
                        "lifetimeInMinutes": tap.lifetime_minutes, "isUsableOnce": tap.usable_once});
                    done(row, 201, result.to_string(), Some(tap.method_id))
                }
                Err(e) => {
                    outcome.failures.push(format!("{}: issue a pass: {e}", u.upn));
                    failed(row, &e)
                }
            };
            state.record_completions(&[c])?;
        }
        let title = format!("Wave {} ({}), {municipality}: first sign-in", prepared.file.number, prepared.file.name);
        let (csv, html) = handout::finish(&path, &title, |upn, id| current.get(upn).is_some_and(|c| c == id))?;
        outcome.handouts.extend([csv, html]);
    }
    Ok(())
}

/// The Graph user id in a journaled request's URL (`/users/{id}...`).
fn user_of(e: &crate::journal::Entry) -> Option<String> {
    let intent = e.intent_json().ok()?;
    let rest = intent["url"].as_str()?.strip_prefix("/users/")?;
    Some(rest.split('/').next()?.to_string())
}

/// Undoes the cutovers of wave `wave` in `target` (of `municipality` when given), journaled
/// in the rollback run `run` before the wave's own inverses: every pass a cutover issued is
/// deleted, every account it enabled disabled again (a pass or user no longer there counts as
/// undone, so a resumed rollback repeats it safely). Returns the requests sent and what failed.
pub async fn undo(
    state: &mut State,
    client: &GraphClient,
    run: i64,
    target: &str,
    wave: u32,
    municipality: Option<&str>,
) -> Result<(u64, Vec<String>), WaveError> {
    let entries: Vec<crate::journal::Entry> = state
        .kind_entries(target, wave, RunKind::Cutover)?
        .into_iter()
        .filter(|e| e.system == System::Tenant && municipality.is_none_or(|m| m == e.municipality))
        .filter(|e| e.may_have_happened())
        .collect();
    let (mut sent, mut failures) = (0, Vec::new());
    let intent =
        |e: &crate::journal::Entry, action: Action, request: serde_json::Value, before: serde_json::Value| Intent {
            system: System::Tenant,
            pass: 1,
            op_key: format!("uncutover:{action}:{}", e.anchor.as_deref().unwrap_or_default()),
            action,
            municipality: e.municipality.clone(),
            anchor: e.anchor.clone(),
            object: e.object.clone(),
            intent: request.to_string(),
            before: Some(before.to_string()),
        };
    for e in entries.iter().filter(|e| e.action == Action::IssuePass && e.state == OpState::Done) {
        let (Some(user), Some(method)) = (user_of(e), e.object_id.clone()) else { continue };
        let url = format!("{}/{method}", tap_methods_path(&user));
        let request = json!({"method": "DELETE", "url": url});
        let row = state.record_intent(run, &intent(e, Action::DeletePass, request, json!({"id": method})))?;
        sent += 1;
        let c = match client.delete_tap(&user, &method).await {
            Ok(TapRemoval::Deleted) => done(row, 204, "deleted".into(), Some(method)),
            Ok(TapRemoval::NotThere) => done(row, 404, "not there".into(), Some(method)),
            Err(err) => {
                failures.push(format!("{}: delete the pass the cutover issued: {err}", e.object));
                failed(row, &err)
            }
        };
        state.record_completions(&[c])?;
    }
    let mut disabled = std::collections::HashSet::new();
    for e in entries.iter().filter(|e| e.action == Action::EnableUser) {
        let Some(user) = user_of(e) else { continue };
        if !disabled.insert(user.clone()) {
            continue;
        }
        let url = format!("/users/{user}");
        let body = json!({"accountEnabled": false});
        let request = json!({"method": "PATCH", "url": url, "body": body});
        let row =
            state.record_intent(run, &intent(e, Action::DisableUser, request, json!({"accountEnabled": true})))?;
        sent += 1;
        let c = match client.patch(&url, &body).await {
            Ok(()) => done(row, 204, "disabled".into(), Some(user)),
            Err(ClientError::Graph { status: 404, .. }) => done(row, 404, "not there".into(), Some(user)),
            Err(err) => {
                failures.push(format!("{}: disable the account the cutover enabled: {err}", e.object));
                failed(row, &err)
            }
        };
        state.record_completions(&[c])?;
    }
    Ok((sent, failures))
}

/// The user's handout row, synced to disk.
fn write_row(path: &Path, u: &User, tap: &IssuedTap) -> Result<(), WaveError> {
    let row = handout::Row {
        name: &u.name,
        upn: &u.upn,
        unit: &u.unit,
        pass: &tap.pass,
        pass_id: &tap.method_id,
        valid_from: tap.start,
        valid_until: tap.start + chrono::Duration::minutes(i64::from(tap.lifetime_minutes)),
        initial_password: None,
        old_dn: &u.old_dn,
    };
    Ok(handout::append(path, &row)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TapPolicy {
        TapPolicy {
            enabled: true,
            default_lifetime_minutes: 60,
            minimum_lifetime_minutes: 60,
            maximum_lifetime_minutes: 480,
            usable_once: false,
            default_length: 8,
        }
    }

    #[test]
    fn the_policy_must_be_on_and_allow_the_configured_passes() {
        let ok = CutoverSettings::default();
        assert!(allowed(&policy(), ok, "lab").is_ok());
        let off = TapPolicy { enabled: false, ..policy() };
        let long = CutoverSettings { tap_lifetime_minutes: 600, ..ok };
        let e = allowed(&off, long, "lab").unwrap_err().to_string();
        assert!(e.contains("disabled") && e.contains("tap_lifetime_minutes = 600") && e.contains("60 to 480"), "{e}");
        let once = TapPolicy { usable_once: true, ..policy() };
        assert!(allowed(&once, ok, "lab").unwrap_err().to_string().contains("tap_usable_once = true"));
        assert!(allowed(&once, CutoverSettings { tap_usable_once: true, ..ok }, "lab").is_ok());
    }
}
