//! Why an operation on a wave stopped, with its exit class ([`crate::error::ExitClass`]).
//!
//! Refusals that protect a target (a stale wave, blocking findings, names a target would
//! refuse, thresholds) are work that failed (exit 1): the command was right, the wave must not
//! run. A wave, target or municipality that does not exist, or a question that cannot be asked,
//! is usage (exit 2).

use crate::config::ConfigError;
use crate::error::{Classified, ExitClass};
use crate::journal::TargetIdentity;
use crate::plan::files::WaveFileError;
use crate::render::content::ContentError;
use crate::render::ldap::RenderError;
use crate::report::error::ReportError;
use crate::state::StateError;
use crate::state::unified::RowError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WaveError {
    /// samla.toml (an unknown target, say).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The wave files.
    #[error(transparent)]
    WaveFile(#[from] WaveFileError),
    #[error("no wave {wanted:?}; the waves are {known}")]
    NoSuchWave { wanted: String, known: String },
    #[error("{wanted:?} names more than one wave: {candidates}; give the wave's number or file name")]
    AmbiguousWave { wanted: String, candidates: String },
    #[error("wave {wave} is stale: {reasons}; re-plan with `samla plan` and review the wave again")]
    Stale { wave: u32, reasons: String },
    #[error(
        "the map run has {count} blocking finding(s) ({by_category}): resolve them (conflict reports in reports/map) and map again"
    )]
    BlockingFindings { count: u64, by_category: String },
    #[error("{count} name(s) the targets would refuse: {shown}")]
    RefusedNames { count: usize, shown: String },
    #[error("refused, beyond the thresholds in {} ([thresholds]): {reasons}", config.display())]
    BeyondThresholds { config: PathBuf, reasons: String },
    #[error("not a terminal: give --yes to run without being asked")]
    NotATerminal,
    #[error("not confirmed; nothing was written")]
    NotConfirmed,
    /// A target's client could not connect or log in (`class`: exit 2 when its credentials
    /// could not be read, 1 when the system could not be reached or refused).
    #[error("target {target}: the {system}: {message}")]
    Connect { target: String, system: &'static str, message: String, class: ExitClass },
    /// A target could not be read or written while the operation ran.
    #[error("the {system}: {message}")]
    Target { system: &'static str, message: String },
    #[error("wave {wave} has not changed anything in target {target}: nothing to roll back")]
    NothingToRollBack { wave: u32, target: String },
    #[error("wave {wave} has not been run against any target: nothing to report")]
    NeverRun { wave: u32 },
    #[error("wave {wave} ran against {targets}: say which with --target")]
    WhichTarget { wave: u32, targets: String },
    #[error("wave {wave} changed nothing of municipality {municipality} in target {target}")]
    NothingOfMunicipality { wave: u32, municipality: String, target: String },
    /// The target name stands for other systems than its earlier runs were made against.
    #[error(
        "target {target} is not the one its runs were made against: run {run} recorded {recorded}; samla.toml now \
         gives {current}. Give the other systems a target name of their own, or put {target} back"
    )]
    TargetChanged { target: String, run: i64, recorded: Box<TargetIdentity>, current: Box<TargetIdentity> },
    /// The wave refers to objects of waves that are not in the target.
    #[error(
        "wave {wave} refers to objects of {missing}, not in target {target}: run that wave first; nothing was sent"
    )]
    DependsOnMissing { wave: u32, target: String, missing: String },
    /// The tenant cannot take the wave ([`super::preflight`]): one line per finding.
    #[error(
        "target {target} cannot take wave {wave}, nothing was sent; {} finding(s), by municipality:\n  {}",
        findings.len(),
        findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  ")
    )]
    Preflight { wave: u32, target: String, findings: Vec<super::preflight::Finding> },
    /// Later waves in the target refer to the objects of the wave to roll back.
    #[error(
        "wave {wave} cannot be rolled back in target {target}: {dependents} refer(s) to its objects; roll \
         them back first, or give --cascade {cascade} to roll them back first (newest first) and then wave {wave}"
    )]
    DependentWaves { wave: u32, target: String, dependents: String, cascade: String },
    /// A cutover of a wave that is not in the target.
    #[error(
        "wave {wave} cannot be cut over in target {target}: {missing}; run it first (`samla wave run {wave} --target {target}`); nothing was written"
    )]
    NotRunYet { wave: u32, target: String, missing: String },
    /// The tenant's Temporary Access Pass policy does not allow the passes samla.toml asks for.
    #[error(
        "target {target}: the tenant's Temporary Access Pass policy refuses the passes: {reasons}; nothing was written"
    )]
    PassesRefused { target: String, reasons: String },
    #[error("the cutover of wave {wave} did not complete; see the failures above, run it again to resume")]
    CutoverIncomplete { wave: u32 },
    #[error("wave {wave} did not complete; see the failures above and `samla wave status {wave}`")]
    Incomplete { wave: u32 },
    #[error("the rollback of wave {wave} did not complete; run it again to resume")]
    RollbackIncomplete { wave: u32 },
    #[error(transparent)]
    Project(#[from] crate::project::error::ProjectError),
    #[error(transparent)]
    State(#[from] StateError),
    /// The journal cannot be read back (a row samla did not write, or a damaged state).
    #[error(transparent)]
    Journal(#[from] crate::journal::ReadError),
    #[error(transparent)]
    JournalRow(#[from] crate::journal::RowError),
    /// A run or rollback stopped early: its journal could not be written, or a target failed.
    #[error(transparent)]
    Execute(#[from] crate::execute::ExecError),
    /// A stored row of the unified directory cannot be read back.
    #[error(transparent)]
    Row(#[from] RowError),
    /// The wave's content cannot be built from the unified directory.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The wave cannot be rendered for the shared AD (a DN that cannot be formed, say).
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Terminal(std::io::Error),
}

impl Classified for WaveError {
    fn exit_class(&self) -> ExitClass {
        use WaveError::*;
        match self {
            Project(e) => e.exit_class(),
            Config(e) => e.exit_class(),
            WaveFile(e) => e.exit_class(),
            Content(e) => e.exit_class(),
            Render(e) => e.exit_class(),
            Report(e) => e.exit_class(),
            NoSuchWave { .. }
            | AmbiguousWave { .. }
            | NotATerminal
            | NothingToRollBack { .. }
            | NeverRun { .. }
            | WhichTarget { .. }
            | NothingOfMunicipality { .. }
            | TargetChanged { .. } => ExitClass::Usage,
            Connect { class, .. } => *class,
            Stale { .. }
            | BlockingFindings { .. }
            | RefusedNames { .. }
            | BeyondThresholds { .. }
            | NotConfirmed
            | Target { .. }
            | DependsOnMissing { .. }
            | Preflight { .. }
            | DependentWaves { .. }
            | Incomplete { .. }
            | RollbackIncomplete { .. }
            | NotRunYet { .. }
            | PassesRefused { .. }
            | CutoverIncomplete { .. }
            | State(_)
            | Journal(_)
            | JournalRow(_)
            | Execute(_)
            | Row(_)
            | File { .. }
            | Encode(_)
            | Runtime(_)
            | Terminal(_) => ExitClass::Work,
        }
    }
}

impl WaveError {
    pub fn tenant(e: impl std::fmt::Display) -> WaveError {
        WaveError::Target { system: "tenant", message: e.to_string() }
    }

    pub fn shared_ad(e: impl std::fmt::Display) -> WaveError {
        WaveError::Target { system: "shared AD", message: e.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::error::ProjectError;

    #[test]
    fn refusals_are_work_and_what_the_operator_named_wrong_is_usage() {
        let class = |e: WaveError| e.exit_class();
        assert_eq!(class(WaveError::Stale { wave: 1, reasons: "x".into() }), ExitClass::Work);
        assert_eq!(
            class(WaveError::BeyondThresholds { config: "samla.toml".into(), reasons: "x".into() }),
            ExitClass::Work
        );
        assert_eq!(class(WaveError::NotConfirmed), ExitClass::Work);
        assert_eq!(class(WaveError::NoSuchWave { wanted: "9".into(), known: "1 (pilot)".into() }), ExitClass::Usage);
        assert_eq!(class(WaveError::NotATerminal), ExitClass::Usage);
    }

    #[test]
    fn a_wrapped_error_keeps_its_own_class_and_text() {
        let unknown = ConfigError::UnknownTarget { name: "prod".into(), file: "samla.toml".into(), known: vec![] };
        let text = unknown.to_string();
        let wrapped = WaveError::from(unknown);
        assert_eq!((wrapped.exit_class(), wrapped.to_string()), (ExitClass::Usage, text));
        let unmapped = WaveError::from(ProjectError::NothingMapped);
        assert_eq!(unmapped.exit_class(), ExitClass::Usage);
        assert_eq!(unmapped.to_string(), "nothing is mapped yet: run `samla map` first");
        let blocked = WaveError::from(ProjectError::BlockingFindings { count: 2, reports: "reports/map".into() });
        assert_eq!(blocked.exit_class(), ExitClass::Work);
    }
}
