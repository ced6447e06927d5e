//! Mapping templates and transforms.
//!
//! Templates: any text parses or fails at a byte offset inside it, on a character boundary
//! (the column shown to people is then within the text). A parsed template prints as its
//! source and parses again to itself; its attribute and lookup-table checks point exactly at the
//! name they refuse; rendering never panics, is `None` when an attribute is missing, never
//! `Some("")`, and a template without placeholders renders to its text with `{{`/`}}` undone.
//!
//! Transforms: a list of steps written as a mapping file writes them (TOML) deserialises
//! exactly when each step is valid, and applying it never panics, never yields `Some("")`, and
//! each step does what it says (`truncate = N` keeps at most N characters, `constant` gives
//! its value, `lower`/`upper`/`trim` equal the standard library's).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use samla::mapping::transform::{Template, Transform, TransformContext};
use std::collections::HashMap;

#[derive(Debug, Arbitrary)]
enum Step<'a> {
    Lower,
    Upper,
    Trim,
    Transliterate,
    Truncate(u8),
    Constant(&'a str),
    Replace {
        regex: &'a str,
        with: &'a str,
    },
    Lookup(&'a str),
    Template(&'a str),
    /// Any TOML value as a step.
    Raw(&'a str),
}

/// After the template's text and a 0xFF byte (never in UTF-8).
#[derive(Debug, Arbitrary)]
struct Rest<'a> {
    /// Attribute values, handed out in turn to the attributes a template names.
    values: Vec<Option<&'a str>>,
    steps: Vec<Step<'a>>,
    value: Option<&'a str>,
}

struct Ctx<'a> {
    attrs: HashMap<String, &'a str>,
}

impl TransformContext for Ctx<'_> {
    fn attribute(&self, name: &str) -> Option<String> {
        self.attrs.get(name).map(|v| v.to_string())
    }
    fn lookup(&self, table: &str, key: &str) -> Option<String> {
        (table != "missing").then(|| format!("{table}:{key}"))
    }
}

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn check_template<'a>(text: &str, values: &[Option<&'a str>]) -> HashMap<String, &'a str> {
    let mut attrs = HashMap::new();
    let t = match Template::parse_syntax(text) {
        Ok(t) => t,
        Err(e) => {
            assert!(text.is_char_boundary(e.offset) && e.offset <= text.len(), "{text:?}: {e}");
            assert!((1..=text.chars().count() + 1).contains(&e.column(text)), "{text:?}: {e}");
            assert!(!e.reason.is_empty());
            return attrs;
        }
    };
    assert_eq!(t.source(), text);
    assert_eq!(Template::parse_syntax(&t.to_string()).as_ref(), Ok(&t));

    let names = t.attributes();
    for name in &names {
        assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)), "{name:?}");
    }
    // The checks point at the first name they refuse.
    match (names.first(), t.check_attributes(&|_| false)) {
        (Some(first), Err(e)) => assert!(text[e.offset..].starts_with(first), "{text:?}: {e}"),
        (None, Ok(())) => {}
        (first, other) => panic!("{text:?}: {first:?} {other:?}"),
    }
    assert_eq!(t.check_attributes(&|_| true), Ok(()));
    match (t.lookup_tables().first(), t.check_lookups(&|_| false)) {
        (Some(_), Err(e)) => assert!(text[e.offset..].starts_with("lookup"), "{text:?}: {e}"),
        (None, Ok(())) => {}
        (first, other) => panic!("{text:?}: {first:?} {other:?}"),
    }

    for (i, name) in names.iter().enumerate() {
        if let Some(Some(v)) = values.get(i) {
            attrs.insert(name.to_string(), *v);
        }
    }
    let ctx = Ctx { attrs: attrs.clone() };
    let rendered = t.render_with(&|a| ctx.attribute(a), &|table, key| ctx.lookup(table, key));
    assert_ne!(rendered.as_deref(), Some(""), "{text:?}");
    if names.iter().any(|n| !attrs.contains_key(*n)) {
        assert_eq!(rendered, None, "{text:?} with a missing attribute");
    }
    if names.is_empty() {
        let literal = text.replace("{{", "{").replace("}}", "}");
        assert_eq!(rendered, Some(literal).filter(|l| !l.is_empty()));
    }
    let _ = t.render(&|a| ctx.attribute(a));
    attrs
}

fuzz_target!(|data: &[u8]| {
    let (text, rest) = match data.iter().position(|&b| b == 0xFF) {
        Some(cut) => (&data[..cut], &data[cut + 1..]),
        None => (data, &[][..]),
    };
    let Ok(template) = std::str::from_utf8(text) else { return };
    let Ok(input) = Rest::arbitrary_take_rest(arbitrary::Unstructured::new(rest)) else { return };
    let attrs = check_template(template, &input.values);
    let ctx = Ctx { attrs };

    let mut toml_text = String::from("transforms = [");
    let mut valid = true;
    let mut raw = false;
    for step in &input.steps {
        let item = match step {
            Step::Lower => quoted("lower"),
            Step::Upper => quoted("upper"),
            Step::Trim => quoted("trim"),
            Step::Transliterate => quoted("transliterate"),
            Step::Truncate(n) => {
                valid &= *n > 0;
                format!("{{ truncate = {n} }}")
            }
            Step::Constant(c) => format!("{{ constant = {} }}", quoted(c)),
            Step::Replace { regex, with } => {
                valid &= regex::Regex::new(regex).is_ok();
                format!("{{ replace = {{ regex = {}, with = {} }} }}", quoted(regex), quoted(with))
            }
            Step::Lookup(t) => {
                valid &= !t.trim().is_empty();
                format!("{{ lookup = {} }}", quoted(t))
            }
            Step::Template(t) => {
                valid &= Template::parse_syntax(t).is_ok();
                format!("{{ template = {} }}", quoted(t))
            }
            Step::Raw(text) => {
                (valid, raw) = (false, true);
                text.replace(['\n', '\r'], " ")
            }
        };
        toml_text.push_str(&item);
        toml_text.push_str(", ");
    }
    toml_text.push(']');
    let steps = match toml::from_str::<HashMap<String, Vec<Transform>>>(&toml_text) {
        Ok(mut map) => map.remove("transforms").unwrap_or_default(),
        Err(e) => {
            assert!(!valid, "{toml_text}: {e}");
            assert!(!e.message().is_empty());
            if let Some(span) = e.span() {
                assert!(span.end <= toml_text.len(), "{toml_text}: {e}");
            }
            return;
        }
    };
    assert!(raw || steps.len() == input.steps.len(), "{toml_text}");

    let mut value = input.value.map(str::to_string);
    for step in &steps {
        let _ = step.check(&|_| true, &|_| true);
        let _ = step.check(&|_| false, &|_| false);
        let out = step.apply(value.clone(), &ctx);
        assert_ne!(out.as_deref(), Some(""), "{} on {value:?}", step.name());
        let non_empty = |s: String| Some(s).filter(|s| !s.is_empty());
        match step {
            Transform::Lower => assert_eq!(out, value.clone().and_then(|v| non_empty(v.to_lowercase()))),
            Transform::Upper => assert_eq!(out, value.clone().and_then(|v| non_empty(v.to_uppercase()))),
            Transform::Trim => assert_eq!(out, value.clone().and_then(|v| non_empty(v.trim().to_string()))),
            Transform::Transliterate => assert!(out.as_deref().is_none_or(|o| o.is_ascii())),
            Transform::Truncate(n) => {
                assert!(out.as_deref().is_none_or(|o| o.chars().count() <= *n));
                assert!(value.as_deref().is_none_or(|v| v.starts_with(out.as_deref().unwrap_or(""))));
            }
            Transform::Constant(c) => assert_eq!(out, non_empty(c.clone())),
            _ => {}
        }
        value = out;
    }
    assert_eq!(Transform::apply_all(&steps, input.value.map(str::to_string), &ctx), value);
});
