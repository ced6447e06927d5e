//! Wave files: `waves/NN-name.toml`, one per wave, written by `samla plan` and edited by people.
//!
//! A file is the team's record of a wave, so it says in comments what the wave does and how to
//! edit it, and it records what it was planned from (the unified directory's, the mappings',
//! plan.toml's and each snapshot's hashes) so that a wave whose inputs changed is reported
//! stale. Each unit remembers the wave samla put it in (`planned_wave`) and each wave the name
//! samla gave it (`planned_name`): a unit found elsewhere was moved by a person, a name that
//! differs was chosen by one, and re-planning keeps both.
//!
//! Reading refuses, with file and line, a syntax error, two files with one wave number, a unit
//! listed twice; [`check_units`] refuses a unit the plan's inputs do not have.

use super::waves::Slot;
use crate::config::line_col;
use crate::error::{Classified, ExitClass};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// What a wave was planned from.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanInputs {
    /// Content hash of the unified directory (`samla map`).
    pub unified: String,
    /// Hash of the mapping files.
    pub mappings: String,
    /// Hash of plan.toml.
    pub plan_settings: String,
    /// Content hash of each municipality's snapshot.
    pub snapshots: BTreeMap<String, String>,
}

/// One `[[unit]]` of a wave file.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitEntry {
    pub slot: Slot,
    /// Accounts when planned.
    pub accounts: usize,
    /// Digest of the slot's accounts when planned ([`digest`]).
    pub digest: String,
    pub impact: f64,
    /// The wave samla put it in; differs from the file's wave when a person moved it.
    pub planned_wave: u32,
    pub pinned: bool,
    pub exclude: bool,
    /// Line of its `id` in the file.
    pub line: usize,
}

/// A wave file as read.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveFile {
    pub path: PathBuf,
    pub number: u32,
    pub name: String,
    pub planned_name: String,
    pub planned_at: String,
    pub inputs: PlanInputs,
    pub units: Vec<UnitEntry>,
}

impl WaveFile {
    /// `path:line` of a unit entry, for messages.
    pub fn place(&self, entry: &UnitEntry) -> String {
        format!("{}:{}", self.path.display(), entry.line)
    }
}

/// A wave file that cannot be used, with its place.
#[derive(Debug, thiserror::Error)]
pub enum WaveFileError {
    /// The folder or a wave file could not be read.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: {message}", path.display())]
    At { path: PathBuf, line: usize, column: usize, message: String },
    /// A wave file could not be written, renamed into place or removed ([`write_dir`]).
    #[error("{}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

impl Classified for WaveFileError {
    /// A wave file that cannot be read or used is the project's to fix; one that cannot be
    /// written is work that failed.
    fn exit_class(&self) -> ExitClass {
        match self {
            WaveFileError::Io { .. } | WaveFileError::At { .. } => ExitClass::Usage,
            WaveFileError::Write { .. } => ExitClass::Work,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    wave: RawWave,
    inputs: PlanInputs,
    #[serde(default, rename = "unit")]
    units: Vec<RawUnit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWave {
    number: Spanned<u32>,
    name: Spanned<String>,
    planned_name: String,
    planned_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnit {
    id: Spanned<String>,
    part: Option<Spanned<String>>,
    accounts: usize,
    digest: String,
    impact: f64,
    planned_wave: u32,
    #[serde(default)]
    pinned: bool,
    #[serde(default)]
    exclude: bool,
}

/// Parses one wave file's text.
pub fn parse(path: &Path, text: &str) -> Result<WaveFile, WaveFileError> {
    let at = |offset: usize, message: String| {
        let (line, column) = line_col(text, offset);
        WaveFileError::At { path: path.to_path_buf(), line, column, message }
    };
    let raw: RawFile =
        toml::from_str(text).map_err(|e| at(e.span().map_or(0, |s| s.start), e.message().to_string()))?;
    if *raw.wave.number.get_ref() == 0 {
        return Err(at(raw.wave.number.span().start, "wave numbers start at 1".into()));
    }
    let name = raw.wave.name.get_ref().trim();
    if name.is_empty() {
        return Err(at(raw.wave.name.span().start, "a wave needs a name".into()));
    }
    let mut units = Vec::new();
    for u in raw.units {
        let part = match &u.part {
            None => None,
            Some(p) => Some(parse_part(p.get_ref()).ok_or_else(|| {
                at(p.span().start, format!("part {:?} is not \"k/n\" with 1 <= k <= n", p.get_ref()))
            })?),
        };
        let line = line_col(text, u.id.span().start).0;
        units.push(UnitEntry {
            slot: Slot { unit: super::directory::UnitId(u.id.into_inner()), part },
            accounts: u.accounts,
            digest: u.digest,
            impact: u.impact,
            planned_wave: u.planned_wave,
            pinned: u.pinned,
            exclude: u.exclude,
            line,
        });
    }
    Ok(WaveFile {
        path: path.to_path_buf(),
        number: raw.wave.number.into_inner(),
        name: name.to_string(),
        planned_name: raw.wave.planned_name,
        planned_at: raw.wave.planned_at,
        inputs: raw.inputs,
        units,
    })
}

fn parse_part(s: &str) -> Option<(u32, u32)> {
    let (k, n) = s.split_once('/')?;
    let (k, n) = (k.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?);
    (k >= 1 && k <= n).then_some((k, n))
}

/// Whether a file name is one `samla plan` writes: `NN-name.toml`.
pub fn is_wave_file_name(name: &str) -> bool {
    name.ends_with(".toml")
        && name.split_once('-').is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads every wave file in `dir` (none if it does not exist), in wave order. Refuses two
/// files with one number and a unit listed twice, naming both places.
pub fn read_dir(dir: &Path) -> Result<Vec<WaveFile>, WaveFileError> {
    let io = |source| WaveFileError::Io { path: dir.to_path_buf(), source };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(io)?.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(is_wave_file_name) {
            paths.push(path);
        }
    }
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| WaveFileError::Io { path: path.clone(), source })?;
        files.push(parse(&path, &text)?);
    }
    files.sort_by_key(|f| f.number);
    for pair in files.windows(2) {
        if pair[0].number == pair[1].number {
            return Err(WaveFileError::At {
                path: pair[1].path.clone(),
                line: 1,
                column: 1,
                message: format!("wave {} is also {}", pair[1].number, pair[0].path.display()),
            });
        }
    }
    let mut seen: BTreeMap<&Slot, (&WaveFile, &UnitEntry)> = BTreeMap::new();
    for f in &files {
        for u in &f.units {
            if let Some((other_file, other)) = seen.insert(&u.slot, (f, u)) {
                return Err(WaveFileError::At {
                    path: f.path.clone(),
                    line: u.line,
                    column: 1,
                    message: format!(
                        "unit {} is also in wave {} ({})",
                        u.slot,
                        other_file.number,
                        other_file.place(other)
                    ),
                });
            }
        }
    }
    Ok(files)
}

/// Refuses a unit that the plan's inputs do not have (a typo, or an object added by hand that
/// the mapping never produced), naming its place.
pub fn check_units(files: &[WaveFile], known: &dyn Fn(&Slot) -> bool) -> Result<(), WaveFileError> {
    for f in files {
        for u in &f.units {
            if !known(&u.slot) {
                return Err(WaveFileError::At {
                    path: f.path.clone(),
                    line: u.line,
                    column: 1,
                    message: format!("unknown unit {}: not in the unified directory the wave was planned from", u.slot),
                });
            }
        }
    }
    Ok(())
}

/// The digest recorded for a slot: SHA-256 over its accounts' anchors, first 16 hex digits.
pub fn digest<'a>(anchors: impl Iterator<Item = &'a crate::model::unified::Anchor>) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for a in anchors {
        h.update(a.0.to_string().as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// Everything a wave file says, for writing.
#[derive(Debug, Clone)]
pub struct WaveDraft {
    pub number: u32,
    pub of: u32,
    pub name: String,
    pub planned_name: String,
    pub planned_at: String,
    pub inputs: PlanInputs,
    /// Lines of the header comment (what the wave does).
    pub summary: Vec<String>,
    pub units: Vec<UnitEntry>,
    /// One comment per unit, same order.
    pub unit_notes: Vec<String>,
}

impl WaveDraft {
    /// `NN-name.toml`, with the name made safe for any file system.
    pub fn file_name(&self) -> String {
        let slug: String = crate::model::names::transliterate(&self.name)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .collect();
        let slug = slug.split('-').filter(|s| !s.is_empty()).collect::<Vec<_>>().join("-");
        let slug = if slug.is_empty() { "wave".to_string() } else { slug.chars().take(60).collect() };
        format!("{:02}-{slug}.toml", self.number)
    }
}

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Text for a comment line: TOML comments end at a line break and admit no other control
/// character than tab, so those become spaces (the values themselves are quoted, unchanged).
fn comment(s: &str) -> String {
    s.chars().map(|c| if c.is_control() && c != '\t' { ' ' } else { c }).collect()
}

/// The text of a wave file.
pub fn render(d: &WaveDraft) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let (name, at) = (comment(&d.name), comment(&d.planned_at));
    let _ = writeln!(out, "# Wave {} of {}: {name}. Planned by `samla plan` at {at}.", d.number, d.of);
    for line in &d.summary {
        let _ = writeln!(out, "# {}", comment(line));
    }
    out.push_str(concat!(
        "#\n",
        "# You may edit this file. Rename the wave (name). Move a [[unit]] block into another wave's\n",
        "# file; re-planning keeps it there. Keep a unit where it is with `pinned = true`, or out of\n",
        "# every wave with `exclude = true`. `samla waves` shows each wave's status; a wave whose\n",
        "# [inputs] no longer match the newest snapshots, mappings and plan.toml is stale and will\n",
        "# not run until re-planned.\n\n",
    ));
    let _ = writeln!(out, "[wave]\nnumber = {}\nname = {}", d.number, quoted(&d.name));
    let _ = writeln!(out, "planned_name = {}\nplanned_at = {}\n", quoted(&d.planned_name), quoted(&d.planned_at));
    let _ = writeln!(out, "[inputs]\nunified = {}", quoted(&d.inputs.unified));
    let _ = writeln!(
        out,
        "mappings = {}\nplan_settings = {}\n",
        quoted(&d.inputs.mappings),
        quoted(&d.inputs.plan_settings)
    );
    out.push_str("[inputs.snapshots]\n");
    for (m, h) in &d.inputs.snapshots {
        let _ = writeln!(out, "{} = {}", bare_or_quoted(m), quoted(h));
    }
    for (u, note) in d.units.iter().zip(&d.unit_notes) {
        let _ = writeln!(out, "\n# {}\n[[unit]]\nid = {}", comment(note), quoted(&u.slot.unit.0));
        if let Some((k, n)) = u.slot.part {
            let _ = writeln!(out, "part = \"{k}/{n}\"");
        }
        let _ = writeln!(out, "accounts = {}\ndigest = {}", u.accounts, quoted(&u.digest));
        let _ = writeln!(out, "impact = {}\nplanned_wave = {}", format_impact(u.impact), u.planned_wave);
        if u.pinned {
            out.push_str("pinned = true\n");
        }
        if u.exclude {
            out.push_str("exclude = true\n");
        }
    }
    out
}

/// A float TOML reads back as a float (always with a decimal point; `nan`, not Rust's `NaN`).
fn format_impact(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    let s = format!("{x}");
    if s.contains('.') || s.contains('e') || s.contains("inf") { s } else { format!("{s}.0") }
}

/// A key as TOML allows it: bare when it can be, else a basic string on one line (a key may
/// not be a multi-line string, which [`quoted`] makes of text with a line break).
fn bare_or_quoted(key: &str) -> String {
    use std::fmt::Write;
    if !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return key.to_string();
    }
    let mut out = String::with_capacity(key.len() + 2);
    out.push('"');
    for c in key.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() && c != '\t' => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Replaces the wave files in `dir` with `drafts`: each is written to a temporary file and
/// renamed into place, then files of waves that no longer exist are removed. Other files in
/// the folder are left alone.
pub fn write_dir(dir: &Path, drafts: &[WaveDraft]) -> Result<Vec<PathBuf>, WaveFileError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WaveFileError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut written = Vec::new();
    for d in drafts {
        let path = dir.join(d.file_name());
        let tmp = dir.join(format!(".{}.tmp", d.file_name()));
        std::fs::write(&tmp, render(d)).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        written.push(path);
    }
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let ours = path.file_name().and_then(|n| n.to_str()).is_some_and(is_wave_file_name);
        if ours && !written.contains(&path) {
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::directory::UnitId;

    fn draft() -> WaveDraft {
        WaveDraft {
            number: 3,
            of: 5,
            name: "Åstorp & Bjuv".into(),
            planned_name: "astorp-bjuv".into(),
            planned_at: "2026-11-21T10:00:00Z".into(),
            inputs: PlanInputs {
                unified: "u".into(),
                mappings: "m".into(),
                plan_settings: "p".into(),
                snapshots: [("bjuv".to_string(), "s1".to_string())].into(),
            },
            summary: vec!["12 accounts".into()],
            units: vec![
                UnitEntry {
                    slot: Slot { unit: UnitId("bjuv/Kultur \"och\" fritid".into()), part: None },
                    accounts: 12,
                    digest: "abc".into(),
                    impact: 14.0,
                    planned_wave: 3,
                    pinned: true,
                    exclude: false,
                    line: 0,
                },
                UnitEntry {
                    slot: Slot { unit: UnitId("astorp/Elever".into()), part: Some((2, 3)) },
                    accounts: 5,
                    digest: "def".into(),
                    impact: 1.25,
                    planned_wave: 2,
                    pinned: false,
                    exclude: true,
                    line: 0,
                },
            ],
            unit_notes: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn a_rendered_file_reads_back() {
        let d = draft();
        assert_eq!(d.file_name(), "03-astorp-bjuv.toml");
        let text = render(&d);
        let f = parse(Path::new("w.toml"), &text).unwrap();
        assert_eq!((f.number, f.name.as_str(), f.planned_name.as_str()), (3, "Åstorp & Bjuv", "astorp-bjuv"));
        assert_eq!(f.inputs, d.inputs);
        let units: Vec<_> = f.units.iter().map(|u| UnitEntry { line: 0, ..u.clone() }).collect();
        assert_eq!(units, d.units);
        assert!(text.lines().nth(f.units[0].line - 1).unwrap().starts_with("id = "));
    }

    /// Found by fuzzing (fuzz/corpus/wave_file/name-with-line-break.toml): a name with a line
    /// break, valid in the `name` string, was copied into the header comment, and the file
    /// samla wrote no longer read.
    #[test]
    fn control_characters_in_names_and_notes_keep_the_file_readable() {
        let mut d = draft();
        d.name = "Åstorp\n[wave]\r\u{7f}\tx".into();
        d.planned_at = "now\n".into();
        d.summary = vec!["a\nb".into()];
        d.unit_notes = vec!["c\u{0}d".into(), "e\u{1b}f".into()];
        let text = render(&d);
        let f = parse(Path::new("w.toml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!((f.name.as_str(), f.planned_at.as_str()), ("Åstorp\n[wave]\r\u{7f}\tx", "now\n"));
        assert!(
            text.starts_with("# Wave 3 of 5: Åstorp [wave]  \tx. Planned by `samla plan` at now .\n# a b\n"),
            "{text}"
        );
    }

    /// Found by fuzzing (fuzz/corpus/wave_file/snapshot-key-with-line-break.toml): a snapshot
    /// key with a line break was written as a multi-line string, which TOML refuses as a key.
    #[test]
    fn snapshot_keys_with_quotes_and_control_characters_read_back() {
        let mut d = draft();
        d.inputs.snapshots =
            [("a\nb", "1"), ("\"q\" \\ x", "2"), ("del\u{7f}\u{85}", "3"), ("", "4"), ("Åstorp", "5"), ("tab\t", "6")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let text = render(&d);
        let f = parse(Path::new("w.toml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(f.inputs, d.inputs);
    }

    /// Found by fuzzing (fuzz/corpus/wave_file/impact-nan.toml): `impact = nan` read, but was
    /// written back as Rust's `NaN`, which TOML refuses.
    #[test]
    fn every_impact_reads_back() {
        for impact in [f64::NAN, -f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 1e300, 5e-324, 3.0] {
            let mut d = draft();
            d.units[0].impact = impact;
            let text = render(&d);
            let f = parse(Path::new("w.toml"), &text).unwrap_or_else(|e| panic!("{impact}: {e}\n{text}"));
            let got = f.units[0].impact;
            assert!(got.to_bits() == impact.to_bits() || (got.is_nan() && impact.is_nan()), "{impact} -> {got}");
        }
    }

    #[test]
    fn hand_edit_mistakes_name_file_and_line() {
        let text = render(&draft()).replace("pinned = true", "pinned = yes");
        let e = parse(Path::new("waves/03-x.toml"), &text).unwrap_err().to_string();
        let line = text.lines().position(|l| l.starts_with("pinned")).unwrap() + 1;
        assert!(e.starts_with(&format!("waves/03-x.toml:{line}:")), "{e}");
        let text = render(&draft()).replace("part = \"2/3\"", "part = \"4/3\"");
        assert!(parse(Path::new("w.toml"), &text).unwrap_err().to_string().contains("part \"4/3\""));
    }

    #[test]
    fn a_unit_in_two_waves_and_an_unknown_unit_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = draft();
        write_dir(dir.path(), std::slice::from_ref(&a)).unwrap();
        a.number = 4;
        a.name = "other".into();
        std::fs::write(dir.path().join(a.file_name()), render(&a)).unwrap();
        let e = read_dir(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("04-other.toml:") && e.contains("is also in wave 3 (") && e.contains("03-astorp-bjuv.toml:"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("04-other.toml")).unwrap();
        let files = read_dir(dir.path()).unwrap();
        let e = check_units(&files, &|s| s.unit.0.starts_with("astorp")).unwrap_err().to_string();
        assert!(e.contains("03-astorp-bjuv.toml:") && e.contains("unknown unit bjuv/Kultur"), "{e}");
    }

    #[test]
    fn rewriting_removes_only_old_wave_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README.md"), "notes").unwrap();
        std::fs::write(dir.path().join("07-old.toml"), "x").unwrap();
        write_dir(dir.path(), &[draft()]).unwrap();
        let mut names: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["03-astorp-bjuv.toml", "README.md"]);
    }
}
