//! `samla map`: the edge around [`crate::mapping::unify`]: reads the newest snapshots, the
//! mapping files, the overrides and the name book; stores the result and writes the reports.

use super::Failure;
use crate::config::Config;
use crate::mapping::overrides::Overrides;
use crate::mapping::privacy::PrivacyPolicy;
use crate::mapping::spec;
use crate::mapping::unify::{Inputs, Judge, Judged, UnifiedDirectory, unify};
use crate::report::mapping::{summary, write_reports};
use crate::state::State;
use std::path::{Path, PathBuf};

/// Where the mapping files of a project live: `mappings/` next to samla.toml.
pub fn mappings_dir(config: &Config) -> PathBuf {
    config.file.parent().unwrap_or(Path::new(".")).join("mappings")
}

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
    // Reading, decoding and judging a snapshot is the slow part before naming: one thread
    // (and one read connection, which WAL allows beside the writer) per municipality, each
    // object judged as soon as it is decoded.
    let judged: Vec<Result<Judged<'_>, Failure>> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .zip(&ids)
            .map(|(name, id)| {
                let inputs = &inputs;
                scope.spawn(move || {
                    let mut judge = Judge::new(inputs, name)
                        .ok_or_else(|| Failure::usage(format!("{name} has no mapping file")))?;
                    // Without the attributes mapping never reads (memberOf above all).
                    crate::model::object::for_mapping(|| {
                        State::open(&config.state_path).and_then(|s| s.for_each_snapshot_object(*id, |o| judge.take(o)))
                    })
                    .map_err(Failure::work)?;
                    Ok(judge.finish())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Failure::work("a snapshot reader stopped"))))
            .collect()
    });
    let judged = judged.into_iter().collect::<Result<Vec<_>, _>>()?;
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
