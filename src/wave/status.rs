//! A wave's status: the journal's runs of it (who ran it, when, from which wave file, what
//! happened), with the operations of each run that failed or were in flight when it stopped,
//! and the member links each run could not add (a refused member costs only itself, so the
//! loss is counted, not hidden in a group that otherwise looks complete).

use super::error::WaveError;
use super::prepare::wave_number;
use crate::config::Config;
use crate::execute::Tally;
use crate::journal::{Entry, OpState, RunRow};
use crate::state::State;
use serde::Deserialize;
use std::collections::BTreeMap;

/// How many failed operations of a run are listed.
pub const FAILURES_SHOWN: usize = 20;

/// One run and the first of its operations that failed or are in doubt.
pub struct RunStatus {
    pub run: RunRow,
    pub unsettled: Vec<Entry>,
    /// Member links the run set out to add and could not, per system and municipality (from
    /// the run's summary; empty for a run that was interrupted before it wrote one).
    pub member_links_lost: Vec<Lost>,
}

/// Member links lost in one system and municipality.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lost {
    pub system: &'static str,
    pub municipality: String,
    pub member_links: u64,
}

/// The part of a run's recorded summary the status reads.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Recorded {
    shared_ad: Option<RecordedSystem>,
    tenant: Option<RecordedSystem>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RecordedSystem {
    municipalities: BTreeMap<String, Tally>,
}

/// The member links lost according to a run's recorded summary.
fn lost_in(summary: Option<&serde_json::Value>) -> Vec<Lost> {
    let recorded = summary.and_then(|s| Recorded::deserialize(s).ok()).unwrap_or_default();
    [("shared AD", recorded.shared_ad), ("tenant", recorded.tenant)]
        .into_iter()
        .filter_map(|(system, r)| r.map(|r| (system, r)))
        .flat_map(|(system, r)| {
            r.municipalities.into_iter().filter(|(_, t)| t.member_links_lost > 0).map(move |(m, t)| Lost {
                system,
                municipality: m,
                member_links: t.member_links_lost,
            })
        })
        .collect()
}

/// The wave's number and its runs against `target` (every target when None), oldest first.
pub fn status(
    config: &Config,
    state: &State,
    wave: &str,
    target: Option<&str>,
) -> Result<(u32, Vec<RunStatus>), WaveError> {
    let number = wave_number(config, wave)?;
    let mut out = Vec::new();
    for run in state.runs(number, target)? {
        let unsettled = state
            .operations(run.id)?
            .into_iter()
            .filter(|o| matches!(o.state, OpState::Failed | OpState::InDoubt))
            .take(FAILURES_SHOWN)
            .collect();
        let member_links_lost = lost_in(run.summary.as_ref());
        out.push(RunStatus { run, unsettled, member_links_lost });
    }
    Ok((number, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lost_member_links_are_read_from_the_summary_per_system_and_municipality() {
        let summary = json!({
            "run": 3,
            "shared_ad": {"municipalities": {
                "bjuv": {"created": 4, "member_links_lost": 2},
                "klippan": {"created": 1, "member_links_lost": 0}
            }},
            "tenant": {"municipalities": {"bjuv": {"member_links_lost": 1}}}
        });
        let lost = lost_in(Some(&summary));
        assert_eq!(
            lost,
            vec![
                Lost { system: "shared AD", municipality: "bjuv".into(), member_links: 2 },
                Lost { system: "tenant", municipality: "bjuv".into(), member_links: 1 },
            ]
        );
        // An interrupted run's summary, and one written before samla counted losses.
        assert!(lost_in(Some(&json!({"interrupted": true}))).is_empty());
        assert!(lost_in(Some(&json!({"shared_ad": {"municipalities": {"bjuv": {"created": 1}}}}))).is_empty());
        assert!(lost_in(None).is_empty());
    }
}
