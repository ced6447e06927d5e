//! Subscribed SKUs and who consumes them.
//!
//! Licences are the one tenant resource that runs out, and running out in the middle of a
//! wave is exactly what a rehearsal must show. So counts are enforced: a direct
//! `assignLicense` that would exceed `prepaidUnits.enabled` is refused with Graph's error, and
//! group-based licences go to members in a fixed order until the units are gone; the rest
//! get an error state (`CountViolation`) as Entra's group licensing does, without failing
//! the request that added them.
//!
//! Also enforced: service plans that cannot be enabled twice for one user (two Exchange
//! Online plans, two SharePoint plans) give `MutuallyExclusiveViolation`; stricter than
//! Graph: a group-licensed member without usageLocation gets an error state instead of the
//! tenant's country.
//!
//! SKU and service-plan ids are Microsoft's real ones for the SKUs samla plans with
//! (SPE_E3, SPE_F1, ENTERPRISEPACK, DESKLESSPACK, ...), so code that resolves skuId from
//! skuPartNumber is exercised; a part number the catalogue does not know gets a stable
//! name-derived id and no service plans.

use super::ids::{Guid, ObjectId, PlanId, SkuId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

/// One service plan inside a SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub id: PlanId,
    pub name: &'static str,
}

/// A subscribed SKU with its enabled units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku {
    pub id: SkuId,
    pub part: String,
    pub units: u64,
    pub plans: Vec<Plan>,
}

/// `PARTNUMBER=COUNT`, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuSpec {
    pub part: String,
    pub units: u64,
}

/// Why a `--sku` value is not `PARTNUMBER=COUNT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkuSpecError {
    #[error("'{0}' is not PARTNUMBER=COUNT")]
    Shape(String),
    #[error("'{0}' is not a SKU part number (letters, digits, _)")]
    Part(String),
    #[error("'{0}' is not a count")]
    Count(String),
}

impl FromStr for SkuSpec {
    type Err = SkuSpecError;

    fn from_str(s: &str) -> Result<SkuSpec, SkuSpecError> {
        let (part, units) = s.split_once('=').ok_or_else(|| SkuSpecError::Shape(s.to_string()))?;
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(SkuSpecError::Part(part.to_string()));
        }
        let units = units.trim().parse().map_err(|_| SkuSpecError::Count(units.to_string()))?;
        Ok(SkuSpec { part: part.to_string(), units })
    }
}

impl std::fmt::Display for SkuSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.part, self.units)
    }
}

const fn guid(hex: u128) -> Guid {
    Guid::from_bytes(hex.to_be_bytes())
}

const fn plan(name: &'static str, hex: u128) -> Plan {
    Plan { id: PlanId(guid(hex)), name }
}

const EXCHANGE_E: Plan = plan("EXCHANGE_S_ENTERPRISE", 0xefb87545_963c_4e0d_99df_69c6916d9eb0);
const EXCHANGE_K: Plan = plan("EXCHANGE_S_DESKLESS", 0x4a82b400_a79f_41a4_b4e2_e94f5787b113);
const EXCHANGE_S: Plan = plan("EXCHANGE_S_STANDARD", 0x9aaf7827_d63c_4b61_89c3_182f06f82e5c);
const SHAREPOINT_E: Plan = plan("SHAREPOINTENTERPRISE", 0x5dbe027f_2339_4123_9542_606e4d348a72);
const SHAREPOINT_K: Plan = plan("SHAREPOINTDESKLESS", 0x902b47e5_dcb2_4fdc_858b_c63a90a2bdb9);
const SHAREPOINT_S: Plan = plan("SHAREPOINTSTANDARD", 0xc7699d2e_19aa_44de_8edf_1736da088ca1);
const TEAMS: Plan = plan("TEAMS1", 0x57ff2da0_773e_42df_b2af_ffb7a2317929);
const OFFICE: Plan = plan("OFFICESUBSCRIPTION", 0x43de0ff5_c92c_492b_9116_175376d08c38);
const INTUNE: Plan = plan("INTUNE_A", 0xc1ec4a95_1f05_45b3_a911_aa3fa01094f5);

/// Plans of which a user may have at most one enabled.
const EXCLUSIVE: [&[&str]; 2] = [
    &["EXCHANGE_S_ENTERPRISE", "EXCHANGE_S_DESKLESS", "EXCHANGE_S_STANDARD"],
    &["SHAREPOINTENTERPRISE", "SHAREPOINTDESKLESS", "SHAREPOINTSTANDARD"],
];

/// Known SKUs: part number, skuId, service plans.
const CATALOGUE: &[(&str, u128, &[Plan])] = &[
    ("SPE_E3", 0x05e9a617_0261_4cee_bb44_138d3ef5d965, &[EXCHANGE_E, SHAREPOINT_E, TEAMS, OFFICE, INTUNE]),
    ("SPE_E5", 0x06ebc4ee_1bb5_47dd_8120_11324bc54e06, &[EXCHANGE_E, SHAREPOINT_E, TEAMS, OFFICE, INTUNE]),
    ("SPE_F1", 0x66b55226_6b4f_492c_910c_a3b7a3c9d993, &[EXCHANGE_K, SHAREPOINT_K, TEAMS, INTUNE]),
    ("ENTERPRISEPACK", 0x6fd2c87f_b296_42f0_b197_1e91e994b900, &[EXCHANGE_E, SHAREPOINT_E, TEAMS, OFFICE]),
    ("ENTERPRISEPREMIUM", 0xc7df2760_2c81_4ef7_b578_5b5392b571df, &[EXCHANGE_E, SHAREPOINT_E, TEAMS, OFFICE]),
    ("DESKLESSPACK", 0x4b585984_651b_448a_9e53_3b10f069cf7f, &[EXCHANGE_K, SHAREPOINT_K, TEAMS]),
    ("STANDARDPACK", 0x18181a46_0d4e_45cd_891e_60aabd171b4e, &[EXCHANGE_S, SHAREPOINT_S, TEAMS]),
    ("EXCHANGESTANDARD", 0x4b9405b0_7788_4568_add1_99614e613b69, &[EXCHANGE_S]),
];

impl Sku {
    /// The SKU for a part number: Microsoft's ids when the catalogue knows it.
    pub fn from_spec(spec: &SkuSpec) -> Sku {
        match CATALOGUE.iter().find(|(part, _, _)| part.eq_ignore_ascii_case(&spec.part)) {
            Some((part, id, plans)) => {
                Sku { id: SkuId(guid(*id)), part: (*part).to_string(), units: spec.units, plans: plans.to_vec() }
            }
            None => Sku {
                id: SkuId(Guid::from_name("samla test tenant sku", &spec.part)),
                part: spec.part.clone(),
                units: spec.units,
                plans: Vec::new(),
            },
        }
    }

    /// The names of the plans left enabled by `disabled`.
    pub fn enabled_plans(&self, disabled: &[PlanId]) -> Vec<&'static str> {
        self.plans.iter().filter(|p| !disabled.contains(&p.id)).map(|p| p.name).collect()
    }
}

/// Whether two sets of enabled plans contain two plans of one exclusive family.
pub fn conflicting(a: &[&str], b: &[&str]) -> Option<(String, String)> {
    EXCLUSIVE.iter().find_map(|family| {
        let x = a.iter().find(|p| family.contains(p))?;
        let y = b.iter().find(|p| family.contains(p))?;
        Some((x.to_string(), y.to_string()))
    })
}

/// Direct or group licences: skuId -> disabled plans.
pub type Assigned = BTreeMap<SkuId, Vec<PlanId>>;

/// A user as licence allocation sees it.
#[derive(Debug, Clone)]
pub struct Holder<'a> {
    pub id: ObjectId,
    pub seq: u64,
    pub has_usage_location: bool,
    pub direct: &'a Assigned,
}

/// A group with licences and its live user members.
#[derive(Debug, Clone)]
pub struct LicensedGroup<'a> {
    pub id: ObjectId,
    pub licences: &'a Assigned,
    pub members: BTreeSet<ObjectId>,
}

/// One licence assignment of a user, direct or through a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentState {
    pub sku: SkuId,
    pub disabled: Vec<PlanId>,
    pub by_group: Option<ObjectId>,
    /// `None` when active, else Entra's error name (`CountViolation`, ...).
    pub error: Option<&'static str>,
}

/// Who holds what: consumed units per SKU and every user's assignment states.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub consumed: HashMap<SkuId, u64>,
    pub states: HashMap<ObjectId, Vec<AssignmentState>>,
    pub groups_with_errors: BTreeSet<ObjectId>,
}

impl Usage {
    /// Allocates: direct licences first (they were checked when assigned), then group
    /// licences to members in order of creation until each SKU's units are used up.
    pub fn compute(skus: &[Sku], holders: &[Holder<'_>], groups: &[LicensedGroup<'_>]) -> Usage {
        let sku = |id: &SkuId| skus.iter().find(|s| s.id == *id);
        let mut usage = Usage::default();
        let mut enabled: HashMap<ObjectId, Vec<&'static str>> = HashMap::new();
        let mut holders: Vec<&Holder<'_>> = holders.iter().collect();
        holders.sort_by_key(|h| h.seq);
        for h in &holders {
            let states = usage.states.entry(h.id).or_default();
            for (id, disabled) in h.direct {
                *usage.consumed.entry(*id).or_default() += 1;
                enabled.entry(h.id).or_default().extend(sku(id).map(|s| s.enabled_plans(disabled)).unwrap_or_default());
                states.push(AssignmentState { sku: *id, disabled: disabled.clone(), by_group: None, error: None });
            }
        }
        for h in &holders {
            for g in groups.iter().filter(|g| g.members.contains(&h.id)) {
                for (id, disabled) in g.licences {
                    let Some(s) = sku(id) else { continue };
                    let states = usage.states.entry(h.id).or_default();
                    let held = states.iter().any(|st| st.sku == *id && st.error.is_none());
                    let plans = s.enabled_plans(disabled);
                    let mine = enabled.entry(h.id).or_default();
                    let consumed = usage.consumed.entry(*id).or_default();
                    let error = if held {
                        None
                    } else if !h.has_usage_location {
                        Some("Other")
                    } else if conflicting(&plans, mine).is_some() {
                        Some("MutuallyExclusiveViolation")
                    } else if *consumed >= s.units {
                        Some("CountViolation")
                    } else {
                        *consumed += 1;
                        mine.extend(plans);
                        None
                    };
                    if error.is_some() {
                        usage.groups_with_errors.insert(g.id);
                    }
                    states.push(AssignmentState { sku: *id, disabled: disabled.clone(), by_group: Some(g.id), error });
                }
            }
        }
        usage
    }

    pub fn consumed(&self, sku: SkuId) -> u64 {
        self.consumed.get(&sku).copied().unwrap_or(0)
    }

    pub fn states(&self, user: ObjectId) -> &[AssignmentState] {
        self.states.get(&user).map(Vec::as_slice).unwrap_or_default()
    }

    /// The user's effective licences (`assignedLicenses`): active states, one per SKU.
    pub fn effective(&self, user: ObjectId) -> Vec<(SkuId, Vec<PlanId>)> {
        let mut out: Vec<(SkuId, Vec<PlanId>)> = Vec::new();
        for st in self.states(user).iter().filter(|s| s.error.is_none()) {
            if !out.iter().any(|(s, _)| *s == st.sku) {
                out.push((st.sku, st.disabled.clone()));
            }
        }
        out.sort();
        out
    }

    /// The plans the user has enabled, leaving out some SKUs (those being reassigned or removed).
    pub fn enabled_plans_except(&self, skus: &[Sku], user: ObjectId, except: &[SkuId]) -> Vec<&'static str> {
        self.effective(user)
            .iter()
            .filter(|(s, _)| !except.contains(s))
            .filter_map(|(s, disabled)| skus.iter().find(|k| k.id == *s).map(|k| k.enabled_plans(disabled)))
            .flatten()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u64) -> ObjectId {
        ObjectId(Guid::from_words(n, n))
    }

    #[test]
    fn known_part_numbers_get_microsofts_ids() {
        let e3 = Sku::from_spec(&"SPE_E3=10".parse().unwrap());
        assert_eq!(e3.id.to_string(), "05e9a617-0261-4cee-bb44-138d3ef5d965");
        assert_eq!(e3.units, 10);
        let custom = Sku::from_spec(&"SAMLA_TEST=1".parse().unwrap());
        assert_eq!(custom.id, Sku::from_spec(&"SAMLA_TEST=5".parse().unwrap()).id, "stable");
        assert!("SPE_E3".parse::<SkuSpec>().is_err());
        assert!("SPE E3=1".parse::<SkuSpec>().is_err());
    }

    #[test]
    fn group_licences_run_out_in_creation_order() {
        let e3 = Sku::from_spec(&"SPE_E3=2".parse().unwrap());
        let f1 = Sku::from_spec(&"SPE_F1=5".parse().unwrap());
        let none = Assigned::new();
        let direct_f1: Assigned = [(f1.id, vec![])].into();
        let holders: Vec<Holder<'_>> = (1..=4)
            .map(|n| Holder {
                id: oid(n),
                seq: n,
                has_usage_location: n != 3,
                direct: if n == 4 { &direct_f1 } else { &none },
            })
            .collect();
        let licences: Assigned = [(e3.id, vec![])].into();
        let group = LicensedGroup { id: oid(100), licences: &licences, members: (1..=4).map(oid).collect() };
        let skus = [e3.clone(), f1.clone()];
        let usage = Usage::compute(&skus, &holders, &[group]);
        assert_eq!(usage.states(oid(1))[0].error, None);
        assert_eq!(usage.states(oid(2))[0].error, None);
        assert_eq!(usage.states(oid(3))[0].error, Some("Other"), "no usageLocation");
        // User 4 has F1 directly (Exchange kiosk plan), so E3's Exchange plan conflicts.
        assert_eq!(usage.states(oid(4))[1].error, Some("MutuallyExclusiveViolation"));
        assert_eq!(usage.consumed(e3.id), 2);
        assert_eq!(usage.consumed(f1.id), 1);
        assert!(usage.groups_with_errors.contains(&oid(100)));
        assert_eq!(usage.effective(oid(1)), vec![(e3.id, vec![])]);
    }
}
