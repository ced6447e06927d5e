//! `mappings/plan.toml`: how `samla plan` scores units and cuts waves.
//!
//! The weights sit beside the other mapping files because they are the team's judgement, not
//! samla's: which systems are critical, how much a cross-unit membership matters. The file's
//! hash is recorded in every wave, so changing a weight makes the waves stale until re-planned.

use crate::config::line_col;
use crate::error::{Classified, ExitClass};
use crate::model::AccountKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The file name inside the mappings folder.
pub const FILE_NAME: &str = "plan.toml";

/// Limits on one wave. A unit is split only when it alone has more than `max_users` accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_users: usize,
    pub max_municipalities: usize,
    pub max_units: usize,
}

/// A critical system: memberships in its groups weigh `weight` each.
#[derive(Debug, Clone)]
pub struct CriticalSystem {
    pub system: String,
    /// Globs over the unified group name (`*` any run, `?` one character, case-insensitive).
    pub groups: Vec<Glob>,
    pub weight: f64,
}

/// The weights of the impact score's factors.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub per_kind: BTreeMap<AccountKind, f64>,
    pub cross_unit_membership: f64,
    pub cross_municipality_membership: f64,
    pub cross_unit_manager_link: f64,
    pub largest_group: f64,
}

/// plan.toml, validated.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    pub file: PathBuf,
    pub limits: Limits,
    /// Units of the pilot wave(s), as globs over "municipality/unit".
    pub pilot: Vec<Glob>,
    /// Kinds whose units go in early waves of their own, in this order, after the pilot.
    pub kinds_first: Vec<AccountKind>,
    pub weights: Weights,
    pub critical: Vec<CriticalSystem>,
    /// SHA-256 of the file's bytes: recorded in every wave.
    pub hash: String,
}

/// A glob: `*` matches any run of characters, `?` one; case-insensitive.
#[derive(Debug, Clone)]
pub struct Glob {
    pub text: String,
    regex: regex::Regex,
}

impl Glob {
    pub fn new(text: &str) -> Result<Glob, regex::Error> {
        let mut pattern = String::from("(?i)^");
        for c in text.chars() {
            match c {
                '*' => pattern.push_str(".*"),
                '?' => pattern.push('.'),
                c => pattern.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
            }
        }
        pattern.push('$');
        Ok(Glob { text: text.to_string(), regex: regex::Regex::new(&pattern)? })
    }

    pub fn matches(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }
}

/// A mistake in plan.toml, with its place.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{}: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: {message}", file.display())]
    At { file: PathBuf, line: usize, column: usize, message: String },
}

impl Classified for SettingsError {
    /// plan.toml cannot be read or says something wrong.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Usage
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    limits: RawLimits,
    #[serde(default)]
    order: RawOrder,
    weights: RawWeights,
    #[serde(default)]
    critical: Vec<RawCritical>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_users: Spanned<usize>,
    max_municipalities: Spanned<usize>,
    max_units: Spanned<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOrder {
    #[serde(default)]
    pilot: Vec<Spanned<String>>,
    #[serde(default)]
    kinds_first: Vec<AccountKind>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeights {
    accounts: BTreeMap<AccountKind, Spanned<f64>>,
    cross_unit_membership: Spanned<f64>,
    cross_municipality_membership: Spanned<f64>,
    cross_unit_manager_link: Spanned<f64>,
    largest_group: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCritical {
    system: String,
    groups: Vec<Spanned<String>>,
    weight: Spanned<f64>,
}

/// Reads `dir/plan.toml`.
pub fn load(dir: &Path) -> Result<PlanSettings, SettingsError> {
    let file = dir.join(FILE_NAME);
    let text = std::fs::read_to_string(&file).map_err(|source| SettingsError::Read { file: file.clone(), source })?;
    parse(&file, &text)
}

/// Parses plan.toml's text; `file` names it in errors.
pub fn parse(file: &Path, text: &str) -> Result<PlanSettings, SettingsError> {
    let at = |span: std::ops::Range<usize>, message: String| {
        let (line, column) = line_col(text, span.start);
        SettingsError::At { file: file.to_path_buf(), line, column, message }
    };
    let raw: RawSettings = toml::from_str(text).map_err(|e| at(e.span().unwrap_or(0..0), e.message().to_string()))?;
    let positive = |v: &Spanned<usize>, what: &str| {
        if *v.get_ref() == 0 { Err(at(v.span(), format!("{what} must be at least 1"))) } else { Ok(*v.get_ref()) }
    };
    let weight = |w: &Spanned<f64>| {
        let v = *w.get_ref();
        if v.is_finite() && v >= 0.0 { Ok(v) } else { Err(at(w.span(), "a weight is a number of at least 0".into())) }
    };
    let glob = |g: &Spanned<String>| Glob::new(g.get_ref()).map_err(|e| at(g.span(), format!("bad glob: {e}")));
    let mut per_kind = BTreeMap::new();
    for (kind, w) in &raw.weights.accounts {
        per_kind.insert(*kind, weight(w)?);
    }
    let mut critical = Vec::new();
    for c in &raw.critical {
        critical.push(CriticalSystem {
            system: c.system.clone(),
            groups: c.groups.iter().map(glob).collect::<Result<_, _>>()?,
            weight: weight(&c.weight)?,
        });
    }
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    };
    Ok(PlanSettings {
        file: file.to_path_buf(),
        limits: Limits {
            max_users: positive(&raw.limits.max_users, "max_users")?,
            max_municipalities: positive(&raw.limits.max_municipalities, "max_municipalities")?,
            max_units: positive(&raw.limits.max_units, "max_units")?,
        },
        pilot: raw.order.pilot.iter().map(glob).collect::<Result<_, _>>()?,
        kinds_first: raw.order.kinds_first,
        weights: Weights {
            per_kind,
            cross_unit_membership: weight(&raw.weights.cross_unit_membership)?,
            cross_municipality_membership: weight(&raw.weights.cross_municipality_membership)?,
            cross_unit_manager_link: weight(&raw.weights.cross_unit_manager_link)?,
            largest_group: weight(&raw.weights.largest_group)?,
        },
        critical,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_plan_settings_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
        let s = load(&dir).unwrap();
        assert!(s.limits.max_users > 0);
        assert!(s.critical.iter().any(|c| c.system == "Treserva"));
        assert!(s.pilot.iter().any(|g| g.matches("bjuv/IT")));
    }

    #[test]
    fn globs_are_anchored_and_case_insensitive() {
        let g = Glob::new("*behörighet treserva").unwrap();
        assert!(g.matches("KLP-Behörighet Treserva"));
        assert!(!g.matches("KLP-Behörighet Treserva (gammal)"));
        assert!(Glob::new("a.b?").unwrap().matches("A.bc"));
        assert!(!Glob::new("a.b").unwrap().matches("axb"));
    }

    #[test]
    fn mistakes_name_their_line() {
        let text = "[limits]\nmax_users = 0\nmax_municipalities = 1\nmax_units = 1\n[weights]\naccounts = {}\n\
                    cross_unit_membership = 1\ncross_municipality_membership = 1\ncross_unit_manager_link = 1\nlargest_group = 1\n";
        let e = parse(Path::new("plan.toml"), text).unwrap_err().to_string();
        assert!(e.starts_with("plan.toml:2:"), "{e}");
        assert!(e.contains("max_users must be at least 1"), "{e}");
        let e = parse(Path::new("plan.toml"), "[limits]\nmax_userz = 1\n").unwrap_err().to_string();
        assert!(e.starts_with("plan.toml:2:"), "{e}");
        let bad_weight =
            text.replace("max_users = 0", "max_users = 5").replace("largest_group = 1", "largest_group = -1");
        let e = parse(Path::new("plan.toml"), &bad_weight).unwrap_err().to_string();
        assert!(e.starts_with("plan.toml:10:"), "{e}");
    }
}
