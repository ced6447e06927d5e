//! Distinguished names, parsed per RFC 4514.
//!
//! A DN is not a comma-separated string: `CN=Öberg\, Åsa,OU=Socialförvaltningen,DC=bjuv,DC=test`
//! has three commas but four RDNs, values may hold escaped `+`, `"`, `\`, leading `#` or
//! spaces, and hex escapes such as `\C3\96` for UTF-8 bytes. Splitting on commas (the bug
//! lldap shipped) breaks exactly on the names Swedish municipalities have. This module parses
//! once and keeps the DN in one canonical escaped form, whatever escaping the source used.
//!
//! A directory is mostly DNs: every `member`, `memberOf` and `manager` value is one, and a
//! large municipality has hundreds of thousands of them. So a [`Dn`] is stored as its
//! canonical string plus the byte spans of its parts (two allocations), values are unescaped
//! only when asked for, and printing one is a copy.
//!
//! Comparison is case-insensitive on attribute types and values, as Active Directory compares
//! DNs; [`Dn::key`] gives the normalised form used for lookups. The values of a multi-valued
//! RDN (`CN=a+UID=b`) compare in the order written; Active Directory does not use them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

/// A parsed distinguished name in canonical form.
#[derive(Clone, Default)]
pub struct Dn {
    /// The canonical string: types as written, values escaped per [`escape_value`].
    text: Box<str>,
    /// One span per attribute-value pair, leaf first.
    avas: Box<[AvaSpan]>,
}

/// Where one `type=value` pair lies in [`Dn::text`]. It starts one byte after the previous
/// pair ends (past the separator), or at 0, so only the `=` and the end are kept: eight bytes
/// a pair, since a million users' snapshot holds millions of DNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AvaSpan {
    /// The position of the `=`.
    eq: u32,
    /// The end, with [`AvaSpan::PLUS`] set when the pair is joined to the previous one by `+`
    /// (same RDN).
    end_and_plus: u32,
}

impl AvaSpan {
    const PLUS: u32 = 1 << 31;
    /// The longest canonical text the spans can describe.
    const MAX_TEXT: usize = Self::PLUS as usize - 1;

    fn new(eq: usize, end: usize, plus: bool) -> AvaSpan {
        AvaSpan { eq: eq as u32, end_and_plus: end as u32 | if plus { Self::PLUS } else { 0 } }
    }

    fn end(self) -> usize {
        (self.end_and_plus & !Self::PLUS) as usize
    }

    fn plus(self) -> bool {
        self.end_and_plus & Self::PLUS != 0
    }

    /// The same span `by` bytes further right (or left, for a negative `by`).
    fn moved(self, by: isize) -> AvaSpan {
        let at = |x: usize| x.saturating_add_signed(by);
        AvaSpan::new(at(self.eq as usize), at(self.end()), self.plus())
    }
}

/// Why a string is not a DN, with the byte offset where parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid DN {input:?} at offset {offset}: {reason}")]
pub struct DnError {
    pub input: String,
    pub offset: usize,
    pub reason: &'static str,
}

impl Dn {
    /// Parses an RFC 4514 string. The empty string is the root DN (no RDNs).
    pub fn parse(input: &str) -> Result<Dn, DnError> {
        Parser::new(input, false).dn()
    }

    /// The DN of a child entry: `attr=value` below `self`.
    pub fn child(&self, attr: &str, value: &str) -> Dn {
        let leaf = format!("{attr}={}", escape_value(value));
        let shift = leaf.len() + usize::from(!self.is_root());
        let mut avas = Vec::with_capacity(self.avas.len() + 1);
        avas.push(AvaSpan::new(attr.len(), leaf.len(), false));
        avas.extend(self.avas.iter().map(|a| a.moved(shift as isize)));
        let text = if self.is_root() { leaf } else { format!("{leaf},{}", self.text) };
        Dn { text: text.into(), avas: avas.into() }
    }

    /// The number of RDNs (0 for the root).
    pub fn depth(&self) -> usize {
        self.avas.iter().filter(|a| !a.plus()).count()
    }

    pub fn is_root(&self) -> bool {
        self.avas.is_empty()
    }

    /// The leaf RDN's first value, unescaped (`Öberg, Åsa` for `CN=Öberg\, Åsa,OU=...`).
    pub fn leaf_value(&self) -> Option<Cow<'_, str>> {
        self.avas.first().map(|a| self.value(a))
    }

    /// The DN one level up; the root's parent is the root.
    pub fn parent(&self) -> Dn {
        let Some(first_next) = self.avas.iter().skip(1).position(|a| !a.plus()).map(|i| i + 1) else {
            return Dn::default();
        };
        let cut = self.start(first_next);
        let avas = self.avas[first_next..].iter().map(|a| a.moved(-(cut as isize))).collect();
        Dn { text: self.text[cut..].into(), avas }
    }

    /// True when `self` lies at or below `ancestor` (case-insensitive).
    pub fn is_within(&self, ancestor: &Dn) -> bool {
        if ancestor.is_root() {
            return true;
        }
        let n = ancestor.avas.len();
        if self.avas.len() < n || self.avas[self.avas.len() - n].plus() {
            return false;
        }
        caseless_eq(&self.text[self.start(self.avas.len() - n)..], &ancestor.text)
    }

    /// The values of the `OU` RDNs from the top of the tree down to the leaf's container:
    /// `CN=x,OU=Hemtjänst,OU=Socialförvaltningen,DC=bjuv` gives `[Socialförvaltningen, Hemtjänst]`.
    pub fn ou_path(&self) -> Vec<Cow<'_, str>> {
        (0..self.avas.len())
            .rev()
            .map(|i| (i, &self.avas[i]))
            .filter(|(i, a)| !a.plus() && self.text[self.start(*i)..a.eq as usize].eq_ignore_ascii_case("ou"))
            .map(|(_, a)| self.value(a))
            .collect()
    }

    /// The normalised comparison key: the canonical form in lower case, character by character
    /// as `==` and `Hash` compare (so no final-sigma rule: `Σ` is always `σ`).
    pub fn key(&self) -> String {
        // Byte by byte for the ASCII runs, which are most of any DN (`CN=`, `OU=`, `DC=`),
        // and per character only for the rest: a million members' keys are a visible share
        // of mapping.
        let mut key = String::with_capacity(self.text.len());
        let mut rest = &*self.text;
        while !rest.is_empty() {
            let ascii = rest.bytes().position(|b| !b.is_ascii()).unwrap_or(rest.len());
            let (run, tail) = rest.split_at(ascii);
            key.extend(run.bytes().map(|b| char::from(b.to_ascii_lowercase())));
            let mut chars = tail.chars();
            if let Some(c) = chars.next() {
                key.extend(c.to_lowercase());
            }
            rest = chars.as_str();
        }
        key
    }

    /// The canonical string.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn value(&self, a: &AvaSpan) -> Cow<'_, str> {
        unescape(&self.text[a.eq as usize + 1..a.end()])
    }

    /// Where pair `i` starts: past the separator after the previous one.
    fn start(&self, i: usize) -> usize {
        i.checked_sub(1).and_then(|p| self.avas.get(p)).map_or(0, |prev| prev.end() + 1)
    }
}

/// Compares two strings as lower case without allocating.
fn caseless_eq(a: &str, b: &str) -> bool {
    a.chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase))
}

/// Undoes [`escape_value`] (and any RFC 4514 escaping) for a value of a canonical DN.
fn unescape(escaped: &str) -> Cow<'_, str> {
    if !escaped.contains('\\') || escaped.starts_with('#') {
        return Cow::Borrowed(escaped);
    }
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'\\', Some(pair)) if pair.iter().all(u8::is_ascii_hexdigit) => {
                let hex = std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok());
                out.push(hex.unwrap_or(b'?'));
                i += 3;
            }
            (b'\\', _) if i + 1 < bytes.len() => {
                out.push(bytes[i + 1]);
                i += 2;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

impl PartialEq for Dn {
    fn eq(&self, other: &Dn) -> bool {
        self.avas.len() == other.avas.len()
            && (self.text == other.text
                || if self.text.is_ascii() && other.text.is_ascii() {
                    self.text.eq_ignore_ascii_case(&other.text)
                } else {
                    caseless_eq(&self.text, &other.text)
                })
    }
}
impl Eq for Dn {}

/// Hashes the lower-cased text (so DNs equal without case hash alike) in blocks of a few
/// dozen bytes rather than a call per character: mapping a million users looks up millions
/// of member DNs. The blocks depend only on the lower-cased characters (a block is written
/// when it holds [`HASH_BLOCK`] bytes or more and another character comes), so equal DNs
/// feed the hasher the same calls.
impl std::hash::Hash for Dn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Room for one more character (at most four bytes) after a block of HASH_BLOCK - 1.
        let mut buf = [0u8; HASH_BLOCK + 3];
        let mut len = 0;
        let mut rest: &str = &self.text;
        while let Some(&first) = rest.as_bytes().first() {
            if first.is_ascii() {
                if len >= HASH_BLOCK {
                    state.write(&buf[..len]);
                    len = 0;
                }
                // A run of ASCII (most of a DN, even a Swedish one) is lowered in bulk, up to
                // where the block is full.
                let run = rest.bytes().position(|b| !b.is_ascii()).unwrap_or(rest.len());
                let n = run.min(HASH_BLOCK - len);
                let lower = &mut buf[len..len + n];
                lower.copy_from_slice(&rest.as_bytes()[..n]);
                lower.make_ascii_lowercase();
                len += n;
                rest = &rest[n..];
            } else {
                let mut chars = rest.chars();
                let Some(c) = chars.next() else { break };
                for lower in c.to_lowercase() {
                    if len >= HASH_BLOCK {
                        state.write(&buf[..len]);
                        len = 0;
                    }
                    len += lower.encode_utf8(&mut buf[len..]).len();
                }
                rest = chars.as_str();
            }
        }
        state.write(&buf[..len]);
    }
}

/// See the `Hash` impl of [`Dn`].
const HASH_BLOCK: usize = 61;

impl PartialOrd for Dn {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Dn {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text.chars().flat_map(char::to_lowercase).cmp(other.text.chars().flat_map(char::to_lowercase))
    }
}

impl fmt::Debug for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dn({:?})", self.text)
    }
}

/// Escapes an attribute value for use in a DN string (RFC 4514 section 2.4): the one
/// canonical escaping samla writes.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    push_escaped(&mut out, value);
    out
}

fn push_escaped(out: &mut String, value: &str) {
    let last = value.len().saturating_sub(1);
    for (i, c) in value.char_indices() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Dn {
    type Err = DnError;
    fn from_str(s: &str) -> Result<Dn, DnError> {
        Dn::parse(s)
    }
}

impl Serialize for Dn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Dn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dn, D::Error> {
        super::deserialize_parsed(d, "a distinguished name (RFC 4514)", Dn::parse)
    }
}

struct Parser<'a> {
    input: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// The canonical form being built.
    text: String,
    /// The current value's unescaped bytes.
    scratch: Vec<u8>,
    /// Never take [`Parser::plain_value`]'s shortcut (for the test that it changes nothing).
    slow_only: bool,
}

impl Parser<'_> {
    fn new(input: &str, slow_only: bool) -> Parser<'_> {
        let text = String::with_capacity(input.len());
        Parser { input, bytes: input.as_bytes(), pos: 0, text, scratch: Vec::new(), slow_only }
    }

    fn fail<T>(&self, reason: &'static str) -> Result<T, DnError> {
        Err(DnError { input: self.input.to_string(), offset: self.pos, reason })
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn dn(mut self) -> Result<Dn, DnError> {
        // One pair per separator is exact unless some are escaped: the box is then made
        // without a copy.
        let mut avas = Vec::with_capacity(1 + self.bytes.iter().filter(|b| matches!(b, b',' | b'+')).count());
        if self.input.trim().is_empty() {
            return Ok(Dn::default());
        }
        // Escaping at most triples a byte (as a backslash and two hex digits), and the text
        // must fit the spans.
        if self.input.len() > AvaSpan::MAX_TEXT / 4 {
            return self.fail("too long");
        }
        let mut plus = false;
        loop {
            if !avas.is_empty() {
                self.text.push(if plus { '+' } else { ',' });
            }
            avas.push(self.ava(plus)?);
            match self.peek() {
                None => return Ok(Dn { text: self.text.into(), avas: avas.into() }),
                Some(b',') => plus = false,
                Some(b'+') => plus = true,
                Some(_) => return self.fail("expected ',' between RDNs"),
            }
            self.pos += 1;
        }
    }

    fn ava(&mut self, plus: bool) -> Result<AvaSpan, DnError> {
        self.skip_spaces();
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
            self.pos += 1;
        }
        if self.pos == start {
            return self.fail("expected an attribute type");
        }
        let attr = &self.input[start..self.pos];
        if !attr.as_bytes()[0].is_ascii_alphabetic() && !attr.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return self.fail("attribute type must be a name or a numeric OID");
        }
        self.text.push_str(attr);
        let eq = self.text.len();
        self.text.push('=');
        self.skip_spaces();
        if self.peek() != Some(b'=') {
            return self.fail("expected '=' after the attribute type");
        }
        self.pos += 1;
        self.skip_spaces();
        if self.peek() == Some(b'#') {
            self.hex_value()?;
        } else {
            self.string_value()?;
        }
        Ok(AvaSpan::new(eq, self.text.len(), plus))
    }

    /// `#` followed by the hex of a BER value; kept as written, since only its bytes are known.
    fn hex_value(&mut self) -> Result<(), DnError> {
        let start = self.pos;
        self.pos += 1;
        while self.peek().is_some_and(|b| b.is_ascii_hexdigit()) {
            self.pos += 1;
        }
        let digits = self.pos - start - 1;
        if digits == 0 || !digits.is_multiple_of(2) {
            return self.fail("a '#' value needs an even number of hex digits");
        }
        self.text.push_str(&self.input[start..self.pos]);
        self.skip_spaces();
        Ok(())
    }

    /// The common case, a value with nothing to unescape, trim or escape, copied as written:
    /// true if it was one. (A snapshot of a million users parses millions of DNs.)
    fn plain_value(&mut self) -> bool {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let mut end = 0;
        while let Some(&b) = rest.get(end) {
            match b {
                b',' | b'+' => break,
                // Everything `string_value` unescapes or rejects and `push_escaped` escapes
                // (`#` only leads a value, and a leading `#` is a hex value).
                b'\\' | b'"' | b';' | b'<' | b'>' | b'=' | 0x00..=0x1F | 0x7F => return false,
                // U+0080 to U+009F, control characters `push_escaped` writes as hex.
                0xC2 if rest.get(end + 1).is_some_and(|n| (0x80..=0x9F).contains(n)) => return false,
                _ => end += 1,
            }
        }
        if end == 0 || rest.get(end - 1) == Some(&b' ') {
            return false;
        }
        // The value ends before an ASCII separator or at the end: a character boundary.
        match self.input.get(self.pos..self.pos + end) {
            Some(value) => {
                self.text.push_str(value);
                self.pos += end;
                true
            }
            None => false,
        }
    }

    fn string_value(&mut self) -> Result<(), DnError> {
        if !self.slow_only && self.plain_value() {
            return Ok(());
        }
        self.scratch.clear();
        // Length of `scratch` up to the last byte that must be kept (escaped or non-space).
        let mut keep = 0;
        while let Some(b) = self.peek() {
            match b {
                b',' | b'+' => break,
                b'\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some(h) if h.is_ascii_hexdigit() => {
                            let pair = self.bytes.get(self.pos..self.pos + 2);
                            let byte = pair
                                .and_then(|p| std::str::from_utf8(p).ok())
                                .and_then(|p| u8::from_str_radix(p, 16).ok());
                            match byte {
                                Some(byte) => self.scratch.push(byte),
                                None => {
                                    return self.fail("'\\' must be followed by two hex digits or a special character");
                                }
                            }
                            self.pos += 2;
                        }
                        Some(c @ (b' ' | b'"' | b'#' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | b'\\')) => {
                            self.scratch.push(c);
                            self.pos += 1;
                        }
                        _ => return self.fail("'\\' must be followed by two hex digits or a special character"),
                    }
                    keep = self.scratch.len();
                }
                b'"' | b';' | b'<' | b'>' | b'\0' => return self.fail("unescaped special character in a value"),
                b' ' => {
                    self.scratch.push(b' ');
                    self.pos += 1;
                }
                _ => {
                    self.scratch.push(b);
                    self.pos += 1;
                    keep = self.scratch.len();
                }
            }
        }
        self.scratch.truncate(keep);
        match std::str::from_utf8(&self.scratch) {
            Ok(value) => {
                push_escaped(&mut self.text, value);
                Ok(())
            }
            Err(_) => self.fail("value is not valid UTF-8"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escaped_comma_and_swedish_letters() {
        let dn = Dn::parse(r"CN=Öberg\, Åsa,OU=Socialförvaltningen,DC=bjuv,DC=test").unwrap();
        assert_eq!(dn.depth(), 4);
        assert_eq!(dn.leaf_value().as_deref(), Some("Öberg, Åsa"));
        assert_eq!(dn.ou_path(), vec!["Socialförvaltningen"]);
        assert_eq!(dn.to_string(), r"CN=Öberg\, Åsa,OU=Socialförvaltningen,DC=bjuv,DC=test");
    }

    #[test]
    fn hex_escapes_are_utf8_bytes() {
        let dn = Dn::parse(r"CN=\C3\96berg,DC=x").unwrap();
        assert_eq!(dn.leaf_value().as_deref(), Some("Öberg"));
    }

    #[test]
    fn plus_quotes_and_multi_valued_rdn() {
        let dn = Dn::parse(r#"CN=a\+b \"c\"+UID=7,OU=x\\y,DC=z"#).unwrap();
        assert_eq!(dn.depth(), 3);
        assert_eq!(dn.leaf_value().as_deref(), Some(r#"a+b "c""#));
        assert_eq!(dn.to_string(), r#"CN=a\+b \"c\"+UID=7,OU=x\\y,DC=z"#);
        assert_eq!(dn.parent().leaf_value().as_deref(), Some(r"x\y"));
        assert_eq!(dn.parent().parent().to_string(), "DC=z");
    }

    #[test]
    fn spaces_after_separators_and_escaped_edges() {
        let dn = Dn::parse(r"CN=\ lead and trail\ , OU=Users").unwrap();
        assert_eq!(dn.leaf_value().as_deref(), Some(" lead and trail "));
        assert_eq!(dn.to_string(), r"CN=\ lead and trail\ ,OU=Users");
    }

    #[test]
    fn every_escaping_gives_one_canonical_form() {
        let canonical = Dn::parse(r"CN=Öberg\, Åsa,DC=x").unwrap();
        for other in [r"CN=\C3\96berg\2C Åsa,DC=x", r"cn = Öberg\, Åsa , DC=x", r"CN=\C3\96berg\, \C3\85sa,DC=x"] {
            let dn = Dn::parse(other).unwrap();
            assert_eq!(dn, canonical, "{other}");
            assert_eq!(dn.key(), canonical.key());
        }
        assert_eq!(Dn::parse(r"CN=\C3\96berg\2C Åsa,DC=x").unwrap().to_string(), r"CN=Öberg\, Åsa,DC=x");
    }

    #[test]
    fn comparison_ignores_case() {
        let a = Dn::parse("CN=Åsa,OU=IT,DC=Bjuv").unwrap();
        let b = Dn::parse("cn=åsa,ou=it,dc=bjuv").unwrap();
        assert_eq!(a, b);
        assert!(a.is_within(&Dn::parse("dc=BJUV").unwrap()));
        assert!(!a.is_within(&Dn::parse("ou=HR,dc=bjuv").unwrap()));
    }

    /// Found by fuzzing (fuzz/corpus/dn/final-sigma): `key` lowered with the final-sigma rule
    /// of `str::to_lowercase` while `==` and `Hash` lower character by character, so two equal
    /// DNs had different keys.
    #[test]
    fn equal_dns_have_equal_keys() {
        let upper = Dn::parse("CN=ΑΣ,OU=Σ Σ,DC=x").unwrap();
        let lower = Dn::parse("cn=ασ,ou=σ σ,dc=x").unwrap();
        assert_eq!(upper, lower);
        assert_eq!(upper.key(), lower.key());
        assert_eq!(upper.key(), "cn=ασ,ou=σ σ,dc=x");
    }

    /// Equal DNs hash alike whatever their case and length: the hash feeds its hasher in
    /// blocks, and a block boundary must fall in the same place for both.
    #[test]
    fn equal_dns_hash_alike() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hash = |dn: &Dn| BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(dn);
        let long = format!("CN=Öberg\\, Åsa İ ẞ {},OU=Socialförvaltningen,DC=Bjuv", "Ä".repeat(70));
        for (a, b) in [
            ("CN=Åsa,OU=IT,DC=Bjuv", "cn=åsa,ou=it,dc=bjuv"),
            ("CN=ΑΣ,OU=Σ Σ,DC=x", "cn=ασ,ou=σ σ,dc=x"),
            (long.as_str(), long.to_lowercase().as_str()),
            (&"CN=A".repeat(40), &"cn=a".repeat(40)),
        ] {
            let (a, b) = (Dn::parse(a).unwrap(), Dn::parse(b).unwrap());
            assert_eq!(a, b);
            assert_eq!(hash(&a), hash(&b), "{a}");
        }
        // An ASCII DN (hashed a block at a time) and an equal one that is not (hashed a
        // character at a time: the Kelvin sign lowers to `k`), at every length around the
        // block boundaries.
        for n in 0..200 {
            let (ascii, kelvin) = (format!("cn=k{},dc=x", "a".repeat(n)), format!("CN=\u{212A}{},DC=X", "A".repeat(n)));
            let (a, b) = (Dn::parse(&ascii).unwrap(), Dn::parse(&kelvin).unwrap());
            assert_eq!(a, b);
            assert_eq!(hash(&a), hash(&b), "{a}");
        }
        assert_ne!(hash(&Dn::parse("CN=a,DC=x").unwrap()), hash(&Dn::parse("CN=b,DC=x").unwrap()));
    }

    /// A hasher that keeps what it is fed, call by call.
    #[derive(Default)]
    struct Recorder(Vec<Vec<u8>>);

    impl std::hash::Hasher for Recorder {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.push(bytes.to_vec());
        }
    }

    proptest! {
        /// Hashing lowers ASCII runs in bulk but feeds the hasher exactly the calls that
        /// lowering and buffering one character at a time makes (the blocks equal DNs share).
        #[test]
        fn hashing_feeds_the_blocks_of_one_character_at_a_time(value in "[a-zA-Z0-9åäöÅÄÖİẞΣσ\u{212A}ǅ. -]{0,200}") {
            let Ok(dn) = Dn::parse(&format!("CN={value},OU=Socialförvaltningen,DC=x")) else { return Ok(()) };
            let mut fed = Recorder::default();
            std::hash::Hash::hash(&dn, &mut fed);
            let mut reference = Recorder::default();
            let (mut buf, mut len) = ([0u8; 64], 0);
            for c in dn.as_str().chars().flat_map(char::to_lowercase) {
                if len + 4 > 64 {
                    std::hash::Hasher::write(&mut reference, &buf[..len]);
                    len = 0;
                }
                len += c.encode_utf8(&mut buf[len..]).len();
            }
            std::hash::Hasher::write(&mut reference, &buf[..len]);
            prop_assert_eq!(fed.0, reference.0);
        }
    }

    /// The ASCII fast path of `key` lowers exactly as lowering every character does.
    #[test]
    fn keys_lower_every_character_whatever_the_mix() {
        for text in [
            "CN=Öberg\\, Åsa,OU=Socialförvaltningen,DC=Bjuv",
            "CN=ΑΣ,OU=İstanbul,DC=X",
            "CN=ÅÄÖ,DC=X",
            "CN=x,DC=Y",
            "CN=\\#ẞ,DC=ǅ",
        ] {
            let dn = Dn::parse(text).unwrap();
            let expected: String = dn.as_str().chars().flat_map(char::to_lowercase).collect();
            assert_eq!(dn.key(), expected, "{text}");
        }
    }

    #[test]
    fn bad_input_names_the_offset() {
        for (bad, offset) in [("CN=a,", 5), ("=a", 0), ("CN=a\\", 5), ("CN=a;b", 4), ("CN=#abc", 7), ("CN=\\G1", 4)] {
            let err = Dn::parse(bad).unwrap_err();
            assert_eq!(err.offset, offset, "{bad}: {err}");
        }
    }

    #[test]
    fn root_dn_is_empty() {
        assert!(Dn::parse("").unwrap().is_root());
    }

    proptest! {
        #[test]
        fn any_value_round_trips(value in "\\PC{0,20}", ou in "[a-zåäö ,+#=\"]{1,10}") {
            let dn = Dn::default().child("DC", "test").child("OU", &ou).child("CN", &value);
            let again = Dn::parse(&dn.to_string()).unwrap();
            let leaf = again.leaf_value();
            prop_assert_eq!(leaf.as_deref(), Some(value.as_str()));
            prop_assert_eq!(&again, &dn);
            prop_assert_eq!(again.parent().parent(), Dn::parse("DC=test").unwrap());
            prop_assert_eq!(again.ou_path(), vec![ou.as_str()]);
        }

        /// The shortcut for plain values gives exactly what the full parser gives, or the same error.
        #[test]
        fn the_plain_value_shortcut_changes_nothing(
            s in "(CN|OU|DC|cn) ?= ?([a-zÅö ,+#=;<>\"\\\\\u{0}\u{85}]|\\\\[0-9A-F]{2}|\\\\,){0,8}(,(OU|DC)=[a-zå \\\\,+=]{0,6}){0,3}"
        ) {
            let slow = Parser::new(&s, true).dn().map(|dn| (dn.text.clone(), dn.avas.clone()));
            let fast = Dn::parse(&s).map(|dn| (dn.text.clone(), dn.avas.clone()));
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = Dn::parse(&s);
        }
    }
}
