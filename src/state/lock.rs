//! One writer per state: the lock every command that writes to the state or a target holds.
//!
//! An OS file lock (`flock` on Unix, `LockFileEx` on Windows, through
//! [`std::fs::File::try_lock`]) on `<state>.lock` beside the state file. The operating system
//! releases it when the process ends, however it ends (`kill -9` included), so a lock is never
//! left behind. The holder writes who it is (command, pid, host, since) into the file so that a
//! second writer can refuse at once naming it; the file itself stays (removing it could let two
//! processes lock two different files) and is emptied when the holder lets go.

use super::StateError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The right to write to one state (and to the targets it journals): held from
/// [`WriterLock::acquire`] until dropped or the process ends. [`super::State::open_write`]
/// asks for it.
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    path: PathBuf,
    state: PathBuf,
}

/// `state/samla.db` → `state/samla.db.lock`.
pub fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

impl WriterLock {
    /// Takes the lock of the state at `state` for `command` (what the holder is doing, such as
    /// `wave run 1 --target lab`), or refuses at once, naming the holder, when another process
    /// has it. Never waits.
    pub fn acquire(state: &Path, command: &str) -> Result<WriterLock, StateError> {
        if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Folder { path: dir.to_path_buf(), source })?;
        }
        let path = lock_path(state);
        let io = |source: std::io::Error| StateError::Lock { path: path.clone(), source };
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // What the holder wrote; it may be writing it right now.
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(StateError::Locked {
                    state: state.to_path_buf(),
                    holder: if holder.is_empty() {
                        "another samla process (it is starting)".into()
                    } else {
                        holder.into()
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let host = crate::config::operator::host_name();
        let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let who = format!("`samla {command}` (pid {} on {host}, since {since})\n", std::process::id());
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(who.as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(WriterLock { file, path, state: state.to_path_buf() })
    }

    /// The state file this lock is for.
    pub fn state(&self) -> &Path {
        &self.state
    }
}

impl Drop for WriterLock {
    /// Empties the file before the lock goes (the operating system releases the lock itself
    /// when the file is closed, or when the process dies).
    fn drop(&mut self) {
        if self.file.set_len(0).is_err() {
            tracing::debug!("could not empty {}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_naming_the_first_and_the_lock_is_free_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/samla.db");
        let first = WriterLock::acquire(&state, "wave run 1 --target lab").unwrap();
        let refused = WriterLock::acquire(&state, "map").unwrap_err().to_string();
        assert!(refused.contains("`samla wave run 1 --target lab`"), "{refused}");
        assert!(refused.contains(&format!("pid {}", std::process::id())), "{refused}");
        drop(first);
        assert_eq!(std::fs::read_to_string(lock_path(&state)).unwrap(), "");
        WriterLock::acquire(&state, "map").unwrap();
    }
}
