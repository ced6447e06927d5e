//! `samla map`: prints what [`crate::project::map`] did.

use super::output::{Failure, print_json};
use crate::config::Config;
use crate::project::map::Mapped;
use crate::project::open_state_for_writing;
use crate::report::mapping::summary;
use crate::state::WriterLock;
use std::path::Path;

/// Maps, stores and reports (the caller holds the state's lock); blocking findings make it
/// fail after the reports are written.
pub fn run(config: &Config, lock: &WriterLock, out: Option<&Path>, json: bool) -> Result<Mapped, Failure> {
    let mut state = open_state_for_writing(config, lock)?;
    let mapped = crate::project::map::map(config, &mut state, out)?;
    let Mapped { unified, run, reports_dir, reports, .. } = &mapped;
    if json {
        print_json(&serde_json::json!({ "run": run, "summaries": unified.summaries, "reports": reports }))?;
    } else {
        println!("{}", summary(unified));
        println!("content hash {} (map run {}); reports in {}", &run.content_hash[..12], run.id, reports_dir.display());
    }
    Ok(mapped.unblocked()?)
}
