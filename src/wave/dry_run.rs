//! A wave's dry-run: what it will send and change, before anything is written to a target.
//!
//! Refuses what must not run ([`super::prepare`]). Writes the exact Graph requests (JSON
//! lines, one request a line, and the `$batch` bodies), the shared AD's LDIF change records
//! and a CSV of the changes per municipality. Against a target, the requests are what that
//! target still needs, compared by anchor, and the thresholds say whether a run would go on.

use super::compare::{Comparison, Counts, compare_with};
use super::connect::same_target;
use super::dependencies::required_in_target;
use super::error::WaveError;
use super::prepare::{Purpose, prepare};
use crate::config::Config;
use crate::execute::Impact;
use crate::model::settings::TargetSettings;
use crate::model::unified::Anchor;
use crate::project::project_dir;
use crate::render::{WaveContent, graph, ldap};
use crate::state::State;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Per-municipality counts of a dry-run: people and groups in the municipality they belong to,
/// links in the municipality of the member (memberships) or the person (manager links).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MunicipalityCounts {
    pub people: usize,
    /// Of `people`, those whose new accounts are enabled, in both targets alike
    /// (`[account_state]`); the others are created disabled.
    pub people_enabled: usize,
    /// Of `people`, those of a kind that stays in the shared AD (`[cloud]`): no cloud user.
    pub shared_ad_only: usize,
    pub groups: usize,
    /// Member links the wave holds: one per member of a group (licence groups not included),
    /// in the member's municipality.
    pub memberships: usize,
    /// Member links the Graph requests add (bound when a group is created or added later,
    /// licence groups included), in the group's municipality: what a comparison's and a run's
    /// `member_links` count for the tenant.
    pub tenant_member_links: usize,
    pub manager_links: usize,
    pub graph_requests: usize,
    pub ldap_operations: usize,
}

/// What `samla wave dry-run --json` prints.
#[derive(Debug, Serialize)]
pub struct DryRun {
    pub wave: u32,
    pub name: String,
    pub file: PathBuf,
    pub municipalities: BTreeMap<String, MunicipalityCounts>,
    pub graph: graph::WriteCount,
    pub ldap_operations: usize,
    /// What the tenant cannot take and is left out (nested groups in Microsoft 365 groups...).
    pub skipped: Vec<graph::Skipped>,
    pub outputs: BTreeMap<&'static str, PathBuf>,
    /// Against a target: per system and municipality, what would change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<BTreeMap<String, Counts>>,
    /// Against a target: whether it already holds the whole wave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nothing_to_do: Option<bool>,
    /// Against a target: per municipality, what the thresholds weigh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<BTreeMap<String, Impact>>,
    /// Against a target: why `wave run` would refuse (`[thresholds]`); empty when it would not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beyond_thresholds: Option<Vec<String>>,
    /// Against a target: what it cannot take ([`super::preflight`]); `wave run` would send
    /// nothing while this holds anything, and the dry-run exits 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<Vec<super::preflight::Finding>>,
    /// Against a target: its name and the whole comparison, for people.
    #[serde(skip)]
    pub compared_with: Option<(String, Comparison)>,
}

/// What a dry-run is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct DryRunRequest<'a> {
    /// The wave: its number, name or file name.
    pub wave: &'a str,
    /// Where the requests, LDIF and CSV go (default: reports/waves/<wave file name>, and
    /// against a target its own folder in there, `against-<target>`: see [`default_dir`]).
    pub out: Option<&'a Path>,
    /// Compare with this target of samla.toml (read only).
    pub target: Option<&'a str>,
}

/// Dry-runs a wave: renders it (against a target, only what the target still needs) and
/// writes the files. Nothing is written to any target.
pub fn dry_run(config: &Config, state: &State, request: DryRunRequest<'_>) -> Result<DryRun, WaveError> {
    let started = std::time::Instant::now();
    let prepared = prepare(config, state, request.wave, Purpose::Send)?;
    if let Some(t) = request.target {
        same_target(state, config.target(t)?)?;
        required_in_target(state, &prepared.content, t)?;
    }
    let comparison = request.target.map(|t| compare_with(config, state, &prepared, t)).transpose()?;
    tracing::info!("dry-run: prepared after {:.2} s", started.elapsed().as_secs_f64());
    let targets = &prepared.targets;
    let content = &prepared.content;
    let rendering = graph::render_wave(content, targets);
    // Against a target, the requests are what it still needs.
    let requests = match comparison.as_ref().and_then(|c| c.tenant.as_ref()) {
        Some(t) => t.requests.iter().map(|(_, r)| r.clone()).collect(),
        None => rendering.requests,
    };
    let batches = graph::batches(&requests);
    let writes = graph::count_batched(&requests, &batches);
    let ops = match comparison.as_ref().and_then(|c| c.shared_ad.as_ref()) {
        Some(a) => a.ops.iter().map(|(_, o)| o.clone()).collect(),
        None => ldap::render(content, targets)?,
    };
    tracing::info!("dry-run: rendered after {:.2} s", started.elapsed().as_secs_f64());
    let stem = prepared.file.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = request.out.map(Path::to_path_buf).unwrap_or_else(|| default_dir(config, &stem, request.target));
    std::fs::create_dir_all(&dir).map_err(|source| WaveError::File { path: dir.clone(), source })?;
    let write = |name: &str, text: &str| -> Result<PathBuf, WaveError> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| WaveError::File { path: path.clone(), source })?;
        Ok(path)
    };
    let mut outputs = BTreeMap::new();
    let mut jsonl = String::new();
    for r in &requests {
        jsonl.push_str(&serde_json::to_string(r)?);
        jsonl.push('\n');
    }
    outputs.insert("graph_requests", write("graph-requests.jsonl", &jsonl)?);
    outputs.insert("graph_batches", write("graph-batches.json", &serde_json::to_string_pretty(&batches)?)?);
    outputs.insert("shared_ad_ldif", write("shared-ad.ldif", &ldap::to_ldif(&ops))?);
    let changes = dir.join("changes.csv");
    crate::report::csv_excel::write(
        &changes,
        &["municipality", "target", "change", "object", "attribute", "before", "after"],
        match &comparison {
            Some(c) => c.rows().into_iter().chain(shared_ad_only_rows(content, targets)).collect(),
            None => change_rows(content, targets),
        },
    )?;
    outputs.insert("changes_csv", changes);

    let mut municipalities: BTreeMap<String, MunicipalityCounts> = BTreeMap::new();
    let municipality_of = |a: &Anchor| content.refs.get(a).map(|r| r.municipality.clone()).unwrap_or_default();
    for p in &content.people {
        let m = municipalities.entry(municipality_of(&p.anchor)).or_default();
        m.people += 1;
        m.people_enabled += usize::from(targets.account_state.enabled(p));
        m.shared_ad_only += usize::from(!targets.cloud.goes(p.kind));
    }
    for g in &content.groups {
        municipalities.entry(municipality_of(&g.anchor)).or_default().groups += 1;
    }
    for (_, m) in &content.memberships {
        municipalities.entry(municipality_of(&m.anchor())).or_default().memberships += 1;
    }
    for (p, _) in &content.manager_links {
        municipalities.entry(municipality_of(p)).or_default().manager_links += 1;
    }
    for r in &requests {
        let m = municipalities.entry(r.municipality.clone()).or_default();
        m.graph_requests += 1;
        if matches!(
            r.action,
            graph::Action::AddMembers | graph::Action::CreateGroup | graph::Action::CreateLicenceGroup
        ) {
            m.tenant_member_links += r.members();
        }
    }
    for o in &ops {
        municipalities.entry(o.municipality().to_string()).or_default().ldap_operations += 1;
    }
    let impact = comparison.as_ref().map(Comparison::impact);
    let result = DryRun {
        wave: prepared.file.number,
        name: prepared.file.name.clone(),
        file: prepared.file.path.clone(),
        municipalities,
        graph: writes,
        ldap_operations: ops.len(),
        skipped: rendering.skipped,
        outputs,
        comparison: comparison
            .as_ref()
            .map(|c| c.counts().into_iter().map(|((s, m), n)| (format!("{s}/{m}"), n)).collect()),
        nothing_to_do: comparison.as_ref().map(Comparison::nothing_to_do),
        impact: impact.clone(),
        beyond_thresholds: impact
            .as_ref()
            .map(|i| crate::execute::over_thresholds(i, &prepared.population, &config.thresholds)),
        preflight: comparison.as_ref().map(|c| c.preflight.clone()),
        compared_with: request.target.zip(comparison).map(|(t, c)| (t.to_string(), c)),
    };
    tracing::info!("dry-run: written after {:.2} s", started.elapsed().as_secs_f64());
    Ok(result)
}

impl DryRun {
    /// Whether the target could take the wave: the preflight's findings as the error a run
    /// would stop with (nothing is sent by a dry-run either way).
    pub fn target_can_take_it(&self) -> Result<(), WaveError> {
        match (&self.preflight, &self.compared_with) {
            (Some(findings), Some((target, _))) if !findings.is_empty() => {
                Err(WaveError::Preflight { wave: self.wave, target: target.clone(), findings: findings.clone() })
            }
            _ => Ok(()),
        }
    }
}

/// Where a dry-run's files go unless `--out` says otherwise: `reports/waves/<wave file name>`
/// for the plain dry-run (the whole wave), and `reports/waves/<wave file name>/against-<target>`
/// for a dry-run against a target (what that target still needs), so a comparison never
/// overwrites the record of the wave's requests.
pub fn default_dir(config: &Config, wave_stem: &str, target: Option<&str>) -> PathBuf {
    let dir = project_dir(config).join("reports/waves").join(wave_stem);
    match target {
        Some(t) => dir.join(format!("against-{t}")),
        None => dir,
    }
}

/// One CSV row per attribute of every object the wave creates, and per link it adds. Without a
/// target to compare against, "before" is empty: everything is new.
fn change_rows(content: &WaveContent, targets: &TargetSettings) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let municipality = |a: &Anchor| content.refs.get(a).map(|r| r.municipality.clone()).unwrap_or_default();
    let name = |a: &Anchor| content.refs.get(a).map(|r| r.cloud_name.clone()).unwrap_or_else(|| a.0.to_string());
    let mut row = |m: String, target: &str, change: &str, object: String, attribute: &str, after: String| {
        rows.push(vec![m, target.into(), change.into(), object, attribute.into(), String::new(), after]);
    };
    // The tenant's rows only where the object is there (`[cloud]`).
    let in_tenant = |anchors: &[Anchor]| !anchors.iter().any(|a| content.shared_ad_only(*a, targets));
    let targets_of =
        |anchors: &[Anchor]| if in_tenant(anchors) { &["tenant", "shared AD"][..] } else { &["shared AD"] };
    for p in &content.people {
        let m = municipality(&p.anchor);
        let upn = p.user_principal_name.clone();
        let in_cloud = targets.cloud.goes(p.kind);
        let systems = [("tenant", &p.cloud), ("shared AD", &p.on_premises)];
        for (target, attrs) in systems.into_iter().skip(usize::from(!in_cloud)) {
            row(m.clone(), target, "create user", upn.clone(), "userPrincipalName", upn.clone());
            row(m.clone(), target, "create user", upn.clone(), "immutable anchor", p.immutable_id.clone());
            for (k, v) in attrs {
                row(m.clone(), target, "create user", upn.clone(), k, v.clone());
            }
        }
        row(m.clone(), "shared AD", "create user", upn.clone(), "sAMAccountName", p.sam_account_name.clone());
        // Whether the person may sign in: the same in both targets ([account_state]).
        let state = match targets.account_state.why_disabled(p) {
            None => "enabled".to_string(),
            Some(why) => format!("disabled ({why})"),
        };
        for target in targets_of(&[p.anchor]) {
            row(m.clone(), target, "create user", upn.clone(), "account state", state.clone());
        }
        if in_cloud {
            row(m, "tenant", "create user", upn, "licence", p.licence.clone());
        }
    }
    for g in &content.groups {
        let m = municipality(&g.anchor);
        for target in ["tenant", "shared AD"] {
            row(m.clone(), target, "create group", g.name.clone(), "mailNickname", g.mail_nickname.clone());
        }
    }
    for (g, member) in &content.memberships {
        for target in targets_of(&[member.anchor()]) {
            row(municipality(&member.anchor()), target, "add member", name(g), "member", name(&member.anchor()));
        }
    }
    for (p, m) in &content.manager_links {
        for target in targets_of(&[*p, *m]) {
            row(municipality(p), target, "set manager", name(p), "manager", name(m));
        }
    }
    rows.extend(shared_ad_only_rows(content, targets));
    rows
}

/// One CSV row per account the wave creates in the shared AD only (`[cloud]`): the tenant gets
/// nothing of it, and the row says why.
fn shared_ad_only_rows(content: &WaveContent, targets: &TargetSettings) -> Vec<Vec<String>> {
    let municipality = |a: &Anchor| content.refs.get(a).map(|r| r.municipality.clone()).unwrap_or_default();
    (content.people.iter())
        .filter_map(|p| {
            let why = targets.cloud.why_not(p.kind)?;
            let (m, upn) = (municipality(&p.anchor), p.user_principal_name.clone());
            Some(vec![m, "tenant".into(), "shared AD only".into(), upn, "account kind".into(), String::new(), why])
        })
        .collect()
}
