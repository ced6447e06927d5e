//! Whether a snapshot may be used: a snapshot that shrank beyond its source's limit against
//! the previous accepted one of its municipality (an interrupted export, a wrong base DN, a
//! filter gone wrong) is stored complete but held, and nothing maps, plans or runs from it
//! until someone accepts it. Everything that picks "the latest snapshot" of a municipality
//! picks the latest accepted one ([`super::State::latest_snapshot`]).

use super::tally::SnapshotId;
use crate::error::{Classified, ExitClass};
use serde::{Deserialize, Serialize};

/// Whether a snapshot is in use.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Acceptance {
    /// In use: the first of its municipality, within its source's limit, or stored before
    /// samla held snapshots.
    Accepted,
    /// Shrank beyond its limit and someone accepted it (`samla snapshots accept`, or
    /// `samla discover --accept-shrink`).
    AcceptedShrink { shrink: Shrinkage, by: String, at: String },
    /// Shrank beyond its limit: stored complete, used by nothing until accepted.
    Held { shrink: Shrinkage },
}

impl Acceptance {
    /// The text stored in the `acceptance` column.
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Acceptance::Accepted => "accepted",
            Acceptance::AcceptedShrink { .. } => "accepted_shrink",
            Acceptance::Held { .. } => "held",
        }
    }

    pub fn is_held(&self) -> bool {
        matches!(self, Acceptance::Held { .. })
    }
}

impl std::fmt::Display for Acceptance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Acceptance::Accepted => write!(f, "accepted"),
            Acceptance::AcceptedShrink { shrink, by, at } => write!(f, "accepted by {by} at {at}: {}", shrink.counts()),
            Acceptance::Held { shrink } => write!(f, "held: {shrink}"),
        }
    }
}

/// What shrank beyond the limit, against which snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shrinkage {
    /// The source's `max_shrink` when the snapshot was taken.
    pub limit: f64,
    /// The accepted snapshot it was compared with.
    pub against: SnapshotId,
    /// Each count that shrank beyond the limit.
    pub shrunk: Vec<Shrunk>,
}

impl Shrinkage {
    /// `users 792 -> 450, groups 120 -> 0`.
    fn counts(&self) -> String {
        self.shrunk
            .iter()
            .map(|s| format!("{} {} -> {}", s.count.as_str(), s.before, s.after))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Shrinkage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} against snapshot {}, more than max_shrink = {} ({} %)",
            self.counts(),
            self.against.0,
            self.limit,
            percent(self.limit)
        )
    }
}

/// One count that shrank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shrunk {
    pub count: Counted,
    pub before: u64,
    pub after: u64,
}

/// The counts of a snapshot that the guard compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counted {
    Users,
    Groups,
    Memberships,
}

impl Counted {
    pub fn as_str(self) -> &'static str {
        match self {
            Counted::Users => "users",
            Counted::Groups => "groups",
            Counted::Memberships => "memberships",
        }
    }
}

/// The counts compared, of one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub users: u64,
    pub groups: u64,
    pub memberships: u64,
}

/// How discover accepts a new snapshot: the source's limit, and who accepts any shrink at
/// once (`--accept-shrink`).
#[derive(Debug, Clone, PartialEq)]
pub struct ShrinkGuard {
    pub limit: f64,
    pub accept_by: Option<String>,
}

/// The counts of `after` that shrank beyond `limit` against `before`, or `None` when none did.
pub fn shrinkage(before: (SnapshotId, Counts), after: Counts, limit: f64) -> Option<Shrinkage> {
    let (against, before) = before;
    let shrunk: Vec<Shrunk> = [
        (Counted::Users, before.users, after.users),
        (Counted::Groups, before.groups, after.groups),
        (Counted::Memberships, before.memberships, after.memberships),
    ]
    .into_iter()
    .filter(|&(_, before, after)| after < before && (before - after) as f64 > limit * before as f64)
    .map(|(count, before, after)| Shrunk { count, before, after })
    .collect();
    (!shrunk.is_empty()).then_some(Shrinkage { limit, against, shrunk })
}

/// A share as a percentage without needless decimals: `0.1` is `10`, `0.125` is `12.5`.
fn percent(share: f64) -> String {
    let p = (share * 1000.0).round() / 10.0;
    if p.fract() == 0.0 { format!("{p:.0}") } else { format!("{p}") }
}

/// A snapshot discover stored but held: the work is not done until someone looks.
#[derive(Debug, thiserror::Error)]
#[error(
    "snapshot {id} is held, not used: {shrink}; snapshot {} stays in use. Check the source, then accept it with `samla snapshots accept {id}` (or discover again with --accept-shrink)",
    shrink.against.0,
    id = id.0
)]
pub struct SnapshotHeld {
    pub id: SnapshotId,
    pub shrink: Shrinkage,
}

impl Classified for SnapshotHeld {
    /// The source was read, but what it gave must not be used as it is.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Work
    }
}

/// Why `samla snapshots accept ID` accepted nothing.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("there is no snapshot {0} (see `samla snapshots`)")]
    Unknown(i64),
    #[error("snapshot {id} is not held ({acceptance}); only a held snapshot can be accepted")]
    NotHeld { id: i64, acceptance: String },
    #[error(transparent)]
    State(#[from] super::StateError),
}

impl Classified for AcceptError {
    fn exit_class(&self) -> ExitClass {
        match self {
            AcceptError::Unknown(_) | AcceptError::NotHeld { .. } => ExitClass::Usage,
            AcceptError::State(e) => e.exit_class(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(users: u64, groups: u64, memberships: u64) -> Counts {
        Counts { users, groups, memberships }
    }

    #[test]
    fn only_counts_beyond_the_limit_are_held() {
        let before = (SnapshotId(3), counts(100, 10, 0));
        assert_eq!(shrinkage(before, counts(100, 10, 0), 0.10), None);
        assert_eq!(shrinkage(before, counts(200, 20, 5), 0.10), None, "growing");
        assert_eq!(shrinkage(before, counts(90, 10, 0), 0.10), None, "exactly the limit");
        let held = shrinkage(before, counts(94, 10, 0), 0.05).unwrap();
        assert_eq!(held.shrunk, vec![Shrunk { count: Counted::Users, before: 100, after: 94 }]);
        assert_eq!(shrinkage(before, counts(94, 10, 0), 0.20), None);
        let cut = shrinkage(before, counts(50, 0, 0), 0.10).unwrap();
        assert_eq!(
            cut.to_string(),
            "users 100 -> 50, groups 10 -> 0 against snapshot 3, more than max_shrink = 0.1 (10 %)"
        );
    }
}
