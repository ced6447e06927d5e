//! What mappings/target.toml says about the two targets, in the form rendering and execution
//! need it: the tenant's usage location and licences, which groups become Microsoft 365
//! groups, and where and how the shared AD creates objects.
//!
//! Mapping reads the file ([`crate::mapping::spec`]); the stages after it take these settings,
//! so they live with the vocabulary rather than with either side.

use super::unified::{AccountKind, Person, SourceState};
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
    /// Whether a new account may sign in, per account kind (`[account_state]`).
    pub account_state: AccountStates,
    /// Whether an account kind goes to the tenant as well as the shared AD (`[cloud]`).
    pub cloud: CloudKinds,
}

/// Per account kind, whether its accounts go to the tenant too; a kind not listed has its
/// default ([`CloudKinds::by_default`]). An account of a kind that stays on-premises is still
/// created in the shared AD.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CloudKinds(pub BTreeMap<AccountKind, bool>);

impl CloudKinds {
    /// Whether accounts of `kind` go to the tenant.
    pub fn goes(&self, kind: AccountKind) -> bool {
        self.0.get(&kind).copied().unwrap_or(Self::by_default(kind))
    }

    /// People, students and resources (rooms and shared mailboxes, booked and opened in
    /// Outlook) go to the tenant; an on-premises admin account must not become a cloud
    /// account unless asked for, and a service account is rarely wanted in Microsoft 365.
    pub fn by_default(kind: AccountKind) -> bool {
        match kind {
            AccountKind::Person | AccountKind::Student | AccountKind::Resource => true,
            AccountKind::Admin | AccountKind::Service => false,
        }
    }

    /// Why an account of `kind` stays in the shared AD, or None when it goes to the tenant.
    pub fn why_not(&self, kind: AccountKind) -> Option<String> {
        (!self.goes(kind)).then(|| format!("{} (cloud.{} = false)", kind.as_str(), kind.as_str()))
    }
}

/// Whether an account kind's new accounts may sign in once created, in both targets alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStateRule {
    /// Created disabled in the tenant and the shared AD; the cutover (when the person moves
    /// over to the new account: `samla wave cutover`, in the tenant for now) enables it. What
    /// the shared AD did from the start.
    #[default]
    DisabledUntilCutover,
    /// Enabled when the source account is (a disabled or expired one stays disabled).
    AsInSource,
}

impl AccountStateRule {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStateRule::DisabledUntilCutover => "disabled_until_cutover",
            AccountStateRule::AsInSource => "as_in_source",
        }
    }
}

/// The rule per account kind; a kind not listed has the default, `disabled_until_cutover`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountStates(pub BTreeMap<AccountKind, AccountStateRule>);

impl AccountStates {
    pub fn rule(&self, kind: AccountKind) -> AccountStateRule {
        self.0.get(&kind).copied().unwrap_or_default()
    }

    /// Whether `person`'s new accounts (cloud user and shared-AD account) are enabled: only
    /// where the rule for its kind says so and the source account is enabled. A disabled or
    /// expired source account is disabled in both targets whatever the rule.
    pub fn enabled(&self, person: &Person) -> bool {
        self.why_disabled(person).is_none()
    }

    /// Why `person`'s new accounts stay disabled, or `None` when they are enabled: what the
    /// dry-run shows beside the account.
    pub fn why_disabled(&self, person: &Person) -> Option<String> {
        if person.source_state != SourceState::Enabled {
            return Some(format!("the source account is {}", person.source_state));
        }
        match self.rule(person.kind) {
            AccountStateRule::AsInSource => None,
            rule => Some(format!("account_state.{} = {}", person.kind.as_str(), rule.as_str())),
        }
    }
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
