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
use std::path::{Path, PathBuf};

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
