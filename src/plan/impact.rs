//! A unit's impact: how much harm a failed migration of it would do, as a sum of named factors
//! the team can read back (`samla plan --explain UNIT`) and weigh in plan.toml.
//!
//! Every factor counts something a service desk would feel: accounts (weighted by kind, since
//! an admin or service account that fails stops more than one person), memberships in groups
//! that reach other units or municipalities (a mistake there spreads), manager links across
//! units (approval flows break), memberships that open critical systems, and the size of the
//! largest group the unit touches.

use super::directory::{MemberRef, PlanDirectory};
use super::settings::PlanSettings;
use crate::model::AccountKind;
use serde::Serialize;
use std::collections::BTreeMap;

/// What was counted for one unit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UnitCounts {
    pub accounts: usize,
    pub by_kind: BTreeMap<AccountKind, usize>,
    /// Memberships of the unit's accounts in groups with members in other units of the same
    /// municipality only.
    pub cross_unit_memberships: usize,
    /// Memberships in groups with members in other municipalities.
    pub cross_municipality_memberships: usize,
    /// Manager links between the unit and another unit (counted on both sides).
    pub cross_unit_manager_links: usize,
    /// Memberships in each critical system's groups, in plan.toml's order.
    pub critical_memberships: Vec<usize>,
    /// The largest group (by direct members) any of the unit's accounts is in.
    pub largest_group: Option<(String, usize)>,
}

/// One named factor of a unit's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    pub name: String,
    pub quantity: f64,
    pub weight: f64,
    pub points: f64,
    pub why: String,
}

/// A unit's impact score and the factors it is the sum of.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impact {
    pub unit: String,
    pub score: f64,
    pub counts: UnitCounts,
    pub factors: Vec<Factor>,
}

/// Counts every unit's factors in one pass over people, managers and memberships.
pub fn count(dir: &PlanDirectory, settings: &PlanSettings) -> Vec<UnitCounts> {
    let n_units = dir.units.len();
    let mut counts =
        vec![UnitCounts { critical_memberships: vec![0; settings.critical.len()], ..UnitCounts::default() }; n_units];
    for p in &dir.people {
        let c = &mut counts[p.unit as usize];
        c.accounts += 1;
        *c.by_kind.entry(p.kind).or_default() += 1;
        if let Some(m) = p.manager {
            let manager_unit = dir.people[m as usize].unit;
            if manager_unit != p.unit {
                c.cross_unit_manager_links += 1;
                counts[manager_unit as usize].cross_unit_manager_links += 1;
            }
        }
    }
    // Per group: how many units and municipalities its members come from (a stamp per unit
    // instead of a set per group keeps this linear in memberships).
    let mut unit_stamp = vec![u32::MAX; n_units];
    let mut municipality_stamp = vec![u32::MAX; dir.municipalities.len()];
    let mut largest: Vec<Option<(u32, usize)>> = vec![None; n_units];
    for (gi, g) in dir.groups.iter().enumerate() {
        let stamp = gi as u32;
        let (mut units, mut municipalities) = (0usize, 0usize);
        let member_units = || {
            g.members.iter().filter_map(|m| match m {
                MemberRef::Person(p) => Some(dir.people[*p as usize].unit),
                MemberRef::Group(_) => None,
            })
        };
        for u in member_units() {
            if unit_stamp[u as usize] != stamp {
                unit_stamp[u as usize] = stamp;
                units += 1;
                let m = dir.unit_municipality[u as usize] as usize;
                if municipality_stamp[m] != stamp {
                    municipality_stamp[m] = stamp;
                    municipalities += 1;
                }
            }
        }
        let systems: Vec<usize> = settings
            .critical
            .iter()
            .enumerate()
            .filter(|(_, c)| c.groups.iter().any(|glob| glob.matches(&g.name)))
            .map(|(i, _)| i)
            .collect();
        let size = g.members.len();
        for u in member_units() {
            let c = &mut counts[u as usize];
            if municipalities > 1 {
                c.cross_municipality_memberships += 1;
            } else if units > 1 {
                c.cross_unit_memberships += 1;
            }
            for &s in &systems {
                c.critical_memberships[s] += 1;
            }
            let best = &mut largest[u as usize];
            if best.is_none_or(|(_, n)| size > n) {
                *best = Some((gi as u32, size));
            }
        }
    }
    for (c, l) in counts.iter_mut().zip(largest) {
        c.largest_group = l.map(|(g, n)| (dir.groups[g as usize].name.clone(), n));
    }
    counts
}

/// The factors and score of one unit's counts.
pub fn impact(unit: &str, counts: &UnitCounts, settings: &PlanSettings) -> Impact {
    let w = &settings.weights;
    let mut factors = Vec::new();
    for (kind, n) in &counts.by_kind {
        let weight = w.per_kind.get(kind).copied().unwrap_or(1.0);
        factors.push(factor(
            format!("{} accounts", kind.as_str()),
            *n as f64,
            weight,
            format!("{n} {} account(s) created in the wave", kind.as_str()),
        ));
    }
    factors.push(factor(
        "cross-unit memberships".into(),
        counts.cross_unit_memberships as f64,
        w.cross_unit_membership,
        "memberships in groups that also have members in other units of the municipality".into(),
    ));
    factors.push(factor(
        "cross-municipality memberships".into(),
        counts.cross_municipality_memberships as f64,
        w.cross_municipality_membership,
        "memberships in groups that also have members in other municipalities (merged groups)".into(),
    ));
    factors.push(factor(
        "cross-unit manager links".into(),
        counts.cross_unit_manager_links as f64,
        w.cross_unit_manager_link,
        "manager links between this unit and another, in either direction".into(),
    ));
    for (system, n) in settings.critical.iter().zip(&counts.critical_memberships) {
        let globs: Vec<&str> = system.groups.iter().map(|g| g.text.as_str()).collect();
        factors.push(factor(
            format!("critical system {}", system.system),
            *n as f64,
            system.weight,
            format!("memberships in groups matching {}", globs.join(", ")),
        ));
    }
    let (largest_name, largest_size) = counts.largest_group.clone().unwrap_or_default();
    factors.push(factor(
        "largest group".into(),
        largest_size as f64,
        w.largest_group,
        if largest_name.is_empty() {
            "the unit's accounts are in no group".into()
        } else {
            format!("members of \"{largest_name}\", the largest group the unit's accounts are in")
        },
    ));
    // Rounded so the score printed, stored in wave files and compared is the same number.
    let score = round2(factors.iter().map(|f| f.points).sum());
    Impact { unit: unit.to_string(), score, counts: counts.clone(), factors }
}

fn factor(name: String, quantity: f64, weight: f64, why: String) -> Factor {
    Factor { name, quantity, weight, points: round2(quantity * weight), why }
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Every unit's impact, in the directory's unit order.
pub fn all(dir: &PlanDirectory, settings: &PlanSettings) -> Vec<Impact> {
    count(dir, settings).iter().zip(&dir.units).map(|(c, u)| impact(&u.0, c, settings)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testing::{directory, settings};

    #[test]
    fn factors_count_what_they_say() {
        // a/X: p0 (manager p2), p1 ; a/Y: p2 ; b/Z: p3. Groups: g0 {p0,p1} within a/X,
        // g1 {p0,p2} across units of a, g2 {p1,p3} across municipalities, Treserva {p0}.
        let dir = directory(
            &[
                ("a/X", AccountKind::Person, Some(2)),
                ("a/X", AccountKind::Admin, None),
                ("a/Y", AccountKind::Person, None),
                ("b/Z", AccountKind::Service, None),
            ],
            &[("Lokal", &[0, 1]), ("Förvaltning", &[0, 2]), ("Samverkan", &[1, 3]), ("KLP-Behörighet Treserva", &[0])],
        );
        let s = settings();
        let counts = count(&dir, &s);
        let x = &counts[dir.unit_index("a/X").unwrap() as usize];
        assert_eq!(x.accounts, 2);
        assert_eq!(x.by_kind[&AccountKind::Admin], 1);
        assert_eq!(x.cross_unit_memberships, 1);
        assert_eq!(x.cross_municipality_memberships, 1);
        assert_eq!(x.cross_unit_manager_links, 1);
        assert_eq!(x.critical_memberships, vec![1]);
        assert_eq!(x.largest_group.as_ref().map(|(_, n)| *n), Some(2));
        let y = &counts[dir.unit_index("a/Y").unwrap() as usize];
        assert_eq!(y.cross_unit_manager_links, 1, "the manager's side counts too");
        let i = impact("a/X", x, &s);
        let sum: f64 = i.factors.iter().map(|f| f.points).sum();
        assert!((i.score - round2(sum)).abs() < 1e-9);
        // person 1 + admin 4 + 0.05 + 0.1 + manager 1 + Treserva 3 + largest 2 * 0.01
        assert!((i.score - 9.17).abs() < 1e-9, "{}", i.score);
    }
}
