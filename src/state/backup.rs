//! Backups of the state: SQLite's online backup into `backups/<state name>-<UTC time>.db`
//! beside the state file, readable by its owner only, keeping the newest N. They are taken by
//! `samla state backup` and before every wave run and rollback; README ("Backups") says how
//! to restore one.

use super::files::prefix;
pub use super::files::{folder, list, newest};
use super::{State, StateError};
use serde::Serialize;
use std::path::PathBuf;

/// A backup just made, and the older ones removed to keep N.
#[derive(Debug, Clone, Serialize)]
pub struct BackupMade {
    pub file: PathBuf,
    pub bytes: u64,
    pub removed: Vec<PathBuf>,
}

impl State {
    /// Copies the state, as of one moment, into a new backup with SQLite's online backup
    /// (consistent while other connections read), then removes all but the newest `keep`
    /// (at least one: the one just made).
    pub fn backup(&self, keep: usize) -> Result<BackupMade, StateError> {
        let failed = |message: String| StateError::Backup { path: self.path.clone(), message };
        let dir = folder(&self.path);
        std::fs::create_dir_all(&dir).map_err(|e| failed(format!("{}: {e}", dir.display())))?;
        let time = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let file = dir.join(format!("{}{time}.db", prefix(&self.path)));
        // Created empty and private first, so the copy is never readable by others.
        let mut create = std::fs::OpenOptions::new();
        create.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
        create.open(&file).map_err(|e| failed(format!("{}: {e}", file.display())))?;
        let copied = rusqlite::Connection::open(&file).and_then(|mut to| {
            rusqlite::backup::Backup::new(&self.conn, &mut to)?.run_to_completion(
                4096,
                std::time::Duration::ZERO,
                None,
            )?;
            // One file, whatever the state's journal mode: the copy's log is folded in on close.
            to.pragma_update(None, "journal_mode", "DELETE")
        });
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&file);
            return Err(failed(format!("{}: {e}", file.display())));
        }
        let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let all = list(&self.path);
        let mut removed = Vec::new();
        for old in all.iter().take(all.len().saturating_sub(keep.max(1))) {
            std::fs::remove_file(old).map_err(|e| failed(format!("{}: {e}", old.display())))?;
            removed.push(old.clone());
        }
        Ok(BackupMade { file, bytes, removed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_is_private_holds_the_state_and_only_the_newest_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/samla.db");
        let state = State::open(&path).unwrap();
        state.conn.execute_batch("CREATE TABLE kept (x); INSERT INTO kept VALUES (7);").unwrap();
        let made: Vec<BackupMade> = (0..3)
            .map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(2));
                state.backup(2).unwrap()
            })
            .collect();
        assert_eq!(list(&path), vec![made[1].file.clone(), made[2].file.clone()]);
        assert_eq!(made[2].removed, vec![made[0].file.clone()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&made[2].file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let copy = State::open_read(&made[2].file).unwrap();
        let kept: i64 = copy.conn.query_row("SELECT x FROM kept", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, 7);
        assert_eq!(newest(&path), Some(made[2].file.clone()));
    }
}
