//! The unified directory as planning sees it: who is in which unit, who manages whom, who is
//! in which group, with every reference turned into an index.
//!
//! Planning a million people reads only these few fields of each stored person, and works on
//! dense indexes instead of GUID-keyed maps, so it stays a few seconds and a few hundred MiB.

use crate::model::AccountKind;
use crate::model::unified::Anchor;
use rustc_hash::FxHashMap as HashMap;
use serde::Deserialize;

/// A unit: a municipality's administration or department, as its mapping derives it.
/// Written "municipality/unit", e.g. `bjuv/Socialförvaltningen/Hemtjänst`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct UnitId(pub String);

impl UnitId {
    pub fn new(municipality: &str, unit: &str) -> UnitId {
        UnitId(format!("{municipality}/{unit}"))
    }

    pub fn municipality(&self) -> &str {
        self.0.split('/').next().unwrap_or_default()
    }
}

impl std::fmt::Display for UnitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person as stored by `samla map`: only what planning reads (serde skips the rest).
#[derive(Debug, Deserialize)]
pub struct StoredPerson {
    pub anchor: Anchor,
    pub kind: AccountKind,
    /// The licence class ("E3", "none").
    pub licence: String,
    pub affiliations: Vec<StoredAffiliation>,
    pub manager: Option<Anchor>,
}

#[derive(Debug, Deserialize)]
pub struct StoredAffiliation {
    pub municipality: String,
    pub unit: String,
}

/// A group as stored by `samla map`: only what planning reads.
#[derive(Debug, Deserialize)]
pub struct StoredGroup {
    pub anchor: Anchor,
    pub name: String,
    pub members: Vec<crate::model::unified::Member>,
    /// The municipality of each source group it was merged from (their GUIDs and DNs are
    /// skipped).
    #[serde(default)]
    pub sources: Vec<(String, serde::de::IgnoredAny, serde::de::IgnoredAny)>,
}

/// A member of a group, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberRef {
    Person(u32),
    Group(u32),
}

#[derive(Debug, Clone)]
pub struct PlanPerson {
    pub anchor: Anchor,
    pub kind: AccountKind,
    /// Index into [`PlanDirectory::licences`].
    pub licence: u16,
    /// Index into [`PlanDirectory::units`]: the primary affiliation's unit (where the person's
    /// account is created).
    pub unit: u32,
    pub manager: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct PlanGroup {
    pub anchor: Anchor,
    pub name: String,
    pub members: Vec<MemberRef>,
    /// The municipalities it comes from, as indexes into [`PlanDirectory::municipalities`]
    /// (those with people), sorted: where a group without people of its own is created.
    pub municipalities: Vec<u32>,
}

/// The planning view of one unified directory.
#[derive(Debug, Clone, Default)]
pub struct PlanDirectory {
    /// Sorted by anchor (the stored order).
    pub people: Vec<PlanPerson>,
    pub groups: Vec<PlanGroup>,
    /// Sorted.
    pub units: Vec<UnitId>,
    /// The municipality of each unit, as an index into `municipalities`.
    pub unit_municipality: Vec<u32>,
    /// Sorted.
    pub municipalities: Vec<String>,
    /// The licence classes, sorted.
    pub licences: Vec<String>,
}

impl PlanDirectory {
    /// Builds the view. References to anchors that are not in the directory (a manager or
    /// member out of scope) are dropped: mapping already reported them.
    pub fn build(people: Vec<StoredPerson>, groups: Vec<StoredGroup>) -> PlanDirectory {
        let mut unit_names: Vec<UnitId> = people
            .iter()
            .filter_map(|p| p.affiliations.first())
            .map(|a| UnitId::new(&a.municipality, &a.unit))
            .collect();
        unit_names.sort_unstable();
        unit_names.dedup();
        let mut municipalities: Vec<String> = unit_names.iter().map(|u| u.municipality().to_string()).collect();
        municipalities.dedup();
        let unit_municipality = unit_names
            .iter()
            .map(|u| municipalities.binary_search_by(|m| m.as_str().cmp(u.municipality())).unwrap_or(0) as u32)
            .collect();
        let person_index: HashMap<Anchor, u32> = people.iter().enumerate().map(|(i, p)| (p.anchor, i as u32)).collect();
        let group_index: HashMap<Anchor, u32> = groups.iter().enumerate().map(|(i, g)| (g.anchor, i as u32)).collect();
        let unit_of = |p: &StoredPerson| {
            p.affiliations
                .first()
                .and_then(|a| unit_names.binary_search(&UnitId::new(&a.municipality, &a.unit)).ok())
                .unwrap_or(0) as u32
        };
        let mut licences: Vec<String> = people.iter().map(|p| p.licence.clone()).collect();
        licences.sort_unstable();
        licences.dedup();
        let plan_people = people
            .iter()
            .map(|p| PlanPerson {
                anchor: p.anchor,
                kind: p.kind,
                licence: licences.binary_search(&p.licence).unwrap_or(0) as u16,
                unit: unit_of(p),
                manager: p.manager.and_then(|m| person_index.get(&m).copied()),
            })
            .collect();
        let plan_groups = groups
            .into_iter()
            .map(|g| PlanGroup {
                anchor: g.anchor,
                members: g
                    .members
                    .iter()
                    .filter_map(|m| match m {
                        crate::model::unified::Member::Person(a) => person_index.get(a).map(|&i| MemberRef::Person(i)),
                        crate::model::unified::Member::Group(a) => group_index.get(a).map(|&i| MemberRef::Group(i)),
                    })
                    .collect(),
                municipalities: {
                    let mut of: Vec<u32> = g
                        .sources
                        .iter()
                        .filter_map(|(m, _, _)| municipalities.binary_search(m).ok().map(|i| i as u32))
                        .collect();
                    of.sort_unstable();
                    of.dedup();
                    of
                },
                name: g.name,
            })
            .collect();
        PlanDirectory {
            people: plan_people,
            groups: plan_groups,
            units: unit_names,
            unit_municipality,
            municipalities,
            licences,
        }
    }

    pub fn unit_index(&self, unit: &str) -> Option<u32> {
        self.units.binary_search_by(|u| u.0.as_str().cmp(unit)).ok().map(|i| i as u32)
    }

    /// The people of each unit, by index, in anchor order.
    pub fn people_by_unit(&self) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); self.units.len()];
        for (i, p) in self.people.iter().enumerate() {
            out[p.unit as usize].push(i as u32);
        }
        out
    }
}
