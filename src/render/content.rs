//! From a planned wave to its [`WaveContent`]: the full unified records of what the wave
//! creates, and how everything it touches is referred to.

use super::{ObjectRef, RefKind, WaveContent};

use crate::error::{Classified, ExitClass};
use crate::model::ObjectGuid;
use crate::model::settings::TargetSettings;
use crate::model::unified::{Anchor, Group, Member, Person};
use crate::plan::directory::{MemberRef, PlanDirectory};
use crate::plan::make::Plan;
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};

/// Why a wave's content cannot be built: the plan and the unified directory it was read
/// with disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("there is no wave {0}")]
    NoWave(u32),
    #[error("person {0} is not in the unified directory")]
    MissingPerson(ObjectGuid),
    #[error("group {0} is not in the unified directory")]
    MissingGroup(ObjectGuid),
}

impl Classified for ContentError {
    /// The stored plan and map run do not fit together: the work failed, not the command.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Work
    }
}

/// The anchors whose full records wave `number` needs: what it creates and what it refers to.
pub fn needed(plan: &Plan, dir: &PlanDirectory, number: u32) -> (BTreeSet<Anchor>, BTreeSet<Anchor>) {
    let mut people = BTreeSet::new();
    let mut groups = BTreeSet::new();
    let Some(work) = plan.schedule.waves.get(number as usize - 1) else { return (people, groups) };
    people.extend(work.people.iter().map(|&p| dir.people[p as usize].anchor));
    groups.extend(work.groups.iter().map(|&g| dir.groups[g as usize].anchor));
    for &(g, m) in &work.memberships {
        groups.insert(dir.groups[g as usize].anchor);
        match m {
            MemberRef::Person(p) => people.insert(dir.people[p as usize].anchor),
            MemberRef::Group(h) => groups.insert(dir.groups[h as usize].anchor),
        };
    }
    for &(p, m) in &work.manager_links {
        people.insert(dir.people[p as usize].anchor);
        people.insert(dir.people[m as usize].anchor);
    }
    (people, groups)
}

/// Builds wave `number`'s content. `people` and `groups` hold (at least) the records
/// [`needed`] names.
pub fn build(
    plan: &Plan,
    dir: &PlanDirectory,
    number: u32,
    people: &HashMap<Anchor, Person>,
    groups: &HashMap<Anchor, Group>,
    settings: &TargetSettings,
) -> Result<WaveContent, ContentError> {
    let index = number as usize - 1;
    let work = plan.schedule.waves.get(index).ok_or(ContentError::NoWave(number))?;
    let wave = plan.waves.get(index).ok_or(ContentError::NoWave(number))?;
    let person = |p: u32| {
        let a = dir.people[p as usize].anchor;
        people.get(&a).ok_or(ContentError::MissingPerson(a.0))
    };
    let group = |g: u32| {
        let a = dir.groups[g as usize].anchor;
        groups.get(&a).ok_or(ContentError::MissingGroup(a.0))
    };
    let mut refs = BTreeMap::new();
    let person_wave = |p: u32| plan.schedule.person_wave[p as usize].map_or(0, |w| w + 1);
    let group_wave = |g: u32| plan.schedule.group_wave[g as usize].map_or(0, |w| w + 1);
    let add_person = |p: u32, refs: &mut BTreeMap<Anchor, ObjectRef>| -> Result<(), ContentError> {
        let r = person(p)?;
        let primary = r.affiliations.first();
        refs.insert(
            r.anchor,
            ObjectRef {
                kind: RefKind::Person,
                wave: person_wave(p),
                cloud_name: r.user_principal_name.clone(),
                cn: r.cn.clone(),
                sam_account_name: r.sam_account_name.clone(),
                municipality: primary.map(|a| a.municipality.clone()).unwrap_or_default(),
                unit: primary.map(|a| a.unit.clone()).unwrap_or_default(),
                account_kind: Some(r.kind),
            },
        );
        Ok(())
    };
    let add_group = |g: u32, refs: &mut BTreeMap<Anchor, ObjectRef>| -> Result<(), ContentError> {
        let r = group(g)?;
        refs.insert(
            r.anchor,
            ObjectRef {
                kind: RefKind::Group,
                wave: group_wave(g),
                cloud_name: r.mail_nickname.clone(),
                cn: r.name.clone(),
                sam_account_name: r.mail_nickname.chars().take(64).collect(),
                municipality: if r.sources.len() == 1 { r.sources[0].0.clone() } else { String::new() },
                unit: String::new(),
                account_kind: None,
            },
        );
        Ok(())
    };
    for &p in &work.people {
        add_person(p, &mut refs)?;
    }
    for &g in &work.groups {
        add_group(g, &mut refs)?;
    }
    let mut memberships = Vec::with_capacity(work.memberships.len());
    for &(g, m) in &work.memberships {
        add_group(g, &mut refs)?;
        let member = match m {
            MemberRef::Person(p) => {
                add_person(p, &mut refs)?;
                Member::Person(dir.people[p as usize].anchor)
            }
            MemberRef::Group(h) => {
                add_group(h, &mut refs)?;
                Member::Group(dir.groups[h as usize].anchor)
            }
        };
        memberships.push((dir.groups[g as usize].anchor, member));
    }
    memberships.sort();
    let mut manager_links = Vec::with_capacity(work.manager_links.len());
    for &(p, m) in &work.manager_links {
        add_person(p, &mut refs)?;
        add_person(m, &mut refs)?;
        manager_links.push((dir.people[p as usize].anchor, dir.people[m as usize].anchor));
    }
    manager_links.sort();
    let mut earlier_units = BTreeSet::new();
    let mut first_licence_wave: BTreeMap<u16, u32> = BTreeMap::new();
    for (i, p) in dir.people.iter().enumerate() {
        let Some(w) = plan.schedule.person_wave[i] else { continue };
        if (w as usize) < index
            && let Some((m, u)) = dir.units[p.unit as usize].0.split_once('/')
        {
            earlier_units.insert((m.to_string(), u.to_string()));
        }
        let first = first_licence_wave.entry(p.licence).or_insert(w);
        *first = (*first).min(w);
    }
    let licence_groups_created = first_licence_wave
        .iter()
        .filter(|(_, w)| **w as usize == index)
        .map(|(l, _)| dir.licences[*l as usize].clone())
        .filter(|class| settings.licence_groups.contains_key(class))
        .collect();
    let earlier_groups = plan.schedule.group_wave.iter().any(|w| w.is_some_and(|w| (w as usize) < index));
    let mut created_people: Vec<Person> = work.people.iter().map(|&p| person(p).cloned()).collect::<Result<_, _>>()?;
    created_people.sort_by_key(|p| p.anchor);
    let mut created_groups: Vec<Group> = work.groups.iter().map(|&g| group(g).cloned()).collect::<Result<_, _>>()?;
    created_groups.sort_by_key(|g| g.anchor);
    Ok(WaveContent {
        number,
        name: wave.name.clone(),
        people: created_people,
        groups: created_groups,
        memberships,
        manager_links,
        refs,
        earlier_units,
        earlier_groups,
        licence_groups_created,
    })
}
