//! `samla state check`: SQLite's full `integrity_check`, then every stored content hash
//! recomputed from what the state holds (snapshots, unified directories, the name book's
//! chunks), on a read-only handle.

use super::snapshot::object_digest;
use super::tally::Tally;
use super::unified::name_chunk_digest;
use super::{State, StateError};
use crate::model::unified::ContentHash;
use serde::Serialize;

/// Findings of `PRAGMA integrity_check` listed at most.
const INTEGRITY_FINDINGS: usize = 100;

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    /// Something is wrong: what.
    Failed(String),
    /// Nothing to verify against (stored by an earlier samla): why.
    NotRecorded(String),
}

impl Verdict {
    /// A content hash computed again against the one stored.
    fn of_hash(computed: Result<String, StateError>, stored: &str) -> Verdict {
        match computed {
            Ok(hash) if hash == stored => Verdict::Ok,
            Ok(hash) => Verdict::Failed(format!("content hash {hash}, stored {stored}")),
            Err(e) => Verdict::Failed(e.to_string()),
        }
    }
}

/// One line of the check: what was checked and what was found.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub what: String,
    pub verdict: Verdict,
}

/// Everything `samla state check` checked.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub path: std::path::PathBuf,
    pub checks: Vec<Checked>,
}

impl CheckReport {
    /// No check failed.
    pub fn ok(&self) -> bool {
        !self.checks.iter().any(|c| matches!(c.verdict, Verdict::Failed(_)))
    }
}

impl State {
    /// Runs every check; a check that cannot even read what it checks fails with the reason.
    pub fn check(&self) -> CheckReport {
        let mut checks = vec![Checked { what: "SQLite integrity_check".into(), verdict: self.integrity() }];
        let mut add = |what: &str, result: Result<Vec<Checked>, StateError>| match result {
            Ok(found) => checks.extend(found),
            Err(e) => checks.push(Checked { what: what.into(), verdict: Verdict::Failed(e.to_string()) }),
        };
        add("snapshots", self.check_snapshots());
        add("unified directories", self.check_unified());
        add("name book", self.check_name_book());
        CheckReport { path: self.path.clone(), checks }
    }

    fn integrity(&self) -> Verdict {
        match self.pragma_rows("integrity_check", INTEGRITY_FINDINGS) {
            Ok(rows) if rows.iter().all(|r| r == "ok") => Verdict::Ok,
            Ok(rows) => Verdict::Failed(rows.join("; ")),
            Err(e) => Verdict::Failed(e.to_string()),
        }
    }

    fn check_snapshots(&self) -> Result<Vec<Checked>, StateError> {
        let mut found = Vec::new();
        for s in self.snapshots()? {
            let what = format!("snapshot {} ({})", s.id.0, s.municipality);
            let verdict = Verdict::of_hash(self.snapshot_hash(s.id.0), &s.content_hash);
            found.push(Checked { what, verdict });
        }
        Ok(found)
    }

    fn snapshot_hash(&self, id: i64) -> Result<String, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT guid, data FROM snapshot_objects WHERE snapshot_id = ?1")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([id]).map_err(|e| self.err(e))?;
        let mut tally = Tally::default();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let guid: String = row.get(0).map_err(|e| self.err(e))?;
            let data = row.get_ref(1).and_then(|v| v.as_str().map_err(Into::into)).map_err(|e| self.err(e))?;
            tally.add_digest(&guid, object_digest(&guid, data));
        }
        Ok(tally.content_hash())
    }

    fn check_unified(&self) -> Result<Vec<Checked>, StateError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, content_hash, EXISTS (SELECT 1 FROM unified_chunks c WHERE c.run_id = r.id),
                        EXISTS (SELECT 1 FROM unified_objects o WHERE o.run_id = r.id)
                 FROM unified_runs r ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let runs: Vec<(i64, String, bool, bool)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        let mut found = Vec::new();
        for (id, stored, chunked, rows) in runs {
            let verdict = if !chunked && rows {
                Verdict::NotRecorded("stored one row per object by an earlier samla".into())
            } else {
                Verdict::of_hash(self.unified_hash(id), &stored)
            };
            found.push(Checked { what: format!("unified directory of map run {id}"), verdict });
        }
        Ok(found)
    }

    /// The content hash of a chunked unified directory, from its chunks in order.
    fn unified_hash(&self, id: i64) -> Result<String, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, kind, data FROM unified_chunks WHERE run_id = ?1 ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let mut chunks = stmt.query([id]).map_err(|e| self.err(e))?;
        let mut hash = ContentHash::default();
        while let Some(chunk) = chunks.next().map_err(|e| self.err(e))? {
            let seq: i64 = chunk.get(0).map_err(|e| self.err(e))?;
            let kind: String = chunk.get(1).map_err(|e| self.err(e))?;
            let packed = chunk.get_ref(2).and_then(|v| v.as_blob().map_err(Into::into)).map_err(|e| self.err(e))?;
            let text = zstd::stream::decode_all(packed).map_err(|e| StateError::Invalid {
                path: self.path.clone(),
                message: format!("unified chunk {seq}: {e}"),
            })?;
            hash.add_lines(&kind, &text);
        }
        Ok(hash.finish())
    }

    fn check_name_book(&self) -> Result<Vec<Checked>, StateError> {
        let mut stmt =
            self.conn.prepare("SELECT seq, data, digest FROM name_chunks ORDER BY seq").map_err(|e| self.err(e))?;
        let chunks: Vec<(i64, Vec<u8>, Option<String>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        let (mut verified, mut unrecorded, mut failed) = (0usize, 0usize, Vec::new());
        for (seq, data, stored) in chunks {
            let Some(stored) = stored else {
                unrecorded += 1;
                continue;
            };
            match zstd::stream::decode_all(data.as_slice()) {
                Ok(text) if name_chunk_digest(&text) == stored => verified += 1,
                Ok(_) => failed.push(format!("chunk {seq}: its names differ from their stored digest")),
                Err(e) => failed.push(format!("chunk {seq}: {e}")),
            }
        }
        let verdict = match (failed.is_empty(), verified, unrecorded) {
            (false, ..) => Verdict::Failed(failed.join("; ")),
            (true, 0, 0) => Verdict::Ok,
            (true, 0, _) => Verdict::NotRecorded("written by an earlier samla, without digests".into()),
            (true, _, 0) => Verdict::Ok,
            (true, _, n) => Verdict::NotRecorded(format!(
                "{verified} chunks verified; {n} written by an earlier samla have no digest"
            )),
        };
        Ok(vec![Checked { what: "name book".into(), verdict }])
    }
}
