//! The one error of the configuration: a mistake in samla.toml, or a name it does not define.

use crate::error::{Classified, ExitClass};
use std::path::PathBuf;

/// A configuration mistake, naming the file, and the line and column where it was found.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// There is no samla.toml where the command looked.
    #[error(
        "samla.toml was not found at {file}: give its path with `-c FILE`, or start a project with `samla init DIR`"
    )]
    NotFound { file: PathBuf },
    #[error("{file}: {source}")]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{file}:{line}:{column}: {message}")]
    At { file: PathBuf, line: usize, column: usize, message: String },
    /// A command named a target samla.toml does not define.
    #[error("no target named {name:?} in {file} (known: {})", known_targets(known))]
    UnknownTarget { name: String, file: PathBuf, known: Vec<String> },
    /// A command named a source samla.toml does not define.
    #[error("no source named {name:?} in {file} (known: {})", known.join(", "))]
    UnknownSource { name: String, file: PathBuf, known: Vec<String> },
}

impl Classified for ConfigError {
    /// samla.toml cannot be read, says something wrong, or lacks what a command names:
    /// fixing the file or the command fixes it.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Usage
    }
}

/// The targets a config defines, for a message; says how to add one when there is none.
fn known_targets(known: &[String]) -> String {
    if known.is_empty() { "none; add a [[target]]".to_string() } else { known.join(", ") }
}
