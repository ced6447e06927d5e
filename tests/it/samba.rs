//! Discover against Samba AD DC: a real Active Directory implementation, one domain per
//! municipality on its own loopback address, read over LDAPS and StartTLS with its CA.

use crate::support::{IDS, Project, env, expected_estate};
use samla::model::{DirectoryObject, ObjectKind};
use std::collections::{BTreeMap, BTreeSet};

/// What the Samba flavour of the estate carries, as a comparable value: the server makes its
/// own GUIDs, SIDs, times and built-ins, so those are left out.
#[derive(Debug, PartialEq)]
struct Carried {
    kind: ObjectKind,
    sam: Option<String>,
    upn: Option<String>,
    names: (Option<String>, Option<String>, Option<String>),
    mail: Option<String>,
    proxies: BTreeSet<String>,
    work: (Option<String>, Option<String>, Option<String>),
    ids: (Option<String>, Option<String>),
    manager: Option<String>,
    members: BTreeSet<String>,
    member_of: BTreeSet<String>,
    disabled: Option<bool>,
}

fn carried(o: &DirectoryObject, builtin_dns: &BTreeSet<String>) -> Carried {
    let keys = |dns: &[samla::model::Dn]| dns.iter().map(|d| d.key()).filter(|k| !builtin_dns.contains(k)).collect();
    Carried {
        kind: o.kind,
        sam: o.sam_account_name.clone(),
        upn: o.user_principal_name.clone(),
        names: (o.given_name.clone(), o.surname.clone(), o.display_name.clone()),
        mail: o.mail.clone(),
        proxies: o.proxy_addresses.iter().cloned().collect(),
        work: (o.department.clone(), o.company.clone(), o.title.clone()),
        ids: (o.employee_id.clone(), o.employee_number.clone()),
        manager: o.manager.as_ref().map(|m| m.key()),
        members: keys(&o.members),
        member_of: keys(&o.member_of),
        disabled: o.user_account_control.map(|u| u.is_disabled()),
    }
}

fn in_system_container(o: &DirectoryObject) -> bool {
    let parent = o.dn.parent();
    let leaf = parent.leaf_value().unwrap_or_default();
    parent.depth() == 3 && (leaf.eq_ignore_ascii_case("Users") || leaf.eq_ignore_ascii_case("Builtin"))
}

#[test]
fn discovers_all_five_domains_and_matches_what_was_loaded() {
    let ca = env("SAMLA_TEST_SAMBA_CA");
    let sources: String = IDS
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let ip = format!("127.0.0.{}", i + 2);
            let (url, tls) = if i % 2 == 0 { (format!("ldaps://{ip}"), "ldaps") } else { (format!("ldap://{ip}"), "starttls") };
            format!(
                "[[source]]\nname = \"{id}\"\n[source.ldap]\nurl = \"{url}\"\ntls = \"{tls}\"\nca_file = \"{ca}\"\n\
                 base_dn = \"DC={id},DC=test\"\nbind_dn = \"Administrator@{}.TEST\"\npassword_env = \"SAMLA_TEST_SAMBA_PASSWORD\"\n\n",
                id.to_uppercase()
            )
        })
        .collect();
    let p = Project::new(&sources);
    let (json, out) = p.discover(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json.as_array().unwrap().len(), 5);

    for (id, loaded) in expected_estate() {
        let got = p.snapshot(&id);
        // Samba's own objects (Administrator, krbtgt, Domain Users, Builtin ...) are discovered too.
        let samba_builtin: BTreeSet<String> =
            got.iter().filter(|o| in_system_container(o)).map(|o| o.dn.key()).collect();
        assert!(got.iter().any(|o| o.is_builtin()), "{id}: Samba's built-in groups are read and marked");
        let got: BTreeMap<String, &DirectoryObject> = got.iter().map(|o| (o.dn.key(), o)).collect();
        let mut builtin: BTreeSet<String> =
            loaded.iter().filter(|o| in_system_container(o)).map(|o| o.dn.key()).collect();
        builtin.extend(samba_builtin);
        let mut compared = 0;
        for want in loaded.iter().filter(|o| !in_system_container(o)) {
            let g = got.get(&want.dn.key()).unwrap_or_else(|| panic!("{id}: {} not discovered", want.dn));
            assert_eq!(carried(g, &builtin), carried(want, &builtin), "{id}: {}", want.dn);
            assert!(g.sid.is_some() || g.kind == ObjectKind::OrganizationalUnit || g.kind == ObjectKind::Contact);
            compared += 1;
        }
        assert!(compared > 500, "{id}: compared {compared}");
    }
}
