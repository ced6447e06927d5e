//! What mappings/target.toml says about the two targets, in the form rendering and execution
//! need it: the tenant's usage location and licences, which groups become Microsoft 365
//! groups, and where and how the shared AD creates objects.
//!
//! Mapping reads the file ([`crate::mapping::spec`]); the stages after it take these settings,
//! so they live with the vocabulary rather than with either side.

use std::collections::{BTreeMap, BTreeSet};

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
