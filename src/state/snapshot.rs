//! Snapshots: one complete, hashed picture of a municipality's directory at a moment.
//!
//! A snapshot is written in batches while the source is still being read (memory stays
//! bounded at any scale) under the status `writing`, and becomes visible only when
//! [`State::finish_snapshot`] marks it `complete` with its counts and content hash in one
//! transaction. A failed read calls [`State::abort_snapshot`]; a killed process leaves a
//! `writing` row that the next discover removes ([`State::discard_unfinished`]). The previous snapshot is never touched.
//!
//! A finished snapshot that shrank beyond its source's limit is complete but held
//! ([`super::acceptance`]): listed, never picked by [`State::latest_snapshot`] until accepted.

use super::acceptance::{AcceptError, Acceptance, Counts, ShrinkGuard, Shrinkage, shrinkage};
use super::tally::SnapshotId;
use super::{State, StateError};
use crate::model::{DirectoryObject, ObjectKind};
use rusqlite::params;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Consecutive objects of one snapshot, by the first and last of their rowids (see
/// [`State::snapshot_parts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPart {
    pub snapshot: SnapshotId,
    first: i64,
    last: i64,
}

/// What `samla snapshots` lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotSummary {
    pub id: SnapshotId,
    pub municipality: String,
    pub source: String,
    pub started_at: String,
    pub finished_at: String,
    pub users: u64,
    pub groups: u64,
    pub contacts: u64,
    pub ous: u64,
    pub memberships: u64,
    /// Entries the source returned that samla does not read (computers, containers).
    pub skipped: u64,
    /// Text values (DNs included) that were not in Unicode NFC and were normalised on read.
    pub nfc_normalised: u64,
    /// SHA-256 over the objects in GUID order: equal directories give equal hashes.
    pub content_hash: String,
    /// Whether it is in use, or held for shrinking.
    pub acceptance: Acceptance,
}

impl SnapshotSummary {
    /// Why this snapshot is not in use, when it is held.
    pub fn held(&self) -> Option<super::acceptance::SnapshotHeld> {
        match &self.acceptance {
            Acceptance::Held { shrink } => {
                Some(super::acceptance::SnapshotHeld { id: self.id, shrink: shrink.clone() })
            }
            _ => None,
        }
    }
}

/// The snapshots that may be used: complete and not held.
const ACCEPTED: &str = "status = 'complete' AND acceptance <> 'held'";

impl State {
    /// Starts a snapshot; it stays invisible until finished.
    pub fn begin_snapshot(&mut self, municipality: &str, source: &str) -> Result<SnapshotId, StateError> {
        self.conn
            .execute(
                "INSERT INTO snapshots (municipality, source, started_at, status) VALUES (?1, ?2, ?3, 'writing')",
                params![municipality, source, now()],
            )
            .map_err(|e| self.err(e))?;
        Ok(SnapshotId(self.conn.last_insert_rowid()))
    }

    /// Adds a batch of objects in one transaction (see [`State::add_rows`]).
    pub fn add_objects(&mut self, id: SnapshotId, objects: &[DirectoryObject]) -> Result<(), StateError> {
        let rows = objects
            .iter()
            .map(SnapshotRow::of)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StateError::Invalid { path: self.path.clone(), message: e.to_string() })?;
        self.add_rows(id, &rows)
    }

    /// Adds a batch of prepared rows in one transaction. A GUID seen twice is an error naming
    /// both DNs.
    pub fn add_rows(&mut self, id: SnapshotId, rows: &[SnapshotRow]) -> Result<(), StateError> {
        let path = self.path.clone();
        let sq = |source| StateError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(sq)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO snapshot_objects (snapshot_id, guid, kind, dn, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(sq)?;
            for row in rows {
                match insert.execute(params![id.0, row.guid, row.kind.as_str(), row.dn, row.data]) {
                    Ok(_) => {}
                    Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                        let other: String = tx
                            .query_row(
                                "SELECT dn FROM snapshot_objects WHERE snapshot_id = ?1 AND guid = ?2",
                                params![id.0, row.guid],
                                |r| r.get(0),
                            )
                            .map_err(sq)?;
                        return Err(StateError::Invalid {
                            path: path.clone(),
                            message: format!("objectGUID {} appears twice: {other} and {}", row.guid, row.dn),
                        });
                    }
                    Err(e) => return Err(sq(e)),
                }
            }
        }
        tx.commit().map_err(sq)?;
        let tally = self.tallies.entry(id).or_default();
        for row in rows {
            tally.add(row.kind, row.members, &row.guid, row.digest);
        }
        Ok(())
    }

    /// Makes the snapshot visible with its counts and content hash, atomically. Compared
    /// with the latest accepted snapshot of its municipality, it is held when its users,
    /// groups or memberships shrank beyond `guard.limit`, unless `guard.accept_by` accepts it.
    pub fn finish_snapshot(
        &mut self,
        id: SnapshotId,
        skipped: u64,
        nfc_normalised: u64,
        guard: &ShrinkGuard,
    ) -> Result<SnapshotSummary, StateError> {
        let tally = self.tallies.remove(&id).unwrap_or_default();
        let [ous, users, contacts, groups] = tally.counts;
        let memberships = tally.memberships;
        let hash = tally.content_hash();
        let municipality: String = self
            .conn
            .query_row("SELECT municipality FROM snapshots WHERE id = ?1", params![id.0], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        // This one is still `writing`: the latest accepted is the previous one.
        let previous = self
            .latest_snapshot(&municipality)?
            .map(|p| (p.id, Counts { users: p.users, groups: p.groups, memberships: p.memberships }));
        let shrunk = previous.and_then(|p| shrinkage(p, Counts { users, groups, memberships }, guard.limit));
        let acceptance = match (shrunk, &guard.accept_by) {
            (None, _) => Acceptance::Accepted,
            (Some(shrink), Some(by)) => Acceptance::AcceptedShrink { shrink, by: by.clone(), at: now() },
            (Some(shrink), None) => Acceptance::Held { shrink },
        };
        let Stored { shrink, by, at } = stored(&acceptance)?;
        self.conn
            .execute(
                "UPDATE snapshots SET status = 'complete', finished_at = ?2, users = ?3, groups = ?4, contacts = ?5,
                 ous = ?6, memberships = ?7, skipped = ?8, content_hash = ?9, acceptance = ?10, shrink = ?11,
                 accepted_by = ?12, accepted_at = ?13, nfc_normalised = ?14 WHERE id = ?1 AND status = 'writing'",
                params![
                    id.0,
                    now(),
                    users,
                    groups,
                    contacts,
                    ous,
                    memberships,
                    skipped,
                    hash,
                    acceptance.as_str(),
                    shrink,
                    by,
                    at,
                    nfc_normalised
                ],
            )
            .map_err(|e| self.err(e))?;
        self.snapshot(id)?.ok_or_else(|| StateError::Invalid {
            path: self.path.clone(),
            message: format!("snapshot {} vanished", id.0),
        })
    }

    /// Drops a snapshot that failed; the earlier ones stay.
    pub fn abort_snapshot(&mut self, id: SnapshotId) -> Result<(), StateError> {
        self.tallies.remove(&id);
        self.conn
            .execute("DELETE FROM snapshots WHERE id = ?1 AND status = 'writing'", params![id.0])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Removes snapshots a killed discover left half-written. Called by discover before it
    /// writes; readers never call it, since they cannot tell a dead writer from a live one.
    pub fn discard_unfinished(&mut self) -> Result<(), StateError> {
        self.conn.execute("DELETE FROM snapshots WHERE status = 'writing'", []).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every complete snapshot, oldest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotSummary>, StateError> {
        self.query_summaries("WHERE status = 'complete' ORDER BY id", params![])
    }

    /// The newest accepted snapshot of a municipality: the one everything after discover
    /// uses (map, the staleness of wave files, dry-run and run). A held snapshot is never it.
    pub fn latest_snapshot(&self, municipality: &str) -> Result<Option<SnapshotSummary>, StateError> {
        Ok(self
            .query_summaries(
                &format!("WHERE {ACCEPTED} AND municipality = ?1 ORDER BY id DESC LIMIT 1"),
                params![municipality],
            )?
            .pop())
    }

    /// Accepts a held snapshot, recording who and when; from now on it is in use when it is
    /// its municipality's newest accepted one.
    pub fn accept_snapshot(&mut self, id: SnapshotId, by: &str) -> Result<SnapshotSummary, AcceptError> {
        let summary = self.snapshot(id)?.ok_or(AcceptError::Unknown(id.0))?;
        let Acceptance::Held { shrink } = summary.acceptance else {
            return Err(AcceptError::NotHeld { id: id.0, acceptance: summary.acceptance.to_string() });
        };
        let accepted = Acceptance::AcceptedShrink { shrink, by: by.to_string(), at: now() };
        let Stored { shrink, by, at } = stored(&accepted)?;
        self.conn
            .execute(
                "UPDATE snapshots SET acceptance = ?2, shrink = ?3, accepted_by = ?4, accepted_at = ?5
                 WHERE id = ?1 AND acceptance = 'held'",
                params![id.0, accepted.as_str(), shrink, by, at],
            )
            .map_err(|e| self.err(e))?;
        self.snapshot(id)?.ok_or(AcceptError::Unknown(id.0))
    }

    pub fn snapshot(&self, id: SnapshotId) -> Result<Option<SnapshotSummary>, StateError> {
        Ok(self.query_summaries("WHERE status = 'complete' AND id = ?1", params![id.0])?.pop())
    }

    /// All objects of a snapshot, in GUID order (see [`crate::model::object::for_mapping`]
    /// for reading less of each).
    pub fn snapshot_objects(&self, id: SnapshotId) -> Result<Vec<DirectoryObject>, StateError> {
        let mut out = Vec::new();
        self.for_each_snapshot_object(id, |obj| out.push(obj))?;
        // By key and index, then each object moved once: a sort moving the objects themselves
        // (over 600 bytes each) copied gigabytes for a million users.
        out.sort_by_cached_key(|o: &DirectoryObject| o.guid);
        Ok(out)
    }

    /// A snapshot cut into consecutive parts of at most `per` objects each, in stored order,
    /// for readers that decode them in parallel: municipalities differ in size by the hundred
    /// thousand, and one reader per municipality left a core idle while the largest finished.
    pub fn snapshot_parts(&self, id: SnapshotId, per: usize) -> Result<Vec<SnapshotPart>, StateError> {
        // The rowids alone, from the index on snapshot_id: the rows themselves are not read.
        let mut stmt = self
            .conn
            .prepare("SELECT rowid FROM snapshot_objects WHERE snapshot_id = ?1 ORDER BY rowid")
            .map_err(|e| self.err(e))?;
        let rowids = stmt.query_map(params![id.0], |r| r.get::<_, i64>(0)).map_err(|e| self.err(e))?;
        let mut parts: Vec<SnapshotPart> = Vec::new();
        for (i, rowid) in rowids.enumerate() {
            let rowid = rowid.map_err(|e| self.err(e))?;
            match parts.last_mut() {
                Some(part) if i % per.max(1) != 0 => part.last = rowid,
                _ => parts.push(SnapshotPart { snapshot: id, first: rowid, last: rowid }),
            }
        }
        Ok(parts)
    }

    /// Hands each object of a snapshot to `f` as soon as it is decoded, in the order they
    /// were stored (not GUID order), so a caller that consumes them never holds them all.
    pub fn for_each_snapshot_object(&self, id: SnapshotId, f: impl FnMut(DirectoryObject)) -> Result<(), StateError> {
        self.for_each_object_in(&SnapshotPart { snapshot: id, first: i64::MIN, last: i64::MAX }, f)
    }

    /// [`State::for_each_snapshot_object`] for one part of a snapshot.
    pub fn for_each_object_in(
        &self,
        part: &SnapshotPart,
        mut f: impl FnMut(DirectoryObject),
    ) -> Result<(), StateError> {
        let id = part.snapshot;
        // Rows are read in the order they were written (sequential pages): walking the
        // (snapshot, guid) index instead visits the table at random.
        let mut stmt = self
            .conn
            .prepare(
                "SELECT data FROM snapshot_objects WHERE snapshot_id = ?1 AND rowid BETWEEN ?2 AND ?3 ORDER BY rowid",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![id.0, part.first, part.last]).map_err(|e| self.err(e))?;
        let unreadable = |e: &dyn std::fmt::Display| StateError::Invalid {
            path: self.path.clone(),
            message: format!("snapshot {} holds an unreadable object: {e}", id.0),
        };
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            // Decoded where SQLite holds it, not copied into a String first.
            let data = row.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(|e| unreadable(&e))?;
            f(serde_json::from_str(data).map_err(|e| unreadable(&e))?);
        }
        Ok(())
    }

    fn query_summaries(&self, tail: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<SnapshotSummary>, StateError> {
        let sql = format!(
            "SELECT id, municipality, source, started_at, finished_at, users, groups, contacts, ous, memberships, skipped, content_hash,
             acceptance, shrink, accepted_by, accepted_at, nfc_normalised
             FROM snapshots {tail}"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(args, |r| {
                Ok(SnapshotSummary {
                    id: SnapshotId(r.get(0)?),
                    municipality: r.get(1)?,
                    source: r.get(2)?,
                    started_at: r.get(3)?,
                    finished_at: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    users: r.get(5)?,
                    groups: r.get(6)?,
                    contacts: r.get(7)?,
                    ous: r.get(8)?,
                    memberships: r.get(9)?,
                    skipped: r.get(10)?,
                    nfc_normalised: r.get(16)?,
                    content_hash: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
                    acceptance: acceptance(r.get(12)?, r.get(13)?, r.get(14)?, r.get(15)?)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

/// One object ready to be stored: its canonical JSON and digest. Made by the readers, in
/// parallel, so the single writer thread only inserts.
#[derive(Debug, Clone)]
pub struct SnapshotRow {
    guid: String,
    kind: ObjectKind,
    dn: String,
    data: String,
    digest: [u8; 32],
    members: u64,
}

impl SnapshotRow {
    pub fn of(obj: &DirectoryObject) -> Result<SnapshotRow, serde_json::Error> {
        let data = serde_json::to_string(obj)?;
        let guid = obj.guid.to_string();
        let digest = object_digest(&guid, &data);
        Ok(SnapshotRow {
            guid,
            kind: obj.kind,
            dn: obj.dn.to_string(),
            data,
            digest,
            members: obj.members.len() as u64,
        })
    }
}

/// An acceptance's columns besides its state: `shrink` (JSON), `accepted_by`, `accepted_at`.
struct Stored<'a> {
    shrink: Option<String>,
    by: Option<&'a str>,
    at: Option<&'a str>,
}

fn stored(acceptance: &Acceptance) -> Result<Stored<'_>, StateError> {
    let json = |shrink| serde_json::to_string(shrink).map(Some);
    Ok(match acceptance {
        Acceptance::Accepted => Stored { shrink: None, by: None, at: None },
        Acceptance::AcceptedShrink { shrink, by, at } => Stored { shrink: json(shrink)?, by: Some(by), at: Some(at) },
        Acceptance::Held { shrink } => Stored { shrink: json(shrink)?, by: None, at: None },
    })
}

/// An acceptance read back from its four columns.
fn acceptance(
    state: String,
    shrink: Option<String>,
    by: Option<String>,
    at: Option<String>,
) -> rusqlite::Result<Acceptance> {
    let bad =
        |message: String| rusqlite::Error::FromSqlConversionFailure(12, rusqlite::types::Type::Text, message.into());
    let shrink = || -> rusqlite::Result<Shrinkage> {
        let text = shrink.as_deref().ok_or_else(|| bad(format!("a snapshot {state} without what shrank")))?;
        serde_json::from_str(text).map_err(|e| bad(format!("what shrank: {e}")))
    };
    match state.as_str() {
        "accepted" => Ok(Acceptance::Accepted),
        "accepted_shrink" => {
            Ok(Acceptance::AcceptedShrink { shrink: shrink()?, by: by.unwrap_or_default(), at: at.unwrap_or_default() })
        }
        "held" => Ok(Acceptance::Held { shrink: shrink()? }),
        other => Err(bad(format!("unknown acceptance {other:?}"))),
    }
}

/// SHA-256 of GUID, NUL, the stored JSON: what a snapshot's content hash is made of.
pub(crate) fn object_digest(guid: &str, data: &str) -> [u8; 32] {
    Sha256::new().chain_update(guid.as_bytes()).chain_update([0]).chain_update(data.as_bytes()).finalize().into()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dn, ObjectGuid};

    fn guard() -> ShrinkGuard {
        ShrinkGuard { limit: 0.10, accept_by: None }
    }

    fn obj(kind: ObjectKind, dn: &str, guid_byte: u8) -> DirectoryObject {
        DirectoryObject::new(kind, Dn::parse(dn).unwrap(), ObjectGuid::from_ad_bytes(&[guid_byte; 16]).unwrap())
    }

    #[test]
    fn snapshot_is_invisible_until_finished_and_hash_ignores_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(&dir.path().join("s/samla.db")).unwrap();
        let a = obj(ObjectKind::User, "CN=a,DC=x", 1);
        let mut g = obj(ObjectKind::Group, "CN=g,DC=x", 2);
        g.members = vec![a.dn.clone()];

        let first = state.begin_snapshot("bjuv", "ldif:x").unwrap();
        state.add_objects(first, &[a.clone(), g.clone()]).unwrap();
        assert!(state.snapshots().unwrap().is_empty());
        let s1 = state.finish_snapshot(first, 3, 0, &guard()).unwrap();
        assert_eq!((s1.users, s1.groups, s1.memberships, s1.skipped), (1, 1, 1, 3));

        let second = state.begin_snapshot("bjuv", "ldif:x").unwrap();
        state.add_objects(second, &[g.clone()]).unwrap();
        state.add_objects(second, std::slice::from_ref(&a)).unwrap();
        let s2 = state.finish_snapshot(second, 3, 0, &guard()).unwrap();
        assert_eq!(s1.content_hash, s2.content_hash);
        assert_eq!(state.latest_snapshot("bjuv").unwrap().unwrap().id, second);
        assert_eq!(state.snapshot_objects(second).unwrap(), vec![a.clone(), g.clone()]);
    }

    /// A snapshot with `users` users and one group holding them all.
    fn take(state: &mut State, users: u8, guard: &ShrinkGuard) -> SnapshotSummary {
        let id = state.begin_snapshot("bjuv", "ldif:x").unwrap();
        let people: Vec<DirectoryObject> =
            (1..=users).map(|i| obj(ObjectKind::User, &format!("CN=u{i},DC=x"), i)).collect();
        let mut g = obj(ObjectKind::Group, "CN=g,DC=x", 200);
        g.members = people.iter().map(|p| p.dn.clone()).collect();
        state.add_objects(id, &people).unwrap();
        state.add_objects(id, &[g]).unwrap();
        state.finish_snapshot(id, 0, 0, guard).unwrap()
    }

    #[test]
    fn a_shrunk_snapshot_is_held_until_accepted_and_never_the_latest_before() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(&dir.path().join("samla.db")).unwrap();
        let first = take(&mut state, 20, &guard());
        assert_eq!(first.acceptance, Acceptance::Accepted, "the first one has nothing to shrink against");
        let held = take(&mut state, 10, &guard());
        let Acceptance::Held { shrink } = &held.acceptance else { panic!("{:?}", held.acceptance) };
        assert_eq!(shrink.against, first.id);
        assert_eq!(shrink.shrunk.len(), 2, "users and memberships: {shrink:?}");
        assert_eq!(state.latest_snapshot("bjuv").unwrap().unwrap().id, first.id);
        assert_eq!(state.snapshots().unwrap().len(), 2, "listed all the same");
        // Growing against the accepted one (not the held one) is accepted.
        let grown = take(&mut state, 21, &guard());
        assert_eq!(grown.acceptance, Acceptance::Accepted);
        assert_eq!(state.latest_snapshot("bjuv").unwrap().unwrap().id, grown.id);

        let accepted = state.accept_snapshot(held.id, "alice").unwrap();
        let Acceptance::AcceptedShrink { by, .. } = &accepted.acceptance else { panic!("{:?}", accepted.acceptance) };
        assert_eq!(by, "alice");
        assert_eq!(state.latest_snapshot("bjuv").unwrap().unwrap().id, grown.id, "still the newest accepted");
        assert!(matches!(state.accept_snapshot(held.id, "alice"), Err(AcceptError::NotHeld { .. })));
        assert!(matches!(state.accept_snapshot(SnapshotId(999), "alice"), Err(AcceptError::Unknown(999))));

        let at_once = take(&mut state, 2, &ShrinkGuard { limit: 0.1, accept_by: Some("bob".into()) });
        assert!(matches!(at_once.acceptance, Acceptance::AcceptedShrink { ref by, .. } if by == "bob"));
        assert_eq!(state.latest_snapshot("bjuv").unwrap().unwrap().id, at_once.id);
    }

    #[test]
    fn snapshots_stored_before_the_guard_count_as_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samla.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        let before = super::super::MIGRATIONS.iter().position(|m| m.contains("ADD COLUMN acceptance")).unwrap();
        for sql in &super::super::MIGRATIONS[..before] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", before).unwrap();
        conn.execute_batch(
            "INSERT INTO snapshots (municipality, source, started_at, finished_at, status, users, content_hash)
             VALUES ('bjuv', 'x', '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 'complete', 5, 'h')",
        )
        .unwrap();
        drop(conn);
        let state = State::open(&path).unwrap();
        let old = state.latest_snapshot("bjuv").unwrap().unwrap();
        assert_eq!((old.users, old.acceptance), (5, Acceptance::Accepted));
    }

    #[test]
    fn a_snapshot_read_in_parts_is_read_whole_and_only_its_own_objects() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(&dir.path().join("s/samla.db")).unwrap();
        let objects: Vec<DirectoryObject> =
            (1..=7).map(|i| obj(ObjectKind::User, &format!("CN=u{i},DC=x"), i)).collect();
        let (bjuv, klippan) =
            (state.begin_snapshot("bjuv", "ldif:x").unwrap(), state.begin_snapshot("klippan", "ldif:y").unwrap());
        // Interleaved with another snapshot's rows, as two discovers writing at once leave them.
        for (k, pair) in (100..).zip(objects.chunks(2)) {
            state.add_objects(bjuv, pair).unwrap();
            state.add_objects(klippan, &[obj(ObjectKind::User, &format!("CN=other{k},DC=y"), k)]).unwrap();
        }
        let parts = state.snapshot_parts(bjuv, 3).unwrap();
        assert_eq!(parts.len(), 3, "7 objects in parts of at most 3");
        let mut read = Vec::new();
        for part in &parts {
            let mut this = Vec::new();
            state.for_each_object_in(part, |o| this.push(o)).unwrap();
            assert!(this.len() <= 3);
            read.extend(this);
        }
        assert_eq!(read, objects, "every object once, in stored order, none of klippan's");
        assert!(state.snapshot_parts(SnapshotId(12345), 3).unwrap().is_empty());
    }

    /// Regression: `samla map` or `samla snapshots` opening the state while a discover writes
    /// used to delete the snapshot being written.
    #[test]
    fn opening_the_state_beside_a_writer_leaves_its_snapshot_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samla.db");
        let mut writer = State::open(&path).unwrap();
        let id = writer.begin_snapshot("bjuv", "x").unwrap();
        writer.add_objects(id, &[obj(ObjectKind::User, "CN=a,DC=x", 1)]).unwrap();
        let reader = State::open(&path).unwrap();
        assert!(reader.snapshots().unwrap().is_empty());
        let done = writer.finish_snapshot(id, 0, 0, &guard()).unwrap();
        assert_eq!(done.users, 1);
        assert_eq!(reader.snapshots().unwrap().len(), 1);
    }

    #[test]
    fn failed_and_killed_writes_leave_the_previous_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samla.db");
        let mut state = State::open(&path).unwrap();
        let a = obj(ObjectKind::User, "CN=a,DC=x", 1);
        let good = state.begin_snapshot("bjuv", "x").unwrap();
        state.add_objects(good, std::slice::from_ref(&a)).unwrap();
        state.finish_snapshot(good, 0, 0, &guard()).unwrap();

        let failed = state.begin_snapshot("bjuv", "x").unwrap();
        let dup = obj(ObjectKind::User, "CN=b,DC=x", 1);
        let err = state.add_objects(failed, &[a.clone(), dup]).unwrap_err().to_string();
        assert!(err.contains("appears twice: CN=a,DC=x and CN=b,DC=x"), "{err}");
        state.abort_snapshot(failed).unwrap();

        let killed = state.begin_snapshot("bjuv", "x").unwrap();
        state.add_objects(killed, &[obj(ObjectKind::User, "CN=c,DC=x", 9)]).unwrap();
        drop(state);
        let mut state = State::open(&path).unwrap();
        // A reader sees only complete snapshots; the next writer clears what the killed one left.
        assert_eq!(state.snapshots().unwrap().iter().map(|s| s.id).collect::<Vec<_>>(), vec![good]);
        state.discard_unfinished().unwrap();
        assert_eq!(state.snapshots().unwrap().iter().map(|s| s.id).collect::<Vec<_>>(), vec![good]);
        let rows: i64 = state.conn.query_row("SELECT count(*) FROM snapshot_objects", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1);
    }
}
