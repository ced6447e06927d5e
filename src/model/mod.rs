//! The typed, pure domain: what a directory object *is*, independent of where it was read.
//!
//! Sources (LDAP, LDIF) hand over [`RawEntry`] values, a DN and attribute values as bytes,
//! exactly as the server or export had them. One pure function, [`convert::convert`], turns a
//! raw entry into a [`DirectoryObject`] with typed identifiers (GUID, SID), flags and times.
//! Keeping that step pure means it is tested against recorded fixtures and behaves the same
//! for a live Active Directory, a Samba DC, slapd and an `ldifde` export.

pub mod convert;
pub mod dn;
pub mod ids;
pub mod object;
pub mod personnummer;
pub mod stopwatch;
pub mod time;
pub mod uac;

pub use dn::Dn;
pub use ids::{ObjectGuid, Sid};
pub use object::{DirectoryObject, ObjectKind};

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
