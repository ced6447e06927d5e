//! The typed, pure domain: what a directory object *is*, independent of where it was read.
//!
//! Sources (LDAP, LDIF) hand over [`RawEntry`] values, a DN and attribute values as bytes,
//! exactly as the server or export had them. One pure function, [`convert::convert`], turns a
//! raw entry into a [`DirectoryObject`] with typed identifiers (GUID, SID), flags and times.
//! Keeping that step pure means it is tested against recorded fixtures and behaves the same
//! for a live Active Directory, a Samba DC, slapd and an `ldifde` export.

pub mod attributes;
pub mod convert;
pub mod dn;
pub mod ids;
pub mod names;
pub mod object;
pub mod personnummer;
pub mod settings;
pub mod stopwatch;
pub mod time;
pub mod uac;
pub mod unified;

pub use dn::Dn;
pub use ids::{ObjectGuid, Sid};
pub use object::{DirectoryObject, ObjectKind};
pub use unified::AccountKind;

/// One entry as a source read it: the DN string and every attribute's values as raw bytes.
///
/// Attribute names keep their case as the source sent them but are looked up
/// case-insensitively; values stay bytes because `objectGUID` and `objectSid` are binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawEntry {
    pub dn: String,
    pub attrs: Vec<(String, Vec<Vec<u8>>)>,
}

impl RawEntry {
    pub fn new(dn: impl Into<String>) -> RawEntry {
        RawEntry { dn: dn.into(), attrs: Vec::new() }
    }

    /// All values of `name` (case-insensitive), merged when the attribute appears twice.
    pub fn values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.attrs
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.iter().map(Vec::as_slice))
    }

    /// Appends values to `name`, keeping the first spelling of the name.
    pub fn push(&mut self, name: &str, value: Vec<u8>) {
        match self.attrs.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, vals)) => vals.push(value),
            None => self.attrs.push((name.to_string(), vec![value])),
        }
    }
}

/// Deserialises a value written as a string by parsing the string where the deserializer
/// holds it. (serde's `String` and `Cow<str>` both copy it into a new `String` first: one
/// needless allocation per DN, GUID, SID and time, and a million users' snapshot holds millions.)
pub(crate) fn deserialize_parsed<'de, D, T, E>(
    d: D,
    expected: &'static str,
    parse: fn(&str) -> Result<T, E>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    E: std::fmt::Display,
{
    struct Parsed<T, E> {
        expected: &'static str,
        parse: fn(&str) -> Result<T, E>,
    }
    impl<T, E: std::fmt::Display> serde::de::Visitor<'_> for Parsed<T, E> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.expected)
        }
        fn visit_str<V: serde::de::Error>(self, s: &str) -> Result<T, V> {
            (self.parse)(s).map_err(V::custom)
        }
    }
    d.deserialize_str(Parsed { expected, parse })
}

#[cfg(test)]
mod tests {
    use super::{Dn, ObjectGuid};

    #[test]
    fn parsed_strings_read_borrowed_and_escaped_and_name_what_they_expected() {
        // Borrowed from the input, and through serde_json's buffer when escaped.
        let plain: Dn = serde_json::from_str(r#""CN=Åsa Öberg,DC=bjuv,DC=test""#).unwrap();
        let escaped: Dn = serde_json::from_str(r#""CN=\u00c5sa \u00d6berg,DC=bjuv,DC=test""#).unwrap();
        assert_eq!(plain, escaped);
        assert_eq!(plain.as_str(), "CN=Åsa Öberg,DC=bjuv,DC=test");
        let wrong_type = serde_json::from_str::<Dn>("5").unwrap_err().to_string();
        assert!(wrong_type.contains("expected a distinguished name"), "{wrong_type}");
        let bad_guid = serde_json::from_str::<ObjectGuid>(r#""not-a-guid""#).unwrap_err().to_string();
        assert!(bad_guid.contains("not-a-guid"), "{bad_guid}");
        let wrong_guid_type = serde_json::from_str::<ObjectGuid>("[]").unwrap_err().to_string();
        assert!(wrong_guid_type.contains("expected an objectGUID"), "{wrong_guid_type}");
    }
}
