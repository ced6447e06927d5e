//! Wave files (`waves/NN-name.toml`), which people edit by hand.
//!
//! Any text either reads as a wave file or fails with a line and column inside the text. A
//! file that reads, written again with `render`, reads back to the same wave (and each unit's
//! line points at its `id`); so does any draft samla could write, whatever its names,
//! hashes and comments hold; and a draft's file name is one `read_dir` picks up.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use samla::plan::directory::UnitId;
use samla::plan::files::{self, PlanInputs, UnitEntry, WaveDraft, WaveFile, WaveFileError};
use samla::plan::waves::Slot;
use std::path::Path;

#[derive(Debug, Arbitrary)]
struct ArbUnit {
    unit: String,
    part: Option<(u32, u32)>,
    accounts: u32,
    digest: String,
    impact: f64,
    planned_wave: u32,
    pinned: bool,
    exclude: bool,
    note: String,
}

#[derive(Debug, Arbitrary)]
struct Draft {
    number: u32,
    name: String,
    planned_name: String,
    planned_at: String,
    hashes: (String, String, String),
    snapshots: Vec<(String, String)>,
    summary: Vec<String>,
    units: Vec<ArbUnit>,
}

fn same_impact(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The file as written back, read again, is the same wave.
fn round_trip(draft: &WaveDraft) -> WaveFile {
    let text = files::render(draft);
    let back = files::parse(Path::new("waves/01-x.toml"), &text)
        .unwrap_or_else(|e| panic!("a rendered wave file does not read back: {e}\n{text}"));
    assert_eq!(
        (back.number, &back.name, &back.planned_name, &back.planned_at, &back.inputs),
        (draft.number, &draft.name, &draft.planned_name, &draft.planned_at, &draft.inputs),
        "{text}"
    );
    assert_eq!(back.units.len(), draft.units.len(), "{text}");
    for (got, want) in back.units.iter().zip(&draft.units) {
        assert!(same_impact(got.impact, want.impact), "impact {} read back as {}\n{text}", want.impact, got.impact);
        assert_eq!(
            UnitEntry { line: 0, impact: 0.0, ..got.clone() },
            UnitEntry { line: 0, impact: 0.0, ..want.clone() }
        );
        let line = text.lines().nth(got.line.saturating_sub(1)).unwrap_or("");
        assert!(line.starts_with("id = "), "unit line {} is {line:?}\n{text}", got.line);
    }
    let name = draft.file_name();
    assert!(files::is_wave_file_name(&name), "{name:?}");
    back
}

fn draft_of(f: &WaveFile) -> WaveDraft {
    WaveDraft {
        number: f.number,
        of: f.number,
        name: f.name.clone(),
        planned_name: f.planned_name.clone(),
        planned_at: f.planned_at.clone(),
        inputs: f.inputs.clone(),
        summary: vec!["12 accounts".to_string()],
        units: f.units.clone(),
        unit_notes: f.units.iter().map(|u| u.slot.to_string()).collect(),
    }
}

fuzz_target!(|data: &[u8]| match data.split_first() {
    // A first byte 0xFF (never in UTF-8): the rest builds a draft; otherwise a file's text.
    Some((0xFF, rest)) => {
        if let Ok(d) = Draft::arbitrary_take_rest(arbitrary::Unstructured::new(rest)) {
            check_draft(d);
        }
    }
    _ => match std::str::from_utf8(data).map(|text| (text, files::parse(Path::new("waves/01-x.toml"), text))) {
        Err(_) => {}
        Ok((text, parsed)) => check_text(text, parsed),
    },
});

fn check_text(text: &str, parsed: Result<WaveFile, WaveFileError>) {
    match parsed {
        Ok(f) => {
            assert!(f.number >= 1);
            assert!(!f.name.is_empty() && f.name.trim() == f.name);
            for u in &f.units {
                assert!(u.slot.part.is_none_or(|(k, n)| 1 <= k && k <= n));
                assert!((1..=text.lines().count().max(1)).contains(&u.line), "{u:?}");
            }
            round_trip(&draft_of(&f));
        }
        Err(WaveFileError::At { line, column, message, .. }) => {
            assert!((1..=text.split('\n').count()).contains(&line), "line {line}: {message}");
            assert!(column >= 1);
            assert!(!message.is_empty());
        }
        Err(e) => panic!("{e}"),
    }
}

fn check_draft(d: Draft) {
    let Draft { number, name, planned_name, planned_at, hashes, snapshots, summary, units } = d;
    let name = name.trim().to_string();
    if name.is_empty() {
        return;
    }
    let entries: Vec<UnitEntry> = units
        .iter()
        .map(|u| UnitEntry {
            slot: Slot { unit: UnitId(u.unit.clone()), part: u.part.map(|(k, n)| (k.max(1), n.max(k.max(1)))) },
            accounts: u.accounts as usize,
            digest: u.digest.clone(),
            impact: u.impact,
            planned_wave: u.planned_wave,
            pinned: u.pinned,
            exclude: u.exclude,
            line: 0,
        })
        .collect();
    let draft = WaveDraft {
        number: number.max(1),
        of: number.max(1),
        name,
        planned_name,
        planned_at,
        inputs: PlanInputs {
            unified: hashes.0,
            mappings: hashes.1,
            plan_settings: hashes.2,
            snapshots: snapshots.into_iter().collect(),
        },
        summary,
        unit_notes: units.iter().map(|u| u.note.clone()).collect(),
        units: entries,
    };
    round_trip(&draft);
}
