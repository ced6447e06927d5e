//! Rolling a wave back: what each change the wave made needs to be undone, whether the target
//! still shows it, and the inverse operations, in the order they must run.
//!
//! A rollback is worked out from two things and nothing else:
//! - **the journal** ([`crate::journal::Entry`]): what the wave's runs sent, with the
//!   before-image of every modification. Only that is undone: what a wave found in place
//!   (a user from an earlier wave, a member already in a group) is never touched;
//! - **a live look at the target**, by anchor, the same look a wave run starts with
//!   ([`crate::execute::graph::observe`], [`crate::execute::shared_ad::observe`]).
//!
//! Comparing the two sorts each change ([`Verification`]): the target still shows the
//! wave's after-state (the inverse runs), already shows the before-state (undone earlier, or
//! never took effect), shows something else (someone changed it since: *drifted*, reported
//! and left for a person), or is undone by another inverse (deleting a user removes its
//! memberships, so those are *covered* and not sent). Because the plan is made from the live
//! target each time, a rollback is resumed by running it again, like a wave: whatever was
//! undone before is seen as undone, and an interrupted wave is rolled back from what its
//! journal says it may have done (in-doubt creates are looked up by anchor). An object a run
//! restored from the tenant's deleted items (a wave run again after its rollback) is the
//! wave's as one it created: deleted again, its report row naming the restore.
//!
//! Inverses run in reverse dependency order ([`Step`]): links (memberships, managers), then
//! licences, then restored values, then groups, users and OUs deleted. Objects shared by
//! several municipalities (merged groups, licence groups, shared containers) are deleted
//! only when the whole wave is rolled back; a municipality's rollback removes only its own
//! members from them.

pub mod cutover;
pub mod graph;
pub mod shared_ad;

use crate::journal::Entry;
pub use crate::report::rollback::{UndoItem, Verification};

/// The order inverses run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// Memberships removed, managers restored.
    Links = 1,
    Licences = 2,
    /// Modified values put back from their before-images.
    Restore = 3,
    DeleteGroups = 4,
    DeleteUsers = 5,
    DeleteOus = 6,
}

/// Which municipality a rollback is for (None: the whole wave).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a>(pub Option<&'a str>);

impl Scope<'_> {
    /// Whether an object of `municipality` ("" = shared by several) is rolled back.
    pub fn includes(&self, municipality: &str) -> bool {
        self.0.is_none_or(|m| m == municipality)
    }

    /// Whether a shared object (a merged group, a licence group, a container) may be deleted.
    pub fn whole_wave(&self) -> bool {
        self.0.is_none()
    }
}

/// One change and how it is undone; `op` is the inverse to send (only when the change is
/// [`Verification::Applied`] and in scope).
#[derive(Debug, Clone)]
pub struct Undo<Op> {
    pub municipality: String,
    pub item: UndoItem,
    pub op: Option<Op>,
}

/// A report row for `entry`'s change, still to be judged.
fn item(entry: &Entry, step: Step, object: &str, attribute: &str, before: String, after: String) -> UndoItem {
    UndoItem {
        step: step as u32,
        system: entry.system,
        object: object.to_string(),
        change: entry.action.as_str().to_string(),
        attribute: attribute.to_string(),
        before,
        after,
        when: entry.sent_at.clone(),
        by: entry.operator.clone(),
        run: entry.run_id,
        plan_hash: entry.wave_hash.clone(),
        inverse: String::new(),
        verification: Verification::Unverified,
        note: String::new(),
    }
}

/// Orders a plan as it runs: by step, then as the journal had it.
fn in_order<Op>(mut plan: Vec<Undo<Op>>) -> Vec<Undo<Op>> {
    plan.sort_by_key(|u| u.item.step);
    plan
}

/// Per municipality: changes that will be undone (deletes, and everything else), for the
/// thresholds.
pub fn impact<Op>(
    plan: &[Undo<Op>],
    is_delete: impl Fn(&Op) -> bool,
) -> std::collections::BTreeMap<String, crate::execute::Impact> {
    let mut out: std::collections::BTreeMap<String, crate::execute::Impact> = Default::default();
    for u in plan {
        let Some(op) = &u.op else { continue };
        let i = out.entry(u.municipality.clone()).or_default();
        if is_delete(op) {
            i.deletes += 1;
        } else {
            i.updates += 1;
        }
    }
    out
}

/// The one item of a plan whose change and object (or, for a membership, member) match.
#[cfg(test)]
pub(crate) fn find<'a, Op>(plan: &'a [Undo<Op>], change: &str, what: &str) -> &'a Undo<Op> {
    let hits: Vec<&Undo<Op>> = plan
        .iter()
        .filter(|u| {
            u.item.change == change && (u.item.object == what || u.item.change == "add_member" && u.item.after == what)
        })
        .collect();
    assert_eq!(hits.len(), 1, "{change} {what}: {:#?}", plan.iter().map(|u| &u.item).collect::<Vec<_>>());
    hits[0]
}
