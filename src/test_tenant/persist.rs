//! Persistence of the tenant to one SQLite file (`--state FILE`), so a restarted `serve`
//! keeps its directory: a rehearsal can stop and resume, and `dump` can read the file.
//!
//! Each object is one row of JSON; after every request that changed something, the changed
//! rows are written in one transaction before the response is sent (a response the client
//! saw is never lost by a crash). Meta rows hold the tenant id (a file belongs to one
//! tenant), the id counter (a restarted tenant never reuses an id), and the verified domains
//! and subscribed SKUs it was last served with (what `dump` shows).

use super::auth_methods::TapPolicy;
use super::directory::Object;
use super::ids::{ObjectId, TenantId};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

/// A state-file failure, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("tenant state file {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("tenant state file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// An open state file.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// What a state file holds.
#[derive(Debug, Default)]
pub struct Loaded {
    pub objects: Vec<Object>,
    pub id_counter: u64,
    /// The verified domains and SKUs (`PART=UNITS`) it was last served with; None in a file
    /// written before they were kept.
    pub subscription: Option<Subscription>,
    /// The Temporary Access Pass policy it was last given; None in a file written before
    /// it was kept, or by a tenant that was never served.
    pub tap_policy: Option<TapPolicy>,
}

/// A tenant's verified domains and subscribed SKUs, as its flags give them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subscription {
    pub domains: Vec<String>,
    pub skus: Vec<String>,
}

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS tenant_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tenant_objects (
    id    TEXT PRIMARY KEY,
    kind  TEXT NOT NULL,
    data  TEXT NOT NULL
);
";

impl Store {
    /// Opens (creating if needed) a state file for `tenant`; a file of another tenant is refused.
    pub fn open(path: &Path, tenant: TenantId) -> Result<(Store, Loaded), PersistError> {
        let sql = |source| PersistError::Sqlite { path: path.to_path_buf(), source };
        let invalid = |message: String| PersistError::Invalid { path: path.to_path_buf(), message };
        let conn = Connection::open(path).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        let meta = |key: &str| -> Result<Option<String>, PersistError> {
            conn.query_row("SELECT value FROM tenant_meta WHERE key = ?1", [key], |r| r.get(0)).optional().map_err(sql)
        };
        match meta("tenant_id")? {
            Some(t) if t != tenant.to_string() => {
                return Err(invalid(format!("it holds tenant {t}, not {tenant}; use its --tenant-id or another file")));
            }
            Some(_) => {}
            None => {
                conn.execute("INSERT INTO tenant_meta (key, value) VALUES ('tenant_id', ?1)", [tenant.to_string()])
                    .map_err(sql)?;
            }
        }
        let id_counter =
            meta("id_counter")?.map(|v| v.parse::<u64>()).transpose().map_err(|e| invalid(e.to_string()))?;
        let mut stmt = conn.prepare("SELECT id, data FROM tenant_objects ORDER BY id").map_err(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(sql)?;
        let mut objects = Vec::new();
        for row in rows {
            let (id, data) = row.map_err(sql)?;
            let o: Object = serde_json::from_str(&data).map_err(|e| invalid(format!("object {id}: {e}")))?;
            objects.push(o);
        }
        drop(stmt);
        let subscription = meta("subscription")?
            .map(|v| serde_json::from_str(&v))
            .transpose()
            .map_err(|e| invalid(format!("subscription: {e}")))?;
        let tap_policy = meta("tap_policy")?
            .map(|v| serde_json::from_str(&v))
            .transpose()
            .map_err(|e| invalid(format!("tap_policy: {e}")))?;
        let loaded = Loaded { objects, id_counter: id_counter.unwrap_or(0), subscription, tap_policy };
        Ok((Store { conn, path: path.to_path_buf() }, loaded))
    }

    /// Records the domains and SKUs the tenant is served with.
    pub fn record_subscription(&mut self, subscription: &Subscription) -> Result<(), PersistError> {
        self.record_meta("subscription", subscription)
    }

    /// Records the Temporary Access Pass policy (the tenant's own setting, kept on restart).
    pub fn record_tap_policy(&mut self, policy: &TapPolicy) -> Result<(), PersistError> {
        self.record_meta("tap_policy", policy)
    }

    fn record_meta(&mut self, key: &str, value: &impl serde::Serialize) -> Result<(), PersistError> {
        let value = serde_json::to_string(value)
            .map_err(|e| PersistError::Invalid { path: self.path.clone(), message: e.to_string() })?;
        self.conn
            .execute("INSERT OR REPLACE INTO tenant_meta (key, value) VALUES (?1, ?2)", [key, value.as_str()])
            .map_err(|source| PersistError::Sqlite { path: self.path.clone(), source })?;
        Ok(())
    }

    /// Writes changed objects (`None`: delete the row) and the id counter, in one transaction.
    pub fn save(&mut self, changed: &[(ObjectId, Option<&Object>)], id_counter: u64) -> Result<(), PersistError> {
        let path = self.path.clone();
        let sql = |source| PersistError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(sql)?;
        for (id, object) in changed {
            match object {
                Some(o) => {
                    let data = serde_json::to_string(o)
                        .map_err(|e| PersistError::Invalid { path: path.clone(), message: e.to_string() })?;
                    tx.execute(
                        "INSERT INTO tenant_objects (id, kind, data) VALUES (?1, ?2, ?3)
                         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, data = excluded.data",
                        params![id.to_string(), o.kind.name(), data],
                    )
                    .map_err(sql)?;
                }
                None => {
                    tx.execute("DELETE FROM tenant_objects WHERE id = ?1", [id.to_string()]).map_err(sql)?;
                }
            }
        }
        tx.execute(
            "INSERT INTO tenant_meta (key, value) VALUES ('id_counter', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [id_counter.to_string()],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)
    }
}
