//! Ranged retrieval: against a server that splits unasked as Active Directory does, and
//! against Samba with explicit ranges.

use crate::ad_range_server::{AdRangeServer, ServerEntry};
use crate::support::{Project, env};

const BASE: &str = "DC=bjuv,DC=test";

fn guid(i: u32, kind: u8) -> Vec<u8> {
    let mut g = vec![kind; 16];
    g[..4].copy_from_slice(&i.to_le_bytes());
    g
}

fn user_dn(i: u32) -> String {
    format!("CN=Användare {i:05}\\, Test,OU=Hemtjänst,{BASE}")
}

/// An OU, `n` users and one group holding all of them.
fn estate(n: u32) -> Vec<ServerEntry> {
    let mut entries: Vec<ServerEntry> = vec![(
        format!("OU=Hemtjänst,{BASE}"),
        vec![("objectClass".into(), vec![b"organizationalUnit".to_vec()]), ("objectGUID".into(), vec![guid(0, 9)])],
    )];
    for i in 0..n {
        entries.push((
            user_dn(i),
            vec![
                ("objectClass".into(), vec![b"top".to_vec(), b"user".to_vec()]),
                ("objectGUID".into(), vec![guid(i, 1)]),
                ("sAMAccountName".into(), vec![format!("u{i:05}").into_bytes()]),
            ],
        ));
    }
    entries.push((
        format!("CN=Alla medarbetare,OU=Hemtjänst,{BASE}"),
        vec![
            ("objectClass".into(), vec![b"group".to_vec()]),
            ("objectGUID".into(), vec![guid(0, 2)]),
            ("member".into(), (0..n).map(|i| user_dn(i).into_bytes()).collect()),
        ],
    ));
    entries
}

fn project_for(server: &AdRangeServer, page_size: u32) -> Project {
    let p = Project::new("");
    let pw = p.secret_file("pw", "Sommar2026!");
    std::fs::write(
        p.config(),
        format!(
            "[[source]]\nname = \"bjuv\"\n[source.ldap]\nurl = \"{}\"\ntls = \"plain\"\nbase_dn = \"{BASE}\"\n\
             bind_dn = \"CN=svc-samla,{BASE}\"\npassword_file = \"{}\"\npage_size = {page_size}\n",
            server.url(),
            pw.display()
        ),
    )
    .unwrap();
    p
}

fn group_members(p: &Project) -> Vec<String> {
    let objects = p.snapshot("bjuv");
    let group = objects.iter().find(|o| o.kind == samla::model::ObjectKind::Group).unwrap();
    group.members.iter().map(|m| m.to_string()).collect()
}

#[test]
fn a_group_of_5000_split_unasked_is_read_whole() {
    let server =
        AdRangeServer::start(estate(5000), 1500).with_credentials(&format!("CN=svc-samla,{BASE}"), "Sommar2026!");
    let p = project_for(&server, 1000);
    let (json, out) = p.discover(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json[0]["snapshot"]["users"], 5000);
    assert_eq!(json[0]["snapshot"]["memberships"], 5000);

    let mut members = group_members(&p);
    members.sort();
    let mut expected: Vec<String> = (0..5000).map(user_dn).collect();
    expected.sort();
    assert_eq!(members, expected);

    let follow_ups: Vec<String> = server.requests().into_iter().filter(|r| r.contains("range=")).collect();
    let group = format!("base=CN=Alla medarbetare,OU=Hemtjänst,{BASE} scope=base");
    assert_eq!(
        follow_ups,
        ["1500", "3000", "4500"].map(|lo| format!("{group} attrs=member;range={lo}-*")),
        "{follow_ups:#?}"
    );
    // 5002 entries at 1000 a page: six pages of the subtree search.
    let pages = server.requests().iter().filter(|r| r.contains("scope=sub")).count();
    assert_eq!(pages, 6);
}

#[test]
fn exactly_max_val_range_needs_no_follow_up_and_one_more_needs_one() {
    for (n, follow_ups) in [(1500, 0), (1501, 1)] {
        let server = AdRangeServer::start(estate(n), 1500);
        let p = project_for(&server, 1000);
        p.samla(&["discover", "-q"]).assert().success();
        assert_eq!(group_members(&p).len(), n as usize);
        assert_eq!(server.requests().iter().filter(|r| r.contains("range=")).count(), follow_ups, "n = {n}");
    }
}

/// Samba answers explicit range requests like AD (it does not split unasked): ask for the big
/// group's members in slices and get them all, ending in `*`.
#[test]
fn samba_answers_explicit_ranges() {
    use ldap3::{LdapConn, Scope, SearchEntry};
    let mut ldap = LdapConn::new("ldap://127.0.0.3").unwrap();
    ldap.simple_bind("Administrator@KLIPPAN.TEST", &env("SAMLA_TEST_SAMBA_PASSWORD")).unwrap().success().unwrap();
    let (groups, _) = ldap
        .search(
            "DC=klippan,DC=test",
            Scope::Subtree,
            "(&(objectClass=group)(member=*))",
            vec!["distinguishedName", "member;range=0-*"],
        )
        .unwrap()
        .success()
        .unwrap();
    // The biggest group, whose full list Samba sends for range=0-*.
    let (dn, total) = groups
        .into_iter()
        .map(SearchEntry::construct)
        .map(|e| {
            (e.dn.clone(), e.attrs.iter().filter(|(k, _)| k.starts_with("member")).map(|(_, v)| v.len()).sum::<usize>())
        })
        .max_by_key(|(_, n)| *n)
        .unwrap();
    assert!(total > 1500, "the sample estate's big group has {total} members");

    let mut collected = Vec::new();
    let mut low = 0usize;
    loop {
        let request = format!("member;range={low}-{}", low + 999);
        let (entries, _) =
            ldap.search(&dn, Scope::Base, "(objectClass=*)", vec![request.as_str()]).unwrap().success().unwrap();
        let entry = SearchEntry::construct(entries.into_iter().next().unwrap());
        let (name, values) = entry.attrs.into_iter().find(|(k, _)| k.starts_with("member;range=")).unwrap();
        let parsed = samla::source::range::parse(&name).unwrap().unwrap();
        assert_eq!(parsed.low as usize, low);
        collected.extend(values);
        match parsed.high {
            Some(h) => low = h as usize + 1,
            None => break,
        }
    }
    assert_eq!(collected.len(), total);
}
