//! The mapping stage's state: the name book (names given out, never reshuffled) and each
//! unified directory with the inputs it came from.

use super::{SnapshotId, State, StateError};
use crate::mapping::unify::{Anchor, NameBook, Namespace, UnifiedDirectory, UnifiedRow};
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

/// Why the thread serialising the rows stopped early.
enum Stop {
    Json(serde_json::Error),
    /// Storing failed and stopped listening; its own error is the one reported.
    StoreGone,
}

impl From<serde_json::Error> for Stop {
    fn from(e: serde_json::Error) -> Stop {
        Stop::Json(e)
    }
}

/// Hands the canonical rows of `dir` to `store` and returns the content hash. A second thread
/// serialises and hashes while this one stores: at a million people each half takes
/// seconds, and SQLite's connection cannot be shared, so they overlap instead.
fn store_rows(
    path: &std::path::Path,
    dir: &UnifiedDirectory,
    mut store: impl FnMut(UnifiedRow) -> Result<(), StateError>,
) -> Result<String, StateError> {
    const BATCH: usize = 256;
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<UnifiedRow>>(16);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let hash = dir.for_each_row(|row| {
                batch.push(row);
                if batch.len() == BATCH {
                    send.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).map_err(|_| Stop::StoreGone)?;
                }
                Ok::<(), Stop>(())
            })?;
            send.send(batch).map_err(|_| Stop::StoreGone)?;
            Ok::<String, Stop>(hash)
        });
        let stored = receive.iter().flatten().try_for_each(&mut store);
        // Dropping the receiver tells a producer still running that storing failed.
        drop(receive);
        let produced = producer.join();
        stored?;
        match produced {
            Ok(Ok(hash)) => Ok(hash),
            Ok(Err(Stop::Json(e))) => Err(StateError::Encode(e)),
            Ok(Err(Stop::StoreGone)) | Err(_) => Err(StateError::Invalid {
                path: path.to_path_buf(),
                message: "the thread serialising the unified directory stopped".into(),
            }),
        }
    })
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
        let started = std::time::Instant::now();
        let phase = |what: &str| tracing::debug!("save_unified: {what} after {:.2} s", started.elapsed().as_secs_f64());
        let tx = self.conn.transaction().map_err(sq)?;
        {
            let mut insert = tx
                .prepare("INSERT INTO assigned_names (namespace, name_key, name, anchor, assigned_at) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(sq)?;
            // In key order: each insert lands at the end of the table's B-tree. In the order
            // given out, two million names meant a random page for every insert, which was
            // a third of `samla map` at a million users.
            let mut added: Vec<_> =
                book.added().map(|(ns, name, anchor)| (ns.as_str(), name.to_lowercase(), name, anchor)).collect();
            added.sort_unstable();
            for (ns, key, name, anchor) in added {
                insert.execute(params![ns, key, name, anchor.0.to_string(), now]).map_err(sq)?;
            }
        }
        phase("names stored");
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
            store_rows(&path, dir, |row| {
                insert.execute(params![id, row.kind, row.key, row.data]).map(drop).map_err(sq)
            })?
        };
        tx.execute("UPDATE unified_runs SET content_hash = ?2 WHERE id = ?1", params![id, content_hash]).map_err(sq)?;
        phase("rows stored");
        tx.commit().map_err(sq)?;
        phase("committed");
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
