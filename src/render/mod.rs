//! What a wave becomes for each target: Microsoft Graph requests for the joint tenant
//! ([`graph`]) and LDAP operations for the shared AD ([`ldap`]).
//!
//! Both are pure renderings of one [`WaveContent`]: the people and groups the wave creates,
//! the memberships and manager links it adds, and how to refer to everything it touches
//! (objects of earlier waves are referenced, never recreated). The dry-run prints them; the
//! executor sends them.

pub mod content;
pub mod graph;
pub mod ldap;

use crate::model::unified::{Anchor, Group, Member, Person};
use std::collections::{BTreeMap, BTreeSet};

/// Whether a reference is to a person or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefKind {
    Person,
    Group,
}

/// How the targets know an object the wave creates or refers to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectRef {
    pub kind: RefKind,
    /// The wave that creates it (this wave or an earlier one).
    pub wave: u32,
    /// Graph: a person's userPrincipalName, a group's mailNickname.
    pub cloud_name: String,
    /// The shared AD: the object's CN (people: their `cn`; groups: their unified name).
    pub cn: String,
    /// People: sAMAccountName. Groups: a sAMAccountName derived from the mail nickname.
    pub sam_account_name: String,
    /// The municipality of the primary affiliation (groups: of the first source; merged
    /// groups: "" = shared by several).
    pub municipality: String,
    /// People: the unit path ("Socialförvaltningen/Hemtjänst"); groups: "".
    pub unit: String,
    /// People: their account kind (whether they go to the tenant at all is the target
    /// settings' `cloud`); groups: None.
    pub account_kind: Option<crate::model::AccountKind>,
}

/// Everything one wave does, in the unified directory's terms.
#[derive(Debug, Clone, Default)]
pub struct WaveContent {
    pub number: u32,
    pub name: String,
    /// People created, in anchor order.
    pub people: Vec<Person>,
    /// Groups created, in anchor order (their `members` is the whole unified member list;
    /// what this wave adds is in `memberships`).
    pub groups: Vec<Group>,
    /// Memberships added in this wave, (group, member), sorted: those of groups created here
    /// and those added to groups of earlier waves.
    pub memberships: Vec<(Anchor, Member)>,
    /// Manager links set in this wave, (person, manager), sorted.
    pub manager_links: Vec<(Anchor, Anchor)>,
    /// Every object the wave creates or refers to.
    pub refs: BTreeMap<Anchor, ObjectRef>,
    /// (municipality, unit) of every unit with people created by earlier waves: their OUs
    /// exist in the shared AD already.
    pub earlier_units: BTreeSet<(String, String)>,
    /// Whether an earlier wave created any group (so the groups OU exists).
    pub earlier_groups: bool,
    /// Licence classes whose licence group (TargetSettings::licence_groups) this wave creates:
    /// the first wave with a person of that class.
    pub licence_groups_created: BTreeSet<String>,
}

impl WaveContent {
    /// Whether `anchor` is a person of a kind that stays in the shared AD (`settings.cloud`):
    /// nothing of theirs goes to the tenant ([`graph`] leaves it out, the dry-run's changes
    /// say "shared AD only").
    pub fn shared_ad_only(&self, anchor: Anchor, settings: &crate::model::settings::TargetSettings) -> bool {
        self.refs.get(&anchor).and_then(|r| r.account_kind).is_some_and(|k| !settings.cloud.goes(k))
    }
}
