//! Making a plan from the directory, plan.toml and the wave files already there, and telling
//! whether a wave file is still current.

use super::directory::PlanDirectory;
use super::files::{PlanInputs, UnitEntry, WaveDraft, WaveFile, WaveFileError, digest};
use super::impact::{self, Impact};
use super::settings::PlanSettings;
use super::waves::{self, Assignment, Kept, Phase, Place, Schedule, Slot, SlotInfo};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;

/// One planned wave.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedWave {
    pub number: u32,
    pub name: String,
    /// The name samla would give it (differs from `name` when a person renamed the wave).
    pub planned_name: String,
    /// Slot indexes, in placement order.
    pub slots: Vec<usize>,
    /// Excluded slots listed in this wave's file.
    pub excluded: Vec<usize>,
}

/// A whole plan: every slot, where it went, what each wave does.
#[derive(Debug, Clone)]
pub struct Plan {
    pub impacts: Vec<Impact>,
    pub slots: Vec<SlotInfo>,
    pub assignment: Assignment,
    pub schedule: Schedule,
    pub waves: Vec<PlannedWave>,
    pub digests: Vec<String>,
    /// What re-planning noticed (units that vanished, decisions kept).
    pub notices: Vec<String>,
}

/// Plans `dir`, keeping what people decided in `existing` wave files. A unit in a file that the
/// directory does not have is refused when the file claims the same inputs (it can only be a
/// typo or an addition by hand), and dropped with a notice when the inputs changed (the unit
/// was renamed, emptied or split differently since).
pub fn make(
    dir: &PlanDirectory,
    settings: &PlanSettings,
    inputs: &PlanInputs,
    existing: &[WaveFile],
) -> Result<Plan, WaveFileError> {
    let impacts = impact::all(dir, settings);
    let slots = waves::slots(dir, &impacts, settings);
    let index: HashMap<&Slot, usize> = slots.iter().enumerate().map(|(i, s)| (&s.slot, i)).collect();
    let mut kept = BTreeMap::new();
    let mut notices = Vec::new();
    for file in existing {
        for entry in &file.units {
            let Some(&i) = index.get(&entry.slot) else {
                if file.inputs == *inputs {
                    super::files::check_units(std::slice::from_ref(file), &|s| index.contains_key(s))?;
                }
                notices.push(format!(
                    "{}: unit {} is no longer in the directory as planned; its accounts are planned afresh",
                    file.place(entry),
                    entry.slot
                ));
                continue;
            };
            let why = if entry.exclude {
                Some(Kept::Excluded)
            } else if entry.pinned {
                Some(Kept::Pinned)
            } else if entry.planned_wave != file.number {
                notices.push(format!(
                    "{}: unit {} was moved by hand from wave {} to wave {}: kept there (now pinned)",
                    file.place(entry),
                    entry.slot,
                    entry.planned_wave,
                    file.number
                ));
                Some(Kept::Moved)
            } else {
                None
            };
            if let Some(why) = why {
                kept.insert(i, Place { wave: file.number, kept: Some(why) });
            }
        }
    }
    finish(dir, settings, impacts, slots, &kept, existing, notices)
}

/// The plan exactly as the wave files say, for running a wave: every unit where its file puts
/// it. Refuses files numbered with gaps (a wave file removed by hand): re-plan first.
pub fn from_files(dir: &PlanDirectory, settings: &PlanSettings, files: &[WaveFile]) -> Result<Plan, WaveFileError> {
    for (i, f) in files.iter().enumerate() {
        if f.number as usize != i + 1 {
            return Err(WaveFileError::At {
                path: f.path.clone(),
                line: 1,
                column: 1,
                message: format!(
                    "wave files must be numbered 1, 2, 3, ...; this is wave {} after wave {i}: run `samla plan`",
                    f.number
                ),
            });
        }
    }
    let impacts = impact::all(dir, settings);
    let slots = waves::slots(dir, &impacts, settings);
    let index: HashMap<&Slot, usize> = slots.iter().enumerate().map(|(i, s)| (&s.slot, i)).collect();
    super::files::check_units(files, &|s| index.contains_key(s))?;
    let mut kept = BTreeMap::new();
    for f in files {
        for u in &f.units {
            if let Some(&i) = index.get(&u.slot) {
                let why = if u.exclude { Kept::Excluded } else { Kept::Pinned };
                kept.insert(i, Place { wave: f.number, kept: Some(why) });
            }
        }
    }
    if let Some(i) = (0..slots.len()).find(|i| !kept.contains_key(i)) {
        return Err(WaveFileError::At {
            path: settings.file.clone(),
            line: 1,
            column: 1,
            message: format!("unit {} is in no wave file: run `samla plan`", slots[i].slot),
        });
    }
    finish(dir, settings, impacts, slots, &kept, files, Vec::new())
}

/// Assigns, schedules and checks, naming waves as the files do where a person renamed them.
fn finish(
    dir: &PlanDirectory,
    settings: &PlanSettings,
    impacts: Vec<Impact>,
    slots: Vec<SlotInfo>,
    kept: &BTreeMap<usize, Place>,
    existing: &[WaveFile],
    notices: Vec<String>,
) -> Result<Plan, WaveFileError> {
    let assignment = waves::assign(&slots, &settings.limits, kept);
    let schedule = waves::schedule(dir, &slots, &assignment);
    let problems = waves::check(dir, &schedule);
    if let Some(first) = problems.first() {
        // Unreachable by construction; refusing beats writing a plan that refers forward.
        return Err(WaveFileError::At {
            path: settings.file.clone(),
            line: 1,
            column: 1,
            message: format!("internal: the schedule refers forward: {first}"),
        });
    }
    let renamed: BTreeMap<u32, &WaveFile> =
        existing.iter().filter(|f| f.name != f.planned_name).map(|f| (f.number, f)).collect();
    let defaults: Vec<String> = assignment.waves.iter().map(|members| default_name(members, &slots, dir)).collect();
    let taken: std::collections::BTreeSet<&str> = renamed.values().map(|f| f.name.as_str()).collect();
    let mut planned: Vec<PlannedWave> = unique_names(&defaults, &taken)
        .into_iter()
        .zip(&assignment.waves)
        .enumerate()
        .map(|(w, (planned_name, members))| {
            let number = w as u32 + 1;
            let name = renamed.get(&number).map_or_else(|| planned_name.clone(), |f| f.name.clone());
            PlannedWave { number, name, planned_name, slots: members.clone(), excluded: Vec::new() }
        })
        .collect();
    for (i, place) in assignment.places.iter().enumerate() {
        if place.kept == Some(Kept::Excluded)
            && let Some(w) = planned.get_mut(place.wave.saturating_sub(1) as usize)
        {
            w.excluded.push(i);
        }
    }
    let digests = slots.iter().map(|s| digest(s.people.iter().map(|&p| &dir.people[p as usize].anchor))).collect();
    Ok(Plan { impacts, slots, assignment, schedule, waves: planned, digests, notices })
}

/// Makes the planner's names unique: the first wave of a name keeps it, the later ones get
/// "-2", "-3" and so on ("pilot", "pilot-2", "pilot-3"), skipping any name in `taken` (names
/// people gave waves, which are kept as they are).
fn unique_names(defaults: &[String], taken: &std::collections::BTreeSet<&str>) -> Vec<String> {
    let mut used: std::collections::BTreeSet<String> = taken.iter().map(|s| s.to_string()).collect();
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    defaults
        .iter()
        .map(|base| {
            let n = seen.entry(base.as_str()).or_insert(0);
            *n += 1;
            let mut name = if *n == 1 { base.clone() } else { format!("{base}-{n}") };
            while *n > 1 && used.contains(&name) {
                *n += 1;
                name = format!("{base}-{n}");
            }
            used.insert(name.clone());
            name
        })
        .collect()
}

/// "pilot", "admin-accounts", or the municipalities of the wave ("bjuv-perstorp").
fn default_name(members: &[usize], slots: &[SlotInfo], dir: &PlanDirectory) -> String {
    let phases: Vec<Phase> = members.iter().map(|&i| slots[i].phase).collect();
    match phases.first() {
        Some(Phase::Pilot) if phases.iter().all(|p| *p == Phase::Pilot) => "pilot".into(),
        Some(Phase::Kind(_, k)) if phases.iter().all(|p| p == &phases[0]) => format!("{}-accounts", k.as_str()),
        _ => {
            let mut names: Vec<&str> =
                members.iter().map(|&i| dir.municipalities[slots[i].municipality as usize].as_str()).collect();
            names.sort_unstable();
            names.dedup();
            if names.is_empty() { "excluded".into() } else { names.join("-") }
        }
    }
}

/// Counts of one wave, for files, tables and reports.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WaveCounts {
    pub accounts: usize,
    pub accounts_by_municipality: BTreeMap<String, usize>,
    pub units: usize,
    pub groups_created: usize,
    pub memberships: usize,
    pub manager_links: usize,
    pub impact: f64,
}

impl Plan {
    pub fn counts(&self, wave: &PlannedWave, dir: &PlanDirectory) -> WaveCounts {
        let work = &self.schedule.waves[wave.number as usize - 1];
        let mut c = WaveCounts {
            units: wave.slots.len(),
            groups_created: work.groups.len(),
            memberships: work.memberships.len(),
            manager_links: work.manager_links.len(),
            ..WaveCounts::default()
        };
        for m in &dir.municipalities {
            c.accounts_by_municipality.insert(m.clone(), 0);
        }
        for &i in &wave.slots {
            let s = &self.slots[i];
            c.accounts += s.people.len();
            *c.accounts_by_municipality.entry(dir.municipalities[s.municipality as usize].clone()).or_default() +=
                s.people.len();
            c.impact += s.impact;
        }
        c.impact = impact::round2(c.impact);
        c
    }

    /// The wave files' contents.
    pub fn drafts(&self, dir: &PlanDirectory, inputs: &PlanInputs, planned_at: &str) -> Vec<WaveDraft> {
        let of = self.waves.len() as u32;
        self.waves
            .iter()
            .map(|w| {
                let c = self.counts(w, dir);
                let per: Vec<String> = c
                    .accounts_by_municipality
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(m, n)| format!("{m} {n}"))
                    .collect();
                let summary = vec![
                    format!(
                        "{} ({}) in {}, impact {}.",
                        count(c.accounts, "account"),
                        per.join(", "),
                        count(c.units, "unit"),
                        c.impact
                    ),
                    format!(
                        "Creates {}; adds {} and {} (to people and groups of this wave or earlier ones).",
                        count(c.groups_created, "group"),
                        count(c.memberships, "membership"),
                        count(c.manager_links, "manager link")
                    ),
                ];
                let mut units = Vec::new();
                let mut notes = Vec::new();
                for &i in w.slots.iter().chain(&w.excluded) {
                    let s = &self.slots[i];
                    let place = self.assignment.places[i];
                    let kinds = kinds_text(s, dir);
                    let note = match place.kept {
                        Some(Kept::Pinned) => "pinned here",
                        Some(Kept::Moved) => "moved here by hand; pinned so re-planning keeps it",
                        Some(Kept::Excluded) => "excluded: in no wave",
                        None => "",
                    };
                    notes.push(format!(
                        "{} ({kinds}), impact {}{}{note}",
                        count(s.people.len(), "account"),
                        s.impact,
                        if note.is_empty() { "" } else { "; " }
                    ));
                    units.push(UnitEntry {
                        slot: s.slot.clone(),
                        accounts: s.people.len(),
                        digest: self.digests[i].clone(),
                        impact: s.impact,
                        planned_wave: w.number,
                        pinned: matches!(place.kept, Some(Kept::Pinned | Kept::Moved)),
                        exclude: place.kept == Some(Kept::Excluded),
                        line: 0,
                    });
                }
                WaveDraft {
                    number: w.number,
                    of,
                    name: w.name.clone(),
                    planned_name: w.planned_name.clone(),
                    planned_at: planned_at.to_string(),
                    inputs: inputs.clone(),
                    summary,
                    units,
                    unit_notes: notes,
                }
            })
            .collect()
    }
}

/// "1 account", "2 accounts".
fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn kinds_text(s: &SlotInfo, dir: &PlanDirectory) -> String {
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for &p in &s.people {
        *by_kind.entry(dir.people[p as usize].kind.as_str()).or_default() += 1;
    }
    by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
}

/// Each slot of the directory now, with its account count and digest, for [`staleness`].
pub fn current_slots(dir: &PlanDirectory, settings: &PlanSettings) -> HashMap<Slot, (usize, String)> {
    let impacts = impact::all(dir, settings);
    waves::slots(dir, &impacts, settings)
        .into_iter()
        .map(|s| {
            let d = digest(s.people.iter().map(|&p| &dir.people[p as usize].anchor));
            (s.slot, (s.people.len(), d))
        })
        .collect()
}

/// Why a wave file no longer matches its inputs; empty when it is current. `slots` maps the
/// current directory's slots to their account count and digest ([`current_slots`]).
pub fn staleness(file: &WaveFile, current: &PlanInputs, slots: &HashMap<Slot, (usize, String)>) -> Vec<String> {
    let mut why = input_changes(&file.inputs, current);
    // With the same inputs the same plan comes out: a unit missing now was never in it.
    let same_inputs = why.is_empty();
    for u in &file.units {
        match slots.get(&u.slot) {
            None if same_inputs => why.push(format!(
                "unit {} is not in the directory its inputs give (the wave file was edited or comes from another plan)",
                u.slot
            )),
            None => why.push(format!("unit {} is no longer in the directory", u.slot)),
            Some((n, _)) if *n != u.accounts => why.push(format!("unit {}: {} accounts, now {n}", u.slot, u.accounts)),
            Some((_, d)) if *d != u.digest => why.push(format!("unit {}: other accounts than planned", u.slot)),
            _ => {}
        }
    }
    why
}

/// Refuses a unit of `file` that the directory does not have while the file's inputs are the
/// current ones (then it was added or mistyped by hand, not left behind by a change), at its
/// file:line:column; with other inputs the unit only makes the wave stale ([`staleness`]).
pub fn check_current_units(
    file: &WaveFile,
    current: &PlanInputs,
    slots: &HashMap<Slot, (usize, String)>,
) -> Result<(), WaveFileError> {
    if file.inputs != *current {
        return Ok(());
    }
    super::files::check_units(std::slice::from_ref(file), &|s: &Slot| slots.contains_key(s))
}

/// What differs between two sets of inputs, in words.
pub fn input_changes(was: &PlanInputs, now: &PlanInputs) -> Vec<String> {
    let mut why = Vec::new();
    let short = |h: &str| h.get(..12).unwrap_or(h).to_string();
    for (m, h) in &was.snapshots {
        match now.snapshots.get(m) {
            Some(n) if n != h => why.push(format!("{m}'s snapshot changed ({} -> {})", short(h), short(n))),
            None => why.push(format!("{m} has no snapshot any more")),
            _ => {}
        }
    }
    for m in now.snapshots.keys().filter(|m| !was.snapshots.contains_key(*m)) {
        why.push(format!("{m} was added as a source"));
    }
    if was.mappings != now.mappings {
        why.push(format!("the mapping files changed ({} -> {})", short(&was.mappings), short(&now.mappings)));
    }
    if was.plan_settings != now.plan_settings {
        why.push("plan.toml changed".into());
    }
    if was.unified != now.unified {
        why.push(format!("the unified directory changed ({} -> {})", short(&was.unified), short(&now.unified)));
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AccountKind;
    use crate::plan::files::parse;
    use crate::plan::testing::{directory, settings};

    fn sample() -> PlanDirectory {
        let mut people = Vec::new();
        for (unit, n) in [("a/IT", 2), ("a/Skola", 5), ("a/Vård", 3), ("b/Skola", 4), ("b/Kultur", 1)] {
            for _ in 0..n {
                people.push((unit, AccountKind::Person, None));
            }
        }
        directory(&people, &[("Alla", &[0, 3, 8, 12]), ("B-Skola", &[10, 11])])
    }

    fn inputs() -> PlanInputs {
        PlanInputs {
            unified: "u1".into(),
            mappings: "m1".into(),
            plan_settings: "p1".into(),
            snapshots: BTreeMap::new(),
        }
    }

    fn files_of(plan: &Plan, dir: &PlanDirectory, inputs: &PlanInputs) -> Vec<WaveFile> {
        plan.drafts(dir, inputs, "t")
            .iter()
            .map(|d| parse(std::path::Path::new(&d.file_name()), &crate::plan::files::render(d)).unwrap())
            .collect()
    }

    fn layout(plan: &Plan) -> Vec<Vec<String>> {
        plan.waves.iter().map(|w| w.slots.iter().map(|&i| plan.slots[i].slot.to_string()).collect()).collect()
    }

    #[test]
    fn replanning_unchanged_inputs_gives_the_same_files() {
        let dir = sample();
        let mut s = settings();
        s.limits.max_users = 6;
        let first = make(&dir, &s, &inputs(), &[]).unwrap();
        let files = files_of(&first, &dir, &inputs());
        let again = make(&dir, &s, &inputs(), &files).unwrap();
        assert_eq!(layout(&first), layout(&again));
        assert_eq!(files_of(&again, &dir, &inputs()), files);
        assert_eq!(layout(&first)[0], ["a/IT"], "the pilot comes first");
    }

    #[test]
    fn planned_wave_names_are_unique_and_a_persons_name_is_kept() {
        // Three IT units over a limit of two accounts: the pilot takes three waves.
        let mut people = Vec::new();
        for (unit, n) in [("a/IT", 2), ("b/IT", 2), ("c/IT", 2), ("a/Skola", 2), ("b/Skola", 2)] {
            for _ in 0..n {
                people.push((unit, AccountKind::Person, None));
            }
        }
        let dir = directory(&people, &[]);
        let mut s = settings();
        s.limits.max_users = 2;
        let plan = make(&dir, &s, &inputs(), &[]).unwrap();
        let names: Vec<&str> = plan.waves.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names[..3], ["pilot", "pilot-2", "pilot-3"], "{names:?}");
        let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        // Replanning keeps them; a name a person gave is kept even if it repeats one.
        let mut files = files_of(&plan, &dir, &inputs());
        assert_eq!(files[1].path, std::path::Path::new("02-pilot-2.toml"));
        files[2].name = "pilot".into();
        let again = make(&dir, &s, &inputs(), &files).unwrap();
        let names: Vec<&str> = again.waves.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names[..3], ["pilot", "pilot-2", "pilot"], "{names:?}");
    }

    #[test]
    fn moved_and_renamed_survive_replanning() {
        let dir = sample();
        let mut s = settings();
        s.limits.max_users = 6;
        let first = make(&dir, &s, &inputs(), &[]).unwrap();
        let mut files = files_of(&first, &dir, &inputs());
        // A person moves the last wave's first unit into wave 2 and renames wave 2.
        let last = files.len() - 1;
        let moved = files[last].units.remove(0);
        let moved_slot = moved.slot.clone();
        files[1].units.push(moved);
        files[1].name = "Vår egen våg".into();
        let again = make(&dir, &s, &inputs(), &files).unwrap();
        let w2 = &again.waves[1];
        assert_eq!(w2.name, "Vår egen våg");
        assert!(w2.slots.iter().any(|&i| again.slots[i].slot == moved_slot));
        assert!(again.notices.iter().any(|n| n.contains("moved by hand")), "{:?}", again.notices);
        // Written back as pinned: a third plan keeps it without the old record.
        let third = make(&dir, &s, &inputs(), &files_of(&again, &dir, &inputs())).unwrap();
        assert_eq!(layout(&third), layout(&again));
    }

    #[test]
    fn an_unknown_unit_is_refused_unless_the_inputs_changed() {
        let dir = sample();
        let s = settings();
        let first = make(&dir, &s, &inputs(), &[]).unwrap();
        let mut files = files_of(&first, &dir, &inputs());
        files[0].units[0].slot.unit.0 = "a/Påhittad".into();
        files[0].units[0].line = 30;
        let e = make(&dir, &s, &inputs(), &files).unwrap_err().to_string();
        assert!(e.contains(":30:") && e.contains("unknown unit a/Påhittad"), "{e}");
        let changed = PlanInputs { unified: "u2".into(), ..inputs() };
        let again = make(&dir, &s, &changed, &files).unwrap();
        assert!(again.notices.iter().any(|n| n.contains("a/Påhittad")));
    }

    #[test]
    fn staleness_says_what_changed() {
        let dir = sample();
        let s = settings();
        let plan = make(&dir, &s, &inputs(), &[]).unwrap();
        let files = files_of(&plan, &dir, &inputs());
        let current: HashMap<Slot, (usize, String)> =
            plan.slots.iter().zip(&plan.digests).map(|(s, d)| (s.slot.clone(), (s.people.len(), d.clone()))).collect();
        assert!(staleness(&files[0], &inputs(), &current).is_empty());
        let mut grown = current.clone();
        let first = files[0].units[0].slot.clone();
        grown.insert(first.clone(), (99, "x".into()));
        let now = PlanInputs { plan_settings: "p2".into(), ..inputs() };
        let why = staleness(&files[0], &now, &grown);
        assert!(why.contains(&"plan.toml changed".to_string()), "{why:?}");
        assert!(why.iter().any(|w| w.contains(&format!("unit {first}: 2 accounts, now 99"))), "{why:?}");

        // A unit gone: after the inputs changed it left the directory; with the same inputs
        // it was never there, so the file was edited.
        let mut gone = current.clone();
        gone.remove(&first);
        let why = staleness(&files[0], &now, &gone);
        assert!(why.contains(&format!("unit {first} is no longer in the directory")), "{why:?}");
        let why = staleness(&files[0], &inputs(), &gone);
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(why[0].contains("is not in the directory its inputs give (the wave file was edited"), "{why:?}");
    }
}
