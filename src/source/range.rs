//! Ranged retrieval of multi-valued attributes, as Active Directory does it.
//!
//! AD never returns more than MaxValRange (1,500 by default) values of one attribute in one
//! entry. A group of 5,000 members comes back as `member;range=0-1499` even when the client
//! asked for plain `member`; the client must ask again for `member;range=1500-*`, receive
//! `member;range=1500-2999`, and so on until a reply's range ends in `*`. A reader that
//! ignores this sees 1,500 members and silently loses the rest: the worst kind of bug for a
//! migration. This module holds the pure part: recognising range options and deciding the
//! next request.

/// A parsed `attr;range=low-high` attribute description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangedAttr {
    /// The attribute name without the range option (`member`).
    pub name: String,
    pub low: u32,
    /// `None` for `*`: this reply holds the last values.
    pub high: Option<u32>,
}

impl RangedAttr {
    /// The description to ask for next (`member;range=1500-*`), or `None` when complete. A
    /// range ending at `u32::MAX` is complete too: no range option can ask for values after it.
    pub fn next_request(&self) -> Option<String> {
        self.high.and_then(|h| h.checked_add(1)).map(|next| format!("{};range={next}-*", self.name))
    }
}

/// A range option that does not parse; names the whole attribute description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{description:?} has a malformed range option")]
pub struct MalformedRange {
    pub description: String,
}

/// Parses `name;range=low-high` (options in any case, other options kept in the name).
/// Returns `Ok(None)` for descriptions without a range option, and an error for a range
/// option that does not parse.
pub fn parse(description: &str) -> Result<Option<RangedAttr>, MalformedRange> {
    let mut name_parts = Vec::new();
    let mut range = None;
    for part in description.split(';') {
        match part.get(..6) {
            Some(prefix) if prefix.eq_ignore_ascii_case("range=") => range = Some(&part[6..]),
            _ => name_parts.push(part),
        }
    }
    let Some(range) = range else { return Ok(None) };
    let bad = || MalformedRange { description: description.to_string() };
    let (low, high) = range.split_once('-').ok_or_else(bad)?;
    let low: u32 = low.parse().map_err(|_| bad())?;
    let high = match high {
        "*" => None,
        h => {
            let h: u32 = h.parse().map_err(|_| bad())?;
            if h < low {
                return Err(bad());
            }
            Some(h)
        }
    };
    Ok(Some(RangedAttr { name: name_parts.join(";"), low, high }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ad_style_ranges() {
        let first = parse("member;range=0-1499").unwrap().unwrap();
        assert_eq!(first, RangedAttr { name: "member".into(), low: 0, high: Some(1499) });
        assert_eq!(first.next_request().as_deref(), Some("member;range=1500-*"));
        let last = parse("member;Range=4500-*").unwrap().unwrap();
        assert_eq!(last.high, None);
        assert_eq!(last.next_request(), None);
        assert_eq!(parse("member").unwrap(), None);
        assert_eq!(parse("userCertificate;binary").unwrap(), None);
        assert_eq!(parse("userCertificate;binary;range=0-9").unwrap().unwrap().name, "userCertificate;binary");
    }

    /// Found by fuzzing (fuzz/corpus/ranged_attribute/range-ends-at-u32-max): a range ending at
    /// `u32::MAX` asked next for `range=4294967296-*`, a request this module itself refuses.
    #[test]
    fn a_range_ending_at_u32_max_is_complete() {
        let last = parse("member;range=0-4294967295").unwrap().unwrap();
        assert_eq!(last.high, Some(u32::MAX));
        assert_eq!(last.next_request(), None);
        let before = parse("member;range=0-4294967294").unwrap().unwrap();
        let next = before.next_request().unwrap();
        assert_eq!(parse(&next).unwrap().unwrap(), RangedAttr { name: "member".into(), low: u32::MAX, high: None });
    }

    #[test]
    fn malformed_ranges_are_errors() {
        for bad in ["member;range=", "member;range=5", "member;range=a-b", "member;range=9-3", "member;range=-1-*"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("member;range=9-3").unwrap_err().to_string(),
            "\"member;range=9-3\" has a malformed range option"
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in "[a-zA-Z;=*0-9-]{0,30}") {
            let _ = parse(&s);
        }
    }
}
