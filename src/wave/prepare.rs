//! Preparing a wave: everything a dry-run, a run and a rollback start from, after every check
//! that must stop a wave before anything is rendered or sent.
//!
//! A wave is refused when it is stale (its inputs changed since it was planned), when the map
//! run has blocking findings (a privacy violation, keys of one person that disagree), or when a
//! name it would write is one a target refuses. A rollback loads the same content without
//! those checks: the journal says what to undo, the wave only which objects to look at, so a
//! wave gone stale since it ran is still rolled back.

use super::dependencies::referrers;
use super::error::WaveError;
use crate::config::Config;
use crate::model::names;
use crate::model::settings::TargetSettings;
use crate::model::unified::{Anchor, Group, Person};
use crate::plan::files::{self, WaveFile};
use crate::plan::make;
use crate::project::load::{Loaded, load, wave_files};
use crate::project::waves_dir;
use crate::render::{WaveContent, content};
use crate::state::State;
use crate::state::unified::RowError;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;

/// Whether the checks that stop a wave apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A dry-run or a run: stale waves, blocking findings and refused names stop it.
    Send,
    /// A rollback or its report: the wave is only read.
    Undo,
}

/// Everything a dry-run, run or rollback needs: the wave's file and content, the target
/// settings, and the population thresholds are weighed against.
pub struct Prepared {
    pub file: WaveFile,
    pub targets: TargetSettings,
    pub content: WaveContent,
    /// People per municipality in the unified directory (what threshold shares are of).
    pub population: BTreeMap<String, u64>,
    /// The UPN domains target.toml says are verified in the tenant.
    pub verified_domains: Vec<String>,
    /// The other waves that refer to objects this wave creates ([`referrers`]).
    pub referrers: std::collections::BTreeSet<u32>,
}

/// Finds a wave by number, name or file stem; a name more than one wave has is refused with
/// the candidates (their numbers and file names pick one).
pub fn find<'a>(files: &'a [WaveFile], wave: &str) -> Result<&'a WaveFile, WaveError> {
    let stem = |f: &WaveFile| f.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let matches: Vec<&WaveFile> = match wave.parse::<u32>() {
        Ok(n) => files.iter().filter(|f| f.number == n).collect(),
        Err(_) => files.iter().filter(|f| f.name == wave || stem(f) == wave).collect(),
    };
    match matches.as_slice() {
        [one] => Ok(one),
        [] => {
            let known: Vec<String> = files.iter().map(|f| format!("{} ({})", f.number, f.name)).collect();
            Err(WaveError::NoSuchWave { wanted: wave.to_string(), known: known.join(", ") })
        }
        many => {
            let candidates: Vec<String> =
                many.iter().map(|f| format!("{} ({}, {})", f.number, f.name, f.path.display())).collect();
            Err(WaveError::AmbiguousWave { wanted: wave.to_string(), candidates: candidates.join(", ") })
        }
    }
}

/// The number of the wave `wave` names (a number needs no wave files).
pub fn wave_number(config: &Config, wave: &str) -> Result<u32, WaveError> {
    match wave.parse::<u32>() {
        Ok(n) => Ok(n),
        Err(_) => {
            let files = files::read_dir(&waves_dir(config))?;
            Ok(find(&files, wave)?.number)
        }
    }
}

/// Loads the plan and the wave and builds its content; for [`Purpose::Send`], refuses a
/// stale wave, blocking findings and names the target would refuse.
pub fn prepare(config: &Config, state: &State, wave: &str, purpose: Purpose) -> Result<Prepared, WaveError> {
    let checks = purpose == Purpose::Send;
    let loaded = load(config, state)?;
    let files = wave_files(config)?;
    let file = find(&files, wave)?.clone();
    let slots = make::current_slots(&loaded.dir, &loaded.settings);
    make::check_current_units(&file, &loaded.current, &slots)?;
    let stale = make::staleness(&file, &loaded.current, &slots);
    if checks && !stale.is_empty() {
        return Err(WaveError::Stale { wave: file.number, reasons: stale.join("; ") });
    }
    if checks && loaded.run.blocking > 0 {
        return Err(blocking_findings(state, &loaded)?);
    }
    let plan = make::from_files(&loaded.dir, &loaded.settings, &files)?;
    let (people_needed, groups_needed) = content::needed(&plan, &loaded.dir, file.number);
    let mut people: HashMap<Anchor, Person> = HashMap::default();
    let wanted = |key: &str, set: &std::collections::BTreeSet<Anchor>| {
        crate::model::ObjectGuid::parse(key).is_ok_and(|g| set.contains(&Anchor(g)))
    };
    state.for_each_unified_row(loaded.run.id, "person", |key, json| {
        if wanted(key, &people_needed) {
            let p: Person = serde_json::from_str(json).map_err(RowError::decode("person", key))?;
            people.insert(p.anchor, p);
        }
        Ok(())
    })?;
    let mut groups: HashMap<Anchor, Group> = HashMap::default();
    state.for_each_unified_row(loaded.run.id, "group", |key, json| {
        if wanted(key, &groups_needed) {
            let g: Group = serde_json::from_str(json).map_err(RowError::decode("group", key))?;
            groups.insert(g.anchor, g);
        }
        Ok(())
    })?;
    let population = population(&loaded);
    let targets = loaded.target.targets;
    let content = content::build(&plan, &loaded.dir, file.number, &people, &groups, &targets)?;
    let referrers = referrers(&plan, file.number);
    let verified_domains = loaded.target.verified_domains;
    if checks {
        refused_names(&content, &verified_domains)?;
    }
    Ok(Prepared { file, targets, content, population, verified_domains, referrers })
}

/// People per municipality in the unified directory.
fn population(loaded: &Loaded) -> BTreeMap<String, u64> {
    let mut population: BTreeMap<String, u64> = BTreeMap::new();
    for p in &loaded.dir.people {
        let m =
            loaded.dir.unit_municipality.get(p.unit as usize).and_then(|i| loaded.dir.municipalities.get(*i as usize));
        *population.entry(m.cloned().unwrap_or_default()).or_default() += 1;
    }
    population
}

/// The map run's blocking findings, counted by municipality and category.
fn blocking_findings(state: &State, loaded: &Loaded) -> Result<WaveError, WaveError> {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    state.for_each_unified_row(loaded.run.id, "finding", |_, json| {
        let f: serde_json::Value = serde_json::from_str(json)?;
        if f["severity"] == "blocking" {
            let key = (
                f["municipality"].as_str().unwrap_or("").to_string(),
                f["category"].as_str().unwrap_or("").to_string(),
            );
            *counts.entry(key).or_default() += 1;
        }
        Ok(())
    })?;
    let list: Vec<String> = counts.iter().map(|((m, c), n)| format!("{m}: {n} {c}")).collect();
    Ok(WaveError::BlockingFindings { count: loaded.run.blocking, by_category: list.join(", ") })
}

/// Names Graph or AD would refuse, checked before anything is rendered.
fn refused_names(content: &WaveContent, verified: &[String]) -> Result<(), WaveError> {
    let mut problems = Vec::new();
    for p in &content.people {
        if let Err(e) = names::validate_upn(&p.user_principal_name, verified) {
            problems.push(format!("{}: userPrincipalName {}: {e}", p.anchor.0, p.user_principal_name));
        }
        if let Err(e) = names::validate_mail_nickname(&p.mail_nickname) {
            problems.push(format!("{}: mailNickname {}: {e}", p.anchor.0, p.mail_nickname));
        }
        if let Err(e) = names::validate_sam_account_name(&p.sam_account_name) {
            problems.push(format!("{}: sAMAccountName {}: {e}", p.anchor.0, p.sam_account_name));
        }
        // The shared AD's own limits: the cn and every OU on the way to it (RDN values).
        // (A control character is reported below, with the source DN.)
        let rdn = |kind, value: &str| match names::validate_rdn_value(kind, value) {
            Err(names::NameError::RdnControl { .. }) | Ok(()) => None,
            Err(e) => Some(e),
        };
        if let Some(e) = rdn(names::NameKind::Cn, &p.cn) {
            problems.push(format!("{}: cn: {e}", p.anchor.0));
        }
        for a in p.affiliations.iter().take(1) {
            // Split and trimmed as the render does (`render::ldap`'s unit levels).
            for level in a.unit.split('/').map(str::trim).filter(|l| !l.is_empty()) {
                if let Some(e) = rdn(names::NameKind::Ou, level) {
                    problems.push(format!("{} ({}): unit {:?}: {e}", p.anchor.0, a.dn, a.unit));
                }
            }
        }
        if p.display_name.chars().count() > 256 || p.display_name.trim().is_empty() {
            problems.push(format!("{}: displayName {:?} is empty or longer than 256", p.anchor.0, p.display_name));
        }
        // A NUL or other control character in a name is corrupt data, not a name: AD and
        // Graph handle it differently (a DN escape, a JSON escape, a refusal), so it stops here.
        let control = [("displayName", &p.display_name), ("cn", &p.cn)]
            .into_iter()
            .find_map(|(what, value)| value.chars().find(|c| c.is_control()).map(|c| (what, value, c)));
        if let Some((what, value, c)) = control {
            let source = p.affiliations.first().map(|a| a.dn.to_string()).unwrap_or_default();
            problems.push(format!(
                "{} ({source}): {what} {value:?} contains the control character U+{:04X}",
                p.anchor.0, c as u32
            ));
        }
    }
    for g in &content.groups {
        if let Some(c) = g.name.chars().find(|c| c.is_control()) {
            problems.push(format!("group {:?}: the name contains the control character U+{:04X}", g.name, c as u32));
        }
        if let Err(e) = names::validate_mail_nickname(&g.mail_nickname) {
            problems.push(format!("group {}: mailNickname {}: {e}", g.name, g.mail_nickname));
        }
        if let Err(e) = names::validate_rdn_value(names::NameKind::Cn, &g.name)
            && !matches!(e, names::NameError::RdnControl { .. })
        {
            problems.push(format!("group {}: cn: {e}", g.name));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = problems.iter().take(20).map(String::as_str).collect();
    Err(WaveError::RefusedNames {
        count: problems.len(),
        shown: format!("{}{}", shown.join("; "), if problems.len() > 20 { "; ..." } else { "" }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Classified;
    use crate::plan::files::PlanInputs;

    fn wave(number: u32, name: &str, file: &str) -> WaveFile {
        WaveFile {
            path: std::path::PathBuf::from("waves").join(file),
            number,
            name: name.into(),
            planned_name: name.into(),
            planned_at: String::new(),
            inputs: PlanInputs {
                unified: String::new(),
                mappings: String::new(),
                plan_settings: String::new(),
                snapshots: BTreeMap::new(),
            },
            units: Vec::new(),
        }
    }

    /// The dry-run holds a wave to the shared AD's limits too: a cn or OU past 64 characters,
    /// or with a space at an end, is refused before anything is rendered (a name kept from an
    /// earlier map, say); the same wave with valid names passes.
    #[test]
    fn names_the_shared_ad_would_refuse_are_refused() {
        use crate::model::unified::{AccountKind, Affiliation};
        let long = "Anna-Karin Margareta Charlotta Eleonora Lindqvist-Öhrström-von Essen af Wachtmeister";
        let person = |n: u8, cn: &str, unit: &str| {
            let anchor = Anchor(crate::model::ObjectGuid::from_ad_bytes(&[n; 16]).unwrap());
            Person {
                anchor,
                immutable_id: anchor.immutable_id(),
                user_principal_name: format!("p{n}@samverkan.se"),
                mail_nickname: format!("p{n}"),
                sam_account_name: format!("p{n}"),
                cn: cn.into(),
                display_name: cn.trim().into(),
                kind: AccountKind::Person,
                licence: String::new(),
                usage_location: "SE".into(),
                cloud: Default::default(),
                on_premises: Default::default(),
                source_state: Default::default(),
                affiliations: vec![Affiliation {
                    municipality: "bjuv".into(),
                    guid: anchor.0,
                    dn: crate::model::Dn::parse("CN=x,DC=bjuv,DC=test").unwrap(),
                    kind: AccountKind::Person,
                    unit: unit.into(),
                    enabled: true,
                }],
                manager: None,
            }
        };
        let verified = vec!["samverkan.se".to_string()];
        let ok = WaveContent {
            people: vec![person(1, &names::rdn_value(long), "Socialförvaltningen/Hemtjänst")],
            ..WaveContent::default()
        };
        refused_names(&ok, &verified).unwrap();
        let bad = WaveContent {
            people: vec![
                person(1, long, "Socialförvaltningen"),
                person(2, "Åsa Öberg ", "Socialförvaltningen"),
                person(3, "Åsa Öberg", &format!("Socialförvaltningen/{}", "Hemtjänst ".repeat(7))),
            ],
            ..WaveContent::default()
        };
        let Err(WaveError::RefusedNames { count, shown }) = refused_names(&bad, &verified) else {
            panic!("not refused")
        };
        assert_eq!(count, 3, "{shown}");
        assert!(shown.contains("cn `Anna-Karin") && shown.contains("84 characters long; at most 64"), "{shown}");
        assert!(shown.contains("cn `Åsa Öberg ` starts or ends with a space"), "{shown}");
        assert!(shown.contains("ou `Hemtjänst Hemtjänst") && shown.contains("69 characters"), "{shown}");
    }

    #[test]
    fn a_name_two_waves_share_is_refused_with_both() {
        let files = [wave(1, "pilot", "01-pilot.toml"), wave(2, "pilot", "02-pilot.toml"), wave(3, "b", "03-b.toml")];
        let e = find(&files, "pilot").unwrap_err();
        assert!(matches!(e, WaveError::AmbiguousWave { .. }), "{e}");
        assert_eq!(e.exit_class(), crate::error::ExitClass::Usage);
        let text = e.to_string();
        assert!(
            text.contains("1 (pilot, waves/01-pilot.toml)") && text.contains("2 (pilot, waves/02-pilot.toml)"),
            "{text}"
        );
        // A number or a file name still picks one.
        assert_eq!(find(&files, "2").unwrap().number, 2);
        assert_eq!(find(&files, "02-pilot").unwrap().number, 2);
        assert_eq!(find(&files, "b").unwrap().number, 3);
        assert!(matches!(find(&files, "c"), Err(WaveError::NoSuchWave { .. })));
    }
}
