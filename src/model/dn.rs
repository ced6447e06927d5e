//! Distinguished names, parsed per RFC 4514.
//!
//! A DN is not a comma-separated string: `CN=Öberg\, Åsa,OU=Socialförvaltningen,DC=bjuv,DC=test`
//! has three commas but four RDNs, values may hold escaped `+`, `"`, `\`, leading `#` or
//! spaces, and hex escapes such as `\C3\96` for UTF-8 bytes. Splitting on commas (the bug
//! lldap shipped) breaks exactly on the names Swedish municipalities have. This module parses
//! once, keeps the values unescaped, and writes them back in one canonical escaped form.
//!
//! Comparison is case-insensitive on attribute types and values, as Active Directory compares
//! DNs; [`Dn::key`] gives the normalised form used for lookups.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One `type=value` pair of an RDN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ava {
    /// The attribute type as written (`CN`, `ou`, `2.5.4.3`).
    pub attr: String,
    /// The value, unescaped.
    pub value: String,
}

/// A relative distinguished name: usually one AVA, several when joined by `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rdn {
    pub avas: Vec<Ava>,
}

/// A parsed distinguished name; `rdns[0]` is the leaf (most specific) RDN.
#[derive(Debug, Clone, Default)]
pub struct Dn {
    rdns: Vec<Rdn>,
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
        Parser { input, bytes: input.as_bytes(), pos: 0 }.dn()
    }

    /// Builds a DN from a leaf RDN and a parent.
    pub fn child(&self, attr: &str, value: &str) -> Dn {
        let mut rdns = Vec::with_capacity(self.rdns.len() + 1);
        rdns.push(Rdn { avas: vec![Ava { attr: attr.to_string(), value: value.to_string() }] });
        rdns.extend(self.rdns.iter().cloned());
        Dn { rdns }
    }

    pub fn rdns(&self) -> &[Rdn] {
        &self.rdns
    }

    pub fn is_root(&self) -> bool {
        self.rdns.is_empty()
    }

    /// The leaf RDN's first value (`Öberg, Åsa` for `CN=Öberg\, Åsa,OU=...`).
    pub fn leaf_value(&self) -> Option<&str> {
        self.rdns.first().and_then(|r| r.avas.first()).map(|a| a.value.as_str())
    }

    /// The DN one level up; the root's parent is the root.
    pub fn parent(&self) -> Dn {
        Dn { rdns: self.rdns.iter().skip(1).cloned().collect() }
    }

    /// True when `self` lies at or below `ancestor` (case-insensitive).
    pub fn is_within(&self, ancestor: &Dn) -> bool {
        let n = ancestor.rdns.len();
        self.rdns.len() >= n
            && self.rdns[self.rdns.len() - n..].iter().zip(&ancestor.rdns).all(|(a, b)| rdn_key(a) == rdn_key(b))
    }

    /// The values of the `OU` RDNs from the top of the tree down to the leaf's container:
    /// `CN=x,OU=Hemtjänst,OU=Socialförvaltningen,DC=bjuv` gives `[Socialförvaltningen, Hemtjänst]`.
    pub fn ou_path(&self) -> Vec<&str> {
        self.rdns
            .iter()
            .rev()
            .filter_map(|r| r.avas.first())
            .filter(|a| a.attr.eq_ignore_ascii_case("ou"))
            .map(|a| a.value.as_str())
            .collect()
    }

    /// The normalised comparison key: lower-case types and values, canonical escaping.
    pub fn key(&self) -> String {
        let mut out = String::new();
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&rdn_key(rdn));
        }
        out
    }
}

fn rdn_key(rdn: &Rdn) -> String {
    let mut parts: Vec<String> = rdn
        .avas
        .iter()
        .map(|a| format!("{}={}", a.attr.to_lowercase(), escape_value(&a.value.to_lowercase())))
        .collect();
    parts.sort();
    parts.join("+")
}

impl PartialEq for Dn {
    fn eq(&self, other: &Dn) -> bool {
        self.rdns.len() == other.rdns.len() && self.rdns.iter().zip(&other.rdns).all(|(a, b)| rdn_key(a) == rdn_key(b))
    }
}
impl Eq for Dn {}

impl std::hash::Hash for Dn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state)
    }
}

impl PartialOrd for Dn {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Dn {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// Escapes an attribute value for use in a DN string (RFC 4514 section 2.4).
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, ava) in rdn.avas.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                write!(f, "{}={}", ava.attr, escape_value(&ava.value))?;
            }
        }
        Ok(())
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
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dn, D::Error> {
        let s = String::deserialize(d)?;
        Dn::parse(&s).map_err(serde::de::Error::custom)
    }
}

struct Parser<'a> {
    input: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
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
        let mut rdns = Vec::new();
        if self.input.trim().is_empty() {
            return Ok(Dn { rdns });
        }
        loop {
            rdns.push(self.rdn()?);
            match self.peek() {
                None => return Ok(Dn { rdns }),
                Some(b',') => self.pos += 1,
                Some(_) => return self.fail("expected ',' between RDNs"),
            }
        }
    }

    fn rdn(&mut self) -> Result<Rdn, DnError> {
        let mut avas = vec![self.ava()?];
        while self.peek() == Some(b'+') {
            self.pos += 1;
            avas.push(self.ava()?);
        }
        Ok(Rdn { avas })
    }

    fn ava(&mut self) -> Result<Ava, DnError> {
        self.skip_spaces();
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' {
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos == start {
            return self.fail("expected an attribute type");
        }
        let attr = self.input[start..self.pos].to_string();
        if !attr.as_bytes()[0].is_ascii_alphabetic() && !attr.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return self.fail("attribute type must be a name or a numeric OID");
        }
        self.skip_spaces();
        if self.peek() != Some(b'=') {
            return self.fail("expected '=' after the attribute type");
        }
        self.pos += 1;
        self.skip_spaces();
        let value = if self.peek() == Some(b'#') { self.hex_value()? } else { self.string_value()? };
        Ok(Ava { attr, value })
    }

    /// `#` followed by the hex of a BER value; kept as written, since only its bytes are known.
    fn hex_value(&mut self) -> Result<String, DnError> {
        let start = self.pos;
        self.pos += 1;
        while self.peek().is_some_and(|b| b.is_ascii_hexdigit()) {
            self.pos += 1;
        }
        let digits = self.pos - start - 1;
        if digits == 0 || !digits.is_multiple_of(2) {
            return self.fail("a '#' value needs an even number of hex digits");
        }
        let value = self.input[start..self.pos].to_string();
        self.skip_spaces();
        Ok(value)
    }

    fn string_value(&mut self) -> Result<String, DnError> {
        let mut out: Vec<u8> = Vec::new();
        // Length of `out` up to the last byte that must be kept (escaped or non-space).
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
                                Some(byte) => out.push(byte),
                                None => {
                                    return self.fail("'\\' must be followed by two hex digits or a special character");
                                }
                            }
                            self.pos += 2;
                        }
                        Some(c @ (b' ' | b'"' | b'#' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return self.fail("'\\' must be followed by two hex digits or a special character"),
                    }
                    keep = out.len();
                }
                b'"' | b';' | b'<' | b'>' | b'\0' => return self.fail("unescaped special character in a value"),
                b' ' => {
                    out.push(b' ');
                    self.pos += 1;
                }
                _ => {
                    out.push(b);
                    self.pos += 1;
                    keep = out.len();
                }
            }
        }
        out.truncate(keep);
        match String::from_utf8(out) {
            Ok(s) => Ok(s),
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
        assert_eq!(dn.rdns().len(), 4);
        assert_eq!(dn.leaf_value(), Some("Öberg, Åsa"));
        assert_eq!(dn.ou_path(), vec!["Socialförvaltningen"]);
        assert_eq!(dn.to_string(), r"CN=Öberg\, Åsa,OU=Socialförvaltningen,DC=bjuv,DC=test");
    }

    #[test]
    fn hex_escapes_are_utf8_bytes() {
        let dn = Dn::parse(r"CN=\C3\96berg,DC=x").unwrap();
        assert_eq!(dn.leaf_value(), Some("Öberg"));
    }

    #[test]
    fn plus_quotes_and_multi_valued_rdn() {
        let dn = Dn::parse(r#"CN=a\+b \"c\"+UID=7,OU=x\\y,DC=z"#).unwrap();
        assert_eq!(dn.rdns()[0].avas.len(), 2);
        assert_eq!(dn.rdns()[0].avas[0].value, r#"a+b "c""#);
        assert_eq!(dn.rdns()[0].avas[1].value, "7");
        assert_eq!(dn.rdns()[1].avas[0].value, r"x\y");
    }

    #[test]
    fn spaces_after_separators_and_escaped_edges() {
        let dn = Dn::parse(r"CN=\ lead and trail\ , OU=Users").unwrap();
        assert_eq!(dn.leaf_value(), Some(" lead and trail "));
        assert_eq!(dn.to_string(), r"CN=\ lead and trail\ ,OU=Users");
    }

    #[test]
    fn comparison_ignores_case() {
        let a = Dn::parse("CN=Åsa,OU=IT,DC=Bjuv").unwrap();
        let b = Dn::parse("cn=åsa,ou=it,dc=bjuv").unwrap();
        assert_eq!(a, b);
        assert!(a.is_within(&Dn::parse("dc=BJUV").unwrap()));
        assert!(!a.is_within(&Dn::parse("ou=HR,dc=bjuv").unwrap()));
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
            prop_assert_eq!(again.leaf_value(), Some(value.as_str()));
            prop_assert_eq!(again.ou_path(), vec![ou.as_str()]);
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = Dn::parse(&s);
        }
    }
}
