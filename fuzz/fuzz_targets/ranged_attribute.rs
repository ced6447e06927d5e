//! Ranged attribute descriptions (`member;range=1500-2999`): any text parses to nothing, a
//! range, or an error; a range has `low <= high`, keeps every other option in the name, prints
//! back to itself, and its next request is a range that starts right after it and ends in `*`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use samla::source::range::{self, RangedAttr};

/// A well-formed description with the range option among others.
#[derive(Debug, Arbitrary)]
struct Built<'a> {
    name: &'a str,
    options: Vec<&'a str>,
    at: usize,
    low: u32,
    high: Option<u32>,
    upper: bool,
}

fn check(description: &str) {
    let parsed = match range::parse(description) {
        Ok(None) => {
            assert!(!description.to_ascii_lowercase().split(';').any(|p| p.starts_with("range=")));
            return;
        }
        Ok(Some(r)) => r,
        Err(e) => {
            assert!(e.to_string().contains("malformed range"), "{e}");
            return;
        }
    };
    if let Some(high) = parsed.high {
        assert!(parsed.low <= high, "{description:?}: {parsed:?}");
    }
    let printed = match parsed.high {
        Some(h) => format!("{};range={}-{h}", parsed.name, parsed.low),
        None => format!("{};range={}-*", parsed.name, parsed.low),
    };
    assert_eq!(range::parse(&printed), Ok(Some(parsed.clone())), "{description:?} printed as {printed:?}");
    match parsed.next_request() {
        None => assert!(parsed.high.is_none() || parsed.high == Some(u32::MAX), "{parsed:?}"),
        Some(next) => {
            let high = parsed.high.map(u64::from);
            let want = high.and_then(|h| u32::try_from(h + 1).ok()).map(|low| RangedAttr {
                name: parsed.name.clone(),
                low,
                high: None,
            });
            assert_eq!(range::parse(&next), Ok(want.clone()), "next request {next:?} of {description:?}");
            assert!(want.is_some(), "{description:?} asks for {next:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // A first byte 0: the rest is a description as text (the corpus); otherwise it is built.
    match data.split_first() {
        Some((0, text)) => check(&String::from_utf8_lossy(text)),
        Some((_, rest)) => {
            let Ok(b) = Built::arbitrary_take_rest(arbitrary::Unstructured::new(rest)) else { return };
            let mut parts: Vec<String> = std::iter::once(b.name).chain(b.options).map(str::to_string).collect();
            let high = b.high.map_or("*".to_string(), |h| h.max(b.low).to_string());
            let option = format!("{}={}-{high}", if b.upper { "Range" } else { "range" }, b.low);
            parts.insert(1 + b.at % parts.len(), option);
            check(&parts.join(";"));
        }
        None => {}
    }
});
