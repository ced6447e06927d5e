//! What a snapshot holds, in the terms an IT team asks about first: how many accounts,
//! how many disabled or long unused, which administrations, the biggest group, the
//! built-in objects that will not be migrated, and values that look like personnummer.

use crate::model::personnummer::looks_like_personnummer;
use crate::model::{DirectoryObject, ObjectKind};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Counts and highlights of one municipality's snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Overview {
    pub users: usize,
    pub disabled: usize,
    /// Enabled accounts without a logon in the last 365 days.
    pub unused_365_days: usize,
    pub groups: usize,
    pub builtin: usize,
    pub nested_groups: usize,
    pub contacts: usize,
    pub ous: usize,
    pub largest_group: Option<(String, usize)>,
    /// Users per top-level OU (administration).
    pub by_administration: BTreeMap<String, usize>,
    pub non_ascii_names: usize,
    pub personnummer_values: usize,
}

impl Overview {
    pub fn of(objects: &[DirectoryObject]) -> Overview {
        Self::at(objects, Utc::now())
    }

    /// The overview as of `now` (pure, for tests).
    pub fn at(objects: &[DirectoryObject], now: DateTime<Utc>) -> Overview {
        let mut o = Overview::default();
        let group_dns: std::collections::HashSet<String> =
            objects.iter().filter(|x| x.kind == ObjectKind::Group).map(|g| g.dn.key()).collect();
        for obj in objects {
            if obj.is_builtin() {
                o.builtin += 1;
            }
            match obj.kind {
                ObjectKind::User => {
                    o.users += 1;
                    let disabled = obj.user_account_control.is_some_and(|u| u.is_disabled());
                    if disabled {
                        o.disabled += 1;
                    } else if obj
                        .last_logon_timestamp
                        .and_then(|t| t.at())
                        .is_none_or(|t| now - t > Duration::days(365))
                    {
                        o.unused_365_days += 1;
                    }
                    let admin = obj.dn.ou_path().first().map_or("(no OU)".to_string(), |s| s.to_string());
                    *o.by_administration.entry(admin).or_default() += 1;
                    let name = obj.display_name.as_deref().unwrap_or_default();
                    if !name.is_ascii() {
                        o.non_ascii_names += 1;
                    }
                    if obj.employee_number.as_deref().is_some_and(looks_like_personnummer) {
                        o.personnummer_values += 1;
                    }
                }
                ObjectKind::Group => {
                    o.groups += 1;
                    if obj.members.iter().any(|m| group_dns.contains(&m.key())) {
                        o.nested_groups += 1;
                    }
                    let size = obj.members.len();
                    if o.largest_group.as_ref().is_none_or(|(_, s)| size > *s) {
                        let name = obj.dn.leaf_value().unwrap_or_default().to_string();
                        o.largest_group = Some((name, size));
                    }
                }
                ObjectKind::Contact => o.contacts += 1,
                ObjectKind::OrganizationalUnit => o.ous += 1,
            }
        }
        o
    }

    /// A few lines for the terminal.
    pub fn render(&self, municipality: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{municipality}: {} users ({} disabled, {} enabled but unused for a year), {} groups ({} nested), {} contacts, {} OUs",
            self.users, self.disabled, self.unused_365_days, self.groups, self.nested_groups, self.contacts, self.ous
        );
        if let Some((name, size)) = &self.largest_group {
            let _ = writeln!(s, "  largest group: {name} ({size} members)");
        }
        let admins: Vec<String> = self.by_administration.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(s, "  users by administration: {}", admins.join(", "));
        let _ = write!(
            s,
            "  built-in objects (never migrated): {}; names beyond ASCII: {}",
            self.builtin, self.non_ascii_names
        );
        if self.personnummer_values > 0 {
            let _ = write!(
                s,
                "\n  {} employeeNumber values look like personnummer: they stay on-premises",
                self.personnummer_values
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time::AdTime;
    use crate::model::uac::UserAccountControl;
    use crate::model::{Dn, ObjectGuid};

    fn obj(kind: ObjectKind, dn: &str, n: u8) -> DirectoryObject {
        DirectoryObject::new(kind, Dn::parse(dn).unwrap(), ObjectGuid::from_ad_bytes(&[n; 16]).unwrap())
    }

    #[test]
    fn counts_and_highlights() {
        let now = AdTime::from_generalized("20261101000000.0Z").unwrap().at().unwrap();
        let mut active = obj(ObjectKind::User, "CN=Åsa,OU=Hemtjänst,OU=Socialförvaltningen,DC=bjuv", 1);
        active.display_name = Some("Åsa Öberg".into());
        active.last_logon_timestamp = AdTime::from_generalized("20261020000000.0Z").ok();
        active.employee_number = Some("19811218-9876".into());
        let mut stale = obj(ObjectKind::User, "CN=svc-x,OU=Servicekonton,DC=bjuv", 2);
        stale.last_logon_timestamp = Some(AdTime::NEVER);
        let mut off = obj(ObjectKind::User, "CN=Old,OU=Socialförvaltningen,DC=bjuv", 3);
        off.user_account_control = Some(UserAccountControl(514));
        let mut inner = obj(ObjectKind::Group, "CN=Inner,DC=bjuv", 4);
        inner.members = vec![active.dn.clone()];
        let mut outer = obj(ObjectKind::Group, "CN=Outer,DC=bjuv", 5);
        outer.members = vec![inner.dn.clone(), stale.dn.clone()];
        let o = Overview::at(
            &[active, stale, off, inner, outer, obj(ObjectKind::OrganizationalUnit, "OU=IT,DC=bjuv", 6)],
            now,
        );
        assert_eq!((o.users, o.disabled, o.unused_365_days, o.groups, o.nested_groups, o.ous), (3, 1, 1, 2, 1, 1));
        assert_eq!(o.largest_group, Some(("Outer".to_string(), 2)));
        assert_eq!(o.by_administration.get("Socialförvaltningen"), Some(&2));
        assert_eq!((o.non_ascii_names, o.personnummer_values), (1, 1));
        assert!(o.render("bjuv").contains("1 employeeNumber values look like personnummer"));
    }
}
