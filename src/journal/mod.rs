//! The journal: what samla did to which target, when, for whom, and what it looked like
//! before, in the state file.
//!
//! Three tables, created by the state's third migration (the state owns the schema):
//! - `wave_runs`: one row per `samla wave run` (who ran it, from which host, with which
//!   command, the wave file's hash, start, end and outcome) — the traceability the
//!   cooperation's policy asks for;
//! - `journal`: one row per operation sent, written *before* it is sent (its intent, and for a
//!   modification the before-image of what it changes), completed after it (status, result,
//!   the target's object id). A row still `sent` after its run ended was in flight when the
//!   process died: it is *in doubt*, and the next run settles it by looking at the target;
//! - `target_objects`: which object in which target belongs to which anchor, and whether samla
//!   created it (the rollback deletes only what samla created).
//!
//! Intents are written a whole `$batch` (or a chunk of LDAP operations) per transaction with
//! `synchronous = FULL`, so they survive a power loss before the first byte is sent, at two
//! disk syncs per batch rather than per request. Secrets never reach these rows: requests are
//! journaled with the `{password}` placeholder still in place.

use crate::state::{State, StateError};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::collections::HashMap;

/// Which target system an operation went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    Tenant,
    SharedAd,
}

impl System {
    pub fn as_str(self) -> &'static str {
        match self {
            System::Tenant => "tenant",
            System::SharedAd => "shared_ad",
        }
    }
}

/// Who started a run, and how.
#[derive(Debug, Clone, Serialize)]
pub struct RunStart {
    pub wave: u32,
    pub wave_name: String,
    pub wave_file: String,
    pub wave_hash: String,
    pub target: String,
    pub operator: String,
    pub host: String,
    pub command: String,
}

/// An operation about to be sent.
#[derive(Debug, Clone)]
pub struct Intent {
    pub system: System,
    pub pass: u32,
    pub op_key: String,
    pub action: String,
    pub municipality: String,
    pub anchor: Option<String>,
    /// What a person recognises: a UPN, a DN, a group's name.
    pub object: String,
    /// The request as sent (JSON), secrets as placeholders.
    pub intent: String,
    /// The values it replaces (JSON), for modifications.
    pub before: Option<String>,
}

/// How an operation ended.
#[derive(Debug, Clone)]
pub struct Completion {
    pub row: i64,
    pub ok: bool,
    pub status: Option<u16>,
    pub result: String,
    pub object_id: Option<String>,
}

/// An object in a target and whose it is.
#[derive(Debug, Clone)]
pub struct TargetObject<'a> {
    pub system: System,
    /// The anchor, `licence-group:<class>` or `ou:<dn>`.
    pub key: &'a str,
    /// The Graph id or the DN.
    pub object_id: &'a str,
    pub kind: &'a str,
    pub wave: u32,
    /// The run that created it; None when samla found it.
    pub created_by_run: Option<i64>,
}

/// One run as `samla wave status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub wave: u32,
    pub wave_name: String,
    pub wave_hash: String,
    pub target: String,
    pub kind: String,
    pub operator: String,
    pub host: String,
    pub command: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub summary: Option<serde_json::Value>,
    /// Operations by (system, state).
    pub operations: Vec<(String, String, u64)>,
}

/// One journal row with the run that sent it: what `wave status` lists and a rollback undoes.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: i64,
    pub run_id: i64,
    pub system: String,
    pub action: String,
    pub municipality: String,
    pub anchor: Option<String>,
    pub object: String,
    /// The request as sent (JSON), secrets as placeholders.
    pub intent: String,
    pub before: Option<String>,
    pub state: String,
    pub status: Option<u16>,
    /// The answer, or why it failed.
    pub result: Option<String>,
    pub object_id: Option<String>,
    pub sent_at: String,
    pub operator: String,
    pub wave_hash: String,
}

impl Entry {
    /// Whether the operation may have taken effect: it succeeded, or its answer never came
    /// (in doubt, or unanswered). A refusal (a status from the server) changed nothing.
    pub fn may_have_happened(&self) -> bool {
        match self.state.as_str() {
            "done" | "in_doubt" | "sent" => true,
            _ => matches!(self.status, None | Some(0)),
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl State {
    /// Starts a run; earlier runs of this target still marked running died mid-way: they are
    /// closed as failed and their in-flight operations marked in doubt.
    pub fn start_run(&mut self, start: &RunStart, kind: &str) -> Result<i64, StateError> {
        let path = self.path.clone();
        let e = |source| StateError::Sqlite { path: path.clone(), source };
        self.conn.pragma_update(None, "synchronous", "FULL").map_err(e)?;
        let tx = self.conn.transaction().map_err(e)?;
        tx.execute(
            "UPDATE journal SET state = 'in_doubt' WHERE state = 'sent' AND run_id IN
               (SELECT id FROM wave_runs WHERE target = ?1 AND status = 'running')",
            params![start.target],
        )
        .map_err(e)?;
        tx.execute(
            "UPDATE wave_runs SET status = 'failed', finished_at = ?2,
               summary = '{\"interrupted\":true}' WHERE target = ?1 AND status = 'running'",
            params![start.target, now()],
        )
        .map_err(e)?;
        tx.execute(
            "INSERT INTO wave_runs (wave, wave_name, wave_file, wave_hash, target, kind, operator, host, command,
               started_at, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'running')",
            params![
                start.wave,
                start.wave_name,
                start.wave_file,
                start.wave_hash,
                start.target,
                kind,
                start.operator,
                start.host,
                start.command,
                now()
            ],
        )
        .map_err(e)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(e)?;
        Ok(id)
    }

    /// Ends a run with its summary.
    pub fn finish_run(&mut self, run: i64, ok: bool, summary: &serde_json::Value) -> Result<(), StateError> {
        let status = if ok { "completed" } else { "failed" };
        self.conn
            .execute(
                "UPDATE wave_runs SET status = ?2, finished_at = ?3, summary = ?4 WHERE id = ?1",
                params![run, status, now(), summary.to_string()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Makes the intents durable (one transaction, synchronous FULL) and returns their rows,
    /// in order. Call before sending them.
    pub fn record_intents(&mut self, run: i64, intents: &[Intent]) -> Result<Vec<i64>, StateError> {
        let path = self.path.clone();
        let e = |source| StateError::Sqlite { path: path.clone(), source };
        self.conn.pragma_update(None, "synchronous", "FULL").map_err(e)?;
        let tx = self.conn.transaction().map_err(e)?;
        let mut rows = Vec::with_capacity(intents.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO journal (run_id, system, pass, op_key, action, municipality, anchor, object, intent,
                       before, state, sent_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'sent', ?11)",
                )
                .map_err(e)?;
            let at = now();
            for i in intents {
                insert
                    .execute(params![
                        run,
                        i.system.as_str(),
                        i.pass,
                        i.op_key,
                        i.action,
                        i.municipality,
                        i.anchor,
                        i.object,
                        i.intent,
                        i.before,
                        at
                    ])
                    .map_err(e)?;
                rows.push(tx.last_insert_rowid());
            }
        }
        tx.commit().map_err(e)?;
        Ok(rows)
    }

    /// Records how operations ended (one transaction).
    pub fn record_completions(&mut self, done: &[Completion]) -> Result<(), StateError> {
        let path = self.path.clone();
        let e = |source| StateError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut update = tx
                .prepare_cached(
                    "UPDATE journal SET state = ?2, status = ?3, result = ?4, object_id = ?5, finished_at = ?6
                     WHERE id = ?1",
                )
                .map_err(e)?;
            let at = now();
            for c in done {
                let state = if c.ok { "done" } else { "failed" };
                update.execute(params![c.row, state, c.status, c.result, c.object_id, at]).map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(())
    }

    /// Remembers which target object an anchor (or another key, such as a licence group's
    /// class or an OU's DN) is. `created_by_run` is kept once set: an object samla created
    /// stays samla's even when a later run finds it again.
    pub fn remember_object(&mut self, target: &str, o: &TargetObject<'_>) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO target_objects (target, system, key, object_id, kind, wave, created_by_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (target, system, key) DO UPDATE SET object_id = excluded.object_id,
                   created_by_run = coalesce(target_objects.created_by_run, excluded.created_by_run)",
                params![target, o.system.as_str(), o.key, o.object_id, o.kind, o.wave, o.created_by_run],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Whether any run against `target` journaled a create of `key` (so an object found with
    /// that key was, or may have been, made by samla), and the first such run.
    pub fn create_intent_run(&self, target: &str, system: System, key: &str) -> Result<Option<i64>, StateError> {
        self.conn
            .query_row(
                "SELECT min(j.run_id) FROM journal j JOIN wave_runs r ON r.id = j.run_id
                 WHERE r.target = ?1 AND j.system = ?2 AND j.anchor = ?3 AND j.action LIKE 'create%'",
                params![target, system.as_str(), key],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }

    /// The objects samla knows in a target system: key (anchor, `licence-group:<class>`,
    /// `ou:<dn>`) -> object id (Graph id or DN).
    pub fn known_objects(&self, target: &str, system: System) -> Result<HashMap<String, String>, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, object_id FROM target_objects WHERE target = ?1 AND system = ?2")
            .map_err(|e| self.err(e))?;
        stmt.query_map(params![target, system.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// The runs of a wave against a target (all targets when None), newest last.
    pub fn runs(&self, wave: u32, target: Option<&str>) -> Result<Vec<RunRow>, StateError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, wave, wave_name, wave_hash, target, kind, operator, host, command, started_at,
                   finished_at, status, summary FROM wave_runs WHERE wave = ?1 AND (?2 IS NULL OR target = ?2)
                 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let mut runs: Vec<RunRow> = stmt
            .query_map(params![wave, target], |r| {
                let summary: Option<String> = r.get(12)?;
                Ok(RunRow {
                    id: r.get(0)?,
                    wave: r.get(1)?,
                    wave_name: r.get(2)?,
                    wave_hash: r.get(3)?,
                    target: r.get(4)?,
                    kind: r.get(5)?,
                    operator: r.get(6)?,
                    host: r.get(7)?,
                    command: r.get(8)?,
                    started_at: r.get(9)?,
                    finished_at: r.get(10)?,
                    status: r.get(11)?,
                    summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
                    operations: Vec::new(),
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut count = self
            .conn
            .prepare("SELECT system, state, count(*) FROM journal WHERE run_id = ?1 GROUP BY system, state")
            .map_err(|e| self.err(e))?;
        for run in &mut runs {
            run.operations = count
                .query_map(params![run.id], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64)))
                .map_err(|e| self.err(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))?;
        }
        Ok(runs)
    }

    /// Every operation the runs (not rollbacks) of `wave` sent to `target`, in the order sent.
    pub fn wave_entries(&self, target: &str, wave: u32) -> Result<Vec<Entry>, StateError> {
        self.entries("r.target = ?1 AND r.wave = ?2 AND r.kind = 'run'", params![target, wave])
    }

    /// The journal rows of a run, in the order they were sent.
    pub fn operations(&self, run: i64) -> Result<Vec<Entry>, StateError> {
        self.entries("j.run_id = ?1", params![run])
    }

    fn entries(&self, filter: &str, values: impl rusqlite::Params) -> Result<Vec<Entry>, StateError> {
        let sql = format!(
            "SELECT j.id, j.run_id, j.system, j.action, j.municipality, j.anchor, j.object, j.intent, j.before,
               j.state, j.status, j.result, j.object_id, j.sent_at, r.operator, r.wave_hash
             FROM journal j JOIN wave_runs r ON r.id = j.run_id WHERE {filter} ORDER BY j.id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        stmt.query_map(values, |r| {
            Ok(Entry {
                id: r.get(0)?,
                run_id: r.get(1)?,
                system: r.get(2)?,
                action: r.get(3)?,
                municipality: r.get(4)?,
                anchor: r.get(5)?,
                object: r.get(6)?,
                intent: r.get(7)?,
                before: r.get(8)?,
                state: r.get(9)?,
                status: r.get(10)?,
                result: r.get(11)?,
                object_id: r.get(12)?,
                sent_at: r.get(13)?,
                operator: r.get(14)?,
                wave_hash: r.get(15)?,
            })
        })
        .map_err(|e| self.err(e))?
        .collect::<Result<_, _>>()
        .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(target: &str) -> RunStart {
        RunStart {
            wave: 1,
            wave_name: "pilot".into(),
            wave_file: "waves/01-pilot.toml".into(),
            wave_hash: "abc".into(),
            target: target.into(),
            operator: "anna".into(),
            host: "h".into(),
            command: "samla wave run 1 --target lab".into(),
        }
    }

    fn intent(key: &str) -> Intent {
        Intent {
            system: System::Tenant,
            pass: 1,
            op_key: key.into(),
            action: "create_user".into(),
            municipality: "bjuv".into(),
            anchor: Some(key.into()),
            object: format!("{key}@bjuv.se"),
            intent: "{\"password\":\"{password}\"}".into(),
            before: None,
        }
    }

    #[test]
    fn intents_completions_and_a_run_that_died() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&dir.path().join("s.db")).unwrap();
        let run = s.start_run(&start("lab"), "run").unwrap();
        let rows = s.record_intents(run, &[intent("a"), intent("b")]).unwrap();
        s.record_completions(&[Completion {
            row: rows[0],
            ok: true,
            status: Some(201),
            result: "created".into(),
            object_id: Some("id-a".into()),
        }])
        .unwrap();
        assert_eq!(s.create_intent_run("lab", System::Tenant, "b").unwrap(), Some(run));
        assert_eq!(s.create_intent_run("prod", System::Tenant, "b").unwrap(), None);
        // The process dies here; the next run finds the first still running.
        let next = s.start_run(&start("lab"), "run").unwrap();
        let runs = s.runs(1, Some("lab")).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].status, "failed");
        assert!(runs[0].operations.contains(&("tenant".into(), "in_doubt".into(), 1)));
        assert!(runs[0].operations.contains(&("tenant".into(), "done".into(), 1)));
        assert_eq!(runs[1].id, next);
        s.finish_run(next, true, &serde_json::json!({"created": 0})).unwrap();
        assert_eq!(s.runs(1, None).unwrap()[1].status, "completed");
        let mut o = TargetObject {
            system: System::Tenant,
            key: "a",
            object_id: "id-a",
            kind: "user",
            wave: 1,
            created_by_run: Some(run),
        };
        s.remember_object("lab", &o).unwrap();
        o.created_by_run = None;
        s.remember_object("lab", &o).unwrap();
        let created: Option<i64> =
            s.conn.query_row("SELECT created_by_run FROM target_objects WHERE key = 'a'", [], |r| r.get(0)).unwrap();
        assert_eq!(created, Some(run), "once samla's, always samla's");
    }
}
