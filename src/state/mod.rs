//! The state: one embedded SQLite file that holds everything samla remembers between runs.
//!
//! One file, because an IT team must be able to copy, back up and inspect it (`sqlite3
//! state/samla.db`) and because SQLite's transactions give crash safety for free: a snapshot
//! is visible only once complete, and a process killed mid-write leaves nothing half-done.
//! The schema is versioned with `PRAGMA user_version`; later stages add their tables as
//! further migrations, all of them here: the state owns the schema, and the modules that
//! read and write their tables (such as the journal) use the state, never the reverse.
//!
//! A handle's [`Access`] is chosen once, when it is opened: [`State::open_read`] for commands
//! that only read (SQLite's read-only flag: no write gets through, a read-only file works), and
//! [`State::open_write`] for the one writer, which must hold the state's [`WriterLock`] and
//! gets a state checked with `PRAGMA quick_check` before anything is written to it.

pub mod acceptance;
pub mod backup;
pub mod check;
mod files;
mod lock;
pub mod snapshot;
mod tally;
pub mod unified;

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

pub use acceptance::{Acceptance, ShrinkGuard};
pub use files::sidecar;
pub use lock::{WriterLock, lock_path};
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
    #[error("cannot lock the state: {path}: {source}")]
    Lock { path: PathBuf, source: std::io::Error },
    #[error("state file {state} is in use by {holder}; one command writes to a state at a time: wait for it to end")]
    Locked { state: PathBuf, holder: String },
    #[error(
        "state file {path} {why}; samla does not start a new one in its place. {backup}: to restore it, copy it over {path} and remove {path}-wal and {path}-shm (README, \"Backups\")"
    )]
    Lost { path: PathBuf, why: String, backup: String },
    #[error(
        "state file {path} is damaged, nothing was written to it: {findings}. See `samla state check` for every finding; {backup}: to restore it, copy it over {path} and remove {path}-wal and {path}-shm (README, \"Backups\")"
    )]
    Damaged { path: PathBuf, findings: String, backup: String },
    #[error("cannot back up the state {path}: {message}")]
    Backup { path: PathBuf, message: String },
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
    r"
-- SHA-256 of each name chunk's lines before compression, verified by `samla state check`
-- (the name book has no content hash of its own). Chunks written before it have none.
ALTER TABLE name_chunks ADD COLUMN digest TEXT;
",
    r"
-- Text values of a snapshot that were not in Unicode NFC and were normalised on read (names
-- stored decomposed by Mac clients and some imports). 0 for snapshots taken before.
ALTER TABLE snapshots ADD COLUMN nfc_normalised INTEGER NOT NULL DEFAULT 0;
",
    r"
-- Runs of kind 'cutover' (samla wave cutover). SQLite cannot alter a CHECK constraint, and a
-- rebuilt wave_runs would break journal's reference to it under foreign_keys; widening the
-- CHECK changes no stored row, so the table's definition is edited in place, the procedure
-- SQLite's ALTER TABLE documentation gives for such changes.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind IN (''run'', ''rollback''))',
    'CHECK (kind IN (''run'', ''rollback'', ''cutover''))')
 WHERE type = 'table' AND name = 'wave_runs';
PRAGMA writable_schema = RESET;
",
];

/// What a [`State`] handle may do, chosen once when it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Opened with SQLite's `SQLITE_OPEN_READ_ONLY`: SQLite itself refuses every write, so a
    /// command that only reads cannot change the state by accident, and works on a read-only
    /// file.
    Read,
    /// Opened by the holder of the [`WriterLock`], checked (`PRAGMA quick_check`) and migrated.
    Write,
}

/// An open state file.
pub struct State {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    access: Access,
    /// Counts and digests of the snapshots being written, kept so finishing one does not
    /// read it back.
    pub(crate) tallies: std::collections::HashMap<SnapshotId, tally::Tally>,
}

/// Whether [`State::open_write`] may create a missing state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// A new project: the state is created.
    Create,
    /// The project has already done work that the state remembers (wave files were planned
    /// from it): a missing state is lost, not new, and is refused.
    Refuse,
}

/// SQLite's codes for a file that is not a database or is damaged.
fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt))
}

fn damaged(path: &Path, findings: String) -> StateError {
    StateError::Damaged { path: path.to_path_buf(), findings, backup: newest_backup(path) }
}

/// Names the newest backup for a message that suggests restoring it.
fn newest_backup(path: &Path) -> String {
    files::newest(path).map_or_else(
        || format!("there is no backup in {}", files::folder(path).display()),
        |b| format!("the newest backup is {}", b.display()),
    )
}

/// `PRAGMA quick_check`'s first findings shown when a state is refused.
const FINDINGS_SHOWN: usize = 5;

impl State {
    /// Opens the state read-only: SQLite refuses any write through this handle, nothing is
    /// migrated, and neither the state file nor its folder is written to (see
    /// [`State::read_connection`] for how the write-ahead log is handled). A missing state reads
    /// as an empty one (nothing is created); a state of an older schema is read from a copy in
    /// memory, migrated there (a write could only ever reach that copy, never the file).
    pub fn open_read(path: &Path) -> Result<State, StateError> {
        let sq = |source| StateError::Sqlite { path: path.to_path_buf(), source };
        let conn = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Connection::open_in_memory().map_err(sq)?,
            _ => Self::read_connection(path)?,
        };
        let mut state = State { conn, path: path.to_path_buf(), access: Access::Read, tallies: Default::default() };
        state.configure()?;
        if state.version()? < MIGRATIONS.len() {
            state.conn = state.migrated_in_memory()?;
        }
        state.check_version()?;
        Ok(state)
    }

    /// A read-only connection that writes nothing beside the state. SQLite reads a database in
    /// WAL mode through its `-shm` index, creating it (and `-wal`) when missing, which a
    /// read-only folder does not allow (<https://sqlite.org/wal.html#readonly>). So: while a log
    /// exists (a writer has the state open, or one ended without copying it) samla reads
    /// through it as SQLite does, which sees every committed change; when there is none, every
    /// change is in the database file and samla opens it `immutable=1`, reading the file alone
    /// without creating, locking or changing anything. A writer that starts during such a read
    /// may make that read fail (never the state): run it again.
    fn read_connection(path: &Path) -> Result<Connection, StateError> {
        let sq = |source| StateError::Sqlite { path: path.to_path_buf(), source };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if sidecar(path, "-wal").exists() {
            return Connection::open_with_flags(path, flags).map_err(sq);
        }
        let absolute = std::path::absolute(path).map_err(|source| StateError::Folder { path: path.into(), source })?;
        let mut uri = String::from("file:");
        for b in absolute.to_string_lossy().bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => uri.push(b as char),
                _ => uri.push_str(&format!("%{b:02X}")),
            }
        }
        uri.push_str("?immutable=1");
        Connection::open_with_flags(&uri, flags).map_err(sq)
    }

    /// A copy in memory of this (older) state, migrated: what a reader of an older state reads.
    fn migrated_in_memory(&self) -> Result<Connection, StateError> {
        let mut copy = Connection::open_in_memory().map_err(|e| self.err(e))?;
        rusqlite::backup::Backup::new(&self.conn, &mut copy)
            .and_then(|b| b.run_to_completion(1024, std::time::Duration::ZERO, None))
            .map_err(|e| self.err(e))?;
        let mut state =
            State { conn: copy, path: self.path.clone(), access: Access::Write, tallies: Default::default() };
        state.migrate()?;
        Ok(state.conn)
    }

    /// Opens the state for writing, for the holder of its lock: a missing file is created when
    /// `missing` allows it, an empty (0-byte) one is always refused, and an existing one must pass
    /// `PRAGMA quick_check` before anything is written to it; then pending migrations run. It
    /// never removes half-written snapshots: [`State::discard_unfinished`] is for discover.
    pub fn open_write(lock: &WriterLock, missing: Missing) -> Result<State, StateError> {
        let path = lock.state();
        let existing = match std::fs::metadata(path) {
            Ok(m) => Some(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(StateError::Folder { path: path.to_path_buf(), source }),
        };
        let lost = |why: &str| StateError::Lost {
            path: path.to_path_buf(),
            why: why.to_string(),
            backup: newest_backup(path),
        };
        match (existing, missing) {
            (Some(0), _) => return Err(lost("is empty (0 bytes): its snapshots, journal and name book are gone")),
            (None, Missing::Refuse) => {
                return Err(lost("is missing, yet the project has wave files planned from it"));
            }
            _ => {}
        }
        let mut state = match Self::connect(path, Access::Write) {
            // Not a database at all, or damaged where opening reads (the header, the schema).
            Err(StateError::Sqlite { source, .. }) if existing.is_some() && is_damage(&source) => {
                return Err(damaged(path, source.to_string()));
            }
            opened => opened?,
        };
        if existing.is_some() {
            state.quick_check()?;
        }
        state.migrate()?;
        Ok(state)
    }

    /// Another connection to the same state with the same access (for threads of one command).
    pub fn reconnect(&self) -> Result<State, StateError> {
        match self.access {
            Access::Read => State::open_read(&self.path),
            Access::Write => Self::connect(&self.path, Access::Write),
        }
    }

    fn connect(path: &Path, access: Access) -> Result<State, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Folder { path: dir.to_path_buf(), source })?;
        }
        let conn = Connection::open(path).map_err(|source| StateError::Sqlite { path: path.to_path_buf(), source })?;
        let state = State { conn, path: path.to_path_buf(), access, tallies: Default::default() };
        state.configure()?;
        Ok(state)
    }

    /// Opens (creating if needed) a state for writing without a lock: the library's own tests.
    #[cfg(test)]
    pub(crate) fn open(path: &Path) -> Result<State, StateError> {
        let mut state = Self::connect(path, Access::Write)?;
        state.migrate()?;
        Ok(state)
    }

    /// How this handle was opened.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SQLite's `PRAGMA quick_check` (the B-trees and their pages, without matching indexes
    /// to tables): refuses a damaged state, naming its first findings. A file that is not a
    /// database at all fails here too.
    fn quick_check(&self) -> Result<(), StateError> {
        let findings = self.pragma_rows("quick_check", FINDINGS_SHOWN).unwrap_or_else(|e| vec![e.to_string()]);
        if findings.iter().all(|f| f == "ok") {
            return Ok(());
        }
        Err(damaged(&self.path, findings.join("; ")))
    }

    /// The rows of `PRAGMA name(limit)`, such as the findings of the integrity checks.
    pub(crate) fn pragma_rows(&self, name: &str, limit: usize) -> Result<Vec<String>, rusqlite::Error> {
        let mut stmt = self.conn.prepare(&format!("PRAGMA {name}({limit})"))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
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
    ///
    /// A read-only handle only sets what reading needs; SQLite refuses the rest.
    fn configure(&self) -> Result<(), StateError> {
        let reading = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;";
        let sql = match self.access {
            Access::Read => reading.to_string(),
            Access::Write => {
                format!("PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; {reading}")
            }
        };
        self.conn.execute_batch(&sql).map_err(|e| self.err(e))
    }

    fn version(&self) -> Result<usize, StateError> {
        self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    fn check_version(&self) -> Result<usize, StateError> {
        let version = self.version()?;
        if version > MIGRATIONS.len() {
            return Err(StateError::Invalid {
                path: self.path.clone(),
                message: format!(
                    "schema version {version} is newer than this samla knows ({}); upgrade samla",
                    MIGRATIONS.len()
                ),
            });
        }
        Ok(version)
    }

    fn migrate(&mut self) -> Result<(), StateError> {
        let version = self.check_version()?;
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

    #[test]
    fn a_read_only_handle_refuses_writes_and_leaves_file_and_folder_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samla.db");
        let missing = State::open_read(&path).unwrap();
        assert!(missing.snapshots().unwrap().is_empty());
        assert!(!path.exists(), "reading a missing state created it");
        drop(State::open(&path).unwrap());
        let before = (std::fs::read(&path).unwrap(), std::fs::metadata(&path).unwrap().modified().unwrap());
        let mut reader = State::open_read(&path).unwrap();
        assert_eq!(reader.access(), Access::Read);
        let refused = reader.begin_snapshot("bjuv", "ldif").unwrap_err().to_string();
        assert!(refused.contains("readonly"), "{refused}");
        drop(reader);
        let after = (std::fs::read(&path).unwrap(), std::fs::metadata(&path).unwrap().modified().unwrap());
        assert!(before == after, "the state file changed");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("samla.db")]);
    }

    #[test]
    fn an_older_state_is_read_through_a_migrated_copy_and_stays_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samla.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        drop(conn);
        let reader = State::open_read(&path).unwrap();
        assert!(reader.latest_unified().unwrap().is_none());
        let version: usize =
            Connection::open(&path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, 1);
    }

    #[test]
    fn a_writer_refuses_an_empty_a_lost_and_a_damaged_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/samla.db");
        let lock = WriterLock::acquire(&path, "test").unwrap();
        let lost = State::open_write(&lock, Missing::Refuse).err().unwrap().to_string();
        assert!(lost.contains("is missing") && lost.contains("no backup"), "{lost}");
        assert!(!path.exists());
        let state = State::open_write(&lock, Missing::Create).unwrap();
        let backup = state.backup(3).unwrap().file;
        drop(state);
        std::fs::write(&path, b"").unwrap();
        let empty = State::open_write(&lock, Missing::Create).err().unwrap().to_string();
        assert!(empty.contains("is empty (0 bytes)") && empty.contains(&backup.display().to_string()), "{empty}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        std::fs::write(&path, vec![0x5a; 40_000]).unwrap();
        let damaged = State::open_write(&lock, Missing::Create).err().unwrap().to_string();
        assert!(damaged.contains("is damaged") && damaged.contains("samla state check"), "{damaged}");
    }
}
