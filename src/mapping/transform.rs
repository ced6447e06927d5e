//! Attribute transforms and templates: how a municipality's attribute values become the shared
//! schema's.
//!
//! A mapping file says, per target attribute, where the value comes from and which steps it
//! goes through: `{ template = "{givenName}.{sn}" }`, `"trim"`, `{ truncate = 64 }`,
//! `{ replace = { regex = "^KST-", with = "" } }`, `{ lookup = "units" }`. Each step is a
//! [`Transform`]; templates are [`Template`]s, with their own short pipes inside placeholders
//! (`{givenName|transliterate|lower}`, `{department|lookup:units}`).
//!
//! Everything here is pure and checked before any directory is read, in two steps: while the
//! mapping file is deserialised (syntax: an unknown transform name, a regex that does not
//! compile, an unbalanced brace), so the `toml` crate's error carries the file's line and
//! column; then against the municipality's schema and lookup tables ([`Transform::check`],
//! [`Template::check`]: an unknown attribute, a missing table), where the caller attaches the
//! position. A mistake in a mapping file must stop the run with a pointer to it, never turn
//! into a quietly empty attribute for 20,000 people.
//!
//! Conventions:
//! - A missing value is `None`; a step never produces an empty string (`Some("")` becomes
//!   `None`), because LDAP has no empty values and Graph rejects empty strings.
//! - Lookup tables are resolved at render/apply time, by the caller, through
//!   [`TransformContext::lookup`] (or the `lookup` closure of [`Template::render_with`]).
//! - Lengths are counted in characters, never bytes: `{ truncate = 64 }` matches Graph's "64
//!   characters" for a name with å, ä and ö.

use regex::Regex;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;

use crate::model::names;

/// What a transform or template reads while it is applied: the object's attributes and the
/// named lookup tables of the mapping.
pub trait TransformContext {
    /// The value of the object's attribute `name` (first value of a multi-valued one), if any.
    fn attribute(&self, name: &str) -> Option<String>;
    /// `key` looked up in the mapping's table `table`, if both exist.
    fn lookup(&self, table: &str, key: &str) -> Option<String>;
}

/// A template such as `{givenName}.{sn}` or `{givenName|transliterate|lower} {sn|upper}`.
///
/// Placeholders name an attribute and, after `|`, pipes applied in order: `lower`, `upper`,
/// `trim`, `transliterate`, `truncate:N` (first N characters), `lookup:TABLE`. `{{` and `}}`
/// are literal braces. White space around names inside a placeholder is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(Field),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    attribute: String,
    /// Byte offset of the attribute name in the template's text.
    offset: usize,
    pipes: Vec<Pipe>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pipe {
    kind: PipeKind,
    /// Byte offset of the pipe's name in the template's text.
    offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PipeKind {
    Lower,
    Upper,
    Trim,
    Transliterate,
    Truncate(usize),
    Lookup(String),
}

/// Why a template's text is not a template: the byte offset in the text and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {reason}")]
pub struct TemplateError {
    /// Byte offset into the template's text where the problem starts.
    pub offset: usize,
    pub reason: String,
}

impl TemplateError {
    fn new(offset: usize, reason: impl Into<String>) -> TemplateError {
        TemplateError { offset, reason: reason.into() }
    }

    /// The 1-based character column of the problem in `text` (the template's text), for people.
    pub fn column(&self, text: &str) -> usize {
        text.get(..self.offset).map_or(self.offset, |t| t.chars().count()) + 1
    }
}

/// What [`Transform::check`] refuses; the caller attaches file, line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("unknown lookup table `{0}`")]
    UnknownTable(String),
    /// A template naming an unknown attribute or table: its text, and the 1-based character.
    #[error("template `{template}`, character {column}: {reason}")]
    Template { template: String, column: usize, reason: String },
}

const PIPES: &str = "lower, upper, trim, transliterate, truncate:N, lookup:TABLE";

/// Parses `text` and checks that every attribute it names is known.
pub fn parse_template(text: &str, known_attribute: &dyn Fn(&str) -> bool) -> Result<Template, TemplateError> {
    let t = Template::parse_syntax(text)?;
    t.check_attributes(known_attribute)?;
    Ok(t)
}

impl Template {
    /// Parses `text` without checking attribute names (which needs the municipality's schema:
    /// see [`Template::check_attributes`]). Errors: unbalanced braces, an empty or malformed
    /// attribute name, an unknown or malformed pipe, a template that is empty.
    pub fn parse_syntax(text: &str) -> Result<Template, TemplateError> {
        let b = text.as_bytes();
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut pending = 0; // start of literal text not yet copied
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                brace @ (b'{' | b'}') if b.get(i + 1) == Some(&brace) => {
                    literal.push_str(&text[pending..=i]);
                    i += 2;
                    pending = i;
                }
                b'}' => return Err(TemplateError::new(i, "unmatched `}` (write `}}` for a literal brace)")),
                b'{' => {
                    literal.push_str(&text[pending..i]);
                    let inner = i + 1;
                    let close = match text[inner..].find(['{', '}']) {
                        Some(k) if b[inner + k] == b'}' => inner + k,
                        _ => return Err(TemplateError::new(i, "unclosed `{` (write `{{` for a literal brace)")),
                    };
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(parse_field(text, inner, close)?));
                    i = close + 1;
                    pending = i;
                }
                _ => i += 1,
            }
        }
        literal.push_str(&text[pending..]);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if parts.is_empty() {
            return Err(TemplateError::new(0, "empty template"));
        }
        Ok(Template { source: text.to_string(), parts })
    }

    /// The template's text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The attributes the template reads, in order of first use, each once.
    pub fn attributes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in self.fields() {
            if !out.contains(&f.attribute.as_str()) {
                out.push(&f.attribute);
            }
        }
        out
    }

    /// The lookup tables the template's pipes use, in order of first use, each once.
    pub fn lookup_tables(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in self.fields().flat_map(|f| &f.pipes) {
            if let PipeKind::Lookup(t) = &p.kind
                && !out.contains(&t.as_str())
            {
                out.push(t);
            }
        }
        out
    }

    /// The first attribute that `known` does not know, as an error at its offset.
    pub fn check_attributes(&self, known: &dyn Fn(&str) -> bool) -> Result<(), TemplateError> {
        match self.fields().find(|f| !known(&f.attribute)) {
            Some(f) => Err(TemplateError::new(f.offset, format!("unknown attribute `{}`", f.attribute))),
            None => Ok(()),
        }
    }

    /// The first `lookup:TABLE` pipe whose table does not exist, as an error at its offset.
    pub fn check_lookups(&self, table_exists: &dyn Fn(&str) -> bool) -> Result<(), TemplateError> {
        for p in self.fields().flat_map(|f| &f.pipes) {
            if let PipeKind::Lookup(t) = &p.kind
                && !table_exists(t)
            {
                return Err(TemplateError::new(p.offset, format!("unknown lookup table `{t}`")));
            }
        }
        Ok(())
    }

    /// Both checks: attributes, then lookup tables.
    pub fn check(
        &self,
        known_attribute: &dyn Fn(&str) -> bool,
        table_exists: &dyn Fn(&str) -> bool,
    ) -> Result<(), TemplateError> {
        self.check_attributes(known_attribute)?;
        self.check_lookups(table_exists)
    }

    /// Renders the template; None when any attribute it names is missing, or the result is
    /// empty. Without lookup tables: a `lookup:` pipe makes the result None (use
    /// [`Template::render_with`]).
    pub fn render(&self, value_of: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        self.render_with(value_of, &|_, _| None)
    }

    /// Renders the template with lookup tables: `lookup(table, key)`. A key missing from its
    /// table counts as a missing value.
    pub fn render_with(
        &self,
        value_of: &dyn Fn(&str) -> Option<String>,
        lookup: &dyn Fn(&str, &str) -> Option<String>,
    ) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Field(f) => {
                    let mut v = value_of(&f.attribute)?;
                    for p in &f.pipes {
                        v = match &p.kind {
                            PipeKind::Lower => v.to_lowercase(),
                            PipeKind::Upper => v.to_uppercase(),
                            PipeKind::Trim => v.trim().to_string(),
                            PipeKind::Transliterate => names::transliterate(&v),
                            PipeKind::Truncate(n) => truncate_chars(v, *n),
                            PipeKind::Lookup(t) => lookup(t, &v)?,
                        };
                    }
                    out.push_str(&v);
                }
            }
        }
        non_empty(out)
    }

    fn fields(&self) -> impl Iterator<Item = &Field> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f),
            Part::Literal(_) => None,
        })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// `text[start..end]` segment bounds with surrounding white space removed.
fn trimmed(text: &str, start: usize, end: usize) -> (usize, &str) {
    let s = &text[start..end];
    let lead = s.len() - s.trim_start().len();
    (start + lead, s.trim())
}

/// Parses the inside of a placeholder, `text[start..end]`: `attribute|pipe|pipe:arg`.
fn parse_field(text: &str, start: usize, end: usize) -> Result<Field, TemplateError> {
    let mut segments = Vec::new();
    let mut seg_start = start;
    for (k, _) in text[start..end].match_indices('|') {
        segments.push((seg_start, start + k));
        seg_start = start + k + 1;
    }
    segments.push((seg_start, end));

    let (name_start, name_end) = segments[0];
    let (offset, attribute) = trimmed(text, name_start, name_end);
    if attribute.is_empty() {
        return Err(TemplateError::new(start - 1, "empty placeholder: name an attribute, e.g. `{givenName}`"));
    }
    if let Some((k, c)) = attribute.char_indices().find(|(_, c)| !(c.is_ascii_alphanumeric() || "-_.".contains(*c))) {
        return Err(TemplateError::new(offset + k, format!("{c:?} cannot be part of an attribute name")));
    }
    let mut pipes = Vec::new();
    for &(s, e) in &segments[1..] {
        let (offset, pipe) = trimmed(text, s, e);
        let (name, arg) = match pipe.split_once(':') {
            Some((n, a)) => (n.trim_end(), Some((offset + n.len() + 1, a))),
            None => (pipe, None),
        };
        let kind = match (name, arg) {
            ("", _) => {
                return Err(TemplateError::new(offset, format!("empty transform after `|`, expected one of {PIPES}")));
            }
            ("lower" | "upper" | "trim" | "transliterate", Some(_)) => {
                return Err(TemplateError::new(offset, format!("transform `{name}` takes no argument")));
            }
            ("lower", None) => PipeKind::Lower,
            ("upper", None) => PipeKind::Upper,
            ("trim", None) => PipeKind::Trim,
            ("transliterate", None) => PipeKind::Transliterate,
            ("truncate", arg) => match arg.map(|(o, a)| (o, a.trim().parse::<usize>())) {
                Some((_, Ok(n))) if n > 0 => PipeKind::Truncate(n),
                Some((o, _)) => return Err(TemplateError::new(o, "`truncate:` needs a length of at least 1")),
                None => return Err(TemplateError::new(offset, "`truncate` needs a length, e.g. `truncate:20`")),
            },
            ("lookup", arg) => match arg.map(|(o, a)| (o, a.trim())) {
                Some((_, t)) if !t.is_empty() => PipeKind::Lookup(t.to_string()),
                _ => return Err(TemplateError::new(offset, "`lookup` needs a table name, e.g. `lookup:units`")),
            },
            _ => {
                return Err(TemplateError::new(offset, format!("unknown transform `{name}`, expected one of {PIPES}")));
            }
        };
        pipes.push(Pipe { kind, offset });
    }
    Ok(Field { attribute: attribute.to_string(), offset, pipes })
}

fn truncate_chars(mut s: String, n: usize) -> String {
    if let Some((cut, _)) = s.char_indices().nth(n) {
        s.truncate(cut);
    }
    s
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// One transform step of an attribute flow. In a mapping file:
///
/// ```toml
/// transforms = [
///   "trim", "lower", "upper", "transliterate",
///   { truncate = 64 },                                  # first 64 characters
///   { constant = "SE" },                                # this value, whatever came in
///   { replace = { regex = "^KST-", with = "" } },       # every match; `$1` in `with` is a group
///   { lookup = "units" },                               # the value looked up in a named table
///   { template = "{givenName} {sn}" },                  # rendered from the object's attributes
/// ]
/// ```
#[derive(Debug, Clone)]
pub enum Transform {
    Lower,
    Upper,
    Trim,
    Transliterate,
    /// Keep the first N characters (N ≥ 1).
    Truncate(usize),
    /// This value, whatever came in.
    Constant(String),
    /// Every match of `regex` replaced by `with` (`$1`, `${name}` refer to groups; `$$` is `$`).
    Replace {
        regex: Regex,
        with: String,
    },
    /// The value looked up in the named table; a key not in the table gives None.
    Lookup(String),
    /// The template rendered from the object's attributes (the incoming value is not used).
    Template(Template),
}

const TRANSFORMS: &str = "lower, upper, trim, transliterate, truncate, constant, replace, lookup, template";

impl Transform {
    /// Applies the step. A missing value stays missing, except for `constant` and `template`,
    /// which do not read it. Never returns `Some("")`.
    pub fn apply(&self, value: Option<String>, ctx: &dyn TransformContext) -> Option<String> {
        let out = match self {
            Transform::Constant(c) => Some(c.clone()),
            Transform::Template(t) => t.render_with(&|a| ctx.attribute(a), &|t, k| ctx.lookup(t, k)),
            Transform::Lower => value.map(|v| v.to_lowercase()),
            Transform::Upper => value.map(|v| v.to_uppercase()),
            Transform::Trim => value.map(|v| v.trim().to_string()),
            Transform::Transliterate => value.map(|v| names::transliterate(&v)),
            Transform::Truncate(n) => value.map(|v| truncate_chars(v, *n)),
            Transform::Replace { regex, with } => value.map(|v| regex.replace_all(&v, with.as_str()).into_owned()),
            Transform::Lookup(table) => value.and_then(|v| ctx.lookup(table, &v)),
        };
        out.and_then(non_empty)
    }

    /// Applies `steps` in order.
    pub fn apply_all(steps: &[Transform], value: Option<String>, ctx: &dyn TransformContext) -> Option<String> {
        steps.iter().fold(value, |v, t| t.apply(v, ctx))
    }

    /// The checks deserialisation cannot make: a template's attributes exist in the
    /// municipality's schema, and every lookup table (of `lookup` or of a template's
    /// `lookup:` pipe) exists. The caller attaches file, line and column to the error.
    pub fn check(
        &self,
        known_attribute: &dyn Fn(&str) -> bool,
        table_exists: &dyn Fn(&str) -> bool,
    ) -> Result<(), CheckError> {
        match self {
            Transform::Lookup(t) if !table_exists(t) => Err(CheckError::UnknownTable(t.clone())),
            Transform::Template(t) => t.check(known_attribute, table_exists).map_err(|e| CheckError::Template {
                template: t.source().to_string(),
                column: e.column(t.source()),
                reason: e.reason,
            }),
            _ => Ok(()),
        }
    }

    /// The transform's name as written in a mapping file.
    pub fn name(&self) -> &'static str {
        match self {
            Transform::Lower => "lower",
            Transform::Upper => "upper",
            Transform::Trim => "trim",
            Transform::Transliterate => "transliterate",
            Transform::Truncate(_) => "truncate",
            Transform::Constant(_) => "constant",
            Transform::Replace { .. } => "replace",
            Transform::Lookup(_) => "lookup",
            Transform::Template(_) => "template",
        }
    }
}

fn unknown_transform(name: &str) -> String {
    format!("unknown transform `{name}`, expected one of {TRANSFORMS}")
}

impl<'de> Deserialize<'de> for Transform {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Transform, D::Error> {
        d.deserialize_any(TransformVisitor)
    }
}

struct TransformVisitor;

impl<'de> Visitor<'de> for TransformVisitor {
    type Value = Transform;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a transform (\"lower\", \"trim\", {{ truncate = 64 }}, ...: one of {TRANSFORMS})")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Transform, E> {
        Ok(match v {
            "lower" => Transform::Lower,
            "upper" => Transform::Upper,
            "trim" => Transform::Trim,
            "transliterate" => Transform::Transliterate,
            "truncate" => return Err(E::custom("transform `truncate` needs a length: write { truncate = 64 }")),
            "constant" => return Err(E::custom("transform `constant` needs a value: write { constant = \"SE\" }")),
            "replace" => {
                return Err(E::custom(
                    "transform `replace` needs a regex: write { replace = { regex = \"^KST-\", with = \"\" } }",
                ));
            }
            "lookup" => return Err(E::custom("transform `lookup` needs a table: write { lookup = \"units\" }")),
            "template" => {
                return Err(E::custom("transform `template` needs a template: write { template = \"{givenName}\" }"));
            }
            other => return Err(E::custom(unknown_transform(other))),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Transform, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::custom(format!("an empty table is no transform, expected one of {TRANSFORMS}")));
        };
        let t = match key.as_str() {
            "truncate" => match map.next_value::<usize>()? {
                0 => return Err(de::Error::custom("`truncate` needs a length of at least 1")),
                n => Transform::Truncate(n),
            },
            "constant" => Transform::Constant(map.next_value()?),
            "replace" => {
                let r: ReplaceArgs = map.next_value()?;
                Transform::Replace { regex: r.regex.0, with: r.with }
            }
            "lookup" => match map.next_value::<String>()? {
                t if t.trim().is_empty() => return Err(de::Error::custom("`lookup` needs a table name")),
                t => Transform::Lookup(t),
            },
            "template" => Transform::Template(map.next_value()?),
            "lower" | "upper" | "trim" | "transliterate" => {
                return Err(de::Error::custom(format!("transform `{key}` takes no argument: write it as \"{key}\"")));
            }
            other => return Err(de::Error::custom(unknown_transform(other))),
        };
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "one transform per table: `{key}` and `{extra}` found; list them as separate steps"
            )));
        }
        Ok(t)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceArgs {
    regex: RegexArg,
    #[serde(default)]
    with: String,
}

/// A regex compiled while deserialising, so a bad one is reported at its own position.
struct RegexArg(Regex);

impl<'de> Deserialize<'de> for RegexArg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RegexArg, D::Error> {
        let s = String::deserialize(d)?;
        Regex::new(&s).map(RegexArg).map_err(|e| de::Error::custom(format!("invalid regex `{s}`: {e}")))
    }
}

impl<'de> Deserialize<'de> for Template {
    /// A template string, checked for syntax only (see [`Template::check`]).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Template, D::Error> {
        let s = String::deserialize(d)?;
        Template::parse_syntax(&s)
            .map_err(|e| de::Error::custom(format!("invalid template `{s}`, character {}: {}", e.column(&s), e.reason)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    struct Ctx {
        attrs: HashMap<&'static str, &'static str>,
        tables: HashMap<&'static str, HashMap<&'static str, &'static str>>,
    }

    impl TransformContext for Ctx {
        fn attribute(&self, name: &str) -> Option<String> {
            self.attrs.get(name).map(|v| v.to_string())
        }
        fn lookup(&self, table: &str, key: &str) -> Option<String> {
            self.tables.get(table)?.get(key).map(|v| v.to_string())
        }
    }

    fn ctx() -> Ctx {
        Ctx {
            attrs: HashMap::from([("givenName", "Åsa"), ("sn", "Öberg"), ("department", "KST-4711"), ("blank", "  ")]),
            tables: HashMap::from([("units", HashMap::from([("4711", "Socialtjänst"), ("KST-4711", "Soc")]))]),
        }
    }

    fn known(a: &str) -> bool {
        ["givenName", "sn", "department", "blank", "title"].contains(&a)
    }

    fn render(t: &str) -> Option<String> {
        let c = ctx();
        parse_template(t, &known).unwrap().render_with(&|a| c.attribute(a), &|t, k| c.lookup(t, k))
    }

    #[test]
    fn templates_render() {
        assert_eq!(render("{givenName}.{sn}").as_deref(), Some("Åsa.Öberg"));
        assert_eq!(render("{givenName|transliterate|lower} {sn|upper}").as_deref(), Some("asa ÖBERG"));
        assert_eq!(render("{ givenName | truncate:1 }{sn}").as_deref(), Some("ÅÖberg"));
        assert_eq!(render("{department|lookup:units}").as_deref(), Some("Soc"));
        assert_eq!(render("Enhet: {department}").as_deref(), Some("Enhet: KST-4711"));
        assert_eq!(render("SE").as_deref(), Some("SE"));
        assert_eq!(render("{blank|trim}"), None, "an empty result is None");
        assert_eq!(render("x{blank|trim}").as_deref(), Some("x"));
    }

    #[test]
    fn missing_attribute_or_lookup_gives_none() {
        assert_eq!(render("{givenName} {title}"), None);
        assert_eq!(render("{sn|lookup:units}"), None, "key not in the table");
        let t = parse_template("{department|lookup:units}", &known).unwrap();
        assert_eq!(t.render(&|a| ctx().attribute(a)), None, "render has no tables");
    }

    #[test]
    fn literal_braces() {
        assert_eq!(render("{{{givenName}}}").as_deref(), Some("{Åsa}"));
        assert_eq!(render("{{}}").as_deref(), Some("{}"));
        assert_eq!(render("a{{b").as_deref(), Some("a{b"));
        assert_eq!(render("{sn}}}").as_deref(), Some("Öberg}"));
    }

    #[test]
    fn attributes_and_tables_are_listed_once_in_order() {
        let t = Template::parse_syntax("{sn}.{givenName}.{sn|lookup:a}{x|lookup:b|lookup:a}").unwrap();
        assert_eq!(t.attributes(), ["sn", "givenName", "x"]);
        assert_eq!(t.lookup_tables(), ["a", "b"]);
        assert_eq!(t.to_string(), "{sn}.{givenName}.{sn|lookup:a}{x|lookup:b|lookup:a}");
    }

    fn err(t: &str) -> TemplateError {
        parse_template(t, &known).unwrap_err()
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = err("{givenName}.{surname}");
        assert_eq!((e.offset, e.reason.as_str()), (13, "unknown attribute `surname`"));
        let e = err("{givenName|lowercase}");
        assert_eq!(e.offset, 11);
        assert!(e.reason.contains("unknown transform `lowercase`"), "{}", e.reason);
        assert_eq!(err("abc {givenName").offset, 4);
        assert_eq!(err("{givenName {sn}").offset, 0);
        assert_eq!(err("{sn}}").offset, 4);
        assert_eq!(err("a}b").offset, 1);
        assert_eq!(err("x{}").offset, 1);
        assert_eq!(err("{ }").offset, 0);
        assert_eq!(err("{sn|}").offset, 4);
        assert_eq!(err("{sn|truncate}").offset, 4);
        assert_eq!(err("{sn|truncate:x}").offset, 13);
        assert_eq!(err("{sn|truncate:0}").offset, 13);
        assert_eq!(err("{sn|lookup:}").offset, 4);
        assert_eq!(err("{sn|lower:1}").offset, 4);
        assert_eq!(err("{s n}").offset, 2);
        assert_eq!(err("").offset, 0);
        // Offsets are bytes; the column counts characters.
        let text = "åäö {sn|nope}";
        let e = err(text);
        assert_eq!((e.offset, e.column(text)), (11, 9));
        assert_eq!(e.to_string(), format!("at byte 11: {}", e.reason));
    }

    #[test]
    fn checks_tables_separately() {
        let t = Template::parse_syntax("{sn|lookup:units}{sn|lookup:nope}").unwrap();
        t.check_attributes(&known).unwrap();
        let e = t.check(&known, &|t| t == "units").unwrap_err();
        assert_eq!((e.offset, e.reason.as_str()), (21, "unknown lookup table `nope`"));
    }

    fn apply(t: &Transform, v: Option<&str>) -> Option<String> {
        t.apply(v.map(str::to_string), &ctx())
    }

    #[test]
    fn each_transform() {
        assert_eq!(apply(&Transform::Lower, Some("ÅSA Öberg")).as_deref(), Some("åsa öberg"));
        assert_eq!(apply(&Transform::Upper, Some("åsa")).as_deref(), Some("ÅSA"));
        assert_eq!(apply(&Transform::Trim, Some("  a b ")).as_deref(), Some("a b"));
        assert_eq!(apply(&Transform::Trim, Some("   ")), None);
        assert_eq!(apply(&Transform::Transliterate, Some("Åsa Öberg")).as_deref(), Some("Asa Oberg"));
        assert_eq!(apply(&Transform::Truncate(3), Some("Åsögon")).as_deref(), Some("Åsö"), "characters, not bytes");
        assert_eq!(apply(&Transform::Truncate(30), Some("Åsa")).as_deref(), Some("Åsa"));
        assert_eq!(apply(&Transform::Constant("SE".into()), None).as_deref(), Some("SE"));
        assert_eq!(apply(&Transform::Constant("SE".into()), Some("NO")).as_deref(), Some("SE"));
        let replace = Transform::Replace { regex: Regex::new("^KST-").unwrap(), with: String::new() };
        assert_eq!(apply(&replace, Some("KST-4711")).as_deref(), Some("4711"));
        assert_eq!(apply(&replace, Some("KST-")), None);
        let groups = Transform::Replace { regex: Regex::new(r"(\d+)-(\d+)").unwrap(), with: "$2/$1".into() };
        assert_eq!(apply(&groups, Some("a 1-2 b 3-4")).as_deref(), Some("a 2/1 b 4/3"));
        assert_eq!(apply(&Transform::Lookup("units".into()), Some("4711")).as_deref(), Some("Socialtjänst"));
        assert_eq!(apply(&Transform::Lookup("units".into()), Some("9")), None);
        assert_eq!(apply(&Transform::Lookup("nope".into()), Some("4711")), None);
        let t = Transform::Template(Template::parse_syntax("{givenName} {sn}").unwrap());
        assert_eq!(apply(&t, None).as_deref(), Some("Åsa Öberg"));
        for t in [Transform::Lower, Transform::Upper, Transform::Trim, Transform::Transliterate, Transform::Truncate(2)]
        {
            assert_eq!(apply(&t, None), None, "{}", t.name());
        }
        assert_eq!(apply(&replace, None), None);
    }

    #[test]
    fn apply_all_chains() {
        let steps: Vec<Transform> = parse_list(
            r#"t = [{ replace = { regex = "^KST-", with = "" } }, { lookup = "units" }, "transliterate", "upper", { truncate = 6 }]"#,
        )
        .unwrap();
        assert_eq!(Transform::apply_all(&steps, Some("KST-4711".into()), &ctx()).as_deref(), Some("SOCIAL"));
    }

    fn parse_list(toml_text: &str) -> Result<Vec<Transform>, toml::de::Error> {
        #[derive(Deserialize)]
        struct F {
            t: Vec<Transform>,
        }
        toml::from_str::<F>(toml_text).map(|f| f.t)
    }

    #[test]
    fn deserialises_every_spelling() {
        let t = parse_list(
            r#"t = ["lower", "upper", "trim", "transliterate", { truncate = 64 }, { constant = "SE" },
                   { replace = { regex = "^KST-", with = "" } }, { replace = { regex = "x" } },
                   { lookup = "units" }, { template = "{givenName} {sn}" }]"#,
        )
        .unwrap();
        let names: Vec<&str> = t.iter().map(Transform::name).collect();
        assert_eq!(
            names,
            [
                "lower",
                "upper",
                "trim",
                "transliterate",
                "truncate",
                "constant",
                "replace",
                "replace",
                "lookup",
                "template"
            ]
        );
        assert!(matches!(&t[4], Transform::Truncate(64)));
        assert!(matches!(&t[7], Transform::Replace { with, .. } if with.is_empty()));
    }

    fn parse_err(toml_text: &str) -> String {
        parse_list(toml_text).unwrap_err().to_string()
    }

    #[test]
    fn deserialisation_errors_name_the_problem_and_the_place() {
        let e = parse_err("t = [\"trim\",\n  \"lowercase\"]");
        assert!(
            e.contains("unknown transform `lowercase`, expected one of lower, upper, trim, transliterate, truncate, constant, replace, lookup, template"),
            "{e}"
        );
        assert!(e.contains("line 2, column 3"), "{e}");

        let e = parse_err("t = [\n { replace = { regex = \"(KST\", with = \"\" } }]");
        assert!(e.contains("invalid regex `(KST`"), "{e}");
        assert!(e.contains("line 2, column 24"), "{e}");

        let e = parse_err("t = [{ template = \"{givenName\" }]");
        assert!(e.contains("invalid template `{givenName`, character 1: unclosed `{`"), "{e}");
        assert!(e.contains("line 1, column 19"), "{e}");

        assert!(parse_err("t = [{ lowercase = 1 }]").contains("unknown transform `lowercase`"));
        assert!(parse_err("t = [\"truncate\"]").contains("needs a length"));
        assert!(parse_err("t = [{ truncate = 0 }]").contains("at least 1"));
        assert!(parse_err("t = [{ truncate = -3 }]").contains("-3"));
        assert!(parse_err("t = [{ lower = true }]").contains("takes no argument"));
        let e = parse_err("t = [{ truncate = 3, constant = \"x\" }]");
        assert!(e.contains("one transform per table"), "{e}");
        assert!(parse_err("t = [{}]").contains("empty table"));
        assert!(parse_err("t = [{ replace = { regex = \"x\", wiht = \"\" } }]").contains("wiht"));
        assert!(parse_err("t = [{ lookup = \"\" }]").contains("table name"));
        assert!(parse_err("t = [3]").contains("a transform"));
    }

    #[test]
    fn check_after_deserialisation() {
        let t = parse_list(r#"t = [{ template = "{givenName}.{surname}" }, { lookup = "nope" }, "trim"]"#).unwrap();
        let tables = |t: &str| t == "units";
        assert_eq!(
            t[0].check(&known, &tables).unwrap_err().to_string(),
            "template `{givenName}.{surname}`, character 14: unknown attribute `surname`"
        );
        assert_eq!(t[1].check(&known, &tables).unwrap_err().to_string(), "unknown lookup table `nope`");
        t[2].check(&known, &tables).unwrap();
    }

    proptest! {
        #[test]
        fn parse_template_never_panics(s in any::<String>()) {
            let _ = parse_template(&s, &|_| true);
        }

        #[test]
        fn brace_heavy_templates_never_panic(s in "[{}|: a-zå:0-9]{0,40}") {
            if let Ok(t) = parse_template(&s, &|_| true) {
                let _ = t.render_with(&|a| Some(a.to_uppercase()), &|_, k| Some(k.to_string()));
                let _ = t.check(&|_| false, &|_| false);
            } else if let Err(e) = Template::parse_syntax(&s) {
                prop_assert!(e.offset <= s.len());
                prop_assert!(s.is_char_boundary(e.offset));
            }
        }

        #[test]
        fn escaped_text_renders_as_itself(s in any::<String>()) {
            prop_assume!(!s.is_empty());
            let escaped = s.replace('{', "{{").replace('}', "}}");
            let t = Template::parse_syntax(&escaped).unwrap();
            prop_assert_eq!(t.render(&|_| None), Some(s));
        }

        #[test]
        fn truncate_keeps_at_most_n_characters(s in any::<String>(), n in 1usize..20) {
            let out = apply(&Transform::Truncate(n), Some(&s));
            prop_assert!(out.as_ref().is_none_or(|o| o.chars().count() <= n && s.starts_with(o.as_str())));
        }
    }
}
