//! Comparing a wave with what a target holds: per system and municipality, what would be
//! created, updated, left unchanged, linked and licensed. A dry-run against a target shows it;
//! a run shows it, weighs it against the thresholds and starts its first pass from what the
//! comparison read.

use super::connect::{Connected, connect, runtime};
use super::error::WaveError;
use super::preflight;
use super::prepare::Prepared;
use crate::config::Config;
use crate::execute::{Impact, graph as tenant, serde_name, shared_ad};
use crate::model::ObjectGuid;
use crate::model::unified::Anchor;
use crate::render::graph::{self, Action, Placeholder};
use crate::render::ldap::{self, Change as LdapChange, OpKind};
use crate::state::State;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What a target holds compared with what the wave needs.
#[derive(Debug, Default)]
pub struct Comparison {
    pub tenant: Option<tenant::Reconciled>,
    pub shared_ad: Option<shared_ad::Reconciled>,
    /// What the comparison read, which a run's first pass starts from instead of reading it
    /// again.
    pub tenant_view: Option<tenant::TenantView>,
    pub shared_ad_view: Option<shared_ad::AdView>,
    /// What the tenant cannot take of what it still needs ([`super::preflight`]): `wave run`
    /// sends nothing while this holds anything.
    pub preflight: Vec<preflight::Finding>,
}

/// Per municipality and system: objects created, updated, unchanged; groups gaining members and
/// the member links they gain; users given a manager; licence assignments; operations left alone.
/// Counted in the municipality of the object changed (for links, the group's).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub create: u64,
    /// samla's own objects restored from the tenant's deleted items instead of created again.
    pub restore: u64,
    pub update: u64,
    pub unchanged: u64,
    /// Groups gaining members (each counted once, however many members it gains).
    pub add_members: u64,
    /// Member links to add (one per member of a group, whether bound at create or added later).
    pub member_links: u64,
    pub set_manager: u64,
    pub assign_licence: u64,
    pub left_alone: u64,
}

impl Comparison {
    /// (system, municipality) -> counts of objects by kind of change.
    pub fn counts(&self) -> BTreeMap<(&'static str, String), Counts> {
        use tenant::ChangeKind as K;
        let mut out: BTreeMap<(&'static str, String), Counts> = BTreeMap::new();
        let systems = [
            ("tenant", self.tenant.as_ref().map(|t| &t.changes)),
            ("shared AD", self.shared_ad.as_ref().map(|a| &a.changes)),
        ];
        for (system, changes) in systems {
            let mut seen: HashSet<(&str, K)> = HashSet::new();
            for c in changes.into_iter().flatten() {
                if c.change == K::AddMembers {
                    let links = c.after.parse::<u64>().unwrap_or(0);
                    out.entry((system, c.municipality.clone())).or_default().member_links += links;
                }
                if !seen.insert((c.object.as_str(), c.change)) {
                    continue;
                }
                let n = out.entry((system, c.municipality.clone())).or_default();
                match c.change {
                    K::Create => n.create += 1,
                    K::Restore => n.restore += 1,
                    K::Update => n.update += 1,
                    K::Unchanged => n.unchanged += 1,
                    K::AddMembers => n.add_members += 1,
                    K::SetManager => n.set_manager += 1,
                    K::AssignLicence => n.assign_licence += 1,
                }
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
            // A restore brings an account back as a create does.
            i.creates = i.creates.max(c.create + c.restore);
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
        let mut tenant: BTreeMap<&str, u64> = BTreeMap::new();
        let accounts = self.tenant.iter().flat_map(|t| &t.requests);
        for (_, r) in accounts.filter(|(_, r)| matches!(r.action, Action::CreateUser | Action::RestoreDeletedUser)) {
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

/// The wave as rendered for empty targets, for the systems the target has: what observing
/// and reconciling start from.
pub struct Rendered {
    pub requests: Vec<(usize, graph::GraphRequest)>,
    pub ops: Vec<(usize, ldap::LdapOp)>,
}

impl Rendered {
    pub fn of(prepared: &Prepared, clients: &Connected) -> Result<Rendered, WaveError> {
        Ok(Rendered {
            requests: if clients.tenant.is_some() { rendered_requests(prepared) } else { Vec::new() },
            ops: if clients.shared_ad.is_some() { rendered_ops(prepared)? } else { Vec::new() },
        })
    }
}

/// Reads, in both systems of the target, the objects the wave touches: what a comparison and
/// a rollback plan start from.
pub async fn observe(
    prepared: &Prepared,
    rendered: &Rendered,
    clients: &mut Connected,
) -> Result<(Option<tenant::TenantView>, Option<shared_ad::AdView>), WaveError> {
    let tenant_view = match &clients.tenant {
        Some(client) => {
            let names = tenant::Names::new(&prepared.content, &prepared.targets);
            let view = tenant::observe(client, &rendered.requests, &prepared.content, &names, &HashMap::new())
                .await
                .map_err(WaveError::tenant)?;
            Some(view)
        }
        None => None,
    };
    let ad_view = match &mut clients.shared_ad {
        Some(client) => Some(shared_ad::observe(client, &rendered.ops).await.map_err(WaveError::shared_ad)?),
        None => None,
    };
    Ok((tenant_view, ad_view))
}

/// The wave's Graph requests as rendered for an empty tenant, numbered in order.
fn rendered_requests(prepared: &Prepared) -> Vec<(usize, graph::GraphRequest)> {
    graph::render_wave(&prepared.content, &prepared.targets).requests.into_iter().enumerate().collect()
}

/// The wave's LDAP operations as rendered for an empty shared AD, numbered in order.
fn rendered_ops(prepared: &Prepared) -> Result<Vec<(usize, ldap::LdapOp)>, WaveError> {
    let ops = ldap::render(&prepared.content, &prepared.targets)?;
    Ok(ops.into_iter().enumerate().collect())
}

/// samla's own objects a rollback deleted in `target`'s tenant, by placeholder: the id each
/// had (see [`State::own_deleted`]). A wave run again restores them instead of creating them.
pub fn own_deleted(state: &State, target: &str) -> Result<HashMap<Placeholder, String>, WaveError> {
    let own = state.own_deleted(target, crate::journal::System::Tenant)?;
    Ok(own
        .into_iter()
        .filter_map(|(key, id)| {
            let p = match key.strip_prefix("licence-group:") {
                Some(class) => Placeholder::LicenceGroup(class.to_string()),
                None => Placeholder::Id(Anchor(ObjectGuid::parse(&key).ok()?)),
            };
            Some((p, id))
        })
        .collect())
}

/// Compares the wave with what the target holds; `own` are samla's own deleted objects
/// ([`own_deleted`]), restored rather than created.
pub async fn compare(
    prepared: &Prepared,
    clients: &mut Connected,
    own: &HashMap<Placeholder, String>,
) -> Result<Comparison, WaveError> {
    let rendered = Rendered::of(prepared, clients)?;
    let (tenant_view, shared_ad_view) = observe(prepared, &rendered, clients).await?;
    let mut out = Comparison::default();
    if let (Some(mut view), Some(client)) = (tenant_view, &clients.tenant) {
        let names = tenant::Names::new(&prepared.content, &prepared.targets);
        tenant::observe_deleted(client, &rendered.requests, &prepared.content, &names, own, &mut view)
            .await
            .map_err(WaveError::tenant)?;
        let reconciled = tenant::reconcile(&rendered.requests, &view, &names);
        // What waits for a restore is needed as much (a restored user takes its licences back).
        let needed: Vec<(usize, graph::GraphRequest)> =
            reconciled.requests.iter().chain(&reconciled.after_restore).cloned().collect();
        let facts =
            preflight::read_facts(client, &view, &prepared.content, &needed).await.map_err(WaveError::tenant)?;
        out.preflight = preflight::judge(&needed, &prepared.targets.skus, &facts);
        out.tenant = Some(reconciled);
        out.tenant_view = Some(view);
    }
    if let Some(view) = shared_ad_view {
        out.shared_ad = Some(shared_ad::reconcile(&rendered.ops, &view));
        out.shared_ad_view = Some(view);
    }
    Ok(out)
}

/// Connects to `target`, compares, and disconnects: nothing is written to the target.
pub fn compare_with(
    config: &Config,
    state: &State,
    prepared: &Prepared,
    target: &str,
) -> Result<Comparison, WaveError> {
    let own = own_deleted(state, target)?;
    let target = config.target(target)?;
    runtime()?.block_on(async {
        let mut clients = connect(target).await?;
        let c = compare(prepared, &mut clients, &own).await;
        clients.close().await;
        c
    })
}
