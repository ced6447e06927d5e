//! The team's decisions where samla must not guess: whether two accounts whose match keys
//! disagree are the same person. Kept in a file next to the mappings, reviewed like code.
//!
//! ```toml
//! [[same_person]]
//! guids = ["00112233-4455-6677-8899-aabbccddeeff", "..."]
//! reason = "Märta Ängström works in Bjuv and Åstorp; HR confirmed 2026-11-02"
//!
//! [[different_people]]
//! guids = ["...", "..."]
//! reason = "two people named Anna Andersson with the same employeeID by mistake"
//! ```

use crate::error::{Classified, ExitClass};
use crate::model::ObjectGuid;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Pairwise decisions: `true` for the same person, `false` for different people.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    decisions: BTreeMap<(ObjectGuid, ObjectGuid), bool>,
}

/// Why the overrides file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OverridesError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// Not the file's shape (TOML syntax, an unknown key, a value that is not a GUID).
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("each decision needs two or more guids and a reason")]
    Incomplete,
    /// A [`OverridesError::Syntax`] or [`OverridesError::Incomplete`] in the file at `path`.
    #[error("{path}: {source}")]
    In { path: PathBuf, source: Box<OverridesError> },
}

impl Classified for OverridesError {
    /// The team's decisions file is theirs to fix.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Usage
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverrides {
    #[serde(default)]
    same_person: Vec<RawDecision>,
    #[serde(default)]
    different_people: Vec<RawDecision>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDecision {
    guids: Vec<ObjectGuid>,
    reason: String,
}

impl Overrides {
    /// Reads the file; a missing file means no decisions yet.
    pub fn load(path: &Path) -> Result<Overrides, OverridesError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Overrides::default()),
            Err(source) => return Err(OverridesError::Read { path: path.to_path_buf(), source }),
        };
        Self::parse(&text).map_err(|e| OverridesError::In { path: path.to_path_buf(), source: Box::new(e) })
    }

    pub fn parse(text: &str) -> Result<Overrides, OverridesError> {
        let raw: RawOverrides = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            OverridesError::Syntax { line, message: e.message().to_string() }
        })?;
        let mut out = Overrides::default();
        for (list, same) in [(raw.same_person, true), (raw.different_people, false)] {
            for d in list {
                if d.guids.len() < 2 || d.reason.trim().is_empty() {
                    return Err(OverridesError::Incomplete);
                }
                for (i, a) in d.guids.iter().enumerate() {
                    for b in &d.guids[i + 1..] {
                        out.decisions.insert(ordered(*a, *b), same);
                    }
                }
            }
        }
        Ok(out)
    }

    pub fn decision(&self, a: ObjectGuid, b: ObjectGuid) -> Option<bool> {
        self.decisions.get(&ordered(a, b)).copied()
    }
}

fn ordered(a: ObjectGuid, b: ObjectGuid) -> (ObjectGuid, ObjectGuid) {
    if a <= b { (a, b) } else { (b, a) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_symmetric_and_need_a_reason() {
        let a = "00000000-0000-0000-0000-000000000001";
        let b = "00000000-0000-0000-0000-000000000002";
        let o = Overrides::parse(&format!("[[same_person]]\nguids = [\"{a}\", \"{b}\"]\nreason = \"HR\"\n")).unwrap();
        let (ga, gb) = (ObjectGuid::parse(a).unwrap(), ObjectGuid::parse(b).unwrap());
        assert_eq!(o.decision(gb, ga), Some(true));
        assert!(Overrides::parse(&format!("[[same_person]]\nguids = [\"{a}\", \"{b}\"]\nreason = \"\"\n")).is_err());
        assert!(Overrides::parse("[[same_persons]]\n").unwrap_err().to_string().contains("line 1"));
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overrides.toml");
        assert_eq!(Overrides::load(&path).unwrap(), Overrides::default());
        std::fs::write(&path, "[[different_people]]\nguids = []\nreason = \"x\"\n").unwrap();
        let e = Overrides::load(&path).unwrap_err();
        assert_eq!(e.to_string(), format!("{}: each decision needs two or more guids and a reason", path.display()));
        assert_eq!(e.exit_class(), ExitClass::Usage);
    }
}
