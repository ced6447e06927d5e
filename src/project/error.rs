//! Why mapping, planning or loading a project stopped, with its exit class.

use crate::config::ConfigError;
use crate::error::{Classified, ExitClass};
use crate::mapping::overrides::OverridesError;
use crate::mapping::spec::SpecError;
use crate::plan::files::WaveFileError;
use crate::plan::settings::SettingsError;
use crate::report::error::ReportError;
use crate::state::StateError;
use crate::state::unified::RowError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Overrides(#[from] OverridesError),
    #[error(transparent)]
    WaveFile(#[from] WaveFileError),
    #[error(transparent)]
    Report(#[from] ReportError),
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
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    #[error("{upn} is not verified in the tenant")]
    NotVerified { upn: String },
    #[error("a snapshot reader stopped")]
    ReaderStopped,
    #[error(transparent)]
    State(#[from] StateError),
    /// A stored row of the unified directory cannot be read back.
    #[error(transparent)]
    Row(#[from] RowError),
}

impl Classified for ProjectError {
    fn exit_class(&self) -> ExitClass {
        use ProjectError::*;
        match self {
            Config(e) => e.exit_class(),
            Spec(e) => e.exit_class(),
            Settings(e) => e.exit_class(),
            Overrides(e) => e.exit_class(),
            WaveFile(e) => e.exit_class(),
            Report(e) => e.exit_class(),
            NothingMapped
            | NoSnapshot { .. }
            | NoMappingFile { .. }
            | NoHashKey { .. }
            | MapOutOfDate { .. }
            | NoSuchUnit { .. }
            | NoWaveFiles { .. } => ExitClass::Usage,
            SnapshotTime { .. }
            | BlockingFindings { .. }
            | TestTenant(_)
            | File { .. }
            | NotVerified { .. }
            | ReaderStopped
            | State(_)
            | Row(_) => ExitClass::Work,
        }
    }
}

impl ProjectError {
    /// For `map_err` on an I/O failure at `path`.
    pub fn file(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ProjectError + '_ {
        move |source| ProjectError::File { path: path.to_path_buf(), source }
    }
}
