//! A snapshot's identity, and what is tallied while one is written (counts per kind, members,
//! the digests its content hash is made of). Apart from the snapshot store so that the state,
//! which keeps the tallies of snapshots being written, and the store both use them.

use crate::model::ObjectKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A snapshot's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SnapshotId(pub i64);

/// What finishing a snapshot needs, gathered while it is written.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Per [`ObjectKind::ALL`] position.
    pub(crate) counts: [u64; 4],
    pub(crate) memberships: u64,
    digests: Vec<(String, [u8; 32])>,
}

impl Tally {
    /// Counts one stored object: its kind, its members (groups) and its digest.
    pub(crate) fn add(&mut self, kind: ObjectKind, members: u64, guid: &str, digest: [u8; 32]) {
        if let Some(i) = ObjectKind::ALL.iter().position(|k| *k == kind) {
            self.counts[i] += 1;
        }
        if kind == ObjectKind::Group {
            self.memberships += members;
        }
        self.add_digest(guid, digest);
    }

    /// Adds one object's digest only (what checking a stored snapshot's hash needs).
    pub(crate) fn add_digest(&mut self, guid: &str, digest: [u8; 32]) {
        self.digests.push((guid.to_string(), digest));
    }

    /// SHA-256 over the objects' digests (SHA-256 of GUID, NUL, canonical JSON) in GUID order,
    /// so the order a server returns entries in never changes the hash.
    pub(crate) fn content_hash(mut self) -> String {
        self.digests.sort_unstable();
        let mut hasher = Sha256::new();
        for (_, digest) in &self.digests {
            hasher.update(digest);
        }
        hex::encode(hasher.finalize())
    }
}
