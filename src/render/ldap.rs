//! What one wave writes into the shared AD: LDAP operations in apply order, and the same as
//! LDIF change records (RFC 2849) an operator can read, diff and apply with `ldapmodify`.
//!
//! The shared AD is where Entra Connect will one day read everyone from, so every object is
//! created the way a later sync can hard-match it to what the wave creates in the tenant:
//! `mS-DS-ConsistencyGuid` carries the anchor's 16 bytes (the tenant's `onPremisesImmutableId`
//! is the base64 of the same bytes). Accounts are created disabled and never with a password:
//! a wave's output is printed, stored and reviewed, and a password in it would leak. With
//! [`NewAccounts::RandomPassword`] the executor sets a random password (to be changed at the
//! next logon) and enables the account afterwards, outside anything rendered here.
//!
//! Order matters to a directory: a parent before its children, a member before the group that
//! lists it. So [`render`] emits the missing OUs (parents first, each once, none that an earlier
//! wave created), then the users, then the groups with the members that exist at that point,
//! then the remaining memberships in chunks, then the manager links (which may point at people
//! created in this very wave). Objects of earlier waves are referred to by DN, never recreated.
//!
//! DNs are built with [`Dn::child`], which escapes each value: municipal names carry commas
//! (`Öberg, Åsa`), `+`, quotes and leading `#`, and a DN glued together from strings breaks
//! on exactly those. Rendering is pure and deterministic: the same wave gives the same bytes.

use super::{ObjectRef, WaveContent};
use crate::error::{Classified, ExitClass};

use crate::model::Dn;
use crate::model::dn::DnError;
use crate::model::settings::{NewAccounts, SharedAd, TargetSettings};
use crate::model::unified::{Anchor, Group, Member, Person};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// At most this many `member` values go into one operation: AD accepts more, but a failed
/// request is cheaper to retry, and a reviewer can read an LDIF record of this size.
pub const MEMBER_CHUNK: usize = 500;

/// `userAccountControl` of a new account: NORMAL_ACCOUNT (512) | ACCOUNTDISABLE (2).
pub const UAC_NORMAL_DISABLED: i64 = 514;

/// `groupType` of a security group: global scope (2) | SECURITY_ENABLED (0x80000000).
/// Global rather than universal: a global group may contain global groups, while AD refuses
/// a universal group as a member of a global one, and nesting comes from the source ADs.
pub const GROUP_TYPE_GLOBAL_SECURITY: i64 = -2147483646;

/// `groupType` of a distribution (non-security) group: global scope, not security-enabled.
pub const GROUP_TYPE_GLOBAL_DISTRIBUTION: i64 = 2;

/// The longest `description` AD takes (`rangeUpper` of the attribute).
const DESCRIPTION_MAX: usize = 1024;

/// Physical LDIF lines are folded at this many bytes (RFC 2849 lets any length through, but
/// 76 keeps files readable and diffable).
const FOLD_AT: usize = 76;

/// The attributes of the shared (Graph-named) schema and their names in AD, in the order the
/// user's entry lists them; `extensionAttribute1`-`15` follow under their own names.
const AD_NAMES: &[(&str, &str)] = &[
    ("givenName", "givenName"),
    ("surname", "sn"),
    ("displayName", "displayName"),
    ("mail", "mail"),
    ("jobTitle", "title"),
    ("department", "department"),
    ("companyName", "company"),
    ("employeeId", "employeeID"),
    ("employeeType", "employeeType"),
    ("officeLocation", "physicalDeliveryOfficeName"),
];

/// One attribute value: text (UTF-8) or binary (`mS-DS-ConsistencyGuid`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Text(String),
    Binary {
        #[serde(rename = "base64", serialize_with = "as_base64")]
        bytes: Vec<u8>,
    },
}

fn as_base64<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(bytes))
}

impl Value {
    fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Value::Text(t) => t.as_bytes(),
            Value::Binary { bytes } => bytes,
        }
    }
}

/// What a modification does with its attribute's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModKind {
    Add,
    Replace,
    Delete,
}

impl ModKind {
    fn as_str(self) -> &'static str {
        match self {
            ModKind::Add => "add",
            ModKind::Replace => "replace",
            ModKind::Delete => "delete",
        }
    }
}

/// Why an operation is there, for summaries and for the operator reading the LDIF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    CreateOu,
    CreateUser,
    CreateGroup,
    AddMembers,
    SetManager,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::CreateOu => "create OU",
            OpKind::CreateUser => "create user",
            OpKind::CreateGroup => "create group",
            OpKind::AddMembers => "add members",
            OpKind::SetManager => "set manager",
        }
    }
}

/// The LDAP request itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "changetype", rename_all = "snake_case")]
pub enum Change {
    Add { dn: Dn, attrs: Vec<(String, Vec<Value>)> },
    Modify { dn: Dn, changes: Vec<(ModKind, String, Vec<Value>)> },
}

/// One operation against the shared AD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LdapOp {
    pub kind: OpKind,
    /// The municipality it belongs to: the person's (primary affiliation), the group's, the
    /// OU's; "" for the shared containers and for groups merged from several municipalities.
    pub municipality: String,
    /// The unified object it creates or changes (OUs have none).
    pub anchor: Option<Anchor>,
    /// What the operator must know beyond the request (written as LDIF comments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub change: Change,
    /// A created user the executor enables when it sets the account's first password
    /// (`new_accounts = "random-password"` and the account state rule says enabled).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enable: bool,
}

impl LdapOp {
    /// The municipality the operation belongs to ("" = shared).
    pub fn municipality(&self) -> &str {
        &self.municipality
    }

    pub fn dn(&self) -> &Dn {
        match &self.change {
            Change::Add { dn, .. } | Change::Modify { dn, .. } => dn,
        }
    }

    /// Adds `members` (DN values) to the group at `dn`: the operation every member addition is,
    /// rendered, reconciled against a live group, or split after a refusal.
    pub fn add_members(municipality: String, group: Option<Anchor>, dn: Dn, members: Vec<Value>) -> LdapOp {
        LdapOp {
            kind: OpKind::AddMembers,
            municipality,
            anchor: group,
            note: None,
            enable: false,
            change: Change::Modify { dn, changes: vec![(ModKind::Add, "member".into(), members)] },
        }
    }

    /// The number of `member` values the operation writes.
    pub fn member_values(&self) -> usize {
        let count =
            |name: &str, values: &Vec<Value>| if name.eq_ignore_ascii_case("member") { values.len() } else { 0 };
        match &self.change {
            Change::Add { attrs, .. } => attrs.iter().map(|(n, v)| count(n, v)).sum(),
            Change::Modify { changes, .. } => changes.iter().map(|(_, n, v)| count(n, v)).sum(),
        }
    }
}

/// Why a wave cannot be rendered: a setting that is not a DN, or wave content that refers to
/// an object it gives no place for (a bug in whoever built the wave, never silently skipped:
/// a missing membership would go unnoticed until someone lacks access).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("shared_ad.{setting} is not a valid DN: {source}")]
    Setting {
        setting: &'static str,
        #[source]
        source: DnError,
    },
    #[error("wave {wave}: {what} {anchor} has no reference in the wave content")]
    MissingRef { wave: u32, what: &'static str, anchor: String },
    #[error("wave {wave}: {what} {anchor} is created by a later wave ({later})")]
    LaterWave { wave: u32, what: &'static str, anchor: String, later: u32 },
}

impl Classified for RenderError {
    /// A wave could not be rendered (a bug in whoever built it, not the user's input).
    fn exit_class(&self) -> ExitClass {
        ExitClass::Work
    }
}

/// Per-municipality counts of what a wave writes into the shared AD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub ous: usize,
    pub users: usize,
    pub groups: usize,
    /// `member` values written (in group creations and in additions).
    pub members: usize,
    pub managers: usize,
    pub operations: usize,
}

/// Counts per municipality ("" = shared containers and merged groups).
pub fn summarize(ops: &[LdapOp]) -> BTreeMap<String, Summary> {
    let mut out: BTreeMap<String, Summary> = BTreeMap::new();
    for op in ops {
        let s = out.entry(op.municipality.clone()).or_default();
        s.operations += 1;
        s.members += op.member_values();
        match op.kind {
            OpKind::CreateOu => s.ous += 1,
            OpKind::CreateUser => s.users += 1,
            OpKind::CreateGroup => s.groups += 1,
            OpKind::AddMembers => {}
            OpKind::SetManager => s.managers += 1,
        }
    }
    out
}

/// The containers of the shared AD, parsed once.
struct Layout {
    base: Dn,
    people: Dn,
    groups: Dn,
}

impl Layout {
    fn new(ad: &SharedAd) -> Result<Layout, RenderError> {
        let parse = |setting: &'static str, text: &str| {
            Dn::parse(text).map_err(|source| RenderError::Setting { setting, source })
        };
        let base = parse("base_dn", &ad.base_dn)?;
        // Both are already DNs (validated here), so joining their strings is joining DNs.
        let under = |setting: &'static str, rel: &str| {
            parse(setting, rel)?;
            match (rel.trim().is_empty(), base.is_root()) {
                (true, _) => Ok(base.clone()),
                (false, true) => parse(setting, rel),
                (false, false) => parse(setting, &format!("{rel},{base}")),
            }
        };
        let people = under("people_ou", &ad.people_ou)?;
        let groups = under("groups_ou", &ad.groups_ou)?;
        Ok(Layout { base, people, groups })
    }

    /// `OU=<innermost>,...,OU=<outermost unit>,OU=<municipality>,<people>`.
    fn unit_ou(&self, municipality: &str, levels: &[&str]) -> Dn {
        levels.iter().fold(self.people.child("OU", municipality), |dn, level| dn.child("OU", level))
    }
}

/// The levels of a unit path, outermost first: "Socialförvaltningen/Hemtjänst" gives both
/// names; "" (no unit) gives none, and the person sits in the municipality's OU.
fn unit_levels(unit: &str) -> Vec<&str> {
    unit.split('/').map(str::trim).filter(|l| !l.is_empty()).collect()
}

/// Where a person goes: municipality, unit path, CN.
struct Place<'a> {
    municipality: &'a str,
    unit: &'a str,
    cn: &'a str,
}

/// Resolves anchors to DNs: through the wave's references, or for objects the wave creates,
/// through the objects themselves when the builder left the reference out.
struct Resolver<'a> {
    content: &'a WaveContent,
    layout: &'a Layout,
    people: HashMap<Anchor, &'a Person>,
    groups: HashMap<Anchor, &'a Group>,
}

impl<'a> Resolver<'a> {
    fn reference(&self, anchor: Anchor, what: &'static str) -> Result<Option<&'a ObjectRef>, RenderError> {
        match self.content.refs.get(&anchor) {
            Some(r) if r.wave > self.content.number => Err(RenderError::LaterWave {
                wave: self.content.number,
                what,
                anchor: anchor.0.to_string(),
                later: r.wave,
            }),
            r => Ok(r),
        }
    }

    fn missing(&self, anchor: Anchor, what: &'static str) -> RenderError {
        RenderError::MissingRef { wave: self.content.number, what, anchor: anchor.0.to_string() }
    }

    fn person_place(&self, anchor: Anchor, what: &'static str) -> Result<Place<'a>, RenderError> {
        if let Some(r) = self.reference(anchor, what)? {
            return Ok(Place { municipality: &r.municipality, unit: &r.unit, cn: &r.cn });
        }
        let p = self.people.get(&anchor).ok_or_else(|| self.missing(anchor, what))?;
        let primary = p.affiliations.first().ok_or_else(|| self.missing(anchor, what))?;
        Ok(Place { municipality: &primary.municipality, unit: &primary.unit, cn: &p.cn })
    }

    fn person_dn(&self, anchor: Anchor, what: &'static str) -> Result<Dn, RenderError> {
        let place = self.person_place(anchor, what)?;
        Ok(self.layout.unit_ou(place.municipality, &unit_levels(place.unit)).child("CN", place.cn))
    }

    fn group_dn(&self, anchor: Anchor, what: &'static str) -> Result<Dn, RenderError> {
        let cn = match self.reference(anchor, what)? {
            Some(r) => r.cn.as_str(),
            None => self.groups.get(&anchor).map(|g| g.name.as_str()).ok_or_else(|| self.missing(anchor, what))?,
        };
        Ok(self.layout.groups.child("CN", cn))
    }

    fn member_dn(&self, member: Member) -> Result<Dn, RenderError> {
        match member {
            Member::Person(a) => self.person_dn(a, "member"),
            Member::Group(a) => self.group_dn(a, "member group"),
        }
    }
}

/// The wave's operations against the shared AD, in apply order.
pub fn render(content: &WaveContent, settings: &TargetSettings) -> Result<Vec<LdapOp>, RenderError> {
    let ad = &settings.shared_ad;
    let layout = Layout::new(ad)?;
    let resolver = Resolver {
        content,
        layout: &layout,
        people: content.people.iter().map(|p| (p.anchor, p)).collect(),
        groups: content.groups.iter().map(|g| (g.anchor, g)).collect(),
    };
    let mut ops = Vec::new();
    organizational_units(content, &resolver, &mut ops)?;
    for person in &content.people {
        ops.push(user(person, &resolver, ad.new_accounts, settings.account_state.why_disabled(person))?);
    }
    groups_and_members(content, &resolver, &mut ops)?;
    for &(person, manager) in &content.manager_links {
        let place = resolver.person_place(person, "person with a manager")?;
        let dn = layout.unit_ou(place.municipality, &unit_levels(place.unit)).child("CN", place.cn);
        let manager_dn = resolver.person_dn(manager, "manager")?;
        ops.push(LdapOp {
            kind: OpKind::SetManager,
            municipality: place.municipality.to_string(),
            anchor: Some(person),
            note: None,
            enable: false,
            change: Change::Modify {
                dn,
                changes: vec![(ModKind::Replace, "manager".into(), vec![Value::text(manager_dn.as_str())])],
            },
        });
    }
    Ok(ops)
}

fn ou_op(dn: Dn, municipality: &str) -> LdapOp {
    let name = dn.leaf_value().map(|v| v.into_owned()).unwrap_or_default();
    LdapOp {
        kind: OpKind::CreateOu,
        municipality: municipality.to_string(),
        anchor: None,
        note: None,
        enable: false,
        change: Change::Add {
            dn,
            attrs: vec![
                ("objectClass".into(), vec![Value::text("top"), Value::text("organizationalUnit")]),
                ("ou".into(), vec![Value::Text(name)]),
            ],
        },
    }
}

/// The OUs this wave needs and no earlier wave created: the people OU, each municipality's,
/// each level of each unit (compared as AD compares names: ignoring case), then the groups OU.
/// `people_ou` and `groups_ou` are one entry each: when they have several levels
/// (`OU=Kommuner,OU=Samverkan`), the outer ones must exist already.
fn organizational_units(
    content: &WaveContent,
    resolver: &Resolver<'_>,
    ops: &mut Vec<LdapOp>,
) -> Result<(), RenderError> {
    let key = |m: &str, levels: &[&str]| {
        std::iter::once(m).chain(levels.iter().copied()).map(str::to_lowercase).collect::<Vec<_>>()
    };
    let mut existing: HashSet<Vec<String>> = HashSet::new();
    for (m, unit) in &content.earlier_units {
        let levels = unit_levels(unit);
        for n in 0..=levels.len() {
            existing.insert(key(m, &levels[..n]));
        }
    }
    // Lower-cased path -> (municipality, levels as first written). A path sorts before its
    // extensions, so iterating the map gives parents first.
    let mut needed: BTreeMap<Vec<String>, (&str, Vec<&str>)> = BTreeMap::new();
    for person in &content.people {
        let place = resolver.person_place(person.anchor, "person")?;
        let levels = unit_levels(place.unit);
        for n in 0..=levels.len() {
            let k = key(place.municipality, &levels[..n]);
            if !existing.contains(&k) {
                needed.entry(k).or_insert_with(|| (place.municipality, levels[..n].to_vec()));
            }
        }
    }
    let layout = resolver.layout;
    if !content.people.is_empty() && content.earlier_units.is_empty() && layout.people != layout.base {
        ops.push(ou_op(resolver.layout.people.clone(), ""));
    }
    for (m, levels) in needed.into_values() {
        ops.push(ou_op(resolver.layout.unit_ou(m, &levels), m));
    }
    if !content.groups.is_empty() && !content.earlier_groups && layout.groups != layout.base {
        ops.push(ou_op(resolver.layout.groups.clone(), ""));
    }
    Ok(())
}

/// The account's attributes: what flowed into the shared schema, under AD's names. The cloud
/// set holds the allow-listed attributes, `on_premises` the rest and the originals of values
/// the privacy policy kept from the cloud; the shared AD is on-premises and gets the originals.
/// `why_disabled`: why the account stays disabled ([`crate::model::settings::AccountStates`]),
/// `None` when it is to be enabled.
fn user(
    person: &Person,
    resolver: &Resolver<'_>,
    new_accounts: NewAccounts,
    why_disabled: Option<String>,
) -> Result<LdapOp, RenderError> {
    let place = resolver.person_place(person.anchor, "person")?;
    let dn = resolver.layout.unit_ou(place.municipality, &unit_levels(place.unit)).child("CN", place.cn);
    let mut source: BTreeMap<&str, &str> = person.cloud.iter().map(|(k, v)| (k, v.as_str())).collect();
    source.extend(person.on_premises.iter().map(|(k, v)| (k, v.as_str())));
    source.retain(|_, v| !v.is_empty());

    let text = |name: &str, value: &str| (name.to_string(), vec![Value::text(value)]);
    let mut attrs = vec![
        ("objectClass".to_string(), ["top", "person", "organizationalPerson", "user"].map(Value::text).to_vec()),
        text("cn", place.cn),
        text("sAMAccountName", &person.sam_account_name),
        text("userPrincipalName", &person.user_principal_name),
    ];
    if !person.display_name.is_empty() {
        source.insert("displayName", &person.display_name);
    }
    for (graph, ad) in AD_NAMES {
        if let Some(v) = source.get(graph) {
            attrs.push(text(ad, v));
        }
    }
    if let Some(mail) = source.get("mail") {
        attrs.push(("proxyAddresses".into(), vec![Value::Text(format!("SMTP:{mail}"))]));
    }
    for n in 1..=15 {
        let name = format!("extensionAttribute{n}");
        if let Some(v) = source.get(name.as_str()) {
            attrs.push(text(&name, v));
        }
    }
    attrs.push(("userAccountControl".into(), vec![Value::Text(UAC_NORMAL_DISABLED.to_string())]));
    attrs.push(("mS-DS-ConsistencyGuid".into(), vec![Value::Binary { bytes: person.anchor.0.to_ad_bytes().to_vec() }]));
    const PASSWORD: &str = "created disabled; the executor then sets a random password that must be changed at \
                            the next logon";
    let enable = new_accounts == NewAccounts::RandomPassword && why_disabled.is_none();
    let note = match (new_accounts, why_disabled) {
        (NewAccounts::RandomPassword, None) => {
            format!("{PASSWORD} and enables the account (no password is ever written here)")
        }
        (NewAccounts::RandomPassword, Some(why)) => {
            format!("{PASSWORD}; the account stays disabled: {why} (no password is ever written here)")
        }
        (NewAccounts::Disabled, why) => {
            format!("created disabled and without a password ({})", why.as_deref().unwrap_or("new_accounts = disabled"))
        }
    };
    Ok(LdapOp {
        kind: OpKind::CreateUser,
        municipality: place.municipality.to_string(),
        anchor: Some(person.anchor),
        note: Some(note),
        change: Change::Add { dn, attrs },
        enable,
    })
}

/// Creates the wave's groups with the members that exist by then, and adds the rest (members
/// of groups created later in this wave, members beyond the first chunk, and new members of
/// earlier waves' groups) in chunks afterwards.
fn groups_and_members(
    content: &WaveContent,
    resolver: &Resolver<'_>,
    ops: &mut Vec<LdapOp>,
) -> Result<(), RenderError> {
    let mut members: BTreeMap<Anchor, Vec<Member>> = BTreeMap::new();
    for &(group, member) in &content.memberships {
        members.entry(group).or_default().push(member);
    }
    let created_here: HashSet<Anchor> = content.groups.iter().map(|g| g.anchor).collect();
    let mut added: HashSet<Anchor> = HashSet::new();
    let mut rest: BTreeMap<Anchor, Vec<Dn>> = BTreeMap::new();
    for group in &content.groups {
        let r = resolver.reference(group.anchor, "group")?.ok_or_else(|| resolver.missing(group.anchor, "group"))?;
        let dn = resolver.layout.groups.child("CN", &r.cn);
        let mut now = Vec::new();
        let mut later = Vec::new();
        let mut seen = BTreeSet::new();
        for &m in members.get(&group.anchor).into_iter().flatten() {
            let member_dn = resolver.member_dn(m)?;
            if !seen.insert(member_dn.key()) {
                continue;
            }
            let exists_now = match m {
                Member::Group(a) => !created_here.contains(&a) || added.contains(&a),
                Member::Person(_) => true,
            };
            if exists_now && now.len() < MEMBER_CHUNK { now.push(member_dn) } else { later.push(member_dn) }
        }
        let mut attrs = vec![
            ("objectClass".to_string(), vec![Value::text("top"), Value::text("group")]),
            ("cn".into(), vec![Value::text(r.cn.as_str())]),
            ("sAMAccountName".into(), vec![Value::text(r.sam_account_name.as_str())]),
            ("groupType".into(), vec![Value::Text(group_type(group).to_string())]),
            ("description".into(), vec![Value::Text(description(group))]),
            ("mS-DS-ConsistencyGuid".into(), vec![Value::Binary { bytes: group.anchor.0.to_ad_bytes().to_vec() }]),
        ];
        if !now.is_empty() {
            attrs.push(("member".into(), now.iter().map(|d| Value::text(d.as_str())).collect()));
        }
        ops.push(LdapOp {
            kind: OpKind::CreateGroup,
            municipality: r.municipality.clone(),
            anchor: Some(group.anchor),
            note: None,
            enable: false,
            change: Change::Add { dn, attrs },
        });
        added.insert(group.anchor);
        if !later.is_empty() {
            rest.insert(group.anchor, later);
        }
    }
    for (group, list) in &members {
        if created_here.contains(group) {
            continue;
        }
        let mut seen = BTreeSet::new();
        let mut dns = Vec::new();
        for &m in list {
            let member_dn = resolver.member_dn(m)?;
            if seen.insert(member_dn.key()) {
                dns.push(member_dn);
            }
        }
        rest.insert(*group, dns);
    }
    for (group, dns) in rest {
        let municipality = resolver.reference(group, "group")?.map(|r| r.municipality.clone()).unwrap_or_default();
        let dn = resolver.group_dn(group, "group")?;
        for chunk in dns.chunks(MEMBER_CHUNK) {
            let members = chunk.iter().map(|d| Value::text(d.as_str())).collect();
            ops.push(LdapOp::add_members(municipality.clone(), Some(group), dn.clone(), members));
        }
    }
    Ok(())
}

fn group_type(group: &Group) -> i64 {
    if group.security { GROUP_TYPE_GLOBAL_SECURITY } else { GROUP_TYPE_GLOBAL_DISTRIBUTION }
}

/// Where the group came from, for the administrators of the shared AD.
fn description(group: &Group) -> String {
    let mut seen = HashSet::new();
    let from: Vec<&str> = group.sources.iter().map(|(m, _, _)| m.as_str()).filter(|m| seen.insert(*m)).collect();
    let mut text = match from.as_slice() {
        [] => "samla".to_string(),
        [one] => format!("samla: from {one}"),
        many => format!("samla: merged from {}", many.join(", ")),
    };
    if text.len() > DESCRIPTION_MAX {
        let mut cut = DESCRIPTION_MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// The operations as LDIF change records: `version: 1`, then one record per operation,
/// each preceded by a comment naming what it is (and the DN in plain text when the `dn` line
/// is base64). Values that are not RFC 2849 SAFE-STRINGs
/// (non-ASCII such as `å`, a leading space, `:` or `<`, a trailing space, control characters,
/// binary) are base64 (`::`); physical lines are folded at 76 bytes.
pub fn to_ldif(ops: &[LdapOp]) -> String {
    let mut out = String::with_capacity(ops.len() * 512 + 16);
    out.push_str("version: 1\n");
    for op in ops {
        out.push('\n');
        let anchor = op.anchor.map(|a| format!(" {}", a.0)).unwrap_or_default();
        let whose = if op.municipality.is_empty() { "shared" } else { op.municipality.as_str() };
        push_comment(&mut out, &format!("{} ({whose}){anchor}", op.kind.as_str()));
        if !is_safe_string(op.dn().as_str().as_bytes()) {
            // The dn line is base64: say which entry it is, readably.
            push_comment(&mut out, op.dn().as_str());
        }
        if let Some(note) = &op.note {
            push_comment(&mut out, note);
        }
        match &op.change {
            Change::Add { dn, attrs } => {
                push_value(&mut out, "dn", dn.as_str().as_bytes(), false);
                push_line(&mut out, "changetype: add");
                for (name, values) in attrs {
                    for v in values {
                        push_value(&mut out, name, v.bytes(), matches!(v, Value::Binary { .. }));
                    }
                }
            }
            Change::Modify { dn, changes } => {
                push_value(&mut out, "dn", dn.as_str().as_bytes(), false);
                push_line(&mut out, "changetype: modify");
                for (kind, name, values) in changes {
                    push_line(&mut out, &format!("{}: {name}", kind.as_str()));
                    for v in values {
                        push_value(&mut out, name, v.bytes(), matches!(v, Value::Binary { .. }));
                    }
                    out.push_str("-\n");
                }
            }
        }
    }
    out
}

/// RFC 2849 SAFE-STRING, and no trailing space (which the RFC says should be base64 too).
fn is_safe_string(value: &[u8]) -> bool {
    let bad_first = matches!(value.first(), Some(b' ' | b':' | b'<'));
    let bad_char = value.iter().any(|&b| b == 0 || b == b'\n' || b == b'\r' || b > 0x7f);
    !bad_first && !bad_char && value.last() != Some(&b' ')
}

fn push_value(out: &mut String, name: &str, value: &[u8], binary: bool) {
    let line = if binary || !is_safe_string(value) {
        format!("{name}:: {}", STANDARD.encode(value))
    } else {
        // Safe strings are ASCII.
        format!("{name}: {}", String::from_utf8_lossy(value))
    };
    push_line(out, &line);
}

/// A comment, one line per line of `text` (control characters become spaces), folded.
fn push_comment(out: &mut String, text: &str) {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    push_line(out, &format!("# {clean}"));
}

/// Writes one logical line, folded into physical lines of at most [`FOLD_AT`] bytes (never
/// inside a UTF-8 character): continuation lines start with one space.
fn push_line(out: &mut String, line: &str) {
    let mut rest = line;
    let mut first = true;
    loop {
        let room = if first { FOLD_AT } else { FOLD_AT - 1 };
        if !first {
            out.push(' ');
        }
        if rest.len() <= room {
            out.push_str(rest);
            out.push('\n');
            return;
        }
        let mut cut = room;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push('\n');
        rest = &rest[cut..];
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AccountKind;
    use crate::model::ObjectGuid;
    use crate::model::attributes::Attributes;
    use crate::model::unified::Affiliation;
    use crate::render::RefKind;

    use crate::model::settings::TargetSettings;

    fn anchor(n: u32) -> Anchor {
        Anchor(ObjectGuid::parse(&format!("{n:08x}-0102-0304-0506-0708090a0b0c")).unwrap())
    }

    fn settings(new_accounts: NewAccounts) -> TargetSettings {
        TargetSettings {
            shared_ad: SharedAd {
                base_dn: "DC=samverkan,DC=test".into(),
                people_ou: "OU=Kommuner".into(),
                groups_ou: "OU=Grupper".into(),
                new_accounts,
            },
            ..TargetSettings::default()
        }
    }

    fn person(n: u32, municipality: &str, unit: &str, cn: &str) -> Person {
        let a = anchor(n);
        let mut on_premises = Attributes::new();
        on_premises.insert("employeeType", "Tillsvidare".to_string());
        on_premises.insert("extensionAttribute7", "KST 4711".to_string());
        let mut cloud = Attributes::new();
        cloud.insert("givenName", "Åsa".to_string());
        cloud.insert("surname", "Öberg".to_string());
        cloud.insert("jobTitle", "Undersköterska".to_string());
        cloud.insert("department", unit.to_string());
        cloud.insert("companyName", format!("{municipality} kommun"));
        cloud.insert("employeeId", format!("E{n}"));
        cloud.insert("officeLocation", "Storgatan 1".to_string());
        cloud.insert("mail", format!("p{n}@samverkan.se"));
        Person {
            anchor: a,
            immutable_id: a.immutable_id(),
            user_principal_name: format!("p{n}@samverkan.se"),
            mail_nickname: format!("p{n}"),
            sam_account_name: format!("p{n}"),
            cn: cn.to_string(),
            display_name: cn.to_string(),
            kind: AccountKind::Person,
            licence: "E3".into(),
            usage_location: "SE".into(),
            cloud,
            on_premises,
            affiliations: vec![Affiliation {
                municipality: municipality.to_string(),
                guid: a.0,
                dn: Dn::parse(&format!("CN=x,DC={municipality},DC=test")).unwrap(),
                kind: AccountKind::Person,
                unit: unit.to_string(),
                enabled: true,
            }],
            manager: None,
            source_state: Default::default(),
        }
    }

    fn person_ref(p: &Person, wave: u32) -> ObjectRef {
        ObjectRef {
            kind: RefKind::Person,
            wave,
            cloud_name: p.user_principal_name.clone(),
            cn: p.cn.clone(),
            sam_account_name: p.sam_account_name.clone(),
            municipality: p.affiliations[0].municipality.clone(),
            unit: p.affiliations[0].unit.clone(),
            account_kind: Some(p.kind),
        }
    }

    fn group(n: u32, name: &str, sources: &[&str]) -> Group {
        Group {
            anchor: anchor(n),
            name: name.to_string(),
            mail_nickname: name.to_lowercase().replace(' ', "."),
            security: true,
            sources: sources
                .iter()
                .map(|m| (m.to_string(), anchor(n).0, Dn::parse(&format!("CN=g,DC={m},DC=test")).unwrap()))
                .collect(),
            members: Vec::new(),
        }
    }

    fn group_ref(g: &Group, wave: u32) -> ObjectRef {
        ObjectRef {
            kind: RefKind::Group,
            wave,
            cloud_name: g.mail_nickname.clone(),
            cn: g.name.clone(),
            sam_account_name: format!("grp{}", g.anchor.0.to_ad_bytes()[0]),
            municipality: if g.sources.len() == 1 { g.sources[0].0.clone() } else { String::new() },
            unit: String::new(),
            account_kind: None,
        }
    }

    /// A wave creating `people` and `groups`, with refs for all of them.
    fn wave(number: u32, people: Vec<Person>, groups: Vec<Group>) -> WaveContent {
        let mut refs = BTreeMap::new();
        for p in &people {
            refs.insert(p.anchor, person_ref(p, number));
        }
        for g in &groups {
            refs.insert(g.anchor, group_ref(g, number));
        }
        WaveContent { number, name: format!("wave {number}"), people, groups, refs, ..WaveContent::default() }
    }

    fn dns(ops: &[LdapOp], kind: OpKind) -> Vec<String> {
        ops.iter().filter(|o| o.kind == kind).map(|o| o.dn().to_string()).collect()
    }

    fn add_attr<'a>(op: &'a LdapOp, name: &str) -> Vec<&'a Value> {
        match &op.change {
            Change::Add { attrs, .. } => attrs.iter().filter(|(n, _)| n == name).flat_map(|(_, v)| v).collect(),
            Change::Modify { .. } => Vec::new(),
        }
    }

    fn texts(values: Vec<&Value>) -> Vec<String> {
        values.iter().map(|v| String::from_utf8(v.bytes().to_vec()).unwrap()).collect()
    }

    #[test]
    fn dns_escape_every_special_character_and_keep_swedish_letters() {
        let names = [
            "Öberg, Åsa",
            "Lund+Berg",
            "\"Kalle\" Ek",
            r"back\slash",
            "#1 Nilsson",
            " Leading",
            "Trailing ",
            "Ärla; <x>",
        ];
        let people: Vec<Person> = names
            .iter()
            .enumerate()
            .map(|(i, n)| person(i as u32 + 1, "bjuv", "Socialförvaltningen/Vård, omsorg", n))
            .collect();
        let ops = render(&wave(1, people, Vec::new()), &settings(NewAccounts::Disabled)).unwrap();
        let users = dns(&ops, OpKind::CreateUser);
        let tail = r"OU=Vård\, omsorg,OU=Socialförvaltningen,OU=bjuv,OU=Kommuner,DC=samverkan,DC=test";
        assert_eq!(
            users,
            [
                r"CN=Öberg\, Åsa",
                r"CN=Lund\+Berg",
                r#"CN=\"Kalle\" Ek"#,
                r"CN=back\\slash",
                r"CN=\#1 Nilsson",
                r"CN=\ Leading",
                r"CN=Trailing\ ",
                r"CN=Ärla\; \<x\>",
            ]
            .map(|cn| format!("{cn},{tail}"))
        );
        for (dn, name) in users.iter().zip(names) {
            let parsed = Dn::parse(dn).unwrap();
            assert_eq!(parsed.leaf_value().as_deref(), Some(name), "{dn}");
            assert_eq!(parsed.ou_path(), ["Kommuner", "bjuv", "Socialförvaltningen", "Vård, omsorg"]);
        }
        // The cn attribute holds the plain name, not the escaped one.
        let first = ops.iter().find(|o| o.kind == OpKind::CreateUser).unwrap();
        assert_eq!(texts(add_attr(first, "cn")), ["Öberg, Åsa"]);
        let ou = ops.iter().rfind(|o| o.kind == OpKind::CreateOu).unwrap();
        assert_eq!(texts(add_attr(ou, "ou")), ["Vård, omsorg"]);
    }

    #[test]
    fn ous_are_created_once_parents_first_and_not_again_in_later_waves() {
        let people = vec![
            person(1, "bjuv", "Socialförvaltningen/Hemtjänst", "A"),
            person(2, "bjuv", "Socialförvaltningen/Hemtjänst", "B"),
            person(3, "bjuv", "socialförvaltningen/Äldreomsorg/Natt", "C"),
            person(4, "klippan", "", "D"),
            person(5, "bjuv", "Barn och utbildning", "E"),
        ];
        let ops =
            render(&wave(1, people.clone(), vec![group(9, "G", &["bjuv"])]), &settings(NewAccounts::Disabled)).unwrap();
        let base = "OU=Kommuner,DC=samverkan,DC=test";
        let expected: Vec<String> = [
            "",
            "OU=bjuv,",
            "OU=Barn och utbildning,OU=bjuv,",
            "OU=Socialförvaltningen,OU=bjuv,",
            "OU=Hemtjänst,OU=Socialförvaltningen,OU=bjuv,",
            // AD ignores case: socialförvaltningen is the OU created just before.
            "OU=Äldreomsorg,OU=socialförvaltningen,OU=bjuv,",
            "OU=Natt,OU=Äldreomsorg,OU=socialförvaltningen,OU=bjuv,",
            "OU=klippan,",
        ]
        .iter()
        .map(|p| format!("{p}{base}"))
        .chain(["OU=Grupper,DC=samverkan,DC=test".to_string()])
        .collect();
        assert_eq!(dns(&ops, OpKind::CreateOu), expected);
        // Every OU's parent is the base or created before it; every entry comes after its OU.
        let mut known: HashSet<String> = ["dc=samverkan,dc=test".to_string()].into();
        for op in &ops {
            if let Change::Add { dn, .. } = &op.change {
                assert!(known.contains(&dn.parent().key()), "{dn} before its parent");
                known.insert(dn.key());
            }
        }
        assert!(
            ops.iter().position(|o| o.kind == OpKind::CreateUser)
                > ops.iter().rposition(|o| o.kind == OpKind::CreateOu)
        );

        // Wave 2: bjuv/Socialförvaltningen/Hemtjänst and klippan exist; groups OU exists.
        let mut w2 = wave(
            2,
            vec![
                person(11, "bjuv", "SOCIALFÖRVALTNINGEN/Hemtjänst", "F"),
                person(12, "bjuv", "Socialförvaltningen/IT", "G"),
                person(13, "klippan", "", "H"),
                person(14, "perstorp", "Kultur", "I"),
            ],
            vec![group(19, "G2", &["bjuv"])],
        );
        w2.earlier_units =
            people.iter().map(|p| (p.affiliations[0].municipality.clone(), p.affiliations[0].unit.clone())).collect();
        w2.earlier_groups = true;
        let ops = render(&w2, &settings(NewAccounts::Disabled)).unwrap();
        assert_eq!(
            dns(&ops, OpKind::CreateOu),
            [
                "OU=IT,OU=Socialförvaltningen,OU=bjuv,OU=Kommuner,DC=samverkan,DC=test",
                "OU=perstorp,OU=Kommuner,DC=samverkan,DC=test",
                "OU=Kultur,OU=perstorp,OU=Kommuner,DC=samverkan,DC=test",
            ]
        );
        // A wave without people creates no people OUs, even the first one.
        let ops = render(&wave(1, Vec::new(), Vec::new()), &settings(NewAccounts::Disabled)).unwrap();
        assert!(ops.is_empty());
    }

    #[test]
    fn users_carry_the_mapped_attributes_the_anchor_and_no_manager() {
        let mut p = person(0x0a0b0c0d, "bjuv", "IT", "Öberg, Åsa");
        p.on_premises.insert("employeeId", "19121212-1212".into()); // the original beats the cloud's hash
        p.cloud.insert("employeeId", "hash:abc".into());
        p.manager = Some(anchor(2));
        let ops = render(&wave(1, vec![p.clone()], Vec::new()), &settings(NewAccounts::Disabled)).unwrap();
        let user = ops.iter().find(|o| o.kind == OpKind::CreateUser).unwrap();
        assert_eq!((user.municipality.as_str(), user.anchor), ("bjuv", Some(p.anchor)));
        let Change::Add { attrs, .. } = &user.change else { panic!("not an add") };
        let names: Vec<&str> = attrs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "objectClass",
                "cn",
                "sAMAccountName",
                "userPrincipalName",
                "givenName",
                "sn",
                "displayName",
                "mail",
                "title",
                "department",
                "company",
                "employeeID",
                "employeeType",
                "physicalDeliveryOfficeName",
                "proxyAddresses",
                "extensionAttribute7",
                "userAccountControl",
                "mS-DS-ConsistencyGuid",
            ]
        );
        assert_eq!(texts(add_attr(user, "objectClass")), ["top", "person", "organizationalPerson", "user"]);
        assert_eq!(texts(add_attr(user, "sn")), ["Öberg"]);
        assert_eq!(texts(add_attr(user, "employeeID")), ["19121212-1212"]);
        assert_eq!(texts(add_attr(user, "proxyAddresses")), ["SMTP:p168496141@samverkan.se"]);
        assert_eq!(texts(add_attr(user, "userAccountControl")), ["514"]);
        // The GUID's bytes in AD order: the first three fields little-endian.
        let guid = add_attr(user, "mS-DS-ConsistencyGuid");
        assert_eq!(
            guid,
            [&Value::Binary { bytes: vec![0x0d, 0x0c, 0x0b, 0x0a, 2, 1, 4, 3, 5, 6, 7, 8, 9, 10, 11, 12] }]
        );
        assert_eq!(STANDARD.encode(guid[0].bytes()), p.immutable_id);
        let ldif = to_ldif(&ops);
        assert!(ldif.contains(&format!("\nmS-DS-ConsistencyGuid:: {}\n", p.immutable_id)), "{ldif}");
        assert!(!ldif.to_lowercase().contains("manager"));
    }

    #[test]
    fn no_password_is_ever_written_even_for_random_password_accounts() {
        let p = person(1, "bjuv", "IT", "Anna");
        for mode in [NewAccounts::Disabled, NewAccounts::RandomPassword] {
            let ops = render(&wave(1, vec![p.clone()], Vec::new()), &settings(mode)).unwrap();
            let user = ops.iter().find(|o| o.kind == OpKind::CreateUser).unwrap();
            assert_eq!(texts(add_attr(user, "userAccountControl")), ["514"], "{mode:?}: created disabled");
            let ldif = to_ldif(&ops).to_lowercase();
            for forbidden in ["unicodepwd", "userpassword", "pwdlastset", "pwd:", "password:"] {
                assert!(!ldif.contains(forbidden), "{mode:?}: {forbidden} in\n{ldif}");
            }
            let json = serde_json::to_string(&ops).unwrap().to_lowercase();
            assert!(!json.contains("unicodepwd") && !json.contains("userpassword"));
            assert!(user.note.as_deref().unwrap().starts_with("created disabled"), "{mode:?}: {:?}", user.note);
        }
        let ops = render(&wave(1, vec![p], Vec::new()), &settings(NewAccounts::RandomPassword)).unwrap();
        assert!(to_ldif(&ops).contains("# created disabled; the executor then sets a random password"));
    }

    /// The shared AD enables a new account (with its first password) only where the rule for
    /// its kind says "as in the source" and the source account is enabled; the dry-run's LDIF
    /// says why an account stays disabled.
    #[test]
    fn the_shared_ad_enables_per_account_state_rule_and_never_a_disabled_or_expired_source_account() {
        use crate::model::settings::{AccountStateRule, AccountStates};
        use crate::model::unified::SourceState;
        let enabled = person(1, "bjuv", "IT", "Anna");
        let mut disabled = person(2, "bjuv", "IT", "Bo");
        disabled.source_state = SourceState::Disabled;
        let mut expired = person(3, "bjuv", "IT", "Cia");
        expired.source_state = SourceState::Expired(chrono::NaiveDate::from_ymd_opt(2026, 1, 31).unwrap());
        let mut student = person(4, "bjuv", "IT", "Dan");
        student.kind = AccountKind::Student;
        let people = vec![enabled, disabled, expired, student];
        let enables = |s: &TargetSettings| -> Vec<(bool, String)> {
            render(&wave(1, people.clone(), Vec::new()), s)
                .unwrap()
                .into_iter()
                .filter(|o| o.kind == OpKind::CreateUser)
                .map(|o| (o.enable, o.note.unwrap_or_default()))
                .collect()
        };
        let mut s = settings(NewAccounts::RandomPassword);
        s.account_state = AccountStates([(AccountKind::Person, AccountStateRule::AsInSource)].into());
        let got = enables(&s);
        assert_eq!(got.iter().map(|(e, _)| *e).collect::<Vec<_>>(), [true, false, false, false], "{got:#?}");
        assert!(got[0].1.ends_with("and enables the account (no password is ever written here)"), "{got:#?}");
        assert!(got[1].1.contains("stays disabled: the source account is disabled"), "{got:#?}");
        assert!(got[2].1.contains("stays disabled: the source account is expired on 2026-01-31"), "{got:#?}");
        assert!(got[3].1.contains("stays disabled: account_state.student = disabled_until_cutover"), "{got:#?}");
        // The default rule: every new account stays disabled until cutover.
        let got = enables(&settings(NewAccounts::RandomPassword));
        assert!(got.iter().all(|(e, _)| !e), "{got:#?}");
        let got = enables(&settings(NewAccounts::Disabled));
        assert!(got.iter().all(|(e, n)| !e && n.starts_with("created disabled and without a password (")), "{got:#?}");
    }

    #[test]
    fn groups_list_existing_members_and_nested_or_overflowing_ones_follow() {
        let people: Vec<Person> = (1..=600).map(|n| person(n, "bjuv", "IT", &format!("P {n}"))).collect();
        // Group 1001 contains group 1002, created after it in this wave; 1003 is of wave 1.
        let mut w = wave(
            2,
            people.clone(),
            vec![group(1001, "Alla, IT", &["bjuv"]), group(1002, "Drift", &["bjuv", "klippan"])],
        );
        let old = group(1003, "Gammal", &["klippan"]);
        w.refs.insert(old.anchor, group_ref(&old, 1));
        let earlier = person(2000, "klippan", "", "Tidigare");
        w.refs.insert(earlier.anchor, person_ref(&earlier, 1));
        w.memberships.push((anchor(1001), Member::Group(anchor(1002))));
        w.memberships.push((anchor(1001), Member::Group(anchor(1003))));
        w.memberships.push((anchor(1001), Member::Person(earlier.anchor)));
        w.memberships.extend((1..=600).map(|n| (anchor(1001), Member::Person(anchor(n)))));
        w.memberships.push((anchor(1002), Member::Person(anchor(1))));
        w.memberships
            .extend((1..=1201).map(|n| (anchor(1003), Member::Person(anchor(if n <= 600 { n } else { n + 10_000 })))));
        for n in 601..=1201 {
            let p = person(n + 10_000, "klippan", "", &format!("K {n}"));
            w.refs.insert(p.anchor, person_ref(&p, 1));
        }
        w.memberships.sort();
        w.manager_links = vec![(anchor(1), earlier.anchor), (earlier.anchor, anchor(2))];
        let ops = render(&w, &settings(NewAccounts::Disabled)).unwrap();

        let kinds: Vec<OpKind> = ops.iter().map(|o| o.kind).collect();
        let first = |k| kinds.iter().position(|&x| x == k).unwrap();
        assert!(first(OpKind::CreateUser) < first(OpKind::CreateGroup));
        assert!(first(OpKind::CreateGroup) < first(OpKind::AddMembers));
        assert!(first(OpKind::AddMembers) < first(OpKind::SetManager));

        let g1 = &ops[first(OpKind::CreateGroup)];
        assert_eq!(g1.dn().as_str(), r"CN=Alla\, IT,OU=Grupper,DC=samverkan,DC=test");
        assert_eq!(texts(add_attr(g1, "groupType")), ["-2147483646"]);
        assert_eq!(texts(add_attr(g1, "description")), ["samla: from bjuv"]);
        let members = texts(add_attr(g1, "member"));
        assert_eq!(members.len(), MEMBER_CHUNK);
        assert!(!members.iter().any(|m| m.starts_with("CN=Drift,")), "Drift does not exist yet");
        let g2 = &ops[first(OpKind::CreateGroup) + 1];
        assert_eq!(g2.municipality, "");
        assert_eq!(texts(add_attr(g2, "description")), ["samla: merged from bjuv, klippan"]);
        assert_eq!(texts(add_attr(g2, "member")), ["CN=P 1,OU=IT,OU=bjuv,OU=Kommuner,DC=samverkan,DC=test"]);

        // The rest of 1001 (103 members incl. Drift) in one op, 1003's 1201 in 500 + 500 + 201.
        let adds: Vec<(String, usize)> = ops
            .iter()
            .filter(|o| o.kind == OpKind::AddMembers)
            .map(|o| (o.dn().leaf_value().unwrap().into_owned(), o.member_values()))
            .collect();
        assert_eq!(
            adds,
            [("Alla, IT".into(), 103), ("Gammal".into(), 500), ("Gammal".into(), 500), ("Gammal".into(), 201)]
        );
        let all_1001: BTreeSet<String> = ops
            .iter()
            .filter(|o| o.anchor == Some(anchor(1001)))
            .flat_map(|o| match &o.change {
                Change::Add { .. } => texts(add_attr(o, "member")),
                Change::Modify { changes, .. } => texts(changes[0].2.iter().collect()),
            })
            .collect();
        assert_eq!(all_1001.len(), 603);
        for m in [
            "CN=Drift,OU=Grupper,DC=samverkan,DC=test",
            "CN=Gammal,OU=Grupper,DC=samverkan,DC=test",
            "CN=Tidigare,OU=klippan,OU=Kommuner,DC=samverkan,DC=test",
            "CN=P 600,OU=IT,OU=bjuv,OU=Kommuner,DC=samverkan,DC=test",
        ] {
            assert!(all_1001.contains(m), "{m}");
        }
        let drift_later = ops.iter().filter(|o| o.kind == OpKind::AddMembers).any(|o| {
            matches!(&o.change, Change::Modify { changes, .. } if changes[0].2.contains(&Value::text("CN=Drift,OU=Grupper,DC=samverkan,DC=test")))
        });
        assert!(drift_later);
        // Ops of an earlier group belong to its municipality.
        assert!(ops.iter().filter(|o| o.anchor == Some(anchor(1003))).all(|o| o.municipality == "klippan"));

        let managers: Vec<_> = ops
            .iter()
            .filter(|o| o.kind == OpKind::SetManager)
            .map(|o| match &o.change {
                Change::Modify { dn, changes } => {
                    (dn.to_string(), changes[0].0, changes[0].1.clone(), texts(changes[0].2.iter().collect()))
                }
                Change::Add { .. } => panic!("manager link as add"),
            })
            .collect();
        assert_eq!(
            managers,
            [
                (
                    "CN=P 1,OU=IT,OU=bjuv,OU=Kommuner,DC=samverkan,DC=test".to_string(),
                    ModKind::Replace,
                    "manager".to_string(),
                    vec!["CN=Tidigare,OU=klippan,OU=Kommuner,DC=samverkan,DC=test".to_string()]
                ),
                (
                    "CN=Tidigare,OU=klippan,OU=Kommuner,DC=samverkan,DC=test".to_string(),
                    ModKind::Replace,
                    "manager".to_string(),
                    vec!["CN=P 2,OU=IT,OU=bjuv,OU=Kommuner,DC=samverkan,DC=test".to_string()]
                ),
            ]
        );
        let summary = summarize(&ops);
        assert_eq!(summary["bjuv"].users, 600);
        assert_eq!(summary["bjuv"].groups, 1);
        assert_eq!(summary[""].groups, 1);
        assert_eq!(summary["klippan"].members, 1201);
        assert_eq!(summary["klippan"].managers, 1);
        // Deterministic.
        assert_eq!(to_ldif(&ops), to_ldif(&render(&w, &settings(NewAccounts::Disabled)).unwrap()));
    }

    #[test]
    fn unresolvable_references_are_errors_not_gaps() {
        let mut w = wave(2, vec![person(1, "bjuv", "", "A")], Vec::new());
        w.memberships.push((anchor(50), Member::Person(anchor(1))));
        let err = render(&w, &settings(NewAccounts::Disabled)).unwrap_err();
        assert!(matches!(err, RenderError::MissingRef { what: "group", .. }), "{err}");

        let mut w = wave(2, vec![person(1, "bjuv", "", "A")], Vec::new());
        let later = person(2, "bjuv", "", "B");
        w.refs.insert(later.anchor, person_ref(&later, 3));
        w.manager_links.push((anchor(1), later.anchor));
        let err = render(&w, &settings(NewAccounts::Disabled)).unwrap_err();
        assert_eq!(err.to_string(), format!("wave 2: manager {} is created by a later wave (3)", later.anchor.0));

        let mut bad = settings(NewAccounts::Disabled);
        bad.shared_ad.people_ou = "OU=a,b".into();
        let err = render(&wave(1, Vec::new(), Vec::new()), &bad).unwrap_err();
        assert!(matches!(err, RenderError::Setting { setting: "people_ou", .. }));

        // A created person without a reference is placed from its primary affiliation.
        let mut w = wave(1, vec![person(1, "bjuv", "IT", "A")], Vec::new());
        w.refs.clear();
        let ops = render(&w, &settings(NewAccounts::Disabled)).unwrap();
        assert_eq!(dns(&ops, OpKind::CreateUser), ["CN=A,OU=IT,OU=bjuv,OU=Kommuner,DC=samverkan,DC=test"]);
    }

    #[test]
    fn safe_strings_stay_plain_everything_else_is_base64() {
        for plain in ["Anna", "a:b", "x<y", "CN=A\\, B,DC=x", "1", "a b"] {
            assert!(is_safe_string(plain.as_bytes()), "{plain:?}");
        }
        for b64 in [" lead", ":colon", "<angle", "trail ", "Åsa", "a\nb", "a\rb", "nul\0", "é"] {
            assert!(!is_safe_string(b64.as_bytes()), "{b64:?}");
        }
        let mut out = String::new();
        push_value(&mut out, "sn", "Öberg".as_bytes(), false);
        push_value(&mut out, "cn", b"Ek", false);
        push_value(&mut out, "x", b"Ek", true);
        assert_eq!(out, "sn:: w5ZiZXJn\ncn: Ek\nx:: RWs=\n");
    }

    /// Unfolds LDIF and splits it into records of (name, value bytes), decoding base64.
    fn parse_records(ldif: &str) -> Vec<Vec<(String, Vec<u8>)>> {
        let mut logical: Vec<String> = Vec::new();
        for line in ldif.lines() {
            match line.strip_prefix(' ') {
                Some(rest) => logical.last_mut().unwrap().push_str(rest),
                None => logical.push(line.to_string()),
            }
        }
        let mut records = vec![Vec::new()];
        for line in logical {
            if line.is_empty() {
                records.push(Vec::new());
            } else if line == "-" {
                records.last_mut().unwrap().push(("-".into(), Vec::new()));
            } else if !line.starts_with('#') {
                let (name, value) = line.split_once(':').unwrap();
                let value = match value.strip_prefix(':') {
                    Some(b64) => STANDARD.decode(b64.trim_start()).unwrap(),
                    None => value.strip_prefix(' ').unwrap_or(value).as_bytes().to_vec(),
                };
                records.last_mut().unwrap().push((name.to_string(), value));
            }
        }
        records.retain(|r| !r.is_empty());
        records
    }

    #[test]
    fn ldif_is_rfc2849_change_records_folded_at_76_and_readable_back() {
        let mut long = person(1, "bjuv", "Socialförvaltningen/Hemtjänst", "Öberg, Åsa Maria Kristina Eleonora");
        long.cloud.insert("jobTitle", "Enhetschef för hemtjänst och hemsjukvård i norra distriktet".into());
        long.on_premises.insert("extensionAttribute3", " leading space".into());
        let mut w = wave(
            1,
            vec![long.clone(), person(2, "bjuv", "Socialförvaltningen/Hemtjänst", "Ek")],
            vec![group(5, "Hemtjänst, alla", &["bjuv"])],
        );
        w.memberships = vec![(anchor(5), Member::Person(anchor(1))), (anchor(5), Member::Person(anchor(2)))];
        w.manager_links = vec![(anchor(2), anchor(1))];
        let ops = render(&w, &settings(NewAccounts::Disabled)).unwrap();
        let ldif = to_ldif(&ops);
        assert!(ldif.starts_with(
            "version: 1\n\n# create OU (shared)\ndn: OU=Kommuner,DC=samverkan,DC=test\nchangetype: add\n"
        ));
        assert!(ldif.lines().all(|l| l.len() <= FOLD_AT), "{ldif}");
        assert!(
            ldif.lines().any(|l| l.len() == FOLD_AT) && ldif.lines().any(|l| l.starts_with(' ')),
            "something is folded"
        );
        let mut in_comment = false;
        for line in ldif.lines() {
            in_comment = line.starts_with('#') || (in_comment && line.starts_with(' '));
            assert!(line.is_ascii() || in_comment, "values are ASCII or base64: {line}");
        }
        assert!(ldif.contains("\ndn:: "), "non-ASCII DNs are base64");
        assert!(
            ldif.contains("# create user (bjuv) 00000002-0102-0304-0506-0708090a0b0c\n# CN=Ek,OU=Hemtjänst,OU=Soc"),
            "and named in plain text in a comment: {ldif}"
        );
        assert!(ldif.ends_with("-\n"));

        // The add records read back through samla's own LDIF reader (it refuses modify
        // records, being an export reader) with every value as rendered.
        let adds: Vec<&LdapOp> = ops.iter().filter(|o| matches!(o.change, Change::Add { .. })).collect();
        let add_ldif: String =
            ldif.split("\n\n").filter(|r| r.contains("\nchangetype: add\n")).map(|r| format!("{r}\n\n")).collect();
        let read: Vec<crate::model::RawEntry> =
            crate::source::ldif::LdifReader::new(add_ldif.as_bytes()).collect::<Result<_, _>>().unwrap();
        assert_eq!(read.len(), adds.len());
        for (entry, op) in read.iter().zip(&adds) {
            let Change::Add { dn, attrs } = &op.change else { unreachable!() };
            assert_eq!(&Dn::parse(&entry.dn).unwrap(), dn);
            for (name, values) in attrs {
                let got: Vec<&[u8]> = entry.values(name).collect();
                let want: Vec<&[u8]> = values.iter().map(Value::bytes).collect();
                assert_eq!(got, want, "{dn} {name}");
            }
        }

        // Modify records, checked by hand: dn, changetype, the modification, its values, "-".
        let records = parse_records(&ldif);
        assert_eq!(records.len(), 1 + ops.len(), "version line + one record per op");
        let manager = records.last().unwrap();
        let lines: Vec<(String, String)> =
            manager.iter().map(|(n, v)| (n.clone(), String::from_utf8(v.clone()).unwrap())).collect();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            lines,
            [
                pair("dn", "CN=Ek,OU=Hemtjänst,OU=Socialförvaltningen,OU=bjuv,OU=Kommuner,DC=samverkan,DC=test"),
                pair("changetype", "modify"),
                pair("replace", "manager"),
                pair(
                    "manager",
                    r"CN=Öberg\, Åsa Maria Kristina Eleonora,OU=Hemtjänst,OU=Socialförvaltningen,OU=bjuv,OU=Kommuner,DC=samverkan,DC=test"
                ),
                pair("-", ""),
            ]
        );
        let leading = ("extensionAttribute3".to_string(), b" leading space".to_vec());
        assert_eq!(records.iter().filter(|r| r.contains(&leading)).count(), 1);
        assert!(ldif.contains("\nextensionAttribute3:: IGxlYWRpbmcgc3BhY2U=\n"));
    }

    #[test]
    fn folding_never_splits_a_character() {
        let mut out = String::new();
        push_comment(&mut out, &"å".repeat(100));
        assert!(out.lines().all(|l| l.len() <= FOLD_AT));
        let unfolded: String = out.lines().enumerate().map(|(i, l)| if i == 0 { l } else { &l[1..] }).collect();
        assert_eq!(unfolded, format!("# {}", "å".repeat(100)));
    }
}
