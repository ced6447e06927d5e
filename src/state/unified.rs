//! The mapping stage's state: the name book (names given out, never reshuffled) and each
//! unified directory with the inputs it came from.

use super::{SnapshotId, State, StateError};
use crate::mapping::unify::{Anchor, NameBook, Namespace, UnifiedDirectory};
use crate::model::ObjectGuid;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// A stored `samla map` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnifiedRun {
    pub id: i64,
    pub created_at: String,
    pub snapshots: Vec<SnapshotId>,
    pub mappings_hash: String,
    pub content_hash: String,
    pub blocking: u64,
}

impl State {
    /// Every name given out so far.
    pub fn name_book(&self) -> Result<NameBook, StateError> {
        let mut stmt =
            self.conn.prepare("SELECT namespace, name, anchor FROM assigned_names").map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map_err(|e| self.err(e))?;
        let mut book = NameBook::default();
        for row in rows {
            let (ns, name, anchor) = row.map_err(|e| self.err(e))?;
            let invalid = |message: String| StateError::Invalid { path: self.path.clone(), message };
            let ns = Namespace::ALL
                .into_iter()
                .find(|n| n.as_str() == ns)
                .ok_or_else(|| invalid(format!("unknown name namespace {ns:?}")))?;
            let guid = ObjectGuid::parse(&anchor).map_err(|e| invalid(e.to_string()))?;
            book.insert_existing(ns, &name, Anchor(guid));
        }
        Ok(book)
    }

    /// Stores a unified directory and the names it assigned, in one transaction.
    pub fn save_unified(
        &mut self,
        dir: &UnifiedDirectory,
        book: &NameBook,
        snapshots: &[SnapshotId],
        mappings_hash: &str,
    ) -> Result<UnifiedRun, StateError> {
        let path = self.path.clone();
        let sq = |source| StateError::Sqlite { path: path.clone(), source };
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let ids: Vec<i64> = snapshots.iter().map(|s| s.0).collect();
        let ids_json = serde_json::to_string(&ids).unwrap_or_default();
        let blocking =
            dir.findings.iter().filter(|f| f.severity == crate::mapping::unify::Severity::Blocking).count() as u64;
        let tx = self.conn.transaction().map_err(sq)?;
        {
            let mut insert = tx
                .prepare("INSERT INTO assigned_names (namespace, name_key, name, anchor, assigned_at) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(sq)?;
            for (ns, name, anchor) in book.added() {
                insert
                    .execute(params![ns.as_str(), name.to_lowercase(), name, anchor.0.to_string(), now])
                    .map_err(sq)?;
            }
        }
        tx.execute(
            "INSERT INTO unified_runs (created_at, snapshots, mappings_hash, content_hash, blocking) VALUES (?1, ?2, ?3, '', ?4)",
            params![now, ids_json, mappings_hash, blocking],
        )
        .map_err(sq)?;
        let id = tx.last_insert_rowid();
        let content_hash = {
            let mut insert = tx
                .prepare("INSERT INTO unified_objects (run_id, kind, key, data) VALUES (?1, ?2, ?3, ?4)")
                .map_err(sq)?;
            dir.for_each_row(|row| insert.execute(params![id, row.kind, row.key, row.data]).map(drop).map_err(sq))?
        };
        tx.execute("UPDATE unified_runs SET content_hash = ?2 WHERE id = ?1", params![id, content_hash]).map_err(sq)?;
        tx.commit().map_err(sq)?;
        Ok(UnifiedRun {
            id,
            created_at: now,
            snapshots: snapshots.to_vec(),
            mappings_hash: mappings_hash.to_string(),
            content_hash,
            blocking,
        })
    }

    /// The stored rows of one kind (`person`, `group`, `finding`, `summaries`, `outbound`) of a
    /// map run, in their canonical order.
    pub fn unified_rows(&self, run_id: i64, kind: &str) -> Result<Vec<String>, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT data FROM unified_objects WHERE run_id = ?1 AND kind = ?2 ORDER BY key")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![run_id, kind], |r| r.get::<_, String>(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Hands each stored row (key, JSON) of one kind of a map run to `f`, in canonical order, without
    /// holding them all (a million people are most of a gigabyte of JSON).
    pub fn for_each_unified_row(
        &self,
        run_id: i64,
        kind: &str,
        mut f: impl FnMut(&str, &str) -> Result<(), String>,
    ) -> Result<(), StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, data FROM unified_objects WHERE run_id = ?1 AND kind = ?2 ORDER BY key")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![run_id, kind]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let text = |i: usize| row.get_ref(i).and_then(|v| v.as_str().map_err(Into::into)).map_err(|e| self.err(e));
            f(text(0)?, text(1)?).map_err(|message| StateError::Invalid { path: self.path.clone(), message })?;
        }
        Ok(())
    }

    /// The newest unified directory's record.
    pub fn latest_unified(&self) -> Result<Option<UnifiedRun>, StateError> {
        self.conn
            .query_row(
                "SELECT id, created_at, snapshots, mappings_hash, content_hash, blocking FROM unified_runs ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    let ids: String = r.get(2)?;
                    Ok(UnifiedRun {
                        id: r.get(0)?,
                        created_at: r.get(1)?,
                        snapshots: serde_json::from_str::<Vec<i64>>(&ids).unwrap_or_default().into_iter().map(SnapshotId).collect(),
                        mappings_hash: r.get(3)?,
                        content_hash: r.get(4)?,
                        blocking: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}
