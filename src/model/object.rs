//! A directory object as samla sees it after reading: one struct for users, groups, contacts
//! and OUs, with every attribute later stages need, typed. Serialised with Active Directory's
//! own attribute names so a snapshot reads like the directory it came from.

use super::time::AdTime;
use super::uac::{GroupType, UserAccountControl};
use super::{Dn, ObjectGuid, Sid};
use serde::{Deserialize, Serialize};

/// What kind of object an entry is, from its `objectClass` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    OrganizationalUnit,
    User,
    Contact,
    Group,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 4] =
        [ObjectKind::OrganizationalUnit, ObjectKind::User, ObjectKind::Contact, ObjectKind::Group];

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::OrganizationalUnit => "ou",
            ObjectKind::User => "user",
            ObjectKind::Contact => "contact",
            ObjectKind::Group => "group",
        }
    }
}

/// One user, group, contact or OU, read from a municipality's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryObject {
    pub kind: ObjectKind,
    #[serde(rename = "distinguishedName")]
    pub dn: Dn,
    #[serde(rename = "objectGUID")]
    pub guid: ObjectGuid,
    #[serde(rename = "objectSid", default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Sid>,
    #[serde(rename = "sAMAccountName", default, skip_serializing_if = "Option::is_none")]
    pub sam_account_name: Option<String>,
    #[serde(rename = "userPrincipalName", default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(rename = "cn", default, skip_serializing_if = "Option::is_none")]
    pub cn: Option<String>,
    #[serde(rename = "givenName", default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(rename = "sn", default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(rename = "displayName", default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(rename = "mail", default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// Empty when read [`for_mapping`], like `memberOf`, `pwdLastSet` and `whenChanged`.
    #[serde(
        rename = "proxyAddresses",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "unless_mapping"
    )]
    pub proxy_addresses: Vec<String>,
    #[serde(rename = "department", default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(rename = "company", default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(rename = "title", default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(rename = "description", default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "employeeID", default, skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<String>,
    #[serde(rename = "employeeNumber", default, skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<String>,
    #[serde(rename = "manager", default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<Dn>,
    #[serde(rename = "memberOf", default, skip_serializing_if = "Vec::is_empty", deserialize_with = "unless_mapping")]
    pub member_of: Vec<Dn>,
    #[serde(rename = "member", default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Dn>,
    #[serde(rename = "userAccountControl", default, skip_serializing_if = "Option::is_none")]
    pub user_account_control: Option<UserAccountControl>,
    #[serde(rename = "accountExpires", default, skip_serializing_if = "Option::is_none")]
    pub account_expires: Option<AdTime>,
    #[serde(rename = "lastLogonTimestamp", default, skip_serializing_if = "Option::is_none")]
    pub last_logon_timestamp: Option<AdTime>,
    #[serde(
        rename = "pwdLastSet",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "unless_mapping"
    )]
    pub pwd_last_set: Option<AdTime>,
    #[serde(rename = "whenCreated", default, skip_serializing_if = "Option::is_none")]
    pub when_created: Option<AdTime>,
    #[serde(
        rename = "whenChanged",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "unless_mapping"
    )]
    pub when_changed: Option<AdTime>,
    #[serde(rename = "groupType", default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<GroupType>,
    #[serde(rename = "isCriticalSystemObject", default, skip_serializing_if = "std::ops::Not::not")]
    pub critical_system_object: bool,
    /// `extensionAttribute1` to `extensionAttribute15`, keyed by their number.
    #[serde(rename = "extensionAttributes", default, skip_serializing_if = "ExtensionAttributes::is_empty")]
    pub extension_attributes: ExtensionAttributes,
}

impl DirectoryObject {
    /// An object with only its identity set; the converter fills in the rest.
    pub fn new(kind: ObjectKind, dn: Dn, guid: ObjectGuid) -> DirectoryObject {
        DirectoryObject {
            kind,
            dn,
            guid,
            sid: None,
            sam_account_name: None,
            user_principal_name: None,
            cn: None,
            given_name: None,
            surname: None,
            display_name: None,
            mail: None,
            proxy_addresses: Vec::new(),
            department: None,
            company: None,
            title: None,
            description: None,
            employee_id: None,
            employee_number: None,
            manager: None,
            member_of: Vec::new(),
            members: Vec::new(),
            user_account_control: None,
            account_expires: None,
            last_logon_timestamp: None,
            pwd_last_set: None,
            when_created: None,
            when_changed: None,
            group_type: None,
            critical_system_object: false,
            extension_attributes: ExtensionAttributes::default(),
        }
    }

    /// True for the groups and accounts AD creates itself (Administrators, Domain Users,
    /// krbtgt ...): they are read, so the snapshot is faithful, but never migrated.
    pub fn is_builtin(&self) -> bool {
        self.critical_system_object
            || self.sid.as_ref().is_some_and(Sid::is_builtin_domain)
            || self.group_type.and_then(GroupType::scope) == Some(super::uac::GroupScope::Builtin)
    }
}

thread_local! {
    static FOR_MAPPING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `read` with the attributes mapping never reads left empty in every object
/// deserialised on this thread meanwhile: `memberOf` (mapping reads membership from the
/// groups' `member` lists), `proxyAddresses` (no flow, scope rule or match key takes it; see
/// [`crate::mapping::spec::SOURCE_ATTRIBUTES`]), `pwdLastSet` and `whenChanged`. A user's
/// `memberOf` DNs are half of all the DNs in a snapshot, and parsing them only to drop them
/// was a sixth of loading a million users; the addresses were 150 MB of it.
pub fn for_mapping<T>(read: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            FOR_MAPPING.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(FOR_MAPPING.with(|s| s.replace(true)));
    read()
}

fn unless_mapping<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    if FOR_MAPPING.with(std::cell::Cell::get) {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| T::default())
    } else {
        T::deserialize(deserializer)
    }
}

/// `extensionAttribute1` to `extensionAttribute15` by number, in number order: a sorted
/// vector, since an object has a few at most. (A `BTreeMap` allocates a node of eleven
/// slots for the first: a quarter of a gigabyte in a million-user snapshot held for mapping.)
/// Written as a JSON object, `{"1": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionAttributes(Vec<(u8, String)>);

impl ExtensionAttributes {
    pub fn get(&self, n: &u8) -> Option<&String> {
        self.0.binary_search_by_key(n, |(k, _)| *k).ok().and_then(|i| self.0.get(i)).map(|(_, v)| v)
    }

    /// Sets attribute `n`, replacing an earlier value.
    pub fn insert(&mut self, n: u8, value: String) {
        match self.0.binary_search_by_key(&n, |(k, _)| *k) {
            Ok(i) => {
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.0.insert(i, (n, value)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for ExtensionAttributes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for ExtensionAttributes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Numbered;
        impl<'de> serde::de::Visitor<'de> for Numbered {
            type Value = ExtensionAttributes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("extension attributes by number")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = ExtensionAttributes::default();
                while let Some((n, value)) = map.next_entry::<u8, String>()? {
                    out.insert(n, value);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(Numbered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmapped_attributes_are_skipped_only_for_mapping() {
        let mut user = DirectoryObject::new(
            ObjectKind::User,
            Dn::parse("CN=a,DC=x").unwrap(),
            ObjectGuid::from_ad_bytes(&[1; 16]).unwrap(),
        );
        user.member_of = vec![Dn::parse("CN=g,DC=x").unwrap()];
        user.proxy_addresses = vec!["SMTP:a@x.se".into()];
        user.pwd_last_set = Some(AdTime::NEVER);
        user.when_changed = user.pwd_last_set;
        user.cn = Some("a".into());
        user.last_logon_timestamp = user.pwd_last_set;
        let json = serde_json::to_string(&user).unwrap();
        let read = || serde_json::from_str::<DirectoryObject>(&json).unwrap();
        let skipped = for_mapping(read);
        assert!(skipped.member_of.is_empty() && skipped.proxy_addresses.is_empty());
        assert_eq!((skipped.pwd_last_set, skipped.when_changed), (None, None));
        assert_eq!(skipped.cn.as_deref(), Some("a"), "the fields mapping reads are still read");
        assert_eq!(skipped.last_logon_timestamp, user.last_logon_timestamp);
        assert_eq!(read(), user, "read in full again afterwards");
    }

    #[test]
    fn extension_attributes_keep_number_order_and_their_json_form() {
        let mut e = ExtensionAttributes::default();
        e.insert(12, "twelve".into());
        e.insert(1, "one".into());
        e.insert(12, "tolv".into());
        assert_eq!(e.get(&12).map(String::as_str), Some("tolv"));
        assert_eq!(e.get(&2), None);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#"{"1":"one","12":"tolv"}"#);
        assert_eq!(serde_json::from_str::<ExtensionAttributes>(&json).unwrap(), e);
        assert!(serde_json::from_str::<ExtensionAttributes>(r#"{"x":"y"}"#).is_err());
    }
}
