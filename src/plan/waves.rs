//! Cutting units into waves, and scheduling what each wave must create.
//!
//! Order: the pilot first, then units of the kinds listed in `kinds_first` (admin accounts,
//! service accounts) in waves of their own, then business units by ascending impact. Waves fill
//! first-fit from the current wave forward, never backward, so impact only grows from wave to
//! wave. A unit is split only when it alone is larger than a wave may be.
//!
//! What people decided is kept: a unit pinned, moved by hand or excluded stays where it is, and
//! the planner fills around it.
//!
//! Dependencies are derived, not guessed: a person is created in their unit's wave; a group in
//! the first wave that has one of its members (directly or through nested groups); a
//! membership and a manager link in the later of the two waves it joins. So everything a wave
//! refers to is created in it or before it, whatever the team moves where; [`check`] proves it.

use super::directory::{MemberRef, PlanDirectory, UnitId};
use super::impact::Impact;
use super::settings::{Limits, PlanSettings};
use crate::model::AccountKind;
use std::collections::BTreeMap;

/// What a wave file lists: a whole unit, or part `k` of `n` of a unit too large for one wave.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    pub unit: UnitId,
    pub part: Option<(u32, u32)>,
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.part {
            None => write!(f, "{}", self.unit),
            Some((k, n)) => write!(f, "{} (part {k} of {n})", self.unit),
        }
    }
}

/// Where a slot goes first: the pilot, then `kinds_first` in order, then business units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Pilot,
    Kind(usize, AccountKind),
    Business,
}

/// A slot with what planning needs to know about it.
#[derive(Debug, Clone)]
pub struct SlotInfo {
    pub slot: Slot,
    pub unit: u32,
    pub municipality: u32,
    /// People created with it, in anchor order.
    pub people: Vec<u32>,
    /// The unit's score, shared among its parts by their size.
    pub impact: f64,
    pub phase: Phase,
}

/// Turns units into slots, splitting those larger than a wave into nearly equal parts
/// (people in anchor order, so the parts are the same on every run).
pub fn slots(dir: &PlanDirectory, impacts: &[Impact], settings: &PlanSettings) -> Vec<SlotInfo> {
    let max = settings.limits.max_users.max(1);
    let mut out = Vec::new();
    for (u, people) in dir.people_by_unit().into_iter().enumerate() {
        let unit = &dir.units[u];
        let phase = phase_of(unit, &people, dir, settings);
        let score = impacts.get(u).map_or(0.0, |i| i.score);
        let total = people.len();
        let parts = total.div_ceil(max).max(1);
        let mut start = 0;
        for k in 0..parts {
            // Sizes differ by at most one: the first `total % parts` parts get one more.
            let len = total / parts + usize::from(k < total % parts);
            let chunk = people[start..start + len].to_vec();
            start += len;
            out.push(SlotInfo {
                slot: Slot { unit: unit.clone(), part: (parts > 1).then_some((k as u32 + 1, parts as u32)) },
                unit: u as u32,
                municipality: dir.unit_municipality[u],
                impact: super::impact::round2(score * len as f64 / total.max(1) as f64),
                people: chunk,
                phase,
            });
        }
    }
    out
}

fn phase_of(unit: &UnitId, people: &[u32], dir: &PlanDirectory, settings: &PlanSettings) -> Phase {
    if settings.pilot.iter().any(|g| g.matches(&unit.0)) {
        return Phase::Pilot;
    }
    let mut by_kind: BTreeMap<AccountKind, usize> = BTreeMap::new();
    for &p in people {
        *by_kind.entry(dir.people[p as usize].kind).or_default() += 1;
    }
    // The kind most of the unit's accounts have; ties go to the kind listed first.
    let dominant = by_kind.iter().max_by_key(|(k, n)| (**n, std::cmp::Reverse(**k))).map(|(k, _)| *k);
    match dominant.and_then(|k| settings.kinds_first.iter().position(|f| *f == k).map(|i| (i, k))) {
        Some((i, k)) => Phase::Kind(i, k),
        None => Phase::Business,
    }
}

/// Why a slot stays where a person put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kept {
    /// `pinned = true` in its wave file.
    Pinned,
    /// In another wave than the last plan put it.
    Moved,
    /// `exclude = true`: in no wave; listed in the wave file it sits in.
    Excluded,
}

/// A slot's place: the wave number (1-based) and whether a person decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub wave: u32,
    pub kept: Option<Kept>,
}

/// The slots in each wave (indexes into the slots), and where excluded slots are listed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assignment {
    pub waves: Vec<Vec<usize>>,
    /// Slot index -> its place, for every slot.
    pub places: Vec<Place>,
}

#[derive(Default, Clone)]
struct Fill {
    slots: Vec<usize>,
    users: usize,
    municipalities: Vec<u32>,
}

impl Fill {
    fn fits(&self, s: &SlotInfo, limits: &Limits) -> bool {
        if self.slots.is_empty() {
            return true;
        }
        let new_municipality = !self.municipalities.contains(&s.municipality);
        self.users + s.people.len() <= limits.max_users
            && self.slots.len() < limits.max_units
            && self.municipalities.len() + usize::from(new_municipality) <= limits.max_municipalities
    }

    fn add(&mut self, i: usize, s: &SlotInfo) {
        self.slots.push(i);
        self.users += s.people.len();
        if !self.municipalities.contains(&s.municipality) {
            self.municipalities.push(s.municipality);
        }
    }
}

/// Places every slot. `kept` holds what people decided (slot index -> wave number and why);
/// everything else is planned around it. Empty waves are dropped and the rest renumbered in
/// order, so numbers stay 1, 2, 3, ...
pub fn assign(slots: &[SlotInfo], limits: &Limits, kept: &BTreeMap<usize, Place>) -> Assignment {
    let mut fills: Vec<Fill> = Vec::new();
    let at = |fills: &mut Vec<Fill>, w: usize| {
        if fills.len() <= w {
            fills.resize(w + 1, Fill::default());
        }
    };
    let mut excluded_in: BTreeMap<usize, usize> = BTreeMap::new();
    for (&i, place) in kept {
        let w = place.wave.saturating_sub(1) as usize;
        at(&mut fills, w);
        if place.kept == Some(Kept::Excluded) {
            excluded_in.insert(i, w);
        } else {
            fills[w].add(i, &slots[i]);
        }
    }
    let mut order: Vec<usize> = (0..slots.len()).filter(|i| !kept.contains_key(i)).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&slots[a], &slots[b]);
        x.phase
            .cmp(&y.phase)
            .then(x.impact.total_cmp(&y.impact))
            .then(x.people.len().cmp(&y.people.len()))
            .then(x.slot.cmp(&y.slot))
    });
    // Phase by phase, each starting a wave of its own: fill the current wave with the
    // lowest-impact slots that fit (skipping, not reordering, those that do not: a third
    // municipality waits for the next wave), then open the next.
    let mut w = 0usize;
    let mut rest = order.as_slice();
    while let Some(&first) = rest.first() {
        let phase = slots[first].phase;
        let end = rest.iter().position(|&i| slots[i].phase != phase).unwrap_or(rest.len());
        let mut queue: Vec<usize> = rest[..end].to_vec();
        rest = &rest[end..];
        while !queue.is_empty() {
            at(&mut fills, w);
            queue.retain(|&i| {
                if fills[w].fits(&slots[i], limits) {
                    fills[w].add(i, &slots[i]);
                    false
                } else {
                    true
                }
            });
            if !queue.is_empty() {
                w += 1;
            }
        }
        w += 1;
    }
    // Drop empty waves (an excluded slot alone does not keep a wave) and renumber.
    let mut places = vec![Place { wave: 0, kept: None }; slots.len()];
    let mut waves = Vec::new();
    let mut last_number = 0u32;
    for (old, fill) in fills.into_iter().enumerate() {
        let has_excluded = excluded_in.values().any(|&w| w == old);
        if fill.slots.is_empty() && !has_excluded {
            continue;
        }
        if fill.slots.is_empty() {
            // Only excluded slots: they are listed in the previous wave's file (or the first).
            for (&i, _) in excluded_in.iter().filter(|(_, w)| **w == old) {
                places[i] = Place { wave: last_number.max(1), kept: Some(Kept::Excluded) };
            }
            continue;
        }
        last_number += 1;
        for &i in &fill.slots {
            places[i] = Place { wave: last_number, kept: kept.get(&i).and_then(|p| p.kept) };
        }
        for (&i, _) in excluded_in.iter().filter(|(_, w)| **w == old) {
            places[i] = Place { wave: last_number, kept: Some(Kept::Excluded) };
        }
        waves.push(fill.slots);
    }
    if waves.is_empty() {
        // Everything excluded: one wave file still lists them.
        if !excluded_in.is_empty() {
            waves.push(Vec::new());
            for &i in excluded_in.keys() {
                places[i] = Place { wave: 1, kept: Some(Kept::Excluded) };
            }
        }
    }
    Assignment { waves, places }
}

/// What one wave creates and links.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaveWork {
    /// People created, by index.
    pub people: Vec<u32>,
    /// Groups created, by index.
    pub groups: Vec<u32>,
    /// Memberships added: (group, member).
    pub memberships: Vec<(u32, MemberRef)>,
    /// Manager links set: (person, manager).
    pub manager_links: Vec<(u32, u32)>,
}

/// The whole plan's work, wave by wave (index 0 is wave 1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schedule {
    pub person_wave: Vec<Option<u32>>,
    pub group_wave: Vec<Option<u32>>,
    pub waves: Vec<WaveWork>,
    /// What no wave creates because it depends on something excluded.
    pub unplanned_groups: usize,
    pub unplanned_memberships: usize,
    pub unplanned_manager_links: usize,
}

/// Derives each wave's creates and links from where the slots are.
pub fn schedule(dir: &PlanDirectory, slots: &[SlotInfo], assignment: &Assignment) -> Schedule {
    let n_waves = assignment.waves.len();
    let mut person_wave = vec![None; dir.people.len()];
    for (w, members) in assignment.waves.iter().enumerate() {
        for &s in members {
            for &p in &slots[s].people {
                person_wave[p as usize] = Some(w as u32);
            }
        }
    }
    // A group's wave: the earliest of its members' waves, through nested groups.
    let mut group_wave: Vec<Option<u32>> = dir
        .groups
        .iter()
        .map(|g| {
            g.members
                .iter()
                .filter_map(|m| match m {
                    MemberRef::Person(p) => person_wave[*p as usize],
                    MemberRef::Group(_) => None,
                })
                .min()
        })
        .collect();
    earliest_through_nesting(dir, &mut group_wave);
    // A group without people, itself or through nested groups (an empty group, groups that
    // hold only such groups, a nesting cycle of them), is still part of the directory: it is
    // created in the first wave of a municipality it comes from, so that rolling back one
    // municipality's wave never removes another's groups. Its parents may then come earlier.
    let first_wave_of = first_wave_of_municipality(dir, slots, assignment);
    let peopled = with_people(dir);
    for (gi, g) in dir.groups.iter().enumerate() {
        if !peopled[gi] {
            group_wave[gi] = g.municipalities.iter().filter_map(|&m| first_wave_of[m as usize]).min();
        }
    }
    earliest_through_nesting(dir, &mut group_wave);
    let mut waves = vec![WaveWork::default(); n_waves];
    for (p, w) in person_wave.iter().enumerate() {
        if let Some(w) = w {
            waves[*w as usize].people.push(p as u32);
        }
    }
    let mut out = Schedule { waves, ..Schedule::default() };
    for (gi, w) in group_wave.iter().enumerate() {
        match w {
            Some(w) => out.waves[*w as usize].groups.push(gi as u32),
            None => out.unplanned_groups += 1,
        }
    }
    for (gi, g) in dir.groups.iter().enumerate() {
        for &m in &g.members {
            let member_wave = match m {
                MemberRef::Person(p) => person_wave[p as usize],
                MemberRef::Group(h) => group_wave[h as usize],
            };
            match (group_wave[gi], member_wave) {
                (Some(a), Some(b)) => out.waves[a.max(b) as usize].memberships.push((gi as u32, m)),
                _ => out.unplanned_memberships += 1,
            }
        }
    }
    for (pi, p) in dir.people.iter().enumerate() {
        if let Some(m) = p.manager {
            match (person_wave[pi], person_wave[m as usize]) {
                (Some(a), Some(b)) => out.waves[a.max(b) as usize].manager_links.push((pi as u32, m)),
                _ => out.unplanned_manager_links += 1,
            }
        }
    }
    out.person_wave = person_wave;
    out.group_wave = group_wave;
    out
}

/// Lowers each group's wave to the earliest wave of a group nested in it, until nothing changes
/// (cycles are harmless since a minimum settles).
fn earliest_through_nesting(dir: &PlanDirectory, group_wave: &mut [Option<u32>]) {
    loop {
        let mut changed = false;
        for (gi, g) in dir.groups.iter().enumerate() {
            for m in &g.members {
                if let MemberRef::Group(h) = m
                    && let Some(hw) = group_wave[*h as usize]
                    && group_wave[gi].is_none_or(|gw| hw < gw)
                {
                    group_wave[gi] = Some(hw);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
}

/// Whether each group holds a person, directly or through nested groups.
fn with_people(dir: &PlanDirectory) -> Vec<bool> {
    let mut peopled: Vec<bool> =
        dir.groups.iter().map(|g| g.members.iter().any(|m| matches!(m, MemberRef::Person(_)))).collect();
    loop {
        let mut changed = false;
        for (gi, g) in dir.groups.iter().enumerate() {
            if !peopled[gi] && g.members.iter().any(|m| matches!(m, MemberRef::Group(h) if peopled[*h as usize])) {
                peopled[gi] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    peopled
}

/// The first wave (index) holding a slot of each municipality, or none when all of it is excluded.
fn first_wave_of_municipality(dir: &PlanDirectory, slots: &[SlotInfo], assignment: &Assignment) -> Vec<Option<u32>> {
    let mut first = vec![None; dir.municipalities.len()];
    for (w, members) in assignment.waves.iter().enumerate() {
        for &s in members {
            if let Some(slot) = first.get_mut(slots[s].municipality as usize)
                && slot.is_none()
            {
                *slot = Some(w as u32);
            }
        }
    }
    first
}

/// Every dependency a wave has on something not created in it or before it. Empty for every
/// schedule [`schedule`] makes; the tests prove it for arbitrary placements.
pub fn check(dir: &PlanDirectory, schedule: &Schedule) -> Vec<String> {
    let mut problems = Vec::new();
    let person = |p: u32| schedule.person_wave[p as usize];
    let group = |g: u32| schedule.group_wave[g as usize];
    for (w, work) in schedule.waves.iter().enumerate() {
        let w = w as u32;
        let ready = |x: Option<u32>| x.is_some_and(|x| x <= w);
        for &(g, m) in &work.memberships {
            let member_ready = match m {
                MemberRef::Person(p) => ready(person(p)),
                MemberRef::Group(h) => ready(group(h)),
            };
            if !ready(group(g)) || !member_ready {
                problems.push(format!(
                    "wave {}: membership in {} before both exist",
                    w + 1,
                    dir.groups[g as usize].name
                ));
            }
        }
        for &(p, m) in &work.manager_links {
            if !ready(person(p)) || !ready(person(m)) {
                problems.push(format!(
                    "wave {}: manager link of {} before both exist",
                    w + 1,
                    dir.people[p as usize].anchor.0
                ));
            }
        }
        for &g in &work.groups {
            if group(g) != Some(w) {
                problems.push(format!("wave {}: group {} created twice", w + 1, dir.groups[g as usize].name));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testing::{directory, settings};
    use proptest::prelude::*;

    fn limits(max_users: usize, max_municipalities: usize, max_units: usize) -> Limits {
        Limits { max_users, max_municipalities, max_units }
    }

    fn slot(unit: &str, municipality: u32, people: u32, impact: f64, phase: Phase) -> SlotInfo {
        SlotInfo {
            slot: Slot { unit: UnitId(unit.into()), part: None },
            unit: 0,
            municipality,
            people: (0..people).collect(),
            impact,
            phase,
        }
    }

    #[test]
    fn pilot_then_kinds_then_ascending_impact_within_limits() {
        let slots = vec![
            slot("a/Big", 0, 5, 50.0, Phase::Business),
            slot("a/IT", 0, 2, 90.0, Phase::Pilot),
            slot("a/Admins", 0, 1, 9.0, Phase::Kind(0, AccountKind::Admin)),
            slot("b/Small", 1, 2, 3.0, Phase::Business),
            slot("c/Small", 2, 2, 4.0, Phase::Business),
            slot("a/Mid", 0, 3, 10.0, Phase::Business),
        ];
        let a = assign(&slots, &limits(5, 2, 10), &BTreeMap::new());
        let names = |w: &Vec<usize>| w.iter().map(|&i| slots[i].slot.unit.0.as_str()).collect::<Vec<_>>();
        let waves: Vec<_> = a.waves.iter().map(names).collect();
        assert_eq!(
            waves,
            vec![vec!["a/IT"], vec!["a/Admins"], vec!["b/Small", "c/Small"], vec!["a/Mid"], vec!["a/Big"]]
        );
    }

    #[test]
    fn units_are_split_only_when_alone_too_large() {
        let dir = directory(
            &[
                ("a/X", AccountKind::Person, None),
                ("a/X", AccountKind::Person, None),
                ("a/X", AccountKind::Person, None),
                ("a/X", AccountKind::Person, None),
                ("a/X", AccountKind::Person, None),
                ("a/Y", AccountKind::Person, None),
                ("a/Y", AccountKind::Person, None),
            ],
            &[],
        );
        let mut s = settings();
        s.limits.max_users = 2;
        let impacts = crate::plan::impact::all(&dir, &s);
        let slots = slots(&dir, &impacts, &s);
        let parts: Vec<String> = slots.iter().map(|s| format!("{} {}", s.slot, s.people.len())).collect();
        assert_eq!(parts, ["a/X (part 1 of 3) 2", "a/X (part 2 of 3) 2", "a/X (part 3 of 3) 1", "a/Y 2"]);
    }

    #[test]
    fn kept_slots_stay_and_the_rest_fills_around_them() {
        let slots = vec![
            slot("a/1", 0, 2, 1.0, Phase::Business),
            slot("a/2", 0, 2, 2.0, Phase::Business),
            slot("a/3", 0, 2, 3.0, Phase::Business),
            slot("a/4", 0, 2, 4.0, Phase::Business),
        ];
        let mut kept = BTreeMap::new();
        kept.insert(3, Place { wave: 1, kept: Some(Kept::Pinned) });
        kept.insert(1, Place { wave: 9, kept: Some(Kept::Excluded) });
        let a = assign(&slots, &limits(4, 1, 10), &kept);
        assert_eq!(a.waves, vec![vec![3, 0], vec![2]]);
        assert_eq!(a.places[3], Place { wave: 1, kept: Some(Kept::Pinned) });
        assert_eq!(a.places[1], Place { wave: 2, kept: Some(Kept::Excluded) });
    }

    #[test]
    fn groups_come_with_their_first_member_and_links_with_the_later_side() {
        // p0 in a/X, p1 in a/Y (manager p0), p2 in b/Z. g0 {p1, p2}; g1 {g0}; g2 {} (empty).
        let dir = directory(
            &[
                ("a/X", AccountKind::Person, None),
                ("a/Y", AccountKind::Person, Some(0)),
                ("b/Z", AccountKind::Person, None),
            ],
            &[("G0", &[1, 2]), ("G1", &[]), ("G2", &[])],
        );
        let mut dir = dir;
        dir.groups[1].members.push(MemberRef::Group(0));
        dir.groups[2].municipalities = vec![1];
        let s = settings();
        let impacts = crate::plan::impact::all(&dir, &s);
        let slots = slots(&dir, &impacts, &s);
        // Waves: [a/X], [b/Z], [a/Y]
        let order = |u: &str| slots.iter().position(|s| s.slot.unit.0 == u).unwrap();
        let assignment = Assignment {
            waves: vec![vec![order("a/X")], vec![order("b/Z")], vec![order("a/Y")]],
            places: vec![Place { wave: 1, kept: None }; 3],
        };
        let sch = schedule(&dir, &slots, &assignment);
        // G2 is empty and from b: b's first wave, not the last wave (which is a's).
        assert_eq!(sch.group_wave, vec![Some(1), Some(1), Some(1)]);
        assert_eq!(sch.waves[1].memberships, vec![(0, MemberRef::Person(2)), (1, MemberRef::Group(0))]);
        assert_eq!(sch.waves[2].memberships, vec![(0, MemberRef::Person(1))]);
        assert_eq!(sch.waves[2].manager_links, vec![(1, 0)]);
        assert!(check(&dir, &sch).is_empty());
    }

    #[test]
    fn groups_without_people_come_in_their_own_municipalitys_first_wave() {
        // a/X in wave 1, b/Z in wave 2, c/Q excluded. G0 {} from b; G1 {G2}, G2 {G1} (a cycle of
        // group-only groups) from a; G3 {G0} from a and b; G4 {} from c (all excluded); G5
        // {p0, G0}: its people put it in wave 1, and G0's membership waits for wave 2.
        let mut dir = directory(
            &[
                ("a/X", AccountKind::Person, None),
                ("b/Z", AccountKind::Person, None),
                ("c/Q", AccountKind::Person, None),
            ],
            &[("G0", &[]), ("G1", &[]), ("G2", &[]), ("G3", &[]), ("G4", &[]), ("G5", &[0])],
        );
        dir.groups[1].members.push(MemberRef::Group(2));
        dir.groups[2].members.push(MemberRef::Group(1));
        dir.groups[3].members.push(MemberRef::Group(0));
        dir.groups[5].members.push(MemberRef::Group(0));
        for (g, of) in [(0, vec![1]), (1, vec![0]), (2, vec![0]), (3, vec![0, 1]), (4, vec![2]), (5, vec![0])] {
            dir.groups[g].municipalities = of;
        }
        let s = settings();
        let impacts = crate::plan::impact::all(&dir, &s);
        let slots = slots(&dir, &impacts, &s);
        let order = |u: &str| slots.iter().position(|s| s.slot.unit.0 == u).unwrap();
        let assignment = Assignment {
            waves: vec![vec![order("a/X")], vec![order("b/Z")]],
            places: vec![Place { wave: 1, kept: None }; 3],
        };
        let sch = schedule(&dir, &slots, &assignment);
        assert_eq!(sch.group_wave, vec![Some(1), Some(0), Some(0), Some(0), None, Some(0)]);
        assert_eq!(sch.unplanned_groups, 1);
        assert_eq!(sch.waves[1].memberships, vec![(3, MemberRef::Group(0)), (5, MemberRef::Group(0))]);
        assert!(check(&dir, &sch).is_empty());
    }

    proptest! {
        /// Wherever people are put (any wave for any unit, some excluded), every wave's
        /// memberships and manager links refer only to what exists by then.
        #[test]
        fn any_placement_schedules_without_forward_references(
            units in proptest::collection::vec(0u8..6, 1..40),
            managers in proptest::collection::vec(proptest::option::of(0usize..40), 40),
            groups in proptest::collection::vec(proptest::collection::vec(0usize..40, 0..8), 0..8),
            nested in proptest::collection::vec((0usize..8, 0usize..8), 0..6),
            waves in proptest::collection::vec(0u32..5, 6),
        ) {
            let names = ["a/A", "a/B", "b/C", "b/D", "c/E", "c/F"];
            let n = units.len();
            let people: Vec<(&str, AccountKind, Option<u32>)> = units.iter().enumerate()
                .map(|(i, u)| (names[*u as usize], AccountKind::Person, managers[i].filter(|m| *m < n).map(|m| m as u32)))
                .collect();
            let group_members: Vec<Vec<u32>> = groups.iter().map(|g| g.iter().filter(|p| **p < n).map(|p| *p as u32).collect()).collect();
            let group_refs: Vec<(&str, &[u32])> = group_members.iter().map(|m| ("G", m.as_slice())).collect();
            let mut dir = directory(&people, &group_refs);
            for (a, b) in nested {
                if a < dir.groups.len() && b < dir.groups.len() {
                    dir.groups[a].members.push(MemberRef::Group(b as u32));
                }
            }
            let s = settings();
            let impacts = crate::plan::impact::all(&dir, &s);
            let slots = slots(&dir, &impacts, &s);
            let mut kept = BTreeMap::new();
            for (i, sl) in slots.iter().enumerate() {
                let w = waves[sl.unit as usize % waves.len()];
                // Wave 0 stands for "excluded".
                let place = if w == 0 { Place { wave: 1, kept: Some(Kept::Excluded) } } else { Place { wave: w, kept: Some(Kept::Moved) } };
                kept.insert(i, place);
            }
            let a = assign(&slots, &limits(1000, 10, 100), &kept);
            let sch = schedule(&dir, &slots, &a);
            prop_assert!(check(&dir, &sch).is_empty(), "{:?}", check(&dir, &sch));
            // Every person in a wave exactly once, unless excluded.
            let created: usize = sch.waves.iter().map(|w| w.people.len()).sum();
            let excluded: usize = slots.iter().enumerate().filter(|(i, _)| a.places[*i].kept == Some(Kept::Excluded)).map(|(_, s)| s.people.len()).sum();
            prop_assert_eq!(created + excluded, n);
        }
    }
}
