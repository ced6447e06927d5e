//! Discover against OpenLDAP slapd with the AD attribute schema: one suffix per municipality,
//! read over LDAPS, StartTLS and plain loopback, as root and as a reader with AD's limits.

use crate::support::{IDS, Project, env, expected_estate};
use samla::model::{DirectoryObject, ObjectKind};
use std::collections::BTreeMap;

fn sources(p: &Project) -> String {
    let (url, ldaps, ca) = (env("SAMLA_TEST_SLAPD_URL"), env("SAMLA_TEST_SLAPD_LDAPS_URL"), env("SAMLA_TEST_SLAPD_CA"));
    let reader_pw = p.secret_file("reader.pw", "reader");
    IDS.iter()
        .enumerate()
        .map(|(i, id)| {
            // A mix of what municipalities will have: LDAPS, StartTLS, plain on loopback; the
            // all-powerful rootdn and a reader limited to 1,000 entries a page, as AD limits.
            let (u, tls) = match i {
                0 => (ldaps.as_str(), format!("tls = \"ldaps\"\nca_file = \"{ca}\"")),
                1 | 3 => (url.as_str(), format!("tls = \"starttls\"\nca_file = \"{ca}\"")),
                _ => (url.as_str(), "tls = \"plain\"".to_string()),
            };
            let account = if i % 2 == 1 {
                format!("bind_dn = \"cn=reader,dc={id},dc=test\"\npassword_file = \"{}\"", reader_pw.display())
            } else {
                format!("bind_dn = \"cn=admin,dc={id},dc=test\"\npassword_env = \"SAMLA_TEST_SLAPD_PASSWORD\"")
            };
            let page = if i == 4 { "page_size = 250\n" } else { "" };
            format!("[[source]]\nname = \"{id}\"\n[source.ldap]\nurl = \"{u}\"\nbase_dn = \"dc={id},dc=test\"\n{tls}\n{account}\n{page}\n")
        })
        .collect()
}

fn by_guid(objects: Vec<DirectoryObject>) -> BTreeMap<String, DirectoryObject> {
    objects.into_iter().map(|o| (o.guid.to_string(), o)).collect()
}

#[test]
fn discovers_all_five_municipalities_exactly_as_loaded() {
    let p = Project::new("");
    std::fs::write(p.config(), format!("[state]\npath = \"state/samla.db\"\n{}", sources(&p))).unwrap();
    let (json, out) = p.discover(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json.as_array().unwrap().len(), 5);

    let expected = expected_estate();
    for id in IDS {
        let got = by_guid(p.snapshot(id));
        let want = by_guid(expected[id].clone());
        assert_eq!(got.len(), want.len(), "{id}: object count");
        for (guid, w) in &want {
            let g = got.get(guid).unwrap_or_else(|| panic!("{id}: {} ({guid}) not discovered", w.dn));
            let mut w = w.clone();
            if w.surname.is_none() && matches!(w.kind, ObjectKind::User | ObjectKind::Contact) {
                // The slapd schema's `person` requires sn: the slapd flavour writes the CN there.
                w.surname = w.cn.clone();
            }
            assert_eq!(g, &w, "{id}: {}", w.dn);
        }
        let snapshot = &json.as_array().unwrap().iter().find(|r| r["municipality"] == id).unwrap()["snapshot"];
        let users = want.values().filter(|o| o.kind == ObjectKind::User).count();
        assert_eq!(snapshot["users"], users, "{id}");
    }
}

#[test]
fn the_same_directory_gives_the_same_hash_and_one_source_can_be_read_alone() {
    let p = Project::new("");
    std::fs::write(p.config(), format!("[state]\npath = \"state/samla.db\"\n{}", sources(&p))).unwrap();
    let (first, out) = p.discover(&["--source", "perstorp"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (second, _) = p.discover(&["--source", "perstorp"]);
    assert_eq!(first.as_array().unwrap().len(), 1);
    assert_eq!(first[0]["snapshot"]["content_hash"], second[0]["snapshot"]["content_hash"]);
    assert_ne!(first[0]["snapshot"]["id"], second[0]["snapshot"]["id"]);
    let listed = p.samla(&["snapshots", "--json"]).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
}
