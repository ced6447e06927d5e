//! Streams one municipality's plan out as LDIF in a chosen flavour.
//!
//! Order: OUs and containers (parents first), users, contacts, groups (member groups before
//! the groups that hold them), and, for the `ldapadd` flavours, one `changetype: modify`
//! record per back edge of the nesting cycle. Every referenced DN (member, manager,
//! managedBy) therefore exists before it is referenced, except the cycle's one edge, which no
//! order can satisfy.

use super::groups::{self, GroupDef, GroupSid, Parent};
use super::ldif::LdifWriter;
use super::plan::{self, Kind, NameCounter, Plan, sid_bytes};
use super::rng::tag;
use super::spec::{EstateCounts, Flavor};
use std::io::{self, Write};

const OBJ_OU: u64 = tag("ou");
const OBJ_CONTAINER: u64 = tag("container");
const OBJ_USER: u64 = tag("user");
const OBJ_CONTACT: u64 = tag("contact");
const OBJ_GROUP: u64 = tag("group");

/// `sAMAccountType` of a normal user account.
const SAM_USER_OBJECT: i64 = 805_306_368;

struct Emitter<'p, 'w> {
    plan: &'p Plan,
    groups: Vec<GroupDef>,
    /// For each group, the groups it is a direct member of (for `memberOf`).
    parents: Vec<Vec<usize>>,
    w: LdifWriter<'w>,
    counts: EstateCounts,
    usn: i64,
    schema: String,
    /// Namesake counters for the users' CNs and mail addresses, walked in index order.
    cn_names: NameCounter,
    mail_names: NameCounter,
}

pub(crate) fn write(plan: &Plan, out: &mut dyn Write) -> io::Result<EstateCounts> {
    let groups = groups::build(plan);
    let mut parents = vec![Vec::new(); groups.len()];
    for (g, def) in groups.iter().enumerate() {
        for &h in &def.groups {
            if let Some(p) = parents.get_mut(h) {
                p.push(g);
            }
        }
    }
    let mut e = Emitter {
        plan,
        groups,
        parents,
        w: LdifWriter::new(out, plan.flavor == Flavor::Ldifde),
        counts: EstateCounts::default(),
        usn: 12_000,
        schema: format!("CN=Schema,CN=Configuration,{}", plan.muni.base_dn),
        cn_names: NameCounter::default(),
        mail_names: NameCounter::default(),
    };
    e.containers()?;
    e.users()?;
    e.contacts()?;
    e.groups()?;
    e.back_edges()?;
    e.w.finish()?;
    Ok(e.counts)
}

impl Emitter<'_, '_> {
    fn ldifde(&self) -> bool {
        self.plan.flavor == Flavor::Ldifde
    }

    fn classes(&mut self, ldifde: &[&str], slapd: &[&str], samba: &[&str]) -> io::Result<()> {
        let list = match self.plan.flavor {
            Flavor::Ldifde => ldifde,
            Flavor::Slapd => slapd,
            Flavor::Samba => samba,
        };
        for c in list {
            self.w.attr("objectClass", c)?;
        }
        Ok(())
    }

    /// objectGUID/objectSid, times and (ldifde) the operational attributes an export carries.
    fn identity(
        &mut self,
        dn: &str,
        name: &str,
        guid: [u8; 16],
        sid: Option<&[u8]>,
        (created, changed): (i64, i64),
        category: &str,
    ) -> io::Result<()> {
        match self.plan.flavor {
            Flavor::Samba => Ok(()),
            Flavor::Slapd => {
                self.w.binary("objectGUID", &guid)?;
                if let Some(sid) = sid {
                    self.w.binary("objectSid", sid)?;
                }
                self.w.attr("whenCreated", &plan_time(created))?;
                self.w.attr("whenChanged", &plan_time(changed.max(created)))
            }
            Flavor::Ldifde => {
                self.usn += 3 + (guid[0] % 5) as i64;
                self.w.attr("distinguishedName", dn)?;
                self.w.int("instanceType", 4)?;
                self.w.attr("whenCreated", &plan_time(created))?;
                self.w.attr("whenChanged", &plan_time(changed.max(created)))?;
                self.w.int("uSNCreated", self.usn)?;
                self.w.int("uSNChanged", self.usn + i64::from(changed > created) * i64::from(guid[1]))?;
                self.w.attr("name", name)?;
                self.w.binary("objectGUID", &guid)?;
                if let Some(sid) = sid {
                    self.w.binary("objectSid", sid)?;
                }
                let category = format!("CN={category},{}", self.schema);
                self.w.attr("objectCategory", &category)
            }
        }
    }

    fn ou(&mut self, idx: u64, dn: &str, name: &str, description: &str) -> io::Result<()> {
        self.w.start(dn)?;
        self.classes(&["top", "organizationalUnit"], &["organizationalUnit", "adObject"], &["organizationalUnit"])?;
        self.w.attr("ou", name)?;
        self.w.attr("description", description)?;
        let (created, changed) = self.plan.early_time(OBJ_OU, idx);
        let guid = self.plan.guid(OBJ_OU, idx);
        self.identity(dn, name, guid, None, (created, changed), "Organizational-Unit")?;
        self.w.end()?;
        self.counts.ous += 1;
        Ok(())
    }

    fn container(&mut self, idx: u64, dn: &str, name: &str, builtin_domain: bool, description: &str) -> io::Result<()> {
        self.w.start(dn)?;
        if builtin_domain {
            self.classes(&["top", "builtinDomain"], &["container", "adObject"], &[])?;
        } else {
            self.classes(&["top", "container"], &["container", "adObject"], &[])?;
        }
        self.w.attr("cn", name)?;
        self.w.attr("description", description)?;
        let (created, changed) = self.plan.early_time(OBJ_CONTAINER, idx);
        let guid = self.plan.guid(OBJ_CONTAINER, idx);
        let category = if builtin_domain { "Builtin-Domain" } else { "Container" };
        self.identity(dn, name, guid, None, (created, changed), category)?;
        if self.ldifde() {
            self.w.attr("isCriticalSystemObject", "TRUE")?;
        }
        self.w.end()?;
        self.counts.containers += 1;
        Ok(())
    }

    fn containers(&mut self) -> io::Result<()> {
        let plan = self.plan;
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        for (a, admin) in plan.admins.iter().enumerate() {
            self.ou(next(), &admin.dn, admin.name, &format!("Förvaltning: {}", admin.name))?;
            for u in admin.units.clone() {
                let unit = &plan.units[u];
                self.ou(next(), &unit.dn, unit.name, &format!("Enhet inom {}", admin.name))?;
            }
            if a == plan::ADMIN_BOU {
                self.ou(next(), &plan.dn_students, "Elever", "Elevkonton per skola")?;
                for s in &plan.schools {
                    self.ou(next(), &s.dn, s.name, &format!("Elever på {}", s.name))?;
                }
            }
        }
        self.ou(next(), &plan.dn_admins, "Admins", "Personliga administratörskonton")?;
        self.ou(next(), &plan.dn_service, "Servicekonton", "Tjänstekonton")?;
        self.ou(next(), &plan.dn_resources, "Resurser", "Delade postlådor och rum")?;
        self.ou(next(), &plan.dn_groups, "Grupper", "Behörighets- och distributionsgrupper")?;
        self.ou(next(), &plan.dn_contacts, "Kontakter", "Externa kontakter")?;
        if plan.has_builtins() {
            self.container(1, &plan.dn_users, "Users", false, "Default container for upgraded user accounts")?;
            self.container(2, &plan.dn_builtin, "Builtin", true, "Built-in security principals")?;
        }
        Ok(())
    }

    fn users(&mut self) -> io::Result<()> {
        for idx in 0..self.plan.n_accounts() {
            self.user(idx)?;
        }
        Ok(())
    }

    fn user(&mut self, idx: u64) -> io::Result<()> {
        let plan = self.plan;
        let rec = plan.user(idx, &mut self.cn_names, &mut self.mail_names);
        let flavor = plan.flavor;
        let id = &rec.id;
        self.w.start(&id.dn)?;
        self.classes(&["top", "person", "organizationalPerson", "user"], &["user"], &["user"])?;
        self.w.attr("cn", &id.cn)?;
        match (&rec.sn, flavor) {
            (Some(sn), _) => self.w.attr("sn", sn)?,
            (None, Flavor::Slapd) => self.w.attr("sn", &id.cn)?,
            (None, _) => {}
        }
        if let Some(g) = &rec.given {
            self.w.attr("givenName", g)?;
        }
        self.w.attr("displayName", &rec.display)?;
        if let Some(d) = &rec.description {
            self.w.attr("description", d)?;
        }
        if let Some(t) = rec.title {
            self.w.attr("title", t)?;
        }
        if let Some(d) = rec.department {
            self.w.attr("department", d)?;
        }
        if let Some(c) = rec.company {
            self.w.attr("company", c)?;
        }
        if let Some(t) = &rec.telephone {
            self.w.attr("telephoneNumber", t)?;
        }
        if let Some(m) = &rec.mobile {
            self.w.attr("mobile", m)?;
        }
        if let Some(e) = &rec.employee_id {
            self.w.attr("employeeID", e)?;
        }
        if let Some(e) = &rec.employee_number {
            self.w.attr("employeeNumber", e)?;
        }
        if let Some(e) = rec.employee_type {
            self.w.attr("employeeType", e)?;
        }
        if let Some(m) = rec.manager {
            let dn = plan.dn_of(m);
            self.w.attr("manager", &dn)?;
        }
        if let Some(m) = &rec.mail {
            self.w.attr("mail", m)?;
        }
        for p in &rec.proxies {
            self.w.attr("proxyAddresses", p)?;
        }
        for (n, v) in &rec.ext {
            self.w.attr(&format!("extensionAttribute{n}"), v)?;
        }
        self.w.attr("sAMAccountName", &id.sam)?;
        if !rec.upn.is_empty() {
            self.w.attr("userPrincipalName", &rec.upn)?;
        }
        let disabled = rec.uac & 2 != 0;
        let uac = match flavor {
            Flavor::Samba if disabled => 514,
            Flavor::Samba => 544,
            _ => rec.uac,
        };
        self.w.int("userAccountControl", uac)?;
        self.w.int("accountExpires", rec.account_expires)?;
        if flavor != Flavor::Samba {
            self.w.int("pwdLastSet", rec.pwd_last_set)?;
            if let Some(t) = rec.last_logon {
                self.w.int("lastLogonTimestamp", t)?;
            }
            self.w.int("primaryGroupID", 513)?;
            self.w.int("sAMAccountType", SAM_USER_OBJECT)?;
            if id.kind == Kind::BuiltinAdmin {
                self.w.attr("isCriticalSystemObject", "TRUE")?;
            }
        }
        if self.ldifde() {
            for g in 0..self.groups.len() {
                if self.groups[g].has_user(plan, idx) {
                    let dn = self.groups[g].dn.clone();
                    self.w.attr("memberOf", &dn)?;
                }
            }
        }
        let sid = plan.domain_sid(plan.rid(idx));
        let guid = plan.guid(OBJ_USER, idx);
        self.identity(&id.dn, &id.cn, guid, Some(&sid), (rec.created, rec.changed), "Person")?;
        self.w.end()?;

        let k = &mut self.counts.kinds;
        match id.kind {
            Kind::Staff => k.staff += 1,
            Kind::Student => k.students += 1,
            Kind::Admin => k.admin += 1,
            Kind::Service => k.service += 1,
            Kind::Resource => k.resource += 1,
            Kind::BuiltinAdmin => k.builtin += 1,
        }
        k.disabled += u64::from(disabled);
        k.long_unused += u64::from(rec.last_logon.is_some_and(plan::is_stale));
        k.never_logged_on += u64::from(rec.last_logon.is_none());
        k.temporary += u64::from(rec.temporary);
        self.counts.users += 1;
        Ok(())
    }

    fn contacts(&mut self) -> io::Result<()> {
        let plan = self.plan;
        let mut names = NameCounter::default();
        for c in 0..plan.n_contacts_total() {
            let rec = plan.contact(c, &mut names);
            self.w.start(&rec.dn)?;
            self.classes(&["top", "person", "organizationalPerson", "contact"], &["contact"], &["contact"])?;
            self.w.attr("cn", &rec.cn)?;
            self.w.attr("sn", &rec.sn)?;
            self.w.attr("givenName", &rec.given)?;
            self.w.attr("displayName", &rec.display)?;
            self.w.attr("description", &rec.description)?;
            self.w.attr("company", &rec.company)?;
            if let Some(t) = &rec.telephone {
                self.w.attr("telephoneNumber", t)?;
            }
            self.w.attr("mail", &rec.mail)?;
            if self.ldifde() {
                let external = self.groups.iter().filter(|g| g.contacts.as_ref().is_some_and(|r| r.contains(&c)));
                let dns: Vec<String> = external.map(|g| g.dn.clone()).collect();
                for dn in dns {
                    self.w.attr("memberOf", &dn)?;
                }
            }
            let guid = plan.guid(OBJ_CONTACT, c);
            self.identity(&rec.dn, &rec.cn, guid, None, (rec.created, rec.changed), "Person")?;
            self.w.end()?;
            self.counts.contacts += 1;
        }
        Ok(())
    }

    fn groups(&mut self) -> io::Result<()> {
        for g in 0..self.groups.len() {
            self.group(g)?;
        }
        Ok(())
    }

    fn group(&mut self, g: usize) -> io::Result<()> {
        let plan = self.plan;
        let def = self.groups[g].clone();
        self.w.start(&def.dn)?;
        self.classes(&["top", "group"], &["group"], &["group"])?;
        self.w.attr("cn", &def.cn)?;
        self.w.attr("description", &def.description)?;
        self.w.attr("sAMAccountName", &def.sam)?;
        self.w.int("groupType", def.group_type)?;
        if plan.flavor != Flavor::Samba {
            self.w.int("sAMAccountType", def.sam_account_type())?;
        }
        if let Some(m) = &def.mail {
            self.w.attr("mail", m)?;
            self.w.attr("proxyAddresses", &format!("SMTP:{m}"))?;
        }
        if let Some(owner) = def.managed_by {
            let dn = plan.dn_of(owner);
            self.w.attr("managedBy", &dn)?;
        }
        let mut written = 0u64;
        {
            let w = &mut self.w;
            let mut names = NameCounter::default();
            def.for_each_user(plan, |idx| {
                written += 1;
                w.attr("member", &plan.identity(idx, &mut names).dn)
            })?;
        }
        if let Some(range) = def.contacts.clone() {
            let mut names = NameCounter::default();
            for c in range {
                self.w.attr("member", &plan.contact(c, &mut names).dn)?;
                written += 1;
            }
        }
        for &h in &def.groups {
            if h < g || self.ldifde() {
                let dn = self.groups[h].dn.clone();
                self.w.attr("member", &dn)?;
                written += 1;
            }
        }
        if self.ldifde() {
            for p in self.parents[g].clone() {
                let dn = self.groups[p].dn.clone();
                self.w.attr("memberOf", &dn)?;
            }
        }
        if def.critical && plan.flavor != Flavor::Samba {
            self.w.attr("isCriticalSystemObject", "TRUE")?;
        }
        let sid = match def.sid {
            GroupSid::Domain(rid) => plan.domain_sid(rid),
            GroupSid::Builtin(rid) => sid_bytes(&[32, rid]),
        };
        let (created, changed) = match def.parent {
            Parent::Grupper => plan.early_time(OBJ_GROUP, g as u64),
            Parent::Users | Parent::Builtin => plan.early_time(OBJ_GROUP, 0),
        };
        let guid = plan.guid(OBJ_GROUP, g as u64);
        self.identity(&def.dn, &def.cn, guid, Some(&sid), (created, changed), "Group")?;
        self.w.end()?;
        self.counts.groups += 1;
        self.counts.memberships += written;
        Ok(())
    }

    /// The cycle's back edges as `changetype: modify` records (not in an `ldifde` export,
    /// which already lists every member on the group itself).
    fn back_edges(&mut self) -> io::Result<()> {
        if self.ldifde() {
            return Ok(());
        }
        for g in 0..self.groups.len() {
            let back: Vec<usize> = self.groups[g].groups.iter().copied().filter(|&h| h >= g).collect();
            if back.is_empty() {
                continue;
            }
            let dn = self.groups[g].dn.clone();
            self.w.start_modify_add(&dn, "member")?;
            for h in back {
                let member = self.groups[h].dn.clone();
                self.w.attr("member", &member)?;
                self.counts.memberships += 1;
            }
            self.w.modify_sep()?;
            self.w.end()?;
        }
        Ok(())
    }
}

fn plan_time(unix: i64) -> String {
    super::clock::generalized(unix)
}
