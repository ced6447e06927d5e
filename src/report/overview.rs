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
