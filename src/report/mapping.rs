//! What `samla map` tells each municipality: its conflict report (CSV for Excel, JSON for
//! machines) and its data-minimisation report (every attribute leaving the premises and the
//! rule that allows it), plus the terminal summary.

use super::csv_excel;
use super::error::ReportError;
use crate::model::unified::{Finding, Severity, UnifiedDirectory, warmed};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Writes `<dir>/<municipality>-conflicts.csv|json` and `<municipality>-outbound.csv`, the
/// municipalities in parallel (at a million users each has a few hundred thousand findings).
pub fn write_reports(dir: &Path, unified: &UnifiedDirectory) -> Result<Vec<PathBuf>, ReportError> {
    use rayon::prelude::*;
    let municipalities: Vec<&String> = unified.summaries.keys().collect();
    let written: Vec<[PathBuf; 3]> =
        municipalities.par_iter().map(|m| write_municipality(dir, unified, m)).collect::<Result<_, ReportError>>()?;
    Ok(written.into_iter().flatten().collect())
}

fn write_municipality(dir: &Path, unified: &UnifiedDirectory, municipality: &str) -> Result<[PathBuf; 3], ReportError> {
    let findings: Vec<_> = unified.findings.iter().filter(|f| f.municipality == municipality).collect();
    let csv = dir.join(format!("{municipality}-conflicts.csv"));
    let json = dir.join(format!("{municipality}-conflicts.json"));
    // The two forms of one list at once: municipalities differ in size by the hundred
    // thousand, and five whole municipalities kept two cores evenly busy for only part of it.
    let (csv_written, json_written) = rayon::join(
        || {
            csv_excel::write(
                &csv,
                &["severity", "category", "object", "detail", "resolution"],
                warmed(&findings).map(|f| [severity(f.severity), f.category, &f.object, &f.detail, f.resolution]),
            )
        },
        || {
            let file = std::fs::File::create(&json).map_err(ReportError::io(&json))?;
            let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
            serde_json::to_writer_pretty(&mut file, &Warmed(&findings))
                .map_err(|source| ReportError::Json { path: json.clone(), source })?;
            std::io::Write::flush(&mut file).map_err(ReportError::io(&json))
        },
    );
    csv_written?;
    json_written?;
    let outbound = dir.join(format!("{municipality}-outbound.csv"));
    let rows = unified.outbound.get(municipality).into_iter().flatten();
    csv_excel::write(
        &outbound,
        &["attribute", "values leaving", "why it may leave"],
        rows.map(|o| vec![o.attribute.clone(), o.values.to_string(), o.rule.clone()]),
    )?;
    Ok([csv, json, outbound])
}

/// The findings, serialised as the list itself, each after touching one ahead (see [`warmed`]).
struct Warmed<'a>(&'a [&'a Finding]);

impl serde::Serialize for Warmed<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(warmed(self.0))
    }
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
    let mut s = String::from(
        "accounts: the municipality's accounts that became people (a person matched across municipalities\n\
         counts in each); people: each person once, in the municipality of their primary affiliation (what\n\
         `samla plan` counts); nfc: the snapshot's text values stored decomposed (NFD, as Mac clients\n\
         write them) and normalised to NFC on read\n",
    );
    let _ = writeln!(
        s,
        "{:<14} {:>8} {:>7} {:>7} {:>9} {:>11} {:>8} {:>7} {:>11} {:>9} {:>6}",
        "municipality",
        "accounts",
        "people",
        "groups",
        "excluded",
        "collisions",
        "matches",
        "merges",
        "violations",
        "blocking",
        "nfc"
    );
    let mut primary: BTreeMap<&str, usize> = BTreeMap::new();
    for a in unified.people.iter().filter_map(|p| p.affiliations.first()) {
        *primary.entry(a.municipality.as_str()).or_default() += 1;
    }
    for (m, x) in &unified.summaries {
        let _ = writeln!(
            s,
            "{m:<14} {:>8} {:>7} {:>7} {:>9} {:>11} {:>8} {:>7} {:>11} {:>9} {:>6}",
            x.people,
            primary.get(m.as_str()).copied().unwrap_or(0),
            x.groups,
            x.excluded,
            x.collisions,
            x.matches,
            x.merges,
            x.violations,
            x.blocking,
            x.nfc_normalised
        );
    }
    let _ = write!(s, "unified: {} people, {} groups", unified.people.len(), unified.groups.len());
    s
}
