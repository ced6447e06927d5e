//! What `samla map` tells each municipality: its conflict report (CSV for Excel, JSON for
//! machines) and its data-minimisation report (every attribute leaving the premises and the
//! rule that allows it), plus the terminal summary.

use super::csv_excel;
use crate::mapping::unify::{Severity, UnifiedDirectory};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Writes `<dir>/<municipality>-conflicts.csv|json` and `<municipality>-outbound.csv`.
pub fn write_reports(dir: &Path, unified: &UnifiedDirectory) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    for municipality in unified.summaries.keys() {
        let findings: Vec<_> = unified.findings.iter().filter(|f| &f.municipality == municipality).collect();
        let csv = dir.join(format!("{municipality}-conflicts.csv"));
        csv_excel::write(
            &csv,
            &["severity", "category", "object", "detail", "resolution"],
            findings.iter().map(|f| {
                vec![
                    severity(f.severity).into(),
                    f.category.into(),
                    f.object.clone(),
                    f.detail.clone(),
                    f.resolution.clone(),
                ]
            }),
        )?;
        let json = dir.join(format!("{municipality}-conflicts.json"));
        let text = serde_json::to_string_pretty(&findings).map_err(|e| e.to_string())?;
        std::fs::write(&json, text).map_err(|e| format!("{}: {e}", json.display()))?;
        let outbound = dir.join(format!("{municipality}-outbound.csv"));
        let rows = unified.outbound.get(municipality).into_iter().flatten();
        csv_excel::write(
            &outbound,
            &["attribute", "values leaving", "why it may leave"],
            rows.map(|o| vec![o.attribute.clone(), o.values.to_string(), o.rule.clone()]),
        )?;
        written.extend([csv, json, outbound]);
    }
    Ok(written)
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Blocking => "blocking",
        Severity::Review => "review",
        Severity::Info => "info",
    }
}

/// The terminal summary, one line per municipality.
pub fn summary(unified: &UnifiedDirectory) -> String {
    let mut s = format!(
        "{:<14} {:>7} {:>7} {:>9} {:>11} {:>8} {:>7} {:>11} {:>9}\n",
        "municipality", "people", "groups", "excluded", "collisions", "matches", "merges", "violations", "blocking"
    );
    for (m, x) in &unified.summaries {
        let _ = writeln!(
            s,
            "{m:<14} {:>7} {:>7} {:>9} {:>11} {:>8} {:>7} {:>11} {:>9}",
            x.people, x.groups, x.excluded, x.collisions, x.matches, x.merges, x.violations, x.blocking
        );
    }
    let _ = write!(s, "unified: {} people, {} groups", unified.people.len(), unified.groups.len());
    s
}
