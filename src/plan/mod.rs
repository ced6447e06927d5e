//! Planning: from the unified directory to migration waves the team reviews as files.
//!
//! The cooperation's rule is to begin with the smallest units, where harm is least if something
//! goes wrong. So planning scores each unit's impact from named factors ([`impact`]), cuts the
//! units into waves in that order within limits ([`waves`]), derives what every wave must
//! create so that nothing refers forward, and writes one TOML file per wave ([`files`]) that
//! people may edit: move a unit, pin it, exclude it, rename a wave. Each file records the
//! hashes of what it was planned from, so a wave whose inputs changed is reported stale.
//!
//! All of it is pure except reading and writing the files; the CLI reads the state.

pub mod directory;
pub mod files;
pub mod impact;
pub mod make;
pub mod settings;
pub mod waves;

#[cfg(test)]
pub(crate) mod testing {
    //! Small directories and settings for the planner's tests.
    use super::directory::{PlanDirectory, StoredAffiliation, StoredGroup, StoredPerson};
    use super::settings::{PlanSettings, parse};
    use crate::model::AccountKind;
    use crate::model::ObjectGuid;
    use crate::model::unified::{Anchor, Member};

    pub fn anchor(i: u32) -> Anchor {
        Anchor(ObjectGuid::parse(&format!("{i:08x}-0000-4000-8000-000000000000")).unwrap())
    }

    /// People as (unit "municipality/unit", kind, manager index); groups as (name, person indexes).
    pub fn directory(people: &[(&str, AccountKind, Option<u32>)], groups: &[(&str, &[u32])]) -> PlanDirectory {
        let stored = people
            .iter()
            .enumerate()
            .map(|(i, (unit, kind, manager))| {
                let (municipality, unit) = unit.split_once('/').unwrap();
                StoredPerson {
                    anchor: anchor(i as u32),
                    kind: *kind,
                    licence: "E3".into(),
                    affiliations: vec![StoredAffiliation { municipality: municipality.into(), unit: unit.into() }],
                    manager: manager.map(anchor),
                }
            })
            .collect();
        let stored_groups = groups
            .iter()
            .enumerate()
            .map(|(i, (name, members))| StoredGroup {
                anchor: anchor(0x1000_0000 + i as u32),
                name: name.to_string(),
                members: members.iter().map(|&p| Member::Person(anchor(p))).collect(),
                sources: Vec::new(),
            })
            .collect();
        PlanDirectory::build(stored, stored_groups)
    }

    pub fn settings() -> PlanSettings {
        parse(
            std::path::Path::new("plan.toml"),
            r#"
[limits]
max_users = 1000
max_municipalities = 2
max_units = 10
[order]
pilot = ["*/IT"]
kinds_first = ["admin", "service"]
[weights]
accounts = { person = 1.0, student = 0.5, admin = 4.0, service = 3.0, resource = 0.5 }
cross_unit_membership = 0.05
cross_municipality_membership = 0.1
cross_unit_manager_link = 1.0
largest_group = 0.01
[[critical]]
system = "Treserva"
groups = ["*Behörighet Treserva"]
weight = 3.0
"#,
        )
        .unwrap()
    }
}
