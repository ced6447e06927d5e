//! Where the state's files are, beside the state file itself: SQLite's `-wal` and `-shm`, and
//! the backups (`backups/<state name>-<UTC time>.db`, names that sort by time).

use std::path::{Path, PathBuf};

/// `<state><suffix>`: SQLite's `-wal` and `-shm` files beside a state.
pub fn sidecar(state: &Path, suffix: &str) -> PathBuf {
    let mut name = state.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// `state/backups` for `state/samla.db`.
pub fn folder(state: &Path) -> PathBuf {
    state.parent().unwrap_or(Path::new(".")).join("backups")
}

/// `samla-` for `state/samla.db`: what the names of its backups start with.
pub(crate) fn prefix(state: &Path) -> String {
    format!("{}-", state.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
}

/// The backups of the state at `state`, oldest first (their names sort by time).
pub fn list(state: &Path) -> Vec<PathBuf> {
    let prefix = prefix(state);
    let Ok(entries) = std::fs::read_dir(folder(state)) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".db"))
        })
        .collect();
    found.sort();
    found
}

/// The newest backup of the state at `state`, if any.
pub fn newest(state: &Path) -> Option<PathBuf> {
    list(state).pop()
}
