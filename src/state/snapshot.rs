//! Snapshots: one complete, hashed picture of a municipality's directory at a moment.
//!
//! A snapshot is written in batches while the source is still being read (memory stays
//! bounded at any scale) under the status `writing`, and becomes visible only when
//! [`State::finish_snapshot`] marks it `complete` with its counts and content hash in one
//! transaction. A failed read calls [`State::abort_snapshot`]; a killed process leaves a
//! `writing` row that the next [`State::open`] removes. The previous snapshot is never touched.

use super::{State, StateError};
use crate::model::{DirectoryObject, ObjectKind};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A snapshot's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SnapshotId(pub i64);

/// What `samla snapshots` lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// SHA-256 over the objects in GUID order: equal directories give equal hashes.
    pub content_hash: String,
}

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

    /// Adds a batch of objects in one transaction. A GUID seen twice is an error naming both DNs.
    pub fn add_objects(&mut self, id: SnapshotId, objects: &[DirectoryObject]) -> Result<(), StateError> {
        let path = self.path.clone();
        let sq = |source| StateError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(sq)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO snapshot_objects (snapshot_id, guid, kind, dn, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(sq)?;
            for obj in objects {
                let guid = obj.guid.to_string();
                let data = serde_json::to_string(obj)
                    .map_err(|e| StateError::Invalid { path: path.clone(), message: e.to_string() })?;
                match insert.execute(params![id.0, guid, obj.kind.as_str(), obj.dn.to_string(), data]) {
                    Ok(_) => {}
                    Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                        let other: String = tx
                            .query_row(
                                "SELECT dn FROM snapshot_objects WHERE snapshot_id = ?1 AND guid = ?2",
                                params![id.0, guid],
                                |r| r.get(0),
                            )
                            .map_err(sq)?;
                        return Err(StateError::Invalid {
                            path: path.clone(),
                            message: format!("objectGUID {guid} appears twice: {other} and {}", obj.dn),
                        });
                    }
                    Err(e) => return Err(sq(e)),
                }
            }
        }
        tx.commit().map_err(sq)
    }

    /// Computes counts and the content hash and makes the snapshot visible, atomically.
    pub fn finish_snapshot(&mut self, id: SnapshotId, skipped: u64) -> Result<SnapshotSummary, StateError> {
        let path = self.path.clone();
        let sq = |source| StateError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(sq)?;
        let mut hasher = Sha256::new();
        let mut counts = [0u64; 4];
        let mut memberships = 0u64;
        {
            let mut rows = tx
                .prepare("SELECT guid, kind, data FROM snapshot_objects WHERE snapshot_id = ?1 ORDER BY guid")
                .map_err(sq)?;
            let mut rows = rows.query(params![id.0]).map_err(sq)?;
            while let Some(row) = rows.next().map_err(sq)? {
                let guid: String = row.get(0).map_err(sq)?;
                let kind: String = row.get(1).map_err(sq)?;
                let data: String = row.get(2).map_err(sq)?;
                hasher.update(guid.as_bytes());
                hasher.update([0]);
                hasher.update(data.as_bytes());
                hasher.update([b'\n']);
                if let Some(i) = ObjectKind::ALL.iter().position(|k| k.as_str() == kind) {
                    counts[i] += 1;
                }
                if kind == ObjectKind::Group.as_str() {
                    memberships += count_members(&data);
                }
            }
        }
        let hash = hex::encode(hasher.finalize());
        let [ous, users, contacts, groups] = counts;
        tx.execute(
            "UPDATE snapshots SET status = 'complete', finished_at = ?2, users = ?3, groups = ?4, contacts = ?5, ous = ?6,
             memberships = ?7, skipped = ?8, content_hash = ?9 WHERE id = ?1",
            params![id.0, now(), users, groups, contacts, ous, memberships, skipped, hash],
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)?;
        self.snapshot(id)?.ok_or_else(|| StateError::Invalid {
            path: self.path.clone(),
            message: format!("snapshot {} vanished", id.0),
        })
    }

    /// Drops a snapshot that failed; the earlier ones stay.
    pub fn abort_snapshot(&mut self, id: SnapshotId) -> Result<(), StateError> {
        self.conn
            .execute("DELETE FROM snapshots WHERE id = ?1 AND status = 'writing'", params![id.0])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(super) fn discard_unfinished(&mut self) -> Result<(), StateError> {
        self.conn.execute("DELETE FROM snapshots WHERE status = 'writing'", []).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every complete snapshot, oldest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotSummary>, StateError> {
        self.query_summaries("WHERE status = 'complete' ORDER BY id", params![])
    }

    /// The newest complete snapshot of a municipality.
    pub fn latest_snapshot(&self, municipality: &str) -> Result<Option<SnapshotSummary>, StateError> {
        Ok(self
            .query_summaries(
                "WHERE status = 'complete' AND municipality = ?1 ORDER BY id DESC LIMIT 1",
                params![municipality],
            )?
            .pop())
    }

    pub fn snapshot(&self, id: SnapshotId) -> Result<Option<SnapshotSummary>, StateError> {
        Ok(self.query_summaries("WHERE status = 'complete' AND id = ?1", params![id.0])?.pop())
    }

    /// All objects of a snapshot, in GUID order.
    pub fn snapshot_objects(&self, id: SnapshotId) -> Result<Vec<DirectoryObject>, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT data FROM snapshot_objects WHERE snapshot_id = ?1 ORDER BY guid")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![id.0], |r| r.get::<_, String>(0)).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for data in rows {
            let data = data.map_err(|e| self.err(e))?;
            out.push(serde_json::from_str(&data).map_err(|e| StateError::Invalid {
                path: self.path.clone(),
                message: format!("snapshot {} holds an unreadable object: {e}", id.0),
            })?);
        }
        Ok(out)
    }

    fn query_summaries(&self, tail: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<SnapshotSummary>, StateError> {
        let sql = format!(
            "SELECT id, municipality, source, started_at, finished_at, users, groups, contacts, ous, memberships, skipped, content_hash
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
                    content_hash: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The id of a municipality's newest complete snapshot, if any.
    pub fn latest_snapshot_id(&self, municipality: &str) -> Result<Option<SnapshotId>, StateError> {
        self.conn
            .query_row(
                "SELECT id FROM snapshots WHERE status = 'complete' AND municipality = ?1 ORDER BY id DESC LIMIT 1",
                params![municipality],
                |r| r.get(0).map(SnapshotId),
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}

fn count_members(data: &str) -> u64 {
    #[derive(serde::Deserialize)]
    struct Members {
        #[serde(default)]
        member: Vec<serde::de::IgnoredAny>,
    }
    serde_json::from_str::<Members>(data).map_or(0, |m| m.member.len() as u64)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dn, ObjectGuid};

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
        let s1 = state.finish_snapshot(first, 3).unwrap();
        assert_eq!((s1.users, s1.groups, s1.memberships, s1.skipped), (1, 1, 1, 3));

        let second = state.begin_snapshot("bjuv", "ldif:x").unwrap();
        state.add_objects(second, &[g.clone()]).unwrap();
        state.add_objects(second, std::slice::from_ref(&a)).unwrap();
        let s2 = state.finish_snapshot(second, 3).unwrap();
        assert_eq!(s1.content_hash, s2.content_hash);
        assert_eq!(state.latest_snapshot("bjuv").unwrap().unwrap().id, second);
        assert_eq!(state.snapshot_objects(second).unwrap(), vec![a.clone(), g.clone()]);
    }

    #[test]
    fn failed_and_killed_writes_leave_the_previous_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samla.db");
        let mut state = State::open(&path).unwrap();
        let a = obj(ObjectKind::User, "CN=a,DC=x", 1);
        let good = state.begin_snapshot("bjuv", "x").unwrap();
        state.add_objects(good, std::slice::from_ref(&a)).unwrap();
        state.finish_snapshot(good, 0).unwrap();

        let failed = state.begin_snapshot("bjuv", "x").unwrap();
        let dup = obj(ObjectKind::User, "CN=b,DC=x", 1);
        let err = state.add_objects(failed, &[a.clone(), dup]).unwrap_err().to_string();
        assert!(err.contains("appears twice: CN=a,DC=x and CN=b,DC=x"), "{err}");
        state.abort_snapshot(failed).unwrap();

        let killed = state.begin_snapshot("bjuv", "x").unwrap();
        state.add_objects(killed, &[obj(ObjectKind::User, "CN=c,DC=x", 9)]).unwrap();
        drop(state);
        let state = State::open(&path).unwrap();
        assert_eq!(state.snapshots().unwrap().iter().map(|s| s.id).collect::<Vec<_>>(), vec![good]);
        let rows: i64 = state.conn.query_row("SELECT count(*) FROM snapshot_objects", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1);
    }
}
