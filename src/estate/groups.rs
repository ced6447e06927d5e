//! The group table of one municipality, with memberships described as index sets.
//!
//! A group never stores its members. It stores a handful of [`UserSet`]s (an index range and a
//! predicate) and the indices of member groups; the writer enumerates the set when it writes
//! the group and asks `contains` when it writes a user's `memberOf`. Both answers come from
//! the same pure functions, so `member` and `memberOf` always agree, at any scale.

use super::names;
use super::plan::{ADMIN_BOU, ADMIN_IT, ADMIN_SOC, Plan};
use super::rng::tag;
use crate::model::dn::escape_value;
use std::collections::HashSet;
use std::ops::Range;

pub(crate) const GLOBAL_SECURITY: i64 = -2_147_483_646;
pub(crate) const DOMAIN_LOCAL_SECURITY: i64 = -2_147_483_644;
pub(crate) const BUILTIN_LOCAL: i64 = -2_147_483_643;
pub(crate) const GLOBAL_DISTRIBUTION: i64 = 2;

/// Which accounts of an index range belong to a group.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Filter {
    All,
    /// A keyed coin per account: the same answer from `contains` and from enumeration.
    Chance(u64, u64),
    /// Unit heads (the first staff member of each non-empty unit).
    Heads,
    /// Administration heads (the first staff member of each administration).
    AdminHeads,
    /// Admin accounts of the IT operations (Drift) staff.
    DriftAdmins,
}

#[derive(Debug, Clone)]
pub(crate) struct UserSet {
    pub range: Range<u64>,
    pub filter: Filter,
}

impl UserSet {
    fn all(range: Range<u64>) -> UserSet {
        UserSet { range, filter: Filter::All }
    }

    pub(crate) fn contains(&self, plan: &Plan, idx: u64) -> bool {
        self.range.contains(&idx)
            && match self.filter {
                Filter::All => true,
                Filter::Chance(purpose, permille) => plan.chance(idx, purpose, permille),
                Filter::Heads => plan.is_unit_head(idx),
                Filter::AdminHeads => plan.is_admin_head(idx),
                Filter::DriftAdmins => plan
                    .admin_accounts
                    .get(idx.saturating_sub(plan.admin_range().start) as usize)
                    .is_some_and(|a| a.drift),
            }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parent {
    Grupper,
    Users,
    Builtin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupSid {
    /// `S-1-5-21-<domain>-<rid>`.
    Domain(u32),
    /// `S-1-5-32-<rid>` (the Builtin domain).
    Builtin(u32),
}

#[derive(Debug, Clone)]
pub(crate) struct GroupDef {
    pub cn: String,
    pub dn: String,
    pub sam: String,
    pub group_type: i64,
    pub description: String,
    pub mail: Option<String>,
    pub parent: Parent,
    pub sid: GroupSid,
    pub critical: bool,
    pub users: Vec<UserSet>,
    pub contacts: Option<Range<u64>>,
    /// Member groups by index into the table; an index at or after the group's own is a back
    /// edge (the nesting cycle), written as a final modify record where the flavour needs it.
    pub groups: Vec<usize>,
    pub managed_by: Option<u64>,
}

impl GroupDef {
    /// Whether account `idx` is a direct member.
    pub(crate) fn has_user(&self, plan: &Plan, idx: u64) -> bool {
        self.users.iter().any(|s| s.contains(plan, idx))
    }

    /// The direct user members in index order, each once even when sets overlap.
    pub(crate) fn for_each_user(
        &self,
        plan: &Plan,
        mut f: impl FnMut(u64) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        for (i, set) in self.users.iter().enumerate() {
            for idx in set.range.clone() {
                if set.contains(plan, idx) && !self.users[..i].iter().any(|s| s.contains(plan, idx)) {
                    f(idx)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn sam_account_type(&self) -> i64 {
        match (self.group_type & 0x8000_0000 != 0, self.group_type & 0x4 != 0) {
            (true, false) => 268_435_456,
            (true, true) => 536_870_912,
            (false, false) => 268_435_457,
            (false, true) => 536_870_913,
        }
    }
}

struct Builder<'p> {
    plan: &'p Plan,
    groups: Vec<GroupDef>,
    sams: HashSet<String>,
}

impl Builder<'_> {
    /// A sAMAccountName of at most 20 characters, unique (case-insensitively) in the table.
    fn sam(&mut self, prefix: &str, cn: &str) -> String {
        let mut slug = String::new();
        for c in names::fold(cn).chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let base: String = format!("{prefix}{slug}").chars().take(20).collect();
        let base = base.trim_end_matches('-').to_string();
        let mut candidate = base.clone();
        let mut n = 2;
        while self.sams.contains(&candidate.to_ascii_lowercase()) {
            let suffix = n.to_string();
            let keep: String = base.chars().take(20 - suffix.len()).collect();
            candidate = format!("{}{suffix}", keep.trim_end_matches('-'));
            n += 1;
        }
        self.sams.insert(candidate.to_ascii_lowercase());
        candidate
    }

    fn add(&mut self, cn: &str, group_type: i64, description: &str) -> usize {
        let prefix = match group_type {
            GLOBAL_SECURITY => "sg-",
            GLOBAL_DISTRIBUTION => "dg-",
            _ => "",
        };
        let sam = self.sam(prefix, cn);
        let i = self.groups.len();
        self.groups.push(GroupDef {
            cn: cn.to_string(),
            dn: format!("CN={},{}", escape_value(cn), self.plan.dn_groups),
            sam,
            group_type,
            description: description.to_string(),
            mail: None,
            parent: Parent::Grupper,
            sid: GroupSid::Domain(0),
            critical: false,
            users: Vec::new(),
            contacts: None,
            groups: Vec::new(),
            managed_by: None,
        });
        i
    }

    fn mail(&mut self, g: usize, local: &str) {
        self.groups[g].mail = Some(format!("{local}@{}", self.plan.muni.mail_domain));
    }
}

/// The municipality's groups in writing order (member groups before the groups holding them,
/// except the one deliberate cycle), built-ins last.
pub(crate) fn build(plan: &Plan) -> Vec<GroupDef> {
    let mut b = Builder { plan, groups: Vec::new(), sams: HashSet::new() };
    let staff = 0..plan.n_staff;
    let unit_range = |name: &str| plan.units.iter().find(|u| u.name == name).map_or(0..0, |u| u.staff.clone());

    let mut unit_groups = Vec::with_capacity(plan.units.len());
    for u in &plan.units {
        let g = b.add(&format!("Personal {}", u.name), GLOBAL_SECURITY, &format!("Alla medarbetare på {}", u.name));
        b.groups[g].users.push(UserSet::all(u.staff.clone()));
        b.groups[g].managed_by = (!u.staff.is_empty()).then_some(u.staff.start);
        unit_groups.push(g);
    }
    let mut school_groups = Vec::new();
    for s in &plan.schools {
        let g = b.add(&format!("Elever {}", s.name), GLOBAL_SECURITY, &format!("Elever på {}", s.name));
        b.groups[g].users.push(UserSet::all(s.students.clone()));
        school_groups.push(g);
    }
    let mut admin_groups = Vec::new();
    for a in &plan.admins {
        let g = b.add(a.group, GLOBAL_SECURITY, &format!("Alla enheter inom {}", a.name));
        b.groups[g].groups = a.units.clone().map(|u| unit_groups[u]).collect();
        admin_groups.push(g);
    }
    let all_students = b.add("Alla elever", GLOBAL_SECURITY, "Alla elever i kommunens skolor");
    b.groups[all_students].groups = school_groups.clone();

    let all_staff = b.add("Alla medarbetare", GLOBAL_SECURITY, "Alla anställda");
    b.groups[all_staff].users.push(UserSet::all(staff.clone()));
    let licence = b.add(
        "Licens Microsoft 365",
        GLOBAL_SECURITY,
        "Gruppbaserad licenstilldelning (kan inte nästlas): alla medarbetare och elever",
    );
    b.groups[licence].users.push(UserSet::all(0..plan.n_staff + plan.n_students));

    let role = |b: &mut Builder<'_>, system: &str, sets: Vec<UserSet>| {
        let g = b.add(&format!("Behörighet {system}"), GLOBAL_SECURITY, &format!("Åtkomst till {system}"));
        b.groups[g].users = sets;
        g
    };
    let chance = |range: Range<u64>, purpose: &str, permille: u64| UserSet {
        range,
        filter: Filter::Chance(tag(purpose), permille),
    };
    role(
        &mut b,
        "Treserva",
        vec![
            chance(unit_range("Hemtjänst"), "treserva", 700),
            chance(unit_range("Äldreboende"), "treserva", 700),
            UserSet::all(unit_range("Individ- och familjeomsorg")),
            UserSet::all(unit_range("LSS")),
        ],
    );
    role(
        &mut b,
        "Viva",
        vec![UserSet::all(unit_range("Individ- och familjeomsorg")), chance(unit_range("Ekonomi"), "viva", 200)],
    );
    role(
        &mut b,
        "Procapita",
        vec![UserSet::all(unit_range("LSS")), chance(unit_range("Äldreboende"), "procapita", 400)],
    );
    role(
        &mut b,
        "Heroma",
        vec![UserSet::all(unit_range("HR")), UserSet { range: staff.clone(), filter: Filter::Heads }],
    );
    role(
        &mut b,
        "Ekonomisystem",
        vec![
            UserSet::all(unit_range("Ekonomi")),
            UserSet { range: staff.clone(), filter: Filter::Heads },
            chance(plan.admins[ADMIN_BOU].staff.clone(), "ekonomisystem", 30),
        ],
    );

    // The cycle: Chefer ∋ Ledningsgrupp ∋ Chefer (someone nested "the managers" both ways).
    let chefer = b.add("Chefer", GLOBAL_SECURITY, "Alla chefer med personalansvar");
    b.groups[chefer].users.push(UserSet { range: staff.clone(), filter: Filter::Heads });
    let ledning = b.add("Ledningsgrupp", GLOBAL_SECURITY, "Kommunens ledningsgrupp");
    b.groups[ledning].users.push(UserSet { range: staff.clone(), filter: Filter::AdminHeads });
    b.groups[ledning].groups.push(chefer);
    b.groups[chefer].groups.push(ledning);

    let admin_accounts = b.add("Adminkonton", GLOBAL_SECURITY, "Personliga administratörskonton");
    b.groups[admin_accounts].users.push(UserSet::all(plan.admin_range()));
    let services = b.add("Tjänstekonton", GLOBAL_SECURITY, "Tjänstekonton för verksamhetssystem");
    b.groups[services].users.push(UserSet::all(plan.service_range()));

    let safety = b.add("Skyddsombud", GLOBAL_DISTRIBUTION, "Utskickslista till skyddsombuden");
    b.groups[safety].users.push(chance(staff.clone(), "skyddsombud", 20));
    b.mail(safety, "skyddsombud");
    let external = b.add("Externa kontakter", GLOBAL_DISTRIBUTION, "Externa samarbetspartner");
    b.groups[external].contacts = Some(0..plan.n_contacts_total());
    b.mail(external, "externa.kontakter");
    let news = b.add("Nyhetsbrev", GLOBAL_DISTRIBUTION, "Kommunens interna nyhetsbrev");
    b.groups[news].groups = vec![all_staff, ledning];
    b.mail(news, "nyhetsbrev");

    let dl = |b: &mut Builder<'_>, cn: &str, members: Vec<usize>| {
        let g = b.add(cn, DOMAIN_LOCAL_SECURITY, "Behörighet på resurs (AGDLP)");
        b.groups[g].groups = members;
    };
    let soc = admin_groups[ADMIN_SOC];
    dl(&mut b, "DL Fil Socialförvaltningen Läs", vec![soc]);
    dl(&mut b, "DL Fil Socialförvaltningen Ändra", vec![chefer]);
    dl(&mut b, "DL Fil Gemensam", vec![all_staff, admin_groups[ADMIN_IT]]);
    dl(&mut b, "DL Skrivare Kommunhuset", vec![all_staff, services]);

    for (i, g) in b.groups.iter_mut().enumerate() {
        g.sid = GroupSid::Domain(plan.group_rid_base() + i as u32);
    }

    if plan.has_builtins() {
        let builtin = |cn: &str, parent: Parent, group_type: i64, sid: GroupSid, description: &str| {
            let dn_parent = if parent == Parent::Builtin { &plan.dn_builtin } else { &plan.dn_users };
            GroupDef {
                cn: cn.to_string(),
                dn: format!("CN={},{dn_parent}", escape_value(cn)),
                sam: cn.to_string(),
                group_type,
                description: description.to_string(),
                mail: None,
                parent,
                sid,
                critical: true,
                users: Vec::new(),
                contacts: None,
                groups: Vec::new(),
                managed_by: None,
            }
        };
        let administrator = plan.builtin_admin().map(|a| UserSet::all(a..a + 1));
        let du = b.groups.len();
        b.groups.push(builtin(
            "Domain Users",
            Parent::Users,
            GLOBAL_SECURITY,
            GroupSid::Domain(513),
            "All domain users",
        ));
        let da = b.groups.len();
        let mut domain_admins = builtin(
            "Domain Admins",
            Parent::Users,
            GLOBAL_SECURITY,
            GroupSid::Domain(512),
            "Designated administrators of the domain",
        );
        domain_admins.users.extend(administrator.clone());
        domain_admins.users.push(UserSet { range: plan.admin_range(), filter: Filter::DriftAdmins });
        b.groups.push(domain_admins);
        let mut users = builtin(
            "Users",
            Parent::Builtin,
            BUILTIN_LOCAL,
            GroupSid::Builtin(545),
            "Users are prevented from making accidental or intentional system-wide changes",
        );
        users.groups.push(du);
        b.groups.push(users);
        let mut admins = builtin(
            "Administrators",
            Parent::Builtin,
            BUILTIN_LOCAL,
            GroupSid::Builtin(544),
            "Administrators have complete and unrestricted access to the computer/domain",
        );
        admins.users.extend(administrator);
        admins.groups.push(da);
        b.groups.push(admins);
    }
    b.groups
}
