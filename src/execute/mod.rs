//! Executing a wave: compare with the target, check the thresholds, send what is left with
//! every intent journaled first, and converge.
//!
//! The loop is the same for both targets, and it is what makes a run safe to repeat:
//!
//! 1. **Look** at the objects the wave touches, by anchor ([`graph::observe`],
//!    [`shared_ad::observe`]).
//! 2. **Reconcile**: the rendered requests minus what is already there ([`graph::reconcile`],
//!    [`shared_ad::reconcile`]; pure). This is also the dry-run's comparison.
//! 3. **Send** what is left, journaling each batch's intents before it leaves.
//! 4. What failed in a way a second look can settle (a conflict with an object that may be
//!    samla's own, not visible yet; a member that already exists; replication lag) goes round
//!    again, looking only at those objects, after a growing wait; anything else is reported.
//!
//! A run killed at any point leaves intents without results in the journal; the next run
//! starts at step 1, so finished work is seen in the target and not repeated, and in-doubt
//! work is settled by what the target shows. No object is created twice: a create is only
//! sent when the object is neither found by its anchor nor known from an earlier create.

pub mod graph;
pub mod graph_pass;
pub mod journal;
pub mod progress;
pub mod retry;
pub mod shared_ad;

use crate::config::target::Thresholds;
use crate::journal::{System, TargetKind};
use crate::state::StateError;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub use journal::Journal;
pub use progress::{Progress, municipality_totals};
pub use retry::{RETRY_PASSES, wait_before};

/// What a run did to one municipality in one system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Tally {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Requests adding members to an existing group (each carries up to 20 in Graph, 500 in the
    /// shared AD); members bound when a group is created are not counted here.
    pub member_additions: u64,
    /// Member links added: one per member, whether bound when its group was created or added
    /// later, counted in the group's municipality (what the comparison's `member_links` counts).
    pub member_links: u64,
    pub managers_set: u64,
    pub licences_assigned: u64,
    /// A run's: samla's own objects brought back from the tenant's deleted items (a wave run
    /// again after its rollback), instead of being created again.
    pub restored_deleted: u64,
    /// A rollback's: objects deleted, objects whose values were put back, links removed
    /// (memberships, managers, licences).
    pub deleted: u64,
    pub restored: u64,
    pub links_removed: u64,
    pub failed: u64,
    /// Member links the run set out to add and could not: a member the target refused (added
    /// without it, the rest of its group's members kept) or a membership request that failed.
    pub member_links_lost: u64,
}

/// One thing that did not get done, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub system: System,
    pub municipality: String,
    pub object: String,
    pub action: String,
    pub reason: String,
    /// The member links lost with it (the members a failed create or member addition carried).
    pub member_links: u64,
}

/// What a run did in one system.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemResult {
    pub municipalities: BTreeMap<String, Tally>,
    pub failures: Vec<Failure>,
    pub passes: u32,
    /// Graph only: the client's counters (writes, throttled, retries).
    pub graph: Option<crate::client::graph::Stats>,
    pub seconds: f64,
    /// Of those, the seconds spent sending (the rest is looking at the target and waiting
    /// between passes).
    pub write_seconds: f64,
}

impl SystemResult {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// Waits before a retry pass (not before the first) and numbers the pass.
    async fn begin_pass(&mut self, pass: u32, journal: &mut Journal<'_>) {
        if pass > 1 {
            tokio::time::sleep(wait_before(pass - 1)).await;
        }
        self.passes = pass;
        journal.pass = pass;
    }

    /// Counts the objects the first comparison found unchanged.
    fn count_unchanged<'a>(&mut self, changes: impl Iterator<Item = (graph::ChangeKind, &'a str)>) {
        for (_, m) in changes.filter(|(k, _)| *k == graph::ChangeKind::Unchanged) {
            self.municipalities.entry(m.to_string()).or_default().unchanged += 1;
        }
    }

    /// Counts the failures per municipality and the time taken.
    fn close(&mut self, started: std::time::Instant) {
        for f in &self.failures {
            let t = self.municipalities.entry(f.municipality.clone()).or_default();
            t.failed += 1;
            t.member_links_lost += f.member_links;
        }
        self.seconds = started.elapsed().as_secs_f64();
    }
}

/// Creates someone else got to first (refused as "already exists" at their first sending), by
/// origin: failures of the run even when a later look finds the object and the run carries on
/// with it, since the run did not make it. A create that went through later in the run, or
/// that is still failing at the end (reported as such), is not counted here.
#[derive(Default)]
struct Taken(BTreeMap<usize, Failure>);

impl Taken {
    fn done(&mut self, origins: impl Iterator<Item = usize>) {
        for o in origins {
            self.0.remove(&o);
        }
    }

    fn add(&mut self, origin: usize, mut failure: Failure) {
        failure.reason = format!("{}; the object was made by another writer, not by this run", failure.reason);
        // The run carried on with the object, adding its members to it.
        failure.member_links = 0;
        self.0.insert(origin, failure);
    }

    /// The failures to report, once the `pending` origins (reported as they are) are left out.
    fn into_failures(mut self, pending: impl Iterator<Item = usize>) -> impl Iterator<Item = Failure> {
        self.done(pending);
        self.0.into_values()
    }
}

/// The rendered items whose `origins` go round again, each once, in render order.
fn again<T: Clone>(all: &[(usize, T)], origins: impl Iterator<Item = usize>) -> Vec<(usize, T)> {
    let origins: std::collections::BTreeSet<usize> = origins.collect();
    origins.into_iter().filter_map(|o| all.get(o).cloned()).collect()
}

/// A serde enum's name as it is written (`create_user`), for reports.
pub fn serde_name<T: Serialize>(value: T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Creates and updates per municipality, as thresholds count them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Impact {
    /// Objects created: accounts, groups, OUs.
    pub creates: u64,
    /// Of them, accounts: what `max_creates_share` weighs against the municipality's people
    /// (a wave of a whole small municipality also creates its groups and OUs, which are not
    /// people, and must not count as more than all of them).
    pub accounts_created: u64,
    pub updates: u64,
    pub deletes: u64,
}

/// The municipalities whose impact goes beyond their thresholds, each with the reason.
/// `population` is each municipality's number of people in the unified directory.
pub fn over_thresholds(
    impact: &BTreeMap<String, Impact>,
    population: &BTreeMap<String, u64>,
    thresholds: &Thresholds,
) -> Vec<String> {
    let mut out = Vec::new();
    for (m, i) in impact {
        if m.is_empty() {
            continue;
        }
        let limits = thresholds.for_municipality(m);
        let people = population.get(m).copied().unwrap_or(0).max(1) as f64;
        // (what, how many, the absolute limit, how many weigh against the people, the share)
        let checks = [
            (
                "creates",
                i.creates,
                limits.max_creates,
                (i.accounts_created, "accounts created"),
                limits.max_creates_share,
            ),
            ("updates", i.updates, limits.max_updates, (i.updates, "updates"), limits.max_updates_share),
            ("deletes", i.deletes, limits.max_deletes, (i.deletes, "deletes"), limits.max_deletes_share),
        ];
        for (what, n, max, (weighed, named), share) in checks {
            if n > max {
                out.push(format!("{m}: {n} {what} is more than max_{what} = {max}"));
            } else if weighed > 0 && weighed as f64 / people > share {
                out.push(format!(
                    "{m}: {weighed} {named} is {:.0}% of its {people} people, more than max_{what}_share = {share}",
                    100.0 * weighed as f64 / people
                ));
            }
        }
    }
    out
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Journal(#[from] StateError),
    #[error("the tenant: {0}")]
    Graph(#[from] crate::client::graph::ClientError),
    #[error("the shared AD: {0}")]
    Ldap(#[from] crate::client::ldap::LdapClientError),
}

impl crate::error::Classified for ExecError {
    /// A run that stopped early: the work failed (the journal says how far it got).
    fn exit_class(&self) -> crate::error::ExitClass {
        crate::error::ExitClass::Work
    }
}

/// Runs the tenant's side of a wave to the end (see the module docs); returns what it did
/// and the first comparison's changes.
#[allow(clippy::too_many_arguments)]
pub async fn converge_tenant(
    client: &crate::client::graph::GraphClient,
    journal: &mut Journal<'_>,
    content: &crate::render::WaveContent,
    names: &graph::Names,
    rendered: Vec<crate::render::graph::GraphRequest>,
    mut first_look: Option<graph::TenantView>,
    own_deleted: &HashMap<crate::render::graph::Placeholder, String>,
    max_in_flight: usize,
    hidden: bool,
) -> Result<SystemResult, ExecError> {
    use crate::render::graph::{Action, Placeholder};
    let started = std::time::Instant::now();
    let all: Vec<(usize, crate::render::graph::GraphRequest)> = rendered.into_iter().enumerate().collect();
    let mut subset = all.clone();
    let mut result = SystemResult::default();
    let mut pending: Vec<graph_pass::Failed> = Vec::new();
    let mut taken = Taken::default();
    let mut ids: HashMap<Placeholder, String> = HashMap::new();
    for pass in 1..=1 + RETRY_PASSES {
        result.begin_pass(pass, journal).await;
        let view = match first_look.take() {
            Some(v) => v,
            None => {
                let mut v = graph::observe(client, &subset, content, names, &ids).await?;
                graph::observe_deleted(client, &subset, content, names, own_deleted, &mut v).await?;
                v
            }
        };
        let found = view
            .users
            .iter()
            .map(|(a, o)| (Placeholder::Id(*a), o, TargetKind::User))
            .chain(view.groups.iter().map(|(a, o)| (Placeholder::Id(*a), o, TargetKind::Group)))
            .chain(
                view.licence_groups
                    .iter()
                    .map(|(c, o)| (Placeholder::LicenceGroup(c.clone()), o, TargetKind::LicenceGroup)),
            );
        let mut learned = Vec::new();
        for (p, o, kind) in found {
            if let (false, Some(id)) = (ids.contains_key(&p), o["id"].as_str()) {
                learned.push((p, id.to_string(), kind));
            }
        }
        for (p, id, kind) in learned {
            let key = match &p {
                Placeholder::Id(a) => a.0.to_string(),
                Placeholder::LicenceGroup(c) => format!("licence-group:{c}"),
                _ => continue,
            };
            journal.remember(System::Tenant, &key, &id, kind, false)?;
            ids.insert(p, id);
        }
        let rec = graph::reconcile(&subset, &view, names);
        if pass == 1 {
            result.count_unchanged(rec.changes.iter().map(|c| (c.change, c.municipality.as_str())));
        }
        // What names an object being restored goes round again after the restore.
        let waiting: Vec<graph_pass::Failed> = rec
            .after_restore
            .into_iter()
            .map(|(origin, request)| graph_pass::Failed {
                origin,
                reason: format!("not sent: waits for the restore of {}", restored_in(&view, names, &request)),
                request,
                status: 0,
                retry: true,
                attempts: 0,
            })
            .collect();
        pending.clear();
        if rec.requests.is_empty() {
            pending = waiting;
            break;
        }
        let progress = Progress::new(
            "tenant",
            &municipality_totals(rec.requests.iter().map(|(_, r)| r.municipality.as_str())),
            hidden,
        );
        let skus = view.skus.clone();
        let sending = std::time::Instant::now();
        let sender =
            graph_pass::Sender { client, names, skus: &skus, progress: &progress, max_in_flight, before: &rec.before };
        let outcome = graph_pass::send(&sender, journal, rec.requests, &mut ids).await?;
        result.write_seconds += sending.elapsed().as_secs_f64();
        progress.finish();
        for (_, req, _) in &outcome.done {
            let t = result.municipalities.entry(req.municipality.clone()).or_default();
            if matches!(req.action, Action::AddMembers | Action::CreateGroup | Action::CreateLicenceGroup) {
                t.member_links += req.members() as u64;
            }
            match req.action {
                Action::CreateUser | Action::CreateGroup | Action::CreateLicenceGroup => t.created += 1,
                Action::UpdateUser => t.updated += 1,
                Action::RestoreDeletedUser | Action::RestoreDeletedGroup => t.restored_deleted += 1,
                Action::AddMembers => t.member_additions += 1,
                Action::SetManager => t.managers_set += 1,
                Action::AssignUserLicence | Action::AssignGroupLicence => t.licences_assigned += 1,
                Action::DeleteUser | Action::DeleteGroup => t.deleted += 1,
                Action::RestoreUser => t.restored += 1,
                Action::RemoveMember | Action::RestoreManager | Action::RemoveLicence => t.links_removed += 1,
            }
        }
        taken.done(outcome.done.iter().map(|(origin, _, _)| *origin));
        for f in outcome.failed.iter().filter(|f| f.taken_by_another_writer()) {
            taken.add(f.origin, tenant_failure(names, f));
        }
        // A restored object is compared again (its values, memberships, licences, manager).
        let restored: Vec<usize> = outcome
            .done
            .iter()
            .filter(|(_, r, _)| matches!(r.action, Action::RestoreDeletedUser | Action::RestoreDeletedGroup))
            .map(|(origin, _, _)| *origin)
            .collect();
        let (retry, permanent): (Vec<_>, Vec<_>) = outcome.failed.into_iter().chain(waiting).partition(|f| f.retry);
        result.failures.extend(permanent.iter().map(|f| tenant_failure(names, f)));
        if retry.is_empty() && restored.is_empty() {
            break;
        }
        subset = again(&all, retry.iter().map(|f| f.origin).chain(restored));
        pending = retry;
    }
    result.failures.extend(pending.iter().map(|f| tenant_failure(names, f)));
    result.failures.extend(taken.into_failures(pending.iter().map(|f| f.origin)));
    result.graph = Some(client.stats());
    result.close(started);
    Ok(result)
}

/// The object being restored that `request` names, as a person would name it.
fn restored_in(view: &graph::TenantView, names: &graph::Names, request: &crate::render::graph::GraphRequest) -> String {
    let mut named = request.anchor.map(crate::render::graph::Placeholder::Id).into_iter();
    let found =
        named.by_ref().chain(crate::render::graph::placeholders(request)).find(|p| view.restorable.contains_key(p));
    found.map(|p| names.of_placeholder(&p)).unwrap_or_default()
}

fn tenant_failure(names: &graph::Names, f: &graph_pass::Failed) -> Failure {
    Failure {
        system: System::Tenant,
        municipality: f.request.municipality.clone(),
        object: names.of(&f.request),
        action: crate::journal::Action::from(f.request.action).as_str().to_string(),
        reason: f.reason.clone(),
        member_links: f.request.members() as u64,
    }
}

/// Runs the shared AD's side of a wave to the end, like [`converge_tenant`].
pub async fn converge_shared_ad(
    client: &mut crate::client::ldap::SharedAdClient,
    journal: &mut Journal<'_>,
    rendered: Vec<crate::render::ldap::LdapOp>,
    mut first_look: Option<shared_ad::AdView>,
    random_passwords: bool,
    hidden: bool,
) -> Result<SystemResult, ExecError> {
    use crate::render::ldap::OpKind;
    let started = std::time::Instant::now();
    let all: Vec<(usize, crate::render::ldap::LdapOp)> = rendered.into_iter().enumerate().collect();
    let mut subset = all.clone();
    let mut result = SystemResult::default();
    let mut pending: Vec<shared_ad::Failed> = Vec::new();
    let mut taken = Taken::default();
    for pass in 1..=1 + RETRY_PASSES {
        result.begin_pass(pass, journal).await;
        let view = match first_look.take() {
            Some(v) => v,
            None => shared_ad::observe(client, &subset).await?,
        };
        let known = journal.state.known_objects(&journal.target, System::SharedAd)?;
        for (a, f) in &view.objects {
            let key = a.0.to_string();
            if !known.contains_key(&key) {
                journal.remember(System::SharedAd, &key, f.dn.as_str(), TargetKind::Object, false)?;
            }
        }
        let rec = shared_ad::reconcile(&subset, &view);
        if pass == 1 {
            result.count_unchanged(rec.changes.iter().map(|c| (c.change, c.municipality.as_str())));
        }
        for (_, op, reason) in &rec.refused {
            result.failures.push(Failure {
                system: System::SharedAd,
                municipality: op.municipality.clone(),
                object: op.dn().as_str().to_string(),
                action: op.kind.as_str().to_string(),
                reason: reason.clone(),
                member_links: op.member_values() as u64,
            });
        }
        pending.clear();
        if rec.ops.is_empty() {
            break;
        }
        let progress = Progress::new(
            "shared AD",
            &municipality_totals(rec.ops.iter().map(|(_, o)| o.municipality.as_str())),
            hidden,
        );
        let sending = std::time::Instant::now();
        let (done, failed) = shared_ad::apply(client, journal, rec.ops, random_passwords, &progress).await?;
        result.write_seconds += sending.elapsed().as_secs_f64();
        progress.finish();
        for (_, op) in &done {
            let t = result.municipalities.entry(op.municipality.clone()).or_default();
            if matches!(op.kind, OpKind::AddMembers | OpKind::CreateGroup) {
                t.member_links += op.member_values() as u64;
            }
            match (op.kind, &op.change) {
                (OpKind::CreateOu, _) => {}
                (OpKind::CreateUser | OpKind::CreateGroup, crate::render::ldap::Change::Add { .. }) => t.created += 1,
                (OpKind::CreateUser | OpKind::CreateGroup, _) => t.updated += 1,
                (OpKind::AddMembers, _) => t.member_additions += 1,
                (OpKind::SetManager, _) => t.managers_set += 1,
            }
        }
        taken.done(done.iter().map(|(origin, _)| *origin));
        for f in failed.iter().filter(|f| f.taken) {
            taken.add(f.origin, ad_failure(f));
        }
        let (retry, permanent): (Vec<_>, Vec<_>) = failed.into_iter().partition(|f| f.retry);
        result.failures.extend(permanent.iter().map(ad_failure));
        if retry.is_empty() {
            break;
        }
        subset = again(&all, retry.iter().map(|f| f.origin));
        pending = retry;
    }
    result.failures.extend(pending.iter().map(ad_failure));
    result.failures.extend(taken.into_failures(pending.iter().map(|f| f.origin)));
    result.close(started);
    Ok(result)
}

fn ad_failure(f: &shared_ad::Failed) -> Failure {
    Failure {
        system: System::SharedAd,
        municipality: f.op.municipality.clone(),
        object: f.op.dn().as_str().to_string(),
        action: f.op.kind.as_str().to_string(),
        reason: f.reason.clone(),
        member_links: f.op.member_values() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::target::Limits;

    #[test]
    fn thresholds_absolute_and_share() {
        let mut t = Thresholds::default();
        t.municipality.insert("bjuv".into(), Limits { max_updates: 2, ..Limits::default() });
        let impact: BTreeMap<String, Impact> = [
            ("bjuv".to_string(), Impact { creates: 10, accounts_created: 10, updates: 3, deletes: 0 }),
            ("klippan".to_string(), Impact { creates: 10, accounts_created: 10, updates: 30, deletes: 0 }),
            ("astorp".to_string(), Impact { creates: 10, accounts_created: 10, updates: 1, deletes: 0 }),
            // All of a small municipality in one wave: its 40 people, 6 groups and 9 OUs.
            ("perstorp".to_string(), Impact { creates: 55, accounts_created: 40, updates: 0, deletes: 0 }),
            ("orkelljunga".to_string(), Impact { creates: 55, accounts_created: 41, updates: 0, deletes: 0 }),
        ]
        .into();
        let population = [
            ("bjuv".to_string(), 100),
            ("klippan".to_string(), 100),
            ("astorp".to_string(), 100),
            ("perstorp".to_string(), 40),
            ("orkelljunga".to_string(), 40),
        ]
        .into();
        let over = over_thresholds(&impact, &population, &t);
        assert_eq!(over.len(), 3, "{over:?}");
        assert!(over[0].starts_with("bjuv: 3 updates is more than max_updates = 2"), "{over:?}");
        assert!(over[1].contains("klippan: 30 updates is 30%"), "{over:?}");
        assert!(
            over[2]
                .starts_with("orkelljunga: 41 accounts created is 102% of its 40 people, more than max_creates_share"),
            "{over:?}"
        );
    }
}
