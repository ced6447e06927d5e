//! Mapping: the edge around [`crate::mapping::unify`]. Reads the newest accepted snapshots,
//! the mapping files, the overrides and the name book; stores the result and writes the
//! reports.

use super::error::ProjectError;
use super::mappings_dir;
use crate::config::Config;
use crate::mapping::overrides::Overrides;
use crate::mapping::privacy::PrivacyPolicy;
use crate::mapping::spec;
use crate::model::unified::UnifiedDirectory;

use crate::mapping::unify::{Inputs, Judge, Judged, unify};
use crate::report::mapping::write_reports;
use crate::state::unified::UnifiedRun;
use crate::state::{SnapshotId, SnapshotPart, State};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What a map run did: the mappings it used, the unified directory, the stored run and the
/// reports.
pub struct Mapped {
    pub mappings: spec::Mappings,
    pub unified: UnifiedDirectory,
    pub run: UnifiedRun,
    /// The folder the reports were written to, and the files.
    pub reports_dir: PathBuf,
    pub reports: Vec<PathBuf>,
}

impl Mapped {
    /// The outcome when nothing blocks a wave, else the blocking findings to resolve first
    /// (the reports are written either way).
    pub fn unblocked(self) -> Result<Mapped, ProjectError> {
        if self.run.blocking > 0 {
            return Err(ProjectError::BlockingFindings { count: self.run.blocking, reports: self.reports_dir });
        }
        Ok(self)
    }
}

/// Maps the newest accepted snapshot of every source (never a held one), stores the result and writes the reports into
/// `out` (default: reports/map next to samla.toml).
pub fn map(config: &Config, state: &mut State, out: Option<&Path>) -> Result<Mapped, ProjectError> {
    let stopwatch = crate::model::stopwatch::Stopwatch::start("map");
    let phase = |what: &str| {
        // Resident memory from /proc (Linux), for the benchmark's phase figures.
        let rss_mib = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
            .map_or(0, |pages| pages * 4096 / (1 << 20));
        tracing::info!("{what} {}, {rss_mib} MiB resident", stopwatch.since());
    };
    let names: Vec<String> = config.sources.iter().map(|s| s.name.clone()).collect();
    let mappings = spec::load(&mappings_dir(config), &names)?;
    let mut ids = Vec::new();
    let mut nfc_normalised = Vec::new();
    let mut newest = String::new();
    for name in &names {
        let summary =
            state.latest_snapshot(name)?.ok_or_else(|| ProjectError::NoSnapshot { municipality: name.clone() })?;
        ids.push(summary.id);
        nfc_normalised.push((name, summary.nfc_normalised));
        newest = newest.max(summary.finished_at.clone());
    }
    let now = chrono::DateTime::parse_from_rfc3339(&newest)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| ProjectError::SnapshotTime { time: newest.clone(), message: e.to_string() })?;
    let overrides = match &mappings.target.overrides {
        Some(path) => Overrides::load(path)?,
        None => Overrides::default(),
    };
    let key = match (&mappings.target.privacy_policy, &mappings.target.hash_key_env) {
        (PrivacyPolicy::Hash, Some(var)) => {
            Some(std::env::var(var).map_err(|_| ProjectError::NoHashKey { variable: var.clone() })?.into_bytes())
        }
        _ => None,
    };
    let inputs = Inputs { mappings: &mappings, overrides: &overrides, hash_key: key.as_deref(), now };
    let judged = read_and_judge(config, state, &inputs, &names, &ids)?;
    phase("snapshots loaded and judged");
    let mut book = state.name_book()?;
    let mut unified = unify(&inputs, judged, &mut book);
    for (name, n) in nfc_normalised {
        if let Some(s) = unified.summaries.get_mut(name) {
            s.nfc_normalised = n;
        }
    }
    phase("mapped");
    let run = state.save_unified(&unified, &book, &ids, &mappings.hash)?;
    let dir = out.map(Path::to_path_buf).unwrap_or_else(|| super::project_dir(config).join("reports/map"));
    phase("stored");
    // The stored run is committed; copying its log into the database file (seconds of disk
    // writes at a million people) runs on its own connection beside the reports.
    let again = state.reconnect()?;
    let (written, checkpointed) = std::thread::scope(|scope| {
        let checkpoint = scope.spawn(move || again.checkpoint());
        (write_reports(&dir, &unified), checkpoint.join())
    });
    let written = written?;
    match checkpointed {
        Ok(Ok(())) => {}
        // The run is safe in the log; SQLite copies it at the next checkpoint.
        Ok(Err(e)) => tracing::warn!("the state's log stays uncopied for now: {e}"),
        Err(_) => tracing::warn!("the state's log stays uncopied for now: the checkpoint thread stopped"),
    }
    phase("reports written");
    Ok(Mapped { mappings, unified, run, reports_dir: dir, reports: written })
}

/// Objects per part of a snapshot that one reader decodes and judges at a time: small enough
/// that parts of five municipalities of unequal size keep every core busy to the end, large
/// enough that a part's query and judge cost nothing beside its objects.
const OBJECTS_PER_PART: usize = 25_000;

/// Reads, decodes and judges the snapshots `ids` (of `names`, in order): the slow part before
/// naming. The snapshots are cut into parts that a reader per core (each with its own read
/// connection, which WAL allows beside the writer) takes one at a time, each object judged as
/// soon as it is decoded. Judging does not depend on order, so which reader takes which part
/// changes nothing.
fn read_and_judge<'a>(
    config: &Config,
    state: &State,
    inputs: &Inputs<'a>,
    names: &[String],
    ids: &[SnapshotId],
) -> Result<Vec<Judged<'a>>, ProjectError> {
    let mut parts: Vec<(&str, SnapshotPart)> = Vec::new();
    // An empty part per municipality too: one whose snapshot is empty is still summarised.
    let mut judged = Vec::with_capacity(names.len());
    for (name, id) in names.iter().zip(ids) {
        let judge =
            Judge::new(inputs, name).ok_or_else(|| ProjectError::NoMappingFile { municipality: name.clone() })?;
        judged.push(judge.finish());
        let of_this = state.snapshot_parts(*id, OBJECTS_PER_PART)?;
        parts.extend(of_this.into_iter().map(|p| (name.as_str(), p)));
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let readers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(parts.len().max(1));
    let read = |state: &State| -> Result<Vec<Judged<'a>>, ProjectError> {
        let mut judged = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let Some((name, part)) = parts.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
            let Some(mut judge) = Judge::new(inputs, name) else { continue };
            state.for_each_object_in(part, |o| judge.take(o))?;
            judged.push(judge.finish());
        }
        Ok(judged)
    };
    let per_reader: Vec<Result<Vec<Judged<'a>>, ProjectError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..readers)
            .map(|_| {
                scope.spawn(|| {
                    // Without the attributes mapping never reads (memberOf above all).
                    let result = crate::model::object::for_mapping(|| read(&State::open_read(&config.state_path)?));
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    result
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(ProjectError::ReaderStopped))).collect()
    });
    for reader in per_reader {
        judged.extend(reader?);
    }
    Ok(judged)
}
