//! What every command shares on the way out: the failure with its exit code, JSON for
//! machines, and the snapshot table.

use crate::error::Classified;
use crate::source::SourceOutcome;
use crate::state::SnapshotSummary;
use std::io::Write;

/// A failure with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl<E: Classified + std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure { code: e.exit_class().code(), message: e.to_string() }
    }
}

impl Failure {
    pub fn usage(message: impl ToString) -> Failure {
        Failure { code: 2, message: message.to_string() }
    }
    pub fn work(message: impl ToString) -> Failure {
        Failure { code: 1, message: message.to_string() }
    }

    /// The failure of one of several things (a municipality), named before its message.
    pub fn of<E: Classified + std::fmt::Display>(what: &str, e: &E) -> Failure {
        Failure { code: e.exit_class().code(), message: format!("{what}: {e}") }
    }

    /// Several failures as one, a line each: exit 2 when any of them is bad input (fixing
    /// the input is needed whatever else failed), else exit 1. Nothing failed: `Ok`.
    pub fn all(failures: Vec<Failure>) -> Result<(), Failure> {
        let Some(code) = failures.iter().map(|f| f.code).max() else { return Ok(()) };
        let lines: Vec<String> = failures.into_iter().map(|f| f.message).collect();
        Err(Failure { code, message: lines.join("\nsamla: ") })
    }
}

/// Why a municipality's discover gave no snapshot in use, with the exit class of its error: a
/// failed read (bad input 2, a failure 1), or a snapshot held because it shrank (1).
pub fn discover_failure(o: &SourceOutcome) -> Option<Failure> {
    match &o.result {
        Err(e) => Some(Failure::of(&o.municipality, e)),
        Ok(summary) => summary.held().map(|held| Failure::work(format!("{}: {held}", o.municipality))),
    }
}

/// Prints what discovery read, per municipality.
pub fn print_outcomes(outcomes: &[SourceOutcome], json: bool) -> Result<(), Failure> {
    if json {
        let rows: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(s) => match o.failure() {
                    None => serde_json::json!({"municipality": o.municipality, "ok": true, "snapshot": s}),
                    Some(held) => serde_json::json!({
                        "municipality": o.municipality, "ok": false, "snapshot": s, "error": held
                    }),
                },
                Err(e) => serde_json::json!({"municipality": o.municipality, "ok": false, "error": e.to_string()}),
            })
            .collect();
        return print_json(&rows);
    }
    let ok: Vec<&SnapshotSummary> = outcomes.iter().filter_map(|o| o.result.as_ref().ok()).collect();
    print_snapshot_table(&ok)
}

pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(Failure::work)?;
    writeln!(std::io::stdout(), "{text}").map_err(Failure::work)
}

pub fn print_snapshot_table(rows: &[&SnapshotSummary]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let mut line = |s: String| writeln!(out, "{s}").map_err(Failure::work);
    line(format!(
        "{:>4}  {:<14} {:>8} {:>7} {:>8} {:>5} {:>11}  {:<20}  {:<12}  {}",
        "id", "municipality", "users", "groups", "contacts", "ous", "memberships", "taken", "hash", "acceptance"
    ))?;
    for s in rows {
        line(format!(
            "{:>4}  {:<14} {:>8} {:>7} {:>8} {:>5} {:>11}  {:<20}  {:<12}  {}",
            s.id.0,
            s.municipality,
            s.users,
            s.groups,
            s.contacts,
            s.ous,
            s.memberships,
            s.finished_at,
            s.content_hash.get(..12).unwrap_or_default(),
            s.acceptance
        ))?;
    }
    Ok(())
}

/// `samla state check`: one line per check (JSON: the whole report).
pub fn print_check(report: &crate::state::check::CheckReport, json: bool) -> Result<(), Failure> {
    use crate::state::check::Verdict;
    if json {
        return print_json(report);
    }
    println!("state file {}\n", report.path.display());
    let width = report.checks.iter().map(|c| c.what.chars().count()).max().unwrap_or(0).max(5);
    println!("{:<width$}  result", "check");
    for c in &report.checks {
        let result = match &c.verdict {
            Verdict::Ok => "ok".to_string(),
            Verdict::Failed(why) => format!("FAILED: {why}"),
            Verdict::NotRecorded(why) => format!("not recorded ({why})"),
        };
        println!("{:<width$}  {result}", c.what);
    }
    Ok(())
}
