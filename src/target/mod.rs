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

use crate::mapping::unify::{Anchor, Group, Member, Person};
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

/// The target settings rendering needs (from mappings/target.toml).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetSettings {
    /// The tenant's usageLocation for every user ("SE").
    pub usage_location: String,
    /// Licence class -> SKU part number ("E3" -> "SPE_E3").
    pub skus: BTreeMap<String, String>,
    /// Licence class -> the display name of a cloud group that carries the licence
    /// (group-based licensing). Classes not listed are licensed per user.
    pub licence_groups: BTreeMap<String, String>,
    /// Lower-cased unified group names that become Microsoft 365 groups (the rest are
    /// security groups).
    pub microsoft365_groups: BTreeSet<String>,
    /// The shared AD.
    pub shared_ad: SharedAd,
}

/// Where and how objects are created in the shared AD.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SharedAd {
    /// The shared domain's base, e.g. "DC=samverkan,DC=test".
    pub base_dn: String,
    /// People go to `OU=<unit levels, innermost first>,OU=<municipality display>,<people_ou>,<base_dn>`;
    /// e.g. people_ou = "OU=Kommuner".
    pub people_ou: String,
    /// Groups go to `<groups_ou>,<base_dn>`, e.g. "OU=Grupper".
    pub groups_ou: String,
    /// How new accounts are created: disabled (no password), or enabled with a random
    /// password that must be changed at first logon.
    pub new_accounts: NewAccounts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NewAccounts {
    #[default]
    Disabled,
    RandomPassword,
}
