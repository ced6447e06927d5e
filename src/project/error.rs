//! Why mapping, planning or loading a project stopped, with its exit class.

use crate::error::{Classified, ExitClass};
use crate::state::StateError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// samla.toml, the mapping files, plan.toml or the wave files cannot be used as they are.
    #[error("{0}")]
    Configuration(String),
    #[error("nothing is mapped yet: run `samla map` first")]
    NothingMapped,
    #[error("the newest map run is out of date ({changes}): run `samla map` first")]
    MapOutOfDate { changes: String },
    #[error("no unit {unit:?}; units are written municipality/unit{examples}")]
    NoSuchUnit { unit: String, examples: String },
    #[error("{municipality} has no snapshot yet: run `samla discover` first")]
    NoSnapshot { municipality: String },
    #[error("{municipality} has no mapping file")]
    NoMappingFile { municipality: String },
    #[error("privacy policy \"hash\" needs the key in environment variable {variable}")]
    NoHashKey { variable: String },
    #[error("no wave files in {}: run `samla plan` first", dir.display())]
    NoWaveFiles { dir: PathBuf },
    #[error("snapshot time {time:?}: {message}")]
    SnapshotTime { time: String, message: String },
    #[error(
        "{count} blocking finding(s) must be resolved before anything is written: see the conflict reports in {}",
        reports.display()
    )]
    BlockingFindings { count: u64, reports: PathBuf },
    #[error("test tenant: {0}")]
    TestTenant(String),
    #[error("{upn} is not verified in the tenant")]
    NotVerified { upn: String },
    #[error("a snapshot reader stopped")]
    ReaderStopped,
    #[error(transparent)]
    State(#[from] StateError),
    /// What the state holds cannot be read back.
    #[error("{0}")]
    Stored(String),
    /// A report or wave file could not be written.
    #[error("{0}")]
    Write(String),
}

impl Classified for ProjectError {
    fn exit_class(&self) -> ExitClass {
        use ProjectError::*;
        match self {
            Configuration(_)
            | NothingMapped
            | NoSnapshot { .. }
            | NoMappingFile { .. }
            | NoHashKey { .. }
            | MapOutOfDate { .. }
            | NoSuchUnit { .. }
            | NoWaveFiles { .. } => ExitClass::Usage,
            SnapshotTime { .. }
            | BlockingFindings { .. }
            | TestTenant(_)
            | NotVerified { .. }
            | ReaderStopped
            | State(_)
            | Stored(_)
            | Write(_) => ExitClass::Work,
        }
    }
}

impl ProjectError {
    pub fn configuration(e: impl std::fmt::Display) -> ProjectError {
        ProjectError::Configuration(e.to_string())
    }

    pub fn write(e: impl std::fmt::Display) -> ProjectError {
        ProjectError::Write(e.to_string())
    }
}
