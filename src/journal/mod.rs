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

mod identity;
mod values;

pub use identity::{SharedAdIdentity, TargetIdentity, TenantIdentity};
pub use values::{Action, OpState, Problem, RowError, RunKind, RunStatus, System, TargetKind, Text};

use crate::state::{State, StateError};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use values::decode;

/// Why the journal could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("state file {}: {source}", path.display())]
    Row { path: PathBuf, source: RowError },
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
    /// The systems the target name stands for now.
    pub identity: TargetIdentity,
}

/// An operation about to be sent.
#[derive(Debug, Clone)]
pub struct Intent {
    pub system: System,
    pub pass: u32,
    pub op_key: String,
    pub action: Action,
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
    /// Done, failed, or in doubt (the target's answer does not say whether it took effect).
    pub state: OpState,
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
    pub kind: TargetKind,
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
    pub kind: RunKind,
    pub operator: String,
    pub host: String,
    pub command: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: RunStatus,
    pub summary: Option<serde_json::Value>,
    /// The systems the target name stood for (None: a run recorded before samla kept it).
    pub identity: Option<TargetIdentity>,
    /// Operations by (system, state).
    pub operations: Vec<(System, OpState, u64)>,
}

/// One journal row with the run that sent it: what `wave status` lists and a rollback undoes.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: i64,
    pub run_id: i64,
    pub system: System,
    pub action: Action,
    pub municipality: String,
    pub anchor: Option<String>,
    pub object: String,
    /// The request as sent (JSON), secrets as placeholders.
    pub intent: String,
    pub before: Option<String>,
    pub state: OpState,
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
        match self.state {
            OpState::Done | OpState::InDoubt | OpState::Sent => true,
            OpState::Failed => matches!(self.status, None | Some(0)),
        }
    }

    /// The request as sent, parsed; an error naming the row when it is not JSON.
    pub fn intent_json(&self) -> Result<serde_json::Value, RowError> {
        serde_json::from_str(&self.intent).map_err(|e| self.error("intent", Problem::NotJson(e)))
    }

    /// The before-image, parsed (None when the row has none); an error naming the row when it
    /// is not JSON.
    pub fn before_json(&self) -> Result<Option<serde_json::Value>, RowError> {
        self.before
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| self.error("before", Problem::NotJson(e)))
    }

    fn error(&self, column: &'static str, problem: Problem) -> RowError {
        RowError::Journal { row: self.id, run: self.run_id, column, problem }
    }
}

/// One row of [`State::entries`]'s query (its columns in order); the inner error names a row
/// holding a text samla does not know.
fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Entry, RowError>> {
    let (id, run_id): (i64, i64) = (r.get(0)?, r.get(1)?);
    let at = |column| move |problem| RowError::Journal { row: id, run: run_id, column, problem };
    let (system, action, state): (String, String, String) = (r.get(2)?, r.get(3)?, r.get(9)?);
    let decoded: Result<(System, Action, OpState), RowError> =
        (|| Ok((decode(system, at("system"))?, decode(action, at("action"))?, decode(state, at("state"))?)))();
    let (system, action, state) = match decoded {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(Entry {
        id,
        run_id,
        system,
        action,
        municipality: r.get(4)?,
        anchor: r.get(5)?,
        object: r.get(6)?,
        intent: r.get(7)?,
        before: r.get(8)?,
        state,
        status: r.get(10)?,
        result: r.get(11)?,
        object_id: r.get(12)?,
        sent_at: r.get(13)?,
        operator: r.get(14)?,
        wave_hash: r.get(15)?,
    }))
}

/// A run's recorded identity, read back from its JSON.
fn identity_of(text: Option<String>) -> Result<Option<TargetIdentity>, Problem> {
    text.map(|t| serde_json::from_str(&t).map_err(Problem::NotJson)).transpose()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl State {
    /// Starts a run; earlier runs of this target still marked running died mid-way: they are
    /// closed as failed and their in-flight operations marked in doubt.
    pub fn start_run(&mut self, start: &RunStart, kind: RunKind) -> Result<i64, StateError> {
        let path = self.path.clone();
        let e = |source| StateError::Sqlite { path: path.clone(), source };
        self.conn.pragma_update(None, "synchronous", "FULL").map_err(e)?;
        let tx = self.conn.transaction().map_err(e)?;
        tx.execute(
            "UPDATE journal SET state = ?2 WHERE state = ?3 AND run_id IN
               (SELECT id FROM wave_runs WHERE target = ?1 AND status = ?4)",
            params![start.target, OpState::InDoubt, OpState::Sent, RunStatus::Running],
        )
        .map_err(e)?;
        tx.execute(
            "UPDATE wave_runs SET status = ?3, finished_at = ?2,
               summary = '{\"interrupted\":true}' WHERE target = ?1 AND status = ?4",
            params![start.target, now(), RunStatus::Failed, RunStatus::Running],
        )
        .map_err(e)?;
        tx.execute(
            "INSERT INTO wave_runs (wave, wave_name, wave_file, wave_hash, target, kind, operator, host, command,
               started_at, status, identity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
                now(),
                RunStatus::Running,
                serde_json::to_string(&start.identity)?
            ],
        )
        .map_err(e)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(e)?;
        Ok(id)
    }

    /// Ends a run with its summary.
    pub fn finish_run(&mut self, run: i64, ok: bool, summary: &serde_json::Value) -> Result<(), StateError> {
        let status = if ok { RunStatus::Completed } else { RunStatus::Failed };
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
                       before, state, sent_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(e)?;
            let at = now();
            for i in intents {
                insert
                    .execute(params![
                        run,
                        i.system,
                        i.pass,
                        i.op_key,
                        i.action,
                        i.municipality,
                        i.anchor,
                        i.object,
                        i.intent,
                        i.before,
                        OpState::Sent,
                        at
                    ])
                    .map_err(e)?;
                rows.push(tx.last_insert_rowid());
            }
        }
        tx.commit().map_err(e)?;
        Ok(rows)
    }

    /// Records one intent before it is sent (as [`State::record_intents`]); its journal row.
    pub fn record_intent(&mut self, run: i64, intent: &Intent) -> Result<i64, StateError> {
        let rows = self.record_intents(run, std::slice::from_ref(intent))?;
        rows.first().copied().ok_or_else(|| StateError::Invalid {
            path: self.path.clone(),
            message: format!("the journal gave no row for {} {}", intent.action, intent.object),
        })
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
                update.execute(params![c.row, c.state, c.status, c.result, c.object_id, at]).map_err(e)?;
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
                params![target, o.system, o.key, o.object_id, o.kind, o.wave, o.created_by_run],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Whether any run against `target` journaled a create of `key` that may have taken effect
    /// (so an object found with that key was, or may have been, made by samla), and the first
    /// such run. A create the target refused (a failed row with the target's status, such as
    /// "already exists") made nothing: the object found is someone else's.
    pub fn create_intent_run(&self, target: &str, system: System, key: &str) -> Result<Option<i64>, StateError> {
        self.conn
            .query_row(
                "SELECT min(j.run_id) FROM journal j JOIN wave_runs r ON r.id = j.run_id
                 WHERE r.target = ?1 AND j.system = ?2 AND j.anchor = ?3 AND j.action LIKE 'create%'
                   AND (j.state != ?4 OR coalesce(j.status, 0) = 0)",
                params![target, system, key, OpState::Failed],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }

    /// samla's own objects a rollback deleted in a target system: key (anchor,
    /// `licence-group:<class>`) -> object id. An object counts when a run created it
    /// (`target_objects.created_by_run`) and a rollback sent a delete of that very id (its
    /// URL names it) that may have taken effect (done, in doubt, or "not found" on a resend).
    /// Such an object, found among the tenant's deleted items with its anchor, is restored
    /// when the wave runs again, instead of being created anew.
    pub fn own_deleted(&self, target: &str, system: System) -> Result<HashMap<String, String>, StateError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT t.key, t.object_id FROM target_objects t
                 WHERE t.target = ?1 AND t.system = ?2 AND t.created_by_run IS NOT NULL AND EXISTS (
                   SELECT 1 FROM journal j JOIN wave_runs r ON r.id = j.run_id
                   WHERE r.target = ?1 AND r.kind = ?3 AND j.system = ?2 AND j.anchor = t.key
                     AND j.action IN (?4, ?5) AND instr(j.intent, t.object_id) > 0
                     AND (j.state != ?6 OR coalesce(j.status, 0) IN (0, 404)))",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map(
            params![target, system, RunKind::Rollback, Action::DeleteUser, Action::DeleteGroup, OpState::Failed],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| self.err(e))?
        .collect::<Result<_, _>>()
        .map_err(|e| self.err(e))
    }

    /// The objects samla knows in a target system: key (anchor, `licence-group:<class>`,
    /// `ou:<dn>`) -> object id (Graph id or DN).
    pub fn known_objects(&self, target: &str, system: System) -> Result<HashMap<String, String>, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, object_id FROM target_objects WHERE target = ?1 AND system = ?2")
            .map_err(|e| self.err(e))?;
        stmt.query_map(params![target, system], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// The runs of a wave against a target (all targets when None), newest last.
    pub fn runs(&self, wave: u32, target: Option<&str>) -> Result<Vec<RunRow>, ReadError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, wave, wave_name, wave_hash, target, kind, operator, host, command, started_at,
                   finished_at, status, summary, identity FROM wave_runs WHERE wave = ?1 AND (?2 IS NULL OR target = ?2)
                 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows: Vec<Result<RunRow, RowError>> = stmt
            .query_map(params![wave, target], |r| {
                let id: i64 = r.get(0)?;
                let at = |column| move |problem| RowError::Run { run: id, column, problem };
                let (kind, status): (String, String) = (r.get(5)?, r.get(11)?);
                let identity: Option<String> = r.get(13)?;
                let decoded: Result<(RunKind, RunStatus, Option<TargetIdentity>), RowError> = (|| {
                    Ok((
                        decode(kind, at("kind"))?,
                        decode(status, at("status"))?,
                        identity_of(identity).map_err(at("identity"))?,
                    ))
                })();
                let (kind, status, identity) = match decoded {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                };
                let summary: Option<String> = r.get(12)?;
                Ok(Ok(RunRow {
                    id,
                    wave: r.get(1)?,
                    wave_name: r.get(2)?,
                    wave_hash: r.get(3)?,
                    target: r.get(4)?,
                    kind,
                    operator: r.get(6)?,
                    host: r.get(7)?,
                    command: r.get(8)?,
                    started_at: r.get(9)?,
                    finished_at: r.get(10)?,
                    status,
                    summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
                    identity,
                    operations: Vec::new(),
                }))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut runs = self.decoded(rows)?;
        let mut count = self
            .conn
            .prepare("SELECT system, state, count(*) FROM journal WHERE run_id = ?1 GROUP BY system, state")
            .map_err(|e| self.err(e))?;
        for run in &mut runs {
            let id = run.id;
            let at = |column| move |problem| RowError::RunOperations { run: id, column, problem };
            let counts: Vec<Result<(System, OpState, u64), RowError>> = count
                .query_map(params![id], |r| {
                    let (system, state): (String, String) = (r.get(0)?, r.get(1)?);
                    let n = r.get::<_, i64>(2)?.max(0) as u64;
                    Ok((|| Ok((decode(system, at("system"))?, decode(state, at("state"))?, n)))())
                })
                .map_err(|e| self.err(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))?;
            run.operations = self.decoded(counts)?;
        }
        Ok(runs)
    }

    /// The identity the newest run against `target` recorded, with that run (None when no run
    /// recorded one: none was made, or all before samla kept identities).
    pub fn recorded_identity(&self, target: &str) -> Result<Option<(i64, TargetIdentity)>, ReadError> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT id, identity FROM wave_runs WHERE target = ?1 AND identity IS NOT NULL ORDER BY id DESC LIMIT 1",
                params![target],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((run, text)) = row else { return Ok(None) };
        let at = |problem| RowError::Run { run, column: "identity", problem };
        match identity_of(Some(text)) {
            Ok(identity) => Ok(identity.map(|i| (run, i))),
            Err(problem) => Err(ReadError::Row { path: self.path.clone(), source: at(problem) }),
        }
    }

    /// Every operation the runs (not rollbacks) of `wave` sent to `target`, in the order sent.
    pub fn wave_entries(&self, target: &str, wave: u32) -> Result<Vec<Entry>, ReadError> {
        self.entries("r.target = ?1 AND r.wave = ?2 AND r.kind = ?3", params![target, wave, RunKind::Run])
    }

    /// The keys (anchors) of the tenant's objects a rollback of `wave` in `target` sent a delete
    /// for that may have taken effect (done, in doubt, or "not found").
    pub fn rolled_back_deletes(&self, target: &str, wave: u32) -> Result<HashSet<String>, ReadError> {
        let entries =
            self.entries("r.target = ?1 AND r.wave = ?2 AND r.kind = ?3", params![target, wave, RunKind::Rollback])?;
        Ok(entries
            .into_iter()
            .filter(|e| matches!(e.action, Action::DeleteUser | Action::DeleteGroup))
            .filter(|e| e.may_have_happened() || e.status == Some(404))
            .filter_map(|e| e.anchor)
            .collect())
    }

    /// Every operation the runs of kind `kind` of `wave` sent to `target`, in the order sent.
    pub fn kind_entries(&self, target: &str, wave: u32, kind: RunKind) -> Result<Vec<Entry>, ReadError> {
        self.entries("r.target = ?1 AND r.wave = ?2 AND r.kind = ?3", params![target, wave, kind])
    }

    /// The objects of `kind` that runs of `wave` created in `target`'s `system` (not those
    /// samla only found): key (anchor) -> object id (Graph id or DN).
    pub fn created_objects(
        &self,
        target: &str,
        system: System,
        wave: u32,
        kind: TargetKind,
    ) -> Result<Vec<(String, String)>, StateError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT key, object_id FROM target_objects
                 WHERE target = ?1 AND system = ?2 AND wave = ?3 AND kind = ?4 AND created_by_run IS NOT NULL
                 ORDER BY key",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map(params![target, system, wave, kind], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// The journal rows of a run, in the order they were sent.
    pub fn operations(&self, run: i64) -> Result<Vec<Entry>, ReadError> {
        self.entries("j.run_id = ?1", params![run])
    }

    fn entries(&self, filter: &str, values: impl rusqlite::Params) -> Result<Vec<Entry>, ReadError> {
        let sql = format!(
            "SELECT j.id, j.run_id, j.system, j.action, j.municipality, j.anchor, j.object, j.intent, j.before,
               j.state, j.status, j.result, j.object_id, j.sent_at, r.operator, r.wave_hash
             FROM journal j JOIN wave_runs r ON r.id = j.run_id WHERE {filter} ORDER BY j.id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows: Vec<Result<Entry, RowError>> = stmt
            .query_map(values, entry)
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        self.decoded(rows)
    }

    /// The rows read, or the first that holds a text samla does not know.
    fn decoded<T>(&self, rows: Vec<Result<T, RowError>>) -> Result<Vec<T>, ReadError> {
        rows.into_iter().collect::<Result<_, _>>().map_err(|source| ReadError::Row { path: self.path.clone(), source })
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
            identity: TargetIdentity { tenant: None, shared_ad: None },
        }
    }

    fn intent(key: &str) -> Intent {
        Intent {
            system: System::Tenant,
            pass: 1,
            op_key: key.into(),
            action: Action::CreateUser,
            municipality: "bjuv".into(),
            anchor: Some(key.into()),
            object: format!("{key}@bjuv.se"),
            intent: "{\"password\":\"{password}\"}".into(),
            before: None,
        }
    }

    #[test]
    fn a_run_records_its_targets_identity_and_runs_from_before_have_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&dir.path().join("s.db")).unwrap();
        let old = s.start_run(&start("lab"), RunKind::Run).unwrap();
        // A run recorded before the identity was kept.
        s.conn.execute("UPDATE wave_runs SET identity = NULL WHERE id = ?1", [old]).unwrap();
        assert!(s.recorded_identity("lab").unwrap().is_none());
        assert_eq!(s.runs(1, Some("lab")).unwrap()[0].identity, None);
        let mut with = start("lab");
        with.identity.tenant = Some(TenantIdentity { tenant_id: "t1".into(), graph_url: "http://g".into() });
        let run = s.start_run(&with, RunKind::Run).unwrap();
        assert_eq!(s.recorded_identity("lab").unwrap(), Some((run, with.identity.clone())));
        assert_eq!(s.runs(1, Some("lab")).unwrap()[1].identity, Some(with.identity));
        assert!(s.recorded_identity("prod").unwrap().is_none());
        // A refused create made nothing: it does not make an object found later samla's.
        let rows = s.record_intents(run, &[intent("c")]).unwrap();
        let refused = Completion {
            row: rows[0],
            state: OpState::Failed,
            status: Some(400),
            result: "exists".into(),
            object_id: None,
        };
        s.record_completions(&[refused]).unwrap();
        assert_eq!(s.create_intent_run("lab", System::Tenant, "c").unwrap(), None);
    }

    #[test]
    fn intents_completions_and_a_run_that_died() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&dir.path().join("s.db")).unwrap();
        let run = s.start_run(&start("lab"), RunKind::Run).unwrap();
        let rows = s.record_intents(run, &[intent("a"), intent("b")]).unwrap();
        s.record_completions(&[Completion {
            row: rows[0],
            state: OpState::Done,
            status: Some(201),
            result: "created".into(),
            object_id: Some("id-a".into()),
        }])
        .unwrap();
        assert_eq!(s.create_intent_run("lab", System::Tenant, "b").unwrap(), Some(run));
        assert_eq!(s.create_intent_run("prod", System::Tenant, "b").unwrap(), None);
        // The process dies here; the next run finds the first still running.
        let next = s.start_run(&start("lab"), RunKind::Run).unwrap();
        let runs = s.runs(1, Some("lab")).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].status, RunStatus::Failed);
        assert!(runs[0].operations.contains(&(System::Tenant, OpState::InDoubt, 1)));
        assert!(runs[0].operations.contains(&(System::Tenant, OpState::Done, 1)));
        assert_eq!(runs[1].id, next);
        s.finish_run(next, true, &serde_json::json!({"created": 0})).unwrap();
        assert_eq!(s.runs(1, None).unwrap()[1].status, RunStatus::Completed);
        let mut o = TargetObject {
            system: System::Tenant,
            key: "a",
            object_id: "id-a",
            kind: TargetKind::User,
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

    #[test]
    fn own_deleted_objects_are_those_a_run_created_and_a_rollback_deleted_by_that_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&dir.path().join("s.db")).unwrap();
        let run = s.start_run(&start("lab"), RunKind::Run).unwrap();
        let object = |key: &'static str, id: &'static str, by: Option<i64>| TargetObject {
            system: System::Tenant,
            key,
            object_id: id,
            kind: TargetKind::User,
            wave: 1,
            created_by_run: by,
        };
        // a: created, deleted. b: created, its delete refused. c: found (someone else's),
        // deleted. d: created, a delete of another id. e: created, never deleted.
        for (key, id, by) in [("a", "id-a", Some(run)), ("b", "id-b", Some(run)), ("c", "id-c", None)] {
            s.remember_object("lab", &object(key, id, by)).unwrap();
        }
        s.remember_object("lab", &object("d", "id-d", Some(run))).unwrap();
        s.remember_object("lab", &object("e", "id-e", Some(run))).unwrap();
        let rollback = s.start_run(&start("lab"), RunKind::Rollback).unwrap();
        let delete = |key: &str, id: &str| Intent {
            action: Action::DeleteUser,
            intent: format!("{{\"method\":\"DELETE\",\"url\":\"/users/{id}\",\"body\":null}}"),
            ..intent(key)
        };
        let rows = s
            .record_intents(
                rollback,
                &[delete("a", "id-a"), delete("b", "id-b"), delete("c", "id-c"), delete("d", "x")],
            )
            .unwrap();
        let done = |row: i64, ok: bool| Completion {
            row,
            state: if ok { OpState::Done } else { OpState::Failed },
            status: Some(if ok { 204 } else { 403 }),
            result: String::new(),
            object_id: None,
        };
        s.record_completions(&[done(rows[0], true), done(rows[1], false), done(rows[2], true), done(rows[3], true)])
            .unwrap();
        let own = s.own_deleted("lab", System::Tenant).unwrap();
        assert_eq!(own, [("a".to_string(), "id-a".to_string())].into());
        assert!(s.own_deleted("prod", System::Tenant).unwrap().is_empty());
    }

    /// The text a column holds.
    fn column(s: &State, sql: &str, id: i64) -> String {
        s.conn.query_row(sql, [id], |r| r.get(0)).unwrap()
    }

    #[test]
    fn every_value_is_written_as_its_text_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&dir.path().join("s.db")).unwrap();
        for kind in RunKind::ALL {
            let run = s.start_run(&start(kind.as_str()), *kind).unwrap();
            assert_eq!(column(&s, "SELECT kind FROM wave_runs WHERE id = ?1", run), kind.as_str());
            assert_eq!(s.runs(1, Some(kind.as_str())).unwrap()[0].kind, *kind);
        }
        for (ok, status) in [(true, RunStatus::Completed), (false, RunStatus::Failed)] {
            let run = s.start_run(&start("lab"), RunKind::Run).unwrap();
            assert_eq!(s.runs(1, Some("lab")).unwrap().last().unwrap().status, RunStatus::Running);
            s.finish_run(run, ok, &serde_json::json!({})).unwrap();
            assert_eq!(column(&s, "SELECT status FROM wave_runs WHERE id = ?1", run), status.as_str());
            assert_eq!(s.runs(1, Some("lab")).unwrap().last().unwrap().status, status);
        }

        let run = s.start_run(&start("lab"), RunKind::Run).unwrap();
        let intents: Vec<Intent> = System::ALL
            .iter()
            .flat_map(|system| Action::ALL.iter().map(move |action| (*system, *action)))
            .map(|(system, action)| Intent { system, action, ..intent(&format!("{system}-{action}")) })
            .collect();
        let rows = s.record_intents(run, &intents).unwrap();
        for (row, i) in rows.iter().zip(&intents) {
            assert_eq!(column(&s, "SELECT system FROM journal WHERE id = ?1", *row), i.system.as_str());
            assert_eq!(column(&s, "SELECT action FROM journal WHERE id = ?1", *row), i.action.as_str());
            assert_eq!(column(&s, "SELECT state FROM journal WHERE id = ?1", *row), "sent");
        }
        let read: Vec<(System, Action, OpState)> =
            s.operations(run).unwrap().iter().map(|e| (e.system, e.action, e.state)).collect();
        let written: Vec<(System, Action, OpState)> =
            intents.iter().map(|i| (i.system, i.action, OpState::Sent)).collect();
        assert_eq!(read, written);

        let done = |row: i64, ok: bool| Completion {
            row,
            state: if ok { OpState::Done } else { OpState::Failed },
            status: None,
            result: String::new(),
            object_id: None,
        };
        s.record_completions(&[done(rows[0], true), done(rows[1], false)]).unwrap();
        s.start_run(&start("lab"), RunKind::Run).unwrap();
        let states: Vec<OpState> = s.operations(run).unwrap().iter().take(3).map(|e| e.state).collect();
        assert_eq!(states, [OpState::Done, OpState::Failed, OpState::InDoubt]);
        for (row, state) in rows.iter().zip(OpState::ALL.iter().filter(|s| **s != OpState::Sent)) {
            assert_eq!(column(&s, "SELECT state FROM journal WHERE id = ?1", *row), state.as_str());
        }
        let counts = &s.runs(1, Some("lab")).unwrap()[2].operations;
        assert!(counts.contains(&(System::Tenant, OpState::Done, 1)), "{counts:?}");

        for kind in TargetKind::ALL {
            let o = TargetObject {
                system: System::SharedAd,
                key: kind.as_str(),
                object_id: "x",
                kind: *kind,
                wave: 1,
                created_by_run: None,
            };
            s.remember_object("lab", &o).unwrap();
            let text: String = s
                .conn
                .query_row("SELECT kind FROM target_objects WHERE key = ?1", [kind.as_str()], |r| r.get(0))
                .unwrap();
            assert_eq!(text, kind.as_str());
        }
    }

    #[test]
    fn a_row_samla_does_not_know_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&dir.path().join("s.db")).unwrap();
        let run = s.start_run(&start("lab"), RunKind::Run).unwrap();
        let rows = s.record_intents(run, &[intent("a"), intent("b")]).unwrap();
        s.conn.execute("UPDATE journal SET action = 'frobnicate' WHERE id = ?1", [rows[1]]).unwrap();
        let e = s.operations(run).unwrap_err().to_string();
        assert!(
            e.ends_with(&format!(
                "journal row {} (run {run}), column action: 'frobnicate' is not a value samla writes",
                rows[1]
            )),
            "{e}"
        );
        assert!(e.contains("s.db"), "names the state file: {e}");
        assert!(s.wave_entries("lab", 1).is_err());
    }

    #[test]
    fn a_corrupt_intent_or_before_image_names_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&dir.path().join("s.db")).unwrap();
        let run = s.start_run(&start("lab"), RunKind::Run).unwrap();
        let row = s.record_intents(run, &[intent("a")]).unwrap()[0];
        s.conn.execute("UPDATE journal SET intent = '{\"method\": \"PO', before = 'x' WHERE id = ?1", [row]).unwrap();
        let entry = &s.wave_entries("lab", 1).unwrap()[0];
        let e = entry.intent_json().unwrap_err().to_string();
        assert!(e.starts_with(&format!("journal row {row} (run {run}), column intent: not JSON: ")), "{e}");
        let e = entry.before_json().unwrap_err().to_string();
        assert!(e.starts_with(&format!("journal row {row} (run {run}), column before: not JSON: ")), "{e}");
    }
}
