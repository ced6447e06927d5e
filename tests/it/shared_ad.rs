//! Two consecutive waves rendered to LDIF and applied with `ldapmodify` to a real Samba AD DC
//! of the shared domain (SAMVERKAN.TEST, DC6 of tests/directory/samba.sh): every record must
//! be accepted as rendered (no `-c`), and what the directory then holds is read back with
//! `ldapsearch` and compared with the plan: OU placement, anchors, disabled accounts, group
//! members (nested, across waves) and managers (across waves).
//!
//! Each run writes below its own OUs (`OU=Kommuner-<run>`, `OU=Grupper-<run>`) with its own
//! account names, and deletes them at the end, also when it fails: reruns against the same
//! server never collide.

use crate::support::env;
use samla::model::AccountKind;
use samla::model::attributes::Attributes;
use samla::model::unified::{Affiliation, Anchor, Group, Member, Person};
use samla::model::{Dn, ObjectGuid, RawEntry};
use samla::render::ldap::{self, OpKind};
use samla::render::{ObjectRef, RefKind, WaveContent};

use samla::model::settings::{NewAccounts, SharedAd, TargetSettings};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

/// The shared DC's coordinates from tests/run.sh.
pub struct Server {
    pub url: String,
    pub base: String,
    pub bind: String,
    pub password: String,
    pub ca: String,
}

impl Server {
    pub fn from_env() -> Server {
        Server {
            url: env("SAMLA_TEST_SHARED_URL"),
            base: env("SAMLA_TEST_SHARED_BASE"),
            bind: env("SAMLA_TEST_SHARED_BIND"),
            password: env("SAMLA_TEST_SAMBA_PASSWORD"),
            ca: env("SAMLA_TEST_SAMBA_CA"),
        }
    }

    /// `tool -H url -x -D bind -w password ARGS`, trusting only the test CA.
    pub fn run(&self, tool: &str, args: &[&str]) -> Output {
        self.command(tool).args(args).output().unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    fn command(&self, tool: &str) -> Command {
        let mut command = Command::new(tool);
        command.env("LDAPTLS_CACERT", &self.ca).env("LDAPTLS_REQCERT", "demand").args([
            "-H",
            &self.url,
            "-x",
            "-D",
            &self.bind,
            "-w",
            &self.password,
        ]);
        command
    }

    /// `tool` (`ldapadd`, `ldapmodify`) applying `ldif` handed on its standard input, so a test
    /// leaves no LDIF file behind in the shared temporary directory.
    pub fn apply(&self, tool: &str, ldif: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command(tool)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        child.stdin.take().unwrap().write_all(ldif.as_bytes()).unwrap();
        child.wait_with_output().unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    fn modify(&self, ldif: &std::path::Path) -> Output {
        self.run("ldapmodify", &["-f", ldif.to_str().unwrap()])
    }

    /// Entries below `base` matching `filter`, through samla's LDIF reader.
    pub fn search(&self, base: &str, filter: &str, attrs: &[&str]) -> Vec<RawEntry> {
        let mut args = vec!["-LLL", "-o", "ldif-wrap=no", "-b", base, filter];
        args.extend_from_slice(attrs);
        let out = self.run("ldapsearch", &args);
        assert!(out.status.success(), "ldapsearch {filter}: {}", String::from_utf8_lossy(&out.stderr));
        samla::source::ldif::LdifReader::new(out.stdout.as_slice()).collect::<Result<_, _>>().unwrap()
    }
}

/// Deletes the run's OUs (and everything below them) when dropped, also after a failure.
pub struct Cleanup<'a> {
    pub server: &'a Server,
    pub dns: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for dn in &self.dns {
            let out = self.server.run("ldapdelete", &["-r", dn]);
            // 32 = noSuchObject: the run failed before creating it.
            if !out.status.success() && out.status.code() != Some(32) {
                eprintln!("cleanup of {dn} failed: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}

/// A fresh id per run: time and process, hex.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    format!("{:08x}", (nanos ^ (nanos >> 32) ^ (u64::from(std::process::id()) << 12)) as u32)
}

struct Planner {
    id: String,
    people: BTreeMap<Anchor, Person>,
    groups: BTreeMap<Anchor, Group>,
    /// The wave that creates each object.
    wave_of: BTreeMap<Anchor, u32>,
}

impl Planner {
    fn anchor(&self, n: u32) -> Anchor {
        Anchor(ObjectGuid::parse(&format!("{}-5a4d-4c41-8000-{n:012x}", self.id)).unwrap())
    }

    fn person(&mut self, wave: u32, n: u32, municipality: &str, unit: &str, given: &str, surname: &str) -> Anchor {
        let a = self.anchor(n);
        let display = format!("{surname}, {given}");
        let cloud: Attributes = [
            ("givenName", given.to_string()),
            ("surname", surname.to_string()),
            ("displayName", display.clone()),
            ("jobTitle", "Undersköterska".to_string()),
            ("department", unit.rsplit('/').next().unwrap_or_default().to_string()),
            ("companyName", format!("{municipality} kommun")),
            ("employeeId", format!("E{n:05}")),
            ("mail", format!("p{n}.{}@samverkan.se", self.id)),
            ("extensionAttribute1", format!("KST-{}", 4700 + n % 7)),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        let on_premises: Attributes =
            [("employeeType", "Tillsvidareanställd"), ("officeLocation", "Storgatan 1, plan 2")]
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect();
        let person = Person {
            anchor: a,
            immutable_id: a.immutable_id(),
            user_principal_name: format!("p{n}.{}@samverkan.se", self.id),
            mail_nickname: format!("p{n}.{}", self.id),
            sam_account_name: format!("s{}{n:03}", self.id),
            cn: display.clone(),
            display_name: display,
            kind: AccountKind::Person,
            licence: "E3".into(),
            usage_location: "SE".into(),
            cloud,
            on_premises,
            affiliations: vec![Affiliation {
                municipality: municipality.into(),
                guid: a.0,
                dn: Dn::parse(&format!("CN=x{n},DC={municipality},DC=test")).unwrap(),
                kind: AccountKind::Person,
                unit: unit.into(),
                enabled: true,
            }],
            manager: None,
            source_state: Default::default(),
        };
        self.people.insert(a, person);
        self.wave_of.insert(a, wave);
        a
    }

    fn group(&mut self, wave: u32, n: u32, name: &str, sources: &[&str]) -> Anchor {
        let a = self.anchor(n);
        let group = Group {
            anchor: a,
            name: name.into(),
            mail_nickname: format!("g{n}.{}", self.id),
            security: true,
            sources: sources
                .iter()
                .map(|m| (m.to_string(), a.0, Dn::parse(&format!("CN=g{n},DC={m},DC=test")).unwrap()))
                .collect(),
            members: Vec::new(),
        };
        self.groups.insert(a, group);
        self.wave_of.insert(a, wave);
        a
    }

    fn reference(&self, a: Anchor) -> ObjectRef {
        let wave = self.wave_of[&a];
        if let Some(p) = self.people.get(&a) {
            return ObjectRef {
                kind: RefKind::Person,
                wave,
                cloud_name: p.user_principal_name.clone(),
                cn: p.cn.clone(),
                sam_account_name: p.sam_account_name.clone(),
                municipality: p.affiliations[0].municipality.clone(),
                unit: p.affiliations[0].unit.clone(),
                account_kind: Some(p.kind),
            };
        }
        let g = &self.groups[&a];
        ObjectRef {
            kind: RefKind::Group,
            wave,
            cloud_name: g.mail_nickname.clone(),
            cn: g.name.clone(),
            sam_account_name: format!("g{}{}", self.id, g.mail_nickname.split('.').next().unwrap()),
            municipality: if g.sources.len() == 1 { g.sources[0].0.clone() } else { String::new() },
            unit: String::new(),
            account_kind: None,
        }
    }

    /// What wave `number` does, as the wave builder would hand it over.
    fn content(
        &self,
        number: u32,
        memberships: &[(Anchor, Member)],
        manager_links: &[(Anchor, Anchor)],
    ) -> WaveContent {
        let created = |a: &Anchor| self.wave_of[a] == number;
        let mut refs = BTreeMap::new();
        let touched = memberships
            .iter()
            .flat_map(|&(g, m)| {
                [
                    g,
                    match m {
                        Member::Person(a) | Member::Group(a) => a,
                    },
                ]
            })
            .chain(manager_links.iter().flat_map(|&(p, m)| [p, m]))
            .chain(self.wave_of.iter().filter(|(_, w)| **w == number).map(|(a, _)| *a));
        for a in touched {
            refs.insert(a, self.reference(a));
        }
        let mut memberships = memberships.to_vec();
        memberships.sort();
        let mut manager_links = manager_links.to_vec();
        manager_links.sort();
        WaveContent {
            number,
            name: format!("wave {number}"),
            people: self.people.values().filter(|p| created(&p.anchor)).cloned().collect(),
            groups: self.groups.values().filter(|g| created(&g.anchor)).cloned().collect(),
            memberships,
            manager_links,
            refs,
            earlier_units: self
                .people
                .values()
                .filter(|p| self.wave_of[&p.anchor] < number)
                .map(|p| (p.affiliations[0].municipality.clone(), p.affiliations[0].unit.clone()))
                .collect(),
            earlier_groups: self.groups.keys().any(|a| self.wave_of[a] < number),
            licence_groups_created: BTreeSet::new(),
        }
    }
}

/// The DN the plan puts a person at, spelled out here independently of the renderer.
fn expected_person_dn(p: &Person, people_ou: &str, base: &str) -> Dn {
    let aff = &p.affiliations[0];
    let units: String = aff
        .unit
        .split('/')
        .filter(|u| !u.is_empty())
        .rev()
        .map(|u| format!("OU={},", samla::model::dn::escape_value(u)))
        .collect();
    let cn = samla::model::dn::escape_value(&p.cn);
    Dn::parse(&format!("CN={cn},{units}OU={},{people_ou},{base}", aff.municipality)).unwrap()
}

fn one<'a>(e: &'a RawEntry, name: &str) -> Option<&'a [u8]> {
    let mut values = e.values(name);
    let first = values.next();
    assert!(values.next().is_none(), "{}: {name} has several values", e.dn);
    first
}

pub fn text(e: &RawEntry, name: &str) -> Option<String> {
    one(e, name).map(|v| String::from_utf8(v.to_vec()).unwrap())
}

fn dn_values(e: &RawEntry, name: &str) -> BTreeSet<Dn> {
    e.values(name).map(|v| Dn::parse(std::str::from_utf8(v).unwrap()).unwrap()).collect()
}

#[test]
fn two_waves_apply_to_the_shared_samba_dc_as_planned() {
    let server = Server::from_env();
    let id = run_id();
    let people_ou = format!("OU=Kommuner-{id}");
    let groups_ou = format!("OU=Grupper-{id}");
    let settings = TargetSettings {
        shared_ad: SharedAd {
            base_dn: server.base.clone(),
            people_ou: people_ou.clone(),
            groups_ou: groups_ou.clone(),
            new_accounts: NewAccounts::Disabled,
        },
        ..TargetSettings::default()
    };
    let _cleanup = Cleanup {
        server: &server,
        dns: vec![format!("{people_ou},{}", server.base), format!("{groups_ou},{}", server.base)],
    };

    let mut plan =
        Planner { id: id.clone(), people: BTreeMap::new(), groups: BTreeMap::new(), wave_of: BTreeMap::new() };
    let given = ["Åsa", "Örjan", "Märta", "Björn", "Åke", "Göran", "Ingrid", "Lars", "Sören", "Karin"];
    let surnames = ["Öberg", "Ström", "Åberg", "Lindén", "Nyström", "Ek", "Hägg", "Sjögren"];
    let bjuv_units = [
        "Socialförvaltningen/Hemtjänst",
        "Socialförvaltningen/Äldreomsorg, natt",
        "Barn- och utbildningsförvaltningen/Förskola",
    ];
    let klippan_units = ["Kultur & fritid", "", "Samhällsbyggnad/Gata+park"];
    // Wave 1: 18 in Bjuv, 6 in Klippan; wave 2: 8 more in Bjuv (one new unit), 8 in Klippan.
    let mut wave1 = Vec::new();
    let mut wave2 = Vec::new();
    for n in 0..40u32 {
        let (wave, municipality, unit) = match n {
            0..18 => (1, "bjuv", bjuv_units[n as usize % 3]),
            18..24 => (1, "klippan", klippan_units[n as usize % 3]),
            24..31 => (2, "bjuv", bjuv_units[n as usize % 3]),
            31 => (2, "bjuv", "IT-avdelningen"),
            _ => (2, "klippan", klippan_units[n as usize % 3]),
        };
        let (g, s) = (given[n as usize % given.len()], surnames[n as usize % surnames.len()]);
        let a = plan.person(wave, n + 1, municipality, unit, g, s);
        if wave == 1 { wave1.push(a) } else { wave2.push(a) }
    }
    // Names that need escaping in a DN, in the same OU as ordinary ones.
    for (a, (g, s)) in wave1.iter().zip([("Åsa", "Öberg"), ("Lars", "Lund+Berg"), ("\"Kalle\"", "Ek; #1")]) {
        let p = plan.people.get_mut(a).unwrap();
        p.cn = format!("{s}, {g}");
        p.display_name = p.cn.clone();
    }
    let alla = plan.group(1, 100, "Alla medarbetare, Bjuv", &["bjuv"]);
    let it = plan.group(1, 101, "IT-avdelningen", &["bjuv", "klippan"]); // nested in alla, created after it
    let chefer = plan.group(2, 102, "Hemtjänst: chefer", &["bjuv"]); // nested in alla in wave 2

    let bjuv1: Vec<Anchor> = wave1[..18].to_vec();
    let mut m1: Vec<(Anchor, Member)> = bjuv1.iter().map(|&p| (alla, Member::Person(p))).collect();
    m1.push((alla, Member::Group(it)));
    m1.extend(wave1[18..21].iter().map(|&p| (it, Member::Person(p))));
    let l1: Vec<(Anchor, Anchor)> = wave1[1..18].iter().map(|&p| (p, wave1[0])).collect();
    let mut m2: Vec<(Anchor, Member)> = wave2[..8].iter().map(|&p| (alla, Member::Person(p))).collect();
    m2.push((alla, Member::Group(chefer)));
    m2.extend([wave1[0], wave2[0]].map(|p| (chefer, Member::Person(p))));
    m2.push((it, Member::Person(wave2[7])));
    // New people managed by wave-1 people, and a wave-1 person now managed by a new one.
    let mut l2: Vec<(Anchor, Anchor)> = wave2[1..].iter().map(|&p| (p, wave1[18])).collect();
    l2.push((wave1[0], wave2[0]));

    let dir = tempfile::tempdir().unwrap();
    let mut all_ops = Vec::new();
    for (number, memberships, links) in [(1, &m1, &l1), (2, &m2, &l2)] {
        let content = plan.content(number, memberships, links);
        let ops = ldap::render(&content, &settings).unwrap();
        let ldif = ldap::to_ldif(&ops);
        let path = dir.path().join(format!("wave{number}.ldif"));
        std::fs::write(&path, &ldif).unwrap();
        let out = server.modify(&path);
        assert!(
            out.status.success(),
            "wave {number}: ldapmodify failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        let done = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("adding new entry") || l.starts_with("modifying entry"))
            .count();
        assert_eq!(done, ops.len(), "wave {number}: every record applied");
        if number == 2 {
            let ous = ops.iter().filter(|o| o.kind == OpKind::CreateOu).map(|o| o.dn().to_string()).collect::<Vec<_>>();
            assert_eq!(
                ous,
                [format!("OU=IT-avdelningen,OU=bjuv,{people_ou},{}", server.base)],
                "wave 2 creates only the new unit's OU"
            );
        }
        all_ops.extend(ops);
    }

    // Users: in the right OU, with their anchor, disabled, with their attributes and manager.
    let people_base = format!("{people_ou},{}", server.base);
    let users = server.search(
        &people_base,
        "(objectClass=user)",
        &[
            "mS-DS-ConsistencyGuid",
            "userAccountControl",
            "manager",
            "sn",
            "givenName",
            "displayName",
            "title",
            "company",
            "employeeID",
            "employeeType",
            "physicalDeliveryOfficeName",
            "mail",
            "proxyAddresses",
            "extensionAttribute1",
            "sAMAccountName",
            "userPrincipalName",
        ],
    );
    assert_eq!(users.len(), 40);
    let by_anchor: BTreeMap<Anchor, &RawEntry> = users
        .iter()
        .map(|e| (Anchor(ObjectGuid::from_ad_bytes(one(e, "mS-DS-ConsistencyGuid").unwrap()).unwrap()), e))
        .collect();
    assert_eq!(by_anchor.len(), 40, "40 distinct anchors");
    let managers: BTreeMap<Anchor, Anchor> = l1.iter().chain(&l2).copied().collect();
    let dn_of = |a: Anchor| expected_person_dn(&plan.people[&a], &people_ou, &server.base);
    for (a, p) in &plan.people {
        let e = by_anchor.get(a).unwrap_or_else(|| panic!("{} ({}) not created", p.cn, a.0));
        assert_eq!(Dn::parse(&e.dn).unwrap(), dn_of(*a), "{} is in its unit's OU", p.cn);
        assert_eq!(one(e, "mS-DS-ConsistencyGuid").unwrap(), a.0.to_ad_bytes(), "{}", p.cn);
        let uac: u32 = text(e, "userAccountControl").unwrap().parse().unwrap();
        assert_eq!(uac & 2, 2, "{}: disabled (userAccountControl {uac})", p.cn);
        assert_eq!(text(e, "sAMAccountName").as_ref(), Some(&p.sam_account_name));
        assert_eq!(text(e, "userPrincipalName").as_ref(), Some(&p.user_principal_name));
        assert_eq!(text(e, "displayName").as_ref(), Some(&p.display_name));
        for (ad, graph) in [
            ("sn", "surname"),
            ("givenName", "givenName"),
            ("title", "jobTitle"),
            ("company", "companyName"),
            ("employeeID", "employeeId"),
            ("mail", "mail"),
            ("extensionAttribute1", "extensionAttribute1"),
        ] {
            assert_eq!(text(e, ad).as_ref(), p.cloud.get(graph), "{}: {ad}", p.cn);
        }
        assert_eq!(text(e, "employeeType").as_deref(), Some("Tillsvidareanställd"));
        assert_eq!(text(e, "physicalDeliveryOfficeName").as_deref(), Some("Storgatan 1, plan 2"));
        assert_eq!(text(e, "proxyAddresses"), Some(format!("SMTP:{}", p.cloud.get("mail").unwrap())));
        let manager = text(e, "manager").map(|m| Dn::parse(&m).unwrap());
        assert_eq!(manager, managers.get(a).map(|&m| dn_of(m)), "{}: manager", p.cn);
    }

    // Groups: members as planned across both waves, nested groups included.
    let groups = server.search(
        &format!("{groups_ou},{}", server.base),
        "(objectClass=group)",
        &["member", "groupType", "mS-DS-ConsistencyGuid", "sAMAccountName"],
    );
    assert_eq!(groups.len(), 3);
    let group_dn = |a: Anchor| {
        Dn::parse(&format!("CN={},{groups_ou},{}", samla::model::dn::escape_value(&plan.groups[&a].name), server.base))
            .unwrap()
    };
    for (g, group) in &plan.groups {
        let e = groups
            .iter()
            .find(|e| Dn::parse(&e.dn).unwrap() == group_dn(*g))
            .unwrap_or_else(|| panic!("group {} missing", group.name));
        assert_eq!(one(e, "mS-DS-ConsistencyGuid").unwrap(), g.0.to_ad_bytes());
        assert_eq!(text(e, "groupType").as_deref(), Some("-2147483646"), "{}", group.name);
        let want: BTreeSet<Dn> = m1
            .iter()
            .chain(&m2)
            .filter(|(x, _)| x == g)
            .map(|(_, m)| match *m {
                Member::Person(p) => dn_of(p),
                Member::Group(h) => group_dn(h),
            })
            .collect();
        let got = dn_values(e, "member");
        let (missing, extra): (Vec<_>, Vec<_>) = (want.difference(&got).collect(), got.difference(&want).collect());
        assert!(missing.is_empty() && extra.is_empty(), "{}: missing {missing:?}, unexpected {extra:?}", group.name);
    }
    let summary = ldap::summarize(&all_ops);
    assert_eq!(summary["bjuv"].users + summary["klippan"].users, 40);
}

/// Every wave of the sample estate, as `samla wave dry-run` prepares it, applies in order with
/// ldapmodify to the shared Samba domain: everyone mapped is created once, in their unit's OU,
/// with their anchor as mS-DS-ConsistencyGuid.
#[test]
fn every_wave_of_the_sample_estate_applies_to_the_shared_samba_dc() {
    let _shared = crate::support::shared_domain();
    let server = Server::from_env();
    let p = crate::dry_run::planned("0.3");
    let config = samla::config::Config::load(&p.config()).unwrap();
    let names: Vec<String> = config.sources.iter().map(|s| s.name.clone()).collect();
    let mut targets = samla::mapping::spec::load(&p.path().join("mappings"), &names).unwrap().target.targets;
    let id = run_id();
    targets.shared_ad.base_dn = server.base.clone();
    targets.shared_ad.people_ou = format!("OU=Kommuner-{id}");
    targets.shared_ad.groups_ou = format!("OU=Grupper-{id}");
    let people_base = format!("{},{}", targets.shared_ad.people_ou, server.base);
    let _cleanup = Cleanup {
        server: &server,
        dns: vec![people_base.clone(), format!("{},{}", targets.shared_ad.groups_ou, server.base)],
    };
    let waves = samla::plan::files::read_dir(&p.path().join("waves")).unwrap();
    let mut anchors = BTreeSet::new();
    let state = samla::state::State::open_read(&config.state_path).unwrap();
    for w in &waves {
        let purpose = samla::wave::prepare::Purpose::Send;
        let content = samla::wave::prepare::prepare(&config, &state, &w.number.to_string(), purpose).unwrap().content;
        anchors.extend(content.people.iter().map(|p| p.anchor));
        let ldif = p.path().join(format!("wave-{}.ldif", w.number));
        std::fs::write(&ldif, ldap::to_ldif(&ldap::render(&content, &targets).unwrap())).unwrap();
        let out = server.modify(&ldif);
        assert!(out.status.success(), "wave {}: {}", w.number, String::from_utf8_lossy(&out.stderr));
    }
    let users = server.search(&people_base, "(objectClass=user)", &["mS-DS-ConsistencyGuid"]);
    assert_eq!(users.len(), anchors.len(), "everyone once");
    let found: BTreeSet<Anchor> = users
        .iter()
        .map(|u| Anchor(ObjectGuid::from_ad_bytes(one(u, "mS-DS-ConsistencyGuid").unwrap()).unwrap()))
        .collect();
    assert_eq!(found, anchors);
}
