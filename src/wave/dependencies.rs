//! Dependencies between waves: a wave's renders refer to objects other waves create (members
//! added to a merged group an earlier wave created, a manager in an earlier wave). The plan
//! says which wave creates each object ([`crate::render::ObjectRef::wave`], the schedule's
//! person and group waves); the journal says which waves are in a target.
//!
//! - A dry-run against a target and a run are refused, before anything is sent, when the wave
//!   refers to objects of a wave that is not in the target (never run there, or rolled back),
//!   naming that wave and an example object ([`required_in_target`]).
//! - A rollback is refused when a later wave in the target refers to the wave's objects,
//!   unless `--cascade` names every such wave: they are then rolled back first, newest first
//!   ([`super::rollback`]).

use super::error::WaveError;
use crate::journal::{RunKind, RunRow};
use crate::plan::directory::MemberRef;
use crate::plan::make::Plan;
use crate::render::WaveContent;
use crate::state::State;
use std::collections::{BTreeMap, BTreeSet};

/// Whether a wave is in a target, as the journal tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// No run of the wave against the target.
    NeverRun,
    /// A rollback of the whole wave (run `run`) came after its newest run.
    RolledBack { run: i64 },
    /// Run there (its newest run `run`), and not rolled back since.
    In { run: i64 },
}

impl std::fmt::Display for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Presence::NeverRun => write!(f, "never run there"),
            Presence::RolledBack { run } => write!(f, "rolled back (run {run})"),
            Presence::In { run } => write!(f, "run there (run {run})"),
        }
    }
}

/// Where wave `wave` stands in `target`, from its runs (oldest first).
pub fn presence_in(runs: &[RunRow]) -> Presence {
    let Some(last) = runs.iter().rposition(|r| r.kind == RunKind::Run) else { return Presence::NeverRun };
    // A rollback of one municipality leaves the others' objects: the wave is still there.
    let whole = |r: &RunRow| r.summary.as_ref().is_none_or(|s| s["municipality"].as_str().is_none());
    match runs[last + 1..].iter().rev().find(|r| r.kind == RunKind::Rollback && whole(r)) {
        Some(rollback) => Presence::RolledBack { run: rollback.id },
        None => Presence::In { run: runs[last].id },
    }
}

/// Where wave `wave` stands in `target`.
pub fn presence(state: &State, wave: u32, target: &str) -> Result<Presence, WaveError> {
    Ok(presence_in(&state.runs(wave, Some(target))?))
}

/// The other waves whose objects `content` refers to, each with an example object (its
/// userPrincipalName or mailNickname).
pub fn referred(content: &WaveContent) -> BTreeMap<u32, String> {
    let mut out: BTreeMap<u32, String> = BTreeMap::new();
    for r in content.refs.values().filter(|r| r.wave != content.number && r.wave != 0) {
        out.entry(r.wave).or_insert_with(|| r.cloud_name.clone());
    }
    out
}

/// The other waves of `plan` that refer to objects wave `number` creates: they add members to
/// its groups or its people to groups, or link managers to or from its people.
pub fn referrers(plan: &Plan, number: u32) -> BTreeSet<u32> {
    let ours = |w: Option<u32>| w.is_some_and(|w| w + 1 == number);
    let person = |p: u32| ours(plan.schedule.person_wave.get(p as usize).copied().flatten());
    let group = |g: u32| ours(plan.schedule.group_wave.get(g as usize).copied().flatten());
    let mut out = BTreeSet::new();
    for (i, work) in plan.schedule.waves.iter().enumerate() {
        let wave = i as u32 + 1;
        if wave == number {
            continue;
        }
        let members = work.memberships.iter().any(|&(g, m)| {
            group(g)
                || match m {
                    MemberRef::Person(p) => person(p),
                    MemberRef::Group(h) => group(h),
                }
        });
        if members || work.manager_links.iter().any(|&(p, m)| person(p) || person(m)) {
            out.insert(wave);
        }
    }
    out
}

/// Refuses when `content` refers to objects of a wave that is not in `target`, naming each
/// such wave, where it stands and an example object.
pub fn required_in_target(state: &State, content: &WaveContent, target: &str) -> Result<(), WaveError> {
    let mut missing = Vec::new();
    for (wave, example) in referred(content) {
        let presence = presence(state, wave, target)?;
        if !matches!(presence, Presence::In { .. }) {
            missing.push(format!("wave {wave} ({presence}; e.g. {example})"));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(WaveError::DependsOnMissing { wave: content.number, target: target.to_string(), missing: missing.join(", ") })
}

/// Of `referrers`, the waves in `target`: those a rollback of the wave they refer to would
/// leave pointing at nothing.
pub fn dependents_in_target(
    state: &State,
    referrers: &BTreeSet<u32>,
    target: &str,
) -> Result<BTreeMap<u32, Presence>, WaveError> {
    let mut out = BTreeMap::new();
    for &w in referrers {
        let p = presence(state, w, target)?;
        if matches!(p, Presence::In { .. }) {
            out.insert(w, p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::RunStatus;

    fn row(id: i64, kind: RunKind, municipality: Option<&str>) -> RunRow {
        RunRow {
            id,
            wave: 1,
            wave_name: "pilot".into(),
            wave_hash: String::new(),
            target: "lab".into(),
            kind,
            operator: String::new(),
            host: String::new(),
            command: String::new(),
            started_at: String::new(),
            finished_at: None,
            status: RunStatus::Completed,
            summary: Some(serde_json::json!({ "municipality": municipality })),
            identity: None,
            operations: Vec::new(),
        }
    }

    #[test]
    fn a_wave_is_in_a_target_from_its_newest_run_until_a_whole_rollback() {
        assert_eq!(presence_in(&[]), Presence::NeverRun);
        let run = row(1, RunKind::Run, None);
        assert_eq!(presence_in(std::slice::from_ref(&run)), Presence::In { run: 1 });
        let one = row(2, RunKind::Rollback, Some("bjuv"));
        assert_eq!(presence_in(&[run.clone(), one.clone()]), Presence::In { run: 1 });
        let all = row(3, RunKind::Rollback, None);
        assert_eq!(presence_in(&[run.clone(), one, all.clone()]), Presence::RolledBack { run: 3 });
        assert_eq!(presence_in(&[run, all, row(4, RunKind::Run, None)]), Presence::In { run: 4 });
    }
}
