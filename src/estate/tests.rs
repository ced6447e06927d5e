//! Whole-estate checks on the LDIF actually written, read back with a tiny LDIF parser of our
//! own (unfolding, base64), independent of the crate's LDIF reader.

use super::plan::luhn_digit;
use super::*;
use crate::model::convert::convert;
use crate::model::personnummer::looks_like_personnummer;
use crate::model::{Dn, ObjectKind};
use crate::source::ldif::LdifReader;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// One record: its DN, changetype and attribute values (decoded).
#[derive(Debug)]
struct Rec {
    dn: String,
    changetype: Option<String>,
    attrs: Vec<(String, Vec<u8>, bool)>,
}

impl Rec {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = String> + 'a {
        self.attrs
            .iter()
            .filter(move |(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v, _)| String::from_utf8_lossy(v).into_owned())
    }
    fn first(&self, name: &str) -> Option<String> {
        self.values(name).next()
    }
    fn has_class(&self, class: &str) -> bool {
        self.values("objectClass").any(|c| c.eq_ignore_ascii_case(class))
    }
    fn is_modify(&self) -> bool {
        self.changetype.as_deref() == Some("modify")
    }
}

fn parse(text: &str) -> Vec<Rec> {
    let mut records = Vec::new();
    let mut logical: Vec<String> = Vec::new();
    let flush = |logical: &mut Vec<String>, records: &mut Vec<Rec>| {
        if logical.is_empty() {
            return;
        }
        let mut rec = Rec { dn: String::new(), changetype: None, attrs: Vec::new() };
        for line in logical.drain(..) {
            let Some((name, rest)) = line.split_once(':') else {
                assert_eq!(line, "-", "a line without ':' must be the modify separator");
                continue;
            };
            let (value, b64) = match rest.strip_prefix(':') {
                Some(b) => (STANDARD.decode(b.trim()).expect("valid base64"), true),
                None => (rest.strip_prefix(' ').unwrap_or(rest).as_bytes().to_vec(), false),
            };
            match name {
                "dn" => rec.dn = String::from_utf8(value).expect("DN is UTF-8"),
                "changetype" => rec.changetype = Some(String::from_utf8(value).unwrap()),
                _ => rec.attrs.push((name.to_string(), value, b64)),
            }
        }
        records.push(rec);
    };
    for line in text.split('\n') {
        if line.is_empty() {
            flush(&mut logical, &mut records);
        } else if let Some(cont) = line.strip_prefix(' ') {
            logical.last_mut().expect("continuation after a line").push_str(cont);
        } else {
            logical.push(line.to_string());
        }
    }
    flush(&mut logical, &mut records);
    records
}

fn generate(opts: &EstateOptions, muni: &MunicipalitySpec, flavor: Flavor) -> (String, EstateCounts) {
    let mut out = Vec::new();
    let counts = write_municipality(opts, muni, flavor, &mut out).unwrap();
    (String::from_utf8(out).expect("LDIF is UTF-8"), counts)
}

struct Estate {
    files: Vec<(&'static MunicipalitySpec, String, EstateCounts, Vec<Rec>)>,
}

/// Scale of the shared estate: half size keeps the debug-build tests quick.
const SCALE: f64 = 0.5;

/// The full estate at [`SCALE`], generated once per flavour for all tests.
fn estate(flavor: Flavor) -> &'static Estate {
    static CELLS: [OnceLock<Estate>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let i = match flavor {
        Flavor::Ldifde => 0,
        Flavor::Slapd => 1,
        Flavor::Samba => 2,
    };
    CELLS[i].get_or_init(|| Estate {
        files: municipalities()
            .iter()
            .map(|m| {
                let (text, counts) = generate(&EstateOptions { seed: 2026, scale: SCALE }, m, flavor);
                let recs = parse(&text);
                (m, text, counts, recs)
            })
            .collect(),
    })
}

const FLAVORS: [Flavor; 3] = [Flavor::Ldifde, Flavor::Slapd, Flavor::Samba];
const DN_ATTRS: [&str; 6] = ["member", "memberOf", "manager", "managedBy", "distinguishedName", "objectCategory"];

fn key(dn: &str) -> String {
    Dn::parse(dn).unwrap_or_else(|e| panic!("{e}")).key()
}

fn is_personnummer_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(13)
        .any(|w| w[..8].iter().all(u8::is_ascii_digit) && w[8] == b'-' && w[9..].iter().all(u8::is_ascii_digit))
}

#[test]
fn same_seed_gives_same_bytes_and_another_seed_differs() {
    let bjuv = &municipalities()[0];
    for flavor in FLAVORS {
        let opts = EstateOptions { seed: 2026, scale: 0.2 };
        let (a, _) = generate(&opts, bjuv, flavor);
        let (b, _) = generate(&opts, bjuv, flavor);
        let (c, _) = generate(&EstateOptions { seed: 2027, ..opts }, bjuv, flavor);
        assert!(a == b, "{flavor:?}: same seed, different bytes");
        assert_ne!(a, c, "{flavor:?}: another seed, same bytes");
    }
    // The shared estate agrees with a fresh run too.
    let (again, _) = generate(&EstateOptions { seed: 2026, scale: SCALE }, bjuv, Flavor::Ldifde);
    assert!(again == estate(Flavor::Ldifde).files[0].1);
}

#[test]
fn every_dn_parses_and_lies_in_the_municipality() {
    for flavor in FLAVORS {
        for (m, _, _, recs) in &estate(flavor).files {
            let base = Dn::parse(m.base_dn).unwrap();
            for r in recs {
                let dn = Dn::parse(&r.dn).unwrap_or_else(|e| panic!("{flavor:?} {}: {e}", m.id));
                assert!(dn.is_within(&base), "{} outside {}", r.dn, m.base_dn);
                for a in DN_ATTRS {
                    for v in r.values(a) {
                        let d = Dn::parse(&v).unwrap_or_else(|e| panic!("{a} of {}: {e}", r.dn));
                        assert!(d.is_within(&base), "{a}: {v}");
                    }
                }
            }
        }
    }
}

#[test]
fn dns_are_unique_and_parents_come_first() {
    for flavor in FLAVORS {
        for (m, _, _, recs) in &estate(flavor).files {
            let base = key(m.base_dn);
            let mut seen = HashSet::new();
            for r in recs.iter().filter(|r| !r.is_modify()) {
                let dn = Dn::parse(&r.dn).unwrap();
                let parent = dn.parent().key();
                assert!(parent == base || seen.contains(&parent), "{flavor:?}: parent of {} not written before", r.dn);
                assert!(seen.insert(dn.key()), "{flavor:?}: duplicate DN {}", r.dn);
            }
        }
    }
}

#[test]
fn sam_account_names_are_short_and_unique_per_municipality() {
    for flavor in FLAVORS {
        for (m, _, _, recs) in &estate(flavor).files {
            let mut seen = HashSet::new();
            for r in recs {
                for sam in r.values("sAMAccountName") {
                    assert!(sam.chars().count() <= 20, "{}: {sam} longer than 20", m.id);
                    assert!(
                        !sam.contains([
                            '"', '/', '\\', '[', ']', ':', ';', '|', '=', ',', '+', '*', '?', '<', '>', '@'
                        ])
                    );
                    assert!(seen.insert(sam.to_lowercase()), "{}: duplicate sAMAccountName {sam}", m.id);
                }
                if let Some(cn) = r.first("cn") {
                    assert!(cn.chars().count() <= 64, "CN too long: {cn}");
                }
            }
        }
    }
}

#[test]
fn mail_and_upn_are_unique_per_municipality() {
    for (m, _, _, recs) in &estate(Flavor::Slapd).files {
        let mut mails = HashSet::new();
        let mut upns = HashSet::new();
        for r in recs.iter().filter(|r| !r.has_class("contact")) {
            for mail in r.values("mail") {
                assert!(mails.insert(mail.to_lowercase()), "{}: duplicate mail {mail}", m.id);
            }
            for upn in r.values("userPrincipalName") {
                assert!(upns.insert(upn.to_lowercase()), "{}: duplicate UPN {upn}", m.id);
            }
        }
        assert!(mails.contains(&format!("anna.andersson@{}", m.mail_domain)), "{}: no anna.andersson@", m.id);
    }
}

#[test]
fn a_group_has_more_than_1500_members_at_scale_one() {
    for flavor in FLAVORS {
        // Klippan, the largest municipality, at scale 1.0.
        let (text, _) = generate(&EstateOptions::default(), &municipalities()[1], flavor);
        let recs = parse(&text);
        let biggest = recs.iter().max_by_key(|r| r.values("member").count()).unwrap();
        let n = biggest.values("member").count();
        assert!(n > 1500, "{flavor:?}: largest group has {n} members");
        assert_eq!(biggest.first("cn").as_deref(), Some("Licens Microsoft 365"));
    }
}

/// Group-to-group edges (both from add records and modify records).
fn group_edges(recs: &[Rec]) -> HashMap<String, Vec<String>> {
    let groups: HashSet<String> = recs.iter().filter(|r| r.has_class("group")).map(|r| key(&r.dn)).collect();
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    for r in recs {
        for m in r.values("member") {
            let k = key(&m);
            if groups.contains(&k) {
                edges.entry(key(&r.dn)).or_default().push(k);
            }
        }
    }
    edges
}

#[test]
fn the_nesting_cycle_exists_in_every_flavour() {
    for flavor in FLAVORS {
        for (m, _, _, recs) in &estate(flavor).files {
            let edges = group_edges(recs);
            let chefer = key(&format!("CN=Chefer,OU=Grupper,{}", m.base_dn));
            let ledning = key(&format!("CN=Ledningsgrupp,OU=Grupper,{}", m.base_dn));
            assert!(edges.get(&chefer).is_some_and(|e| e.contains(&ledning)), "{flavor:?} {}", m.id);
            assert!(edges.get(&ledning).is_some_and(|e| e.contains(&chefer)), "{flavor:?} {}", m.id);
            let modifies = recs.iter().filter(|r| r.is_modify()).count();
            assert_eq!(modifies, usize::from(flavor != Flavor::Ldifde), "{flavor:?}: modify records");
        }
    }
}

#[test]
fn unit_groups_nest_in_administration_groups_and_same_names_recur() {
    let mut per_muni: Vec<HashSet<String>> = Vec::new();
    for (m, _, _, recs) in &estate(Flavor::Slapd).files {
        let edges = group_edges(recs);
        let soc = key(&format!("CN=Socialförvaltningen,OU=Grupper,{}", m.base_dn));
        let hemtjanst = key(&format!("CN=Personal Hemtjänst,OU=Grupper,{}", m.base_dn));
        assert!(edges[&soc].contains(&hemtjanst));
        per_muni.push(recs.iter().filter(|r| r.has_class("group")).filter_map(|r| r.first("cn")).collect());
    }
    for name in ["IT-avdelningen", "Alla medarbetare", "Chefer"] {
        assert!(per_muni.iter().all(|g| g.contains(name)), "{name} missing somewhere");
    }
}

#[test]
fn personnummer_only_in_klippan_and_luhn_valid() {
    for flavor in FLAVORS {
        for (m, _, counts, recs) in &estate(flavor).files {
            let mut numbers = 0;
            for r in recs {
                for (name, v, _) in &r.attrs {
                    let v = String::from_utf8_lossy(v);
                    if m.id != "klippan" {
                        assert!(!is_personnummer_shaped(&v), "{}: {name}: {v} looks like a personnummer", m.id);
                        assert!(!looks_like_personnummer(&v), "{}: {name}: {v} passes the crate's check", m.id);
                    }
                }
                for pnr in r.values("employeeNumber") {
                    assert_eq!(m.id, "klippan");
                    let b = pnr.as_bytes();
                    assert!(b.len() == 13 && is_personnummer_shaped(&pnr), "{pnr}");
                    let year: u32 = pnr[..4].parse().unwrap();
                    assert!((1950..=2005).contains(&year), "{pnr}");
                    let ten: Vec<u8> = b[2..8].iter().chain(&b[9..12]).copied().collect();
                    assert_eq!(b[12] - b'0', luhn_digit(&ten), "{pnr}: bad Luhn digit");
                    assert!(looks_like_personnummer(&pnr), "{pnr}: the crate's recogniser disagrees");
                    numbers += 1;
                }
            }
            if m.id == "klippan" {
                assert_eq!(numbers, counts.kinds.staff, "every Klippan staff member has one");
            }
        }
    }
    // A known valid personnummer (Skatteverket's test number 19121212-1212).
    assert_eq!(luhn_digit(b"121212121"), 2);
}

#[test]
fn the_same_employee_id_appears_in_two_municipalities() {
    let ids: Vec<HashSet<String>> = estate(Flavor::Slapd)
        .files
        .iter()
        .map(|(_, _, _, recs)| recs.iter().filter_map(|r| r.first("employeeID")).collect())
        .collect();
    assert!(ids[0].contains("19000001") && ids[3].contains("19000001"), "Bjuv and Åstorp share 19000001");
    assert!(ids[1].contains("29000001") && ids[4].contains("29000001"), "Klippan and Örkelljunga share 29000001");
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            assert!(a.intersection(b).all(|id| id.starts_with(['1', '2']) && id[1..].starts_with("9")));
        }
    }
}

#[test]
fn references_resolve_to_earlier_entries_of_the_same_file() {
    for flavor in FLAVORS {
        for (m, _, _, recs) in &estate(flavor).files {
            let all: HashSet<String> = recs.iter().filter(|r| !r.is_modify()).map(|r| key(&r.dn)).collect();
            let mut before = HashSet::new();
            for r in recs {
                for a in ["member", "memberOf", "manager", "managedBy"] {
                    for v in r.values(a) {
                        let k = key(&v);
                        assert!(all.contains(&k), "{flavor:?} {}: {a} {v} of {} is not in the file", m.id, r.dn);
                        let ordered = flavor != Flavor::Ldifde && a != "memberOf";
                        assert!(!ordered || before.contains(&k), "{flavor:?}: {a} {v} of {} comes later", r.dn);
                    }
                }
                if r.is_modify() {
                    assert!(before.contains(&key(&r.dn)));
                } else {
                    before.insert(key(&r.dn));
                }
            }
        }
    }
}

#[test]
fn member_and_member_of_agree_in_ldifde() {
    for (m, _, _, recs) in &estate(Flavor::Ldifde).files {
        let from_member: HashSet<(String, String)> =
            recs.iter().flat_map(|g| g.values("member").map(|v| (key(&v), key(&g.dn))).collect::<Vec<_>>()).collect();
        let from_member_of: HashSet<(String, String)> =
            recs.iter().flat_map(|r| r.values("memberOf").map(|v| (key(&r.dn), key(&v))).collect::<Vec<_>>()).collect();
        assert_eq!(from_member.len(), from_member_of.len(), "{}", m.id);
        assert!(from_member == from_member_of, "{}: member and memberOf differ", m.id);
    }
}

#[test]
fn swedish_names_are_base64_in_ldifde_and_raw_elsewhere() {
    let ldifde = &estate(Flavor::Ldifde).files[0].1;
    assert!(ldifde.is_ascii(), "an ldifde export is ASCII");
    assert!(ldifde.contains("\nsn:: w5ZiZXJn\n"), "sn Öberg, base64");
    assert!(ldifde.lines().all(|l| l.len() <= 78), "folded at 78 columns");
    assert!(!ldifde.contains("\nchangetype: modify"));
    for flavor in [Flavor::Slapd, Flavor::Samba] {
        let text = &estate(flavor).files[0].1;
        assert!(text.contains("\nsn: Öberg\n"), "{flavor:?}");
        assert!(text.contains("dn: CN=Öberg\\, Åsa,OU="), "{flavor:?}: escaped comma in a DN");
        assert!(text.contains("\ngivenName: Märta\n"));
    }
    let klippan = &estate(Flavor::Slapd).files[1].1;
    assert!(klippan.contains("dn: CN=Karl \\\"Lillen\\\" Lindqvist,OU="), "quotes escaped in the DN");
    assert!(klippan.contains("\ndisplayName: Karl \"Lillen\" Lindqvist\n"));
    assert!(klippan.contains("\nsn: Nguyễn\n"));
    let perstorp = &estate(Flavor::Slapd).files[2].1;
    assert!(perstorp.contains("\nsn: O'Brien\n"));
    let orkelljunga = &estate(Flavor::Slapd).files[4].3;
    let staff = orkelljunga.iter().filter(|r| r.first("employeeID").is_some()).count();
    let comma = orkelljunga.iter().filter(|r| r.first("employeeID").is_some() && r.dn.contains("\\,")).count();
    assert_eq!(staff, comma, "Örkelljunga's staff CNs are Surname, Given");
}

#[test]
fn flavour_specific_attributes() {
    for (m, _, _, recs) in &estate(Flavor::Samba).files {
        for r in recs {
            for banned in [
                "objectGUID",
                "objectSid",
                "whenCreated",
                "whenChanged",
                "memberOf",
                "lastLogonTimestamp",
                "pwdLastSet",
                "isCriticalSystemObject",
                "sAMAccountType",
            ] {
                assert!(r.first(banned).is_none(), "samba {}: {banned} on {}", m.id, r.dn);
            }
            for c in r.values("objectClass") {
                assert!(["user", "group", "contact", "organizationalUnit"].contains(&c.as_str()), "{c}");
            }
            if let Some(uac) = r.first("userAccountControl") {
                assert!(uac == "514" || uac == "544", "{uac}");
            }
            assert!(!r.dn.contains("CN=Users,") && !r.dn.contains("CN=Builtin,"), "{}", r.dn);
        }
    }
    for (m, text, _, recs) in &estate(Flavor::Slapd).files {
        assert!(!text.contains("memberOf") && !text.contains("userPassword"));
        for r in recs.iter().filter(|r| !r.is_modify()) {
            assert!(r.first("objectGUID").is_some(), "slapd {}: {} has no objectGUID", m.id, r.dn);
            if r.has_class("user") || r.has_class("contact") {
                assert!(r.first("sn").is_some() && r.first("cn").is_some(), "{}", r.dn);
            }
            if r.has_class("organizationalUnit") || r.has_class("container") {
                assert!(r.has_class("adObject"), "{}", r.dn);
            }
            if r.has_class("user") || r.has_class("group") {
                let sid = r.attrs.iter().find(|(n, _, _)| n == "objectSid").map(|(_, v, _)| v.clone()).unwrap();
                assert_eq!(sid[0], 1, "SID revision");
                assert_eq!(sid.len(), 8 + 4 * usize::from(sid[1]));
            }
        }
        let builtins = [
            "CN=Administrators,CN=Builtin,",
            "CN=Users,CN=Builtin,",
            "CN=Domain Admins,CN=Users,",
            "CN=Domain Users,CN=Users,",
        ];
        for b in builtins {
            let r = recs.iter().find(|r| r.dn.starts_with(b)).unwrap_or_else(|| panic!("{b} missing"));
            assert_eq!(r.first("isCriticalSystemObject").as_deref(), Some("TRUE"));
        }
    }
    for (_, _, _, recs) in &estate(Flavor::Ldifde).files {
        for r in recs {
            assert_eq!(r.changetype.as_deref(), Some("add"));
            assert!(r.first("objectGUID").is_some() && r.first("whenCreated").is_some());
        }
        let admins = recs.iter().find(|r| r.dn.starts_with("CN=Administrators,CN=Builtin,")).unwrap();
        assert_eq!(admins.first("groupType").as_deref(), Some("-2147483643"));
    }
}

#[test]
fn counts_match_what_was_written() {
    for flavor in FLAVORS {
        for (m, _, c, recs) in &estate(flavor).files {
            let adds: Vec<&Rec> = recs.iter().filter(|r| !r.is_modify()).collect();
            let n = |class: &str| adds.iter().filter(|r| r.has_class(class)).count() as u64;
            assert_eq!(c.users, n("user"), "{flavor:?} {}", m.id);
            assert_eq!(c.groups, n("group"));
            assert_eq!(c.contacts, n("contact"));
            assert_eq!(c.ous, n("organizationalUnit"));
            assert_eq!(c.containers, n("container") + n("builtinDomain"));
            let members: u64 = recs.iter().map(|r| r.values("member").count() as u64).sum();
            assert_eq!(c.memberships, members);
            let k = c.kinds;
            assert_eq!(k.staff + k.students + k.admin + k.service + k.resource + k.builtin, c.users);
            let disabled = adds
                .iter()
                .filter_map(|r| r.first("userAccountControl"))
                .filter(|u| u.parse::<i64>().unwrap() & 2 != 0)
                .count() as u64;
            assert_eq!(k.disabled, disabled);
        }
    }
}

#[test]
fn proportions_and_awkward_states() {
    let mut users = 0;
    for (m, _, c, _) in &estate(Flavor::Ldifde).files {
        let k = c.kinds;
        users += c.users;
        let share = |x: u64| x as f64 / c.users as f64;
        assert!((0.57..0.63).contains(&share(k.staff)), "{} staff {}", m.id, share(k.staff));
        assert!((0.28..0.32).contains(&share(k.students)), "{} students", m.id);
        assert!(k.admin > 0 && k.service > 0 && k.resource > 0 && k.builtin == 1);
        assert!(k.disabled > 0 && k.long_unused > 0 && k.temporary > 0 && k.never_logged_on > 0);
        assert!(c.contacts > 0);
    }
    assert!((6_500..7_500).contains(&((users as f64 / SCALE) as u64)), "{users} users at scale {SCALE}");
}

#[test]
fn managers_are_unit_heads_in_the_same_municipality() {
    for (m, _, _, recs) in &estate(Flavor::Slapd).files {
        let titles: HashMap<String, String> =
            recs.iter().filter_map(|r| r.first("title").map(|t| (key(&r.dn), t))).collect();
        let mut cross_unit = 0;
        for r in recs {
            if let Some(mgr) = r.first("manager") {
                assert!(
                    titles[&key(&mgr)].contains("chef")
                        || titles[&key(&mgr)].contains("Rektor")
                        || titles[&key(&mgr)].contains("Kommundirektör"),
                    "{}: manager {mgr} is a {}",
                    m.id,
                    titles[&key(&mgr)]
                );
                let (a, b) = (Dn::parse(&r.dn).unwrap().parent(), Dn::parse(&mgr).unwrap().parent());
                cross_unit += usize::from(a != b);
            }
        }
        assert!(cross_unit > 0, "{}: some managers sit in another unit", m.id);
    }
}

#[test]
fn tiny_zero_and_invalid_scales() {
    for scale in [0.0, 0.001, 0.01, 0.05] {
        for flavor in FLAVORS {
            for m in municipalities() {
                let (text, c) = generate(&EstateOptions { seed: 1, scale }, m, flavor);
                let recs = parse(&text);
                for r in &recs {
                    Dn::parse(&r.dn).unwrap();
                    for v in r.values("member") {
                        Dn::parse(&v).unwrap();
                    }
                }
                assert_eq!(c.users, recs.iter().filter(|r| r.has_class("user")).count() as u64);
            }
        }
    }
    for scale in [f64::NAN, -1.0, f64::INFINITY, MAX_SCALE * 2.0] {
        let mut sink = std::io::sink();
        let err = write_municipality(&EstateOptions { seed: 1, scale }, &municipalities()[0], Flavor::Slapd, &mut sink);
        assert_eq!(err.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    }
}

#[test]
fn write_all_writes_five_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = write_all(&EstateOptions { seed: 5, scale: 0.05 }, Flavor::Samba, dir.path()).unwrap();
    assert_eq!(out.len(), 5);
    for ((path, counts), m) in out.iter().zip(municipalities()) {
        assert_eq!(path, &dir.path().join(format!("{}.ldif", m.id)));
        let text = std::fs::read_to_string(path).unwrap();
        let (again, c) = generate(&EstateOptions { seed: 5, scale: 0.05 }, m, Flavor::Samba);
        assert!(text == again);
        assert_eq!(*counts, c);
    }
}

#[test]
fn the_crates_ldif_reader_and_conversion_accept_the_ldifde_export() {
    for (m, text, c, _) in &estate(Flavor::Ldifde).files {
        let mut kinds: HashMap<ObjectKind, u64> = HashMap::new();
        let mut skipped = 0;
        for entry in LdifReader::new(text.as_bytes()) {
            let raw = entry.unwrap_or_else(|e| panic!("{}: {e}", m.id));
            match convert(&raw).unwrap_or_else(|e| panic!("{}: {e}", m.id)) {
                Some(obj) => *kinds.entry(obj.kind).or_default() += 1,
                None => skipped += 1,
            }
        }
        assert_eq!(kinds.get(&ObjectKind::User).copied(), Some(c.users), "{}", m.id);
        assert_eq!(kinds.get(&ObjectKind::Group).copied(), Some(c.groups));
        assert_eq!(kinds.get(&ObjectKind::Contact).copied(), Some(c.contacts));
        assert_eq!(kinds.get(&ObjectKind::OrganizationalUnit).copied(), Some(c.ous));
        assert_eq!(skipped, c.containers, "only CN=Users and CN=Builtin are not read");
    }
}
