//! `samla map`: the edge around [`crate::mapping::unify`]: reads the newest snapshots, the
//! mapping files, the overrides and the name book; stores the result and writes the reports.

use super::Failure;
use crate::config::Config;
use crate::mapping::overrides::Overrides;
use crate::mapping::privacy::PrivacyPolicy;
use crate::mapping::spec;
use crate::model::unified::UnifiedDirectory;
use crate::wave::project::mappings_dir;

use crate::mapping::unify::{Inputs, Judge, Judged, unify};
use crate::report::mapping::{summary, write_reports};
use crate::state::{SnapshotId, SnapshotPart, State};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Maps, stores and reports. Blocking findings make it fail after the reports are written.
pub fn run(config: &Config, out: Option<&Path>, json: bool) -> Result<(spec::Mappings, UnifiedDirectory), Failure> {
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
    let mappings = spec::load(&mappings_dir(config), &names).map_err(Failure::usage)?;
    let mut state = State::open(&config.state_path).map_err(Failure::work)?;
    let mut ids = Vec::new();
    let mut newest = String::new();
    for name in &names {
        let summary = state
            .latest_snapshot(name)
            .map_err(Failure::work)?
            .ok_or_else(|| Failure::usage(format!("{name} has no snapshot yet: run `samla discover` first")))?;
        ids.push(summary.id);
        newest = newest.max(summary.finished_at.clone());
    }
    let now = chrono::DateTime::parse_from_rfc3339(&newest)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| Failure::work(format!("snapshot time {newest:?}: {e}")))?;
    let overrides = match &mappings.target.overrides {
        Some(path) => Overrides::load(path).map_err(Failure::usage)?,
        None => Overrides::default(),
    };
    let key = match (&mappings.target.privacy_policy, &mappings.target.hash_key_env) {
        (PrivacyPolicy::Hash, Some(var)) => Some(
            std::env::var(var)
                .map_err(|_| {
                    Failure::usage(format!("privacy policy \"hash\" needs the key in environment variable {var}"))
                })?
                .into_bytes(),
        ),
        _ => None,
    };
    let inputs = Inputs { mappings: &mappings, overrides: &overrides, hash_key: key.as_deref(), now };
    let judged = read_and_judge(config, &state, &inputs, &names, &ids)?;
    phase("snapshots loaded and judged");
    let mut book = state.name_book().map_err(Failure::work)?;
    let unified = unify(&inputs, judged, &mut book);
    phase("mapped");
    let run = state.save_unified(&unified, &book, &ids, &mappings.hash).map_err(Failure::work)?;
    let dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| config.file.parent().unwrap_or(Path::new(".")).join("reports/map"));
    phase("stored");
    // The stored run is committed; copying its log into the database file (seconds of disk
    // writes at a million people) runs on its own connection beside the reports.
    let (written, checkpointed) = std::thread::scope(|scope| {
        let checkpoint = scope.spawn(|| State::open(&config.state_path).and_then(|s| s.checkpoint()));
        (write_reports(&dir, &unified), checkpoint.join())
    });
    let written = written.map_err(Failure::work)?;
    match checkpointed {
        Ok(Ok(())) => {}
        // The run is safe in the log; SQLite copies it at the next checkpoint.
        Ok(Err(e)) => tracing::warn!("the state's log stays uncopied for now: {e}"),
        Err(_) => tracing::warn!("the state's log stays uncopied for now: the checkpoint thread stopped"),
    }
    phase("reports written");
    if json {
        let value = serde_json::json!({ "run": run, "summaries": unified.summaries, "reports": written });
        println!("{}", serde_json::to_string_pretty(&value).map_err(Failure::work)?);
    } else {
        println!("{}", summary(&unified));
        println!("content hash {} (map run {}); reports in {}", &run.content_hash[..12], run.id, dir.display());
    }
    if run.blocking > 0 {
        return Err(Failure::work(format!(
            "{} blocking finding(s) must be resolved before anything is written: see the conflict reports in {}",
            run.blocking,
            dir.display()
        )));
    }
    Ok((mappings, unified))
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
) -> Result<Vec<Judged<'a>>, Failure> {
    let mut parts: Vec<(&str, SnapshotPart)> = Vec::new();
    // An empty part per municipality too: one whose snapshot is empty is still summarised.
    let mut judged = Vec::with_capacity(names.len());
    for (name, id) in names.iter().zip(ids) {
        let judge = Judge::new(inputs, name).ok_or_else(|| Failure::usage(format!("{name} has no mapping file")))?;
        judged.push(judge.finish());
        let of_this = state.snapshot_parts(*id, OBJECTS_PER_PART).map_err(Failure::work)?;
        parts.extend(of_this.into_iter().map(|p| (name.as_str(), p)));
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let readers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(parts.len().max(1));
    let read = |state: &State| -> Result<Vec<Judged<'a>>, Failure> {
        let mut judged = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let Some((name, part)) = parts.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
            let Some(mut judge) = Judge::new(inputs, name) else { continue };
            state.for_each_object_in(part, |o| judge.take(o)).map_err(Failure::work)?;
            judged.push(judge.finish());
        }
        Ok(judged)
    };
    let per_reader: Vec<Result<Vec<Judged<'a>>, Failure>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..readers)
            .map(|_| {
                scope.spawn(|| {
                    // Without the attributes mapping never reads (memberOf above all).
                    let result = crate::model::object::for_mapping(|| {
                        read(&State::open(&config.state_path).map_err(Failure::work)?)
                    });
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    result
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Failure::work("a snapshot reader stopped"))))
            .collect()
    });
    for reader in per_reader {
        judged.extend(reader?);
    }
    Ok(judged)
}
