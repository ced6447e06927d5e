//! What rolling a wave back would do in a target: the journal's entries of the wave's runs,
//! compared with a live look at the target (when it can be reached) by the rules of
//! [`crate::rollback`]. The rollback sends what the plan says; the rollback reports show it.

use super::compare::{Rendered, observe};
use super::connect::Connected;
use super::error::WaveError;
use super::prepare::Prepared;
use crate::execute;
use crate::journal::{Entry, System};
use crate::render::graph::{Action, GraphRequest};
use crate::report::rollback::{RunLine, UndoItem};
use crate::rollback::graph::Context;
use crate::rollback::shared_ad::AdInverse;
use crate::rollback::{Scope, Undo};
use crate::state::State;
use std::collections::BTreeMap;

/// A rollback plan for both systems of a target.
#[derive(Debug, Default)]
pub struct RollbackPlan {
    pub tenant: Vec<Undo<GraphRequest>>,
    pub shared_ad: Vec<Undo<AdInverse>>,
    /// Whether the target was read (else every change is unverified and nothing is sent).
    pub live: bool,
}

impl RollbackPlan {
    /// Every change with its municipality, tenant first.
    pub fn items(&self) -> impl Iterator<Item = (&str, &UndoItem)> {
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

    /// The changes of a live plan that could not be verified (an object the wave created that
    /// is not visible yet, members that could not be read), each as a line for the summary.
    pub fn unverified(&self) -> Vec<String> {
        if !self.live {
            return Vec::new();
        }
        self.items()
            .filter(|(_, i)| i.verification == crate::rollback::Verification::Unverified)
            .map(|(_, i)| format!("{} {} {}: not verified: {}", i.system, i.change, i.object, i.note))
            .collect()
    }

    /// Deletes and restores per municipality, for the thresholds.
    pub fn impact(&self) -> BTreeMap<String, execute::Impact> {
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

/// Everything a rollback plan is made from.
pub struct RollbackInputs<'a> {
    pub prepared: &'a Prepared,
    pub entries: Vec<Entry>,
    /// What the wave's cutovers sent (listed in the reports, undone first).
    pub cutover: Vec<Entry>,
    pub context: Context,
    pub runs: Vec<RunLine>,
}

/// The journal's entries and runs of `prepared`'s wave against `target`.
pub fn inputs<'a>(state: &State, prepared: &'a Prepared, target: &str) -> Result<RollbackInputs<'a>, WaveError> {
    let number = prepared.file.number;
    let entries = state.wave_entries(target, number)?;
    let cutover = state.kind_entries(target, number, crate::journal::RunKind::Cutover)?;
    let runs = state
        .runs(number, Some(target))?
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
        deleted: state.rolled_back_deletes(target, number)?,
    };
    Ok(RollbackInputs { prepared, entries, cutover, context, runs })
}

/// Looks at the target (when it can be reached) and plans (see [`crate::rollback`]).
pub async fn plan(
    inputs: &RollbackInputs<'_>,
    clients: Option<&mut Connected>,
    scope: Scope<'_>,
) -> Result<RollbackPlan, WaveError> {
    let mut out = RollbackPlan { live: clients.is_some(), ..RollbackPlan::default() };
    let (tenant_view, ad_view) = match clients {
        Some(c) => {
            let rendered = Rendered::of(inputs.prepared, c)?;
            observe(inputs.prepared, &rendered, c).await?
        }
        None => (None, None),
    };
    let has = |system: System| inputs.entries.iter().any(|e| e.system == system);
    if has(System::Tenant) {
        out.tenant = crate::rollback::graph::plan(&inputs.entries, tenant_view.as_ref(), &inputs.context, scope)?;
    }
    if has(System::SharedAd) {
        out.shared_ad = crate::rollback::shared_ad::plan(&inputs.entries, ad_view.as_ref(), &inputs.context, scope)?;
    }
    Ok(out)
}
