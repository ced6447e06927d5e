//! Typed identifiers: the objectGUID and objectSid of an Active Directory object.
//!
//! Both arrive as binary attribute values. An objectGUID's 16 bytes are in Microsoft's
//! mixed-endian order (the first three fields little-endian, the last eight bytes as they
//! are), so `{c0ffee00-...}` as PowerShell shows it is not the hex of the raw bytes. Getting
//! this wrong silently breaks the anchor that later lets Entra Connect hard-match accounts,
//! which is why the conversion lives here, once, with tests pinned to values AD shows.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An object's GUID, stored in canonical field order (as `Get-ADUser` prints it). Ordered as
/// its bytes are (so as its text is).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectGuid([u8; 16]);

/// The bytes' order, compared as one big-endian number: the derived order calls `memcmp` for
/// every comparison, and mapping sorts millions of anchors (people, group members).
impl Ord for ObjectGuid {
    fn cmp(&self, other: &ObjectGuid) -> std::cmp::Ordering {
        u128::from_be_bytes(self.0).cmp(&u128::from_be_bytes(other.0))
    }
}

impl PartialOrd for ObjectGuid {
    fn partial_cmp(&self, other: &ObjectGuid) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a value is not a GUID or SID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("objectGUID must be 16 bytes, got {0}")]
    GuidLength(usize),
    #[error("{0:?} is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")]
    GuidText(String),
    #[error("objectSid is malformed: {0}")]
    Sid(&'static str),
    #[error("{0:?} is not a SID (expected S-1-5-21-...)")]
    SidText(String),
}

impl ObjectGuid {
    /// Decodes the 16 raw bytes of AD's `objectGUID` attribute.
    pub fn from_ad_bytes(bytes: &[u8]) -> Result<ObjectGuid, IdError> {
        let b: [u8; 16] = bytes.try_into().map_err(|_| IdError::GuidLength(bytes.len()))?;
        Ok(ObjectGuid([
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15],
        ]))
    }

    /// The bytes as AD stores them (inverse of [`ObjectGuid::from_ad_bytes`]).
    pub fn to_ad_bytes(self) -> [u8; 16] {
        let c = self.0;
        [c[3], c[2], c[1], c[0], c[5], c[4], c[7], c[6], c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15]]
    }

    /// Parses `c0ffee00-1234-5678-9abc-def012345678` (braces and case tolerated). Without
    /// allocating: loading a million-user snapshot parses a million of them.
    pub fn parse(text: &str) -> Result<ObjectGuid, IdError> {
        let bad = || IdError::GuidText(text.to_string());
        let t = text.trim().trim_start_matches('{').trim_end_matches('}').as_bytes();
        if t.len() != 36 || GUID_DASHES.iter().any(|&i| t[i] != b'-') {
            return Err(bad());
        }
        let mut digits = t.iter().enumerate().filter(|(i, _)| !GUID_DASHES.contains(i)).map(|(_, &c)| c);
        let mut out = [0u8; 16];
        for byte in &mut out {
            let (Some(high), Some(low)) = (digits.next().and_then(hex_value), digits.next().and_then(hex_value)) else {
                return Err(bad());
            };
            *byte = high << 4 | low;
        }
        Ok(ObjectGuid(out))
    }
}

/// Where the dashes of a GUID's text form are.
const GUID_DASHES: [usize; 4] = [8, 13, 18, 23];

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

impl fmt::Display for ObjectGuid {
    /// Written into a buffer on the stack: every stored person, member and affiliation
    /// prints GUIDs, millions of them when a large estate is mapped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b'-'; 36];
        let mut at = 0;
        for byte in self.0 {
            while GUID_DASHES.contains(&at) {
                at += 1;
            }
            text[at] = HEX[usize::from(byte >> 4)];
            text[at + 1] = HEX[usize::from(byte & 15)];
            at += 2;
        }
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for ObjectGuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectGuid({self})")
    }
}

/// A security identifier: revision, 48-bit authority and sub-authorities.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid {
    authority: u64,
    sub: Vec<u32>,
}

impl Sid {
    /// Decodes AD's binary `objectSid`: revision 1, count, 6-byte big-endian authority,
    /// then `count` little-endian 32-bit sub-authorities.
    pub fn from_ad_bytes(bytes: &[u8]) -> Result<Sid, IdError> {
        let (&rev, rest) = bytes.split_first().ok_or(IdError::Sid("empty"))?;
        if rev != 1 {
            return Err(IdError::Sid("revision is not 1"));
        }
        let (&count, rest) = rest.split_first().ok_or(IdError::Sid("too short"))?;
        if count > 15 {
            return Err(IdError::Sid("more than 15 sub-authorities"));
        }
        if rest.len() != 6 + 4 * count as usize {
            return Err(IdError::Sid("length does not match the sub-authority count"));
        }
        let authority = rest[..6].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let sub = rest[6..].chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok(Sid { authority, sub })
    }

    pub fn to_ad_bytes(&self) -> Vec<u8> {
        let mut out = vec![1, self.sub.len() as u8];
        out.extend_from_slice(&self.authority.to_be_bytes()[2..]);
        for s in &self.sub {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    /// Parses the `S-1-5-21-...` string form.
    pub fn parse(text: &str) -> Result<Sid, IdError> {
        let bad = || IdError::SidText(text.to_string());
        let mut parts = text.trim().split('-');
        if !parts.next().is_some_and(|s| s.eq_ignore_ascii_case("S")) || parts.next() != Some("1") {
            return Err(bad());
        }
        let authority: u64 = parts.next().and_then(|a| a.parse().ok()).filter(|a| *a < 1 << 48).ok_or_else(bad)?;
        let sub = parts.map(|p| p.parse::<u32>().map_err(|_| bad())).collect::<Result<Vec<_>, _>>()?;
        if sub.len() > 15 {
            return Err(bad());
        }
        Ok(Sid { authority, sub })
    }

    /// The relative identifier (last sub-authority): 500 is Administrator, 512 Domain Admins...
    pub fn rid(&self) -> Option<u32> {
        self.sub.last().copied()
    }

    /// True for `S-1-5-32-*`, the BUILTIN domain (Administrators, Users, ...).
    pub fn is_builtin_domain(&self) -> bool {
        self.authority == 5 && self.sub.first() == Some(&32)
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S-1-{}", self.authority)?;
        for s in &self.sub {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({self})")
    }
}

macro_rules! string_serde {
    ($t:ty, $expected:literal) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                super::deserialize_parsed(d, $expected, <$t>::parse)
            }
        }
    };
}
string_serde!(ObjectGuid, "an objectGUID");
string_serde!(Sid, "an objectSid");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn guids_are_ordered_as_their_bytes_and_text(a: [u8; 16], b: [u8; 16], shared in 0usize..16) {
            // Often equal in a leading run, where the order is decided late.
            let mut b = b;
            b[..shared].copy_from_slice(&a[..shared]);
            let (x, y) = (ObjectGuid(a), ObjectGuid(b));
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            prop_assert_eq!(x.cmp(&y), x.to_string().cmp(&y.to_string()));
        }
    }

    #[test]
    fn guid_uses_microsofts_mixed_endian_order() {
        // The bytes AD stores for the GUID PowerShell shows as 00112233-4455-6677-8899-aabbccddeeff.
        let raw = [0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];
        let guid = ObjectGuid::from_ad_bytes(&raw).unwrap();
        assert_eq!(guid.to_string(), "00112233-4455-6677-8899-aabbccddeeff");
        assert_eq!(guid.to_ad_bytes(), raw);
        assert_eq!(ObjectGuid::parse("{00112233-4455-6677-8899-AABBCCDDEEFF}").unwrap(), guid);
        assert_eq!(ObjectGuid::from_ad_bytes(&raw[..15]), Err(IdError::GuidLength(15)));
        for bad in [
            "",
            "00112233-4455-6677-8899-aabbccddeef",
            "00112233-4455-6677-8899-aabbccddeeffa",
            "001122334-455-6677-8899-aabbccddeeff",
            "00112233-4455-6677-8899-aabbccddeefg",
            "00112233-4455-6677-8899+aabbccddeeff",
            "00112233-4455-6677-8899-aabbccddeeé",
        ] {
            assert_eq!(ObjectGuid::parse(bad), Err(IdError::GuidText(bad.to_string())), "{bad:?}");
        }
    }

    #[test]
    fn sid_decodes_domain_and_builtin() {
        // S-1-5-21-1004336348-1177238915-682003330-512 (Domain Admins), as AD encodes it.
        let sid = Sid::parse("S-1-5-21-1004336348-1177238915-682003330-512").unwrap();
        let bytes = sid.to_ad_bytes();
        assert_eq!(&bytes[..8], &[1, 5, 0, 0, 0, 0, 0, 5]);
        assert_eq!(Sid::from_ad_bytes(&bytes).unwrap(), sid);
        assert_eq!(sid.rid(), Some(512));
        assert!(Sid::parse("S-1-5-32-544").unwrap().is_builtin_domain());
        assert!(Sid::from_ad_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(Sid::from_ad_bytes(&[]).is_err());
    }

    proptest! {
        #[test]
        fn guid_round_trips(raw in proptest::array::uniform16(any::<u8>())) {
            let g = ObjectGuid::from_ad_bytes(&raw).unwrap();
            prop_assert_eq!(ObjectGuid::parse(&g.to_string()).unwrap(), g);
            prop_assert_eq!(g.to_ad_bytes(), raw);
        }

        #[test]
        fn guid_text_is_read_only_in_its_one_form(text in "[{ ]?[0-9a-fA-F-]{30,40}[} ]?") {
            let t = text.trim().trim_start_matches('{').trim_end_matches('}');
            let lengths: Vec<usize> = t.split('-').map(str::len).collect();
            prop_assert_eq!(ObjectGuid::parse(&text).is_ok(), lengths == [8, 4, 4, 4, 12]);
        }

        #[test]
        fn sid_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(sid) = Sid::from_ad_bytes(&bytes) {
                prop_assert_eq!(sid.to_ad_bytes(), bytes);
            }
        }
    }
}
