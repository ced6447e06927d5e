//! One municipality's plan: its organisation, the sizes of every account kind, and the pure
//! function from an account index to that account's identity and attributes.
//!
//! Nothing here holds per-user state. The plan is a few dozen small tables (units, schools,
//! the IT staff's admin accounts); an account is recomputed from `(seed, municipality, index)`
//! whenever it is needed: once when the user entry is written, and again each time a group
//! lists it as a member or a colleague names it as manager.
//!
//! Names are drawn independently per person from the weighted pools, so repeated names occur
//! as often as the weights say. Telling the holders of one name apart needs a count of the
//! earlier holders, and that is the only state: a [`NameCounter`] replays the names of one
//! scope (an OU for CNs, all staff or all students for mail addresses) in index order. Every
//! consumer walks indices in ascending order, so the replay costs one step per index, and the
//! counter holds at most one entry per distinct name.

use super::clock::{self, DAY, REFERENCE_UNIX};
use super::names::{self, GIVEN, Pool, SURNAMES, table};
use super::rng::{Permutation, SplitMix64, derive, keyed_chance, tag};
use super::spec::{EstateOptions, Flavor, MunicipalitySpec};
use super::specials::{SPECIALS, Special};
use crate::model::dn::escape_value;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Write as _;
use std::ops::Range;

/// AD's "never expires" value for `accountExpires`.
pub(crate) const NEVER: i64 = i64::MAX;
/// FILETIME ticks per day.
const TICKS_PER_DAY: i64 = DAY * 10_000_000;

/// Shares of the scaled user count, per mille.
const STAFF_PERMILLE: u64 = 600;
const STUDENT_PERMILLE: u64 = 300;
const SERVICE_PERMILLE: u64 = 20;
const RESOURCE_PERMILLE: u64 = 60;
const CONTACT_PERMILLE: u64 = 20;
/// Share of IT staff that also have an `adm-` account, per mille.
const ADMIN_PERMILLE: u64 = 650;

/// First RID of the estate's own groups; accounts follow from [`ACCOUNT_RID_BASE`].
const FIRST_RID: u32 = 1104;
/// First RID of accounts: room for 400 groups before them.
const ACCOUNT_RID_BASE: u32 = FIRST_RID + 400;

/// One administration (förvaltning) and its units.
struct AdminDef {
    name: &'static str,
    group: &'static str,
    head_title: &'static str,
    units: &'static [UnitDef],
}

struct UnitDef {
    name: &'static str,
    weight: u64,
    head_title: &'static str,
    titles: &'static [&'static str],
}

const KLK: AdminDef = AdminDef {
    name: "Kommunledningskontoret",
    group: "Kommunledningskontoret",
    head_title: "Kommundirektör",
    units: &[
        UnitDef {
            name: "Ekonomi",
            weight: 30,
            head_title: "Ekonomichef",
            titles: &["Ekonom", "Controller", "Redovisningsekonom", "Upphandlare", "Ekonomiassistent"],
        },
        UnitDef {
            name: "HR",
            weight: 30,
            head_title: "HR-chef",
            titles: &["HR-konsult", "HR-specialist", "Lönespecialist", "Löneadministratör"],
        },
        UnitDef {
            name: "Kansli",
            weight: 20,
            head_title: "Kanslichef",
            titles: &["Nämndsekreterare", "Registrator", "Kommunjurist", "Utredare", "Kommunikatör"],
        },
    ],
};

const SOC: AdminDef = AdminDef {
    name: "Socialförvaltningen",
    group: "Socialförvaltningen",
    head_title: "Socialchef",
    units: &[
        UnitDef {
            name: "Hemtjänst",
            weight: 140,
            head_title: "Enhetschef",
            titles: &["Undersköterska", "Undersköterska", "Vårdbiträde", "Samordnare hemtjänst"],
        },
        UnitDef {
            name: "Äldreboende",
            weight: 160,
            head_title: "Enhetschef",
            titles: &["Undersköterska", "Undersköterska", "Sjuksköterska", "Vårdbiträde", "Arbetsterapeut"],
        },
        UnitDef {
            name: "Individ- och familjeomsorg",
            weight: 60,
            head_title: "Enhetschef",
            titles: &["Socialsekreterare", "Familjebehandlare", "Biståndshandläggare", "Alkoholhandläggare"],
        },
        UnitDef {
            name: "LSS",
            weight: 60,
            head_title: "Enhetschef",
            titles: &["Stödassistent", "Boendestödjare", "LSS-handläggare", "Personlig assistent"],
        },
    ],
};

const BOU: AdminDef = AdminDef {
    name: "Barn- och utbildningsförvaltningen",
    group: "Barn- och utbildningsförvaltningen",
    head_title: "Skolchef",
    units: &[],
};
const SCHOOL_TITLES: &[&str] = &["Lärare", "Lärare", "Lärare", "Fritidspedagog", "Elevassistent", "Specialpedagog"];
const PRESCHOOL_TITLES: &[&str] = &["Förskollärare", "Barnskötare", "Barnskötare", "Förskollärare"];

const TEK: AdminDef = AdminDef {
    name: "Tekniska förvaltningen",
    group: "Tekniska förvaltningen",
    head_title: "Teknisk chef",
    units: &[
        UnitDef {
            name: "Gata och park",
            weight: 30,
            head_title: "Enhetschef",
            titles: &["Parkarbetare", "Arbetsledare", "Maskinförare"],
        },
        UnitDef { name: "VA", weight: 30, head_title: "VA-chef", titles: &["Drifttekniker VA", "VA-ingenjör"] },
        UnitDef {
            name: "Fastighet",
            weight: 30,
            head_title: "Fastighetschef",
            titles: &["Fastighetsskötare", "Förvaltare"],
        },
        UnitDef {
            name: "Kost och lokalvård",
            weight: 50,
            head_title: "Kostchef",
            titles: &["Kock", "Måltidsbiträde", "Lokalvårdare", "Lokalvårdare"],
        },
    ],
};

const IT: AdminDef = AdminDef {
    name: "IT",
    group: "IT-avdelningen",
    head_title: "IT-chef",
    units: &[
        UnitDef {
            name: "Drift",
            weight: 12,
            head_title: "Driftchef",
            titles: &["Systemtekniker", "Nätverkstekniker", "IT-arkitekt", "Systemförvaltare"],
        },
        UnitDef {
            name: "Servicedesk",
            weight: 8,
            head_title: "Gruppchef servicedesk",
            titles: &["IT-supporttekniker", "IT-tekniker"],
        },
    ],
};

/// Administrations in writing order: the kommundirektör (first staff member) comes first, so
/// every manager is written before the people who report to them.
const ADMINS: [&AdminDef; 5] = [&KLK, &SOC, &BOU, &TEK, &IT];
pub(crate) const ADMIN_SOC: usize = 1;
pub(crate) const ADMIN_BOU: usize = 2;
pub(crate) const ADMIN_IT: usize = 4;

/// Systems with service accounts (`svc-<system>`, code at most 10 characters) and what they do.
const SYSTEMS: &[(&str, &str)] = &[
    ("treserva", "Treserva verksamhetssystem"),
    ("heroma", "Heroma personalsystem"),
    ("backup", "säkerhetskopiering"),
    ("procapita", "Procapita LSS"),
    ("viva", "Viva ekonomiskt bistånd"),
    ("ekonomi", "ekonomisystemet"),
    ("sql", "SQL Server"),
    ("sccm", "klienthantering"),
    ("print", "utskriftsservern"),
    ("scan", "skanning till e-post"),
    ("aadconnect", "katalogsynkronisering"),
    ("w3d3", "diariet"),
    ("skola24", "schemaläggning"),
    ("edlevo", "elevregistret"),
    ("ciceron", "ärendehantering"),
    ("tidrapp", "tidrapportering"),
];

/// Shared mailboxes and rooms: (prefix, code ≤ 10, display name).
const RESOURCES: &[(&str, &str, &str)] = &[
    ("rum", "kommunhus", "Rum Kommunhuset"),
    ("funk", "reception", "Funktion Receptionen"),
    ("rum", "stadshuset", "Rum Sammanträdessalen"),
    ("funk", "vaxel", "Funktion Växeln"),
    ("funk", "hemtjanst", "Funktion Hemtjänsten"),
    ("rum", "angsbacken", "Rum Ängsbacken"),
    ("funk", "registrat", "Funktion Registrator"),
    ("funk", "ekonomi", "Funktion Ekonomi"),
    ("rum", "biblioteket", "Rum Biblioteket"),
    ("funk", "itsupport", "Funktion IT-support"),
    ("funk", "loner", "Funktion Löner"),
    ("rum", "oresund", "Rum Öresund"),
];

/// Contacts' organisations: (name, mail domain).
const CONTACT_ORGS: &[(&str, &str)] = &[
    ("Region Skåne", "region.example"),
    ("Söderåsens miljöförbund", "miljoforbund.example"),
    ("Renhållningsbolaget", "renhallning.example"),
    ("Konsultbolaget AB", "konsult.example"),
    ("Vårdbolaget", "vard.example"),
    ("Skolförlaget", "forlaget.example"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Staff,
    Student,
    Admin,
    Service,
    Resource,
    /// The built-in Administrator (RID 500), only in flavours that carry built-ins.
    BuiltinAdmin,
}

pub(crate) struct AdminPlan {
    pub name: &'static str,
    pub group: &'static str,
    pub dn: String,
    pub units: Range<usize>,
    /// Staff index range of the whole administration.
    pub staff: Range<u64>,
    pub head_title: &'static str,
}

pub(crate) struct UnitPlan {
    pub admin: usize,
    pub name: &'static str,
    pub dn: String,
    pub staff: Range<u64>,
    pub head_title: &'static str,
    pub titles: &'static [&'static str],
    pub cost_centre: String,
}

pub(crate) struct SchoolPlan {
    pub name: &'static str,
    pub dn: String,
    /// Account index range of its students.
    pub students: Range<u64>,
}

pub(crate) struct AdminAccount {
    /// Staff index of the person who owns the account.
    pub owner: u64,
    pub sam: String,
    pub drift: bool,
}

/// A person's name, with its ids in the [name table](names::table).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Person {
    pub given: &'static str,
    pub sn: &'static str,
    gid: u32,
    sid: u32,
    pub special: Option<&'static Special>,
}

impl Person {
    fn from_ids(gid: u32, sid: u32, special: Option<&'static Special>) -> Person {
        let t = table();
        Person { given: t.entry(gid).name, sn: t.entry(sid).name, gid, sid, special }
    }

    fn from_special(s: &'static Special) -> Person {
        Person::from_ids(table().id(s.given), table().id(s.sn), Some(s))
    }

    pub(crate) fn given_folded(&self) -> &'static str {
        &table().entry(self.gid).folded
    }

    pub(crate) fn sn_folded(&self) -> &'static str {
        &table().entry(self.sid).folded
    }

    /// Names that fold alike share a key: they would share a mail address.
    fn fold_key(&self) -> u64 {
        let t = table();
        (u64::from(t.entry(self.gid).fold_id) << 32) | u64::from(t.entry(self.sid).fold_id)
    }

    /// `given.surname`, plus `k + 1` for the k-th later holder of the name in the scope.
    pub(crate) fn mail_local(&self, k: u64) -> String {
        let mut s = format!("{}.{}", self.given_folded(), self.sn_folded());
        if k > 0 {
            let _ = write!(s, "{}", k + 1);
        }
        s
    }

    pub(crate) fn display(&self) -> String {
        match self.special.and_then(|s| s.display) {
            Some(d) => d.to_string(),
            None => format!("{} {}", self.given, self.sn),
        }
    }

    fn cn(&self, surname_first: bool, k: u64) -> String {
        if let Some(d) = self.special.and_then(|s| s.display) {
            return d.to_string();
        }
        // AD keeps a cn within 64 characters: an administrator with a longer name to write
        // drops the middle given names (the displayName keeps them all).
        let given = if self.given.chars().count() + self.sn.chars().count() + 2 > CN_MAX {
            self.given.split(' ').next().unwrap_or(self.given)
        } else {
            self.given
        };
        let mut s = if surname_first { format!("{}, {given}", self.sn) } else { format!("{given} {}", self.sn) };
        if k > 0 {
            let _ = write!(s, " {}", k + 1);
        }
        s
    }
}

/// AD's upper bound for cn (rangeUpper in the schema).
const CN_MAX: usize = 64;

/// Counts earlier holders of each name within one scope (an index range), replaying the scope
/// in index order; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct NameCounter {
    scope: Range<u64>,
    next: u64,
    /// Keyed by the folded `given.surname`, so `Jonsson` and `Jönsson` count as one name (they
    /// would share a mail address, and accent-blind comparisons would call their CNs equal).
    counts: HashMap<u64, u64>,
}

/// What a DN reference needs: the account's kind, CN and DN.
pub(crate) struct Identity {
    pub kind: Kind,
    pub cn: String,
    pub dn: String,
    pub sam: String,
    pub person: Option<Person>,
    /// Unit (staff) or school (students) index.
    pub place: usize,
}

/// Every attribute of one user entry, flavour-independent.
pub(crate) struct UserRecord {
    pub id: Identity,
    pub given: Option<String>,
    pub sn: Option<String>,
    pub display: String,
    pub upn: String,
    pub mail: Option<String>,
    pub proxies: Vec<String>,
    pub title: Option<&'static str>,
    pub department: Option<&'static str>,
    pub company: Option<&'static str>,
    pub description: Option<String>,
    pub employee_id: Option<String>,
    pub employee_number: Option<String>,
    pub employee_type: Option<&'static str>,
    pub telephone: Option<String>,
    pub mobile: Option<String>,
    pub manager: Option<u64>,
    pub ext: Vec<(u8, String)>,
    pub uac: i64,
    pub account_expires: i64,
    pub pwd_last_set: i64,
    pub last_logon: Option<i64>,
    pub created: i64,
    pub changed: i64,
    pub temporary: bool,
}

pub(crate) struct ContactRecord {
    pub cn: String,
    pub dn: String,
    pub given: String,
    pub sn: String,
    pub display: String,
    pub mail: String,
    pub company: String,
    pub telephone: Option<String>,
    pub description: String,
    pub created: i64,
    pub changed: i64,
}

/// A colleague in a neighbouring municipality, kept as a contact (mail points at their account).
struct Colleague {
    person: Person,
    muni: &'static MunicipalitySpec,
}

pub(crate) struct Plan {
    pub muni: MunicipalitySpec,
    pub flavor: Flavor,
    pub key: u64,
    pub admins: Vec<AdminPlan>,
    pub units: Vec<UnitPlan>,
    pub schools: Vec<SchoolPlan>,
    pub n_staff: u64,
    pub n_students: u64,
    pub n_service: u64,
    pub n_resource: u64,
    pub n_contacts: u64,
    pub admin_accounts: Vec<AdminAccount>,
    /// Domain SID sub-authorities `S-1-5-21-a-b-c`.
    pub domain: [u32; 3],
    pub dn_users: String,
    pub dn_builtin: String,
    pub dn_admins: String,
    pub dn_service: String,
    pub dn_resources: String,
    pub dn_groups: String,
    pub dn_contacts: String,
    pub dn_students: String,
    specials: Vec<(u64, &'static Special)>,
    colleagues: Vec<Colleague>,
    given: Pool,
    surnames: Pool,
    pnr_perm: Permutation,
}

fn ou(name: &str, parent: &str) -> String {
    format!("OU={},{}", escape_value(name), parent)
}

/// Splits `total` over `weights` by the largest-remainder method (deterministic, exact sum).
fn apportion(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u64 = weights.iter().sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut out: Vec<u64> = weights.iter().map(|w| total * w / sum).collect();
    let mut rest: Vec<(u64, usize)> = weights.iter().enumerate().map(|(i, w)| (total * w % sum, i)).collect();
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let assigned: u64 = out.iter().sum();
    for &(_, i) in rest.iter().take((total - assigned) as usize) {
        out[i] += 1;
    }
    out
}

fn permille(n: u64, p: u64) -> u64 {
    (n * p + 500) / 1000
}

/// Birth dates 1950-01-01 ..= 2005-12-31 and serials 001..=999 of synthetic personnummer.
const PNR_FIRST_DAY: i64 = clock::days_from_civil(1950, 1, 1);
const PNR_DAYS: u64 = (clock::days_from_civil(2005, 12, 31) - PNR_FIRST_DAY + 1) as u64;

/// The Luhn check digit of the ten-digit form `YYMMDDNNN`.
pub(crate) fn luhn_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let v = u32::from(d - b'0') * if i % 2 == 0 { 2 } else { 1 };
            v / 10 + v % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl Plan {
    pub(crate) fn new(opts: &EstateOptions, muni: &MunicipalitySpec, flavor: Flavor) -> Plan {
        let muni = *muni;
        let key = derive(derive(tag("samla-estate"), opts.seed), tag(muni.id));
        let base = muni.base_dn;
        let total = (f64::from(muni.base_users) * opts.scale).round().max(0.0) as u64;
        let n_staff = permille(total, STAFF_PERMILLE);
        let n_students = permille(total, STUDENT_PERMILLE);
        let n_service = permille(total, SERVICE_PERMILLE);
        let n_resource = permille(total, RESOURCE_PERMILLE);
        let n_contacts = permille(total, CONTACT_PERMILLE);

        // Units and their staff ranges, administration by administration.
        let mut unit_defs: Vec<(usize, &'static str, u64, &'static str, &'static [&'static str])> = Vec::new();
        for (a, def) in ADMINS.iter().enumerate() {
            if a == ADMIN_BOU {
                for s in muni.schools {
                    unit_defs.push((a, s, 80, "Rektor", SCHOOL_TITLES));
                }
                for s in muni.preschools {
                    unit_defs.push((a, s, 45, "Förskolechef", PRESCHOOL_TITLES));
                }
            } else {
                for u in def.units {
                    unit_defs.push((a, u.name, u.weight, u.head_title, u.titles));
                }
            }
        }
        let sizes = apportion(n_staff, &unit_defs.iter().map(|u| u.2).collect::<Vec<_>>());
        let mut admins: Vec<AdminPlan> = ADMINS
            .iter()
            .map(|d| AdminPlan {
                name: d.name,
                group: d.group,
                dn: ou(d.name, base),
                units: 0..0,
                staff: 0..0,
                head_title: d.head_title,
            })
            .collect();
        let mut units = Vec::with_capacity(unit_defs.len());
        let mut next = 0u64;
        let mut per_admin_no = [0usize; 5];
        for (i, &(a, name, _, head_title, titles)) in unit_defs.iter().enumerate() {
            let size = sizes.get(i).copied().unwrap_or(0);
            per_admin_no[a] += 1;
            let admin = &mut admins[a];
            if admin.units.is_empty() {
                admin.units = i..i + 1;
                admin.staff = next..next + size;
            } else {
                admin.units.end = i + 1;
                admin.staff.end = next + size;
            }
            units.push(UnitPlan {
                admin: a,
                name,
                dn: ou(name, &admin.dn),
                staff: next..next + size,
                head_title,
                titles,
                cost_centre: format!("{}{}{:02}", muni.number, a + 1, per_admin_no[a]),
            });
            next += size;
        }

        let dn_students = ou("Elever", &admins[ADMIN_BOU].dn);
        let student_sizes = apportion(n_students, &vec![1; muni.schools.len()]);
        let mut schools = Vec::with_capacity(muni.schools.len());
        let mut next = n_staff;
        for (i, s) in muni.schools.iter().enumerate() {
            let size = student_sizes.get(i).copied().unwrap_or(0);
            schools.push(SchoolPlan { name: s, dn: ou(s, &dn_students), students: next..next + size });
            next += size;
        }

        let specials_here: Vec<&'static Special> = SPECIALS.iter().filter(|s| s.munis.contains(&muni.id)).collect();
        let m = specials_here.len() as u64;
        let specials: Vec<(u64, &'static Special)> = if n_staff >= m {
            specials_here.iter().enumerate().map(|(j, s)| ((2 * j as u64 + 1) * n_staff / (2 * m), *s)).collect()
        } else {
            specials_here.iter().take(n_staff as usize).enumerate().map(|(j, s)| (j as u64, *s)).collect()
        };

        let given = Pool::new(GIVEN);
        let surnames = Pool::new(SURNAMES);
        let domain = {
            let mut r = SplitMix64::new(derive(key, tag("domain-sid")));
            [
                (1 + r.below(u64::from(u32::MAX - 1))) as u32,
                (1 + r.below(u64::from(u32::MAX - 1))) as u32,
                (1 + r.below(u64::from(u32::MAX - 1))) as u32,
            ]
        };
        let mut plan = Plan {
            muni,
            flavor,
            key,
            admins,
            units,
            schools,
            n_staff,
            n_students,
            n_service,
            n_resource,
            n_contacts,
            admin_accounts: Vec::new(),
            domain,
            dn_users: format!("CN=Users,{base}"),
            dn_builtin: format!("CN=Builtin,{base}"),
            dn_admins: ou("Admins", base),
            dn_service: ou("Servicekonton", base),
            dn_resources: ou("Resurser", base),
            dn_groups: ou("Grupper", base),
            dn_contacts: ou("Kontakter", base),
            dn_students,
            specials,
            colleagues: Vec::new(),
            given,
            surnames,
            pnr_perm: Permutation::new(PNR_DAYS * 999, derive(key, tag("personnummer"))),
        };
        plan.admin_accounts = plan.build_admin_accounts();
        plan.colleagues = plan.build_colleagues();
        plan
    }

    /// `adm-<initials>` for most IT staff; a repeated set of initials gets a number.
    fn build_admin_accounts(&self) -> Vec<AdminAccount> {
        let mut used: HashMap<String, u32> = HashMap::new();
        let mut out = Vec::new();
        let it = &self.admins[ADMIN_IT];
        for u in it.units.clone() {
            let unit = &self.units[u];
            let drift = unit.name == "Drift";
            for idx in unit.staff.clone() {
                if !self.chance(idx, tag("adm"), ADMIN_PERMILLE) {
                    continue;
                }
                let p = self.person(idx);
                let ini = format!("{}{}", names::initials(p.given), names::initials(p.sn));
                let n = used.entry(ini.clone()).or_insert(0);
                *n += 1;
                let sam = if *n == 1 { format!("adm-{ini}") } else { format!("adm-{ini}{n}") };
                out.push(AdminAccount { owner: idx, sam, drift });
            }
        }
        out
    }

    /// The "Anna Andersson" of the next municipality, as a contact here.
    fn build_colleagues(&self) -> Vec<Colleague> {
        let all = super::spec::municipalities();
        let Some(pos) = all.iter().position(|m| m.id == self.muni.id) else {
            return Vec::new();
        };
        let other = &all[(pos + 1) % all.len()];
        SPECIALS
            .iter()
            .filter(|s| s.munis.contains(&other.id) && s.munis.len() > 1)
            .take(1)
            .map(|s| Colleague { person: Person::from_special(s), muni: other })
            .collect()
    }

    /// A keyed coin for `idx` that does not depend on the order of questions asked.
    pub(crate) fn chance(&self, idx: u64, purpose: u64, permille: u64) -> bool {
        keyed_chance(derive(derive(self.key, purpose), idx), permille)
    }

    pub(crate) fn group_rid_base(&self) -> u32 {
        FIRST_RID
    }

    pub(crate) fn n_admin(&self) -> u64 {
        self.admin_accounts.len() as u64
    }

    pub(crate) fn has_builtins(&self) -> bool {
        self.flavor != Flavor::Samba
    }

    /// Number of account indices (the built-in Administrator, when present, is the last).
    pub(crate) fn n_accounts(&self) -> u64 {
        self.n_staff
            + self.n_students
            + self.n_admin()
            + self.n_service
            + self.n_resource
            + u64::from(self.has_builtins())
    }

    pub(crate) fn students(&self) -> Range<u64> {
        self.n_staff..self.n_staff + self.n_students
    }
    pub(crate) fn admin_range(&self) -> Range<u64> {
        let s = self.n_staff + self.n_students;
        s..s + self.n_admin()
    }
    pub(crate) fn service_range(&self) -> Range<u64> {
        let s = self.admin_range().end;
        s..s + self.n_service
    }
    pub(crate) fn resource_range(&self) -> Range<u64> {
        let s = self.service_range().end;
        s..s + self.n_resource
    }
    pub(crate) fn builtin_admin(&self) -> Option<u64> {
        self.has_builtins().then(|| self.resource_range().end)
    }
    pub(crate) fn n_contacts_total(&self) -> u64 {
        self.n_contacts + self.colleagues.len() as u64
    }

    pub(crate) fn kind(&self, idx: u64) -> (Kind, u64) {
        if idx < self.n_staff {
            (Kind::Staff, idx)
        } else if self.students().contains(&idx) {
            (Kind::Student, idx - self.n_staff)
        } else if self.admin_range().contains(&idx) {
            (Kind::Admin, idx - self.admin_range().start)
        } else if self.service_range().contains(&idx) {
            (Kind::Service, idx - self.service_range().start)
        } else if self.resource_range().contains(&idx) {
            (Kind::Resource, idx - self.resource_range().start)
        } else {
            (Kind::BuiltinAdmin, 0)
        }
    }

    /// The unit of a staff index.
    pub(crate) fn unit_of(&self, staff: u64) -> usize {
        self.units.partition_point(|u| u.staff.end <= staff).min(self.units.len().saturating_sub(1))
    }

    fn school_of(&self, idx: u64) -> usize {
        self.schools.partition_point(|s| s.students.end <= idx).min(self.schools.len().saturating_sub(1))
    }

    pub(crate) fn is_unit_head(&self, idx: u64) -> bool {
        idx < self.n_staff && self.units.get(self.unit_of(idx)).is_some_and(|u| u.staff.start == idx)
    }

    pub(crate) fn is_admin_head(&self, idx: u64) -> bool {
        idx < self.n_staff && self.units.get(self.unit_of(idx)).is_some_and(|u| self.admins[u.admin].staff.start == idx)
    }

    /// The name of person `p` (staff index, or `n_staff +` student index): a special at its
    /// fixed position, otherwise a weighted draw keyed by the index.
    pub(crate) fn person(&self, p: u64) -> Person {
        if let Some(&(_, s)) = self.specials.iter().find(|(at, _)| *at == p) {
            return Person::from_special(s);
        }
        self.drawn_name(tag("name"), p)
    }

    fn drawn_name(&self, purpose: u64, p: u64) -> Person {
        let mut r = SplitMix64::new(derive(derive(self.key, purpose), p));
        let given = self.given.at(r.below(self.given.slots()));
        let sn = self.surnames.at(r.below(self.surnames.slots()));
        Person::from_ids(given, sn, None)
    }

    /// The name of generated contact `n` (after the colleagues).
    fn contact_person(&self, n: u64) -> Person {
        self.drawn_name(tag("contact-name"), n)
    }

    /// The scope in which CNs must differ: the account's OU (unit, school), or all contacts.
    fn cn_scope(&self, idx: u64) -> Range<u64> {
        match self.kind(idx).0 {
            Kind::Staff => self.units.get(self.unit_of(idx)).map_or(0..self.n_staff, |u| u.staff.clone()),
            Kind::Student => self.schools.get(self.school_of(idx)).map_or(self.students(), |s| s.students.clone()),
            _ => idx..idx + 1,
        }
    }

    /// The scope in which mail addresses must differ: all staff, or all students (own domain).
    fn mail_scope(&self, idx: u64) -> Range<u64> {
        if idx < self.n_staff { 0..self.n_staff } else { self.students() }
    }

    /// How many earlier holders of `idx`'s name the scope has (0 for the first; specials are
    /// always 0, and generated namesakes of a special in the scope start at 1).
    fn name_rank(&self, c: &mut NameCounter, scope: Range<u64>, idx: u64, person: impl Fn(u64) -> Person) -> u64 {
        self.rank_in(c, scope, idx, person, true)
    }

    fn rank_in(
        &self,
        c: &mut NameCounter,
        scope: Range<u64>,
        idx: u64,
        person: impl Fn(u64) -> Person,
        accounts: bool,
    ) -> u64 {
        if c.scope != scope || idx < c.next || c.next < scope.start {
            c.scope = scope.clone();
            c.next = scope.start;
            c.counts.clear();
            for (at, s) in &self.specials {
                if accounts && scope.contains(at) {
                    *c.counts.entry(Person::from_special(s).fold_key()).or_insert(0) += 1;
                }
            }
        }
        let mut bump = |p: Person| -> u64 {
            if p.special.is_some() {
                return 0;
            }
            match c.counts.entry(p.fold_key()) {
                Entry::Occupied(mut e) => {
                    let k = *e.get();
                    *e.get_mut() += 1;
                    k
                }
                Entry::Vacant(e) => {
                    e.insert(1);
                    0
                }
            }
        };
        let mut i = c.next;
        while i < idx {
            bump(person(i));
            i += 1;
        }
        let k = bump(person(idx));
        c.next = idx + 1;
        k
    }

    fn staff_surname_first(&self, idx: u64, p: &Person) -> bool {
        self.muni.cn_surname_first
            || p.special.is_some_and(|s| s.surname_first)
            || (p.special.is_none() && self.chance(idx, tag("legacy-cn"), 40))
    }

    fn staff_sam(&self, idx: u64, p: &Person) -> String {
        format!("{}{}{:03}", names::letters(p.given_folded(), 3), names::letters(p.sn_folded(), 3), idx + 1)
    }

    fn student_start_year(&self, idx: u64) -> (i64, i64) {
        let grade = 1 + SplitMix64::new(derive(derive(self.key, tag("grade")), idx)).below(9) as i64;
        (2025 - (grade - 1), grade)
    }

    /// Identity of account `idx`: enough to write a DN reference to it. `c` counts names in
    /// the account's OU; pass the same counter for ascending indices to keep it cheap.
    pub(crate) fn identity(&self, idx: u64, c: &mut NameCounter) -> Identity {
        let (kind, local) = self.kind(idx);
        match kind {
            Kind::Staff => {
                let p = self.person(idx);
                let k = self.name_rank(c, self.cn_scope(idx), idx, |i| self.person(i));
                let cn = p.cn(self.staff_surname_first(idx, &p), k);
                let place = self.unit_of(idx);
                let parent = self.units.get(place).map_or(self.muni.base_dn, |u| u.dn.as_str());
                let dn = format!("CN={},{parent}", escape_value(&cn));
                Identity { kind, sam: self.staff_sam(idx, &p), cn, dn, person: Some(p), place }
            }
            Kind::Student => {
                let p = self.person(idx);
                let k = self.name_rank(c, self.cn_scope(idx), idx, |i| self.person(i));
                let cn = p.cn(false, k);
                let place = self.school_of(idx);
                let parent = self.schools.get(place).map_or(self.dn_students.as_str(), |s| s.dn.as_str());
                let dn = format!("CN={},{parent}", escape_value(&cn));
                let (start, _) = self.student_start_year(idx);
                let sam = format!(
                    "{:02}{}{}{:03}",
                    start % 100,
                    names::letters(p.given_folded(), 2),
                    names::letters(p.sn_folded(), 2),
                    local + 1
                );
                Identity { kind, sam, cn, dn, person: Some(p), place }
            }
            Kind::Admin => {
                let acct = &self.admin_accounts[local as usize];
                let p = self.person(acct.owner);
                let cn = acct.sam.clone();
                let dn = format!("CN={},{}", escape_value(&cn), self.dn_admins);
                Identity { kind, sam: acct.sam.clone(), cn, dn, person: Some(p), place: 0 }
            }
            Kind::Service => {
                let (code, _) = SYSTEMS[(local % SYSTEMS.len() as u64) as usize];
                let round = local / SYSTEMS.len() as u64;
                let sam = if round == 0 { format!("svc-{code}") } else { format!("svc-{code}{}", round + 1) };
                let dn = format!("CN={},{}", escape_value(&sam), self.dn_service);
                Identity { kind, cn: sam.clone(), sam, dn, person: None, place: 0 }
            }
            Kind::Resource => {
                let (prefix, code, display) = RESOURCES[(local % RESOURCES.len() as u64) as usize];
                let n = local / RESOURCES.len() as u64 + 1;
                let (sam, cn) = if prefix == "rum" || n > 1 {
                    (format!("{prefix}-{code}{n}"), format!("{display} {n}"))
                } else {
                    (format!("{prefix}-{code}"), display.to_string())
                };
                let dn = format!("CN={},{}", escape_value(&cn), self.dn_resources);
                Identity { kind, sam, cn, dn, person: None, place: 0 }
            }
            Kind::BuiltinAdmin => {
                let cn = "Administrator".to_string();
                let dn = format!("CN=Administrator,{}", self.dn_users);
                Identity { kind, sam: cn.clone(), cn, dn, person: None, place: 0 }
            }
        }
    }

    /// The DN of one account, counting names from the start of its OU: cheap for unit heads
    /// (the first of their OU); use [`Plan::identity`] with a kept counter for many.
    pub(crate) fn dn_of(&self, idx: u64) -> String {
        self.identity(idx, &mut NameCounter::default()).dn
    }

    /// The account's RID: 500 for the built-in Administrator, else after the groups'.
    pub(crate) fn rid(&self, idx: u64) -> u32 {
        match self.kind(idx).0 {
            Kind::BuiltinAdmin => 500,
            _ => ACCOUNT_RID_BASE.saturating_add(idx as u32),
        }
    }

    /// Manager of a staff member: unit head ← administration head ← kommundirektör.
    fn manager_of(&self, idx: u64) -> Option<u64> {
        let unit = self.units.get(self.unit_of(idx))?;
        let admin_head = self.admins[unit.admin].staff.start;
        let top = self.admins.iter().find(|a| !a.staff.is_empty()).map(|a| a.staff.start)?;
        if idx != unit.staff.start {
            Some(unit.staff.start)
        } else if idx != admin_head {
            Some(admin_head)
        } else if idx != top {
            Some(top)
        } else {
            None
        }
    }

    /// Synthetic personnummer `YYYYMMDD-NNNC` (born 1950-2005, valid Luhn digit), unique per index.
    pub(crate) fn personnummer(&self, staff: u64) -> String {
        let x = self.pnr_perm.apply(staff);
        let (y, m, d) = clock::civil_from_days(PNR_FIRST_DAY + (x / 999) as i64);
        let serial = x % 999 + 1;
        let ten = format!("{:02}{m:02}{d:02}{serial:03}", y % 100);
        let check = luhn_digit(ten.as_bytes());
        format!("{y:04}{m:02}{d:02}-{serial:03}{check}")
    }

    fn phone(&self, r: &mut SplitMix64) -> String {
        format!("{}-{:02} {:02} {:02}", self.muni.area_code, 10 + r.below(90), r.below(100), r.below(100))
    }

    fn never_expires(&self, r: &mut SplitMix64) -> i64 {
        let zero_first = self.muni.never_expires_is_zero;
        if r.chance(800) == zero_first { 0 } else { NEVER }
    }

    /// Every attribute of account `idx`.
    /// `cn` counts names per OU and `mail` per mail scope; keep both across ascending indices.
    pub(crate) fn user(&self, idx: u64, cn: &mut NameCounter, mail: &mut NameCounter) -> UserRecord {
        let id = self.identity(idx, cn);
        let mail_k = match id.kind {
            Kind::Staff | Kind::Student => self.name_rank(mail, self.mail_scope(idx), idx, |i| self.person(i)),
            _ => 0,
        };
        let mut r = SplitMix64::new(derive(derive(self.key, tag("user")), idx));
        let muni = self.muni;
        let ref_t = REFERENCE_UNIX;
        let ago = |r: &mut SplitMix64, lo_days: i64, hi_days: i64| ref_t - r.between(lo_days * DAY, hi_days * DAY);
        let mut rec = UserRecord {
            given: None,
            sn: None,
            display: id.cn.clone(),
            upn: format!("{}@{}", id.sam, muni.mail_domain),
            mail: None,
            proxies: Vec::new(),
            title: None,
            department: None,
            company: Some(muni.display_name),
            description: None,
            employee_id: None,
            employee_number: None,
            employee_type: None,
            telephone: None,
            mobile: None,
            manager: None,
            ext: Vec::new(),
            uac: 512,
            account_expires: NEVER,
            pwd_last_set: 0,
            last_logon: None,
            created: 0,
            changed: 0,
            temporary: false,
            id,
        };
        let id = &rec.id;
        let person = id.person;
        match id.kind {
            Kind::Staff => {
                let Some(p) = person else { return rec };
                let unit = &self.units[id.place];
                let local = p.mail_local(mail_k);
                let mail = format!("{local}@{}", muni.mail_domain);
                rec.given = Some(p.given.to_string());
                rec.sn = Some(p.sn.to_string());
                rec.display = p.display();
                rec.upn = if muni.upn_is_sam { format!("{}@{}", id.sam, muni.mail_domain) } else { mail.clone() };
                rec.proxies.push(format!("SMTP:{mail}"));
                rec.proxies.push(format!("smtp:{local}@{}.mail.onmicrosoft.com", muni.id));
                if r.chance(300) {
                    rec.proxies.push(format!("smtp:{}@{}", id.sam, muni.mail_domain));
                }
                rec.mail = Some(mail);
                rec.title = Some(if self.is_admin_head(idx) {
                    self.admins[unit.admin].head_title
                } else if self.is_unit_head(idx) {
                    unit.head_title
                } else {
                    r.pick(unit.titles).copied().unwrap_or("Handläggare")
                });
                rec.department = Some(unit.name);
                rec.employee_id = Some(match p.special.and_then(|s| s.employee_id) {
                    Some(e) => e.to_string(),
                    None => format!("{}{:07}", muni.number, 100_000 + idx),
                });
                if muni.personnummer_in_employee_number {
                    rec.employee_number = Some(self.personnummer(idx));
                }
                rec.manager = self.manager_of(idx);
                let kind_roll = r.below(1000);
                // The specials (one person in several municipalities, matched by the mapping)
                // are permanent staff: an ended temporary contract (accountExpires passed) would
                // take the account out of scope, and with it the match it is there to show.
                rec.temporary = kind_roll >= 850 && !self.is_unit_head(idx) && p.special.is_none();
                rec.employee_type = Some(if !rec.temporary {
                    "Tillsvidareanställd"
                } else if kind_roll < 920 {
                    "Visstidsanställd"
                } else {
                    "Timavlönad"
                });
                if r.chance(700) {
                    rec.telephone = Some(self.phone(&mut r));
                }
                if r.chance(400) {
                    rec.mobile =
                        Some(format!("07{}-{:03} {:02} {:02}", r.below(10), r.below(1000), r.below(100), r.below(100)));
                }
                if muni.cost_centre_in_extension_attribute1 {
                    rec.ext.push((1, unit.cost_centre.clone()));
                }
                rec.ext.push((2, rec.employee_type.unwrap_or_default().to_string()));
                // The specials are in scope and active at every scale: they are there to be
                // migrated (the dice are still rolled, so nobody else changes).
                if r.chance(10) && p.special.is_none() {
                    rec.ext.push((15, "NoSync".to_string()));
                }
                let disabled = r.chance(40) && p.special.is_none();
                rec.created = ago(&mut r, 60, 17 * 365);
                self.activity(&mut r, &mut rec, disabled, 70, 20);
                if disabled {
                    rec.description = Some(format!("Slutat {}", clock::date(rec.changed)));
                }
                rec.account_expires = if rec.temporary {
                    let day = (ref_t / DAY) + r.between(-200, 365);
                    clock::filetime(day * DAY)
                } else {
                    self.never_expires(&mut r)
                };
            }
            Kind::Student => {
                let Some(p) = person else { return rec };
                let (start, grade) = self.student_start_year(idx);
                let school = self.schools.get(id.place).map_or("Elever", |s| s.name);
                let mail = format!("{}@elev.{}", p.mail_local(mail_k), muni.mail_domain);
                rec.given = Some(p.given.to_string());
                rec.sn = Some(p.sn.to_string());
                rec.display = p.display();
                rec.upn = mail.clone();
                rec.proxies.push(format!("SMTP:{mail}"));
                rec.mail = Some(mail);
                rec.title = Some("Elev");
                rec.department = Some(school);
                rec.employee_type = Some("Elev");
                let class = (b'A' + r.below(3) as u8) as char;
                rec.ext.push((1, format!("{grade}{class}")));
                rec.ext.push((2, "Elev".to_string()));
                let disabled = r.chance(30);
                rec.created = clock::unix(start, 8, 10) + r.between(0, 20 * DAY) + r.between(6 * 3600, 17 * 3600);
                self.activity(&mut r, &mut rec, disabled, 100, 50);
                let grad = if r.chance(20) { 2025 } else { start + 9 };
                rec.account_expires = clock::filetime(clock::unix(grad, 6, 30));
            }
            Kind::Admin => {
                let Some(p) = person else { return rec };
                let owner = self.admin_accounts.get(idx.saturating_sub(self.admin_range().start) as usize);
                rec.given = Some(p.given.to_string());
                rec.sn = Some(p.sn.to_string());
                rec.display = format!("{} (admin)", p.display());
                rec.description = owner.map(|o| format!("Administratörskonto för {}", self.staff_sam(o.owner, &p)));
                rec.department = Some("IT");
                let disabled = r.chance(100);
                rec.created = ago(&mut r, 30, 12 * 365);
                self.activity(&mut r, &mut rec, disabled, 100, 30);
            }
            Kind::Service => {
                let local = idx - self.service_range().start;
                let (_, what) = SYSTEMS[(local % SYSTEMS.len() as u64) as usize];
                rec.description = Some(format!("Tjänstekonto för {what}"));
                let disabled = r.chance(150);
                rec.created = ago(&mut r, 300, 15 * 365);
                self.activity(&mut r, &mut rec, disabled, 250, 100);
                rec.pwd_last_set = clock::filetime(rec.created + r.between(0, 2 * 365 * DAY));
                rec.uac = if disabled { 66_050 } else { 66_048 };
            }
            Kind::Resource => {
                let mail = format!("{}@{}", id.sam, muni.mail_domain);
                rec.proxies.push(format!("SMTP:{mail}"));
                rec.proxies.push(format!("smtp:{}@{}.mail.onmicrosoft.com", id.sam, muni.id));
                rec.upn = mail.clone();
                rec.mail = Some(mail);
                rec.description =
                    Some(if id.sam.starts_with("rum-") { "Rumsresurs" } else { "Delad postlåda" }.to_string());
                rec.ext.push((15, "Resurs".to_string()));
                let disabled = r.chance(900);
                rec.created = ago(&mut r, 30, 12 * 365);
                self.activity(&mut r, &mut rec, disabled, 0, 800);
            }
            Kind::BuiltinAdmin => {
                rec.description = Some("Built-in account for administering the computer/domain".to_string());
                rec.upn = String::new();
                rec.company = None;
                rec.created = clock::unix(2009, 3, 12) + 9 * 3600 + 1234;
                self.activity(&mut r, &mut rec, false, 1000, 0);
                rec.uac = 66_048;
            }
        }
        rec
    }

    /// Times and flags of activity: `stale_permille` of the enabled accounts have not logged on
    /// for over a year, `never_permille` never logged on at all.
    fn activity(
        &self,
        r: &mut SplitMix64,
        rec: &mut UserRecord,
        disabled: bool,
        stale_permille: u64,
        never_permille: u64,
    ) {
        let ref_t = REFERENCE_UNIX;
        let created = rec.created.min(ref_t - DAY);
        let roll = r.below(1000);
        let last = if roll < never_permille {
            None
        } else if disabled || roll < never_permille + stale_permille {
            // A year and a day up to six years ago, but after creation when possible.
            let lo = (ref_t - 6 * 365 * DAY).max(created);
            let hi = ref_t - 366 * DAY;
            Some(if lo < hi { r.between(lo, hi) } else { created })
        } else {
            Some(ref_t - r.between(3600, 14 * DAY))
        };
        rec.last_logon = last.map(|t| clock::filetime(t.max(created)) + r.below(10_000_000) as i64);
        let pwd = match last {
            Some(t) => t.max(created) - r.between(0, (t.max(created) - created).min(400 * DAY)),
            None => created,
        };
        rec.pwd_last_set = clock::filetime(pwd.max(created)) + r.below(10_000_000) as i64;
        let changed_floor = last.unwrap_or(created).max(created);
        rec.changed = (changed_floor + r.between(0, (ref_t - changed_floor).max(0))).min(ref_t);
        if disabled {
            rec.uac = 514;
        }
    }

    /// Contact `c`: colleagues from the neighbouring municipality first, then external people.
    /// `names` counts namesakes among the contacts; keep it across ascending indices.
    pub(crate) fn contact(&self, c: u64, names: &mut NameCounter) -> ContactRecord {
        let mut r = SplitMix64::new(derive(derive(self.key, tag("contact")), c));
        let created = REFERENCE_UNIX - r.between(30 * DAY, 10 * 365 * DAY);
        let changed = created + r.between(0, REFERENCE_UNIX - created);
        if let Some(col) = self.colleagues.get(c as usize) {
            let p = col.person;
            let cn = format!("{} ({})", p.display(), col.muni.display_name);
            return ContactRecord {
                dn: format!("CN={},{}", escape_value(&cn), self.dn_contacts),
                cn,
                given: p.given.to_string(),
                sn: p.sn.to_string(),
                display: format!("{} ({})", p.display(), col.muni.display_name),
                mail: format!("{}@{}", p.mail_local(0), col.muni.mail_domain),
                company: col.muni.display_name.to_string(),
                telephone: None,
                description: "Kollega i grannkommunen".to_string(),
                created,
                changed,
            };
        }
        let n = c - self.colleagues.len() as u64;
        let p = self.contact_person(n);
        let k = self.rank_in(names, 0..self.n_contacts, n, |i| self.contact_person(i), false);
        let (org, domain) = CONTACT_ORGS[(n % CONTACT_ORGS.len() as u64) as usize];
        let mut cn = format!("{} {} ({org})", p.given, p.sn);
        if k > 0 {
            let _ = write!(cn, " {}", k + 1);
        }
        let telephone =
            r.chance(500).then(|| format!("010-{:03} {:02} {:02}", r.below(1000), r.below(100), r.below(100)));
        ContactRecord {
            dn: format!("CN={},{}", escape_value(&cn), self.dn_contacts),
            cn,
            given: p.given.to_string(),
            sn: p.sn.to_string(),
            display: format!("{} {} ({org})", p.given, p.sn),
            mail: format!("{}@{domain}", p.mail_local(k)),
            company: org.to_string(),
            telephone,
            description: "Extern kontakt".to_string(),
            created,
            changed,
        }
    }

    /// Binary SID `S-1-5-21-a-b-c-rid`.
    pub(crate) fn domain_sid(&self, rid: u32) -> Vec<u8> {
        sid_bytes(&[21, self.domain[0], self.domain[1], self.domain[2], rid])
    }

    /// 16 bytes from the seeded generator, shaped like a version-4 GUID in AD's byte order.
    pub(crate) fn guid(&self, object: u64, idx: u64) -> [u8; 16] {
        let mut r = SplitMix64::new(derive(derive(derive(self.key, tag("guid")), object), idx));
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&r.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&r.next_u64().to_le_bytes());
        b[7] = (b[7] & 0x0F) | 0x40;
        b[8] = (b[8] & 0x3F) | 0x80;
        b
    }

    /// Creation time of a structural object (OU, container, group): the domain's early years.
    pub(crate) fn early_time(&self, object: u64, idx: u64) -> (i64, i64) {
        let mut r = SplitMix64::new(derive(derive(derive(self.key, tag("early")), object), idx));
        let created = clock::unix(2009, 3, 12) + r.between(DAY, 8 * 365 * DAY);
        let changed = created + r.between(0, REFERENCE_UNIX - created);
        (created, changed)
    }
}

/// Binary SID `S-1-5-<subs...>` (revision 1, authority 5, sub-authorities little-endian).
pub(crate) fn sid_bytes(subs: &[u32]) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + 4 * subs.len());
    b.push(1);
    b.push(subs.len() as u8);
    b.extend_from_slice(&[0, 0, 0, 0, 0, 5]);
    for s in subs {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b
}

/// Whether `filetime` is more than a year before the reference date.
pub(crate) fn is_stale(filetime: i64) -> bool {
    filetime < clock::filetime(REFERENCE_UNIX) - 365 * TICKS_PER_DAY
}
