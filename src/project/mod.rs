//! The project a command works on, and the operations that come before any wave: mapping the
//! newest snapshots into one unified directory ([`map`]), and planning the waves ([`plan`]).
//! Like [`crate::wave`], each takes typed inputs and returns a typed outcome; the command line
//! prints it.
//!
//! A project is the folder samla.toml is in: `mappings/` (what the directories become),
//! `waves/` (the reviewed wave files), `reports/` (what people read), and the state file.

pub mod demo_tenant;
pub mod error;
pub mod licences;
pub mod load;
pub mod map;
pub mod plan;

use crate::config::Config;
use crate::state::{Missing, State, StateError, WriterLock};
use std::path::{Path, PathBuf};

/// Takes the project's writer lock for `command` (see [`WriterLock`]): every command that
/// writes to the state or a target holds it to its end; a second one is refused at once.
pub fn lock_state(config: &Config, command: &str) -> Result<WriterLock, StateError> {
    WriterLock::acquire(&config.state_path, command)
}

/// Opens the state for writing under `lock`: checked before anything is written, and never
/// created anew where the project has wave files (they were planned from a state that is
/// now lost).
pub fn open_state_for_writing(config: &Config, lock: &WriterLock) -> Result<State, StateError> {
    let planned = std::fs::read_dir(waves_dir(config))
        .map(|entries| entries.filter_map(Result::ok).any(|e| e.path().extension().is_some_and(|x| x == "toml")))
        .unwrap_or(false);
    State::open_write(lock, if planned { Missing::Refuse } else { Missing::Create })
}

/// Opens the state read-only, for commands that only read it (no lock: they run beside a
/// writer, and on a read-only state file).
pub fn open_state_for_reading(config: &Config) -> Result<State, StateError> {
    State::open_read(&config.state_path)
}

/// The folder samla.toml is in.
pub fn project_dir(config: &Config) -> &Path {
    config.file.parent().unwrap_or(Path::new("."))
}

/// `waves/` next to samla.toml.
pub fn waves_dir(config: &Config) -> PathBuf {
    project_dir(config).join("waves")
}

/// Where the mapping files of a project live: `mappings/` next to samla.toml.
pub fn mappings_dir(config: &Config) -> PathBuf {
    project_dir(config).join("mappings")
}
