//! Why a report could not be written: the file, and what went wrong with it.

use crate::error::{Classified, ExitClass};
use std::path::PathBuf;

/// A report file that could not be written, naming the file (or the folder it goes in).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Csv { path: PathBuf, source: csv::Error },
    #[error("{path}: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
}

impl ReportError {
    /// An I/O failure on `path`, for `map_err`.
    pub fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
        move |source| ReportError::Io { path: path.to_path_buf(), source }
    }
}

impl Classified for ReportError {
    /// The reports could not be written: the work failed.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Work
    }
}
