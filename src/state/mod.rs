//! The state: one embedded SQLite file that holds everything samla remembers between runs.
//!
//! One file, because an IT team must be able to copy, back up and inspect it (`sqlite3
//! state/samla.db`) and because SQLite's transactions give crash safety for free: a snapshot
//! is visible only once complete, and a process killed mid-write leaves nothing half-done.
//! The schema is versioned with `PRAGMA user_version`; later stages add their tables as
//! further migrations, all of them here: the state owns the schema, and the modules that
//! read and write their tables (such as the journal) use the state, never the reverse.

pub mod acceptance;
pub mod snapshot;
mod tally;
pub mod unified;

use rusqlite::Connection;
use std::path::{Path, PathBuf};

pub use acceptance::{Acceptance, ShrinkGuard};
pub use snapshot::{SnapshotPart, SnapshotSummary};
pub use tally::SnapshotId;

/// A state-file failure, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("state file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot encode for the state: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot create the state folder {path}: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
}

/// SQLite's default: a connection copies the log into the database file once it holds this
/// many pages.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 1000;

/// Migrations in order; `PRAGMA user_version` counts how many have run.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE snapshots (
    id            INTEGER PRIMARY KEY,
    municipality  TEXT NOT NULL,
    source        TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    status        TEXT NOT NULL CHECK (status IN ('writing', 'complete')),
    users         INTEGER NOT NULL DEFAULT 0,
    groups        INTEGER NOT NULL DEFAULT 0,
    contacts      INTEGER NOT NULL DEFAULT 0,
    ous           INTEGER NOT NULL DEFAULT 0,
    memberships   INTEGER NOT NULL DEFAULT 0,
    skipped       INTEGER NOT NULL DEFAULT 0,
    content_hash  TEXT
);
CREATE INDEX snapshots_by_municipality ON snapshots (municipality, status, id);
-- A rowid table: rows are appended in arrival order (sequential writes); big groups' rows
-- would make a WITHOUT ROWID table rewrite overflow pages on every insert.
CREATE TABLE snapshot_objects (
    snapshot_id  INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    guid         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    dn           TEXT NOT NULL,
    data         TEXT NOT NULL,
    UNIQUE (snapshot_id, guid)
);
-- Reading one snapshot in the order it was written (the index holds rowids in order):
-- sequential pages, not one seek per row.
CREATE INDEX snapshot_objects_in_order ON snapshot_objects (snapshot_id);
",
    r"
-- Names given out in the target: kept so that no later run reshuffles them.
-- Small rows looked up by key: WITHOUT ROWID keeps them in the key's own B-tree. One name
-- per anchor and namespace is the name book's own rule (it never assigns a second).
CREATE TABLE assigned_names (
    namespace    TEXT NOT NULL,
    name_key     TEXT NOT NULL,
    name         TEXT NOT NULL,
    anchor       TEXT NOT NULL,
    assigned_at  TEXT NOT NULL,
    PRIMARY KEY (namespace, name_key)
) WITHOUT ROWID;
-- Each `samla map` result: its inputs, its content hash and the unified directory itself.
CREATE TABLE unified_runs (
    id             INTEGER PRIMARY KEY,
    created_at     TEXT NOT NULL,
    snapshots      TEXT NOT NULL,
    mappings_hash  TEXT NOT NULL,
    content_hash   TEXT NOT NULL,
    blocking       INTEGER NOT NULL
);
-- The unified directory itself, one row per person, group and finding (kind, key, JSON).
CREATE TABLE unified_objects (
    run_id  INTEGER NOT NULL REFERENCES unified_runs (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    key     TEXT NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (run_id, kind, key)
);
",
    r"
-- The journal: runs, the operations they sent, and the target objects samla knows. Their
-- text columns hold the journal's enums (System, Action, OpState, RunKind, RunStatus,
-- TargetKind), written and read back as this text.
CREATE TABLE wave_runs (
    id           INTEGER PRIMARY KEY,
    wave         INTEGER NOT NULL,
    wave_name    TEXT NOT NULL,
    wave_file    TEXT NOT NULL,
    wave_hash    TEXT NOT NULL,
    target       TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('run', 'rollback')),
    operator     TEXT NOT NULL,
    host         TEXT NOT NULL,
    command      TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    status       TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    summary      TEXT
);
CREATE INDEX wave_runs_by_wave ON wave_runs (target, wave, id);
CREATE TABLE journal (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL REFERENCES wave_runs (id),
    system        TEXT NOT NULL CHECK (system IN ('tenant', 'shared_ad')),
    pass          INTEGER NOT NULL,
    op_key        TEXT NOT NULL,
    action        TEXT NOT NULL,
    municipality  TEXT NOT NULL,
    anchor        TEXT,
    object        TEXT NOT NULL,
    intent        TEXT NOT NULL,
    before        TEXT,
    state         TEXT NOT NULL CHECK (state IN ('sent', 'done', 'failed', 'in_doubt')),
    status        INTEGER,
    result        TEXT,
    object_id     TEXT,
    sent_at       TEXT NOT NULL,
    finished_at   TEXT
);
CREATE INDEX journal_by_run ON journal (run_id, state);
CREATE INDEX journal_by_anchor ON journal (anchor);
CREATE TABLE target_objects (
    target          TEXT NOT NULL,
    system          TEXT NOT NULL,
    key             TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    wave            INTEGER NOT NULL,
    created_by_run  INTEGER,
    PRIMARY KEY (target, system, key)
) WITHOUT ROWID;
",
    r"
-- The unified directory in chunks: each holds consecutive rows of one kind, in canonical
-- order, as zstd-compressed lines `key TAB json`. A million people as one row each wrote
-- about 1.7 GB twice (log, then checkpoint), a third of `samla map`; compressed, the same
-- 1.16 GB of JSON takes 174 MB. Runs stored before this table keep their rows in
-- unified_objects.
CREATE TABLE unified_chunks (
    run_id  INTEGER NOT NULL REFERENCES unified_runs (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    rows    INTEGER NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (run_id, kind, seq)
);
",
    r"
-- The name book in chunks, appended to by every map run that gives out names (names are
-- never given back, so the book only grows): zstd-compressed lines `namespace TAB anchor TAB
-- name`, in the order the names were given. Two million names as one row each took a sixth
-- of `samla map` at a million users. Names given before this table stay in assigned_names.
CREATE TABLE name_chunks (
    seq          INTEGER PRIMARY KEY,
    assigned_at  TEXT NOT NULL,
    rows         INTEGER NOT NULL,
    data         BLOB NOT NULL
);
",
    r"
-- Whether a snapshot may be used (state::acceptance): one that shrank beyond its source's
-- limit is held until someone accepts it. Snapshots stored before count as accepted. `shrink`
-- is the JSON of what shrank (a Shrinkage), `accepted_by` and `accepted_at` say who accepted
-- a shrunk one and when.
ALTER TABLE snapshots ADD COLUMN acceptance TEXT NOT NULL DEFAULT 'accepted'
    CHECK (acceptance IN ('accepted', 'accepted_shrink', 'held'));
ALTER TABLE snapshots ADD COLUMN shrink TEXT;
ALTER TABLE snapshots ADD COLUMN accepted_by TEXT;
ALTER TABLE snapshots ADD COLUMN accepted_at TEXT;
",
    r"
-- The systems a run's target name stood for (JSON: the tenant's id and Graph URL, the shared
-- AD's URL and base DN), so that a name pointed at another tenant is noticed. NULL for runs
-- recorded before this column.
ALTER TABLE wave_runs ADD COLUMN identity TEXT;
",
];

/// An open state file.
pub struct State {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    /// Counts and digests of the snapshots being written, kept so finishing one does not
    /// read it back.
    pub(crate) tallies: std::collections::HashMap<SnapshotId, tally::Tally>,
}

impl State {
    /// Opens (creating if needed) the state file and runs pending migrations. It never removes
    /// half-written snapshots: another process may be writing one right now (`samla map` or
    /// `samla snapshots` beside a running discover); [`State::discard_unfinished`] is for the
    /// writer.
    pub fn open(path: &Path) -> Result<State, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Folder { path: dir.to_path_buf(), source })?;
        }
        let conn = Connection::open(path).map_err(|source| StateError::Sqlite { path: path.to_path_buf(), source })?;
        let mut state = State { conn, path: path.to_path_buf(), tallies: Default::default() };
        state.configure()?;
        state.migrate()?;
        Ok(state)
    }

    /// Copies the write-ahead log into the database file: what SQLite does by itself once the
    /// log holds [`WAL_AUTOCHECKPOINT_PAGES`] pages, for callers that held it back to overlap
    /// it with other work (see [`State::save_unified`]). Committed data is safe either way.
    pub fn checkpoint(&self) -> Result<(), StateError> {
        self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).map_err(|e| self.err(e))
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite { path: self.path.clone(), source }
    }

    /// WAL with `synchronous = NORMAL`: a crash of samla never loses or corrupts a committed
    /// transaction; only a power loss may roll back the newest ones, which for a snapshot means
    /// it was never taken. Writes that must survive power loss before anything is sent (the
    /// journal) switch to `FULL` for their transaction.
    ///
    /// A new state gets 16 KiB pages (SQLite's default is 4 KiB; it can only be chosen before
    /// the first table, so an older state keeps its pages): a snapshot is gigabytes of rows of
    /// 1 to 2 KiB, read start to end by `samla map` and written once by discover, and with four
    /// times fewer pages to fetch, map's reading took 4.9 to 5.3 s instead of 6.1 to 8.1 s at a
    /// million users, discover 34 s instead of 45 s, and the file shrank from 1.98 to 1.68 GB.
    /// A journal commit writes four times the bytes per page it changes, beside its fsync.
    fn configure(&self) -> Result<(), StateError> {
        self.conn
            .execute_batch("PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;\n             PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;")
            .map_err(|e| self.err(e))
    }

    fn migrate(&mut self) -> Result<(), StateError> {
        let version: usize = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| self.err(e))?;
        if version > MIGRATIONS.len() {
            return Err(StateError::Invalid {
                path: self.path.clone(),
                message: format!(
                    "schema version {version} is newer than this samla knows ({}); upgrade samla",
                    MIGRATIONS.len()
                ),
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = self.conn.transaction().map_err(|e| StateError::Sqlite { path: self.path.clone(), source: e })?;
            tx.execute_batch(sql).map_err(|e| StateError::Sqlite { path: self.path.clone(), source: e })?;
            tx.pragma_update(None, "user_version", i + 1)
                .map_err(|e| StateError::Sqlite { path: self.path.clone(), source: e })?;
            tx.commit().map_err(|e| StateError::Sqlite { path: self.path.clone(), source: e })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(state: &State, name: &str) -> String {
        let value: rusqlite::types::Value = state.conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).unwrap();
        match value {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn a_new_state_has_large_pages_and_an_older_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = State::open(&dir.path().join("new.db")).unwrap();
        assert_eq!((pragma(&fresh, "page_size").as_str(), pragma(&fresh, "journal_mode").as_str()), ("16384", "wal"));

        let older = dir.path().join("older.db");
        let conn = Connection::open(&older).unwrap();
        conn.execute_batch(
            "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE kept (x); INSERT INTO kept VALUES (7);",
        )
        .unwrap();
        drop(conn);
        let reopened = State::open(&older).unwrap();
        assert_eq!(pragma(&reopened, "page_size"), "4096");
        let kept: i64 = reopened.conn.query_row("SELECT x FROM kept", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, 7);
    }
}
