//! The LDIF reader: on any bytes it never panics, an error names a line of the input, the
//! entries do not depend on how the input arrives in chunks, and every entry it accepts,
//! written back as LDIF (all values base64, folded), reads back identically. And the rule on
//! control characters (`model::convert::refused_text`, issue 29): converting an entry never
//! panics, refuses it exactly when the rule refuses one of its values, and an object that is
//! converted holds no C0 control or DEL in any text (tab, CR, LF only in its description).
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use samla::model::RawEntry;
use samla::model::convert::{convert, refused_text};
use samla::source::ldif::LdifReader;
use std::io::{BufReader, Read};

/// A reader that hands out at most `step` bytes per read, to cut the input anywhere.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Writes `name:: base64` folded at 76 columns, the way `ldifde` folds.
fn push_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    let line = format!("{name}:: {}", STANDARD.encode(value));
    let mut rest = line.as_str();
    let mut first = true;
    while !rest.is_empty() {
        let take = rest.len().min(76);
        if !first {
            out.push(b' ');
        }
        out.extend_from_slice(&rest.as_bytes()[..take]);
        out.push(b'\n');
        rest = &rest[take..];
        first = false;
    }
}

fn write(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = b"version: 1\n\n".to_vec();
    for e in entries {
        push_line(&mut out, "dn", e.dn.as_bytes());
        for (name, values) in &e.attrs {
            for v in values {
                push_line(&mut out, name, v);
            }
        }
        out.push(b'\n');
    }
    out
}

/// Every string in `value` (an object as JSON), with the field it is in.
fn strings<'a>(value: &'a serde_json::Value, field: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
    match value {
        serde_json::Value::String(s) => out.push((field, s)),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, field, out)),
        serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| strings(v, k, out)),
        _ => {}
    }
}

/// The control-character rule, checked on one accepted entry.
fn check_control_characters(entry: &RawEntry) {
    let refused = refused_text(entry);
    for e in &refused {
        assert!(!e.attribute.is_empty() && e.reason.contains("control character"), "{e}");
    }
    match convert(entry) {
        Ok(Some(obj)) => {
            assert!(refused.is_empty(), "converted although refused: {refused:?}");
            let json = serde_json::to_value(&obj).unwrap();
            let mut all = Vec::new();
            strings(&json, "", &mut all);
            for (field, text) in all {
                let allowed = |c: char| field == "description" && matches!(c, '\t' | '\n' | '\r');
                assert!(!text.chars().any(|c| c.is_ascii_control() && !allowed(c)), "{field}: {text:?}");
            }
        }
        Ok(None) => assert!(refused.is_empty(), "an entry samla does not read is not checked"),
        Err(e) => {
            if let Some(first) = refused.first() {
                assert_eq!(&e, first, "the rule's first refusal is convert's error");
            }
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let whole: Vec<_> = LdifReader::new(input).collect();
    // Chunk sizes from the length, so that the corpus is plain LDIF files.
    let (capacity, step) = (input.len() % 7 + 1, input.len() / 7 % 5 + 1);
    let chunked: Vec<_> = LdifReader::new(BufReader::with_capacity(capacity, Trickle { data: input, step })).collect();
    assert_eq!(whole.len(), chunked.len(), "chunked reading differs");
    let lines = input.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut entries = Vec::new();
    for (a, b) in whole.into_iter().zip(chunked) {
        match (a, b) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "chunked reading differs");
                check_control_characters(&a);
                entries.push(a);
            }
            (Err(a), Err(b)) => {
                assert_eq!((a.line, &a.reason), (b.line, &b.reason), "chunked reading differs");
                assert!((1..=lines).contains(&a.line), "line {} of {lines}: {}", a.line, a.reason);
                assert!(!a.reason.is_empty());
            }
            (a, b) => panic!("chunked reading differs: {a:?} vs {b:?}"),
        }
    }
    let written = write(&entries);
    let back: Vec<RawEntry> = LdifReader::new(written.as_slice())
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("written entries do not read back: {e}\n{}", String::from_utf8_lossy(&written)));
    assert_eq!(back, entries);
});
